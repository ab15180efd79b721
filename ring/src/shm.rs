//! Ring files: names, creating, opening, validating, removing.
//!
//! A creator opens the file with `O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC`,
//! sets its mode, allocates it with `fallocate`, maps it, writes the header, and
//! stores the ready word last with Release. An opener waits (bounded) for the
//! ready word, copies the header, and validates every field against values it
//! recomputes itself and against the file size; from then on it uses only its
//! own validated [`Geometry`].
//!
//! A ring may also live in a sealed memfd, reached through a descriptor rather
//! than a path (`memfd`); it is initialized and validated by the same code.
//! `Ring::check_size` looks for a file that was truncated under its mappings
//! (`docs/guarantees.md`, "A truncated backing file").

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Remedy};
use crate::layout::{self, Geometry, Header, Kind, Overflow, HEADER_SIZE, MAGIC, READY};
use crate::memfd;
use crate::region::Region;
use crate::sync::{fence, Arc, AtomicU32, AtomicU64, Ordering};

/// Directory that ring names are resolved in.
pub const SHM_DIR: &str = "/dev/shm";
/// Longest ring name.
pub const MAX_NAME_LEN: usize = 200;

/// What the handles of one process share about an open ring.
pub(crate) struct Shared {
    pub(crate) region: Region,
    /// The ring's file; it never holds locks itself, so it can test everyone's.
    #[cfg(not(loom))]
    pub(crate) file: File,
    /// The path the ring was created or opened at, or `/proc/self/fd/<N>` of
    /// `file` for a ring reached through a descriptor.
    #[cfg(not(loom))]
    pub(crate) path: PathBuf,
    /// Whether `path` names the file for other processes too (not a descriptor's
    /// `/proc/self/fd/<N>`).
    #[cfg(not(loom))]
    pub(crate) named: bool,
}

impl Shared {
    /// Looks at the file's size (one `fstat`): [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) if it is
    /// now shorter than the ring, and from then on for good, since pages a
    /// truncation dropped come back as zeros, not as the ring, if the file grows
    /// again. The finding is kept in the region, so that handles stop touching
    /// the mapping (`Region::truncated_to`).
    pub(crate) fn check_size(&self) -> Result<(), Error> {
        let needed = self.region.geometry().total_size;
        if let Some(file_size) = self.region.truncated_to() {
            return Err(Error::truncated(file_size, needed));
        }
        let file_size = self
            .file
            .metadata()
            .map_err(|e| Error::io("fstat of the ring file", e))?
            .len();
        if file_size < needed {
            self.region.mark_truncated(file_size);
            return Err(Error::truncated(file_size, needed));
        }
        Ok(())
    }
}

/// Nanoseconds since the Unix epoch, or 0 if the clock is before it.
pub(crate) fn unix_time_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The path a ring name stands for: `/dev/shm/<name>`.
///
/// # Errors
/// [`ErrorKind::BadName`](crate::ErrorKind::BadName) unless the name is 1–200 characters of `[A-Za-z0-9._-]`
/// and does not start with a dot; for a name with a `/`, with
/// [`Remedy::UsePath`](crate::Remedy::UsePath).
///
/// # Examples
/// ```
/// assert_eq!(shmlane::path_for("ticks").unwrap(), std::path::Path::new("/dev/shm/ticks"));
/// assert!(shmlane::path_for("../etc/passwd").is_err());
/// ```
pub fn path_for(name: &str) -> Result<PathBuf, Error> {
    let bad = |reason| Err(Error::bad_name(name.to_owned(), reason));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 200 characters");
    }
    // Before the leading dot: `../x` is a path given as a name, not a hidden file.
    if name.contains('/') {
        return bad("it may not contain '/'").map_err(|e| e.with_remedy(Remedy::UsePath));
    }
    if name.starts_with('.') {
        return bad("it starts with a dot");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("it may hold only ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(Path::new(SHM_DIR).join(name))
}

/// How to create a ring.
///
/// # Examples
/// ```
/// let options = shmlane::RingOptions::spsc(1024, 128).mode(0o600);
/// assert_eq!(options.max_payload(), 120);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingOptions {
    kind: Kind,
    fixed_size: bool,
    overflow: Overflow,
    capacity: u64,
    slot_size: u64,
    participants: u32,
    pub(crate) mode: u32,
}

impl RingOptions {
    /// An SPSC ring of `capacity` slots (a power of two) of `slot_size` bytes each
    /// (a multiple of 8; 8 of them hold the message length, the rest the payload).
    pub fn spsc(capacity: u64, slot_size: u64) -> RingOptions {
        RingOptions {
            kind: Kind::Spsc,
            fixed_size: false,
            overflow: Overflow::Block,
            capacity,
            slot_size,
            participants: 2,
            mode: 0o600,
        }
    }

    /// An SPSC ring whose slots carry messages of up to `max_payload` bytes (the
    /// slot size is rounded up to a multiple of 8).
    pub fn spsc_for_payload(capacity: u64, max_payload: u64) -> RingOptions {
        let slot = max_payload.saturating_add(Kind::Spsc.slot_header_size(false) as u64);
        RingOptions::spsc(capacity, slot.saturating_add(7) & !7)
    }

    /// An SPSC ring of `capacity` slots carrying messages of exactly
    /// `message_size` bytes (a multiple of 8, at least 8).
    ///
    /// Slots hold no length field, so small records travel as densely as in an
    /// in-process queue of the same type, and a batch's payloads are contiguous
    /// ([`crate::spsc::WriteBatch::as_mut_slices`]).
    ///
    /// # Examples
    /// ```
    /// let options = shmlane::RingOptions::spsc_fixed(4096, 16);
    /// assert_eq!(options.max_payload(), 16);
    /// ```
    pub fn spsc_fixed(capacity: u64, message_size: u64) -> RingOptions {
        RingOptions {
            fixed_size: true,
            ..RingOptions::spsc(capacity, message_size)
        }
    }

    /// An MPMC ring of `capacity` slots (a power of two) of `slot_size` bytes
    /// each (a multiple of 8; 16 of them hold the slot's stamp and the message
    /// length, the rest the payload), with room for `max_participants` producer
    /// and consumer handles together (2 to 1024).
    ///
    /// # Examples
    /// ```
    /// let options = shmlane::RingOptions::mpmc(1024, 80, 8);
    /// assert_eq!(options.max_payload(), 64);
    /// ```
    pub fn mpmc(capacity: u64, slot_size: u64, max_participants: u32) -> RingOptions {
        RingOptions {
            kind: Kind::Mpmc,
            fixed_size: false,
            overflow: Overflow::Block,
            capacity,
            slot_size,
            participants: max_participants,
            mode: 0o600,
        }
    }

    /// An MPMC ring carrying messages of exactly `message_size` bytes (a
    /// multiple of 8): each slot is an 8-byte stamp and the message.
    pub fn mpmc_fixed(capacity: u64, message_size: u64, max_participants: u32) -> RingOptions {
        RingOptions {
            fixed_size: true,
            ..RingOptions::mpmc(
                capacity,
                message_size.saturating_add(Kind::Mpmc.slot_header_size(true) as u64),
                max_participants,
            )
        }
    }

    /// A broadcast ring of `capacity` slots (a power of two) of `slot_size`
    /// bytes each (a multiple of 8; 16 of them hold the slot's stamp and the
    /// message length), for one producer and up to `max_subscribers`
    /// subscribers (1 to 1023), each of which sees every message.
    ///
    /// # Examples
    /// ```
    /// let options = shmlane::RingOptions::broadcast(1024, 80, 3);
    /// assert_eq!(options.max_payload(), 64);
    /// ```
    pub fn broadcast(capacity: u64, slot_size: u64, max_subscribers: u32) -> RingOptions {
        RingOptions {
            kind: Kind::Broadcast,
            fixed_size: false,
            overflow: Overflow::Block,
            capacity,
            slot_size,
            participants: max_subscribers.saturating_add(1),
            mode: 0o600,
        }
    }

    /// A broadcast ring carrying messages of exactly `message_size` bytes (a
    /// multiple of 8): each slot is an 8-byte stamp and the message.
    pub fn broadcast_fixed(capacity: u64, message_size: u64, max_subscribers: u32) -> RingOptions {
        RingOptions {
            fixed_size: true,
            ..RingOptions::broadcast(
                capacity,
                message_size.saturating_add(Kind::Broadcast.slot_header_size(true) as u64),
                max_subscribers,
            )
        }
    }

    /// What the producer does when the ring is full (default
    /// [`Overflow::Block`]). [`Overflow::Overwrite`] is for broadcast rings
    /// only (creating any other fails with
    /// [`ErrorKind::BadGeometry`](crate::ErrorKind::BadGeometry)): the producer
    /// never waits, and only untethered subscribers may join.
    ///
    /// # Examples
    /// ```
    /// use shmlane::{broadcast, ErrorKind, Overflow, Ring, RingOptions};
    /// # let name = format!("doc-overwrite-{}", std::process::id());
    /// let options = RingOptions::broadcast(64, 80, 4).overflow(Overflow::Overwrite);
    /// let ring = Ring::create(&name, &options)?;
    /// assert_eq!(ring.geometry().overflow, Overflow::Overwrite);
    /// let refused = broadcast::Subscriber::join(&ring).unwrap_err();
    /// assert_eq!(refused.kind(), ErrorKind::WrongKind);
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn overflow(mut self, overflow: Overflow) -> RingOptions {
        self.overflow = overflow;
        self
    }

    /// File mode of the ring (default `0o600`). The mode is set exactly, not
    /// masked by the umask; it must include `0o600` (every handle opens the file
    /// read-write) and hold only permission bits, or creation fails with
    /// [`ErrorKind::Permission`](crate::ErrorKind::Permission).
    pub fn mode(mut self, mode: u32) -> RingOptions {
        self.mode = mode;
        self
    }

    /// Largest message of a ring made with these options.
    pub fn max_payload(&self) -> u64 {
        self.slot_size
            .saturating_sub(self.kind.slot_header_size(self.fixed_size) as u64)
    }

    /// The geometry of a ring made with these options.
    pub(crate) fn geometry(&self) -> Result<Geometry, Error> {
        Geometry::new(
            self.kind,
            self.capacity,
            self.slot_size,
            self.participants,
            self.fixed_size,
        )?
        .with_overflow(self.overflow)
    }
}

/// How to open a ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    ready_timeout: Duration,
    expect_kind: Option<Kind>,
    allow_other_owner: bool,
    allow_shared_mode: bool,
    require_sealed: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            ready_timeout: Duration::from_secs(2),
            expect_kind: None,
            allow_other_owner: false,
            allow_shared_mode: false,
            require_sealed: false,
        }
    }
}

impl OpenOptions {
    /// Opens the ring at `at` with these options: a name under `/dev/shm` (a
    /// `&str`), a file at a path (a `&Path`), or a descriptor ([`Location::Fd`],
    /// a sealed memfd or a ring file received from another process; it must be
    /// open for reading and writing, and the ring owns it from then on).
    ///
    /// Every opener makes the same checks: a regular file, its owner and mode,
    /// the creator's ready word (waited for up to the ready timeout), the
    /// header against values recomputed here, the file size, and with
    /// [`OpenOptions::require_sealed`] the shrink seal.
    ///
    /// # Errors
    /// [`ErrorKind::BadName`](crate::ErrorKind::BadName) (also for
    /// [`Location::Sealed`], which is created, not opened),
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound),
    /// [`ErrorKind::Symlink`](crate::ErrorKind::Symlink),
    /// [`ErrorKind::Permission`](crate::ErrorKind::Permission),
    /// [`ErrorKind::NotARing`](crate::ErrorKind::NotARing),
    /// [`ErrorKind::NotReady`](crate::ErrorKind::NotReady) (the creator may still be writing the
    /// header: the file is empty, has no magic yet, or names a creator that
    /// runs),
    /// [`ErrorKind::UnsupportedVersion`](crate::ErrorKind::UnsupportedVersion),
    /// [`ErrorKind::WrongKind`](crate::ErrorKind::WrongKind),
    /// [`ErrorKind::FileTooSmall`](crate::ErrorKind::FileTooSmall),
    /// [`ErrorKind::NotSealed`](crate::ErrorKind::NotSealed),
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) (at once, naming the file and the field,
    /// for a header that fails its checks or that no creator will finish),
    /// [`ErrorKind::Io`](crate::ErrorKind::Io).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use shmlane::{Kind, OpenOptions, Ring, RingOptions};
    /// # let name = format!("doc-open-{}", std::process::id());
    /// let _created = Ring::create(&name, &RingOptions::mpmc(16, 64, 4))?;
    /// let ring = OpenOptions::new()
    ///     .expect_kind(Kind::Mpmc)
    ///     .ready_timeout(Duration::from_millis(100))
    ///     .open(&name)?;
    /// assert_eq!(ring.kind(), Kind::Mpmc);
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn open<'a>(&self, at: impl Into<Location<'a>>) -> Result<Ring, Error> {
        match at.into() {
            Location::Fd(fd) => open_fd(fd, self),
            at => Ring::open_path(
                &at.file_path("a sealed memfd is created (Ring::create), not opened")?,
                self,
            ),
        }
    }

    /// Default options: wait up to 2 s for the creator, any kind, own files only.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// How long to wait for a creator that has not finished the header.
    pub fn ready_timeout(mut self, timeout: Duration) -> OpenOptions {
        self.ready_timeout = timeout;
        self
    }

    /// Refuse a ring of any other kind with [`ErrorKind::WrongKind`](crate::ErrorKind::WrongKind).
    pub fn expect_kind(mut self, kind: Kind) -> OpenOptions {
        self.expect_kind = Some(kind);
        self
    }

    /// Accept a ring file owned by another user (refused by default).
    pub fn allow_other_owner(mut self, allow: bool) -> OpenOptions {
        self.allow_other_owner = allow;
        self
    }

    /// Accept a ring file writable by group or others (refused by default).
    pub fn allow_shared_mode(mut self, allow: bool) -> OpenOptions {
        self.allow_shared_mode = allow;
        self
    }

    /// Refuse, with [`ErrorKind::NotSealed`](crate::ErrorKind::NotSealed), a ring whose file can still shrink:
    /// one without the `F_SEAL_SHRINK` seal (off by default).
    ///
    /// Only a memfd can carry that seal, so with this option only a ring made
    /// by [`Location::Sealed`](crate::Location::Sealed) (or another creator that seals its memfd)
    /// opens, through [`OpenOptions::open`](crate::OpenOptions::open) of a [`Location::Fd`](crate::Location::Fd); a ring file opened by name or
    /// path never does. A sealed ring cannot be truncated under its mappings,
    /// so touching it never raises SIGBUS (`docs/guarantees.md`).
    ///
    /// # Examples
    /// ```
    /// use shmlane::{OpenOptions, Ring, RingOptions};
    /// # let name = format!("doc-require-sealed-{}", std::process::id());
    /// let named = Ring::create(&name, &RingOptions::spsc(8, 64))?;
    /// let sealed_only = OpenOptions::new().require_sealed(true);
    /// let refused = sealed_only.open(&name).unwrap_err();
    /// assert_eq!(refused.kind(), shmlane::ErrorKind::NotSealed);
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn require_sealed(mut self, require: bool) -> OpenOptions {
        self.require_sealed = require;
        self
    }
}

/// An open ring file: the mapping that producer and consumer handles join.
///
/// Dropping the `Ring` does not close handles made from it; the mapping stays
/// until the last of them is dropped.
///
/// # Examples
/// ```
/// use shmlane::{Ring, RingOptions};
/// # let name = format!("doc-ring-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::spsc(64, 64))?;
/// assert_eq!(ring.geometry().capacity, 64);
/// let again = Ring::open(&name)?;
/// assert_eq!(again.geometry(), ring.geometry());
/// shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
#[derive(Clone)]
pub struct Ring {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("path", &self.shared.path)
            .field("geometry", self.shared.region.geometry())
            .finish()
    }
}

/// Where a ring lives: the one argument of [`Ring::create`], [`Ring::open`],
/// [`OpenOptions::open`], [`crate::info`] and [`crate::remove`].
///
/// A `&str` (or `&String`) is a name under `/dev/shm`, a `&Path` (or
/// `PathBuf`) a file anywhere, an `OwnedFd` a ring file or memfd received
/// from another process (opened, not created), and [`Location::Sealed`] a new
/// memfd sealed against shrinking and growing (created, not opened).
///
/// # Examples
/// ```
/// use std::path::Path;
/// use shmlane::{Location, Ring, RingOptions};
/// # let name = format!("doc-location-{}", std::process::id());
/// let named = Ring::create(&name, &RingOptions::spsc(8, 64))?; // /dev/shm/<name>
/// let by_path = Ring::open(named.path())?; // the same file, by its path
/// let sealed = Ring::create(Location::Sealed, &RingOptions::spsc(8, 64))?;
/// assert!(sealed.is_sealed() && !by_path.is_sealed());
///
/// // What another process does with a descriptor of the memfd it was given
/// // (by inheritance or SCM_RIGHTS; a duplicate stands in for it here).
/// use std::os::fd::AsFd;
/// let received = sealed.as_fd().try_clone_to_owned().unwrap();
/// let joined = shmlane::OpenOptions::new().require_sealed(true).open(received)?;
/// assert_eq!(joined.geometry(), sealed.geometry());
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
#[derive(Debug)]
pub enum Location<'a> {
    /// A name under [`SHM_DIR`]: 1–200 characters of `[A-Za-z0-9._-]`, not
    /// starting with a dot.
    Name(&'a str),
    /// A file at this path, on any file system.
    Path(std::borrow::Cow<'a, Path>),
    /// A new anonymous memfd, sealed so that it can never shrink or grow
    /// (created only; see `Ring::create`).
    Sealed,
    /// An open descriptor of a ring file or memfd, which the ring takes
    /// (opened only; see [`OpenOptions::open`]).
    Fd(std::os::fd::OwnedFd),
}

impl<'a> From<&'a str> for Location<'a> {
    fn from(name: &'a str) -> Location<'a> {
        Location::Name(name)
    }
}

impl<'a> From<&'a String> for Location<'a> {
    fn from(name: &'a String) -> Location<'a> {
        Location::Name(name)
    }
}

impl<'a> From<&'a Path> for Location<'a> {
    fn from(path: &'a Path) -> Location<'a> {
        Location::Path(path.into())
    }
}

impl<'a> From<&'a PathBuf> for Location<'a> {
    fn from(path: &'a PathBuf) -> Location<'a> {
        Location::Path(path.into())
    }
}

impl From<PathBuf> for Location<'_> {
    fn from(path: PathBuf) -> Self {
        Location::Path(path.into())
    }
}

impl From<std::os::fd::OwnedFd> for Location<'_> {
    fn from(fd: std::os::fd::OwnedFd) -> Self {
        Location::Fd(fd)
    }
}

impl Location<'_> {
    /// The file a name or path stands for; `what` says, for the error, what
    /// cannot be done with a memfd or descriptor.
    pub(crate) fn file_path(&self, what: &'static str) -> Result<PathBuf, Error> {
        match self {
            Location::Name(name) => path_for(name),
            Location::Path(path) => Ok(path.to_path_buf()),
            Location::Sealed => Err(Error::bad_name("Location::Sealed", what)),
            Location::Fd(_) => Err(Error::bad_name("Location::Fd", what)),
        }
    }
}

impl Ring {
    /// Creates a ring at `at`: a name under `/dev/shm` (a `&str`), a file at a
    /// path (a `&Path`; the file must not exist), or [`Location::Sealed`].
    ///
    /// A sealed ring lives in a new memfd that nobody, not even a process of
    /// the same uid, can truncate under its mappings, so touching it never
    /// raises SIGBUS for that reason (`docs/guarantees.md`). It has no name:
    /// [`Ring::path`] is `/proc/self/fd/<N>`, [`Ring::file_path`] is `None`,
    /// and another process joins it through a descriptor of it ([`AsFd`](std::os::fd::AsFd)),
    /// received by inheritance or `SCM_RIGHTS` and opened as [`Location::Fd`].
    ///
    /// # Errors
    /// [`ErrorKind::BadName`](crate::ErrorKind::BadName) (also for a
    /// [`Location::Fd`], which is opened, not created),
    /// [`ErrorKind::BadGeometry`](crate::ErrorKind::BadGeometry),
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists),
    /// [`ErrorKind::Permission`](crate::ErrorKind::Permission) for a mode the
    /// ring cannot work with, or [`ErrorKind::Io`](crate::ErrorKind::Io) (for
    /// example when `/dev/shm` or memory is full).
    ///
    /// # Examples
    /// ```
    /// use shmlane::{Ring, RingOptions};
    /// # let name = format!("doc-create-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(1024, 64))?;
    /// assert_eq!(ring.geometry().capacity, 1024);
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn create<'a>(at: impl Into<Location<'a>>, options: &RingOptions) -> Result<Ring, Error> {
        match at.into() {
            Location::Sealed => create_sealed(options),
            at => Ring::create_file(
                &at.file_path("a descriptor is opened (OpenOptions::open), not created")?,
                options,
            ),
        }
    }

    fn create_file(path: &Path, options: &RingOptions) -> Result<Ring, Error> {
        let geometry = options.geometry()?;
        check_create_mode(path, options.mode)?;
        // Created private, then given its final mode before the ready word, so no
        // opener ever checks a mode the creator did not ask for.
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(OPEN_FLAGS)
            .open(path)
            .map_err(|e| create_error(path, e))?;
        let mut cleanup = RemoveOnFailure(Some(path.to_owned()));
        set_mode(&file, options.mode)?;
        allocate(&file, geometry.total_size)?;
        let ring = Ring::initialize(file, path.to_owned(), true, geometry)?;
        cleanup.0 = None;
        Ok(ring)
    }

    /// Opens the ring at `at` (a name, a path, or a descriptor) with default
    /// [`OpenOptions`]: [`OpenOptions::open`] with other options.
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub fn open<'a>(at: impl Into<Location<'a>>) -> Result<Ring, Error> {
        OpenOptions::default().open(at)
    }

    /// Maps a new ring's file, already given its mode and allocated to
    /// `geometry.total_size`, writes the slot stamps (MPMC) and the header, and
    /// stores the ready word last: the one initialization of every creator.
    pub(crate) fn initialize(
        file: File,
        path: PathBuf,
        named: bool,
        geometry: Geometry,
    ) -> Result<Ring, Error> {
        let mapping = memmap2::MmapOptions::new()
            .len(geometry.total_size as usize)
            .map_raw(&file)
            .map_err(|e| Error::io("mapping the new ring", e))?;
        let header = geometry.header(std::process::id(), unix_time_ns());
        let region = Region::over_mapping(mapping, geometry, header);
        if geometry.kind == Kind::Mpmc {
            initialize_stamps(&region);
        }
        write_header(&region, &header);
        Ok(Ring {
            shared: Arc::new(Shared {
                region,
                file,
                path,
                named,
            }),
        })
    }

    fn open_path(path: &Path, options: &OpenOptions) -> Result<Ring, Error> {
        let file = File::options()
            .read(true)
            .write(true)
            .custom_flags(OPEN_FLAGS)
            .open(path)
            .map_err(|e| open_error(path, e))?;
        Ring::open_file(file, path.to_owned(), true, options)
    }

    /// Validates an open read-write ring file and maps it: the checks of every
    /// opener, by path or by descriptor.
    pub(crate) fn open_file(
        file: File,
        path: PathBuf,
        named: bool,
        options: &OpenOptions,
    ) -> Result<Ring, Error> {
        require_regular_file(&file, &path)?;
        check_owner_and_mode(&file, &path, options)?;
        let region = map_validated(&file, &path, options, Access::ReadWrite)?;
        // Again once ready: the creator sets the final mode before its ready word.
        check_owner_and_mode(&file, &path, options)?;
        // Once ready too: a sealing creator seals before its ready word, and
        // seals are never taken off.
        if options.require_sealed {
            memfd::require_shrink_seal(&file, &path)?;
        }
        Ok(Ring {
            shared: Arc::new(Shared {
                region,
                file,
                path,
                named,
            }),
        })
    }

    /// The ring's validated geometry.
    pub fn geometry(&self) -> Geometry {
        *self.shared.region.geometry()
    }

    /// The ring's kind.
    pub fn kind(&self) -> Kind {
        self.shared.region.geometry().kind
    }

    /// Largest message the ring carries.
    pub fn max_payload(&self) -> usize {
        self.shared.region.geometry().max_payload as usize
    }

    /// The path of the ring's file.
    ///
    /// For a ring reached through a descriptor ([`Location::Sealed`](crate::Location::Sealed),
    /// [`Location::Fd`](crate::Location::Fd)) it is `/proc/self/fd/<N>`, `N` being the descriptor the
    /// ring keeps open: it names the file in this process only, and only while
    /// the ring lives, and it is a symbolic link, so [`Ring::open`] and
    /// [`crate::remove`] refuse it with [`ErrorKind::Symlink`](crate::ErrorKind::Symlink). [`Ring::file_path`]
    /// tells the two cases apart.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The path other processes can open the ring at: `Some` for a ring created
    /// or opened by name or path, `None` for one reached through a descriptor,
    /// which has no name (pass the descriptor instead, see [`Location::Sealed`](crate::Location::Sealed)).
    ///
    /// # Examples
    /// ```
    /// use shmlane::{Ring, RingOptions};
    /// # let name = format!("doc-file-path-{}", std::process::id());
    /// let named = Ring::create(&name, &RingOptions::spsc(8, 64))?;
    /// assert_eq!(named.file_path(), Some(named.path()));
    /// let sealed = Ring::create(shmlane::Location::Sealed, &RingOptions::spsc(8, 64))?;
    /// assert_eq!(sealed.file_path(), None);
    /// assert!(sealed.path().starts_with("/proc/self/fd"));
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn file_path(&self) -> Option<&Path> {
        self.shared.named.then_some(self.shared.path.as_path())
    }

    /// Checks that the ring's file is still as long as the ring (one `fstat`).
    ///
    /// Another process with write access to a ring file (by default only the
    /// same uid: the mode is `0600`) can truncate it; every later access to a
    /// page past the new end then raises SIGBUS, in every process that maps it.
    /// This check lets a process find out before it touches the ring again.
    /// Blocking calls make it themselves, once per nap that runs out while they
    /// sleep (at most once per [`crate::WaitStrategy::peer_check_interval`]
    /// while nothing happens), and joining makes it; non-blocking calls never
    /// do.
    ///
    /// Once a truncation is found, this ring and its handles in this process
    /// treat the ring as lost for good: the check keeps failing (a file grown
    /// again holds zeros, not the ring), joins fail, and handles leave
    /// without touching the mapping when dropped, as if their process had
    /// died. Do not call anything else on the ring or its
    /// handles: it touches the mapping. A truncation
    /// between two checks is not caught: the next access to a lost page raises
    /// SIGBUS. Only a sealed ring ([`Location::Sealed`](crate::Location::Sealed)) rules truncation
    /// out; `docs/guarantees.md` has the whole story.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) when the file is (or once was) shorter than
    /// [`Geometry::total_size`]; [`ErrorKind::Io`](crate::ErrorKind::Io) if `fstat` fails.
    ///
    /// # Examples
    /// ```
    /// use shmlane::{ErrorKind, Ring, RingOptions};
    /// # let name = format!("doc-check-size-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(64, 64))?;
    /// ring.check_size()?;
    /// // Another process (of the same uid) truncates the file...
    /// # let path = ring.path().to_owned();
    /// std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(4096).unwrap();
    /// // ...and the next check says so, before anything touches the lost pages.
    /// let truncated = ring.check_size().unwrap_err();
    /// assert_eq!(truncated.kind(), ErrorKind::Truncated);
    /// assert_eq!(truncated.sizes().map(|(file_size, _)| file_size), Some(4096));
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn check_size(&self) -> Result<(), Error> {
        self.shared.check_size()
    }

    /// Writes the mapping back to the file's storage and waits for it
    /// (`msync(MS_SYNC)`).
    ///
    /// Committed messages already survive the crash of any process without this:
    /// they are in the page cache. `flush` is for file-backed rings that must
    /// survive power loss; it promises that every byte committed before the call
    /// is on stable storage when it returns. On tmpfs (`/dev/shm`) it does nothing
    /// useful, since tmpfs has no storage.
    ///
    /// # Errors
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) if `msync` fails.
    pub fn flush(&self) -> Result<(), Error> {
        let geometry = self.shared.region.geometry();
        // SAFETY: the whole range is our own live mapping.
        let rc = unsafe {
            libc::msync(
                self.shared.region.base().cast(),
                geometry.total_size as usize,
                libc::MS_SYNC,
            )
        };
        if rc != 0 {
            return Err(Error::last_os("msync of the ring"));
        }
        Ok(())
    }
}

/// Removes the ring at `at`: a name under `/dev/shm` or a path. Mappings
/// already open stay valid until their handles are dropped.
///
/// # Errors
/// [`ErrorKind::BadName`](crate::ErrorKind::BadName), [`ErrorKind::NotFound`](crate::ErrorKind::NotFound), [`ErrorKind::NotARing`](crate::ErrorKind::NotARing) (a file with
/// another magic is left in place), [`ErrorKind::Permission`](crate::ErrorKind::Permission), [`ErrorKind::Io`](crate::ErrorKind::Io).
pub fn remove<'a>(at: impl Into<Location<'a>>) -> Result<(), Error> {
    use std::os::unix::fs::FileExt;
    let path = &at
        .into()
        .file_path("only a ring file has a name to remove; a memfd goes with its last user")?;
    let file = File::options()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    require_regular_file(&file, path)?;
    // Only a ring is removed: one with the magic, or the leftovers of a creator
    // that failed (an empty file, or a header without magic or ready word). A
    // ring whose creator is still writing its header looks like the latter.
    let mut start = [0u8; layout::READY_OFFSET + 4];
    let read = file
        .read_at(&mut start, 0)
        .map_err(|e| Error::io("reading the ring file", e))?;
    let magic = u64::from_le_bytes(start[..8].try_into().expect("8 bytes"));
    let size = file
        .metadata()
        .map_err(|e| Error::io("fstat of the ring file", e))?
        .len();
    let unfinished =
        magic == 0 && read == start.len() && start[layout::READY_OFFSET..].iter().all(|&b| b == 0);
    if !(size == 0 || magic == MAGIC || unfinished) {
        return Err(Error::not_a_ring(format!(
            "{} does not hold a shmlane ring; not removed",
            path.display()
        )));
    }
    std::fs::remove_file(path).map_err(|e| open_error(path, e))
}

/// Opens a ring file read-only and validates it, for [`crate::info`].
pub(crate) fn open_read_only(path: &Path) -> Result<(File, Region), Error> {
    let file = File::options()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    require_regular_file(&file, path)?;
    let region = map_validated(&file, path, &OpenOptions::default(), Access::ReadOnly)?;
    Ok((file, region))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    ReadOnly,
    ReadWrite,
}

/// Waits for the creator's ready word, then maps and validates the ring.
///
/// It waits only while a creator may still be writing the header: the file is
/// empty, or its magic is not written yet, or the creator the header names
/// still runs. A header no creator will finish is corrupt at once.
fn map_validated(
    file: &File,
    path: &Path,
    options: &OpenOptions,
    access: Access,
) -> Result<Region, Error> {
    let started = Instant::now();
    let mut mapping: Option<memmap2::MmapRaw> = None;
    let mut attempt = 0u32;
    loop {
        let size = file
            .metadata()
            .map_err(|e| Error::io("fstat of the ring file", e))?
            .len();
        if mapping.is_none() && size > 0 {
            if size < HEADER_SIZE as u64 {
                // A creator extends the file to its full size in one fallocate,
                // so a short non-empty file is never a ring in the making.
                return Err(Error::not_a_ring(format!(
                    "the file is {size} bytes, shorter than a {HEADER_SIZE}-byte header"
                )));
            }
            let Ok(len) = usize::try_from(size) else {
                return Err(Error::not_a_ring(format!(
                    "the file is {size} bytes, too large to map"
                )));
            };
            let mut map_options = memmap2::MmapOptions::new();
            map_options.len(len);
            let mapped = match access {
                Access::ReadOnly => map_options.map_raw_read_only(file),
                Access::ReadWrite => map_options.map_raw(file),
            };
            mapping = Some(mapped.map_err(|e| Error::io("mapping the ring", e))?);
        }
        if let Some(map) = &mapping {
            let base = map.as_mut_ptr();
            // SAFETY: the mapping is at least HEADER_SIZE bytes and page-aligned;
            // the magic, creator pid and ready words are aligned, and while the
            // ready word is unset they are only read here atomically.
            let (magic, creator_pid, ready) = unsafe {
                (
                    &*base.add(layout::MAGIC_OFFSET).cast::<AtomicU64>(),
                    &*base.add(layout::CREATOR_PID_OFFSET).cast::<AtomicU32>(),
                    &*base.add(layout::READY_OFFSET).cast::<AtomicU32>(),
                )
            };
            // Ordering: Relaxed, then the Acquire fence below, which pairs with
            // the Release store of the ready word in `write_header`: the whole
            // header is visible once we see READY. (Only Relaxed loads are
            // promised to work on a read-only mapping, hence the fence.)
            let ready_word = ready.load(Ordering::Relaxed);
            if ready_word == READY {
                fence(Ordering::Acquire);
                break;
            }
            // Ordering: Relaxed, then the Acquire fence below, which pairs with
            // the Release store of the magic in `write_header`: a creator
            // stores its pid before its magic, so we see the pid once we see
            // the magic. The magic also tells a foreign file from a ring, so
            // it is looked at before the ready word.
            let found = magic.load(Ordering::Relaxed);
            if found != 0 && found != MAGIC {
                return Err(Error::not_a_ring(format!(
                    "magic is {found:#018x}, expected {MAGIC:#018x}"
                )));
            }
            if ready_word != 0 {
                return Err(Error::corrupt_file(
                    path,
                    format!(
                        "header field ready is {ready_word:#x}, neither 0 (being created) nor {READY:#x} (ready)"
                    ),
                ));
            }
            if found == MAGIC {
                fence(Ordering::Acquire);
                // Ordering: Relaxed; made visible by the fence above.
                let pid = creator_pid.load(Ordering::Relaxed);
                if !process_runs(pid) {
                    return Err(Error::corrupt_file(
                        path,
                        format!(
                            "the ready word is unset and header field creator_pid is {pid}, which names no running process: no creator will finish this header"
                        ),
                    ));
                }
            }
        }
        let waited = started.elapsed();
        if waited >= options.ready_timeout {
            return Err(Error::not_ready(path, options.ready_timeout));
        }
        attempt += 1;
        if attempt < 10 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_millis(1).min(options.ready_timeout - waited));
        }
    }
    let mapping = mapping.expect("the loop breaks only with a mapping");
    let mut bytes = [0u8; HEADER_SIZE];
    // SAFETY: the mapping holds at least HEADER_SIZE bytes; the header is written
    // once before the ready word, which we have seen, so nobody writes it now.
    unsafe { std::ptr::copy_nonoverlapping(mapping.as_ptr(), bytes.as_mut_ptr(), HEADER_SIZE) };
    let header = Header::from_bytes(&bytes);
    let geometry =
        Geometry::from_header(&header, mapping.len() as u64).map_err(|e| e.in_file(path))?;
    if let Some(expected) = options.expect_kind {
        if expected != geometry.kind {
            return Err(Error::wrong_kind(expected.name(), geometry.kind.name()));
        }
    }
    Ok(Region::over_mapping(mapping, geometry, header))
}

/// Whether process `pid` runs (in this process's pid namespace): a creator
/// that may still finish its header. Pid 0 is never a creator. A pid reused by
/// another process since only makes the opener wait for its timeout.
fn process_runs(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; no pointers.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists, under another uid.
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Sets every MPMC slot's stamp to its index: slot `i` is free for position `i`.
fn initialize_stamps(region: &Region) {
    let slots = region.slot_table();
    for position in 0..region.geometry().capacity {
        // Ordering: Relaxed; published by the Release store of the ready word.
        slots.stamp(position).store(position, Ordering::Relaxed);
    }
}

/// Writes a new ring's header: everything but the magic and ready word with plain
/// stores, then the magic, then the ready word with Release.
fn write_header(region: &Region, header: &Header) {
    let bytes = header.to_bytes();
    let base = region.base();
    // SAFETY: the mapping is at least HEADER_SIZE bytes; nobody else reads these
    // bytes before they see the ready word, and the ranges skip the two words
    // that openers read atomically (magic at 0..8, ready at 128..132).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr().add(8), base.add(8), layout::READY_OFFSET - 8);
        let after_ready = layout::READY_OFFSET + 4;
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr().add(after_ready),
            base.add(after_ready),
            HEADER_SIZE - after_ready,
        );
    }
    // Ordering: Release, pairs with the Acquire fence after the magic load in
    // `map_validated`: an opener that sees the magic before the ready word
    // sees our pid, and waits for us only while we run.
    region
        .u64_at(layout::MAGIC_OFFSET)
        .store(MAGIC, Ordering::Release);
    // Ordering: Release, pairs with the Acquire load of the ready word in
    // `map_validated`: every header byte above happens-before an opener's read.
    region
        .u32_at(layout::READY_OFFSET)
        .store(READY, Ordering::Release);
}

/// Flags of every open of a ring file: never through a symlink, never inherited
/// by exec'd programs, and never blocking or taking a terminal if the path turns
/// out to be a FIFO or a device (it is refused right after).
const OPEN_FLAGS: libc::c_int =
    libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY;

fn require_regular_file(file: &File, path: &Path) -> Result<(), Error> {
    let meta = file
        .metadata()
        .map_err(|e| Error::io("fstat of the ring file", e))?;
    if !meta.is_file() {
        return Err(Error::not_a_ring(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(())
}

/// A ring's mode must let its owner read and write it (every handle reopens the
/// file read-write) and hold only permission bits.
pub(crate) fn check_create_mode(path: &Path, mode: u32) -> Result<(), Error> {
    if mode & 0o600 != 0o600 || mode & !0o777 != 0 {
        return Err(Error::permission(path.to_owned(), format!(
                "mode {mode:04o} must include owner read and write (0600) and only permission bits (0777)"
            )));
    }
    Ok(())
}

fn check_owner_and_mode(file: &File, path: &Path, options: &OpenOptions) -> Result<(), Error> {
    let meta = file
        .metadata()
        .map_err(|e| Error::io("fstat of the ring file", e))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if !options.allow_other_owner && meta.uid() != euid {
        return Err(Error::permission(
            path.to_owned(),
            format!(
                "the file is owned by uid {}, not by this process's uid {euid}",
                meta.uid()
            ),
        )
        .with_remedy(Remedy::AllowOtherOwner));
    }
    if !options.allow_shared_mode && meta.mode() & 0o022 != 0 {
        return Err(Error::permission(
            path.to_owned(),
            format!(
                "the file's mode {:04o} lets group or others write it",
                meta.mode() & 0o7777
            ),
        )
        .with_remedy(Remedy::AllowSharedMode));
    }
    Ok(())
}

pub(crate) fn set_mode(file: &File, mode: u32) -> Result<(), Error> {
    // SAFETY: a valid descriptor; fchmod has no memory preconditions.
    if unsafe { libc::fchmod(file.as_raw_fd(), mode as libc::mode_t) } != 0 {
        return Err(Error::last_os("setting the ring file's mode"));
    }
    Ok(())
}

/// Reserves the file's blocks, so that a full tmpfs fails here rather than with
/// SIGBUS on a later write. File systems without `fallocate` get `ftruncate`.
pub(crate) fn allocate(file: &File, size: u64) -> Result<(), Error> {
    // SAFETY: a valid descriptor; fallocate has no memory preconditions.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, size as libc::off_t) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EOPNOTSUPP) {
        return file
            .set_len(size)
            .map_err(|e| Error::io("sizing the ring file", e));
    }
    Err(Error::io("allocating the ring file", err))
}

/// As [`open_error`], but a missing path means a missing directory.
fn create_error(path: &Path, err: std::io::Error) -> Error {
    if err.raw_os_error() == Some(libc::ENOENT) {
        return Error::io("creating the ring file (its directory does not exist)", err);
    }
    open_error(path, err)
}

fn open_error(path: &Path, err: std::io::Error) -> Error {
    let path = path.to_owned();
    match err.raw_os_error() {
        Some(libc::ENOENT) => Error::not_found(path),
        Some(libc::EEXIST) => Error::already_exists(path),
        Some(libc::ELOOP) => Error::symlink(path),
        Some(libc::EACCES) | Some(libc::EPERM) => Error::permission(path, err.to_string()),
        Some(libc::EISDIR) => Error::not_a_ring(format!("{} is a directory", path.display())),
        _ => Error::io("opening the ring file", err),
    }
}

/// Removes a half-created ring file unless creation succeeded.
struct RemoveOnFailure(Option<PathBuf>);

impl Drop for RemoveOnFailure {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

// Rings in sealed memfds and rings reached through a descriptor (`memfd`).

/// Creates a ring in a new memfd sealed so that it can never shrink or grow:
/// `Ring::create(Location::Sealed, ..)`.
///
/// Another process joins the ring through a descriptor of the memfd (the
/// ring's [`AsFd`]), opened there as [`crate::Location::Fd`]:
///
/// - by inheritance: duplicate it (`ring.as_fd().try_clone_to_owned()`,
///   which stays close-on-exec) and clear `FD_CLOEXEC` on the duplicate in
///   the child only, between `fork` and `exec`
///   (`std::os::unix::process::CommandExt::pre_exec`), then tell the child
///   the descriptor's number; clearing it in the parent would leak the
///   descriptor into every program other threads spawn meanwhile;
/// - over a Unix socket: send the descriptor in an `SCM_RIGHTS` control
///   message with `sendmsg`, and open the received one.
///
/// The mode is set as for a file ring (default `0o600`). It matters here
/// too: every handle reopens the memfd through `/proc/self/fd`, which
/// checks the mode, so a process of another uid needs a mode that lets it
/// read and write, and [`OpenOptions::allow_other_owner`] (plus
/// [`OpenOptions::allow_shared_mode`] for group or other write bits).
fn create_sealed(options: &RingOptions) -> Result<Ring, Error> {
    let geometry = options.geometry()?;
    let file = memfd::new_memfd(options.mode)?;
    let path = memfd::descriptor_path(&file);
    check_create_mode(&path, options.mode)?;
    // Nobody else has the descriptor yet, so nobody sees a mode before this one.
    set_mode(&file, options.mode)?;
    allocate(&file, geometry.total_size)?;
    // Sealed before the ready word: an opener that sees the ring ready sees
    // the seals too, so `require_sealed` checks after the ready wait.
    memfd::add_seals(&file)?;
    Ring::initialize(file, path, false, geometry)
}

/// Opens the ring in the file behind `fd` (`OpenOptions::open` of a
/// `Location::Fd`): the checks of every opener, after checking that the
/// descriptor is open read-write. The ring owns it from then on, and sets it
/// close-on-exec as every ring open does; [`Ring::path`] is
/// `/proc/self/fd/<N>` of it.
fn open_fd(fd: OwnedFd, options: &OpenOptions) -> Result<Ring, Error> {
    let file = File::from(fd);
    let path = memfd::descriptor_path(&file);
    memfd::require_read_write(&file, &path)?;
    memfd::set_close_on_exec(&file)?;
    Ring::open_file(file, path, false, options)
}

impl Ring {
    /// Whether the ring's file carries the `F_SEAL_SHRINK` seal, so that nobody
    /// can truncate it: true for a ring created at [`crate::Location::Sealed`], false for
    /// a ring file (one `fcntl`).
    ///
    /// # Examples
    /// ```
    /// use shmlane::{Ring, RingOptions};
    /// # let name = format!("doc-is-sealed-{}", std::process::id());
    /// assert!(Ring::create(shmlane::Location::Sealed, &RingOptions::spsc(8, 64))?.is_sealed());
    /// assert!(!Ring::create(&name, &RingOptions::spsc(8, 64))?.is_sealed());
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn is_sealed(&self) -> bool {
        memfd::has_shrink_seal(&self.shared.file)
    }
}

/// The descriptor the ring keeps open, to pass on to another process (see
/// [`crate::Location::Sealed`]). Duplicate it to pass it on; do not take locks
/// through it: the ring tests its participants' locks through it, and a lock of
/// its own would look like a live participant.
impl AsFd for Ring {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.file.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(path_for("a").is_ok());
        assert!(path_for("sensor_1.v2-x").is_ok());
        assert!(path_for(&"x".repeat(200)).is_ok());
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a b",
            "é",
            &"x".repeat(201),
        ] {
            assert!(
                matches!(path_for(bad), Err(e) if e.kind() == crate::ErrorKind::BadName),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn payload_options_round_up_to_whole_words() {
        let options = RingOptions::spsc_for_payload(8, 13);
        assert_eq!(options.slot_size, 24);
        assert_eq!(options.max_payload(), 16);
    }
}
