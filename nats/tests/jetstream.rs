//! The outbound bridge in JetStream mode against a real nats-server with
//! JetStream on 127.0.0.1: every message of the ring is stored once, a
//! message the stream already has (same ring, incarnation and position) is
//! acknowledged as a duplicate and not stored again, and a bridge process
//! killed with SIGKILL mid-stream and started again leaves the stream with
//! every message exactly once.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{fill_message, message_len, unique_name, RemoveRing, Server};
use shmlane::{spsc, ErrorKind, Ring, RingOptions};
use shmlane_nats::{message_id, BridgeOut, Connection, OutOptions, POSITION_HEADER};

const STALL: Duration = Duration::from_secs(120);
const MAX: usize = 100;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

/// The number after `"key":` in a JSON text.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let quoted = format!("\"{key}\":");
    let at = json.find(&quoted)? + quoted.len();
    let digits: String = json[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Creates stream `stream` capturing `subject`, de-duplicating over 2 minutes.
fn create_stream(connection: &mut Connection, stream: &str, subject: &str) {
    let config = format!(
        "{{\"name\":\"{stream}\",\"subjects\":[\"{subject}\"],\"storage\":\"file\",\"duplicate_window\":120000000000}}"
    );
    let reply = connection
        .request(
            &format!("$JS.API.STREAM.CREATE.{stream}"),
            config.as_bytes(),
            Duration::from_secs(20),
        )
        .unwrap();
    let text = String::from_utf8_lossy(&reply.payload);
    assert!(!text.contains("\"error\""), "stream create: {text}");
}

/// How many messages stream `stream` holds.
fn stream_messages(connection: &mut Connection, stream: &str) -> u64 {
    let reply = connection
        .request(
            &format!("$JS.API.STREAM.INFO.{stream}"),
            b"",
            Duration::from_secs(20),
        )
        .unwrap();
    let text = String::from_utf8_lossy(&reply.payload);
    let state = &text[text.find("\"state\"").expect("stream info has a state")..];
    json_number(state, "messages").expect("the state counts messages")
}

/// The stream's message count once it reaches `want`, or what it holds
/// after 20 s of looking.
fn stream_messages_reaching(connection: &mut Connection, stream: &str, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let messages = stream_messages(connection, stream);
        if messages >= want || Instant::now() >= deadline {
            return messages;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn send_all(ring: &Ring, count: u64) -> std::thread::JoinHandle<()> {
    let ring = ring.clone();
    std::thread::spawn(move || {
        let mut producer = spsc::Producer::join(&ring).unwrap();
        let mut message = [0u8; MAX];
        for seq in 0..count {
            let len = message_len(seq, MAX);
            fill_message(seq, &mut message[..len]);
            // Between a killed bridge and its successor the ring has no
            // consumer: a full ring then says Disconnected; wait for one.
            loop {
                match producer.send(&message[..len], Some(STALL)) {
                    Ok(sent) => break assert!(sent),
                    Err(error) if error.kind() == ErrorKind::Disconnected => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(error) => panic!("producer: {error}"),
                }
            }
        }
    })
}

fn jetstream_options(address: &str, subject: &str) -> OutOptions {
    let mut options = OutOptions::new(address, subject);
    options.jetstream = true;
    options
}

#[test]
fn a_message_the_stream_already_has_is_acknowledged_as_a_duplicate_and_not_stored_again() {
    const MESSAGES: u64 = 2_000;
    const EARLY: u64 = 50;
    let server = Server::start_jetstream(1 << 20);
    let mut admin = Connection::connect(&server.address, "test-admin").unwrap();
    create_stream(&mut admin, "DEDUP", "ring.dedup");
    let name = unique_name("dedup");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::spsc_for_payload(64, MAX as u64)).unwrap();
    // The first messages reach the stream once before the bridge starts,
    // with the ids the bridge will give them: as if a bridge had published
    // them and died before it released them.
    let incarnation = ring.info().created_ns;
    for position in 0..EARLY {
        let id = message_id(&name, incarnation, position);
        let reply = admin.reply_subject().unwrap();
        let position_text = position.to_string();
        admin
            .publish_with_reply(
                "ring.dedup",
                &reply,
                &[(POSITION_HEADER, &position_text), ("Nats-Msg-Id", &id)],
                b"early",
            )
            .unwrap();
    }
    admin.flush(Some(Duration::from_secs(10))).unwrap();
    // A flush says the server has the publishes, not that the stream has
    // stored them all yet: wait for the stream (bounded) before the bridge.
    assert_eq!(stream_messages_reaching(&mut admin, "DEDUP", EARLY), EARLY);

    let producer = send_all(&ring, MESSAGES);
    let mut bridge =
        BridgeOut::new(&ring, jetstream_options(&server.address, "ring.dedup")).unwrap();
    let deadline = Instant::now() + STALL;
    loop {
        match bridge.step(Duration::from_millis(20)) {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::Disconnected => break,
            Err(error) => panic!("bridge: {error}"),
        }
        assert!(Instant::now() < deadline, "the bridge hung");
    }
    producer.join().unwrap();
    let counters = bridge.counters();
    assert_eq!(counters.forwarded, MESSAGES);
    assert_eq!(counters.duplicates, EARLY, "{counters:?}");
    assert_eq!(
        stream_messages(&mut admin, "DEDUP"),
        MESSAGES,
        "stored once each"
    );
}

#[test]
#[ignore = "run by a_bridge_killed_and_restarted_leaves_every_message_in_the_stream_once"]
fn child_jetstream_bridge() {
    let ring = Ring::open(&env("SHMLANE_TEST_RING")).unwrap();
    let mut bridge = BridgeOut::new(
        &ring,
        jetstream_options(&env("SHMLANE_TEST_SERVER"), "ring.kill"),
    )
    .unwrap();
    println!("joined");
    loop {
        match bridge.step(Duration::from_millis(20)) {
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::Disconnected => break,
            Err(error) => panic!("bridge: {error}"),
        }
    }
    let counters = bridge.counters();
    println!(
        "done forwarded {} duplicates {}",
        counters.forwarded, counters.duplicates
    );
}

fn spawn_bridge(ring: &str, server: &str) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_jetstream_bridge",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SHMLANE_TEST_RING", ring)
        .env("SHMLANE_TEST_SERVER", server)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "joined");
    child
}

fn wait_for_line(child: &mut Child, wanted: &str) -> String {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "child ended before {wanted:?}"
        );
        if let Some(at) = line.find(wanted) {
            child.stdout = Some(reader.into_inner());
            return line[at..].trim().to_owned();
        }
    }
}

#[test]
fn a_bridge_killed_and_restarted_leaves_every_message_in_the_stream_once() {
    const MESSAGES: u64 = 20_000;
    let server = Server::start_jetstream(1 << 20);
    let mut admin = Connection::connect(&server.address, "test-admin").unwrap();
    create_stream(&mut admin, "KILL", "ring.kill");
    let name = unique_name("kill");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::spsc_for_payload(256, MAX as u64)).unwrap();
    let mut first = spawn_bridge(&name, &server.address);
    let producer = send_all(&ring, MESSAGES);
    // Kill the bridge with SIGKILL once part of the stream is in.
    let deadline = Instant::now() + STALL;
    while stream_messages(&mut admin, "KILL") < MESSAGES / 4 {
        assert!(
            Instant::now() < deadline,
            "the first bridge forwarded too little"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // A new bridge takes over the dead one's place in the ring: it starts
    // at what the dead one had not released, and sends that again.
    let mut second = spawn_bridge(&name, &server.address);
    producer.join().unwrap();
    let done = wait_for_line(&mut second, "done");
    assert!(second.wait().unwrap().success());
    assert_eq!(
        stream_messages(&mut admin, "KILL"),
        MESSAGES,
        "every message stored exactly once ({done})"
    );
}
