//! `shmlane-peer`, the Rust member of the cross-language test peers: creates a
//! ring, produces checksummed sequence-numbered messages into it, or consumes
//! and checks them. The command line and the message format are those of
//! conformance/README.md, shared with the C and Go peers.

mod message;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use shmlane::{
    AnyConsumer, AnyProducer, Error, ErrorKind, OpenOptions, Ring, RingOptions, WaitStrategy,
};

/// How a peer waits for room or for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Non-blocking calls, retried after a yield.
    Try,
    /// Blocking calls with the default strategy.
    Block,
    /// Blocking calls that go straight to the futex.
    Sleep,
}

/// The blocking calls wait this long at a time, then look again.
const BLOCK_FOR: Option<Duration> = Some(Duration::from_secs(1));

struct Args {
    command: String,
    options: BTreeMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut words = std::env::args().skip(1);
        let command = words
            .next()
            .ok_or("missing command: create, produce or consume")?;
        let mut options = BTreeMap::new();
        let mut flags = Vec::new();
        while let Some(word) = words.next() {
            let name = word
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {word}"))?;
            if name == "fixed" || name == "die-holding" {
                flags.push(name.to_owned());
            } else {
                let value = words
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value"))?;
                options.insert(name.to_owned(), value);
            }
        }
        Ok(Args {
            command,
            options,
            flags,
        })
    }

    fn text(&self, name: &str) -> Result<&str, String> {
        self.options
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn number(&self, name: &str, default: Option<u64>) -> Result<u64, String> {
        match self.options.get(name) {
            Some(value) => value
                .parse()
                .map_err(|_| format!("--{name} takes a number, not {value}")),
            None => default.ok_or_else(|| format!("--{name} is required")),
        }
    }

    fn wait(&self) -> Result<Wait, String> {
        match self.options.get("wait").map(String::as_str) {
            None | Some("try") => Ok(Wait::Try),
            Some("block") => Ok(Wait::Block),
            Some("sleep") => Ok(Wait::Sleep),
            Some(other) => Err(format!("--wait takes try, block or sleep, not {other}")),
        }
    }
}

/// A failure: a usage error (exit 2) or a run-time one (exit 1).
enum Failure {
    Usage(String),
    Run(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Run(error.to_string())
    }
}

fn main() -> ExitCode {
    let result =
        Args::parse()
            .map_err(Failure::Usage)
            .and_then(|args| match args.command.as_str() {
                "create" => create(&args),
                "produce" => produce(&args),
                "consume" => consume(&args),
                other => Err(Failure::Usage(format!("unknown command {other}"))),
            });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(why)) => {
            eprintln!("shmlane-peer: {why}");
            ExitCode::from(2)
        }
        Err(Failure::Run(why)) => {
            eprintln!("shmlane-peer: {why}");
            ExitCode::from(1)
        }
    }
}

fn create(args: &Args) -> Result<(), Failure> {
    let path = args.text("path").map_err(Failure::Usage)?;
    let capacity = args.number("capacity", None).map_err(Failure::Usage)?;
    let slot_size = args.number("slot-size", None).map_err(Failure::Usage)?;
    let participants = args
        .number("participants", Some(8))
        .map_err(Failure::Usage)?;
    let participants = u32::try_from(participants)
        .map_err(|_| Failure::Usage("--participants too large".into()))?;
    let fixed = args.flags.iter().any(|flag| flag == "fixed");
    let options = match (args.text("kind").map_err(Failure::Usage)?, fixed) {
        ("spsc", false) => RingOptions::spsc(capacity, slot_size),
        ("spsc", true) => RingOptions::spsc_fixed(capacity, slot_size),
        ("mpmc", false) => RingOptions::mpmc(capacity, slot_size, participants),
        // `--slot-size` counts the 8-byte stamp; mpmc_fixed takes the message size.
        ("mpmc", true) => {
            RingOptions::mpmc_fixed(capacity, slot_size.saturating_sub(8), participants)
        }
        (other, _) => {
            return Err(Failure::Usage(format!(
                "--kind takes spsc or mpmc, not {other}"
            )))
        }
    };
    Ring::create(std::path::Path::new(path), &options)?;
    Ok(())
}

fn open(args: &Args) -> Result<Ring, Failure> {
    let path = args.text("path").map_err(Failure::Usage)?;
    Ok(OpenOptions::new()
        .ready_timeout(Duration::from_secs(10))
        .open(std::path::Path::new(path))?)
}

fn strategy(wait: Wait) -> WaitStrategy {
    match wait {
        Wait::Sleep => WaitStrategy::sleeping(),
        Wait::Try | Wait::Block => WaitStrategy::default(),
    }
}

/// Writes one message with `fill` (which returns its length); `false` when
/// the ring had no room (non-blocking) or the wait timed out.
fn write_one(
    writer: &mut AnyProducer,
    wait: Wait,
    fill: impl FnOnce(&mut [u8]) -> usize,
) -> Result<bool, Error> {
    let slot = match wait {
        Wait::Try => writer.try_reserve()?,
        Wait::Block | Wait::Sleep => writer.reserve(BLOCK_FOR)?,
    };
    let Some(mut slot) = slot else {
        return Ok(false);
    };
    let len = fill(&mut slot);
    slot.commit(len)?;
    Ok(true)
}

/// Reserves one more slot (waiting as long as it takes), writes part of it
/// with `fill`, calls `holding`, then sleeps holding it until killed.
fn die_holding(
    writer: &mut AnyProducer,
    fill: impl FnOnce(&mut [u8]),
    holding: impl FnOnce(),
) -> Result<std::convert::Infallible, Error> {
    let mut slot = loop {
        if let Some(slot) = writer.reserve(BLOCK_FOR)? {
            break slot;
        }
    };
    fill(&mut slot);
    holding();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Writes up to `max` messages with `fill(index, slot)`; returns how many.
fn write_batch(
    writer: &mut AnyProducer,
    wait: Wait,
    max: usize,
    mut fill: impl FnMut(usize, &mut [u8]) -> usize,
) -> Result<usize, Error> {
    let mut batch = match wait {
        Wait::Try => writer.try_reserve_batch(max)?,
        Wait::Block | Wait::Sleep => writer.reserve_batch(max, BLOCK_FOR)?,
    };
    for index in 0..batch.len() {
        let len = fill(index, batch.slot_mut(index));
        batch.set_len(index, len)?;
    }
    let count = batch.len();
    batch.commit();
    Ok(count)
}

/// Reads one message with `look`; `false` when there was none.
fn read_one(
    reader: &mut AnyConsumer,
    wait: Wait,
    look: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<Result<bool, String>, Error> {
    let message = match wait {
        Wait::Try => reader.try_read()?,
        Wait::Block | Wait::Sleep => reader.read(BLOCK_FOR)?,
    };
    Ok(match message {
        Some(message) => look(&message).map(|()| true),
        None => Ok(false),
    })
}

/// Reads up to `max` messages with `look`; returns how many.
fn read_batch(
    reader: &mut AnyConsumer,
    wait: Wait,
    max: usize,
    mut look: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<Result<usize, String>, Error> {
    let batch = match wait {
        Wait::Try => reader.try_read_batch(max)?,
        Wait::Block | Wait::Sleep => reader.read_batch(max, BLOCK_FOR)?,
    };
    let checked = batch.iter().try_for_each(&mut look);
    Ok(checked.map(|()| batch.len()))
}

fn produce(args: &Args) -> Result<(), Failure> {
    let count = args.number("count", None).map_err(Failure::Usage)?;
    let id = args.number("id", None).map_err(Failure::Usage)?;
    let id = u32::try_from(id)
        .ok()
        .filter(|&id| id < 1024)
        .ok_or(Failure::Usage("--id is 0..1023".into()))?;
    let size = args.number("size", Some(64)).map_err(Failure::Usage)? as usize;
    let batch = args
        .number("batch", Some(1))
        .map_err(Failure::Usage)?
        .max(1) as usize;
    let wait = args.wait().map_err(Failure::Usage)?;
    if size < message::MIN_SIZE {
        return Err(Failure::Usage(format!(
            "--size is at least {}",
            message::MIN_SIZE
        )));
    }
    let ring = open(args)?;
    if size > ring.max_payload() {
        return Err(Failure::Usage(format!(
            "--size {size} exceeds the ring's {}",
            ring.max_payload()
        )));
    }
    let mut writer = AnyProducer::join(&ring)?;
    writer.set_wait_strategy(strategy(wait));
    let mut next = 0u64;
    while next < count {
        let wanted = (count - next).min(batch as u64) as usize;
        let written = if wanted == 1 {
            let sequence = next;
            usize::from(write_one(&mut writer, wait, |slot| {
                message::write(&mut slot[..size], sequence, id);
                size
            })?)
        } else {
            let first = next;
            write_batch(&mut writer, wait, wanted, |index, slot| {
                message::write(&mut slot[..size], first + index as u64, id);
                size
            })?
        };
        next += written as u64;
        if written == 0 && wait == Wait::Try {
            std::thread::yield_now();
        }
    }
    if args.flags.iter().any(|flag| flag == "die-holding") {
        // Write the first half of the next message, then wait to be killed.
        die_holding(
            &mut writer,
            |slot| message::write(&mut slot[..size], count, id),
            || {
                println!("holding id={id} count={count}");
                let _ = std::io::Write::flush(&mut std::io::stdout());
            },
        )?;
    }
    drop(writer);
    println!("produced id={id} count={count}");
    Ok(())
}

/// What a consumer saw of one producer.
#[derive(Default)]
struct Seen {
    count: u64,
    first: u64,
    last: u64,
    sequence_sum: u64,
}

/// Every message a consumer checked, by producer.
#[derive(Default)]
struct Tally {
    producers: BTreeMap<u32, Seen>,
    total: u64,
}

impl Tally {
    fn check(&mut self, bytes: &[u8]) -> Result<(), String> {
        let (producer, sequence) = message::check(bytes)?;
        if producer >= 1024 {
            return Err(format!("producer id {producer} out of range"));
        }
        let seen = self.producers.entry(producer).or_default();
        if seen.count > 0 && sequence <= seen.last {
            return Err(format!(
                "producer {producer}: sequence {sequence} after {}",
                seen.last
            ));
        }
        if seen.count == 0 {
            seen.first = sequence;
        }
        seen.count += 1;
        seen.last = sequence;
        seen.sequence_sum = seen.sequence_sum.wrapping_add(sequence);
        self.total += 1;
        Ok(())
    }
}

fn consume(args: &Args) -> Result<(), Failure> {
    let batch = args
        .number("batch", Some(1))
        .map_err(Failure::Usage)?
        .max(1) as usize;
    let stop_after = args
        .number("stop-after", Some(u64::MAX))
        .map_err(Failure::Usage)?;
    let producers = args.number("producers", Some(0)).map_err(Failure::Usage)?;
    let wait = args.wait().map_err(Failure::Usage)?;
    let ring = open(args)?;
    let mut reader = AnyConsumer::join(&ring)?;
    reader.set_wait_strategy(strategy(wait));
    let mut tally = Tally::default();
    let mut received = 0u64;
    let end = loop {
        if received >= stop_after {
            break "stopped";
        }
        let wanted = (stop_after - received).min(batch as u64) as usize;
        let outcome = if wanted == 1 {
            read_one(&mut reader, wait, |bytes| tally.check(bytes)).map(|r| r.map(usize::from))
        } else {
            read_batch(&mut reader, wait, wanted, |bytes| tally.check(bytes))
        };
        match outcome {
            Ok(Ok(0)) => {
                if wait == Wait::Try {
                    std::thread::yield_now();
                }
            }
            Ok(Ok(read)) => received += read as u64,
            Ok(Err(invalid)) => return Err(Failure::Run(invalid)),
            Err(error)
                if error.kind() == ErrorKind::Disconnected
                    && tally.producers.len() as u64 >= producers =>
            {
                break "disconnected"
            }
            // Not every producer has been heard from: one may not have joined yet.
            Err(error) if error.kind() == ErrorKind::Disconnected => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(error) => return Err(error.into()),
        }
    };
    drop(reader);
    for (producer, seen) in &tally.producers {
        println!(
            "producer={producer} count={} first={} last={} seqsum={}",
            seen.count, seen.first, seen.last, seen.sequence_sum
        );
    }
    println!("consumed total={} end={end}", tally.total);
    Ok(())
}
