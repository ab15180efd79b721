//! Helpers shared by the integration tests: unique ring names, removal guards,
//! child processes, and deterministic messages.
#![allow(dead_code)] // each test file uses a different subset

use std::process::{Child, Command, Stdio};
// A test-local counter, not ring state: the crate's `sync` rule does not apply.
#[allow(clippy::disallowed_types)]
use std::sync::atomic::{AtomicU32, Ordering};

/// A ring name unique to this process and call.
#[allow(clippy::disallowed_types)]
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "shmlane-test-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes the ring of this name when dropped, whatever the test did.
pub struct RemoveRing(pub String);

impl Drop for RemoveRing {
    fn drop(&mut self) {
        let _ = shmlane::remove(&self.0);
    }
}

/// Runs the `#[ignore]`d test `child_test` of this same test binary in a new
/// process, with `env` set. Its stdout is piped.
pub fn spawn_child(child_test: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    Command::new(exe)
        .args([
            child_test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child test process")
}

/// xorshift64*: a small deterministic generator both processes can share.
#[derive(Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// The length of message `seq`: 0, 1, `max` and random lengths in between.
pub fn message_len(seq: u64, max: usize) -> usize {
    match seq % 7 {
        0 => 0,
        1 => 1,
        2 => max,
        _ => XorShift::new(seq).below(max as u64 + 1) as usize,
    }
}

/// Fills `out` with the content of message `seq`: its sequence number first
/// (as far as it fits), then bytes derived from it, and a checksum byte last.
pub fn fill_message(seq: u64, out: &mut [u8]) {
    let Some((last, body)) = out.split_last_mut() else {
        return;
    };
    let mut rng = XorShift::new(seq ^ 0xA5A5_5A5A);
    let seq_bytes = seq.to_le_bytes();
    for (i, byte) in body.iter_mut().enumerate() {
        *byte = if i < 8 {
            seq_bytes[i]
        } else {
            rng.next_u64() as u8
        };
    }
    *last = checksum(body);
}

/// Additive checksum, folded to a byte.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0x5Au8, |sum, &b| sum.rotate_left(1) ^ b)
}

/// Checks that `message` is exactly message `seq`; returns a description of the
/// first difference otherwise.
pub fn check_message(
    seq: u64,
    max: usize,
    message: &[u8],
    scratch: &mut [u8],
) -> Result<(), String> {
    let len = message_len(seq, max);
    if message.len() != len {
        return Err(format!(
            "message {seq}: length {} instead of {len}",
            message.len()
        ));
    }
    let expected = &mut scratch[..len];
    fill_message(seq, expected);
    if message != expected {
        return Err(format!(
            "message {seq}: content differs (checksum or sequence broken)"
        ));
    }
    if let Some((&last, body)) = message.split_last() {
        if !body.is_empty() && last != checksum(body) {
            return Err(format!("message {seq}: checksum mismatch"));
        }
    }
    Ok(())
}
