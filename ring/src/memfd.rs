//! Rings in sealed memfds, and rings reached through a descriptor.
//!
//! Anyone who may write a ring file can truncate it, and every process that then
//! touches a page past the new end gets SIGBUS (`docs/guarantees.md`, "A
//! truncated backing file"). A memfd (`memfd_create(2)`) sealed with
//! `F_SEAL_SHRINK` cannot shrink, whoever holds it: `ftruncate` to a smaller size
//! fails with `EPERM`, and no seal can ever be taken off. [`Location::Sealed`](crate::Location::Sealed)
//! makes such a memfd, gives it its mode, allocates it, seals it against
//! shrinking, growing and further seals, and only then initializes the ring with
//! the code of [`Ring::create`].
//!
//! A memfd has no name. Other processes get its descriptor, inherited across
//! `fork` and `exec` or sent over a Unix socket as `SCM_RIGHTS`, and open it with
//! [`Location::Fd`](crate::Location::Fd), which runs the checks of [`Ring::open`] on it. Each
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
pub(crate) fn create_sealed(options: &RingOptions) -> Result<Ring, Error> {
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

/// Opens the ring in the file behind `fd` (`OpenOptions::open` of a
/// `Location::Fd`): the checks of every opener, after checking that the
/// descriptor is open read-write. The ring owns it from then on, and sets it
/// close-on-exec as every ring open does; [`Ring::path`] is
/// `/proc/self/fd/<N>` of it.
pub(crate) fn open_fd(fd: OwnedFd, options: &OpenOptions) -> Result<Ring, Error> {
    let file = File::from(fd);
    let path = descriptor_path(&file);
    require_read_write(&file, &path)?;
    set_close_on_exec(&file)?;
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
        seals(&self.shared.file).is_ok_and(|seals| seals & libc::F_SEAL_SHRINK != 0)
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

/// Refuses a ring file without the `F_SEAL_SHRINK` seal, for
/// [`OpenOptions::require_sealed`].
pub(crate) fn require_shrink_seal(file: &File, path: &Path) -> Result<(), Error> {
    let not_sealed = |reason: &str| Err(Error::not_sealed(path.to_owned(), reason.to_owned()));
    match seals(file) {
        Ok(seals) if seals & libc::F_SEAL_SHRINK != 0 => Ok(()),
        Ok(seals) if seals & libc::F_SEAL_SEAL != 0 => not_sealed(
            "it lacks F_SEAL_SHRINK and can take no more seals (a file opened by name or path never can; use Ring::create(Location::Sealed, ..))",
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
        return Err(Error::permission(
            path.to_owned(),
            "the descriptor is not open for reading and writing".to_owned(),
        ));
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
