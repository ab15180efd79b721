//! The consumer's async reads (cargo feature `tokio`): the blocking reads'
//! forms as futures, waiting through `async_wait` without parking a thread.

use super::{copy_out, Consumer, ReadBatch, ReadSlot};
use crate::async_wait::wait_async;
use crate::error::Error;
use crate::protocol::{Protocol, ReadSide};

impl<K: Protocol> Consumer<K> {
    /// Borrows the next message in place, waiting for one as a future; the
    /// async form of [`Consumer::read`].
    ///
    /// Cancel-safe: the future claims a message only in the poll that
    /// completes it, so dropping it before (a timeout, a `select!`) loses no
    /// message and leaves nothing registered. While it waits, no thread is
    /// parked and no CPU is spent: it is woken through this process's driver
    /// thread when a producer publishes, or once per peer-check interval of
    /// the handle's [`WaitStrategy`](crate::WaitStrategy) to test that the
    /// producers live (its spinning and yielding phases do not apply). Bound
    /// the wait with the runtime's timeout.
    ///
    /// # Errors
    /// As [`Consumer::try_read`].
    ///
    /// # Examples
    /// ```
    /// use shmlane::{spsc, Ring, RingOptions};
    /// # let name = format!("doc-read-async-{}", std::process::id());
    /// let ring = Ring::create(&name, &RingOptions::spsc(64, 64))?;
    /// let mut consumer = spsc::Consumer::join(&ring)?;
    /// let mut producer = spsc::Producer::join(&ring)?;
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// runtime.block_on(async {
    ///     let writer = tokio::spawn(async move { producer.send_async(b"late").await });
    ///     let message = consumer.read_async().await?; // pending until it comes
    ///     assert_eq!(&*message, b"late");
    ///     # drop(message);
    ///     # writer.await.unwrap()?;
    ///     Ok::<(), shmlane::Error>(())
    /// })?;
    /// # shmlane::remove(&name)?;
    /// # Ok::<(), shmlane::Error>(())
    /// ```
    pub async fn read_async(&mut self) -> Result<ReadSlot<'_, K>, Error> {
        let claim = wait_async(self, |consumer: &mut Consumer<K>| {
            consumer
                .side
                .claim(&consumer.end.ring, &mut consumer.end.waker, 1)
        })
        .await?;
        self.first_of(claim)
    }

    /// Borrows up to `max` messages, waiting for at least one as a future;
    /// the async form of [`Consumer::read_batch`]. The batch is empty only
    /// when `max == 0`. Cancel-safe, as [`Consumer::read_async`].
    ///
    /// # Errors
    /// As [`Consumer::try_read_batch`].
    pub async fn read_batch_async(&mut self, max: usize) -> Result<ReadBatch<'_, K>, Error> {
        if max == 0 {
            return Ok(self.batch(None));
        }
        let claim = wait_async(self, |consumer: &mut Consumer<K>| {
            consumer.claim(max as u64)
        })
        .await?;
        Ok(self.batch(Some(claim)))
    }

    /// Copies the next message into `buffer` and releases its slot, waiting
    /// for one as a future; returns its length. The async form of
    /// [`Consumer::recv`]; cancel-safe, as [`Consumer::read_async`].
    ///
    /// # Errors
    /// As [`Consumer::try_recv`].
    pub async fn recv_async(&mut self, buffer: &mut [u8]) -> Result<usize, Error> {
        let message = self.read_async().await?;
        copy_out(message, buffer)
    }
}
