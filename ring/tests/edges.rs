//! Edge cases found in review: special files, modes, missing directories, and a
//! peer caught between taking its lock and claiming its record.

mod common;

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{unique_name, RemoveRing, Scratch};
use shmlane::{spsc, ErrorKind, Remedy, Ring, RingOptions};

fn make_fifo(path: &std::path::Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
}

/// Runs `f` on a thread and fails the test if it does not return within 10 s.
fn within_ten_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(f()).unwrap());
    receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("the call hung on a special file")
}

#[test]
fn a_fifo_is_not_a_ring_and_never_blocks_open_info_or_remove() {
    let scratch = Scratch::new("edges").unwrap();
    let fifo = scratch.path("fifo");
    make_fifo(&fifo);
    let path = fifo.clone();
    let results = within_ten_seconds(move || {
        (
            Ring::open(&path).map(|_| ()),
            shmlane::info(&path).map(|_| ()),
            shmlane::remove(&path),
        )
    });
    assert!(
        matches!(results.0, Err(ref e) if e.kind() == ErrorKind::NotARing),
        "{:?}",
        results.0
    );
    assert!(
        matches!(results.1, Err(ref e) if e.kind() == ErrorKind::NotARing),
        "{:?}",
        results.1
    );
    assert!(
        matches!(results.2, Err(ref e) if e.kind() == ErrorKind::NotARing),
        "{:?}",
        results.2
    );
    assert!(fifo.exists(), "a FIFO is not removed");
}

#[test]
fn info_on_a_directory_is_not_a_ring_and_on_a_proc_file_ends_at_the_timeout() {
    let scratch = Scratch::new("edges").unwrap();
    assert!(matches!(
        shmlane::info(scratch.dir()), Err(ref e) if e.kind() == ErrorKind::NotARing));
    // procfs files claim to be empty regular files, like a ring whose creator
    // has not allocated it yet: the opener waits for the ready timeout, no longer.
    let started = Instant::now();
    let result = shmlane::info(Path::new("/proc/self/status"));
    assert!(
        matches!(result, Err(ref e) if e.kind() == ErrorKind::NotReady),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded by the ready timeout"
    );
}

#[test]
fn remove_refuses_short_and_foreign_files_and_keeps_them() {
    let scratch = Scratch::new("edges").unwrap();
    let short = scratch.path("short");
    std::fs::write(&short, b"abc").unwrap();
    assert!(matches!(
        shmlane::remove(&short), Err(ref e) if e.kind() == ErrorKind::NotARing));
    assert!(short.exists());
    let empty = scratch.path("empty");
    std::fs::write(&empty, b"").unwrap();
    shmlane::remove(&empty).unwrap(); // a creator that died before fallocate
    assert!(!empty.exists());
}

#[test]
fn modes_without_owner_read_write_or_with_special_bits_are_refused() {
    for mode in [0o400, 0o444, 0o200, 0o4600, 0o1600] {
        let name = unique_name("mode");
        let result = Ring::create(&name, &RingOptions::spsc(4, 16).mode(mode));
        let _remove = RemoveRing(name.clone());
        assert!(
            matches!(result, Err(ref e) if e.kind() == ErrorKind::Permission),
            "mode {mode:o}: {result:?}"
        );
        // Modes print as people write them, in the notation of `chmod`.
        let message = result.unwrap_err().to_string();
        assert!(message.contains(&format!("mode {mode:04o} ")), "{message}");
        assert!(
            message.contains("(0600)") && !message.contains("0o"),
            "{message}"
        );
        assert!(
            matches!(Ring::open(&name), Err(ref e) if e.kind() == ErrorKind::NotFound),
            "nothing left behind"
        );
    }
    let name = unique_name("mode");
    let ring = Ring::create(&name, &RingOptions::spsc(4, 16).mode(0o640)).unwrap();
    let _remove = RemoveRing(name);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ring.path()).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640, "set exactly, whatever the umask");
}

#[test]
fn creating_in_a_missing_directory_is_an_io_error_not_a_missing_ring() {
    let result = Ring::create(
        Path::new("/dev/shm/no-such-directory-for-shmlane/x"),
        &RingOptions::spsc(4, 16),
    );
    assert!(
        matches!(result, Err(ref e) if e.kind() == ErrorKind::Io),
        "{result:?}"
    );
}

#[test]
fn a_consumer_caught_between_lock_and_claim_is_not_reported_disconnected() {
    let name = unique_name("joining");
    let ring = Ring::create(&name, &RingOptions::spsc(2, 16)).unwrap();
    let _remove = RemoveRing(name);
    let mut producer = spsc::Producer::join(&ring).unwrap();
    drop(spsc::Consumer::join(&ring).unwrap()); // the consumer's record says closed
    assert!(producer.try_send(b"1").unwrap());
    assert!(producer.try_send(b"2").unwrap());
    assert!(matches!(producer.try_send(b"3"), Err(ref e) if e.kind() == ErrorKind::Disconnected));

    // A new consumer has taken the record's lock but not yet claimed the word.
    let joining = std::fs::File::options()
        .read(true)
        .write(true)
        .open(ring.path())
        .unwrap();
    let record = ring.geometry().slots_offset as i64 - 128; // record 1, the consumer's
                                                            // SAFETY: all-zero is a valid `flock`.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = record;
    lock.l_len = 128;
    // SAFETY: a valid descriptor and a valid `flock`.
    let rc = unsafe { libc::fcntl(joining.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    assert_eq!(rc, 0);
    assert!(!producer.is_disconnected());
    assert!(matches!(producer.try_send(b"3"), Ok(false)));
}

#[test]
fn a_name_with_a_slash_is_refused_for_its_slash_and_points_to_paths() {
    for name in ["../etc/passwd", "a/b", "/dev/shm/x"] {
        let error = shmlane::path_for(name).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BadName, "{name}");
        assert_eq!(error.remedy(), Some(Remedy::UsePath), "{name}");
        assert_eq!(
            error.to_string(),
            format!("bad ring name {name:?}: it may not contain '/'; to give a path, pass it as a &Path"),
        );
    }
    // A leading dot alone is refused for the dot, with no remedy.
    let error = shmlane::path_for(".hidden").unwrap_err();
    assert!(
        error.to_string().ends_with("it starts with a dot"),
        "{error}"
    );
    assert_eq!(error.remedy(), None);
}
