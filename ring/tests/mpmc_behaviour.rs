//! MPMC behaviour within one process: full and empty, abandoned reservations
//! and batches, batches across the wrap, message sizes, fixed-size rings, short
//! receive buffers, the participant limit, disconnection and reconnection, kind
//! checks, and exactly-once delivery between producer and consumer threads.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{
    assert_exactly_once, receive_tagged_step, send_tagged_step, unique_name, RemoveRing, Tally,
    XorShift,
};
use shmlane::{mpmc, spsc, Error, ErrorKind, Kind, OpenOptions, Ring, RingOptions};

/// A ring and the guard that removes it.
fn new_ring(tag: &str, options: &RingOptions) -> (Ring, RemoveRing) {
    let name = unique_name(tag);
    let ring = Ring::create(&name, options).unwrap();
    (ring, RemoveRing(name))
}

/// The next message, which the test knows is committed.
fn read(consumer: &mut mpmc::Consumer) -> Result<Vec<u8>, Error> {
    try_read_bytes(consumer).map(|message| message.expect("a message is committed"))
}

/// The next message, `None` when the ring is empty.
fn try_read_bytes(consumer: &mut mpmc::Consumer) -> Result<Option<Vec<u8>>, Error> {
    consumer
        .try_read()
        .map(|message| message.map(|message| message.to_vec()))
}

/// Retries `f` while it finds the ring empty or full (`Ok(None)`), for at
/// most `limit` (a hang guard: handles notice that peers left within
/// milliseconds).
fn retry<T>(
    limit: Duration,
    mut f: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<Option<T>, Error> {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(None) if Instant::now() < deadline => std::thread::yield_now(),
            other => return other,
        }
    }
}

/// Polls `f` long enough for a handle to re-scan the participant table several
/// times (a handle that keeps finding the ring full or empty scans every 16
/// polls, at most once a millisecond) and returns every result that was not
/// `expected`.
fn poll_through_rescans<T: std::fmt::Debug>(
    mut f: impl FnMut() -> Result<T, Error>,
    expected: fn(&Result<T, Error>) -> bool,
) -> Vec<String> {
    let mut unexpected = Vec::new();
    for _ in 0..64 {
        let result = f();
        if !expected(&result) {
            unexpected.push(format!("{result:?}"));
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    unexpected
}

#[test]
fn reserve_on_full_ring_returns_full_for_every_producer_until_a_slot_is_released() {
    let (ring, _remove) = new_ring("mpmc-full", &RingOptions::mpmc(4, 32, 4));
    let mut first = mpmc::Producer::join(&ring).unwrap();
    let mut second = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    for i in 0..4u8 {
        let producer = if i % 2 == 0 { &mut first } else { &mut second };
        assert!(producer.try_send(&[i]).unwrap());
    }
    for producer in [&mut first, &mut second] {
        assert!(matches!(producer.try_reserve(), Ok(None)));
        assert!(matches!(producer.try_send(b"x"), Ok(false)));
        assert!(matches!(producer.try_reserve_batch(3), Ok(ref batch) if batch.is_empty()));
    }
    {
        // A message being read still occupies its slot.
        let message = consumer.try_read().unwrap().unwrap();
        assert_eq!(&*message, [0]);
        assert!(matches!(second.try_send(b"x"), Ok(false)));
    }
    assert!(second.try_send(&[4]).unwrap());
    assert!(matches!(first.try_send(b"x"), Ok(false)));
    for i in 1..5u8 {
        assert_eq!(read(&mut consumer).unwrap(), [i]);
    }
    assert_eq!(ring.info().tail, 5);
}

#[test]
fn read_on_empty_ring_returns_empty_for_every_consumer() {
    let (ring, _remove) = new_ring("mpmc-empty", &RingOptions::mpmc(4, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumers = [
        mpmc::Consumer::join(&ring).unwrap(),
        mpmc::Consumer::join(&ring).unwrap(),
    ];
    for consumer in &mut consumers {
        assert!(matches!(consumer.try_read(), Ok(None)));
        assert!(matches!(consumer.try_read_batch(8), Ok(ref batch) if batch.is_empty()));
        assert!(matches!(consumer.try_recv(&mut [0u8; 8]), Ok(None)));
    }
    assert!(producer.try_send(b"a").unwrap());
    assert_eq!(read(&mut consumers[1]).unwrap(), b"a");
    assert!(matches!(consumers[0].try_read(), Ok(None)));
    assert!(matches!(consumers[1].try_read(), Ok(None)));
}

#[test]
fn an_uncommitted_reservation_holds_back_later_messages_until_it_is_committed() {
    let (ring, _remove) = new_ring("mpmc-order", &RingOptions::mpmc(8, 32, 4));
    let mut first = mpmc::Producer::join(&ring).unwrap();
    let mut second = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let mut slot = first.try_reserve().unwrap().unwrap();
    assert!(second.try_send(b"second").unwrap());
    // The message after the reservation is committed, but consumers take
    // positions in order.
    assert!(matches!(consumer.try_read(), Ok(None)));
    assert!(matches!(consumer.try_read_batch(8), Ok(ref batch) if batch.is_empty()));
    slot[..5].copy_from_slice(b"first");
    slot.commit(5).unwrap();
    let batch = consumer.try_read_batch(8).unwrap();
    assert_eq!(
        batch.iter().collect::<Vec<_>>(),
        [&b"first"[..], &b"second"[..]]
    );
}

#[test]
fn dropping_a_reserved_slot_makes_consumers_skip_it_and_get_the_next_message() {
    let (ring, _remove) = new_ring("mpmc-abort", &RingOptions::mpmc(4, 32, 4));
    let mut first = mpmc::Producer::join(&ring).unwrap();
    let mut second = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();

    // Alone, an abandoned slot gives consumers nothing.
    {
        let mut slot = first.try_reserve().unwrap().unwrap();
        slot[..4].copy_from_slice(b"lost");
    }
    assert!(matches!(consumer.try_read(), Ok(None)));
    assert_eq!(
        ring.info().head,
        1,
        "the consumer released the skipped slot"
    );

    // Between messages, it is skipped by every form of read.
    let mut buffer = [0u8; 16];
    for round in 0..3u8 {
        let mut slot = first.try_reserve().unwrap().unwrap();
        assert!(second.try_send(&[round]).unwrap());
        slot[..4].copy_from_slice(b"lost");
        drop(slot);
        match round {
            0 => assert_eq!(read(&mut consumer).unwrap(), [round]),
            1 => {
                assert_eq!(consumer.try_recv(&mut buffer).unwrap().unwrap(), 1);
                assert_eq!(buffer[0], round);
            }
            _ => {
                let batch = consumer.try_read_batch(8).unwrap();
                assert_eq!(batch.iter().collect::<Vec<_>>(), [&[round][..]]);
            }
        }
        assert!(matches!(consumer.try_read(), Ok(None)));
    }

    // A commit that fails hands its slot on to be skipped as well.
    let slot = first.try_reserve().unwrap().unwrap();
    let too_long = slot.len() + 1;
    assert!(matches!(
        slot.commit(too_long),
        Err(ref e) if e.kind() == ErrorKind::MessageTooLarge
            && e.sizes() == Some((too_long as u64, 16))
    ));
    assert!(first.try_send(b"after").unwrap());
    assert_eq!(read(&mut consumer).unwrap(), b"after");
    // Skipped slots are free again: the whole ring can be reserved.
    assert_eq!(first.try_reserve_batch(100).unwrap().len(), 4);
}

#[test]
fn dropping_a_write_batch_or_committing_a_prefix_makes_consumers_skip_the_rest() {
    let (ring, _remove) = new_ring("mpmc-batch-abort", &RingOptions::mpmc(8, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut other = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();

    let mut batch = producer.try_reserve_batch(5).unwrap();
    assert_eq!(batch.len(), 5);
    for i in 0..5 {
        batch.write(i, &[i as u8]).unwrap();
    }
    batch.commit_first(2);
    assert!(other.try_send(b"next").unwrap());
    let got: Vec<Vec<u8>> = (0..3).map(|_| read(&mut consumer).unwrap()).collect();
    assert_eq!(got, [vec![0], vec![1], b"next".to_vec()]);
    assert!(matches!(consumer.try_read(), Ok(None)));

    let mut batch = producer.try_reserve_batch(3).unwrap();
    for i in 0..3 {
        batch.write(i, b"lost").unwrap();
    }
    drop(batch);
    assert!(matches!(consumer.try_read_batch(8), Ok(ref batch) if batch.is_empty()));
    assert!(other.try_send(b"after drop").unwrap());
    assert_eq!(read(&mut consumer).unwrap(), b"after drop");

    // commit_first beyond the batch publishes the batch, no more.
    let mut batch = producer.try_reserve_batch(2).unwrap();
    batch.write(0, b"a").unwrap();
    batch.write(1, b"b").unwrap();
    batch.commit_first(10);
    let read_batch = consumer.try_read_batch(8).unwrap();
    assert_eq!(
        read_batch.iter().collect::<Vec<_>>(),
        [&b"a"[..], &b"b"[..]]
    );
    drop(read_batch);
    let info = ring.info();
    assert_eq!((info.head, info.tail), (12, 12));
}

#[test]
fn a_read_batch_stops_before_an_uncommitted_or_skipped_slot() {
    let (ring, _remove) = new_ring("mpmc-batch-stop", &RingOptions::mpmc(8, 32, 4));
    let mut first = mpmc::Producer::join(&ring).unwrap();
    let mut second = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert!(first.try_send(b"a").unwrap());
    drop(first.try_reserve().unwrap().unwrap());
    assert!(first.try_send(b"c").unwrap());
    assert_eq!(
        consumer
            .try_read_batch(8)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [&b"a"[..]]
    );
    assert_eq!(
        consumer
            .try_read_batch(8)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [&b"c"[..]]
    );

    assert!(first.try_send(b"d").unwrap());
    let slot = first.try_reserve().unwrap().unwrap();
    assert!(second.try_send(b"f").unwrap());
    assert_eq!(
        consumer
            .try_read_batch(8)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [&b"d"[..]]
    );
    assert!(matches!(consumer.try_read_batch(8), Ok(ref batch) if batch.is_empty()));
    slot.commit(0).unwrap();
    let batch = consumer.try_read_batch(8).unwrap();
    assert_eq!(batch.iter().collect::<Vec<_>>(), [&b""[..], &b"f"[..]]);
}

#[test]
fn batches_across_the_wrap_keep_their_order() {
    let (ring, _remove) = new_ring("mpmc-wrap", &RingOptions::mpmc(8, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    for round in 0..4u8 {
        // Move the positions so that the batch starts at slot 5 of 8.
        while ring.info().tail % 8 != 5 {
            assert!(producer.try_send(&[round]).unwrap());
            read(&mut consumer).unwrap();
        }
        let mut batch = producer.try_reserve_batch(6).unwrap();
        assert_eq!(batch.len(), 6);
        for i in 0..6 {
            batch.write(i, &[round, i as u8]).unwrap();
        }
        assert!(matches!(consumer.try_read(), Ok(None)));
        batch.commit();
        // Read across the wrap in two batches: 4 of them, then the rest.
        let mut got = Vec::new();
        for wanted in [4, 16] {
            let batch = consumer.try_read_batch(wanted).unwrap();
            got.extend(batch.iter().map(<[u8]>::to_vec));
        }
        let want: Vec<Vec<u8>> = (0..6).map(|i| vec![round, i]).collect();
        assert_eq!(got, want);
        assert!(matches!(consumer.try_read(), Ok(None)));
    }
}

#[test]
fn a_read_batch_across_the_wrap_releases_every_slot_on_drop() {
    let (ring, _remove) = new_ring("mpmc-wrap-release", &RingOptions::mpmc(4, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    for i in 0..3u8 {
        assert!(producer.try_send(&[i]).unwrap());
        read(&mut consumer).unwrap();
    }
    for i in 0..4u8 {
        producer.try_send(&[10 + i]).unwrap(); // slots 3, 0, 1, 2
    }
    {
        let batch = consumer.try_read_batch(10).unwrap();
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.get(0), [10]);
        assert_eq!(batch.get(3), [13]);
        assert!(matches!(producer.try_send(b"x"), Ok(false)));
    }
    let batch = producer.try_reserve_batch(10).unwrap();
    assert_eq!(batch.len(), 4, "the whole ring is free again");
}

#[test]
fn batches_are_bounded_by_free_slots_and_committed_messages() {
    let (ring, _remove) = new_ring("mpmc-bounds", &RingOptions::mpmc(8, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert_eq!(producer.try_reserve_batch(0).unwrap().len(), 0);
    for i in 0..3u8 {
        assert!(producer.try_send(&[i]).unwrap());
    }
    assert_eq!(producer.try_reserve_batch(100).unwrap().len(), 5);
    assert_eq!(consumer.try_read_batch(2).unwrap().len(), 2);
    assert_eq!(consumer.try_read_batch(0).unwrap().len(), 0);
    assert_eq!(consumer.try_read_batch(100).unwrap().len(), 1);
}

#[test]
fn abandoned_slots_occupy_the_ring_until_a_consumer_passes_them() {
    let (ring, _remove) = new_ring("mpmc-abandoned-full", &RingOptions::mpmc(8, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert_eq!(producer.try_reserve_batch(100).unwrap().len(), 8);
    // Other producers may have claimed the positions after them, so abandoned
    // slots travel through the ring like messages.
    assert!(matches!(producer.try_reserve(), Ok(None)));
    assert!(matches!(consumer.try_read(), Ok(None)));
    assert_eq!(ring.info().head, 8, "the consumer passed all eight");
    assert_eq!(producer.try_reserve_batch(100).unwrap().len(), 8);
}

#[test]
fn messages_of_zero_one_and_max_payload_bytes_arrive_intact_through_every_api() {
    let (ring, _remove) = new_ring("mpmc-sizes", &RingOptions::mpmc(8, 80, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let max = producer.max_payload();
    assert_eq!(
        (max, consumer.max_payload(), ring.max_payload()),
        (64, 64, 64)
    );
    let messages: [Vec<u8>; 3] = [vec![], vec![7], (1..=max as u8).collect()];

    for message in &messages {
        assert!(producer.try_send(message).unwrap());
    }
    for message in &messages {
        assert_eq!(&read(&mut consumer).unwrap(), message);
    }

    for message in &messages {
        let mut slot = producer.try_reserve().unwrap().unwrap();
        assert_eq!(slot.len(), max);
        slot[..message.len()].copy_from_slice(message);
        slot.commit(message.len()).unwrap();
    }
    let mut buffer = [0u8; 64];
    for message in &messages {
        let len = consumer.try_recv(&mut buffer).unwrap().unwrap();
        assert_eq!(&buffer[..len], &message[..]);
    }

    let mut batch = producer.try_reserve_batch(3).unwrap();
    for (i, message) in messages.iter().enumerate() {
        assert_eq!(batch.slot_mut(i).len(), max);
        batch.write(i, message).unwrap();
    }
    batch.commit();
    let batch = consumer.try_read_batch(3).unwrap();
    assert_eq!(
        batch.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(),
        messages
    );
    drop(batch);

    // A batch slot whose length is never set carries an empty message.
    let mut batch = producer.try_reserve_batch(1).unwrap();
    batch.slot_mut(0)[..3].copy_from_slice(b"abc");
    batch.commit();
    assert_eq!(read(&mut consumer).unwrap(), b"");
}

#[test]
fn a_message_larger_than_max_payload_is_refused_and_claims_no_slot() {
    let (ring, _remove) = new_ring("mpmc-too-large", &RingOptions::mpmc(4, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert!(matches!(
        producer.try_send(&[0u8; 17]), Err(ref e) if e.kind() == ErrorKind::MessageTooLarge && e.sizes() == Some((17, 16))));
    assert_eq!(
        ring.info().tail,
        0,
        "try_send checks the length before claiming"
    );
    let mut batch = producer.try_reserve_batch(1).unwrap();
    assert!(matches!(
        batch.set_len(0, 17), Err(ref e) if e.kind() == ErrorKind::MessageTooLarge && e.sizes() == Some((17, 16))));
    assert!(matches!(
        batch.write(0, &[1u8; 17]), Err(ref e) if e.kind() == ErrorKind::MessageTooLarge && e.sizes() == Some((17, 16))));
    batch.write(0, b"fits").unwrap();
    batch.commit();
    assert_eq!(read(&mut consumer).unwrap(), b"fits");
}

#[test]
fn fixed_size_mpmc_rings_carry_messages_of_exactly_their_size() {
    let (ring, _remove) = new_ring("mpmc-fixed", &RingOptions::mpmc_fixed(4, 16, 4));
    assert_eq!(
        ring.geometry().slot_size,
        24,
        "an 8-byte stamp and the message"
    );
    assert_eq!(ring.max_payload(), 16);
    let mut first = mpmc::Producer::join(&ring).unwrap();
    let mut second = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert_eq!(first.max_payload(), 16);

    assert!(matches!(
        first.try_send(b"short"), Err(ref e) if e.kind() == ErrorKind::WrongMessageSize && e.sizes() == Some((5, 16))));
    assert!(matches!(
        first.try_send(&[0u8; 17]), Err(ref e) if e.kind() == ErrorKind::WrongMessageSize && e.sizes() == Some((17, 16))));
    let slot = first.try_reserve().unwrap().unwrap();
    assert_eq!(slot.len(), 16);
    assert!(matches!(
        slot.commit(8), Err(ref e) if e.kind() == ErrorKind::WrongMessageSize && e.sizes() == Some((8, 16))));
    let mut batch = second.try_reserve_batch(2).unwrap();
    assert!(matches!(
        batch.set_len(0, 0), Err(ref e) if e.kind() == ErrorKind::WrongMessageSize && e.sizes() == Some((0, 16))));
    batch.write(0, &[1u8; 16]).unwrap();
    batch.slot_mut(1).copy_from_slice(&[2u8; 16]);
    batch.commit();
    assert_eq!(
        read(&mut consumer).unwrap(),
        [1u8; 16],
        "the failed commit was skipped"
    );

    assert!(first.try_send(&[3u8; 16]).unwrap());
    let mut slot = second.try_reserve().unwrap().unwrap();
    slot.copy_from_slice(&[4u8; 16]);
    slot.commit(16).unwrap();
    let mut buffer = [0u8; 16];
    assert_eq!(consumer.try_recv(&mut buffer).unwrap().unwrap(), 16);
    assert_eq!(buffer, [2u8; 16]);
    let batch = consumer.try_read_batch(8).unwrap();
    assert_eq!(
        batch.iter().collect::<Vec<_>>(),
        [&[3u8; 16][..], &[4u8; 16][..]]
    );
    drop(batch);
    assert!(matches!(consumer.try_recv(&mut [0u8; 15]), Ok(None)));
    assert!(first.try_send(&[5u8; 16]).unwrap());
    assert!(matches!(
        consumer.try_recv(&mut [0u8; 15]), Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes() == Some((16, 15))));
    assert_eq!(read(&mut consumer).unwrap(), [5u8; 16]);
}

#[test]
fn recv_into_a_short_buffer_returns_buffer_too_small_and_the_same_consumer_reads_that_message_next()
{
    let (ring, _remove) = new_ring("mpmc-short-buffer", &RingOptions::mpmc(8, 48, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut first = mpmc::Consumer::join(&ring).unwrap();
    let mut second = mpmc::Consumer::join(&ring).unwrap();
    for message in [
        &b"twelve bytes"[..],
        b"m2",
        b"thirteen byte",
        b"m4",
        b"fourteen bytes",
    ] {
        assert!(producer.try_send(message).unwrap());
    }
    let mut small = [0u8; 4];
    let mut big = [0u8; 32];

    // try_recv gets the message back.
    assert!(matches!(
        first.try_recv(&mut small), Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes() == Some((12, 4))));
    assert_eq!(
        read(&mut second).unwrap(),
        b"m2",
        "the held message is not another consumer's"
    );
    // Asking again with a buffer still too small keeps it held.
    assert!(matches!(
        first.try_recv(&mut small), Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes() == Some((12, 4))));
    assert_eq!(first.try_recv(&mut big).unwrap().unwrap(), 12);
    assert_eq!(&big[..12], b"twelve bytes");

    // try_read gets it back in place.
    assert!(matches!(
        first.try_recv(&mut small), Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes().map(|s| s.0) == Some(13)));
    assert_eq!(read(&mut second).unwrap(), b"m4");
    assert_eq!(read(&mut first).unwrap(), b"thirteen byte");

    // try_read_batch gets it back, alone, even though more messages wait.
    assert!(matches!(
        second.try_recv(&mut small), Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes().map(|s| s.0) == Some(14)));
    assert!(producer.try_send(b"m6").unwrap());
    let batch = second.try_read_batch(8).unwrap();
    assert_eq!(batch.iter().collect::<Vec<_>>(), [&b"fourteen bytes"[..]]);
    drop(batch);
    assert_eq!(read(&mut first).unwrap(), b"m6");
    assert!(matches!(first.try_read(), Ok(None)));
    assert!(matches!(second.try_read(), Ok(None)));
    let info = ring.info();
    assert_eq!((info.head, info.tail), (6, 6));
}

#[test]
fn a_held_message_occupies_its_slot_until_the_consumer_reads_it() {
    let (ring, _remove) = new_ring("mpmc-held", &RingOptions::mpmc(2, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert!(producer.try_send(b"long message").unwrap());
    assert!(matches!(
        consumer.try_recv(&mut [0u8; 1]), Err(ref e) if e.kind() == ErrorKind::BufferTooSmall));
    assert!(producer.try_send(b"b").unwrap());
    assert!(matches!(producer.try_send(b"c"), Ok(false)));
    assert_eq!(read(&mut consumer).unwrap(), b"long message");
    assert!(producer.try_send(b"c").unwrap());
    assert_eq!(read(&mut consumer).unwrap(), b"b");
    assert_eq!(read(&mut consumer).unwrap(), b"c");
}

#[test]
fn joining_when_every_record_is_held_returns_too_many_participants_until_a_handle_drops() {
    let (ring, _remove) = new_ring("mpmc-participants", &RingOptions::mpmc(4, 32, 2));
    let producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert!(matches!(
        mpmc::Producer::join(&ring),
        Err(ref e) if e.kind() == ErrorKind::TooManyParticipants && e.to_string().starts_with("all 2 participant records")
    ));
    assert!(matches!(
        mpmc::Consumer::join(&ring),
        Err(ref e) if e.kind() == ErrorKind::TooManyParticipants && e.to_string().starts_with("all 2 participant records")
    ));
    // Another opening of the file in this process counts the same records.
    let reopened = Ring::open(ring.path()).unwrap();
    assert!(matches!(
        mpmc::Producer::join(&reopened),
        Err(ref e) if e.kind() == ErrorKind::TooManyParticipants && e.to_string().starts_with("all 2 participant records")
    ));

    drop(producer);
    let mut producer = mpmc::Producer::join(&reopened).unwrap();
    assert!(matches!(
        mpmc::Consumer::join(&ring),
        Err(ref e) if e.kind() == ErrorKind::TooManyParticipants && e.to_string().starts_with("all 2 participant records")
    ));
    assert!(producer.try_send(b"after rejoining").unwrap());
    assert_eq!(read(&mut consumer).unwrap(), b"after rejoining");
    let info = ring.info();
    let generations: Vec<u32> = info.participants.iter().map(|p| p.generation).collect();
    assert_eq!(generations, [2, 1], "the freed record was claimed again");

    drop(consumer);
    let second_producer = mpmc::Producer::join(&ring).unwrap();
    drop(second_producer);
    drop(producer);
    let _ = mpmc::Consumer::join(&ring).unwrap();
}

#[test]
fn consumers_get_disconnected_only_after_every_producer_left_and_the_ring_is_drained() {
    let (ring, _remove) = new_ring("mpmc-consumer-disconnect", &RingOptions::mpmc(8, 32, 4));
    let mut first = mpmc::Producer::join(&ring).unwrap();
    let mut second = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    // The consumer looks at the producers while both are present.
    assert!(matches!(consumer.try_read(), Ok(None)));
    assert!(first.try_send(b"1").unwrap());
    assert!(second.try_send(b"2").unwrap());
    assert!(second.try_send(b"3").unwrap());
    drop(first);
    for message in [b"1", b"2", b"3"] {
        assert_eq!(read(&mut consumer).unwrap(), message);
    }
    let unexpected =
        poll_through_rescans(|| try_read_bytes(&mut consumer), |r| matches!(r, Ok(None)));
    assert!(unexpected.is_empty(), "a producer remains: {unexpected:?}");
    assert!(!consumer.is_disconnected());

    assert!(second.try_send(b"4").unwrap());
    drop(second);
    assert!(consumer.is_disconnected());
    // Committed messages come first, even with every producer gone.
    assert_eq!(read(&mut consumer).unwrap(), b"4");
    let end = retry(Duration::from_secs(10), || try_read_bytes(&mut consumer));
    assert!(
        matches!(end, Err(ref e) if e.kind() == ErrorKind::Disconnected),
        "got {end:?}"
    );
    assert!(matches!(
        consumer.try_read_batch(4), Err(ref e) if e.kind() == ErrorKind::Disconnected));
    assert!(matches!(
        consumer.try_recv(&mut [0u8; 4]), Err(ref e) if e.kind() == ErrorKind::Disconnected));
}

#[test]
fn the_poll_that_finds_the_ring_drained_after_a_producer_left_reports_disconnected_at_once() {
    let (ring, _remove) = new_ring("mpmc-disconnect-first", &RingOptions::mpmc(8, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert!(producer.try_send(b"last").unwrap());
    drop(producer);
    assert_eq!(read(&mut consumer).unwrap(), b"last");
    // The consumer's first look at the participants happens now.
    assert!(matches!(consumer.try_read(), Err(ref e) if e.kind() == ErrorKind::Disconnected));
}

#[test]
fn consumers_get_empty_not_disconnected_before_any_producer_joined() {
    let (ring, _remove) = new_ring("mpmc-no-producer", &RingOptions::mpmc(4, 32, 4));
    let mut consumers = [
        mpmc::Consumer::join(&ring).unwrap(),
        mpmc::Consumer::join(&ring).unwrap(),
    ];
    for consumer in &mut consumers {
        let unexpected =
            poll_through_rescans(|| try_read_bytes(consumer), |r| matches!(r, Ok(None)));
        assert!(unexpected.is_empty(), "no producer yet: {unexpected:?}");
        assert!(!consumer.is_disconnected());
    }
    // A producer that comes late is heard.
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    assert!(producer.try_send(b"late").unwrap());
    assert_eq!(read(&mut consumers[1]).unwrap(), b"late");
}

#[test]
fn producers_get_full_not_disconnected_before_any_consumer_joined() {
    let (ring, _remove) = new_ring("mpmc-no-consumer", &RingOptions::mpmc(2, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    assert!(producer.try_send(b"1").unwrap());
    assert!(producer.try_send(b"2").unwrap());
    let unexpected = poll_through_rescans(|| producer.try_send(b"3"), |r| matches!(r, Ok(false)));
    assert!(unexpected.is_empty(), "no consumer yet: {unexpected:?}");
    assert!(!producer.is_disconnected());
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert_eq!(read(&mut consumer).unwrap(), b"1");
}

#[test]
fn producers_get_disconnected_only_on_a_full_ring_after_every_consumer_left() {
    let (ring, _remove) = new_ring("mpmc-producer-disconnect", &RingOptions::mpmc(4, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let first = mpmc::Consumer::join(&ring).unwrap();
    let second = mpmc::Consumer::join(&ring).unwrap();
    for i in 0..4u8 {
        assert!(producer.try_send(&[i]).unwrap());
    }
    drop(first);
    let unexpected = poll_through_rescans(|| producer.try_send(b"x"), |r| matches!(r, Ok(false)));
    assert!(unexpected.is_empty(), "a consumer remains: {unexpected:?}");
    assert!(!producer.is_disconnected());
    drop(second);
    assert!(producer.is_disconnected());
    let end = retry(Duration::from_secs(10), || {
        producer.try_send(b"x").map(|sent| sent.then_some(()))
    });
    assert!(
        matches!(end, Err(ref e) if e.kind() == ErrorKind::Disconnected),
        "got {end:?}"
    );
    assert!(matches!(producer.try_reserve(), Err(ref e) if e.kind() == ErrorKind::Disconnected));
    assert!(matches!(
        producer.try_reserve_batch(2), Err(ref e) if e.kind() == ErrorKind::Disconnected));

    // Messages left behind wait for the next consumer; with room again, sending works.
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    assert_eq!(read(&mut consumer).unwrap(), [0]);
    let sent = retry(Duration::from_secs(10), || {
        producer.try_send(&[4]).map(|sent| sent.then_some(()))
    });
    assert!(matches!(sent, Ok(Some(()))), "got {sent:?}");
    for i in 1..5u8 {
        assert_eq!(read(&mut consumer).unwrap(), [i]);
    }
}

#[test]
fn producers_without_consumers_send_until_the_ring_is_full() {
    let (ring, _remove) = new_ring("mpmc-producer-alone", &RingOptions::mpmc(4, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    drop(mpmc::Consumer::join(&ring).unwrap());
    for i in 0..4u8 {
        assert!(producer.try_send(&[i]).unwrap());
    }
    assert!(matches!(producer.try_send(b"x"), Err(ref e) if e.kind() == ErrorKind::Disconnected));
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let batch = consumer.try_read_batch(8).unwrap();
    assert_eq!(
        batch.iter().collect::<Vec<_>>(),
        [&[0u8][..], &[1][..], &[2][..], &[3][..]]
    );
}

#[test]
fn spsc_handles_on_an_mpmc_ring_and_mpmc_handles_on_an_spsc_ring_get_wrong_kind() {
    let (mpmc_ring, _remove_mpmc) = new_ring("mpmc-kind", &RingOptions::mpmc(4, 32, 4));
    let (spsc_ring, _remove_spsc) = new_ring("spsc-kind", &RingOptions::spsc(4, 32));
    let wrong = |result: Result<(), Error>, expected: Kind, found: Kind| {
        assert!(
            matches!(result, Err(ref e) if e.kind() == ErrorKind::WrongKind
                && e.to_string() == format!("ring is {found}, expected {expected}")),
            "{result:?}"
        );
    };
    wrong(
        spsc::Producer::join(&mpmc_ring).map(drop),
        Kind::Spsc,
        Kind::Mpmc,
    );
    wrong(
        spsc::Consumer::join(&mpmc_ring).map(drop),
        Kind::Spsc,
        Kind::Mpmc,
    );
    wrong(
        mpmc::Producer::join(&spsc_ring).map(drop),
        Kind::Mpmc,
        Kind::Spsc,
    );
    wrong(
        mpmc::Consumer::join(&spsc_ring).map(drop),
        Kind::Mpmc,
        Kind::Spsc,
    );
    let expect_spsc = OpenOptions::new().expect_kind(Kind::Spsc);
    wrong(
        (expect_spsc).open(mpmc_ring.path()).map(drop),
        Kind::Spsc,
        Kind::Mpmc,
    );
    // A refused join claims no participant record.
    let info = mpmc_ring.info();
    assert!(info.participants.iter().all(|p| p.generation == 0));
    assert_eq!(mpmc_ring.kind(), Kind::Mpmc);
    let _producer = mpmc::Producer::join(&mpmc_ring).unwrap();
    let _consumer = spsc::Consumer::join(&spsc_ring).unwrap();
}

const THREAD_PRODUCERS: u32 = 3;
const THREAD_CONSUMERS: u64 = 3;
const THREAD_MESSAGES: u64 = 20_000;

/// Sends messages `0..THREAD_MESSAGES` of producer `id` through every API;
/// returns how many reserved slots it abandoned.
fn send_all(mut producer: mpmc::Producer, id: u32) -> u64 {
    let mut rng = XorShift::new(u64::from(id) + 100);
    let mut scratch = vec![0u8; producer.max_payload()];
    let (mut next, mut abandoned) = (0u64, 0u64);
    let deadline = Instant::now() + Duration::from_secs(120);
    while next < THREAD_MESSAGES {
        assert!(Instant::now() < deadline, "producer {id} stalled at {next}");
        match send_tagged_step(
            &mut producer,
            id,
            &mut next,
            THREAD_MESSAGES,
            &mut rng,
            &mut scratch,
        ) {
            Ok(Some(count)) => abandoned += count,
            Ok(None) => std::thread::yield_now(),
            Err(other) => panic!("producer {id} error at {next}: {other}"),
        }
    }
    abandoned
}

/// Reads through every API until every producer has left and the ring is drained.
fn receive_all(mut consumer: mpmc::Consumer, index: u64) -> Tally {
    let max = consumer.max_payload();
    let mut rng = XorShift::new(index + 200);
    let (mut scratch, mut copy) = (vec![0u8; max], vec![0u8; max]);
    let mut tally = Tally::new(&[THREAD_MESSAGES; THREAD_PRODUCERS as usize]);
    let mut accept = |message: &[u8]| {
        if let Err(problem) = tally.accept(max, message, &mut scratch) {
            panic!("consumer {index}: {problem}");
        }
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "consumer {index} stalled");
        match receive_tagged_step(&mut consumer, 6, &mut rng, &mut copy, &mut accept) {
            // Let the other consumers in, or on a machine with fewer cores
            // than threads whoever runs takes it all.
            Ok(Some(_)) if rng.below(2) == 0 => std::thread::yield_now(),
            Ok(Some(_)) => {}
            Ok(None) => std::thread::yield_now(),
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(other) => panic!("consumer {index} error: {other}"),
        }
    }
    tally
}

#[test]
fn three_producer_and_three_consumer_threads_deliver_every_message_once_in_per_producer_order() {
    let (ring, _remove) = new_ring("mpmc-threads", &RingOptions::mpmc(16, 80, 8));
    // Everyone joins before anyone starts, so that no consumer finds every
    // producer gone before the last one has even started.
    let producers: Vec<mpmc::Producer> = (0..THREAD_PRODUCERS)
        .map(|_| mpmc::Producer::join(&ring).unwrap())
        .collect();
    let consumers: Vec<mpmc::Consumer> = (0..THREAD_CONSUMERS)
        .map(|_| mpmc::Consumer::join(&ring).unwrap())
        .collect();
    let start = Arc::new(Barrier::new(
        (THREAD_PRODUCERS as u64 + THREAD_CONSUMERS) as usize,
    ));
    let consumer_threads: Vec<_> = consumers
        .into_iter()
        .zip(0..)
        .map(|(consumer, index)| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                receive_all(consumer, index)
            })
        })
        .collect();
    let producer_threads: Vec<_> = producers
        .into_iter()
        .zip(0..)
        .map(|(producer, id)| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                send_all(producer, id)
            })
        })
        .collect();
    let abandoned: u64 = producer_threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .sum();
    let tallies: Vec<Tally> = consumer_threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .collect();

    // Each consumer checked that every producer's sequence numbers only grow.
    assert_exactly_once(&tallies, &[THREAD_MESSAGES; THREAD_PRODUCERS as usize]);
    let counts: Vec<Vec<u64>> = tallies
        .iter()
        .map(|tally| tally.producers.iter().map(|p| p.count).collect())
        .collect();
    eprintln!("messages per consumer and producer: {counts:?}; {abandoned} slots abandoned");
    assert!(abandoned > 0, "the producers abandon some reservations");
    let info = ring.info();
    assert_eq!(info.head, info.tail, "every claimed slot was released");
    assert_eq!(
        info.tail,
        u64::from(THREAD_PRODUCERS) * THREAD_MESSAGES + abandoned,
        "each position carried one message or one abandoned slot"
    );
}

#[test]
fn a_producer_that_joins_after_a_consumer_saw_disconnected_is_heard_at_once() {
    let (ring, _remove) = new_ring("mpmc-reconnect-producer", &RingOptions::mpmc(4, 32, 4));
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    drop(mpmc::Producer::join(&ring).unwrap());
    assert!(matches!(consumer.try_read(), Err(ref e) if e.kind() == ErrorKind::Disconnected));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let unexpected =
        poll_through_rescans(|| try_read_bytes(&mut consumer), |r| matches!(r, Ok(None)));
    assert!(
        unexpected.is_empty(),
        "a producer is present: {unexpected:?}"
    );
    assert!(producer.try_send(b"back").unwrap());
    assert_eq!(read(&mut consumer).unwrap(), b"back");
}

#[test]
fn a_consumer_that_joins_after_a_producer_saw_disconnected_is_heard_at_once() {
    let (ring, _remove) = new_ring("mpmc-reconnect-consumer", &RingOptions::mpmc(2, 32, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    drop(mpmc::Consumer::join(&ring).unwrap());
    assert!(producer.try_send(b"1").unwrap());
    assert!(producer.try_send(b"2").unwrap());
    assert!(matches!(producer.try_send(b"3"), Err(ref e) if e.kind() == ErrorKind::Disconnected));
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let unexpected = poll_through_rescans(|| producer.try_send(b"3"), |r| matches!(r, Ok(false)));
    assert!(
        unexpected.is_empty(),
        "a consumer is present: {unexpected:?}"
    );
    assert_eq!(read(&mut consumer).unwrap(), b"1");
    assert!(producer.try_send(b"3").unwrap());
}

/// Every length from empty to the maximum payload goes through both the
/// copying and the zero-copy paths of an MPMC ring byte for byte.
#[test]
fn every_message_length_round_trips_through_both_paths() {
    let (ring, _remove) = new_ring("lengths", &RingOptions::mpmc(8, 144, 4));
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let max = ring.max_payload();
    let mut buffer = vec![0u8; max + 8];
    for len in 0..=max {
        let message: Vec<u8> = (0..len).map(|i| (i * 17 + len) as u8).collect();
        assert!(producer.try_send(&message).unwrap());
        buffer.fill(0xEE);
        assert_eq!(consumer.try_recv(&mut buffer).unwrap(), Some(len));
        assert_eq!(&buffer[..len], &message[..], "copied, length {len}");
        assert!(
            buffer[len..].iter().all(|&b| b == 0xEE),
            "past length {len}"
        );

        let mut slot = producer.try_reserve().unwrap().expect("room");
        slot[..len].copy_from_slice(&message);
        slot.commit(len).unwrap();
        let read = consumer.try_read().unwrap().expect("a message");
        assert_eq!(&*read, &message[..], "in place, length {len}");
    }
}
