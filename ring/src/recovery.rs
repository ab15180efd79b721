//! MPMC crash recovery: what happens to a slot whose owner died holding it.
//!
//! Before each claim a handle writes the range it is about to claim into its own
//! participant record (its claim intent). A handle that keeps finding the ring
//! stalled at one position looks for a live owner whose intent covers it; when
//! there is none, it moves the slot's stamp on by compare-and-swap from exactly
//! the stalled value: a dead producer's claim becomes a skip (`dropped_claims`),
//! a dead consumer's slot is released (`lost_messages`). The steps and their
//! orderings are normative in `docs/layout.md#mpmc-crash-recovery`;
//! `docs/guarantees.md` states what this promises and
//! `loom-tests/tests/recovery.rs` models it.
//!
//! Cost: an owner pays two stores to its own record line per claim; cleaning
//! runs only on the full/empty path, after one position has stalled for
//! [`STALL_GRACE`], at most once per [`STALL_GRACE`].

use crate::attached::Attached;
use crate::error::Role;
use crate::layout::{
    self, owner_parts, role_code, STAMP_SKIP, STATE_ACTIVE, STATE_CLOSED, STATE_FREE,
};
use crate::participants::{lock_held, LOCK_CHECK_INTERVAL};
use crate::platform::{Host, Platform};
use crate::shm::Shared;
use crate::sync::{AtomicU64, Ordering};

/// How long a position must stay stalled before a handle looks for its owner's
/// death; shorter stalls are owners at work.
pub(crate) const STALL_GRACE: std::time::Duration = LOCK_CHECK_INTERVAL;
/// How many dead owners a cleaner remembers, so that the slots of a dead batch
/// cost no lock test each.
const DEAD_OWNERS_REMEMBERED: usize = 4;

/// The owner's side: the intent range in its own participant record.
pub(crate) struct ClaimIntent {
    start: *const AtomicU64,
    end: *const AtomicU64,
}

impl ClaimIntent {
    /// The intent fields of record `record`, which the claim of the record
    /// emptied (`participants::claim_owner_word`).
    pub(crate) fn new(shared: &Shared, record: u32) -> ClaimIntent {
        let region = &shared.region;
        let offset = region.geometry().record_offset(record);
        ClaimIntent {
            start: region.u64_at(offset + layout::RECORD_CLAIM_START),
            end: region.u64_at(offset + layout::RECORD_CLAIM_END),
        }
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

    /// Announces a claim of `start .. end`, just before the exchange that makes
    /// it. The range stays after the claim succeeded: it then covers what the
    /// handle holds, and once that is published or released, only positions
    /// that are no longer stalled. The claim call tracks whether it announced
    /// (a local, so the hot path writes no handle state for it).
    #[inline(always)]
    pub(crate) fn announce(&self, start: u64, end: u64) {
        // Ordering: Release, pairs with the Acquire loads in `Cleaner::owner_alive`:
        // a cleaner that sees the new range also sees everything this handle did
        // with its previous claim (its stamp stores), so it never takes a slot we
        // finished for one still stalled. The exchange after these stores
        // publishes them to anyone who sees the position moved (module header).
        self.start().store(start, Ordering::Release);
        self.end().store(end, Ordering::Release);
    }

    /// After a claim call that announced a range gave up without claiming it:
    /// announce nothing, so that a position another handle won is not taken
    /// for ours.
    #[cold]
    pub(crate) fn clear(&self) {
        // Ordering: Release, as in `announce`. An end of 0 is no range.
        self.end().store(0, Ordering::Release);
    }
}

// SAFETY: the pointers refer to atomics in a shared mapping kept alive by the
// handle that owns this intent; atomics may be used from any thread.
unsafe impl Send for ClaimIntent {}

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
    /// A cleaner of the claims of `owners`: a consumer cleans up after
    /// producers (claimed, never committed), a producer after consumers
    /// (claimed, never released).
    pub(crate) fn new(owners: Role) -> Cleaner {
        Cleaner {
            owner_role: role_code(owners),
            watch: StallWatch::new(),
            dead: [(u32::MAX, 0); DEAD_OWNERS_REMEMBERED],
            dead_next: 0,
        }
    }

    /// Makes the next sighting of a stall look for a dead owner at once, whatever
    /// the grace period (after a nap that ran out, a wake that left the handle
    /// blocked, or once every peer is gone).
    pub(crate) fn look_now(&mut self) {
        self.watch.force = true;
    }

    /// Called when position `position` is found stalled with `stamp` in its slot
    /// (the caller checked the stamp's shape: `position` itself when cleaning
    /// after producers, committed when cleaning after consumers). Returns whether the slot was
    /// moved on, by us or by another cleaner: the caller should look again.
    #[inline]
    pub(crate) fn on_stall(&mut self, ring: &Attached, position: u64, stamp: u64) -> bool {
        if !self.watch.due(&ring.shared, position) {
            return false;
        }
        self.clean(ring, position, stamp)
    }

    #[cold]
    fn clean(&mut self, ring: &Attached, position: u64, stamp: u64) -> bool {
        let cleaning_after_producers = self.owner_role == layout::ROLE_PRODUCER;
        // The word the stalled position's owner moved past it when it claimed it.
        let claimed_past = if cleaning_after_producers {
            ring.tail_word()
        } else {
            ring.head_word()
        };
        // Ordering: Acquire, pairs with the AcqRel exchange that claimed
        // `position` (and the exchanges after it, its release sequence): if the
        // word is past `position`, the claimer's intent is visible below.
        let claimed = claimed_past.load(Ordering::Acquire);
        if (claimed.wrapping_sub(position) as i64) <= 0 {
            // Nobody claimed it: an ordinary empty (or full) ring.
            return false;
        }
        let shared = &ring.shared;
        if self.owner_alive(shared, position) {
            return false;
        }
        let (moved_on, counter) = if cleaning_after_producers {
            let skip = position.wrapping_add(1) | STAMP_SKIP;
            (skip, Some(layout::DROPPED_CLAIMS_OFFSET))
        } else {
            // A slot marked to be skipped held no message: nothing is lost.
            let lost = (stamp & STAMP_SKIP == 0).then_some(layout::LOST_MESSAGES_OFFSET);
            (position.wrapping_add(ring.capacity), lost)
        };
        // Ordering: AcqRel. Release: consumers (Acquire on the stamp) see the
        // skip mark; producers see the released slot, and since its owner is
        // dead nobody reads it any more. Acquire: a cleaner that loses sees the
        // winner's stamp. The exchange from exactly the stalled value fails if
        // the owner finished after all, or another cleaner won.
        let won = ring
            .slots
            .stamp(position)
            .compare_exchange(stamp, moved_on, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if let (true, Some(offset)) = (won, counter) {
            // Ordering: Relaxed; a statistic.
            shared.region.u64_at(offset).fetch_add(1, Ordering::Relaxed);
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
            if covering_owner_alive(shared, record) {
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

/// Whether the owner of the record at `record`, found active with an intent covering a stalled position, is alive (its lock is held).
///
/// Built with `--cfg shmlane_weaken_recovery` the lock test is left out and
/// every covering owner counts as dead: a deliberate bug, which the live-owner
/// models of `loom-tests/tests/recovery.rs` must catch (a live producer's
/// claim skipped, a slot freed under its reader). That shows they can fail.
#[inline]
fn covering_owner_alive(shared: &Shared, record: usize) -> bool {
    !cfg!(shmlane_weaken_recovery) && lock_held(shared, record)
}

/// Rate-limits cleaning: only a position that stays stalled for
/// [`STALL_GRACE`] is looked into, and at most once per [`STALL_GRACE`].
struct StallWatch {
    position: u64,
    sightings: u32,
    /// Look at the next sighting at once: after a nap that ran out or a wake
    /// that left the handle blocked, when every peer is gone, or after a
    /// clean (a dead batch's next slot).
    force: bool,
    /// When the stall at `position` was first timed, or last looked into.
    since: Option<<Host as Platform>::Instant>,
}

impl StallWatch {
    fn new() -> StallWatch {
        StallWatch {
            position: u64::MAX,
            sightings: 0,
            force: false,
            since: None,
        }
    }

    /// Whether to look into the stall at `position` now. The loom models
    /// have no clock and look at every sighting, and only in rings whose model
    /// asks for recovery (`Platform::recovery_enabled`).
    #[inline]
    fn due(&mut self, shared: &Shared, position: u64) -> bool {
        if !Host::recovery_enabled(shared) {
            return false;
        }
        if position != self.position {
            self.position = position;
            self.sightings = 0;
            self.since = None;
        }
        self.sightings += 1;
        if !self.force && self.sightings < Host::SIGHTINGS_PER_CLOCK_READ {
            return false;
        }
        self.sightings = 0;
        self.due_now()
    }

    #[cold]
    fn due_now(&mut self) -> bool {
        let now = Host::now();
        let since = *self.since.get_or_insert(now);
        if std::mem::take(&mut self.force) || Host::passed(since, now, STALL_GRACE) {
            self.since = Some(now);
            return true;
        }
        false
    }

    fn cleaned(&mut self) {
        self.force = true;
        self.position = u64::MAX;
    }
}
