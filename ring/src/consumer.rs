//! The reading end of a ring of any kind, with its message and batch guards.
//!
//! A consumer claims published messages (its kind's [`ReadSide`] says how),
//! lends them out in place as a [`ReadSlot`] or [`ReadBatch`], and releases
//! their slots to the producers when the guard drops. Every message length
//! read from shared memory is bounded here, once for every kind. The steps
//! and orderings of each kind are in `docs/layout.md`.

use std::ops::Deref;
use std::time::Duration;

use crate::attached::{copy_message, Attached};
use crate::error::Error;
use crate::handle::{Handle, Reading};
use crate::protocol::{Claim, Protocol, ReadSide};
use crate::region::BodyRef;
use crate::wait::block_on;

#[cfg(all(feature = "tokio", not(loom)))]
mod asynchronous;
mod positions;

/// The reading end of a ring: a [`Handle`] in the [`Reading`] direction. `K`
/// is its kind ([`crate::spsc::Spsc`], [`crate::mpmc::Mpmc`], or
/// [`crate::AnyKind`] for a kind known at run time); usually named by its
/// alias [`crate::spsc::Consumer`], [`crate::mpmc::Consumer`] or
/// [`crate::AnyConsumer`]. Joined with [`Handle::join`].
///
/// # Examples
/// ```
/// use shmlane::{mpmc, Ring, RingOptions};
/// # let name = format!("doc-consumer-{}", std::process::id());
/// let ring = Ring::create(&name, &RingOptions::mpmc(64, 80, 8))?;
/// let mut first = mpmc::Producer::join(&ring)?;
/// let mut second = mpmc::Producer::join(&ring)?;
/// first.try_send(b"from the first")?;
/// second.try_send(b"from the second")?;
/// let mut consumer = mpmc::Consumer::join(&ring)?;
/// assert_eq!(&*consumer.try_read()?.expect("two messages"), b"from the first");
/// assert_eq!(&*consumer.try_read()?.expect("one message"), b"from the second");
/// assert!(consumer.try_read()?.is_none()); // empty
/// # shmlane::remove(&name)?;
/// # Ok::<(), shmlane::Error>(())
/// ```
pub type Consumer<K> = Handle<K, Reading>;

impl<K: Protocol> Handle<K, Reading> {
    /// Claims up to `wanted` published messages (at least one) whose lengths
    /// are all within bounds; `None` when there is none.
    ///
    /// A message with an impossible length ends the claim before it and is
    /// kept for the next call, which releases it unread and reports it.
    #[inline]
    fn claim(&mut self, wanted: u64) -> Result<Option<Claim>, Error> {
        let Some(claim) = self
            .side
            .claim(&self.end.ring, &mut self.end.waker, wanted)?
        else {
            return Ok(None);
        };
        if self.end.ring.fixed_size {
            return Ok(Some(claim));
        }
        let sound = (0..claim.count)
            .take_while(|&index| {
                message_len(
                    &self.end.ring,
                    &self.end.ring.slots.body_ref(claim.at(index)),
                )
                .is_some()
            })
            .count() as u64;
        if sound == claim.count {
            return Ok(Some(claim));
        }
        if sound > 0 {
            // Deliver the sound messages first; the bad one comes next time.
            self.side.hold(Claim {
                position: claim.at(sound),
                count: claim.count - sound,
            });
            return Ok(Some(Claim {
                position: claim.position,
                count: sound,
            }));
        }
        Err(self.skip_unsound(claim))
    }

    /// Releases the first message of `claim`, whose length is impossible,
    /// unread, keeps the rest for the next call, and reports it.
    #[cold]
    #[inline(never)]
    fn skip_unsound(&mut self, claim: Claim) -> Error {
        if claim.count > 1 {
            self.side.hold(Claim {
                position: claim.at(1),
                count: claim.count - 1,
            });
        }
        self.release(Claim {
            position: claim.position,
            count: 1,
        });
        Error::corrupt(format!(
            "message at position {} claims a length above the maximum of {}; skipped",
            claim.position, self.end.ring.max_payload
        ))
    }

    /// Releases `claim`'s slots to the producers and wakes them if they sleep.
    #[inline(always)]
    fn release(&mut self, claim: Claim) {
        self.side.release(&self.end.ring, claim);
        self.end.notify();
    }

    /// The first message of `claim` (of one or more) as a guard, its length
    /// read once and bounded here; the rest of `claim` is kept for the next
    /// call. The path of every single-message read.
    #[inline(always)]
    fn first_of(&mut self, claim: Claim) -> Result<ReadSlot<'_, K>, Error> {
        let body = self.end.ring.slots.body_ref(claim.position);
        let Some(len) = message_len(&self.end.ring, &body) else {
            return Err(self.skip_unsound(claim));
        };
        if claim.count > 1 {
            self.side.hold(Claim {
                position: claim.at(1),
                count: claim.count - 1,
            });
        }
        // SAFETY: `len <= max_payload`, and `len_field + max_payload` is the
        // body's size (the validated geometry).
        let payload = unsafe { body.narrow(self.end.ring.len_field, len) };
        Ok(ReadSlot {
            consumer: self,
            position: claim.position,
            payload,
        })
    }

    fn batch(&mut self, claim: Option<Claim>) -> ReadBatch<'_, K> {
        ReadBatch {
            consumer: self,
            claim,
        }
    }

    /// Borrows the next message in place; `None` when no message is published.
    /// Dropping the guard releases its slot.
    ///
    /// # Errors
    /// [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected) when the ring is drained and every producer has
    /// closed or died; [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) when shared memory holds an
    /// impossible position or stamp, or a message length above `max_payload`
    /// (that message is skipped).
    #[inline(always)]
    pub fn try_read(&mut self) -> Result<Option<ReadSlot<'_, K>>, Error> {
        match self.side.claim(&self.end.ring, &mut self.end.waker, 1)? {
            Some(claim) => self.first_of(claim).map(Some),
            None => Ok(None),
        }
    }

    /// Borrows up to `max` consecutive published messages; dropping the batch
    /// releases them all. The batch is empty when no message is published (or
    /// `max == 0`).
    ///
    /// # Errors
    /// As [`Consumer::try_read`]. A message with an impossible length ends the
    /// batch before it; the next call reports and skips it.
    #[inline]
    pub fn try_read_batch(&mut self, max: usize) -> Result<ReadBatch<'_, K>, Error> {
        let claim = if max == 0 {
            None
        } else {
            self.claim(max as u64)?
        };
        Ok(self.batch(claim))
    }

    /// Copies the next message into `buffer` and releases its slot; returns its
    /// length, or `None` when no message is published.
    ///
    /// # Errors
    /// [`ErrorKind::BufferTooSmall`](crate::ErrorKind::BufferTooSmall) when the message does not fit: it is not
    /// consumed, and the next read returns it. Otherwise as [`Consumer::try_read`].
    #[inline(always)]
    pub fn try_recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Error> {
        match self.try_read()? {
            Some(message) => copy_out(message, buffer).map(Some),
            None => Ok(None),
        }
    }

    /// Borrows the next message in place, waiting up to `timeout` for one
    /// (`None`: as long as it takes), as the handle's [`WaitStrategy`](crate::WaitStrategy) says;
    /// `None` when the time ran out.
    ///
    /// # Errors
    /// As [`Consumer::try_read`].
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
    /// assert_eq!(message.as_deref(), Some(&b"late"[..]));
    /// # drop(message);
    /// # writer.join().unwrap()?;
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn read(&mut self, timeout: Option<Duration>) -> Result<Option<ReadSlot<'_, K>>, Error> {
        let claim = block_on(self, timeout, |consumer| {
            consumer
                .side
                .claim(&consumer.end.ring, &mut consumer.end.waker, 1)
        })?;
        match claim {
            Some(claim) => self.first_of(claim).map(Some),
            None => Ok(None),
        }
    }

    /// Borrows up to `max` messages, waiting up to `timeout` for at least one;
    /// the batch is empty when the time ran out (or `max == 0`).
    ///
    /// # Errors
    /// As [`Consumer::read`].
    pub fn read_batch(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<ReadBatch<'_, K>, Error> {
        let claim = if max == 0 {
            None
        } else {
            block_on(self, timeout, |consumer| consumer.claim(max as u64))?
        };
        Ok(self.batch(claim))
    }

    /// Copies the next message into `buffer` and releases its slot, waiting up
    /// to `timeout` for one; returns its length, or `None` when the time ran out.
    ///
    /// # Errors
    /// As [`Consumer::try_recv`].
    pub fn recv(
        &mut self,
        buffer: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<Option<usize>, Error> {
        match self.read(timeout)? {
            Some(message) => copy_out(message, buffer).map(Some),
            None => Ok(None),
        }
    }
}

/// Copies `message` into `buffer` and releases it, or keeps it claimed for
/// the next read if it does not fit.
#[inline(always)]
fn copy_out<K: Protocol>(message: ReadSlot<'_, K>, buffer: &mut [u8]) -> Result<usize, Error> {
    let len = message.len();
    if len > buffer.len() {
        message.keep();
        return Err(Error::buffer_too_small(len, buffer.len()));
    }
    copy_message(&mut buffer[..len], &message);
    Ok(len)
}

/// The length of the message in `body`, if within `max_payload` (it lives in
/// shared memory: a peer may have written anything there).
#[inline(always)]
fn message_len(ring: &Attached, body: &BodyRef) -> Option<usize> {
    if ring.fixed_size {
        return Some(ring.max_payload);
    }
    // SAFETY: the caller claimed the slot, published: ours to read.
    let len = unsafe { body.read_len() };
    (len <= ring.max_payload).then_some(len)
}

/// A message borrowed in place. Dereferences to its bytes; dropping it
/// releases the slot to the producers.
pub struct ReadSlot<'a, K: Protocol> {
    consumer: &'a mut Consumer<K>,
    position: u64,
    /// The message's payload (its length bounded by `max_payload`).
    payload: BodyRef,
}

impl<K: Protocol> ReadSlot<'_, K> {
    /// Releases the slot now (the same as dropping the guard).
    pub fn release(self) {}

    /// Gives the message back unreleased: the next read returns it again.
    fn keep(mut self) {
        // Under loom the access ends here: the message is kept claimed, not borrowed.
        self.payload.end_access();
        let claim = Claim {
            position: self.position,
            count: 1,
        };
        self.consumer.side.hold(claim);
        std::mem::forget(self);
    }
}

impl<K: Protocol> Deref for ReadSlot<'_, K> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        // SAFETY: the slot is claimed by this guard and published, so nobody
        // writes it; the payload was bounded when the guard was made.
        unsafe { self.payload.bytes() }
    }
}

impl<K: Protocol> Drop for ReadSlot<'_, K> {
    #[inline]
    fn drop(&mut self) {
        self.payload.end_access();
        self.consumer.release(Claim {
            position: self.position,
            count: 1,
        });
    }
}

/// Up to n consecutive messages borrowed in place, released together on drop.
pub struct ReadBatch<'a, K: Protocol> {
    consumer: &'a mut Consumer<K>,
    /// The messages, `None` for an empty batch.
    claim: Option<Claim>,
}

impl<K: Protocol> ReadBatch<'_, K> {
    /// Number of messages in the batch.
    #[inline]
    pub fn len(&self) -> usize {
        self.claim.map_or(0, |claim| claim.count as usize)
    }

    /// Whether the batch holds no message.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.claim.is_none()
    }

    /// Message `index` of the batch.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    #[inline]
    pub fn get(&self, index: usize) -> &[u8] {
        let position = match self.claim {
            Some(claim) if (index as u64) < claim.count => claim.at(index as u64),
            _ => panic!("message {index} is outside a batch of {}", self.len()),
        };
        // SAFETY: the slot is published and stays unreleased while the batch,
        // and so this borrow of it, lives; its length was bounded when claimed.
        unsafe { self.consumer.end.ring.message(position) }
    }

    /// The messages in order.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(move |index| self.get(index))
    }

    /// Releases the batch now (the same as dropping it).
    pub fn release(self) {}

    /// In a ring whose slots hold nothing but fixed-size payloads (SPSC
    /// fixed-size), the batch's messages as two contiguous byte runs (see
    /// [`crate::WriteBatch::as_mut_slices`]); `None` for other rings.
    #[cfg(not(loom))]
    #[inline]
    pub fn as_slices(&self) -> Option<(&[u8], &[u8])> {
        let ring = &self.consumer.end.ring;
        if !ring.contiguous {
            return None;
        }
        // An empty batch is two empty runs at the ring's first slot.
        let (position, count) = self
            .claim
            .map_or((0, 0), |claim| (claim.position, claim.count as usize));
        let [(first, first_len), (second, second_len)] = ring.slots.runs(position, count);
        // SAFETY: the runs cover exactly the batch's published slots, which hold
        // only payload in such a ring and stay unreleased while the batch lives.
        unsafe {
            Some((
                std::slice::from_raw_parts(first, first_len),
                std::slice::from_raw_parts(second, second_len),
            ))
        }
    }
}

impl<K: Protocol> Drop for ReadBatch<'_, K> {
    #[inline]
    fn drop(&mut self) {
        if let Some(claim) = self.claim.take() {
            self.consumer.release(claim);
        }
    }
}
