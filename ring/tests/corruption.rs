//! A corrupted mapping: shared memory is untrusted input.
//!
//! A second mapping of the ring file plays a broken or hostile peer. It writes
//! random and near-plausible values over the producer line, the consumer line,
//! the slot lengths and the participant records, between the calls a producer
//! and a consumer keep making. `docs/design.md` and DESIGN.md ("The mapping is a
//! wire format") promise that such a peer can cause an error, never a panic, an
//! access outside the mapping, or a hang: every call must return, with data no
//! longer than `max_payload` or with one of the errors that call can give.
//!
//! The scribbler writes only between calls, never while the library has lent
//! out a slice of a slot (a read or write guard), so the test itself never
//! writes memory that a live Rust reference covers.
#![cfg(not(loom))] // the loom build of shmlane has no file layer

mod common;

use std::error::Error as StdError;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use common::{Scratch, Scribbler};
use shmlane::layout::{
    owner_word, HEAD_OFFSET, LINE_SIZE, PRODUCER_LINE_OFFSET, RECORD_OWNER, ROLE_CONSUMER,
    ROLE_PRODUCER, STATE_ACTIVE, STATE_CLOSED, STATE_FREE, TAIL_OFFSET,
};
use shmlane::{spsc, Error, ErrorKind, Geometry, Ring, RingOptions};

const CAPACITY: u64 = 16;
const SLOT_SIZE: u64 = 64;
/// Scribble-and-call rounds in the main test: epochs of fresh handles, each of
/// some rounds.
const EPOCHS: u64 = 10;
const ROUNDS_PER_EPOCH: u64 = 500;
const ITERATIONS: u64 = EPOCHS * ROUNDS_PER_EPOCH;
/// Hang guard for the whole loop; it normally takes well under a second.
const HANG_GUARD: Duration = Duration::from_secs(30);
/// Seed of the scribbler's generator, fixed so that a failure replays.
const SEED: u64 = 0x5348_4d4c_414e_4531;

/// xorshift64*: small, deterministic, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// True once in `n` calls on average.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// Offset of slot `index`'s length field (an SPSC slot starts with it).
fn len_offset(geometry: &Geometry, index: u64) -> usize {
    (geometry.slots_offset + index * geometry.slot_size) as usize
}

/// Offset of participant record `index`'s owner word.
fn owner_offset(geometry: &Geometry, index: u32) -> usize {
    geometry.record_offset(index) + RECORD_OWNER
}

/// A message that says where it came from, `len` bytes long.
fn message(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as u8).wrapping_add(i as u8))
        .collect()
}

/// Reads every byte, so that an out-of-bounds slice would be touched, not just made.
fn checksum(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u64, |sum, &byte| sum.rotate_left(5) ^ u64::from(byte))
}

/// What the calls returned, counted.
#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    scribbles: u64,
    heals: u64,
    messages_read: u64,
    messages_written: u64,
    empty: u64,
    full: u64,
    corrupt: u64,
    disconnected: u64,
    message_too_large: u64,
    buffer_too_small: u64,
    /// Every byte read folded together, so that no read is optimized away.
    checksum: u64,
}

/// The ring, the scribbler, and what the test knows.
struct Fuzz {
    rng: XorShift,
    ring: Ring,
    scribbler: Scribbler,
    geometry: Geometry,
    max_payload: usize,
    /// The tail word as the producer last stored it (its own position).
    known_tail: u64,
    /// The head word as the consumer last stored it (its own position).
    known_head: u64,
    /// The owner words of the producer's and the consumer's records after joining.
    known_owners: [u64; 2],
    tally: Tally,
    failures: Vec<String>,
}

impl Fuzz {
    fn fail(&mut self, what: String) {
        // Keep the report short: the first few failures say enough.
        if self.failures.len() < 20 {
            self.failures.push(what);
        }
    }

    /// A position near `base`, or a wild one.
    fn position_near(&mut self, base: u64) -> u64 {
        let span = CAPACITY + 2;
        match self.rng.below(5) {
            0 => self.rng.next(),
            1 => 0,
            2 => u64::MAX - self.rng.below(span),
            _ => base
                .wrapping_add(self.rng.below(2 * span + 1))
                .wrapping_sub(span),
        }
    }

    /// A length near `max_payload`, or a wild one.
    fn length(&mut self) -> u32 {
        let max = self.max_payload as u32;
        match self.rng.below(7) {
            0 => u32::MAX,
            1 => max + 1,
            2 => max,
            3 => 0,
            4 => 1 << 31,
            5 => self.rng.below(2 * u64::from(max) + 2) as u32,
            _ => self.rng.next() as u32,
        }
    }

    fn scribble(&mut self) {
        self.tally.scribbles += 1;
        let slot = self.rng.below(CAPACITY);
        match self.rng.below(16) {
            0..=2 => {
                let head = self.scribbler.read_u64(HEAD_OFFSET);
                let tail = self.position_near(head);
                self.scribbler.write_u64(TAIL_OFFSET, tail);
            }
            3..=5 => {
                let tail = self.scribbler.read_u64(TAIL_OFFSET);
                let head = self.position_near(tail);
                self.scribbler.write_u64(HEAD_OFFSET, head);
            }
            6 | 7 => {
                // Random bytes anywhere in the producer line and the consumer line
                // right after it.
                let len = 1 + self.rng.below(16) as usize;
                let offset = PRODUCER_LINE_OFFSET
                    + self.rng.below((2 * LINE_SIZE - len) as u64 + 1) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| self.rng.next() as u8).collect();
                self.scribbler.write(offset, &bytes);
            }
            8..=12 => {
                let len = self.length();
                self.scribbler
                    .write_u32(len_offset(&self.geometry, slot), len);
            }
            13 | 14 => {
                // Random bytes over a slot's header (length and flags) and payload start.
                let len = 1 + self.rng.below(16) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| self.rng.next() as u8).collect();
                self.scribbler
                    .write(len_offset(&self.geometry, slot), &bytes);
            }
            _ => {
                let record = self.rng.below(2) as u32;
                let role = if record == 0 {
                    ROLE_PRODUCER
                } else {
                    ROLE_CONSUMER
                };
                let word = match self.rng.below(4) {
                    0 => owner_word(1, role, STATE_FREE),
                    1 => owner_word(1, role, STATE_CLOSED),
                    2 => owner_word(self.rng.next() as u32, role, STATE_ACTIVE),
                    _ => self.rng.next(),
                };
                self.scribbler
                    .write_u64(owner_offset(&self.geometry, record), word);
            }
        }
    }

    /// Puts back what the handles last stored, so that the ring works again
    /// often enough for the success paths to run too.
    fn heal(&mut self) {
        self.tally.heals += 1;
        self.scribbler.write_u64(TAIL_OFFSET, self.known_tail);
        self.scribbler.write_u64(HEAD_OFFSET, self.known_head);
        for (record, word) in self.known_owners.into_iter().enumerate() {
            self.scribbler
                .write_u64(owner_offset(&self.geometry, record as u32), word);
        }
    }

    /// Counts an error that the call may give, or records a failure.
    fn expect_error(&mut self, call: &str, error: Error, allowed: impl Fn(&Error) -> bool) {
        if !allowed(&error) {
            self.fail(format!("{call} returned an unexpected error: {error:?}"));
            return;
        }
        match error.kind() {
            ErrorKind::Corrupt => self.tally.corrupt += 1,
            ErrorKind::Disconnected => self.tally.disconnected += 1,
            ErrorKind::MessageTooLarge => self.tally.message_too_large += 1,
            ErrorKind::BufferTooSmall => self.tally.buffer_too_small += 1,
            _ => {}
        }
    }

    fn check_read(&mut self, call: &str, len: usize, sum: u64) {
        self.tally.messages_read += 1;
        self.tally.checksum ^= sum;
        if len > self.max_payload {
            self.fail(format!(
                "{call} gave a message of {len} bytes, above max_payload {}",
                self.max_payload
            ));
        }
    }

    /// One call on the consumer.
    fn consumer_call(&mut self, consumer: &mut spsc::Consumer) {
        let max = self.max_payload;
        let reading =
            |error: &Error| matches!(error.kind(), ErrorKind::Corrupt | ErrorKind::Disconnected);
        match self.rng.below(3) {
            0 => {
                let result = consumer
                    .try_read()
                    .map(|message| message.map(|message| (message.len(), checksum(&message))));
                match result {
                    Ok(Some((len, sum))) => self.check_read("try_read", len, sum),
                    Ok(None) => self.tally.empty += 1,
                    Err(error) => self.expect_error("try_read", error, reading),
                }
            }
            1 => {
                let wanted = self.rng.below(CAPACITY + 3) as usize;
                let result = consumer.try_read_batch(wanted).map(|batch| {
                    let lens_and_sums: Vec<(usize, u64)> = batch
                        .iter()
                        .map(|message| (message.len(), checksum(message)))
                        .collect();
                    (batch.len(), lens_and_sums)
                });
                match result {
                    Ok((0, _)) if wanted > 0 => self.tally.empty += 1,
                    Ok((count, lens_and_sums)) => {
                        if count > wanted || count as u64 > CAPACITY {
                            self.fail(format!("try_read_batch({wanted}) gave {count} messages"));
                        }
                        for (len, sum) in lens_and_sums {
                            self.check_read("try_read_batch", len, sum);
                        }
                    }
                    Err(error) => self.expect_error("try_read_batch", error, reading),
                }
            }
            _ => {
                let mut buffer = vec![0u8; self.rng.below(max as u64 + 9) as usize];
                let available = buffer.len();
                match consumer.try_recv(&mut buffer) {
                    Ok(None) => self.tally.empty += 1,
                    Ok(Some(len)) => {
                        if len > available {
                            self.fail(format!(
                                "try_recv said {len} bytes into a buffer of {available}"
                            ));
                        }
                        let sum = checksum(&buffer[..len.min(available)]);
                        self.check_read("try_recv", len, sum);
                    }
                    Err(error) => self.expect_error("try_recv", error, |error| {
                        reading(error)
                            || matches!(
                                (error.kind(), error.sizes()),
                                (ErrorKind::BufferTooSmall, Some((needed, given)))
                                    if given == available as u64 && needed > given && needed <= max as u64
                            )
                    }),
                }
            }
        }
    }

    /// One call on the producer.
    fn producer_call(&mut self, producer: &mut spsc::Producer) {
        let max = self.max_payload;
        let writing =
            |error: &Error| matches!(error.kind(), ErrorKind::Corrupt | ErrorKind::Disconnected);
        let too_large = |error: &Error, len: usize| {
            error.kind() == ErrorKind::MessageTooLarge
                && error.sizes() == Some((len as u64, max as u64))
        };
        match self.rng.below(3) {
            0 => {
                let len = self.rng.below(max as u64 + 5) as usize;
                let seed = self.rng.next();
                match producer.try_send(&message(seed, len)) {
                    Ok(_) if len > max => {
                        self.fail(format!("try_send of {len} bytes (max {max}) succeeded"));
                    }
                    Ok(true) => self.tally.messages_written += 1,
                    Ok(false) => self.tally.full += 1,
                    Err(error) if len > max => {
                        self.expect_error("try_send", error, |error| too_large(error, len));
                    }
                    Err(error) => self.expect_error("try_send", error, writing),
                }
            }
            1 => {
                let len = self.rng.below(max as u64 + 5) as usize;
                let commit = !self.rng.one_in(4);
                let result = producer.try_reserve().and_then(|slot| {
                    let Some(mut slot) = slot else {
                        return Ok(None);
                    };
                    let fill = len.min(slot.len());
                    slot[..fill].fill(0xa5);
                    if commit {
                        slot.commit(len).map(|()| Some(true))
                    } else {
                        Ok(Some(false)) // dropped unpublished
                    }
                });
                match result {
                    Ok(Some(true)) if len > max => {
                        self.fail(format!("commit of {len} bytes (max {max}) succeeded"));
                    }
                    Ok(Some(true)) => self.tally.messages_written += 1,
                    Ok(Some(false)) => {}
                    Ok(None) => self.tally.full += 1,
                    Err(error) => self.expect_error("try_reserve + commit", error, |error| {
                        writing(error) || (len > max && too_large(error, len))
                    }),
                }
            }
            _ => {
                let wanted = self.rng.below(CAPACITY + 3) as usize;
                let lens: Vec<usize> = (0..wanted)
                    .map(|_| self.rng.below(max as u64 + 2) as usize)
                    .collect();
                let seed = self.rng.next();
                let how = self.rng.below(3);
                let keep = self.rng.below(wanted as u64 + 1) as usize;
                let mut refused = Vec::new();
                let result = producer.try_reserve_batch(wanted).map(|mut batch| {
                    let count = batch.len();
                    for (index, &len) in lens.iter().enumerate().take(count) {
                        if let Err(error) = batch.write(index, &message(seed, len)) {
                            refused.push((len, error));
                        }
                    }
                    let published = match how {
                        0 => {
                            batch.commit();
                            count
                        }
                        1 => {
                            batch.commit_first(keep);
                            keep.min(count)
                        }
                        _ => 0, // dropped unpublished
                    };
                    (count, published)
                });
                for (len, error) in refused {
                    self.expect_error("WriteBatch::write", error, |error| {
                        len > max && too_large(error, len)
                    });
                }
                match result {
                    Ok((0, _)) if wanted > 0 => self.tally.full += 1,
                    Ok((count, published)) => {
                        if count > wanted || count as u64 > CAPACITY {
                            self.fail(format!("try_reserve_batch({wanted}) gave {count} slots"));
                        }
                        self.tally.messages_written += published as u64;
                    }
                    Err(error) => self.expect_error("try_reserve_batch", error, writing),
                }
            }
        }
    }

    /// Runs the epochs; the first uses the handles the test joined, each later
    /// one joins fresh handles at a new position, since a ring whose positions a
    /// peer has scrambled may stay broken for the handles that saw it.
    fn run(mut self, first: (spsc::Producer, spsc::Consumer)) -> (Tally, Vec<String>) {
        let mut handles = Some(first);
        for epoch in 0..EPOCHS {
            let (mut producer, mut consumer) = match handles.take() {
                Some(handles) => handles,
                None => match self.join_at_new_position() {
                    Ok(handles) => handles,
                    Err(error) => {
                        self.fail(format!("joining for epoch {epoch}: {error:?}"));
                        continue;
                    }
                },
            };
            self.known_tail = self.scribbler.read_u64(TAIL_OFFSET);
            self.known_head = self.scribbler.read_u64(HEAD_OFFSET);
            self.known_owners = [
                self.scribbler.read_u64(owner_offset(&self.geometry, 0)),
                self.scribbler.read_u64(owner_offset(&self.geometry, 1)),
            ];
            for _ in 0..ROUNDS_PER_EPOCH {
                self.round(&mut producer, &mut consumer);
            }
        }
        (self.tally, self.failures)
    }

    /// Puts both positions at one new place (sometimes just before they wrap
    /// around `u64::MAX`) and joins a new producer and consumer there.
    fn join_at_new_position(&mut self) -> Result<(spsc::Producer, spsc::Consumer), Error> {
        let position = match self.rng.below(3) {
            0 => self.rng.next(),
            1 => u64::MAX - self.rng.below(2 * CAPACITY),
            _ => self.rng.below(1 << 20),
        };
        self.scribbler.write_u64(TAIL_OFFSET, position);
        self.scribbler.write_u64(HEAD_OFFSET, position);
        let producer = spsc::Producer::join(&self.ring)?;
        let consumer = spsc::Consumer::join(&self.ring)?;
        Ok((producer, consumer))
    }

    /// Maybe scribbles or heals, then makes one call.
    fn round(&mut self, producer: &mut spsc::Producer, consumer: &mut spsc::Consumer) {
        if self.rng.one_in(8) {
            self.heal();
        } else if self.rng.one_in(3) {
            for _ in 0..=self.rng.below(3) {
                self.scribble();
            }
        }
        self.tally.calls += 1;
        if self.rng.one_in(2) {
            let before = self.scribbler.read_u64(HEAD_OFFSET);
            self.consumer_call(consumer);
            let after = self.scribbler.read_u64(HEAD_OFFSET);
            if after != before {
                // Only the consumer stores the head; a change is its own position.
                self.known_head = after;
            }
        } else {
            let before = self.scribbler.read_u64(TAIL_OFFSET);
            self.producer_call(producer);
            let after = self.scribbler.read_u64(TAIL_OFFSET);
            if after != before {
                self.known_tail = after;
            }
        }
    }
}

#[test]
fn scribbling_over_the_mapping_gives_errors_never_panics_or_hangs() -> Result<(), Box<dyn StdError>>
{
    let scratch = Scratch::new("fuzz")?;
    let path = scratch.path("ring");
    let ring = Ring::create(&path, &RingOptions::spsc(CAPACITY, SLOT_SIZE))?;
    let geometry = ring.geometry();
    let mut producer = spsc::Producer::join(&ring)?;
    let mut consumer = spsc::Consumer::join(&ring)?;
    for index in 0..10 {
        assert!(producer.try_send(&message(index, 8 + index as usize))?);
    }
    for index in 0..3 {
        assert_eq!(
            &*consumer
                .try_read()?
                .expect("the test made room or a message for this"),
            &message(index, 8 + index as usize)[..]
        );
    }
    let scribbler = Scribbler::open(&path)?;
    assert_eq!(scribbler.len() as u64, geometry.total_size);
    let fuzz = Fuzz {
        rng: XorShift(SEED),
        max_payload: ring.max_payload(),
        ring,
        scribbler,
        geometry,
        known_tail: 0,
        known_head: 0,
        known_owners: [0; 2],
        tally: Tally::default(),
        failures: Vec::new(),
    };

    // The loop runs on its own thread so that a hang fails the test instead of
    // stalling it; the scratch directory is removed either way.
    let started = Instant::now();
    let (done, finished) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = done.send(fuzz.run((producer, consumer)));
    });
    let (tally, failures) = match finished.recv_timeout(HANG_GUARD) {
        Ok(report) => report,
        Err(RecvTimeoutError::Timeout) => {
            panic!("the scribble-and-call loop did not finish within {HANG_GUARD:?}: a call hung")
        }
        Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => panic!("the loop ended without a report"),
        },
    };
    eprintln!("{ITERATIONS} rounds in {:?}: {tally:#?}", started.elapsed());

    assert!(
        failures.is_empty(),
        "{} failures (at most 20 are kept):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    assert_eq!(tally.calls, ITERATIONS);
    // The scribbling was seen, and the ring still moved messages in between.
    assert!(tally.corrupt > 0, "no corruption was reported: {tally:?}");
    assert!(tally.messages_read > 0, "nothing was read: {tally:?}");
    assert!(tally.messages_written > 0, "nothing was written: {tally:?}");
    Ok(())
}

/// A fresh ring with a producer, a consumer, and a scribbler over it.
struct Fixture {
    _scratch: Scratch,
    ring: Ring,
    producer: spsc::Producer,
    consumer: spsc::Consumer,
    scribbler: Scribbler,
}

impl Fixture {
    fn new(tag: &str) -> Result<Fixture, Box<dyn StdError>> {
        let scratch = Scratch::new(tag)?;
        let path = scratch.path("ring");
        let ring = Ring::create(&path, &RingOptions::spsc(CAPACITY, SLOT_SIZE))?;
        let producer = spsc::Producer::join(&ring)?;
        let consumer = spsc::Consumer::join(&ring)?;
        let scribbler = Scribbler::open(&path)?;
        Ok(Fixture {
            _scratch: scratch,
            ring,
            producer,
            consumer,
            scribbler,
        })
    }
}

#[derive(Clone, Copy, Debug)]
enum Reader {
    Read,
    Recv,
    Batch,
}

#[test]
fn a_huge_length_in_the_last_slot_is_skipped_as_corrupt() -> Result<(), Box<dyn StdError>> {
    let mut fixture = Fixture::new("last-slot")?;
    let geometry = fixture.ring.geometry();
    let max = fixture.ring.max_payload();
    // The last slot ends exactly where the ring does: a reader that believed its
    // length would run off the end of the mapping.
    let last_slot = len_offset(&geometry, CAPACITY - 1);
    assert_eq!(last_slot as u64 + geometry.slot_size, geometry.total_size);

    let mut round = 0u64;
    for reader in [Reader::Read, Reader::Recv, Reader::Batch] {
        for bad_len in [u32::MAX, 1 << 31, max as u32 + 1] {
            // Fill the ring so that its last message sits in the last slot, and
            // read all but that one.
            for index in 0..CAPACITY {
                assert!(fixture
                    .producer
                    .try_send(&message(round + index, 1 + index as usize))?);
            }
            for index in 0..CAPACITY - 1 {
                let expected = message(round + index, 1 + index as usize);
                assert_eq!(
                    &*fixture
                        .consumer
                        .try_read()?
                        .expect("the test made room or a message for this"),
                    &expected[..]
                );
            }
            fixture.scribbler.write_u32(last_slot, bad_len);

            let mut buffer = vec![0u8; 1 << 16];
            let result = match reader {
                Reader::Read => fixture
                    .consumer
                    .try_read()
                    .map(|message| message.map(|m| m.len())),
                Reader::Recv => fixture.consumer.try_recv(&mut buffer),
                Reader::Batch => fixture
                    .consumer
                    .try_read_batch(CAPACITY as usize)
                    .map(|batch| Some(batch.iter().map(<[u8]>::len).sum())),
            };
            assert!(
                matches!(result, Err(ref e) if e.kind() == ErrorKind::Corrupt),
                "{reader:?} of a message claiming {bad_len} bytes: {result:?}"
            );
            let next = fixture
                .consumer
                .try_read()
                .map(|message| message.map(|m| m.len()));
            assert!(
                matches!(next, Ok(None)),
                "the corrupt message was not skipped after {reader:?}: {next:?}"
            );
            round += CAPACITY;
        }
    }
    Ok(())
}

#[test]
fn a_batch_stops_before_a_message_with_a_huge_length() -> Result<(), Box<dyn StdError>> {
    let mut fixture = Fixture::new("batch-stop")?;
    let geometry = fixture.ring.geometry();
    assert!(fixture.producer.try_send(b"first")?);
    assert!(fixture.producer.try_send(b"second")?);
    assert!(fixture.producer.try_send(b"third")?);
    fixture
        .scribbler
        .write_u32(len_offset(&geometry, 1), u32::MAX);

    let batch = fixture.consumer.try_read_batch(3)?;
    let messages: Vec<Vec<u8>> = batch.iter().map(<[u8]>::to_vec).collect();
    drop(batch);
    assert_eq!(messages, [b"first".to_vec()]);
    let skipped = fixture
        .consumer
        .try_read()
        .map(|message| message.map(|m| m.len()));
    assert!(
        matches!(skipped, Err(ref e) if e.kind() == ErrorKind::Corrupt),
        "{skipped:?}"
    );
    assert_eq!(
        &*fixture
            .consumer
            .try_read()?
            .expect("the test made room or a message for this"),
        b"third"
    );
    Ok(())
}

#[test]
fn a_batch_bounds_a_length_changed_while_it_is_held() -> Result<(), Box<dyn StdError>> {
    let mut fixture = Fixture::new("batch-held")?;
    let geometry = fixture.ring.geometry();
    let max = fixture.ring.max_payload();
    assert!(fixture.producer.try_send(b"first")?);
    assert!(fixture.producer.try_send(b"second")?);

    let batch = fixture.consumer.try_read_batch(2)?;
    assert_eq!(batch.len(), 2);
    // The batch validated both lengths when it was made; a peer now rewrites one.
    // No slice of slot 1 is lent out at this point, only the batch's claim on it.
    fixture
        .scribbler
        .write_u32(len_offset(&geometry, 1), u32::MAX);
    let second = batch.get(1);
    assert!(second.len() <= max, "{} bytes", second.len());
    std::hint::black_box(checksum(second)); // every byte of it is readable
    assert_eq!(batch.get(0), b"first");
    Ok(())
}

/// An MPMC stamp ahead of the position (which no handle writes by protocol:
/// a stamp only moves past a position after the position did) is reported as
/// `Corrupt` at once, by producers and consumers, instead of being retried as
/// a lost race until the attempts run out.
#[test]
fn an_mpmc_stamp_ahead_of_its_position_is_corrupt_at_once() -> Result<(), Box<dyn StdError>> {
    use std::os::unix::fs::FileExt;
    let scratch = Scratch::new("stamp-ahead")?;
    let path = scratch.path("ring");
    let ring = Ring::create(&path, &RingOptions::mpmc(4, 32, 2))?;
    let mut producer = shmlane::mpmc::Producer::join(&ring)?;
    let mut consumer = shmlane::mpmc::Consumer::join(&ring)?;
    let geometry = ring.geometry();
    let file = std::fs::OpenOptions::new().write(true).open(&path)?;
    let stamp_of_slot = |index: u64| geometry.slots_offset + index * geometry.slot_size;

    // Slot 0 claims to be free for position 5, although `tail` is 0.
    file.write_at(&5u64.to_le_bytes(), stamp_of_slot(0))?;
    let reserved = producer.try_reserve().map(|_| ());
    assert!(
        matches!(reserved, Err(ref e) if e.kind() == ErrorKind::Corrupt),
        "{reserved:?}"
    );
    // And to hold the message of position 7, although `head` is 0.
    file.write_at(&8u64.to_le_bytes(), stamp_of_slot(0))?;
    let read = consumer.try_read().map(|message| message.map(|m| m.len()));
    assert!(
        matches!(read, Err(ref e) if e.kind() == ErrorKind::Corrupt),
        "{read:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Headers that fail their own checks, and creators that cannot finish.

/// Far longer than any test here waits: an open that waits for a creator
/// this long, rather than reporting the file at once, hits [`OPEN_BOUND`].
const LONG_READY_TIMEOUT: Duration = Duration::from_secs(3600);
/// Generous bound on an open that reports a corrupt header at once.
const OPEN_BOUND: Duration = Duration::from_secs(10);
/// Offset of the header's capacity field (`docs/layout.md`).
const CAPACITY_FIELD: u64 = 24;

/// Opens `path` with a ready timeout of [`LONG_READY_TIMEOUT`] in a thread
/// of its own; panics if the open takes longer than [`OPEN_BOUND`].
fn open_patiently(path: &std::path::Path, what: &str) -> Result<(), Error> {
    let path = path.to_owned();
    let (sender, result) = mpsc::channel();
    thread::spawn(move || {
        let opened = shmlane::OpenOptions::new()
            .ready_timeout(LONG_READY_TIMEOUT)
            .open(&path)
            .map(drop);
        let _ = sender.send(opened);
    });
    match result.recv_timeout(OPEN_BOUND) {
        Ok(opened) => opened,
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: the open still waits for a creator after {OPEN_BOUND:?}")
        }
        Err(RecvTimeoutError::Disconnected) => panic!("{what}: the open panicked"),
    }
}

/// Asserts that `result` is `Corrupt`, names `path`, and names `field`.
fn assert_corrupt_naming(result: Result<(), Error>, path: &std::path::Path, field: &str) {
    let error = result.expect_err("a corrupt ring must not open");
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    assert_eq!(error.path(), Some(path), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains(field),
        "the message names the file and the field {field}: {message}"
    );
}

/// A ring file at `path` whose header `edit` rewrote in place (the layout hash
/// left as it was).
fn ring_with_header_bytes(
    scratch: &Scratch,
    edit: impl FnOnce(&std::fs::File) -> std::io::Result<()>,
) -> Result<std::path::PathBuf, Box<dyn StdError>> {
    let path = scratch.path("ring");
    drop(Ring::create(
        &path,
        &RingOptions::spsc(CAPACITY, SLOT_SIZE),
    )?);
    edit(&std::fs::OpenOptions::new().write(true).open(&path)?)?;
    Ok(path)
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn a_file_with_the_magic_and_zeros_after_it_is_corrupt_at_once() -> Result<(), Box<dyn StdError>> {
    use std::os::unix::fs::FileExt;
    let scratch = Scratch::new("magic-zeros")?;
    let path = scratch.path("ring");
    let file = std::fs::File::create(&path)?;
    file.set_len(4096)?;
    file.write_at(&shmlane::layout::MAGIC.to_le_bytes(), 0)?;
    // Creator pid 0: no creator wrote this header, nobody is still writing it.
    assert_corrupt_naming(
        open_patiently(&path, "magic, then zeros"),
        &path,
        "creator_pid",
    );
    assert_corrupt_naming(shmlane::info(&path).map(drop), &path, "creator_pid");
    Ok(())
}

#[test]
fn a_header_whose_creator_died_before_its_ready_word_is_corrupt_at_once(
) -> Result<(), Box<dyn StdError>> {
    use std::os::unix::fs::FileExt;
    let scratch = Scratch::new("creator-dead")?;
    let path = ring_with_header_bytes(&scratch, |file| {
        file.write_all_at(&0u32.to_le_bytes(), shmlane::layout::READY_OFFSET as u64)?;
        file.write_all_at(&dead_pid().to_le_bytes(), 120)
    })?;
    assert_corrupt_naming(
        open_patiently(&path, "a dead creator"),
        &path,
        "creator_pid",
    );
    Ok(())
}

#[test]
fn a_ready_word_of_no_known_value_is_corrupt_at_once() -> Result<(), Box<dyn StdError>> {
    use std::os::unix::fs::FileExt;
    let scratch = Scratch::new("ready-garbage")?;
    // The creator (this process) is alive, but no creator stores this value.
    let path = ring_with_header_bytes(&scratch, |file| {
        file.write_all_at(
            &0x1234u32.to_le_bytes(),
            shmlane::layout::READY_OFFSET as u64,
        )
    })?;
    assert_corrupt_naming(
        open_patiently(&path, "a garbage ready word"),
        &path,
        "ready",
    );
    Ok(())
}

#[test]
fn a_ready_ring_whose_capacity_was_overwritten_is_corrupt_naming_the_field(
) -> Result<(), Box<dyn StdError>> {
    use std::os::unix::fs::FileExt;
    let scratch = Scratch::new("capacity-1000")?;
    let path = ring_with_header_bytes(&scratch, |file| {
        file.write_all_at(&1000u64.to_le_bytes(), CAPACITY_FIELD)
    })?;
    assert_corrupt_naming(Ring::open(&path).map(drop), &path, "capacity");
    assert_corrupt_naming(shmlane::info(&path).map(drop), &path, "capacity");
    Ok(())
}

#[test]
fn a_ring_not_ready_in_time_names_the_file_and_the_timeout_as_people_write_it(
) -> Result<(), Box<dyn StdError>> {
    let scratch = Scratch::new("not-ready")?;
    let path = scratch.path("zeros");
    // All zeros: a creator may be about to write its header, so the open waits.
    std::fs::write(&path, [0u8; 4096])?;
    let error = shmlane::OpenOptions::new()
        .ready_timeout(Duration::from_millis(50))
        .open(&path)
        .map(drop)
        .expect_err("nobody made it ready");
    assert_eq!(error.kind(), ErrorKind::NotReady, "{error}");
    assert_eq!(error.path(), Some(path.as_path()), "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "ring at {} was not initialized by its creator within 50 ms",
            path.display()
        )
    );
    Ok(())
}
