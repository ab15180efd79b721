//! A broadcast ring through the C API: the kind-erased producer and consumer
//! handles refuse it with `SHMLANE_STATUS_WRONG_KIND` and a message that
//! names the calls that join it; `shmlane_broadcast_producer_open` and
//! `shmlane_subscriber_open` join it, and a message sent reaches both kinds
//! of subscriber. (The C tests, bindings-c/tests/test_broadcast.c, cover the
//! rest.)

use std::ffi::{CStr, CString};
use std::ptr;

use shmlane::{Ring, RingOptions};
use shmlane_ffi::*;

fn last_error() -> String {
    // SAFETY: the message of the last failure on this thread, NUL-terminated.
    unsafe { CStr::from_ptr(shmlane_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn kind_erased_handles_refuse_a_broadcast_ring_and_name_its_own_calls() {
    let name = format!("ffi-broadcast-refused-{}", std::process::id());
    let _created = Ring::create(&name, &RingOptions::broadcast(8, 64, 2)).unwrap();
    let c_name = CString::new(name.clone()).unwrap();
    let mut ring = ptr::null_mut();
    // SAFETY: a NUL-terminated name and a place for the handle.
    let status = unsafe { shmlane_ring_open(c_name.as_ptr(), &mut ring) };
    assert_eq!(status, shmlane_status::Ok);
    // SAFETY: `ring` is the live handle just opened.
    assert_eq!(unsafe { shmlane_ring_kind(ring) }, SHMLANE_KIND_BROADCAST);

    let mut producer = ptr::null_mut();
    // SAFETY: a live ring handle and a place for the producer.
    let status = unsafe { shmlane_producer_open(ring, &mut producer) };
    assert_eq!(status, shmlane_status::WrongKind);
    assert!(producer.is_null());
    let message = last_error();
    assert!(
        message.contains("broadcast") && message.contains("shmlane_broadcast_producer_open"),
        "{message}"
    );

    let mut consumer = ptr::null_mut();
    // SAFETY: as above.
    let status = unsafe { shmlane_consumer_open(ring, &mut consumer) };
    assert_eq!(status, shmlane_status::WrongKind);
    assert!(consumer.is_null());
    assert!(last_error().contains("shmlane_subscriber_open"));

    // SAFETY: `ring` is live and not used again.
    unsafe { shmlane_ring_close(ring) };
    shmlane::remove(&name).unwrap();
}

#[test]
fn broadcast_handles_join_and_every_subscriber_gets_the_message() {
    let name = format!("ffi-broadcast-joined-{}", std::process::id());
    let c_name = CString::new(name.clone()).unwrap();
    let options = shmlane_ring_options_broadcast(8, 64, 2);
    assert_eq!(options.max_participants, 3);
    let mut ring = ptr::null_mut();
    // SAFETY: a NUL-terminated name, options and a place for the handle.
    let status = unsafe { shmlane_ring_create(c_name.as_ptr(), &options, &mut ring) };
    assert_eq!(status, shmlane_status::Ok);

    let mut producer = ptr::null_mut();
    // SAFETY: a live ring handle and a place for the producer.
    let status = unsafe { shmlane_broadcast_producer_open(ring, &mut producer) };
    assert_eq!(status, shmlane_status::Ok);
    let mut subscribers = [ptr::null_mut(); 2];
    for (subscriber, untethered) in subscribers.iter_mut().zip([0, 1]) {
        let options = shmlane_subscriber_options_t {
            untethered,
            ..shmlane_subscriber_options_default()
        };
        // SAFETY: a live ring handle, options and a place for the subscriber.
        let status = unsafe { shmlane_subscriber_open(ring, &options, subscriber) };
        assert_eq!(status, shmlane_status::Ok);
    }

    // SAFETY: a live producer and 5 readable bytes.
    let status =
        unsafe { shmlane_broadcast_producer_try_send(producer, b"hello".as_ptr().cast(), 5) };
    assert_eq!(status, shmlane_status::Ok);
    for subscriber in subscribers {
        let mut buffer = [0u8; 64];
        let (mut len, mut lost) = (0usize, 0u64);
        // SAFETY: a live subscriber, a buffer of 64 bytes, places for the counts.
        let status = unsafe {
            shmlane_subscriber_try_recv(
                subscriber,
                buffer.as_mut_ptr().cast(),
                64,
                &mut len,
                &mut lost,
            )
        };
        assert_eq!(status, shmlane_status::Ok);
        assert_eq!(&buffer[..len], b"hello");
        // SAFETY: the live subscriber, closed once.
        unsafe { shmlane_subscriber_close(subscriber) };
    }
    // SAFETY: the live producer and ring, closed once.
    unsafe {
        shmlane_broadcast_producer_close(producer);
        shmlane_ring_close(ring);
    }
    shmlane::remove(&name).unwrap();
}
