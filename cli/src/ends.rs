//! The writing and reading ends of both kinds of ring behind one pair of
//! traits, so that `send`, `recv` and the benchmark processes are written once
//! and compiled for each kind (no dispatch on the hot path).

use std::time::Duration;

use shmlane::{mpmc, spsc, Error, Kind, Ring, WaitStrategy};

/// A producer handle of either kind.
pub trait Writer {
    /// Largest message the ring carries.
    fn max_payload(&self) -> usize;
    /// Reserves a slot (waiting up to `timeout`), lets `fill` write the message
    /// in place and return its length, and publishes it.
    fn publish(
        &mut self,
        timeout: Option<Duration>,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), Error>;
    /// Copies `message` into a slot and publishes it, waiting up to `timeout`.
    fn send(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<(), Error>;
}

/// A consumer handle of either kind.
pub trait Reader {
    /// Waits up to `timeout` for the next message and lends it to `use_message`
    /// in place; its slot is released when `use_message` returns.
    fn read_with<R>(
        &mut self,
        timeout: Option<Duration>,
        use_message: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, Error>;
    /// As [`Reader::read_with`], without waiting: [`Error::Empty`] if nothing is there.
    fn try_read_with<R>(&mut self, use_message: impl FnOnce(&[u8]) -> R) -> Result<R, Error>;
}

macro_rules! impl_ends {
    ($kind:ident) => {
        impl Writer for $kind::Producer {
            fn max_payload(&self) -> usize {
                $kind::Producer::max_payload(self)
            }

            #[inline]
            fn publish(
                &mut self,
                timeout: Option<Duration>,
                fill: impl FnOnce(&mut [u8]) -> usize,
            ) -> Result<(), Error> {
                let mut slot = self.reserve(timeout)?;
                let len = fill(&mut slot);
                slot.commit(len)
            }

            fn send(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<(), Error> {
                $kind::Producer::send(self, message, timeout)
            }
        }

        impl Reader for $kind::Consumer {
            #[inline]
            fn read_with<R>(
                &mut self,
                timeout: Option<Duration>,
                use_message: impl FnOnce(&[u8]) -> R,
            ) -> Result<R, Error> {
                let message = self.read(timeout)?;
                Ok(use_message(&message))
            }

            #[inline]
            fn try_read_with<R>(
                &mut self,
                use_message: impl FnOnce(&[u8]) -> R,
            ) -> Result<R, Error> {
                let message = self.try_read()?;
                Ok(use_message(&message))
            }
        }
    };
}

impl_ends!(spsc);
impl_ends!(mpmc);

/// A producer of the ring's kind.
pub enum AnyWriter {
    Spsc(spsc::Producer),
    Mpmc(mpmc::Producer),
}

/// A consumer of the ring's kind.
pub enum AnyReader {
    Spsc(spsc::Consumer),
    Mpmc(mpmc::Consumer),
}

/// Joins `ring` as a producer of its kind, whose blocking calls wait as `wait` says.
pub fn join_writer(ring: &Ring, wait: WaitStrategy) -> Result<AnyWriter, Error> {
    match ring.kind() {
        Kind::Spsc => spsc::Producer::join(ring).map(|mut producer| {
            producer.set_wait_strategy(wait);
            AnyWriter::Spsc(producer)
        }),
        Kind::Mpmc => mpmc::Producer::join(ring).map(|mut producer| {
            producer.set_wait_strategy(wait);
            AnyWriter::Mpmc(producer)
        }),
        other => Err(unknown_kind(other)),
    }
}

/// Joins `ring` as a consumer of its kind, whose blocking calls wait as `wait` says.
pub fn join_reader(ring: &Ring, wait: WaitStrategy) -> Result<AnyReader, Error> {
    match ring.kind() {
        Kind::Spsc => spsc::Consumer::join(ring).map(|mut consumer| {
            consumer.set_wait_strategy(wait);
            AnyReader::Spsc(consumer)
        }),
        Kind::Mpmc => mpmc::Consumer::join(ring).map(|mut consumer| {
            consumer.set_wait_strategy(wait);
            AnyReader::Mpmc(consumer)
        }),
        other => Err(unknown_kind(other)),
    }
}

fn unknown_kind(kind: Kind) -> Error {
    Error::NotARing {
        reason: format!("this build of shmlane cannot join a ring of kind {kind:?}"),
    }
}
