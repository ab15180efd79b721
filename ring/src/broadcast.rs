//! The broadcast kind: one producer, many subscribers, every message to every
//! subscriber, from one copy of it in the slots.
//!
//! As Aeron's IPC publications and the Disruptor's gating sequences: the
//! producer owns `tail`, each subscriber its own `cursor` in its participant
//! record. The producer of a ring with *tethered* subscribers overwrites a
//! slot only once every live one has released it; it keeps a cached minimum
//! of their cursors (its *limit*) and rescans the participant table only when
//! that runs out, never per message. A dead subscriber stops holding it back
//! once its record's lock says so; while no tethered subscriber is joined the
//! producer never waits, and overwrites the oldest message. Joining is a
//! Dekker pair between the producer's `gate` and the newcomer's record. The
//! normative steps and orderings: `docs/layout.md#broadcast`.
//!
//! A subscriber chooses at join: a [`Subscriber`] is tethered (lossless, and
//! reads in place like any consumer); an [`Untethered`] one never holds the
//! producer back, copies each message out and validates it by the slot's
//! stamp, and is told how many messages it lost when it was lapped.
//!
//! # Examples
//! ```
//! use shmlane::{broadcast, Ring, RingOptions};
//! # let name = format!("doc-broadcast-{}", std::process::id());
//! let ring = Ring::create(&name, &RingOptions::broadcast(16, 64, 2))?;
//! let mut producer = broadcast::Producer::join(&ring)?;
//! let mut controller = broadcast::Subscriber::join(&ring)?;
//! let mut logger = broadcast::Subscriber::join(&ring)?;
//! assert!(producer.try_send(b"reading 1")?);
//! assert_eq!(&*controller.try_read()?.expect("a message"), b"reading 1");
//! assert_eq!(&*logger.try_read()?.expect("the same message"), b"reading 1");
//! # shmlane::remove(&name)?;
//! # Ok::<(), shmlane::Error>(())
//! ```

// The kind's halves are public types of a private module, reached only
// through the sealed `Protocol`; the crate types in their methods stay
// crate-private, which no caller outside can name or call.
#![allow(private_interfaces, private_bounds)]

use std::ptr::NonNull;

use crate::attached::Attached;
use crate::endpoint::Endpoint;
use crate::error::{Error, Role};
use crate::handle::{Handle, Reading};
use crate::layout::{
    self, owner_parts, Kind, Overflow, ROLE_CONSUMER, STAMP_WRITING, STATE_ACTIVE,
};
use crate::participants::{count_join, Membership, PeerState, PeerWatch, RoleWatch};
use crate::protocol::{kind, Claim, ReadSide, Side, WaitHooks, WriteSide};
use crate::region::Region;
use crate::shm::Shared;
use crate::sync::{fence, Arc, AtomicU64, Ordering, PUBLISH};
use crate::wait::Waker;
#[cfg(not(loom))]
use crate::wait::{block_on, Blocking, Sleeper, WaitStrategy};

kind!(
    /// The broadcast kind, the type parameter of [`Producer`] and [`Subscriber`].
    Broadcast,
    Some(Kind::Broadcast),
    "a broadcast ring",
    BroadcastWriter,
    BroadcastReader
);

/// The reading end of a broadcast ring: a subscriber, which sees every
/// message the producer publishes after it joined (or, joined with
/// [`Start::Oldest`], every message still in the ring).
pub type Subscriber = Consumer;

/// The participant record of the one producer of a broadcast ring; records
/// 1 and up are the subscribers'.
const PRODUCER_RECORD: u32 = 0;

/// Where a new subscriber starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Start {
    /// At the next message the producer publishes.
    #[default]
    Newest,
    /// At the oldest message the ring still holds: at most `capacity`
    /// messages published before the join.
    Oldest,
}

/// Whether position `a` is past position `b` (wrapping arithmetic).
#[inline(always)]
fn is_past(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) > 0
}

/// Loads `gate`, then `tail`, and checks that the gate is not past the tail.
///
/// The producer may go on meanwhile, so the tail may be more than a capacity
/// past the gate loaded before it; only a producer joining (no other
/// producer runs) can also check that bound.
fn gate_and_tail(ring: &Attached) -> Result<(u64, u64), Error> {
    // Ordering: Acquire, pairs with the Release store in
    // `BroadcastWriter::regate`: the tail loaded next is at least the one the
    // producer had stored when it computed this gate.
    let gate = gate_word(ring).load(Ordering::Acquire);
    // Ordering: Acquire, pairs with the Release store of tail in
    // `BroadcastWriter::publish` (a previous producer's, for a producer).
    let tail = ring.tail_word().load(Ordering::Acquire);
    if is_past(gate, tail) {
        return Err(corrupt_gate(gate, tail, ring.capacity));
    }
    Ok((gate, tail))
}

#[cold]
fn corrupt_gate(gate: u64, tail: u64, capacity: u64) -> Error {
    Error::corrupt(format!(
        "broadcast gate {gate} and tail {tail} are not within a capacity of {capacity}"
    ))
}

fn gate_word(ring: &Attached) -> &AtomicU64 {
    ring.shared.region.u64_at(layout::GATE_OFFSET)
}

#[cold]
fn corrupt_cursor(record: u32, cursor: u64, tail: u64) -> Error {
    Error::corrupt(format!(
        "subscriber record {record} has cursor {cursor}, past the producer's tail {tail}"
    ))
}

/// A broadcast producer's state.
#[doc(hidden)]
pub struct BroadcastWriter {
    /// Local copy of our own position: the next slot to write.
    tail: u64,
    /// We may write positions below `limit + capacity`: no live tethered
    /// subscriber is before `limit`, as of the last gating scan.
    limit: u64,
    /// The gate we last stored: positions at or past it stay unwritten until
    /// the next gating scan.
    gate: u64,
    /// One watch per subscriber record (record `index + 1`), testing the
    /// lock of a subscriber that holds us back, at most once a millisecond.
    subscribers: Vec<PeerWatch>,
    /// Whether every subscriber that ever joined is gone.
    anyone: RoleWatch,
    /// A ring made to overwrite: no subscriber ever holds us back.
    overwrite: bool,
}

impl std::fmt::Debug for BroadcastWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastWriter")
            .field("tail", &self.tail)
            .field("limit", &self.limit)
            .field("gate", &self.gate)
            .finish_non_exhaustive()
    }
}

impl BroadcastWriter {
    /// One pass over the subscriber records (gating G1, G4): the least cursor
    /// of a live tethered subscriber at or past `limit`, or `tail` if none.
    fn scan(&mut self, ring: &Attached) -> Result<u64, Error> {
        let region = &ring.shared.region;
        let geometry = region.geometry();
        let mut least = self.tail;
        for record in 1..geometry.participant_count {
            let offset = geometry.record_offset(record);
            // Ordering: Acquire, pairs with the AcqRel owner exchange of
            // `claim_owner_word` (record claim 5), which published the
            // subscription and first cursor, and with the Release of
            // `Membership::leave`.
            let word = region
                .u64_at(offset + layout::RECORD_OWNER)
                .load(Ordering::Acquire);
            let (_, role, state) = owner_parts(word);
            if state != STATE_ACTIVE || role != ROLE_CONSUMER {
                continue;
            }
            // Ordering: Relaxed, ordered by the Acquire owner load above.
            let subscription = region
                .u32_at(offset + layout::RECORD_SUBSCRIPTION)
                .load(Ordering::Relaxed);
            if subscription != layout::SUBSCRIPTION_TETHERED {
                continue;
            }
            // Ordering: Acquire, pairs with the Release store in
            // `BroadcastReader::release`: the subscriber's reads of every slot
            // before its cursor happen before we overwrite them.
            let cursor = region
                .u64_at(offset + layout::RECORD_CURSOR)
                .load(Ordering::Acquire);
            if is_past(cursor, self.tail) {
                return Err(corrupt_cursor(record, cursor, self.tail));
            }
            // Before our limit: a subscriber still joining, which moves its
            // cursor to at least the gate (join 3); it holds nothing of ours.
            if is_past(self.limit, cursor) || !is_past(least, cursor) {
                continue;
            }
            let watch = &mut self.subscribers[record as usize - 1];
            if watch.check(&ring.shared) == PeerState::Present {
                least = cursor;
            }
        }
        Ok(least)
    }

    /// The gating scan (G1–G4): moves `gate` and `limit` on as far as the
    /// live tethered subscribers allow.
    #[cold]
    #[inline(never)]
    fn regate(&mut self, ring: &Attached) -> Result<(), Error> {
        if self.overwrite {
            // No tethered subscriber can join (subscriber join 0): every slot
            // is ours to overwrite, the oldest first.
            self.limit = self.tail;
            return Ok(());
        }
        let least = self.scan(ring)?;
        if is_past(least, self.gate) {
            self.gate = least;
            // Ordering: Release, pairs with the Acquire load in
            // `gate_and_tail`: a subscriber that sees this gate sees our tail.
            // The SeqCst fence below orders it before our second scan and
            // pairs with the fence of `BroadcastReader::joined` (join 2): a
            // subscriber our second scan misses sees this gate.
            gate_word(ring).store(least, Ordering::Release);
        }
        // Ordering: SeqCst fence, a Dekker pair with the one in
        // `BroadcastReader::joined`: either the scan below sees a newcomer's
        // record, or the newcomer's load of `gate` after its fence sees ours.
        fence(Ordering::SeqCst);
        let least = self.scan(ring)?;
        // Both are at or past the old limit; the nearer one is the new limit.
        self.limit = if is_past(self.gate, least) {
            least
        } else {
            self.gate
        };
        Ok(())
    }

    #[inline(always)]
    fn free(&self, ring: &Attached) -> u64 {
        ring.capacity - self.tail.wrapping_sub(self.limit)
    }
}

impl WaitHooks for BroadcastWriter {
    fn watch_sees_leaving(&self) -> bool {
        // A subscriber that closes its record is skipped at the next scan.
        true
    }
    fn look_at_peers_now(&mut self) {
        for (index, watch) in self.subscribers.iter_mut().enumerate() {
            *watch = PeerWatch::new(index as u32 + 1);
        }
        self.anyone = RoleWatch::new(Role::Consumer);
    }
    fn peers_gone(&mut self, ring: &Attached) -> bool {
        self.anyone = RoleWatch::new(Role::Consumer);
        self.anyone.check(&ring.shared) == PeerState::Gone
    }
}

impl Side for BroadcastWriter {
    fn claim_record(shared: &Arc<Shared>) -> Result<Membership, Error> {
        let membership = Membership::claim(shared, PRODUCER_RECORD, Role::Producer)?;
        count_join(shared, Role::Producer);
        Ok(membership)
    }

    fn new(ring: &Attached, _record: u32) -> Result<BroadcastWriter, Error> {
        let (gate, tail) = gate_and_tail(ring)?;
        if tail.wrapping_sub(gate) > ring.capacity {
            return Err(corrupt_gate(gate, tail, ring.capacity));
        }
        let count = ring.shared.region.geometry().participant_count;
        Ok(BroadcastWriter {
            tail,
            // A previous producer's limit may have been below its gate (a
            // subscriber its second scan found): nothing is known to be free
            // until our own first gating scan, which the first claim makes.
            limit: tail.wrapping_sub(ring.capacity),
            gate,
            subscribers: (1..count).map(PeerWatch::new).collect(),
            anyone: RoleWatch::new(Role::Consumer),
            overwrite: ring.shared.region.geometry().overflow == Overflow::Overwrite,
        })
    }
}

impl WriteSide for BroadcastWriter {
    #[inline(always)]
    fn claim(&mut self, ring: &Attached, wanted: u64) -> Result<Option<Claim>, Error> {
        let mut free = self.free(ring);
        if free < wanted {
            self.regate(ring)?;
            free = self.free(ring);
            if free == 0 {
                return Ok(None);
            }
        }
        let claim = Claim {
            position: self.tail,
            count: free.min(wanted),
        };
        for index in 0..claim.count {
            let position = claim.at(index);
            // Ordering: Relaxed, ordered before our writes of the slot by the
            // Release fence below.
            ring.slots
                .stamp(position)
                .store(position | STAMP_WRITING, Ordering::Relaxed);
        }
        // Ordering: Release fence (broadcast claim 3), pairs with the Acquire
        // fence of an untethered read's validation: a reader that saw a byte
        // we write next sees the `WRITING` stamp.
        fence(Ordering::Release);
        Ok(Some(claim))
    }

    #[inline(always)]
    fn publish(&mut self, ring: &Attached, claim: Claim, committed: u64) -> bool {
        if committed == 0 {
            return false; // the slots stay ours: the next claim returns them again
        }
        for index in 0..committed {
            let position = claim.at(index);
            // Ordering: Release, pairs with the Acquire stamp load of an
            // untethered read: it sees the message bytes written before.
            ring.slots
                .stamp(position)
                .store(position.wrapping_add(1), Ordering::Release);
        }
        self.tail = claim.position.wrapping_add(committed);
        // Ordering: Release, pairs with the Acquire load of tail in
        // `BroadcastReader::refresh_tail` and `gate_and_tail`: the slot bytes
        // written before are visible to a subscriber that sees the new tail.
        ring.tail_word().store(self.tail, PUBLISH);
        true
    }
}

/// A broadcast subscriber's state.
#[doc(hidden)]
pub struct BroadcastReader {
    /// Local copy of our own position: the next message to read.
    cursor: u64,
    /// Last `tail` read from shared memory.
    cached_tail: u64,
    /// Our record's `cursor` word.
    cursor_word: NonNull<AtomicU64>,
    producer: PeerWatch,
}

impl std::fmt::Debug for BroadcastReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BroadcastReader")
            .field("cursor", &self.cursor)
            .field("cached_tail", &self.cached_tail)
            .finish_non_exhaustive()
    }
}

impl BroadcastReader {
    /// Claims a subscriber record starting at `start` (subscriber join 0 and 1).
    fn claim(shared: &Arc<Shared>, start: Start) -> Result<Membership, Error> {
        let ring = Attached::new(Arc::clone(shared), Some(Kind::Broadcast))?;
        if shared.region.geometry().overflow == Overflow::Overwrite {
            return Err(Error::untethered_only());
        }
        let (gate, tail) = gate_and_tail(&ring)?;
        let first = match start {
            Start::Newest => tail,
            Start::Oldest => gate,
        };
        let count = shared.region.geometry().participant_count;
        let membership = Membership::claim_among(
            shared,
            1..count,
            Role::Consumer,
            |region: &Region, record: usize| {
                // Ordering: Relaxed; published by the owner exchange of the
                // record claim that follows.
                region
                    .u32_at(record + layout::RECORD_SUBSCRIPTION)
                    .store(layout::SUBSCRIPTION_TETHERED, Ordering::Relaxed);
                region
                    .u64_at(record + layout::RECORD_CURSOR)
                    .store(first, Ordering::Relaxed);
            },
        )?;
        count_join(shared, Role::Consumer);
        Ok(membership)
    }

    /// The reading end of a broadcast ring for the subscriber holding
    /// `record` (subscriber join 2 and 3).
    fn joined(ring: &Attached, record: u32) -> Result<BroadcastReader, Error> {
        let region = &ring.shared.region;
        let cursor_word =
            region.u64_at(region.geometry().record_offset(record) + layout::RECORD_CURSOR);
        // Ordering: Relaxed; our own store of the first position.
        let mut cursor = cursor_word.load(Ordering::Relaxed);
        // Ordering: SeqCst fence, a Dekker pair with the one in
        // `BroadcastWriter::regate` (G3): either its second scan sees our
        // record, or our load of `gate` below sees its gate.
        fence(Ordering::SeqCst);
        let (gate, tail) = gate_and_tail(ring)?;
        // Built with `--cfg shmlane_weaken_broadcast_join` the correction is
        // left out, and the loom gating model must catch it.
        if is_past(gate, cursor) && !cfg!(shmlane_weaken_broadcast_join) {
            // The producer may have overwritten what lies before its gate.
            cursor = gate;
            // Ordering: Release, as in `BroadcastReader::release`.
            cursor_word.store(cursor, Ordering::Release);
        }
        Ok(BroadcastReader {
            cursor,
            cached_tail: tail,
            cursor_word: NonNull::from(cursor_word),
            producer: PeerWatch::new(PRODUCER_RECORD),
        })
    }

    #[inline]
    fn cursor_word(&self) -> &AtomicU64 {
        // SAFETY: points into the region, which the handle's `Attached` keeps
        // alive as long as this state (both live in the same handle).
        unsafe { self.cursor_word.as_ref() }
    }

    /// Re-reads the producer's position; returns the published count.
    #[inline(always)]
    fn refresh_tail(&mut self, ring: &Attached) -> Result<u64, Error> {
        // Ordering: Acquire, pairs with the Release store in
        // `BroadcastWriter::publish`: the bytes of every slot before `tail`
        // are visible to us.
        let tail = ring.tail_word().load(Ordering::Acquire);
        let available = tail.wrapping_sub(self.cursor);
        if available > ring.capacity {
            return Err(Error::corrupt(format!(
                "broadcast cursor {} and tail {tail} are not within a capacity of {}",
                self.cursor, ring.capacity
            )));
        }
        self.cached_tail = tail;
        Ok(available)
    }

    /// Nothing published even after a refresh: is the producer still there?
    #[cold]
    #[inline(never)]
    fn found_empty(&mut self, ring: &Attached) -> Result<u64, Error> {
        match self.producer.check(&ring.shared) {
            // Drain what the producer published before it left.
            PeerState::Gone => match self.refresh_tail(ring)? {
                0 => Err(Error::DISCONNECTED),
                available => Ok(available),
            },
            PeerState::NotYetJoined | PeerState::Present => Ok(0),
        }
    }
}

impl WaitHooks for BroadcastReader {
    fn watch_sees_leaving(&self) -> bool {
        true
    }
    fn look_at_peers_now(&mut self) {
        self.producer = PeerWatch::new(PRODUCER_RECORD);
    }
    #[inline]
    fn may_be_ready(&self, ring: &Attached) -> bool {
        // Ordering: Relaxed; a hint only, the attempt that follows loads `tail`
        // with Acquire.
        ring.tail_word().load(Ordering::Relaxed) != self.cached_tail
    }
    fn peers_gone(&mut self, ring: &Attached) -> bool {
        self.look_at_peers_now();
        self.producer.check(&ring.shared) == PeerState::Gone
    }
}

impl Side for BroadcastReader {
    fn claim_record(shared: &Arc<Shared>) -> Result<Membership, Error> {
        BroadcastReader::claim(shared, Start::Newest)
    }

    fn new(ring: &Attached, record: u32) -> Result<BroadcastReader, Error> {
        BroadcastReader::joined(ring, record)
    }
}

impl ReadSide for BroadcastReader {
    #[inline(always)]
    fn claim(
        &mut self,
        ring: &Attached,
        _waker: &mut Waker,
        wanted: u64,
    ) -> Result<Option<Claim>, Error> {
        let mut available = self.cached_tail.wrapping_sub(self.cursor);
        if available < wanted {
            available = self.refresh_tail(ring)?;
            if available == 0 {
                available = self.found_empty(ring)?;
                if available == 0 {
                    return Ok(None);
                }
            }
        }
        Ok(Some(Claim {
            position: self.cursor,
            count: available.min(wanted),
        }))
    }

    #[inline]
    fn release(&mut self, _ring: &Attached, claim: Claim) {
        self.cursor = claim.position.wrapping_add(claim.count);
        // Ordering: Release, pairs with the Acquire cursor loads of
        // `BroadcastWriter::scan`: our reads of the slots happen before the
        // producer overwrites them.
        self.cursor_word().store(self.cursor, Ordering::Release);
    }

    /// Nothing to do: the cursor has not moved, so the next claim starts there.
    #[inline]
    fn hold(&mut self, _claim: Claim) {}
}

impl Handle<Broadcast, Reading> {
    /// Skips to the latest message: every published message but the newest is
    /// released unread, so the next read returns the newest one (a dashboard
    /// that shows only the latest reading). Returns how many were skipped.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) if the producer's
    /// position is impossible.
    ///
    /// # Examples
    /// ```
    /// use shmlane::{broadcast, Ring, RingOptions};
    /// # let name = format!("doc-latest-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::broadcast(8, 64, 1))?;
    /// let mut producer = broadcast::Producer::join(&ring)?;
    /// let mut dashboard = broadcast::Subscriber::join(&ring)?;
    /// for reading in 0..5u8 {
    ///     producer.try_send(&[reading])?;
    /// }
    /// assert_eq!(dashboard.skip_to_latest()?, 4);
    /// assert_eq!(&*dashboard.try_read()?.expect("the latest"), &[4]);
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn skip_to_latest(&mut self) -> Result<u64, Error> {
        let available = self.side.refresh_tail(&self.end.ring)?;
        if available < 2 {
            return Ok(0);
        }
        let skipped = available - 1;
        let claim = Claim {
            position: self.side.cursor,
            count: skipped,
        };
        self.side.release(&self.end.ring, claim);
        self.end.notify();
        Ok(skipped)
    }

    /// Joins `ring` as a tethered subscriber that starts at `start`:
    /// [`Start::Newest`] (what [`Handle::join`] does) or [`Start::Oldest`],
    /// the oldest message the ring still holds.
    ///
    /// A tethered subscriber sees every message from its start on, in order:
    /// the producer waits for it (a full ring) rather than overwrite a message
    /// it has not released, for as long as it lives.
    ///
    /// # Errors
    /// [`ErrorKind::WrongKind`](crate::ErrorKind::WrongKind) on a ring of
    /// another kind;
    /// [`ErrorKind::TooManyParticipants`](crate::ErrorKind::TooManyParticipants)
    /// when every subscriber record is held by a live subscriber;
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) if the positions are
    /// inconsistent; otherwise as [`Handle::join`].
    ///
    /// # Examples
    /// ```
    /// use shmlane::broadcast::{self, Start};
    /// use shmlane::{Ring, RingOptions};
    /// # let name = format!("doc-broadcast-oldest-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::broadcast(8, 64, 2))?;
    /// let mut producer = broadcast::Producer::join(&ring)?;
    /// // Nobody is tethered yet: the producer does not wait, it overwrites.
    /// for reading in 0..20u8 {
    ///     assert!(producer.try_send(&[reading])?);
    /// }
    /// let mut history = broadcast::Subscriber::join_from(&ring, Start::Oldest)?;
    /// let first = history.try_read()?.expect("retained history")[0];
    /// assert!(first > 0 && first < 20, "an old reading still in the ring");
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn join_from(ring: &crate::Ring, start: Start) -> Result<Subscriber, Error> {
        let end = Endpoint::join(
            &ring.shared,
            Some(Kind::Broadcast),
            Role::Consumer,
            |shared| BroadcastReader::claim(shared, start),
        )?;
        // On error the endpoint drops here and gives its record up again.
        let side = BroadcastReader::joined(&end.ring, end.record())?;
        Ok(Handle { side, end })
    }
}

/// What an untethered subscriber's read found.
#[cfg(not(loom))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received<T = usize> {
    /// An intact message: for [`Untethered::try_recv`] its length (copied
    /// into the buffer), for [`Untethered::try_read_with`] what the closure
    /// made of it.
    Message(T),
    /// The producer overwrote this many messages before they were read: they
    /// are lost, and the next read starts at the oldest one still intact.
    Lagged(u64),
}

/// A message's bytes, read in place in a slot the producer may be rewriting
/// meanwhile: what [`Untethered::try_read_with`] hands its closure.
///
/// Every access is an atomic load, so a concurrent overwrite cannot make a
/// read undefined; it can make the bytes inconsistent (torn). The closure's
/// result is kept only if the slot was not overwritten while it ran; a torn
/// read is reported as [`Received::Lagged`] and the result dropped. So code
/// that looks at a `Peek` must give *some* answer for any bytes (no panics
/// on a malformed message, no effects outside its result).
#[cfg(not(loom))]
#[derive(Clone, Copy)]
pub struct Peek<'a> {
    /// The payload's words: `len` bytes from the first one are the message.
    words: &'a [AtomicU64],
    len: usize,
}

#[cfg(not(loom))]
impl std::fmt::Debug for Peek<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peek")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

#[cfg(not(loom))]
impl Peek<'_> {
    /// The message's length in bytes (bounded by the ring's `max_payload`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn word(&self, index: usize) -> [u8; 8] {
        // Ordering: Relaxed, as every load of a read in place: validated by
        // the stamp check after the Acquire fence of the read (untethered read 5).
        self.words[index].load(Ordering::Relaxed).to_le_bytes()
    }

    /// Copies the message's bytes from `offset` on into `dst`, as many as both
    /// hold; returns how many were copied (0 when `offset` is past the end).
    pub fn copy_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        let count = self.len.saturating_sub(offset).min(dst.len());
        let mut done = 0;
        while done < count {
            let at = offset + done;
            let word = self.word(at / 8);
            let from = at % 8;
            let take = (8 - from).min(count - done);
            dst[done..done + take].copy_from_slice(&word[from..from + take]);
            done += take;
        }
        count
    }

    /// Copies the message's first bytes into `dst`; returns how many.
    pub fn copy_to(&self, dst: &mut [u8]) -> usize {
        self.copy_at(0, dst)
    }

    /// The `N` bytes at `offset`, or `None` if the message ends before them:
    /// `u32::from_le_bytes(peek.array(8)?)` reads a field without copying the
    /// rest of the message.
    pub fn array<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let mut bytes = [0u8; N];
        let end = offset.checked_add(N)?;
        (end <= self.len).then(|| {
            self.copy_at(offset, &mut bytes);
            bytes
        })
    }

    /// The byte at `index`, or `None` past the end.
    pub fn get(&self, index: usize) -> Option<u8> {
        (index < self.len).then(|| self.word(index / 8)[index % 8])
    }

    /// The whole message, copied.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; self.len];
        self.copy_to(&mut bytes);
        bytes
    }
}

/// A message an untethered subscriber started reading in place and has not
/// validated yet ([`Untethered::start_read`]): for bindings that cannot pass a
/// closure (the C API).
#[cfg(not(loom))]
#[doc(hidden)]
#[derive(Debug)]
pub struct StartedRead {
    position: u64,
    /// The payload's first byte, in the mapping.
    pub data: *const u8,
    /// The payload's length, bounded by `max_payload`.
    pub len: usize,
}

/// An untethered (lossy) subscriber of a broadcast ring: it never holds the
/// producer back, and learns from the slot stamps when it was lapped and how
/// many messages it lost, as tokio's `broadcast` receivers do (`Lagged`).
///
/// A slot it reads may be overwritten at any moment, so it reads in place
/// only under validation: [`Untethered::try_read_with`] runs a closure over
/// the message where it lies and keeps its result only if the slot was not
/// overwritten meanwhile (as Agrona's broadcast receiver validates after its
/// copy); [`Untethered::try_recv`] copies the message out the same way. A read
/// that the producer overwrote is reported as lag, never as data
/// (`docs/layout.md#broadcast`, untethered read). Joining, leaving and
/// liveness are the handles' own ([`crate::Handle`]'s kind-independent
/// half); only reading differs.
///
/// # Examples
/// ```
/// use shmlane::broadcast::{self, Received, Start};
/// use shmlane::{Ring, RingOptions};
/// # let name = format!("doc-untethered-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::broadcast(4, 64, 1))?;
/// let mut producer = broadcast::Producer::join(&ring)?;
/// let mut dashboard = broadcast::Untethered::join(&ring, Start::Newest)?;
/// for reading in 0..10u8 {
///     assert!(producer.try_send(&[reading, 0, 0, 0])?); // never held back
/// }
/// let mut buffer = [0u8; 64];
/// assert_eq!(dashboard.try_recv(&mut buffer)?, Some(Received::Lagged(7)));
/// assert_eq!(dashboard.try_recv(&mut buffer)?, Some(Received::Message(4)));
/// assert_eq!(buffer[0], 7);
/// // In place: read one field, keep it only if the slot was not overwritten.
/// let reading = dashboard.try_read_with(|peek| peek.array::<4>(0).map(u32::from_le_bytes))?;
/// assert_eq!(reading, Some(Received::Message(Some(8))));
/// assert_eq!(dashboard.lost(), 7);
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
#[cfg(not(loom))]
pub struct Untethered {
    end: Endpoint,
    /// The next position to read.
    cursor: u64,
    /// Messages lost to the producer lapping us, in all.
    lost: u64,
    /// Our record's `cursor` word, kept for `stat` only.
    cursor_word: NonNull<AtomicU64>,
    /// Our record's `lost` word, kept for `stat` only.
    lost_word: NonNull<AtomicU64>,
    producer: PeerWatch,
}

// SAFETY: as for `Handle`: the raw pointers point into the region kept alive
// by the endpoint's `Arc<Shared>`, and all shared state is reached through
// atomics, so the subscriber may move to another thread.
#[cfg(not(loom))]
unsafe impl Send for Untethered {}

#[cfg(not(loom))]
impl std::fmt::Debug for Untethered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Untethered")
            .field("record", &self.end.record())
            .field("cursor", &self.cursor)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

#[cfg(not(loom))]
impl Untethered {
    /// Joins `ring` as an untethered subscriber that starts at `start`: the
    /// next message published, or the oldest one the ring may still hold.
    ///
    /// # Errors
    /// As [`Subscriber::join_from`].
    pub fn join(ring: &crate::Ring, start: Start) -> Result<Untethered, Error> {
        let mut first = 0;
        let end = Endpoint::join(
            &ring.shared,
            Some(Kind::Broadcast),
            Role::Consumer,
            |shared| {
                let attached = Attached::new(Arc::clone(shared), Some(Kind::Broadcast))?;
                let (_, tail) = gate_and_tail(&attached)?;
                first = match start {
                    Start::Newest => tail,
                    Start::Oldest => oldest_intact(tail, attached.capacity),
                };
                let count = shared.region.geometry().participant_count;
                let membership = Membership::claim_among(
                    shared,
                    1..count,
                    Role::Consumer,
                    |region: &Region, record: usize| {
                        // Ordering: Relaxed; published by the owner exchange
                        // of the record claim that follows.
                        region
                            .u32_at(record + layout::RECORD_SUBSCRIPTION)
                            .store(layout::SUBSCRIPTION_UNTETHERED, Ordering::Relaxed);
                        region
                            .u64_at(record + layout::RECORD_CURSOR)
                            .store(first, Ordering::Relaxed);
                        region
                            .u64_at(record + layout::RECORD_LOST)
                            .store(0, Ordering::Relaxed);
                    },
                )?;
                count_join(shared, Role::Consumer);
                Ok(membership)
            },
        )?;
        let region = &end.ring.shared.region;
        let record = region.geometry().record_offset(end.record());
        let cursor_word = region.u64_at(record + layout::RECORD_CURSOR);
        let lost_word = region.u64_at(record + layout::RECORD_LOST);
        Ok(Untethered {
            cursor: first,
            lost: 0,
            cursor_word: NonNull::from(cursor_word),
            lost_word: NonNull::from(lost_word),
            producer: PeerWatch::new(PRODUCER_RECORD),
            end,
        })
    }

    /// Largest message this ring carries.
    pub fn max_payload(&self) -> usize {
        self.end.ring.max_payload
    }

    /// How many messages this subscriber lost to the producer lapping it, in
    /// all: the sum of every [`Received::Lagged`] it was told (`stat` shows it).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The position of the next message this subscriber reads.
    pub fn position(&self) -> u64 {
        self.cursor
    }

    /// Skips to the latest message, as [`Subscriber::skip_to_latest`]: the
    /// next read returns the newest published message (if the producer does
    /// not overwrite it first). Returns how many were skipped (not counted as
    /// lost: this subscriber chose to skip them).
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) if the producer's
    /// position is behind this subscriber's.
    pub fn skip_to_latest(&mut self) -> Result<u64, Error> {
        // Ordering: Acquire, as in `try_recv`.
        let tail = self.end.ring.tail_word().load(Ordering::Acquire);
        if is_past(self.cursor, tail) {
            return Err(corrupt_untethered(self.cursor, tail));
        }
        let newest = tail.wrapping_sub(1);
        if !is_past(newest, self.cursor) {
            return Ok(0);
        }
        let skipped = newest.wrapping_sub(self.cursor);
        self.cursor = newest;
        self.store_cursor();
        Ok(skipped)
    }

    /// Reads the next message in place: runs `read` over its bytes where they
    /// lie and returns `Some(Received::Message(result))` if the producer did
    /// not overwrite the slot meanwhile. If it did (or had, before the read),
    /// the result is dropped and the outcome is `Some(Received::Lagged(lost))`:
    /// the subscriber moves on to the oldest message still intact. `None` when
    /// no message is published.
    ///
    /// `read` may see torn bytes (its result is then dropped): see [`Peek`].
    ///
    /// # Errors
    /// [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected) when
    /// everything published was read and the producer is gone;
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) for an impossible
    /// position, or an intact message whose length is above `max_payload`.
    pub fn try_read_with<R>(
        &mut self,
        read: impl FnOnce(Peek<'_>) -> R,
    ) -> Result<Option<Received<R>>, Error> {
        self.attempt(|peek| Ok(read(peek)))
    }

    /// As [`Untethered::try_read_with`], waiting up to `timeout` for a message
    /// (`None`: as long as it takes) as the subscriber's wait strategy says;
    /// `None` when the time ran out.
    ///
    /// # Errors
    /// As [`Untethered::try_read_with`].
    pub fn read_with<R>(
        &mut self,
        timeout: Option<std::time::Duration>,
        mut read: impl FnMut(Peek<'_>) -> R,
    ) -> Result<Option<Received<R>>, Error> {
        block_on(self, timeout, |subscriber| {
            subscriber.try_read_with(&mut read)
        })
    }

    /// Copies the next message into `buffer`: `Some(Received::Message(len))`,
    /// or `Some(Received::Lagged(lost))` when the producer overwrote messages
    /// this subscriber had not read (it then moves on to the oldest one still
    /// intact); `None` when no message is published.
    ///
    /// # Errors
    /// [`ErrorKind::BufferTooSmall`](crate::ErrorKind::BufferTooSmall) when
    /// the message does not fit (it is not consumed); otherwise as
    /// [`Untethered::try_read_with`].
    pub fn try_recv(&mut self, buffer: &mut [u8]) -> Result<Option<Received>, Error> {
        self.attempt(|peek| {
            if peek.len() > buffer.len() {
                return Err(Error::buffer_too_small(peek.len(), buffer.len()));
            }
            Ok(peek.copy_to(buffer))
        })
    }

    /// As [`Untethered::try_recv`], waiting up to `timeout` for a message
    /// (`None`: as long as it takes) as the subscriber's wait strategy says;
    /// `None` when the time ran out.
    ///
    /// # Errors
    /// As [`Untethered::try_recv`].
    pub fn recv(
        &mut self,
        buffer: &mut [u8],
        timeout: Option<std::time::Duration>,
    ) -> Result<Option<Received>, Error> {
        block_on(self, timeout, |subscriber| subscriber.try_recv(buffer))
    }

    /// How [`Untethered::recv`] waits (the default is [`WaitStrategy::default`]).
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.end.wait_strategy()
    }

    /// Sets how [`Untethered::recv`] waits.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.end.set_wait_strategy(strategy);
    }

    /// Untethered read 1–5 around `read`, whose result is kept only if the
    /// slot held the same message all along; an error from `read` leaves the
    /// message unread.
    #[inline]
    fn attempt<R>(
        &mut self,
        read: impl FnOnce(Peek<'_>) -> Result<R, Error>,
    ) -> Result<Option<Received<R>>, Error> {
        let started = match self.start_read()? {
            None => return Ok(None),
            Some(Received::Lagged(lost)) => return Ok(Some(Received::Lagged(lost))),
            Some(Received::Message(started)) => started,
        };
        let ring = &self.end.ring;
        let words = ring.slots.body_words(started.position, ring.len_field / 8);
        let result = read(Peek {
            words,
            len: started.len,
        });
        match self.finish_read(started) {
            Received::Lagged(lost) => Ok(Some(Received::Lagged(lost))),
            Received::Message(started) => {
                let value = result?;
                self.consume(started);
                Ok(Some(Received::Message(value)))
            }
        }
    }

    /// Untethered read 1–4: finds the next message and its length, for a read
    /// in place that [`Untethered::finish_read`] then validates. `None` when
    /// nothing is published.
    ///
    /// # Errors
    /// As [`Untethered::try_read_with`].
    #[doc(hidden)]
    pub fn start_read(&mut self) -> Result<Option<Received<StartedRead>>, Error> {
        let ring = &self.end.ring;
        let position = self.cursor;
        // Ordering: Acquire, pairs with the Release store in
        // `BroadcastWriter::publish` (untethered read 1).
        let tail = ring.tail_word().load(Ordering::Acquire);
        if tail == position {
            return self.found_empty().map(|()| None);
        }
        if is_past(position, tail) {
            return Err(corrupt_untethered(position, tail));
        }
        if tail.wrapping_sub(position) > ring.capacity {
            return Ok(Some(self.lagged(position)));
        }
        let published = position.wrapping_add(1);
        // Ordering: Acquire, pairs with the Release stamp store of
        // `BroadcastWriter::publish`: the message's bytes are visible.
        if ring.slots.stamp(position).load(Ordering::Acquire) != published {
            return Ok(Some(self.lagged(position)));
        }
        let len = if ring.fixed_size {
            ring.max_payload
        } else {
            // Ordering: Relaxed, as every load of the read: validated by the
            // stamp check after the Acquire fence of `finish_read`.
            (ring.slots.body_word(position, 0).load(Ordering::Relaxed) as u32) as usize
        };
        let data = ring
            .slots
            .body_words(position, ring.len_field / 8)
            .as_ptr()
            .cast::<u8>();
        let started = StartedRead {
            position,
            data,
            len: len.min(ring.max_payload),
        };
        if len > ring.max_payload {
            let max_payload = ring.max_payload;
            // A length out of bounds in an intact message is corruption; in
            // one being rewritten, it is a lap.
            return match self.finish_read(started) {
                Received::Lagged(lost) => Ok(Some(Received::Lagged(lost))),
                Received::Message(_) => Err(Error::corrupt(format!(
                    "message at position {position} claims a length of {len}, above the maximum of {max_payload}"
                ))),
            };
        }
        Ok(Some(Received::Message(started)))
    }

    /// As [`Untethered::start_read`], waiting up to `timeout` for a message.
    ///
    /// # Errors
    /// As [`Untethered::try_read_with`].
    #[doc(hidden)]
    pub fn wait_start_read(
        &mut self,
        timeout: Option<std::time::Duration>,
    ) -> Result<Option<Received<StartedRead>>, Error> {
        block_on(self, timeout, Untethered::start_read)
    }

    /// Untethered read 5: whether the slot still holds the message `started`
    /// found. If not, the subscriber moves on past what was overwritten
    /// (`Lagged`); if so, the message stays unread until
    /// [`Untethered::consume`].
    #[doc(hidden)]
    pub fn finish_read(&mut self, started: StartedRead) -> Received<StartedRead> {
        // Ordering: Acquire fence, pairs with the Release fence of
        // `BroadcastWriter::claim`: had we read a byte the producer wrote for a
        // later lap, the stamp below would show `WRITING` or later.
        fence(Ordering::Acquire);
        // Ordering: Relaxed, ordered by the fence above.
        let stamp = self
            .end
            .ring
            .slots
            .stamp(started.position)
            .load(Ordering::Relaxed);
        if stamp != started.position.wrapping_add(1) {
            return self.lagged(started.position);
        }
        Received::Message(started)
    }

    /// Moves past a message `finish_read` validated.
    #[doc(hidden)]
    pub fn consume(&mut self, started: StartedRead) {
        self.cursor = started.position.wrapping_add(1);
        self.store_cursor();
        // Acknowledges a new sleeper on the space line, if any: a tethered
        // sibling's producer must not wait for us to be armed.
        self.end.notify();
    }

    /// Moves on past what was overwritten; returns how much that was.
    #[cold]
    fn lagged<T>(&mut self, position: u64) -> Received<T> {
        // Ordering: Acquire, as in `start_read`.
        let tail = self.end.ring.tail_word().load(Ordering::Acquire);
        let mut oldest = oldest_intact(tail, self.end.ring.capacity);
        // The slot of `position` is being rewritten: it is lost at least.
        if !is_past(oldest, position) {
            oldest = position.wrapping_add(1);
        }
        let lost = oldest.wrapping_sub(position);
        self.cursor = oldest;
        self.lost = self.lost.wrapping_add(lost);
        self.store_cursor();
        // SAFETY: points into the region, which the endpoint's `Arc<Shared>`
        // keeps alive as long as `self`.
        let lost_word = unsafe { self.lost_word.as_ref() };
        // Ordering: Relaxed; only `stat` reads it.
        lost_word.store(self.lost, Ordering::Relaxed);
        Received::Lagged(lost)
    }

    fn store_cursor(&self) {
        // SAFETY: points into the region, which the endpoint's `Arc<Shared>`
        // keeps alive as long as `self`.
        let cursor_word = unsafe { self.cursor_word.as_ref() };
        // Ordering: Relaxed; only `stat` reads an untethered cursor.
        cursor_word.store(self.cursor, Ordering::Relaxed);
    }

    /// Nothing published past our cursor: is the producer still there?
    #[cold]
    fn found_empty(&mut self) -> Result<(), Error> {
        let ring = &self.end.ring;
        if self.producer.check(&ring.shared) == PeerState::Gone {
            // Ordering: Acquire, as in `start_read`: drain what it published.
            if ring.tail_word().load(Ordering::Acquire) == self.cursor {
                return Err(Error::DISCONNECTED);
            }
        }
        Ok(())
    }
}

#[cold]
#[cfg(not(loom))]
fn corrupt_untethered(cursor: u64, tail: u64) -> Error {
    Error::corrupt(format!(
        "untethered cursor {cursor} is past the producer's tail {tail}"
    ))
}

#[cfg(not(loom))]
impl Blocking for Untethered {
    fn shared(&self) -> &Shared {
        &self.end.ring.shared
    }
    #[cfg(feature = "tokio")]
    fn shared_arc(&self) -> &Arc<Shared> {
        &self.end.ring.shared
    }
    fn sleeper(&self) -> &Sleeper {
        &self.end.sleeper
    }
    fn sleeper_mut(&mut self) -> &mut Sleeper {
        &mut self.end.sleeper
    }
    fn watch_sees_leaving(&self) -> bool {
        true
    }
    fn look_at_peers_now(&mut self) {
        self.producer = PeerWatch::new(PRODUCER_RECORD);
    }
    fn look_for_dead_owners_now(&mut self) {}
    #[inline]
    fn may_be_ready(&self) -> bool {
        // Ordering: Relaxed; a hint only, the attempt that follows loads
        // `tail` with Acquire.
        self.end.ring.tail_word().load(Ordering::Relaxed) != self.cursor
    }
}

/// The oldest position a ring whose producer is at `tail` may still hold
/// intact: the producer may be rewriting the slot of `tail − capacity`.
#[cfg(not(loom))]
fn oldest_intact(tail: u64, capacity: u64) -> u64 {
    if tail >= capacity {
        tail - capacity + 1
    } else {
        0
    }
}
