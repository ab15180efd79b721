//! Status codes, their messages, and the calling thread's last error message.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use shmlane::{Error, ErrorKind, Remedy};

/// What a call returns: `SHMLANE_STATUS_OK` (0) on success, a positive code
/// otherwise. `shmlane_strerror` names each code;
/// `shmlane_last_error_message` gives the details of the calling thread's
/// last failure.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum shmlane_status {
    /// Success.
    Ok = 0,
    /// The ring is full (non-blocking reserve or send).
    Full = 1,
    /// The ring is empty (non-blocking read or receive).
    Empty = 2,
    /// A blocking call's timeout passed.
    Timeout = 3,
    /// The other side has closed or died (and, for consumers, the ring is drained).
    Disconnected = 4,
    /// No ring file at this path.
    NotFound = 5,
    /// A file already exists where a ring was to be created.
    AlreadyExists = 6,
    /// A ring name that is not 1 to 200 characters of `[A-Za-z0-9._-]` without a leading dot.
    BadName = 7,
    /// The path is a symbolic link; rings are never opened through links.
    Symlink = 8,
    /// The file is not a shmlane ring.
    NotARing = 9,
    /// The ring's major layout version is not one this library reads.
    UnsupportedVersion = 10,
    /// The ring is of another kind than the one asked for.
    WrongKind = 11,
    /// Capacity, slot size or participant count refused at create (a file
    /// whose header holds such numbers is `CORRUPT`).
    BadGeometry = 12,
    /// The file is shorter than the ring its header describes.
    FileTooSmall = 13,
    /// The creator, still running, did not finish the header within the open
    /// timeout (a header no running creator will finish is `CORRUPT`).
    NotReady = 14,
    /// The file's owner or mode does not allow this use, or the OS refused access.
    Permission = 15,
    /// A live handle already plays this role on a ring that has room for one.
    RoleTaken = 16,
    /// Every participant record of the ring is held by a live handle.
    TooManyParticipants = 17,
    /// A message longer than the ring's maximum payload.
    MessageTooLarge = 18,
    /// A message whose length differs from a fixed-size ring's message size.
    WrongMessageSize = 19,
    /// The buffer is too small for the next message, which stays for the next read.
    BufferTooSmall = 20,
    /// Shared memory holds values that break the ring's invariants.
    Corrupt = 21,
    /// An operating-system call failed.
    Io = 22,
    /// A null pointer, a string that is not UTF-8, or a value out of range.
    InvalidArgument = 23,
    /// The handle already holds a reserved slot or a borrowed message: commit,
    /// abort or release it first.
    Busy = 24,
    /// Commit, abort or release with nothing reserved or borrowed.
    NothingPending = 25,
    /// An internal error of the library (a bug): a Rust panic was caught at the
    /// boundary. The handle should be closed.
    Internal = 26,
    /// An untethered broadcast subscriber was lapped: the producer overwrote
    /// messages it had not read. The call's `lost` out-parameter says how
    /// many; the next read starts at the oldest message still intact.
    Lagged = 27,
}

/// The status code of an error.
pub(crate) fn status_of(error: &Error) -> shmlane_status {
    use shmlane_status as S;
    use ErrorKind as K;
    match error.kind() {
        K::Disconnected => S::Disconnected,
        K::NotFound => S::NotFound,
        K::AlreadyExists => S::AlreadyExists,
        K::BadName => S::BadName,
        K::Symlink => S::Symlink,
        K::NotARing => S::NotARing,
        K::UnsupportedVersion => S::UnsupportedVersion,
        K::WrongKind => S::WrongKind,
        K::BadGeometry => S::BadGeometry,
        K::FileTooSmall => S::FileTooSmall,
        K::NotReady => S::NotReady,
        K::Permission => S::Permission,
        K::RoleTaken => S::RoleTaken,
        K::TooManyParticipants => S::TooManyParticipants,
        K::MessageTooLarge => S::MessageTooLarge,
        K::WrongMessageSize => S::WrongMessageSize,
        K::BufferTooSmall => S::BufferTooSmall,
        K::Corrupt => S::Corrupt,
        // The file lost pages under the mapping: the shared memory no longer
        // holds the ring. `shmlane_last_error_message` says which; a status of
        // its own would change the C and Go ABI. A sealed-ring requirement
        // unmet is a refusal to open, as a permission is.
        K::Truncated => S::Corrupt,
        K::NotSealed => S::Permission,
        K::Io => S::Io,
        _ => S::Internal,
    }
}

/// A failure of the C API itself, with its message.
pub(crate) struct Failure {
    pub(crate) status: shmlane_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            status: shmlane_status::InvalidArgument,
            message: message.into(),
        }
    }

    /// A blocking call waited in vain: an outcome, with a message as before.
    #[cold]
    pub(crate) fn timeout() -> Failure {
        Failure::new(shmlane_status::Timeout, "timed out waiting on the ring")
    }

    /// The ring was full or empty: an outcome, which the non-blocking calls
    /// meet in every spin, so it leaves the last error message as it is.
    #[inline(always)]
    pub(crate) fn outcome(status: shmlane_status) -> Failure {
        Failure {
            status,
            message: String::new(),
        }
    }

    #[inline]
    pub(crate) fn new(status: shmlane_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl Failure {
    /// A refusal of a broadcast ring by the calls of the other kinds, with
    /// the C calls that join it appended; other failures unchanged.
    #[cold]
    pub(crate) fn broadcast_hint(mut self) -> Failure {
        if self.status == shmlane_status::WrongKind {
            self.message.push_str(
                "; a broadcast ring is joined with shmlane_broadcast_producer_open and shmlane_subscriber_open",
            );
        }
        self
    }
}

impl From<Error> for Failure {
    #[inline(always)]
    fn from(error: Error) -> Failure {
        Failure::described(error)
    }
}

impl Failure {
    #[cold]
    #[inline(never)]
    fn described(error: Error) -> Failure {
        let mut message = error.message().to_string();
        if let Some(hint) = error.remedy().and_then(hint) {
            message.push_str("; ");
            message.push_str(hint);
        }
        Failure::new(status_of(&error), message)
    }
}

/// The remedy of a refusal in the C API's terms.
fn hint(remedy: Remedy) -> Option<&'static str> {
    match remedy {
        Remedy::AllowOtherOwner => Some(
            "to accept that, set allow_other_owner in the shmlane_open_options_t given to shmlane_ring_open_with",
        ),
        Remedy::AllowSharedMode => Some(
            "to accept that, set allow_shared_mode in the shmlane_open_options_t given to shmlane_ring_open_with",
        ),
        Remedy::UsePath => Some(
            "to give a path, call the function's _at form (such as shmlane_ring_open_at)",
        ),
        Remedy::JoinUntethered => Some(
            "to join it, set untethered in the shmlane_subscriber_options_t given to shmlane_subscriber_open",
        ),
        _ => None,
    }
}

thread_local! {
    /// The message of this thread's last failed call (the C API's `errno`).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn remember(message: &str) {
    let message = CString::new(message.replace('\0', "?")).unwrap_or_default();
    // `try_with`: during thread teardown (a C thread-key destructor calling
    // in) the slot may be gone; the message is then dropped, never a panic.
    let _ = LAST_ERROR.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = message;
        }
    });
}

/// Runs the body of an entry point: converts its failure into a status, and a
/// panic into `Internal`, so that no unwinding ever crosses into C.
#[inline]
pub(crate) fn entry(body: impl FnOnce() -> Result<(), Failure>) -> shmlane_status {
    entry_status(|| match body() {
        Ok(()) => shmlane_status::Ok,
        Err(failure) => failure.report(),
    })
}

/// As [`entry`], for the single-message calls, whose bodies return the status
/// themselves and make failures out of line ([`error_status`],
/// [`Failure::report`]): their success path carries no `Failure` around.
#[inline(always)]
pub(crate) fn entry_status(body: impl FnOnce() -> shmlane_status) -> shmlane_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(status) => status,
        Err(panic) => panicked(panic),
    }
}

#[cold]
#[inline(never)]
fn panicked(panic: Box<dyn std::any::Any + Send>) -> shmlane_status {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    remember(&format!("internal error (a bug in shmlane): {what}"));
    shmlane_status::Internal
}

impl Failure {
    /// Records the message for `shmlane_last_error_message`; returns the status.
    #[cold]
    #[inline(never)]
    pub(crate) fn report(self) -> shmlane_status {
        if !self.message.is_empty() {
            remember(&self.message);
        }
        self.status
    }
}

/// The status of an error of the ring, its message recorded out of line.
#[inline(always)]
pub(crate) fn error_status(error: Error) -> shmlane_status {
    Failure::described(error).report()
}

/// The status of a NULL argument.
#[cold]
#[inline(never)]
pub(crate) fn null_argument(what: &str) -> shmlane_status {
    Failure::invalid(format!("{what} is NULL")).report()
}

/// The static text of each status.
fn describe(status: shmlane_status) -> &'static CStr {
    use shmlane_status as S;
    match status {
        S::Ok => c"success",
        S::Full => c"ring is full",
        S::Empty => c"ring is empty",
        S::Timeout => c"timed out waiting on the ring",
        S::Disconnected => c"the other side of the ring has closed or died",
        S::NotFound => c"no ring at this path",
        S::AlreadyExists => c"a file already exists at this path",
        S::BadName => c"bad ring name",
        S::Symlink => c"the path is a symbolic link",
        S::NotARing => c"not a shmlane ring",
        S::UnsupportedVersion => c"unsupported ring layout version",
        S::WrongKind => c"ring is of another kind",
        S::BadGeometry => c"bad ring geometry",
        S::FileTooSmall => c"ring file is shorter than its header says",
        S::NotReady => c"ring was not initialized by its creator in time",
        S::Permission => c"permission denied",
        S::RoleTaken => c"a live handle already plays this role",
        S::TooManyParticipants => c"all participant records are held by live handles",
        S::MessageTooLarge => c"message exceeds the ring's maximum payload",
        S::WrongMessageSize => c"message size differs from the ring's fixed message size",
        S::BufferTooSmall => c"buffer too small for the next message",
        S::Corrupt => c"ring is corrupt",
        S::Io => c"operating-system error",
        S::InvalidArgument => c"invalid argument",
        S::Busy => c"a slot is already reserved or a message borrowed on this handle",
        S::NothingPending => c"nothing is reserved or borrowed on this handle",
        S::Internal => c"internal error in shmlane",
        S::Lagged => c"the subscriber lagged: the producer overwrote messages it had not read",
    }
}

/// The static, English description of `status`.
///
/// Never NULL; an unknown code gives "unknown status code". The string is
/// static: do not free it. Thread-safe.
#[no_mangle]
pub extern "C" fn shmlane_strerror(status: i32) -> *const c_char {
    let known = (0..=shmlane_status::Lagged as i32)
        .contains(&status)
        // SAFETY: `status` is within the discriminants of the `repr(i32)`
        // enum, which are contiguous from 0 to `Lagged`, the last.
        .then(|| unsafe { std::mem::transmute::<i32, shmlane_status>(status) });
    match known {
        Some(status) => describe(status).as_ptr(),
        None => c"unknown status code".as_ptr(),
    }
}

/// The message of the calling thread's last failed call, with the details
/// (which path, which value, what the OS said). Calls that fail with
/// `SHMLANE_STATUS_FULL`, `SHMLANE_STATUS_EMPTY` or `SHMLANE_STATUS_LAGGED`,
/// ordinary results of the non-blocking calls, leave it unchanged.
///
/// Never NULL; an empty string before any failure. The string belongs to the
/// library and stays valid until the calling thread's next failed call: copy
/// it to keep it. Each thread has its own.
#[no_mangle]
pub extern "C" fn shmlane_last_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|last| last.try_borrow().map_or(c"".as_ptr(), |last| last.as_ptr()))
        .unwrap_or(c"".as_ptr())
}

#[cfg(test)]
mod tests {
    use std::ffi::{CStr, CString};
    use std::os::unix::ffi::OsStrExt;

    use shmlane::{Ring, RingOptions};

    use super::*;
    use crate::ring::{shmlane_ring_open_at, shmlane_ring_t};

    #[test]
    fn a_refusal_names_the_c_option_that_accepts_it() {
        let path = std::env::temp_dir().join(format!("shmlane-ffi-hint-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let _created = Ring::create(&path, &RingOptions::spsc(8, 16).mode(0o666)).unwrap();
        let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
        let mut ring: *mut shmlane_ring_t = std::ptr::null_mut();
        // SAFETY: a NUL-terminated path and a pointer valid for writing.
        let status = unsafe { shmlane_ring_open_at(c_path.as_ptr(), &mut ring) };
        std::fs::remove_file(&path).unwrap();
        assert_eq!(status, shmlane_status::Permission);
        assert!(ring.is_null());
        // SAFETY: the library's string, valid until this thread's next failure.
        let message = unsafe { CStr::from_ptr(shmlane_last_error_message()) };
        let message = message.to_str().unwrap();
        assert!(
            message.ends_with(
                "mode 0666 lets group or others write it; to accept that, set allow_shared_mode in the shmlane_open_options_t given to shmlane_ring_open_with"
            ),
            "{message}"
        );
        assert!(!message.contains("::"), "names the Rust API: {message}");
    }

    #[test]
    fn a_name_with_a_slash_points_to_the_functions_that_take_paths() {
        let mut ring: *mut shmlane_ring_t = std::ptr::null_mut();
        // SAFETY: a NUL-terminated name and a pointer valid for writing.
        let status =
            unsafe { crate::ring::shmlane_ring_open(c"../etc/passwd".as_ptr(), &mut ring) };
        assert_eq!(status, shmlane_status::BadName);
        // SAFETY: the library's string, valid until this thread's next failure.
        let message = unsafe { CStr::from_ptr(shmlane_last_error_message()) };
        assert_eq!(
            message.to_str().unwrap(),
            "bad ring name \"../etc/passwd\": it may not contain '/'; to give a path, call the function's _at form (such as shmlane_ring_open_at)"
        );
    }
}
