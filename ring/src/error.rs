//! The one error type of the crate.
//!
//! Every kind of bad input has its own variant, so callers can match on it and
//! the C and Go bindings can map each to their own code or sentinel. `Full` and
//! `Empty` are ordinary results of the non-blocking calls, not failures.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::layout::Kind;

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

/// Everything that can go wrong in shmlane.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No ring file at this path.
    NotFound {
        /// The path looked up.
        path: PathBuf,
    },
    /// A file already exists where a ring was to be created.
    AlreadyExists {
        /// The path of the existing file.
        path: PathBuf,
    },
    /// A ring name that is not 1–200 characters of `[A-Za-z0-9._-]` without a
    /// leading dot.
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The path is a symbolic link; rings are never opened through links.
    Symlink {
        /// The path given.
        path: PathBuf,
    },
    /// The file is not a shmlane ring (not a regular file, wrong magic, or too
    /// short to hold a header).
    NotARing {
        /// What gave it away.
        reason: String,
    },
    /// The ring's major layout version is not one this build reads.
    UnsupportedVersion {
        /// Major version found in the header.
        major: u16,
        /// Minor version found in the header.
        minor: u16,
    },
    /// The ring is of another kind than the one asked for.
    WrongKind {
        /// The kind asked for.
        expected: Kind,
        /// The kind of the ring.
        found: Kind,
    },
    /// Capacity, slot size or participant count out of range (at create time, or
    /// read from a header).
    BadGeometry {
        /// What is out of range.
        reason: String,
    },
    /// The file is shorter than the ring its header describes.
    FileTooSmall {
        /// Size of the file.
        file_size: u64,
        /// Size the header calls for.
        needed: u64,
    },
    /// The creator did not finish writing the header within the open timeout.
    NotReady {
        /// How long the opener waited.
        waited: Duration,
    },
    /// The file's owner or mode does not allow this use, or the OS refused access.
    Permission {
        /// The path of the ring file.
        path: PathBuf,
        /// What was refused.
        reason: String,
    },
    /// A live handle already plays this role on a ring that has room for one.
    RoleTaken {
        /// The role asked for.
        role: Role,
    },
    /// Every participant record of the ring is held by a live handle.
    TooManyParticipants {
        /// Number of records in the ring.
        max: u32,
    },
    /// A message longer than the ring's `max_payload`.
    MessageTooLarge {
        /// Length of the message.
        len: usize,
        /// The ring's largest message.
        max: usize,
    },
    /// A message whose length differs from the size of a fixed-size ring's messages.
    WrongMessageSize {
        /// Length of the message.
        len: usize,
        /// The ring's message size.
        size: usize,
    },
    /// A buffer too small for the next message. The message is not consumed:
    /// the handle's next read returns it (an SPSC message stays in the ring; an
    /// MPMC consumer keeps the message it claimed, and releases it unread if it
    /// is dropped first).
    BufferTooSmall {
        /// Length of the message.
        needed: usize,
        /// Length of the buffer given.
        available: usize,
    },
    /// The ring is full (non-blocking reserve or send).
    Full,
    /// The ring is empty (non-blocking read or receive).
    Empty,
    /// The other side has closed or died, and (for consumers) the ring is drained.
    Disconnected,
    /// A blocking call's timeout passed before a message (or a free slot) came.
    Timeout,
    /// The ring's file was truncated while the ring was open: it is now (or
    /// was at some check) shorter than the ring. Pages past the new end are
    /// lost, and touching them raises SIGBUS; the ring is lost for good (see
    /// [`crate::Ring::check_size`]).
    Truncated {
        /// Size of the file when the truncation was found.
        file_size: u64,
        /// Size of the ring.
        needed: u64,
    },
    /// The ring's file can still shrink (it lacks the `F_SEAL_SHRINK` seal),
    /// and [`crate::OpenOptions::require_sealed`] asked for a sealed one.
    NotSealed {
        /// The path of the ring file (`/proc/self/fd/<N>` for a descriptor).
        path: PathBuf,
        /// Why it is not sealed.
        reason: String,
    },
    /// Shared memory holds values that break the ring's invariants.
    Corrupt {
        /// What was found.
        reason: String,
    },
    /// An operating-system call failed in a way none of the variants above covers.
    Io {
        /// What shmlane was doing.
        context: &'static str,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { path } => write!(f, "no ring at {}", path.display()),
            Error::AlreadyExists { path } => write!(f, "a file already exists at {}", path.display()),
            Error::BadName { name, reason } => write!(f, "bad ring name {name:?}: {reason}"),
            Error::Symlink { path } => {
                write!(f, "{} is a symbolic link; rings are not opened through links", path.display())
            }
            Error::NotARing { reason } => write!(f, "not a shmlane ring: {reason}"),
            Error::UnsupportedVersion { major, minor } => write!(
                f,
                "ring layout version {major}.{minor} is not supported (this build reads {}.x)",
                crate::layout::VERSION_MAJOR
            ),
            Error::WrongKind { expected, found } => write!(f, "ring is {found}, expected {expected}"),
            Error::BadGeometry { reason } => write!(f, "bad ring geometry: {reason}"),
            Error::FileTooSmall { file_size, needed } => write!(
                f,
                "ring file is {file_size} bytes but its header describes {needed} bytes"
            ),
            Error::NotReady { waited } => {
                write!(f, "ring was not initialized by its creator within {waited:?}")
            }
            Error::Permission { path, reason } => write!(f, "permission denied for {}: {reason}", path.display()),
            Error::RoleTaken { role } => write!(f, "a live {role} is already attached to this ring"),
            Error::TooManyParticipants { max } => write!(
                f,
                "all {max} participant records of the ring are held by live handles"
            ),
            Error::MessageTooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the ring's maximum of {max} bytes")
            }
            Error::WrongMessageSize { len, size } => write!(
                f,
                "message of {len} bytes in a ring of fixed-size messages of {size} bytes"
            ),
            Error::BufferTooSmall { needed, available } => write!(
                f,
                "next message is {needed} bytes but the buffer holds {available}; the next read returns it"
            ),
            Error::Full => f.write_str("ring is full"),
            Error::Empty => f.write_str("ring is empty"),
            Error::Disconnected => f.write_str("the other side of the ring has closed or died"),
            Error::Timeout => f.write_str("timed out waiting on the ring"),
            Error::Truncated { file_size, needed } => write!(
                f,
                "ring file was truncated to {file_size} bytes while open, but the ring needs {needed}: its lost pages raise SIGBUS when touched"
            ),
            Error::NotSealed { path, reason } => write!(
                f,
                "{} is not sealed against shrinking: {reason}",
                path.display()
            ),
            Error::Corrupt { reason } => write!(f, "ring is corrupt: {reason}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[cfg_attr(loom, allow(dead_code))] // the loom build has no file layer
impl Error {
    /// Wraps an OS error with what shmlane was doing when it happened.
    pub(crate) fn io(context: &'static str, source: io::Error) -> Error {
        Error::Io { context, source }
    }

    /// The last OS error, wrapped with `context`.
    pub(crate) fn last_os(context: &'static str) -> Error {
        Error::io(context, io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_problem() {
        let err = Error::MessageTooLarge { len: 300, max: 256 };
        assert_eq!(
            err.to_string(),
            "message of 300 bytes exceeds the ring's maximum of 256 bytes"
        );
        let err = Error::RoleTaken {
            role: Role::Producer,
        };
        assert!(err.to_string().contains("producer"));
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
}
