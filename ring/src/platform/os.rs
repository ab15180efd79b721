//! The real platform: OFD locks on the ring file's participant records, the
//! futex on words of the shared mapping, the monotonic clock.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::Platform;
use crate::error::Error;
use crate::layout::{PARTICIPANTS_OFFSET, PARTICIPANT_RECORD_SIZE};
use crate::shm::Shared;
use crate::sync::{Arc, AtomicU32};

/// Linux beneath the ring.
pub(crate) enum Os {}

impl Platform for Os {
    /// An open file description of the ring file of its own, holding the
    /// write lock on the record's byte range; the kernel releases it when the
    /// description closes, on drop or at the process's death.
    type RecordLock = File;
    type Instant = Instant;
    const SIGHTINGS_PER_CLOCK_READ: u32 = 16;

    fn lock_first_free(
        shared: &Arc<Shared>,
        indices: std::ops::Range<u32>,
    ) -> Result<Option<(u32, File)>, Error> {
        let geometry = shared.region.geometry();
        let lock = reopen(&shared.file)?;
        for index in indices {
            if try_lock_record(&lock, geometry.record_offset(index))? {
                return Ok(Some((index, lock)));
            }
        }
        Ok(None)
    }

    fn record_locked(shared: &Shared, index: u32) -> bool {
        let offset = shared.region.geometry().record_offset(index);
        record_locked_in(&shared.file, offset).unwrap_or(true)
    }

    fn first_locked_record(shared: &Shared, from: u32) -> Option<u32> {
        let geometry = shared.region.geometry();
        let start = geometry.record_offset(from);
        let end = geometry.record_offset(geometry.participant_count);
        let locked = first_locked(&shared.file, start, end.checked_sub(start)?).ok()??;
        let index = locked.saturating_sub(PARTICIPANTS_OFFSET) / PARTICIPANT_RECORD_SIZE;
        u32::try_from(index)
            .ok()
            .filter(|&index| index < geometry.participant_count)
    }

    fn futex_wait(
        _shared: &Shared,
        word: &AtomicU32,
        expected: u32,
        timeout: Duration,
        _until_woken: bool,
    ) -> bool {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `word` is a live, aligned 4-byte atomic in a shared mapping and
        // `timeout` outlives the call. The kernel only reads the word. Every
        // outcome (woken, EAGAIN, ETIMEDOUT, EINTR) sends the caller back to
        // re-check the ring; only the timeout matters to it. Never
        // FUTEX_PRIVATE_FLAG: sleepers and wakers are in different processes.
        let result = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word as *const AtomicU32,
                libc::FUTEX_WAIT,
                expected,
                &timeout as *const libc::timespec,
                std::ptr::null::<u32>(),
                0u32,
            )
        };
        // EFAULT: the word's page went with a truncated file just before the call.
        result == -1
            && matches!(
                io::Error::last_os_error().raw_os_error(),
                Some(libc::ETIMEDOUT | libc::EFAULT)
            )
    }

    fn futex_wake_all(_shared: &Shared, word: &AtomicU32) {
        // SAFETY: `word` is a live, aligned 4-byte atomic in a shared mapping;
        // FUTEX_WAKE does not touch memory.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word as *const AtomicU32,
                libc::FUTEX_WAKE,
                i32::MAX,
                std::ptr::null::<libc::timespec>(),
                std::ptr::null::<u32>(),
                0u32,
            );
        }
    }

    fn recovery_enabled(_shared: &Shared) -> bool {
        true
    }

    fn now() -> Instant {
        Instant::now()
    }

    fn passed(since: Instant, now: Instant, grace: Duration) -> bool {
        now.duration_since(since) >= grace
    }
}

/// A new open file description of the same file, so that its locks are its own.
pub(crate) fn reopen(file: &File) -> Result<File, Error> {
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    File::options()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => Error::permission(
                path,
                format!("the ring file cannot be opened read-write: {e}"),
            ),
            _ => Error::io(
                "opening a second description of the ring file (needs /proc)",
                e,
            ),
        })
}

fn record_lock(kind: libc::c_int, offset: usize) -> libc::flock {
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are valid.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = offset as libc::off_t;
    lock.l_len = PARTICIPANT_RECORD_SIZE as libc::off_t;
    lock.l_pid = 0; // required by OFD locks
    lock
}

/// Takes the write lock on a record's range; `false` if another description holds it.
fn try_lock_record(file: &File, offset: usize) -> Result<bool, Error> {
    let lock = record_lock(libc::F_WRLCK, offset);
    // SAFETY: a valid descriptor and a valid `flock` that outlives the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
        _ => Err(Error::io("locking a participant record", err)),
    }
}

/// The offset of the first byte locked by any description in
/// `[offset, offset + len)`, if any.
fn first_locked(file: &File, offset: usize, len: usize) -> Result<Option<usize>, Error> {
    let mut lock = record_lock(libc::F_WRLCK, offset);
    lock.l_len = len as libc::off_t;
    // SAFETY: a valid descriptor and a valid `flock` the kernel fills in.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
    if rc != 0 {
        return Err(Error::last_os("testing the participant table's locks"));
    }
    if lock.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    Ok(Some((lock.l_start.max(offset as libc::off_t)) as usize))
}

/// Whether any description holds a lock on the record at `offset` of `file`
/// (also for `info`, which reads a ring without a [`Shared`]).
pub(crate) fn record_locked_in(file: &File, offset: usize) -> Result<bool, Error> {
    let mut lock = record_lock(libc::F_WRLCK, offset);
    // SAFETY: a valid descriptor and a valid `flock` the kernel fills in.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
    if rc != 0 {
        return Err(Error::last_os("testing a participant record's lock"));
    }
    Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
}

/// One word of a [`futex_waitv`] call: the kernel's `struct futex_waitv`.
#[cfg(feature = "tokio")]
#[repr(C)]
pub(crate) struct FutexWaitv {
    /// The value the word must hold for the call to sleep.
    pub(crate) expected: u64,
    /// The word's address.
    pub(crate) address: u64,
    /// `FUTEX2_SIZE_U32`, with `FUTEX2_PRIVATE` for a word of this process only.
    pub(crate) flags: u32,
    reserved: u32,
}

#[cfg(feature = "tokio")]
impl FutexWaitv {
    /// Most words one call waits on (the kernel's `FUTEX_WAITV_MAX`).
    pub(crate) const MAX: usize = 128;
    const SIZE_U32: u32 = 0x02;
    const PRIVATE: u32 = 128;

    /// Sleep while `word` holds `expected`; `private` for a word of this
    /// process, never one in a shared mapping.
    pub(crate) fn new(word: &AtomicU32, expected: u32, private: bool) -> FutexWaitv {
        FutexWaitv {
            expected: u64::from(expected),
            address: word as *const AtomicU32 as u64,
            flags: Self::SIZE_U32 | if private { Self::PRIVATE } else { 0 },
            reserved: 0,
        }
    }
}

/// Sleeps while every word of `words` holds its expected value, until one is
/// woken or `timeout` (from now; `None`: no limit) runs out. Every outcome
/// (woken, a value that differs, timed out, a signal) sends the caller back
/// to look at the words, so it returns nothing; an error other than those
/// (the call is missing before Linux 5.16) is returned.
#[cfg(feature = "tokio")]
pub(crate) fn futex_waitv(words: &[FutexWaitv], timeout: Option<Duration>) -> io::Result<()> {
    let deadline = match timeout {
        None => None,
        Some(timeout) => {
            // SAFETY: `timespec` is a plain C struct for which zero bytes are valid.
            let mut now: libc::timespec = unsafe { std::mem::zeroed() };
            // SAFETY: a valid clock id and a valid `timespec` to fill in.
            if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let nanos = now.tv_nsec as u64 + u64::from(timeout.subsec_nanos());
            let seconds = (now.tv_sec as u64)
                .saturating_add(timeout.as_secs())
                .saturating_add(nanos / 1_000_000_000)
                .min(i64::MAX as u64);
            Some(libc::timespec {
                tv_sec: seconds as libc::time_t,
                tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
            })
        }
    };
    let deadline_ptr = deadline.as_ref().map_or(std::ptr::null(), |deadline| {
        deadline as *const libc::timespec
    });
    // SAFETY: `words` is a valid array of `struct futex_waitv` of at most
    // FUTEX_WAITV_MAX entries, each naming an aligned 4-byte atomic that the
    // caller keeps mapped for the call (the kernel only reads them);
    // `deadline_ptr` is null or an absolute CLOCK_MONOTONIC time that
    // outlives the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            words.as_ptr(),
            words.len() as libc::c_uint,
            0u32,
            deadline_ptr,
            libc::CLOCK_MONOTONIC,
        )
    };
    if result >= 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR) => Ok(()),
        _ => Err(error),
    }
}

/// Wakes every thread of this process asleep on the private word `word`.
#[cfg(feature = "tokio")]
pub(crate) fn futex_wake_private(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned 4-byte atomic; FUTEX_WAKE does not
    // touch memory. Private: only this process's driver sleeps on it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word as *const AtomicU32,
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}
