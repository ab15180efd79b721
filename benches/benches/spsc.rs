//! SPSC throughput: shmlane beside rtrb, measured in the same run.
//!
//! Each case is one criterion group holding a `shmlane` and an `rtrb` benchmark
//! run with the same harness, so that the ratio of the two within one run is
//! meaningful on a shared machine (`benches/ratios.py` prints it):
//!
//! | group | what moves |
//! |---|---|
//! | `spsc-8B-one` | 8-byte messages one at a time, two threads |
//! | `spsc-8B-batch64`, `spsc-8B-batch256` | 8-byte messages in batches, two threads |
//! | `spsc-8B-blocking` | 8-byte messages one at a time through the blocking `send`/`recv`, with `WaitStrategy::spinning()` and `sleeping()` |
//! | `spsc-64B-one` | 64-byte messages one at a time, two threads; rtrb's items written and read in place, as shmlane's |
//! | `spsc-64B-processes` | 64-byte messages one at a time; shmlane's consumer is another process, rtrb's a thread |
//! | `spsc-1KiB-one`, `spsc-64KiB-one` | 1 KiB and 64 KiB messages one at a time, each filled from a source buffer (reserve + fill + commit); also a single-thread `memcpy` of the same size, the bandwidth floor |
//!
//! The harness: a long-lived consumer (thread, or for the cross-process case a
//! child process running this same binary) reads forever and adds the first 8
//! bytes of each message to a checksum. One criterion iteration is one message:
//! `iter_custom` times the producer sending `iters` messages and then waiting
//! until the consumer has caught up, so the figure is end-to-end throughput.
//!
//! Thread consumers report progress through a counter they store only when they
//! find the ring empty, which costs nothing while messages flow and is always
//! stored once the producer stops. The cross-process consumer has no such
//! counter; there the producer polls the ring's `head` through [`Ring::info`], as
//! it does for the blocking consumers, which have no "empty" moment to report
//! at (they wait inside `recv`).
//!
//! With `SHMLANE_BENCH_QUICK=1` in the environment every group measures briefly
//! (the smoke test of `benches/suite.py --quick`); criterion's own
//! `--measurement-time` cannot do it, since a group's settings win over it.

use std::hint::{black_box, spin_loop};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion};
use shmlane::{spsc, ErrorKind, ParticipantState, Ring, RingOptions, Role, WaitStrategy};

use common::{group, RemoveOnDrop};

mod common;

/// Slots in every ring, shmlane's and rtrb's, but those of 64 KiB messages.
const CAPACITY: usize = 1024;
/// Slots in the rings of 64 KiB messages: 4 MiB, beyond one core's L2 cache
/// like the 1 MiB rings of 1 KiB messages, but not a DRAM benchmark as 1024
/// slots (64 MiB) would be.
const CAPACITY_64KIB: usize = 64;
/// Environment variable that makes this binary the consumer of the ring it names.
const CONSUMER_ENV: &str = "SHMLANE_BENCH_CONSUMER";
/// How long the cross-process consumer may take to start and join.
const CHILD_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the cross-process consumer may take to exit once the producer left.
const CHILD_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long criterion measures each benchmark (but under `SHMLANE_BENCH_QUICK`).
const MEASUREMENT_TIME: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    // Checked before criterion sees the command line: the child is this binary.
    if let Some(name) = std::env::var_os(CONSUMER_ENV) {
        return consume_in_child(&name.to_string_lossy());
    }
    let mut criterion = Criterion::default().configure_from_args();
    eight_bytes_one_at_a_time(&mut criterion);
    eight_bytes_in_batches(&mut criterion, 64);
    eight_bytes_in_batches(&mut criterion, 256);
    eight_bytes_blocking(&mut criterion);
    sixty_four_bytes_one_at_a_time(&mut criterion);
    sixty_four_bytes_across_processes(&mut criterion);
    large_messages::<1024>(&mut criterion, "spsc-1KiB-one", CAPACITY);
    large_messages::<65536>(&mut criterion, "spsc-64KiB-one", CAPACITY_64KIB);
    criterion.final_summary();
    ExitCode::SUCCESS
}

fn eight_bytes_one_at_a_time(criterion: &mut Criterion) {
    let mut group = group(criterion, "spsc-8B-one", MEASUREMENT_TIME);
    {
        let (producer, consumer) = shmlane_fixed_pair("8B-one-fixed", 8);
        let mut lane = Threaded::start(producer, move |consumed| {
            shmlane_consume_one(consumer, consumed)
        });
        group.bench_function("shmlane-fixed", |b| {
            b.iter_custom(|iters| lane.measure(iters, shmlane_send_one::<8>))
        });
    }
    {
        let (producer, consumer) = shmlane_pair("8B-one", 8);
        let mut lane = Threaded::start(producer, move |consumed| {
            shmlane_consume_one(consumer, consumed)
        });
        group.bench_function("shmlane", |b| {
            b.iter_custom(|iters| lane.measure(iters, shmlane_send_one::<8>))
        });
    }
    rtrb_8_bytes_one_at_a_time(&mut group);
    group.finish();
}

fn eight_bytes_in_batches(criterion: &mut Criterion, batch: usize) {
    let mut group = group(
        criterion,
        &format!("spsc-8B-batch{batch}"),
        MEASUREMENT_TIME,
    );
    {
        let (producer, consumer) = shmlane_fixed_pair(&format!("8B-batch{batch}-fixed"), 8);
        let mut lane = Threaded::start(producer, move |consumed| {
            shmlane_consume_fixed_batches(consumer, consumed, batch)
        });
        group.bench_function("shmlane-fixed", |b| {
            b.iter_custom(|iters| {
                lane.measure(iters, |p, first, count| {
                    shmlane_send_fixed_batches(p, first, count, batch)
                })
            })
        });
    }
    {
        let (producer, consumer) = shmlane_pair(&format!("8B-batch{batch}"), 8);
        let mut lane = Threaded::start(producer, move |consumed| {
            shmlane_consume_batches(consumer, consumed, batch)
        });
        group.bench_function("shmlane", |b| {
            b.iter_custom(|iters| {
                lane.measure(iters, |p, first, count| {
                    shmlane_send_batches(p, first, count, batch)
                })
            })
        });
    }
    {
        let (producer, consumer) = rtrb::RingBuffer::<u64>::new(CAPACITY);
        let mut lane = Threaded::start(producer, move |consumed| {
            rtrb_consume_batches(consumer, consumed, batch)
        });
        group.bench_function("rtrb", |b| {
            b.iter_custom(|iters| {
                lane.measure(iters, |p, first, count| {
                    rtrb_send_batches(p, first, count, batch)
                })
            })
        });
    }
    group.finish();
}

/// Blocking `send` and `recv` on both sides, each handle with the same wait
/// strategy, beside rtrb's non-blocking one-at-a-time loop (the same as in
/// `spsc-8B-one`).
fn eight_bytes_blocking(criterion: &mut Criterion) {
    let mut group = group(criterion, "spsc-8B-blocking", MEASUREMENT_TIME);
    for (bench, strategy) in [
        ("shmlane-spinning", WaitStrategy::spinning()),
        ("shmlane-sleeping", WaitStrategy::sleeping()),
    ] {
        let mut lane = BlockingLane::start(&format!("8B-{bench}"), strategy);
        group.bench_function(bench, |b| b.iter_custom(|iters| lane.measure(iters)));
    }
    rtrb_8_bytes_one_at_a_time(&mut group);
    group.finish();
}

/// Messages of `N` bytes (1 KiB, 64 KiB) one at a time, each filled from the
/// same source buffer with its sequence number over the first 8 bytes: shmlane
/// (fixed-size and variable-length rings) and rtrb written in place, beside the
/// floor, one thread copying `N` bytes at a time into successive `N`-byte
/// blocks of a buffer as large as the rings (`capacity` × `N` bytes).
fn large_messages<const N: usize>(criterion: &mut Criterion, name: &str, capacity: usize) {
    let source = source_payload(N);
    let mut group = group(criterion, name, MEASUREMENT_TIME);
    let case = name.trim_start_matches("spsc-");
    {
        let options = RingOptions::spsc_fixed(capacity as u64, N as u64);
        let (producer, consumer) = joined_pair(&format!("{case}-fixed"), &options);
        let mut lane = Threaded::start(producer, move |consumed| {
            shmlane_consume_one(consumer, consumed)
        });
        group.bench_function("shmlane-fixed", |b| {
            b.iter_custom(|iters| {
                lane.measure(iters, |p, first, count| {
                    shmlane_send_filled(p, first, count, &source)
                })
            })
        });
    }
    {
        let options = RingOptions::spsc_for_payload(capacity as u64, N as u64);
        let (producer, consumer) = joined_pair(case, &options);
        let mut lane = Threaded::start(producer, move |consumed| {
            shmlane_consume_one(consumer, consumed)
        });
        group.bench_function("shmlane", |b| {
            b.iter_custom(|iters| {
                lane.measure(iters, |p, first, count| {
                    shmlane_send_filled(p, first, count, &source)
                })
            })
        });
    }
    {
        let (producer, consumer) = rtrb::RingBuffer::<[u8; N]>::new(capacity);
        let mut lane = Threaded::start(producer, move |consumed| {
            rtrb_consume_in_place(consumer, consumed)
        });
        group.bench_function("rtrb", |b| {
            b.iter_custom(|iters| {
                lane.measure(iters, |p, first, count| {
                    rtrb_send_in_place(p, first, count, &source)
                })
            })
        });
    }
    {
        let mut floor = MemcpyFloor::new(capacity, N);
        group.bench_function("memcpy", |b| {
            b.iter_custom(|iters| floor.measure(iters, &source))
        });
    }
    group.finish();
}

fn sixty_four_bytes_one_at_a_time(criterion: &mut Criterion) {
    let mut group = group(criterion, "spsc-64B-one", MEASUREMENT_TIME);
    {
        let (producer, consumer) = shmlane_pair("64B-one", 64);
        let mut lane = Threaded::start(producer, move |consumed| {
            shmlane_consume_one(consumer, consumed)
        });
        group.bench_function("shmlane", |b| {
            b.iter_custom(|iters| lane.measure(iters, shmlane_send_one::<64>))
        });
    }
    rtrb_64_bytes_one_at_a_time(&mut group);
    group.finish();
}

fn sixty_four_bytes_across_processes(criterion: &mut Criterion) {
    let mut group = group(criterion, "spsc-64B-processes", MEASUREMENT_TIME);
    {
        let mut lane = CrossProcess::start("64B-processes", 64);
        group.bench_function("shmlane", |b| b.iter_custom(|iters| lane.measure(iters)));
        lane.finish();
    }
    // The budget's peer: rtrb cannot cross processes, so its two threads are the floor.
    rtrb_64_bytes_one_at_a_time(&mut group);
    group.finish();
}

/// rtrb's `u64` items one at a time through `push` / `pop`: the peer of the
/// 8-byte groups.
fn rtrb_8_bytes_one_at_a_time(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let (producer, consumer) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    let mut lane = Threaded::start(producer, move |consumed| {
        rtrb_consume_one(consumer, consumed)
    });
    group.bench_function("rtrb", |b| {
        b.iter_custom(|iters| lane.measure(iters, rtrb_send_one))
    });
}

/// rtrb's `[u8; 64]` items one at a time, written and read in place through
/// one-slot chunks: the work shmlane does (the producer writes the message
/// into the slot, the consumer reads its first 8 bytes where it lies), where
/// `push` / `pop` would move each item through the stack on both sides. The
/// source is all zeros, so each item holds what `message::<64>` gives shmlane.
fn rtrb_64_bytes_one_at_a_time(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let (producer, consumer) = rtrb::RingBuffer::<[u8; 64]>::new(CAPACITY);
    let mut lane = Threaded::start(producer, move |consumed| {
        rtrb_consume_in_place(consumer, consumed)
    });
    let source = [0u8; 64];
    group.bench_function("rtrb", |b| {
        b.iter_custom(|iters| {
            lane.measure(iters, |p, first, count| {
                rtrb_send_in_place(p, first, count, &source)
            })
        })
    });
}

// ---------------------------------------------------------------------------
// Messages

/// A message of `N` bytes whose first 8 bytes are `seq` (little-endian).
#[inline]
fn message<const N: usize>(seq: u64) -> [u8; N] {
    let mut bytes = [0u8; N];
    bytes[..8].copy_from_slice(&seq.to_le_bytes());
    bytes
}

/// The first 8 bytes of a message as a little-endian word (0 if it is shorter).
#[inline]
fn first_word(message: &[u8]) -> u64 {
    message
        .first_chunk::<8>()
        .map_or(0, |word| u64::from_le_bytes(*word))
}

/// The bytes every large message is filled from: not all zero, so that no
/// copy can be mistaken for a zeroing.
fn source_payload(len: usize) -> Vec<u8> {
    (0..len).map(|index| (index % 251) as u8).collect()
}

/// Fills `destination` with `source`, then stamps `seq` over its first 8 bytes.
#[inline]
fn fill(destination: &mut [u8], source: &[u8], seq: u64) {
    destination.copy_from_slice(source);
    destination[..8].copy_from_slice(&seq.to_le_bytes());
}

// ---------------------------------------------------------------------------
// The thread harness

/// The consumer's progress: messages consumed, on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Progress(AtomicU64);

/// A producer on the bench thread and a consumer thread that reads forever.
struct Threaded<P> {
    /// Dropped to tell the consumer to stop.
    producer: Option<P>,
    /// Messages sent so far.
    sent: u64,
    progress: Arc<Progress>,
    consumer: Option<JoinHandle<()>>,
}

impl<P> Threaded<P> {
    /// Starts `consume` on its own thread. It must store its running count of
    /// consumed messages (Release) whenever it finds the ring empty, and return
    /// once the producer is gone and the ring drained.
    fn start(producer: P, consume: impl FnOnce(&AtomicU64) + Send + 'static) -> Threaded<P> {
        let progress = Arc::new(Progress::default());
        let consumer_progress = Arc::clone(&progress);
        let consumer = thread::Builder::new()
            .name("bench-consumer".to_owned())
            .spawn(move || consume(&consumer_progress.0))
            .expect("spawning the consumer thread");
        Threaded {
            producer: Some(producer),
            sent: 0,
            progress,
            consumer: Some(consumer),
        }
    }

    /// Sends `iters` messages with `send(producer, first_seq, count)` and waits
    /// until the consumer has consumed them; returns the time both took.
    fn measure(&mut self, iters: u64, mut send: impl FnMut(&mut P, u64, u64)) -> Duration {
        let producer = self.producer.as_mut().expect("producer present until drop");
        let started = Instant::now();
        send(producer, self.sent, iters);
        self.sent += iters;
        // Ordering: Acquire, pairs with the consumer's Release store of its count.
        while self.progress.0.load(Ordering::Acquire) != self.sent {
            spin_loop();
        }
        started.elapsed()
    }
}

impl<P> Drop for Threaded<P> {
    fn drop(&mut self) {
        drop(self.producer.take());
        if let Some(consumer) = self.consumer.take() {
            if consumer.join().is_err() && !thread::panicking() {
                panic!("the consumer thread panicked");
            }
        }
    }
}

/// Publishes `consumed` to the producer if it changed since the last time.
#[inline]
fn publish_progress(progress: &AtomicU64, published: &mut u64, consumed: u64) {
    if *published != consumed {
        // Ordering: Release, pairs with the Acquire load in `Threaded::measure`.
        progress.store(consumed, Ordering::Release);
        *published = consumed;
    }
}

// ---------------------------------------------------------------------------
// shmlane over threads

/// A fresh ring in /dev/shm for messages of `payload` bytes, joined by both
/// sides. The file is removed at once: the mapping outlives the name.
fn shmlane_pair(case: &str, payload: u64) -> (spsc::Producer, spsc::Consumer) {
    joined_pair(
        case,
        &RingOptions::spsc_for_payload(CAPACITY as u64, payload),
    )
}

/// As [`shmlane_pair`], for a ring of fixed-size messages of `size` bytes:
/// slots without a length field, the layout that matches rtrb's `u64` items.
fn shmlane_fixed_pair(case: &str, size: u64) -> (spsc::Producer, spsc::Consumer) {
    joined_pair(case, &RingOptions::spsc_fixed(CAPACITY as u64, size))
}

/// A fresh ring in /dev/shm made with `options`, joined by both sides. The
/// file is removed at once: the mapping outlives the name.
fn joined_pair(case: &str, options: &RingOptions) -> (spsc::Producer, spsc::Consumer) {
    let (ring, _remove) = create_ring(case, options);
    let producer = spsc::Producer::join(&ring).expect("joining as producer");
    let consumer = spsc::Consumer::join(&ring).expect("joining as consumer");
    (producer, consumer)
}

/// A fresh ring in /dev/shm made with `options` under a name holding the pid
/// and `case`, and the guard that removes its file.
fn create_ring(case: &str, options: &RingOptions) -> (Ring, RemoveOnDrop) {
    let name = format!("shmlane-bench-{}-{case}", std::process::id());
    let ring = Ring::create(&name, options).expect("creating the bench ring");
    (ring, RemoveOnDrop(name))
}

#[inline]
fn shmlane_send_one<const N: usize>(producer: &mut spsc::Producer, first: u64, count: u64) {
    for seq in first..first + count {
        let bytes = message::<N>(seq);
        loop {
            match producer.try_reserve() {
                Ok(Some(mut slot)) => {
                    slot[..N].copy_from_slice(&bytes);
                    slot.commit(N).expect("message fits the slot");
                    break;
                }
                Ok(None) => spin_loop(),
                Err(err) => panic!("shmlane producer: {err}"),
            }
        }
    }
}

/// Reserve, fill from `source` in place, commit: one message at a time.
#[inline]
fn shmlane_send_filled(producer: &mut spsc::Producer, first: u64, count: u64, source: &[u8]) {
    for seq in first..first + count {
        loop {
            match producer.try_reserve() {
                Ok(Some(mut slot)) => {
                    fill(&mut slot[..source.len()], source, seq);
                    slot.commit(source.len()).expect("message fits the slot");
                    break;
                }
                Ok(None) => spin_loop(),
                Err(err) => panic!("shmlane producer: {err}"),
            }
        }
    }
}

fn shmlane_send_batches(producer: &mut spsc::Producer, first: u64, count: u64, batch: usize) {
    let end = first + count;
    let mut seq = first;
    while seq < end {
        let wanted = (end - seq).min(batch as u64) as usize;
        match producer.try_reserve_batch(wanted) {
            Ok(ref batch) if batch.is_empty() => spin_loop(),
            Ok(mut slots) => {
                for index in 0..slots.len() {
                    let bytes = message::<8>(seq + index as u64);
                    slots.write(index, &bytes).expect("message fits the slot");
                }
                seq += slots.len() as u64;
                slots.commit();
            }
            Err(err) => panic!("shmlane producer: {err}"),
        }
    }
}

/// Batches of 8-byte records written through the batch's contiguous runs.
fn shmlane_send_fixed_batches(producer: &mut spsc::Producer, first: u64, count: u64, batch: usize) {
    let end = first + count;
    let mut seq = first;
    while seq < end {
        let wanted = (end - seq).min(batch as u64) as usize;
        match producer.try_reserve_batch(wanted) {
            Ok(ref batch) if batch.is_empty() => spin_loop(),
            Ok(mut slots) => {
                let len = slots.len();
                let (head, wrapped) = slots.as_mut_slices().expect("fixed-size ring");
                let records = head.chunks_exact_mut(8).chain(wrapped.chunks_exact_mut(8));
                for (record, seq) in records.zip(seq..) {
                    record.copy_from_slice(&seq.to_le_bytes());
                }
                seq += len as u64;
                slots.commit();
            }
            Err(err) => panic!("shmlane producer: {err}"),
        }
    }
}

fn shmlane_consume_fixed_batches(mut consumer: spsc::Consumer, progress: &AtomicU64, batch: usize) {
    let (mut consumed, mut published, mut checksum) = (0u64, 0u64, 0u64);
    loop {
        match consumer.try_read_batch(batch) {
            Ok(ref batch) if batch.is_empty() => {
                publish_progress(progress, &mut published, consumed);
                spin_loop();
            }
            Ok(messages) => {
                let (head, wrapped) = messages.as_slices().expect("fixed-size ring");
                for record in head.chunks_exact(8).chain(wrapped.chunks_exact(8)) {
                    checksum = checksum.wrapping_add(black_box(first_word(record)));
                }
                consumed += messages.len() as u64;
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(err) => panic!("shmlane consumer: {err}"),
        }
    }
    black_box(checksum);
}

fn shmlane_consume_one(mut consumer: spsc::Consumer, progress: &AtomicU64) {
    let (mut consumed, mut published, mut checksum) = (0u64, 0u64, 0u64);
    loop {
        match consumer.try_read() {
            Ok(Some(message)) => {
                checksum = checksum.wrapping_add(black_box(first_word(&message)));
                consumed += 1;
            }
            Ok(None) => {
                publish_progress(progress, &mut published, consumed);
                spin_loop();
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(err) => panic!("shmlane consumer: {err}"),
        }
    }
    black_box(checksum);
}

fn shmlane_consume_batches(mut consumer: spsc::Consumer, progress: &AtomicU64, batch: usize) {
    let (mut consumed, mut published, mut checksum) = (0u64, 0u64, 0u64);
    loop {
        match consumer.try_read_batch(batch) {
            Ok(ref batch) if batch.is_empty() => {
                publish_progress(progress, &mut published, consumed);
                spin_loop();
            }
            Ok(messages) => {
                for message in messages.iter() {
                    checksum = checksum.wrapping_add(black_box(first_word(message)));
                }
                consumed += messages.len() as u64;
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(err) => panic!("shmlane consumer: {err}"),
        }
    }
    black_box(checksum);
}

// ---------------------------------------------------------------------------
// rtrb over threads

#[inline]
fn rtrb_send_one(producer: &mut rtrb::Producer<u64>, first: u64, count: u64) {
    for seq in first..first + count {
        while producer.push(seq).is_err() {
            spin_loop();
        }
    }
}

/// Writes up to `batch` items per chunk, re-reading the consumer's position only
/// when the cached one shows too few free slots (as shmlane's batch reserve does).
fn rtrb_send_batches(producer: &mut rtrb::Producer<u64>, first: u64, count: u64, batch: usize) {
    let end = first + count;
    let mut seq = first;
    while seq < end {
        let wanted = (end - seq).min(batch as u64) as usize;
        let mut free = producer.cached_slots();
        if free < wanted {
            free = producer.slots();
        }
        let len = wanted.min(free);
        if len == 0 {
            spin_loop();
            continue;
        }
        let chunk = producer
            .write_chunk_uninit(len)
            .expect("slots seen free stay free");
        seq += chunk.fill_from_iter(seq..seq + len as u64) as u64;
    }
}

fn rtrb_consume_one(mut consumer: rtrb::Consumer<u64>, progress: &AtomicU64) {
    let (mut consumed, mut published, mut checksum) = (0u64, 0u64, 0u64);
    loop {
        match consumer.pop() {
            Ok(item) => {
                checksum = checksum.wrapping_add(black_box(item));
                consumed += 1;
            }
            Err(rtrb::PopError::Empty) => {
                publish_progress(progress, &mut published, consumed);
                if consumer.is_abandoned() && consumer.is_empty() {
                    break;
                }
                spin_loop();
            }
        }
    }
    black_box(checksum);
}

/// One item at a time, written in place through a chunk of one slot: the
/// zero-copy way to move a large item through rtrb (`push` would move it
/// through the stack).
fn rtrb_send_in_place<const N: usize>(
    producer: &mut rtrb::Producer<[u8; N]>,
    first: u64,
    count: u64,
    source: &[u8],
) {
    assert_eq!(source.len(), N, "one item's worth of source bytes");
    for seq in first..first + count {
        let mut chunk = loop {
            match producer.write_chunk_uninit(1) {
                Ok(chunk) => break chunk,
                Err(rtrb::chunks::ChunkError::TooFewSlots(_)) => spin_loop(),
            }
        };
        let item: *mut u8 = chunk.as_mut_slices().0[0].as_mut_ptr().cast();
        // SAFETY: `item` points to the chunk's one slot, `N` writable bytes
        // that nothing else touches until the commit below; `source` holds `N`
        // bytes and does not overlap the ring's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(source.as_ptr(), item, N);
            std::ptr::copy_nonoverlapping(seq.to_le_bytes().as_ptr(), item, 8);
        }
        // SAFETY: every byte of the chunk's one item was written just above.
        unsafe { chunk.commit_all() };
    }
}

/// Reads one item at a time in place, through a chunk of one slot.
fn rtrb_consume_in_place<const N: usize>(
    mut consumer: rtrb::Consumer<[u8; N]>,
    progress: &AtomicU64,
) {
    let (mut consumed, mut published, mut checksum) = (0u64, 0u64, 0u64);
    loop {
        match consumer.read_chunk(1) {
            Ok(chunk) => {
                checksum = checksum.wrapping_add(black_box(first_word(&chunk.as_slices().0[0])));
                chunk.commit_all();
                consumed += 1;
            }
            Err(rtrb::chunks::ChunkError::TooFewSlots(_)) => {
                publish_progress(progress, &mut published, consumed);
                if consumer.is_abandoned() && consumer.is_empty() {
                    break;
                }
                spin_loop();
            }
        }
    }
    black_box(checksum);
}

fn rtrb_consume_batches(mut consumer: rtrb::Consumer<u64>, progress: &AtomicU64, batch: usize) {
    let (mut consumed, mut published, mut checksum) = (0u64, 0u64, 0u64);
    loop {
        let mut available = consumer.cached_slots();
        if available < batch {
            available = consumer.slots();
        }
        let len = available.min(batch);
        if len == 0 {
            publish_progress(progress, &mut published, consumed);
            if consumer.is_abandoned() && consumer.is_empty() {
                break;
            }
            spin_loop();
            continue;
        }
        let chunk = consumer.read_chunk(len).expect("slots seen full stay full");
        let (head_part, wrapped_part) = chunk.as_slices();
        for item in head_part.iter().chain(wrapped_part) {
            checksum = checksum.wrapping_add(black_box(*item));
        }
        chunk.commit_all();
        consumed += len as u64;
    }
    black_box(checksum);
}

// ---------------------------------------------------------------------------
// The floor of large messages: memcpy on one thread

/// One thread copying messages into successive blocks of a buffer with the
/// footprint of a ring, so that the floor meets the same caches as the rings.
struct MemcpyFloor {
    destination: Vec<u8>,
    message_size: usize,
    /// Index of the next block to write.
    next_block: usize,
    /// Messages copied so far: the next sequence number.
    copied: u64,
}

impl MemcpyFloor {
    fn new(blocks: usize, message_size: usize) -> MemcpyFloor {
        MemcpyFloor {
            destination: vec![0; blocks * message_size],
            message_size,
            next_block: 0,
            copied: 0,
        }
    }

    /// Copies `iters` messages from `source`; returns the time that took.
    fn measure(&mut self, iters: u64, source: &[u8]) -> Duration {
        let blocks = self.destination.len() / self.message_size;
        let started = Instant::now();
        for seq in self.copied..self.copied + iters {
            let start = self.next_block * self.message_size;
            let block = &mut self.destination[start..start + self.message_size];
            fill(block, source, seq);
            black_box(block);
            self.next_block = (self.next_block + 1) % blocks;
        }
        let elapsed = started.elapsed();
        self.copied += iters;
        elapsed
    }
}

// ---------------------------------------------------------------------------
// shmlane with blocking calls

/// A producer on the bench thread and a consumer thread, both calling the
/// blocking `send` / `recv` with one wait strategy. The consumer has no moment
/// at which to report its progress (it waits inside `recv`), so the producer
/// polls the ring's `head` through [`Ring::info`] at the end of each sample.
struct BlockingLane {
    ring: Ring,
    /// Dropped to tell the consumer to stop.
    producer: Option<spsc::Producer>,
    /// Messages sent so far.
    sent: u64,
    consumer: Option<JoinHandle<()>>,
    _remove: RemoveOnDrop,
}

impl BlockingLane {
    fn start(case: &str, strategy: WaitStrategy) -> BlockingLane {
        let (ring, remove) = create_ring(case, &RingOptions::spsc_fixed(CAPACITY as u64, 8));
        let mut producer = spsc::Producer::join(&ring).expect("joining as producer");
        let mut consumer = spsc::Consumer::join(&ring).expect("joining as consumer");
        producer.set_wait_strategy(strategy);
        consumer.set_wait_strategy(strategy);
        let consumer = thread::Builder::new()
            .name("bench-consumer".to_owned())
            .spawn(move || {
                let mut buffer = [0u8; 8];
                let mut checksum = 0u64;
                loop {
                    match consumer.recv(&mut buffer, None) {
                        Ok(_) => checksum = checksum.wrapping_add(black_box(first_word(&buffer))),
                        Err(e) if e.kind() == ErrorKind::Disconnected => break,
                        Err(err) => panic!("shmlane consumer: {err}"),
                    }
                }
                black_box(checksum);
            })
            .expect("spawning the consumer thread");
        BlockingLane {
            ring,
            producer: Some(producer),
            sent: 0,
            consumer: Some(consumer),
            _remove: remove,
        }
    }

    fn measure(&mut self, iters: u64) -> Duration {
        let producer = self.producer.as_mut().expect("producer present until drop");
        let started = Instant::now();
        for seq in self.sent..self.sent + iters {
            producer
                .send(&seq.to_le_bytes(), None)
                .unwrap_or_else(|err| panic!("shmlane producer: {err}"));
        }
        self.sent += iters;
        // `recv` releases each slot as it copies it out, so `head` counts the
        // messages consumed.
        while self.ring.info().head != self.sent {
            spin_loop();
        }
        started.elapsed()
    }
}

impl Drop for BlockingLane {
    fn drop(&mut self) {
        drop(self.producer.take());
        if let Some(consumer) = self.consumer.take() {
            if consumer.join().is_err() && !thread::panicking() {
                panic!("the consumer thread panicked");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// shmlane across processes

/// A producer in this process and a consumer in a child process running this
/// same binary with [`CONSUMER_ENV`] set.
struct CrossProcess {
    ring: Ring,
    producer: Option<spsc::Producer>,
    child: Child,
    sent: u64,
    _remove: RemoveOnDrop,
}

impl CrossProcess {
    fn start(case: &str, payload: u64) -> CrossProcess {
        let options = RingOptions::spsc_for_payload(CAPACITY as u64, payload);
        let (ring, remove) = create_ring(case, &options);
        let producer = spsc::Producer::join(&ring).expect("joining as producer");
        let mut child = Command::new(std::env::current_exe().expect("path of the bench binary"))
            .env(CONSUMER_ENV, &remove.0)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawning the consumer process");
        // Wait until the child has joined, so that no sample times its start-up.
        let started = Instant::now();
        while !consumer_alive(&ring) {
            if let Some(status) = child.try_wait().expect("polling the consumer process") {
                panic!("the consumer process exited before joining: {status}");
            }
            if started.elapsed() > CHILD_START_TIMEOUT {
                let _ = child.kill();
                panic!("the consumer process did not join within {CHILD_START_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(1));
        }
        CrossProcess {
            ring,
            producer: Some(producer),
            child,
            sent: 0,
            _remove: remove,
        }
    }

    fn measure(&mut self, iters: u64) -> Duration {
        let producer = self
            .producer
            .as_mut()
            .expect("producer present until finish");
        let started = Instant::now();
        shmlane_send_one::<64>(producer, self.sent, iters);
        self.sent += iters;
        // The consumer releases each slot as it reads it, so `head` counts the
        // messages consumed.
        while self.ring.info().head != self.sent {
            spin_loop();
        }
        started.elapsed()
    }

    /// Leaves the ring, which makes the child see `Disconnected` and exit.
    fn finish(mut self) {
        drop(self.producer.take());
        let started = Instant::now();
        loop {
            match self.child.try_wait().expect("polling the consumer process") {
                Some(status) if status.success() => return,
                Some(status) => panic!("the consumer process failed: {status}"),
                None if started.elapsed() > CHILD_EXIT_TIMEOUT => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("the consumer process did not exit within {CHILD_EXIT_TIMEOUT:?}");
                }
                None => thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

fn consumer_alive(ring: &Ring) -> bool {
    ring.info()
        .participants
        .iter()
        .any(|p| p.role == Some(Role::Consumer) && p.state == ParticipantState::Alive)
}

/// The body of the child process: consumes ring `name` until the producer leaves.
fn consume_in_child(name: &str) -> ExitCode {
    let joined = Ring::open(name).and_then(|ring| spsc::Consumer::join(&ring));
    let mut consumer = match joined {
        Ok(consumer) => consumer,
        Err(err) => {
            eprintln!("bench consumer: joining ring {name}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut checksum = 0u64;
    loop {
        match consumer.try_read() {
            Ok(Some(message)) => checksum = checksum.wrapping_add(black_box(first_word(&message))),
            Ok(None) => spin_loop(),
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(err) => {
                eprintln!("bench consumer: reading ring {name}: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    black_box(checksum);
    ExitCode::SUCCESS
}
