//! Joining a ring of whatever kind it is, and the zero-copy steps `send`,
//! `recv` and the benchmark processes are written in.
//!
//! The library's kind-erased handles ([`AnyProducer`], [`AnyConsumer`]) do the
//! dispatch by kind; the helpers here only shape their calls for the tool.

use std::time::Duration;

use shmlane::{AnyConsumer, AnyProducer, Error, Ring, WaitStrategy};

/// Joins `ring` as a producer of its kind, whose blocking calls wait as `wait` says.
pub fn join_writer(ring: &Ring, wait: WaitStrategy) -> Result<AnyProducer, Error> {
    let mut producer = AnyProducer::join(ring)?;
    producer.set_wait_strategy(wait);
    Ok(producer)
}

/// Joins `ring` as a consumer of its kind, whose blocking calls wait as `wait` says.
pub fn join_reader(ring: &Ring, wait: WaitStrategy) -> Result<AnyConsumer, Error> {
    let mut consumer = AnyConsumer::join(ring)?;
    consumer.set_wait_strategy(wait);
    Ok(consumer)
}

/// Reserves a slot (waiting up to `timeout`), lets `fill` write the message in
/// place and return its length, and publishes it; `false` when the wait ran out.
#[inline]
pub fn publish(
    writer: &mut AnyProducer,
    timeout: Option<Duration>,
    fill: impl FnOnce(&mut [u8]) -> usize,
) -> Result<bool, Error> {
    let Some(mut slot) = writer.reserve(timeout)? else {
        return Ok(false);
    };
    let len = fill(&mut slot);
    slot.commit(len).map(|()| true)
}

/// Waits up to `timeout` for the next message and lends it to `use_message` in
/// place; its slot is released when `use_message` returns. `None` when the
/// wait ran out.
#[inline]
pub fn read_with<R>(
    reader: &mut AnyConsumer,
    timeout: Option<Duration>,
    use_message: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>, Error> {
    Ok(reader.read(timeout)?.map(|message| use_message(&message)))
}
