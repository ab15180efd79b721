//! Sealed memfds and descriptors, below the ring: making a memfd, sealing it,
//! reading its seals, and checking a descriptor handed to us. `shm` builds
//! `Location::Sealed` and `Location::Fd` rings from these.
//!
//! Anyone who may write a ring file can truncate it, and every process that then
//! touches a page past the new end gets SIGBUS (`docs/guarantees.md`, "A
//! truncated backing file"). A memfd (`memfd_create(2)`) sealed with
//! `F_SEAL_SHRINK` cannot shrink, whoever holds it: `ftruncate` to a smaller size
//! fails with `EPERM`, and no seal can ever be taken off.
//!
//! A memfd has no name. Other processes get its descriptor, inherited across
//! `fork` and `exec` or sent over a Unix socket as `SCM_RIGHTS`. Each handle's
//! liveness lock needs an open file description of its own; it gets one as on a
//! file ring, by opening `/proc/self/fd/<N>` ([`descriptor_path`]), which for a
//! memfd is a new description of the same inode.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The name a ring's memfd shows in `/proc/<pid>/fd` (as `/memfd:shmlane-ring`).
const MEMFD_NAME: &CStr = c"shmlane-ring";

/// The seals of a sealed ring: it can neither shrink (which would make its
/// pages vanish under the mappings) nor grow, and nobody can add seals, such as
/// a write seal that would stop later openers from mapping it read-write.
const RING_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

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
pub(crate) fn seals(file: &File) -> std::io::Result<libc::c_int> {
    // SAFETY: a valid descriptor; F_GET_SEALS takes no argument and touches no
    // memory of ours.
    let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(seals)
}

/// A new memfd, close-on-exec, that allows sealing.
pub(crate) fn new_memfd(mode: u32) -> Result<File, Error> {
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

pub(crate) fn add_seals(file: &File) -> Result<(), Error> {
    // SAFETY: a valid descriptor; F_ADD_SEALS takes an int and touches no
    // memory of ours.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, RING_SEALS) } != 0 {
        return Err(Error::last_os("sealing the ring's memfd"));
    }
    Ok(())
}

/// `/proc/self/fd/<N>`: the only name a descriptor's file is sure to have.
pub(crate) fn descriptor_path(file: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Every handle maps the ring read-write, so the descriptor must allow both.
pub(crate) fn require_read_write(file: &File, path: &Path) -> Result<(), Error> {
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

pub(crate) fn set_close_on_exec(file: &File) -> Result<(), Error> {
    // SAFETY: a valid descriptor; F_SETFD takes an int and touches no memory of ours.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(Error::last_os(
            "setting close-on-exec on the ring's descriptor",
        ));
    }
    Ok(())
}

/// Whether the file carries `F_SEAL_SHRINK`, so that nobody can truncate it.
pub(crate) fn has_shrink_seal(file: &File) -> bool {
    seals(file).is_ok_and(|seals| seals & libc::F_SEAL_SHRINK != 0)
}
