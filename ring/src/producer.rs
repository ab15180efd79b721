//! The writing end of a ring of any kind, with its slot and batch guards.
//!
//! A producer claims free slots (its kind's [`WriteSide`] says how), lends them
//! out as a [`WriteSlot`] or [`WriteBatch`] to be written in place, and
//! publishes them on commit. The steps and orderings of each kind are in
//! `docs/layout.md`.

use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::attached::{copy_message, Attached};
use crate::error::Error;
use crate::handle::{Handle, Writing};
use crate::protocol::{Claim, Protocol, WriteSide};
use crate::region::BodyMut;
use crate::wait::block_on;

#[cfg(all(feature = "tokio", not(loom)))]
mod asynchronous;

/// The writing end of a ring: a [`Handle`] in the [`Writing`] direction. `K`
/// is its kind ([`crate::spsc::Spsc`], [`crate::mpmc::Mpmc`], or
/// [`crate::AnyKind`] for a kind known at run time); usually named by its
/// alias [`crate::spsc::Producer`], [`crate::mpmc::Producer`] or
/// [`crate::AnyProducer`]. Joined with [`Handle::join`].
///
/// # Examples
/// ```
/// use shmlane::{spsc, Ring, RingOptions};
/// # let name = format!("doc-producer-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::spsc(8, 64))?;
/// let mut producer = spsc::Producer::join(&ring)?;
/// let mut slot = producer.try_reserve()?.expect("an empty ring has room");
/// slot[..5].copy_from_slice(b"hello");
/// slot.commit(5)?;
/// let mut consumer = spsc::Consumer::join(&ring)?;
/// assert_eq!(&*consumer.try_read()?.expect("one message"), b"hello");
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
pub type Producer<K> = Handle<K, Writing>;

impl<K: Protocol> Handle<K, Writing> {
    /// Claims up to `wanted` free slots (at least one), `None` when full.
    #[inline(always)]
    fn claim(&mut self, wanted: u64) -> Result<Option<Claim>, Error> {
        self.side.claim(&self.end.ring, wanted)
    }

    #[inline]
    fn slot(&mut self, claim: Claim) -> WriteSlot<'_, K> {
        let body = self.end.ring.slots.body_mut(claim.position);
        WriteSlot {
            producer: self,
            position: claim.position,
            body,
        }
    }

    fn batch(&mut self, claim: Option<Claim>) -> WriteBatch<'_, K> {
        if let (Some(claim), false) = (claim, self.end.ring.fixed_size) {
            for index in 0..claim.count {
                // SAFETY: the slot was just claimed by us and is not yet
                // published; a variable-size ring's body has a length field.
                unsafe { self.end.ring.slots.body_mut(claim.at(index)).write_len(0) };
            }
        }
        WriteBatch {
            producer: self,
            claim,
        }
    }

    /// Publishes the first `committed` slots of `claim`, gives the rest up,
    /// and wakes sleeping consumers if that stored anything.
    #[inline(always)]
    fn publish(&mut self, claim: Claim, committed: u64) {
        if self.side.publish(&self.end.ring, claim, committed) {
            self.end.notify();
        }
    }

    /// Reserves the next slot for writing in place; `None` when the ring is full.
    ///
    /// The guard dereferences to the slot's `max_payload` bytes. Call
    /// [`WriteSlot::commit`] to publish. Dropping the guard uncommitted
    /// publishes nothing a consumer will see.
    ///
    /// # Errors
    /// [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected) when the ring is full and every consumer has
    /// closed or died; [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) when a position or stamp in shared
    /// memory is impossible.
    #[inline(always)]
    pub fn try_reserve(&mut self) -> Result<Option<WriteSlot<'_, K>>, Error> {
        Ok(self.claim(1)?.map(|claim| self.slot(claim)))
    }

    /// Reserves up to `max` consecutive free slots, to be published together.
    ///
    /// The batch may hold fewer than `max` slots (as many as are free; none
    /// when the ring is full or `max == 0`), and its slots may wrap around the
    /// end of the ring; index them with [`WriteBatch::slot_mut`].
    ///
    /// # Errors
    /// As [`Producer::try_reserve`].
    #[inline]
    pub fn try_reserve_batch(&mut self, max: usize) -> Result<WriteBatch<'_, K>, Error> {
        let claim = if max == 0 {
            None
        } else {
            self.claim(max as u64)?
        };
        Ok(self.batch(claim))
    }

    /// Copies `message` into the next slot and publishes it; `false` when the
    /// ring is full (nothing was sent).
    ///
    /// # Errors
    /// [`ErrorKind::MessageTooLarge`](crate::ErrorKind::MessageTooLarge) when `message` is longer than `max_payload`,
    /// [`ErrorKind::WrongMessageSize`](crate::ErrorKind::WrongMessageSize) in a ring of fixed-size messages of another
    /// size; otherwise as [`Producer::try_reserve`].
    #[inline(always)]
    pub fn try_send(&mut self, message: &[u8]) -> Result<bool, Error> {
        self.end.ring.check_len(message.len())?;
        match self.try_reserve()? {
            Some(slot) => slot.fill(message),
            None => Ok(false),
        }
    }

    /// Reserves the next slot, waiting up to `timeout` for one to be free
    /// (`None`: as long as it takes), as the handle's [`WaitStrategy`](crate::WaitStrategy) says;
    /// `None` when the time ran out.
    ///
    /// # Errors
    /// As [`Producer::try_reserve`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use shmlane::{spsc, Ring, RingOptions};
    /// # let name = format!("doc-reserve-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(2, 16))?;
    /// let mut producer = spsc::Producer::join(&ring)?;
    /// let _consumer = spsc::Consumer::join(&ring)?;
    /// assert!(producer.send(b"one", None)?);
    /// assert!(producer.send(b"two", None)?);
    /// // Full, and nobody reads: the wait ends at the timeout.
    /// assert!(producer.reserve(Some(Duration::from_millis(10)))?.is_none());
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn reserve(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<WriteSlot<'_, K>>, Error> {
        let claim = block_on(self, timeout, |producer| producer.claim(1))?;
        Ok(claim.map(|claim| self.slot(claim)))
    }

    /// Reserves up to `max` consecutive free slots, waiting up to `timeout` for
    /// at least one; the batch is empty when the time ran out (or `max == 0`).
    ///
    /// # Errors
    /// As [`Producer::try_reserve`].
    pub fn reserve_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<WriteBatch<'_, K>, Error> {
        let claim = if max == 0 {
            None
        } else {
            block_on(self, timeout, |producer| producer.claim(max as u64))?
        };
        Ok(self.batch(claim))
    }

    /// Copies `message` into the next slot and publishes it, waiting up to
    /// `timeout` for a free slot; `false` when the time ran out (nothing was sent).
    ///
    /// # Errors
    /// As [`Producer::try_send`].
    pub fn send(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<bool, Error> {
        self.end.ring.check_len(message.len())?;
        match self.reserve(timeout)? {
            Some(slot) => slot.fill(message),
            None => Ok(false),
        }
    }
}

/// A reserved slot, written in place. Dereferences to `max_payload` bytes.
///
/// Dropping it without [`commit`](WriteSlot::commit) publishes nothing a
/// consumer sees (in an MPMC ring the slot is handed on marked to be skipped,
/// because other producers may already have claimed the slots after it).
#[must_use = "a reserved slot publishes nothing unless committed"]
pub struct WriteSlot<'a, K: Protocol> {
    producer: &'a mut Producer<K>,
    position: u64,
    body: BodyMut,
}

impl<K: Protocol> WriteSlot<'_, K> {
    /// Publishes the first `len` bytes of the slot as one message.
    ///
    /// # Errors
    /// [`ErrorKind::MessageTooLarge`](crate::ErrorKind::MessageTooLarge) when `len > max_payload`, or
    /// [`ErrorKind::WrongMessageSize`](crate::ErrorKind::WrongMessageSize) when the ring carries fixed-size messages and
    /// `len != max_payload`; nothing is published.
    #[inline]
    pub fn commit(self, len: usize) -> Result<(), Error> {
        if !self.producer.end.ring.len_ok(len) {
            // Dropping the guard gives the slot up.
            return Err(self.producer.end.ring.len_error(len));
        }
        self.publish_len(len);
        Ok(())
    }

    /// Publishes the slot with a message of `len` bytes (checked by the caller).
    #[inline(always)]
    fn publish_len(self, len: usize) {
        let mut slot = ManuallyDrop::new(self);
        if !slot.producer.end.ring.fixed_size {
            // SAFETY: the slot is reserved by this guard and not yet published;
            // a ring of variable-size messages has a length field.
            unsafe { slot.body.write_len(len) };
        }
        slot.body.end_access();
        let claim = Claim {
            position: slot.position,
            count: 1,
        };
        slot.producer.publish(claim, 1);
    }

    /// Copies `message` (already checked against the ring) in and commits it.
    #[inline]
    fn fill(mut self, message: &[u8]) -> Result<bool, Error> {
        let len = message.len();
        copy_message(&mut self[..len], message);
        self.publish_len(len);
        Ok(true)
    }
}

impl<K: Protocol> Drop for WriteSlot<'_, K> {
    #[inline]
    fn drop(&mut self) {
        self.body.end_access();
        let claim = Claim {
            position: self.position,
            count: 1,
        };
        self.producer.publish(claim, 0);
    }
}

impl<K: Protocol> Deref for WriteSlot<'_, K> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the slot is reserved by this guard; only we touch it, and
        // `len_field` is within the body.
        unsafe { self.body.payload(self.producer.end.ring.len_field) }
    }
}

impl<K: Protocol> DerefMut for WriteSlot<'_, K> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        let len_field = self.producer.end.ring.len_field;
        // SAFETY: the slot is reserved by this guard; only we touch it, and
        // `len_field` is within the body.
        unsafe { self.body.payload_mut(len_field) }
    }
}

/// Up to n consecutive reserved slots, published together on commit.
///
/// An SPSC batch is published with one position store; an MPMC batch slot by
/// slot, in order. Slots left uncommitted publish nothing a consumer sees.
#[must_use = "reserved slots publish nothing unless committed"]
pub struct WriteBatch<'a, K: Protocol> {
    producer: &'a mut Producer<K>,
    /// The slots, `None` for an empty batch.
    claim: Option<Claim>,
}

impl<K: Protocol> WriteBatch<'_, K> {
    /// Number of slots in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.claim.map_or(0, |claim| claim.count as usize)
    }

    /// Whether the batch holds no slot.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.claim.is_none()
    }

    #[inline]
    fn position_of(&self, index: usize) -> u64 {
        match self.claim {
            Some(claim) if (index as u64) < claim.count => claim.at(index as u64),
            _ => panic!("slot {index} is outside a batch of {}", self.len()),
        }
    }

    fn ring(&self) -> &Attached {
        &self.producer.end.ring
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
        unsafe { self.ring().payload_mut(position) }
    }

    /// Sets the length of the message in slot `index` (0 until set).
    ///
    /// # Errors
    /// [`ErrorKind::MessageTooLarge`](crate::ErrorKind::MessageTooLarge) when `len > max_payload`;
    /// [`ErrorKind::WrongMessageSize`](crate::ErrorKind::WrongMessageSize) when the ring carries fixed-size messages and
    /// `len != max_payload` (their length needs no setting).
    ///
    /// # Panics
    /// If `index >= self.len()`.
    #[inline]
    pub fn set_len(&mut self, index: usize, len: usize) -> Result<(), Error> {
        let position = self.position_of(index);
        // SAFETY: the slot is reserved by this batch until it is published.
        unsafe { self.ring().set_slot_len(position, len) }
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
        let position = self.position_of(index);
        let ring = self.ring();
        let len = message.len();
        if !ring.len_ok(len) {
            return Err(ring.len_error(len));
        }
        let mut body = ring.slots.body_mut(position);
        // SAFETY: the slot is reserved by this batch until it is published, and
        // the borrow of `self` keeps any other access through the batch away; a
        // variable-size ring's body starts with its length field, and
        // `len_field + len <= len_field + max_payload`, the body's size.
        unsafe {
            if !ring.fixed_size {
                body.write_len(len);
            }
            copy_message(&mut body.payload_mut(ring.len_field)[..len], message);
        }
        Ok(())
    }

    /// Publishes every slot of the batch.
    #[inline]
    pub fn commit(self) {
        let count = self.len();
        self.commit_first(count);
    }

    /// Publishes the first `count` slots (at most the batch's length); the rest
    /// publish nothing a consumer sees.
    #[inline]
    pub fn commit_first(mut self, count: usize) {
        if let Some(claim) = self.claim.take() {
            self.producer
                .publish(claim, (count as u64).min(claim.count));
        }
    }

    /// In a ring whose slots hold nothing but fixed-size payloads (SPSC
    /// fixed-size), the batch's payloads as two contiguous byte runs: the
    /// slots up to the end of the ring, then those from its start (empty
    /// unless the batch wraps). Each run is a whole number of messages of
    /// `max_payload` bytes, in order. `None` for other rings, whose slots carry
    /// a length field or a stamp between payloads.
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
    #[cfg(not(loom))]
    #[inline]
    pub fn as_mut_slices(&mut self) -> Option<(&mut [u8], &mut [u8])> {
        let ring = self.ring();
        if !ring.contiguous {
            return None;
        }
        // An empty batch is two empty runs at the ring's first slot.
        let (position, count) = self
            .claim
            .map_or((0, 0), |claim| (claim.position, claim.count as usize));
        let [(first, first_len), (second, second_len)] = ring.slots.runs(position, count);
        // SAFETY: the runs cover exactly the batch's slots, which are reserved by
        // this batch, do not overlap, and hold only payload in such a ring; the
        // borrow of `self` keeps other access through the batch away.
        unsafe {
            Some((
                std::slice::from_raw_parts_mut(first, first_len),
                std::slice::from_raw_parts_mut(second, second_len),
            ))
        }
    }
}

impl<K: Protocol> Drop for WriteBatch<'_, K> {
    #[inline]
    fn drop(&mut self) {
        if let Some(claim) = self.claim.take() {
            self.producer.publish(claim, 0);
        }
    }
}
