//! Aborted reservations. In SPSC a reservation dropped uncommitted (or a
//! commit refused for its length) publishes nothing, and the slot is the next
//! reservation's. In MPMC the claimed position cannot be given back, so it
//! travels to a consumer marked to be skipped; consumers must pass over it and
//! receive the next committed message, and never the junk in the slot.
#![cfg(loom)]

mod common;

use common::{
    attempt_a_few, check_delivery, decode, drain, encode, mpmc_slot_size, retry, spsc_slot_size,
    JUNK, PAYLOAD,
};
use shmlane::{mpmc, spsc, ErrorKind, Ring};

#[test]
fn spsc_dropped_reservation_publishes_nothing() {
    loom::model(|| {
        let ring = Ring::spsc_on_heap(2, spsc_slot_size(false), false).unwrap();
        let mut producer = spsc::Producer::join(&ring).unwrap();
        let mut consumer = spsc::Consumer::join(&ring).unwrap();

        let sender = loom::thread::spawn(move || {
            // A single reservation dropped, then message 0 in the same slot.
            retry(|| {
                producer.try_reserve().map(|slot| {
                    slot.map(|mut slot| {
                        slot.copy_from_slice(&JUNK);
                    })
                })
            });
            retry(|| producer.try_send(&encode(0, 0, false)));
            // A batch dropped, then a commit refused for its length.
            retry(|| {
                producer.try_reserve_batch(2).map(|mut batch| {
                    for index in 0..batch.len() {
                        batch.write(index, &JUNK).unwrap();
                    }
                    (!batch.is_empty()).then_some(())
                })
            });
            let refused = retry(|| {
                let Some(mut slot) = producer.try_reserve()? else {
                    return Ok(None);
                };
                slot.copy_from_slice(&JUNK);
                Ok(Some(slot.commit(PAYLOAD + 1)))
            });
            assert!(matches!(refused, Err(ref e) if e.kind() == ErrorKind::MessageTooLarge));
            // Message 1 after them; the producer then leaves.
            retry(|| producer.try_send(&encode(0, 1, false)));
        });

        let mut received = Vec::new();
        loop {
            match consumer.try_read() {
                Ok(Some(message)) => received.push(decode(&message, false)),
                Ok(None) => loom::thread::yield_now(),
                Err(e) if e.kind() == ErrorKind::Disconnected => break,
                Err(error) => panic!("unexpected error: {error}"),
            }
        }
        assert_eq!(received, [(0, 0), (0, 1)]);
        sender.join().unwrap();
    });
}

/// Producer 0 drops a reservation and then sends its message; producer 1
/// reserves a batch of up to two and commits only its first slot. Every
/// skip-marked position is passed over and every message sent arrives. Three
/// threads, so nobody waits without bound (see `common::ATTEMPTS`); the main
/// thread drains at the end, then checks, on its own, that a reservation
/// refused at commit is skipped as well.
#[test]
fn mpmc_dropped_reservation_is_skipped() {
    loom::model(|| {
        let ring = Ring::mpmc_on_heap(2, mpmc_slot_size(false), 3, false).unwrap();

        let mut first = mpmc::Producer::join(&ring).unwrap();
        let dropper = loom::thread::spawn(move || {
            let mut sent = 0;
            let dropped = attempt_a_few(&mut first, |producer| {
                producer
                    .try_reserve()
                    .map(|slot| slot.map(|mut slot| slot.copy_from_slice(&JUNK)))
            });
            if dropped.is_some()
                && attempt_a_few(&mut first, |producer| {
                    producer.try_send(&encode(0, 0, false))
                })
                .is_some()
            {
                sent = 1;
            }
            (sent, first)
        });

        let mut second = mpmc::Producer::join(&ring).unwrap();
        let batcher = loom::thread::spawn(move || {
            let committed = attempt_a_few(&mut second, |producer| {
                let mut batch = producer.try_reserve_batch(2)?;
                if batch.is_empty() {
                    return Ok(None);
                }
                batch.write(0, &encode(1, 0, false))?;
                if batch.len() == 2 {
                    batch.write(1, &JUNK)?;
                }
                batch.commit_first(1);
                Ok(Some(()))
            });
            (u8::from(committed.is_some()), second)
        });

        let mut consumer = mpmc::Consumer::join(&ring).unwrap();
        let mut received = Vec::new();
        while received.len() < 2 {
            match attempt_a_few(&mut consumer, |consumer| {
                consumer
                    .try_read()
                    .map(|message| message.map(|message| decode(&message, false)))
            }) {
                Some(message) => received.push(message),
                None => break,
            }
        }
        let (sent_first, mut first) = dropper.join().unwrap();
        let (sent_second, second) = batcher.join().unwrap();
        received.extend(drain(&mut consumer, false));
        check_delivery(&[received], &[sent_first, sent_second]);

        // With the ring drained, a reservation refused at commit is skipped too.
        let refused = {
            let mut slot = first.try_reserve().unwrap().unwrap();
            slot.copy_from_slice(&JUNK);
            slot.commit(PAYLOAD + 1)
        };
        assert!(matches!(refused, Err(ref e) if e.kind() == ErrorKind::MessageTooLarge));
        assert!(matches!(consumer.try_read(), Ok(None)));
        drop((first, second));
    });
}
