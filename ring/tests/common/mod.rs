//! Helpers shared by the integration tests: unique ring names, removal guards,
//! child processes, deterministic messages, and for MPMC rings messages tagged
//! with their producer, mixed-API send and receive steps, and exactly-once tallies.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
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

/// A fresh private directory under `/dev/shm`, removed with everything in it
/// on drop.
pub struct Scratch {
    dir: std::path::PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> std::io::Result<Scratch> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::path::Path::new(shmlane::SHM_DIR).join(unique_name(tag));
        std::fs::create_dir(&dir)?;
        // Own it before anything can fail, so that drop cleans up.
        let scratch = Scratch { dir };
        std::fs::set_permissions(&scratch.dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(scratch)
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn path(&self, file: &str) -> std::path::PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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

/// Bytes of a tagged message before its filler: producer id (`u32`), then
/// sequence number (`u64`), both little-endian.
pub const TAG_LEN: usize = 12;
/// Shortest tagged message: the tag and the checksum byte.
pub const MIN_TAGGED_LEN: usize = TAG_LEN + 1;

fn tagged_seed(producer: u32, seq: u64) -> u64 {
    seq ^ (u64::from(producer) << 48) ^ 0x7A66_ED00
}

/// The length of message `seq` of `producer` in a ring of `max`-byte messages:
/// the shortest tagged message, `max`, and random lengths in between.
pub fn tagged_len(producer: u32, seq: u64, max: usize) -> usize {
    assert!(
        max >= MIN_TAGGED_LEN,
        "a tagged message needs {MIN_TAGGED_LEN} bytes"
    );
    match seq % 5 {
        0 => MIN_TAGGED_LEN,
        1 => max,
        _ => {
            let spread = (max - MIN_TAGGED_LEN + 1) as u64;
            MIN_TAGGED_LEN + XorShift::new(tagged_seed(producer, seq)).below(spread) as usize
        }
    }
}

/// Fills `out` (at least [`MIN_TAGGED_LEN`] bytes) with message `seq` of
/// `producer`: the tag, filler derived from both, and a checksum byte last.
pub fn fill_tagged(producer: u32, seq: u64, out: &mut [u8]) {
    let (last, body) = out.split_last_mut().expect("room for a tagged message");
    body[..4].copy_from_slice(&producer.to_le_bytes());
    body[4..TAG_LEN].copy_from_slice(&seq.to_le_bytes());
    let mut rng = XorShift::new(tagged_seed(producer, seq) ^ 0xF177_E400);
    for chunk in body[TAG_LEN..].chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes()[..chunk.len()]);
    }
    *last = checksum(body);
}

/// Checks that `message` is a whole, intact tagged message of a ring of
/// `max`-byte messages; returns its producer id and sequence number.
pub fn check_tagged(max: usize, message: &[u8], scratch: &mut [u8]) -> Result<(u32, u64), String> {
    let Some((&last, body)) = message.split_last() else {
        return Err("empty message".into());
    };
    if message.len() < MIN_TAGGED_LEN {
        return Err(format!("message of {} bytes has no tag", message.len()));
    }
    if last != checksum(body) {
        return Err(format!(
            "checksum mismatch in a message of {} bytes",
            message.len()
        ));
    }
    let producer = u32::from_le_bytes(body[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(body[4..TAG_LEN].try_into().unwrap());
    let len = tagged_len(producer, seq, max);
    if message.len() != len {
        return Err(format!(
            "producer {producer} message {seq}: length {} instead of {len}",
            message.len()
        ));
    }
    let expected = &mut scratch[..len];
    fill_tagged(producer, seq, expected);
    if message != expected {
        return Err(format!(
            "producer {producer} message {seq}: content differs"
        ));
    }
    Ok((producer, seq))
}

/// A set of sequence numbers below a bound, one bit each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqSet {
    pub bound: u64,
    words: Vec<u64>,
}

impl SeqSet {
    pub fn new(bound: u64) -> SeqSet {
        SeqSet {
            bound,
            words: vec![0; bound.div_ceil(64) as usize],
        }
    }

    /// Adds `seq`; `false` if it was already there. Panics if `seq >= bound`.
    pub fn insert(&mut self, seq: u64) -> bool {
        assert!(
            seq < self.bound,
            "sequence {seq} out of range 0..{}",
            self.bound
        );
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        let fresh = self.words[word] & bit == 0;
        self.words[word] |= bit;
        fresh
    }

    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first sequence number in both sets.
    pub fn first_common(&self, other: &SeqSet) -> Option<u64> {
        self.words
            .iter()
            .zip(&other.words)
            .enumerate()
            .find(|(_, (a, b))| *a & *b != 0)
            .map(|(i, (a, b))| i as u64 * 64 + u64::from((a & b).trailing_zeros()))
    }

    /// Adds every member of `other`.
    pub fn union_with(&mut self, other: &SeqSet) {
        for (word, more) in self.words.iter_mut().zip(&other.words) {
            *word |= more;
        }
    }

    /// The first number below the bound that is not in the set.
    pub fn first_missing(&self) -> Option<u64> {
        (0..self.bound).find(|&seq| self.words[(seq / 64) as usize] & (1 << (seq % 64)) == 0)
    }

    /// The set as little-endian bytes: the bound, then the words.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = self.bound.to_le_bytes().to_vec();
        for word in &self.words {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// Reads what [`SeqSet::to_bytes`] wrote; `None` if the bytes are not such a set.
    pub fn from_bytes(bytes: &[u8]) -> Option<SeqSet> {
        let bound = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let words: Vec<u64> = bytes[8..]
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
            .collect();
        (bytes.len() % 8 == 0 && words.len() as u64 == bound.div_ceil(64))
            .then_some(SeqSet { bound, words })
    }
}

/// One step of an MPMC producer that mixes the copy, single-slot and batch APIs
/// and sometimes abandons reservations: publishes message `*next` of producer
/// `id` (or a batch from it, never past `count`) and advances `*next` past what
/// it committed. Returns how many reserved slots it abandoned, or `None` when
/// the ring was full.
///
/// # Errors
/// Whatever the producer returned (`Disconnected`, ...).
pub fn send_tagged_step(
    producer: &mut shmlane::mpmc::Producer,
    id: u32,
    next: &mut u64,
    count: u64,
    rng: &mut XorShift,
    scratch: &mut [u8],
) -> Result<Option<u64>, shmlane::Error> {
    let max = producer.max_payload();
    match rng.below(4) {
        0 => {
            let len = tagged_len(id, *next, max);
            fill_tagged(id, *next, &mut scratch[..len]);
            if !producer.try_send(&scratch[..len])? {
                return Ok(None);
            }
            *next += 1;
            Ok(Some(0))
        }
        1 => {
            let Some(mut slot) = producer.try_reserve()? else {
                return Ok(None);
            };
            let len = tagged_len(id, *next, max);
            fill_tagged(id, *next, &mut slot[..len]);
            if rng.below(8) == 0 {
                drop(slot); // consumers skip it
                return Ok(Some(1));
            }
            slot.commit(len).expect("a tagged message fits");
            *next += 1;
            Ok(Some(0))
        }
        _ => {
            let mut batch = producer.try_reserve_batch(1 + rng.below(6) as usize)?;
            if batch.is_empty() {
                return Ok(None);
            }
            let wanted = (batch.len() as u64).min(count - *next) as usize;
            for i in 0..wanted {
                let seq = *next + i as u64;
                let len = tagged_len(id, seq, max);
                fill_tagged(id, seq, &mut batch.slot_mut(i)[..len]);
                batch.set_len(i, len).expect("a tagged message fits");
            }
            // Sometimes publish only a prefix: consumers skip the rest.
            let publish = if rng.below(4) == 0 {
                rng.below(wanted as u64 + 1) as usize
            } else {
                wanted
            };
            let abandoned = (batch.len() - publish) as u64;
            batch.commit_first(publish);
            *next += publish as u64;
            Ok(Some(abandoned))
        }
    }
}

/// One step of an MPMC consumer that mixes `try_read`, `try_read_batch` (of at
/// most `max_batch` messages), `try_recv`, and `try_recv` into a buffer too
/// short for the message followed by a `try_read` that must return that same
/// message. Hands every message to `accept`; returns how many it read, or
/// `None` when the ring was empty.
///
/// # Errors
/// Whatever the consumer returned (`Disconnected`, ...).
pub fn receive_tagged_step(
    consumer: &mut shmlane::mpmc::Consumer,
    max_batch: usize,
    rng: &mut XorShift,
    copy: &mut [u8],
    accept: &mut impl FnMut(&[u8]),
) -> Result<Option<u64>, shmlane::Error> {
    match rng.below(4) {
        0 => Ok(consumer.try_read()?.map(|message| {
            accept(&message);
            1
        })),
        1 => {
            let batch = consumer.try_read_batch(1 + rng.below(max_batch as u64) as usize)?;
            if batch.is_empty() {
                return Ok(None);
            }
            batch.iter().for_each(&mut *accept);
            Ok(Some(batch.len() as u64))
        }
        2 => Ok(consumer.try_recv(copy)?.map(|len| {
            accept(&copy[..len]);
            1
        })),
        _ => match consumer.try_recv(&mut copy[..MIN_TAGGED_LEN]) {
            Ok(Some(len)) => {
                accept(&copy[..len]);
                Ok(Some(1))
            }
            Ok(None) => Ok(None),
            Err(refused) if refused.kind() == shmlane::ErrorKind::BufferTooSmall => {
                let (needed, available) = refused.sizes().expect("a size error names its sizes");
                assert_eq!(available, MIN_TAGGED_LEN as u64);
                let message = consumer
                    .try_read()
                    .expect("the message refused for a short buffer is read next")
                    .expect("the refused message is still held");
                assert_eq!(
                    message.len() as u64,
                    needed,
                    "the refused message is read next"
                );
                accept(&message);
                Ok(Some(1))
            }
            Err(other) => Err(other),
        },
    }
}

/// What one consumer received from one producer.
#[derive(Clone, Debug)]
pub struct ProducerTally {
    pub count: u64,
    pub sum: u64,
    /// Sum of the squares of the sequence numbers, modulo 2^64.
    pub sum_squares: u64,
    pub last: Option<u64>,
    pub seen: SeqSet,
}

/// What one consumer received, per producer, with every message checked.
#[derive(Clone, Debug)]
pub struct Tally {
    pub producers: Vec<ProducerTally>,
}

impl Tally {
    /// A tally for producers `0..messages.len()`, producer `i` sending `messages[i]`.
    pub fn new(messages: &[u64]) -> Tally {
        Tally {
            producers: messages
                .iter()
                .map(|&bound| ProducerTally {
                    count: 0,
                    sum: 0,
                    sum_squares: 0,
                    last: None,
                    seen: SeqSet::new(bound),
                })
                .collect(),
        }
    }

    /// Checks `message` (intact, from a known producer, later than the last one
    /// of the same producer) and counts it.
    pub fn accept(&mut self, max: usize, message: &[u8], scratch: &mut [u8]) -> Result<(), String> {
        let (producer, seq) = check_tagged(max, message, scratch)?;
        let Some(tally) = self.producers.get_mut(producer as usize) else {
            return Err(format!("message {seq} from unknown producer {producer}"));
        };
        if let Some(last) = tally.last {
            if seq <= last {
                return Err(format!("producer {producer}: message {seq} after {last}"));
            }
        }
        if seq >= tally.seen.bound {
            return Err(format!("producer {producer}: message {seq} was never sent"));
        }
        tally.seen.insert(seq);
        tally.last = Some(seq);
        tally.count += 1;
        tally.sum = tally.sum.wrapping_add(seq);
        tally.sum_squares = tally.sum_squares.wrapping_add(seq.wrapping_mul(seq));
        Ok(())
    }
}

/// Sum and sum of squares (modulo 2^64) of `0..n`.
pub fn expected_sums(n: u64) -> (u64, u64) {
    let n = u128::from(n);
    let sum = n * n.saturating_sub(1) / 2;
    let squares = n.saturating_sub(1) * n * (2 * n).saturating_sub(1) / 6;
    (sum as u64, squares as u64)
}

/// Asserts that the consumers' tallies hold each of producer `i`'s messages
/// `0..messages[i]` exactly once: no consumer took a message twice (each
/// checked that sequence numbers only grow), no two consumers took the same
/// message (their sets are disjoint), and none was lost (the union is full).
/// Counts and sums are checked too, as a second look.
pub fn assert_exactly_once(tallies: &[Tally], messages: &[u64]) {
    for (producer, &total) in messages.iter().enumerate() {
        let mut union = SeqSet::new(total);
        let (mut count, mut sum, mut sum_squares) = (0u64, 0u64, 0u64);
        for (consumer, tally) in tallies.iter().enumerate() {
            let tally = &tally.producers[producer];
            assert_eq!(
                tally.seen.len(),
                tally.count,
                "consumer {consumer}, producer {producer}: the set and the count disagree"
            );
            if let Some(seq) = union.first_common(&tally.seen) {
                panic!("producer {producer}: message {seq} reached consumer {consumer} and another consumer");
            }
            union.union_with(&tally.seen);
            count += tally.count;
            sum = sum.wrapping_add(tally.sum);
            sum_squares = sum_squares.wrapping_add(tally.sum_squares);
        }
        if let Some(seq) = union.first_missing() {
            panic!("producer {producer}: message {seq} was lost");
        }
        assert_eq!(count, total, "producer {producer}: messages received");
        assert_eq!(
            (sum, sum_squares),
            expected_sums(total),
            "producer {producer}: sums of sequence numbers"
        );
    }
}

// ---------------------------------------------------------------------------
// Blocking waits.

/// A closure run on its own thread, whose result is awaited with a bound.
pub struct Background<T> {
    result: mpsc::Receiver<T>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Background<T> {
    pub fn spawn(work: impl FnOnce() -> T + Send + 'static) -> Background<T> {
        let (sender, result) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let _ = sender.send(work());
        });
        Background {
            result,
            thread: Some(thread),
        }
    }

    /// Whether the closure has returned (or panicked).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_some_and(JoinHandle::is_finished)
    }

    /// The closure's result; panics if it takes longer than `limit`, or panicked.
    pub fn wait(mut self, limit: Duration, what: &str) -> T {
        match self.result.recv_timeout(limit) {
            Ok(result) => {
                self.thread.take().unwrap().join().unwrap();
                result
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no result within {limit:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => match self.thread.take().unwrap().join() {
                Err(panic) => std::panic::resume_unwind(panic),
                Ok(()) => unreachable!("the thread sends its result before it ends"),
            },
        }
    }
}

/// The data wait line of a ring's info (consumers sleep on it).
pub fn data(info: &shmlane::RingInfo) -> shmlane::WaitInfo {
    info.data_waits
}

/// The space wait line of a ring's info (producers sleep on it).
pub fn space(info: &shmlane::RingInfo) -> shmlane::WaitInfo {
    info.space_waits
}

// ---------------------------------------------------------------------------
// Child processes.

/// A child process, killed if the test ends before it is waited for.
pub struct ChildProcess {
    what: String,
    child: Option<Child>,
}

impl ChildProcess {
    pub fn spawn(
        what: impl Into<String>,
        child_test: &str,
        env: &[(&str, String)],
    ) -> ChildProcess {
        ChildProcess {
            what: what.into(),
            child: Some(spawn_child(child_test, env)),
        }
    }

    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("not waited for yet")
    }

    /// Waits until the child prints `wanted` on a line of its own.
    pub fn wait_for_line(&mut self, wanted: &str) {
        self.wait_for_line_where(wanted, |line| line == wanted);
    }

    /// Waits until the child prints a line starting with `prefix`; returns the
    /// rest of that line.
    pub fn wait_for_line_starting(&mut self, prefix: &str) -> String {
        let line = self.wait_for_line_where(prefix, |line| line.starts_with(prefix));
        line[prefix.len()..].to_owned()
    }

    /// Reads the child's stdout up to the first line (trimmed) that `matches`,
    /// and returns it. Output after that line that was already read is dropped:
    /// children print nothing more until the test acts.
    fn wait_for_line_where(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let stdout = self.child().stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => panic!("{} ended before printing {what:?}", self.what),
                Ok(_) if matches(line.trim()) => break,
                Ok(_) => continue,
            }
        }
        // Keep the pipe open: a child writing to a closed pipe would die.
        self.child().stdout = Some(reader.into_inner());
        line.trim().to_owned()
    }

    /// Stops the child with SIGSTOP and waits until the kernel reports it stopped.
    pub fn stop(&mut self) {
        let pid = self.child().id() as libc::pid_t;
        // SAFETY: `kill` takes no pointers; `pid` is our child, not yet reaped.
        let sent = unsafe { libc::kill(pid, libc::SIGSTOP) };
        assert_eq!(sent, 0, "SIGSTOP: {}", std::io::Error::last_os_error());
        let mut status = 0;
        // SAFETY: `status` is a valid place for the status. `WUNTRACED` reports
        // the stop without reaping the child, which `Child::wait` still does.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        assert_eq!(waited, pid, "waitpid: {}", std::io::Error::last_os_error());
        assert!(
            libc::WIFSTOPPED(status),
            "{} did not stop: status {status:#x}",
            self.what
        );
    }

    /// Lets a stopped child go on (SIGCONT).
    pub fn resume(&mut self) {
        let pid = self.child().id() as libc::pid_t;
        // SAFETY: as in `stop`.
        let sent = unsafe { libc::kill(pid, libc::SIGCONT) };
        assert_eq!(sent, 0, "SIGCONT: {}", std::io::Error::last_os_error());
    }

    /// Panics if the child has exited.
    pub fn assert_running(&mut self, why: &str) {
        if let Some(status) = self.child().try_wait().unwrap() {
            panic!("{} exited ({status}) {why}", self.what);
        }
    }

    /// Kills the child with SIGKILL and reaps it: its locks are released.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("not waited for yet");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits for the child to succeed, at most until `deadline`, calling `watch`
    /// while it waits; returns the child's stdout.
    pub fn finish(mut self, deadline: Instant, mut watch: impl FnMut()) -> String {
        let what = self.what.clone();
        let child = self.child();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            watch();
            assert!(Instant::now() < deadline, "{what} did not finish in time");
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_string(&mut stdout)
            .unwrap();
        assert!(status.success(), "{what} failed: {status}");
        self.child = None;
        stdout
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Removes a file when dropped.
pub struct RemoveFile(pub PathBuf);

impl Drop for RemoveFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The words after `prefix` on the line of `stdout` that starts with it.
pub fn report<'a>(stdout: &'a str, prefix: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {stdout:?}"))
        .split_whitespace()
        .collect()
}

/// A hostile peer: a second mapping of a ring file, read and written with
/// plain memory accesses behind the library's back, between its calls.
pub struct Scribbler {
    map: memmap2::MmapRaw,
}

impl Scribbler {
    pub fn open(path: &std::path::Path) -> std::io::Result<Scribbler> {
        let file = std::fs::File::options().read(true).write(true).open(path)?;
        let map = memmap2::MmapOptions::new().map_raw(&file)?;
        Ok(Scribbler { map })
    }

    /// Bytes mapped: the file's size when it was opened.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Where the mapping starts in this process.
    pub fn start(&self) -> usize {
        self.map.as_ptr() as usize
    }

    pub fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(
            offset
                .checked_add(bytes.len())
                .is_some_and(|end| end <= self.map.len()),
            "scribble at {offset}+{} outside the mapping",
            bytes.len()
        );
        // SAFETY: the range is inside our own live mapping, as just asserted. No
        // Rust reference covers these bytes at this moment: the library reaches
        // shared memory through atomics and raw pointers, and the tests never
        // scribble while it has lent out a slice of a slot.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.as_mut_ptr().add(offset),
                bytes.len(),
            );
        }
    }

    /// Writes the low `width` bytes of `value` (little-endian) at `offset`.
    pub fn write_le(&self, offset: usize, width: usize, value: u64) {
        assert!(width <= 8);
        self.write(offset, &value.to_le_bytes()[..width]);
    }

    pub fn write_u64(&self, offset: usize, value: u64) {
        self.write(offset, &value.to_le_bytes());
    }

    pub fn write_u32(&self, offset: usize, value: u32) {
        self.write(offset, &value.to_le_bytes());
    }

    /// Reads `width` bytes at `offset` as a little-endian number.
    pub fn read(&self, offset: usize, width: usize) -> u64 {
        assert!(offset + width <= self.map.len() && width <= 8);
        let mut bytes = [0u8; 8];
        // SAFETY: in bounds of our own live mapping, as just asserted; a byte
        // copy needs no alignment.
        unsafe {
            std::ptr::copy_nonoverlapping(self.map.as_ptr().add(offset), bytes.as_mut_ptr(), width)
        };
        u64::from_le_bytes(bytes)
    }

    pub fn read_u64(&self, offset: usize) -> u64 {
        assert!(
            offset % 8 == 0 && offset + 8 <= self.map.len(),
            "u64 at {offset} outside the mapping or unaligned"
        );
        // SAFETY: in bounds and 8-aligned (the mapping is page-aligned), as just
        // asserted. Volatile, because the library writes the same bytes through
        // its own mapping, which the compiler cannot see alias ours.
        unsafe { self.map.as_ptr().add(offset).cast::<u64>().read_volatile() }
    }
}
