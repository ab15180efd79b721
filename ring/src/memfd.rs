//! Rings in sealed memfds, and rings reached through a descriptor.
//!
//! Anyone who may write a ring file can truncate it, and every process that then
//! touches a page past the new end gets SIGBUS (`docs/guarantees.md`, "A
//! truncated backing file"). A memfd (`memfd_create(2)`) sealed with
//! `F_SEAL_SHRINK` cannot shrink, whoever holds it: `ftruncate` to a smaller size
//! fails with `EPERM`, and no seal can ever be taken off. [`Ring::create_sealed`]
//! makes such a memfd, gives it its mode, allocates it, seals it against
//! shrinking, growing and further seals, and only then initializes the ring with
//! the code of [`Ring::create_at`].
//!
//! A memfd has no name. Other processes get its descriptor, inherited across
//! `fork` and `exec` or sent over a Unix socket as `SCM_RIGHTS`, and open it with
//! [`Ring::open_fd`], which runs the checks of [`Ring::open_at`] on it. Each
//! handle's liveness lock needs an open file description of its own; it gets one
//! as on a file ring, by opening `/proc/self/fd/<N>`, which for a memfd is a new
//! description of the same inode.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::shm::{allocate, check_create_mode, set_mode, OpenOptions, Ring, RingOptions};

/// The name a ring's memfd shows in `/proc/<pid>/fd` (as `/memfd:shmlane-ring`).
const MEMFD_NAME: &CStr = c"shmlane-ring";

/// The seals of a sealed ring: it can neither shrink (which would make its
/// pages vanish under the mappings) nor grow, and nobody can add seals, such as
/// a write seal that would stop later openers from mapping it read-write.
const RING_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

impl Ring {
    /// Creates a ring in a new memfd sealed so that it can never shrink or grow.
    ///
    /// Nobody, not even a process of the same uid holding the descriptor, can
    /// truncate the ring's memory under its mappings, so touching the ring never
    /// raises SIGBUS for that reason (`docs/guarantees.md`). The memfd has no
    /// name: [`Ring::path`] is `/proc/self/fd/<N>`, [`Ring::file_path`] is
    /// `None`, [`crate::remove`] does not apply, and the memory is freed when
    /// the last descriptor and the last mapping of it are gone, in whatever
    /// process.
    ///
    /// Another process joins the ring through a descriptor of the memfd
    /// ([`AsFd`]), opened there with [`Ring::open_fd`]:
    ///
    /// - by inheritance: duplicate it (`ring.as_fd().try_clone_to_owned()`,
    ///   which stays close-on-exec) and clear `FD_CLOEXEC` on the duplicate in
    ///   the child only, between `fork` and `exec`
    ///   (`std::os::unix::process::CommandExt::pre_exec`), then tell the child
    ///   the descriptor's number; clearing it in the parent would leak the
    ///   descriptor into every program other threads spawn meanwhile;
    /// - over a Unix socket: send the descriptor in an `SCM_RIGHTS` control
    ///   message with `sendmsg` (std has no stable API for it; `libc::sendmsg`
    ///   does), and open the received one.
    ///
    /// The mode is set as for a file ring (default `0o600`). It matters here
    /// too: every handle reopens the memfd through `/proc/self/fd`, which
    /// checks the mode, so a process of another uid needs a mode that lets it
    /// read and write, and [`OpenOptions::allow_other_owner`] (plus
    /// [`OpenOptions::allow_shared_mode`] for group or other write bits).
    ///
    /// # Errors
    /// [`Error::BadGeometry`]; [`Error::Permission`] for a bad mode;
    /// [`Error::Io`] if the memfd cannot be made, allocated (memory is short) or
    /// sealed, or mapped.
    ///
    /// # Examples
    /// ```
    /// use std::os::fd::AsFd;
    /// use shmlane::{spsc, OpenOptions, Ring, RingOptions};
    ///
    /// let ring = Ring::create_sealed(&RingOptions::spsc(64, 64))?;
    /// assert!(ring.is_sealed());
    /// let mut producer = spsc::Producer::join(&ring)?;
    ///
    /// // What another process does with the descriptor it was given (here a
    /// // duplicate in this process stands in for it).
    /// let received = ring.as_fd().try_clone_to_owned().unwrap();
    /// let joined = Ring::open_fd_with(received, &OpenOptions::new().require_sealed(true))?;
    /// let mut consumer = spsc::Consumer::join(&joined)?;
    ///
    /// producer.try_send(b"sealed")?;
    /// assert_eq!(&*consumer.try_read()?, b"sealed");
    ///
    /// // Nobody can cut the ring short.
    /// let file = std::fs::File::from(ring.as_fd().try_clone_to_owned().unwrap());
    /// let refused = file.set_len(0).unwrap_err();
    /// assert_eq!(refused.raw_os_error(), Some(libc::EPERM));
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    ///
    /// Handing the ring to a child process by inheritance (`my-consumer` is a
    /// program that passes the descriptor named by `RING_FD` to
    /// [`Ring::open_fd`]):
    /// ```no_run
    /// use std::os::fd::{AsFd, AsRawFd};
    /// use std::os::unix::process::CommandExt;
    /// use shmlane::{Ring, RingOptions};
    ///
    /// let ring = Ring::create_sealed(&RingOptions::spsc(1024, 64))?;
    /// let for_child = ring.as_fd().try_clone_to_owned().unwrap();
    /// let fd = for_child.as_raw_fd();
    /// let mut command = std::process::Command::new("my-consumer");
    /// command.env("RING_FD", fd.to_string());
    /// // SAFETY: the closure runs in the child between fork and exec, and
    /// // calls only fcntl, which is async-signal-safe.
    /// unsafe {
    ///     command.pre_exec(move || {
    ///         if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
    ///             return Err(std::io::Error::last_os_error());
    ///         }
    ///         Ok(())
    ///     });
    /// }
    /// let child = command.spawn().unwrap();
    /// drop(for_child); // the child has its own copy now
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    /// and in `my-consumer`:
    /// ```no_run
    /// use std::os::fd::{FromRawFd, OwnedFd};
    ///
    /// let fd: i32 = std::env::var("RING_FD").unwrap().parse().unwrap();
    /// // SAFETY: the parent left this descriptor open for us, and nothing
    /// // else in this process owns it.
    /// let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    /// let ring = shmlane::Ring::open_fd(fd)?;
    /// let consumer = shmlane::spsc::Consumer::join(&ring)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn create_sealed(options: &RingOptions) -> Result<Ring, Error> {
        let geometry = options.geometry()?;
        let file = new_memfd(options.mode)?;
        let path = descriptor_path(&file);
        check_create_mode(&path, options.mode)?;
        // Nobody else has the descriptor yet, so nobody sees a mode before this one.
        set_mode(&file, options.mode)?;
        allocate(&file, geometry.total_size)?;
        // Sealed before the ready word: an opener that sees the ring ready sees
        // the seals too, so `require_sealed` checks after the ready wait.
        add_seals(&file)?;
        Ring::initialize(file, path, false, geometry)
    }

    /// Opens the ring in the file behind `fd` with default [`OpenOptions`]: a
    /// sealed memfd from [`Ring::create_sealed`], or a ring file opened
    /// elsewhere, received by inheritance or `SCM_RIGHTS`.
    ///
    /// # Errors
    /// As [`Ring::open_fd_with`].
    ///
    /// # Examples
    /// ```
    /// use std::os::fd::AsFd;
    /// use shmlane::{Ring, RingOptions};
    ///
    /// let ring = Ring::create_sealed(&RingOptions::mpmc(64, 80, 4))?;
    /// let again = Ring::open_fd(ring.as_fd().try_clone_to_owned().unwrap())?;
    /// assert_eq!(again.geometry(), ring.geometry());
    /// assert!(again.is_sealed());
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn open_fd(fd: OwnedFd) -> Result<Ring, Error> {
        Ring::open_fd_with(fd, &OpenOptions::default())
    }

    /// Opens the ring in the file behind `fd` with the given options, after the
    /// checks [`Ring::open_at_with`] makes: a regular file, owner and mode,
    /// the creator's ready word (waited for), the header, the file size, and
    /// with [`OpenOptions::require_sealed`] the shrink seal. The descriptor must
    /// be open for reading and writing. The ring owns it from then on, and sets
    /// it close-on-exec as every ring open does; [`Ring::path`] is
    /// `/proc/self/fd/<N>` of it.
    ///
    /// # Errors
    /// [`Error::Permission`] for a descriptor not open read-write, or a file of
    /// another owner or a shared mode (unless the options allow it);
    /// [`Error::NotSealed`] for a file without `F_SEAL_SHRINK` when the options
    /// require it; otherwise as [`Ring::open_at_with`], less the path errors.
    ///
    /// # Examples
    /// ```
    /// use shmlane::{Error, OpenOptions, Ring, RingOptions};
    /// # let name = format!("doc-open-fd-{}", std::process::id());
    /// let named = Ring::create(&name, &RingOptions::spsc(8, 64))?;
    /// let file = std::fs::File::options().read(true).write(true).open(named.path()).unwrap();
    /// // A file ring can be truncated by its owner: refused when sealing is required.
    /// let sealed_only = OpenOptions::new().require_sealed(true);
    /// assert!(matches!(
    ///     Ring::open_fd_with(file.into(), &sealed_only),
    ///     Err(Error::NotSealed { .. })
    /// ));
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn open_fd_with(fd: OwnedFd, options: &OpenOptions) -> Result<Ring, Error> {
        let file = File::from(fd);
        let path = descriptor_path(&file);
        require_read_write(&file, &path)?;
        set_close_on_exec(&file)?;
        Ring::open_file(file, path, false, options)
    }

    /// Whether the ring's file carries the `F_SEAL_SHRINK` seal, so that nobody
    /// can truncate it: true for a ring from [`Ring::create_sealed`], false for
    /// a ring file (one `fcntl`).
    ///
    /// # Examples
    /// ```
    /// use shmlane::{Ring, RingOptions};
    /// # let name = format!("doc-is-sealed-{}", std::process::id());
    /// assert!(Ring::create_sealed(&RingOptions::spsc(8, 64))?.is_sealed());
    /// assert!(!Ring::create(&name, &RingOptions::spsc(8, 64))?.is_sealed());
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn is_sealed(&self) -> bool {
        seals(&self.shared.file).is_ok_and(|seals| seals & libc::F_SEAL_SHRINK != 0)
    }
}

/// The descriptor the ring keeps open, to pass on to another process (see
/// [`Ring::create_sealed`]). Duplicate it to pass it on; do not take locks
/// through it: the ring tests its participants' locks through it, and a lock of
/// its own would look like a live participant.
impl AsFd for Ring {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.file.as_fd()
    }
}

/// Refuses a ring file without the `F_SEAL_SHRINK` seal, for
/// [`OpenOptions::require_sealed`].
pub(crate) fn require_shrink_seal(file: &File, path: &Path) -> Result<(), Error> {
    let not_sealed = |reason: &str| {
        Err(Error::NotSealed {
            path: path.to_owned(),
            reason: reason.to_owned(),
        })
    };
    match seals(file) {
        Ok(seals) if seals & libc::F_SEAL_SHRINK != 0 => Ok(()),
        Ok(seals) if seals & libc::F_SEAL_SEAL != 0 => not_sealed(
            "it lacks F_SEAL_SHRINK and can take no more seals (a file opened by name or path never can; use Ring::create_sealed)",
        ),
        Ok(_) => not_sealed("it lacks F_SEAL_SHRINK"),
        Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
            not_sealed("its file system does not support seals (only a memfd does)")
        }
        Err(err) => Err(Error::io("reading the ring file's seals", err)),
    }
}

/// The file's seals (`F_GET_SEALS`); `EINVAL` on file systems without seals.
fn seals(file: &File) -> std::io::Result<libc::c_int> {
    // SAFETY: a valid descriptor; F_GET_SEALS takes no argument and touches no
    // memory of ours.
    let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(seals)
}

/// A new memfd, close-on-exec, that allows sealing.
fn new_memfd(mode: u32) -> Result<File, Error> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // A ring is never executed: ask for MFD_NOEXEC_SEAL where the kernel knows
    // it (Linux 6.3 on; older kernels say EINVAL), which also satisfies systems
    // that refuse executable memfds (`vm.memfd_noexec = 2`). It forbids execute
    // bits in the mode, so a mode with any goes without.
    let no_exec = if mode & 0o111 == 0 {
        libc::MFD_NOEXEC_SEAL
    } else {
        0
    };
    // SAFETY: the name is a NUL-terminated string that outlives the call.
    let mut fd = unsafe { libc::memfd_create(MEMFD_NAME.as_ptr(), flags | no_exec) };
    if fd < 0
        && no_exec != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
    {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(MEMFD_NAME.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(Error::last_os("creating a memfd for the ring"));
    }
    // SAFETY: memfd_create just returned this descriptor, and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn add_seals(file: &File) -> Result<(), Error> {
    // SAFETY: a valid descriptor; F_ADD_SEALS takes an int and touches no
    // memory of ours.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, RING_SEALS) } != 0 {
        return Err(Error::last_os("sealing the ring's memfd"));
    }
    Ok(())
}

/// `/proc/self/fd/<N>`: the only name a descriptor's file is sure to have.
fn descriptor_path(file: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Every handle maps the ring read-write, so the descriptor must allow both.
fn require_read_write(file: &File, path: &Path) -> Result<(), Error> {
    // SAFETY: a valid descriptor; F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(Error::last_os("reading the descriptor's flags"));
    }
    if flags & libc::O_ACCMODE != libc::O_RDWR || flags & libc::O_PATH != 0 {
        return Err(Error::Permission {
            path: path.to_owned(),
            reason: "the descriptor is not open for reading and writing".to_owned(),
        });
    }
    Ok(())
}

fn set_close_on_exec(file: &File) -> Result<(), Error> {
    // SAFETY: a valid descriptor; F_SETFD takes an int and touches no memory of ours.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(Error::last_os(
            "setting close-on-exec on the ring's descriptor",
        ));
    }
    Ok(())
}
