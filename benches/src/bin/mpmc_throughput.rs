//! MPMC throughput of the Rust API: P producer and C consumer threads, 8-byte
//! messages one at a time, zero-copy (reserve/commit, read/release), on a
//! fixed-size ring of 1024 slots, every loop polling again at once on Full and
//! Empty. `benches/recovery-cost.sh` builds it at two commits and runs both
//! alternately, to measure what a change of the MPMC protocol costs.
//!
//! Usage: `mpmc-throughput PRODUCERS CONSUMERS [MESSAGES]` (default 1P1C,
//! 10,000,000 messages); prints `mpmc producers=P consumers=C messages=N
//! seconds=S rate=R`. With one producer and one consumer they are pinned to
//! CPUs 0 and 1; otherwise the scheduler places them.

use std::time::Instant;

use shmlane::{mpmc, ErrorKind, Ring, RingOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |default: u64| {
        args.next()
            .map_or(default, |n| n.parse().expect("arguments are numbers"))
    };
    let producers = number(1);
    let consumers = number(1);
    let messages = number(10_000_000);
    let path = std::env::temp_dir().join(format!("shmlane-mpmc-throughput-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let participants = (producers + consumers) as u32;
    let ring = Ring::create(&path, &RingOptions::mpmc_fixed(1024, 8, participants))
        .expect("creating the ring");
    let pin = producers == 1 && consumers == 1;
    let per_producer = messages / producers;
    let total = per_producer * producers;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut threads = Vec::new();
    for id in 0..producers {
        let mut producer = mpmc::Producer::join(&ring).expect("joining as producer");
        threads.push(std::thread::spawn(move || {
            if pin {
                pin_to_cpu(0);
            }
            let mut next = 0u64;
            while next < per_producer {
                match producer.try_reserve() {
                    Ok(Some(mut slot)) => {
                        slot[..8].copy_from_slice(&(id << 48 | next).to_le_bytes());
                        slot.commit(8).expect("commit");
                        next += 1;
                    }
                    Ok(None) => {}
                    Err(e) => panic!("reserve: {e}"),
                }
            }
        }));
    }
    for _ in 0..consumers {
        let mut consumer = mpmc::Consumer::join(&ring).expect("joining as consumer");
        let received = std::sync::Arc::clone(&received);
        threads.push(std::thread::spawn(move || {
            if pin {
                pin_to_cpu(1);
            }
            let mut last = vec![None::<u64>; producers as usize];
            let mut mine = 0u64;
            // Relaxed: a progress count; the threads are joined before the total is read.
            while received.load(std::sync::atomic::Ordering::Relaxed) < total {
                match consumer.try_read() {
                    Ok(Some(message)) => {
                        let value = u64::from_le_bytes(message[..8].try_into().unwrap());
                        let (id, seq) = ((value >> 48) as usize, value & ((1 << 48) - 1));
                        assert!(last[id].map_or(true, |l| l < seq), "out of order");
                        last[id] = Some(seq);
                        mine += 1;
                        if mine % 1024 == 0 {
                            received.fetch_add(1024, std::sync::atomic::Ordering::Relaxed);
                            mine = 0;
                        }
                    }
                    Ok(None) => {
                        if mine > 0 {
                            received.fetch_add(mine, std::sync::atomic::Ordering::Relaxed);
                            mine = 0;
                        }
                    }
                    // Every producer is done and the ring is drained (the
                    // other consumers may not have counted theirs yet).
                    Err(e) if e.kind() == ErrorKind::Disconnected => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
            received.fetch_add(mine, std::sync::atomic::Ordering::Relaxed);
        }));
    }
    for thread in threads {
        thread.join().expect("a thread panicked");
    }
    let seconds = started.elapsed().as_secs_f64();
    // Relaxed: every thread was joined.
    let counted = received.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(counted, total, "messages lost or duplicated");
    let _ = std::fs::remove_file(&path);
    println!(
        "mpmc producers={producers} consumers={consumers} messages={total} seconds={seconds:.4} rate={:.0}",
        total as f64 / seconds
    );
}

/// Pins the calling thread to one CPU (best effort).
fn pin_to_cpu(cpu: usize) {
    // SAFETY: `set` is a plain bit set, zeroed then filled by the libc macros;
    // the call only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
