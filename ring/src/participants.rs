//! Participant records and liveness.
//!
//! Each handle owns one record of the participant table: it takes the record's
//! lock (`platform`: an OFD lock on the record's byte range), then moves the
//! owner word to active with the next generation. A peer is gone when its record
//! says closed and its lock is free, or says active while nobody holds its lock
//! (the owner died). Pids are only informational. The steps and orderings are
//! normative in `docs/layout.md#participants`.

use std::time::{Duration, Instant};

use crate::error::{Error, Role};
use crate::layout::{
    self, owner_parts, owner_word, role_code, STATE_ACTIVE, STATE_CLOSED, STATE_FREE,
};
use crate::platform::{Host, Platform};
use crate::region::Region;
use crate::shm::Shared;
use crate::sync::{Arc, Ordering};

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
    /// The record's lock, whose holding proves this handle alive; dropping it
    /// (on leave, or when the process dies) releases it. `None` once the
    /// handle has left, or died in a loom model.
    lock: Option<<Host as Platform>::RecordLock>,
}

impl Membership {
    /// Claims record `index` for `role`: lock first, then the owner word.
    ///
    /// # Errors
    /// [`ErrorKind::RoleTaken`](crate::ErrorKind::RoleTaken) when a live handle holds the record;
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) when the owner word changes under the lock (a peer that
    /// ignores the protocol); [`ErrorKind::Io`](crate::ErrorKind::Io) when the lock cannot be taken.
    pub(crate) fn claim(shared: &Arc<Shared>, index: u32, role: Role) -> Result<Membership, Error> {
        match Host::lock_first_free(shared, index..index + 1)? {
            Some((index, lock)) => Membership::take(shared, index, lock, role, |_, _| {}),
            None => Err(Error::role_taken(role)),
        }
    }

    /// Claims the first record that no live handle holds, for `role` (MPMC).
    ///
    /// # Errors
    /// [`ErrorKind::TooManyParticipants`](crate::ErrorKind::TooManyParticipants) when every record is held; otherwise as
    /// [`Membership::claim`].
    pub(crate) fn claim_any(shared: &Arc<Shared>, role: Role) -> Result<Membership, Error> {
        let count = shared.region.geometry().participant_count;
        match Host::lock_first_free(shared, 0..count)? {
            Some((index, lock)) => Membership::take(shared, index, lock, role, |_, _| {}),
            None => Err(Error::too_many_participants(count)),
        }
    }

    /// Claims the first record of `indices` that no live handle holds, for
    /// `role`, with `prepare` storing the kind's own fields into the record
    /// (given the region and the record's offset) before the claim's owner
    /// exchange publishes them (record claim 4; broadcast subscribers).
    ///
    /// # Errors
    /// As [`Membership::claim_any`].
    pub(crate) fn claim_among(
        shared: &Arc<Shared>,
        indices: std::ops::Range<u32>,
        role: Role,
        prepare: impl FnOnce(&Region, usize),
    ) -> Result<Membership, Error> {
        let count = shared.region.geometry().participant_count;
        match Host::lock_first_free(shared, indices)? {
            Some((index, lock)) => Membership::take(shared, index, lock, role, prepare),
            None => Err(Error::too_many_participants(count)),
        }
    }

    /// Claims the owner word of record `index`, whose lock we hold.
    fn take(
        shared: &Shared,
        index: u32,
        lock: <Host as Platform>::RecordLock,
        role: Role,
        prepare: impl FnOnce(&Region, usize),
    ) -> Result<Membership, Error> {
        let owner_word = claim_owner_word(&shared.region, index, role, prepare)?;
        Ok(Membership {
            record: index,
            owner_word,
            lock: Some(lock),
        })
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
        drop(self.lock.take());
    }

    /// Whether the handle still holds its record (it has neither left nor died).
    pub(crate) fn holds_record(&self) -> bool {
        self.lock.is_some()
    }

    /// The loom models' death: the lock goes as the kernel would release it,
    /// and the record stays as the handle left it.
    #[cfg(loom)]
    pub(crate) fn die(&mut self) {
        drop(self.lock.take());
    }
}

fn claim_owner_word(
    region: &Region,
    index: u32,
    role: Role,
    prepare: impl FnOnce(&Region, usize),
) -> Result<u64, Error> {
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
    prepare(region, record);
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
            self.lock_held = lock_held(shared, record);
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

/// Whether the record at `record_offset` is locked: for an active owner
/// word, whether its owner is alive.
pub(crate) fn lock_held(shared: &Shared, record_offset: usize) -> bool {
    let index = (record_offset - layout::PARTICIPANTS_OFFSET) / layout::PARTICIPANT_RECORD_SIZE;
    Host::record_locked(shared, index as u32)
}

/// Whether some record is locked while its owner word is not active: a handle
/// between taking the lock and claiming the word (or between marking it closed
/// and unlocking). One lock test per locked record, over the whole table.
fn any_record_in_transition(shared: &Shared) -> bool {
    let geometry = shared.region.geometry();
    let mut from = 0;
    while let Some(index) = Host::first_locked_record(shared, from) {
        // Ordering: Acquire, as in `PeerWatch::check`.
        let word = shared
            .region
            .u64_at(geometry.record_offset(index) + layout::RECORD_OWNER)
            .load(Ordering::Acquire);
        if owner_parts(word).2 != STATE_ACTIVE {
            return true;
        }
        from = index + 1;
    }
    false
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
            role == self.role && state == STATE_ACTIVE && lock_held(shared, record)
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
