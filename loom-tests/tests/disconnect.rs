//! Close and disconnect. A consumer whose producers have all left drains every
//! message they published and only then gets `Disconnected`, and keeps getting
//! it; a producer whose consumer has left fills the ring and then gets
//! `Disconnected`. The leaver's last position or stamp stores must be visible
//! to the peer that sees it gone (the Release of `Membership::leave` paired
//! with the Acquire of the owner word).
//!
//! An MPMC handle learns that its peers are gone from a scan of the
//! participant records, which it repeats only when a peer joins or after 16
//! polls and 1 ms of wall-clock time; a model must not depend on the clock, so
//! the MPMC models ask `is_disconnected` (a fresh scan) when they find the ring
//! full or empty, as a caller waiting for the end would.
#![cfg(loom)]

mod common;

use common::{check_delivery, decode, encode, mpmc_slot_size, retry, spsc_slot_size, ATTEMPTS};
use shmlane::{mpmc, spsc, ErrorKind, Ring};

const CAPACITY: u64 = 2;

#[test]
fn spsc_consumer_drains_then_sees_disconnected() {
    loom::model(|| {
        let ring = Ring::spsc_on_heap(CAPACITY, spsc_slot_size(false), false).unwrap();
        let mut producer = spsc::Producer::join(&ring).unwrap();
        let mut consumer = spsc::Consumer::join(&ring).unwrap();

        let sender = loom::thread::spawn(move || {
            for seq in 0..3 {
                retry(|| producer.try_send(&encode(0, seq, false)));
            }
            // The producer leaves here, with up to two messages unread.
        });

        let mut received = Vec::new();
        loop {
            match consumer
                .try_read()
                .map(|message| message.map(|message| decode(&message, false)))
            {
                Ok(Some(message)) => received.push(message),
                Ok(None) => loom::thread::yield_now(),
                Err(e) if e.kind() == ErrorKind::Disconnected => break,
                Err(error) => panic!("unexpected error: {error}"),
            }
        }
        assert_eq!(received, [(0, 0), (0, 1), (0, 2)]);
        assert!(matches!(consumer.try_read(), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        sender.join().unwrap();
    });
}

#[test]
fn spsc_producer_sees_disconnected_once_full() {
    loom::model(|| {
        let ring = Ring::spsc_on_heap(CAPACITY, spsc_slot_size(false), false).unwrap();
        let mut producer = spsc::Producer::join(&ring).unwrap();
        let mut consumer = spsc::Consumer::join(&ring).unwrap();

        let reader = loom::thread::spawn(move || {
            let message = retry(|| {
                consumer
                    .try_read()
                    .map(|message| message.map(|m| m.to_vec()))
            });
            assert_eq!(decode(&message, false), (0, 0));
            // The consumer leaves here, having released one slot.
        });

        let mut sent = 0u8;
        loop {
            match producer.try_send(&encode(0, sent, false)) {
                Ok(true) => sent += 1,
                Ok(false) => loom::thread::yield_now(),
                Err(e) if e.kind() == ErrorKind::Disconnected => break,
                Err(error) => panic!("unexpected error: {error}"),
            }
        }
        // One message read and released, then the ring filled: no more, no less.
        assert_eq!(u64::from(sent), CAPACITY + 1);
        assert!(matches!(
            producer.try_send(&encode(0, sent, false)), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        reader.join().unwrap();
    });
}

/// One producer sends three messages through the two-slot ring and leaves.
/// Its consumer drains all three, then sees the ring disconnected.
#[test]
fn mpmc_consumer_drains_then_sees_disconnected() {
    loom::model(|| {
        let ring = Ring::mpmc_on_heap(CAPACITY, mpmc_slot_size(false), 2, false).unwrap();
        let mut producer = mpmc::Producer::join(&ring).unwrap();
        let mut consumer = mpmc::Consumer::join(&ring).unwrap();

        let sender = loom::thread::spawn(move || {
            for seq in 0..3 {
                loop {
                    match producer.try_send(&encode(0, seq, false)) {
                        Ok(true) => break,
                        Ok(false) => {
                            assert!(!producer.is_disconnected(), "the consumer is still there");
                            loom::thread::yield_now();
                        }
                        Err(error) => panic!("unexpected error: {error}"),
                    }
                }
            }
        });

        let mut received = Vec::new();
        loop {
            match consumer
                .try_read()
                .map(|message| message.map(|message| decode(&message, false)))
            {
                Ok(Some(message)) => received.push(message),
                Ok(None) => {
                    // A fresh look: once it says gone, the next read drains or
                    // reports `Disconnected`.
                    if !consumer.is_disconnected() {
                        loom::thread::yield_now();
                    }
                }
                Err(e) if e.kind() == ErrorKind::Disconnected => break,
                Err(error) => panic!("unexpected error: {error}"),
            }
        }
        assert_eq!(received, [(0, 0), (0, 1), (0, 2)]);
        assert!(matches!(consumer.try_read(), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        sender.join().unwrap();
    });
}

/// One producer, two consumers: the producer sends up to three messages and
/// leaves; each consumer reads until it is told `Disconnected` (trying a few
/// times only: three threads, see `common::ATTEMPTS`). Once a consumer has been
/// told `Disconnected`, it must never receive a message again; the main thread
/// then drains what is left, and every message sent arrives exactly once.
#[test]
fn mpmc_disconnected_is_final_for_each_consumer() {
    loom::model(|| {
        let ring = Ring::mpmc_on_heap(CAPACITY, mpmc_slot_size(false), 3, false).unwrap();
        let mut producer = mpmc::Producer::join(&ring).unwrap();
        let sender = loom::thread::spawn(move || {
            let mut sent = 0;
            'messages: for seq in 0..3 {
                for _ in 0..ATTEMPTS {
                    match producer.try_send(&encode(0, seq, false)) {
                        Ok(true) => {
                            sent += 1;
                            continue 'messages;
                        }
                        Ok(false) => loom::thread::yield_now(),
                        Err(error) => panic!("unexpected error: {error}"),
                    }
                }
                break;
            }
            sent
        });

        let read_until_disconnected = |consumer: &mut mpmc::Consumer| {
            let mut received = Vec::new();
            let mut disconnected = false;
            for _ in 0..ATTEMPTS + 1 {
                match consumer
                    .try_read()
                    .map(|message| message.map(|message| decode(&message, false)))
                {
                    Ok(Some(message)) => {
                        assert!(!disconnected, "a message after Disconnected");
                        received.push(message);
                    }
                    Ok(None) => {
                        if !consumer.is_disconnected() {
                            loom::thread::yield_now();
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Disconnected => disconnected = true,
                    Err(error) => panic!("unexpected error: {error}"),
                }
            }
            received
        };
        let mut other = mpmc::Consumer::join(&ring).unwrap();
        let reader = loom::thread::spawn(move || (read_until_disconnected(&mut other), other));
        let mut consumer = mpmc::Consumer::join(&ring).unwrap();
        let mut mine = read_until_disconnected(&mut consumer);

        let sent = sender.join().unwrap();
        let (theirs, other) = reader.join().unwrap();
        assert!(consumer.is_disconnected(), "the producer has left");
        loop {
            match consumer
                .try_read()
                .map(|message| message.map(|message| decode(&message, false)))
            {
                Ok(Some(message)) => mine.push(message),
                Ok(None) => panic!("empty, not disconnected, after the producer left"),
                Err(e) if e.kind() == ErrorKind::Disconnected => break,
                Err(error) => panic!("unexpected error while draining: {error}"),
            }
        }
        check_delivery(&[mine, theirs], &[sent]);
        drop(other);
    });
}

#[test]
fn mpmc_producer_sees_disconnected_once_full() {
    loom::model(|| {
        let ring = Ring::mpmc_on_heap(CAPACITY, mpmc_slot_size(false), 2, false).unwrap();
        let mut producer = mpmc::Producer::join(&ring).unwrap();
        let mut consumer = mpmc::Consumer::join(&ring).unwrap();

        let reader = loom::thread::spawn(move || {
            let message = retry(|| {
                consumer
                    .try_read()
                    .map(|message| message.map(|m| m.to_vec()))
            });
            assert_eq!(decode(&message, false), (0, 0));
        });

        let mut sent = 0u8;
        loop {
            match producer.try_send(&encode(0, sent, false)) {
                Ok(true) => sent += 1,
                Ok(false) => {
                    if !producer.is_disconnected() {
                        loom::thread::yield_now();
                    }
                }
                Err(e) if e.kind() == ErrorKind::Disconnected => break,
                Err(error) => panic!("unexpected error: {error}"),
            }
        }
        assert_eq!(u64::from(sent), CAPACITY + 1);
        assert!(matches!(
            producer.try_send(&encode(0, sent, false)), Err(ref e) if e.kind() == ErrorKind::Disconnected));
        reader.join().unwrap();
    });
}
