//! MPMC crash recovery: what happens to a slot whose owner died holding it.
//!
//! In the MPMC ring a producer owns a position from its claim (the exchange of
//! `tail`) until it stores the slot's stamp, and a consumer from its claim of
//! `head` until it releases the slot. An owner that dies in between would stall
//! the ring at that slot forever: consumers at `head == p` find it never
//! committed, producers one lap later find it never released.
//!
//! **Claim intents.** Before each exchange of `tail` or `head`, a handle writes
//! the range of positions it is about to claim, `claim_start .. claim_end`, into
//! its own participant record (Release) — the range it found free (or
//! committed), which the exchange then claims whole — and empties it when it
//! gives up without a claim. The exchange is a
//! Release operation on the position word, and every later exchange of that word
//! continues its release sequence. So whoever loads the word (Acquire) and sees it
//! past `p` also sees the intent of `p`'s owner, or a later one, which that owner
//! writes only after it is done with `p`.
//!
//! **Cleaning.** A handle that keeps finding the ring stalled at `p` (a
//! consumer: `stamp(p) == p` while `tail > p`, claimed but never committed; a
//! producer one lap later: `p` committed while `head > p`, claimed but never
//! released) scans the participant records of the other role. If some record
//! whose intent covers `p` belongs to a live owner (its state is active and its
//! OFD lock is held), `p` may be that owner's, and nothing is done. Otherwise
//! `p`'s owner is dead — its intent still covers `p` or was wiped when a newcomer
//! took its record over — and the cleaner moves the stamp on with a
//! compare-and-swap from exactly the stalled value: a dead producer's claim
//! becomes a slot to be skipped (`(p + 1) | SKIP`, counted in `dropped_claims`),
//! a dead consumer's slot is released (`p + capacity`, counted in
//! `lost_messages` unless it was a skip). Two cleaners race on that exchange and
//! only one wins; an owner that is alive is never in question, however long it
//! is stopped. `docs/guarantees.md` states what this promises, and
//! `loom-tests/tests/recovery.rs` models it.
//!
//! **Cost.** An owner pays two stores to its own record line per claim. Cleaning runs only on
//! the full/empty path, after the same position has stalled for
//! [`STALL_GRACE`], at most once per [`LOCK_CHECK_INTERVAL`].

#[cfg(not(loom))]
use std::time::Instant;

use crate::layout::{self, owner_parts, STAMP_SKIP, STATE_ACTIVE, STATE_CLOSED, STATE_FREE};
use crate::participants::owner_is_alive;
#[cfg(not(loom))]
use crate::participants::LOCK_CHECK_INTERVAL;
use crate::shm::Shared;
use crate::sync::{AtomicU64, Ordering};

/// How long a position must stay stalled before a handle looks for its owner's
/// death; shorter stalls are owners at work.
#[cfg(not(loom))]
pub(crate) const STALL_GRACE: std::time::Duration = LOCK_CHECK_INTERVAL;
/// How many sightings of one stalled position between two looks at the clock.
#[cfg(not(loom))]
const SIGHTINGS_PER_CLOCK_READ: u32 = 16;
/// How many dead owners a cleaner remembers, so that the slots of a dead batch
/// cost no lock test each.
const DEAD_OWNERS_REMEMBERED: usize = 4;

/// The owner's side: the intent range in its own participant record.
pub(crate) struct ClaimIntent {
    start: *const AtomicU64,
    end: *const AtomicU64,
    /// An intent was announced and not yet settled by a claim or cleared.
    unsettled: bool,
}

impl ClaimIntent {
    /// The intent fields of record `record`, emptied: a record taken over from
    /// a dead owner must not keep announcing the dead owner's claim.
    pub(crate) fn new(shared: &Shared, record: u32) -> ClaimIntent {
        let region = &shared.region;
        let offset = region.geometry().record_offset(record);
        let intent = ClaimIntent {
            start: region.u64_at(offset + layout::RECORD_CLAIM_START),
            end: region.u64_at(offset + layout::RECORD_CLAIM_END),
            unsettled: true,
        };
        intent.clear_now();
        intent
    }

    fn start(&self) -> &AtomicU64 {
        // SAFETY: points into the region, which the handle's `Arc<Shared>` keeps
        // mapped for as long as the handle (and so this intent) lives.
        unsafe { &*self.start }
    }

    fn end(&self) -> &AtomicU64 {
        // SAFETY: as in `start`.
        unsafe { &*self.end }
    }

    /// Announces a claim of `start .. end`, just before the exchange that makes it.
    #[inline(always)]
    pub(crate) fn announce(&mut self, start: u64, end: u64) {
        // Ordering: Release, pairs with the Acquire loads in `Cleaner::owner_alive`:
        // a cleaner that sees the new range also sees everything this handle did
        // with its previous claim (its stamp stores), so it never takes a slot we
        // finished for one still stalled. The exchange after these stores
        // publishes them to anyone who sees the position moved (module header).
        self.start().store(start, Ordering::Release);
        self.end().store(end, Ordering::Release);
        self.unsettled = true;
    }

    /// After the exchange that claimed the announced range: the intent says
    /// exactly what is held until the next announcement.
    #[inline(always)]
    pub(crate) fn settled(&mut self) {
        self.unsettled = false;
    }

    /// After giving up without a claim: announce nothing, so that a position
    /// another handle won is not taken for ours.
    #[inline]
    pub(crate) fn clear(&mut self) {
        if self.unsettled {
            self.clear_now();
            self.unsettled = false;
        }
    }

    fn clear_now(&self) {
        // Ordering: Release, as in `announce`. An end of 0 is no range.
        self.end().store(0, Ordering::Release);
    }
}

// SAFETY: the pointers refer to atomics in a shared mapping kept alive by the
// handle that owns this intent; atomics may be used from any thread.
unsafe impl Send for ClaimIntent {}

/// What a stalled position is waiting for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stall {
    /// A producer claimed it and has not committed it.
    Uncommitted,
    /// A consumer claimed the message and has not released its slot.
    Unreleased,
}

/// The cleaner's side: kept by every MPMC handle, used on the full/empty path.
pub(crate) struct Cleaner {
    /// The role of the owners this handle cleans up after.
    owner_role: u64,
    watch: StallWatch,
    /// Records found dead, with the owner word they were found dead under.
    dead: [(u32, u64); DEAD_OWNERS_REMEMBERED],
    dead_next: usize,
}

impl Cleaner {
    /// A consumer cleans up after producers (`Stall::Uncommitted`), a producer
    /// after consumers (`Stall::Unreleased`).
    pub(crate) fn new(stall: Stall) -> Cleaner {
        Cleaner {
            owner_role: match stall {
                Stall::Uncommitted => layout::ROLE_PRODUCER,
                Stall::Unreleased => layout::ROLE_CONSUMER,
            },
            watch: StallWatch::new(),
            dead: [(u32::MAX, 0); DEAD_OWNERS_REMEMBERED],
            dead_next: 0,
        }
    }

    /// Makes the next sighting of a stall look for a dead owner at once, whatever
    /// the grace period (after a sleep, or once every peer is gone).
    pub(crate) fn look_now(&mut self) {
        self.watch.force = true;
    }

    /// Called when position `position` is found stalled with `stamp` in its slot
    /// (the caller checked the stamp's shape: `position` itself for
    /// `Uncommitted`, committed for `Unreleased`). Returns whether the slot was
    /// moved on, by us or by another cleaner: the caller should look again.
    ///
    /// `claimed_past` loads the position word of the stalled role (`tail` for
    /// `Uncommitted`, `head` for `Unreleased`), Acquire.
    #[inline]
    pub(crate) fn on_stall(
        &mut self,
        shared: &Shared,
        slot_stamp: &AtomicU64,
        position: u64,
        stamp: u64,
        claimed_past: &AtomicU64,
        capacity: u64,
    ) -> bool {
        if !self.watch.due(shared, position) {
            return false;
        }
        self.clean(shared, slot_stamp, position, stamp, claimed_past, capacity)
    }

    #[cold]
    fn clean(
        &mut self,
        shared: &Shared,
        slot_stamp: &AtomicU64,
        position: u64,
        stamp: u64,
        claimed_past: &AtomicU64,
        capacity: u64,
    ) -> bool {
        // Ordering: Acquire, pairs with the AcqRel exchange that claimed
        // `position` (and the exchanges after it, its release sequence): if the
        // word is past `position`, the claimer's intent is visible below.
        let claimed = claimed_past.load(Ordering::Acquire);
        if (claimed.wrapping_sub(position) as i64) <= 0 {
            // Nobody claimed it: an ordinary empty (or full) ring.
            self.watch.nothing_to_clean();
            return false;
        }
        if self.owner_alive(shared, position) {
            self.watch.nothing_to_clean();
            return false;
        }
        let (moved_on, lost) = if self.owner_role == layout::ROLE_PRODUCER {
            (position.wrapping_add(1) | STAMP_SKIP, false)
        } else {
            (position.wrapping_add(capacity), stamp & STAMP_SKIP == 0)
        };
        // Ordering: AcqRel. Release: consumers (Acquire on the stamp) see the
        // skip mark; producers see the released slot, and since its owner is
        // dead nobody reads it any more. Acquire: a cleaner that loses sees the
        // winner's stamp. The exchange from exactly the stalled value fails if
        // the owner finished after all, or another cleaner won.
        let won = slot_stamp
            .compare_exchange(stamp, moved_on, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            let counter = if self.owner_role == layout::ROLE_PRODUCER {
                Some(layout::DROPPED_CLAIMS_OFFSET)
            } else if lost {
                Some(layout::LOST_MESSAGES_OFFSET)
            } else {
                None
            };
            if let Some(offset) = counter {
                // Ordering: Relaxed; a statistic.
                shared.region.u64_at(offset).fetch_add(1, Ordering::Relaxed);
            }
        }
        // Whoever moved it, the slot after may belong to the same dead owner:
        // look at the next stall at once.
        self.watch.cleaned();
        true
    }

    /// Whether some live participant of the owner role announces a claim
    /// covering `position` (it may be its owner), or the records cannot be read
    /// with confidence.
    fn owner_alive(&mut self, shared: &Shared, position: u64) -> bool {
        let geometry = shared.region.geometry();
        for index in 0..geometry.participant_count {
            let record = geometry.record_offset(index);
            let owner = shared.region.u64_at(record + layout::RECORD_OWNER);
            // Ordering: Acquire, pairs with the Release of the owner's claim
            // exchange, which published the emptied intent of a newcomer.
            let word = owner.load(Ordering::Acquire);
            let (_, role, state) = owner_parts(word);
            if role != self.owner_role || state == STATE_FREE || state == STATE_CLOSED {
                // A closed owner left holding nothing: its guards publish or
                // release on drop, before the record is closed.
                continue;
            }
            // Ordering: Acquire, pairs with the Release stores in
            // `ClaimIntent::announce` (see there).
            let start = shared
                .region
                .u64_at(record + layout::RECORD_CLAIM_START)
                .load(Ordering::Acquire);
            let end = shared
                .region
                .u64_at(record + layout::RECORD_CLAIM_END)
                .load(Ordering::Acquire);
            if !(start <= position && position < end) {
                continue;
            }
            if state != STATE_ACTIVE {
                return true; // not a state the protocol writes: be careful
            }
            if self.dead.contains(&(index, word)) {
                continue;
            }
            if covering_owner_alive(shared, index, word) {
                return true;
            }
            // Dead under `word`; a newcomer taking the record over changes it.
            // Ordering: Acquire, as above.
            if owner.load(Ordering::Acquire) != word {
                return true; // taken over meanwhile: look again later
            }
            self.dead[self.dead_next] = (index, word);
            self.dead_next = (self.dead_next + 1) % DEAD_OWNERS_REMEMBERED;
        }
        false
    }
}

/// Whether the owner of record `index`, found active under `word` with an
/// intent covering a stalled position, is alive (its record's lock is held).
///
/// Built with `--cfg shmlane_weaken_recovery` the lock test is left out and
/// every covering owner counts as dead: a deliberate bug, which the live-owner
/// models of `loom-tests/tests/recovery.rs` must catch (a live producer's
/// claim skipped, a slot freed under its reader). That shows they can fail.
#[inline]
fn covering_owner_alive(shared: &Shared, index: u32, word: u64) -> bool {
    !cfg!(shmlane_weaken_recovery) && owner_is_alive(shared, index, word)
}

/// Rate-limits cleaning: only a position that stays stalled for
/// [`STALL_GRACE`] is looked into, at most once per [`LOCK_CHECK_INTERVAL`].
struct StallWatch {
    position: u64,
    #[cfg(not(loom))]
    sightings: u32,
    /// Look at the next sighting, whatever the grace period.
    force: bool,
    /// Look at the next stall at once (a dead owner's next slot).
    eager: bool,
    #[cfg(not(loom))]
    first_seen: Option<Instant>,
    #[cfg(not(loom))]
    last_look: Option<Instant>,
}

impl StallWatch {
    fn new() -> StallWatch {
        StallWatch {
            position: u64::MAX,
            #[cfg(not(loom))]
            sightings: 0,
            force: false,
            eager: false,
            #[cfg(not(loom))]
            first_seen: None,
            #[cfg(not(loom))]
            last_look: None,
        }
    }

    #[cfg(not(loom))]
    #[inline]
    fn due(&mut self, _shared: &Shared, position: u64) -> bool {
        if position != self.position {
            self.position = position;
            self.sightings = 0;
            self.first_seen = None;
            if self.eager {
                return true;
            }
        }
        self.sightings = self.sightings.wrapping_add(1);
        if !self.force && self.sightings % SIGHTINGS_PER_CLOCK_READ != 0 {
            return false;
        }
        self.due_now()
    }

    #[cfg(not(loom))]
    #[cold]
    fn due_now(&mut self) -> bool {
        let forced = std::mem::take(&mut self.force);
        let now = Instant::now();
        let first_seen = *self.first_seen.get_or_insert(now);
        let stalled_long = forced || now.duration_since(first_seen) >= STALL_GRACE;
        let rested = self
            .last_look
            .map_or(true, |last| now.duration_since(last) >= LOCK_CHECK_INTERVAL);
        if stalled_long && (rested || forced) {
            self.last_look = Some(now);
            return true;
        }
        false
    }

    /// The loom models have no clock: a position is looked into at every
    /// sighting, and only in rings whose model asks for recovery.
    #[cfg(loom)]
    fn due(&mut self, shared: &Shared, position: u64) -> bool {
        self.position = position;
        self.force = false;
        shared.recovery_enabled()
    }

    fn nothing_to_clean(&mut self) {
        self.eager = false;
    }

    fn cleaned(&mut self) {
        self.eager = true;
        self.position = u64::MAX;
    }
}
