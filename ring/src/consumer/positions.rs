//! The ring positions of messages read: what a bridge stamps on a message it
//! forwards, so that the far side can tell its place in the stream.

use super::{ReadBatch, ReadSlot};
use crate::protocol::Protocol;

impl<K: Protocol> ReadSlot<'_, K> {
    /// The message's position in the ring: its sequence number among every
    /// message ever published to the ring (in an MPMC ring, gaps are the
    /// messages other consumers took, or slots given up unpublished).
    ///
    /// # Examples
    /// ```
    /// use shmlane::{spsc, Ring, RingOptions};
    /// # let name = format!("doc-position-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(4, 16))?;
    /// let mut producer = spsc::Producer::join(&ring)?;
    /// let mut consumer = spsc::Consumer::join(&ring)?;
    /// producer.try_send(b"first")?;
    /// producer.try_send(b"second")?;
    /// assert_eq!(consumer.try_read()?.expect("a message").position(), 0);
    /// assert_eq!(consumer.try_read()?.expect("a message").position(), 1);
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub fn position(&self) -> u64 {
        self.position
    }
}

impl<K: Protocol> ReadBatch<'_, K> {
    /// The ring position of message `index` of the batch (see
    /// [`ReadSlot::position`]); a batch's messages have consecutive positions.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn position(&self, index: usize) -> u64 {
        match self.claim {
            Some(claim) if (index as u64) < claim.count => claim.at(index as u64),
            _ => panic!("message {index} is outside a batch of {}", self.len()),
        }
    }
}
