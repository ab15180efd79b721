//! MPMC crash recovery (`ring/src/recovery.rs`,
//! `docs/layout.md#mpmc-crash-recovery`): a handle that finds a position stalled on the other role
//! moves it on only when no live owner of that role announces a claim covering
//! it. The models run the production code on `Ring::mpmc_on_heap_with_recovery`,
//! in which a handle looks for the owner of a stalled position whenever it sees
//! one (the model platform has no clock, so no grace period), and a handle's
//! death is `Producer::die` / `Consumer::die`: its record's lock is released in
//! the model's lock table as the kernel would, and it leaves everything else as
//! it was.
//!
//! - A slow but live owner is never cleaned after: a producer between its
//!   reservation and its commit, a consumer holding a message, however often
//!   the other role polls meanwhile. Its message is delivered exactly once and
//!   both recovery counters stay 0; loom's tracking of the slot bodies would
//!   also report a producer writing into a slot its consumer still reads.
//! - A dead owner is cleaned after: the claim of a producer that died before
//!   committing is skipped (`dropped_claims` 1) and the message after it is
//!   delivered; the slot of a consumer that died holding a message is freed
//!   for the next lap (`lost_messages` 1). A producer that died after its
//!   commit loses nothing.
//! - Two cleaners racing on one dead owner's slot: exactly one moves it on
//!   (the counter is exactly 1), and the message after it arrives exactly once.
//!
//! Where the owner dies matters. The public API lets a model kill an owner
//! only between calls: before it claims anything (its intent was emptied when
//! it joined, so there is nothing to see), holding a claim (a `WriteSlot`,
//! `WriteBatch` or `ReadBatch` forgotten, then `die`), or after it published or
//! released (its intent still covers the position, which is no longer
//! stalled). A death inside `try_reserve` or `try_read` — after announcing,
//! before or just after the exchange of `tail`/`head` — has no hook: `die`
//! takes the handle, and the call either returns a claim or empties the
//! intent before it returns. Nor can a consumer die holding a slot marked to
//! be skipped (which `lost_messages` would not count): it releases one in the
//! call that claims it. The models come closest by letting the death happen
//! in a thread of its own, concurrently with the claims and polls of the
//! others, so that loom places it at every point between them.
//!
//! Each model has at most three threads, so no thread waits for another
//! without bound (see `common::ATTEMPTS`): threads poll a few times, and the
//! main thread finishes the job once the others are joined, with the dead
//! owners dead by then. Every handle stays below 16 `Full`/`Empty` results,
//! past which its watch of its peers would read the clock.
//!
//! `weakened_recovery_*` are the live-owner models again, run with the
//! liveness test left out of `Cleaner::owner_alive`
//! (`--cfg shmlane_weaken_recovery`: every covering owner counts as dead);
//! they must then fail. They are ignored without the cfg.
#![cfg(loom)]

mod common;

use common::{check_delivery, decode, encode, mpmc_slot_size, retry, ATTEMPTS, JUNK};
use shmlane::{mpmc, ErrorKind, Ring};

/// Two slots, so that the slot a dead consumer held is the next lap's.
const CAPACITY: u64 = 2;

/// How often a thread of a two-thread model polls while the other holds a
/// slot: enough for a stalled position to be looked into more than once.
const POLLS: usize = 3;

/// How often a stalled position is polled, once the other threads are done,
/// before a model concludes that nothing more will come: the stall watch may
/// look into a position only at its second sighting.
const SIGHTINGS: usize = 2;

/// The message of every failed live-owner check, which
/// `weakened_recovery_is_caught_by_the_live_producer_model` expects (spelled
/// out there: an attribute cannot name a constant).
const LIVE_OWNER_ROBBED: &str = "recovery took a slot from its live owner";

/// A ring of [`CAPACITY`] slots of variable-length messages, with recovery.
fn ring(participants: u32) -> Ring {
    Ring::mpmc_on_heap_with_recovery(CAPACITY, mpmc_slot_size(false), participants, false).unwrap()
}

/// Tries to read `polls` times, yielding after each `Empty`; what arrived.
fn poll_reads(consumer: &mut mpmc::Consumer, polls: usize) -> Vec<(u8, u8)> {
    let mut received = Vec::new();
    for _ in 0..polls {
        match consumer.try_read() {
            Ok(Some(message)) => received.push(decode(&message, false)),
            Ok(None) => loom::thread::yield_now(),
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    received
}

/// Tries to send `message` up to `polls` times, yielding after each `Full`;
/// whether it was sent.
fn poll_send(producer: &mut mpmc::Producer, message: &[u8], polls: usize) -> bool {
    for _ in 0..polls {
        match producer.try_send(message) {
            Ok(true) => return true,
            Ok(false) => loom::thread::yield_now(),
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    false
}

/// As [`poll_send`], by `try_reserve`, a copy into the slot, and `commit`.
fn poll_reserve(producer: &mut mpmc::Producer, message: &[u8], polls: usize) -> bool {
    for _ in 0..polls {
        match producer.try_reserve() {
            Ok(Some(mut slot)) => {
                slot[..message.len()].copy_from_slice(message);
                slot.commit(message.len()).unwrap();
                return true;
            }
            Ok(None) => loom::thread::yield_now(),
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    false
}

/// Once the other threads are done: reads until the ring answers `Empty`
/// [`SIGHTINGS`] times in a row, so that a stalled position whose owner is
/// dead by now is looked into and passed over.
fn drain_after_recovery(consumer: &mut mpmc::Consumer) -> Vec<(u8, u8)> {
    let mut received = Vec::new();
    let mut empty = 0;
    while empty < SIGHTINGS {
        match consumer.try_read() {
            Ok(Some(message)) => {
                received.push(decode(&message, false));
                empty = 0;
            }
            Ok(None) => empty += 1,
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
    received
}

/// The checks of a model whose owners all lived: recovery moved nothing on,
/// and every message sent arrived exactly once.
fn assert_live_owners_kept_their_slots(
    ring: &Ring,
    per_consumer: &[Vec<(u8, u8)>],
    messages_per_producer: &[u8],
) {
    assert_eq!(
        ring.recovery_counts(),
        (0, 0),
        "{LIVE_OWNER_ROBBED}; received {per_consumer:?}"
    );
    check_delivery(per_consumer, messages_per_producer);
}

// --- Live owners -----------------------------------------------------------

#[test]
fn live_producer_claim_is_never_skipped() {
    slow_producer(SlowReservation::Slot);
}

#[test]
fn live_producer_batch_is_never_skipped() {
    slow_producer(SlowReservation::Batch);
}

/// `live_producer_claim_is_never_skipped` with every covering owner taken
/// for dead: the consumer skips the slot of the producer still writing it.
#[test]
#[cfg_attr(
    not(shmlane_weaken_recovery),
    ignore = "checks that the models fail; needs --cfg shmlane_weaken_recovery"
)]
#[cfg_attr(
    shmlane_weaken_recovery,
    should_panic(expected = "recovery took a slot from its live owner")
)]
fn weakened_recovery_is_caught_by_the_live_producer_model() {
    slow_producer(SlowReservation::Slot);
}

/// What the slow producer of `slow_producer` holds while it dawdles.
#[derive(Clone, Copy)]
enum SlowReservation {
    /// One slot (`try_reserve`).
    Slot,
    /// A batch of up to two (`try_reserve_batch(2)`), committed whole: the
    /// consumer may find its first slot committed and its second not.
    Batch,
}

/// Producer 0 reserves, writes its messages, yields [`POLLS`] times and only
/// then commits; producer 1 sends one message, before or after the slow
/// reservation (after it, if the batch holds both slots, once the consumer
/// has read one). The consumer polls meanwhile, finding a position claimed
/// and not committed, possibly with a later message waiting behind it, and
/// looks into it at each poll. Nothing may be skipped: every message sent
/// arrives exactly once, and `dropped_claims` stays 0.
fn slow_producer(reservation: SlowReservation) {
    loom::model(move || {
        let ring = ring(3);
        let mut slow = mpmc::Producer::join(&ring).unwrap();
        let writer = loom::thread::spawn(move || {
            // Never full: the other producer's single message fits beside
            // a batch of one, and a batch of two claims first.
            let sent = match reservation {
                SlowReservation::Slot => {
                    let message = encode(0, 0, false);
                    let mut slot = slow.try_reserve().unwrap().unwrap();
                    slot[..message.len()].copy_from_slice(&message);
                    for _ in 0..POLLS {
                        loom::thread::yield_now();
                    }
                    slot.commit(message.len()).unwrap();
                    1
                }
                SlowReservation::Batch => {
                    let mut batch = slow.try_reserve_batch(2).unwrap();
                    for seq in 0..batch.len() {
                        batch.write(seq, &encode(0, seq as u8, false)).unwrap();
                    }
                    for _ in 0..POLLS {
                        loom::thread::yield_now();
                    }
                    let sent = batch.len() as u8;
                    batch.commit();
                    sent
                }
            };
            (sent, slow)
        });
        let mut other = mpmc::Producer::join(&ring).unwrap();
        let sender = loom::thread::spawn(move || {
            let sent = poll_send(&mut other, &encode(1, 0, false), ATTEMPTS);
            (sent, other)
        });

        let mut consumer = mpmc::Consumer::join(&ring).unwrap();
        let mut received = poll_reads(&mut consumer, POLLS);
        let (sent_by_slow, slow) = writer.join().unwrap();
        let (mut sent_by_other, mut other) = sender.join().unwrap();
        received.extend(drain_after_recovery(&mut consumer));
        if !sent_by_other {
            // The batch held the whole ring until the drain.
            assert!(poll_send(&mut other, &encode(1, 0, false), 1));
            sent_by_other = true;
            received.extend(drain_after_recovery(&mut consumer));
        }
        assert_live_owners_kept_their_slots(
            &ring,
            &[received],
            &[sent_by_slow, u8::from(sent_by_other)],
        );
        drop((slow, other, consumer));
    });
}

#[test]
fn live_consumer_slot_is_never_freed() {
    slow_consumer();
}

/// `live_consumer_slot_is_never_freed` with every covering owner taken for
/// dead: the producer frees the slot the consumer is still reading and writes
/// into it, which loom reports as an access to a slot body that overlaps or
/// races with the consumer's read.
#[test]
#[cfg_attr(
    not(shmlane_weaken_recovery),
    ignore = "checks that the models fail; needs --cfg shmlane_weaken_recovery"
)]
#[cfg_attr(
    shmlane_weaken_recovery,
    should_panic(expected = "currently reading from cell")
)]
fn weakened_recovery_is_caught_by_the_live_consumer_model() {
    slow_consumer();
}

/// The producer fills the two-slot ring and then polls to send message 2,
/// by `try_reserve` and `commit`; the consumer reads message 0 in place and
/// holds it while it yields [`POLLS`] times, then releases it. The producer
/// finds slot 0 committed one lap ago and claimed but not released, and looks
/// into it at each poll. The slot must not be freed under its reader (loom
/// tracks the reader's borrow of the slot body for the life of the
/// `ReadSlot`), every message sent arrives exactly once, and `lost_messages`
/// stays 0.
fn slow_consumer() {
    loom::model(|| {
        let ring = ring(2);
        let mut producer = mpmc::Producer::join(&ring).unwrap();
        let mut consumer = mpmc::Consumer::join(&ring).unwrap();

        let reader = loom::thread::spawn(move || {
            // Two threads: the producer is never stalled, so waiting is fine.
            let first = retry(|| {
                let Some(message) = consumer.try_read()? else {
                    return Ok(None);
                };
                for _ in 0..POLLS {
                    loom::thread::yield_now();
                }
                Ok(Some(decode(&message, false)))
            });
            (first, consumer)
        });
        assert!(producer.try_send(&encode(0, 0, false)).unwrap());
        assert!(producer.try_send(&encode(0, 1, false)).unwrap());
        let mut sent = 2;
        if poll_reserve(&mut producer, &encode(0, 2, false), POLLS) {
            sent += 1;
        }
        let (first, mut consumer) = reader.join().unwrap();
        if sent == 2 {
            // The consumer has released slot 0 by now.
            assert!(poll_reserve(&mut producer, &encode(0, 2, false), 1));
            sent += 1;
        }
        let mut received = vec![first];
        received.extend(drain_after_recovery(&mut consumer));
        assert_live_owners_kept_their_slots(&ring, &[received], &[sent]);
        drop((producer, consumer));
    });
}

// --- Dead producers --------------------------------------------------------

/// Where a producer dies in the dead-producer models.
#[derive(Clone, Copy)]
enum ProducerDeath {
    /// Before claiming anything: its intent, emptied when it joined, covers
    /// nothing.
    BeforeClaiming,
    /// After a reservation it wrote junk into and never committed
    /// (`try_reserve`, the `WriteSlot` forgotten).
    HoldingAClaim,
    /// After a batch reservation of up to two slots, none committed
    /// (`try_reserve_batch(2)`, the `WriteBatch` forgotten).
    HoldingABatch,
    /// After committing its message; its intent still covers the position.
    AfterCommitting,
}

#[test]
fn producer_dead_before_claiming_changes_nothing() {
    dead_producer(ProducerDeath::BeforeClaiming);
}

#[test]
fn dead_producer_claim_is_skipped() {
    dead_producer(ProducerDeath::HoldingAClaim);
}

#[test]
fn dead_producer_batch_claims_are_all_skipped() {
    dead_producer(ProducerDeath::HoldingABatch);
}

#[test]
fn producer_dead_after_committing_loses_nothing() {
    dead_producer(ProducerDeath::AfterCommitting);
}

/// Producer 0 claims and dies as `death` says, in a thread of its own;
/// producer 1 sends one message concurrently (before or after the dead claim;
/// after it when the dead producer holds both slots, once the consumer has
/// skipped one), and the consumer polls meanwhile. Once both are done, the
/// consumer must pass over every position the dead producer claimed and did
/// not commit, counting each in `dropped_claims`, and receive every message
/// sent exactly once — never the junk of the dead claim.
fn dead_producer(death: ProducerDeath) {
    loom::model(move || {
        let ring = ring(3);
        let mut dying = mpmc::Producer::join(&ring).unwrap();
        let killer = loom::thread::spawn(move || {
            // Never full: besides our claims the ring holds at most the other
            // producer's one message (a batch then gets the one slot left).
            let (dropped, sent) = match death {
                ProducerDeath::BeforeClaiming => (0, 0),
                ProducerDeath::HoldingAClaim => {
                    let mut slot = dying.try_reserve().unwrap().unwrap();
                    slot.copy_from_slice(&JUNK);
                    std::mem::forget(slot);
                    (1, 0)
                }
                ProducerDeath::HoldingABatch => {
                    let mut batch = dying.try_reserve_batch(2).unwrap();
                    for index in 0..batch.len() {
                        batch.write(index, &JUNK).unwrap();
                    }
                    let claimed = batch.len() as u64;
                    // No slot body stays borrowed: a batch borrows only
                    // inside `write` and `slot_mut`.
                    std::mem::forget(batch);
                    (claimed, 0)
                }
                ProducerDeath::AfterCommitting => {
                    assert!(dying.try_send(&encode(0, 0, false)).unwrap());
                    (0, 1)
                }
            };
            dying.die();
            (dropped, sent)
        });
        let mut other = mpmc::Producer::join(&ring).unwrap();
        let sender = loom::thread::spawn(move || {
            // Two tries: the dead producer may hold both slots.
            let sent = poll_send(&mut other, &encode(1, 0, false), ATTEMPTS);
            (sent, other)
        });

        let mut consumer = mpmc::Consumer::join(&ring).unwrap();
        let mut received = poll_reads(&mut consumer, ATTEMPTS);
        let (dropped, sent_by_dead) = killer.join().unwrap();
        let (mut sent_by_other, mut other) = sender.join().unwrap();
        received.extend(drain_after_recovery(&mut consumer));
        if !sent_by_other {
            // The dead batch held the whole ring; the drain passed over it.
            assert!(other.try_send(&encode(1, 0, false)).unwrap());
            sent_by_other = true;
            received.extend(drain_after_recovery(&mut consumer));
        }
        assert_eq!(
            ring.recovery_counts(),
            (dropped, 0),
            "each claim of the dead producer is dropped once, and nothing else"
        );
        check_delivery(&[received], &[sent_by_dead, u8::from(sent_by_other)]);
        drop((other, consumer));
    });
}

/// A producer dies holding a claim and the only other producer leaves after
/// sending one message, each in its thread, while the consumer polls. Every
/// producer is then gone, so the consumer looks into the dead claim at once
/// (`Consumer::empty_or_disconnected`): it must pass over it, receive the
/// message, and only then be told `Disconnected`, for good.
#[test]
fn dead_claim_is_skipped_once_every_producer_is_gone() {
    loom::model(|| {
        let ring = ring(3);
        let mut dying = mpmc::Producer::join(&ring).unwrap();
        let killer = loom::thread::spawn(move || {
            let mut slot = dying.try_reserve().unwrap().unwrap();
            slot.copy_from_slice(&JUNK);
            std::mem::forget(slot);
            dying.die();
        });
        let mut leaving = mpmc::Producer::join(&ring).unwrap();
        let sender = loom::thread::spawn(move || {
            assert!(leaving.try_send(&encode(1, 0, false)).unwrap());
            // Dropped here: the producer leaves.
        });

        let mut consumer = mpmc::Consumer::join(&ring).unwrap();
        let mut reads = ReadsUntilDisconnected::default();
        for _ in 0..ATTEMPTS {
            if !reads.read(&mut consumer) {
                break;
            }
            loom::thread::yield_now();
        }
        killer.join().unwrap();
        sender.join().unwrap();
        // A fresh look at the producers, as a caller waiting for the end makes.
        assert!(consumer.is_disconnected(), "every producer is gone");
        for _ in 0..SIGHTINGS + 1 {
            reads.read(&mut consumer);
        }
        let ReadsUntilDisconnected {
            received,
            disconnected,
        } = reads;
        assert!(disconnected, "still not Disconnected once drained");
        assert_eq!(
            ring.recovery_counts(),
            (1, 0),
            "the dead producer's claim is dropped once, and nothing else"
        );
        check_delivery(&[received], &[0, 1]);
    });
}

/// What a consumer received, and whether it has been told `Disconnected`.
#[derive(Default)]
struct ReadsUntilDisconnected {
    received: Vec<(u8, u8)>,
    disconnected: bool,
}

impl ReadsUntilDisconnected {
    /// One `try_read`; `false` once the ring is disconnected. A message after
    /// `Disconnected` fails the model.
    fn read(&mut self, consumer: &mut mpmc::Consumer) -> bool {
        match consumer.try_read() {
            Ok(Some(message)) => {
                assert!(!self.disconnected, "a message after Disconnected");
                self.received.push(decode(&message, false));
                true
            }
            Ok(None) => true,
            Err(e) if e.kind() == ErrorKind::Disconnected => {
                self.disconnected = true;
                false
            }
            Err(error) => panic!("unexpected error: {error}"),
        }
    }
}

// --- Dead consumers --------------------------------------------------------

/// Where a consumer dies in the dead-consumer model.
#[derive(Clone, Copy)]
enum ConsumerDeath {
    /// Holding the message it read (`try_read_batch(1)`, the batch forgotten).
    HoldingAMessage,
    /// After releasing the message it read; its intent still covers the position.
    AfterReleasing,
}

#[test]
fn dead_consumer_slot_is_freed() {
    dead_consumer(ConsumerDeath::HoldingAMessage);
}

#[test]
fn consumer_dead_after_releasing_loses_nothing() {
    dead_consumer(ConsumerDeath::AfterReleasing);
}

/// The producer fills the two-slot ring. A consumer reads message 0 and dies
/// as `death` says, in a thread of its own, while the producer polls to send
/// message 2 into slot 0. Once the consumer is dead the producer must get the
/// slot: freed by recovery (`lost_messages` 1) if the consumer died holding
/// it, released by the consumer itself otherwise (`lost_messages` 0). A second
/// consumer, idle until then, receives messages 1 and 2 exactly once.
///
/// The dying consumer holds its message as a batch of one, not as a
/// `ReadSlot`: loom tracks a `ReadSlot`'s borrow of the slot body until the
/// guard is dropped, so a forgotten one would stay borrowed for good and the
/// next lap's write would be reported as overlapping it; a dead process's
/// accesses end with it. A batch borrows the body only inside `get`.
fn dead_consumer(death: ConsumerDeath) {
    loom::model(move || {
        let ring = ring(3);
        let mut producer = mpmc::Producer::join(&ring).unwrap();
        assert!(producer.try_send(&encode(0, 0, false)).unwrap());
        assert!(producer.try_send(&encode(0, 1, false)).unwrap());
        // Joined now, so that the producer never sees the ring disconnected.
        let mut survivor = mpmc::Consumer::join(&ring).unwrap();

        let mut dying = mpmc::Consumer::join(&ring).unwrap();
        let killer = loom::thread::spawn(move || {
            let batch = dying.try_read_batch(1).unwrap();
            assert_eq!(batch.len(), 1);
            let first = decode(batch.get(0), false);
            match death {
                ConsumerDeath::HoldingAMessage => std::mem::forget(batch),
                ConsumerDeath::AfterReleasing => drop(batch),
            }
            dying.die();
            first
        });
        let mut sent = 2;
        if poll_send(&mut producer, &encode(0, 2, false), POLLS) {
            sent += 1;
        }
        let first = killer.join().unwrap();
        if sent == 2 {
            // The consumer is dead: slot 0 is the producer's, now.
            assert!(poll_send(&mut producer, &encode(0, 2, false), SIGHTINGS));
            sent += 1;
        }
        let lost = match death {
            ConsumerDeath::HoldingAMessage => 1,
            ConsumerDeath::AfterReleasing => 0,
        };
        assert_eq!(
            ring.recovery_counts(),
            (0, lost),
            "the message of a consumer that died holding it is lost once, and nothing else"
        );
        let rest = drain_after_recovery(&mut survivor);
        check_delivery(&[vec![first], rest], &[sent]);
        drop((producer, survivor));
    });
}

// --- Two cleaners ----------------------------------------------------------

/// A producer claims a slot, writes junk and dies, in its thread; another
/// sends one message (from the main thread, before it reads); two consumers
/// poll meanwhile. Both may find the dead claim stalled and race to mark it
/// skipped: exactly one exchange wins (`dropped_claims` is exactly 1), and
/// the message arrives exactly once.
#[test]
fn two_consumers_skip_a_dead_claim_once() {
    loom::model(|| {
        let ring = ring(4);
        let mut dying = mpmc::Producer::join(&ring).unwrap();
        let killer = loom::thread::spawn(move || {
            // Never full: two slots, one message beside the dead claim.
            let mut slot = dying.try_reserve().unwrap().unwrap();
            slot.copy_from_slice(&JUNK);
            std::mem::forget(slot);
            dying.die();
        });
        let mut second = mpmc::Consumer::join(&ring).unwrap();
        let reader = loom::thread::spawn(move || (poll_reads(&mut second, ATTEMPTS), second));
        let mut other = mpmc::Producer::join(&ring).unwrap();
        assert!(other.try_send(&encode(1, 0, false)).unwrap());
        let mut first = mpmc::Consumer::join(&ring).unwrap();
        let mut mine = poll_reads(&mut first, ATTEMPTS);

        killer.join().unwrap();
        let (theirs, second) = reader.join().unwrap();
        mine.extend(drain_after_recovery(&mut first));
        assert_eq!(
            ring.recovery_counts(),
            (1, 0),
            "exactly one consumer skips the dead claim"
        );
        check_delivery(&[mine, theirs], &[0, 1]);
        drop((other, first, second));
    });
}

/// The producer fills the two-slot ring; a consumer takes message 0 and
/// dies holding it (a batch of one: see `dead_consumer`), in its thread,
/// while two producers poll to send one more message each. Both may find slot
/// 0 stalled on the dead consumer and race to free it: exactly one exchange
/// wins (`lost_messages` is exactly 1), the freed slot takes exactly one
/// message, and a second consumer receives every message sent exactly once.
#[test]
fn two_producers_free_a_dead_consumers_slot_once() {
    loom::model(|| {
        let ring = ring(4);
        let mut first = mpmc::Producer::join(&ring).unwrap();
        assert!(first.try_send(&encode(0, 0, false)).unwrap());
        assert!(first.try_send(&encode(0, 1, false)).unwrap());
        let mut survivor = mpmc::Consumer::join(&ring).unwrap();
        let mut dying = mpmc::Consumer::join(&ring).unwrap();
        let killer = loom::thread::spawn(move || {
            let batch = dying.try_read_batch(1).unwrap();
            let taken = decode(batch.get(0), false);
            std::mem::forget(batch);
            dying.die();
            taken
        });
        let mut second = mpmc::Producer::join(&ring).unwrap();
        let sender = loom::thread::spawn(move || {
            let sent = poll_send(&mut second, &encode(1, 0, false), ATTEMPTS);
            (sent, second)
        });
        let mut sent_by_first = poll_send(&mut first, &encode(0, 2, false), ATTEMPTS);

        let taken = killer.join().unwrap();
        let (sent_by_second, second) = sender.join().unwrap();
        if !sent_by_first && !sent_by_second {
            // The consumer is dead: slot 0 is the producers', now.
            assert!(poll_send(&mut first, &encode(0, 2, false), SIGHTINGS));
            sent_by_first = true;
        }
        assert!(
            !(sent_by_first && sent_by_second),
            "one freed slot taken twice"
        );
        assert_eq!(
            ring.recovery_counts(),
            (0, 1),
            "exactly one producer frees the dead consumer's slot"
        );
        let rest = drain_after_recovery(&mut survivor);
        check_delivery(
            &[vec![taken], rest],
            &[2 + u8::from(sent_by_first), u8::from(sent_by_second)],
        );
        drop((first, second, survivor));
    });
}
