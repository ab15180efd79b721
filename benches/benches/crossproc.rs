//! Throughput of 64-byte messages from one process to another: shmlane beside
//! the shared-memory rings on the registry, and rtrb between two threads as
//! the in-process reference, all measured in one invocation.
//!
//! The producer is this process; the consumer is a child forked from it
//! (for rtrb, a thread of this process). Every variant moves the same messages
//! the same way: message `i` is 64 bytes whose first 8 are `i` (little-endian);
//! the consumer checks those 8 bytes of every message and fails loudly on any
//! other value, so a lost, repeated or torn message ends the run. Both sides
//! spin with `spin_loop` when the ring is full or empty.
//!
//! | variant | what moves |
//! |---|---|
//! | `shmlane-zero-copy` | a fixed-size SPSC ring of 1024 64-byte slots; `try_reserve` + write in place + `commit`, `try_read` + read the first 8 bytes in place |
//! | `shmlane-copy` | the same ring; `try_send(&[u8; 64])`, `try_recv(&mut [u8; 64])` |
//! | `ringfire` | ringfire's SPMC ring (`RingProducer<[u8; 64]>`, 1024 slots, `FlowControl::LosslessBackpressure`, one registered `RingConsumer`): `try_push`, `try_recv` (its reads copy the item out) |
//! | `ipc_ring` | ipc_ring's byte ring (`RingWriter`/`RingReader`), 128 KiB: the smallest power of two that holds 1024 messages with their 4-byte headers; `try_push`, `try_pop` into a `Vec` |
//! | `shmring` | shmring's byte stream over `shm_open`, 64 KiB (1024 messages); `try_write` / `try_read` of 64 bytes |
//! | `rtrb-threads` | rtrb's `RingBuffer<[u8; 64]>` of 1024 slots between two threads of one process, each item written and read in place through one-slot chunks (the work shmlane does) |
//!
//! Targets (messages/s, shmlane over the peer, median of the ratios within
//! each repetition): ≥ 10× ipc_ring and shmring, ≥ 0.8× rtrb threads,
//! ≥ 1.0× ringfire.
//!
//! A run of a variant starts a fresh consumer, waits until it has attached,
//! sends [`WARM_UP`] untimed messages and waits until they are consumed, then
//! times [`MESSAGES`] messages from the first send until the consumer reports
//! the last one read. One invocation runs [`REPETITIONS`] repetitions; each
//! runs every variant once, the order rotating from repetition to repetition,
//! so that a shared machine's drift touches them alike. Only figures of one
//! repetition are compared with each other.
//!
//! ```sh
//! cargo bench -p shmlane-benches --bench crossproc
//! cargo bench -p shmlane-benches --bench crossproc -- --json results.json
//! ```
//!
//! Options (after `--`): `--json FILE` also writes the results as JSON;
//! `--quick` sends a tenth of the messages (also what a run without `--bench`
//! does: `cargo test --benches`, or the binary started by hand); `--only
//! VARIANT` runs one variant once and prints no summary (for profiling).
//!
//! Nothing is pinned. Rings live in `/dev/shm` under names holding the pid
//! and are removed when a run ends, on error too.

use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use shmlane::{spsc, Ring, RingOptions};

use forked::{
    ensure_single_threaded, fork_child, median, spin_until, Named, Options, Result, SharedPage,
    STALL_TIMEOUT,
};

mod forked;

/// Repetitions of the whole set of variants in one invocation.
const REPETITIONS: usize = 5;
/// Timed messages per run (a tenth under `--quick`).
const MESSAGES: u64 = 5_000_000;
/// Untimed messages per run, before the timed ones.
const WARM_UP: u64 = 100_000;
/// Bytes per message.
const MESSAGE_SIZE: usize = 64;
/// Messages each ring holds.
const CAPACITY: usize = 1024;

/// The variants, in the order of the report.
const VARIANTS: [Variant; 6] = [
    Variant::ShmlaneZeroCopy,
    Variant::ShmlaneCopy,
    Variant::Ringfire,
    Variant::IpcRing,
    Variant::Shmring,
    Variant::RtrbThreads,
];

/// Ratios of throughput to report: (shmlane variant, peer, smallest ratio met).
const TARGETS: [(Variant, Variant, f64); 8] = [
    (Variant::ShmlaneZeroCopy, Variant::Ringfire, 1.0),
    (Variant::ShmlaneZeroCopy, Variant::IpcRing, 10.0),
    (Variant::ShmlaneZeroCopy, Variant::Shmring, 10.0),
    (Variant::ShmlaneZeroCopy, Variant::RtrbThreads, 0.8),
    (Variant::ShmlaneCopy, Variant::Ringfire, 1.0),
    (Variant::ShmlaneCopy, Variant::IpcRing, 10.0),
    (Variant::ShmlaneCopy, Variant::Shmring, 10.0),
    (Variant::ShmlaneCopy, Variant::RtrbThreads, 0.8),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    ShmlaneZeroCopy,
    ShmlaneCopy,
    Ringfire,
    IpcRing,
    Shmring,
    RtrbThreads,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::ShmlaneZeroCopy => "shmlane-zero-copy",
            Variant::ShmlaneCopy => "shmlane-copy",
            Variant::Ringfire => "ringfire",
            Variant::IpcRing => "ipc_ring",
            Variant::Shmring => "shmring",
            Variant::RtrbThreads => "rtrb-threads",
        }
    }

    /// Where the consumer runs.
    fn layout(self) -> &'static str {
        if self == Variant::RtrbThreads {
            "threads"
        } else {
            "processes"
        }
    }

    /// Runs `warm_up` untimed messages, then `messages` timed ones; returns
    /// the time of the timed ones.
    fn run(self, warm_up: u64, messages: u64, tag: &str) -> Result<Duration> {
        let run = Run { warm_up, messages };
        match self {
            Variant::ShmlaneZeroCopy => shmlane_run(run, tag, false),
            Variant::ShmlaneCopy => shmlane_run(run, tag, true),
            Variant::Ringfire => ringfire_run(run, tag),
            Variant::IpcRing => ipc_ring_run(run, tag),
            Variant::Shmring => shmring_run(run, tag),
            Variant::RtrbThreads => rtrb_run(run),
        }
    }
}

fn main() -> ExitCode {
    forked::exit("crossproc", run())
}

fn parse_options() -> Result<Options<Variant>> {
    forked::parse_options(&VARIANTS, None)
}

fn run() -> Result<()> {
    let options = parse_options()?;
    let (warm_up, messages) = if options.quick {
        (WARM_UP / 10, MESSAGES / 10)
    } else {
        (WARM_UP, MESSAGES)
    };
    if let Some(variant) = options.only {
        let elapsed = run_one(variant, warm_up, messages, "only")?;
        print_line(variant, messages as f64 / elapsed.as_secs_f64());
        return Ok(());
    }
    println!(
        "crossproc: {messages} messages of {MESSAGE_SIZE} B per run, {REPETITIONS} repetitions; \
         M messages/s{}",
        if options.quick { " (quick)" } else { "" }
    );
    // rates[repetition][variant], in messages/s
    let mut rates = vec![[0.0f64; VARIANTS.len()]; REPETITIONS];
    for (repetition, rates) in rates.iter_mut().enumerate() {
        println!("\nrepetition {}/{REPETITIONS}", repetition + 1);
        for offset in 0..VARIANTS.len() {
            let index = (repetition + offset) % VARIANTS.len();
            let variant = VARIANTS[index];
            let elapsed = run_one(variant, warm_up, messages, &repetition.to_string())?;
            rates[index] = messages as f64 / elapsed.as_secs_f64();
            print_line(variant, rates[index]);
        }
    }
    let summary = Summary::of(&rates);
    summary.print();
    if let Some(path) = &options.json {
        std::fs::write(path, summary.json(&rates, messages, options.quick))
            .map_err(|error| format!("writing {path}: {error}"))?;
        println!("\nwrote {path}");
    }
    Ok(())
}

fn run_one(variant: Variant, warm_up: u64, messages: u64, tag: &str) -> Result<Duration> {
    let tag = format!("{}-{tag}", variant.name());
    variant
        .run(warm_up, messages, &tag)
        .map_err(|error| format!("{}: {error}", variant.name()).into())
}

fn print_line(variant: Variant, rate: f64) {
    println!("  {:<18} {:>9.2}", variant.name(), rate / 1e6);
}

// ---------------------------------------------------------------------------
// Summary and report

fn index_of(variant: Variant) -> usize {
    VARIANTS
        .iter()
        .position(|&candidate| candidate == variant)
        .expect("a listed variant")
}

struct Summary {
    /// Per variant: the median rate over the repetitions.
    rates: Vec<f64>,
    /// Per target: the repetitions' ratios and their median.
    ratios: Vec<(Vec<f64>, f64)>,
}

impl Summary {
    fn of(rates: &[[f64; VARIANTS.len()]]) -> Summary {
        let medians = (0..VARIANTS.len())
            .map(|index| median(&rates.iter().map(|each| each[index]).collect::<Vec<_>>()))
            .collect();
        let ratios = TARGETS
            .iter()
            .map(|&(ours, peer, _)| {
                let each: Vec<f64> = rates
                    .iter()
                    .map(|each| each[index_of(ours)] / each[index_of(peer)])
                    .collect();
                let middle = median(&each);
                (each, middle)
            })
            .collect();
        Summary {
            rates: medians,
            ratios,
        }
    }

    fn print(&self) {
        println!("\nmedian over the {REPETITIONS} repetitions (M messages/s)");
        for (variant, rate) in VARIANTS.iter().zip(&self.rates) {
            println!("  {:<18} {:>9.2}", variant.name(), rate / 1e6);
        }
        println!("\nratios within each repetition (median, then each repetition's)");
        for ((ours, peer, limit), (each, middle)) in TARGETS.iter().zip(&self.ratios) {
            let verdict = if *middle >= *limit { "met" } else { "MISSED" };
            println!(
                "  {:<18} / {:<13} {:>6.2}x  [{}]   target >= {limit:.1}x: {verdict}",
                ours.name(),
                peer.name(),
                middle,
                join(each.iter().map(|ratio| format!("{ratio:.2}")))
            );
        }
    }

    fn json(&self, rates: &[[f64; VARIANTS.len()]], messages: u64, quick: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{{");
        let _ = writeln!(out, "  \"repetitions\": {REPETITIONS},");
        let _ = writeln!(out, "  \"quick\": {quick},");
        let _ = writeln!(out, "  \"messages\": {messages},");
        let _ = writeln!(out, "  \"message_bytes\": {MESSAGE_SIZE},");
        let _ = writeln!(out, "  \"capacity\": {CAPACITY},");
        let _ = writeln!(out, "  \"variants\": [");
        for (index, variant) in VARIANTS.iter().enumerate() {
            let _ = writeln!(
                out,
                "    {{\"name\": \"{}\", \"layout\": \"{}\", \"median_rate\": {:.0}, \
                 \"rates\": [{}]}}{}",
                variant.name(),
                variant.layout(),
                self.rates[index],
                join(rates.iter().map(|each| format!("{:.0}", each[index]))),
                if index + 1 < VARIANTS.len() { "," } else { "" }
            );
        }
        let _ = writeln!(out, "  ],");
        let _ = writeln!(out, "  \"ratios\": [");
        for (index, ((ours, peer, limit), (each, middle))) in
            TARGETS.iter().zip(&self.ratios).enumerate()
        {
            let _ = writeln!(
                out,
                "    {{\"shmlane\": \"{}\", \"peer\": \"{}\", \"median\": {middle:.3}, \
                 \"per_repetition\": [{}], \"target_min\": {limit}, \"met\": {}}}{}",
                ours.name(),
                peer.name(),
                join(each.iter().map(|ratio| format!("{ratio:.3}"))),
                middle >= limit,
                if index + 1 < TARGETS.len() { "," } else { "" }
            );
        }
        let _ = writeln!(out, "  ]");
        let _ = writeln!(out, "}}");
        out
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------
// The harness every variant shares

/// The message counts of one run.
#[derive(Clone, Copy)]
struct Run {
    warm_up: u64,
    messages: u64,
}

impl Run {
    fn total(self) -> u64 {
        self.warm_up + self.messages
    }
}

/// Words of the shared page through which producer and consumer meet.
const READY_WORD: usize = 0;
const CONSUMED_WORD: usize = 1;

/// Message `seq`: 64 bytes whose first 8 are `seq`.
#[inline]
fn message(seq: u64) -> [u8; MESSAGE_SIZE] {
    let mut bytes = [0u8; MESSAGE_SIZE];
    bytes[..8].copy_from_slice(&seq.to_le_bytes());
    bytes
}

/// The sequence number in a message's first 8 bytes (`u64::MAX` if shorter).
#[inline]
fn sequence_of(bytes: &[u8]) -> u64 {
    bytes
        .first_chunk::<8>()
        .map_or(u64::MAX, |word| u64::from_le_bytes(*word))
}

fn check_sequence(got: u64, expected: u64) -> Result<()> {
    if got != expected {
        return Err(format!("message {expected}: read sequence number {got}").into());
    }
    Ok(())
}

/// The consumer's stall check: the producer kills it on error and SIGKILL
/// comes if the producer dies, so only a silent producer needs a limit.
fn consumer_stall_check(waited: Duration) -> Result<()> {
    if waited > STALL_TIMEOUT {
        return Err(format!("no message from the producer for {waited:?}").into());
    }
    Ok(())
}

/// The consumer's side: announces itself on `page`, then reads every message
/// of `run` with `receive` (which gets the sequence number expected and
/// returns the one read, or `None` if the ring is empty), storing the count
/// consumed after the warm-up and after the last message.
fn consume(
    page: &SharedPage,
    run: Run,
    mut receive: impl FnMut(u64) -> Result<Option<u64>>,
) -> Result<()> {
    // Ordering: Release, pairs with the producer's Acquire load in `produce`:
    // the consumer has attached before the producer sends.
    page.u64_at(READY_WORD).store(1, Ordering::Release);
    for seq in 0..run.total() {
        let got = spin_until(|| receive(seq), &mut consumer_stall_check)?;
        check_sequence(got, seq)?;
        if seq + 1 == run.warm_up {
            // Ordering: Release, pairs with the producer's Acquire load in
            // `wait_consumed`.
            page.u64_at(CONSUMED_WORD)
                .store(run.warm_up, Ordering::Release);
        }
    }
    // Ordering: Release, as above.
    page.u64_at(CONSUMED_WORD)
        .store(run.total(), Ordering::Release);
    Ok(())
}

/// The producer's side: waits for the consumer, sends the warm-up with `send`
/// (which returns whether the message went in), waits until it is consumed,
/// then times the rest until the consumer has read the last one.
/// `stall_check` looks after the consumer while the producer waits.
fn produce(
    page: &SharedPage,
    run: Run,
    mut send: impl FnMut(u64) -> Result<bool>,
    stall_check: &mut dyn FnMut(Duration) -> Result<()>,
) -> Result<Duration> {
    // Ordering: Acquire, pairs with the consumer's Release store in `consume`.
    spin_until(
        || Ok((page.u64_at(READY_WORD).load(Ordering::Acquire) == 1).then_some(())),
        stall_check,
    )?;
    let mut send_range = |range: std::ops::Range<u64>,
                          stall_check: &mut dyn FnMut(Duration) -> Result<()>|
     -> Result<()> {
        for seq in range {
            spin_until(|| Ok(send(seq)?.then_some(())), stall_check)?;
        }
        Ok(())
    };
    send_range(0..run.warm_up, stall_check)?;
    wait_consumed(page, run.warm_up, stall_check)?;
    let started = Instant::now();
    send_range(run.warm_up..run.total(), stall_check)?;
    wait_consumed(page, run.total(), stall_check)?;
    Ok(started.elapsed())
}

fn wait_consumed(
    page: &SharedPage,
    count: u64,
    stall_check: &mut dyn FnMut(Duration) -> Result<()>,
) -> Result<()> {
    spin_until(
        // Ordering: Acquire, pairs with the consumer's Release stores in `consume`.
        || Ok((page.u64_at(CONSUMED_WORD).load(Ordering::Acquire) >= count).then_some(())),
        stall_check,
    )
}

/// Forks a consumer running `consume_in_child`, then produces with `send`.
fn across_processes(
    run: Run,
    consume_in_child: impl FnOnce(&SharedPage) -> Result<()>,
    send: impl FnMut(u64) -> Result<bool>,
) -> Result<Duration> {
    let page = SharedPage::new()?;
    ensure_single_threaded()?;
    let mut child = fork_child(|| consume_in_child(&page))?;
    let elapsed = produce(&page, run, send, &mut |waited| child.stall_check(waited));
    let elapsed = child.blame(elapsed)?;
    child.wait()?;
    Ok(elapsed)
}

/// A file in `/dev/shm` removed on drop by the process that made the guard.
struct RemoveFile {
    path: PathBuf,
    creator: u32,
}

impl RemoveFile {
    fn new(path: PathBuf) -> RemoveFile {
        RemoveFile {
            path,
            creator: std::process::id(),
        }
    }
}

impl Drop for RemoveFile {
    fn drop(&mut self) {
        if std::process::id() == self.creator {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A name unique to this process and `tag`.
fn ring_name(tag: &str) -> String {
    format!("shmlane-crossproc-{}-{tag}", std::process::id())
}

// ---------------------------------------------------------------------------
// shmlane

fn shmlane_run(run: Run, tag: &str, copying: bool) -> Result<Duration> {
    let name = ring_name(tag);
    let options = RingOptions::spsc_fixed(CAPACITY as u64, MESSAGE_SIZE as u64);
    let ring = Ring::create(&name, &options)?;
    let _remove = RemoveFile::new(PathBuf::from("/dev/shm").join(&name));
    // Handles join after the fork, each in its own process: a handle's
    // liveness lock belongs to an open file description, which a fork shares.
    let consume_in_child = |page: &SharedPage| {
        let mut consumer = spsc::Consumer::join(&Ring::open(&name)?)?;
        let mut buffer = [0u8; MESSAGE_SIZE];
        consume(page, run, |_| {
            if copying {
                Ok(consumer
                    .try_recv(&mut buffer)?
                    .map(|_| sequence_of(black_box(&buffer))))
            } else {
                Ok(consumer
                    .try_read()?
                    .map(|message| sequence_of(black_box(&message))))
            }
        })
    };
    let mut producer = spsc::Producer::join(&ring)?;
    across_processes(run, consume_in_child, |seq| {
        let bytes = message(seq);
        if copying {
            return Ok(producer.try_send(&bytes)?);
        }
        match producer.try_reserve()? {
            Some(mut slot) => {
                slot[..MESSAGE_SIZE].copy_from_slice(&bytes);
                slot.commit(MESSAGE_SIZE)?;
                Ok(true)
            }
            None => Ok(false),
        }
    })
}

// ---------------------------------------------------------------------------
// Peers on the registry

fn ringfire_run(run: Run, tag: &str) -> Result<Duration> {
    use ringfire::{FlowControl, RingConsumer, RingProducerBuilder, RingfireError};
    let path = PathBuf::from("/dev/shm").join(ring_name(tag));
    // Lossless: the producer never laps its registered reader, as an SPSC
    // ring never overwrites an unread message. It removes the file on drop.
    let mut producer = RingProducerBuilder::new(CAPACITY as u64)
        .flow_control(FlowControl::LosslessBackpressure)
        .build::<[u8; MESSAGE_SIZE], _>(&path)?;
    let _remove = RemoveFile::new(path.clone());
    let consume_in_child = |page: &SharedPage| {
        let mut consumer = RingConsumer::<[u8; MESSAGE_SIZE]>::builder()
            .start_from_oldest()
            .attach(&path)?;
        consume(page, run, |_| {
            Ok(consumer
                .try_recv()
                .map(|item| sequence_of(black_box(&item))))
        })?;
        if consumer.lapped_count() != 0 {
            return Err(format!("lapped {} times", consumer.lapped_count()).into());
        }
        Ok(())
    };
    across_processes(run, consume_in_child, |seq| {
        match producer.try_push(&message(seq)) {
            Ok(()) => Ok(true),
            Err(RingfireError::BackpressureBufferFull) => Ok(false),
            Err(error) => Err(error.into()),
        }
    })
}

/// ipc_ring's ring is of bytes, each message behind a 4-byte header and
/// padded to 4 bytes: the smallest power of two holding [`CAPACITY`] of them.
const IPC_RING_BYTES: usize = (CAPACITY * (MESSAGE_SIZE + 4)).next_power_of_two();

fn ipc_ring_run(run: Run, tag: &str) -> Result<Duration> {
    use ipc_ring::{IpcError, RingReader, RingWriter};
    let path = PathBuf::from("/dev/shm").join(ring_name(tag));
    let mut writer = RingWriter::create(&path, IPC_RING_BYTES)?;
    let _remove = RemoveFile::new(path.clone());
    let consume_in_child = |page: &SharedPage| {
        let mut reader = RingReader::open(&path)?;
        let mut buffer = Vec::with_capacity(MESSAGE_SIZE);
        consume(page, run, |_| {
            Ok(reader
                .try_pop(&mut buffer)?
                .map(|_| sequence_of(black_box(&buffer))))
        })
    };
    across_processes(run, consume_in_child, |seq| {
        match writer.try_push(&message(seq)) {
            Ok(()) => Ok(true),
            Err(IpcError::Full) => Ok(false),
            Err(error) => Err(error.into()),
        }
    })
}

/// shmring's ring is a byte stream: [`CAPACITY`] messages of bytes.
const SHMRING_BYTES: u64 = (CAPACITY * MESSAGE_SIZE) as u64;

fn shmring_run(run: Run, tag: &str) -> Result<Duration> {
    use shmring::{create_shm, open_shm, Options};
    let name = ring_name(tag);
    // The writer's storage removes the segment on drop.
    let mut writer = create_shm(&name, SHMRING_BYTES, Options::default())?;
    let consume_in_child = |page: &SharedPage| {
        let mut reader = open_shm(&name, SHMRING_BYTES, Options::default())?;
        let mut buffer = [0u8; MESSAGE_SIZE];
        let mut filled = 0;
        consume(page, run, |_| {
            // Both sides move whole messages and the ring holds a whole
            // number of them, so a read is all or nothing; the loop only
            // makes sure of it.
            filled += reader.try_read(&mut buffer[filled..])?;
            if filled < MESSAGE_SIZE {
                return Ok(None);
            }
            filled = 0;
            Ok(Some(sequence_of(black_box(&buffer))))
        })
    };
    let mut pending: Option<([u8; MESSAGE_SIZE], usize)> = None;
    across_processes(run, consume_in_child, |seq| {
        let (bytes, written) = pending.get_or_insert_with(|| (message(seq), 0));
        *written += writer.try_write(&bytes[*written..])?;
        if *written < MESSAGE_SIZE {
            return Ok(false);
        }
        pending = None;
        Ok(true)
    })
}

// ---------------------------------------------------------------------------
// rtrb between two threads: the in-process reference

fn rtrb_run(run: Run) -> Result<Duration> {
    let page = SharedPage::new()?;
    let (mut producer, mut consumer) = rtrb::RingBuffer::<[u8; MESSAGE_SIZE]>::new(CAPACITY);
    std::thread::scope(|scope| {
        let page = &page;
        let thread = scope.spawn(move || {
            consume(page, run, |_| match consumer.read_chunk(1) {
                Ok(chunk) => {
                    let seq = sequence_of(black_box(&chunk.as_slices().0[0]));
                    chunk.commit_all();
                    Ok(Some(seq))
                }
                Err(rtrb::chunks::ChunkError::TooFewSlots(_)) => Ok(None),
            })
            .map_err(|error| error.to_string())
        });
        let elapsed = produce(
            page,
            run,
            |seq| {
                let mut chunk = match producer.write_chunk_uninit(1) {
                    Ok(chunk) => chunk,
                    Err(rtrb::chunks::ChunkError::TooFewSlots(_)) => return Ok(false),
                };
                let bytes = message(seq);
                let item: *mut u8 = chunk.as_mut_slices().0[0].as_mut_ptr().cast();
                // SAFETY: `item` points to the chunk's one slot, MESSAGE_SIZE
                // writable bytes that nothing else touches until the commit
                // below; `bytes` is a local array, apart from the ring.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), item, MESSAGE_SIZE) };
                // SAFETY: every byte of the chunk's one item was written above.
                unsafe { chunk.commit_all() };
                Ok(true)
            },
            &mut |waited| {
                if thread.is_finished() {
                    return Err("the consumer thread ended early".into());
                }
                consumer_stall_check(waited)
            },
        );
        let outcome = thread.join().map_err(|_| "the consumer thread panicked")?;
        outcome?;
        elapsed
    })
}

impl Named for Variant {
    fn name(self) -> &'static str {
        Variant::name(self)
    }
}
