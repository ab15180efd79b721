//! The SPSC ring: one producer, one consumer, zero-copy.
//!
//! Algorithm: Lamport's single-producer single-consumer ring with positions that
//! only grow (`u64`, masked by `capacity - 1` to find a slot), as in rtrb and the
//! io_uring rings. The producer owns `tail` (the next position to write) and the
//! consumer owns `head` (the next position to read).
//!
//! Invariant: `0 <= tail - head <= capacity`. Slots `[head, tail)` hold published
//! messages and belong to the consumer; slots `[tail, head + capacity)` are free
//! and belong to the producer.
//!
//! Each side keeps a private cached copy of the other's position and re-reads it
//! (Acquire) only when the ring looks full or empty. Publishing is one Release
//! store of the own position, for one message or a whole batch: no atomic
//! read-modify-write and no allocation on the hot path. Values read from shared
//! memory (the other's position, message lengths) are bounded before use.
//! `docs/design.md` gives the full argument.

use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::time::Duration;

use crate::error::{Error, Role};
use crate::handle::{read_len, write_len, Attached};
use crate::layout::Kind;
use crate::participants::{Membership, PeerState, PeerWatch};
use crate::region::{BodyMut, BodyRef};
use crate::shm::Shared;
use crate::sync::{Arc, Ordering, PUBLISH};
use crate::wait::{block_on, Blocking, Line, Sleeper, WaitStrategy, Waker};

/// Participant record of the producer in an SPSC ring.
const PRODUCER_RECORD: u32 = 0;
/// Participant record of the consumer in an SPSC ring.
const CONSUMER_RECORD: u32 = 1;

/// Reads both positions and checks the SPSC invariant.
fn positions(ring: &Attached) -> Result<(u64, u64), Error> {
    // Ordering: Acquire on both, pairing with the Release stores in
    // `Producer::publish` and `Consumer::release`: a handle that takes over a
    // dead one's role sees everything published before the death.
    let head = ring.head_word().load(Ordering::Acquire);
    let tail = ring.tail_word().load(Ordering::Acquire);
    if tail.wrapping_sub(head) > ring.capacity {
        return Err(corrupt_positions(head, tail, ring.capacity));
    }
    Ok((head, tail))
}

fn corrupt_positions(head: u64, tail: u64, capacity: u64) -> Error {
    Error::Corrupt {
        reason: format!(
            "positions head {head} and tail {tail} are not within a capacity of {capacity}"
        ),
    }
}

/// The writing end of an SPSC ring.
///
/// `Send` but not `Sync`: methods take `&mut self`, so one reservation at a time.
///
/// # Examples
/// ```
/// use shmlane::{spsc, Ring, RingOptions};
/// # let name = format!("doc-producer-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::spsc(8, 64))?;
/// let mut producer = spsc::Producer::join(&ring)?;
/// let mut slot = producer.try_reserve()?;
/// slot[..5].copy_from_slice(b"hello");
/// slot.commit(5)?;
/// let mut consumer = spsc::Consumer::join(&ring)?;
/// assert_eq!(&*consumer.try_read()?, b"hello");
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
pub struct Producer {
    ring: Attached,
    /// Local copy of our own position: the next slot to write.
    tail: u64,
    /// Last `head` read from shared memory.
    cached_head: u64,
    consumer: PeerWatch,
    /// Wakes consumers sleeping on the data line after each publish.
    waker: Waker,
    /// Sleeps on the space line in blocking calls.
    sleeper: Sleeper,
    membership: Membership,
}

// SAFETY: the raw pointers point into the region kept alive by the `Arc`; all
// shared state is reached through atomics or slots owned by protocol, so the
// handle may move to another thread.
unsafe impl Send for Producer {}

impl Producer {
    /// Joins `ring` as its producer.
    ///
    /// If a previous producer died, this one takes over: it continues at the
    /// position the dead one last published; a message it had reserved but not
    /// committed is lost.
    ///
    /// # Errors
    /// [`Error::WrongKind`] on a ring that is not SPSC; [`Error::RoleTaken`] while
    /// another producer lives; [`Error::Corrupt`] if the positions are
    /// inconsistent; [`Error::Io`] if the liveness lock cannot be taken.
    pub fn join(ring: &crate::Ring) -> Result<Producer, Error> {
        Producer::attach(Arc::clone(&ring.shared))
    }

    pub(crate) fn attach(shared: Arc<Shared>) -> Result<Producer, Error> {
        let ring = Attached::new(shared, Kind::Spsc)?;
        let membership = Membership::claim(&ring.shared, PRODUCER_RECORD, Role::Producer)?;
        let region = &ring.shared.region;
        let mut producer = Producer {
            tail: 0,
            cached_head: 0,
            consumer: PeerWatch::new(CONSUMER_RECORD),
            waker: Waker::new(region, Line::Data, PRODUCER_RECORD),
            sleeper: Sleeper::new(region, Line::Space, PRODUCER_RECORD),
            membership,
            ring,
        };
        // On error the producer drops here and marks its record closed again.
        (producer.cached_head, producer.tail) = positions(&producer.ring)?;
        Ok(producer)
    }

    /// Largest message this ring carries.
    pub fn max_payload(&self) -> usize {
        self.ring.max_payload
    }

    /// Number of slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// Free slots as of the last look at the consumer's position (a lower bound).
    fn cached_free(&self) -> u64 {
        self.ring.capacity - self.tail.wrapping_sub(self.cached_head)
    }

    /// Re-reads the consumer's position; returns the free slots.
    #[cold]
    fn refresh_head(&mut self) -> Result<u64, Error> {
        // Ordering: Acquire, pairs with the Release store in `Consumer::release`:
        // the consumer is done with every slot before `head`, so we may reuse them.
        let head = self.ring.head_word().load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > self.ring.capacity {
            return Err(corrupt_positions(head, self.tail, self.ring.capacity));
        }
        self.cached_head = head;
        Ok(self.ring.capacity - used)
    }

    /// Makes sure at least one slot is free, re-reading the consumer's position
    /// if wanted; returns the free count.
    #[inline]
    fn free_slots(&mut self, wanted: u64) -> Result<u64, Error> {
        let free = self.cached_free();
        if free >= wanted {
            return Ok(free);
        }
        self.free_slots_refreshed()
    }

    /// The slow half of `free_slots`, out of line so that the fast half
    /// inlines into a small function.
    #[cold]
    #[inline(never)]
    fn free_slots_refreshed(&mut self) -> Result<u64, Error> {
        let free = self.refresh_head()?;
        if free > 0 {
            return Ok(free);
        }
        match self.consumer.check(&self.ring.shared) {
            PeerState::Gone => {
                // The consumer may have released slots just before it left.
                let free = self.refresh_head()?;
                if free > 0 {
                    Ok(free)
                } else {
                    Err(Error::Disconnected)
                }
            }
            PeerState::NotYetJoined | PeerState::Present => Err(Error::Full),
        }
    }

    /// Publishes `count` more slots with one store.
    #[inline]
    fn publish(&mut self, count: u64) {
        self.tail = self.tail.wrapping_add(count);
        // Ordering: Release, pairs with the Acquire load of tail in
        // `Consumer::refresh_tail`: the slot bytes written before this store are
        // visible to the consumer once it sees the new tail.
        self.ring.tail_word().store(self.tail, PUBLISH);
        self.waker.notify(&self.ring.shared);
    }

    /// Reserves the next slot for writing in place.
    ///
    /// The guard dereferences to the slot's `max_payload` bytes. Call
    /// [`WriteSlot::commit`] to publish; dropping the guard publishes nothing.
    ///
    /// # Errors
    /// [`Error::Full`] when no slot is free; [`Error::Disconnected`] when the ring
    /// is full and the consumer has closed or died; [`Error::Corrupt`] when the
    /// consumer's position in shared memory is impossible.
    #[inline]
    pub fn try_reserve(&mut self) -> Result<WriteSlot<'_>, Error> {
        self.free_slots(1)?;
        let body = self.ring.slots.body_mut(self.tail);
        Ok(WriteSlot {
            producer: self,
            body,
        })
    }

    /// Reserves up to `max` consecutive slots, to be published with one store.
    ///
    /// The batch may hold fewer than `max` slots (as many as are free), and its
    /// slots may wrap around the end of the ring; index them with
    /// [`WriteBatch::slot_mut`].
    ///
    /// # Errors
    /// As [`Producer::try_reserve`], when not even one slot is free (`max == 0`
    /// gives an empty batch).
    #[inline]
    pub fn try_reserve_batch(&mut self, max: usize) -> Result<WriteBatch<'_>, Error> {
        let count = if max == 0 {
            0
        } else {
            self.free_slots(max as u64)?.min(max as u64)
        };
        if !self.ring.fixed_size {
            for offset in 0..count {
                let mut body = self.ring.slots.body_mut(self.tail.wrapping_add(offset));
                // SAFETY: the slot is free, so it is ours until we publish it.
                write_len(unsafe { body.bytes() }, 0);
            }
        }
        Ok(WriteBatch {
            producer: self,
            count: count as usize,
        })
    }

    /// Copies `message` into the next slot and publishes it.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`] when `message` is longer than `max_payload`;
    /// otherwise as [`Producer::try_reserve`].
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
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use shmlane::{spsc, Ring, RingOptions, Error};
    /// # let name = format!("doc-reserve-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(2, 16))?;
    /// let mut producer = spsc::Producer::join(&ring)?;
    /// let _consumer = spsc::Consumer::join(&ring)?;
    /// producer.send(b"one", None)?;
    /// producer.send(b"two", None)?;
    /// // Full, and nobody reads: the wait ends at the timeout.
    /// let result = producer.reserve(Some(Duration::from_millis(10)));
    /// assert!(matches!(result, Err(Error::Timeout)));
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn reserve(&mut self, timeout: Option<Duration>) -> Result<WriteSlot<'_>, Error> {
        block_on(self, timeout, |producer| producer.free_slots(1))?;
        self.try_reserve()
    }

    /// Reserves up to `max` consecutive slots, waiting up to `timeout` for at
    /// least one to be free.
    ///
    /// # Errors
    /// As [`Producer::reserve`].
    pub fn reserve_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<WriteBatch<'_>, Error> {
        if max > 0 {
            block_on(self, timeout, |producer| producer.free_slots(1))?;
        }
        self.try_reserve_batch(max)
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

    /// Whether the consumer has closed or died (as of a fresh look at its lock).
    pub fn is_disconnected(&mut self) -> bool {
        self.consumer = PeerWatch::new(CONSUMER_RECORD);
        self.consumer.check(&self.ring.shared) == PeerState::Gone
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
    const WATCH_SEES_LEAVING: bool = true;
    fn look_at_peers_now(&mut self) {
        self.consumer = PeerWatch::new(CONSUMER_RECORD);
    }
    #[inline]
    fn may_be_ready(&self) -> bool {
        // Ordering: Relaxed; a hint only, the attempt that follows loads `head`
        // with Acquire.
        let head = self.ring.head_word().load(Ordering::Relaxed);
        head != self.cached_head
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if self.ring.left_for_dead(PRODUCER_RECORD) {
            return;
        }
        self.sleeper.deregister();
        self.membership.leave(&self.ring.shared.region);
        // A consumer asleep on an empty ring wakes to find us gone.
        self.waker.wake_on_leave(&self.ring.shared);
    }
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("tail", &self.tail)
            .field("cached_head", &self.cached_head)
            .finish_non_exhaustive()
    }
}

/// Zero-copy without a borrow guard, for callers that cannot hold a Rust
/// borrow across calls: the C API (`ffi/`). A raw pointer stands in for the
/// guard, and the caller keeps the rule the guard would: one reserved slot,
/// committed once. These are the guard paths minus the guard, so the C API's
/// single-message calls cost what the Rust ones do.
impl Producer {
    /// Reserves the next slot as [`Producer::try_reserve`] does, and returns a
    /// pointer to its `max_payload` payload bytes instead of a guard. The slot
    /// stays reserved until the producer next publishes, by any method;
    /// reserving again before that returns the same slot, and leaving it
    /// uncommitted publishes nothing. Writing through the pointer is sound for
    /// at most `max_payload` bytes, while the slot is reserved and the
    /// producer alive.
    ///
    /// # Errors
    /// As [`Producer::try_reserve`].
    #[inline]
    pub fn try_reserve_unguarded(&mut self) -> Result<NonNull<u8>, Error> {
        self.free_slots(1)?;
        // SAFETY: the slot at `tail` is free, so it is ours until we publish it.
        Ok(NonNull::from(unsafe { self.ring.payload_mut(self.tail) }).cast())
    }

    /// As [`Producer::try_reserve_unguarded`], waiting up to `timeout` as
    /// [`Producer::reserve`] does.
    ///
    /// # Errors
    /// As [`Producer::reserve`].
    pub fn reserve_unguarded(&mut self, timeout: Option<Duration>) -> Result<NonNull<u8>, Error> {
        block_on(self, timeout, |producer| producer.free_slots(1))?;
        self.try_reserve_unguarded()
    }

    /// Publishes the first `len` bytes of the slot reserved by
    /// [`Producer::try_reserve_unguarded`] as one message.
    ///
    /// # Errors
    /// As [`WriteSlot::commit`]; the slot then stays reserved and unpublished.
    ///
    /// # Safety
    /// A slot was reserved by `try_reserve_unguarded` or `reserve_unguarded`
    /// since the producer last published by any method (a commit, a send, a
    /// batch), and nothing writes its bytes any more: once published, they
    /// belong to the consumer.
    #[inline]
    pub unsafe fn commit_unguarded(&mut self, len: usize) -> Result<(), Error> {
        debug_assert!(
            self.cached_free() >= 1,
            "commit_unguarded without a reserved slot"
        );
        // SAFETY: by the caller's contract the slot at `tail` is reserved and unpublished.
        unsafe { self.ring.set_slot_len(self.tail, len)? };
        self.publish(1);
        Ok(())
    }
}

impl Consumer {
    /// Borrows the next message as [`Consumer::try_read`] does, and returns a
    /// pointer to its bytes and its length instead of a guard. The message
    /// stays borrowed until the consumer next releases, by any method;
    /// reading again before that returns the same message. Reading through
    /// the pointer is sound for the returned length, while the message is
    /// borrowed and the consumer alive.
    ///
    /// # Errors
    /// As [`Consumer::try_read`].
    #[inline]
    pub fn try_read_unguarded(&mut self) -> Result<(NonNull<u8>, usize), Error> {
        let (body, len) = self.next_message()?;
        // SAFETY: the slot is published and not released: ours to read.
        let message = unsafe { &body.bytes()[self.ring.len_field..] };
        Ok((NonNull::from(message).cast(), len))
    }

    /// As [`Consumer::try_read_unguarded`], waiting up to `timeout` as
    /// [`Consumer::read`] does.
    ///
    /// # Errors
    /// As [`Consumer::read`].
    pub fn read_unguarded(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<(NonNull<u8>, usize), Error> {
        block_on(self, timeout, |consumer| consumer.available(1))?;
        self.try_read_unguarded()
    }

    /// Releases the message borrowed by [`Consumer::try_read_unguarded`].
    ///
    /// # Safety
    /// A message was borrowed by `try_read_unguarded` or `read_unguarded`
    /// since the consumer last released by any method (a release, a receive,
    /// a batch), and nothing reads its bytes any more: once released, the
    /// producer reuses the slot.
    #[inline]
    pub unsafe fn release_unguarded(&mut self) {
        debug_assert!(
            self.cached_tail != self.head,
            "release_unguarded without a borrowed message"
        );
        self.release(1);
    }
}

/// A reserved slot, written in place. Dereferences to `max_payload` bytes.
///
/// Dropping it without [`commit`](WriteSlot::commit) publishes nothing.
#[must_use = "a reserved slot publishes nothing unless committed"]
pub struct WriteSlot<'a> {
    producer: &'a mut Producer,
    body: BodyMut,
}

impl WriteSlot<'_> {
    /// Publishes the first `len` bytes of the slot as one message.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`] when `len > max_payload`, or
    /// [`Error::WrongMessageSize`] when the ring carries fixed-size messages and
    /// `len != max_payload`; nothing is published.
    #[inline]
    pub fn commit(mut self, len: usize) -> Result<(), Error> {
        self.producer.ring.check_len(len)?;
        if !self.producer.ring.fixed_size {
            // SAFETY: the slot is reserved by this guard and not yet published.
            write_len(unsafe { self.body.bytes() }, len);
        }
        self.body.end_access();
        self.producer.publish(1);
        Ok(())
    }
}

impl Deref for WriteSlot<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the slot is reserved by this guard; only we touch it.
        unsafe { &self.body.bytes_shared()[self.producer.ring.len_field..] }
    }
}

impl DerefMut for WriteSlot<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: the slot is reserved by this guard; only we touch it.
        unsafe { &mut self.body.bytes()[self.producer.ring.len_field..] }
    }
}

/// Up to n reserved slots, published together with one position store.
#[must_use = "reserved slots publish nothing unless committed"]
pub struct WriteBatch<'a> {
    producer: &'a mut Producer,
    count: usize,
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
        self.producer.tail.wrapping_add(index as u64)
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
    /// [`Error::MessageTooLarge`] when `len > max_payload`;
    /// [`Error::WrongMessageSize`] when the ring carries fixed-size messages and
    /// `len != max_payload` (their length needs no setting).
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

    /// Publishes every slot of the batch with one store.
    #[inline]
    pub fn commit(self) {
        let count = self.count as u64;
        self.producer.publish(count);
    }

    /// Publishes the first `count` slots (at most the batch's length) with one
    /// store; the rest are given back unpublished.
    #[inline]
    pub fn commit_first(self, count: usize) {
        let count = count.min(self.count) as u64;
        self.producer.publish(count);
    }
}

/// The reading end of an SPSC ring.
///
/// `Send` but not `Sync`: methods take `&mut self`, so one borrowed message at a time.
pub struct Consumer {
    ring: Attached,
    /// Local copy of our own position: the next slot to read.
    head: u64,
    /// Last `tail` read from shared memory.
    cached_tail: u64,
    producer: PeerWatch,
    /// Wakes producers sleeping on the space line after each release.
    waker: Waker,
    /// Sleeps on the data line in blocking calls.
    sleeper: Sleeper,
    membership: Membership,
}

// SAFETY: as for `Producer`: the pointers target the region kept alive by the
// `Arc`, and shared state is reached through atomics or protocol-owned slots.
unsafe impl Send for Consumer {}

impl Consumer {
    /// Joins `ring` as its consumer.
    ///
    /// If a previous consumer died, this one takes over at the position the dead
    /// one last released: a message it was reading is delivered again.
    ///
    /// # Errors
    /// [`Error::WrongKind`] on a ring that is not SPSC; [`Error::RoleTaken`] while
    /// another consumer lives; [`Error::Corrupt`] if the positions are
    /// inconsistent; [`Error::Io`] if the liveness lock cannot be taken.
    pub fn join(ring: &crate::Ring) -> Result<Consumer, Error> {
        Consumer::attach(Arc::clone(&ring.shared))
    }

    pub(crate) fn attach(shared: Arc<Shared>) -> Result<Consumer, Error> {
        let ring = Attached::new(shared, Kind::Spsc)?;
        let membership = Membership::claim(&ring.shared, CONSUMER_RECORD, Role::Consumer)?;
        let region = &ring.shared.region;
        let mut consumer = Consumer {
            head: 0,
            cached_tail: 0,
            producer: PeerWatch::new(PRODUCER_RECORD),
            waker: Waker::new(region, Line::Space, CONSUMER_RECORD),
            sleeper: Sleeper::new(region, Line::Data, CONSUMER_RECORD),
            membership,
            ring,
        };
        // On error the consumer drops here and marks its record closed again.
        (consumer.head, consumer.cached_tail) = positions(&consumer.ring)?;
        Ok(consumer)
    }

    /// Largest message this ring carries.
    pub fn max_payload(&self) -> usize {
        self.ring.max_payload
    }

    /// Number of slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// Re-reads the producer's position; returns the published count.
    #[cold]
    fn refresh_tail(&mut self) -> Result<u64, Error> {
        // Ordering: Acquire, pairs with the Release store in `Producer::publish`:
        // the bytes of every slot before `tail` are visible to us.
        let tail = self.ring.tail_word().load(Ordering::Acquire);
        let available = tail.wrapping_sub(self.head);
        if available > self.ring.capacity {
            return Err(corrupt_positions(self.head, tail, self.ring.capacity));
        }
        self.cached_tail = tail;
        Ok(available)
    }

    /// Makes sure at least one message is published, re-reading the producer's
    /// position if fewer than `wanted` are known; returns the published count.
    #[inline]
    fn available(&mut self, wanted: u64) -> Result<u64, Error> {
        let available = self.cached_tail.wrapping_sub(self.head);
        if available >= wanted {
            return Ok(available);
        }
        self.available_refreshed()
    }

    /// The slow half of `available`, out of line so that the fast half
    /// inlines into a small function.
    #[cold]
    #[inline(never)]
    fn available_refreshed(&mut self) -> Result<u64, Error> {
        let available = self.refresh_tail()?;
        if available > 0 {
            return Ok(available);
        }
        match self.producer.check(&self.ring.shared) {
            PeerState::Gone => {
                // Drain what the producer published before it left.
                let available = self.refresh_tail()?;
                if available > 0 {
                    Ok(available)
                } else {
                    Err(Error::Disconnected)
                }
            }
            PeerState::NotYetJoined | PeerState::Present => Err(Error::Empty),
        }
    }

    /// Releases `count` slots to the producer with one store.
    #[inline]
    fn release(&mut self, count: u64) {
        self.head = self.head.wrapping_add(count);
        // Ordering: Release, pairs with the Acquire load of head in
        // `Producer::refresh_head`: our reads of the slots happen before the
        // producer reuses them.
        self.ring.head_word().store(self.head, Ordering::Release);
        self.waker.notify(&self.ring.shared);
    }

    /// The message at `position` with its length bounded, or `None` if the
    /// length in shared memory exceeds `max_payload`.
    #[inline]
    fn message_at(&self, position: u64) -> Option<(BodyRef, usize)> {
        let body = self.ring.slots.body_ref(position);
        if self.ring.fixed_size {
            return Some((body, self.ring.max_payload));
        }
        // SAFETY: the slot is published and not yet released: ours to read.
        let len = read_len(unsafe { body.bytes() });
        (len <= self.ring.max_payload).then_some((body, len))
    }

    /// Skips a message whose length is out of bounds and reports it.
    #[cold]
    fn skip_corrupt(&mut self) -> Error {
        let position = self.head;
        self.release(1);
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
    /// [`Error::Empty`] when no message is published; [`Error::Disconnected`]
    /// when the ring is drained and the producer has closed or died;
    /// [`Error::Corrupt`] when shared memory holds an impossible position, or a
    /// message length above `max_payload` (that message is skipped).
    #[inline]
    pub fn try_read(&mut self) -> Result<ReadSlot<'_>, Error> {
        let (body, len) = self.next_message()?;
        Ok(ReadSlot {
            consumer: self,
            body,
            len,
        })
    }

    /// The message at `head`, if one is published; one with an impossible
    /// length is skipped and reported.
    #[inline]
    fn next_message(&mut self) -> Result<(BodyRef, usize), Error> {
        self.available(1)?;
        match self.message_at(self.head) {
            Some(message) => Ok(message),
            None => Err(self.skip_corrupt()),
        }
    }

    /// Borrows up to `max` published messages; dropping the batch releases them
    /// all with one store.
    ///
    /// # Errors
    /// As [`Consumer::try_read`], when not even one message is published (`max ==
    /// 0` gives an empty batch). A message with an impossible length ends the
    /// batch before it; the next call reports and skips it.
    #[inline]
    pub fn try_read_batch(&mut self, max: usize) -> Result<ReadBatch<'_>, Error> {
        if max == 0 {
            return Ok(ReadBatch {
                consumer: self,
                count: 0,
            });
        }
        let available = self.available(max as u64)?.min(max as u64);
        let mut count = available;
        if !self.ring.fixed_size {
            count = 0;
            while count < available && self.message_at(self.head.wrapping_add(count)).is_some() {
                count += 1;
            }
        }
        if count == 0 {
            return Err(self.skip_corrupt());
        }
        Ok(ReadBatch {
            consumer: self,
            count: count as usize,
        })
    }

    /// Copies the next message into `buffer` and releases its slot; returns its length.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] when the message does not fit (it stays in the
    /// ring); otherwise as [`Consumer::try_read`].
    #[inline]
    pub fn try_recv(&mut self, buffer: &mut [u8]) -> Result<usize, Error> {
        let message = self.try_read()?;
        let len = message.len();
        if len > buffer.len() {
            let available = buffer.len();
            message.keep();
            return Err(Error::BufferTooSmall {
                needed: len,
                available,
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
    /// use shmlane::{spsc, Ring, RingOptions, WaitStrategy};
    /// # let name = format!("doc-read-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(64, 64))?;
    /// let mut consumer = spsc::Consumer::join(&ring)?;
    /// consumer.set_wait_strategy(WaitStrategy::sleeping());
    /// let writer = std::thread::spawn({
    ///     let ring = ring.clone();
    ///     move || {
    ///         let mut producer = spsc::Producer::join(&ring)?;
    ///         std::thread::sleep(Duration::from_millis(20));
    ///         producer.send(b"late", None)
    ///     }
    /// });
    /// let message = consumer.read(Some(Duration::from_secs(10)))?; // sleeps until it comes
    /// assert_eq!(&*message, b"late");
    /// # drop(message);
    /// # writer.join().unwrap()?;
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn read(&mut self, timeout: Option<Duration>) -> Result<ReadSlot<'_>, Error> {
        block_on(self, timeout, |consumer| consumer.available(1))?;
        self.try_read()
    }

    /// Borrows up to `max` messages, waiting up to `timeout` for at least one.
    ///
    /// # Errors
    /// As [`Consumer::read`].
    pub fn read_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<ReadBatch<'_>, Error> {
        if max > 0 {
            block_on(self, timeout, |consumer| consumer.available(1))?;
        }
        self.try_read_batch(max)
    }

    /// Copies the next message into `buffer` and releases its slot, waiting up
    /// to `timeout` for one; returns its length.
    ///
    /// # Errors
    /// As [`Consumer::try_recv`] and [`Consumer::read`].
    pub fn recv(&mut self, buffer: &mut [u8], timeout: Option<Duration>) -> Result<usize, Error> {
        block_on(self, timeout, |consumer| consumer.available(1))?;
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

    /// Whether the producer has closed or died (as of a fresh look at its lock).
    pub fn is_disconnected(&mut self) -> bool {
        self.producer = PeerWatch::new(PRODUCER_RECORD);
        self.producer.check(&self.ring.shared) == PeerState::Gone
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
    const WATCH_SEES_LEAVING: bool = true;
    fn look_at_peers_now(&mut self) {
        self.producer = PeerWatch::new(PRODUCER_RECORD);
    }
    #[inline]
    fn may_be_ready(&self) -> bool {
        // The slot we wait for: its cache miss then overlaps that of `tail`.
        self.ring.slots.prefetch(self.head);
        // Ordering: Relaxed; a hint only, the attempt that follows loads `tail`
        // with Acquire.
        let tail = self.ring.tail_word().load(Ordering::Relaxed);
        tail != self.cached_tail
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.ring.left_for_dead(CONSUMER_RECORD) {
            return;
        }
        self.sleeper.deregister();
        self.membership.leave(&self.ring.shared.region);
        // A producer asleep on a full ring wakes to find us gone.
        self.waker.wake_on_leave(&self.ring.shared);
    }
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.head)
            .field("cached_tail", &self.cached_tail)
            .finish_non_exhaustive()
    }
}

/// A message borrowed in place. Dereferences to its bytes; dropping it releases
/// the slot to the producer.
pub struct ReadSlot<'a> {
    consumer: &'a mut Consumer,
    body: BodyRef,
    len: usize,
}

impl ReadSlot<'_> {
    /// Releases the slot now (the same as dropping the guard).
    pub fn release(self) {}

    /// Gives the message back unreleased: the next read returns it again.
    fn keep(self) {
        std::mem::forget(self);
    }
}

impl Deref for ReadSlot<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the slot is published and not released while this guard lives;
        // `len` was bounded by `max_payload` when the guard was made.
        let start = self.consumer.ring.len_field;
        // SAFETY: as above.
        unsafe { &self.body.bytes()[start..start + self.len] }
    }
}

impl Drop for ReadSlot<'_> {
    #[inline]
    fn drop(&mut self) {
        self.body.end_access();
        self.consumer.release(1);
    }
}

#[cfg(not(loom))]
impl WriteBatch<'_> {
    /// In a ring of fixed-size messages, the batch's payloads as two contiguous
    /// byte runs: the slots up to the end of the ring, then those from its
    /// start (empty unless the batch wraps). Each run is a whole number of
    /// messages of `max_payload` bytes, in order. `None` for rings of
    /// variable-length messages, whose slots carry a length field between payloads.
    ///
    /// # Examples
    /// ```
    /// use shmlane::{spsc, Ring, RingOptions};
    /// # let name = format!("doc-runs-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc_fixed(8, 8))?;
    /// let mut producer = spsc::Producer::join(&ring)?;
    /// let mut batch = producer.try_reserve_batch(3)?;
    /// let (first, second) = batch.as_mut_slices().expect("fixed-size ring");
    /// assert_eq!(first.len() + second.len(), 3 * 8);
    /// for (i, record) in first.chunks_exact_mut(8).chain(second.chunks_exact_mut(8)).enumerate() {
    ///     record.copy_from_slice(&(i as u64).to_le_bytes());
    /// }
    /// batch.commit();
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    #[inline]
    pub fn as_mut_slices(&mut self) -> Option<(&mut [u8], &mut [u8])> {
        let ring = &self.producer.ring;
        if !ring.fixed_size {
            return None;
        }
        let [(first, first_len), (second, second_len)] =
            ring.slots.runs(self.producer.tail, self.count);
        // SAFETY: the runs cover exactly the batch's slots, which are reserved by
        // this batch, do not overlap, and hold only payload in a fixed-size ring;
        // the borrow of `self` keeps other access through the batch away.
        unsafe {
            Some((
                std::slice::from_raw_parts_mut(first, first_len),
                std::slice::from_raw_parts_mut(second, second_len),
            ))
        }
    }
}

/// Up to n messages borrowed in place, released together with one store on drop.
pub struct ReadBatch<'a> {
    consumer: &'a mut Consumer,
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
                .message(self.consumer.head.wrapping_add(index as u64))
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

#[cfg(not(loom))]
impl ReadBatch<'_> {
    /// In a ring of fixed-size messages, the batch's messages as two contiguous
    /// byte runs (see [`WriteBatch::as_mut_slices`]); `None` for rings of
    /// variable-length messages.
    #[inline]
    pub fn as_slices(&self) -> Option<(&[u8], &[u8])> {
        let ring = &self.consumer.ring;
        if !ring.fixed_size {
            return None;
        }
        let [(first, first_len), (second, second_len)] =
            ring.slots.runs(self.consumer.head, self.count);
        // SAFETY: the runs cover exactly the batch's published slots, which hold
        // only payload in a fixed-size ring and stay unreleased while the batch lives.
        unsafe {
            Some((
                std::slice::from_raw_parts(first, first_len),
                std::slice::from_raw_parts(second, second_len),
            ))
        }
    }
}

impl Drop for ReadBatch<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.count > 0 {
            self.consumer.release(self.count as u64);
        }
    }
}
