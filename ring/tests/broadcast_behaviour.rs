//! Broadcast behaviour within one process: every tethered subscriber sees
//! every message in order, backpressure from a slow one, leaving and joining
//! (from the newest or the oldest message), a producer with no tethered
//! subscriber, disconnection, the participant limits, and what handles of
//! other kinds do with a broadcast ring.

mod common;

use std::time::Duration;

use common::{unique_name, RemoveRing};
use shmlane::broadcast::{self, Received, Start, Untethered};
use shmlane::{
    spsc, AnyConsumer, AnyProducer, ErrorKind, Kind, Overflow, Remedy, Ring, RingOptions,
};

/// A ring and the guard that removes it.
fn new_ring(tag: &str, options: &RingOptions) -> (Ring, RemoveRing) {
    let name = unique_name(tag);
    let ring = Ring::create(&name, options).unwrap();
    (ring, RemoveRing(name))
}

/// The next message as a `u64` sequence number, `None` when empty.
fn try_read_seq(subscriber: &mut broadcast::Subscriber) -> Option<u64> {
    let message = subscriber.try_read().unwrap()?;
    Some(u64::from_le_bytes(message[..8].try_into().unwrap()))
}

/// A hang guard for blocking calls: peers act within milliseconds.
const PATIENCE: Option<Duration> = Some(Duration::from_secs(30));

#[test]
fn every_tethered_subscriber_sees_every_message_in_order() {
    const MESSAGES: u64 = 20_000;
    let (ring, _remove) = new_ring("bc-all", &RingOptions::broadcast(16, 64, 3));
    let mut subscribers: Vec<_> = (0..3)
        .map(|_| broadcast::Subscriber::join(&ring).unwrap())
        .collect();
    let readers: Vec<_> = subscribers
        .drain(..)
        .map(|mut subscriber| {
            std::thread::spawn(move || {
                let mut buffer = [0u8; 64];
                for expected in 0..MESSAGES {
                    let len = subscriber
                        .recv(&mut buffer, PATIENCE)
                        .unwrap()
                        .expect("the producer keeps sending");
                    assert_eq!(len, 8 + (expected % 40) as usize);
                    let seq = u64::from_le_bytes(buffer[..8].try_into().unwrap());
                    assert_eq!(seq, expected, "out of order or lost");
                    assert!(buffer[8..len].iter().all(|&byte| byte == seq as u8));
                }
                // Drained, and the producer has left: disconnected.
                let end = subscriber.recv(&mut buffer, PATIENCE).unwrap_err();
                assert_eq!(end.kind(), ErrorKind::Disconnected);
            })
        })
        .collect();
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut message = [0u8; 48];
    for seq in 0..MESSAGES {
        let len = 8 + (seq % 40) as usize;
        message[..8].copy_from_slice(&seq.to_le_bytes());
        message[8..len].fill(seq as u8);
        assert!(producer.send(&message[..len], PATIENCE).unwrap());
    }
    drop(producer);
    for reader in readers {
        reader.join().unwrap();
    }
}

#[test]
fn a_slow_tethered_subscriber_holds_the_producer_back() {
    let (ring, _remove) = new_ring("bc-full", &RingOptions::broadcast(4, 64, 2));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut slow = broadcast::Subscriber::join(&ring).unwrap();
    let mut fast = broadcast::Subscriber::join(&ring).unwrap();
    for seq in 0..4u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
    }
    for seq in 0..4 {
        assert_eq!(try_read_seq(&mut fast), Some(seq));
    }
    // The fast one has read everything; the slow one holds every slot.
    assert!(!producer.try_send(&4u64.to_le_bytes()).unwrap());
    assert!(producer
        .reserve(Some(Duration::from_millis(20)))
        .unwrap()
        .is_none());
    assert_eq!(try_read_seq(&mut slow), Some(0));
    assert!(producer.try_send(&4u64.to_le_bytes()).unwrap());
    assert!(!producer.try_send(&5u64.to_le_bytes()).unwrap());
    for seq in 1..5 {
        assert_eq!(try_read_seq(&mut slow), Some(seq));
    }
    assert_eq!(try_read_seq(&mut fast), Some(4));
    assert_eq!(try_read_seq(&mut slow), None);
}

#[test]
fn a_subscriber_leaving_frees_the_producer() {
    let (ring, _remove) = new_ring("bc-leave", &RingOptions::broadcast(4, 64, 2));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut staying = broadcast::Subscriber::join(&ring).unwrap();
    let leaving = broadcast::Subscriber::join(&ring).unwrap();
    for seq in 0..4u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
    }
    for seq in 0..4 {
        assert_eq!(try_read_seq(&mut staying), Some(seq));
    }
    assert!(!producer.try_send(b"held back").unwrap());
    drop(leaving);
    assert!(producer.try_send(&4u64.to_le_bytes()).unwrap());
    assert_eq!(try_read_seq(&mut staying), Some(4));
}

#[test]
fn a_producer_waiting_for_a_subscriber_wakes_when_it_leaves() {
    let (ring, _remove) = new_ring("bc-leave-wake", &RingOptions::broadcast(2, 64, 1));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    producer.set_wait_strategy(shmlane::WaitStrategy::sleeping());
    let subscriber = broadcast::Subscriber::join(&ring).unwrap();
    assert!(producer.try_send(b"one").unwrap());
    assert!(producer.try_send(b"two").unwrap());
    let leaver = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(subscriber);
    });
    assert!(producer.send(b"three", PATIENCE).unwrap());
    leaver.join().unwrap();
}

#[test]
fn without_a_tethered_subscriber_the_producer_never_waits() {
    let (ring, _remove) = new_ring("bc-alone", &RingOptions::broadcast(8, 64, 2));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    for seq in 0..100u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap(), "{seq}");
    }
    // Nobody ever joined, so nobody is gone either.
    assert!(!producer.is_disconnected());
    let subscriber = broadcast::Subscriber::join(&ring).unwrap();
    drop(subscriber);
    assert!(producer.is_disconnected());
    for seq in 100..200u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap(), "{seq}");
    }
}

#[test]
fn joining_starts_at_the_newest_message_or_the_oldest_when_asked() {
    let (ring, _remove) = new_ring("bc-start", &RingOptions::broadcast(8, 64, 3));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    for seq in 0..20u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
    }
    let mut newest = broadcast::Subscriber::join(&ring).unwrap();
    let mut oldest = broadcast::Subscriber::join_from(&ring, Start::Oldest).unwrap();
    assert_eq!(try_read_seq(&mut newest), None);
    let first = try_read_seq(&mut oldest).expect("history");
    assert!(
        (20 - 8..20).contains(&first),
        "{first} is not among the last 8"
    );
    for seq in first + 1..20 {
        assert_eq!(try_read_seq(&mut oldest), Some(seq));
    }
    assert!(producer.try_send(&20u64.to_le_bytes()).unwrap());
    assert_eq!(try_read_seq(&mut newest), Some(20));
    assert_eq!(try_read_seq(&mut oldest), Some(20));
    // A tethered subscriber joining from the oldest message holds what it
    // has not read: the producer fills the ring up to it, then waits.
    let mut late = broadcast::Subscriber::join_from(&ring, Start::Oldest).unwrap();
    assert_eq!(try_read_seq(&mut late), Some(first));
    let mut sent = 21u64;
    while producer.try_send(&sent.to_le_bytes()).unwrap() {
        sent += 1;
        assert!(
            sent < 100,
            "the late subscriber never held the producer back"
        );
    }
    assert_eq!(
        sent,
        first + 1 + 8,
        "the ring fills up to the late subscriber"
    );
}

#[test]
fn a_subscriber_joining_while_the_producer_runs_sees_a_gapless_run() {
    const MESSAGES: u64 = 50_000;
    let (ring, _remove) = new_ring("bc-join-race", &RingOptions::broadcast(8, 64, 4));
    let mut anchor = broadcast::Subscriber::join(&ring).unwrap();
    let writer = std::thread::spawn({
        let ring = ring.clone();
        move || {
            let mut producer = broadcast::Producer::join(&ring).unwrap();
            for seq in 0..MESSAGES {
                assert!(producer.send(&seq.to_le_bytes(), PATIENCE).unwrap());
            }
        }
    });
    let anchor_reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 8];
        for expected in 0..MESSAGES {
            anchor.recv(&mut buffer, PATIENCE).unwrap().unwrap();
            assert_eq!(u64::from_le_bytes(buffer), expected);
        }
    });
    let mut joins = 0;
    let mut buffer = [0u8; 8];
    'joining: for round in 0..200 {
        let start = if round % 2 == 0 {
            Start::Newest
        } else {
            Start::Oldest
        };
        let mut late = broadcast::Subscriber::join_from(&ring, start).unwrap();
        joins += 1;
        let mut previous = None;
        for _ in 0..50 {
            match late.recv(&mut buffer, PATIENCE) {
                Ok(Some(_)) => {}
                Err(error) if error.kind() == ErrorKind::Disconnected => break 'joining,
                other => panic!("{other:?}"),
            }
            let seq = u64::from_le_bytes(buffer);
            if let Some(previous) = previous {
                assert_eq!(seq, previous + 1, "a late subscriber skipped or repeated");
            }
            previous = Some(seq);
            if seq + 1 == MESSAGES {
                break 'joining;
            }
        }
    }
    assert!(joins > 0);
    writer.join().unwrap();
    anchor_reader.join().unwrap();
}

#[test]
fn one_producer_and_at_most_max_subscribers() {
    let (ring, _remove) = new_ring("bc-limits", &RingOptions::broadcast(8, 64, 2));
    let _producer = broadcast::Producer::join(&ring).unwrap();
    assert_eq!(
        broadcast::Producer::join(&ring).unwrap_err().kind(),
        ErrorKind::RoleTaken
    );
    let _first = broadcast::Subscriber::join(&ring).unwrap();
    let second = broadcast::Subscriber::join(&ring).unwrap();
    assert_eq!(
        broadcast::Subscriber::join(&ring).unwrap_err().kind(),
        ErrorKind::TooManyParticipants
    );
    drop(second);
    let _third = broadcast::Subscriber::join(&ring).unwrap();
}

#[test]
fn a_subscriber_drains_then_sees_disconnected_after_the_producer_leaves() {
    let (ring, _remove) = new_ring("bc-disc", &RingOptions::broadcast(8, 64, 1));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut subscriber = broadcast::Subscriber::join(&ring).unwrap();
    assert_eq!(try_read_seq(&mut subscriber), None); // not yet gone
    for seq in 0..3u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
    }
    drop(producer);
    for seq in 0..3 {
        assert_eq!(try_read_seq(&mut subscriber), Some(seq));
    }
    let end = subscriber.try_read().map(|message| message.is_some());
    assert_eq!(end.unwrap_err().kind(), ErrorKind::Disconnected);
    // A new producer continues where the last one stopped.
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    assert!(producer.try_send(&3u64.to_le_bytes()).unwrap());
    assert_eq!(try_read_seq(&mut subscriber), Some(3));
}

#[test]
fn handles_of_other_kinds_refuse_a_broadcast_ring_as_the_wrong_kind() {
    let (ring, remove) = new_ring("bc-any", &RingOptions::broadcast(8, 64, 2));
    let reopened = Ring::open(&remove.0).unwrap();
    assert_eq!(reopened.kind(), Kind::Broadcast);
    for error in [
        AnyProducer::join(&reopened).unwrap_err(),
        AnyConsumer::join(&reopened).unwrap_err(),
        spsc::Producer::join(&ring).unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::WrongKind);
        assert!(error.to_string().contains("broadcast"), "{error}");
    }
    let (spsc_ring, _remove) = new_ring("bc-spsc", &RingOptions::spsc(8, 64));
    let error = broadcast::Subscriber::join(&spsc_ring).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WrongKind);
}

#[test]
fn a_ring_that_overwrites_admits_only_untethered_subscribers() {
    let options = RingOptions::broadcast(4, 64, 2).overflow(Overflow::Overwrite);
    let (ring, remove) = new_ring("bc-overwrite", &options);
    assert_eq!(ring.geometry().overflow, Overflow::Overwrite);
    let reopened = Ring::open(&remove.0).unwrap();
    assert_eq!(reopened.geometry().overflow, Overflow::Overwrite);
    for refused in [
        broadcast::Subscriber::join(&reopened).unwrap_err(),
        broadcast::Subscriber::join_from(&ring, Start::Oldest).unwrap_err(),
    ] {
        assert_eq!(refused.kind(), ErrorKind::WrongKind);
        assert_eq!(refused.remedy(), Some(Remedy::JoinUntethered));
        assert!(
            refused.to_string().contains("Untethered::join"),
            "{refused}"
        );
    }
    // The refusals left no record held: both subscriber records are free.
    let mut first = Untethered::join(&ring, Start::Newest).unwrap();
    let _second = Untethered::join(&ring, Start::Newest).unwrap();
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut buffer = [0u8; 64];
    for seq in 0..100u64 {
        assert!(
            producer.try_send(&seq.to_le_bytes()).unwrap(),
            "never held back"
        );
    }
    assert_eq!(
        first.try_recv(&mut buffer).unwrap(),
        Some(Received::Lagged(97))
    );
    let info = shmlane::info(&remove.0).unwrap();
    assert_eq!(info.geometry.overflow, Overflow::Overwrite);
    let lost: Vec<u64> = info
        .participants
        .iter()
        .filter_map(|participant| participant.subscriber.map(|s| s.lost))
        .collect();
    assert_eq!(lost, [97, 0]);
    // Only broadcast rings can overwrite.
    let spsc_options = RingOptions::spsc(4, 64).overflow(Overflow::Overwrite);
    let error = Ring::create(&unique_name("bc-no-overwrite"), &spsc_options).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BadGeometry);
}

#[test]
fn a_read_in_place_is_kept_only_if_the_slot_was_not_overwritten() {
    let (ring, _remove) = new_ring("bc-peek", &RingOptions::broadcast(4, 64, 1));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    assert_eq!(lossy.try_read_with(|peek| peek.len()).unwrap(), None);
    let mut message = [0u8; 20];
    message[..8].copy_from_slice(&7u64.to_le_bytes());
    message[8..12].copy_from_slice(&0xfeed_u32.to_le_bytes());
    assert!(producer.try_send(&message).unwrap());
    // An intact read: the closure's result is kept, the message consumed.
    let field = lossy
        .try_read_with(|peek| {
            assert_eq!(peek.len(), 20);
            assert_eq!(peek.get(19), Some(0));
            assert_eq!(peek.get(20), None);
            assert_eq!(peek.array::<4>(17), None, "past the end");
            (
                peek.array::<8>(0).map(u64::from_le_bytes),
                peek.array::<4>(8).map(u32::from_le_bytes),
            )
        })
        .unwrap();
    assert_eq!(field, Some(Received::Message((Some(7), Some(0xfeed)))));
    assert_eq!(lossy.try_read_with(|peek| peek.len()).unwrap(), None);
    // Overwritten while the closure runs: its result is dropped, as a lag.
    assert!(producer.try_send(&8u64.to_le_bytes()).unwrap());
    let overwritten = lossy
        .try_read_with(|peek| {
            let before = peek.to_vec();
            for seq in 9..14u64 {
                assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
            }
            before
        })
        .unwrap();
    // Positions 1 and 2 are lost: the oldest intact one is 14 − 4 + 1 = 11,
    // in sequence numbers 10 (position 0 held 7).
    assert_eq!(overwritten, Some(Received::Lagged(3)));
    assert_eq!(lossy.lost(), 3);
    let mut buffer = [0u8; 64];
    assert_eq!(
        lossy.try_recv(&mut buffer).unwrap(),
        Some(Received::Message(8))
    );
    assert_eq!(buffer[..8], 11u64.to_le_bytes());
    // Partial copies.
    assert!(producer.try_send(b"0123456789abcdef-tail").unwrap());
    assert_eq!(lossy.skip_to_latest().unwrap(), 2, "12 and 13 skipped");
    assert_eq!(lossy.lost(), 3, "skipping is not losing");
    let pieces = lossy
        .try_read_with(|peek| {
            let mut middle = [0u8; 6];
            let copied = peek.copy_at(5, &mut middle);
            let mut tail = [0u8; 10];
            let tail_len = peek.copy_at(16, &mut tail);
            (
                copied,
                middle,
                tail_len,
                tail[..tail_len].to_vec(),
                peek.copy_at(99, &mut tail),
            )
        })
        .unwrap();
    assert_eq!(
        pieces,
        Some(Received::Message((6, *b"56789a", 5, b"-tail".to_vec(), 0)))
    );
}

#[test]
fn reads_in_place_racing_the_producer_never_keep_a_torn_message() {
    const MESSAGES: u64 = 200_000;
    let (ring, _remove) = new_ring("bc-peek-race", &RingOptions::broadcast(8, 128, 1));
    let max = ring.max_payload();
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    let writer = std::thread::spawn({
        let ring = ring.clone();
        move || {
            let mut producer = broadcast::Producer::join(&ring).unwrap();
            let mut message = vec![0u8; max];
            for seq in 0..MESSAGES {
                let len = common::tagged_len(0, seq, max);
                common::fill_tagged(0, seq, &mut message[..len]);
                assert!(producer.try_send(&message[..len]).unwrap());
            }
        }
    });
    let mut scratch = vec![0u8; max];
    let (mut next, mut read, mut lost, mut torn_seen) = (0u64, 0u64, 0u64, 0u64);
    loop {
        // The check runs inside the closure, on the bytes in place: a result
        // from a torn read must never be kept.
        let found = lossy.try_read_with(|peek| {
            let bytes = peek.to_vec();
            common::check_tagged(max, &bytes, &mut scratch).map(|(_, seq)| seq)
        });
        match found {
            Ok(Some(Received::Message(checked))) => {
                let seq =
                    checked.unwrap_or_else(|problem| panic!("a torn read was kept: {problem}"));
                assert_eq!(seq, next, "a read in place out of order");
                next += 1;
                read += 1;
            }
            Ok(Some(Received::Lagged(count))) => {
                next += count;
                lost += count;
                torn_seen += 1;
            }
            Ok(None) => std::thread::yield_now(),
            Err(error) if error.kind() == ErrorKind::Disconnected => break,
            Err(error) => panic!("{error}"),
        }
    }
    writer.join().unwrap();
    assert_eq!(read + lost, MESSAGES, "read {read} and lost {lost}");
    assert_eq!(lossy.lost(), lost);
    println!("read {read}, lost {lost} in {torn_seen} lags");
}

#[test]
fn an_untethered_subscriber_never_holds_the_producer_back_and_counts_its_loss() {
    let (ring, _remove) = new_ring("bc-lossy", &RingOptions::broadcast(4, 64, 1));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    let mut buffer = [0u8; 64];
    assert_eq!(lossy.try_recv(&mut buffer).unwrap(), None);
    for seq in 0..10u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap(), "{seq}");
    }
    // Positions 0..7 are gone (the producer may be rewriting the slot of 6).
    assert_eq!(
        lossy.try_recv(&mut buffer).unwrap(),
        Some(Received::Lagged(7))
    );
    for seq in 7..10u64 {
        assert_eq!(
            lossy.try_recv(&mut buffer).unwrap(),
            Some(Received::Message(8))
        );
        assert_eq!(u64::from_le_bytes(buffer[..8].try_into().unwrap()), seq);
    }
    assert_eq!(lossy.try_recv(&mut buffer).unwrap(), None);
    // Too small a buffer consumes nothing.
    assert!(producer.try_send(&10u64.to_le_bytes()).unwrap());
    let error = lossy.try_recv(&mut buffer[..4]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BufferTooSmall);
    assert_eq!(
        lossy.try_recv(&mut buffer).unwrap(),
        Some(Received::Message(8))
    );
    drop(producer);
    let end = lossy.try_recv(&mut buffer).unwrap_err();
    assert_eq!(end.kind(), ErrorKind::Disconnected);
}

#[test]
fn tethered_and_untethered_subscribers_share_one_ring() {
    let (ring, _remove) = new_ring("bc-mixed", &RingOptions::broadcast(4, 64, 2));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut tethered = broadcast::Subscriber::join(&ring).unwrap();
    let mut lossy = Untethered::join(&ring, Start::Oldest).unwrap();
    let mut buffer = [0u8; 64];
    let (mut read, mut lost, mut next) = (0u64, 0u64, 0u64);
    for seq in 0..40u64 {
        // The tethered subscriber keeps up; the untethered one reads every
        // third message only, and must lag.
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap(), "{seq}");
        assert_eq!(try_read_seq(&mut tethered), Some(seq));
        if seq % 3 == 2 {
            while let Some(received) = lossy.try_recv(&mut buffer).unwrap() {
                match received {
                    Received::Message(len) => {
                        assert_eq!(len, 8);
                        let got = u64::from_le_bytes(buffer[..8].try_into().unwrap());
                        assert_eq!(got, next, "an untethered read out of order");
                        next += 1;
                        read += 1;
                    }
                    Received::Lagged(count) => {
                        assert!(count > 0);
                        next += count;
                        lost += count;
                    }
                }
            }
        }
    }
    while let Some(received) = lossy.try_recv(&mut buffer).unwrap() {
        match received {
            Received::Message(_) => read += 1,
            Received::Lagged(count) => lost += count,
        }
    }
    assert_eq!(read + lost, 40, "read {read} and lost {lost} of 40");
}

#[test]
fn a_slow_untethered_subscriber_gets_only_intact_messages_in_order() {
    const MESSAGES: u64 = 200_000;
    let (ring, _remove) = new_ring("bc-lossy-race", &RingOptions::broadcast(8, 64, 1));
    let max = ring.max_payload();
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    let writer = std::thread::spawn({
        let ring = ring.clone();
        move || {
            let mut producer = broadcast::Producer::join(&ring).unwrap();
            let mut message = vec![0u8; max];
            for seq in 0..MESSAGES {
                let len = common::tagged_len(0, seq, max);
                common::fill_tagged(0, seq, &mut message[..len]);
                assert!(producer.try_send(&message[..len]).unwrap());
            }
        }
    });
    let (mut buffer, mut scratch) = (vec![0u8; max], vec![0u8; max]);
    let (mut next, mut read, mut lost) = (0u64, 0u64, 0u64);
    loop {
        match lossy.try_recv(&mut buffer) {
            Ok(Some(Received::Message(len))) => {
                let (_, seq) = common::check_tagged(max, &buffer[..len], &mut scratch)
                    .unwrap_or_else(|problem| panic!("a torn message returned as data: {problem}"));
                assert_eq!(seq, next, "an untethered read out of order");
                next += 1;
                read += 1;
            }
            Ok(Some(Received::Lagged(count))) => {
                next += count;
                lost += count;
            }
            Ok(None) => std::thread::yield_now(),
            Err(error) if error.kind() == ErrorKind::Disconnected => break,
            Err(error) => panic!("{error}"),
        }
    }
    writer.join().unwrap();
    assert_eq!(read + lost, MESSAGES, "read {read} and lost {lost}");
}

#[test]
fn an_untethered_subscriber_sleeps_until_a_message_comes() {
    let (ring, _remove) = new_ring("bc-lossy-wait", &RingOptions::broadcast(8, 64, 1));
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    lossy.set_wait_strategy(shmlane::WaitStrategy::sleeping());
    let writer = std::thread::spawn({
        let ring = ring.clone();
        move || {
            let mut producer = broadcast::Producer::join(&ring).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            assert!(producer.try_send(b"late").unwrap());
        }
    });
    let mut buffer = [0u8; 64];
    assert_eq!(
        lossy.recv(&mut buffer, PATIENCE).unwrap(),
        Some(Received::Message(4))
    );
    assert_eq!(&buffer[..4], b"late");
    writer.join().unwrap();
    // The producer is gone and everything was read.
    let end = lossy.recv(&mut buffer, PATIENCE).unwrap_err();
    assert_eq!(end.kind(), ErrorKind::Disconnected);
    let (ring, _remove) = new_ring("bc-lossy-timeout", &RingOptions::broadcast(8, 64, 1));
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    let _producer = broadcast::Producer::join(&ring).unwrap();
    assert_eq!(
        lossy
            .recv(&mut buffer, Some(Duration::from_millis(10)))
            .unwrap(),
        None
    );
}

#[test]
fn subscribers_of_both_kinds_can_skip_to_the_latest_message() {
    let (ring, _remove) = new_ring("bc-latest", &RingOptions::broadcast(8, 64, 2));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut tethered = broadcast::Subscriber::join(&ring).unwrap();
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    assert_eq!(tethered.skip_to_latest().unwrap(), 0);
    assert_eq!(lossy.skip_to_latest().unwrap(), 0);
    for seq in 0..8u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
    }
    assert!(!producer.try_send(b"full").unwrap());
    assert_eq!(tethered.skip_to_latest().unwrap(), 7);
    // The skipped slots are free again for the producer.
    assert!(producer.try_send(&8u64.to_le_bytes()).unwrap());
    assert_eq!(try_read_seq(&mut tethered), Some(7));
    assert_eq!(lossy.skip_to_latest().unwrap(), 8);
    let mut buffer = [0u8; 64];
    assert_eq!(
        lossy.try_recv(&mut buffer).unwrap(),
        Some(Received::Message(8))
    );
    assert_eq!(u64::from_le_bytes(buffer[..8].try_into().unwrap()), 8);
    assert_eq!(lossy.try_recv(&mut buffer).unwrap(), None);
}

#[test]
fn info_reports_a_broadcast_ring_and_its_participants() {
    let (ring, remove) = new_ring("bc-info", &RingOptions::broadcast(8, 64, 3));
    let _producer = broadcast::Producer::join(&ring).unwrap();
    let _tethered = broadcast::Subscriber::join(&ring).unwrap();
    let _lossy = Untethered::join(&ring, Start::Newest).unwrap();
    let info = shmlane::info(&remove.0).unwrap();
    assert_eq!(info.geometry.kind, Kind::Broadcast);
    assert_eq!(info.geometry.participant_count, 4);
    let active = info
        .participants
        .iter()
        .filter(|participant| participant.state == shmlane::ParticipantState::Alive)
        .count();
    assert_eq!(active, 3);
    let subscribers: Vec<_> = info
        .participants
        .iter()
        .filter_map(|participant| participant.subscriber)
        .collect();
    assert_eq!(
        subscribers,
        [
            shmlane::SubscriberInfo {
                tethered: true,
                cursor: 0,
                lost: 0
            },
            shmlane::SubscriberInfo {
                tethered: false,
                cursor: 0,
                lost: 0
            }
        ]
    );
}

/// The file of the ring named `name`, for a hostile peer to scribble on.
fn scribbler(name: &str) -> common::Scribbler {
    common::Scribbler::open(&shmlane::path_for(name).unwrap()).unwrap()
}

#[test]
fn impossible_positions_in_shared_memory_are_corruption_not_a_panic() {
    use shmlane::layout::{GATE_OFFSET, PARTICIPANTS_OFFSET, PARTICIPANT_RECORD_SIZE, TAIL_OFFSET};
    let cursor_of = |record: usize| PARTICIPANTS_OFFSET + record * PARTICIPANT_RECORD_SIZE + 24;

    // A subscriber's cursor past the producer's tail: the gating scan refuses it.
    let (ring, remove) = new_ring("bc-bad-cursor", &RingOptions::broadcast(4, 64, 1));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let _subscriber = broadcast::Subscriber::join(&ring).unwrap();
    scribbler(&remove.0).write_u64(cursor_of(1), 1000);
    let error = producer.try_send(b"x").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");

    // A tail more than a lap ahead of a tethered subscriber.
    let (ring, remove) = new_ring("bc-bad-tail", &RingOptions::broadcast(4, 64, 2));
    let mut subscriber = broadcast::Subscriber::join(&ring).unwrap();
    scribbler(&remove.0).write_u64(TAIL_OFFSET, 1000);
    let error = subscriber.try_read().map(|m| m.is_some()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    // An untethered one lagging that far is only lapped: it resynchronises.
    let mut lossy = Untethered::join(&ring, Start::Oldest).unwrap();
    let mut buffer = [0u8; 64];
    assert!(matches!(
        lossy.try_recv(&mut buffer),
        Ok(Some(Received::Lagged(lost))) if lost > 0
    ));

    // A gate past the tail: joining refuses the ring.
    let (ring, remove) = new_ring("bc-bad-gate", &RingOptions::broadcast(4, 64, 1));
    scribbler(&remove.0).write_u64(GATE_OFFSET, 1000);
    for error in [
        broadcast::Producer::join(&ring).unwrap_err(),
        broadcast::Subscriber::join(&ring).unwrap_err(),
        Untethered::join(&ring, Start::Newest).unwrap_err(),
    ] {
        assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    }

    // A message length above the slot's payload, in an intact slot.
    let (ring, remove) = new_ring("bc-bad-len", &RingOptions::broadcast(4, 64, 2));
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut tethered = broadcast::Subscriber::join(&ring).unwrap();
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    assert!(producer.try_send(b"fine").unwrap());
    let slots = PARTICIPANTS_OFFSET + 3 * PARTICIPANT_RECORD_SIZE;
    scribbler(&remove.0).write_u32(slots + 8, 4000); // the len after the stamp
    let error = tethered.try_read().map(|m| m.is_some()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
    let error = lossy.try_recv(&mut buffer).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Corrupt, "{error}");
}

#[test]
fn fixed_size_broadcast_rings_carry_exact_messages_to_both_kinds_of_subscriber() {
    let (ring, _remove) = new_ring("bc-fixed", &RingOptions::broadcast_fixed(4, 16, 2));
    assert_eq!(ring.max_payload(), 16);
    let mut producer = broadcast::Producer::join(&ring).unwrap();
    let mut tethered = broadcast::Subscriber::join(&ring).unwrap();
    let mut lossy = Untethered::join(&ring, Start::Newest).unwrap();
    assert_eq!(
        producer.try_send(b"short").unwrap_err().kind(),
        ErrorKind::WrongMessageSize
    );
    assert!(producer.try_send(b"sixteen bytes!!!").unwrap());
    assert_eq!(
        &*tethered.try_read().unwrap().expect("a message"),
        b"sixteen bytes!!!"
    );
    let mut buffer = [0u8; 16];
    assert_eq!(
        lossy.try_recv(&mut buffer).unwrap(),
        Some(Received::Message(16))
    );
    assert_eq!(&buffer, b"sixteen bytes!!!");
}
