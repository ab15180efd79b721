//! The MPMC kind: many producers, many consumers, each message delivered to
//! exactly one consumer.
//!
//! Vyukov's bounded queue (crossbeam's `ArrayQueue`, DPDK's ring family) with
//! a sequence stamp per slot ([`STAMP_SKIP`] marks one to skip): positions are
//! claimed by a compare-and-swap of `tail` or `head`, announced first for
//! crash recovery (`recovery`), and retries are bounded by [`MAX_ATTEMPTS`].
//! The normative steps and orderings: `docs/layout.md#mpmc` and
//! `docs/layout.md#mpmc-crash-recovery`.

// The kind's halves are public types of a private module, reached only
// through the sealed `Protocol`; the crate types in their methods stay
// crate-private, which no caller outside can name or call.
#![allow(private_interfaces, private_bounds)]

use crate::attached::Attached;
use crate::error::{Error, Role};
use crate::layout::{Kind, STAMP_SKIP};
use crate::participants::{count_join, Membership, PeerState, RoleWatch};
use crate::protocol::{kind, Claim, ReadSide, Side, WaitHooks, WriteSide};
use crate::recovery::{ClaimIntent, Cleaner};
use crate::shm::Shared;
use crate::sync::{spin_loop, Arc, Ordering, PUBLISH};
use crate::wait::Waker;

// A lost race is retried at once. Under loom the hint is a yield: the model
// checker must let the thread that won move on, or a stale load of a position
// would be retried forever.

kind!(
    /// The MPMC kind, the type parameter of [`Producer`] and [`Consumer`].
    Mpmc,
    Some(Kind::Mpmc),
    "an MPMC ring",
    MpmcWriter,
    MpmcReader
);

/// How many lost races (another handle moved the position first) a
/// non-blocking call tolerates before it reports the ring full or empty. Only
/// a peer that moves positions without publishing slots can make a call lose
/// this often.
pub const MAX_ATTEMPTS: u32 = 1 << 16;

/// How far the position in `stamp` is from `target`, as a signed distance.
#[inline(always)]
fn distance(stamp: u64, target: u64) -> i64 {
    (stamp & !STAMP_SKIP).wrapping_sub(target) as i64
}

/// The slot of `position` bore a stamp ahead of it while the position word
/// still held `position`. On a sound ring that never happens: whoever stored
/// that stamp did so after the exchange that moved the word past `position`,
/// and our Acquire load of the stamp made that exchange visible to the load of
/// the word after it. So it is a stamp nobody wrote by the protocol, reported
/// at once instead of retried [`MAX_ATTEMPTS`] times.
#[cold]
fn stamp_ahead(position: u64, stamp: u64) -> Error {
    Error::corrupt(format!(
        "slot stamp {stamp:#x} is ahead of position {position}, which did not move"
    ))
}

#[cold]
fn corrupt_stamp(position: u64, stamp: u64) -> Error {
    Error::corrupt(format!(
        "slot stamp {stamp:#x} is more than a lap away from position {position}"
    ))
}

/// An MPMC producer's state.
#[doc(hidden)]
pub struct MpmcWriter {
    consumers: RoleWatch,
    /// The positions this producer is claiming or holds, announced for recovery.
    intent: ClaimIntent,
    /// Frees slots whose consumer died holding them.
    cleaner: Cleaner,
}

impl std::fmt::Debug for MpmcWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpmcWriter").finish_non_exhaustive()
    }
}

impl MpmcWriter {
    /// [`WriteSide::claim`], announcing each attempt in the intent first.
    #[inline(always)]
    fn claim_announced(
        &mut self,
        ring: &Attached,
        wanted: u64,
        announced: &mut bool,
    ) -> Result<Option<Claim>, Error> {
        // Ordering: Acquire, pairs with the AcqRel exchange of `tail` below
        // (by whichever producer moved it here): every claim of a position
        // before `tail`, and the stamp it saw, happens before this load. So
        // the stamp of slot `tail` reads at least as what its claimer saw one
        // lap ago, never more than a lap behind on a sound ring; with a Relaxed
        // load a stale stamp would pass for corruption. Each retry takes `tail`
        // afresh in the same way (a failed exchange gives it, Acquire).
        let mut tail = ring.tail_word().load(Ordering::Acquire);
        for _ in 0..MAX_ATTEMPTS {
            // Ordering: Acquire, pairs with the Release store of the stamp in
            // `MpmcReader::release`: the last lap's reader is done with the slot.
            let stamp = ring.slots.stamp(tail).load(Ordering::Acquire);
            match distance(stamp, tail) {
                0 => {
                    let mut count = 1;
                    while count < wanted {
                        let position = tail.wrapping_add(count);
                        // Ordering: Acquire, as above.
                        let next = ring.slots.stamp(position).load(Ordering::Acquire);
                        if distance(next, position) != 0 {
                            break;
                        }
                        count += 1;
                    }
                    self.intent.announce(tail, tail.wrapping_add(count));
                    *announced = true;
                    // Ordering: AcqRel. The exchange decides ownership of
                    // `[tail, tail + count)`, and passes what we saw of their
                    // stamps on to the next producer's Acquire load of `tail`.
                    // Its Release also publishes the intent to cleaners.
                    match ring.tail_word().compare_exchange(
                        tail,
                        tail.wrapping_add(count),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            return Ok(Some(Claim {
                                position: tail,
                                count,
                            }))
                        }
                        // Another producer claimed `tail` first.
                        Err(now) => tail = now,
                    }
                }
                behind if behind < 0 => {
                    if behind < -(ring.capacity as i64) {
                        return Err(corrupt_stamp(tail, stamp));
                    }
                    // The slot still holds the message of the previous lap:
                    // full, unless its consumer had died and the slot is free now.
                    if !self.freed_after_dead_consumer(ring, tail, stamp)? {
                        return Ok(None);
                    }
                    // Ordering: Acquire, as the first load.
                    tail = ring.tail_word().load(Ordering::Acquire);
                }
                // Another producer claimed `tail` first; look again.
                _ => {
                    // Ordering: Acquire, as the first load.
                    let now = ring.tail_word().load(Ordering::Acquire);
                    if now == tail {
                        return Err(stamp_ahead(tail, stamp));
                    }
                    tail = now;
                }
            }
            spin_loop();
        }
        Ok(None)
    }

    /// For a slot found holding `stamp`, the message of the previous lap:
    /// `true` to look again, when that message's consumer had claimed it and
    /// died and the slot was freed; `false` when the ring is full;
    /// [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected) when it is full and every consumer is gone.
    #[cold]
    fn freed_after_dead_consumer(
        &mut self,
        ring: &Attached,
        tail: u64,
        stamp: u64,
    ) -> Result<bool, Error> {
        let previous = tail.wrapping_sub(ring.capacity);
        if distance(stamp, previous.wrapping_add(1)) == 0
            && self.cleaner.on_stall(ring, previous, stamp)
        {
            return Ok(true);
        }
        match self.consumers.check(&ring.shared) {
            PeerState::Gone => {
                // A consumer may have released the slot just before it left:
                // look again. Free (or taken by another producer) means the
                // ring is not full: report it full, to be tried again; never
                // `Disconnected`.
                // Ordering: Acquire, as in `claim_announced`.
                let stamp = ring.slots.stamp(tail).load(Ordering::Acquire);
                if distance(stamp, tail) >= 0 {
                    Ok(false)
                } else {
                    Err(Error::DISCONNECTED)
                }
            }
            PeerState::NotYetJoined | PeerState::Present => Ok(false),
        }
    }
}

impl WaitHooks for MpmcWriter {
    fn watch_sees_leaving(&self) -> bool {
        false
    }
    fn look_at_peers_now(&mut self) {
        self.consumers = RoleWatch::new(Role::Consumer);
    }
    fn look_for_dead_owners_now(&mut self) {
        self.cleaner.look_now();
    }
    fn peers_gone(&mut self, ring: &Attached) -> bool {
        self.look_at_peers_now();
        self.consumers.check(&ring.shared) == PeerState::Gone
    }
}

impl Side for MpmcWriter {
    fn claim_record(shared: &Arc<Shared>) -> Result<Membership, Error> {
        let membership = Membership::claim_any(shared, Role::Producer)?;
        count_join(shared, Role::Producer);
        Ok(membership)
    }

    fn new(ring: &Attached, record: u32) -> Result<MpmcWriter, Error> {
        Ok(MpmcWriter {
            consumers: RoleWatch::new(Role::Consumer),
            intent: ClaimIntent::new(&ring.shared, record),
            cleaner: Cleaner::new(Role::Consumer),
        })
    }
}

impl WriteSide for MpmcWriter {
    #[inline(always)]
    fn claim(&mut self, ring: &Attached, wanted: u64) -> Result<Option<Claim>, Error> {
        // Whether a range was announced and not claimed (a lost race).
        let mut announced = false;
        let claimed = self.claim_announced(ring, wanted, &mut announced);
        if announced && !matches!(claimed, Ok(Some(_))) {
            self.intent.clear();
        }
        claimed
    }

    #[inline(always)]
    fn publish(&mut self, ring: &Attached, claim: Claim, committed: u64) -> bool {
        for index in 0..claim.count {
            let position = claim.at(index);
            let skip = if index < committed { 0 } else { STAMP_SKIP };
            // Ordering: Release, pairs with the Acquire load of the stamp in
            // `MpmcReader::claim_once`: the slot's bytes are visible to its
            // consumer. A skipped slot is handed on too, because other
            // producers may already have claimed the slots after it; sleeping
            // consumers wake to skip it and reach them.
            ring.slots
                .stamp(position)
                .store(position.wrapping_add(1) | skip, PUBLISH);
        }
        true
    }
}

/// An MPMC consumer's state.
#[doc(hidden)]
pub struct MpmcReader {
    producers: RoleWatch,
    /// Claimed messages handed back unread (a buffer was too small, or a batch
    /// ended before a message with an impossible length): the next claim
    /// returns them.
    held: Option<Claim>,
    /// The positions this consumer is claiming or holds, announced for recovery.
    intent: ClaimIntent,
    /// Turns the claims of producers that died before committing into skips.
    cleaner: Cleaner,
}

impl std::fmt::Debug for MpmcReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpmcReader")
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

/// What a consumer's claim attempt found.
enum Claimed {
    /// Consecutive committed messages.
    Messages(Claim),
    /// Nothing committed at `head`.
    Nothing,
    /// A slot whose producer dropped its reservation (or died holding it);
    /// released, nothing to read.
    Skipped,
    /// Another consumer claimed the position first, or recovery moved its
    /// slot on: look again at `head`, which is now this.
    Lost(u64),
}

impl MpmcReader {
    /// [`ReadSide::claim`] of new messages, announcing each attempt first.
    #[inline(always)]
    fn claim_announced(
        &mut self,
        ring: &Attached,
        waker: &mut Waker,
        wanted: u64,
        announced: &mut bool,
    ) -> Result<Option<Claim>, Error> {
        // Ordering: Acquire, pairs with the AcqRel exchange of `head` in
        // `claim_once`, for the reason given in `MpmcWriter::claim_announced`:
        // the stamp of slot `head` then reads at least as what its claimer saw
        // one lap ago. Each retry takes `head` afresh in the same way.
        let mut head = ring.head_word().load(Ordering::Acquire);
        for _ in 0..MAX_ATTEMPTS {
            match self.claim_once(ring, waker, wanted, head, announced)? {
                Claimed::Messages(claim) => return Ok(Some(claim)),
                Claimed::Nothing => return Ok(None),
                Claimed::Skipped => {
                    // Ordering: Acquire, as the first load.
                    head = ring.head_word().load(Ordering::Acquire);
                }
                Claimed::Lost(now) => head = now,
            }
            spin_loop();
        }
        Ok(None)
    }

    /// One attempt at `head`.
    #[inline(always)]
    fn claim_once(
        &mut self,
        ring: &Attached,
        waker: &mut Waker,
        wanted: u64,
        head: u64,
        announced: &mut bool,
    ) -> Result<Claimed, Error> {
        // Ordering: Acquire, pairs with the Release store in
        // `MpmcWriter::publish`: the committed message's bytes are visible once
        // we see its stamp.
        let stamp = ring.slots.stamp(head).load(Ordering::Acquire);
        match distance(stamp, head.wrapping_add(1)) {
            0 => {
                let skip = stamp & STAMP_SKIP != 0;
                let mut count = 1;
                while !skip && count < wanted {
                    let position = head.wrapping_add(count);
                    // Ordering: Acquire, as above.
                    let next = ring.slots.stamp(position).load(Ordering::Acquire);
                    if next != position.wrapping_add(1) {
                        break; // not committed yet, or to be skipped
                    }
                    count += 1;
                }
                self.intent.announce(head, head.wrapping_add(count));
                *announced = true;
                // Ordering: AcqRel. The exchange decides ownership of
                // `[head, head + count)`, and passes what we saw of their stamps
                // on to the next consumer's Acquire load of `head`. Its Release
                // also publishes the intent to cleaners.
                if let Err(now) = ring.head_word().compare_exchange(
                    head,
                    head.wrapping_add(count),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    return Ok(Claimed::Lost(now));
                }
                *announced = false; // claimed: the range now says what we hold
                let claim = Claim {
                    position: head,
                    count,
                };
                if skip {
                    self.release(ring, claim);
                    waker.notify(&ring.shared);
                    return Ok(Claimed::Skipped);
                }
                Ok(Claimed::Messages(claim))
            }
            behind if behind < 0 => {
                if behind < -(ring.capacity as i64) {
                    return Err(corrupt_stamp(head, stamp));
                }
                // Not yet committed: empty, as far as this consumer can tell
                // (or claimed by a producer that died; see there).
                self.empty_or_disconnected(ring, head, stamp)
            }
            // Another consumer claimed `head` first; look again.
            _ => {
                // Ordering: Acquire, as the loads in `claim_announced`.
                let now = ring.head_word().load(Ordering::Acquire);
                if now == head {
                    return Err(stamp_ahead(head, stamp));
                }
                Ok(Claimed::Lost(now))
            }
        }
    }

    /// `Nothing`, `Disconnected`, or `Lost(head)` to look again after
    /// recovery, for the slot of `head` found holding `stamp`, not committed.
    #[cold]
    fn empty_or_disconnected(
        &mut self,
        ring: &Attached,
        head: u64,
        stamp: u64,
    ) -> Result<Claimed, Error> {
        match self.producers.check(&ring.shared) {
            PeerState::NotYetJoined | PeerState::Present => {
                // Claimed by a producer that died: mark it to be skipped,
                // look again.
                if stamp == head && self.cleaner.on_stall(ring, head, stamp) {
                    return Ok(Claimed::Lost(head));
                }
                Ok(Claimed::Nothing)
            }
            PeerState::Gone => {
                // A producer may have committed just before it left: look again.
                // Committed, or already taken by another consumer (our `head`
                // was stale and the ring moved on), is not drained: nothing
                // now, try again.
                // Ordering: Acquire, as in `claim_once`.
                let stamp = ring.slots.stamp(head).load(Ordering::Acquire);
                if distance(stamp, head.wrapping_add(1)) >= 0 {
                    return Ok(Claimed::Nothing);
                }
                // Claimed but never committed, by a producer that is gone:
                // messages committed after it must still be delivered, so
                // recover it now rather than after the grace period.
                // Ordering: Acquire, pairs with the producers' exchanges of `tail`.
                let tail = ring.tail_word().load(Ordering::Acquire);
                if (tail.wrapping_sub(head) as i64) > 0 {
                    self.cleaner.look_now();
                    if stamp == head && self.cleaner.on_stall(ring, head, stamp) {
                        return Ok(Claimed::Lost(head));
                    }
                    return Ok(Claimed::Nothing);
                }
                Err(Error::DISCONNECTED)
            }
        }
    }
}

impl WaitHooks for MpmcReader {
    fn watch_sees_leaving(&self) -> bool {
        false
    }
    fn look_at_peers_now(&mut self) {
        self.producers = RoleWatch::new(Role::Producer);
    }
    fn look_for_dead_owners_now(&mut self) {
        self.cleaner.look_now();
    }
    fn peers_gone(&mut self, ring: &Attached) -> bool {
        self.look_at_peers_now();
        self.producers.check(&ring.shared) == PeerState::Gone
    }
}

impl Side for MpmcReader {
    fn claim_record(shared: &Arc<Shared>) -> Result<Membership, Error> {
        let membership = Membership::claim_any(shared, Role::Consumer)?;
        count_join(shared, Role::Consumer);
        Ok(membership)
    }

    fn new(ring: &Attached, record: u32) -> Result<MpmcReader, Error> {
        Ok(MpmcReader {
            producers: RoleWatch::new(Role::Producer),
            held: None,
            intent: ClaimIntent::new(&ring.shared, record),
            cleaner: Cleaner::new(Role::Producer),
        })
    }

    fn leave(&mut self, ring: &Attached, waker: &mut Waker) {
        if let Some(held) = self.held.take() {
            // Never read: lost with the consumer.
            self.release(ring, held);
            waker.notify(&ring.shared);
        }
    }
}

impl ReadSide for MpmcReader {
    #[inline(always)]
    fn claim(
        &mut self,
        ring: &Attached,
        waker: &mut Waker,
        wanted: u64,
    ) -> Result<Option<Claim>, Error> {
        if let Some(held) = self.held.take() {
            if held.count > wanted {
                self.held = Some(Claim {
                    position: held.at(wanted),
                    count: held.count - wanted,
                });
                return Ok(Some(Claim {
                    position: held.position,
                    count: wanted,
                }));
            }
            return Ok(Some(held));
        }
        // Whether a range was announced and not claimed (a lost race).
        let mut announced = false;
        let claimed = self.claim_announced(ring, waker, wanted, &mut announced);
        if announced && !matches!(claimed, Ok(Some(_))) {
            self.intent.clear();
        }
        claimed
    }

    #[inline(always)]
    fn release(&mut self, ring: &Attached, claim: Claim) {
        for index in 0..claim.count {
            let position = claim.at(index);
            // Ordering: Release, pairs with the Acquire load of the stamp in
            // `MpmcWriter::claim_announced`: our reads of the slot happen
            // before its reuse.
            ring.slots
                .stamp(position)
                .store(position.wrapping_add(ring.capacity), Ordering::Release);
        }
    }

    fn hold(&mut self, claim: Claim) {
        // A message kept unread comes right before what was held after it.
        self.held = Some(match self.held {
            Some(held) if claim.at(claim.count) == held.position => Claim {
                position: claim.position,
                count: claim.count + held.count,
            },
            _ => claim,
        });
    }
}
