//! The C API of shmlane.
//!
//! Every function is `shmlane_<object>_<verb>` and returns a
//! [`shmlane_status`] (0 for success) unless it only reads a value. Handles
//! are opaque: [`shmlane_ring_t`], [`shmlane_producer_t`],
//! [`shmlane_consumer_t`], and for broadcast rings
//! [`shmlane_broadcast_producer_t`] and [`shmlane_subscriber_t`]. The header `bindings-c/include/shmlane.h` is
//! generated from this crate by cbindgen; `docs/c.md` is the guide.
//!
//! Rules every entry point keeps:
//! - A null or invalid argument returns `SHMLANE_STATUS_INVALID_ARGUMENT`, never
//!   a crash.
//! - No Rust panic crosses into C: each body runs under `catch_unwind`, and a
//!   panic (a bug) returns `SHMLANE_STATUS_INTERNAL`.
//! - Out-parameters are written only on success, except where a function says
//!   otherwise.
//!
//! Zero-copy calls lend a pointer into the ring: a reserved slot until commit
//! or abort, a borrowed message until release. The handle remembers what it
//! lent (one slot, one batch, one message or one message batch at a time);
//! the Rust guard objects that enforce this in Rust are kept inside the handle
//! (see `producer.rs`).

#![allow(non_camel_case_types)]

// In the header's order: status codes, rings, producers, consumers,
// broadcast producers and subscribers, waiting.
mod status;

mod ring;

mod producer;

mod consumer;

mod broadcast;

mod lending;

mod wait;

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

pub use broadcast::*;
pub use consumer::*;
pub use producer::*;
pub use ring::*;
pub use status::*;
pub use wait::*;

use status::Failure;

/// Wait forever: pass as `timeout_ns` to a blocking call. (The header defines
/// it as `((int64_t)-1)` itself, see cbindgen.toml: cbindgen would write a
/// bare `-1`.)
pub const SHMLANE_FOREVER: i64 = -1;

/// The library's version as a static string, e.g. "0.1.0". Never NULL; do not free.
#[no_mangle]
pub extern "C" fn shmlane_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The library's version as numbers. Null out-pointers are skipped.
///
/// # Safety
/// Each pointer is null or valid for writing a `uint32_t`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_version_numbers(
    major: *mut u32,
    minor: *mut u32,
    patch: *mut u32,
) {
    let parse = |text: &str| text.parse().unwrap_or(0);
    for (out, value) in [
        (major, parse(env!("CARGO_PKG_VERSION_MAJOR"))),
        (minor, parse(env!("CARGO_PKG_VERSION_MINOR"))),
        (patch, parse(env!("CARGO_PKG_VERSION_PATCH"))),
    ] {
        // SAFETY: the caller passes null or a pointer valid for writing.
        if let Some(out) = unsafe { out.as_mut() } {
            *out = value;
        }
    }
}

/// The byte layout version this library reads and writes (`docs/layout.md`).
/// Null out-pointers are skipped.
///
/// # Safety
/// Each pointer is null or valid for writing a `uint16_t`.
#[no_mangle]
pub unsafe extern "C" fn shmlane_layout_version(major: *mut u16, minor: *mut u16) {
    // SAFETY: the caller passes null or a pointer valid for writing.
    if let Some(out) = unsafe { major.as_mut() } {
        *out = shmlane::layout::VERSION_MAJOR;
    }
    // SAFETY: as above.
    if let Some(out) = unsafe { minor.as_mut() } {
        *out = shmlane::layout::VERSION_MINOR;
    }
}

/// A C string argument as UTF-8 text (ring names).
///
/// # Safety
/// `text` is null or a NUL-terminated string valid for reading.
unsafe fn text_arg<'a>(text: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if text.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map_err(|_| Failure::invalid(format!("{what} is not UTF-8")))
}

/// A C string argument as a file path (any bytes but NUL).
///
/// # Safety
/// As [`text_arg`].
unsafe fn path_arg<'a>(path: *const c_char, what: &str) -> Result<&'a Path, Failure> {
    if path.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: as in `text_arg`.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

/// A mutable reference to the target of an out-pointer.
///
/// # Safety
/// `out` is null or valid for writing a `T`.
unsafe fn out_arg<'a, T>(out: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller passes null or a pointer valid for writing.
    unsafe { out.as_mut() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// A shared reference to the target of an in-pointer.
///
/// # Safety
/// `value` is null or valid for reading a `T`.
unsafe fn in_arg<'a, T>(value: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller passes null or a pointer valid for reading.
    unsafe { value.as_ref() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// A blocking call's timeout: negative waits forever.
fn timeout_arg(timeout_ns: i64) -> Option<Duration> {
    u64::try_from(timeout_ns).ok().map(Duration::from_nanos)
}
