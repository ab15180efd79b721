//! One process of a benchmark (`shmlane __bench-child`), started by
//! `shmlane bench` with everything it needs on its command line.
//!
//! The conversation with the parent, over the child's stdin and stdout:
//! the child opens and joins its rings, prints `ready`, waits for a line `go`
//! (so that every process has joined before the clock starts), runs, and
//! prints its result as one JSON object on one line. On failure it prints the
//! usual one-line error on stderr and exits with 1.
//!
//! Every message starts with a 16-byte header where it has room: the send
//! time (`CLOCK_MONOTONIC` nanoseconds, u64 LE, taken once the slot is
//! reserved) and a sequence word (producer index << 48 | number). The rest of
//! the message is written by the producer (every byte, with the number's low
//! byte) and its last byte is checked by the consumer, so payloads really move.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use shmlane::{AnyConsumer, AnyProducer, Error, ErrorKind, Ring};

use crate::args::{value_name, ChildArgs, ChildRole};
use crate::clock::monotonic_ns;
use crate::ends::{join_reader, join_writer, publish, read_with};
use crate::fail::Failure;
use crate::Outcome;

/// How long any one wait of a benchmark process may last: a peer that makes
/// no progress for this long has failed, even if it is alive (a peer that dies
/// ends the wait at once, with `Disconnected`). The price of this guard: a
/// blocking call that has to wait reads the clock when the wait starts and
/// every few dozen spins, inside what is measured (docs/cli.md says so).
const IDLE_TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

/// Largest latency the histograms hold; longer ones are recorded as this.
pub const HISTOGRAM_MAX_NS: u64 = 60_000_000_000;

/// Bits of the sequence word that hold the message number.
const NUMBER_BITS: u32 = 48;
const NUMBER_MASK: u64 = (1 << NUMBER_BITS) - 1;

/// An empty latency histogram: 1 ns to a minute, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("valid histogram bounds")
}

/// A histogram as `[[value, count], ...]`, one pair per recorded bucket.
pub fn histogram_to_json(histogram: &Histogram<u64>) -> Value {
    let pairs: Vec<Value> = histogram
        .iter_recorded()
        .map(|bucket| json!([bucket.value_iterated_to(), bucket.count_at_value()]))
        .collect();
    Value::Array(pairs)
}

/// `shmlane __bench-child`.
pub fn run(args: &ChildArgs) -> Outcome {
    let what = format!("bench {} {}", value_name(args.role), args.index);
    let result = match args.role {
        ChildRole::Producer | ChildRole::Consumer => one_way(args, &what),
        ChildRole::Pinger | ChildRole::Echo => ping_pong(args, &what),
    }?;
    let mut out = io::stdout().lock();
    writeln!(out, "{result}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::runtime(&what, format!("writing the result: {e}")))
}

/// Opens one of the run's rings, whose slots must hold messages of `--size`.
fn open(name: &str, args: &ChildArgs, what: &str) -> Result<Ring, Failure> {
    let ring = Ring::open(name).map_err(|e| Failure::ring(what, e))?;
    if args.size > ring.max_payload() {
        return Err(Failure::usage(
            what,
            "the message size exceeds the ring's slots",
        ));
    }
    Ok(ring)
}

/// Tells the parent this process has joined, and waits for its word to start.
fn ready_then_wait_for_go(what: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    writeln!(out, "ready")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::runtime(what, format!("telling the parent: {e}")))?;
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::runtime(what, format!("waiting for the parent: {e}")))?;
    if line.trim() != "go" {
        return Err(Failure::runtime(what, "the benchmark was called off"));
    }
    Ok(())
}

fn one_way(args: &ChildArgs, what: &str) -> Result<Value, Failure> {
    let ring = open(&args.ring, args, what)?;
    let wait = args.wait.strategy();
    let fail = |e| Failure::ring(what, e);
    if args.role == ChildRole::Producer {
        produce(join_writer(&ring, wait).map_err(fail)?, args, what)
    } else {
        consume(join_reader(&ring, wait).map_err(fail)?, args, what)
    }
}

fn ping_pong(args: &ChildArgs, what: &str) -> Result<Value, Failure> {
    let reply_name = args
        .reply_ring
        .as_deref()
        .ok_or_else(|| Failure::usage(what, "--reply-ring is needed for ping-pong"))?;
    let ring = open(&args.ring, args, what)?;
    let reply = open(reply_name, args, what)?;
    let wait = args.wait.strategy();
    let fail = |e| Failure::ring(what, e);
    // The pinger writes to the ring and reads the reply ring; the echo the other way.
    let (writer, reader) = if args.role == ChildRole::Pinger {
        (
            join_writer(&ring, wait).map_err(fail)?,
            join_reader(&reply, wait).map_err(fail)?,
        )
    } else {
        (
            join_writer(&reply, wait).map_err(fail)?,
            join_reader(&ring, wait).map_err(fail)?,
        )
    };
    if args.role == ChildRole::Pinger {
        ping(writer, reader, args, what)
    } else {
        echo(writer, reader, what)
    }
}

/// Writes the message header and fills the rest of the message; returns its length.
#[inline]
fn fill_message(slot: &mut [u8], size: usize, sent_ns: u64, sequence: u64) -> usize {
    slot[..8].copy_from_slice(&sent_ns.to_le_bytes());
    if size >= 16 {
        slot[8..16].copy_from_slice(&sequence.to_le_bytes());
        slot[16..size].fill(sequence as u8);
    }
    size
}

/// What a consumer learns from a message: send time, sequence word, and
/// whether its last byte is what the producer wrote.
#[inline]
fn parse_message(message: &[u8]) -> Option<(u64, Option<u64>, bool)> {
    let sent_ns = u64::from_le_bytes(message.get(..8)?.try_into().ok()?);
    let Some(sequence) = message.get(8..16) else {
        return Some((sent_ns, None, true));
    };
    let sequence = u64::from_le_bytes(sequence.try_into().ok()?);
    let intact = message.len() == 16 || message[message.len() - 1] == sequence as u8;
    Some((sent_ns, Some(sequence), intact))
}

/// A ring error in a benchmark process, said plainly.
fn ring_failure(what: &str, doing: &str, error: Error) -> Failure {
    if error.kind() == ErrorKind::Disconnected {
        return Failure::runtime(what, format!("{doing}: the other side left"));
    }
    Failure::ring(format!("{what}: {doing}"), error)
}

/// A benchmark process that waited [`IDLE_TIMEOUT`] in vain, said plainly.
fn idle_failure(what: &str, doing: &str) -> Failure {
    Failure::runtime(
        what,
        format!(
            "{doing}: no progress for {} s",
            IDLE_TIMEOUT.unwrap_or_default().as_secs()
        ),
    )
}

fn produce(mut writer: AnyProducer, args: &ChildArgs, what: &str) -> Result<Value, Failure> {
    let size = args.size;
    ready_then_wait_for_go(what)?;
    let tag = u64::from(args.index) << NUMBER_BITS;
    let limit = args.messages.unwrap_or(u64::MAX);
    let start_ns = monotonic_ns();
    let deadline_ns = args
        .duration_ns
        .map_or(u64::MAX, |d| start_ns.saturating_add(d));
    let mut sent = 0u64;
    while sent < limit {
        if let Some(gap_ns) = args.gap_ns {
            pace(start_ns.saturating_add(sent.saturating_mul(gap_ns)));
        }
        let mut sent_ns = 0;
        let published = publish(&mut writer, IDLE_TIMEOUT, |slot| {
            sent_ns = monotonic_ns();
            fill_message(slot, size, sent_ns, tag | (sent & NUMBER_MASK))
        })
        .map_err(|e| ring_failure(what, "sending", e))?;
        if !published {
            return Err(idle_failure(what, "sending"));
        }
        sent += 1;
        if sent_ns >= deadline_ns {
            break;
        }
    }
    let end_ns = monotonic_ns();
    Ok(json!({
        "role": "producer",
        "index": args.index,
        "sent": sent,
        "start_ns": start_ns,
        "end_ns": end_ns,
    }))
}

/// Waits until `due_ns` of the monotonic clock: sleeps through most of a
/// long gap, then spins for the last stretch, which a sleep would overshoot.
fn pace(due_ns: u64) {
    const SPIN_NS: u64 = 100_000;
    let now = monotonic_ns();
    if due_ns > now + SPIN_NS {
        std::thread::sleep(Duration::from_nanos(due_ns - now - SPIN_NS));
    }
    while monotonic_ns() < due_ns {
        std::hint::spin_loop();
    }
}

fn consume(mut reader: AnyConsumer, args: &ChildArgs, what: &str) -> Result<Value, Failure> {
    ready_then_wait_for_go(what)?;
    let mut histogram = new_histogram();
    // Next number expected from each producer: numbers must grow (an SPSC
    // consumer sees every one; an MPMC consumer a growing subset).
    let mut next_number = vec![0u64; args.producers.max(1) as usize];
    let (mut received, mut bytes, mut out_of_order, mut damaged) = (0u64, 0u64, 0u64, 0u64);
    let (mut first_ns, mut last_ns) = (0u64, 0u64);
    loop {
        let read = read_with(&mut reader, IDLE_TIMEOUT, |message| {
            let now = monotonic_ns();
            (now, message.len(), parse_message(message))
        });
        let (now, len, parsed) = match read {
            Ok(Some(read)) => read,
            Ok(None) => return Err(idle_failure(what, "receiving")),
            Err(error) if error.kind() == ErrorKind::Disconnected => break,
            Err(error) => return Err(ring_failure(what, "receiving", error)),
        };
        if received == 0 {
            first_ns = now;
        }
        last_ns = now;
        received += 1;
        bytes += len as u64;
        let Some((sent_ns, sequence, intact)) = parsed else {
            damaged += 1;
            continue;
        };
        damaged += u64::from(!intact);
        histogram.saturating_record(now.saturating_sub(sent_ns).max(1));
        if let Some(sequence) = sequence {
            let producer = (sequence >> NUMBER_BITS) as usize;
            let number = sequence & NUMBER_MASK;
            match next_number.get_mut(producer) {
                Some(next) if number >= *next => *next = number + 1,
                _ => out_of_order += 1,
            }
        }
    }
    Ok(json!({
        "role": "consumer",
        "index": args.index,
        "received": received,
        "bytes": bytes,
        "out_of_order": out_of_order,
        "damaged": damaged,
        "first_ns": first_ns,
        "last_ns": last_ns,
        "histogram": histogram_to_json(&histogram),
    }))
}

fn ping(
    mut writer: AnyProducer,
    mut reader: AnyConsumer,
    args: &ChildArgs,
    what: &str,
) -> Result<Value, Failure> {
    let size = args.size;
    ready_then_wait_for_go(what)?;
    let mut histogram = new_histogram();
    let limit = args.messages.unwrap_or(u64::MAX);
    let start_ns = monotonic_ns();
    let deadline_ns = args
        .duration_ns
        .map_or(u64::MAX, |d| start_ns.saturating_add(d));
    let (mut round_trips, mut mismatched) = (0u64, 0u64);
    while round_trips < limit {
        let number = round_trips & NUMBER_MASK;
        let sent_ns = monotonic_ns();
        let published = publish(&mut writer, IDLE_TIMEOUT, |slot| {
            fill_message(slot, size, sent_ns, number)
        })
        .map_err(|e| ring_failure(what, "sending", e))?;
        if !published {
            return Err(idle_failure(what, "sending"));
        }
        let (now, parsed) = read_with(&mut reader, IDLE_TIMEOUT, |message| {
            (monotonic_ns(), parse_message(message))
        })
        .map_err(|e| ring_failure(what, "waiting for the echo", e))?
        .ok_or_else(|| idle_failure(what, "waiting for the echo"))?;
        let echoed = matches!(parsed, Some((ns, seq, true)) if ns == sent_ns && seq.is_none_or(|s| s == number));
        mismatched += u64::from(!echoed);
        histogram.saturating_record(now.saturating_sub(sent_ns).max(1));
        round_trips += 1;
        if now >= deadline_ns {
            break;
        }
    }
    let end_ns = monotonic_ns();
    Ok(json!({
        "role": "pinger",
        "round_trips": round_trips,
        "mismatched": mismatched,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "histogram": histogram_to_json(&histogram),
    }))
}

fn echo(mut writer: AnyProducer, mut reader: AnyConsumer, what: &str) -> Result<Value, Failure> {
    ready_then_wait_for_go(what)?;
    let mut echoed = 0u64;
    loop {
        // Zero-copy both ways: the message is copied from its slot in one ring
        // straight into a slot of the other.
        let result = read_with(&mut reader, IDLE_TIMEOUT, |message| {
            publish(&mut writer, IDLE_TIMEOUT, |slot| {
                slot[..message.len()].copy_from_slice(message);
                message.len()
            })
        });
        match result {
            Ok(Some(Ok(true))) => echoed += 1,
            Ok(Some(Ok(false))) => return Err(idle_failure(what, "echoing")),
            Ok(Some(Err(error))) => return Err(ring_failure(what, "echoing", error)),
            Ok(None) => return Err(idle_failure(what, "receiving")),
            Err(error) if error.kind() == ErrorKind::Disconnected => break,
            Err(error) => return Err(ring_failure(what, "receiving", error)),
        }
    }
    Ok(json!({ "role": "echo", "echoed": echoed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_header_and_fill() {
        let mut slot = [0u8; 64];
        let len = fill_message(&mut slot, 40, 12_345, (3 << NUMBER_BITS) | 7);
        assert_eq!(len, 40);
        let (sent, sequence, intact) = parse_message(&slot[..len]).unwrap();
        assert_eq!(sent, 12_345);
        assert_eq!(sequence, Some((3 << NUMBER_BITS) | 7));
        assert!(intact);
        slot[39] ^= 1;
        assert!(!parse_message(&slot[..len]).unwrap().2);
        assert_eq!(parse_message(&slot[..8]).unwrap(), (12_345, None, true));
        assert!(parse_message(&slot[..4]).is_none());
    }

    #[test]
    fn histograms_survive_the_trip_through_json() {
        let mut histogram = new_histogram();
        for value in [100, 250, 250, 10_000, 7_000_000] {
            histogram.record(value).unwrap();
        }
        let json = histogram_to_json(&histogram);
        let mut rebuilt = new_histogram();
        for pair in json.as_array().unwrap() {
            rebuilt
                .record_n(pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap())
                .unwrap();
        }
        assert_eq!(rebuilt.len(), 5);
        assert_eq!(
            rebuilt.value_at_quantile(0.5),
            histogram.value_at_quantile(0.5)
        );
        assert!(rebuilt.equivalent(rebuilt.max(), 7_000_000));
    }
}
