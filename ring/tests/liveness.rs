//! Liveness across processes: a peer killed with SIGKILL is noticed through its
//! lock, the survivor drains what was committed and then gets `Disconnected`,
//! and a new process can take over the dead one's role.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{spawn_child, unique_name, RemoveRing};
use shmlane::{spsc, Error, ErrorKind, ParticipantState, Ring, RingOptions, Role};

const COMMITTED: u64 = 40;

/// Waits for the child to print `line` on a line of its own.
fn wait_for_line(child: &mut Child, wanted: &str) {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.trim() == wanted => return,
            Some(Ok(_)) => continue,
            other => panic!("child ended before printing {wanted:?}: {other:?}"),
        }
    }
}

/// Retries `f` while it finds nothing (`Ok(None)`), for at most `limit`.
fn retry<T>(
    limit: Duration,
    mut f: impl FnMut() -> Result<Option<T>, Error>,
) -> Result<Option<T>, Error> {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(None) if Instant::now() < deadline => std::thread::yield_now(),
            other => return other,
        }
    }
}

#[test]
fn consumer_drains_then_sees_disconnected_after_producer_is_killed_and_a_new_producer_takes_over() {
    let name = unique_name("kill-producer");
    let ring = Ring::create(&name, &RingOptions::spsc(64, 64)).unwrap();
    let _remove = RemoveRing(name.clone());
    let mut child = spawn_child(
        "child_producer_then_hang",
        &[("SHMLANE_TEST_RING", name.clone())],
    );
    wait_for_line(&mut child, "COMMITTED");

    // While the child lives, its role is taken.
    assert!(matches!(
        spsc::Producer::join(&ring), Err(ref e) if e.kind() == ErrorKind::RoleTaken && e.to_string().contains(&Role::Producer.to_string())));
    child.kill().unwrap(); // SIGKILL: no destructor runs in the child
    child.wait().unwrap();

    let info = ring.info();
    assert_eq!(info.participants[0].state, ParticipantState::Dead);

    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    for seq in 0..COMMITTED {
        let message = retry(Duration::from_secs(10), || {
            consumer.try_read().map(|m| m.map(|m| m.to_vec()))
        })
        .unwrap()
        .expect("a committed message");
        assert_eq!(
            message,
            seq.to_le_bytes(),
            "committed messages survive the producer"
        );
    }
    // The uncommitted reservation the child held when it died never appears.
    let end = retry(Duration::from_secs(10), || {
        consumer.try_read().map(|m| m.map(|m| m.len()))
    });
    assert!(
        matches!(end, Err(ref e) if e.kind() == ErrorKind::Disconnected),
        "got {end:?}"
    );

    // A new producer takes over the dead one's role and continues at its position.
    let mut producer = spsc::Producer::join(&ring).unwrap();
    assert!(producer.try_send(b"after takeover").unwrap());
    assert_eq!(&*consumer.try_read().unwrap().unwrap(), b"after takeover");
    let info = ring.info();
    assert_eq!(info.participants[0].state, ParticipantState::Alive);
    assert_eq!(info.participants[0].generation, 2);
    assert_eq!(info.participants[0].pid, std::process::id());
    assert_eq!(info.tail, COMMITTED + 1);
}

#[test]
fn producer_sees_disconnected_on_a_full_ring_after_consumer_is_killed() {
    let name = unique_name("kill-consumer");
    let ring = Ring::create(&name, &RingOptions::spsc(8, 64)).unwrap();
    let _remove = RemoveRing(name.clone());
    let mut producer = spsc::Producer::join(&ring).unwrap();
    let mut child = spawn_child(
        "child_consumer_then_hang",
        &[("SHMLANE_TEST_RING", name.clone())],
    );
    wait_for_line(&mut child, "JOINED");
    assert!(matches!(
        spsc::Consumer::join(&ring), Err(ref e) if e.kind() == ErrorKind::RoleTaken && e.to_string().contains(&Role::Consumer.to_string())));

    // Fill the ring while the consumer lives: it is full, not disconnected.
    for _ in 0..8 {
        assert!(producer.try_send(b"x").unwrap());
    }
    assert!(matches!(producer.try_send(b"x"), Ok(false)));
    child.kill().unwrap();
    child.wait().unwrap();

    let end = retry(Duration::from_secs(10), || {
        producer.try_send(b"x").map(|sent| sent.then_some(()))
    });
    assert!(
        matches!(end, Err(ref e) if e.kind() == ErrorKind::Disconnected),
        "got {end:?}"
    );

    // A new consumer takes over and reads what was left for it.
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    assert_eq!(&*consumer.try_read().unwrap().unwrap(), b"x");
}

/// SPSC is at-least-once for a message its consumer died borrowing: the
/// release never happened, so the next consumer reads that message again.
#[test]
fn a_message_borrowed_by_a_killed_spsc_consumer_is_read_again_by_the_next() {
    let name = unique_name("kill-borrowing-consumer");
    let ring = Ring::create(&name, &RingOptions::spsc(8, 64)).unwrap();
    let _remove = RemoveRing(name.clone());
    let mut producer = spsc::Producer::join(&ring).unwrap();
    assert!(producer.try_send(b"first").unwrap());
    assert!(producer.try_send(b"second").unwrap());
    let mut child = spawn_child(
        "child_consumer_borrowing_then_hang",
        &[("SHMLANE_TEST_RING", name.clone())],
    );
    wait_for_line(&mut child, "BORROWING");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut consumer = retry(Duration::from_secs(10), || {
        match spsc::Consumer::join(&ring) {
            Ok(consumer) => Ok(Some(consumer)),
            Err(e) if e.kind() == ErrorKind::RoleTaken => Ok(None), // the lock is not gone yet
            Err(e) => Err(e),
        }
    })
    .unwrap()
    .expect("the dead consumer's lock goes");
    assert_eq!(&*consumer.try_read().unwrap().unwrap(), b"first");
    assert_eq!(&*consumer.try_read().unwrap().unwrap(), b"second");
    assert!(matches!(consumer.try_read(), Ok(None)));
}

#[test]
#[ignore = "run as a child process by the borrowing-consumer-kill test"]
fn child_consumer_borrowing_then_hang() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return;
    };
    let ring = Ring::open(&name).unwrap();
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    let message = consumer.try_read().unwrap().unwrap();
    assert_eq!(&*message, b"first");
    println!("\nBORROWING");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
#[ignore = "run as a child process by the producer-kill test"]
fn child_producer_then_hang() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return;
    };
    let ring = Ring::open(&name).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    for seq in 0..COMMITTED {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
    }
    // Die holding a reservation that was written but never committed.
    let mut slot = producer.try_reserve().unwrap().unwrap();
    slot[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    println!("\nCOMMITTED");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
#[ignore = "run as a child process by the consumer-kill test"]
fn child_consumer_then_hang() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return;
    };
    let ring = Ring::open(&name).unwrap();
    let _consumer = spsc::Consumer::join(&ring).unwrap();
    println!("\nJOINED");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A consumer caught between closing its record and dropping its lock looks
/// present; the moment the lock is gone, the producer must see it gone too,
/// not trust the earlier lock test for the usual interval. (The leaver's
/// wake-up of a sleeping producer relies on this: the producer's watch saw
/// the closed word while the lock was still held.)
#[test]
fn producer_sees_a_leaving_consumer_gone_as_soon_as_its_lock_is_released() {
    use shmlane::layout::{owner_word, RECORD_OWNER, ROLE_CONSUMER, STATE_CLOSED};
    use std::os::fd::AsRawFd;

    let name = unique_name("leaving");
    let _remove = RemoveRing(name.clone());
    let ring = Ring::create(&name, &RingOptions::spsc(2, 16)).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    assert!(producer.try_send(b"a").unwrap());
    assert!(producer.try_send(b"b").unwrap());

    // Play the leaving consumer: the record's lock held on a description of
    // its own, the owner word already closed.
    let path = shmlane::path_for(&name).unwrap();
    let open = || {
        std::fs::File::options()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap()
    };
    let (lock_file, map_file) = (open(), open());
    let record = ring.geometry().record_offset(1);
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: record as libc::off_t,
        l_len: 128,
        l_pid: 0,
    };
    // SAFETY: a valid descriptor and a valid flock structure.
    let locked = unsafe { libc::fcntl(lock_file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    assert_eq!(locked, 0, "{}", std::io::Error::last_os_error());
    let map = memmap2::MmapOptions::new().map_raw(&map_file).unwrap();
    let owner = record + RECORD_OWNER;
    assert!(owner % 8 == 0 && owner + 8 <= map.len());
    // SAFETY: in bounds and 8-aligned, as asserted; no Rust reference covers
    // the owner word (the library reaches it through atomics only).
    unsafe {
        map.as_mut_ptr()
            .add(owner)
            .cast::<u64>()
            .write_volatile(owner_word(1, ROLE_CONSUMER, STATE_CLOSED))
    };

    assert!(matches!(producer.try_send(b"c"), Ok(false)));
    drop(lock_file); // the leaver's unlock
    assert!(
        matches!(producer.try_send(b"c"), Err(ref e) if e.kind() == ErrorKind::Disconnected),
        "the consumer's lock is gone, so is the consumer"
    );
}
