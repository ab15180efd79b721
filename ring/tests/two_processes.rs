//! A producer process and a consumer process move a million sequence-numbered,
//! checksummed messages of varied lengths through a small ring, so that it wraps,
//! fills and empties thousands of times; every message must arrive exactly once,
//! in order, intact.
//!
//! The producer is this test binary re-run as a child process (the `#[ignore]`d
//! `child_*` tests); the consumer is the test itself.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::{
    check_message, fill_message, message_len, spawn_child, unique_name, RemoveRing, XorShift,
};
use shmlane::{spsc, ErrorKind, Ring, RingOptions};

const MESSAGES: u64 = 1_000_000;
const CAPACITY: u64 = 16;
const SLOT_SIZE: u64 = 72; // 64 bytes of payload
/// Every this many messages the producer waits until the consumer has emptied
/// the ring, and (half a period later) the consumer waits until the producer
/// has filled it: the ring empties and fills a thousand times each, whatever
/// the scheduler does. The two never wait at once: the ring holds 16 messages,
/// and their waiting points are 500 apart.
const WAIT_EVERY: u64 = 1000;

/// Waits (yielding) until `condition` holds for the ring's positions.
fn wait_for(ring: &Ring, condition: impl Fn(u64, u64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = ring.info();
        if condition(info.head, info.tail) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited a minute for the other side"
        );
        std::thread::yield_now();
    }
}

/// Size of each message in the fixed-size run.
const FIXED_SIZE: usize = 24;

fn run_consumer(api: &str) {
    let name = unique_name(&format!("two-proc-{api}"));
    let options = match api {
        "fixed" => RingOptions::spsc_fixed(CAPACITY, FIXED_SIZE as u64),
        _ => RingOptions::spsc(CAPACITY, SLOT_SIZE),
    };
    let ring = Ring::create(&name, &options).unwrap();
    let _remove = RemoveRing(name.clone());
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    let max = consumer.max_payload();
    let mut child = spawn_child(
        &format!("child_producer_{api}"),
        &[
            ("SHMLANE_TEST_RING", name.clone()),
            ("SHMLANE_TEST_MESSAGES", MESSAGES.to_string()),
        ],
    );

    let mut scratch = vec![0u8; max];
    let mut copy = vec![0u8; max];
    let mut rng = XorShift::new(7);
    let mut next = 0u64;
    let mut empties = 0u64;
    let mut was_empty = false;
    let mut fills = 0u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            Instant::now() < deadline,
            "consumer stalled at message {next}"
        );
        if next >= (fills + 1) * WAIT_EVERY - WAIT_EVERY / 2 {
            // Full, or the producer has published its last message.
            wait_for(&ring, |head, tail| {
                tail - head == CAPACITY || tail >= MESSAGES
            });
            fills += 1;
        }
        let result = match api {
            "fixed" => consumer
                .try_read_batch(1 + rng.below(20) as usize)
                .map(|batch| {
                    if batch.is_empty() {
                        return false;
                    }
                    let (first, second) = batch.as_slices().expect("fixed-size ring");
                    for message in first
                        .chunks_exact(FIXED_SIZE)
                        .chain(second.chunks_exact(FIXED_SIZE))
                    {
                        fill_message(next, &mut scratch[..FIXED_SIZE]);
                        assert_eq!(message, &scratch[..FIXED_SIZE], "message {next}");
                        next += 1;
                    }
                    true
                }),
            "batch" => consumer
                .try_read_batch(1 + rng.below(20) as usize)
                .map(|batch| {
                    for message in batch.iter() {
                        check_message(next, max, message, &mut scratch).unwrap();
                        next += 1;
                    }
                    !batch.is_empty()
                }),
            _ if next % 3 == 0 => consumer.try_recv(&mut copy).map(|len| {
                len.map(|len| {
                    check_message(next, max, &copy[..len], &mut scratch).unwrap();
                    next += 1;
                })
                .is_some()
            }),
            _ => consumer.try_read().map(|message| {
                message
                    .map(|message| {
                        check_message(next, max, &message, &mut scratch).unwrap();
                        next += 1;
                    })
                    .is_some()
            }),
        };
        match result {
            Ok(true) => was_empty = false,
            Ok(false) => {
                // Count each time the ring runs dry, not each poll; yield so the
                // test progresses when more processes than cores are running.
                empties += u64::from(!was_empty);
                was_empty = true;
                std::thread::yield_now();
            }
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(other) => panic!("consumer error at message {next}: {other}"),
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "producer process failed: {status}");
    let (mut fulls, mut emptied) = (None, None);
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(count) = line.strip_prefix("FULLS ") {
            fulls = Some(count.parse::<u64>().unwrap());
        }
        if let Some(count) = line.strip_prefix("EMPTIED ") {
            emptied = Some(count.parse::<u64>().unwrap());
        }
    }
    let fulls = fulls.expect("the producer reports how often it found the ring full");
    let emptied = emptied.expect("the producer reports how often it waited for an empty ring");
    assert_eq!(
        next, MESSAGES,
        "every message arrives exactly once, then Disconnected"
    );
    // Each wait returns only once the ring is empty (producer) or full
    // (consumer), so these counts are how often it really emptied and filled.
    let waits = MESSAGES / WAIT_EVERY - 1;
    assert!(emptied >= waits, "the ring emptied only {emptied} times");
    assert!(fills >= waits, "the ring filled only {fills} times");
    eprintln!(
        "{api}: {MESSAGES} messages; the ring emptied {emptied} and filled {fills} times by \
         design, and the consumer found it empty {empties} times, the producer full {fulls} times"
    );
}

fn run_producer(api: &str) {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return; // run only as a child of the consumer test
    };
    let messages: u64 = std::env::var("SHMLANE_TEST_MESSAGES")
        .unwrap()
        .parse()
        .unwrap();
    let ring = Ring::open(&name).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    let max = producer.max_payload();
    let mut rng = XorShift::new(11);
    let mut scratch = vec![0u8; max];
    let mut next = 0u64;
    let mut fulls = 0u64;
    let mut was_full = false;
    let mut emptied = 0u64;
    while next < messages {
        if next >= (emptied + 1) * WAIT_EVERY {
            wait_for(&ring, |head, tail| head == tail);
            emptied += 1;
        }
        let result = match api {
            "fixed" => producer
                .try_reserve_batch(1 + rng.below(20) as usize)
                .map(|mut batch| {
                    if batch.is_empty() {
                        return false;
                    }
                    let wanted = (batch.len() as u64).min(messages - next) as usize;
                    let (first, second) = batch.as_mut_slices().expect("fixed-size ring");
                    let records = first
                        .chunks_exact_mut(max)
                        .chain(second.chunks_exact_mut(max));
                    for (i, record) in records.take(wanted).enumerate() {
                        fill_message(next + i as u64, record);
                    }
                    batch.commit_first(wanted);
                    next += wanted as u64;
                    true
                }),
            "batch" => producer
                .try_reserve_batch(1 + rng.below(20) as usize)
                .map(|mut batch| {
                    if batch.is_empty() {
                        return false;
                    }
                    let wanted = (batch.len() as u64).min(messages - next) as usize;
                    for i in 0..wanted {
                        let len = message_len(next + i as u64, max);
                        fill_message(next + i as u64, &mut batch.slot_mut(i)[..len]);
                        batch.set_len(i, len).unwrap();
                    }
                    // Sometimes publish only a prefix: the rest must not appear.
                    let publish = if rng.below(4) == 0 {
                        wanted / 2
                    } else {
                        wanted
                    };
                    batch.commit_first(publish);
                    next += publish as u64;
                    true
                }),
            _ if next % 2 == 0 => {
                let len = message_len(next, max);
                fill_message(next, &mut scratch[..len]);
                producer
                    .try_send(&scratch[..len])
                    .inspect(|&sent| next += u64::from(sent))
            }
            _ => producer.try_reserve().map(|slot| {
                let Some(mut slot) = slot else {
                    return false;
                };
                let len = message_len(next, max);
                fill_message(next, &mut slot[..len]);
                if rng.below(10) == 0 {
                    drop(slot); // an abandoned reservation publishes nothing
                } else {
                    slot.commit(len).unwrap();
                    next += 1;
                }
                true
            }),
        };
        match result {
            Ok(true) => was_full = false,
            Ok(false) => {
                fulls += u64::from(!was_full);
                was_full = true;
                std::thread::yield_now();
            }
            Err(other) => panic!("producer error at message {next}: {other}"),
        }
    }
    // A line of its own: libtest has printed "test <name> ... " without a newline.
    println!("\nFULLS {fulls}");
    println!("EMPTIED {emptied}");
}

#[test]
fn million_messages_cross_processes_with_single_slot_api() {
    run_consumer("single");
}

#[test]
fn million_messages_cross_processes_with_batch_api() {
    run_consumer("batch");
}

#[test]
fn million_fixed_size_messages_cross_processes_in_contiguous_batches() {
    run_consumer("fixed");
}

#[test]
#[ignore = "run as a child process by million_fixed_size_messages_cross_processes_in_contiguous_batches"]
fn child_producer_fixed() {
    run_producer("fixed");
}

#[test]
#[ignore = "run as a child process by million_messages_cross_processes_with_single_slot_api"]
fn child_producer_single() {
    run_producer("single");
}

#[test]
#[ignore = "run as a child process by million_messages_cross_processes_with_batch_api"]
fn child_producer_batch() {
    run_producer("batch");
}
