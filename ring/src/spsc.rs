//! The SPSC kind: one producer, one consumer.
//!
//! Lamport's ring, as in rtrb and the io_uring rings: each side owns one
//! position (`tail`, `head`), caches the other's and re-reads it (Acquire)
//! only when the ring looks full or empty; one Release store of its own
//! position publishes or releases a slot or a whole batch. The normative steps
//! and orderings: `docs/layout.md#spsc`.

// The kind's halves are public types of a private module, reached only
// through the sealed `Protocol`; the crate types in their methods stay
// crate-private, which no caller outside can name or call.
#![allow(private_interfaces, private_bounds)]

use crate::attached::Attached;
use crate::error::{Error, Role};
use crate::layout::Kind;
use crate::participants::{Membership, PeerState, PeerWatch};
use crate::protocol::{kind, Claim, ReadSide, Side, WaitHooks, WriteSide};
use crate::shm::Shared;
use crate::sync::{Arc, Ordering, PUBLISH};
use crate::wait::Waker;

kind!(
    /// The SPSC kind, the type parameter of [`Producer`] and [`Consumer`].
    Spsc,
    Some(Kind::Spsc),
    "an SPSC ring",
    SpscWriter,
    SpscReader
);

/// Participant record of the producer in an SPSC ring.
const PRODUCER_RECORD: u32 = 0;
/// Participant record of the consumer in an SPSC ring.
const CONSUMER_RECORD: u32 = 1;

/// Reads both positions and checks the SPSC invariant.
fn positions(ring: &Attached) -> Result<(u64, u64), Error> {
    // Ordering: Acquire on both, pairing with the Release stores in
    // `SpscWriter::publish` and `SpscReader::release`: a handle that takes over
    // a dead one's role sees everything published before the death.
    let head = ring.head_word().load(Ordering::Acquire);
    let tail = ring.tail_word().load(Ordering::Acquire);
    if tail.wrapping_sub(head) > ring.capacity {
        return Err(corrupt_positions(head, tail, ring.capacity));
    }
    Ok((head, tail))
}

#[cold]
fn corrupt_positions(head: u64, tail: u64, capacity: u64) -> Error {
    Error::corrupt(format!(
        "positions head {head} and tail {tail} are not within a capacity of {capacity}"
    ))
}

/// An SPSC producer's state.
#[doc(hidden)]
#[derive(Debug)]
pub struct SpscWriter {
    /// Local copy of our own position: the next slot to write.
    tail: u64,
    /// Last `head` read from shared memory.
    cached_head: u64,
    consumer: PeerWatch,
}

impl SpscWriter {
    /// Re-reads the consumer's position; returns the free slots.
    #[cold]
    fn refresh_head(&mut self, ring: &Attached) -> Result<u64, Error> {
        // Ordering: Acquire, pairs with the Release store in
        // `SpscReader::release`: the consumer is done with every slot before
        // `head`, so we may reuse them.
        let head = ring.head_word().load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > ring.capacity {
            return Err(corrupt_positions(head, self.tail, ring.capacity));
        }
        self.cached_head = head;
        Ok(ring.capacity - used)
    }

    /// The slow half of `claim`: no slot free as far as we knew.
    #[cold]
    #[inline(never)]
    fn free_refreshed(&mut self, ring: &Attached) -> Result<u64, Error> {
        let free = self.refresh_head(ring)?;
        if free > 0 {
            return Ok(free);
        }
        match self.consumer.check(&ring.shared) {
            // The consumer may have released slots just before it left.
            PeerState::Gone => match self.refresh_head(ring)? {
                0 => Err(Error::DISCONNECTED),
                free => Ok(free),
            },
            PeerState::NotYetJoined | PeerState::Present => Ok(0),
        }
    }
}

impl WaitHooks for SpscWriter {
    fn watch_sees_leaving(&self) -> bool {
        true
    }
    fn look_at_peers_now(&mut self) {
        self.consumer = PeerWatch::new(CONSUMER_RECORD);
    }
    #[inline]
    fn may_be_ready(&self, ring: &Attached) -> bool {
        // Ordering: Relaxed; a hint only, the attempt that follows loads `head`
        // with Acquire.
        ring.head_word().load(Ordering::Relaxed) != self.cached_head
    }
    fn peers_gone(&mut self, ring: &Attached) -> bool {
        self.look_at_peers_now();
        self.consumer.check(&ring.shared) == PeerState::Gone
    }
}

impl Side for SpscWriter {
    fn claim_record(shared: &Arc<Shared>) -> Result<Membership, Error> {
        Membership::claim(shared, PRODUCER_RECORD, Role::Producer)
    }

    fn new(ring: &Attached, _record: u32) -> Result<SpscWriter, Error> {
        let (head, tail) = positions(ring)?;
        Ok(SpscWriter {
            tail,
            cached_head: head,
            consumer: PeerWatch::new(CONSUMER_RECORD),
        })
    }
}

impl WriteSide for SpscWriter {
    #[inline(always)]
    fn claim(&mut self, ring: &Attached, wanted: u64) -> Result<Option<Claim>, Error> {
        let mut free = ring.capacity - self.tail.wrapping_sub(self.cached_head);
        if free < wanted {
            free = self.free_refreshed(ring)?;
            if free == 0 {
                return Ok(None);
            }
        }
        Ok(Some(Claim {
            position: self.tail,
            count: free.min(wanted),
        }))
    }

    #[inline(always)]
    fn publish(&mut self, ring: &Attached, claim: Claim, committed: u64) -> bool {
        if committed == 0 {
            return false; // the slots stay free: the next claim returns them again
        }
        self.tail = claim.position.wrapping_add(committed);
        // Ordering: Release, pairs with the Acquire load of tail in
        // `SpscReader::refresh_tail`: the slot bytes written before this store
        // are visible to the consumer once it sees the new tail.
        ring.tail_word().store(self.tail, PUBLISH);
        true
    }
}

/// An SPSC consumer's state.
#[doc(hidden)]
#[derive(Debug)]
pub struct SpscReader {
    /// Local copy of our own position: the next slot to read.
    head: u64,
    /// Last `tail` read from shared memory.
    cached_tail: u64,
    producer: PeerWatch,
}

impl SpscReader {
    /// Re-reads the producer's position; returns the published count. Inline:
    /// a consumer that keeps up with its producer does this for every message.
    #[inline(always)]
    fn refresh_tail(&mut self, ring: &Attached) -> Result<u64, Error> {
        // Ordering: Acquire, pairs with the Release store in
        // `SpscWriter::publish`: the bytes of every slot before `tail` are
        // visible to us.
        let tail = ring.tail_word().load(Ordering::Acquire);
        let available = tail.wrapping_sub(self.head);
        if available > ring.capacity {
            return Err(corrupt_positions(self.head, tail, ring.capacity));
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

impl WaitHooks for SpscReader {
    fn watch_sees_leaving(&self) -> bool {
        true
    }
    fn look_at_peers_now(&mut self) {
        self.producer = PeerWatch::new(PRODUCER_RECORD);
    }
    #[inline]
    fn may_be_ready(&self, ring: &Attached) -> bool {
        // The slot we wait for: its cache miss then overlaps that of `tail`.
        ring.slots.prefetch(self.head);
        // Ordering: Relaxed; a hint only, the attempt that follows loads `tail`
        // with Acquire.
        ring.tail_word().load(Ordering::Relaxed) != self.cached_tail
    }
    fn peers_gone(&mut self, ring: &Attached) -> bool {
        self.look_at_peers_now();
        self.producer.check(&ring.shared) == PeerState::Gone
    }
}

impl Side for SpscReader {
    fn claim_record(shared: &Arc<Shared>) -> Result<Membership, Error> {
        Membership::claim(shared, CONSUMER_RECORD, Role::Consumer)
    }

    fn new(ring: &Attached, _record: u32) -> Result<SpscReader, Error> {
        let (head, tail) = positions(ring)?;
        Ok(SpscReader {
            head,
            cached_tail: tail,
            producer: PeerWatch::new(PRODUCER_RECORD),
        })
    }
}

impl ReadSide for SpscReader {
    #[inline(always)]
    fn claim(
        &mut self,
        ring: &Attached,
        _waker: &mut Waker,
        wanted: u64,
    ) -> Result<Option<Claim>, Error> {
        let mut available = self.cached_tail.wrapping_sub(self.head);
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
            position: self.head,
            count: available.min(wanted),
        }))
    }

    #[inline]
    fn release(&mut self, ring: &Attached, claim: Claim) {
        self.head = claim.position.wrapping_add(claim.count);
        // Ordering: Release, pairs with the Acquire load of head in
        // `SpscWriter::refresh_head`: our reads of the slots happen before the
        // producer reuses them.
        ring.head_word().store(self.head, Ordering::Release);
    }

    /// Nothing to do: `head` has not moved, so the next claim starts there.
    #[inline]
    fn hold(&mut self, _claim: Claim) {}
}
