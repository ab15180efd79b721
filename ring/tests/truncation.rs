//! A ring whose backing file is truncated under it (`docs/guarantees.md`, "A
//! truncated backing file"): touching a lost page raises SIGBUS, `check_size`
//! and sleeping waits report the truncation instead, and a sealed memfd ring
//! cannot be truncated at all, in any process that holds it.
//!
//! Whatever may die by SIGBUS runs in a child process: this test binary re-run
//! with an `#[ignore]`d `child_*` test, whose exit the parent checks.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{
    check_message, fill_message, message_len, spawn_child, unique_name, Background, RemoveRing,
    Scratch,
};
use shmlane::{
    spsc, AnyConsumer, AnyProducer, Error, ErrorKind, Kind, Location, OpenOptions,
    ParticipantState, Ring, RingOptions, Role,
};

/// The bound on every wait for another process: generous, never a measurement.
const PATIENCE: Duration = Duration::from_secs(60);
/// Messages sent through the sealed ring across processes.
const MESSAGES: u64 = 20_000;

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).expect("a page size")
}

/// An SPSC ring of 64-byte slots whose header fits the first page and whose
/// slots go on for pages after it, whatever the page size.
fn options_past_the_first_page() -> RingOptions {
    RingOptions::spsc((4 * page_size() / 64).next_power_of_two(), 64)
}

/// Cuts the file at `path` to `len` bytes, as another process of the owner's
/// uid may do at any time.
fn truncate(path: &Path, len: u64) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// A child process, killed if the test ends before it is waited for.
struct ChildGuard {
    what: &'static str,
    child: Child,
    stdout: BufReader<ChildStdout>,
    output: String,
}

impl ChildGuard {
    fn new(what: &'static str, mut child: Child) -> ChildGuard {
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        ChildGuard {
            what,
            child,
            stdout,
            output: String::new(),
        }
    }

    /// Reads the child's stdout until a line that is exactly `wanted`.
    fn wait_for_line(&mut self, wanted: &str) {
        let mut line = String::new();
        loop {
            line.clear();
            match self.stdout.read_line(&mut line) {
                Ok(0) | Err(_) => panic!(
                    "{} ended before printing {wanted:?}; it printed {:?}",
                    self.what, self.output
                ),
                Ok(_) => self.output.push_str(&line),
            }
            if line.trim() == wanted {
                return;
            }
        }
    }

    /// Waits for the child to end; returns how it ended and everything it
    /// printed. The bound is longer than any wait of the child's, so that the
    /// child's own failure is the one reported.
    fn finish(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + 2 * PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{} did not end", self.what);
            std::thread::sleep(Duration::from_millis(5));
        };
        self.stdout.read_to_string(&mut self.output).unwrap();
        (status, std::mem::take(&mut self.output))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In a child: no core file for the SIGBUS it is about to die of.
fn no_core_dump() {
    let limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid `rlimit` that outlives the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_CORE, &limit) }, 0);
}

/// In a child: waits until another process has cut the file at `path` below
/// `ring_size` bytes.
fn wait_until_truncated(path: &Path, ring_size: u64) {
    let deadline = Instant::now() + PATIENCE;
    while std::fs::metadata(path).unwrap().len() >= ring_size {
        assert!(Instant::now() < deadline, "the file was never truncated");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Asserts that a child died of SIGBUS, not of anything else.
fn assert_killed_by_sigbus(status: ExitStatus, output: &str) {
    assert_eq!(
        status.signal(),
        Some(libc::SIGBUS),
        "the child should die of SIGBUS, but {status}; it printed {output:?}"
    );
}

// ---------------------------------------------------------------------------
// A file ring truncated under its mappings.

#[test]
fn reading_a_ring_truncated_to_nothing_dies_by_sigbus() {
    let name = unique_name("trunc-zero");
    let ring = Ring::create(&name, &RingOptions::spsc(64, 64)).unwrap();
    let _remove = RemoveRing(name.clone());
    let mut child = ChildGuard::new(
        "the consumer",
        spawn_child(
            "child_consumer_reads_after_truncation",
            &[("SHMLANE_TEST_RING", name.clone())],
        ),
    );
    child.wait_for_line("JOINED");

    truncate(ring.path(), 0);

    let (status, output) = child.finish();
    assert_killed_by_sigbus(status, &output);
    assert!(
        !output.contains("SURVIVED"),
        "the read returned: {output:?}"
    );
}

#[test]
#[ignore = "run as a child process by reading_a_ring_truncated_to_nothing_dies_by_sigbus"]
fn child_consumer_reads_after_truncation() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return; // run only as a child
    };
    let ring = Ring::open(&name).unwrap();
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    // A line of its own: libtest has printed "test <name> ... " without a newline.
    println!("\nJOINED");
    wait_until_truncated(ring.path(), ring.geometry().total_size);
    no_core_dump();
    // The positions are on the first page, which is gone.
    let result = consumer
        .try_read()
        .map(|message| message.map(|message| message.len()));
    println!("SURVIVED {result:?}");
}

#[test]
fn writing_the_first_slot_past_the_new_end_dies_by_sigbus() {
    let page = page_size();
    let name = unique_name("trunc-page");
    let ring = Ring::create(&name, &options_past_the_first_page()).unwrap();
    let _remove = RemoveRing(name.clone());
    let geometry = ring.geometry();
    assert!(
        geometry.slots_offset < page
            && geometry.slots_offset % geometry.slot_size == 0
            && geometry.total_size > 2 * page,
        "the header must fit the first page and the slots go past it: {geometry:?}"
    );
    // 8-byte messages write a slot's first 16 bytes (length field and payload),
    // and slots of 64 bytes start at multiples of 64 here, so a slot is written
    // within the first page exactly when it starts there.
    let slots_on_first_page = (page - geometry.slots_offset).div_ceil(geometry.slot_size);
    let mut child = ChildGuard::new(
        "the producer",
        spawn_child(
            "child_producer_sends_after_truncation",
            &[("SHMLANE_TEST_RING", name.clone())],
        ),
    );
    child.wait_for_line("JOINED");

    truncate(ring.path(), page);

    let (status, output) = child.finish();
    assert_killed_by_sigbus(status, &output);
    let sent: Vec<u64> = output
        .lines()
        .filter_map(|line| line.strip_prefix("SENT "))
        .map(|count| count.parse().unwrap())
        .collect();
    assert_eq!(
        sent.last().copied(),
        Some(slots_on_first_page),
        "every slot on the page that is left takes a message; the first slot past it kills the writer"
    );
}

#[test]
#[ignore = "run as a child process by writing_the_first_slot_past_the_new_end_dies_by_sigbus"]
fn child_producer_sends_after_truncation() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return; // run only as a child
    };
    let ring = Ring::open(&name).unwrap();
    let mut producer = spsc::Producer::join(&ring).unwrap();
    println!("\nJOINED");
    wait_until_truncated(ring.path(), ring.geometry().total_size);
    no_core_dump();
    for seq in 0..producer.capacity() as u64 {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
        println!("SENT {}", seq + 1);
    }
    println!("SURVIVED");
}

#[test]
fn check_size_reports_a_truncated_file_for_good() {
    let page = page_size();
    let scratch = Scratch::new("trunc-check").unwrap();
    let path = scratch.path("ring");
    let ring = Ring::create(&path, &options_past_the_first_page()).unwrap();
    let needed = ring.geometry().total_size;
    ring.check_size().unwrap();

    truncate(&path, page);
    // Nothing below touches the mapping: only system calls.
    let found = ring.check_size().unwrap_err();
    assert!(
        found.kind() == ErrorKind::Truncated && found.sizes() == Some((page, needed)),
        "{found:?}"
    );
    assert!(found.to_string().contains("SIGBUS"), "{found}");

    // Grown back, the file holds zeros where the ring was: still lost.
    truncate(&path, needed);
    assert!(matches!(
        ring.check_size(),
        Err(ref e) if e.kind() == ErrorKind::Truncated
            && e.sizes().map(|s| s.0) == Some(page)
    ));
    // Joining looks too, before it touches the ring.
    assert!(matches!(
        spsc::Producer::join(&ring), Err(ref e) if e.kind() == ErrorKind::Truncated));
    assert!(matches!(
        spsc::Consumer::join(&ring), Err(ref e) if e.kind() == ErrorKind::Truncated));
}

#[test]
fn a_sleeping_consumer_returns_truncated_and_leaves_the_lost_ring_untouched() {
    let scratch = Scratch::new("trunc-sleep").unwrap();
    let child = ChildGuard::new(
        "the sleeping consumer",
        spawn_child(
            "child_sleeping_consumer_sees_truncation",
            &[("SHMLANE_TEST_DIR", scratch.dir().display().to_string())],
        ),
    );
    let (status, output) = child.finish();
    assert!(status.success(), "{status}; it printed {output:?}");
    assert!(output.contains("\nDROPPED\n"), "{output:?}");
}

#[test]
#[ignore = "run as a child process by a_sleeping_consumer_returns_truncated_and_leaves_the_lost_ring_untouched"]
fn child_sleeping_consumer_sees_truncation() {
    let Ok(dir) = std::env::var("SHMLANE_TEST_DIR") else {
        return; // run only as a child
    };
    let page = page_size();
    let path = PathBuf::from(dir).join("ring");
    let ring = Ring::create(&path, &options_past_the_first_page()).unwrap();
    let geometry = ring.geometry();
    // The consumer's sleeping loop touches the header, the wait lines and the
    // records only: all on the first page, which the truncation below keeps,
    // so it cannot fault before it looks at the size.
    assert!(geometry.slots_offset < page && geometry.total_size > page);
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    consumer.set_wait_strategy(
        shmlane::WaitStrategy::sleeping().with_peer_check_interval(Duration::from_millis(1)),
    );
    let asleep = Background::spawn(move || {
        let result = consumer
            .read(Some(PATIENCE))
            .map(|message| message.map(|message| message.len()));
        (result, consumer)
    });
    let deadline = Instant::now() + PATIENCE;
    while ring.info().data_waits.sleeps == 0 {
        assert!(Instant::now() < deadline, "the consumer never slept");
        std::thread::yield_now();
    }

    truncate(&path, page);

    let (result, consumer) = asleep.wait(PATIENCE, "the sleeping consumer");
    assert!(
        matches!(result, Err(ref e) if e.kind() == ErrorKind::Truncated
            && e.sizes().map(|s| s.0) == Some(page)),
        "{result:?}"
    );
    // Now the first page goes too: dropping the consumer must not touch the
    // mapping (its record and wait line are gone), or this process dies.
    truncate(&path, 0);
    drop(consumer);
    assert!(matches!(ring.check_size(), Err(ref e) if e.kind() == ErrorKind::Truncated));
    drop(ring);
    println!("\nDROPPED");
}

// ---------------------------------------------------------------------------
// Sealed memfd rings.

#[test]
fn a_sealed_ring_cannot_be_truncated_grown_or_unsealed() {
    for options in [RingOptions::spsc(64, 64), RingOptions::mpmc(64, 80, 4)] {
        let ring = Ring::create(Location::Sealed, &options).unwrap();
        assert!(ring.is_sealed());
        let needed = ring.geometry().total_size;
        let file = File::from(ring.as_fd().try_clone_to_owned().unwrap());
        assert_eq!(file.metadata().unwrap().len(), needed);
        for len in [0, needed - 1, needed + 1] {
            let refused = file.set_len(len).unwrap_err();
            assert_eq!(refused.raw_os_error(), Some(libc::EPERM), "set_len({len})");
        }
        // SAFETY: a valid descriptor; F_ADD_SEALS takes an int.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_WRITE) };
        assert_eq!(rc, -1, "no seal can be added after F_SEAL_SEAL");
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EPERM)
        );
        ring.check_size().unwrap();

        // No name: nothing to remove, and the descriptor's path is not one.
        assert_eq!(ring.file_path(), None);
        let path = ring.path().to_owned();
        let descriptor = ring.as_fd().as_raw_fd();
        assert_eq!(path, PathBuf::from(format!("/proc/self/fd/{descriptor}")));
        assert!(matches!(
            shmlane::remove(&path), Err(ref e) if e.kind() == ErrorKind::Symlink));
        assert!(matches!(Ring::open(&path), Err(ref e) if e.kind() == ErrorKind::Symlink));

        // And it still works.
        let mut producer = Sender::join(&ring);
        let mut consumer = Receiver::join(&ring);
        assert!(producer.send(b"still here").unwrap());
        let mut buffer = [0u8; 64];
        let len = consumer.recv(&mut buffer).unwrap().unwrap();
        assert_eq!(&buffer[..len], b"still here");
    }
}

#[test]
fn a_punched_hole_in_a_sealed_ring_reads_as_zeros_not_sigbus() {
    let page = page_size();
    let ring = Ring::create(Location::Sealed, &options_past_the_first_page()).unwrap();
    let geometry = ring.geometry();
    assert!(geometry.slots_offset < page && geometry.total_size > 2 * page);
    let mut producer = spsc::Producer::join(&ring).unwrap();
    let mut consumer = spsc::Consumer::join(&ring).unwrap();
    let capacity = producer.capacity() as u64;
    for seq in 0..capacity {
        assert!(producer.try_send(&seq.to_le_bytes()).unwrap());
    }
    // Seals stop shrinking, not writing: the second page can be zeroed.
    // SAFETY: a valid descriptor; fallocate touches no memory of ours.
    let rc = unsafe {
        libc::fallocate(
            ring.as_fd().as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            page as libc::off_t,
            page as libc::off_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "punching a hole: {}",
        std::io::Error::last_os_error()
    );
    ring.check_size().unwrap();
    let mut zeroed = 0;
    for seq in 0..capacity {
        let slot_start = geometry.slots_offset + seq * geometry.slot_size;
        let message = consumer.try_read().unwrap().unwrap();
        if (page..2 * page).contains(&slot_start) {
            // The length field reads 0: an empty message, not a fault.
            assert!(message.is_empty(), "message {seq}: {:?}", &*message);
            zeroed += 1;
        } else {
            assert_eq!(&*message, seq.to_le_bytes(), "message {seq}");
        }
    }
    assert_eq!(zeroed, page / geometry.slot_size);
}

/// The sending end of the ring's kind, its waits bounded by [`PATIENCE`].
struct Sender(AnyProducer);

impl Sender {
    fn join(ring: &Ring) -> Sender {
        Sender(AnyProducer::join(ring).unwrap())
    }

    fn send(&mut self, message: &[u8]) -> Result<bool, Error> {
        self.0.send(message, Some(PATIENCE))
    }
}

/// The receiving end of the ring's kind, its waits bounded by [`PATIENCE`].
struct Receiver(AnyConsumer);

impl Receiver {
    fn join(ring: &Ring) -> Receiver {
        Receiver(AnyConsumer::join(ring).unwrap())
    }

    fn recv(&mut self, buffer: &mut [u8]) -> Result<Option<usize>, Error> {
        self.0.recv(buffer, Some(PATIENCE))
    }
}

/// Runs the child test `child_test` with a duplicate of `fd` inherited: the
/// duplicate is close-on-exec in this process, and made inheritable in the
/// child only, between fork and exec. Its number is in `SHMLANE_TEST_FD`.
fn spawn_child_with_fd(child_test: &str, fd: &OwnedFd) -> Child {
    let raw = fd.as_raw_fd();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            child_test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SHMLANE_TEST_FD", raw.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only fcntl, which is async-signal-safe; `raw` stays open in the parent
    // until `spawn` returns, so the child has it.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(raw, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().expect("spawn child test process")
}

fn run_sealed_ring_across_processes(options: RingOptions) {
    let ring = Ring::create(Location::Sealed, &options).unwrap();
    let for_child = ring.as_fd().try_clone_to_owned().unwrap();
    let mut child = ChildGuard::new(
        "the consumer",
        spawn_child_with_fd("child_consumer_of_an_inherited_sealed_ring", &for_child),
    );
    drop(for_child);
    child.wait_for_line("JOINED");

    // The child's liveness lock, taken through its own reopen of the memfd, is
    // seen from here.
    let child_pid = child.child.id();
    let info = ring.info();
    assert!(
        info.participants
            .iter()
            .any(|record| record.role == Some(Role::Consumer)
                && record.state == ParticipantState::Alive
                && record.pid == child_pid),
        "{:?}",
        info.participants
    );
    if ring.kind() == Kind::Spsc {
        assert!(matches!(
            spsc::Consumer::join(&ring), Err(ref e) if e.kind() == ErrorKind::RoleTaken && e.to_string().contains(&Role::Consumer.to_string())));
    }

    let mut producer = Sender::join(&ring);
    let max = ring.max_payload();
    let mut message = vec![0u8; max];
    for seq in 0..MESSAGES {
        let len = message_len(seq, max);
        fill_message(seq, &mut message[..len]);
        assert!(producer.send(&message[..len]).unwrap());
    }
    drop(producer); // the consumer drains, then sees it gone

    let (status, output) = child.finish();
    assert!(status.success(), "{status}; it printed {output:?}");
    assert!(
        output.contains(&format!("\nRECEIVED {MESSAGES}\n")),
        "{output:?}"
    );
    assert!(output.contains("\nDISCONNECTED\n"), "{output:?}");
    ring.check_size().unwrap();
}

#[test]
fn a_sealed_spsc_ring_works_across_processes_through_an_inherited_descriptor() {
    run_sealed_ring_across_processes(RingOptions::spsc(64, 72));
}

#[test]
fn a_sealed_mpmc_ring_works_across_processes_through_an_inherited_descriptor() {
    run_sealed_ring_across_processes(RingOptions::mpmc(64, 80, 4));
}

#[test]
#[ignore = "run as a child process by the a_sealed_*_ring_works_across_processes tests"]
fn child_consumer_of_an_inherited_sealed_ring() {
    let Ok(fd) = std::env::var("SHMLANE_TEST_FD") else {
        return; // run only as a child
    };
    // SAFETY: the parent made this descriptor inheritable for us alone, and
    // nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd.parse().unwrap()) };
    let ring = OpenOptions::new().require_sealed(true).open(fd).unwrap();
    assert!(ring.is_sealed());
    // Truncating through our own descriptor fails as it does in the creator.
    let file = File::from(ring.as_fd().try_clone_to_owned().unwrap());
    assert_eq!(
        file.set_len(0).unwrap_err().raw_os_error(),
        Some(libc::EPERM)
    );
    let mut consumer = Receiver::join(&ring);
    println!("\nJOINED");
    let max = ring.max_payload();
    let mut buffer = vec![0u8; max];
    let mut scratch = vec![0u8; max];
    for seq in 0..MESSAGES {
        let len = consumer.recv(&mut buffer).unwrap().unwrap();
        check_message(seq, max, &buffer[..len], &mut scratch).unwrap();
    }
    println!("RECEIVED {MESSAGES}");
    assert!(matches!(
        consumer.recv(&mut buffer), Err(ref e) if e.kind() == ErrorKind::Disconnected));
    println!("DISCONNECTED");
}

// ---------------------------------------------------------------------------
// `require_sealed` and descriptors that are not fit.

/// A new memfd holding a copy of the ring file at `ring_path`, mode 0600,
/// sealed with `seals` (`None`: sealing not allowed at all).
fn memfd_copy_of(ring_path: &Path, seals: Option<libc::c_int>) -> OwnedFd {
    let flags = libc::MFD_CLOEXEC
        | if seals.is_some() {
            libc::MFD_ALLOW_SEALING
        } else {
            0
        };
    // SAFETY: a NUL-terminated name that outlives the call.
    let raw = unsafe { libc::memfd_create(c"shmlane-test-copy".as_ptr(), flags) };
    assert!(
        raw >= 0,
        "memfd_create: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: memfd_create just returned it, and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut memfd = File::from(fd.try_clone().unwrap());
    std::io::copy(&mut File::open(ring_path).unwrap(), &mut memfd).unwrap();
    // SAFETY: a valid descriptor; fchmod touches no memory of ours.
    assert_eq!(unsafe { libc::fchmod(raw, 0o600) }, 0);
    if let Some(seals) = seals {
        // SAFETY: a valid descriptor; F_ADD_SEALS takes an int.
        assert_eq!(unsafe { libc::fcntl(raw, libc::F_ADD_SEALS, seals) }, 0);
    }
    fd
}

fn read_write(path: &Path) -> OwnedFd {
    File::options()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
        .into()
}

#[test]
fn require_sealed_refuses_an_unsealed_memfd_and_a_ring_file() {
    let sealed_only = OpenOptions::new().require_sealed(true);
    let scratch = Scratch::new("trunc-require").unwrap();
    let path = scratch.path("ring");
    let named = Ring::create(&path, &RingOptions::spsc(64, 64)).unwrap();

    // A memfd that cannot be sealed, and one sealed against growing only:
    // both open without the option, neither with it.
    for seals in [None, Some(libc::F_SEAL_GROW)] {
        let unsealed = Ring::open(memfd_copy_of(&path, seals)).unwrap();
        assert!(!unsealed.is_sealed(), "{seals:?}");
        assert_eq!(unsealed.geometry(), named.geometry());
        let refused = sealed_only.open(memfd_copy_of(&path, seals)).unwrap_err();
        assert!(
            refused.kind() == ErrorKind::NotSealed,
            "{seals:?}: {refused:?}"
        );
    }
    // A memfd sealed against shrinking opens with it.
    let sealed = memfd_copy_of(&path, Some(libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL));
    assert!(sealed_only.open(sealed).unwrap().is_sealed());

    // The ring file itself, by path and by descriptor, on tmpfs and on the
    // file system of the temporary directory (which may not know seals).
    assert!(!named.is_sealed());
    assert!(matches!(
        (sealed_only).open(&path), Err(ref e) if e.kind() == ErrorKind::NotSealed));
    assert!(matches!(
        sealed_only.open(read_write(&path)), Err(ref e) if e.kind() == ErrorKind::NotSealed));
    let elsewhere = std::env::temp_dir().join(unique_name("trunc-require"));
    let _remove = common::RemoveFile(elsewhere.clone());
    Ring::create(&elsewhere, &RingOptions::spsc(64, 64)).unwrap();
    let refused = sealed_only.open(read_write(&elsewhere)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotSealed, "{refused:?}");
    // Without the option, a ring file opens by descriptor as by path.
    let by_fd = Ring::open(read_write(&path)).unwrap();
    assert_eq!(by_fd.geometry(), named.geometry());
    assert_eq!(by_fd.file_path(), None);
}

#[test]
fn open_fd_refuses_a_descriptor_not_open_for_reading_and_writing() {
    let ring = Ring::create(Location::Sealed, &RingOptions::spsc(64, 64)).unwrap();
    let read_only: OwnedFd = File::open(ring.path()).unwrap().into();
    assert!(matches!(
        Ring::open(read_only), Err(ref e) if e.kind() == ErrorKind::Permission));
    let scratch = Scratch::new("trunc-fd").unwrap();
    let path = scratch.path("ring");
    Ring::create(&path, &RingOptions::spsc(64, 64)).unwrap();
    let write_only: OwnedFd = File::options().write(true).open(&path).unwrap().into();
    assert!(matches!(
        Ring::open(write_only), Err(ref e) if e.kind() == ErrorKind::Permission));
    // And a descriptor that is no file at all.
    let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    assert!(matches!(
        Ring::open(OwnedFd::from(socket)), Err(ref e) if e.kind() == ErrorKind::NotARing));
}
