//! The failures of the crate: [`Error`], with an [`ErrorKind`] to match on.
//!
//! Ordinary outcomes are not errors: a full or empty ring and a wait that ran
//! out of time are `Ok(None)` (or `Ok(false)`) from the call that met them.
//! An `Error` is one byte of kind and a boxed detail, so that a `Result`
//! travels in registers on the hot path; the detail is allocated only when a
//! failure happens. Every kind has its own one-line message, and the C and Go
//! bindings map each kind to their own status or sentinel. When one setting
//! gets past a failure, the error carries it as a [`Remedy`]: `Display` names
//! it in this crate's API, and the CLI and the C API in theirs.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which side of a ring a handle plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Writes messages.
    Producer,
    /// Reads messages.
    Consumer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        })
    }
}

/// What kind of failure an [`Error`] is: the value to match on.
///
/// One error type serves opening a ring and using it, as `std::io::Error`
/// does, since the two overlap (a handle's call can find the ring truncated or
/// corrupt, as an open can): the kinds fall in three groups.
///
/// - Opening, creating, reading and removing a ring: `NotFound`,
///   `AlreadyExists`, `BadName`, `Symlink`, `NotARing`, `UnsupportedVersion`,
///   `WrongKind`, `BadGeometry`, `FileTooSmall`, `NotReady`, `Permission`,
///   `NotSealed`.
/// - Joining it: `RoleTaken`, `TooManyParticipants`.
/// - Using a handle: `MessageTooLarge`, `WrongMessageSize`, `BufferTooSmall`,
///   `Disconnected`; and at any step, `Truncated`, `Corrupt`, `Io`.
///
/// Ordinary outcomes are not errors: a full or empty ring is `Ok(None)` from
/// a `try_*` call, and a wait that ran out is `Ok(None)` from a blocking one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No ring file at this path.
    NotFound,
    /// A file already exists where a ring was to be created.
    AlreadyExists,
    /// A ring name that is not 1–200 characters of `[A-Za-z0-9._-]` without a
    /// leading dot.
    BadName,
    /// The path is a symbolic link; rings are never opened through links.
    Symlink,
    /// The file is not a shmlane ring (not a regular file, wrong magic, or too
    /// short to hold a header).
    NotARing,
    /// The ring's major layout version is not one this build reads.
    UnsupportedVersion,
    /// The ring is of another kind than the one asked for.
    WrongKind,
    /// Capacity, slot size or participant count out of range (at create time,
    /// or read from a header).
    BadGeometry,
    /// The file is shorter than the ring its header describes.
    FileTooSmall,
    /// The creator did not finish writing the header within the open timeout
    /// (and may still be writing it: a header whose creator cannot finish it
    /// is [`ErrorKind::Corrupt`]).
    NotReady,
    /// The file's owner or mode does not allow this use, or the OS refused access.
    Permission,
    /// A live handle already plays this role on a ring that has room for one.
    RoleTaken,
    /// Every participant record of the ring is held by a live handle.
    TooManyParticipants,
    /// A message longer than the ring's `max_payload`.
    MessageTooLarge,
    /// A message whose length differs from the size of a fixed-size ring's messages.
    WrongMessageSize,
    /// A buffer too small for the next message. The message is not consumed:
    /// the handle's next read returns it (an MPMC consumer releases it unread
    /// if it is dropped first).
    BufferTooSmall,
    /// The other side has closed or died, and (for consumers) the ring is drained.
    Disconnected,
    /// The ring's file was truncated while the ring was open: pages past the
    /// new end are lost, and touching them raises SIGBUS; the ring is lost for
    /// good (see [`crate::Ring::check_size`]).
    Truncated,
    /// The ring's file can still shrink (it lacks the `F_SEAL_SHRINK` seal),
    /// and [`crate::OpenOptions::require_sealed`] asked for a sealed one.
    NotSealed,
    /// Shared memory holds values that break the ring's invariants: a header
    /// that fails its own checks (the message names the file and the field),
    /// or positions, stamps or lengths no peer writes by the protocol.
    Corrupt,
    /// An operating-system call failed in a way no other kind covers.
    Io,
}

/// What the caller can do differently to get past a failure: the setting or
/// the form of the call that the message points to.
///
/// The message of [`Error`]'s `Display` names it in this crate's API. Front
/// ends with an API of their own (the CLI's flags, the C functions and
/// options) take [`Error::message`], which names no API, and add their own
/// words for the remedy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Remedy {
    /// The file belongs to another user: [`OpenOptions::allow_other_owner`](crate::OpenOptions::allow_other_owner)
    /// accepts it.
    AllowOtherOwner,
    /// Group or others may write the file: [`OpenOptions::allow_shared_mode`](crate::OpenOptions::allow_shared_mode)
    /// accepts it.
    AllowSharedMode,
    /// A name holds a `/`: a file outside `/dev/shm` is given by its path.
    UsePath,
    /// A broadcast ring that overwrites admits only untethered subscribers:
    /// [`broadcast::Untethered::join`](crate::broadcast::Untethered::join) joins it.
    JoinUntethered,
}

impl Remedy {
    /// The remedy in this crate's API, as the message's last clause.
    fn rust_hint(self) -> &'static str {
        match self {
            Remedy::AllowOtherOwner => {
                "to accept that, open it with OpenOptions::allow_other_owner(true)"
            }
            Remedy::AllowSharedMode => {
                "to accept that, open it with OpenOptions::allow_shared_mode(true)"
            }
            Remedy::UsePath => "to give a path, pass it as a &Path",
            Remedy::JoinUntethered => "join it with broadcast::Untethered::join",
        }
    }
}

/// A failure: its [`ErrorKind`], and what the message names.
///
/// # Examples
/// ```
/// use shmlane::{spsc, ErrorKind, Ring, RingOptions};
/// # let name = format!("doc-error-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::spsc(8, 16))?;
/// let mut producer = spsc::Producer::join(&ring)?;
/// let error = producer.try_send(&[0; 100]).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::MessageTooLarge);
/// assert_eq!(error.to_string(), "message of 100 bytes exceeds the ring's maximum of 8 bytes");
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
pub struct Error {
    kind: ErrorKind,
    remedy: Option<Remedy>,
    detail: Option<Box<Detail>>,
}

// A `Result<usize, Error>` fits two registers: the kind byte's spare values
// tell `Ok` from `Err`.
const _: () = assert!(std::mem::size_of::<Result<usize, Error>>() <= 16);

/// What an error's message names besides its kind.
#[cfg_attr(loom, allow(dead_code))] // the loom build has no file layer
enum Detail {
    Path(PathBuf),
    PathReason(PathBuf, String),
    Name(String, &'static str),
    Reason(String),
    Version {
        major: u16,
        minor: u16,
        supported: u16,
    },
    Kinds {
        expected: &'static str,
        found: &'static str,
    },
    /// Two sizes, in the order the kind's message names them.
    Sizes(u64, u64),
    /// A file, and how long an open waited for it.
    PathWaited(PathBuf, Duration),
    Role(Role),
    Max(u32),
    Io {
        context: &'static str,
        source: io::Error,
    },
}

#[cfg_attr(loom, allow(dead_code))] // the loom build has no file layer
impl Error {
    #[cold]
    fn new(kind: ErrorKind, detail: Detail) -> Error {
        Error {
            kind,
            remedy: None,
            detail: Some(Box::new(detail)),
        }
    }

    /// The error with what the caller can do about it.
    pub(crate) fn with_remedy(mut self, remedy: Remedy) -> Error {
        self.remedy = Some(remedy);
        self
    }

    /// What the caller can do differently to get past this failure, when
    /// there is one thing to do: for front ends that name it in their own API.
    ///
    /// # Examples
    /// ```
    /// use shmlane::{ErrorKind, Remedy, Ring, RingOptions};
    /// # let name = format!("doc-remedy-{}", std::process::id());
    /// let _created = Ring::create(&name, &RingOptions::spsc(8, 16).mode(0o666))?;
    /// let error = Ring::open(&name).unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::Permission);
    /// assert_eq!(error.remedy(), Some(Remedy::AllowSharedMode));
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    #[inline]
    pub fn remedy(&self) -> Option<Remedy> {
        self.remedy
    }

    /// The message without the remedy's clause: what failed and why, naming
    /// no API. `Display` adds the remedy in this crate's terms.
    ///
    /// # Examples
    /// ```
    /// use shmlane::{Ring, RingOptions};
    /// # let name = format!("doc-message-{}", std::process::id());
    /// let _created = Ring::create(&name, &RingOptions::spsc(8, 16).mode(0o666))?;
    /// let error = Ring::open(&name).unwrap_err();
    /// let message = error.message().to_string();
    /// assert!(message.ends_with("the file's mode 0666 lets group or others write it"));
    /// assert_eq!(
    ///     error.to_string(),
    ///     format!("{message}; to accept that, open it with OpenOptions::allow_shared_mode(true)")
    /// );
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn message(&self) -> impl fmt::Display + '_ {
        Message(self)
    }

    /// The kind of failure, to match on.
    #[inline]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file the failure concerns, when the message names one.
    pub fn path(&self) -> Option<&Path> {
        match self.detail.as_deref() {
            Some(
                Detail::Path(path) | Detail::PathReason(path, _) | Detail::PathWaited(path, _),
            ) => Some(path),
            _ => None,
        }
    }

    /// The two sizes a size failure names: the message's length and the
    /// ring's limit ([`ErrorKind::MessageTooLarge`](crate::ErrorKind::MessageTooLarge),
    /// [`ErrorKind::WrongMessageSize`](crate::ErrorKind::WrongMessageSize)), the message's length and the buffer's
    /// ([`ErrorKind::BufferTooSmall`](crate::ErrorKind::BufferTooSmall)), the file's size and the ring's
    /// ([`ErrorKind::FileTooSmall`](crate::ErrorKind::FileTooSmall), [`ErrorKind::Truncated`](crate::ErrorKind::Truncated)).
    pub fn sizes(&self) -> Option<(u64, u64)> {
        match self.detail.as_deref() {
            Some(&Detail::Sizes(first, second)) => Some((first, second)),
            _ => None,
        }
    }

    #[cold]
    pub(crate) fn not_found(path: impl Into<PathBuf>) -> Error {
        Error::new(ErrorKind::NotFound, Detail::Path(path.into()))
    }

    #[cold]
    pub(crate) fn already_exists(path: impl Into<PathBuf>) -> Error {
        Error::new(ErrorKind::AlreadyExists, Detail::Path(path.into()))
    }

    #[cold]
    pub(crate) fn bad_name(name: impl Into<String>, reason: &'static str) -> Error {
        Error::new(ErrorKind::BadName, Detail::Name(name.into(), reason))
    }

    #[cold]
    pub(crate) fn symlink(path: impl Into<PathBuf>) -> Error {
        Error::new(ErrorKind::Symlink, Detail::Path(path.into()))
    }

    #[cold]
    pub(crate) fn not_a_ring(reason: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotARing, Detail::Reason(reason.into()))
    }

    #[cold]
    pub(crate) fn unsupported_version(major: u16, minor: u16, supported: u16) -> Error {
        Error::new(
            ErrorKind::UnsupportedVersion,
            Detail::Version {
                major,
                minor,
                supported,
            },
        )
    }

    /// `expected` and `found` are kind names as the layout spells them.
    #[cold]
    pub(crate) fn wrong_kind(expected: &'static str, found: &'static str) -> Error {
        Error::new(ErrorKind::WrongKind, Detail::Kinds { expected, found })
    }

    /// A tethered subscriber asked to join a broadcast ring that overwrites.
    #[cold]
    pub(crate) fn untethered_only() -> Error {
        Error::new(
            ErrorKind::WrongKind,
            Detail::Reason(
                "the broadcast ring overwrites when full, so it admits no tethered subscriber"
                    .into(),
            ),
        )
        .with_remedy(Remedy::JoinUntethered)
    }

    #[cold]
    pub(crate) fn bad_geometry(reason: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadGeometry, Detail::Reason(reason.into()))
    }

    #[cold]
    pub(crate) fn file_too_small(file_size: u64, needed: u64) -> Error {
        Error::new(ErrorKind::FileTooSmall, Detail::Sizes(file_size, needed))
    }

    /// The ring at `path` was not ready within the open's `timeout`.
    #[cold]
    pub(crate) fn not_ready(path: impl Into<PathBuf>, timeout: Duration) -> Error {
        Error::new(
            ErrorKind::NotReady,
            Detail::PathWaited(path.into(), timeout),
        )
    }

    #[cold]
    pub(crate) fn permission(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::new(
            ErrorKind::Permission,
            Detail::PathReason(path.into(), reason.into()),
        )
    }

    #[cold]
    pub(crate) fn role_taken(role: Role) -> Error {
        Error::new(ErrorKind::RoleTaken, Detail::Role(role))
    }

    #[cold]
    pub(crate) fn too_many_participants(max: u32) -> Error {
        Error::new(ErrorKind::TooManyParticipants, Detail::Max(max))
    }

    #[cold]
    pub(crate) fn message_too_large(len: usize, max: usize) -> Error {
        Error::new(
            ErrorKind::MessageTooLarge,
            Detail::Sizes(len as u64, max as u64),
        )
    }

    #[cold]
    pub(crate) fn wrong_message_size(len: usize, size: usize) -> Error {
        Error::new(
            ErrorKind::WrongMessageSize,
            Detail::Sizes(len as u64, size as u64),
        )
    }

    #[cold]
    pub(crate) fn buffer_too_small(needed: usize, available: usize) -> Error {
        Error::new(
            ErrorKind::BufferTooSmall,
            Detail::Sizes(needed as u64, available as u64),
        )
    }

    /// The other side is gone: no detail, no allocation.
    pub const DISCONNECTED: Error = Error {
        kind: ErrorKind::Disconnected,
        remedy: None,
        detail: None,
    };

    #[cold]
    pub(crate) fn truncated(file_size: u64, needed: u64) -> Error {
        Error::new(ErrorKind::Truncated, Detail::Sizes(file_size, needed))
    }

    #[cold]
    pub(crate) fn not_sealed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::new(
            ErrorKind::NotSealed,
            Detail::PathReason(path.into(), reason.into()),
        )
    }

    #[cold]
    pub(crate) fn corrupt(reason: impl Into<String>) -> Error {
        Error::new(ErrorKind::Corrupt, Detail::Reason(reason.into()))
    }

    /// The ring file at `path` is corrupt: `reason` names the field.
    #[cold]
    pub(crate) fn corrupt_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::new(
            ErrorKind::Corrupt,
            Detail::PathReason(path.into(), reason.into()),
        )
    }

    /// The same error, naming the file at `path` if it is a corruption that
    /// names none yet (header checks know the header, not the file).
    #[cold]
    pub(crate) fn in_file(self, path: &Path) -> Error {
        match (self.kind, self.detail) {
            (ErrorKind::Corrupt, Some(detail)) => match *detail {
                Detail::Reason(reason) => Error::corrupt_file(path, reason),
                detail => Error::new(ErrorKind::Corrupt, detail),
            },
            (kind, detail) => Error {
                kind,
                detail,
                remedy: self.remedy,
            },
        }
    }

    /// Wraps an OS error with what shmlane was doing when it happened.
    #[cold]
    pub(crate) fn io(context: &'static str, source: io::Error) -> Error {
        Error::new(ErrorKind::Io, Detail::Io { context, source })
    }

    /// The last OS error, wrapped with `context`.
    #[cold]
    pub(crate) fn last_os(context: &'static str) -> Error {
        Error::io(context, io::Error::last_os_error())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Message(self).fmt(f)?;
        match self.remedy {
            Some(remedy) => write!(f, "; {}", remedy.rust_hint()),
            None => Ok(()),
        }
    }
}

/// An error's message without its remedy ([`Error::message`]).
struct Message<'a>(&'a Error);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind as K;
        let Message(error) = *self;
        let Some(detail) = error.detail.as_deref() else {
            return f.write_str(match error.kind {
                K::Disconnected => "the other side of the ring has closed or died",
                _ => "shmlane error",
            });
        };
        match (error.kind, detail) {
            (K::NotFound, Detail::Path(path)) => write!(f, "no ring at {}", path.display()),
            (K::AlreadyExists, Detail::Path(path)) => {
                write!(f, "a file already exists at {}", path.display())
            }
            (K::BadName, Detail::Name(name, reason)) => {
                write!(f, "bad ring name {name:?}: {reason}")
            }
            (K::Symlink, Detail::Path(path)) => write!(
                f,
                "{} is a symbolic link; rings are not opened through links",
                path.display()
            ),
            (K::NotARing, Detail::Reason(reason)) => write!(f, "not a shmlane ring: {reason}"),
            (
                K::UnsupportedVersion,
                &Detail::Version {
                    major,
                    minor,
                    supported,
                },
            ) => write!(
                f,
                "ring layout version {major}.{minor} is not supported (this build reads {supported}.x)"
            ),
            (K::WrongKind, Detail::Kinds { expected, found }) => {
                write!(f, "ring is {found}, expected {expected}")
            }
            (K::WrongKind, Detail::Reason(reason)) => f.write_str(reason),
            (K::BadGeometry, Detail::Reason(reason)) => write!(f, "bad ring geometry: {reason}"),
            (K::FileTooSmall, Detail::Sizes(file_size, needed)) => write!(
                f,
                "ring file is {file_size} bytes but its header describes {needed} bytes"
            ),
            (K::NotReady, Detail::PathWaited(path, timeout)) => write!(
                f,
                "ring at {} was not initialized by its creator within {}",
                path.display(),
                HumanDuration(*timeout)
            ),
            (K::Permission, Detail::PathReason(path, reason)) => {
                write!(f, "permission denied for {}: {reason}", path.display())
            }
            (K::RoleTaken, Detail::Role(role)) => {
                write!(f, "a live {role} is already attached to this ring")
            }
            (K::TooManyParticipants, Detail::Max(max)) => write!(
                f,
                "all {max} participant records of the ring are held by live handles"
            ),
            (K::MessageTooLarge, Detail::Sizes(len, max)) => write!(
                f,
                "message of {len} bytes exceeds the ring's maximum of {max} bytes"
            ),
            (K::WrongMessageSize, Detail::Sizes(len, size)) => write!(
                f,
                "message of {len} bytes in a ring of fixed-size messages of {size} bytes"
            ),
            (K::BufferTooSmall, Detail::Sizes(needed, available)) => write!(
                f,
                "next message is {needed} bytes but the buffer holds {available}; the next read returns it"
            ),
            (K::Truncated, Detail::Sizes(file_size, needed)) => write!(
                f,
                "ring file was truncated to {file_size} bytes while open, but the ring needs {needed}: its lost pages raise SIGBUS when touched"
            ),
            (K::NotSealed, Detail::PathReason(path, reason)) => write!(
                f,
                "{} is not sealed against shrinking: {reason}",
                path.display()
            ),
            (K::Corrupt, Detail::Reason(reason)) => write!(f, "ring is corrupt: {reason}"),
            (K::Corrupt, Detail::PathReason(path, reason)) => {
                write!(f, "ring at {} is corrupt: {reason}", path.display())
            }
            (K::Io, Detail::Io { context, source }) => write!(f, "{context}: {source}"),
            (kind, _) => write!(f, "{kind:?}"),
        }
    }
}

/// A duration as people write it: `2 s`, `1.5 s`, `50 ms`, `20 µs`, `300 ns`
/// (at most three decimals, trailing zeros dropped).
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        let (unit, scale) = match nanos {
            n if n >= 1_000_000_000 || n == 0 => ("s", 1_000_000_000),
            n if n >= 1_000_000 => ("ms", 1_000_000),
            n if n >= 1_000 => ("µs", 1_000),
            _ => ("ns", 1),
        };
        let whole = nanos / scale;
        // Thousandths of the unit, rounded down: enough for a timeout.
        let thousandths = (nanos % scale) * 1000 / scale;
        if thousandths == 0 {
            return write!(f, "{whole} {unit}");
        }
        let decimals = format!("{thousandths:03}");
        write!(f, "{whole}.{} {unit}", decimals.trim_end_matches('0'))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.to_string())
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.detail.as_deref() {
            Some(Detail::Io { source, .. }) => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    /// For callers whose errors are `io::Error`s; the message is kept.
    fn from(error: Error) -> io::Error {
        let kind = match error.kind {
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::AlreadyExists => io::ErrorKind::AlreadyExists,
            ErrorKind::Permission => io::ErrorKind::PermissionDenied,
            ErrorKind::BadName
            | ErrorKind::MessageTooLarge
            | ErrorKind::WrongMessageSize
            | ErrorKind::BufferTooSmall => io::ErrorKind::InvalidInput,
            ErrorKind::Disconnected => io::ErrorKind::BrokenPipe,
            ErrorKind::NotReady => io::ErrorKind::TimedOut,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let err = Error::message_too_large(300, 256);
        assert_eq!(err.kind(), ErrorKind::MessageTooLarge);
        assert_eq!(err.sizes(), Some((300, 256)));
        assert_eq!(
            err.to_string(),
            "message of 300 bytes exceeds the ring's maximum of 256 bytes"
        );
        let err = Error::role_taken(Role::Producer);
        assert!(err.to_string().contains("producer"));
        assert_eq!(
            Error::DISCONNECTED.to_string(),
            "the other side of the ring has closed or died"
        );
    }

    #[test]
    fn io_errors_keep_their_source() {
        use std::error::Error as _;
        let err = Error::io(
            "mapping the ring",
            io::Error::from_raw_os_error(libc::ENOMEM),
        );
        assert!(err.source().is_some());
        assert!(err.to_string().starts_with("mapping the ring: "));
    }

    #[test]
    fn durations_print_as_people_write_them() {
        let shown = |duration: Duration| HumanDuration(duration).to_string();
        assert_eq!(shown(Duration::from_secs(2)), "2 s");
        assert_eq!(shown(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(shown(Duration::from_millis(50)), "50 ms");
        assert_eq!(shown(Duration::from_micros(1250)), "1.25 ms");
        assert_eq!(shown(Duration::from_micros(20)), "20 µs");
        assert_eq!(shown(Duration::from_nanos(300)), "300 ns");
        assert_eq!(shown(Duration::ZERO), "0 s");
        let error = Error::not_ready("/dev/shm/x", Duration::from_secs(2));
        assert_eq!(
            error.to_string(),
            "ring at /dev/shm/x was not initialized by its creator within 2 s"
        );
    }

    #[test]
    fn paths_are_reported() {
        let err = Error::not_found("/dev/shm/x");
        assert_eq!(err.path(), Some(Path::new("/dev/shm/x")));
        assert_eq!(err.to_string(), "no ring at /dev/shm/x");
    }
}
