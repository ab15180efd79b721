//! MPMC delivery: two producers and one consumer, one producer and two
//! consumers, two and two, and batches, through a two-slot ring so that slots
//! are reused a lap later. Every message sent must reach exactly one consumer,
//! intact, and each producer's messages must keep their order at each
//! consumer; loom looks for races on the slot bodies between writers, readers
//! and the next lap's writer.
//!
//! These models have three or four threads, so no thread waits without bound
//! (see [`common::ATTEMPTS`]): a producer that finds the ring full a few times
//! stops sending, a consumer that finds it empty a few times stops reading, and
//! once all have finished the main thread drains what is left. Producers are
//! kept alive until then, so no consumer may see the ring disconnected.
#![cfg(loom)]

mod common;

use common::{attempt_a_few, check_delivery, decode, drain, encode, mpmc_slot_size, JUNK, PAYLOAD};
use shmlane::{mpmc, Ring};

const CAPACITY: u64 = 2;

#[test]
fn mpmc_two_producers_one_consumer_deliver_each_message_once() {
    mpmc_delivery(&[2, 2], 1, 4, false);
}

#[test]
fn mpmc_one_producer_two_consumers_deliver_each_message_once() {
    mpmc_delivery(&[3], 2, 3, true);
}

#[test]
fn mpmc_two_producers_two_consumers_deliver_each_message_once() {
    mpmc_delivery(&[2, 1], 2, 1, false);
}

#[test]
fn mpmc_batches_deliver_each_message_once() {
    mpmc_batches();
}

/// The two-producer, one-consumer model with the publishing store weakened to
/// Relaxed (`--cfg shmlane_weaken_commit`): loom must see the consumer read a
/// slot whose writes do not happen before its read. Run by the `weakened` step
/// of `scripts/test-all.sh`; without the cfg it is ignored (and passes if run).
#[test]
#[cfg_attr(
    not(shmlane_weaken_commit),
    ignore = "checks that the models fail; needs --cfg shmlane_weaken_commit"
)]
#[cfg_attr(shmlane_weaken_commit, should_panic(expected = "Causality violation"))]
fn weakened_commit_is_caught_by_the_mpmc_model() {
    mpmc_delivery(&[2, 2], 1, 4, false);
}

/// Producer `i` sends up to `messages_per_producer[i]` messages, in order,
/// alternating `try_send` with `try_reserve` + `commit`; `consumers` consumers
/// each read up to `reads` messages concurrently, alternating `try_read` with
/// `try_recv`. The main thread is the last consumer (loom allows four threads
/// in all) and drains the ring after joining the others.
fn mpmc_delivery(
    messages_per_producer: &'static [u8],
    consumers: usize,
    reads: usize,
    fixed_size: bool,
) {
    loom::model(move || {
        let participants = (messages_per_producer.len() + consumers) as u32;
        let ring = Ring::mpmc_on_heap(
            CAPACITY,
            mpmc_slot_size(fixed_size),
            participants,
            fixed_size,
        )
        .unwrap();

        let producers: Vec<_> = messages_per_producer
            .iter()
            .enumerate()
            .map(|(id, &count)| {
                let mut producer = mpmc::Producer::join(&ring).unwrap();
                loom::thread::spawn(move || {
                    let mut sent = 0;
                    for seq in 0..count {
                        let message = encode(id as u8, seq, fixed_size);
                        let published = if (usize::from(seq) + id) % 2 == 0 {
                            attempt_a_few(&mut producer, |producer| producer.try_send(&message))
                        } else {
                            attempt_a_few(&mut producer, |producer| {
                                let Some(mut slot) = producer.try_reserve()? else {
                                    return Ok(None);
                                };
                                slot[..message.len()].copy_from_slice(&message);
                                slot.commit(message.len()).map(Some)
                            })
                        };
                        if published.is_none() {
                            break;
                        }
                        sent += 1;
                    }
                    (sent, producer)
                })
            })
            .collect();

        let receive = move |consumer: &mut mpmc::Consumer| {
            let mut received = Vec::new();
            while received.len() < reads {
                // Both ways to read: in place, or a copy.
                let message = if received.len() % 2 == 0 {
                    attempt_a_few(consumer, |consumer| {
                        consumer
                            .try_read()
                            .map(|message| message.map(|m| m.to_vec()))
                    })
                } else {
                    attempt_a_few(consumer, |consumer| {
                        let mut buffer = [0u8; PAYLOAD];
                        let len = consumer.try_recv(&mut buffer)?;
                        Ok(len.map(|len| buffer[..len].to_vec()))
                    })
                };
                match message {
                    Some(message) => received.push(decode(&message, fixed_size)),
                    None => break,
                }
            }
            received
        };
        let others: Vec<_> = (1..consumers)
            .map(|_| {
                let mut consumer = mpmc::Consumer::join(&ring).unwrap();
                // The handle is returned, not dropped: producers must not see
                // the ring disconnected while the model runs.
                loom::thread::spawn(move || (receive(&mut consumer), consumer))
            })
            .collect();
        let mut consumer = mpmc::Consumer::join(&ring).unwrap();
        let mut mine = receive(&mut consumer);

        let (mut per_consumer, consumers): (Vec<_>, Vec<_>) = others
            .into_iter()
            .map(|other| other.join().unwrap())
            .unzip();
        let (sent, producers): (Vec<u8>, Vec<mpmc::Producer>) = producers
            .into_iter()
            .map(|producer| producer.join().unwrap())
            .unzip();
        mine.extend(drain(&mut consumer, fixed_size));
        per_consumer.push(mine);
        check_delivery(&per_consumer, &sent);
        drop((producers, consumers));
    });
}

/// Batches on both sides, with the skip marks of a partly committed batch: two
/// producers each reserve a batch of up to two slots, fill the first with
/// their message and the second (if they got one) with junk, and
/// `commit_first(1)`: the junk slot is handed on marked to be skipped. The
/// consumer reads with `try_read_batch(2)` and must get every message sent and
/// never the junk.
fn mpmc_batches() {
    const PRODUCERS: u8 = 2;
    loom::model(|| {
        let ring = Ring::mpmc_on_heap(CAPACITY, mpmc_slot_size(false), 3, false).unwrap();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|id| {
                let mut producer = mpmc::Producer::join(&ring).unwrap();
                loom::thread::spawn(move || {
                    let published = attempt_a_few(&mut producer, |producer| {
                        let mut batch = producer.try_reserve_batch(2)?;
                        if batch.is_empty() {
                            return Ok(None);
                        }
                        assert!(batch.len() <= 2);
                        batch.write(0, &encode(id, 0, false))?;
                        if batch.len() == 2 {
                            batch.write(1, &JUNK)?;
                        }
                        batch.commit_first(1);
                        Ok(Some(()))
                    });
                    (u8::from(published.is_some()), producer)
                })
            })
            .collect();

        let mut consumer = mpmc::Consumer::join(&ring).unwrap();
        let mut received = Vec::new();
        while received.len() < usize::from(PRODUCERS) {
            let batch = attempt_a_few(&mut consumer, |consumer| {
                let batch = consumer.try_read_batch(2)?;
                if batch.is_empty() {
                    return Ok(None);
                }
                assert!(batch.len() <= 2);
                Ok(Some(
                    batch
                        .iter()
                        .map(|message| decode(message, false))
                        .collect::<Vec<_>>(),
                ))
            });
            match batch {
                Some(batch) => received.extend(batch),
                None => break,
            }
        }
        let (sent, producers): (Vec<u8>, Vec<mpmc::Producer>) = producers
            .into_iter()
            .map(|producer| producer.join().unwrap())
            .unzip();
        received.extend(drain(&mut consumer, false));
        check_delivery(&[received], &sent);
        drop(producers);
    });
}
