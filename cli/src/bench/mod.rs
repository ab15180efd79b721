//! `shmlane bench`: throughput and latency between real processes.
//!
//! The parent creates the rings, starts each producer and consumer as a
//! separate process (this binary again, `__bench-child`, see `child`), waits
//! until every one has joined, unlinks the ring files (the mappings live on, and
//! from then on nothing is left behind if anything dies), says `go`, shows progress from the
//! ring's positions (read without joining), then gathers each process's counts
//! and latency histogram, checks that every message arrived in order and
//! intact, and reports.

pub mod child;
mod plot;
mod report;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::Value;
use shmlane::{Kind, Ring, RingOptions};

use crate::args::{value_name, BenchArgs, ChildRole, KindArg, WaitArg};
use crate::fail::Failure;
use crate::units;
use crate::Outcome;

const DEFAULT_MESSAGES: u64 = 1_000_000;
const DEFAULT_ROUND_TRIPS: u64 = 100_000;
/// How often progress is shown on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
const WHAT: &str = "bench";

/// When the senders stop.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Messages(u64),
    Duration(Duration),
}

/// What a benchmark run does, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: KindArg,
    pub size: u64,
    pub capacity: u64,
    pub wait: WaitArg,
    pub fixed: bool,
    pub pingpong: bool,
    pub producers: u32,
    pub consumers: u32,
    pub limit: Limit,
    /// Messages per second in all, if paced.
    pub rate: Option<f64>,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Result<Plan, Failure> {
        let usage = |why: &str| Err(Failure::usage(WHAT, why));
        if args.size < 8 {
            return usage("--size must be at least 8 bytes (a message carries its send time)");
        }
        if args.fixed && !args.size.is_multiple_of(8) {
            return usage("--fixed needs a --size that is a multiple of 8");
        }
        if args.producers == 0 || args.consumers == 0 {
            return usage("--producers and --consumers must be at least 1");
        }
        if args.kind == KindArg::Broadcast {
            return usage("bench does not cover --kind broadcast yet");
        }
        let many = args.producers > 1 || args.consumers > 1;
        if many && args.kind == KindArg::Spsc {
            return usage("more than one producer or consumer needs --kind mpmc");
        }
        if many && args.pingpong {
            return usage("--pingpong runs one producer and one consumer per direction");
        }
        if args.producers + args.consumers > shmlane::layout::MAX_PARTICIPANTS {
            return usage("too many processes for one ring's participant table");
        }
        let limit = match (args.messages, args.duration) {
            (Some(0), _) => return usage("--messages must be at least 1"),
            (Some(messages), _) => Limit::Messages(messages),
            (None, Some(duration)) if duration.is_zero() => {
                return usage("--duration must be more than 0")
            }
            (None, Some(duration)) => Limit::Duration(duration),
            (None, None) if args.pingpong => Limit::Messages(DEFAULT_ROUND_TRIPS),
            (None, None) => Limit::Messages(DEFAULT_MESSAGES),
        };
        if args
            .rate
            .is_some_and(|rate| !(rate.is_finite() && rate > 0.0))
        {
            return usage("--rate must be a positive number of messages per second");
        }
        Ok(Plan {
            kind: args.kind,
            size: args.size,
            capacity: args.capacity,
            wait: args.wait,
            fixed: args.fixed,
            pingpong: args.pingpong,
            producers: args.producers,
            consumers: args.consumers,
            limit,
            rate: args.rate,
        })
    }

    fn ring_options(&self) -> RingOptions {
        let participants = self.producers + self.consumers;
        match (self.kind, self.fixed) {
            (KindArg::Spsc, false) => RingOptions::spsc_for_payload(self.capacity, self.size),
            (KindArg::Spsc, true) => RingOptions::spsc_fixed(self.capacity, self.size),
            (KindArg::Mpmc, false) => {
                let slot = Kind::Mpmc.slot_header_size(false) as u64 + self.size.div_ceil(8) * 8;
                RingOptions::mpmc(self.capacity, slot, participants)
            }
            (KindArg::Mpmc, true) => {
                RingOptions::mpmc_fixed(self.capacity, self.size, participants)
            }
            // Refused by the argument checks; the options are still sound.
            (KindArg::Broadcast, _) => {
                let slot =
                    Kind::Broadcast.slot_header_size(false) as u64 + self.size.div_ceil(8) * 8;
                RingOptions::broadcast(self.capacity, slot, self.consumers)
            }
        }
    }

    /// The arguments of a child process that all roles share.
    fn child_args(&self, role: ChildRole, index: u32, rings: &[String]) -> Vec<String> {
        let mut args = vec![
            "__bench-child".to_owned(),
            format!("--role={}", value_name(role)),
            format!("--ring={}", rings[0]),
            format!("--size={}", self.size),
            format!("--wait={}", value_name(self.wait)),
            format!("--index={index}"),
            format!("--producers={}", self.producers),
        ];
        if let Some(reply) = rings.get(1) {
            args.push(format!("--reply-ring={reply}"));
        }
        args
    }

    /// The sending limits of producer `index`: an equal share of the messages
    /// and of the rate.
    fn sender_limits(&self, index: u32) -> Vec<String> {
        let mut limits = vec![self.sender_limit(index)];
        if let Some(rate) = self.rate {
            let gap_ns = 1e9 * f64::from(self.producers) / rate;
            limits.push(format!("--gap-ns={}", gap_ns.round() as u64));
        }
        limits
    }

    fn sender_limit(&self, index: u32) -> String {
        match self.limit {
            Limit::Messages(total) => {
                let producers = u64::from(self.producers);
                let share = total / producers + u64::from(u64::from(index) < total % producers);
                format!("--messages={share}")
            }
            Limit::Duration(duration) => format!("--duration-ns={}", duration.as_nanos()),
        }
    }
}

/// The rings of a run; removes their files when dropped, if still there.
struct Rings {
    names: Vec<String>,
    rings: Vec<Ring>,
}

impl Rings {
    fn create(plan: &Plan) -> Result<Rings, Failure> {
        let count = if plan.pingpong { 2 } else { 1 };
        let mut made = Rings {
            names: Vec::new(),
            rings: Vec::new(),
        };
        let options = plan.ring_options();
        for index in 0..count {
            let name = format!("shmlane-bench-{}-{index}", std::process::id());
            let ring = Ring::create(&name, &options)
                .map_err(|e| Failure::ring(format!("{WHAT}: creating ring {name}"), e))?;
            made.names.push(name);
            made.rings.push(ring);
        }
        Ok(made)
    }

    /// Removes the files; the mappings of every process stay valid. Files
    /// already removed are no error, so this may run more than once.
    fn unlink(&self) {
        for name in &self.names {
            // Nothing is left to do about a file that cannot be removed.
            let _ = shmlane::remove(name);
        }
    }

    /// Messages read from the first ring so far.
    fn read_so_far(&self) -> u64 {
        self.rings[0].info().head
    }
}

impl Drop for Rings {
    fn drop(&mut self) {
        self.unlink();
    }
}

/// A running benchmark process.
struct Process {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// What a finished process left: its exit status, its result line, its stderr.
struct Finished {
    label: String,
    success: bool,
    /// How it ended, for a failure that left no error line.
    ending: String,
    result: String,
    error: String,
}

impl Process {
    fn spawn(label: String, args: &[String]) -> Result<Process, Failure> {
        let exe = std::env::current_exe().map_err(|e| {
            Failure::runtime(WHAT, format!("finding this program to start it again: {e}"))
        })?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::runtime(WHAT, format!("starting the {label} process: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        Ok(Process {
            label,
            child,
            stdin,
            stdout,
        })
    }

    /// Waits for the process to say it has joined; `false` if it ended instead.
    fn wait_ready(&mut self) -> bool {
        let mut line = String::new();
        self.stdout.read_line(&mut line).is_ok() && line.trim() == "ready"
    }

    /// Starts the process's run.
    fn go(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            // A process that is gone fails on its own; its error is reported then.
            let _ = stdin.write_all(b"go\n");
        }
    }

    /// Collects the process's output and status on a thread of its own, so
    /// that no pipe fills while the parent shows progress.
    fn finish(mut self) -> JoinHandle<Finished> {
        std::thread::spawn(move || {
            drop(self.stdin.take());
            let mut result = String::new();
            let _ = self.stdout.read_to_string(&mut result);
            let mut error = String::new();
            if let Some(mut stderr) = self.child.stderr.take() {
                let _ = stderr.read_to_string(&mut error);
            }
            let status = self.child.wait();
            let success = status.as_ref().is_ok_and(|status| status.success());
            let ending = match status {
                Ok(status) => match (status.code(), status.signal()) {
                    (_, Some(signal)) => format!("it was killed by signal {signal}"),
                    (Some(code), _) => format!("it exited with code {code} without a word"),
                    _ => "it ended without a word".to_owned(),
                },
                Err(error) => format!("waiting for it failed: {error}"),
            };
            Finished {
                label: self.label,
                success,
                ending,
                result,
                error,
            }
        })
    }

    /// Ends a process that will not be needed (the run is called off).
    fn stop(mut self) -> Finished {
        // Only processes this run started are killed, by their own handles.
        let _ = self.child.kill();
        self.finish()
            .join()
            .expect("the collecting thread does not panic")
    }
}

/// The complaint about a process that failed, from its own error line.
fn process_failure(finished: &Finished) -> Failure {
    let said = finished
        .error
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(|line| line.trim_start_matches("shmlane: ").to_owned());
    Failure::runtime(
        WHAT,
        format!(
            "the {} process failed: {}",
            finished.label,
            said.unwrap_or_else(|| finished.ending.clone())
        ),
    )
}

/// Starts every process of the plan, in the order readers first.
fn spawn_all(plan: &Plan, rings: &Rings) -> Result<Vec<Process>, Failure> {
    let names = &rings.names;
    let mut specs: Vec<(String, Vec<String>)> = Vec::new();
    if plan.pingpong {
        specs.push((
            "echo".to_owned(),
            plan.child_args(ChildRole::Echo, 0, names),
        ));
        let mut args = plan.child_args(ChildRole::Pinger, 0, names);
        args.push(plan.sender_limit(0));
        specs.push(("pinger".to_owned(), args));
    } else {
        for index in 0..plan.consumers {
            let args = plan.child_args(ChildRole::Consumer, index, names);
            specs.push((format!("consumer {index}"), args));
        }
        for index in 0..plan.producers {
            let mut args = plan.child_args(ChildRole::Producer, index, names);
            args.extend(plan.sender_limits(index));
            specs.push((format!("producer {index}"), args));
        }
    }
    let mut processes: Vec<Process> = Vec::new();
    for (label, args) in specs {
        match Process::spawn(label, &args) {
            Ok(process) => processes.push(process),
            Err(failure) => {
                processes.into_iter().for_each(|p| drop(p.stop()));
                return Err(failure);
            }
        }
    }
    Ok(processes)
}

/// Waits until every process has joined its rings; on a failure, stops the
/// others and reports the first that failed.
fn wait_all_ready(mut processes: Vec<Process>) -> Result<Vec<Process>, Failure> {
    let failed = processes.iter_mut().position(|p| !p.wait_ready());
    let Some(failed) = failed else {
        return Ok(processes);
    };
    let culprit = processes.remove(failed);
    let finished = culprit
        .finish()
        .join()
        .expect("the collecting thread does not panic");
    processes.into_iter().for_each(|p| drop(p.stop()));
    Err(process_failure(&finished))
}

/// Shows progress every second until every collecting thread is done.
fn watch(handles: &[JoinHandle<Finished>], rings: &Rings, quiet: bool) {
    let start = Instant::now();
    let mut next_report = start + PROGRESS_EVERY;
    let mut last_count = 0u64;
    let mut last_time = start;
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if quiet || now < next_report {
            continue;
        }
        let count = rings.read_so_far();
        let rate =
            count.saturating_sub(last_count) as f64 / now.duration_since(last_time).as_secs_f64();
        let _ = writeln!(
            std::io::stderr(),
            "bench: {:.0} s, {} messages read, {}",
            now.duration_since(start).as_secs_f64(),
            units::grouped(count),
            units::rate(rate, "msg/s")
        );
        (last_count, last_time) = (count, now);
        next_report += PROGRESS_EVERY;
    }
}

/// `shmlane bench`.
pub fn bench(args: &BenchArgs) -> Outcome {
    let plan = Plan::from_args(args)?;
    let rings = Rings::create(&plan)?;
    let processes = wait_all_ready(spawn_all(&plan, &rings)?)?;
    rings.unlink();
    let handles: Vec<JoinHandle<Finished>> = processes
        .into_iter()
        .map(|mut process| {
            process.go();
            process.finish()
        })
        .collect();
    watch(&handles, &rings, args.quiet);
    let finished: Vec<Finished> = handles
        .into_iter()
        .map(|h| h.join().expect("the collecting thread does not panic"))
        .collect();
    if let Some(failed) = finished.iter().find(|f| !f.success) {
        return Err(process_failure(failed));
    }
    let results = finished
        .iter()
        .map(|f| {
            serde_json::from_str::<Value>(f.result.trim()).map_err(|e| {
                Failure::runtime(WHAT, format!("the {} process gave no result: {e}", f.label))
            })
        })
        .collect::<Result<Vec<Value>, Failure>>()?;
    let summary = report::Summary::gather(&plan, &results)?;
    if let Some(path) = &args.plot {
        let svg = plot::percentile_svg(&summary.histogram, &summary.title(), &summary.subtitle());
        std::fs::write(path, svg).map_err(|e| {
            Failure::runtime(WHAT, format!("writing the plot to {}: {e}", path.display()))
        })?;
    }
    let text = if args.json {
        summary.to_json().to_string()
    } else {
        summary.to_text()
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", text.trim_end()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::runtime(WHAT, format!("writing stdout: {error}")))
        }
        _ => Ok(()),
    }
}

/// Rebuilds a histogram from a process's `[[value, count], ...]`.
pub fn histogram_from_json(pairs: &Value, into: &mut Histogram<u64>) -> Result<(), String> {
    let pairs = pairs.as_array().ok_or("the histogram is not a list")?;
    for pair in pairs {
        let (Some(value), Some(count)) = (pair[0].as_u64(), pair[1].as_u64()) else {
            return Err("a histogram entry is not a pair of numbers".to_owned());
        };
        into.saturating_record_n(value, count);
    }
    Ok(())
}
