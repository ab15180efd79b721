//! MPMC across processes: producer and consumer processes move sequence-numbered,
//! checksummed messages of varied lengths through a small ring, mixing the
//! single-slot, batch and copy APIs and abandoning some reservations; in the
//! churn test they also join and leave while traffic flows. Every message must
//! reach exactly one consumer, intact, and each consumer must see each producer's
//! messages in order.
//!
//! Producers and consumers are this test binary re-run as child processes (the
//! `#[ignore]`d `child_*` tests). The test process creates the ring and holds a
//! producer handle that sends nothing until every producer process has finished,
//! so that consumers see `Disconnected` only once everything was sent. Each
//! consumer writes the set of sequence numbers it received from each producer to
//! a file and prints counts and sums; the test proves exactly-once delivery from
//! the sets: each consumer saw each producer's sequence numbers strictly grow (no
//! duplicate within a consumer), the consumers' sets are disjoint (no duplicate
//! across consumers), and their union is every message sent (no loss).

mod common;

use std::time::{Duration, Instant};

use common::{
    assert_exactly_once, receive_tagged_step, report, send_tagged_step, unique_name, ChildProcess,
    RemoveFile, RemoveRing, SeqSet, Tally, XorShift,
};
use shmlane::{mpmc, ErrorKind, Ring, RingOptions};

const CAPACITY: u64 = 16;
const SLOT_SIZE: u64 = 80; // 64 bytes of payload
const PARTICIPANTS: u32 = 10;
/// Messages per producer process in the steady test: a million in all.
const STEADY_MESSAGES: u64 = 500_000;
/// Messages of the long-lived and of the coming-and-going producer in the churn test.
const CHURN_MESSAGES: [u64; 2] = [500_000, 250_000];
/// Hang guard of every child process's loop; the tests take seconds.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);
/// Hang guard of the test process, beyond the children's own.
const PARENT_DEADLINE: Duration = Duration::from_secs(180);

fn env_u64(name: &str) -> u64 {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is set by the parent test"))
        .parse()
        .unwrap()
}

/// How the processes of one run behave.
#[derive(Clone, Copy)]
struct Plan {
    /// Messages of each producer process (its index is its producer id).
    messages: &'static [u64],
    consumers: u64,
    /// Producer 0 stays joined while the other producers join, send a burst and
    /// leave, again and again; consumers join, read a random number of messages
    /// and leave, again and again. Without churn everyone joins once.
    churn: bool,
}

/// Runs the producer and consumer processes of `plan` on a new ring and checks
/// that every message arrived exactly once.
fn run(tag: &str, plan: Plan) {
    let deadline = Instant::now() + PARENT_DEADLINE;
    let name = unique_name(tag);
    let ring = Ring::create(&name, &RingOptions::mpmc(CAPACITY, SLOT_SIZE, PARTICIPANTS)).unwrap();
    let _remove = RemoveRing(name.clone());
    let holder = mpmc::Producer::join(&ring).unwrap();
    let messages: Vec<String> = plan.messages.iter().map(u64::to_string).collect();
    let common_env = [
        ("SHMLANE_TEST_RING", name.clone()),
        ("SHMLANE_TEST_MESSAGES", messages.join(",")),
        ("SHMLANE_TEST_CHURN", u8::from(plan.churn).to_string()),
    ];

    let mut seen_files = Vec::new();
    let mut consumers: Vec<ChildProcess> = (0..plan.consumers)
        .map(|index| {
            let seen = std::env::temp_dir().join(format!("{name}-consumer-{index}.seen"));
            seen_files.push(RemoveFile(seen.clone()));
            let mut env = common_env.to_vec();
            env.push(("SHMLANE_TEST_INDEX", index.to_string()));
            env.push(("SHMLANE_TEST_SEEN", seen.display().to_string()));
            ChildProcess::spawn(format!("consumer {index}"), "child_consumer", &env)
        })
        .collect();
    let producers: Vec<ChildProcess> = (0..plan.messages.len())
        .map(|id| {
            let mut env = common_env.to_vec();
            env.push(("SHMLANE_TEST_INDEX", id.to_string()));
            ChildProcess::spawn(format!("producer {id}"), "child_producer", &env)
        })
        .collect();

    let mut abandoned = 0;
    for (id, producer) in producers.into_iter().enumerate() {
        // A consumer can only end after `Disconnected`, which the held
        // producer handle rules out: one that ended has failed.
        let stdout = producer.finish(deadline, || {
            for consumer in &mut consumers {
                consumer.assert_running("before the producers finished");
            }
        });
        let words = report(&stdout, "SENT ");
        assert_eq!(words[0], id.to_string());
        assert_eq!(
            words[1],
            plan.messages[id].to_string(),
            "producer {id} sent everything"
        );
        abandoned += words[2].parse::<u64>().unwrap();
        eprintln!("producer {id}: {}", words[3..].join(" "));
    }
    drop(holder); // now consumers drain the ring and see `Disconnected`

    let mut tallies = Vec::new();
    for (index, consumer) in consumers.into_iter().enumerate() {
        let stdout = consumer.finish(deadline, || {});
        let words = report(&stdout, "RECEIVED ");
        assert_eq!(words[0], index.to_string());
        let mut tally = Tally::new(plan.messages);
        let seen = std::fs::read(&seen_files[index].0).unwrap();
        let mut seen = &seen[..];
        assert_eq!(words.len(), 3 + 3 * plan.messages.len(), "{words:?}");
        for (producer, counts) in tally.producers.iter_mut().zip(words[3..].chunks_exact(3)) {
            producer.count = counts[0].parse().unwrap();
            producer.sum = counts[1].parse().unwrap();
            producer.sum_squares = counts[2].parse().unwrap();
            let bound = producer.seen.bound;
            let (bytes, rest) = seen.split_at(SeqSet::new(bound).to_bytes().len().min(seen.len()));
            producer.seen = SeqSet::from_bytes(bytes).expect("a set of sequence numbers");
            assert_eq!(
                producer.seen.bound, bound,
                "consumer {index}: the set's range"
            );
            seen = rest;
        }
        assert!(
            seen.is_empty(),
            "consumer {index} wrote a set for each producer, no more"
        );
        eprintln!(
            "consumer {index}: joins={} empty-polls={} messages per producer {:?}",
            words[1],
            words[2],
            tally.producers.iter().map(|p| p.count).collect::<Vec<_>>()
        );
        tallies.push(tally);
    }
    assert_exactly_once(&tallies, plan.messages);
    let info = ring.info();
    assert_eq!(info.head, info.tail, "every claimed slot was released");
    assert_eq!(
        info.tail,
        plan.messages.iter().sum::<u64>() + abandoned,
        "each position carried one message or one abandoned slot"
    );
}

#[test]
fn two_producer_and_two_consumer_processes_deliver_a_million_messages_exactly_once() {
    run(
        "mpmc-procs",
        Plan {
            messages: &[STEADY_MESSAGES; 2],
            consumers: 2,
            churn: false,
        },
    );
}

#[test]
fn producers_and_consumers_joining_and_leaving_during_traffic_lose_and_duplicate_nothing() {
    run(
        "mpmc-churn",
        Plan {
            messages: &CHURN_MESSAGES,
            consumers: 2,
            churn: true,
        },
    );
}

/// The plan as the parent passed it to a child: messages per producer, churn.
fn child_plan() -> Option<(String, Vec<u64>, bool, u64)> {
    let name = std::env::var("SHMLANE_TEST_RING").ok()?; // run only as a child
    let messages = std::env::var("SHMLANE_TEST_MESSAGES")
        .unwrap()
        .split(',')
        .map(|count| count.parse().unwrap())
        .collect();
    let churn = env_u64("SHMLANE_TEST_CHURN") == 1;
    Some((name, messages, churn, env_u64("SHMLANE_TEST_INDEX")))
}

#[test]
#[ignore = "run as a child process by the tests above"]
fn child_producer() {
    let Some((name, messages, churn, id)) = child_plan() else {
        return;
    };
    let count = messages[id as usize];
    let id = id as u32;
    let ring = Ring::open(&name).unwrap();
    let mut rng = XorShift::new(u64::from(id) + 1);
    let mut scratch = vec![0u8; ring.max_payload()];
    let (mut next, mut abandoned, mut joins, mut fulls, mut disconnected) = (0u64, 0, 0, 0, 0);
    // In the churn test producer 0 stays; the others come and go in bursts.
    let bursts = churn && id > 0;
    let deadline = Instant::now() + CHILD_DEADLINE;
    while next < count {
        let mut producer = mpmc::Producer::join(&ring).unwrap();
        joins += 1;
        let until = if bursts {
            count.min(next + 1 + rng.below(1000))
        } else {
            count
        };
        while next < until {
            assert!(Instant::now() < deadline, "producer {id} stalled at {next}");
            match send_tagged_step(&mut producer, id, &mut next, until, &mut rng, &mut scratch) {
                Ok(Some(skipped)) => abandoned += skipped,
                Ok(None) => {
                    fulls += 1;
                    std::thread::yield_now();
                }
                // Between a churning consumer's handles there may be none at all.
                Err(e) if e.kind() == ErrorKind::Disconnected && churn => {
                    disconnected += 1;
                    std::thread::yield_now();
                }
                Err(other) => panic!("producer {id} error at {next}: {other}"),
            }
        }
        if bursts && rng.below(2) == 0 {
            // Leave right after abandoning a reservation: consumers skip it.
            if let Ok(Some(slot)) = producer.try_reserve() {
                drop(slot);
                abandoned += 1;
            }
        }
    }
    // A line of its own: libtest has printed "test <name> ... " without a newline.
    println!("\nSENT {id} {next} {abandoned} joins={joins} full-polls={fulls} disconnected-polls={disconnected}");
}

#[test]
#[ignore = "run as a child process by the tests above"]
fn child_consumer() {
    let Some((name, messages, churn, index)) = child_plan() else {
        return;
    };
    let seen_path = std::env::var("SHMLANE_TEST_SEEN").unwrap();
    let ring = Ring::open(&name).unwrap();
    let max = ring.max_payload();
    let mut rng = XorShift::new(index + 1000);
    let (mut scratch, mut copy) = (vec![0u8; max], vec![0u8; max]);
    let mut tally = Tally::new(&messages);
    let mut accept = |message: &[u8]| {
        if let Err(problem) = tally.accept(max, message, &mut scratch) {
            panic!("consumer {index}: {problem}");
        }
    };
    let mut joins = 0u64;
    let mut empties = 0u64;
    let deadline = Instant::now() + CHILD_DEADLINE;
    'rejoin: loop {
        if churn && rng.below(4) == 0 {
            // Stay away a little: sometimes no consumer at all is joined.
            std::thread::sleep(Duration::from_micros(100));
        }
        let mut consumer = mpmc::Consumer::join(&ring).unwrap();
        joins += 1;
        // A churning consumer reads 0 to 299 messages per handle.
        let quota = if churn { rng.below(300) } else { u64::MAX };
        let mut taken = 0;
        while taken < quota {
            assert!(Instant::now() < deadline, "consumer {index} stalled");
            let max_batch = (quota - taken).min(8) as usize;
            match receive_tagged_step(&mut consumer, max_batch, &mut rng, &mut copy, &mut accept) {
                Ok(Some(count)) => {
                    taken += count;
                    // Let the other consumers in: on a machine with fewer cores
                    // than processes, whoever runs would otherwise take it all.
                    if rng.below(2) == 0 {
                        std::thread::yield_now();
                    }
                }
                Ok(None) => {
                    empties += 1;
                    std::thread::yield_now()
                }
                Err(e) if e.kind() == ErrorKind::Disconnected => break 'rejoin,
                Err(other) => panic!("consumer {index} error: {other}"),
            }
        }
    }
    let mut seen = Vec::new();
    let mut line = format!("\nRECEIVED {index} {joins} {empties}");
    for producer in &tally.producers {
        seen.extend(producer.seen.to_bytes());
        line += &format!(
            " {} {} {}",
            producer.count, producer.sum, producer.sum_squares
        );
    }
    std::fs::write(&seen_path, seen).unwrap();
    println!("{line}");
}
