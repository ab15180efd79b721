//! MPMC throughput: shmlane beside crossbeam's `ArrayQueue`, measured in the same run.
//!
//! Each case is one criterion group holding the shmlane benchmarks and an
//! `arrayqueue` benchmark run with the same harness, so that the ratio of the
//! two within one run is meaningful on a shared machine (`benches/ratios.py`
//! prints it):
//!
//! | group | threads |
//! |---|---|
//! | `mpmc-1p1c` | 1 producer, 1 consumer |
//! | `mpmc-2p2c` | 2 producers, 2 consumers |
//!
//! and in each group:
//!
//! | bench | what moves |
//! |---|---|
//! | `shmlane` | 8-byte messages in a ring of variable-length messages (`RingOptions::mpmc`, 24-byte slots: stamp, length, payload), `try_reserve` + `commit` / `try_read` |
//! | `shmlane-fixed` | 8-byte messages in a ring of fixed-size messages (`RingOptions::mpmc_fixed`, 16-byte slots: stamp, payload) |
//! | `arrayqueue` | `u64` items in a `crossbeam_queue::ArrayQueue` (16-byte slots: stamp, item), `push` / `pop` |
//!
//! Every ring and queue has 1024 slots.
//!
//! The harness: long-lived consumer threads read forever and add the first 8
//! bytes of each message to a checksum. Producer 0 is criterion's measuring
//! thread; every other producer is a long-lived thread that waits for work.
//! One criterion iteration is one message: `iter_custom` splits `iters`
//! messages evenly among the producers, starts them, and times until every
//! message has been consumed, so the figure is the total end-to-end throughput
//! of all threads together.
//!
//! Consumers report progress through a counter each stores only when it finds
//! the ring empty, which costs nothing while messages flow and is always stored
//! once the producers stop. Every thread that finds the ring full or empty, or
//! waits for work, backs off the same way in every benchmark: a bounded
//! exponential spin, then `yield_now` — 2 producers and 2 consumers are more
//! threads than a 2-core machine has cores.

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use criterion::Criterion;
use crossbeam_queue::ArrayQueue;
use shmlane::{mpmc, ErrorKind, Kind, Ring, RingOptions};

use common::{group, RemoveOnDrop};

mod common;

/// Slots in every ring and queue.
const CAPACITY: usize = 1024;
/// Bytes in every message.
const MESSAGE_SIZE: usize = 8;
/// How long criterion measures each benchmark (but under `SHMLANE_BENCH_QUICK`):
/// longer than the SPSC groups' 3 s, since with 4 threads on 2 cores, 2p2c
/// samples depend on the scheduler and vary more.
const MEASUREMENT_TIME: Duration = Duration::from_secs(5);

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    threads(&mut criterion, 1, 1);
    threads(&mut criterion, 2, 2);
    criterion.final_summary();
}

/// The group of `producers` producers and `consumers` consumers: shmlane's two
/// ring modes and `ArrayQueue`, all under the same harness.
fn threads(criterion: &mut Criterion, producers: usize, consumers: usize) {
    let case = format!("{producers}p{consumers}c");
    let mut group = group(criterion, &format!("mpmc-{case}"), MEASUREMENT_TIME);
    {
        let options = RingOptions::mpmc_fixed(
            CAPACITY as u64,
            MESSAGE_SIZE as u64,
            participants(producers, consumers),
        );
        let (p, c) = shmlane_ends(&format!("{case}-fixed"), &options, producers, consumers);
        let mut lanes = Lanes::start(p, c, shmlane_send, shmlane_consume);
        group.bench_function("shmlane-fixed", |b| {
            b.iter_custom(|iters| lanes.measure(iters))
        });
    }
    {
        // A stamp, a length field and the payload.
        let slot_size = (Kind::Mpmc.slot_header_size(false) + MESSAGE_SIZE) as u64;
        let options = RingOptions::mpmc(
            CAPACITY as u64,
            slot_size,
            participants(producers, consumers),
        );
        assert_eq!(options.max_payload(), MESSAGE_SIZE as u64);
        let (p, c) = shmlane_ends(&case, &options, producers, consumers);
        let mut lanes = Lanes::start(p, c, shmlane_send, shmlane_consume);
        group.bench_function("shmlane", |b| b.iter_custom(|iters| lanes.measure(iters)));
    }
    {
        let (p, c) = queue_ends(producers, consumers);
        let mut lanes = Lanes::start(p, c, queue_send, queue_consume);
        group.bench_function("arrayqueue", |b| {
            b.iter_custom(|iters| lanes.measure(iters))
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// Waiting

/// Bounded exponential spinning, then yielding the processor: what every thread
/// of every benchmark does when it finds the ring full or empty or has no work.
/// The same steps as `crossbeam_utils::Backoff::snooze`.
struct Backoff {
    step: u32,
}

impl Backoff {
    /// Spins 2^step times up to this step, then yields.
    const SPIN_LIMIT: u32 = 6;
    /// The step stops growing here.
    const YIELD_LIMIT: u32 = 10;

    #[inline]
    fn new() -> Backoff {
        Backoff { step: 0 }
    }

    #[inline]
    fn reset(&mut self) {
        self.step = 0;
    }

    #[inline]
    fn snooze(&mut self) {
        if self.step <= Self::SPIN_LIMIT {
            for _ in 0..1u32 << self.step {
                spin_loop();
            }
        } else {
            thread::yield_now();
        }
        if self.step <= Self::YIELD_LIMIT {
            self.step += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// The thread harness

/// A counter on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Counter(AtomicU64);

/// What criterion's thread shares with one helper producer thread.
#[derive(Default)]
struct HelperControl {
    /// Messages the helper is to have sent in total; raised by `measure`.
    goal: Counter,
    /// Messages the helper has sent in total; stored when it reaches `goal`.
    done: Counter,
    /// Set once, to make the helper drop its producer and return.
    stop: AtomicBool,
}

/// A helper producer thread.
struct Helper {
    control: Arc<HelperControl>,
    goal: u64,
    thread: Option<JoinHandle<()>>,
}

/// Producers and consumers of one ring or queue: producer 0 on criterion's
/// thread, the others on helper threads, every consumer on a thread of its own.
struct Lanes<P> {
    /// Dropped to leave the ring.
    main: Option<P>,
    /// Messages producer 0 has sent.
    main_sent: u64,
    send: fn(&mut P, u64, u64),
    helpers: Vec<Helper>,
    /// Messages consumed, one counter per consumer thread.
    progress: Vec<Arc<Counter>>,
    consumers: Vec<JoinHandle<()>>,
    /// Messages sent by all producers.
    sent: u64,
}

impl<P: Send + 'static> Lanes<P> {
    /// Starts a thread per consumer and per producer after the first.
    ///
    /// `send(producer, first_seq, count)` sends `count` messages. `consume`
    /// reads forever; it must store its running count of consumed messages
    /// (Release) whenever it finds the ring empty, and return once every
    /// producer is gone and the ring drained.
    fn start<C: Send + 'static>(
        producers: Vec<P>,
        consumers: Vec<C>,
        send: fn(&mut P, u64, u64),
        consume: fn(C, &AtomicU64),
    ) -> Lanes<P> {
        let mut producers = producers.into_iter();
        let main = producers.next().expect("at least one producer");
        let helpers = producers
            .enumerate()
            .map(|(index, producer)| {
                let control = Arc::new(HelperControl::default());
                let thread_control = Arc::clone(&control);
                let thread = thread::Builder::new()
                    .name(format!("bench-producer-{}", index + 1))
                    .spawn(move || produce_on_demand(producer, send, &thread_control))
                    .expect("spawning a producer thread");
                Helper {
                    control,
                    goal: 0,
                    thread: Some(thread),
                }
            })
            .collect();
        let mut progress = Vec::new();
        let consumers = consumers
            .into_iter()
            .enumerate()
            .map(|(index, consumer)| {
                let counter = Arc::new(Counter::default());
                let thread_counter = Arc::clone(&counter);
                progress.push(counter);
                thread::Builder::new()
                    .name(format!("bench-consumer-{index}"))
                    .spawn(move || consume(consumer, &thread_counter.0))
                    .expect("spawning a consumer thread")
            })
            .collect();
        Lanes {
            main: Some(main),
            main_sent: 0,
            send,
            helpers,
            progress,
            consumers,
            sent: 0,
        }
    }

    /// Has the producers send `iters` messages in all, split evenly, and waits
    /// until the consumers have consumed them; returns the time that took.
    fn measure(&mut self, iters: u64) -> Duration {
        let share = iters / (self.helpers.len() as u64 + 1);
        let main_share = iters - share * self.helpers.len() as u64;
        let started = Instant::now();
        for helper in &mut self.helpers {
            helper.goal += share;
            // Ordering: Release, pairs with the helper's Acquire load of its goal.
            helper.control.goal.0.store(helper.goal, Ordering::Release);
        }
        let main = self.main.as_mut().expect("producer present until drop");
        (self.send)(main, self.main_sent, main_share);
        self.main_sent += main_share;
        self.sent += iters;
        let mut backoff = Backoff::new();
        for helper in &self.helpers {
            // Ordering: Acquire, pairs with the helper's Release store of `done`.
            while helper.control.done.0.load(Ordering::Acquire) != helper.goal {
                backoff.snooze();
            }
        }
        // Ordering: Acquire, pairs with the consumers' Release stores of their counts.
        while self
            .progress
            .iter()
            .map(|counter| counter.0.load(Ordering::Acquire))
            .sum::<u64>()
            != self.sent
        {
            backoff.snooze();
        }
        started.elapsed()
    }
}

impl<P> Drop for Lanes<P> {
    fn drop(&mut self) {
        for helper in &self.helpers {
            // Ordering: Release, pairs with the helper's Acquire load of `stop`.
            helper.control.stop.store(true, Ordering::Release);
        }
        let mut panicked = false;
        for helper in &mut self.helpers {
            if let Some(thread) = helper.thread.take() {
                panicked |= thread.join().is_err();
            }
        }
        drop(self.main.take());
        for consumer in self.consumers.drain(..) {
            panicked |= consumer.join().is_err();
        }
        if panicked && !thread::panicking() {
            panic!("a bench thread panicked");
        }
    }
}

/// The body of a helper producer thread: sends up to each new goal until stopped.
fn produce_on_demand<P>(mut producer: P, send: fn(&mut P, u64, u64), control: &HelperControl) {
    let mut done = 0;
    let mut backoff = Backoff::new();
    loop {
        // Ordering: Acquire, pairs with the Release store in `Lanes::measure`.
        let goal = control.goal.0.load(Ordering::Acquire);
        if goal != done {
            send(&mut producer, done, goal - done);
            done = goal;
            // Ordering: Release, pairs with the Acquire load in `Lanes::measure`.
            control.done.0.store(done, Ordering::Release);
            backoff.reset();
        } else if control.stop.load(Ordering::Acquire) {
            break;
        } else {
            backoff.snooze();
        }
    }
}

/// Publishes `consumed` to the measuring thread if it changed since the last time.
#[inline]
fn publish_progress(progress: &AtomicU64, published: &mut u64, consumed: u64) {
    if *published != consumed {
        // Ordering: Release, pairs with the Acquire load in `Lanes::measure`.
        progress.store(consumed, Ordering::Release);
        *published = consumed;
    }
}

/// Participant records for the handles of a bench ring.
fn participants(producers: usize, consumers: usize) -> u32 {
    u32::try_from(producers + consumers).expect("a handful of threads")
}

// ---------------------------------------------------------------------------
// shmlane

/// A fresh MPMC ring in /dev/shm joined by `producers` producers and
/// `consumers` consumers. The file is removed at once: the mapping outlives
/// the name.
fn shmlane_ends(
    case: &str,
    options: &RingOptions,
    producers: usize,
    consumers: usize,
) -> (Vec<mpmc::Producer>, Vec<mpmc::Consumer>) {
    let name = format!("shmlane-bench-{}-mpmc-{case}", std::process::id());
    let ring = Ring::create(&name, options).expect("creating the bench ring");
    let _remove = RemoveOnDrop(name);
    let producers = (0..producers)
        .map(|_| mpmc::Producer::join(&ring).expect("joining as producer"))
        .collect();
    let consumers = (0..consumers)
        .map(|_| mpmc::Consumer::join(&ring).expect("joining as consumer"))
        .collect();
    (producers, consumers)
}

fn shmlane_send(producer: &mut mpmc::Producer, first: u64, count: u64) {
    for seq in first..first + count {
        let mut backoff = Backoff::new();
        loop {
            match producer.try_reserve() {
                Ok(Some(mut slot)) => {
                    slot[..MESSAGE_SIZE].copy_from_slice(&seq.to_le_bytes());
                    slot.commit(MESSAGE_SIZE).expect("message fits the slot");
                    break;
                }
                Ok(None) => backoff.snooze(),
                Err(err) => panic!("shmlane producer: {err}"),
            }
        }
    }
}

fn shmlane_consume(mut consumer: mpmc::Consumer, progress: &AtomicU64) {
    let (mut consumed, mut published, mut checksum) = (0u64, 0u64, 0u64);
    let mut backoff = Backoff::new();
    loop {
        match consumer.try_read() {
            Ok(Some(message)) => {
                checksum = checksum.wrapping_add(black_box(first_word(&message)));
                consumed += 1;
                backoff.reset();
            }
            Ok(None) => {
                publish_progress(progress, &mut published, consumed);
                backoff.snooze();
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(err) => panic!("shmlane consumer: {err}"),
        }
    }
    publish_progress(progress, &mut published, consumed);
    black_box(checksum);
}

/// The first 8 bytes of a message as a little-endian word (0 if it is shorter).
#[inline]
fn first_word(message: &[u8]) -> u64 {
    message
        .first_chunk::<8>()
        .map_or(0, |word| u64::from_le_bytes(*word))
}

// ---------------------------------------------------------------------------
// crossbeam ArrayQueue

/// A producer's share of an `ArrayQueue`; dropping the last one tells the
/// consumers to stop once the queue is drained (as shmlane's `Disconnected`).
struct QueueProducer {
    queue: Arc<ArrayQueue<u64>>,
    live_producers: Arc<AtomicUsize>,
}

impl Drop for QueueProducer {
    fn drop(&mut self) {
        // Ordering: Release, pairs with the consumers' Acquire load: every
        // push of this producer happens before a consumer sees it gone.
        self.live_producers.fetch_sub(1, Ordering::Release);
    }
}

/// A consumer's share of an `ArrayQueue`.
struct QueueConsumer {
    queue: Arc<ArrayQueue<u64>>,
    live_producers: Arc<AtomicUsize>,
}

fn queue_ends(producers: usize, consumers: usize) -> (Vec<QueueProducer>, Vec<QueueConsumer>) {
    let queue = Arc::new(ArrayQueue::new(CAPACITY));
    let live_producers = Arc::new(AtomicUsize::new(producers));
    let producers = (0..producers)
        .map(|_| QueueProducer {
            queue: Arc::clone(&queue),
            live_producers: Arc::clone(&live_producers),
        })
        .collect();
    let consumers = (0..consumers)
        .map(|_| QueueConsumer {
            queue: Arc::clone(&queue),
            live_producers: Arc::clone(&live_producers),
        })
        .collect();
    (producers, consumers)
}

fn queue_send(producer: &mut QueueProducer, first: u64, count: u64) {
    for seq in first..first + count {
        let mut backoff = Backoff::new();
        let mut item = seq;
        while let Err(returned) = producer.queue.push(item) {
            item = returned;
            backoff.snooze();
        }
    }
}

fn queue_consume(consumer: QueueConsumer, progress: &AtomicU64) {
    let (mut consumed, mut published, mut checksum) = (0u64, 0u64, 0u64);
    let mut backoff = Backoff::new();
    loop {
        match consumer.queue.pop() {
            Some(item) => {
                checksum = checksum.wrapping_add(black_box(item));
                consumed += 1;
                backoff.reset();
            }
            None => {
                publish_progress(progress, &mut published, consumed);
                // Ordering: Acquire, pairs with the Release decrement in
                // `QueueProducer::drop`.
                if consumer.live_producers.load(Ordering::Acquire) == 0 && consumer.queue.is_empty()
                {
                    break;
                }
                backoff.snooze();
            }
        }
    }
    publish_progress(progress, &mut published, consumed);
    black_box(checksum);
}
