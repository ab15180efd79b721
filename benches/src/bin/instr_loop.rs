//! The single-thread loops that `benches/instructions.sh` counts under
//! callgrind: push one message, then pop it, `COUNT` times, on one ring of
//! 1024 slots (`benches/c/instr_loop.c` is the same loop through the C
//! API).
//!
//! Usage: `instr-loop CASE COUNT`, where CASE is a shmlane measure,
//! `{spsc,mpmc}-{zero-copy,copy}[-fixed]-{8,64}B` (`-fixed`: a ring of
//! fixed-size messages, otherwise one of variable-length messages whose
//! payload is exactly the message), or a peer, `rtrb-{8,64}B` (`push`/`pop`
//! of `[u8; N]`) or `arrayqueue-{8,64}B` (crossbeam's `ArrayQueue<[u8; N]>`).
//! Each message carries its sequence number in its first 8 bytes; the
//! consumer sums them, and the sum is checked after the loop. `black_box`
//! keeps the compiler from seeing through the message or the sum.
//!
//! Rings are sealed memfds: no file to name or remove, and nothing that
//! differs from one run to the next.

use std::hint::black_box;
use std::process::ExitCode;

use shmlane::{Consumer, Location, Producer, Protocol, Ring, RingOptions};

/// Slots in every ring and queue: a power of two, so that a loop of a
/// multiple of it refreshes cached positions the same number of times per
/// message whatever the count.
const CAPACITY: usize = 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(case), Some(count)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: instr-loop CASE COUNT");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<u64>() else {
        eprintln!("instr-loop: COUNT is a number, not {count:?}");
        return ExitCode::from(2);
    };
    let sum = match case.as_str() {
        "rtrb-8B" => rtrb_loop::<8>(count),
        "rtrb-64B" => rtrb_loop::<64>(count),
        "arrayqueue-8B" => arrayqueue_loop::<8>(count),
        "arrayqueue-64B" => arrayqueue_loop::<64>(count),
        "rtrb-batch64-8B" => rtrb_batch_loop(count),
        "spsc-batch64-8B" => shmlane_batch_loop(count, false),
        "spsc-batch64-fixed-8B" => shmlane_batch_loop(count, true),
        shmlane_case => match ShmlaneCase::parse(shmlane_case) {
            Some(shmlane_case) => shmlane_case.run(count),
            None => {
                eprintln!("instr-loop: unknown case {case:?}");
                return ExitCode::from(2);
            }
        },
    };
    assert_eq!(sum, count * count.saturating_sub(1) / 2, "lost a message");
    ExitCode::SUCCESS
}

/// One shmlane measure, parsed from its name.
struct ShmlaneCase {
    mpmc: bool,
    copy: bool,
    fixed: bool,
    size: usize,
}

impl ShmlaneCase {
    /// `{spsc,mpmc}-{zero-copy,copy}[-fixed]-{8,64}B`.
    fn parse(name: &str) -> Option<ShmlaneCase> {
        let (kind, rest) = name.split_once('-')?;
        let (copy, rest) = match rest.strip_prefix("zero-copy-") {
            Some(rest) => (false, rest),
            None => (true, rest.strip_prefix("copy-")?),
        };
        let (fixed, size) = match rest.strip_prefix("fixed-") {
            Some(size) => (true, size),
            None => (false, rest),
        };
        Some(ShmlaneCase {
            mpmc: match kind {
                "spsc" => false,
                "mpmc" => true,
                _ => return None,
            },
            copy,
            fixed,
            size: match size {
                "8B" => 8,
                "64B" => 64,
                _ => return None,
            },
        })
    }

    fn run(&self, count: u64) -> u64 {
        match (self.mpmc, self.size) {
            (false, 8) => self.run_kind::<shmlane::spsc::Spsc, 8>(count),
            (false, _) => self.run_kind::<shmlane::spsc::Spsc, 64>(count),
            (true, 8) => self.run_kind::<shmlane::mpmc::Mpmc, 8>(count),
            (true, _) => self.run_kind::<shmlane::mpmc::Mpmc, 64>(count),
        }
    }

    fn run_kind<K: Protocol, const N: usize>(&self, count: u64) -> u64 {
        let capacity = CAPACITY as u64;
        let size = N as u64;
        let options = match (self.mpmc, self.fixed) {
            (false, false) => RingOptions::spsc_for_payload(capacity, size),
            (false, true) => RingOptions::spsc_fixed(capacity, size),
            (true, false) => RingOptions::mpmc(capacity, size + 16, 2),
            (true, true) => RingOptions::mpmc_fixed(capacity, size, 2),
        };
        let ring = Ring::create(Location::Sealed, &options).expect("creating the ring");
        assert_eq!(ring.max_payload(), N, "a payload of exactly the message");
        let mut producer = Producer::<K>::join(&ring).expect("joining as producer");
        let mut consumer = Consumer::<K>::join(&ring).expect("joining as consumer");
        if self.copy {
            copy_loop::<K, N>(&mut producer, &mut consumer, count)
        } else {
            zero_copy_loop::<K, N>(&mut producer, &mut consumer, count)
        }
    }
}

/// A message of `N` bytes whose first 8 are `sequence`.
#[inline(always)]
fn message<const N: usize>(sequence: u64) -> [u8; N] {
    let mut message = [0u8; N];
    message[..8].copy_from_slice(&sequence.to_le_bytes());
    message
}

/// The sequence number in a message's first 8 bytes (0 for a shorter one,
/// which the check of the sum after the loop then catches). It cannot panic,
/// so the loop has no unwinding path that would make the compiler keep a
/// guard in memory, for any ring or queue alike.
#[inline(always)]
fn sequence(message: &[u8]) -> u64 {
    message
        .first_chunk::<8>()
        .map_or(0, |first| u64::from_le_bytes(*first))
}

/// `try_reserve`, write in place, `commit`; `try_read`, read in place, drop.
fn zero_copy_loop<K: Protocol, const N: usize>(
    producer: &mut Producer<K>,
    consumer: &mut Consumer<K>,
    count: u64,
) -> u64 {
    let mut sum = 0u64;
    for next in 0..count {
        let outgoing = black_box(message::<N>(next));
        let mut slot = producer.try_reserve().expect("reserve").expect("room");
        slot[..N].copy_from_slice(&outgoing);
        slot.commit(N).expect("commit");
        let incoming = consumer.try_read().expect("read").expect("a message");
        // The message's bytes go through `black_box`, as the peers' popped
        // values do (not the guard, which a caller never needs in memory).
        sum = sum.wrapping_add(sequence(black_box(&*incoming)));
    }
    black_box(sum)
}

/// `try_send` of a buffer, `try_recv` into one.
fn copy_loop<K: Protocol, const N: usize>(
    producer: &mut Producer<K>,
    consumer: &mut Consumer<K>,
    count: u64,
) -> u64 {
    let mut sum = 0u64;
    let mut buffer = [0u8; N];
    for next in 0..count {
        let outgoing = black_box(message::<N>(next));
        assert!(producer.try_send(&outgoing).expect("send"), "room");
        let len = consumer.try_recv(&mut buffer).expect("recv");
        assert_eq!(len, Some(N), "a message");
        sum = sum.wrapping_add(sequence(black_box(&buffer)));
    }
    black_box(sum)
}

/// rtrb, the SPSC peer: `push` and `pop` of `[u8; N]`.
fn rtrb_loop<const N: usize>(count: u64) -> u64 {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<[u8; N]>::new(CAPACITY);
    let mut sum = 0u64;
    for next in 0..count {
        producer.push(black_box(message::<N>(next))).expect("room");
        let incoming = consumer.pop().expect("a message");
        sum = sum.wrapping_add(sequence(black_box(&incoming)));
    }
    black_box(sum)
}

/// crossbeam's `ArrayQueue`, the MPMC peer: `push` and `pop` of `[u8; N]`.
fn arrayqueue_loop<const N: usize>(count: u64) -> u64 {
    let queue = crossbeam_queue::ArrayQueue::<[u8; N]>::new(CAPACITY);
    let mut sum = 0u64;
    for next in 0..count {
        queue.push(black_box(message::<N>(next))).expect("room");
        let incoming = queue.pop().expect("a message");
        sum = sum.wrapping_add(sequence(black_box(&incoming)));
    }
    black_box(sum)
}

/// Messages in each batch of the batch loops (`COUNT` is a multiple of it).
const BATCH: usize = 64;

/// shmlane's batches: reserve 64 slots, write each message, commit them with
/// one store; borrow 64 messages, read each in place, release them with one
/// store. The fixed-size ring's batches are written and read through their
/// contiguous runs, as a caller of such a ring would.
fn shmlane_batch_loop(count: u64, fixed: bool) -> u64 {
    let capacity = CAPACITY as u64;
    let options = if fixed {
        RingOptions::spsc_fixed(capacity, 8)
    } else {
        RingOptions::spsc_for_payload(capacity, 8)
    };
    let ring = Ring::create(Location::Sealed, &options).expect("creating the ring");
    let mut producer = shmlane::spsc::Producer::join(&ring).expect("joining as producer");
    let mut consumer = shmlane::spsc::Consumer::join(&ring).expect("joining as consumer");
    let mut sum = 0u64;
    let mut next = 0u64;
    while next < count {
        let mut slots = producer.try_reserve_batch(BATCH).expect("reserve");
        assert_eq!(slots.len(), BATCH, "room for a batch");
        if fixed {
            let (head, wrapped) = slots.as_mut_slices().expect("fixed-size ring");
            let records = head.chunks_exact_mut(8).chain(wrapped.chunks_exact_mut(8));
            for (record, sequence) in records.zip(next..) {
                record.copy_from_slice(&black_box(message::<8>(sequence)));
            }
        } else {
            for index in 0..BATCH {
                let outgoing = black_box(message::<8>(next + index as u64));
                slots.write(index, &outgoing).expect("fits");
            }
        }
        slots.commit();
        let messages = consumer.try_read_batch(BATCH).expect("read");
        assert_eq!(messages.len(), BATCH, "a batch");
        if fixed {
            let (head, wrapped) = messages.as_slices().expect("fixed-size ring");
            for record in head.chunks_exact(8).chain(wrapped.chunks_exact(8)) {
                sum = sum.wrapping_add(sequence(black_box(record)));
            }
        } else {
            for message in messages.iter() {
                sum = sum.wrapping_add(sequence(black_box(message)));
            }
        }
        drop(messages);
        next += BATCH as u64;
    }
    black_box(sum)
}

/// rtrb's chunks, the peer of the batch loops: a write chunk of 64 filled
/// from the messages, a read chunk of 64 read through its two slices.
fn rtrb_batch_loop(count: u64) -> u64 {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<[u8; 8]>::new(CAPACITY);
    let mut sum = 0u64;
    let mut next = 0u64;
    while next < count {
        let chunk = producer
            .write_chunk_uninit(BATCH)
            .expect("room for a batch");
        let filled =
            chunk.fill_from_iter((next..).map(|sequence| black_box(message::<8>(sequence))));
        assert_eq!(filled, BATCH, "a whole batch");
        let chunk = consumer.read_chunk(BATCH).expect("a batch");
        let (head, wrapped) = chunk.as_slices();
        for item in head.iter().chain(wrapped) {
            sum = sum.wrapping_add(sequence(black_box(item)));
        }
        chunk.commit_all();
        next += BATCH as u64;
    }
    black_box(sum)
}
