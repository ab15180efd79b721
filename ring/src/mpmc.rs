//! The MPMC ring: many producers, many consumers, each message delivered to
//! exactly one consumer, zero-copy.
//!
//! Algorithm: Dmitry Vyukov's bounded MPMC queue, the design of crossbeam's
//! `ArrayQueue` and of DPDK's ring family, with the slots in shared memory. Each
//! slot carries a sequence stamp (`u64`) in front of its body:
//!
//! - `stamp == p`: the slot is free for the producer of position `p`;
//! - `stamp == p + 1`: the message of position `p` is committed, for a consumer;
//! - the consumer of position `p` releases the slot with `stamp = p + capacity`,
//!   which frees it for position `p + capacity`, one lap later.
//!
//! Bit 63 of a stamp ([`STAMP_SKIP`]) marks a committed slot whose message is to
//! be skipped: its producer dropped the reservation uncommitted. The other 63 bits
//! are the position (2^63 messages are never reached). Initially `stamp[i] = i`.
//!
//! `tail` is the next position to claim for writing, `head` the next to claim for
//! reading. A producer claims position `tail` when its stamp says free, by a
//! compare-and-swap of `tail` to `tail + n` (several consecutive free slots in
//! one go for a batch); a consumer claims `head` when its stamp says committed,
//! by a compare-and-swap of `head`. The claim makes the handle the slot's only
//! owner until it stores the next stamp, which is what publishes or releases it.
//!
//! Values read from shared memory are bounded: a stamp more than a lap behind
//! the position read is corruption, message lengths are checked against
//! `max_payload`, and every retry loop gives up after [`MAX_ATTEMPTS`] lost races.
//! `docs/design.md` gives the orderings.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::error::{Error, Role};
use crate::handle::{read_len, write_len, Attached};
use crate::layout::{Kind, STAMP_SKIP};
use crate::participants::{count_join, Membership, PeerState, RoleWatch};
use crate::recovery::{ClaimIntent, Cleaner};
use crate::region::{BodyMut, BodyRef};
use crate::shm::Shared;
use crate::sync::{Arc, Ordering, PUBLISH};
use crate::wait::{block_on, Blocking, Line, Sleeper, WaitStrategy, Waker};

// A lost race is retried at once. Under loom the hint is a yield: the model
// checker must let the thread that won move on, or a stale load of a position
// would be retried forever.
#[cfg(loom)]
use loom::hint::spin_loop;
#[cfg(not(loom))]
use std::hint::spin_loop;

/// How many lost races (another handle moved the position first) a
/// non-blocking call tolerates before it reports `Full` or `Empty`. Only a peer
/// that moves positions without publishing slots can make a call lose this often.
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
    Error::Corrupt {
        reason: format!(
            "slot stamp {stamp:#x} is ahead of position {position}, which did not move"
        ),
    }
}

fn corrupt_stamp(position: u64, stamp: u64) -> Error {
    Error::Corrupt {
        reason: format!("slot stamp {stamp:#x} is more than a lap away from position {position}"),
    }
}

/// A writing end of an MPMC ring; any number may be joined, up to the ring's
/// participant limit.
///
/// `Send` but not `Sync`: methods take `&mut self`, so one reservation at a time.
///
/// # Examples
/// ```
/// use shmlane::{mpmc, Ring, RingOptions};
/// # let name = format!("doc-mpmc-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::mpmc(64, 80, 8))?;
/// let mut first = mpmc::Producer::join(&ring)?;
/// let mut second = mpmc::Producer::join(&ring)?;
/// first.try_send(b"from the first")?;
/// second.try_send(b"from the second")?;
/// let mut consumer = mpmc::Consumer::join(&ring)?;
/// assert_eq!(&*consumer.try_read()?, b"from the first");
/// assert_eq!(&*consumer.try_read()?, b"from the second");
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
pub struct Producer {
    ring: Attached,
    consumers: RoleWatch,
    /// Wakes consumers sleeping on the data line after each commit.
    waker: Waker,
    /// Sleeps on the space line in blocking calls.
    sleeper: Sleeper,
    /// The positions this producer is claiming or holds, announced for recovery.
    intent: ClaimIntent,
    /// Frees slots whose consumer died holding them.
    cleaner: Cleaner,
    membership: Membership,
}

// SAFETY: the raw pointers in `Attached` point into the region kept alive by its
// `Arc`; all shared state is reached through atomics or slots owned by protocol.
unsafe impl Send for Producer {}

impl Producer {
    /// Joins `ring` as one of its producers.
    ///
    /// # Errors
    /// [`Error::WrongKind`] on a ring that is not MPMC;
    /// [`Error::TooManyParticipants`] when every participant record is held;
    /// [`Error::Io`] if the liveness lock cannot be taken.
    pub fn join(ring: &crate::Ring) -> Result<Producer, Error> {
        let ring = Attached::new(Arc::clone(&ring.shared), Kind::Mpmc)?;
        let membership = Membership::claim_any(&ring.shared, Role::Producer)?;
        count_join(&ring.shared, Role::Producer);
        let region = &ring.shared.region;
        Ok(Producer {
            consumers: RoleWatch::new(Role::Consumer),
            waker: Waker::new(region, Line::Data, membership.record()),
            sleeper: Sleeper::new(region, Line::Space, membership.record()),
            intent: ClaimIntent::new(&ring.shared, membership.record()),
            cleaner: Cleaner::new(Role::Consumer),
            membership,
            ring,
        })
    }

    /// The loom models' way to kill a producer: it stops where it is, holding
    /// whatever it claimed, and its record's lock is released as the kernel
    /// would. Forget a guard (`std::mem::forget`) first to die holding it.
    #[cfg(loom)]
    pub fn die(self) {
        self.ring.shared.mark_dead(self.membership.record());
    }

    /// Largest message this ring carries.
    pub fn max_payload(&self) -> usize {
        self.ring.max_payload
    }

    /// Number of slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// Claims up to `wanted` consecutive free slots; returns the first position
    /// and the count.
    #[inline]
    fn claim(&mut self, wanted: u64) -> Result<(u64, u64), Error> {
        // Whether a range was announced and not claimed (a lost race).
        let mut announced = false;
        let claimed = self.claim_announced(wanted, &mut announced);
        if claimed.is_err() && announced {
            self.intent.clear();
        }
        claimed
    }

    /// [`Producer::claim`], announcing each attempt in the intent first.
    #[inline]
    fn claim_announced(&mut self, wanted: u64, announced: &mut bool) -> Result<(u64, u64), Error> {
        let wanted = wanted.min(self.ring.capacity);
        // Ordering: Acquire, pairs with the AcqRel exchange of `tail` below
        // (by whichever producer moved it here): every claim of a position
        // before `tail`, and the stamp it saw, happens before this load. So
        // the stamp of slot `tail` reads at least as what its claimer saw one
        // lap ago, never more than a lap behind on a sound ring; with a Relaxed
        // load a stale stamp would pass for corruption. Each retry takes `tail`
        // afresh in the same way (a failed exchange gives it, Acquire).
        let mut tail = self.ring.tail_word().load(Ordering::Acquire);
        for _ in 0..MAX_ATTEMPTS {
            let ring = &self.ring;
            // Ordering: Acquire, pairs with the Release store of the stamp in
            // `Consumer::release_slots`: the last lap's reader is done with the slot.
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
                            return Ok((tail, count));
                        }
                        // Another producer claimed `tail` first.
                        Err(now) => tail = now,
                    }
                }
                behind if behind < 0 => {
                    if behind < -(ring.capacity as i64) {
                        return Err(corrupt_stamp(tail, stamp));
                    }
                    // The slot still holds the message of the previous lap.
                    match self.full_or_disconnected(tail, stamp) {
                        // Its consumer had died; the slot is free now.
                        None => {}
                        Some(error) => return Err(error),
                    }
                    // Ordering: Acquire, as the first load.
                    tail = self.ring.tail_word().load(Ordering::Acquire);
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
        Err(Error::Full)
    }

    /// `Full` or `Disconnected` for a slot found holding `stamp`, the message
    /// of the previous lap; `None` to look again, when that message's
    /// consumer had claimed it and died, and the slot was freed.
    #[cold]
    fn full_or_disconnected(&mut self, tail: u64, stamp: u64) -> Option<Error> {
        let ring = &self.ring;
        let previous = tail.wrapping_sub(ring.capacity);
        if distance(stamp, previous.wrapping_add(1)) == 0
            && self.cleaner.on_stall(ring, previous, stamp)
        {
            return None;
        }
        Some(match self.consumers.check(&self.ring.shared) {
            PeerState::Gone => {
                // A consumer may have released the slot just before it left:
                // look again. Free (or taken by another producer) means the
                // ring is not full: `Full`, try again; never `Disconnected`.
                // Ordering: Acquire, as in `claim`.
                let stamp = self.ring.slots.stamp(tail).load(Ordering::Acquire);
                if distance(stamp, tail) >= 0 {
                    Error::Full
                } else {
                    Error::Disconnected
                }
            }
            PeerState::NotYetJoined | PeerState::Present => Error::Full,
        })
    }

    /// Publishes the slot of `position`, or marks it to be skipped.
    #[inline]
    fn publish(&self, position: u64, skip: bool) {
        let stamp = position.wrapping_add(1) | if skip { STAMP_SKIP } else { 0 };
        // Ordering: Release, pairs with the Acquire load of the stamp in
        // `Consumer::claim`: the slot's bytes are visible to its consumer.
        self.ring.slots.stamp(position).store(stamp, PUBLISH);
    }

    /// After a commit (of one slot or a batch): wakes sleeping consumers, if any.
    #[inline]
    fn notify(&mut self) {
        self.waker.notify(&self.ring.shared);
    }

    /// Reserves the next slot for writing in place.
    ///
    /// The guard dereferences to the slot's `max_payload` bytes. Call
    /// [`WriteSlot::commit`] to publish. Dropping the guard uncommitted publishes
    /// nothing a consumer will see: the slot travels to a consumer marked to be
    /// skipped, because other producers may already have claimed the slots after it.
    ///
    /// # Errors
    /// [`Error::Full`] when no slot is free; [`Error::Disconnected`] when the ring
    /// is full and every consumer has closed or died; [`Error::Corrupt`] when a
    /// stamp in shared memory is impossible.
    #[inline]
    pub fn try_reserve(&mut self) -> Result<WriteSlot<'_>, Error> {
        let (position, _) = self.claim(1)?;
        Ok(self.slot_at(position))
    }

    /// Reserves up to `max` consecutive free slots with one claim.
    ///
    /// # Errors
    /// As [`Producer::try_reserve`], when not even one slot is free (`max == 0`
    /// gives an empty batch).
    #[inline]
    pub fn try_reserve_batch(&mut self, max: usize) -> Result<WriteBatch<'_>, Error> {
        let (position, count) = if max == 0 {
            (0, 0)
        } else {
            self.claim(max as u64)?
        };
        Ok(self.batch_at(position, count))
    }

    fn batch_at(&mut self, position: u64, count: u64) -> WriteBatch<'_> {
        if !self.ring.fixed_size {
            for offset in 0..count {
                let mut body = self.ring.slots.body_mut(position.wrapping_add(offset));
                // SAFETY: the slot was just claimed by us and is not yet published.
                write_len(unsafe { body.bytes() }, 0);
            }
        }
        WriteBatch {
            producer: self,
            position,
            count: count as usize,
            published: 0,
        }
    }

    /// Copies `message` into the next slot and publishes it.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`] (or [`Error::WrongMessageSize`] in a ring of
    /// fixed-size messages); otherwise as [`Producer::try_reserve`].
    #[inline]
    pub fn try_send(&mut self, message: &[u8]) -> Result<(), Error> {
        self.ring.check_len(message.len())?;
        let mut slot = self.try_reserve()?;
        slot[..message.len()].copy_from_slice(message);
        slot.commit(message.len())
    }

    /// Reserves the next slot, waiting up to `timeout` for one to be free
    /// (`None`: as long as it takes), as the handle's [`WaitStrategy`] says.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no slot came free in time; otherwise as
    /// [`Producer::try_reserve`] (never [`Error::Full`]).
    pub fn reserve(&mut self, timeout: Option<Duration>) -> Result<WriteSlot<'_>, Error> {
        let (position, _) = block_on(self, timeout, |producer| producer.claim(1))?;
        Ok(self.slot_at(position))
    }

    fn slot_at(&mut self, position: u64) -> WriteSlot<'_> {
        let body = self.ring.slots.body_mut(position);
        WriteSlot {
            producer: self,
            position,
            body,
            committed: false,
        }
    }

    /// Reserves up to `max` consecutive free slots, waiting up to `timeout` for
    /// at least one.
    ///
    /// # Errors
    /// As [`Producer::reserve`].
    pub fn reserve_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<WriteBatch<'_>, Error> {
        let (position, count) = if max == 0 {
            (0, 0)
        } else {
            block_on(self, timeout, |producer| producer.claim(max as u64))?
        };
        Ok(self.batch_at(position, count))
    }

    /// Copies `message` into the next slot and publishes it, waiting up to
    /// `timeout` for a free slot.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`] or [`Error::WrongMessageSize`] for a message
    /// the ring cannot carry; otherwise as [`Producer::reserve`].
    pub fn send(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<(), Error> {
        self.ring.check_len(message.len())?;
        let mut slot = self.reserve(timeout)?;
        slot[..message.len()].copy_from_slice(message);
        slot.commit(message.len())
    }

    /// How the blocking calls wait (the default is [`WaitStrategy::default`]).
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.sleeper.strategy()
    }

    /// Sets how the blocking calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.sleeper.set_strategy(strategy);
    }

    /// Whether every consumer that ever joined has closed or died (a fresh look).
    pub fn is_disconnected(&mut self) -> bool {
        self.consumers = RoleWatch::new(Role::Consumer);
        self.consumers.check(&self.ring.shared) == PeerState::Gone
    }
}

impl Blocking for Producer {
    fn shared(&self) -> &Shared {
        &self.ring.shared
    }
    fn sleeper(&self) -> &Sleeper {
        &self.sleeper
    }
    fn sleeper_mut(&mut self) -> &mut Sleeper {
        &mut self.sleeper
    }
    const WATCH_SEES_LEAVING: bool = false;
    fn look_at_peers_now(&mut self) {
        self.consumers = RoleWatch::new(Role::Consumer);
    }
    fn after_a_quiet_nap(&mut self) {
        self.cleaner.look_now();
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if self.ring.left_for_dead(self.membership.record()) {
            return;
        }
        self.sleeper.deregister();
        self.membership.leave(&self.ring.shared.region);
        // Consumers asleep on an empty ring wake to see whether we were the last.
        self.waker.wake_on_leave(&self.ring.shared);
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Producer").finish_non_exhaustive()
    }
}

/// A reserved MPMC slot, written in place. Dereferences to `max_payload` bytes.
///
/// Dropping it without [`commit`](WriteSlot::commit) hands the slot on marked to
/// be skipped: consumers never see it.
#[must_use = "a reserved slot publishes nothing unless committed"]
pub struct WriteSlot<'a> {
    producer: &'a mut Producer,
    position: u64,
    body: BodyMut,
    committed: bool,
}

impl WriteSlot<'_> {
    /// Publishes the first `len` bytes of the slot as one message.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`], or [`Error::WrongMessageSize`] in a ring of
    /// fixed-size messages; the slot is then handed on marked to be skipped.
    #[inline]
    pub fn commit(mut self, len: usize) -> Result<(), Error> {
        self.producer.ring.check_len(len)?;
        if !self.producer.ring.fixed_size {
            // SAFETY: the slot is claimed by this guard and not yet published.
            write_len(unsafe { self.body.bytes() }, len);
        }
        self.committed = true;
        self.body.end_access();
        self.producer.publish(self.position, false);
        self.producer.notify();
        Ok(())
    }
}

impl Drop for WriteSlot<'_> {
    #[inline]
    fn drop(&mut self) {
        if !self.committed {
            self.body.end_access();
            self.producer.publish(self.position, true);
            // Sleeping consumers wake to skip it and reach the slots after it.
            self.producer.notify();
        }
    }
}

impl Deref for WriteSlot<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the slot is claimed by this guard; only we touch it.
        unsafe { &self.body.bytes_shared()[self.producer.ring.len_field..] }
    }
}

impl DerefMut for WriteSlot<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: the slot is claimed by this guard; only we touch it.
        unsafe { &mut self.body.bytes()[self.producer.ring.len_field..] }
    }
}

/// Up to n consecutive claimed MPMC slots. Committing stores each slot's stamp
/// (MPMC slots are published one by one, in order); slots left uncommitted are
/// handed on marked to be skipped.
#[must_use = "reserved slots publish nothing unless committed"]
pub struct WriteBatch<'a> {
    producer: &'a mut Producer,
    position: u64,
    count: usize,
    /// Slots published (committed or skipped) so far, from the first.
    published: usize,
}

impl WriteBatch<'_> {
    /// Number of slots in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch holds no slot.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    #[inline]
    fn position_of(&self, index: usize) -> u64 {
        assert!(
            index < self.count,
            "slot {index} is outside a batch of {}",
            self.count
        );
        self.position.wrapping_add(index as u64)
    }

    /// The payload bytes of slot `index` (`max_payload` of them).
    ///
    /// # Panics
    /// If `index >= self.len()`.
    #[inline]
    pub fn slot_mut(&mut self, index: usize) -> &mut [u8] {
        let position = self.position_of(index);
        // SAFETY: the slot is reserved by this batch until it is published, and
        // the borrow of `self` keeps any other access through the batch away.
        unsafe { self.producer.ring.payload_mut(position) }
    }

    /// Sets the length of the message in slot `index` (0 until set).
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`], or [`Error::WrongMessageSize`] in a ring of
    /// fixed-size messages.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    #[inline]
    pub fn set_len(&mut self, index: usize, len: usize) -> Result<(), Error> {
        let position = self.position_of(index);
        // SAFETY: the slot is reserved by this batch until it is published.
        unsafe { self.producer.ring.set_slot_len(position, len) }
    }

    /// Copies `message` into slot `index` and sets its length.
    ///
    /// # Errors
    /// As [`WriteBatch::set_len`].
    ///
    /// # Panics
    /// If `index >= self.len()`.
    #[inline]
    pub fn write(&mut self, index: usize, message: &[u8]) -> Result<(), Error> {
        self.set_len(index, message.len())?;
        self.slot_mut(index)[..message.len()].copy_from_slice(message);
        Ok(())
    }

    /// Publishes every slot of the batch.
    #[inline]
    pub fn commit(self) {
        let count = self.count;
        self.commit_first(count);
    }

    /// Publishes the first `count` slots (at most the batch's length); the rest
    /// are handed on marked to be skipped.
    #[inline]
    pub fn commit_first(mut self, count: usize) {
        self.publish_all(count.min(self.count));
    }

    /// Publishes the first `committed` slots, marks the rest to be skipped, and
    /// wakes sleeping consumers once for the whole batch.
    #[inline]
    fn publish_all(&mut self, committed: usize) {
        for index in self.published..self.count {
            self.producer
                .publish(self.position.wrapping_add(index as u64), index >= committed);
        }
        if self.published < self.count {
            self.published = self.count;
            self.producer.notify();
        }
    }
}

impl Drop for WriteBatch<'_> {
    fn drop(&mut self) {
        self.publish_all(0);
    }
}

/// A reading end of an MPMC ring; any number may be joined, up to the ring's
/// participant limit. Each message goes to exactly one consumer.
///
/// `Send` but not `Sync`: methods take `&mut self`, so one borrowed message at a time.
pub struct Consumer {
    ring: Attached,
    producers: RoleWatch,
    /// A claimed message handed back unread by `try_recv` (its buffer was too
    /// small): the next read returns it.
    held: Option<u64>,
    /// Wakes producers sleeping on the space line after each release.
    waker: Waker,
    /// Sleeps on the data line in blocking calls.
    sleeper: Sleeper,
    /// The positions this consumer is claiming or holds, announced for recovery.
    intent: ClaimIntent,
    /// Turns the claims of producers that died before committing into skips.
    cleaner: Cleaner,
    membership: Membership,
}

// SAFETY: as for `Producer`.
unsafe impl Send for Consumer {}

/// What a consumer's claim attempt found.
enum Claimed {
    /// Consecutive committed messages from this position.
    Messages(u64, u64),
    /// A slot whose producer dropped its reservation (or died holding it);
    /// released, nothing to read.
    Skipped,
    /// Another consumer claimed the position first, or recovery moved its
    /// slot on: look again at `head`, which is now this.
    Lost(u64),
}

impl Consumer {
    /// Joins `ring` as one of its consumers.
    ///
    /// # Errors
    /// As [`Producer::join`].
    pub fn join(ring: &crate::Ring) -> Result<Consumer, Error> {
        let ring = Attached::new(Arc::clone(&ring.shared), Kind::Mpmc)?;
        let membership = Membership::claim_any(&ring.shared, Role::Consumer)?;
        count_join(&ring.shared, Role::Consumer);
        let region = &ring.shared.region;
        Ok(Consumer {
            producers: RoleWatch::new(Role::Producer),
            held: None,
            waker: Waker::new(region, Line::Space, membership.record()),
            sleeper: Sleeper::new(region, Line::Data, membership.record()),
            intent: ClaimIntent::new(&ring.shared, membership.record()),
            cleaner: Cleaner::new(Role::Producer),
            membership,
            ring,
        })
    }

    /// As [`Producer::die`]: the consumer stops holding whatever it claimed.
    #[cfg(loom)]
    pub fn die(self) {
        self.ring.shared.mark_dead(self.membership.record());
    }

    /// Largest message this ring carries.
    pub fn max_payload(&self) -> usize {
        self.ring.max_payload
    }

    /// Number of slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// Claims up to `wanted` consecutive committed messages (a slot to be
    /// skipped is claimed alone and released at once).
    #[inline]
    fn claim(&mut self, wanted: u64) -> Result<(u64, u64), Error> {
        if let Some(position) = self.held.take() {
            return Ok((position, 1));
        }
        // Whether a range was announced and not claimed (a lost race).
        let mut announced = false;
        let claimed = self.claim_announced(wanted, &mut announced);
        if claimed.is_err() && announced {
            self.intent.clear();
        }
        claimed
    }

    /// [`Consumer::claim`] of a new message, announcing each attempt first.
    #[inline]
    fn claim_announced(&mut self, wanted: u64, announced: &mut bool) -> Result<(u64, u64), Error> {
        let wanted = wanted.min(self.ring.capacity);
        // Ordering: Acquire, pairs with the AcqRel exchange of `head` in
        // `claim_once`, for the reason given in `Producer::claim_announced`:
        // the stamp of slot `head` then reads at least as what its claimer saw
        // one lap ago. Each retry takes `head` afresh in the same way.
        let mut head = self.ring.head_word().load(Ordering::Acquire);
        for _ in 0..MAX_ATTEMPTS {
            match self.claim_once(wanted, head, announced)? {
                Claimed::Messages(position, count) => return Ok((position, count)),
                Claimed::Skipped => {
                    // Ordering: Acquire, as the first load.
                    head = self.ring.head_word().load(Ordering::Acquire);
                }
                Claimed::Lost(now) => head = now,
            }
            spin_loop();
        }
        Err(Error::Empty)
    }

    /// One attempt at `head`.
    #[inline]
    fn claim_once(
        &mut self,
        wanted: u64,
        head: u64,
        announced: &mut bool,
    ) -> Result<Claimed, Error> {
        let ring = &self.ring;
        // Ordering: Acquire, pairs with the Release store in `Producer::publish`:
        // the committed message's bytes are visible once we see its stamp.
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
                if skip {
                    self.release_slots(head, 1);
                    return Ok(Claimed::Skipped);
                }
                Ok(Claimed::Messages(head, count))
            }
            behind if behind < 0 => {
                if behind < -(ring.capacity as i64) {
                    return Err(corrupt_stamp(head, stamp));
                }
                // Not yet committed: empty, as far as this consumer can tell
                // (or claimed by a producer that died; see there).
                self.empty_or_disconnected(head, stamp)
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

    /// Whether the slot of `head`, found with `stamp == head` (free, not
    /// committed), was claimed by a producer that died and is now marked to be
    /// skipped (by us or another consumer).
    #[inline]
    fn clean_after_producer(&mut self, head: u64, stamp: u64) -> bool {
        self.cleaner.on_stall(&self.ring, head, stamp)
    }

    /// `Empty`, `Disconnected`, or `Claimed::Lost(head)` to look again after
    /// recovery, for the slot of `head` found holding `stamp`, not committed.
    #[cold]
    fn empty_or_disconnected(&mut self, head: u64, stamp: u64) -> Result<Claimed, Error> {
        match self.producers.check(&self.ring.shared) {
            PeerState::NotYetJoined | PeerState::Present => {
                // Claimed by a producer that died: mark it to be skipped,
                // look again.
                if stamp == head && self.clean_after_producer(head, stamp) {
                    return Ok(Claimed::Lost(head));
                }
                Err(Error::Empty)
            }
            PeerState::Gone => {
                // A producer may have committed just before it left: look again.
                // Committed, or already taken by another consumer (our `head`
                // was stale and the ring moved on), is not drained: `Empty`,
                // try again.
                // Ordering: Acquire, as in `claim_once`.
                let stamp = self.ring.slots.stamp(head).load(Ordering::Acquire);
                if distance(stamp, head.wrapping_add(1)) >= 0 {
                    return Err(Error::Empty);
                }
                // Claimed but never committed, by a producer that is gone:
                // messages committed after it must still be delivered, so
                // recover it now rather than after the grace period.
                // Ordering: Acquire, pairs with the producers' exchanges of `tail`.
                let tail = self.ring.tail_word().load(Ordering::Acquire);
                if (tail.wrapping_sub(head) as i64) > 0 {
                    self.cleaner.look_now();
                    if stamp == head && self.clean_after_producer(head, stamp) {
                        return Ok(Claimed::Lost(head));
                    }
                    return Err(Error::Empty);
                }
                Err(Error::Disconnected)
            }
        }
    }

    /// Frees `count` slots from `position` for the producers of the next lap,
    /// and wakes sleeping producers, if any.
    #[inline]
    fn release_slots(&mut self, position: u64, count: u64) {
        for offset in 0..count {
            let slot = position.wrapping_add(offset);
            // Ordering: Release, pairs with the Acquire load of the stamp in
            // `Producer::claim`: our reads of the slot happen before its reuse.
            self.ring
                .slots
                .stamp(slot)
                .store(slot.wrapping_add(self.ring.capacity), Ordering::Release);
        }
        self.waker.notify(&self.ring.shared);
    }

    /// The length of the message at `position`, if within bounds.
    #[inline]
    fn message_len(&self, body: &BodyRef) -> Option<usize> {
        if self.ring.fixed_size {
            return Some(self.ring.max_payload);
        }
        // SAFETY: the slot is claimed by us and committed: ours to read.
        let len = read_len(unsafe { body.bytes() });
        (len <= self.ring.max_payload).then_some(len)
    }

    /// Releases a message whose length is out of bounds and reports it.
    #[cold]
    fn skip_corrupt(&mut self, position: u64, count: u64) -> Error {
        self.release_slots(position, count);
        Error::Corrupt {
            reason: format!(
                "message at position {position} claims a length above the maximum of {}; skipped",
                self.ring.max_payload
            ),
        }
    }

    /// Borrows the next message in place; dropping the guard releases its slot.
    ///
    /// # Errors
    /// [`Error::Empty`] when no message is committed at the head of the ring;
    /// [`Error::Disconnected`] when, in addition, every producer that ever joined
    /// has closed or died; [`Error::Corrupt`] for an impossible stamp, or a message
    /// length above `max_payload` (that message is skipped).
    #[inline]
    pub fn try_read(&mut self) -> Result<ReadSlot<'_>, Error> {
        let (position, _) = self.claim(1)?;
        self.slot_at(position)
    }

    /// The guard of the claimed message at `position`, if its length is sound.
    #[inline]
    fn slot_at(&mut self, position: u64) -> Result<ReadSlot<'_>, Error> {
        let body = self.ring.slots.body_ref(position);
        match self.message_len(&body) {
            Some(len) => Ok(ReadSlot {
                consumer: self,
                position,
                body,
                len,
            }),
            None => Err(self.skip_corrupt(position, 1)),
        }
    }

    /// Borrows up to `max` consecutive committed messages with one claim;
    /// dropping the batch releases them all.
    ///
    /// # Errors
    /// As [`Consumer::try_read`], when not even one message is committed (`max
    /// == 0` gives an empty batch). A batch holding a message with an impossible
    /// length is released and reported as [`Error::Corrupt`].
    #[inline]
    pub fn try_read_batch(&mut self, max: usize) -> Result<ReadBatch<'_>, Error> {
        let (position, count) = if max == 0 {
            (0, 0)
        } else {
            self.claim(max as u64)?
        };
        self.batch_at(position, count)
    }

    /// The batch of claimed messages from `position`, if every length is sound.
    #[inline]
    fn batch_at(&mut self, position: u64, count: u64) -> Result<ReadBatch<'_>, Error> {
        for offset in 0..count {
            let body = self.ring.slots.body_ref(position.wrapping_add(offset));
            if self.message_len(&body).is_none() {
                return Err(self.skip_corrupt(position, count));
            }
        }
        Ok(ReadBatch {
            consumer: self,
            position,
            count: count as usize,
        })
    }

    /// Copies the next message into `buffer` and releases its slot; returns its length.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] when the message does not fit; this consumer
    /// keeps it claimed and its next read returns it. Otherwise as
    /// [`Consumer::try_read`].
    #[inline]
    pub fn try_recv(&mut self, buffer: &mut [u8]) -> Result<usize, Error> {
        let mut message = self.try_read()?;
        let len = message.len();
        if len > buffer.len() {
            let position = message.position;
            // Kept claimed, not borrowed: under loom the access ends here.
            message.body.end_access();
            std::mem::forget(message);
            self.held = Some(position);
            return Err(Error::BufferTooSmall {
                needed: len,
                available: buffer.len(),
            });
        }
        buffer[..len].copy_from_slice(&message);
        Ok(len)
    }

    /// Borrows the next message in place, waiting up to `timeout` for one
    /// (`None`: as long as it takes), as the handle's [`WaitStrategy`] says.
    ///
    /// # Errors
    /// [`Error::Timeout`] when no message came in time; otherwise as
    /// [`Consumer::try_read`] (never [`Error::Empty`]).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use shmlane::{mpmc, Error, Ring, RingOptions};
    /// # let name = format!("doc-mpmc-read-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::mpmc(16, 64, 4))?;
    /// let mut consumer = mpmc::Consumer::join(&ring)?;
    /// let producer = mpmc::Producer::join(&ring)?;
    /// let timed_out = matches!(consumer.read(Some(Duration::from_millis(10))), Err(Error::Timeout));
    /// assert!(timed_out);
    /// drop(producer); // the last producer leaves: nothing more will come
    /// assert!(matches!(consumer.read(None), Err(Error::Disconnected)));
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn read(&mut self, timeout: Option<Duration>) -> Result<ReadSlot<'_>, Error> {
        let (position, _) = block_on(self, timeout, |consumer| consumer.claim(1))?;
        self.slot_at(position)
    }

    /// Borrows up to `max` consecutive messages, waiting up to `timeout` for at
    /// least one.
    ///
    /// # Errors
    /// As [`Consumer::read`].
    pub fn read_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<ReadBatch<'_>, Error> {
        let (position, count) = if max == 0 {
            (0, 0)
        } else {
            block_on(self, timeout, |consumer| consumer.claim(max as u64))?
        };
        self.batch_at(position, count)
    }

    /// Copies the next message into `buffer` and releases its slot, waiting up
    /// to `timeout` for one; returns its length.
    ///
    /// # Errors
    /// As [`Consumer::try_recv`] and [`Consumer::read`].
    pub fn recv(&mut self, buffer: &mut [u8], timeout: Option<Duration>) -> Result<usize, Error> {
        let (position, _) = block_on(self, timeout, |consumer| consumer.claim(1))?;
        // The claim is ours: hand it to `try_recv` as a held message.
        self.held = Some(position);
        self.try_recv(buffer)
    }

    /// How the blocking calls wait (the default is [`WaitStrategy::default`]).
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.sleeper.strategy()
    }

    /// Sets how the blocking calls wait.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.sleeper.set_strategy(strategy);
    }

    /// Whether every producer that ever joined has closed or died (a fresh look).
    pub fn is_disconnected(&mut self) -> bool {
        self.producers = RoleWatch::new(Role::Producer);
        self.producers.check(&self.ring.shared) == PeerState::Gone
    }
}

impl Blocking for Consumer {
    fn shared(&self) -> &Shared {
        &self.ring.shared
    }
    fn sleeper(&self) -> &Sleeper {
        &self.sleeper
    }
    fn sleeper_mut(&mut self) -> &mut Sleeper {
        &mut self.sleeper
    }
    const WATCH_SEES_LEAVING: bool = false;
    fn look_at_peers_now(&mut self) {
        self.producers = RoleWatch::new(Role::Producer);
    }
    fn after_a_quiet_nap(&mut self) {
        self.cleaner.look_now();
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.ring.left_for_dead(self.membership.record()) {
            return; // a held message is then lost to crash recovery
        }
        if let Some(position) = self.held.take() {
            self.release_slots(position, 1); // never read: lost with the consumer
        }
        self.sleeper.deregister();
        self.membership.leave(&self.ring.shared.region);
        // Producers asleep on a full ring wake to see whether we were the last.
        self.waker.wake_on_leave(&self.ring.shared);
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Consumer").finish_non_exhaustive()
    }
}

/// A message borrowed in place from an MPMC ring; dropping it releases the slot.
pub struct ReadSlot<'a> {
    consumer: &'a mut Consumer,
    position: u64,
    body: BodyRef,
    len: usize,
}

impl ReadSlot<'_> {
    /// Releases the slot now (the same as dropping the guard).
    pub fn release(self) {}
}

impl Deref for ReadSlot<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        let start = self.consumer.ring.len_field;
        // SAFETY: the slot is claimed by this guard and committed; `len` was
        // bounded by `max_payload` when the guard was made.
        unsafe { &self.body.bytes()[start..start + self.len] }
    }
}

impl Drop for ReadSlot<'_> {
    #[inline]
    fn drop(&mut self) {
        self.body.end_access();
        self.consumer.release_slots(self.position, 1);
    }
}

/// Up to n consecutive messages borrowed in place from an MPMC ring, released
/// together on drop.
pub struct ReadBatch<'a> {
    consumer: &'a mut Consumer,
    position: u64,
    count: usize,
}

impl ReadBatch<'_> {
    /// Number of messages in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch holds no message.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Message `index` of the batch.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    #[inline]
    pub fn get(&self, index: usize) -> &[u8] {
        assert!(
            index < self.count,
            "message {index} is outside a batch of {}",
            self.count
        );
        // SAFETY: the slot is published and stays unreleased while the batch,
        // and so this borrow of it, lives.
        unsafe {
            self.consumer
                .ring
                .message(self.position.wrapping_add(index as u64))
        }
    }

    /// The messages in order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.count).map(move |index| self.get(index))
    }

    /// Releases the batch now (the same as dropping it).
    pub fn release(self) {}
}

impl Drop for ReadBatch<'_> {
    #[inline]
    fn drop(&mut self) {
        self.consumer
            .release_slots(self.position, self.count as u64);
    }
}
