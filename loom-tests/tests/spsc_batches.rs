//! SPSC batches: several slots reserved and published with one store of `tail`,
//! several messages borrowed and released with one store of `head`, across the
//! wrap. How many slots each batch gets depends on the interleaving, so loom
//! also explores batches that end at the ring's end and batches that wrap.
#![cfg(loom)]

mod common;

use common::{decode, encode, spsc_slot_size, JUNK};
use shmlane::{spsc, Ring};

#[test]
fn spsc_batches_cross_the_wrap_in_order() {
    spsc_batches(false);
}

#[test]
fn spsc_fixed_size_batches_cross_the_wrap_in_order() {
    spsc_batches(true);
}

#[test]
fn spsc_commit_first_publishes_only_the_prefix() {
    spsc_commit_first(false);
}

#[test]
fn spsc_fixed_size_commit_first_publishes_only_the_prefix() {
    spsc_commit_first(true);
}

/// Five messages through a ring of four in batches of up to three.
fn spsc_batches(fixed_size: bool) {
    const MESSAGES: u8 = 5;
    const MAX_BATCH: u8 = 3;
    loom::model(move || {
        let ring = Ring::spsc_on_heap(4, spsc_slot_size(fixed_size), fixed_size).unwrap();
        let mut producer = spsc::Producer::join(&ring).unwrap();
        let mut consumer = spsc::Consumer::join(&ring).unwrap();

        let sender = loom::thread::spawn(move || {
            let mut next = 0u8;
            while next < MESSAGES {
                let wanted = (MESSAGES - next).min(MAX_BATCH);
                match producer.try_reserve_batch(usize::from(wanted)) {
                    Ok(ref batch) if batch.is_empty() => loom::thread::yield_now(),
                    Ok(mut batch) => {
                        assert!(!batch.is_empty() && batch.len() <= usize::from(wanted));
                        for index in 0..batch.len() {
                            let message = encode(0, next + index as u8, fixed_size);
                            // Both ways of filling a slot: in place, or `write`.
                            if index % 2 == 0 {
                                batch.slot_mut(index)[..message.len()].copy_from_slice(&message);
                                batch.set_len(index, message.len()).unwrap();
                            } else {
                                batch.write(index, &message).unwrap();
                            }
                        }
                        next += batch.len() as u8;
                        batch.commit();
                    }
                    Err(error) => panic!("unexpected error: {error}"),
                }
            }
        });

        let mut expected = 0u8;
        while expected < MESSAGES {
            match consumer.try_read_batch(usize::from(MAX_BATCH)) {
                Ok(ref batch) if batch.is_empty() => loom::thread::yield_now(),
                Ok(batch) => {
                    assert!(!batch.is_empty() && batch.len() <= usize::from(MAX_BATCH));
                    for message in batch.iter() {
                        assert_eq!(decode(message, fixed_size), (0, expected));
                        expected += 1;
                    }
                }
                Err(error) => panic!("unexpected error: {error}"),
            }
        }
        sender.join().unwrap();
    });
}

/// Three messages through a ring of two: each is the first slot of a batch of
/// up to two whose second slot holds junk, and `commit_first(1)` publishes the
/// message alone. The junk slot is the next batch's first, so a consumer that
/// saw it published would fail `decode`.
fn spsc_commit_first(fixed_size: bool) {
    const MESSAGES: u8 = 3;
    loom::model(move || {
        let ring = Ring::spsc_on_heap(2, spsc_slot_size(fixed_size), fixed_size).unwrap();
        let mut producer = spsc::Producer::join(&ring).unwrap();
        let mut consumer = spsc::Consumer::join(&ring).unwrap();

        let sender = loom::thread::spawn(move || {
            let mut next = 0u8;
            while next < MESSAGES {
                match producer.try_reserve_batch(2) {
                    Ok(ref batch) if batch.is_empty() => loom::thread::yield_now(),
                    Ok(mut batch) => {
                        batch.write(0, &encode(0, next, fixed_size)).unwrap();
                        if batch.len() == 2 {
                            batch.write(1, &JUNK).unwrap();
                        }
                        batch.commit_first(1);
                        next += 1;
                    }
                    Err(error) => panic!("unexpected error: {error}"),
                }
            }
        });

        let mut expected = 0u8;
        while expected < MESSAGES {
            match consumer.try_read_batch(2) {
                Ok(ref batch) if batch.is_empty() => loom::thread::yield_now(),
                Ok(batch) => {
                    for message in batch.iter() {
                        assert_eq!(decode(message, fixed_size), (0, expected));
                        expected += 1;
                    }
                }
                Err(error) => panic!("unexpected error: {error}"),
            }
        }
        sender.join().unwrap();
    });
}
