//! Blocking waits lose no wake-up. The models run the production blocking
//! calls (`read`, `recv`, `send`, `reserve` with no timeout) on handles whose
//! strategy is `WaitStrategy::sleeping()`, so every wait goes straight to the
//! sleeping phase of `wait.rs`: register as a sleeper, announce, re-check, sleep.
//!
//! Under loom the futex is a mutex and condition variable (`wait.rs`, `mod
//! futex`). A sleep whose wakers have all acknowledged the sleeper's
//! registration waits for a wake and nothing else (the peer-check timeout is
//! left out), so a lost wake-up leaves the sleeper blocked for good and loom
//! stops with "deadlock". A nap while an acknowledgement is still missing is a
//! yield. The handles that wake a sleeper stay alive until the sleeper is done:
//! a handle that leaves wakes every sleeper (`wake_on_leave`), which would hide
//! a wake-up lost before.
//!
//! Which path a wait takes depends on the interleaving, and loom explores them
//! all: the registration handshake (the sleeper registers before its waker has
//! acknowledged, naps, and sleeps for good once a publish of the waker
//! acknowledged it), the waker's acknowledgement landing between the sleeper's
//! re-check and its look at the acknowledgements, and join-time arming (the
//! waker joins while the sleeper is already asleep).
//!
//! The `weakened_wake_*` models are models of this file again, run with the
//! SeqCst fence of `Waker::notify_slow` left out (`--cfg shmlane_weaken_wake`):
//! loom must then find a lost wake-up. They are ignored without the cfg.
#![cfg(loom)]

mod common;

use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use common::{check_delivery, decode, encode, mpmc_slot_size, spsc_slot_size, PAYLOAD};
use loom::sync::atomic::{AtomicUsize, Ordering};
use shmlane::{mpmc, spsc, Error, ErrorKind, Ring, WaitStrategy};

/// Messages of the SPSC models: one more than the two slots of the smaller
/// ring, and enough waits for a publish to land at every step of a wait.
const MESSAGES: u8 = 3;

#[test]
fn spsc_consumer_sleeps_until_each_message() {
    spsc_consumer_sleeps(false);
}

/// `spsc_consumer_sleeps_until_each_message` with the fence of
/// `Waker::notify_slow` left out: the producer's load of `waiters` may miss the
/// consumer's announcement while the consumer's re-check misses the publish.
#[test]
#[cfg_attr(
    not(shmlane_weaken_wake),
    ignore = "checks that the models fail; needs --cfg shmlane_weaken_wake"
)]
#[cfg_attr(shmlane_weaken_wake, should_panic(expected = "deadlock"))]
fn weakened_wake_is_caught_by_the_spsc_consumer_model() {
    spsc_consumer_sleeps(false);
}

#[test]
fn spsc_producer_joins_while_the_consumer_sleeps() {
    spsc_consumer_sleeps(true);
}

/// The consumer sleeps in `read(None)` / `recv(.., None)` for each of three
/// messages, which the producer sends with `try_send` into a ring with room
/// for all of them. Every message arrives, in order, and nobody deadlocks.
///
/// With `producer_joins_late`, the producer joins in its own thread, so it may
/// join while the consumer is already asleep on a ring nobody writes to (the
/// consumer's look at the records found no producer to wait for): the
/// producer must arm itself at join time.
fn spsc_consumer_sleeps(producer_joins_late: bool) {
    loom::model(move || {
        let ring = LeakOnPanic::new(Ring::spsc_on_heap(4, spsc_slot_size(false), false).unwrap());
        let early_producer = (!producer_joins_late).then(|| spsc::Producer::join(&ring).unwrap());
        let mut consumer = LeakOnPanic::new(spsc::Consumer::join(&ring).unwrap());
        consumer.set_wait_strategy(WaitStrategy::sleeping());

        let sender = LeakOnPanic::new(loom::thread::spawn({
            let ring = LeakOnPanic::new(ring.clone());
            move || {
                let mut producer = LeakOnPanic::new(
                    early_producer.unwrap_or_else(|| spsc::Producer::join(&ring).unwrap()),
                );
                for seq in 0..MESSAGES {
                    assert!(producer.try_send(&encode(0, seq, false)).unwrap());
                }
                producer // kept alive until the consumer is done
            }
        }));

        for seq in 0..MESSAGES {
            assert_eq!(spsc_receive(&mut consumer, seq).unwrap(), (0, seq));
        }
        drop(sender.into_inner().join().unwrap());
    });
}

/// The producer sleeps in `send(None)` / `reserve(None)` + `commit` on a full
/// two-slot ring until the consumer releases a slot; the consumer sleeps in
/// `read(None)` / `recv(.., None)` while the ring is empty. Three messages, so
/// the third waits for the first release. Every message arrives, in order.
#[test]
fn spsc_producer_sleeps_while_the_ring_is_full() {
    spsc_both_sleep();
}

/// `spsc_producer_sleeps_while_the_ring_is_full` with the fence of
/// `Waker::notify_slow` left out, for the consumer's releases as well as the
/// producer's publishes.
#[test]
#[cfg_attr(
    not(shmlane_weaken_wake),
    ignore = "checks that the models fail; needs --cfg shmlane_weaken_wake"
)]
#[cfg_attr(shmlane_weaken_wake, should_panic(expected = "deadlock"))]
fn weakened_wake_is_caught_by_the_spsc_full_ring_model() {
    spsc_both_sleep();
}

fn spsc_both_sleep() {
    loom::model(|| {
        let ring = LeakOnPanic::new(Ring::spsc_on_heap(2, spsc_slot_size(false), false).unwrap());
        let mut producer = LeakOnPanic::new(spsc::Producer::join(&ring).unwrap());
        producer.set_wait_strategy(WaitStrategy::sleeping());
        let mut consumer = LeakOnPanic::new(spsc::Consumer::join(&ring).unwrap());
        consumer.set_wait_strategy(WaitStrategy::sleeping());

        let reader = LeakOnPanic::new(loom::thread::spawn(move || {
            for seq in 0..MESSAGES {
                assert_eq!(spsc_receive(&mut consumer, seq).unwrap(), (0, seq));
            }
            consumer // kept alive until the producer is done
        }));

        for seq in 0..MESSAGES {
            spsc_send(&mut producer, seq).unwrap();
        }
        drop(reader.into_inner().join().unwrap());
    });
}

#[test]
fn mpmc_sleeping_consumers_each_receive_once() {
    mpmc_consumers_sleep();
}

/// `mpmc_sleeping_consumers_each_receive_once` with the fence of
/// `Waker::notify_slow` left out.
#[test]
#[cfg_attr(
    not(shmlane_weaken_wake),
    ignore = "checks that the models fail; needs --cfg shmlane_weaken_wake"
)]
#[cfg_attr(shmlane_weaken_wake, should_panic(expected = "deadlock"))]
fn weakened_wake_is_caught_by_the_mpmc_model() {
    mpmc_consumers_sleep();
}

/// Two consumers asleep at once, one in `read(None)` and one in
/// `recv(.., None)`, each for one message, on a ring no producer has joined
/// yet; then the producer joins (arming itself at join time) and sends two
/// messages. Each message reaches exactly one consumer: a wake-up wakes both,
/// and the one that finds the message taken sleeps again until the next.
///
/// The producer joins only once both consumers have started their reads (a
/// counter each bumps just before; the producer yields until it reads 2).
/// Without that, loom stops with "Model exceeded maximum number of branches":
/// two consumers napping while their registrations are unacknowledged (each
/// nap is a yield) may take turns forever while the producer, which would
/// acknowledge them at its next publish, is never scheduled (loom's scheduler
/// is not fair after a yield, tokio-rs/loom#53; `common::ATTEMPTS`). With the
/// counter, reaching that state takes three preemptions (each consumer between
/// its bump and its registration, and the producer between its join and its
/// first publish), one more than `LOOM_MAX_PREEMPTIONS=2` allows.
fn mpmc_consumers_sleep() {
    loom::model(|| {
        let ring =
            LeakOnPanic::new(Ring::mpmc_on_heap(2, mpmc_slot_size(false), 3, false).unwrap());
        let reading = LeakOnPanic::new(loom::sync::Arc::new(AtomicUsize::new(0)));
        let reader = |by_recv: bool| {
            let mut consumer = LeakOnPanic::new(mpmc::Consumer::join(&ring).unwrap());
            consumer.set_wait_strategy(WaitStrategy::sleeping());
            let reading = LeakOnPanic::new(reading.clone());
            LeakOnPanic::new(loom::thread::spawn(move || {
                reading.fetch_add(1, Ordering::Release);
                let received = mpmc_receive(&mut consumer, by_recv).unwrap();
                (received, consumer) // kept alive until both are done
            }))
        };
        let readers = [reader(false), reader(true)];

        while reading.load(Ordering::Acquire) < 2 {
            loom::thread::yield_now();
        }
        let mut producer = LeakOnPanic::new(mpmc::Producer::join(&ring).unwrap());
        for seq in 0..2 {
            assert!(producer.try_send(&encode(0, seq, false)).unwrap());
        }

        let (received, consumers): (Vec<_>, Vec<_>) = readers
            .map(|reader| reader.into_inner().join().unwrap())
            .into_iter()
            .map(|(received, consumer)| (vec![received], consumer))
            .unzip();
        check_delivery(&received, &[2]);
        drop((consumers, producer));
    });
}

/// The consumer sleeps in `read(None)` on an empty ring; the producer joins,
/// sends one message and leaves. The consumer gets the message, then
/// `Disconnected` from its next blocking read (woken by the producer's
/// `wake_on_leave`, or finding the producer gone before it sleeps), and again
/// from the one after.
#[test]
fn spsc_leaving_producer_wakes_the_sleeping_consumer() {
    loom::model(|| {
        let ring = LeakOnPanic::new(Ring::spsc_on_heap(2, spsc_slot_size(false), false).unwrap());
        let mut consumer = LeakOnPanic::new(spsc::Consumer::join(&ring).unwrap());
        consumer.set_wait_strategy(WaitStrategy::sleeping());

        let sender = LeakOnPanic::new(loom::thread::spawn({
            let ring = LeakOnPanic::new(ring.clone());
            move || {
                let mut producer = LeakOnPanic::new(spsc::Producer::join(&ring).unwrap());
                assert!(producer.try_send(&encode(0, 0, false)).unwrap());
                // The producer leaves here.
            }
        }));

        assert_eq!(spsc_receive(&mut consumer, 0).unwrap(), (0, 0));
        assert!(matches!(consumer.read(None), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        assert!(matches!(
            consumer.recv(&mut [0u8; PAYLOAD], None), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        sender.into_inner().join().unwrap();
    });
}

/// The mirror image: the producer fills the two-slot ring and sleeps in
/// `send(None)`; the consumer joins, reads one message and leaves. The
/// producer sends exactly one more message (into the released slot), then
/// gets `Disconnected` from its next blocking send, and again after that.
#[test]
fn spsc_leaving_consumer_wakes_the_sleeping_producer() {
    loom::model(|| {
        let ring = LeakOnPanic::new(Ring::spsc_on_heap(2, spsc_slot_size(false), false).unwrap());
        let mut producer = LeakOnPanic::new(spsc::Producer::join(&ring).unwrap());
        producer.set_wait_strategy(WaitStrategy::sleeping());

        let reader = LeakOnPanic::new(loom::thread::spawn({
            let ring = LeakOnPanic::new(ring.clone());
            move || {
                let mut consumer = LeakOnPanic::new(spsc::Consumer::join(&ring).unwrap());
                consumer.set_wait_strategy(WaitStrategy::sleeping());
                assert_eq!(spsc_receive(&mut consumer, 0).unwrap(), (0, 0));
                // The consumer leaves here.
            }
        }));

        for seq in 0..MESSAGES {
            spsc_send(&mut producer, seq).unwrap();
        }
        assert!(matches!(
            spsc_send(&mut producer, MESSAGES), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        assert!(matches!(
            spsc_send(&mut producer, MESSAGES + 1), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        reader.into_inner().join().unwrap();
    });
}

/// As `spsc_leaving_producer_wakes_the_sleeping_consumer`, on an MPMC ring
/// with one producer and one consumer.
#[test]
fn mpmc_leaving_producer_wakes_the_sleeping_consumer() {
    loom::model(|| {
        let ring =
            LeakOnPanic::new(Ring::mpmc_on_heap(2, mpmc_slot_size(false), 2, false).unwrap());
        let mut consumer = LeakOnPanic::new(mpmc::Consumer::join(&ring).unwrap());
        consumer.set_wait_strategy(WaitStrategy::sleeping());

        let sender = LeakOnPanic::new(loom::thread::spawn({
            let ring = LeakOnPanic::new(ring.clone());
            move || {
                let mut producer = LeakOnPanic::new(mpmc::Producer::join(&ring).unwrap());
                assert!(producer.try_send(&encode(0, 0, false)).unwrap());
                // The producer leaves here.
            }
        }));

        assert_eq!(mpmc_receive(&mut consumer, false).unwrap(), (0, 0));
        assert!(matches!(consumer.read(None), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        assert!(matches!(
            consumer.recv(&mut [0u8; PAYLOAD], None), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        sender.into_inner().join().unwrap();
    });
}

/// Receives message `seq` blocking, alternating `read` and `recv`.
fn spsc_receive(consumer: &mut spsc::Consumer, seq: u8) -> Result<(u8, u8), Error> {
    if seq % 2 == 0 {
        consumer
            .read(None)
            .map(|message| decode(&message.expect("no timeout"), false))
    } else {
        let mut buffer = [0u8; PAYLOAD];
        let len = consumer.recv(&mut buffer, None)?.expect("no timeout");
        Ok(decode(&buffer[..len], false))
    }
}

/// Sends message `seq` blocking, alternating `send` and `reserve` + `commit`.
fn spsc_send(producer: &mut spsc::Producer, seq: u8) -> Result<(), Error> {
    let message = encode(0, seq, false);
    if seq % 2 == 0 {
        assert!(producer.send(&message, None)?, "no timeout");
        Ok(())
    } else {
        let mut slot = producer.reserve(None)?.expect("no timeout");
        slot[..message.len()].copy_from_slice(&message);
        slot.commit(message.len())
    }
}

/// Receives one message from an MPMC ring blocking, by `read` or `recv`.
fn mpmc_receive(consumer: &mut mpmc::Consumer, by_recv: bool) -> Result<(u8, u8), Error> {
    if by_recv {
        let mut buffer = [0u8; PAYLOAD];
        let len = consumer.recv(&mut buffer, None)?.expect("no timeout");
        Ok(decode(&buffer[..len], false))
    } else {
        consumer
            .read(None)
            .map(|message| decode(&message.expect("no timeout"), false))
    }
}

/// Holds a ring, a handle or a join handle, and leaks it when dropped during a
/// panic. After loom reports a deadlock no thread is active, so the `Drop` of
/// a handle (atomic operations: it leaves the ring) or of a ring would panic
/// again while unwinding, and a panic during a panic aborts the test binary:
/// a `should_panic` model could not catch the deadlock, and a failing model
/// would take the others' results with it.
struct LeakOnPanic<T>(ManuallyDrop<T>);

impl<T> LeakOnPanic<T> {
    fn new(value: T) -> LeakOnPanic<T> {
        LeakOnPanic(ManuallyDrop::new(value))
    }

    fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is neither used nor dropped after the value is taken.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl<T> Drop for LeakOnPanic<T> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.0) }
        }
    }
}

impl<T> Deref for LeakOnPanic<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for LeakOnPanic<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// An MPMC consumer asleep while its producers are gone learns of it even
/// when its scan ran while another consumer was half-way out (its record
/// closed, its lock not yet released: a "transition", counted as a possible
/// newcomer): the leaver wakes the sleepers of its own role's line too, or
/// this sleeper would wait for its whole peer-check interval (in the model,
/// forever: a deadlock).
#[test]
fn mpmc_consumer_leaving_wakes_a_consumer_asleep_over_a_finished_stream() {
    loom::model(|| {
        let ring =
            LeakOnPanic::new(Ring::mpmc_on_heap(2, mpmc_slot_size(false), 3, false).unwrap());
        // A producer came and went: the stream is over, nothing in it.
        drop(mpmc::Producer::join(&ring).unwrap());
        let mut sleeper = LeakOnPanic::new(mpmc::Consumer::join(&ring).unwrap());
        sleeper.set_wait_strategy(WaitStrategy::sleeping());
        let leaver = LeakOnPanic::new(mpmc::Consumer::join(&ring).unwrap());

        let leaving = LeakOnPanic::new(loom::thread::spawn(move || {
            drop(leaver.into_inner());
        }));

        assert!(matches!(sleeper.read(None), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        leaving.into_inner().join().unwrap();
    });
}
