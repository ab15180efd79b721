//! The C API opens no broadcast ring yet: opening the ring succeeds (its
//! header is valid, layout 2.1) and reports its kind, but a producer or
//! consumer handle is refused with `SHMLANE_STATUS_WRONG_KIND` and a message
//! that names the broadcast kind, never a crash.

use std::ffi::{CStr, CString};
use std::ptr;

use shmlane::{Ring, RingOptions};
use shmlane_ffi::*;

#[test]
fn producer_and_consumer_open_refuse_a_broadcast_ring_by_its_kind() {
    let name = format!("ffi-broadcast-{}", std::process::id());
    let _created = Ring::create(&name, &RingOptions::broadcast(8, 64, 2)).unwrap();
    let c_name = CString::new(name.clone()).unwrap();
    let mut ring = ptr::null_mut();
    // SAFETY: a NUL-terminated name and a place for the handle.
    let status = unsafe { shmlane_ring_open(c_name.as_ptr(), &mut ring) };
    assert_eq!(status, shmlane_status::Ok);
    // SAFETY: `ring` is the live handle just opened.
    assert_eq!(unsafe { shmlane_ring_kind(ring) }, 3);

    let mut producer = ptr::null_mut();
    // SAFETY: a live ring handle and a place for the producer.
    let status = unsafe { shmlane_producer_open(ring, &mut producer) };
    assert_eq!(status, shmlane_status::WrongKind);
    assert!(producer.is_null());
    // SAFETY: the message of the last failure on this thread, NUL-terminated.
    let message = unsafe { CStr::from_ptr(shmlane_last_error_message()) };
    assert!(
        message.to_string_lossy().contains("broadcast"),
        "{message:?}"
    );

    let mut consumer = ptr::null_mut();
    // SAFETY: as above.
    let status = unsafe { shmlane_consumer_open(ring, &mut consumer) };
    assert_eq!(status, shmlane_status::WrongKind);
    assert!(consumer.is_null());

    // SAFETY: `ring` is live and not used again.
    unsafe { shmlane_ring_close(ring) };
    shmlane::remove(&name).unwrap();
}
