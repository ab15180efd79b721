//! The blocking calls within one process, for SPSC and MPMC rings and every
//! kind of wait strategy: timeouts (after at least the timeout, and a zero
//! timeout at once), wake-ups of a sleeping consumer by a send and of a sleeping
//! producer by a read, `Disconnected` when the other side closes (after what it
//! sent is delivered), registration as a sleeper as the strategy says, a short
//! buffer that keeps its message, and bad message sizes refused before any wait.
//!
//! No assertion depends on how fast the machine is: durations are only checked
//! from below (a timeout never ends early) and against generous upper bounds
//! (seconds, for waits that take microseconds to milliseconds).

mod common;

use std::time::{Duration, Instant};

use common::{data, space, unique_name, Background, RemoveRing};
use shmlane::{mpmc, spsc, Error, ErrorKind, Ring, RingInfo, RingOptions, WaitInfo, WaitStrategy};

/// The timeout of the calls expected to time out.
const TIMEOUT: Duration = Duration::from_millis(40);
/// Generous bound on anything that should take microseconds to milliseconds:
/// a timeout's overshoot, a wake-up, noticing a closed peer.
const BOUND: Duration = Duration::from_secs(5);
/// A peer-check interval far longer than any test: a sleeper woken only by its
/// own timer would sleep past [`BOUND`], so waking within it proves the futex
/// wake-up reached it.
const LONG_CHECK: Duration = Duration::from_secs(60);

/// Every kind of strategy, named for messages.
fn strategies() -> [(&'static str, WaitStrategy); 4] {
    [
        ("default", WaitStrategy::default()),
        ("sleeping", WaitStrategy::sleeping()),
        ("spinning", WaitStrategy::spinning()),
        ("yielding", WaitStrategy::default().with_sleep(false)),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Spsc,
    Mpmc,
}

const KINDS: [Kind; 2] = [Kind::Spsc, Kind::Mpmc];

/// The writing end of either kind of ring, with owned results; `Ok(None)`
/// when the ring was full (the wait ran out, for the blocking calls).
trait Writer: Send {
    fn send_msg(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<Option<()>, Error>;
    /// `reserve`, write, commit.
    fn reserve_msg(
        &mut self,
        message: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Option<()>, Error>;
    /// `reserve_batch` of `messages.len()`; commits as many as it got.
    fn reserve_batch_msgs(
        &mut self,
        messages: &[&[u8]],
        timeout: Option<Duration>,
    ) -> Result<Option<usize>, Error>;
    fn try_send_msg(&mut self, message: &[u8]) -> Result<Option<()>, Error>;
    fn strategy(&mut self, strategy: WaitStrategy);
}

/// The reading end of either kind of ring, with owned results; `Ok(None)`
/// when the ring was empty (the wait ran out, for the blocking calls).
trait Reader: Send {
    fn read_msg(&mut self, timeout: Option<Duration>) -> Result<Option<Vec<u8>>, Error>;
    fn read_batch_msgs(
        &mut self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Option<Vec<Vec<u8>>>, Error>;
    fn recv_msg(
        &mut self,
        buffer: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<Option<usize>, Error>;
    fn try_recv_msg(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Error>;
    fn strategy(&mut self, strategy: WaitStrategy);
}

macro_rules! handles {
    ($kind:ident) => {
        impl Writer for $kind::Producer {
            fn send_msg(
                &mut self,
                message: &[u8],
                timeout: Option<Duration>,
            ) -> Result<Option<()>, Error> {
                Ok(self.send(message, timeout)?.then_some(()))
            }
            fn reserve_msg(
                &mut self,
                message: &[u8],
                timeout: Option<Duration>,
            ) -> Result<Option<()>, Error> {
                let Some(mut slot) = self.reserve(timeout)? else {
                    return Ok(None);
                };
                slot[..message.len()].copy_from_slice(message);
                slot.commit(message.len()).map(Some)
            }
            fn reserve_batch_msgs(
                &mut self,
                messages: &[&[u8]],
                timeout: Option<Duration>,
            ) -> Result<Option<usize>, Error> {
                let mut batch = self.reserve_batch(messages.len(), timeout)?;
                if batch.is_empty() && !messages.is_empty() {
                    return Ok(None);
                }
                let count = batch.len().min(messages.len());
                for (index, message) in messages[..count].iter().enumerate() {
                    batch.write(index, message)?;
                }
                batch.commit_first(count);
                Ok(Some(count))
            }
            fn try_send_msg(&mut self, message: &[u8]) -> Result<Option<()>, Error> {
                Ok(self.try_send(message)?.then_some(()))
            }
            fn strategy(&mut self, strategy: WaitStrategy) {
                self.set_wait_strategy(strategy);
                assert_eq!(self.wait_strategy(), strategy);
            }
        }

        impl Reader for $kind::Consumer {
            fn read_msg(&mut self, timeout: Option<Duration>) -> Result<Option<Vec<u8>>, Error> {
                self.read(timeout)
                    .map(|message| message.map(|m| m.to_vec()))
            }
            fn read_batch_msgs(
                &mut self,
                max: usize,
                timeout: Option<Duration>,
            ) -> Result<Option<Vec<Vec<u8>>>, Error> {
                let batch = self.read_batch(max, timeout)?;
                if batch.is_empty() && max > 0 {
                    return Ok(None);
                }
                Ok(Some(batch.iter().map(<[u8]>::to_vec).collect()))
            }
            fn recv_msg(
                &mut self,
                buffer: &mut [u8],
                timeout: Option<Duration>,
            ) -> Result<Option<usize>, Error> {
                self.recv(buffer, timeout)
            }
            fn try_recv_msg(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Error> {
                self.try_recv(buffer)
            }
            fn strategy(&mut self, strategy: WaitStrategy) {
                self.set_wait_strategy(strategy);
                assert_eq!(self.wait_strategy(), strategy);
            }
        }
    };
}

handles!(spsc);
handles!(mpmc);

/// A ring of `kind`, removed on drop.
struct TestRing {
    ring: Ring,
    kind: Kind,
    _remove: RemoveRing,
}

impl TestRing {
    fn new(kind: Kind, capacity: u64) -> TestRing {
        TestRing::with_options(
            kind,
            match kind {
                Kind::Spsc => RingOptions::spsc(capacity, 64),
                Kind::Mpmc => RingOptions::mpmc(capacity, 64, 8),
            },
        )
    }

    fn with_options(kind: Kind, options: RingOptions) -> TestRing {
        let name = unique_name(&format!("blocking-{kind:?}").to_lowercase());
        let ring = Ring::create(&name, &options).unwrap();
        TestRing {
            ring,
            kind,
            _remove: RemoveRing(name),
        }
    }

    fn writer(&self) -> Box<dyn Writer> {
        match self.kind {
            Kind::Spsc => Box::new(spsc::Producer::join(&self.ring).unwrap()),
            Kind::Mpmc => Box::new(mpmc::Producer::join(&self.ring).unwrap()),
        }
    }

    fn reader(&self) -> Box<dyn Reader> {
        match self.kind {
            Kind::Spsc => Box::new(spsc::Consumer::join(&self.ring).unwrap()),
            Kind::Mpmc => Box::new(mpmc::Consumer::join(&self.ring).unwrap()),
        }
    }

    fn info(&self) -> RingInfo {
        self.ring.info()
    }

    /// Waits (at most [`BOUND`]) until the ring's state satisfies `condition`.
    fn wait_until(&self, what: &str, condition: impl Fn(&RingInfo) -> bool) {
        let deadline = Instant::now() + BOUND;
        loop {
            let info = self.info();
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

    /// Waits until a handle is asleep on `line`, the line having counted at
    /// least `sleeps` sleeps (1 on a fresh ring; one more than a count read
    /// before some event, to see a sleep begun after it).
    fn wait_for_sleeper(&self, line: fn(&RingInfo) -> WaitInfo, sleeps: u64) {
        self.wait_until("a sleeper", |info| {
            let line = line(info);
            line.sleepers == 1 && line.waiters >= 1 && line.sleeps >= sleeps
        });
    }
}

/// Runs `call`, expecting `Timeout` no earlier than `timeout` and within [`BOUND`] more.
fn assert_times_out<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    call: impl FnOnce() -> Result<Option<T>, Error>,
) {
    let start = Instant::now();
    let result = call();
    let elapsed = start.elapsed();
    assert!(
        matches!(result, Ok(None)),
        "{what}: expected Timeout, got {result:?}"
    );
    assert!(
        elapsed >= timeout,
        "{what}: timed out after {elapsed:?}, before its timeout of {timeout:?}"
    );
    assert!(
        elapsed < timeout + BOUND,
        "{what}: a timeout of {timeout:?} took {elapsed:?}"
    );
}

/// Every blocking call of both ends on an empty, then full, ring of `kind`
/// with `strategy` times out; then the ring still carries what it held.
fn every_call_times_out(kind: Kind, name: &str, strategy: WaitStrategy, timeout: Duration) {
    let ring = TestRing::new(kind, 4);
    let mut writer = ring.writer();
    let mut reader = ring.reader();
    writer.strategy(strategy);
    reader.strategy(strategy);
    let what = |call: &str| format!("{kind:?} {call} with the {name} strategy");

    let mut buffer = [0u8; 64];
    assert_times_out(&what("read"), timeout, || reader.read_msg(Some(timeout)));
    assert_times_out(&what("recv"), timeout, || {
        reader.recv_msg(&mut buffer, Some(timeout))
    });
    assert_times_out(&what("read_batch"), timeout, || {
        reader.read_batch_msgs(8, Some(timeout))
    });

    for seq in 0..4u8 {
        writer.try_send_msg(&[seq; 3]).unwrap().unwrap();
    }
    assert_times_out(&what("send"), timeout, || {
        writer.send_msg(b"late", Some(timeout))
    });
    assert_times_out(&what("reserve"), timeout, || {
        writer.reserve_msg(b"late", Some(timeout))
    });
    assert_times_out(&what("reserve_batch"), timeout, || {
        writer.reserve_batch_msgs(&[&b"late"[..], b"later"], Some(timeout))
    });

    // Nothing a timed-out call touched shows up; the ring is as it was.
    let info = ring.info();
    assert_eq!((info.head, info.tail), (0, 4), "{}", what("positions"));
    for seq in 0..4u8 {
        assert_eq!(reader.read_msg(Some(BOUND)).unwrap().unwrap(), [seq; 3]);
    }
    assert!(matches!(reader.try_recv_msg(&mut buffer), Ok(None)));
    assert_eq!(info.data_waits.waiters, 0, "{}", what("waiters after"));
    assert_eq!(info.space_waits.waiters, 0, "{}", what("waiters after"));
    // Every wait lasted far longer than spinning and yielding (70 µs).
    let slept = u64::from(strategy.sleeps());
    assert_eq!(info.data_waits.sleeps.min(1), slept, "{}", what("slept"));
    assert_eq!(info.space_waits.sleeps.min(1), slept, "{}", what("slept"));
    drop((reader, writer));
    let info = ring.info();
    assert_eq!(
        info.data_waits.sleepers,
        0,
        "{}",
        what("sleepers after the drop")
    );
    assert_eq!(
        info.space_waits.sleepers,
        0,
        "{}",
        what("sleepers after the drop")
    );
}

#[test]
fn blocking_calls_on_an_empty_or_full_spsc_ring_time_out_after_the_timeout_with_every_strategy() {
    for (name, strategy) in strategies() {
        every_call_times_out(Kind::Spsc, name, strategy, TIMEOUT);
    }
}

#[test]
fn blocking_calls_on_an_empty_or_full_mpmc_ring_time_out_after_the_timeout_with_every_strategy() {
    for (name, strategy) in strategies() {
        every_call_times_out(Kind::Mpmc, name, strategy, TIMEOUT);
    }
}

#[test]
fn a_timeout_longer_than_the_peer_check_interval_still_ends_at_the_timeout() {
    // Several naps of 5 ms, each followed by a look at the peer, before the deadline.
    let strategy = WaitStrategy::sleeping().with_peer_check_interval(Duration::from_millis(5));
    for kind in KINDS {
        every_call_times_out(
            kind,
            "sleeping, 5 ms checks",
            strategy,
            Duration::from_millis(120),
        );
    }
}

#[test]
fn a_zero_timeout_returns_timeout_at_once_when_nothing_is_there_and_the_message_when_one_is() {
    for kind in KINDS {
        for (name, strategy) in strategies() {
            let ring = TestRing::new(kind, 2);
            let mut writer = ring.writer();
            let mut reader = ring.reader();
            writer.strategy(strategy);
            reader.strategy(strategy);
            let zero = Some(Duration::ZERO);
            let what = format!("{kind:?} with the {name} strategy");
            let mut buffer = [0u8; 64];
            let start = Instant::now();
            assert!(matches!(reader.read_msg(zero), Ok(None)), "{what}");
            assert!(
                matches!(reader.recv_msg(&mut buffer, zero), Ok(None)),
                "{what}"
            );
            assert!(
                matches!(reader.read_batch_msgs(4, zero), Ok(None)),
                "{what}"
            );

            writer.send_msg(b"one", zero).unwrap().unwrap();
            writer.reserve_msg(b"two", zero).unwrap().unwrap();
            assert!(matches!(writer.send_msg(b"x", zero), Ok(None)), "{what}");
            assert!(matches!(writer.reserve_msg(b"x", zero), Ok(None)), "{what}");
            assert!(
                matches!(writer.reserve_batch_msgs(&[&b"x"[..]], zero), Ok(None)),
                "{what}"
            );
            assert_eq!(reader.read_msg(zero).unwrap().unwrap(), b"one", "{what}");
            assert_eq!(
                writer
                    .reserve_batch_msgs(&[&b"three"[..]], zero)
                    .unwrap()
                    .unwrap(),
                1,
                "{what}"
            );
            let len = reader.recv_msg(&mut buffer, zero).unwrap().unwrap();
            assert_eq!(&buffer[..len], b"two", "{what}");
            assert_eq!(
                reader.read_batch_msgs(4, zero).unwrap().unwrap(),
                [b"three"],
                "{what}"
            );
            assert!(matches!(reader.read_msg(zero), Ok(None)), "{what}");
            // Eight calls that give up at once: far less than a second even spinning.
            assert!(
                start.elapsed() < BOUND,
                "{what}: took {:?}",
                start.elapsed()
            );
            let info = ring.info();
            assert_eq!(
                info.data_waits.sleeps + info.space_waits.sleeps,
                0,
                "{what}: slept"
            );
        }
    }
}

/// A consumer asleep in `read` with a long peer-check interval: a message
/// sent then wakes it at once, not at the end of its nap.
fn send_wakes_a_sleeping_consumer(kind: Kind) {
    let ring = TestRing::new(kind, 8);
    let mut reader = ring.reader();
    reader.strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
    let long = Duration::from_secs(30);
    let sleeper = Background::spawn(move || {
        let start = Instant::now();
        let result = reader.read_msg(Some(long));
        (result, start.elapsed())
    });
    // The consumer goes to sleep while no producer exists, so it trusts a sleep
    // of the whole 30 s; the producer arms itself when it joins.
    ring.wait_for_sleeper(data, 1);
    let mut writer = ring.writer();
    let wakes = ring.info().data_waits.wakes;
    let sent = Instant::now();
    writer.send_msg(b"wake up", Some(BOUND)).unwrap().unwrap();
    let (result, waited) = sleeper.wait(BOUND, "the woken consumer");
    let latency = sent.elapsed();
    assert_eq!(
        result.unwrap().as_deref(),
        Some(&b"wake up"[..]),
        "{kind:?}"
    );
    assert!(waited < long, "{kind:?}: read returned after {waited:?}");
    assert!(
        ring.info().data_waits.wakes > wakes,
        "{kind:?}: the send called FUTEX_WAKE"
    );
    assert_eq!(ring.info().data_waits.sleepers, 0, "{kind:?}: deregistered");
    eprintln!("{kind:?}: a sleeping consumer got the message {latency:?} after the send");
}

#[test]
fn a_message_sent_while_the_spsc_consumer_sleeps_wakes_it() {
    send_wakes_a_sleeping_consumer(Kind::Spsc);
}

#[test]
fn a_message_sent_while_the_mpmc_consumer_sleeps_wakes_it() {
    send_wakes_a_sleeping_consumer(Kind::Mpmc);
}

/// A producer asleep on a full ring with a long peer-check interval: a read
/// wakes it at once, and its message follows those already in the ring.
fn read_wakes_a_sleeping_producer(kind: Kind) {
    let ring = TestRing::new(kind, 4);
    let mut writer = ring.writer();
    writer.strategy(WaitStrategy::sleeping().with_peer_check_interval(LONG_CHECK));
    for seq in 0..4u8 {
        writer.send_msg(&[seq], Some(BOUND)).unwrap().unwrap();
    }
    let long = Duration::from_secs(30);
    let sleeper = Background::spawn(move || {
        let start = Instant::now();
        let result = writer.send_msg(&[4], Some(long));
        (result, start.elapsed(), writer)
    });
    ring.wait_for_sleeper(space, 1);
    let mut reader = ring.reader();
    let wakes = ring.info().space_waits.wakes;
    assert_eq!(reader.read_msg(Some(BOUND)).unwrap().unwrap(), [0]);
    let (result, waited, writer) = sleeper.wait(BOUND, "the woken producer");
    result.unwrap().expect("the woken producer sent");
    assert!(waited < long, "{kind:?}: send returned after {waited:?}");
    assert!(
        ring.info().space_waits.wakes > wakes,
        "{kind:?}: the read called FUTEX_WAKE"
    );
    for seq in 1..5u8 {
        assert_eq!(
            reader.read_msg(Some(BOUND)).unwrap().unwrap(),
            [seq],
            "{kind:?}"
        );
    }
    drop(writer);
    assert_eq!(
        ring.info().space_waits.sleepers,
        0,
        "{kind:?}: deregistered when dropped"
    );
}

#[test]
fn a_read_while_the_spsc_producer_sleeps_on_a_full_ring_wakes_it() {
    read_wakes_a_sleeping_producer(Kind::Spsc);
}

#[test]
fn a_read_while_the_mpmc_producer_sleeps_on_a_full_ring_wakes_it() {
    read_wakes_a_sleeping_producer(Kind::Mpmc);
}

/// Reads with `read(None)` (and every third with `recv`) until an error.
fn read_until_error(mut reader: Box<dyn Reader>) -> (Vec<Vec<u8>>, Error) {
    let mut messages = Vec::new();
    let mut buffer = [0u8; 64];
    loop {
        let result = if messages.len() % 3 == 2 {
            reader
                .recv_msg(&mut buffer, None)
                .map(|len| len.map(|len| buffer[..len].to_vec()))
        } else {
            reader.read_msg(None)
        };
        match result {
            Ok(Some(message)) => messages.push(message),
            Ok(None) => panic!("a wait without a timeout ended with nothing"),
            Err(error) => return (messages, error),
        }
    }
}

/// A consumer blocked in `read(None)`, with each strategy: the producer sends
/// messages (or none) and drops: the consumer gets every message, then
/// `Disconnected`.
///
/// With a peer-check interval of 60 s: a consumer that starts waiting before any
/// producer joins trusts its sleep for that long, so only the wake-ups of the
/// producer's sends and of its leaving end it in time.
fn consumer_sees_disconnected_after_the_messages(kind: Kind) {
    let sent: [&[&[u8]]; 2] = [&[], &[b"first", b"second", b"third"]];
    for (name, strategy) in strategies() {
        let strategy = strategy.with_peer_check_interval(LONG_CHECK);
        for messages in sent {
            let ring = TestRing::new(kind, 8);
            let mut reader = ring.reader();
            reader.strategy(strategy);
            let consumer = Background::spawn(move || read_until_error(reader));
            if strategy.sleeps() {
                ring.wait_for_sleeper(data, 1);
            }
            let mut writer = ring.writer();
            for message in messages {
                writer.send_msg(message, Some(BOUND)).unwrap().unwrap();
            }
            drop(writer);
            let (received, error) = consumer.wait(BOUND, "the disconnected consumer");
            assert_eq!(
                received, messages,
                "{kind:?}, {name}: every message before the close"
            );
            assert!(
                error.kind() == ErrorKind::Disconnected,
                "{kind:?}, {name}: got {error:?}"
            );
            let info = ring.info();
            assert_eq!(info.data_waits.sleepers, 0, "{kind:?}, {name}");
            assert_eq!(info.data_waits.waiters, 0, "{kind:?}, {name}");
        }

        // A message sent before the consumer waits, more while it waits.
        let ring = TestRing::new(kind, 8);
        let mut writer = ring.writer();
        let mut reader = ring.reader();
        reader.strategy(strategy);
        writer.send_msg(b"before", Some(BOUND)).unwrap().unwrap();
        let consumer = Background::spawn(move || read_until_error(reader));
        if strategy.sleeps() {
            ring.wait_for_sleeper(data, 1);
        } else {
            ring.wait_until("the first message read", |info| info.head == 1);
        }
        for message in [&b"first"[..], b"second", b"third"] {
            writer.send_msg(message, Some(BOUND)).unwrap().unwrap();
        }
        drop(writer);
        let (received, error) = consumer.wait(BOUND, "the disconnected consumer");
        assert_eq!(
            received,
            [&b"before"[..], b"first", b"second", b"third"],
            "{kind:?}, {name}: every message before the close"
        );
        assert!(
            error.kind() == ErrorKind::Disconnected,
            "{kind:?}, {name}: got {error:?}"
        );
    }
}

#[test]
fn a_spsc_consumer_blocked_in_read_gets_the_messages_then_disconnected_when_the_producer_drops() {
    consumer_sees_disconnected_after_the_messages(Kind::Spsc);
}

#[test]
fn an_mpmc_consumer_blocked_in_read_gets_the_messages_then_disconnected_when_the_producer_drops() {
    consumer_sees_disconnected_after_the_messages(Kind::Mpmc);
}

#[test]
fn an_mpmc_consumer_blocked_in_read_is_disconnected_only_when_the_last_producer_leaves() {
    let ring = TestRing::new(Kind::Mpmc, 8);
    let mut first = ring.writer();
    let mut second = ring.writer();
    let mut reader = ring.reader();
    reader.strategy(WaitStrategy::sleeping());
    first
        .send_msg(b"from the first", Some(BOUND))
        .unwrap()
        .unwrap();
    let consumer = Background::spawn(move || read_until_error(reader));
    ring.wait_for_sleeper(data, 1);
    drop(first);
    // Woken by the leaving producer, the consumer looks at the producers, finds
    // the second alive and sleeps again, twice over (each nap is at most 50 ms).
    let sleeps = ring.info().data_waits.sleeps;
    ring.wait_until("the consumer sleeping again, or ending", |info| {
        info.data_waits.sleeps >= sleeps + 2 || consumer.finished()
    });
    assert!(
        !consumer.finished(),
        "the consumer ended while a producer was left"
    );
    let sleeps = ring.info().data_waits.sleeps;
    second
        .send_msg(b"from the second", Some(BOUND))
        .unwrap()
        .unwrap();
    ring.wait_for_sleeper(data, sleeps + 1);
    drop(second);
    let (messages, error) = consumer.wait(BOUND, "the disconnected consumer");
    assert_eq!(messages, [&b"from the first"[..], b"from the second"]);
    assert!(error.kind() == ErrorKind::Disconnected, "got {error:?}");
}

/// Sends numbered messages with `send(None)` until an error; returns how many it sent.
fn send_until_error(mut writer: Box<dyn Writer>) -> (u8, Error) {
    let mut sent = 0u8;
    loop {
        let result = if sent % 2 == 0 {
            writer.send_msg(&[sent], None)
        } else {
            writer.reserve_msg(&[sent], None)
        };
        match result {
            Ok(Some(())) => sent += 1,
            Ok(None) => panic!("a wait without a timeout ended with nothing"),
            Err(error) => return (sent, error),
        }
    }
}

/// A producer blocked in `send(None)` on a full ring, with each strategy,
/// gets `Disconnected` when the consumer drops: at once when it read nothing,
/// after filling the two freed slots when it read two messages.
///
/// With a peer-check interval of 60 s: a producer that starts waiting before any
/// consumer joins trusts its sleep for that long, so only the wake-up of the
/// consumer's leaving ends it in time.
fn producer_sees_disconnected_when_the_consumer_drops(kind: Kind) {
    for (name, strategy) in strategies() {
        let strategy = strategy.with_peer_check_interval(LONG_CHECK);
        for reads in [0u8, 2] {
            let what = format!("{kind:?}, {name}, {reads} read");
            let ring = TestRing::new(kind, 4);
            let mut writer = ring.writer();
            writer.strategy(strategy);
            // A consumer that reads joins first; one that reads nothing joins
            // once the producer sleeps.
            let reader = (reads > 0).then(|| ring.reader());
            let producer = Background::spawn(move || send_until_error(writer));
            ring.wait_until("a full ring", |info| info.tail == 4);
            if strategy.sleeps() {
                ring.wait_for_sleeper(space, 1);
            }
            let mut reader = reader.unwrap_or_else(|| ring.reader());
            for seq in 0..reads {
                assert_eq!(
                    reader.read_msg(Some(BOUND)).unwrap().unwrap(),
                    [seq],
                    "{what}"
                );
            }
            drop(reader);
            let (sent, error) = producer.wait(BOUND, "the disconnected producer");
            assert_eq!(sent, 4 + reads, "{what}: the freed slots are filled first");
            assert!(
                error.kind() == ErrorKind::Disconnected,
                "{what}: got {error:?}"
            );
            let info = ring.info();
            assert_eq!(
                (info.head, info.tail),
                (u64::from(reads), 4 + u64::from(reads)),
                "{what}"
            );
            assert_eq!(info.space_waits.sleepers, 0, "{what}");
            assert_eq!(info.space_waits.waiters, 0, "{what}");
        }
    }
}

#[test]
fn a_spsc_producer_blocked_on_a_full_ring_gets_disconnected_when_the_consumer_drops() {
    producer_sees_disconnected_when_the_consumer_drops(Kind::Spsc);
}

#[test]
fn an_mpmc_producer_blocked_on_a_full_ring_gets_disconnected_when_the_consumer_drops() {
    producer_sees_disconnected_when_the_consumer_drops(Kind::Mpmc);
}

#[test]
fn an_mpmc_producer_blocked_on_a_full_ring_is_disconnected_only_when_the_last_consumer_leaves() {
    let ring = TestRing::new(Kind::Mpmc, 4);
    let mut writer = ring.writer();
    let first = ring.reader();
    let mut second = ring.reader();
    writer.strategy(WaitStrategy::sleeping());
    let producer = Background::spawn(move || send_until_error(writer));
    ring.wait_for_sleeper(space, 1);
    drop(first);
    let sleeps = ring.info().space_waits.sleeps;
    ring.wait_until("the producer sleeping again, or ending", |info| {
        info.space_waits.sleeps >= sleeps + 2 || producer.finished()
    });
    assert!(
        !producer.finished(),
        "the producer ended while a consumer was left"
    );
    let sleeps = ring.info().space_waits.sleeps;
    assert_eq!(second.read_msg(Some(BOUND)).unwrap().unwrap(), [0]);
    ring.wait_until("the freed slot filled", |info| info.tail == 5);
    ring.wait_for_sleeper(space, sleeps + 1);
    drop(second);
    let (sent, error) = producer.wait(BOUND, "the disconnected producer");
    assert_eq!(sent, 5);
    assert!(error.kind() == ErrorKind::Disconnected, "got {error:?}");
}

/// What the data line showed around a consumer's `read` until a timeout.
struct Watched {
    /// The largest `sleepers` and `waiters` sampled while it waited.
    sleepers: u32,
    waiters: u32,
    /// The line after the call, the consumer still joined.
    after_call: WaitInfo,
    /// The line once the consumer was dropped.
    after_drop: WaitInfo,
}

/// While a consumer with `strategy` waits in `read` (until `timeout`), samples
/// the data line.
fn watch_a_waiting_consumer(kind: Kind, strategy: WaitStrategy, timeout: Duration) -> Watched {
    let ring = TestRing::new(kind, 4);
    let _writer = ring.writer();
    let mut reader = ring.reader();
    reader.strategy(strategy);
    let consumer = Background::spawn(move || {
        let result = reader
            .read_msg(Some(timeout))
            .map(|message| message.map(drop));
        (result, reader)
    });
    let (mut sleepers, mut waiters) = (0, 0);
    while !consumer.finished() {
        let line = ring.info().data_waits;
        sleepers = sleepers.max(line.sleepers);
        waiters = waiters.max(line.waiters);
        std::thread::sleep(Duration::from_millis(1));
    }
    let (result, reader) = consumer.wait(BOUND, "the waiting consumer");
    assert!(matches!(result, Ok(None)), "got {result:?}");
    let after_call = ring.info().data_waits;
    drop(reader);
    Watched {
        sleepers,
        waiters,
        after_call,
        after_drop: ring.info().data_waits,
    }
}

#[test]
fn a_consumer_with_a_spinning_strategy_never_registers_as_a_sleeper() {
    for kind in KINDS {
        for strategy in [
            WaitStrategy::spinning(),
            WaitStrategy::default().with_sleep(false),
        ] {
            let watched = watch_a_waiting_consumer(kind, strategy, Duration::from_millis(200));
            let what = format!("{kind:?} {strategy:?}");
            assert_eq!(watched.sleepers, 0, "{what}: registered");
            assert_eq!(watched.waiters, 0, "{what}: announced itself");
            assert_eq!(watched.after_call.sleepers, 0, "{what}: registered");
            assert_eq!(watched.after_call.sleeps, 0, "{what}: slept");
            assert_eq!(watched.after_drop.sleepers, 0, "{what}");
        }
    }
}

#[test]
fn a_consumer_with_a_sleeping_strategy_registers_while_it_waits_and_deregisters_when_dropped() {
    for kind in KINDS {
        for strategy in [WaitStrategy::sleeping(), WaitStrategy::default()] {
            let watched = watch_a_waiting_consumer(kind, strategy, Duration::from_millis(300));
            let what = format!("{kind:?} {strategy:?}");
            assert_eq!(watched.sleepers, 1, "{what}: registered");
            assert_eq!(watched.waiters, 1, "{what}: announced itself");
            assert!(watched.after_call.sleeps > 0, "{what}: slept");
            assert_eq!(watched.after_call.waiters, 0, "{what}: left the waiters");
            assert!(watched.after_call.sleepers <= 1, "{what}");
            assert_eq!(watched.after_drop.sleepers, 0, "{what}: deregistered");
        }
    }
}

#[test]
fn a_sleeping_producer_is_registered_while_blocked_and_not_after_it_is_dropped() {
    for kind in KINDS {
        let ring = TestRing::new(kind, 2);
        let mut writer = ring.writer();
        let mut reader = ring.reader();
        // The producer side: asleep on a full ring.
        writer.strategy(WaitStrategy::sleeping());
        writer.send_msg(b"a", Some(BOUND)).unwrap().unwrap();
        writer.send_msg(b"b", Some(BOUND)).unwrap().unwrap();
        let producer = Background::spawn(move || {
            let result = writer.send_msg(b"c", Some(Duration::from_secs(30)));
            (result, writer)
        });
        ring.wait_for_sleeper(space, 1);
        assert_eq!(ring.info().data_waits.sleepers, 0, "{kind:?}");
        // The consumer side: a spinning consumer reading does not register.
        reader.strategy(WaitStrategy::spinning());
        assert_eq!(
            reader.read_msg(Some(BOUND)).unwrap().unwrap(),
            b"a",
            "{kind:?}"
        );
        let (result, writer) = producer.wait(BOUND, "the woken producer");
        result.unwrap().expect("the woken producer sent");
        assert!(ring.info().space_waits.sleepers <= 1, "{kind:?}");
        drop(writer);
        let info = ring.info();
        assert_eq!(info.space_waits.sleepers, 0, "{kind:?}: after the drop");
        assert_eq!(info.data_waits.sleepers, 0, "{kind:?}");
        assert_eq!(
            info.data_waits.sleeps, 0,
            "{kind:?}: the spinning consumer slept"
        );
        assert!(info.space_waits.sleeps > 0, "{kind:?}: the producer slept");
    }
}

/// A blocking `recv` into a short buffer: `BufferTooSmall`, and the message
/// stays for the next `recv` with a large enough buffer.
fn short_buffer_keeps_the_message(kind: Kind) {
    for (name, strategy) in strategies() {
        let ring = TestRing::new(kind, 4);
        let mut writer = ring.writer();
        let mut reader = ring.reader();
        reader.strategy(strategy);
        writer
            .send_msg(b"a message of 26 bytes long", Some(BOUND))
            .unwrap()
            .unwrap();
        writer.send_msg(b"next", Some(BOUND)).unwrap().unwrap();
        let mut short = [0u8; 8];
        let mut long = [0u8; 64];
        for timeout in [None, Some(Duration::ZERO), Some(BOUND)] {
            let result = reader.recv_msg(&mut short, timeout);
            assert!(
                matches!(
                    result, Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes() == Some((26, 8))),
                "{kind:?}, {name}, {timeout:?}: got {result:?}"
            );
        }
        let len = reader.recv_msg(&mut long, Some(BOUND)).unwrap().unwrap();
        assert_eq!(
            &long[..len],
            b"a message of 26 bytes long",
            "{kind:?}, {name}"
        );
        assert_eq!(
            reader.recv_msg(&mut long, None).unwrap().unwrap(),
            4,
            "{kind:?}, {name}"
        );
        assert_eq!(&long[..4], b"next", "{kind:?}, {name}");

        // The same when the message comes while `recv` waits.
        let consumer = Background::spawn(move || {
            let mut short = [0u8; 8];
            let result = reader.recv_msg(&mut short, Some(Duration::from_secs(30)));
            (result, reader)
        });
        if strategy.sleeps() {
            ring.wait_for_sleeper(data, 1);
        }
        writer
            .send_msg(b"another message, 30 bytes long", Some(BOUND))
            .unwrap()
            .unwrap();
        let (result, mut reader) = consumer.wait(BOUND, "the waiting recv");
        assert!(
            matches!(
                result, Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes() == Some((30, 8))),
            "{kind:?}, {name}: got {result:?}"
        );
        assert_eq!(
            reader.read_msg(Some(Duration::ZERO)).unwrap().unwrap(),
            b"another message, 30 bytes long",
            "{kind:?}, {name}"
        );
        assert!(matches!(reader.read_msg(Some(Duration::ZERO)), Ok(None)));
    }
}

#[test]
fn a_blocking_spsc_recv_into_a_short_buffer_keeps_the_message_for_the_next_recv() {
    short_buffer_keeps_the_message(Kind::Spsc);
}

#[test]
fn a_blocking_mpmc_recv_into_a_short_buffer_keeps_the_message_for_the_next_recv() {
    short_buffer_keeps_the_message(Kind::Mpmc);
}

#[test]
fn a_message_an_mpmc_recv_kept_for_a_short_buffer_goes_to_no_other_consumer() {
    let ring = TestRing::new(Kind::Mpmc, 4);
    let mut writer = ring.writer();
    let mut keeper = ring.reader();
    let mut other = ring.reader();
    writer
        .send_msg(b"kept by the first consumer", Some(BOUND))
        .unwrap()
        .unwrap();
    let result = keeper.recv_msg(&mut [0u8; 4], Some(BOUND));
    assert!(
        matches!(result, Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes().map(|s| s.0) == Some(26)),
        "got {result:?}"
    );
    assert!(matches!(
        other.read_msg(Some(Duration::from_millis(20))),
        Ok(None)
    ));
    writer.send_msg(b"second", Some(BOUND)).unwrap().unwrap();
    assert_eq!(other.read_msg(Some(BOUND)).unwrap().unwrap(), b"second");
    assert_eq!(
        keeper.read_msg(Some(BOUND)).unwrap().unwrap(),
        b"kept by the first consumer"
    );
}

/// Bad message sizes are refused by `send` before it waits, even with no
/// timeout on a full ring, and publish nothing.
fn bad_sizes_are_refused_before_waiting(kind: Kind) {
    let variable = TestRing::new(kind, 2);
    let fixed = TestRing::with_options(
        kind,
        match kind {
            Kind::Spsc => RingOptions::spsc_fixed(2, 8),
            Kind::Mpmc => RingOptions::mpmc_fixed(2, 8, 4),
        },
    );
    for (ring, fixed_size) in [(&variable, false), (&fixed, true)] {
        let mut writer = ring.writer();
        let _reader = ring.reader();
        writer.strategy(WaitStrategy::sleeping());
        let max = ring.ring.max_payload();
        let (bad, good) = if fixed_size {
            (vec![7u8; max - 1], vec![1u8; max])
        } else {
            (vec![7u8; max + 1], vec![1u8; max])
        };
        let check = move |result: &Result<Option<()>, Error>| match result {
            Err(e) if e.kind() == ErrorKind::MessageTooLarge => {
                !fixed_size && e.sizes() == Some(((max + 1) as u64, max as u64))
            }
            Err(e) if e.kind() == ErrorKind::WrongMessageSize => {
                fixed_size && e.sizes() == Some(((max - 1) as u64, max as u64))
            }
            _ => false,
        };
        // On an empty ring, then on a full one.
        assert!(check(&writer.send_msg(&bad, None)), "{kind:?}, max {max}");
        writer.send_msg(&good, Some(BOUND)).unwrap().unwrap();
        writer.send_msg(&good, Some(BOUND)).unwrap().unwrap();
        let producer = Background::spawn(move || {
            let results = [
                writer.send_msg(&bad, None),
                writer.send_msg(&bad, Some(Duration::from_secs(30))),
                writer.send_msg(&bad, Some(Duration::ZERO)),
            ];
            (results, writer)
        });
        let (results, _writer) = producer.wait(BOUND, "send of a bad size on a full ring");
        for result in &results {
            assert!(check(result), "{kind:?}, max {max}: got {result:?}");
        }
        let info = ring.info();
        assert_eq!(info.tail, 2, "{kind:?}, max {max}: published");
        assert_eq!(info.space_waits.sleeps, 0, "{kind:?}, max {max}: slept");
        assert_eq!(info.space_waits.sleepers, 0, "{kind:?}, max {max}");
    }
}

#[test]
fn spsc_send_refuses_a_bad_message_size_before_waiting_for_space() {
    bad_sizes_are_refused_before_waiting(Kind::Spsc);
}

#[test]
fn mpmc_send_refuses_a_bad_message_size_before_waiting_for_space() {
    bad_sizes_are_refused_before_waiting(Kind::Mpmc);
}
