//! SPSC, one message at a time: three messages through a two-slot ring, so the
//! third reuses the first slot after the consumer released it. Checks order,
//! length and every payload byte, and lets loom look for races on the slot
//! bodies between the producer's writes and the consumer's reads.
//!
//! The producer alternates `try_send` with `try_reserve` + `commit`, the
//! consumer `try_read` with `try_recv`, so both paths to a slot are modelled.
#![cfg(loom)]

mod common;

use common::{decode, encode, retry, spsc_slot_size, PAYLOAD};
use shmlane::{spsc, Ring};

/// Messages sent: one more than the capacity, to cross the wrap.
const MESSAGES: u8 = 3;
const CAPACITY: u64 = 2;

#[test]
fn spsc_messages_cross_the_wrap_in_order() {
    spsc_send_receive(false);
}

#[test]
fn spsc_fixed_size_messages_cross_the_wrap_in_order() {
    spsc_send_receive(true);
}

/// The same model with the publishing store weakened to Relaxed
/// (`--cfg shmlane_weaken_commit`): loom must see the consumer read a slot the
/// producer's writes do not happen before. Run by the `weakened` step of
/// `scripts/test-all.sh`; without the cfg it is ignored (and passes if run).
#[test]
#[cfg_attr(
    not(shmlane_weaken_commit),
    ignore = "checks that the models fail; needs --cfg shmlane_weaken_commit"
)]
#[cfg_attr(shmlane_weaken_commit, should_panic(expected = "Causality violation"))]
fn weakened_commit_is_caught_by_the_spsc_model() {
    spsc_send_receive(false);
}

fn spsc_send_receive(fixed_size: bool) {
    loom::model(move || {
        let ring = Ring::spsc_on_heap(CAPACITY, spsc_slot_size(fixed_size), fixed_size).unwrap();
        let mut producer = spsc::Producer::join(&ring).unwrap();
        let mut consumer = spsc::Consumer::join(&ring).unwrap();

        let sender = loom::thread::spawn(move || {
            for seq in 0..MESSAGES {
                let message = encode(0, seq, fixed_size);
                if seq % 2 == 0 {
                    retry(|| producer.try_send(&message));
                } else {
                    retry(|| {
                        let Some(mut slot) = producer.try_reserve()? else {
                            return Ok(None);
                        };
                        slot[..message.len()].copy_from_slice(&message);
                        slot.commit(message.len()).map(Some)
                    });
                }
            }
        });

        for seq in 0..MESSAGES {
            let received = if seq % 2 == 0 {
                retry(|| {
                    consumer
                        .try_read()
                        .map(|message| message.map(|m| m.to_vec()))
                })
            } else {
                let mut buffer = [0u8; PAYLOAD];
                let len = retry(|| consumer.try_recv(&mut buffer));
                buffer[..len].to_vec()
            };
            assert_eq!(decode(&received, fixed_size), (0, seq));
        }
        sender.join().unwrap();
    });
}
