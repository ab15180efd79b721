//! Helpers shared by the loom models: ring sizes, messages that show a torn or
//! foreign payload, retry loops that hand the turn to loom on `Full`/`Empty`,
//! and the checks every MPMC model makes of what its consumers received.
#![allow(dead_code)] // each model file uses a different subset

use shmlane::{mpmc, Error};

/// Payload bytes of every slot in the models: the smallest a ring allows.
pub const PAYLOAD: usize = 8;

/// What a model writes into a slot it will not publish; never a valid message.
pub const JUNK: [u8; PAYLOAD] = [0xee; PAYLOAD];

/// Slot size of an SPSC ring with [`PAYLOAD`] bytes of payload.
pub fn spsc_slot_size(fixed_size: bool) -> u64 {
    // The 8-byte length field is left out of fixed-size slots.
    if fixed_size {
        PAYLOAD as u64
    } else {
        PAYLOAD as u64 + 8
    }
}

/// Slot size of an MPMC ring with [`PAYLOAD`] bytes of payload.
pub fn mpmc_slot_size(fixed_size: bool) -> u64 {
    // The 8-byte stamp comes first in every MPMC slot.
    spsc_slot_size(fixed_size) + 8
}

/// Message `seq` of producer `producer`: its id, its sequence number, then
/// bytes derived from both. Variable-length messages vary in length (2 to 8
/// bytes) so that the length field is checked too.
pub fn encode(producer: u8, seq: u8, fixed_size: bool) -> Vec<u8> {
    let len = if fixed_size {
        PAYLOAD
    } else {
        2 + (usize::from(seq) * 3 + usize::from(producer)) % (PAYLOAD - 1)
    };
    let mut message = vec![producer, seq];
    message.extend(
        (2..len).map(|index| producer.wrapping_mul(37) ^ seq.wrapping_mul(11) ^ index as u8 ^ 0xa5),
    );
    message
}

/// The producer and sequence number of a received message, after checking
/// that every byte and the length are exactly what [`encode`] wrote.
pub fn decode(message: &[u8], fixed_size: bool) -> (u8, u8) {
    assert!(
        message.len() >= 2,
        "message of {} bytes is too short: {message:x?}",
        message.len()
    );
    assert_ne!(
        message, JUNK,
        "received the bytes of a slot that was never committed"
    );
    let (producer, seq) = (message[0], message[1]);
    assert_eq!(
        message,
        encode(producer, seq, fixed_size),
        "torn or foreign payload"
    );
    (producer, seq)
}

/// What a call found, told apart from the ring being full or empty: `false`
/// from a send, `None` from a reserve or read, an empty batch.
pub trait Found: Sized {
    type Value;
    fn found(self) -> Option<Self::Value>;
}

impl Found for bool {
    type Value = ();
    fn found(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Found for Option<T> {
    type Value = T;
    fn found(self) -> Option<T> {
        self
    }
}

impl<'a, K: shmlane::Protocol> Found for shmlane::WriteBatch<'a, K> {
    type Value = Self;
    fn found(self) -> Option<Self> {
        (!self.is_empty()).then_some(self)
    }
}

impl<'a, K: shmlane::Protocol> Found for shmlane::ReadBatch<'a, K> {
    type Value = Self;
    fn found(self) -> Option<Self> {
        (!self.is_empty()).then_some(self)
    }
}

/// Calls `attempt` until it succeeds, yielding to the other threads while the
/// ring is full or empty; any error fails the model.
pub fn retry<F: Found>(mut attempt: impl FnMut() -> Result<F, Error>) -> F::Value {
    loop {
        match attempt().map(Found::found) {
            Ok(Some(value)) => return value,
            Ok(None) => loom::thread::yield_now(),
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
}

/// How often a thread of a model with three or more threads tries one
/// operation before it gives up (yielding between tries).
///
/// Such models never wait for another thread without bound. loom's scheduler is
/// not fair after a yield: with two threads spinning on a third that holds a
/// claimed slot, it explores schedules in which the two take turns forever
/// (tokio-rs/loom#53) and stops with "Model exceeded maximum number of
/// branches". So each thread tries a few times, gives up, and the main thread
/// drains the ring once the others have finished.
///
/// It also keeps each MPMC handle below 16 `Full`/`Empty` results: a
/// handle's watch of its peers rescans the participant records only after 16
/// polls and 1 ms of wall-clock time, and a model must not depend on the clock
/// (loom replays each execution and stops with "Is the model fully
/// deterministic?" when a replay takes another path).
pub const ATTEMPTS: usize = 2;

/// Calls `attempt` up to [`ATTEMPTS`] times while the ring is full or empty,
/// yielding between tries; `None` if it never succeeded. Any other error fails
/// the model.
pub fn attempt_a_few<H, F: Found>(
    handle: &mut H,
    mut attempt: impl FnMut(&mut H) -> Result<F, Error>,
) -> Option<F::Value> {
    for tries in 1..=ATTEMPTS {
        match attempt(handle).map(Found::found) {
            Ok(Some(value)) => return Some(value),
            Ok(None) if tries < ATTEMPTS => loom::thread::yield_now(),
            Ok(None) => return None,
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    None
}

/// Receives everything an MPMC consumer can read now, until `Empty`.
pub fn drain(consumer: &mut mpmc::Consumer, fixed_size: bool) -> Vec<(u8, u8)> {
    let mut received = Vec::new();
    loop {
        match consumer.try_read() {
            Ok(Some(message)) => received.push(decode(&message, fixed_size)),
            Ok(None) => return received,
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
}

/// Checks what the consumers of an MPMC model received, one list per consumer
/// in the order it received them: every message of every producer exactly
/// once, and each producer's messages in order within each consumer's list.
pub fn check_delivery(per_consumer: &[Vec<(u8, u8)>], messages_per_producer: &[u8]) {
    for received in per_consumer {
        for (producer, &count) in messages_per_producer.iter().enumerate() {
            let seqs: Vec<u8> = received
                .iter()
                .filter(|(from, _)| usize::from(*from) == producer)
                .map(|&(_, seq)| seq)
                .collect();
            assert!(
                seqs.windows(2).all(|pair| pair[0] < pair[1]),
                "producer {producer}'s messages out of order at one consumer: {seqs:?}"
            );
            assert!(
                seqs.iter().all(|&seq| seq < count),
                "unknown message {seqs:?}"
            );
        }
    }
    let mut all: Vec<(u8, u8)> = per_consumer.iter().flatten().copied().collect();
    all.sort_unstable();
    let expected: Vec<(u8, u8)> = messages_per_producer
        .iter()
        .enumerate()
        .flat_map(|(producer, &count)| (0..count).map(move |seq| (producer as u8, seq)))
        .collect();
    assert_eq!(all, expected, "not every message delivered exactly once");
}
