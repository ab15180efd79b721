//! Two processes, one ring: this program creates a ring in `/dev/shm`, starts a
//! copy of itself as the consumer, and produces a million 64-byte messages into
//! it, zero-copy. The consumer checks each message's sequence number and
//! checksum and both print their rates.
//!
//! ```text
//! cargo run --release -p shmlane --example pipeline [-- MESSAGES [PAYLOAD_BYTES]]
//! ```

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use shmlane::{spsc, ErrorKind, Ring, RingOptions};

const CAPACITY: u64 = 4096;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("--consumer") => consume(&args[2]),
        _ => {
            let messages = args
                .get(1)
                .map_or(Ok(1_000_000), |s| s.parse())
                .unwrap_or(1_000_000);
            let payload = args
                .get(2)
                .map_or(Ok(64), |s| s.parse())
                .unwrap_or(64usize)
                .max(16);
            produce(messages, payload)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pipeline: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Message content: sequence number, filler derived from it, checksum last.
fn fill(seq: u64, message: &mut [u8]) {
    message[..8].copy_from_slice(&seq.to_le_bytes());
    let end = message.len() - 8;
    for (i, byte) in message[8..end].iter_mut().enumerate() {
        *byte = (seq as u8).wrapping_add(i as u8);
    }
    let sum = checksum(&message[..end]);
    message[end..].copy_from_slice(&sum.to_le_bytes());
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn produce(messages: u64, payload: usize) -> Result<(), String> {
    let name = format!("shmlane-pipeline-{}", std::process::id());
    let options = RingOptions::spsc_for_payload(CAPACITY, payload as u64);
    let ring = Ring::create(&name, &options).map_err(|e| e.to_string())?;
    let _cleanup = Cleanup(name.clone());
    println!(
        "ring /dev/shm/{name}: {CAPACITY} slots of {} bytes; {messages} messages of {payload} bytes",
        ring.geometry().slot_size
    );
    let mut producer = spsc::Producer::join(&ring).map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["--consumer", &name])
        .spawn()
        .map_err(|e| format!("starting the consumer process: {e}"))?;

    let started = Instant::now();
    let mut seq = 0;
    while seq < messages {
        match producer.try_reserve() {
            Ok(Some(mut slot)) => {
                fill(seq, &mut slot[..payload]);
                slot.commit(payload).map_err(|e| e.to_string())?;
                seq += 1;
            }
            Ok(None) => std::hint::spin_loop(),
            Err(e) => return Err(format!("producer: {e}")),
        }
    }
    let elapsed = started.elapsed();
    drop(producer); // the consumer drains the ring, then sees Disconnected
    let status = child.wait().map_err(|e| e.to_string())?;
    report("producer", messages, payload, elapsed);
    if !status.success() {
        return Err(format!("consumer process failed: {status}"));
    }
    Ok(())
}

fn consume(name: &str) -> Result<(), String> {
    let ring = Ring::open(name).map_err(|e| e.to_string())?;
    let mut consumer = spsc::Consumer::join(&ring).map_err(|e| e.to_string())?;
    let mut expected = 0u64;
    let mut payload = 0;
    let mut started = None;
    loop {
        match consumer.try_read() {
            Ok(Some(message)) => {
                started.get_or_insert_with(Instant::now);
                payload = message.len();
                let end = message.len() - 8;
                let seq = u64::from_le_bytes(message[..8].try_into().expect("8 bytes"));
                let sum = u64::from_le_bytes(message[end..].try_into().expect("8 bytes"));
                if seq != expected || sum != checksum(&message[..end]) {
                    return Err(format!(
                        "message {expected} arrived damaged or out of order (seq {seq})"
                    ));
                }
                expected += 1;
            }
            Ok(None) => std::hint::spin_loop(),
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(e) => return Err(format!("consumer: {e}")),
        }
    }
    let elapsed = started.map_or(Duration::ZERO, |s| s.elapsed());
    report("consumer", expected, payload, elapsed);
    println!("consumer: all {expected} messages arrived in order with valid checksums");
    Ok(())
}

fn report(side: &str, messages: u64, payload: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let rate = messages as f64 / seconds;
    println!(
        "{side}: {messages} messages in {:.3} s = {:.2} M messages/s, {:.1} MB/s of payload",
        seconds,
        rate / 1e6,
        rate * payload as f64 / 1e6
    );
}

/// Removes the ring when the producer is done.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = shmlane::remove(&self.0);
    }
}
