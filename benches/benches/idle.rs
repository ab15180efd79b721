//! CPU time of an idle consumer: the budget's "idle consumer in sleeping mode,
//! ~0% CPU".
//!
//! A consumer thread blocks in `read(Some(duration))` on an empty SPSC ring whose
//! producer has joined (so the consumer has a live peer to wait for) but never
//! sends; the read ends with `Error::Timeout`. The thread's CPU time (user +
//! system, `getrusage(RUSAGE_THREAD)`) over that wait, divided by the wall time,
//! is its CPU use. The same is measured for the default strategy and for
//! `WaitStrategy::spinning()`, the ends of the scale. The voluntary context
//! switches of the thread count how often a sleeper woke (the peer checks, every
//! `peer_check_interval`, 50 ms by default).
//!
//! | strategy | budget |
//! |---|---|
//! | `sleeping` (`WaitStrategy::sleeping()`) | ~0% CPU, reported as met at ≤ 1% |
//! | `default` (`WaitStrategy::default()`: spin 20 µs, yield 50 µs, sleep) | — |
//! | `spinning` (`WaitStrategy::spinning()`) | — (one core, ~100%) |
//!
//! ```sh
//! cargo bench -p shmlane-benches --bench idle                        # 2 s per strategy
//! cargo bench -p shmlane-benches --bench idle -- --json idle.json    # also write the results as JSON
//! ```
//!
//! Options (after `--`): `--json FILE` also writes the results as JSON;
//! `--quick` waits 0.2 s per strategy instead of 2 s (also what a run without
//! `--bench` does: `cargo test --benches`, or the binary started by hand).
//! Rings live in `/dev/shm` under names holding the pid and are removed at the
//! end of each measure.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use shmlane::{spsc, Ring, RingOptions, WaitStrategy};

use common::RemoveOnDrop;

mod common;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

/// How long each consumer waits in a full run, and in a quick one.
const IDLE_FOR: Duration = Duration::from_secs(2);
const IDLE_FOR_QUICK: Duration = Duration::from_millis(200);
/// The budget's "~0%", as a number: the largest CPU use reported as met.
const TARGET_MAX_CPU_PERCENT: f64 = 1.0;

/// The strategies measured, in the order of the report; the first has the target.
fn strategies() -> [(&'static str, WaitStrategy); 3] {
    [
        ("sleeping", WaitStrategy::sleeping()),
        ("default", WaitStrategy::default()),
        ("spinning", WaitStrategy::spinning()),
    ]
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("idle: {error}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    json: Option<String>,
    quick: bool,
}

fn parse_options() -> Result<Options> {
    let mut options = Options {
        json: None,
        quick: false,
    };
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`, or
    // the binary run by hand) this is a smoke test, as criterion does.
    let mut bench = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => bench = true,
            "--quick" => options.quick = true,
            "--json" => options.json = Some(args.next().ok_or("--json needs a file name")?),
            other => {
                return Err(
                    format!("unknown argument {other:?} (expected --json FILE or --quick)").into(),
                )
            }
        }
    }
    options.quick |= !bench;
    Ok(options)
}

/// One strategy's figures.
struct Idle {
    strategy: &'static str,
    wall: Duration,
    cpu: Duration,
    voluntary_switches: i64,
    involuntary_switches: i64,
}

impl Idle {
    fn cpu_percent(&self) -> f64 {
        100.0 * self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
}

fn run() -> Result<()> {
    let options = parse_options()?;
    let idle_for = if options.quick {
        IDLE_FOR_QUICK
    } else {
        IDLE_FOR
    };
    println!(
        "idle: CPU use of a consumer thread blocked in read(Some({idle_for:?})) on an empty ring \
         with a silent producer"
    );
    println!(
        "  {:<10} {:>8} {:>9} {:>8} {:>10} {:>12}",
        "strategy", "wall s", "cpu ms", "cpu %", "voluntary", "involuntary"
    );
    let mut results = Vec::new();
    for (strategy, wait) in strategies() {
        let idle = measure(strategy, wait, idle_for)?;
        println!(
            "  {:<10} {:>8.3} {:>9.3} {:>8.3} {:>10} {:>12}",
            idle.strategy,
            idle.wall.as_secs_f64(),
            idle.cpu.as_secs_f64() * 1e3,
            idle.cpu_percent(),
            idle.voluntary_switches,
            idle.involuntary_switches
        );
        results.push(idle);
    }
    let sleeping = &results[0];
    let met = sleeping.cpu_percent() <= TARGET_MAX_CPU_PERCENT;
    println!(
        "\n  {} consumer: {:.3}% CPU, target ~0% (<= {TARGET_MAX_CPU_PERCENT:.1}%): {}",
        sleeping.strategy,
        sleeping.cpu_percent(),
        if met { "met" } else { "MISSED" }
    );
    if let Some(path) = &options.json {
        std::fs::write(path, json(&results, idle_for, options.quick, met))
            .map_err(|error| format!("writing {path}: {error}"))?;
        println!("\nwrote {path}");
    }
    Ok(())
}

/// Makes a ring, joins a producer here and a consumer on a new thread, and has
/// the consumer wait `idle_for` for a message that never comes.
fn measure(strategy: &'static str, wait: WaitStrategy, idle_for: Duration) -> Result<Idle> {
    let name = format!("shmlane-idle-{}-{strategy}", std::process::id());
    let ring = Ring::create(&name, &RingOptions::spsc_fixed(64, 8))?;
    let _remove = RemoveOnDrop(name);
    // Present and silent for the whole wait: a live peer, so the wait is not cut
    // short by `Disconnected`.
    let producer = spsc::Producer::join(&ring)?;
    let mut consumer = spsc::Consumer::join(&ring)?;
    consumer.set_wait_strategy(wait);
    let waiter = thread::Builder::new()
        .name(format!("idle-{strategy}"))
        .spawn(move || -> Result<Idle> {
            let before = thread_usage()?;
            let started = Instant::now();
            let outcome = consumer
                .read(Some(idle_for))
                .map(|message| message.map(drop));
            let wall = started.elapsed();
            let after = thread_usage()?;
            match outcome {
                Ok(None) => {}
                Ok(Some(())) => return Err("a message arrived on a ring nobody writes".into()),
                Err(error) => return Err(format!("read: {error}").into()),
            }
            Ok(Idle {
                strategy,
                wall,
                cpu: after.cpu.saturating_sub(before.cpu),
                voluntary_switches: after.voluntary_switches - before.voluntary_switches,
                involuntary_switches: after.involuntary_switches - before.involuntary_switches,
            })
        })?;
    let idle = waiter
        .join()
        .map_err(|_| format!("the {strategy} consumer thread panicked"))??;
    drop(producer);
    Ok(idle)
}

/// Resource use of the calling thread so far.
struct Usage {
    cpu: Duration,
    voluntary_switches: i64,
    involuntary_switches: i64,
}

fn thread_usage() -> Result<Usage> {
    // SAFETY: `rusage` is a plain C struct, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage that outlives the call.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return Err(format!("getrusage: {}", std::io::Error::last_os_error()).into());
    }
    let time = |value: libc::timeval| {
        Duration::from_secs(value.tv_sec as u64) + Duration::from_micros(value.tv_usec as u64)
    };
    Ok(Usage {
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        voluntary_switches: usage.ru_nvcsw,
        involuntary_switches: usage.ru_nivcsw,
    })
}

fn json(results: &[Idle], idle_for: Duration, quick: bool, met: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{{");
    let _ = writeln!(out, "  \"idle_s\": {:.3},", idle_for.as_secs_f64());
    let _ = writeln!(out, "  \"quick\": {quick},");
    let _ = writeln!(out, "  \"strategies\": [");
    for (index, idle) in results.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {{\"name\": \"{}\", \"wall_s\": {:.6}, \"cpu_s\": {:.6}, \"cpu_percent\": {:.4}, \
             \"voluntary_switches\": {}, \"involuntary_switches\": {}}}{}",
            idle.strategy,
            idle.wall.as_secs_f64(),
            idle.cpu.as_secs_f64(),
            idle.cpu_percent(),
            idle.voluntary_switches,
            idle.involuntary_switches,
            if index + 1 < results.len() { "," } else { "" }
        );
    }
    let _ = writeln!(out, "  ],");
    let _ = writeln!(
        out,
        "  \"target\": {{\"strategy\": \"{}\", \"max_cpu_percent\": {TARGET_MAX_CPU_PERCENT}, \
         \"met\": {met}}}",
        results[0].strategy
    );
    let _ = writeln!(out, "}}");
    out
}
