//! A simulated sensor publishing 64-byte frames into a ring, written in place:
//! the Rust twin of `bindings-c/examples/sensor_producer.c`, with the frame of
//! `bindings-c/examples/sensor.h` (sequence, CLOCK_MONOTONIC timestamp, sensor
//! id, flags, five f64 values; little-endian).
//!
//! ```sh
//! cargo run --release -p shmlane --example sensor_producer -- [--name NAME] [--rate HZ] [--count N]
//! ```
//!
//! Creates `/dev/shm/NAME` (default `shmlane-sensors`) as an SPSC ring of 4096
//! fixed-size 64-byte slots unless it exists, publishes N frames (default: until
//! the consumer leaves) at the rate (default 100,000/s; 0: as fast as the
//! consumer takes them), then closes its handle.

use std::time::Duration;

use shmlane::{spsc, ErrorKind, Ring, RingOptions};

const FRAME_SIZE: usize = 64;

fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut name = "shmlane-sensors".to_owned();
    let mut rate = 100_000.0f64;
    let mut count = u64::MAX;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--name" => name = value,
            "--rate" => rate = value.parse()?,
            "--count" => count = value.parse()?,
            _ => return Err("usage: sensor_producer [--name NAME] [--rate HZ] [--count N]".into()),
        }
    }
    let ring = match Ring::create(&name, &RingOptions::spsc_fixed(4096, FRAME_SIZE as u64)) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ring::open(&name)?,
        other => other?,
    };
    if ring.max_payload() != FRAME_SIZE {
        return Err(format!("ring {name} does not carry {FRAME_SIZE}-byte frames").into());
    }
    let mut producer = spsc::Producer::join(&ring)?;
    let started = monotonic_ns();
    let mut sequence = 0u64;
    while sequence < count {
        if rate > 0.0 {
            // Pace: frame n is due at started + n / rate.
            let due = started + (sequence as f64 * 1e9 / rate) as u64;
            while monotonic_ns() < due {
                std::hint::spin_loop();
            }
        }
        let mut frame = match producer.reserve(Some(Duration::from_millis(100))) {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(e) if e.kind() == ErrorKind::Disconnected => break,
            Err(e) => return Err(e.into()),
        };
        let t = sequence as f64 / 1000.0;
        let values = [
            t.sin(),
            t.cos(),
            9.81,
            21.5 + 0.1 * (t / 60.0).sin(),
            1013.25,
        ];
        frame[0..8].copy_from_slice(&sequence.to_le_bytes());
        frame[16..20].copy_from_slice(&7u32.to_le_bytes());
        frame[20..24].copy_from_slice(&0u32.to_le_bytes());
        for (index, value) in values.iter().enumerate() {
            frame[24 + 8 * index..32 + 8 * index].copy_from_slice(&value.to_le_bytes());
        }
        frame[8..16].copy_from_slice(&monotonic_ns().to_le_bytes());
        frame.commit(FRAME_SIZE)?;
        sequence += 1;
    }
    drop(producer);
    eprintln!("sensor_producer: published {sequence} frames");
    Ok(())
}
