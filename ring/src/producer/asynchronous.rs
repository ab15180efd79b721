//! The producer's async reservations (cargo feature `tokio`): the blocking
//! reservations' forms as futures, waiting through `async_wait` without
//! parking a thread.

use super::{Producer, WriteBatch, WriteSlot};
use crate::async_wait::wait_async;
use crate::error::Error;
use crate::protocol::Protocol;

impl<K: Protocol> Producer<K> {
    /// Reserves the next slot, waiting for one to be free as a future; the
    /// async form of [`Producer::reserve`].
    ///
    /// Cancel-safe: the future claims a slot only in the poll that completes
    /// it, so dropping it before (a timeout, a `select!`) reserves nothing
    /// and leaves nothing registered. While it waits, no thread is parked and
    /// no CPU is spent: it is woken through this process's driver thread when
    /// a consumer releases a slot, or once per peer-check interval of the
    /// handle's [`WaitStrategy`](crate::WaitStrategy) to test that the
    /// consumers live (its spinning and yielding phases do not apply).
    ///
    /// # Errors
    /// As [`Producer::try_reserve`].
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use shmlane::{spsc, Ring, RingOptions};
    /// # let name = format!("doc-reserve-async-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(2, 16))?;
    /// let mut producer = spsc::Producer::join(&ring)?;
    /// let _consumer = spsc::Consumer::join(&ring)?;
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// runtime.block_on(async {
    ///     producer.send_async(b"one").await?;
    ///     producer.send_async(b"two").await?;
    ///     // Full, and nobody reads: the runtime's timeout drops the future,
    ///     // which reserved nothing.
    ///     let full = tokio::time::timeout(Duration::from_millis(10), producer.reserve_async()).await;
    ///     assert!(full.is_err());
    ///     Ok::<(), shmlane::Error>(())
    /// })?;
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub async fn reserve_async(&mut self) -> Result<WriteSlot<'_, K>, Error> {
        let claim = wait_async(self, |producer: &mut Producer<K>| producer.claim(1)).await?;
        Ok(self.slot(claim))
    }

    /// Reserves up to `max` consecutive free slots, waiting for at least one
    /// as a future; the async form of [`Producer::reserve_batch`]. The batch
    /// is empty only when `max == 0`. Cancel-safe, as
    /// [`Producer::reserve_async`].
    ///
    /// # Errors
    /// As [`Producer::try_reserve`].
    pub async fn reserve_batch_async(&mut self, max: usize) -> Result<WriteBatch<'_, K>, Error> {
        if max == 0 {
            return Ok(self.batch(None));
        }
        let claim = wait_async(self, |producer: &mut Producer<K>| {
            producer.claim(max as u64)
        })
        .await?;
        Ok(self.batch(Some(claim)))
    }

    /// Copies `message` into the next slot and publishes it, waiting for a
    /// free slot as a future; the async form of [`Producer::send`].
    /// Cancel-safe: dropped before it completes, it sent nothing.
    ///
    /// # Errors
    /// As [`Producer::try_send`].
    pub async fn send_async(&mut self, message: &[u8]) -> Result<(), Error> {
        self.end.ring.check_len(message.len())?;
        let slot = self.reserve_async().await?;
        slot.fill(message).map(|_| ())
    }
}
