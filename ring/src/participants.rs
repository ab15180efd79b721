//! Participant records and liveness.
//!
//! Each producer or consumer handle owns one record of the participant table.
//! It claims the record in two steps:
//!
//! 1. It takes an open-file-description lock (`F_OFD_SETLK`, write lock) on the
//!    record's 128-byte range of the file, through a file description of its own.
//!    The kernel lets one description hold it at a time and drops it when the
//!    description is closed, however the process ends. Failing to get it means a
//!    live handle owns the record: [`ErrorKind::RoleTaken`](crate::ErrorKind::RoleTaken).
//! 2. Holding the lock, it moves the record's owner word (`generation << 32 |
//!    role << 8 | state`) from whatever it was (free, closed, or active but
//!    abandoned by a dead owner) to active with the next generation, by a
//!    compare-and-swap.
//!
//! A peer is *gone* when its record says closed, or says active while nobody holds
//! its lock (the owner died). Pids are only informational: they can be reused.

use std::time::{Duration, Instant};

use crate::error::{Error, Role};
use crate::layout::{
    self, owner_parts, owner_word, role_code, STATE_ACTIVE, STATE_CLOSED, STATE_FREE,
};
use crate::region::Region;
use crate::shm::Shared;
use crate::sync::Ordering;

/// How a handle sees the participant it depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PeerState {
    /// Nobody has ever claimed the record: the peer may still come.
    NotYetJoined,
    /// The peer holds its record and is alive as far as the last check knows.
    Present,
    /// The peer closed its handle or died.
    Gone,
}

/// A claimed participant record, released (marked closed) by [`Membership::leave`].
pub(crate) struct Membership {
    record: u32,
    owner_word: u64,
    /// The file description whose OFD lock proves this handle alive; closing it
    /// (on drop, or by the kernel when the process dies) releases the lock.
    /// `None` once the handle has left.
    #[cfg(not(loom))]
    lock: Option<std::fs::File>,
}

impl Membership {
    /// Claims record `index` for `role`: lock first, then the owner word.
    ///
    /// # Errors
    /// [`ErrorKind::RoleTaken`](crate::ErrorKind::RoleTaken) when a live handle holds the record;
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) when the owner word changes under the lock (a peer that
    /// ignores the protocol); [`ErrorKind::Io`](crate::ErrorKind::Io) when the lock cannot be taken.
    #[cfg(not(loom))]
    pub(crate) fn claim(shared: &Shared, index: u32, role: Role) -> Result<Membership, Error> {
        let region = &shared.region;
        let offset = region.geometry().record_offset(index);
        let lock = locks::reopen(&shared.file)?;
        if !locks::try_lock_record(&lock, offset)? {
            return Err(Error::role_taken(role));
        }
        let owner_word = claim_owner_word(region, index, role)?;
        Ok(Membership {
            record: index,
            owner_word,
            lock: Some(lock),
        })
    }

    /// Claims record `index` without a lock: the loom models have no file.
    #[cfg(loom)]
    pub(crate) fn claim(shared: &Shared, index: u32, role: Role) -> Result<Membership, Error> {
        let region = &shared.region;
        let owner = region.u64_at(region.geometry().record_offset(index) + layout::RECORD_OWNER);
        // Ordering: Relaxed; only refuses a record whose owner is active, as the
        // lock does in production.
        if owner_parts(owner.load(Ordering::Relaxed)).2 == STATE_ACTIVE {
            return Err(Error::role_taken(role));
        }
        let owner_word = claim_owner_word(region, index, role)?;
        Ok(Membership {
            record: index,
            owner_word,
        })
    }

    /// Claims the first record that no live handle holds, for `role` (MPMC).
    ///
    /// # Errors
    /// [`ErrorKind::TooManyParticipants`](crate::ErrorKind::TooManyParticipants) when every record is held; otherwise as
    /// [`Membership::claim`].
    #[cfg(not(loom))]
    pub(crate) fn claim_any(shared: &Shared, role: Role) -> Result<Membership, Error> {
        let region = &shared.region;
        let count = region.geometry().participant_count;
        let lock = locks::reopen(&shared.file)?;
        for index in 0..count {
            if locks::try_lock_record(&lock, region.geometry().record_offset(index))? {
                let owner_word = claim_owner_word(region, index, role)?;
                return Ok(Membership {
                    record: index,
                    owner_word,
                    lock: Some(lock),
                });
            }
        }
        Err(Error::too_many_participants(count))
    }

    /// Claims the first record not active, without locks: the loom models have no file.
    #[cfg(loom)]
    pub(crate) fn claim_any(shared: &Shared, role: Role) -> Result<Membership, Error> {
        let region = &shared.region;
        let count = region.geometry().participant_count;
        for index in 0..count {
            let owner =
                region.u64_at(region.geometry().record_offset(index) + layout::RECORD_OWNER);
            // Ordering: Acquire, as in `claim_owner_word`.
            let previous = owner.load(Ordering::Acquire);
            let (generation, _, state) = owner_parts(previous);
            if state == STATE_ACTIVE {
                continue;
            }
            let claimed = owner_word(generation.wrapping_add(1), role_code(role), STATE_ACTIVE);
            forget_claim(region, region.geometry().record_offset(index));
            // Ordering: AcqRel, as in `claim_owner_word`.
            if owner
                .compare_exchange(previous, claimed, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(Membership {
                    record: index,
                    owner_word: claimed,
                });
            }
        }
        Err(Error::too_many_participants(count))
    }

    /// Index of the claimed record in the participant table.
    pub(crate) fn record(&self) -> u32 {
        self.record
    }

    /// Marks the record closed, then releases its lock. Everything the handle
    /// published before this call is visible to a peer that sees the record
    /// closed; once it returns, a peer's lock test says the handle is gone, so
    /// the caller may wake sleeping peers to notice.
    pub(crate) fn leave(&mut self, region: &Region) {
        let (generation, role, _) = owner_parts(self.owner_word);
        let owner =
            region.u64_at(region.geometry().record_offset(self.record) + layout::RECORD_OWNER);
        // Ordering: Release, pairs with the Acquire load of the owner word in
        // `PeerWatch::check`, so a peer that sees `closed` also sees our last
        // position store. A failed exchange means a peer broke the protocol and
        // rewrote our record; there is nothing of ours left to mark.
        let _ = owner.compare_exchange(
            self.owner_word,
            owner_word(generation, role, STATE_CLOSED),
            Ordering::Release,
            Ordering::Relaxed,
        );
        #[cfg(not(loom))]
        drop(self.lock.take());
    }
}

fn claim_owner_word(region: &Region, index: u32, role: Role) -> Result<u64, Error> {
    let record = region.geometry().record_offset(index);
    let owner = region.u64_at(record + layout::RECORD_OWNER);
    // Ordering: Acquire, pairs with the Release in `Membership::leave` (or the
    // claim's own Release) of the previous owner, so its position stores are
    // visible to us before we take over.
    let previous = owner.load(Ordering::Acquire);
    let (generation, previous_role, previous_state) = owner_parts(previous);
    if previous_state == STATE_ACTIVE {
        // We hold the lock of a record still marked active: its owner died,
        // perhaps asleep. Undo what it held on its wait line.
        crate::wait::forget_dead_owner(region, record, previous_role);
    }
    let claimed = owner_word(generation.wrapping_add(1), role_code(role), STATE_ACTIVE);
    // Ordering: Relaxed; published by the Release of the exchange below.
    region
        .u32_at(record + layout::RECORD_PID)
        .store(std::process::id(), Ordering::Relaxed);
    region
        .u64_at(record + layout::RECORD_JOINED_NS)
        .store(crate::shm::unix_time_ns(), Ordering::Relaxed);
    // A new owner has acknowledged no wait-line epoch yet; a sleeper that sees
    // the claim must not take the previous owner's acknowledgement for ours.
    region
        .u64_at(record + layout::RECORD_WAKE_ACK)
        .store(0, Ordering::Relaxed);
    forget_claim(region, record);
    // Ordering: AcqRel. Release publishes pid and join time to readers that
    // Acquire the owner word (`info`); Acquire as for the load above.
    owner
        .compare_exchange(previous, claimed, Ordering::AcqRel, Ordering::Acquire)
        .map_err(|found| Error::corrupt(format!(
                "participant record {index} changed from {previous:#x} to {found:#x} while its lock was held"
            )))?;
    Ok(claimed)
}

/// How often a handle that keeps finding the ring full or empty looks at its
/// peer's lock: every this many polls it reads the clock, and it tests the lock
/// when at least [`LOCK_CHECK_INTERVAL`] has passed since the last test.
const POLLS_PER_CLOCK_READ: u32 = 16;
/// Least time between two lock tests of a peer that looks present.
pub(crate) const LOCK_CHECK_INTERVAL: Duration = Duration::from_millis(1);

/// Watches the record of the participant a handle depends on.
///
/// Checking the owner word is one atomic load; testing the lock is a system call,
/// so it is rate-limited. A dead peer is noticed within 16 polls and 1 ms of the
/// death, whichever comes later.
#[derive(Debug)]
pub(crate) struct PeerWatch {
    record: u32,
    polls: u32,
    last_lock_test: Option<Instant>,
    /// The owner word the last lock test was made under: a new owner is tested at once.
    tested_word: u64,
    lock_held: bool,
}

impl PeerWatch {
    pub(crate) fn new(record: u32) -> PeerWatch {
        PeerWatch {
            record,
            polls: 0,
            last_lock_test: None,
            tested_word: 0,
            lock_held: true,
        }
    }

    /// The peer's state as of now (the lock part possibly a little stale).
    pub(crate) fn check(&mut self, shared: &Shared) -> PeerState {
        let region = &shared.region;
        let record = region.geometry().record_offset(self.record);
        // Ordering: Acquire, pairs with the Release in `Membership::leave` and in
        // `claim_owner_word`: after `closed`, the peer's last positions are visible.
        let word = region
            .u64_at(record + layout::RECORD_OWNER)
            .load(Ordering::Acquire);
        if owner_parts(word).2 == STATE_FREE {
            return PeerState::NotYetJoined;
        }
        // Active or closed, the lock decides: active without it is a dead owner,
        // and closed with it is a newcomer between its lock and its claim (or the
        // leaver's last instant), so never a false `Disconnected`.
        if self.lock_test_due(word) {
            self.lock_held = lock_held(shared, record, word);
            if self.lock_held && owner_parts(word).2 == STATE_CLOSED {
                // Closed yet locked is an instant, not a state: a leaver
                // between its closing store and its unlock (or a newcomer
                // between its lock and its claim). The owner word will not
                // change again when the lock goes, so look at the lock afresh
                // next time instead of trusting this answer for the usual
                // interval: the leaver's wake-up must find it gone.
                self.last_lock_test = None;
            }
        }
        if self.lock_held {
            PeerState::Present
        } else {
            PeerState::Gone
        }
    }

    fn lock_test_due(&mut self, word: u64) -> bool {
        self.polls = self.polls.wrapping_add(1);
        let due = match self.last_lock_test {
            None => true,
            Some(_) if word != self.tested_word => true,
            Some(_) if self.polls % POLLS_PER_CLOCK_READ != 0 => false,
            Some(last) => last.elapsed() >= LOCK_CHECK_INTERVAL,
        };
        if due {
            self.last_lock_test = Some(Instant::now());
            self.tested_word = word;
        }
        due
    }
}

/// Empties the MPMC claim range of the record at `record` before it is claimed:
/// a dead previous owner's range must not outlive it, since the new owner is
/// alive and would seem to hold it (`recovery`). Relaxed: published by the
/// Release of the claim's exchange of the owner word.
fn forget_claim(region: &Region, record: usize) {
    region
        .u64_at(record + layout::RECORD_CLAIM_END)
        .store(0, Ordering::Relaxed);
}

/// Whether the record at `record_offset`, whose owner word was `word`, is
/// locked: for an active word, whether its owner is alive.
#[cfg(not(loom))]
pub(crate) fn lock_held(shared: &Shared, record_offset: usize, _word: u64) -> bool {
    // An error is taken as "held": calling a live peer dead is the worse mistake.
    locks::record_locked(&shared.file, record_offset).unwrap_or(true)
}

/// The loom models have no locks: an owner holds its record while it is
/// active, until the model marks it dead.
#[cfg(loom)]
pub(crate) fn lock_held(shared: &Shared, record_offset: usize, word: u64) -> bool {
    let index = (record_offset - layout::PARTICIPANTS_OFFSET) / layout::PARTICIPANT_RECORD_SIZE;
    owner_parts(word).2 == STATE_ACTIVE && !shared.record_dead(index as u32)
}

/// Whether some record is locked while its owner word is not active: a handle
/// between taking the lock and claiming the word (or between marking it closed
/// and unlocking). One `F_OFD_GETLK` per locked record, over the whole table.
#[cfg(not(loom))]
fn any_record_in_transition(shared: &Shared) -> bool {
    let geometry = shared.region.geometry();
    let first = geometry.record_offset(0);
    let end = geometry.record_offset(geometry.participant_count);
    let mut from = first;
    while from < end {
        let Ok(Some(locked)) = locks::first_locked(&shared.file, from, end - from) else {
            return false;
        };
        let index = (locked.saturating_sub(first) / layout::PARTICIPANT_RECORD_SIZE) as u32;
        if index >= geometry.participant_count {
            return false;
        }
        let record = geometry.record_offset(index);
        // Ordering: Acquire, as in `PeerWatch::check`.
        let word = shared
            .region
            .u64_at(record + layout::RECORD_OWNER)
            .load(Ordering::Acquire);
        if owner_parts(word).2 != STATE_ACTIVE {
            return true;
        }
        from = record + layout::PARTICIPANT_RECORD_SIZE;
    }
    false
}

#[cfg(loom)]
fn any_record_in_transition(_shared: &Shared) -> bool {
    false
}

/// The OFD lock calls.
#[cfg(not(loom))]
pub(crate) mod locks {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use crate::error::Error;
    use crate::layout::PARTICIPANT_RECORD_SIZE;

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
    pub(crate) fn try_lock_record(file: &File, offset: usize) -> Result<bool, Error> {
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
    pub(crate) fn first_locked(
        file: &File,
        offset: usize,
        len: usize,
    ) -> Result<Option<usize>, Error> {
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

    /// Whether any description holds a lock on a record's range.
    pub(crate) fn record_locked(file: &File, offset: usize) -> Result<bool, Error> {
        let mut lock = record_lock(libc::F_WRLCK, offset);
        // SAFETY: a valid descriptor and a valid `flock` the kernel fills in.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) };
        if rc != 0 {
            return Err(Error::last_os("testing a participant record's lock"));
        }
        Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
    }
}

/// Watches every record for live participants of one role (MPMC), and the
/// ring's count of that role's joins (so "never joined" is not "all gone").
///
/// A scan reads every owner word and tests the lock of each active record of the
/// role, so it is rate-limited like [`PeerWatch`]: the first check scans, then a
/// scan happens at most once per [`LOCK_CHECK_INTERVAL`], looked at every 16 polls,
/// or at once when the join count moved (a newcomer is seen at once, as a new
/// owner is by [`PeerWatch`]).
pub(crate) struct RoleWatch {
    role: u64,
    joins_offset: usize,
    polls: u32,
    last_scan: Option<Instant>,
    /// The join count the last scan was made under.
    joins_at_scan: u64,
    present: bool,
}

impl RoleWatch {
    /// Watches the participants playing `role`.
    pub(crate) fn new(role: Role) -> RoleWatch {
        RoleWatch {
            role: role_code(role),
            joins_offset: match role {
                Role::Producer => layout::PRODUCER_JOINS_OFFSET,
                Role::Consumer => layout::CONSUMER_JOINS_OFFSET,
            },
            polls: 0,
            last_scan: None,
            joins_at_scan: 0,
            present: true,
        }
    }

    /// Whether any participant of the role is present (as of the last scan).
    pub(crate) fn check(&mut self, shared: &Shared) -> PeerState {
        let region = &shared.region;
        // Ordering: Acquire, pairs with the AcqRel increment in `count_join`.
        let joins = region.u64_at(self.joins_offset).load(Ordering::Acquire);
        if joins == 0 {
            return PeerState::NotYetJoined;
        }
        self.polls = self.polls.wrapping_add(1);
        let due = match self.last_scan {
            None => true,
            Some(_) if joins != self.joins_at_scan => true,
            Some(_) if self.polls % POLLS_PER_CLOCK_READ != 0 => false,
            Some(last) => last.elapsed() >= LOCK_CHECK_INTERVAL,
        };
        if due {
            self.last_scan = Some(Instant::now());
            self.joins_at_scan = joins;
            self.present = self.scan(shared);
        }
        if self.present {
            PeerState::Present
        } else {
            PeerState::Gone
        }
    }

    fn scan(&self, shared: &Shared) -> bool {
        let geometry = shared.region.geometry();
        let live_peer = (0..geometry.participant_count).any(|index| {
            let record = geometry.record_offset(index);
            // Ordering: Acquire, as in `PeerWatch::check`.
            let word = shared
                .region
                .u64_at(record + layout::RECORD_OWNER)
                .load(Ordering::Acquire);
            let (_, role, state) = owner_parts(word);
            role == self.role && state == STATE_ACTIVE && lock_held(shared, record, word)
        });
        // No peer is active; one may be joining right now, locked but not yet
        // claimed. Counting it as present avoids a false `Disconnected`.
        live_peer || any_record_in_transition(shared)
    }
}

/// Counts a join of `role` in the ring, after the record was claimed.
pub(crate) fn count_join(shared: &Shared, role: Role) {
    let offset = match role {
        Role::Producer => layout::PRODUCER_JOINS_OFFSET,
        Role::Consumer => layout::CONSUMER_JOINS_OFFSET,
    };
    // Ordering: AcqRel, pairs with the Acquire load in `RoleWatch::check`: a
    // watcher that sees the count also sees the claimed record.
    shared.region.u64_at(offset).fetch_add(1, Ordering::AcqRel);
}
