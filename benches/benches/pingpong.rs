//! Round-trip latency between two processes: shmlane beside its floors and peers,
//! measured in the same run.
//!
//! Each variant bounces one 8-byte value between this process (the initiator,
//! which times every round trip with [`Instant`]) and a child forked from it (the
//! responder). Round `i` sends `2i + 1` and expects `2i + 2` back; both sides
//! check every value they receive and fail loudly on anything else.
//!
//! | mode | variant | what moves |
//! |---|---|---|
//! | sleeping | `shmlane-sleeping` | two SPSC rings of fixed 8-byte messages, one per direction, `WaitStrategy::sleeping()` on every handle; each side `recv(.., None)` then `send(.., None)` |
//! | sleeping | `futex` (floor) | a `u32` turn word on a shared memfd page: store the turn, `FUTEX_WAKE`, `FUTEX_WAIT` while it is not ours (shared futex, not private) |
//! | sleeping | `socketpair` (peer) | `UnixStream::pair()`, blocking 8-byte `write_all` / `read_exact` |
//! | sleeping | `pipe` (peer) | two pipes, one per direction, blocking 8-byte `write_all` / `read_exact` |
//! | spinning | `shmlane-spinning` | the two rings, `WaitStrategy::spinning()` on every handle |
//! | spinning | `atomic` (floor) | one `AtomicU64` on a shared memfd page, spun on with `spin_loop` |
//! | spinning | `ringfire-spinning` (peer) | ringfire: one SPMC ring of `u64` per direction (`RingProducer::push`, default lossy policy), each read by a `RingConsumer` spinning on `try_recv` |
//! | spinning | `iceoryx2-spinning` (peer, feature `iceoryx2`) | iceoryx2: one publish-subscribe service of `u64` per direction, a node per process; `loan_uninit` + `write_payload` + `send`, spinning on `receive` |
//!
//! Targets, as ratios of p50 round trips within one repetition: shmlane-sleeping
//! ≤ 1.3× futex and ≤ 1.0× socketpair; shmlane-spinning ≤ 1.3× atomic,
//! ≤ 1.0× ringfire-spinning and ≤ 0.7× iceoryx2-spinning. The iceoryx2 variant
//! is built only with the cargo feature `iceoryx2` (some 80 crates, left out
//! of CI's build; `benches/suite.py` enables it).
//!
//! The whole set of variants runs [`REPETITIONS`] times in one invocation,
//! because a shared machine's speed drifts several-fold between runs (and even
//! within one: a sleeping ping-pong's p50 can jump from a few µs to tens of µs
//! between blocks): only figures of one repetition are compared with each other.
//! Within a repetition the variants are interleaved finely: each repetition is
//! [`BLOCKS`] blocks, and each block runs every variant of a mode in turn (the
//! order rotates from block to block) for a share of its rounds, after a warm-up,
//! with a fresh responder; a variant's figures pool its blocks. Each repetition
//! prints p50, p90, p99, p99.9, max and mean per variant; the summary prints,
//! per variant, the median of the repetitions' p50s and, per target, the
//! median of the within-repetition ratios.
//!
//! ```sh
//! cargo bench -p shmlane-benches --bench pingpong
//! cargo bench -p shmlane-benches --bench pingpong -- --json results.json
//! ```
//!
//! Options (after `--`): `--json FILE` (or `SHMLANE_PINGPONG_JSON=FILE`) also
//! writes the results as JSON; `--quick` runs a tenth of the rounds (a smoke
//! test, also what a run without `--bench` does: `cargo test --benches`, or
//! the binary started by hand);
//! `--only VARIANT` runs one variant once and prints no summary (for profiling,
//! e.g. under `strace -f -c`).
//!
//! Nothing is pinned. The responder is forked, not exec'd: this binary is
//! single-threaded (checked before the first fork), so the child may run any
//! code; it ends with `libc::_exit` and never runs the parent's destructors. It
//! asks for SIGKILL when the parent dies, and the parent kills it on any error.
//! Rings live in `/dev/shm` under names holding the pid and are removed when a
//! variant ends, on error too.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmlane::{spsc, Ring, RingOptions, WaitStrategy};

use forked::{
    ensure_single_threaded, fork_child, median, spin_until, Named, Options, Result, SharedPage,
    STALL_TIMEOUT,
};

mod forked;

/// Repetitions of the whole set of variants in one invocation.
const REPETITIONS: usize = 3;
/// Blocks per repetition; a block runs every variant, each with a fresh responder.
const BLOCKS: usize = 5;
/// Environment variable naming a file to write the results to as JSON.
const JSON_ENV: &str = "SHMLANE_PINGPONG_JSON";
/// Slots per ring: one message is in flight at a time, so any capacity works.
const RING_CAPACITY: u64 = 64;
/// Bytes per message.
const MESSAGE_SIZE: usize = 8;
/// How often a futex waiter wakes to see whether its peer is still there.
const FUTEX_POLL: Duration = Duration::from_millis(100);
/// Spins between two looks at the clock and the peer in the atomic floor.
const SPINS_PER_STALL_CHECK: u32 = 1 << 16;

/// The variants, in the order of the report; iceoryx2 only when built with
/// the `iceoryx2` feature.
const VARIANTS: &[Variant] = &[
    Variant::ShmlaneSleeping,
    Variant::Futex,
    Variant::Socketpair,
    Variant::Pipe,
    Variant::ShmlaneSpinning,
    Variant::Atomic,
    Variant::RingfireSpinning,
    #[cfg(feature = "iceoryx2")]
    Variant::Iceoryx2Spinning,
];

/// Ratios of p50 round trips to report: (shmlane variant, peer, largest ratio met).
const TARGETS: &[(Variant, Variant, f64)] = &[
    (Variant::ShmlaneSleeping, Variant::Futex, 1.3),
    (Variant::ShmlaneSleeping, Variant::Socketpair, 1.0),
    (Variant::ShmlaneSpinning, Variant::Atomic, 1.3),
    (Variant::ShmlaneSpinning, Variant::RingfireSpinning, 1.0),
    #[cfg(feature = "iceoryx2")]
    (Variant::ShmlaneSpinning, Variant::Iceoryx2Spinning, 0.7),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    ShmlaneSleeping,
    Futex,
    Socketpair,
    Pipe,
    ShmlaneSpinning,
    Atomic,
    RingfireSpinning,
    #[cfg(feature = "iceoryx2")]
    Iceoryx2Spinning,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::ShmlaneSleeping => "shmlane-sleeping",
            Variant::Futex => "futex",
            Variant::Socketpair => "socketpair",
            Variant::Pipe => "pipe",
            Variant::ShmlaneSpinning => "shmlane-spinning",
            Variant::Atomic => "atomic",
            Variant::RingfireSpinning => "ringfire-spinning",
            #[cfg(feature = "iceoryx2")]
            Variant::Iceoryx2Spinning => "iceoryx2-spinning",
        }
    }

    fn sleeps(self) -> bool {
        matches!(
            self,
            Variant::ShmlaneSleeping | Variant::Futex | Variant::Socketpair | Variant::Pipe
        )
    }

    /// Untimed warm-up rounds per block, and timed rounds per repetition.
    fn rounds(self, quick: bool) -> (usize, usize) {
        let (warm_up, rounds) = if self.sleeps() {
            (1_000, 20_000)
        } else {
            (10_000, 200_000)
        };
        if quick {
            (warm_up / 10, rounds / 10)
        } else {
            (warm_up, rounds)
        }
    }

    /// Runs `rounds` timed round trips after `warm_up` untimed ones; returns
    /// each timed round trip in nanoseconds.
    fn run(self, warm_up: usize, rounds: usize, tag: &str) -> Result<Vec<u64>> {
        match self {
            Variant::ShmlaneSleeping => {
                shmlane_pingpong(WaitStrategy::sleeping(), warm_up, rounds, tag)
            }
            Variant::ShmlaneSpinning => {
                shmlane_pingpong(WaitStrategy::spinning(), warm_up, rounds, tag)
            }
            Variant::Futex => futex_pingpong(warm_up, rounds),
            Variant::Socketpair => socket_pingpong(warm_up, rounds),
            Variant::Pipe => pipe_pingpong(warm_up, rounds),
            Variant::Atomic => atomic_pingpong(warm_up, rounds),
            Variant::RingfireSpinning => ringfire_pingpong(warm_up, rounds, tag),
            #[cfg(feature = "iceoryx2")]
            Variant::Iceoryx2Spinning => iceoryx2_pingpong(warm_up, rounds, tag),
        }
    }
}

/// The value the initiator sends in round `round`.
fn request(round: u64) -> u64 {
    2 * round + 1
}

/// The value the responder sends back in round `round`.
fn reply(round: u64) -> u64 {
    2 * round + 2
}

fn main() -> ExitCode {
    forked::exit("pingpong", run())
}

fn parse_options() -> Result<Options<Variant>> {
    forked::parse_options(
        VARIANTS,
        std::env::var(JSON_ENV).ok().filter(|path| !path.is_empty()),
    )
}

fn run() -> Result<()> {
    let options = parse_options()?;
    ensure_single_threaded()?;
    if let Some(variant) = options.only {
        let (warm_up, rounds) = variant.rounds(options.quick);
        print_header();
        let samples = run_block(variant, warm_up, rounds, "only")?;
        print_line(variant, &Stats::of(samples));
        return Ok(());
    }
    println!(
        "pingpong: round trips between two processes; {REPETITIONS} repetitions of {BLOCKS} \
         interleaved blocks; times in µs{}",
        if options.quick {
            " (quick: a tenth of the rounds)"
        } else {
            ""
        }
    );
    let mut results: Vec<[Option<Stats>; VARIANTS.len()]> = Vec::new();
    for repetition in 0..REPETITIONS {
        println!("\nrepetition {}/{REPETITIONS}", repetition + 1);
        print_header();
        let mut samples: [Vec<u64>; VARIANTS.len()] = Default::default();
        for block in 0..BLOCKS {
            for index in run_order(repetition * BLOCKS + block) {
                let variant = VARIANTS[index];
                let (warm_up, rounds) = variant.rounds(options.quick);
                let tag = format!("{repetition}-{block}");
                samples[index].extend(run_block(variant, warm_up, rounds / BLOCKS, &tag)?);
            }
        }
        let mut stats: [Option<Stats>; VARIANTS.len()] = Default::default();
        for (index, samples) in samples.into_iter().enumerate() {
            let figures = Stats::of(samples);
            print_line(VARIANTS[index], &figures);
            stats[index] = Some(figures);
        }
        results.push(stats);
    }
    let results: Vec<[Stats; VARIANTS.len()]> = results
        .into_iter()
        .map(|stats| stats.map(|figures| figures.expect("every variant ran")))
        .collect();
    let summary = Summary::of(&results);
    summary.print();
    if let Some(path) = &options.json {
        std::fs::write(path, summary.json(&results, options.quick))
            .map_err(|error| format!("writing {path}: {error}"))?;
        println!("\nwrote {path}");
    }
    Ok(())
}

fn print_header() {
    println!(
        "  {:<18} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9}",
        "variant", "p50", "p90", "p99", "p99.9", "max", "mean", "rounds"
    );
}

/// Runs one block of a variant: a fresh responder, `warm_up` untimed round
/// trips, then `rounds` timed ones (in nanoseconds).
fn run_block(variant: Variant, warm_up: usize, rounds: usize, tag: &str) -> Result<Vec<u64>> {
    let tag = format!("{}-{tag}", variant.name());
    variant
        .run(warm_up, rounds, &tag)
        .map_err(|error| format!("{}: {error}", variant.name()).into())
}

fn print_line(variant: Variant, figures: &Stats) {
    println!(
        "  {:<18} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>8.2} {:>9}",
        variant.name(),
        figures.p50 / 1e3,
        figures.p90 / 1e3,
        figures.p99 / 1e3,
        figures.p999 / 1e3,
        figures.max / 1e3,
        figures.mean / 1e3,
        figures.rounds
    );
}

/// The order of the variants in a block: each mode's variants in turn,
/// rotated by the block's number so that none always runs first.
fn run_order(block: usize) -> Vec<usize> {
    let mut order = Vec::new();
    for sleeps in [true, false] {
        let mode: Vec<usize> = (0..VARIANTS.len())
            .filter(|&index| VARIANTS[index].sleeps() == sleeps)
            .collect();
        let shift = block % mode.len();
        order.extend(mode[shift..].iter().chain(&mode[..shift]));
    }
    order
}

// ---------------------------------------------------------------------------
// Statistics and report

struct Stats {
    rounds: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
}

impl Stats {
    /// Percentiles (nearest rank) and mean of round trips in nanoseconds.
    fn of(mut samples: Vec<u64>) -> Stats {
        assert!(!samples.is_empty(), "no round trips recorded");
        samples.sort_unstable();
        let at = |quantile: f64| {
            let rank = ((samples.len() - 1) as f64 * quantile).round() as usize;
            samples[rank] as f64
        };
        Stats {
            rounds: samples.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
            mean: samples.iter().map(|&ns| ns as f64).sum::<f64>() / samples.len() as f64,
        }
    }
}

fn index_of(variant: Variant) -> usize {
    VARIANTS
        .iter()
        .position(|&candidate| candidate == variant)
        .expect("a listed variant")
}

struct Summary {
    /// Per variant: the repetitions' p50s (ns) and their median.
    p50s: Vec<(Vec<f64>, f64)>,
    /// Per target: the repetitions' ratios and their median.
    ratios: Vec<(Vec<f64>, f64)>,
}

impl Summary {
    fn of(results: &[[Stats; VARIANTS.len()]]) -> Summary {
        let p50s = (0..VARIANTS.len())
            .map(|index| {
                let p50s: Vec<f64> = results.iter().map(|stats| stats[index].p50).collect();
                let middle = median(&p50s);
                (p50s, middle)
            })
            .collect();
        let ratios = TARGETS
            .iter()
            .map(|&(ours, peer, _)| {
                let ratios: Vec<f64> = results
                    .iter()
                    .map(|stats| stats[index_of(ours)].p50 / stats[index_of(peer)].p50)
                    .collect();
                let middle = median(&ratios);
                (ratios, middle)
            })
            .collect();
        Summary { p50s, ratios }
    }

    fn print(&self) {
        println!("\nmedian of the {REPETITIONS} p50s (µs; each repetition's p50 in brackets)");
        for (variant, (p50s, middle)) in VARIANTS.iter().zip(&self.p50s) {
            println!(
                "  {:<18} {:>8.2}   [{}]",
                variant.name(),
                middle / 1e3,
                join(p50s.iter().map(|ns| format!("{:.2}", ns / 1e3)))
            );
        }
        println!("\nratios of p50s within each repetition (median, then each repetition's)");
        for ((ours, peer, limit), (ratios, middle)) in TARGETS.iter().zip(&self.ratios) {
            let verdict = if *middle <= *limit { "met" } else { "MISSED" };
            println!(
                "  {:<18} / {:<11} {:>5.2}x  [{}]   target <= {limit:.1}x: {verdict}",
                ours.name(),
                peer.name(),
                middle,
                join(ratios.iter().map(|ratio| format!("{ratio:.2}")))
            );
        }
    }

    fn json(&self, results: &[[Stats; VARIANTS.len()]], quick: bool) -> String {
        let mut out = String::new();
        let micros = |values: &mut dyn Iterator<Item = f64>| {
            format!("[{}]", join(values.map(|ns| format!("{:.3}", ns / 1e3))))
        };
        let _ = writeln!(out, "{{");
        let _ = writeln!(out, "  \"repetitions\": {REPETITIONS},");
        let _ = writeln!(out, "  \"quick\": {quick},");
        let _ = writeln!(out, "  \"variants\": [");
        for (index, variant) in VARIANTS.iter().enumerate() {
            let field = |pick: fn(&Stats) -> f64| {
                micros(&mut results.iter().map(|stats| pick(&stats[index])))
            };
            let _ = writeln!(
                out,
                "    {{\"name\": \"{}\", \"mode\": \"{}\", \"rounds\": {}, \"median_p50_us\": {:.3}, \
                 \"p50_us\": {}, \"p90_us\": {}, \"p99_us\": {}, \"p999_us\": {}, \"max_us\": {}, \
                 \"mean_us\": {}}}{}",
                variant.name(),
                if variant.sleeps() { "sleeping" } else { "spinning" },
                results[0][index].rounds,
                self.p50s[index].1 / 1e3,
                field(|stats| stats.p50),
                field(|stats| stats.p90),
                field(|stats| stats.p99),
                field(|stats| stats.p999),
                field(|stats| stats.max),
                field(|stats| stats.mean),
                if index + 1 < VARIANTS.len() { "," } else { "" }
            );
        }
        let _ = writeln!(out, "  ],");
        let _ = writeln!(out, "  \"ratios\": [");
        for (index, ((ours, peer, limit), (ratios, middle))) in
            TARGETS.iter().zip(&self.ratios).enumerate()
        {
            let _ = writeln!(
                out,
                "    {{\"shmlane\": \"{}\", \"peer\": \"{}\", \"median\": {middle:.3}, \"per_repetition\": [{}], \
                 \"target_max\": {limit}, \"met\": {}}}{}",
                ours.name(),
                peer.name(),
                join(ratios.iter().map(|ratio| format!("{ratio:.3}"))),
                middle <= limit,
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
// The responder process

/// The responder's stall check: its parent kills it on error and SIGKILL comes
/// if the parent dies, so only a silent parent needs a limit.
fn responder_stall_check(waited: Duration) -> Result<()> {
    if waited > STALL_TIMEOUT {
        return Err(format!("no request from the initiator for {waited:?}").into());
    }
    Ok(())
}

/// Runs `warm_up` untimed round trips, then times `rounds` of them; the
/// closure gets the round number and does one whole round trip.
fn time_round_trips(
    warm_up: usize,
    rounds: usize,
    mut round_trip: impl FnMut(u64) -> Result<()>,
) -> Result<Vec<u64>> {
    for round in 0..warm_up as u64 {
        round_trip(round)?;
    }
    let mut samples = Vec::with_capacity(rounds);
    for round in warm_up as u64..(warm_up + rounds) as u64 {
        let start = Instant::now();
        round_trip(round)?;
        samples.push(start.elapsed().as_nanos() as u64);
    }
    Ok(samples)
}

fn check_value(what: &str, round: u64, got: u64, expected: u64) -> Result<()> {
    if got != expected {
        return Err(format!("round {round}: {what} {got}, expected {expected}").into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// shmlane: two SPSC rings, one per direction

/// Ring names of one run, removed on drop by the process that created them.
struct RingNames {
    request: String,
    reply: String,
    creator: u32,
}

impl RingNames {
    /// Creates both rings under names unique to this process and `tag`.
    fn create(tag: &str) -> Result<(RingNames, Ring, Ring)> {
        let pid = std::process::id();
        let names = RingNames {
            request: format!("shmlane-pingpong-{pid}-{tag}-request"),
            reply: format!("shmlane-pingpong-{pid}-{tag}-reply"),
            creator: pid,
        };
        let options = RingOptions::spsc_fixed(RING_CAPACITY, MESSAGE_SIZE as u64);
        // Both are removed by `names` from here on, whether created or not.
        let request = Ring::create(&names.request, &options)?;
        let reply = Ring::create(&names.reply, &options)?;
        Ok((names, request, reply))
    }
}

impl Drop for RingNames {
    fn drop(&mut self) {
        if std::process::id() == self.creator {
            let _ = shmlane::remove(&self.request);
            let _ = shmlane::remove(&self.reply);
        }
    }
}

fn shmlane_pingpong(
    strategy: WaitStrategy,
    warm_up: usize,
    rounds: usize,
    tag: &str,
) -> Result<Vec<u64>> {
    // Round 0 is the handshake below, so at least one warm-up round.
    let warm_up = warm_up.max(1);
    let (names, request_ring, reply_ring) = RingNames::create(tag)?;
    let total = (warm_up + rounds) as u64;
    // Handles join after the fork, each in its own process: a handle's liveness
    // lock belongs to an open file description, which a fork would share.
    let mut child = fork_child(|| {
        let mut requests = spsc::Consumer::join(&Ring::open(&names.request)?)?;
        let mut replies = spsc::Producer::join(&Ring::open(&names.reply)?)?;
        requests.set_wait_strategy(strategy);
        replies.set_wait_strategy(strategy);
        let mut buffer = [0u8; MESSAGE_SIZE];
        for round in 0..total {
            let len = requests
                .recv(&mut buffer, None)?
                .ok_or("a wait without a timeout ended")?;
            check_value("request length", round, len as u64, MESSAGE_SIZE as u64)?;
            check_value("request", round, u64::from_le_bytes(buffer), request(round))?;
            assert!(replies.send(&reply(round).to_le_bytes(), None)?);
        }
        Ok(())
    })?;
    let mut requests = spsc::Producer::join(&request_ring)?;
    let mut replies = spsc::Consumer::join(&reply_ring)?;
    requests.set_wait_strategy(strategy);
    replies.set_wait_strategy(strategy);
    let mut buffer = [0u8; MESSAGE_SIZE];
    let mut receive = |replies: &mut spsc::Consumer, round: u64, timeout| -> Result<()> {
        let len = replies
            .recv(&mut buffer, timeout)?
            .ok_or("the wait for the reply ran out")?;
        check_value("reply length", round, len as u64, MESSAGE_SIZE as u64)?;
        check_value("reply", round, u64::from_le_bytes(buffer), reply(round))
    };
    // Round 0, untimed, with a timeout: until the responder has joined, its
    // death would not end a wait (a ring whose producer never joined is just
    // empty). Once it has, `recv(.., None)` ends with `Disconnected` if it dies.
    assert!(requests.send(&request(0).to_le_bytes(), None)?);
    child.blame(receive(&mut replies, 0, Some(STALL_TIMEOUT)))?;
    let samples = time_round_trips(warm_up - 1, rounds, |round| {
        let round = round + 1;
        assert!(requests.send(&request(round).to_le_bytes(), None)?);
        receive(&mut replies, round, None)
    });
    let samples = child.blame(samples)?;
    drop((requests, replies));
    child.wait()?;
    drop(names);
    Ok(samples)
}

// ---------------------------------------------------------------------------
// Floors on a shared page

/// `FUTEX_WAIT` (shared) while `word` holds `expected`, for at most `timeout`.
/// Returns whether the wait timed out.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> bool {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a live, aligned 4-byte atomic in a shared mapping and
    // `timeout` outlives the call; the kernel only reads the word.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT)
}

/// `FUTEX_WAKE` (shared) of one waiter on `word`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned 4-byte atomic in a shared mapping;
    // FUTEX_WAKE does not touch memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Sleeps on the turn word until it holds `want`; it must hold `mine` (our last
/// store) until then. `stall_check` runs whenever a wait times out.
fn futex_wait_for_turn(
    word: &AtomicU32,
    mine: u32,
    want: u32,
    stall_check: &mut dyn FnMut(Duration) -> Result<()>,
) -> Result<()> {
    let mut since: Option<Instant> = None;
    loop {
        // Ordering: Acquire, pairs with the peer's Release store of the turn in
        // `futex_take_turn`: what it wrote before handing over is visible.
        let seen = word.load(Ordering::Acquire);
        if seen == want {
            return Ok(());
        }
        if seen != mine {
            return Err(format!("turn word holds {seen}, expected {mine} or {want}").into());
        }
        if futex_wait(word, seen, FUTEX_POLL) {
            let since = *since.get_or_insert_with(Instant::now);
            stall_check(since.elapsed() + FUTEX_POLL)?;
        }
    }
}

/// Hands the turn to the peer: store it, then wake the peer.
fn futex_take_turn(word: &AtomicU32, value: u32) {
    // Ordering: Release, pairs with the peer's Acquire load in
    // `futex_wait_for_turn`.
    word.store(value, Ordering::Release);
    futex_wake(word);
}

fn futex_pingpong(warm_up: usize, rounds: usize) -> Result<Vec<u64>> {
    let page = SharedPage::new()?;
    let word = page.u32_word();
    let total = (warm_up + rounds) as u64;
    let mut child = fork_child(|| {
        for round in 0..total {
            let mine = if round == 0 {
                0
            } else {
                reply(round - 1) as u32
            };
            futex_wait_for_turn(
                word,
                mine,
                request(round) as u32,
                &mut responder_stall_check,
            )?;
            futex_take_turn(word, reply(round) as u32);
        }
        Ok(())
    })?;
    let samples = time_round_trips(warm_up, rounds, |round| {
        let mine = request(round) as u32;
        futex_take_turn(word, mine);
        futex_wait_for_turn(word, mine, reply(round) as u32, &mut |waited| {
            child.stall_check(waited)
        })
    })?;
    child.wait()?;
    Ok(samples)
}

/// Spins until `word` holds `want`; it must hold `mine` (our last store) until
/// then. `stall_check` runs every [`SPINS_PER_STALL_CHECK`] spins.
fn spin_for_turn(
    word: &AtomicU64,
    mine: u64,
    want: u64,
    stall_check: &mut dyn FnMut(Duration) -> Result<()>,
) -> Result<()> {
    let mut spins: u32 = 0;
    let mut since: Option<Instant> = None;
    loop {
        // Ordering: Acquire, pairs with the peer's Release store in
        // `atomic_pingpong` (either side's loop).
        let seen = word.load(Ordering::Acquire);
        if seen == want {
            return Ok(());
        }
        if seen != mine {
            return Err(format!("word holds {seen}, expected {mine} or {want}").into());
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % SPINS_PER_STALL_CHECK == 0 {
            let since = *since.get_or_insert_with(Instant::now);
            stall_check(since.elapsed())?;
        }
    }
}

fn atomic_pingpong(warm_up: usize, rounds: usize) -> Result<Vec<u64>> {
    let page = SharedPage::new()?;
    let word = page.u64_at(0);
    let total = (warm_up + rounds) as u64;
    let mut child = fork_child(|| {
        for round in 0..total {
            let mine = if round == 0 { 0 } else { reply(round - 1) };
            spin_for_turn(word, mine, request(round), &mut responder_stall_check)?;
            // Ordering: Release, pairs with the initiator's Acquire load in
            // `spin_for_turn`.
            word.store(reply(round), Ordering::Release);
        }
        Ok(())
    })?;
    let samples = time_round_trips(warm_up, rounds, |round| {
        // Ordering: Release, pairs with the responder's Acquire load in
        // `spin_for_turn`.
        word.store(request(round), Ordering::Release);
        spin_for_turn(word, request(round), reply(round), &mut |waited| {
            child.stall_check(waited)
        })
    })?;
    child.wait()?;
    Ok(samples)
}

// ---------------------------------------------------------------------------
// Peers: byte streams (a Unix socket pair, a pipe each way)

/// Ping-pong over byte streams: `ours` is the initiator's (end it reads
/// replies from, end it writes requests to), `theirs` the responder's (end it
/// reads requests from, end it writes replies to). Each process closes the
/// other's ends after the fork, so that a death reads as EOF.
fn stream_pingpong<R: Read, W: Write>(
    ours: (R, W),
    theirs: (R, W),
    warm_up: usize,
    rounds: usize,
) -> Result<Vec<u64>> {
    let (mut ours, mut theirs) = (Some(ours), Some(theirs));
    let total = (warm_up + rounds) as u64;
    let mut child = fork_child(|| {
        drop(ours.take());
        let (mut requests, mut replies) = theirs.take().ok_or("no streams")?;
        let mut buffer = [0u8; MESSAGE_SIZE];
        for round in 0..total {
            requests
                .read_exact(&mut buffer)
                .map_err(|error| format!("round {round}: reading the request: {error}"))?;
            check_value("request", round, u64::from_le_bytes(buffer), request(round))?;
            replies.write_all(&reply(round).to_le_bytes())?;
        }
        Ok(())
    })?;
    drop(theirs.take());
    let (mut replies, mut requests) = ours.take().ok_or("no streams")?;
    let mut buffer = [0u8; MESSAGE_SIZE];
    let samples = time_round_trips(warm_up, rounds, |round| {
        requests.write_all(&request(round).to_le_bytes())?;
        replies
            .read_exact(&mut buffer)
            .map_err(|error| format!("round {round}: reading the reply: {error}"))?;
        check_value("reply", round, u64::from_le_bytes(buffer), reply(round))
    });
    drop((requests, replies));
    let samples = child.blame(samples)?;
    child.wait()?;
    Ok(samples)
}

/// `UnixStream::pair()`: each process reads and writes its own end (through
/// two handles of it, so that it fits [`stream_pingpong`]).
fn socket_pingpong(warm_up: usize, rounds: usize) -> Result<Vec<u64>> {
    let (ours, theirs) = UnixStream::pair()?;
    stream_pingpong(
        (ours.try_clone()?, ours),
        (theirs.try_clone()?, theirs),
        warm_up,
        rounds,
    )
}

/// Two pipes, one per direction.
fn pipe_pingpong(warm_up: usize, rounds: usize) -> Result<Vec<u64>> {
    let (request_reader, request_writer) = pipe()?;
    let (reply_reader, reply_writer) = pipe()?;
    stream_pingpong(
        (reply_reader, request_writer),
        (request_reader, reply_writer),
        warm_up,
        rounds,
    )
}

/// A pipe: its read end, then its write end (both close-on-exec).
fn pipe() -> Result<(File, File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe2: {}", std::io::Error::last_os_error()).into());
    }
    // SAFETY: both descriptors are fresh from pipe2 and owned by nothing else.
    let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((File::from(ends.0), File::from(ends.1)))
}

// ---------------------------------------------------------------------------
// Peers: shared-memory rings and pub-sub on the registry, spinning

/// ringfire: one SPMC ring of `u64` per direction (`RingProducer`, the
/// default lossy `LatestWins` policy, which cannot lap a reader with one
/// message in flight), each read by one `RingConsumer` attached from the
/// oldest message, spinning on `try_recv` (what its `BusySpin` strategy
/// does, with this bench's stall checks).
fn ringfire_pingpong(warm_up: usize, rounds: usize, tag: &str) -> Result<Vec<u64>> {
    use ringfire::{RingConsumer, RingProducer};
    let pid = std::process::id();
    let path = |direction: &str| format!("/dev/shm/shmlane-pingpong-{pid}-{tag}-{direction}");
    let (request_path, reply_path) = (path("request"), path("reply"));
    // Both producers are made before the fork: the responder writes replies
    // through its copy of `replies` (the mapping is shared), and this process
    // never does. Each removes its file on drop, which only this process runs.
    let mut requests = RingProducer::<u64>::create(&request_path, RING_CAPACITY)?;
    let mut replies = RingProducer::<u64>::create(&reply_path, RING_CAPACITY)?;
    let total = (warm_up + rounds) as u64;
    let mut child = fork_child(|| {
        let mut incoming = RingConsumer::<u64>::attach(&request_path)?;
        for round in 0..total {
            let value = spin_until(|| Ok(incoming.try_recv()), &mut responder_stall_check)?;
            check_value("request", round, value, request(round))?;
            replies.push(&reply(round));
        }
        Ok(())
    })?;
    let mut incoming = child.blame(RingConsumer::<u64>::attach(&reply_path).map_err(Into::into))?;
    let samples = time_round_trips(warm_up, rounds, |round| {
        requests.push(&request(round));
        let value = spin_until(|| Ok(incoming.try_recv()), &mut |waited| {
            child.stall_check(waited)
        })?;
        check_value("reply", round, value, reply(round))
    });
    let samples = child.blame(samples)?;
    child.wait()?;
    Ok(samples)
}

/// iceoryx2: one publish-subscribe service of `u64` per direction (`ipc`
/// service, default settings), each process a node with a publisher on one
/// and a subscriber on the other; each side loans a sample, writes it and
/// sends it (zero-copy), and spins on `receive`. The responder makes its
/// node and ports first and says so on a shared page, so that no request is
/// sent before a subscriber is there to get it.
#[cfg(feature = "iceoryx2")]
fn iceoryx2_pingpong(warm_up: usize, rounds: usize, tag: &str) -> Result<Vec<u64>> {
    use iceoryx2::prelude::*;
    let pid = std::process::id();
    let request_name = format!("shmlane-pingpong/{pid}/{tag}/request");
    let reply_name = format!("shmlane-pingpong/{pid}/{tag}/reply");
    // Its default logger says on every node that no config file was found.
    set_log_level(LogLevel::Error);
    let page = SharedPage::new()?;
    let ready = page.u64_at(0);
    let total = (warm_up + rounds) as u64;
    let service = |node: &Node<ipc::Service>, name: &str| -> Result<_> {
        Ok(node
            .service_builder(&ServiceName::new(name)?)
            .publish_subscribe::<u64>()
            .open_or_create()?)
    };
    let mut child = fork_child(|| {
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        let requests = service(&node, &request_name)?
            .subscriber_builder()
            .create()?;
        let replies = service(&node, &reply_name)?.publisher_builder().create()?;
        // Ordering: Release, pairs with the initiator's Acquire load below.
        ready.store(1, Ordering::Release);
        for round in 0..total {
            let value = spin_until(
                || Ok(requests.receive()?.map(|sample| *sample)),
                &mut responder_stall_check,
            )?;
            check_value("request", round, value, request(round))?;
            replies.loan_uninit()?.write_payload(reply(round)).send()?;
        }
        Ok(())
    })?;
    // Ordering: Acquire, pairs with the responder's Release store above.
    spin_until(
        || Ok((ready.load(Ordering::Acquire) == 1).then_some(())),
        &mut |waited| child.stall_check(waited),
    )?;
    let node = NodeBuilder::new().create::<ipc::Service>()?;
    let requests = service(&node, &request_name)?
        .publisher_builder()
        .create()?;
    let replies = service(&node, &reply_name)?.subscriber_builder().create()?;
    let samples = time_round_trips(warm_up, rounds, |round| {
        requests
            .loan_uninit()?
            .write_payload(request(round))
            .send()?;
        let value = spin_until(
            || Ok(replies.receive()?.map(|sample| *sample)),
            &mut |waited| child.stall_check(waited),
        )?;
        check_value("reply", round, value, reply(round))
    });
    let samples = child.blame(samples)?;
    child.wait()?;
    drop((requests, replies, node));
    Ok(samples)
}

impl Named for Variant {
    fn name(self) -> &'static str {
        Variant::name(self)
    }
}
