//! The blocking calls across processes: traffic in bursts with idle gaps, so
//! that consumers fall asleep between bursts and producers sleep on a full ring
//! while consumers pause, with nothing lost, duplicated or reordered; a sleeper
//! whose peer process is killed with SIGKILL gets `Disconnected`; and a consumer
//! blocked on an idle ring costs (almost) no CPU.
//!
//! Peers are this test binary re-run as child processes (the `#[ignore]`d
//! `child_*` tests). No assertion depends on how fast the machine is, except
//! generous upper bounds: seconds for what takes milliseconds, and 50 ms of CPU
//! for a second of sleep.

mod common;

use std::time::{Duration, Instant};

use common::{
    assert_exactly_once, check_message, data, fill_message, fill_tagged, message_len, report,
    space, tagged_len, unique_name, Background, ChildProcess, RemoveFile, RemoveRing, SeqSet,
    Tally, XorShift, MIN_TAGGED_LEN,
};
use shmlane::{mpmc, spsc, Error, ErrorKind, Ring, RingInfo, RingOptions, WaitInfo, WaitStrategy};

/// Timeout of every blocking call in the traffic tests: a call that waits this
/// long has hung (the tests take seconds).
const STALL: Duration = Duration::from_secs(60);
/// Hang guard of the test process.
const PARENT_DEADLINE: Duration = Duration::from_secs(180);
/// Generous bound on noticing a killed peer (documented: the peer-check
/// interval, 50 ms by default) and on other waits of milliseconds.
const BOUND: Duration = Duration::from_secs(5);

const SPSC_MESSAGES: u64 = 1_000_000;
/// Messages of each of the two producer processes in the MPMC test.
const MPMC_MESSAGES: u64 = 250_000;
/// The producers send this many messages, then stay idle for 1 to 3 ms.
const BURST: u64 = 10_000;
/// Each consumer pauses for 2 ms about once a burst, so that producers find
/// the ring full long enough to fall asleep.
const PAUSE: Duration = Duration::from_millis(2);
const CAPACITY: u64 = 16;
const SPSC_SLOT_SIZE: u64 = 72; // 64 bytes of payload
const MPMC_SLOT_SIZE: u64 = 80; // 64 bytes of payload

/// The strategy named by the parent in `SHMLANE_TEST_STRATEGY`.
fn strategy_named(name: &str) -> WaitStrategy {
    match name {
        "default" => WaitStrategy::default(),
        "sleeping" => WaitStrategy::sleeping(),
        other => panic!("unknown strategy {other:?}"),
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

fn env_u64(name: &str) -> u64 {
    env(name).parse().unwrap()
}

/// Waits (at most [`BOUND`]) until the ring's state satisfies `condition`.
fn wait_until(ring: &Ring, what: &str, condition: impl Fn(&RingInfo) -> bool) {
    let deadline = Instant::now() + BOUND;
    loop {
        let info = ring.info();
        if condition(&info) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited {BOUND:?} for {what}; data line {:?}, space line {:?}",
            info.data_waits,
            info.space_waits
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until one handle is asleep on `line`.
fn wait_for_sleeper(ring: &Ring, line: fn(&RingInfo) -> WaitInfo) {
    wait_until(ring, "a sleeper", |info| {
        let line = line(info);
        line.sleepers == 1 && line.waiters >= 1 && line.sleeps >= 1
    });
}

/// CPU time consumed so far by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

// ---------------------------------------------------------------------------
// SPSC traffic in bursts.

fn spsc_traffic(strategy_name: &str) {
    let started = Instant::now();
    let name = unique_name(&format!("blocking-spsc-{strategy_name}"));
    let ring = Ring::create(&name, &RingOptions::spsc(CAPACITY, SPSC_SLOT_SIZE)).unwrap();
    let _remove = RemoveRing(name.clone());
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    consumer.set_wait_strategy(strategy_named(strategy_name));
    let max = consumer.max_payload();
    let producer = ChildProcess::spawn(
        "the producer process",
        "child_spsc_producer",
        &[
            ("SHMLANE_TEST_RING", name.clone()),
            ("SHMLANE_TEST_MESSAGES", SPSC_MESSAGES.to_string()),
            ("SHMLANE_TEST_STRATEGY", strategy_name.to_string()),
        ],
    );

    let (mut scratch, mut copy) = (vec![0u8; max], vec![0u8; max]);
    let mut rng = XorShift::new(3);
    let mut next = 0u64;
    let mut next_pause = BURST / 2;
    let mut short_buffers = 0u64;
    let deadline = started + PARENT_DEADLINE;
    let mut check = |seq: u64, message: &[u8]| {
        if let Err(problem) = check_message(seq, max, message, &mut scratch) {
            panic!("{problem}");
        }
    };
    loop {
        assert!(Instant::now() < deadline, "consumer stalled at {next}");
        if next >= next_pause {
            // The ring fills and the producer, blocked in `send`, falls asleep.
            std::thread::sleep(PAUSE);
            next_pause += BURST;
        }
        let result = match rng.below(4) {
            0 => consumer.read(Some(STALL)).map(|message| {
                let message = message.expect("a message within the stall bound");
                check(next, &message);
                next += 1;
            }),
            1 => consumer
                .read_batch(1 + rng.below(20) as usize, Some(STALL))
                .map(|batch| {
                    assert!(!batch.is_empty(), "messages within the stall bound");
                    for message in batch.iter() {
                        check(next, message);
                        next += 1;
                    }
                }),
            2 => consumer.recv(&mut copy, Some(STALL)).map(|len| {
                let len = len.expect("a message within the stall bound");
                check(next, &copy[..len]);
                next += 1;
            }),
            _ => match consumer.recv(&mut copy[..8], Some(STALL)) {
                Ok(len) => {
                    let len = len.expect("a message within the stall bound");
                    check(next, &copy[..len]);
                    next += 1;
                    Ok(())
                }
                Err(e) if e.kind() == ErrorKind::BufferTooSmall => {
                    let (needed, _) = e.sizes().expect("a size error names its sizes");
                    short_buffers += 1;
                    let len = consumer
                        .recv(&mut copy, Some(Duration::ZERO))
                        .expect("the message refused for a short buffer is there")
                        .expect("the refused message is kept");
                    assert_eq!(len as u64, needed, "the refused message comes next");
                    check(next, &copy[..len]);
                    next += 1;
                    Ok(())
                }
                Err(other) => Err(other),
            },
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(other) => panic!("consumer error at message {next}: {other}"),
        }
    }
    let stdout = producer.finish(deadline, || {});
    assert_eq!(report(&stdout, "SENT "), [SPSC_MESSAGES.to_string()]);
    assert_eq!(
        next, SPSC_MESSAGES,
        "every message arrives once, in order, then Disconnected"
    );
    assert!(
        short_buffers > 0,
        "some messages did not fit the short buffer"
    );
    drop(consumer); // gives up its registration as a sleeper, if any
    let info = ring.info();
    let elapsed = started.elapsed();
    eprintln!(
        "spsc, {strategy_name} strategy: {SPSC_MESSAGES} messages in {elapsed:.2?}; \
         consumer sleeps {} wakes {}; producer sleeps {} wakes {}",
        info.data_waits.sleeps,
        info.data_waits.wakes,
        info.space_waits.sleeps,
        info.space_waits.wakes
    );
    assert!(
        info.data_waits.sleeps > 0,
        "the consumer slept between bursts"
    );
    assert!(info.data_waits.wakes > 0, "the producer woke the consumer");
    assert!(
        info.space_waits.sleeps > 0,
        "the producer slept on a full ring"
    );
    assert!(info.space_waits.wakes > 0, "the consumer woke the producer");
    assert_eq!(
        (info.data_waits.sleepers, info.space_waits.sleepers),
        (0, 0)
    );
    assert_eq!((info.data_waits.waiters, info.space_waits.waiters), (0, 0));
}

#[test]
fn spsc_processes_with_the_default_strategy_move_a_million_messages_in_bursts_in_order() {
    spsc_traffic("default");
}

#[test]
fn spsc_processes_with_the_sleeping_strategy_move_a_million_messages_in_bursts_in_order() {
    spsc_traffic("sleeping");
}

#[test]
#[ignore = "run as a child process by the spsc traffic tests"]
fn child_spsc_producer() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return; // run only as a child of the consumer test
    };
    let messages = env_u64("SHMLANE_TEST_MESSAGES");
    let ring = Ring::open(&name).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    producer.set_wait_strategy(strategy_named(&env("SHMLANE_TEST_STRATEGY")));
    let max = producer.max_payload();
    let mut rng = XorShift::new(5);
    let mut scratch = vec![0u8; max];
    let mut next = 0u64;
    while next < messages {
        let burst_end = messages.min(next + BURST);
        while next < burst_end {
            match rng.below(3) {
                0 => {
                    let len = message_len(next, max);
                    fill_message(next, &mut scratch[..len]);
                    assert!(producer.send(&scratch[..len], Some(STALL)).unwrap());
                    next += 1;
                }
                1 => {
                    let mut slot = producer.reserve(Some(STALL)).unwrap().unwrap();
                    let len = message_len(next, max);
                    fill_message(next, &mut slot[..len]);
                    if rng.below(10) == 0 {
                        drop(slot); // an abandoned reservation publishes nothing
                    } else {
                        slot.commit(len).unwrap();
                        next += 1;
                    }
                }
                _ => {
                    let mut batch = producer
                        .reserve_batch(1 + rng.below(20) as usize, Some(STALL))
                        .unwrap();
                    assert!(!batch.is_empty(), "slots within the stall bound");
                    let wanted = (batch.len() as u64).min(burst_end - next) as usize;
                    for i in 0..wanted {
                        let seq = next + i as u64;
                        let len = message_len(seq, max);
                        fill_message(seq, &mut batch.slot_mut(i)[..len]);
                        batch.set_len(i, len).unwrap();
                    }
                    batch.commit_first(wanted);
                    next += wanted as u64;
                }
            }
        }
        // Idle: the consumer empties the ring and falls asleep.
        std::thread::sleep(Duration::from_micros(1000 + rng.below(2000)));
    }
    // A line of its own: libtest has printed "test <name> ... " without a newline.
    println!("\nSENT {next}");
}

// ---------------------------------------------------------------------------
// MPMC traffic in bursts.

#[test]
fn mpmc_processes_with_the_sleeping_strategy_deliver_bursts_exactly_once() {
    let started = Instant::now();
    let deadline = started + PARENT_DEADLINE;
    let messages = [MPMC_MESSAGES; 2];
    let name = unique_name("blocking-mpmc");
    let ring = Ring::create(&name, &RingOptions::mpmc(CAPACITY, MPMC_SLOT_SIZE, 8)).unwrap();
    let _remove = RemoveRing(name.clone());
    // Sends nothing; keeps consumers from seeing `Disconnected` before every
    // producer process has joined and finished.
    let holder = mpmc::Producer::join(&ring).unwrap();
    let common_env = [
        ("SHMLANE_TEST_RING", name.clone()),
        ("SHMLANE_TEST_MESSAGES", MPMC_MESSAGES.to_string()),
        ("SHMLANE_TEST_STRATEGY", "sleeping".to_string()),
    ];
    let mut seen_files = Vec::new();
    let mut consumers: Vec<ChildProcess> = (0..2)
        .map(|index| {
            let seen = std::env::temp_dir().join(format!("{name}-consumer-{index}.seen"));
            seen_files.push(RemoveFile(seen.clone()));
            let mut env = common_env.to_vec();
            env.push(("SHMLANE_TEST_INDEX", index.to_string()));
            env.push(("SHMLANE_TEST_SEEN", seen.display().to_string()));
            ChildProcess::spawn(format!("consumer {index}"), "child_mpmc_consumer", &env)
        })
        .collect();
    let producers: Vec<ChildProcess> = (0..messages.len())
        .map(|id| {
            let mut env = common_env.to_vec();
            env.push(("SHMLANE_TEST_INDEX", id.to_string()));
            ChildProcess::spawn(format!("producer {id}"), "child_mpmc_producer", &env)
        })
        .collect();

    let mut abandoned = 0;
    for (id, producer) in producers.into_iter().enumerate() {
        let stdout = producer.finish(deadline, || {
            for consumer in &mut consumers {
                consumer.assert_running("before the producers finished");
            }
        });
        let words = report(&stdout, "SENT ");
        assert_eq!(words[..2], [id.to_string(), messages[id].to_string()]);
        abandoned += words[2].parse::<u64>().unwrap();
    }
    drop(holder); // the last producer leaves: consumers drain and see `Disconnected`

    let mut tallies = Vec::new();
    for (index, consumer) in consumers.into_iter().enumerate() {
        let stdout = consumer.finish(deadline, || {});
        let words = report(&stdout, "RECEIVED ");
        assert_eq!(words[0], index.to_string());
        assert_eq!(words.len(), 2 + 3 * messages.len(), "{words:?}");
        let short_buffers: u64 = words[1].parse().unwrap();
        let mut tally = Tally::new(&messages);
        let seen = std::fs::read(&seen_files[index].0).unwrap();
        let mut seen = &seen[..];
        for (producer, counts) in tally.producers.iter_mut().zip(words[2..].chunks_exact(3)) {
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
            "consumer {index} wrote one set per producer"
        );
        eprintln!(
            "consumer {index}: {short_buffers} short-buffer refusals, messages per producer {:?}",
            tally.producers.iter().map(|p| p.count).collect::<Vec<_>>()
        );
        tallies.push(tally);
    }
    assert_exactly_once(&tallies, &messages);
    let info = ring.info();
    assert_eq!(info.head, info.tail, "every claimed slot was released");
    assert_eq!(
        info.tail,
        messages.iter().sum::<u64>() + abandoned,
        "each position carried one message or one abandoned slot"
    );
    eprintln!(
        "mpmc, sleeping strategy: 2 x {MPMC_MESSAGES} messages ({abandoned} abandoned slots) in \
         {:.2?}; consumers sleeps {} wakes {}; producers sleeps {} wakes {}",
        started.elapsed(),
        info.data_waits.sleeps,
        info.data_waits.wakes,
        info.space_waits.sleeps,
        info.space_waits.wakes
    );
    assert!(info.data_waits.sleeps > 0, "consumers slept between bursts");
    assert!(info.data_waits.wakes > 0, "producers woke consumers");
    assert!(
        info.space_waits.sleeps > 0,
        "producers slept on a full ring"
    );
    assert!(info.space_waits.wakes > 0, "consumers woke producers");
    assert_eq!(
        (info.data_waits.sleepers, info.space_waits.sleepers),
        (0, 0)
    );
    assert_eq!((info.data_waits.waiters, info.space_waits.waiters), (0, 0));
}

/// Ring name, message count, strategy and index, as the parent passed them.
fn mpmc_child_plan() -> Option<(Ring, u64, WaitStrategy, u64)> {
    let name = std::env::var("SHMLANE_TEST_RING").ok()?; // run only as a child
    Some((
        Ring::open(&name).unwrap(),
        env_u64("SHMLANE_TEST_MESSAGES"),
        strategy_named(&env("SHMLANE_TEST_STRATEGY")),
        env_u64("SHMLANE_TEST_INDEX"),
    ))
}

#[test]
#[ignore = "run as a child process by the mpmc traffic test"]
fn child_mpmc_producer() {
    let Some((ring, count, strategy, id)) = mpmc_child_plan() else {
        return;
    };
    let id = id as u32;
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    producer.set_wait_strategy(strategy);
    let max = producer.max_payload();
    let mut rng = XorShift::new(u64::from(id) + 77);
    let mut scratch = vec![0u8; max];
    let (mut next, mut abandoned) = (0u64, 0u64);
    while next < count {
        let burst_end = count.min(next + BURST);
        while next < burst_end {
            match rng.below(3) {
                0 => {
                    let len = tagged_len(id, next, max);
                    fill_tagged(id, next, &mut scratch[..len]);
                    assert!(producer.send(&scratch[..len], Some(STALL)).unwrap());
                    next += 1;
                }
                1 => {
                    let mut slot = producer.reserve(Some(STALL)).unwrap().unwrap();
                    let len = tagged_len(id, next, max);
                    fill_tagged(id, next, &mut slot[..len]);
                    if rng.below(16) == 0 {
                        drop(slot); // consumers skip it
                        abandoned += 1;
                    } else {
                        slot.commit(len).unwrap();
                        next += 1;
                    }
                }
                _ => {
                    let mut batch = producer
                        .reserve_batch(1 + rng.below(6) as usize, Some(STALL))
                        .unwrap();
                    assert!(!batch.is_empty(), "slots within the stall bound");
                    let wanted = (batch.len() as u64).min(burst_end - next) as usize;
                    for i in 0..wanted {
                        let seq = next + i as u64;
                        let len = tagged_len(id, seq, max);
                        fill_tagged(id, seq, &mut batch.slot_mut(i)[..len]);
                        batch.set_len(i, len).unwrap();
                    }
                    abandoned += (batch.len() - wanted) as u64;
                    batch.commit_first(wanted);
                    next += wanted as u64;
                }
            }
        }
        // Idle: the consumers empty the ring and fall asleep.
        std::thread::sleep(Duration::from_micros(1000 + rng.below(2000)));
    }
    // A line of its own: libtest has printed "test <name> ... " without a newline.
    println!("\nSENT {id} {next} {abandoned}");
}

#[test]
#[ignore = "run as a child process by the mpmc traffic test"]
fn child_mpmc_consumer() {
    let Some((ring, count, strategy, index)) = mpmc_child_plan() else {
        return;
    };
    let seen_path = env("SHMLANE_TEST_SEEN");
    let messages = [count; 2];
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    consumer.set_wait_strategy(strategy);
    let max = consumer.max_payload();
    let mut rng = XorShift::new(index + 1000);
    let (mut scratch, mut copy) = (vec![0u8; max], vec![0u8; max]);
    let mut tally = Tally::new(&messages);
    let mut accept = |message: &[u8]| {
        if let Err(problem) = tally.accept(max, message, &mut scratch) {
            panic!("consumer {index}: {problem}");
        }
    };
    let (mut received, mut short_buffers) = (0u64, 0u64);
    let mut next_pause = BURST / 2;
    let deadline = Instant::now() + PARENT_DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "consumer {index} stalled");
        if received >= next_pause {
            std::thread::sleep(PAUSE);
            next_pause += BURST / 2;
        }
        let result = match rng.below(4) {
            0 => consumer.read(Some(STALL)).map(|message| {
                accept(&message.expect("a message within the stall bound"));
                1
            }),
            1 => consumer
                .read_batch(1 + rng.below(8) as usize, Some(STALL))
                .map(|batch| {
                    assert!(!batch.is_empty(), "messages within the stall bound");
                    batch.iter().for_each(&mut accept);
                    batch.len() as u64
                }),
            2 => consumer.recv(&mut copy, Some(STALL)).map(|len| {
                accept(&copy[..len.expect("a message within the stall bound")]);
                1
            }),
            _ => match consumer.recv(&mut copy[..MIN_TAGGED_LEN], Some(STALL)) {
                Ok(len) => {
                    accept(&copy[..len.expect("a message within the stall bound")]);
                    Ok(1)
                }
                Err(e) if e.kind() == ErrorKind::BufferTooSmall => {
                    let (needed, _) = e.sizes().expect("a size error names its sizes");
                    short_buffers += 1;
                    // The kept message comes back at once, whatever the ring holds.
                    let message = consumer
                        .read(Some(Duration::ZERO))
                        .expect("the message refused for a short buffer is kept")
                        .expect("the refused message is still held");
                    assert_eq!(
                        message.len() as u64,
                        needed,
                        "the refused message comes next"
                    );
                    accept(&message);
                    Ok(1)
                }
                Err(other) => Err(other),
            },
        };
        match result {
            Ok(count) => received += count,
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(other) => panic!("consumer {index} error: {other}"),
        }
    }
    let mut seen = Vec::new();
    let mut line = format!("\nRECEIVED {index} {short_buffers}");
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

// ---------------------------------------------------------------------------
// SIGKILL of a peer process while a handle sleeps.

/// A child that joins `ring` as `role` of `kind`, sends `send` one-byte
/// messages (0, 1, ...), prints READY and sleeps until it is killed.
fn spawn_idle_peer(ring_name: &str, kind: &str, role: &str, send: u8) -> ChildProcess {
    let mut child = ChildProcess::spawn(
        format!("the {kind} {role} process"),
        "child_join_and_idle",
        &[
            ("SHMLANE_TEST_RING", ring_name.to_string()),
            ("SHMLANE_TEST_KIND", kind.to_string()),
            ("SHMLANE_TEST_ROLE", role.to_string()),
            ("SHMLANE_TEST_SEND", send.to_string()),
        ],
    );
    child.wait_for_line("READY");
    child
}

#[test]
#[ignore = "run as a child process by the kill and idle tests"]
fn child_join_and_idle() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return;
    };
    let ring = Ring::open(&name).unwrap();
    let send: u8 = env("SHMLANE_TEST_SEND").parse().unwrap();
    let _handle: Box<dyn std::any::Any> = match (
        env("SHMLANE_TEST_KIND").as_str(),
        env("SHMLANE_TEST_ROLE").as_str(),
    ) {
        ("spsc", "producer") => {
            let mut producer = spsc::Producer::join(&ring).unwrap();
            for seq in 0..send {
                assert!(producer.send(&[seq], Some(BOUND)).unwrap());
            }
            Box::new(producer)
        }
        ("mpmc", "producer") => {
            let mut producer = mpmc::Producer::join(&ring).unwrap();
            for seq in 0..send {
                assert!(producer.send(&[seq], Some(BOUND)).unwrap());
            }
            Box::new(producer)
        }
        ("spsc", "consumer") => Box::new(spsc::Consumer::join(&ring).unwrap()),
        ("mpmc", "consumer") => Box::new(mpmc::Consumer::join(&ring).unwrap()),
        ("spsc", "sleeping-consumer") => {
            let mut consumer = spsc::Consumer::join(&ring).unwrap();
            consumer.set_wait_strategy(WaitStrategy::sleeping());
            println!("\nREADY");
            loop {
                let _ = consumer.read(Some(Duration::from_secs(60))).map(drop);
            }
        }
        ("mpmc", "sleeping-consumer") => {
            let mut consumer = mpmc::Consumer::join(&ring).unwrap();
            consumer.set_wait_strategy(WaitStrategy::sleeping());
            println!("\nREADY");
            loop {
                let _ = consumer.read(Some(Duration::from_secs(60))).map(drop);
            }
        }
        other => panic!("unknown peer {other:?}"),
    };
    println!("\nREADY");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Reads with `read(None)` until an error; returns the messages and the error.
fn read_until_error(
    mut read: impl FnMut() -> Result<Option<Vec<u8>>, Error>,
) -> (Vec<Vec<u8>>, Error) {
    let mut messages = Vec::new();
    loop {
        match read() {
            Ok(Some(message)) => messages.push(message),
            Ok(None) => panic!("a wait without a timeout ended with nothing"),
            Err(error) => return (messages, error),
        }
    }
}

/// Kills `peer` while a handle sleeps in `background`; returns its result and
/// how long after the kill it came.
fn kill_and_wait<T: Send + 'static>(
    peer: ChildProcess,
    background: Background<T>,
) -> (T, Duration) {
    assert!(
        !background.finished(),
        "the sleeper returned before the kill"
    );
    let killed = Instant::now();
    peer.kill();
    let result = background.wait(BOUND, "the sleeper after the kill");
    (result, killed.elapsed())
}

fn consumer_asleep_sees_the_producer_killed(kind: &str) {
    let name = unique_name(&format!("blocking-kill-{kind}-producer"));
    let options = match kind {
        "spsc" => RingOptions::spsc(8, 64),
        _ => RingOptions::mpmc(8, 64, 4),
    };
    let ring = Ring::create(&name, &options).unwrap();
    let _remove = RemoveRing(name.clone());
    let peer = spawn_idle_peer(&name, kind, "producer", 3);
    let consumer = match kind {
        "spsc" => {
            let mut consumer = spsc::Consumer::join(&ring).unwrap();
            consumer.set_wait_strategy(WaitStrategy::sleeping());
            Background::spawn(move || {
                read_until_error(|| consumer.read(None).map(|m| m.map(|m| m.to_vec())))
            })
        }
        _ => {
            let mut consumer = mpmc::Consumer::join(&ring).unwrap();
            consumer.set_wait_strategy(WaitStrategy::sleeping());
            Background::spawn(move || {
                read_until_error(|| consumer.read(None).map(|m| m.map(|m| m.to_vec())))
            })
        }
    };
    wait_until(&ring, "the three messages read", |info| info.head == 3);
    wait_for_sleeper(&ring, data);
    let ((messages, error), latency) = kill_and_wait(peer, consumer);
    assert_eq!(
        messages,
        [[0u8], [1], [2]],
        "{kind}: what was sent before the kill"
    );
    assert!(
        error.kind() == ErrorKind::Disconnected,
        "{kind}: got {error:?}"
    );
    eprintln!("{kind}: a sleeping consumer saw its producer's SIGKILL after {latency:?}");
}

#[test]
fn a_spsc_consumer_asleep_in_read_gets_disconnected_when_the_producer_process_is_killed() {
    consumer_asleep_sees_the_producer_killed("spsc");
}

#[test]
fn an_mpmc_consumer_asleep_in_read_gets_disconnected_when_the_producer_process_is_killed() {
    consumer_asleep_sees_the_producer_killed("mpmc");
}

#[test]
fn an_mpmc_consumer_asleep_in_read_is_disconnected_only_when_the_last_producer_process_is_killed() {
    let name = unique_name("blocking-kill-mpmc-producers");
    let ring = Ring::create(&name, &RingOptions::mpmc(8, 64, 4)).unwrap();
    let _remove = RemoveRing(name.clone());
    let first = spawn_idle_peer(&name, "mpmc", "producer", 1);
    let second = spawn_idle_peer(&name, "mpmc", "producer", 1);
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    consumer.set_wait_strategy(WaitStrategy::sleeping());
    let consumer = Background::spawn(move || {
        read_until_error(|| consumer.read(None).map(|m| m.map(|m| m.to_vec())))
    });
    wait_until(&ring, "both messages read", |info| info.head == 2);
    wait_for_sleeper(&ring, data);
    first.kill();
    // A dead producer wakes nobody: the consumer looks at the producers after
    // each nap (at most 50 ms). Two more naps: it has looked since the kill.
    let sleeps = ring.info().data_waits.sleeps;
    wait_until(&ring, "the consumer sleeping again, or ending", |info| {
        info.data_waits.sleeps >= sleeps + 2 || consumer.finished()
    });
    assert!(
        !consumer.finished(),
        "the consumer ended while a producer process was alive"
    );
    let ((messages, error), latency) = kill_and_wait(second, consumer);
    assert_eq!(messages, [[0u8], [0]]);
    assert!(error.kind() == ErrorKind::Disconnected, "got {error:?}");
    eprintln!("mpmc: a sleeping consumer saw its last producer's SIGKILL after {latency:?}");
}

fn producer_asleep_sees_the_consumer_killed(kind: &str) {
    let name = unique_name(&format!("blocking-kill-{kind}-consumer"));
    let options = match kind {
        "spsc" => RingOptions::spsc(4, 64),
        _ => RingOptions::mpmc(4, 64, 4),
    };
    let ring = Ring::create(&name, &options).unwrap();
    let _remove = RemoveRing(name.clone());
    let peer = spawn_idle_peer(&name, kind, "consumer", 0);
    let producer = match kind {
        "spsc" => {
            let mut producer = spsc::Producer::join(&ring).unwrap();
            producer.set_wait_strategy(WaitStrategy::sleeping());
            Background::spawn(move || {
                let mut sent = 0u8;
                loop {
                    match producer.send(&[sent], None) {
                        Ok(true) => sent += 1,
                        Ok(false) => panic!("a wait without a timeout ended with nothing"),
                        Err(error) => return (sent, error),
                    }
                }
            })
        }
        _ => {
            let mut producer = mpmc::Producer::join(&ring).unwrap();
            producer.set_wait_strategy(WaitStrategy::sleeping());
            Background::spawn(move || {
                let mut sent = 0u8;
                loop {
                    match producer.send(&[sent], None) {
                        Ok(true) => sent += 1,
                        Ok(false) => panic!("a wait without a timeout ended with nothing"),
                        Err(error) => return (sent, error),
                    }
                }
            })
        }
    };
    wait_until(&ring, "a full ring", |info| info.tail == 4);
    wait_for_sleeper(&ring, space);
    let ((sent, error), latency) = kill_and_wait(peer, producer);
    assert_eq!(sent, 4, "{kind}: the ring's capacity");
    assert!(
        error.kind() == ErrorKind::Disconnected,
        "{kind}: got {error:?}"
    );
    eprintln!(
        "{kind}: a producer asleep on a full ring saw its consumer's SIGKILL after {latency:?}"
    );
}

#[test]
fn a_spsc_producer_asleep_on_a_full_ring_gets_disconnected_when_the_consumer_process_is_killed() {
    producer_asleep_sees_the_consumer_killed("spsc");
}

#[test]
fn an_mpmc_producer_asleep_on_a_full_ring_gets_disconnected_when_the_consumer_process_is_killed() {
    producer_asleep_sees_the_consumer_killed("mpmc");
}

// ---------------------------------------------------------------------------
// CPU of a consumer blocked on an idle ring.

/// Most CPU a thread may use for a second asleep (expected: about a millisecond).
const IDLE_CPU_LIMIT: Duration = Duration::from_millis(50);

/// A consumer of `kind` with `strategy`, blocked in `read` on an idle ring with
/// a live producer process for about a second: in `read(Some(1.2 s))` until
/// the timeout, or in `read(None)` until the producer is killed after a second.
fn idle_consumer_cpu(kind: &str, strategy_name: &str, until_killed: bool) {
    let name = unique_name(&format!("blocking-idle-{kind}"));
    let options = match kind {
        "spsc" => RingOptions::spsc(16, 64),
        _ => RingOptions::mpmc(16, 64, 4),
    };
    let ring = Ring::create(&name, &options).unwrap();
    let _remove = RemoveRing(name.clone());
    let peer = spawn_idle_peer(&name, kind, "producer", 0);
    let strategy = strategy_named(strategy_name);
    let timeout = (!until_killed).then_some(Duration::from_millis(1200));
    let mut read: Box<dyn FnMut() -> Result<Option<()>, Error> + Send> = match kind {
        "spsc" => {
            let mut consumer = spsc::Consumer::join(&ring).unwrap();
            consumer.set_wait_strategy(strategy);
            Box::new(move || consumer.read(timeout).map(|message| message.map(drop)))
        }
        _ => {
            let mut consumer = mpmc::Consumer::join(&ring).unwrap();
            consumer.set_wait_strategy(strategy);
            Box::new(move || consumer.read(timeout).map(|message| message.map(drop)))
        }
    };
    let consumer = Background::spawn(move || {
        let (cpu, wall) = (thread_cpu_time(), Instant::now());
        let result = read();
        (result, thread_cpu_time() - cpu, wall.elapsed())
    });
    let how = if until_killed {
        std::thread::sleep(Duration::from_secs(1));
        let (result, _) = kill_and_wait(peer, consumer);
        let (result, cpu, wall) = result;
        assert!(
            matches!(result, Err(ref e) if e.kind() == ErrorKind::Disconnected),
            "got {result:?}"
        );
        ("read(None) until the producer was killed", cpu, wall)
    } else {
        let (result, cpu, wall) = consumer.wait(BOUND, "the idle consumer");
        assert!(matches!(result, Ok(None)), "got {result:?}");
        drop(peer);
        ("read(Some(1.2 s)) until the timeout", cpu, wall)
    };
    let (what, cpu, wall) = how;
    let info = ring.info();
    eprintln!(
        "{kind}, {strategy_name} strategy, {what}: {cpu:?} of CPU in {wall:.2?} \
         ({} naps, {} wakes)",
        info.data_waits.sleeps, info.data_waits.wakes
    );
    assert!(
        wall >= Duration::from_secs(1),
        "{kind}: the consumer waited only {wall:?}"
    );
    assert!(info.data_waits.sleeps > 0, "{kind}: the consumer slept");
    let per_second = cpu.as_secs_f64() / wall.as_secs_f64();
    assert!(
        per_second < IDLE_CPU_LIMIT.as_secs_f64(),
        "{kind}, {strategy_name}: an idle consumer used {cpu:?} of CPU in {wall:?}"
    );
}

#[test]
fn an_idle_spsc_consumer_blocked_in_read_uses_almost_no_cpu() {
    idle_consumer_cpu("spsc", "default", false);
    idle_consumer_cpu("spsc", "sleeping", true);
}

#[test]
fn an_idle_mpmc_consumer_blocked_in_read_uses_almost_no_cpu() {
    idle_consumer_cpu("mpmc", "default", false);
    idle_consumer_cpu("mpmc", "sleeping", true);
}

// ---------------------------------------------------------------------------
// A sleeper killed in its sleep: whoever takes its record over undoes what it
// held on the wait line, or its producers would stay armed (a fence and a
// FUTEX_WAKE per publish) for the rest of the ring's life.

/// Sends one message without waiting.
type SendNow = Box<dyn FnMut(&[u8])>;

fn killed_sleepers_registration_is_undone_by_the_next_consumer(kind: &str) {
    let name = unique_name(&format!("{kind}-killed-sleeper"));
    let options = match kind {
        "spsc" => RingOptions::spsc(16, 64),
        _ => RingOptions::mpmc(16, 64, 4),
    };
    let ring = Ring::create(&name, &options).unwrap();
    let _remove = RemoveRing(name.clone());
    let child = spawn_idle_peer(&name, kind, "sleeping-consumer", 0);
    wait_for_sleeper(&ring, data);
    child.kill();
    // The dead consumer still counts as registered and waiting.
    let left = ring.info().data_waits;
    assert_eq!((left.sleepers, left.waiters), (1, 1), "{kind}: {left:?}");

    // A new consumer takes the dead one's record over, and with it its counts.
    let mut send: SendNow = match kind {
        "spsc" => {
            let mut producer = spsc::Producer::join(&ring).unwrap();
            Box::new(move |message| assert!(producer.try_send(message).unwrap()))
        }
        _ => {
            let mut producer = mpmc::Producer::join(&ring).unwrap();
            Box::new(move |message| assert!(producer.try_send(message).unwrap()))
        }
    };
    let mut receive: Box<dyn FnMut() -> Vec<u8>> = match kind {
        "spsc" => {
            let mut consumer = spsc::Consumer::join(&ring).unwrap();
            Box::new(move || consumer.try_read().unwrap().unwrap().to_vec())
        }
        _ => {
            let mut consumer = mpmc::Consumer::join(&ring).unwrap();
            Box::new(move || consumer.try_read().unwrap().unwrap().to_vec())
        }
    };
    let taken_over = ring.info().data_waits;
    assert_eq!(
        (taken_over.sleepers, taken_over.waiters),
        (0, 0),
        "{kind}: {taken_over:?}"
    );
    // With nobody asleep, publishing calls FUTEX_WAKE no more.
    let wakes = taken_over.wakes;
    for seq in 0..1000u32 {
        send(&seq.to_le_bytes());
        assert_eq!(receive(), seq.to_le_bytes());
    }
    assert_eq!(ring.info().data_waits.wakes, wakes, "{kind}");
}

#[test]
fn a_spsc_consumer_killed_asleep_leaves_nothing_armed_once_a_new_consumer_takes_over() {
    killed_sleepers_registration_is_undone_by_the_next_consumer("spsc");
}

#[test]
fn an_mpmc_consumer_killed_asleep_leaves_nothing_armed_once_a_new_consumer_takes_over() {
    killed_sleepers_registration_is_undone_by_the_next_consumer("mpmc");
}
