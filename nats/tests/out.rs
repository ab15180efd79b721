//! The outbound bridge against a real nats-server on 127.0.0.1: every
//! message of a ring reaches a subscriber once, in order, intact (checked
//! by content and checksum), with its ring position in a header; messages
//! above the server's max_payload are refused and counted, never cut; and a
//! bridge started before its server keeps trying until it comes.

mod common;

use std::time::{Duration, Instant};

use common::{check_message, fill_message, message_len, unique_name, RemoveRing, Server};
use shmlane::{spsc, ErrorKind, Ring, RingOptions};
use shmlane_nats::{BridgeOut, Connection, OutOptions, POSITION_HEADER};

const MESSAGES: u64 = 20_000;
/// The ring's largest message; the server takes messages of at most
/// [`SERVER_MAX_PAYLOAD`] bytes with their headers, so some are refused.
const RING_MAX_PAYLOAD: usize = 3_000;
const SERVER_MAX_PAYLOAD: usize = 2_048;
/// Bound on the whole transfer: longer means it hung.
const STALL: Duration = Duration::from_secs(120);

/// Whether the bridge refuses message `seq` (it and its header exceed the
/// server's limit).
fn refused(seq: u64) -> bool {
    let header = [(POSITION_HEADER, seq.to_string())];
    let header: Vec<(&str, &str)> = header.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Connection::message_size(&header, message_len(seq, RING_MAX_PAYLOAD)) > SERVER_MAX_PAYLOAD
}

#[test]
fn every_message_reaches_the_subject_once_in_order_and_oversize_ones_are_refused() {
    let server = Server::start(SERVER_MAX_PAYLOAD);
    let name = unique_name("out");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(
        &name,
        &RingOptions::spsc_for_payload(64, RING_MAX_PAYLOAD as u64),
    )
    .unwrap();
    let mut subscriber = Connection::connect(&server.address, "test-subscriber").unwrap();
    subscriber.subscribe("ring.out").unwrap();
    subscriber.flush(Some(Duration::from_secs(10))).unwrap();

    let producer = std::thread::spawn({
        let ring = ring.clone();
        move || {
            let mut producer = spsc::Producer::join(&ring).unwrap();
            let mut message = vec![0u8; RING_MAX_PAYLOAD];
            for seq in 0..MESSAGES {
                let len = message_len(seq, RING_MAX_PAYLOAD);
                fill_message(seq, &mut message[..len]);
                assert!(producer.send(&message[..len], Some(STALL)).unwrap());
            }
        }
    });
    let bridge = std::thread::spawn({
        let ring = ring.clone();
        let options = OutOptions::new(server.address.clone(), "ring.out");
        move || {
            let mut bridge = BridgeOut::new(&ring, options).unwrap();
            let deadline = Instant::now() + STALL;
            loop {
                match bridge.step(Duration::from_millis(20)) {
                    Ok(_) => {}
                    Err(error) if error.kind() == ErrorKind::Disconnected => break,
                    Err(error) => panic!("bridge: {error}"),
                }
                assert!(Instant::now() < deadline, "the bridge hung");
            }
            bridge.counters()
        }
    });

    let expected: Vec<u64> = (0..MESSAGES).filter(|&seq| !refused(seq)).collect();
    assert!(
        expected.len() < MESSAGES as usize && !expected.is_empty(),
        "the test sends both messages that fit and messages that do not"
    );
    let deadline = Instant::now() + STALL;
    for &seq in &expected {
        let message = loop {
            if let Some(message) = subscriber.next_message(Duration::from_millis(100)).unwrap() {
                break message;
            }
            assert!(Instant::now() < deadline, "message {seq} never came");
        };
        assert_eq!(message.subject, "ring.out");
        let got = check_message(&message.payload, RING_MAX_PAYLOAD).unwrap();
        assert_eq!(got, seq, "messages arrive in order, none lost or repeated");
        // An SPSC ring's positions count every message from 0.
        assert_eq!(
            message.header(POSITION_HEADER),
            Some(seq.to_string().as_str())
        );
    }
    producer.join().unwrap();
    let counters = bridge.join().unwrap();
    assert_eq!(counters.forwarded, expected.len() as u64);
    assert_eq!(counters.refused, MESSAGES - expected.len() as u64);
    assert_eq!(counters.reconnects, 0);
    assert!(
        subscriber
            .next_message(Duration::from_millis(200))
            .unwrap()
            .is_none(),
        "nothing more than the ring held"
    );
}

#[test]
fn a_bridge_started_before_its_server_forwards_once_the_server_comes() {
    // A port no server listens on yet: take one, and start the server there later.
    let name = unique_name("late-server");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::spsc(16, 64)).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    assert!(producer.try_send(b"waited for the server").unwrap());
    let server_slot = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = server_slot.local_addr().unwrap().to_string();
    drop(server_slot);
    let bridge = std::thread::spawn({
        let ring = ring.clone();
        let mut options = OutOptions::new(address.clone(), "ring.late");
        options.max_backoff = Duration::from_millis(50);
        move || {
            let mut bridge = BridgeOut::new(&ring, options).unwrap();
            let forwarded = bridge.step(STALL).unwrap();
            (forwarded, bridge.counters())
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !bridge.is_finished(),
        "no server yet: the bridge keeps trying"
    );
    let server = Server::start_at(&address, SERVER_MAX_PAYLOAD);
    let (forwarded, counters) = bridge.join().unwrap();
    assert_eq!(forwarded, 1);
    assert_eq!(counters.forwarded, 1);
    drop(server);
}

/// Connects, subscribes to `subject` and waits until the server has the
/// subscription, retrying while the server is not up.
fn subscribe(address: &str, subject: &str) -> Connection {
    let deadline = Instant::now() + STALL;
    loop {
        if let Ok(mut connection) = Connection::connect(address, "test-subscriber") {
            connection.subscribe(subject).unwrap();
            connection.flush(Some(Duration::from_secs(10))).unwrap();
            return connection;
        }
        assert!(Instant::now() < deadline, "the server never came back");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The sequence number of the next message, waiting for it.
fn next_seq(subscriber: &mut Connection, max: usize) -> u64 {
    let deadline = Instant::now() + STALL;
    loop {
        if let Some(message) = subscriber.next_message(Duration::from_millis(100)).unwrap() {
            let seq = check_message(&message.payload, max).unwrap();
            assert_eq!(
                message.header(POSITION_HEADER),
                Some(seq.to_string().as_str())
            );
            return seq;
        }
        assert!(Instant::now() < deadline, "no message came");
    }
}

#[test]
fn a_bridge_reconnects_when_its_server_restarts_and_loses_nothing_from_the_ring() {
    const FIRST: u64 = 2_000;
    const DURING: u64 = 500;
    const TOTAL: u64 = 5_000;
    let max = 64;
    let mut server = Server::start(SERVER_MAX_PAYLOAD);
    let address = server.address.clone();
    let name = unique_name("restart");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::spsc_for_payload(4096, max as u64)).unwrap();
    let mut subscriber = subscribe(&address, "ring.restart");
    let bridge = std::thread::spawn({
        let ring = ring.clone();
        let mut options = OutOptions::new(address.clone(), "ring.restart");
        options.max_backoff = Duration::from_millis(50);
        move || {
            let mut bridge = BridgeOut::new(&ring, options).unwrap();
            loop {
                match bridge.step(Duration::from_millis(20)) {
                    Ok(_) => {}
                    Err(error) if error.kind() == ErrorKind::Disconnected => break,
                    Err(error) => panic!("bridge: {error}"),
                }
            }
            bridge.counters()
        }
    });
    let mut producer = spsc::Producer::join(&ring).unwrap();
    let mut message = vec![0u8; max];
    let mut send = |range: std::ops::Range<u64>| {
        for seq in range {
            let len = message_len(seq, max);
            fill_message(seq, &mut message[..len]);
            assert!(producer.send(&message[..len], Some(STALL)).unwrap());
        }
    };
    send(0..FIRST);
    for seq in 0..FIRST {
        assert_eq!(next_seq(&mut subscriber, max), seq);
    }
    // The server goes away; messages keep coming into the ring meanwhile.
    drop(subscriber);
    drop(server);
    send(FIRST..FIRST + DURING);
    std::thread::sleep(Duration::from_millis(100));
    server = Server::start_at(&address, SERVER_MAX_PAYLOAD);
    let mut subscriber = subscribe(&address, "ring.restart");
    send(FIRST + DURING..TOTAL);
    drop(producer);
    // Messages published before the subscriber came back are gone for it
    // (core NATS); from then on every one arrives, in order.
    let mut last = None;
    while last != Some(TOTAL - 1) {
        let seq = next_seq(&mut subscriber, max);
        assert!((FIRST..TOTAL).contains(&seq), "message {seq} was not due");
        if let Some(last) = last {
            assert!(seq > last, "message {seq} after {last}");
        }
        last = Some(seq);
    }
    let counters = bridge.join().unwrap();
    assert_eq!(
        counters.forwarded, TOTAL,
        "every message left the ring once confirmed"
    );
    assert!(counters.reconnects >= 1, "{counters:?}");
    drop(server);
}
