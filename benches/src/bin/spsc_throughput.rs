//! SPSC throughput of the Rust API, one 8-byte message at a time between two
//! threads, zero-copy (reserve/commit, read/release) on a fixed-size ring of
//! 1024 slots. `bindings-c/bench/spsc_throughput.c` runs the same loop through
//! the C API (both poll again at once on Full and Empty, without a pause);
//! `benches/c-vs-rust.sh` runs both alternately and reports the ratio.
//!
//! Usage: `spsc-throughput [MESSAGES]` (default 10,000,000); prints
//! `rust messages=N seconds=S rate=R` (messages per second). The producer runs
//! on CPU 0 and the consumer on CPU 1, as in the C program, so that both
//! measure the same placement.

use std::time::Instant;

use shmlane::{spsc, Ring, RingOptions};

fn main() {
    let messages: u64 = std::env::args()
        .nth(1)
        .map_or(10_000_000, |n| n.parse().expect("MESSAGES is a number"));
    let path = std::env::temp_dir().join(format!(
        "shmlane-spsc-throughput-rust-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let ring = Ring::create(&path, &RingOptions::spsc_fixed(1024, 8)).expect("creating the ring");
    let mut producer = spsc::Producer::join(&ring).expect("joining as producer");
    let mut consumer = spsc::Consumer::join(&ring).expect("joining as consumer");
    let started = Instant::now();
    pin_to_cpu(0);
    let reader = std::thread::spawn(move || {
        pin_to_cpu(1);
        let mut expected = 0u64;
        while expected < messages {
            match consumer.try_read() {
                Ok(Some(message)) => {
                    let value = u64::from_le_bytes(message[..8].try_into().unwrap());
                    assert_eq!(value, expected, "out of order");
                    expected += 1;
                }
                Ok(None) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    });
    let mut next = 0u64;
    while next < messages {
        match producer.try_reserve() {
            Ok(Some(mut slot)) => {
                slot[..8].copy_from_slice(&next.to_le_bytes());
                slot.commit(8).expect("commit");
                next += 1;
            }
            Ok(None) => {}
            Err(e) => panic!("reserve: {e}"),
        }
    }
    reader.join().expect("the reader panicked");
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    println!(
        "rust messages={messages} seconds={seconds:.4} rate={:.0}",
        messages as f64 / seconds
    );
}

/// Pins the calling thread to one CPU (best effort: a machine with one CPU
/// runs both threads on it).
fn pin_to_cpu(cpu: usize) {
    // SAFETY: `set` is a plain bit set, zeroed then filled by the libc macros;
    // the call only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
