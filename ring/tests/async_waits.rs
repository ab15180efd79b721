//! The async waits (cargo feature `tokio`): many tasks awaiting one MPMC ring
//! from both sides, in one process and across processes, every message
//! checked and delivered exactly once; futures cancelled at random points in
//! mid-traffic that lose and duplicate nothing; a cancelled wait that leaves
//! no announcement or registration behind; more awaited rings than one
//! `futex_waitv` call can watch; `Disconnected` for an awaiting task; and an
//! idle awaiting task that nothing polls or wakes until a message comes.
//!
//! No assertion depends on how fast the machine is: waits are bounded by
//! generous limits (a minute for what takes seconds) that only catch hangs.
#![cfg(feature = "tokio")]

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    assert_exactly_once, check_message, data, fill_message, fill_tagged, message_len, space,
    tagged_len, unique_name, ChildProcess, RemoveRing, Tally, XorShift,
};
use shmlane::{mpmc, spsc, Error, ErrorKind, Ring, RingOptions, WaitStrategy};

/// Bound on a whole traffic test: a run that takes this long has hung.
const STALL: Duration = Duration::from_secs(120);
/// Generous bound on a wake-up that takes microseconds.
const BOUND: Duration = Duration::from_secs(10);
/// A peer-check interval far longer than any test: a task woken only by its
/// nap would sleep past [`BOUND`], so waking within it proves the futex
/// wake-up reached it through the driver.
const LONG_CHECK: Duration = Duration::from_secs(600);

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

/// Sends messages `0..count` of producer `id`, mixing `send_async`,
/// `reserve_async` and `reserve_batch_async`.
async fn produce_tagged(mut producer: mpmc::Producer, id: u32, count: u64) -> Result<(), Error> {
    let max = producer.max_payload();
    let mut rng = XorShift::new(u64::from(id) + 1);
    let mut scratch = vec![0u8; max];
    let mut next = 0;
    while next < count {
        match rng.below(3) {
            0 => {
                let len = tagged_len(id, next, max);
                fill_tagged(id, next, &mut scratch[..len]);
                producer.send_async(&scratch[..len]).await?;
                next += 1;
            }
            1 => {
                let mut slot = producer.reserve_async().await?;
                let len = tagged_len(id, next, max);
                fill_tagged(id, next, &mut slot[..len]);
                slot.commit(len)?;
                next += 1;
            }
            _ => {
                let wanted = (1 + rng.below(5)).min(count - next) as usize;
                let mut batch = producer.reserve_batch_async(wanted).await?;
                assert!(!batch.is_empty(), "an async batch waits for a slot");
                let filled = batch.len().min(wanted);
                for index in 0..filled {
                    let seq = next + index as u64;
                    let len = tagged_len(id, seq, max);
                    fill_tagged(id, seq, &mut batch.slot_mut(index)[..len]);
                    batch.set_len(index, len)?;
                }
                batch.commit_first(filled);
                next += filled as u64;
            }
        }
    }
    Ok(())
}

/// Receives until cancelled, mixing `read_async`, `read_batch_async` and
/// `recv_async`; every message checked and tallied in `tally` as it comes.
async fn consume_tagged(
    mut consumer: mpmc::Consumer,
    seed: u64,
    tally: Arc<Mutex<Tally>>,
) -> Result<(), String> {
    let max = consumer.max_payload();
    let mut rng = XorShift::new(seed);
    let mut scratch = vec![0u8; max];
    let mut copy = vec![0u8; max];
    let mut accept = |message: &[u8]| tally.lock().unwrap().accept(max, message, &mut scratch);
    loop {
        let step: Result<Result<(), String>, Error> = match rng.below(3) {
            0 => consumer.read_async().await.map(|message| accept(&message)),
            1 => consumer
                .read_batch_async(1 + rng.below(6) as usize)
                .await
                .map(|batch| {
                    if batch.is_empty() {
                        return Err("an async batch waits for a message".into());
                    }
                    batch.iter().try_for_each(&mut accept)
                }),
            _ => consumer
                .recv_async(&mut copy)
                .await
                .map(|len| accept(&copy[..len])),
        };
        match step {
            Ok(checked) => checked.map_err(|e| format!("consumer {seed}: {e}"))?,
            // The producers' processes ended, and the ring is drained.
            Err(error) if error.kind() == ErrorKind::Disconnected => return Ok(()),
            Err(error) => return Err(format!("consumer {seed}: {error}")),
        }
    }
}

/// A consumer task: `Err` describes a bad message or a failure.
type ConsumerTask = tokio::task::JoinHandle<Result<(), String>>;

/// Spawns `count` consumer tasks on `ring`; each tallies into its own entry
/// of the returned list.
fn spawn_consumers(
    ring: &Ring,
    count: u64,
    messages: &[u64],
) -> (Vec<ConsumerTask>, Vec<Arc<Mutex<Tally>>>) {
    let mut tasks = Vec::new();
    let mut tallies = Vec::new();
    for seed in 0..count {
        let mut consumer = mpmc::Consumer::join(ring).unwrap();
        consumer.set_wait_strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
        let tally = Arc::new(Mutex::new(Tally::new(messages)));
        tasks.push(tokio::spawn(consume_tagged(
            consumer,
            seed + 1,
            tally.clone(),
        )));
        tallies.push(tally);
    }
    (tasks, tallies)
}

/// Waits until the consumers' tallies hold `total` messages, then cancels
/// the consumers (dropping futures that wait); returns the tallies.
async fn collect(
    ring: &Ring,
    tasks: Vec<ConsumerTask>,
    tallies: Vec<Arc<Mutex<Tally>>>,
    total: u64,
) -> Vec<Tally> {
    let received = || -> u64 {
        tallies
            .iter()
            .map(|tally| {
                let tally = tally.lock().unwrap();
                tally.producers.iter().map(|p| p.count).sum::<u64>()
            })
            .sum()
    };
    let arrived = tokio::time::timeout(STALL, async {
        while received() < total {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        match task.await {
            Ok(result) => result.unwrap(),
            Err(cancelled) => assert!(cancelled.is_cancelled(), "{cancelled}"),
        }
    }
    let info = ring.info();
    assert!(
        arrived.is_ok(),
        "{} of {total} messages arrived; head {} tail {}",
        received(),
        info.head,
        info.tail
    );
    tallies
        .into_iter()
        .map(|tally| tally.lock().unwrap().clone())
        .collect()
}

const TASK_PRODUCERS: u32 = 8;
const TASK_CONSUMERS: u64 = 16;
const TASK_MESSAGES: u64 = 4_000;

#[test]
fn many_tasks_on_one_mpmc_ring_deliver_every_message_exactly_once() {
    let name = unique_name("async-tasks");
    let _remove = RemoveRing(name.clone());
    // A small ring: both sides keep finding it full or empty, and wait.
    let ring = Ring::create(&name, &RingOptions::mpmc(4, 80, 32)).unwrap();
    let messages = vec![TASK_MESSAGES; TASK_PRODUCERS as usize];
    let runtime = runtime(2);
    let tallies = runtime.block_on(async {
        let (consumers, tallies) = spawn_consumers(&ring, TASK_CONSUMERS, &messages);
        let mut producers = Vec::new();
        for id in 0..TASK_PRODUCERS {
            let mut producer = mpmc::Producer::join(&ring).unwrap();
            producer
                .set_wait_strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
            producers.push(tokio::spawn(produce_tagged(producer, id, TASK_MESSAGES)));
        }
        let tallies = collect(&ring, consumers, tallies, messages.iter().sum()).await;
        for producer in producers {
            producer.await.unwrap().unwrap();
        }
        tallies
    });
    assert_exactly_once(&tallies, &messages);
    let info = ring.info();
    assert_eq!(data(&info).waiters, 0, "no announcement stays behind");
    assert_eq!(space(&info).waiters, 0, "no announcement stays behind");
    assert_eq!(data(&info).sleepers, 0, "no registration stays behind");
    assert!(
        data(&info).sleeps > 0 && space(&info).sleeps > 0,
        "both sides waited: {info:?}"
    );
}

const PROCESS_PRODUCERS: u32 = 4;
const PROCESS_MESSAGES: u64 = 5_000;

/// A producer process: `PROCESS_PRODUCERS` tasks with ids from
/// `SHMLANE_TEST_FIRST_ID`, each sending `PROCESS_MESSAGES`.
#[test]
#[ignore = "run by async_tasks_in_three_processes_deliver_every_message_exactly_once"]
fn child_async_producers() {
    let ring = Ring::open(&env("SHMLANE_TEST_RING")).unwrap();
    let first: u32 = env("SHMLANE_TEST_FIRST_ID").parse().unwrap();
    runtime(1).block_on(async {
        let mut tasks = Vec::new();
        for id in first..first + PROCESS_PRODUCERS {
            let mut producer = mpmc::Producer::join(&ring).unwrap();
            producer
                .set_wait_strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
            tasks.push(tokio::spawn(produce_tagged(producer, id, PROCESS_MESSAGES)));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    });
    println!("sent");
}

#[test]
fn async_tasks_in_three_processes_deliver_every_message_exactly_once() {
    let name = unique_name("async-processes");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::mpmc(8, 80, 32)).unwrap();
    let messages = vec![PROCESS_MESSAGES; 2 * PROCESS_PRODUCERS as usize];
    let runtime = runtime(2);
    let tallies = runtime.block_on(async {
        let (consumers, tallies) = spawn_consumers(&ring, 8, &messages);
        // The consumers wait on an empty ring before the producers exist.
        let children: Vec<ChildProcess> = (0..2)
            .map(|index| {
                ChildProcess::spawn(
                    format!("producer process {index}"),
                    "child_async_producers",
                    &[
                        ("SHMLANE_TEST_RING", name.clone()),
                        (
                            "SHMLANE_TEST_FIRST_ID",
                            (index * PROCESS_PRODUCERS).to_string(),
                        ),
                    ],
                )
            })
            .collect();
        let tallies = collect(&ring, consumers, tallies, messages.iter().sum()).await;
        for child in children {
            let stdout = child.finish(std::time::Instant::now() + BOUND, || {});
            assert!(stdout.contains("sent"), "{stdout}");
        }
        tallies
    });
    assert_exactly_once(&tallies, &messages);
}

const CANCEL_MESSAGES: u64 = 20_000;

#[test]
fn futures_cancelled_mid_wait_lose_and_duplicate_nothing() {
    let name = unique_name("async-cancel");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::spsc(4, 64)).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    producer.set_wait_strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
    consumer.set_wait_strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
    let max = consumer.max_payload();
    let runtime = runtime(2);
    let cancelled = runtime.block_on(async move {
        // Each side wraps every wait in a timeout of 0 to 49 µs, so that many
        // futures are dropped while they wait; a send retried after its
        // future was dropped must not send twice, and a dropped read must not
        // lose a message.
        let writer = tokio::spawn(async move {
            let mut rng = XorShift::new(7);
            let mut message = vec![0u8; max];
            let mut cancelled = 0u64;
            for seq in 0..CANCEL_MESSAGES {
                let len = message_len(seq, max);
                fill_message(seq, &mut message[..len]);
                loop {
                    let limit = Duration::from_micros(rng.below(50));
                    match tokio::time::timeout(limit, producer.send_async(&message[..len])).await {
                        Ok(sent) => break sent.unwrap(),
                        Err(_) => cancelled += 1,
                    }
                }
            }
            cancelled
        });
        let mut rng = XorShift::new(11);
        let mut buffer = vec![0u8; max];
        let mut scratch = vec![0u8; max];
        let mut cancelled = 0u64;
        let mut seq = 0;
        tokio::time::timeout(STALL, async {
            while seq < CANCEL_MESSAGES {
                let limit = Duration::from_micros(rng.below(50));
                match tokio::time::timeout(limit, consumer.recv_async(&mut buffer)).await {
                    Ok(len) => {
                        let len = len.unwrap();
                        check_message(seq, max, &buffer[..len], &mut scratch).unwrap();
                        seq += 1;
                    }
                    Err(_) => cancelled += 1,
                }
            }
        })
        .await
        .expect("every message arrives");
        cancelled + writer.await.unwrap()
    });
    assert!(cancelled > 0, "some futures were dropped while waiting");
    let info = ring.info();
    assert_eq!(info.tail, CANCEL_MESSAGES, "nothing was sent twice");
    assert_eq!(data(&info).waiters, 0);
    assert_eq!(space(&info).waiters, 0);
}

#[test]
fn a_cancelled_wait_leaves_no_registration_behind() {
    let name = unique_name("async-leaves-nothing");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::mpmc(4, 64, 4)).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    runtime(1).block_on(async {
        let waited = tokio::time::timeout(Duration::from_millis(20), consumer.read_async())
            .await
            .is_err();
        assert!(waited, "an empty ring keeps the read pending");
        let info = ring.info();
        assert_eq!(data(&info).waiters, 0, "announcement withdrawn");
        assert_eq!(data(&info).sleepers, 0, "registration given up");
        assert!(data(&info).sleeps > 0, "the read did wait");
        // The cancelled read claimed nothing: the next one gets the message.
        producer.send_async(b"after").await.unwrap();
        assert_eq!(&*consumer.read_async().await.unwrap(), b"after");
    });
}

#[test]
fn awaiting_tasks_on_more_rings_than_one_futex_waitv_watches_all_wake() {
    const RINGS: usize = 150;
    let names: Vec<String> = (0..RINGS).map(|_| unique_name("async-many")).collect();
    let _remove: Vec<RemoveRing> = names.iter().cloned().map(RemoveRing).collect();
    let rings: Vec<Ring> = names
        .iter()
        .map(|name| Ring::create(name, &RingOptions::spsc(2, 32)).unwrap())
        .collect();
    let runtime = runtime(2);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for (index, ring) in rings.iter().enumerate() {
            let mut consumer = spsc::Consumer::join(ring).unwrap();
            consumer
                .set_wait_strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
            tasks.push(tokio::spawn(async move {
                let message = consumer.read_async().await.unwrap();
                assert_eq!(&*message, &(index as u64).to_le_bytes());
            }));
        }
        let mut producers: Vec<spsc::Producer> = rings
            .iter()
            .map(|ring| spsc::Producer::join(ring).unwrap())
            .collect();
        // Every task is asleep before its message comes.
        tokio::time::timeout(BOUND, async {
            while rings.iter().any(|ring| data(&ring.info()).waiters == 0) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("every task waits");
        for (index, producer) in producers.iter_mut().enumerate() {
            assert!(producer.try_send(&(index as u64).to_le_bytes()).unwrap());
        }
        tokio::time::timeout(BOUND, async {
            for task in tasks {
                task.await.unwrap();
            }
        })
        .await
        .expect("every task is woken");
    });
}

#[test]
fn an_awaiting_consumer_gets_disconnected_when_the_producers_leave() {
    for kind in ["spsc", "mpmc"] {
        let name = unique_name("async-disconnect");
        let _remove = RemoveRing(name.clone());
        let options = match kind {
            "spsc" => RingOptions::spsc(4, 64),
            _ => RingOptions::mpmc(4, 64, 4),
        };
        let ring = Ring::create(&name, &options).unwrap();
        let producer = shmlane::AnyProducer::join(&ring).unwrap();
        let mut consumer = shmlane::AnyConsumer::join(&ring).unwrap();
        consumer.set_wait_strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
        runtime(1).block_on(async {
            let reader = tokio::spawn(async move { consumer.read_async().await.map(|_| ()) });
            while data(&ring.info()).waiters == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            drop(producer);
            let result = tokio::time::timeout(BOUND, reader)
                .await
                .expect("the leaving producer wakes the reader")
                .unwrap();
            assert_eq!(
                result.unwrap_err().kind(),
                ErrorKind::Disconnected,
                "{kind}"
            );
        });
    }
}

/// The idle test proper, alone in its process so that no other test's
/// futures move this process's driver.
#[test]
#[ignore = "run by an_idle_awaiting_task_is_not_polled_until_a_message_comes"]
fn child_idle_awaiting_task() {
    let ring = Ring::open(&env("SHMLANE_TEST_RING")).unwrap();
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    consumer.set_wait_strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
    runtime(1).block_on(async {
        let polls = std::sync::Arc::new(std::sync::Mutex::new(0u64));
        let reader = tokio::spawn({
            let polls = polls.clone();
            async move {
                // A first wait, so that the producer's publish acknowledges
                // the registration, which the second wait keeps: a sleeper
                // that wakers have not acknowledged naps briefly instead.
                let warm = consumer.read_async().await.unwrap().to_vec();
                assert_eq!(warm, b"warm");
                let mut read = std::pin::pin!(consumer.read_async());
                std::future::poll_fn(|cx| {
                    *polls.lock().unwrap() += 1;
                    read.as_mut()
                        .poll(cx)
                        .map(|message| message.map(|m| m.to_vec()))
                })
                .await
            }
        });
        let wait_for_waiter = || async {
            while data(&ring.info()).waiters == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        wait_for_waiter().await;
        producer.send_async(b"warm").await.unwrap();
        while *polls.lock().unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        wait_for_waiter().await;
        // What moves while the task waits: the driver's rounds, the line's
        // count of sleeps, the task's polls.
        let sample = || {
            (
                shmlane::driver_rounds(),
                data(&ring.info()).sleeps,
                *polls.lock().unwrap(),
            )
        };
        // Let the park settle (it makes the driver look once), then stay idle
        // for a while: nothing may poll the task or move the driver.
        let settled = tokio::time::timeout(BOUND, async {
            let mut last = sample();
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let now = sample();
                if now == last {
                    break now;
                }
                last = now;
            }
        })
        .await
        .expect("an awaiting task and the driver come to rest");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            sample(),
            settled,
            "(driver rounds, sleeps, polls) moved while idle"
        );
        assert!(!reader.is_finished());
        producer.send_async(b"wake").await.unwrap();
        let message = tokio::time::timeout(BOUND, reader)
            .await
            .expect("the send wakes the task (its nap is far longer)")
            .unwrap()
            .unwrap();
        assert_eq!(message, b"wake");
    });
    println!("idle ok");
}

#[test]
fn an_idle_awaiting_task_is_not_polled_until_a_message_comes() {
    let name = unique_name("async-idle");
    let _remove = RemoveRing(name.clone());
    let _ring = Ring::create(&name, &RingOptions::spsc(4, 64)).unwrap();
    let child = ChildProcess::spawn(
        "idle child",
        "child_idle_awaiting_task",
        &[("SHMLANE_TEST_RING", name.clone())],
    );
    let stdout = child.finish(std::time::Instant::now() + STALL, || {});
    assert!(stdout.contains("idle ok"), "{stdout}");
}
