//! Ring → NATS → ring between processes: an outbound bridge process drains
//! one ring into a real nats-server on 127.0.0.1, an inbound bridge process
//! feeds a second ring from it, and the test's own producer and consumer
//! check that every message arrives once, in order, intact (content and
//! checksum), through small rings that keep both bridges waiting on full and
//! empty rings; and the inbound bridge refuses messages too large for its
//! ring, and counts them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{check_message, fill_message, message_len, unique_name, RemoveRing, Server};
use shmlane::{spsc, ErrorKind, Ring, RingOptions};
use shmlane_nats::{BridgeIn, BridgeOut, Connection, InOptions, OutOptions};

const MESSAGES: u64 = 20_000;
const MAX: usize = 200;
const STALL: Duration = Duration::from_secs(120);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

/// A bridge process: this test binary running one `#[ignore]`d child test.
struct BridgeProcess(Child);

impl BridgeProcess {
    fn spawn(child_test: &str, env: &[(&str, &str)]) -> BridgeProcess {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                child_test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        BridgeProcess(child)
    }

    /// Waits until the child prints a line containing `wanted`.
    fn wait_for(&mut self, wanted: &str) {
        let stdout = self.0.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "child ended before {wanted:?}"
            );
            if line.contains(wanted) {
                break;
            }
        }
        self.0.stdout = Some(reader.into_inner());
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "run by ring_to_nats_to_ring_across_processes_delivers_every_message_in_order"]
fn child_bridge_out() {
    let ring = Ring::open(&env("SHMLANE_TEST_RING")).unwrap();
    let mut bridge = BridgeOut::new(
        &ring,
        OutOptions::new(env("SHMLANE_TEST_SERVER"), "round.trip"),
    )
    .unwrap();
    println!("joined");
    loop {
        match bridge.step(Duration::from_millis(50)) {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::Disconnected => break,
            Err(error) => panic!("bridge out: {error}"),
        }
    }
    println!("out done: {:?}", bridge.counters());
}

#[test]
#[ignore = "run by ring_to_nats_to_ring_across_processes_delivers_every_message_in_order"]
fn child_bridge_in() {
    let ring = Ring::open(&env("SHMLANE_TEST_RING")).unwrap();
    let mut bridge = BridgeIn::new(
        &ring,
        InOptions::new(env("SHMLANE_TEST_SERVER"), "round.trip"),
    )
    .unwrap();
    bridge.connect();
    println!("subscribed");
    loop {
        bridge.step(Duration::from_millis(50)).unwrap();
    }
}

#[test]
fn ring_to_nats_to_ring_across_processes_delivers_every_message_in_order() {
    let server = Server::start(1 << 20);
    let (source_name, sink_name) = (unique_name("source"), unique_name("sink"));
    let _remove = (
        RemoveRing(source_name.clone()),
        RemoveRing(sink_name.clone()),
    );
    let source =
        Ring::create(&source_name, &RingOptions::spsc_for_payload(16, MAX as u64)).unwrap();
    let sink = Ring::create(&sink_name, &RingOptions::spsc_for_payload(16, MAX as u64)).unwrap();
    let mut consumer = spsc::Consumer::join(&sink).unwrap();
    let mut bridge_in = BridgeProcess::spawn(
        "child_bridge_in",
        &[
            ("SHMLANE_TEST_RING", &sink_name),
            ("SHMLANE_TEST_SERVER", &server.address),
        ],
    );
    bridge_in.wait_for("subscribed");
    let mut bridge_out = BridgeProcess::spawn(
        "child_bridge_out",
        &[
            ("SHMLANE_TEST_RING", &source_name),
            ("SHMLANE_TEST_SERVER", &server.address),
        ],
    );
    bridge_out.wait_for("joined");
    let producer = std::thread::spawn({
        let source = source.clone();
        move || {
            let mut producer = spsc::Producer::join(&source).unwrap();
            let mut message = [0u8; MAX];
            for seq in 0..MESSAGES {
                let len = message_len(seq, MAX);
                fill_message(seq, &mut message[..len]);
                assert!(producer.send(&message[..len], Some(STALL)).unwrap());
            }
        }
    });
    let deadline = Instant::now() + STALL;
    for seq in 0..MESSAGES {
        let message = loop {
            if let Some(message) = consumer.read(Some(Duration::from_millis(100))).unwrap() {
                break message;
            }
            assert!(Instant::now() < deadline, "message {seq} never came");
        };
        assert_eq!(check_message(&message, MAX).unwrap(), seq);
    }
    producer.join().unwrap();
    bridge_out.wait_for("out done");
    assert!(
        consumer
            .read(Some(Duration::from_millis(200)))
            .unwrap()
            .is_none(),
        "nothing more than was sent"
    );
}

#[test]
fn the_inbound_bridge_refuses_messages_larger_than_its_ring_and_counts_them() {
    let server = Server::start(1 << 20);
    let name = unique_name("in-refuse");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::spsc_for_payload(16, 64)).unwrap();
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    let mut bridge =
        BridgeIn::new(&ring, InOptions::new(server.address.clone(), "in.refuse")).unwrap();
    bridge.connect();
    let mut publisher = Connection::connect(&server.address, "test-publisher").unwrap();
    publisher.publish("in.refuse", &[], &[1; 64]).unwrap();
    publisher.publish("in.refuse", &[], &[2; 65]).unwrap();
    publisher.publish("in.refuse", &[], &[3; 10]).unwrap();
    publisher.flush(Some(Duration::from_secs(10))).unwrap();
    let deadline = Instant::now() + STALL;
    while bridge.counters().forwarded + bridge.counters().refused < 3 {
        bridge.step(Duration::from_millis(50)).unwrap();
        assert!(Instant::now() < deadline, "the messages never came");
    }
    assert_eq!(bridge.counters().forwarded, 2);
    assert_eq!(bridge.counters().refused, 1);
    assert_eq!(&*consumer.try_read().unwrap().unwrap(), &[1; 64][..]);
    assert_eq!(&*consumer.try_read().unwrap().unwrap(), &[3; 10][..]);
    assert!(
        consumer.try_read().unwrap().is_none(),
        "the long one was not cut in"
    );
}

#[test]
fn a_full_ring_holds_the_inbound_bridge_back_and_loses_nothing() {
    const COUNT: u64 = 2_000;
    let server = Server::start(1 << 20);
    let name = unique_name("in-full");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::spsc_for_payload(4, MAX as u64)).unwrap();
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    let mut bridge =
        BridgeIn::new(&ring, InOptions::new(server.address.clone(), "in.full")).unwrap();
    bridge.connect();
    let bridge = std::thread::spawn(move || {
        while bridge.counters().forwarded < COUNT {
            bridge.step(Duration::from_millis(50)).unwrap();
        }
        bridge.counters()
    });
    let mut publisher = Connection::connect(&server.address, "test-publisher").unwrap();
    let mut message = [0u8; MAX];
    for seq in 0..COUNT {
        let len = message_len(seq, MAX);
        fill_message(seq, &mut message[..len]);
        publisher.publish("in.full", &[], &message[..len]).unwrap();
    }
    publisher.flush(Some(Duration::from_secs(10))).unwrap();
    // Read nothing until the ring is full: the bridge must wait for room.
    let deadline = Instant::now() + STALL;
    while ring.info().len() < 4 {
        assert!(Instant::now() < deadline, "the ring never filled");
        std::thread::sleep(Duration::from_millis(1));
    }
    for seq in 0..COUNT {
        let message = consumer
            .read(Some(STALL))
            .unwrap()
            .expect("every message comes");
        assert_eq!(check_message(&message, MAX).unwrap(), seq);
    }
    let counters = bridge.join().unwrap();
    assert_eq!(counters.forwarded, COUNT);
    assert_eq!(counters.reconnects, 0);
}
