//! SPSC behaviour within one process: full and empty, abort, batches across the
//! wrap, message sizes, closing, and what `info` reports.

mod common;

use common::{unique_name, RemoveRing};
use shmlane::{spsc, Error, ErrorKind, ParticipantState, Ring, RingOptions, Role};

struct Fixture {
    ring: Ring,
    producer: spsc::Producer,
    consumer: spsc::Consumer,
    _remove: RemoveRing,
}

fn fixture(capacity: u64, slot_size: u64) -> Fixture {
    let name = unique_name("behaviour");
    let ring = Ring::create(&name, &RingOptions::spsc(capacity, slot_size)).unwrap();
    let producer = spsc::Producer::join(&ring).unwrap();
    let consumer = spsc::Consumer::join(&ring).unwrap();
    Fixture {
        ring,
        producer,
        consumer,
        _remove: RemoveRing(name),
    }
}

/// The next message, which the test knows is there.
fn recv(consumer: &mut spsc::Consumer) -> Result<Vec<u8>, Error> {
    consumer
        .try_read()
        .map(|message| message.expect("a message is published").to_vec())
}

#[test]
fn reserve_on_full_ring_returns_full_until_a_slot_is_released() {
    let mut f = fixture(4, 16);
    for i in 0..4u8 {
        assert!(f.producer.try_send(&[i]).unwrap());
    }
    assert!(matches!(f.producer.try_reserve(), Ok(None)));
    assert!(matches!(f.producer.try_send(b"x"), Ok(false)));
    assert!(matches!(f.producer.try_reserve_batch(3), Ok(ref batch) if batch.is_empty()));
    assert_eq!(recv(&mut f.consumer).unwrap(), [0]);
    assert!(f.producer.try_send(&[4]).unwrap());
    assert!(matches!(f.producer.try_send(b"x"), Ok(false)));
    for i in 1..5u8 {
        assert_eq!(recv(&mut f.consumer).unwrap(), [i]);
    }
}

#[test]
fn read_on_empty_ring_returns_empty() {
    let mut f = fixture(4, 16);
    assert!(matches!(f.consumer.try_read(), Ok(None)));
    assert!(matches!(f.consumer.try_read_batch(8), Ok(ref batch) if batch.is_empty()));
    assert!(matches!(f.consumer.try_recv(&mut [0u8; 8]), Ok(None)));
    assert!(f.producer.try_send(b"a").unwrap());
    assert_eq!(recv(&mut f.consumer).unwrap(), b"a");
    assert!(matches!(f.consumer.try_read(), Ok(None)));
}

#[test]
fn dropping_a_reservation_publishes_nothing() {
    let mut f = fixture(4, 16);
    {
        let mut slot = f.producer.try_reserve().unwrap().unwrap();
        slot[..4].copy_from_slice(b"lost");
    }
    assert!(matches!(f.consumer.try_read(), Ok(None)));
    let batch = f.producer.try_reserve_batch(3).unwrap();
    assert_eq!(batch.len(), 3);
    drop(batch);
    assert!(matches!(f.consumer.try_read(), Ok(None)));
    // The abandoned slot is reused by the next message.
    assert!(f.producer.try_send(b"kept").unwrap());
    assert_eq!(recv(&mut f.consumer).unwrap(), b"kept");
    assert_eq!(f.ring.info().tail, 1);
}

#[test]
fn committing_more_than_max_payload_fails_and_publishes_nothing() {
    let mut f = fixture(4, 16);
    let slot = f.producer.try_reserve().unwrap().unwrap();
    assert_eq!(slot.len(), 8);
    assert!(matches!(
        slot.commit(9), Err(ref e) if e.kind() == ErrorKind::MessageTooLarge && e.sizes() == Some((9, 8))));
    assert!(matches!(f.consumer.try_read(), Ok(None)));
}

#[test]
fn messages_of_zero_one_and_max_payload_bytes_arrive_intact() {
    let mut f = fixture(8, 64);
    let max = f.producer.max_payload();
    assert_eq!(max, 56);
    let messages: [Vec<u8>; 3] = [vec![], vec![7], (0..max as u8).collect()];
    for message in &messages {
        assert!(f.producer.try_send(message).unwrap());
    }
    for message in &messages {
        assert_eq!(&recv(&mut f.consumer).unwrap(), message);
    }
}

#[test]
fn write_batch_spanning_the_wrap_publishes_in_order_with_one_store() {
    let mut f = fixture(8, 16);
    for round in 0..3u8 {
        // Move the positions so that the batch starts at slot 5 of 8.
        for _ in 0..5 {
            assert!(f.producer.try_send(&[round]).unwrap());
            recv(&mut f.consumer).unwrap();
        }
        let mut batch = f.producer.try_reserve_batch(6).unwrap();
        assert_eq!(batch.len(), 6);
        for i in 0..6 {
            batch.write(i, &[round, i as u8]).unwrap();
        }
        // Nothing is visible until the batch is committed.
        assert!(matches!(f.consumer.try_read(), Ok(None)));
        batch.commit();
        let read = f.consumer.try_read_batch(16).unwrap();
        let got: Vec<Vec<u8>> = read.iter().map(<[u8]>::to_vec).collect();
        let want: Vec<Vec<u8>> = (0..6).map(|i| vec![round, i]).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn read_batch_spanning_the_wrap_releases_every_slot_on_drop() {
    let mut f = fixture(4, 16);
    for i in 0..3u8 {
        assert!(f.producer.try_send(&[i]).unwrap());
    }
    for _ in 0..3 {
        recv(&mut f.consumer).unwrap();
    }
    for i in 0..4u8 {
        f.producer.try_send(&[10 + i]).unwrap(); // slots 3, 0, 1, 2
    }
    {
        let batch = f.consumer.try_read_batch(10).unwrap();
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.get(0), [10]);
        assert_eq!(batch.get(3), [13]);
        assert!(matches!(f.producer.try_send(b"x"), Ok(false)));
    }
    let batch = f.producer.try_reserve_batch(10).unwrap();
    assert_eq!(batch.len(), 4, "the whole ring is free again");
}

#[test]
fn commit_first_publishes_only_a_prefix() {
    let mut f = fixture(8, 16);
    let mut batch = f.producer.try_reserve_batch(5).unwrap();
    for i in 0..5 {
        batch.write(i, &[i as u8]).unwrap();
    }
    batch.commit_first(2);
    let read = f.consumer.try_read_batch(8).unwrap();
    assert_eq!(read.iter().collect::<Vec<_>>(), [&[0u8][..], &[1u8][..]]);
    drop(read);
    assert!(f.producer.try_send(b"next").unwrap());
    assert_eq!(recv(&mut f.consumer).unwrap(), b"next");
}

#[test]
fn batches_are_bounded_by_what_is_free_or_published() {
    let mut f = fixture(8, 16);
    let batch = f.producer.try_reserve_batch(100).unwrap();
    assert_eq!(batch.len(), 8);
    drop(batch);
    assert_eq!(f.producer.try_reserve_batch(0).unwrap().len(), 0);
    for i in 0..3u8 {
        assert!(f.producer.try_send(&[i]).unwrap());
    }
    assert_eq!(f.consumer.try_read_batch(2).unwrap().len(), 2);
    assert_eq!(f.consumer.try_read_batch(0).unwrap().len(), 0);
    assert_eq!(f.consumer.try_read_batch(100).unwrap().len(), 1);
}

#[test]
fn recv_into_a_short_buffer_keeps_the_message() {
    let mut f = fixture(4, 32);
    assert!(f.producer.try_send(b"twelve bytes").unwrap());
    let mut small = [0u8; 4];
    assert!(matches!(
        f.consumer.try_recv(&mut small), Err(ref e) if e.kind() == ErrorKind::BufferTooSmall && e.sizes() == Some((12, 4))));
    let mut big = [0u8; 24];
    assert_eq!(f.consumer.try_recv(&mut big).unwrap().unwrap(), 12);
    assert_eq!(&big[..12], b"twelve bytes");
}

#[test]
fn consumer_drains_then_gets_disconnected_after_producer_closes() {
    let Fixture {
        ring,
        mut producer,
        mut consumer,
        _remove,
    } = fixture(4, 16);
    assert!(producer.try_send(b"1").unwrap());
    assert!(producer.try_send(b"2").unwrap());
    drop(producer);
    assert_eq!(recv(&mut consumer).unwrap(), b"1");
    assert_eq!(recv(&mut consumer).unwrap(), b"2");
    assert!(matches!(consumer.try_read(), Err(ref e) if e.kind() == ErrorKind::Disconnected));
    assert!(consumer.is_disconnected());
    assert_eq!(ring.info().participants[0].state, ParticipantState::Closed);
    // A new producer reconnects the ring.
    let mut producer = spsc::Producer::join(&ring).unwrap();
    assert!(matches!(consumer.try_read(), Ok(None)));
    assert!(producer.try_send(b"3").unwrap());
    assert_eq!(recv(&mut consumer).unwrap(), b"3");
}

#[test]
fn producer_gets_disconnected_only_when_full_after_consumer_closes() {
    let Fixture {
        ring,
        mut producer,
        consumer,
        _remove,
    } = fixture(2, 16);
    drop(consumer);
    assert!(producer.try_send(b"1").unwrap());
    assert!(producer.try_send(b"2").unwrap());
    assert!(matches!(producer.try_send(b"3"), Err(ref e) if e.kind() == ErrorKind::Disconnected));
    assert!(producer.is_disconnected());
    // Messages left behind wait for the next consumer.
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    assert_eq!(recv(&mut consumer).unwrap(), b"1");
}

#[test]
fn a_ring_nobody_has_joined_yet_is_full_or_empty_not_disconnected() {
    let name = unique_name("not-yet");
    let ring = Ring::create(&name, &RingOptions::spsc(2, 16)).unwrap();
    let _remove = RemoveRing(name);
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    assert!(matches!(consumer.try_read(), Ok(None)));
    assert!(!consumer.is_disconnected());
    drop(consumer);
    let ring2 = Ring::create(&unique_name("not-yet"), &RingOptions::spsc(2, 16)).unwrap();
    let _remove2 = RemoveRing(
        ring2
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned(),
    );
    let mut producer = spsc::Producer::join(&ring2).unwrap();
    assert!(producer.try_send(b"1").unwrap());
    assert!(producer.try_send(b"2").unwrap());
    assert!(matches!(producer.try_send(b"3"), Ok(false)));
}

#[test]
fn a_second_handle_of_a_role_in_the_same_process_is_refused() {
    let f = fixture(4, 16);
    assert!(matches!(
        spsc::Producer::join(&f.ring), Err(ref e) if e.kind() == ErrorKind::RoleTaken && e.to_string().contains(&Role::Producer.to_string())));
    let reopened = Ring::open(f.ring.path()).unwrap();
    assert!(matches!(
        spsc::Consumer::join(&reopened), Err(ref e) if e.kind() == ErrorKind::RoleTaken && e.to_string().contains(&Role::Consumer.to_string())));
}

#[test]
fn info_reports_geometry_positions_and_participants() {
    let mut f = fixture(16, 40);
    assert!(f.producer.try_send(b"abc").unwrap());
    assert!(f.producer.try_send(b"def").unwrap());
    recv(&mut f.consumer).unwrap();
    let info = shmlane::info(f.ring.path()).unwrap();
    assert_eq!(info.geometry.capacity, 16);
    assert_eq!(info.geometry.max_payload, 32);
    assert_eq!(
        info.version,
        (
            shmlane::layout::VERSION_MAJOR,
            shmlane::layout::VERSION_MINOR
        )
    );
    assert_eq!((info.head, info.tail, info.len()), (1, 2, 1));
    assert_eq!(info.creator_pid, std::process::id());
    let roles: Vec<_> = info
        .participants
        .iter()
        .map(|p| (p.role, p.state))
        .collect();
    assert_eq!(
        roles,
        [
            (Some(Role::Producer), ParticipantState::Alive),
            (Some(Role::Consumer), ParticipantState::Alive)
        ]
    );
}

#[test]
fn handles_outlive_the_ring_value_and_its_removal() {
    let name = unique_name("outlive");
    let ring = Ring::create(&name, &RingOptions::spsc(4, 32)).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    drop(ring);
    shmlane::remove(&name).unwrap();
    assert!(matches!(Ring::open(&name), Err(ref e) if e.kind() == ErrorKind::NotFound));
    assert!(producer.try_send(b"still mapped").unwrap());
    assert_eq!(recv(&mut consumer).unwrap(), b"still mapped");
}

#[test]
fn handles_move_to_other_threads() {
    let f = fixture(8, 16);
    let Fixture {
        mut producer,
        mut consumer,
        _remove,
        ..
    } = f;
    let sender = std::thread::spawn(move || {
        for i in 0..10_000u32 {
            loop {
                match producer.try_send(&i.to_le_bytes()) {
                    Ok(true) => break,
                    Ok(false) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
    });
    let mut expected = 0u32;
    while expected < 10_000 {
        match consumer.try_read() {
            Ok(Some(message)) => {
                assert_eq!(&*message, &expected.to_le_bytes());
                expected += 1;
            }
            Ok(None) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
    sender.join().unwrap();
}

fn fixed_fixture(capacity: u64, message_size: u64) -> Fixture {
    let name = unique_name("fixed");
    let ring = Ring::create(&name, &RingOptions::spsc_fixed(capacity, message_size)).unwrap();
    let producer = spsc::Producer::join(&ring).unwrap();
    let consumer = spsc::Consumer::join(&ring).unwrap();
    Fixture {
        ring,
        producer,
        consumer,
        _remove: RemoveRing(name),
    }
}

#[test]
fn fixed_size_rings_carry_messages_of_exactly_their_size() {
    let mut f = fixed_fixture(4, 16);
    assert_eq!(f.producer.max_payload(), 16);
    assert_eq!(f.ring.geometry().slot_size, 16);
    assert!(matches!(
        f.producer.try_send(b"short"), Err(ref e) if e.kind() == ErrorKind::WrongMessageSize && e.sizes() == Some((5, 16))));
    let slot = f.producer.try_reserve().unwrap().unwrap();
    assert_eq!(slot.len(), 16);
    assert!(matches!(
        slot.commit(8), Err(ref e) if e.kind() == ErrorKind::WrongMessageSize && e.sizes() == Some((8, 16))));
    assert!(matches!(f.consumer.try_read(), Ok(None)));
    assert!(f.producer.try_send(&[7u8; 16]).unwrap());
    let mut slot = f.producer.try_reserve().unwrap().unwrap();
    slot.copy_from_slice(&[9u8; 16]);
    slot.commit(16).unwrap();
    assert_eq!(recv(&mut f.consumer).unwrap(), [7u8; 16]);
    let mut buffer = [0u8; 16];
    assert_eq!(f.consumer.try_recv(&mut buffer).unwrap().unwrap(), 16);
    assert_eq!(buffer, [9u8; 16]);
}

#[test]
fn fixed_size_batches_are_two_contiguous_runs_across_the_wrap() {
    let mut f = fixed_fixture(8, 8);
    for seq in 0..5u64 {
        assert!(f.producer.try_send(&seq.to_le_bytes()).unwrap());
        recv(&mut f.consumer).unwrap();
    }
    let mut batch = f.producer.try_reserve_batch(6).unwrap();
    {
        let (first, second) = batch.as_mut_slices().unwrap();
        assert_eq!(
            (first.len(), second.len()),
            (3 * 8, 3 * 8),
            "slots 5..8, then 0..3"
        );
        for (i, record) in first
            .chunks_exact_mut(8)
            .chain(second.chunks_exact_mut(8))
            .enumerate()
        {
            record.copy_from_slice(&(100 + i as u64).to_le_bytes());
        }
    }
    batch.commit();
    let read = f.consumer.try_read_batch(8).unwrap();
    let (first, second) = read.as_slices().unwrap();
    let records: Vec<u64> = first
        .chunks_exact(8)
        .chain(second.chunks_exact(8))
        .map(|r| u64::from_le_bytes(r.try_into().unwrap()))
        .collect();
    assert_eq!(records, [100, 101, 102, 103, 104, 105]);
    assert_eq!(read.get(5), 105u64.to_le_bytes());
}

#[test]
fn variable_length_batches_have_no_contiguous_runs() {
    let mut f = fixture(4, 16);
    assert!(f
        .producer
        .try_reserve_batch(2)
        .unwrap()
        .as_mut_slices()
        .is_none());
    assert!(f.producer.try_send(b"a").unwrap());
    assert!(f.consumer.try_read_batch(2).unwrap().as_slices().is_none());
}

/// The guards keep one slot reserved until published and one message
/// borrowed until released (what the C API lends through them): a slot given
/// up is handed out again, a failed commit publishes nothing, and a message
/// kept for a short buffer is read again.
#[test]
fn one_slot_is_reserved_and_one_message_borrowed_at_a_time() {
    let mut f = fixture(2, 16);
    let first = {
        let mut slot = f.producer.try_reserve().unwrap().unwrap();
        slot[..3].copy_from_slice(b"abc");
        slot.as_ptr()
    };
    // Given up uncommitted: the next reservation is the same slot.
    let mut slot = f.producer.try_reserve().unwrap().unwrap();
    assert_eq!(slot.as_ptr(), first);
    slot[..3].copy_from_slice(b"abc");
    let too_large = slot.commit(9);
    assert!(matches!(
        too_large, Err(ref e) if e.kind() == ErrorKind::MessageTooLarge && e.sizes() == Some((9, 8))));
    assert!(matches!(f.consumer.try_read(), Ok(None)));
    let mut slot = f.producer.try_reserve().unwrap().unwrap();
    assert_eq!(slot.as_ptr(), first);
    slot[..3].copy_from_slice(b"abc");
    slot.commit(3).unwrap();
    assert!(f.producer.try_send(b"de").unwrap());
    assert!(matches!(f.producer.try_reserve(), Ok(None)));

    let mut short = [0u8; 2];
    let refused = f.consumer.try_recv(&mut short).unwrap_err();
    assert_eq!(refused.sizes(), Some((3, 2)));
    let message = f.consumer.try_read().unwrap().unwrap();
    assert_eq!(&*message, b"abc");
    drop(message);
    assert_eq!(recv(&mut f.consumer).unwrap(), b"de");
    assert!(f
        .consumer
        .read(Some(std::time::Duration::from_millis(5)))
        .unwrap()
        .is_none());
    assert!(f.producer.reserve(None).unwrap().is_some());
    drop(f.ring);
}

/// Every length from empty to the maximum payload goes through both the
/// copying and the zero-copy paths byte for byte (short messages are copied
/// with fixed-size moves, longer ones otherwise: each length is its own case).
#[test]
fn every_message_length_round_trips_through_both_paths() {
    let mut f = fixture(8, 136);
    let max = f.ring.max_payload();
    let mut buffer = vec![0u8; max + 8];
    for len in 0..=max {
        let message: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
        assert!(f.producer.try_send(&message).unwrap());
        buffer.fill(0xEE);
        assert_eq!(f.consumer.try_recv(&mut buffer).unwrap(), Some(len));
        assert_eq!(&buffer[..len], &message[..], "copied, length {len}");
        assert!(
            buffer[len..].iter().all(|&b| b == 0xEE),
            "past length {len}"
        );

        let mut slot = f.producer.try_reserve().unwrap().expect("room");
        slot[..len].copy_from_slice(&message);
        slot.commit(len).unwrap();
        let read = f.consumer.try_read().unwrap().expect("a message");
        assert_eq!(&*read, &message[..], "in place, length {len}");
    }
}
