//! Broadcast with real processes: a tethered subscriber killed with SIGKILL
//! in the middle of a read stops holding the producer back, and the other
//! subscribers lose nothing; a producer killed with SIGKILL leaves its
//! subscribers to drain what it published and then see `Disconnected`.
//!
//! Children are this test binary re-run (the `#[ignore]`d `child_*` tests);
//! they say on stdout where they are. Messages are tagged with a sequence
//! number and end with a checksum (`common::fill_tagged`). Nothing is timed:
//! a producer still held back by a dead subscriber shows as a blocking send
//! that times out after [`STALL`].

mod common;

use std::io::Write;
use std::time::Duration;

use common::{check_tagged, fill_tagged, tagged_len, unique_name, ChildProcess, RemoveRing};
use shmlane::{broadcast, ErrorKind, Ring, RingOptions};

const CAPACITY: u64 = 8;
/// 48 bytes of payload.
const SLOT_SIZE: u64 = 64;
/// Trials of the subscriber kill.
const TRIALS: u64 = 20;
/// Timeout of every blocking call of the test process: a dead subscriber
/// stops gating within milliseconds, so a call that waits this long stalled.
const STALL: Duration = Duration::from_secs(60);
/// The environment variable that hands a child its ring.
const RING_VAR: &str = "SHMLANE_BROADCAST_CHILD_RING";

/// Message `seq` of the one producer (id 0) into `buffer`; returns its length.
fn fill(seq: u64, buffer: &mut [u8]) -> usize {
    let len = tagged_len(0, seq, buffer.len());
    fill_tagged(0, seq, &mut buffer[..len]);
    len
}

/// Reads every message until `Disconnected`, checking each one and that the
/// sequence numbers run from `first` without a gap; returns how many.
fn read_all(subscriber: &mut broadcast::Subscriber, first: u64, max: usize) -> u64 {
    let (mut buffer, mut scratch) = (vec![0u8; max], vec![0u8; max]);
    let mut next = first;
    loop {
        match subscriber.recv(&mut buffer, Some(STALL)) {
            Ok(Some(len)) => {
                let (_, seq) = check_tagged(max, &buffer[..len], &mut scratch)
                    .unwrap_or_else(|problem| panic!("message after {next}: {problem}"));
                assert_eq!(seq, next, "a subscriber lost or reordered a message");
                next += 1;
            }
            Ok(None) => panic!("no message for {STALL:?} after {next}"),
            Err(error) if error.kind() == ErrorKind::Disconnected => return next - first,
            Err(error) => panic!("{error}"),
        }
    }
}

#[test]
fn a_killed_tethered_subscriber_stops_holding_the_producer_back() {
    let name = unique_name("bc-kill-sub");
    let ring = Ring::create(&name, &RingOptions::broadcast(CAPACITY, SLOT_SIZE, 2)).unwrap();
    let _remove = RemoveRing(name.clone());
    let max = ring.max_payload();
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut witness = broadcast::Subscriber::join(&ring).unwrap();
    let witness = std::thread::spawn(move || read_all(&mut witness, 0, max));
    let mut buffer = vec![0u8; max];
    let mut seq = 0;
    let mut send = |producer: &mut broadcast::Producer, seq: &mut u64, timeout| {
        let len = fill(*seq, &mut buffer);
        let sent = producer.send(&buffer[..len], timeout).unwrap();
        *seq += sent as u64;
        sent
    };
    for trial in 0..TRIALS {
        let mut child = ChildProcess::spawn(
            format!("subscriber child {trial}"),
            "child_tethered_subscriber_reads_and_holds",
            &[(RING_VAR, name.clone())],
        );
        child.wait_for_line("joined");
        // The child reads this message and dies holding it.
        assert!(send(&mut producer, &mut seq, Some(STALL)));
        let held: u64 = child.wait_for_line_starting("reading ").parse().unwrap();
        assert_eq!(held, seq - 1);
        // Alive, the child holds the producer back within a lap of its message.
        let mut sent_past_it = 0;
        while send(&mut producer, &mut seq, Some(Duration::ZERO)) {
            sent_past_it += 1;
            assert!(
                sent_past_it < CAPACITY,
                "the producer overwrote a message its live subscriber holds"
            );
        }
        child.assert_running("while it holds a message");
        child.kill();
        // Dead, it holds nothing: the producer goes on for more than a lap.
        for _ in 0..2 * CAPACITY {
            assert!(
                send(&mut producer, &mut seq, Some(STALL)),
                "the producer is still held back by a dead subscriber"
            );
        }
    }
    drop(producer);
    assert_eq!(witness.join().unwrap(), seq, "the witness missed messages");
}

#[test]
fn subscribers_drain_a_killed_producer_then_see_disconnected() {
    const MESSAGES: u64 = 5;
    let name = unique_name("bc-kill-prod");
    let ring = Ring::create(&name, &RingOptions::broadcast(CAPACITY, SLOT_SIZE, 2)).unwrap();
    let _remove = RemoveRing(name.clone());
    let mut first = broadcast::Subscriber::join(&ring).unwrap();
    let mut second = broadcast::Subscriber::join(&ring).unwrap();
    let mut child = ChildProcess::spawn(
        "producer child",
        "child_producer_sends_and_waits",
        &[(RING_VAR, name.clone())],
    );
    child.wait_for_line("sent");
    child.kill();
    for subscriber in [&mut first, &mut second] {
        assert_eq!(read_all(subscriber, 0, ring.max_payload()), MESSAGES);
    }
}

/// Says something to the parent, on a line of its own: libtest has printed
/// "test <name> ... " without a newline.
fn tell(line: &str) {
    println!("\n{line}");
    std::io::stdout().flush().unwrap();
}

/// Joins the ring named in [`RING_VAR`] as a tethered subscriber, reads one
/// message and waits, holding it, to be killed.
#[test]
#[ignore = "run as a child process by the tests above"]
fn child_tethered_subscriber_reads_and_holds() {
    let Ok(name) = std::env::var(RING_VAR) else {
        return;
    };
    let ring = Ring::open(&name).unwrap();
    let max = ring.max_payload();
    let mut subscriber = broadcast::Subscriber::join(&ring).unwrap();
    tell("joined");
    let message = subscriber.read(Some(STALL)).unwrap().expect("a message");
    let (_, seq) = check_tagged(max, &message, &mut vec![0u8; max]).unwrap();
    tell(&format!("reading {seq}"));
    std::thread::sleep(STALL);
    panic!("not killed");
}

/// Joins the ring named in [`RING_VAR`] as its producer, sends five
/// messages and waits to be killed.
#[test]
#[ignore = "run as a child process by the tests above"]
fn child_producer_sends_and_waits() {
    let Ok(name) = std::env::var(RING_VAR) else {
        return;
    };
    let ring = Ring::open(&name).unwrap();
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut buffer = vec![0u8; ring.max_payload()];
    for seq in 0..5 {
        let len = fill(seq, &mut buffer);
        assert!(producer.send(&buffer[..len], Some(STALL)).unwrap());
    }
    tell("sent");
    std::thread::sleep(STALL);
    panic!("not killed");
}
