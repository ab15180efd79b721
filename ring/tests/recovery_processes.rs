//! MPMC crash recovery with real processes
//! (`docs/layout.md#mpmc-crash-recovery`): a child process killed with SIGKILL while it holds slots must not
//! stall the ring, and one stopped with SIGSTOP while it holds slots must not
//! have them taken.
//!
//! Each test owns one ring, in which the test process keeps a live producer
//! (producer id 0) and a live consumer of its own. For each trial it starts one
//! child (this test binary re-run, the `#[ignore]`d `child_*` tests), which
//! joins the ring, claims slots and says so on stdout. The test then kills it,
//! sends a message of its own (a marker) and requires its consumer to get it:
//! the ring went past the dead child's slots. Consumer children die holding
//! messages of the test's producer, so there the producer has to come round to
//! the held slots one lap later before the marker can get through.
//!
//! Killed at a chosen point, a child holds a known claim: a producer `n`
//! uncommitted slots (`dropped_claims` must grow by `n`), a consumer `k`
//! committed messages (`lost_messages` must grow by `k`, and exactly those
//! messages never arrive). Killed at a random time while it streams, a child's
//! claim is unknown, and the accounting is checked instead: every position
//! carried a delivered message or a counted drop or loss, at most one claim's
//! worth per death, and nothing that was committed went missing uncounted.
//!
//! Stopped with SIGSTOP for [`STOPPED_FOR`] while it holds slots, a child is
//! alive however long it stays stopped: the test's handles poll and block on the
//! ring meanwhile and must get nothing past the held slots and clean nothing;
//! after SIGCONT the child commits (or releases) and everything arrives once.
//!
//! Messages are tagged with producer id and sequence number and end with a
//! checksum (`common::fill_tagged`). The test's consumer is alone in reading
//! while it checks, so it sees each producer's messages in position order:
//! their sequence numbers must grow one by one, and a skipped number is a
//! message that did not reach it ([`Ledger`]). Recovery times (from the kill
//! to the marker's delivery) are printed, never asserted: a stall shows as a
//! blocking call that times out after [`STALL`].

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{
    check_tagged, data, fill_tagged, space, tagged_len, unique_name, Background, ChildProcess,
    RemoveRing, Scratch, XorShift, MIN_TAGGED_LEN, TAG_LEN,
};
use shmlane::{
    mpmc, Error, ErrorKind, ParticipantState, Ring, RingInfo, RingOptions, WaitInfo, WaitStrategy,
};

const CAPACITY: u64 = 8;
/// 48 bytes of payload in the rings of variable-length messages.
const SLOT_SIZE: u64 = 64;
/// The message size of the rings of fixed-size messages (random kills).
const FIXED_MESSAGE: u64 = 24;
/// The test's producer and consumer, the child, and a spare.
const PARTICIPANTS: u32 = 4;
/// Trials of each chosen kill point.
const POINT_TRIALS: u32 = 150;
/// Trials of each kind of random-time kill.
const RANDOM_TRIALS: u32 = 500;
/// A random-time kill lands this long (at most) after the child started streaming.
const RANDOM_DELAY_MICROS: u64 = 2000;
/// Slots of a producer child's held batch.
const PRODUCER_BATCH: usize = 4;
/// Messages of a consumer child's held batch.
const CONSUMER_BATCH: usize = 3;
/// Largest claim of a streaming child.
const STREAM_BATCH: u64 = 4;
/// Timeout of every blocking call of the test process: recovery takes
/// milliseconds, so a call that waits this long has stalled.
const STALL: Duration = Duration::from_secs(60);
/// How long a child is kept stopped: well past the grace period of recovery
/// (1 ms) and the peer-check interval of a sleeping handle (50 ms).
const STOPPED_FOR: Duration = Duration::from_millis(300);
/// Timeout of the blocking calls made while a child is stopped.
const SHORT_WAIT: Duration = Duration::from_millis(20);
/// Hang guard of the children, which are killed or let go within milliseconds.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Messages and what the test's consumer received.

/// The messages of one ring: tagged, of varied lengths or all `max` bytes.
#[derive(Clone, Copy)]
struct Messages {
    fixed_size: bool,
    max: usize,
}

impl Messages {
    fn of(ring: &Ring) -> Messages {
        Messages {
            fixed_size: ring.geometry().fixed_size,
            max: ring.max_payload(),
        }
    }

    fn len(&self, producer: u32, seq: u64) -> usize {
        if self.fixed_size {
            self.max
        } else {
            tagged_len(producer, seq, self.max)
        }
    }

    /// Writes message `seq` of `producer` at the start of `out`; returns its length.
    fn fill(&self, producer: u32, seq: u64, out: &mut [u8]) -> usize {
        let len = self.len(producer, seq);
        fill_tagged(producer, seq, &mut out[..len]);
        len
    }

    /// Checks that `message` is intact; returns its producer and sequence number.
    fn check(&self, message: &[u8], scratch: &mut [u8]) -> Result<(u32, u64), String> {
        if !self.fixed_size {
            return check_tagged(self.max, message, scratch);
        }
        if message.len() != self.max {
            return Err(format!(
                "a message of {} bytes in a ring of {}-byte messages",
                message.len(),
                self.max
            ));
        }
        let producer = u32::from_le_bytes(message[..4].try_into().unwrap());
        let seq = u64::from_le_bytes(message[4..TAG_LEN].try_into().unwrap());
        fill_tagged(producer, seq, &mut scratch[..self.max]);
        if message != &scratch[..self.max] {
            return Err(format!(
                "producer {producer} message {seq}: content differs (checksum or tag broken)"
            ));
        }
        Ok((producer, seq))
    }
}

/// What the test's consumer received from each producer. It reads alone (children
/// that read are dead or stopped by then), so each producer's sequence numbers
/// must grow; a number it skipped over is a message that reached someone else or
/// no one, kept in `gaps` for the test to account for.
struct Ledger {
    /// The next sequence number expected of each producer.
    next: Vec<u64>,
    /// Messages skipped over, as `(producer, seq)`.
    gaps: Vec<(u32, u64)>,
    /// Messages received, in all.
    received: u64,
}

/// A jump in sequence numbers longer than this is a broken message, not a gap.
const MAX_GAP: u64 = 1 << 20;

impl Ledger {
    fn new(producers: usize) -> Ledger {
        Ledger {
            next: vec![0; producers],
            gaps: Vec::new(),
            received: 0,
        }
    }

    /// Checks `message` and records it; panics, naming `what`, if it is broken,
    /// of an unknown producer, or not after the last one of its producer.
    fn record(
        &mut self,
        messages: Messages,
        message: &[u8],
        scratch: &mut [u8],
        what: &str,
    ) -> (u32, u64) {
        self.received += 1;
        messages
            .check(message, scratch)
            .and_then(|(producer, seq)| self.accept(producer, seq).map(|()| (producer, seq)))
            .unwrap_or_else(|problem| panic!("{what}: {problem}"))
    }

    fn accept(&mut self, producer: u32, seq: u64) -> Result<(), String> {
        let Some(next) = self.next.get_mut(producer as usize) else {
            return Err(format!("message {seq} from unknown producer {producer}"));
        };
        if seq < *next {
            return Err(format!(
                "producer {producer}: message {seq} after {} (delivered twice or out of order)",
                *next - 1
            ));
        }
        if seq - *next > MAX_GAP {
            return Err(format!(
                "producer {producer}: message {seq} after {}",
                *next
            ));
        }
        self.gaps
            .extend((*next..seq).map(|missing| (producer, missing)));
        *next = seq + 1;
        Ok(())
    }

    fn take_gaps(&mut self) -> Vec<(u32, u64)> {
        std::mem::take(&mut self.gaps)
    }
}

// ---------------------------------------------------------------------------
// The test process's side.

/// A ring with the test's live producer (id 0) and consumer.
struct Parent {
    name: String,
    ring: Ring,
    messages: Messages,
    producer: mpmc::Producer,
    consumer: mpmc::Consumer,
    /// The next sequence number of the test's producer.
    sent: u64,
    ledger: Ledger,
    message: Vec<u8>,
    scratch: Vec<u8>,
    _remove: RemoveRing,
}

impl Parent {
    /// A new ring, whose messages come from producers `0..producers`.
    fn new(tag: &str, options: &RingOptions, producers: usize) -> Parent {
        let name = unique_name(tag);
        let ring = Ring::create(&name, options).unwrap();
        let remove = RemoveRing(name.clone());
        let messages = Messages::of(&ring);
        Parent {
            producer: mpmc::Producer::join(&ring).unwrap(),
            consumer: mpmc::Consumer::join(&ring).unwrap(),
            name,
            ring,
            messages,
            sent: 0,
            ledger: Ledger::new(producers),
            message: vec![0; messages.max],
            scratch: vec![0; messages.max],
            _remove: remove,
        }
    }

    /// The environment a child needs to find the ring.
    fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![("SHMLANE_TEST_RING", self.name.clone())]
    }

    /// The ring's state, counters included, as `shmlane stat` reads it.
    fn info(&self) -> RingInfo {
        shmlane::info(self.ring.path()).unwrap()
    }

    /// Sends the next message of producer 0, waiting at most [`STALL`] for room.
    fn send(&mut self, what: &str) -> u64 {
        let seq = self.sent;
        let len = self.messages.fill(0, seq, &mut self.message);
        match self.producer.send(&self.message[..len], Some(STALL)) {
            Ok(true) => {}
            Ok(false) => panic!(
                "{what}: the test's producer found no room for message {seq} within {STALL:?}"
            ),
            Err(error) => {
                panic!("{what}: the test's producer could not send message {seq}: {error}")
            }
        }
        self.sent += 1;
        seq
    }

    /// Sends the next message of producer 0 if there is room now (`None`: full).
    fn try_send(&mut self) -> Result<Option<u64>, Error> {
        let seq = self.sent;
        let len = self.messages.fill(0, seq, &mut self.message);
        if !self.producer.try_send(&self.message[..len])? {
            return Ok(None);
        }
        self.sent += 1;
        Ok(Some(seq))
    }

    /// Receives the next message, waiting at most [`STALL`] for one.
    fn receive(&mut self, what: &str) -> (u32, u64) {
        match self.consumer.read(Some(STALL)) {
            Ok(Some(message)) => {
                self.ledger
                    .record(self.messages, &message, &mut self.scratch, what)
            }
            Ok(None) => panic!("{what}: the test's consumer got no message within {STALL:?}"),
            Err(error) => panic!("{what}: the test's consumer got no message: {error}"),
        }
    }

    /// Receives a message if one is there now (`None`: empty).
    fn try_receive(&mut self, what: &str) -> Result<Option<(u32, u64)>, Error> {
        let Some(message) = self.consumer.try_read()? else {
            return Ok(None);
        };
        Ok(Some(self.ledger.record(
            self.messages,
            &message,
            &mut self.scratch,
            what,
        )))
    }

    /// Sends as many messages of producer 0 as there is room for now, in one
    /// batch (the fastest way to feed a consumer child); `false` when full.
    fn try_send_batch(&mut self) -> Result<bool, Error> {
        let mut batch = self.producer.try_reserve_batch(CAPACITY as usize)?;
        for index in 0..batch.len() {
            let len = self
                .messages
                .fill(0, self.sent + index as u64, batch.slot_mut(index));
            batch.set_len(index, len).unwrap();
        }
        self.sent += batch.len() as u64;
        let sent = !batch.is_empty();
        batch.commit();
        Ok(sent)
    }

    /// Receives the messages there are now, in one batch (the fastest way to
    /// keep up with a producer child); `false` when empty.
    fn try_receive_batch(&mut self, what: &str) -> Result<bool, Error> {
        let batch = self.consumer.try_read_batch(CAPACITY as usize)?;
        for message in batch.iter() {
            self.ledger
                .record(self.messages, message, &mut self.scratch, what);
        }
        Ok(!batch.is_empty())
    }

    /// Receives messages until message `seq` of producer 0.
    fn receive_until(&mut self, seq: u64, what: &str) {
        while self.receive(what) != (0, seq) {}
    }

    /// Receives messages until the ring looks empty (or stalled).
    fn receive_available(&mut self, what: &str) {
        loop {
            match self.try_receive(what) {
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(other) => panic!("{what}: {other}"),
            }
        }
    }

    /// Asserts that every claimed position has been released.
    fn assert_drained(&mut self, what: &str) {
        match self.consumer.try_read() {
            Ok(None) => {}
            Ok(Some(message)) => {
                let found = self.messages.check(&message, &mut self.scratch);
                panic!("{what}: a message after the last one sent: {found:?}")
            }
            Err(other) => panic!("{what}: {other}"),
        }
        let info = self.info();
        assert_eq!(
            info.head, info.tail,
            "{what}: every claimed position was released"
        );
    }
}

/// Median and largest of `times`, for the report.
fn median_and_max(times: &mut [Duration]) -> String {
    times.sort();
    let ms = |time: Duration| time.as_secs_f64() * 1e3;
    format!(
        "median {:.3} ms, max {:.3} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    )
}

/// Kills the child with SIGKILL without reaping it: the test's handles must
/// find out through the record's lock, however long the kernel takes to
/// release it.
fn kill_without_reaping(child: &mut ChildProcess) {
    child.child().kill().unwrap();
}

/// The participant record of the process `pid`, as `info` sees it.
fn state_of(info: &RingInfo, pid: u32) -> ParticipantState {
    info.participants
        .iter()
        .find(|record| record.pid == pid)
        .map(|record| record.state)
        .unwrap_or_else(|| panic!("no participant record of process {pid}"))
}

// ---------------------------------------------------------------------------
// Kills at chosen points.

/// A producer child's injection point (`SHMLANE_TEST_POINT`).
#[derive(Clone, Copy, Debug)]
enum ProducerPoint {
    /// `try_reserve` returned; nothing written.
    Reserved,
    /// Half of the message written into the slot.
    HalfWritten,
    /// The whole message written, `commit` not called.
    Written,
    /// A `try_reserve_batch` of [`PRODUCER_BATCH`] slots, all written.
    Batch,
}

impl ProducerPoint {
    fn name(self) -> &'static str {
        match self {
            ProducerPoint::Reserved => "reserved",
            ProducerPoint::HalfWritten => "half-written",
            ProducerPoint::Written => "written",
            ProducerPoint::Batch => "batch",
        }
    }

    fn slots(self) -> u64 {
        match self {
            ProducerPoint::Batch => PRODUCER_BATCH as u64,
            _ => 1,
        }
    }
}

/// Kills a producer child at `point` again and again: each time the claim
/// is dropped and counted, the child's committed messages and the marker after
/// it are delivered.
fn producers_killed_at(point: ProducerPoint) {
    let mut parent = Parent::new(
        &format!("kill-producer-{}", point.name()),
        &RingOptions::mpmc(CAPACITY, SLOT_SIZE, PARTICIPANTS),
        POINT_TRIALS as usize + 1,
    );
    let mut recovery = Vec::new();
    for trial in 0..POINT_TRIALS {
        let id = trial + 1;
        // Committed before the claim: 0 to 2 messages.
        let committed = u64::from(trial % 3);
        let what = format!("producer {id} killed {}", point.name());
        let before = parent.info();
        let mut env = parent.child_env();
        env.extend([
            ("SHMLANE_TEST_POINT", point.name().to_owned()),
            ("SHMLANE_TEST_ID", id.to_string()),
            ("SHMLANE_TEST_COMMITTED", committed.to_string()),
        ]);
        let mut child = ChildProcess::spawn(&what, "child_producer_holding", &env);
        let claimed: u64 = child.wait_for_line_starting("CLAIMED ").parse().unwrap();
        assert_eq!(claimed, point.slots(), "{what}: slots claimed");

        let killed = Instant::now();
        kill_without_reaping(&mut child);
        let marker = parent.send(&what);
        parent.receive_until(marker, &what);
        recovery.push(killed.elapsed());
        drop(child);

        let after = parent.info();
        assert_eq!(
            after.dropped_claims - before.dropped_claims,
            claimed,
            "{what}: dropped_claims counts the dead claim"
        );
        assert_eq!(after.lost_messages, 0, "{what}: no message lost");
        assert_eq!(
            after.tail - before.tail,
            committed + claimed + 1,
            "{what}: positions used by the child's messages, its claim and the marker"
        );
        assert_eq!(
            parent.ledger.next[id as usize], committed,
            "{what}: the child's committed messages were delivered"
        );
        assert_eq!(parent.ledger.take_gaps(), [], "{what}: nothing lost");
        parent.assert_drained(&what);
    }
    let info = parent.info();
    let committed: u64 = (0..POINT_TRIALS).map(|trial| u64::from(trial % 3)).sum();
    assert_eq!(
        parent.ledger.received,
        parent.sent + committed,
        "every committed message delivered once"
    );
    assert_eq!(
        info.tail,
        parent.ledger.received + info.dropped_claims,
        "each position carried a delivered message or a dropped claim"
    );
    assert_eq!(info.dropped_claims, u64::from(POINT_TRIALS) * point.slots());
    eprintln!(
        "producer killed {:<12}: {POINT_TRIALS} trials, {} messages delivered, dropped_claims {}, lost_messages {}; kill to marker delivered: {}",
        point.name(),
        parent.ledger.received,
        info.dropped_claims,
        info.lost_messages,
        median_and_max(&mut recovery)
    );
}

#[test]
fn producer_killed_after_try_reserve_has_its_claim_dropped_and_counted() {
    producers_killed_at(ProducerPoint::Reserved);
}

#[test]
fn producer_killed_with_half_a_payload_written_has_its_claim_dropped_and_counted() {
    producers_killed_at(ProducerPoint::HalfWritten);
}

#[test]
fn producer_killed_before_commit_has_its_claim_dropped_and_counted() {
    producers_killed_at(ProducerPoint::Written);
}

#[test]
fn producer_killed_holding_a_batch_has_every_slot_of_it_dropped_and_counted() {
    producers_killed_at(ProducerPoint::Batch);
}

/// A consumer child's injection point (`SHMLANE_TEST_POINT`).
#[derive(Clone, Copy, Debug)]
enum ConsumerPoint {
    /// Holding the slot of a `try_read`.
    Read,
    /// Holding a `try_read_batch` of [`CONSUMER_BATCH`] messages.
    Batch,
    /// After a `try_recv` into a buffer too small for the message, which the
    /// handle keeps claimed.
    RefusedForShortBuffer,
}

impl ConsumerPoint {
    fn name(self) -> &'static str {
        match self {
            ConsumerPoint::Read => "read",
            ConsumerPoint::Batch => "batch",
            ConsumerPoint::RefusedForShortBuffer => "short-buffer",
        }
    }

    fn messages(self) -> usize {
        match self {
            ConsumerPoint::Batch => CONSUMER_BATCH,
            _ => 1,
        }
    }
}

/// Fills the ring with `count` messages of the test's producer, starts a
/// consumer child that claims the first `point.messages()` of them at `point`,
/// and checks what it says it holds. Returns the child, the first position and
/// the messages sent.
fn start_holding_consumer(
    parent: &mut Parent,
    point: ConsumerPoint,
    count: usize,
    go: Option<&Path>,
    what: &str,
) -> (ChildProcess, u64, Vec<u64>) {
    let first = parent.info().tail;
    let sent: Vec<u64> = (0..count).map(|_| parent.send(what)).collect();
    let mut env = parent.child_env();
    env.push(("SHMLANE_TEST_POINT", point.name().to_owned()));
    if let Some(go) = go {
        env.push(("SHMLANE_TEST_GO", go.display().to_string()));
    }
    let mut child = ChildProcess::spawn(what, "child_consumer_holding", &env);
    let held = child.wait_for_line_starting("HELD ");
    let expected = match point {
        ConsumerPoint::RefusedForShortBuffer => {
            format!("unread {}", parent.messages.len(0, sent[0]))
        }
        _ => sent[..point.messages()]
            .iter()
            .map(|seq| format!("0:{seq}"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    assert_eq!(held, expected, "{what}: the child holds the first messages");
    (child, first, sent)
}

/// Kills a consumer child holding messages at `point` again and again: each
/// time the test's producer comes round to the held slots, they are released
/// and counted as lost, and every other message is delivered.
fn consumers_killed_at(point: ConsumerPoint) {
    let mut parent = Parent::new(
        &format!("kill-consumer-{}", point.name()),
        &RingOptions::mpmc(CAPACITY, SLOT_SIZE, PARTICIPANTS),
        1,
    );
    let held = point.messages();
    let mut recovery = Vec::new();
    for trial in 0..POINT_TRIALS {
        let what = format!("consumer {trial} killed holding ({})", point.name());
        let before = parent.info();
        // One to three messages stay in the ring after the child's claim.
        let count = held + 1 + trial as usize % 3;
        let (mut child, first, sent) =
            start_holding_consumer(&mut parent, point, count, None, &what);

        let killed = Instant::now();
        kill_without_reaping(&mut child);
        // The marker goes into the last held slot, one lap later: the producer
        // gets there only once every held slot was released.
        let marker_position = first + held as u64 - 1 + CAPACITY;
        let mut position = first + count as u64;
        let marker = loop {
            let seq = parent.send(&what);
            if position == marker_position {
                break seq;
            }
            position += 1;
            parent.receive(&what);
        };
        parent.receive_until(marker, &what);
        recovery.push(killed.elapsed());
        drop(child);

        let after = parent.info();
        assert_eq!(
            after.lost_messages - before.lost_messages,
            held as u64,
            "{what}: lost_messages counts the held messages"
        );
        assert_eq!(after.dropped_claims, 0, "{what}: no claim dropped");
        let lost: Vec<(u32, u64)> = sent[..held].iter().map(|&seq| (0, seq)).collect();
        assert_eq!(
            parent.ledger.take_gaps(),
            lost,
            "{what}: exactly the held messages did not arrive"
        );
        parent.assert_drained(&what);
    }
    let info = parent.info();
    let lost = u64::from(POINT_TRIALS) * held as u64;
    assert_eq!(info.lost_messages, lost);
    assert_eq!(
        parent.ledger.next[0], parent.sent,
        "the last message arrived"
    );
    assert_eq!(
        parent.ledger.received,
        parent.sent - info.lost_messages,
        "received = committed - lost_messages"
    );
    eprintln!(
        "consumer killed {:<12}: {POINT_TRIALS} trials, {} messages delivered, dropped_claims {}, lost_messages {}; kill to marker delivered: {}",
        point.name(),
        parent.ledger.received,
        info.dropped_claims,
        info.lost_messages,
        median_and_max(&mut recovery)
    );
}

#[test]
fn consumer_killed_holding_a_read_slot_has_its_message_released_and_counted_lost() {
    consumers_killed_at(ConsumerPoint::Read);
}

#[test]
fn consumer_killed_holding_a_read_batch_has_every_message_of_it_released_and_counted_lost() {
    consumers_killed_at(ConsumerPoint::Batch);
}

#[test]
fn consumer_killed_after_try_recv_refused_a_short_buffer_has_the_held_message_released() {
    consumers_killed_at(ConsumerPoint::RefusedForShortBuffer);
}

// ---------------------------------------------------------------------------
// Kills at random times.
//
// A random kill should land anywhere in the child's loop, so the child must be
// busy when it lands: a thread of the test feeds it (consumes what it sends, or
// sends what it reads) until the kill is over, while another thread sleeps for
// the random delay and kills. If the child and the feeder shared a CPU, they
// would run by turns, and the child would mostly be descheduled after a turn
// spent starved, polling a full or empty ring outside any claim: the two are
// pinned to different CPUs, and the two random-kill tests run one at a time.

/// Held by a random-kill test while it runs.
static STREAMING: Mutex<()> = Mutex::new(());

fn streaming_alone() -> MutexGuard<'static, ()> {
    // A test that failed holding it poisoned it; the next one may still run.
    STREAMING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The CPUs this thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero `cpu_set_t` is an empty set (plain bits).
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed.
    let got = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(
        got,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, inside the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpu`.
fn pin_to_cpu(cpu: usize) {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` comes from `allowed_cpus`, below `CPU_SETSIZE`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed.
    let pinned = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(
        pinned,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

/// A CPU for the test's feeder thread, and the environment that pins a
/// streaming child to another (nothing on a single CPU).
fn cpus_apart() -> (Option<usize>, Vec<(&'static str, String)>) {
    match allowed_cpus()[..] {
        [feeder, child, ..] => (Some(feeder), vec![("SHMLANE_TEST_CPU", child.to_string())]),
        _ => (None, Vec::new()),
    }
}

/// Calls `feed` again and again on a thread pinned to `cpu`, while this
/// thread waits for `delay`, then kills `child` and reaps it; returns the time
/// of the kill. The feeding stops only once the child is gone.
fn kill_while_feeding(
    child: ChildProcess,
    delay: Duration,
    cpu: Option<usize>,
    mut feed: impl FnMut() + Send,
) -> Instant {
    // A test-local flag, not ring state: the crate's `sync` rule does not apply.
    #[allow(clippy::disallowed_types)]
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let feeder = scope.spawn(|| {
            if let Some(cpu) = cpu {
                pin_to_cpu(cpu);
            }
            // Ordering: Relaxed; a flag polled until it is seen.
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                feed();
            }
        });
        std::thread::sleep(delay);
        let killed = Instant::now();
        child.kill();
        // Ordering: Relaxed, as above.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Err(panic) = feeder.join() {
            std::panic::resume_unwind(panic);
        }
        killed
    })
}

/// In a streaming child: pins itself where the test said.
fn pin_as_told() {
    if let Ok(cpu) = std::env::var("SHMLANE_TEST_CPU") {
        pin_to_cpu(cpu.parse().unwrap());
    }
}

#[test]
fn producers_killed_at_random_times_while_streaming_lose_no_committed_message() {
    let mut parent = Parent::new(
        "kill-streaming-producer",
        &RingOptions::mpmc_fixed(CAPACITY, FIXED_MESSAGE, PARTICIPANTS),
        RANDOM_TRIALS as usize + 1,
    );
    let _alone = streaming_alone();
    let (feeder_cpu, pinned) = cpus_apart();
    let mut rng = XorShift::new(0x5eed);
    let mut recovery = Vec::new();
    let mut child_messages = 0;
    let mut deaths_with_a_claim = 0;
    for trial in 0..RANDOM_TRIALS {
        let id = trial + 1;
        let what = format!("streaming producer {id}");
        let before = parent.info();
        let received_before = parent.ledger.received;
        let mut env = parent.child_env();
        env.extend([
            ("SHMLANE_TEST_ID", id.to_string()),
            ("SHMLANE_TEST_SEED", rng.next_u64().to_string()),
        ]);
        env.extend(pinned.iter().cloned());
        let mut child = ChildProcess::spawn(&what, "child_producer_streaming", &env);
        child.wait_for_line("STREAMING");
        let delay = Duration::from_micros(rng.below(RANDOM_DELAY_MICROS));
        // Reaped before the marker: nothing it does can come after it.
        let killed = kill_while_feeding(child, delay, feeder_cpu, || {
            match parent.try_receive_batch(&what) {
                Ok(_) => {}
                Err(other) => panic!("{what}: {other}"),
            }
        });
        // Read up to the dead claim, if any, so that the marker has room:
        // nothing was claimed after it.
        parent.receive_available(&what);
        let marker = parent.send(&what);
        parent.receive_until(marker, &what);
        recovery.push(killed.elapsed());

        let after = parent.info();
        let dropped = after.dropped_claims - before.dropped_claims;
        let delivered = parent.ledger.received - received_before;
        assert_eq!(after.lost_messages, 0, "{what}: no message lost");
        assert!(
            dropped <= STREAM_BATCH,
            "{what}: {dropped} claims dropped, more than one claim"
        );
        assert_eq!(
            after.tail - before.tail,
            delivered + dropped,
            "{what}: each position carried a delivered message or a dropped claim"
        );
        // Its messages came in order, one by one: a committed one missing
        // would be a gap (or, the last, a position neither delivered nor
        // counted as dropped, caught above).
        assert_eq!(
            parent.ledger.take_gaps(),
            [],
            "{what}: a committed message went missing"
        );
        parent.assert_drained(&what);
        child_messages += parent.ledger.next[id as usize];
        deaths_with_a_claim += u64::from(dropped > 0);
    }
    let info = parent.info();
    assert_eq!(parent.ledger.received, parent.sent + child_messages);
    assert_eq!(info.tail, parent.ledger.received + info.dropped_claims);
    assert!(
        deaths_with_a_claim > 0,
        "no random kill landed inside a claim: recovery was never exercised"
    );
    eprintln!(
        "producer killed at random    : {RANDOM_TRIALS} trials, {child_messages} messages of the children delivered, {deaths_with_a_claim} deaths with a claim, dropped_claims {}, lost_messages {}; kill to marker delivered: {}",
        info.dropped_claims,
        info.lost_messages,
        median_and_max(&mut recovery)
    );
}

#[test]
fn consumers_killed_at_random_times_while_streaming_lose_only_what_they_held() {
    let mut parent = Parent::new(
        "kill-streaming-consumer",
        &RingOptions::mpmc_fixed(CAPACITY, FIXED_MESSAGE, PARTICIPANTS),
        1,
    );
    let logs = Scratch::new("recovery-logs").unwrap();
    let _alone = streaming_alone();
    let (feeder_cpu, pinned) = cpus_apart();
    let mut rng = XorShift::new(0xc0de);
    let mut recovery = Vec::new();
    let (mut child_messages, mut missing_total, mut deaths_with_a_claim) = (0, 0, 0);
    for trial in 0..RANDOM_TRIALS {
        let what = format!("streaming consumer {trial}");
        let before = parent.info();
        let log = logs.path(&format!("consumer-{trial}.log"));
        let mut env = parent.child_env();
        env.extend([
            ("SHMLANE_TEST_LOG", log.display().to_string()),
            ("SHMLANE_TEST_SEED", rng.next_u64().to_string()),
        ]);
        env.extend(pinned.iter().cloned());
        let mut child = ChildProcess::spawn(&what, "child_consumer_streaming", &env);
        child.wait_for_line("STREAMING");
        let delay = Duration::from_micros(rng.below(RANDOM_DELAY_MICROS));
        let killed =
            kill_while_feeding(child, delay, feeder_cpu, || match parent.try_send_batch() {
                Ok(_) => {}
                Err(other) => panic!("{what}: {other}"),
            });
        let logged: Vec<u64> = std::fs::read(&log)
            .unwrap()
            .chunks_exact(8)
            .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap()))
            .collect();
        // Once the ring is drained, the test's producer sends a lap of
        // messages, one at a time: the last (the marker) goes into the slot of
        // the last position claimed before the death, one lap later, so every
        // slot the child may have held had to be released first.
        parent.receive_available(&what);
        for _ in 0..CAPACITY {
            let seq = parent.send(&what);
            parent.receive_until(seq, &what);
        }
        recovery.push(killed.elapsed());
        parent.assert_drained(&what);

        let after = parent.info();
        let lost = after.lost_messages - before.lost_messages;
        assert_eq!(after.dropped_claims, 0, "{what}: no claim dropped");
        // What the test's consumer skipped over went to the child (logged
        // before release) or was held by it when it died (counted lost).
        let skipped: BTreeSet<u64> = parent
            .ledger
            .take_gaps()
            .into_iter()
            .map(|(_, seq)| seq)
            .collect();
        let child_got: BTreeSet<u64> = logged.iter().copied().collect();
        assert_eq!(
            child_got.len(),
            logged.len(),
            "{what}: the child got a message twice"
        );
        if let Some(seq) = child_got.difference(&skipped).next() {
            panic!("{what}: message {seq} reached the child and the test's consumer, or was never sent");
        }
        let missing: Vec<u64> = skipped.difference(&child_got).copied().collect();
        assert!(
            missing.len() as u64 <= lost,
            "{what}: messages {missing:?} reached no one, but lost_messages grew by {lost}"
        );
        assert!(
            lost <= STREAM_BATCH,
            "{what}: {lost} messages counted lost, more than one claim"
        );
        if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
            assert_eq!(
                last - first + 1,
                missing.len() as u64,
                "{what}: missing {missing:?} are not one claim"
            );
        }
        child_messages += logged.len() as u64;
        missing_total += missing.len() as u64;
        deaths_with_a_claim += u64::from(lost > 0);
    }
    let info = parent.info();
    assert_eq!(
        parent.ledger.next[0], parent.sent,
        "the last message arrived"
    );
    assert_eq!(
        parent.sent,
        parent.ledger.received + child_messages + missing_total
    );
    assert_eq!(info.tail, parent.sent);
    assert!(
        deaths_with_a_claim > 0,
        "no random kill landed while holding a message: recovery was never exercised"
    );
    eprintln!(
        "consumer killed at random    : {RANDOM_TRIALS} trials, {child_messages} messages to the children, {} to the test, {deaths_with_a_claim} deaths with a claim, {missing_total} unread and lost_messages {}, dropped_claims {}; kill to marker delivered: {}",
        parent.ledger.received,
        info.lost_messages,
        info.dropped_claims,
        median_and_max(&mut recovery)
    );
}

// ---------------------------------------------------------------------------
// Stopped owners.

/// Polls and blocks on the ring for [`STOPPED_FOR`] while a child holding
/// slots is stopped, in rounds of three: [`SHORT_WAIT`] of polling flat out
/// (recovery's grace period runs out many times over), a blocking read and a
/// blocking send of [`SHORT_WAIT`] each (a sleeping handle looks at its peers
/// at once when it wakes). Nothing may get through, and nothing may be cleaned.
fn poll_while_stopped(parent: &mut Parent, child: &mut ChildProcess, what: &str) {
    fn got_through(messages: Messages, message: &[u8], what: &str) -> ! {
        let found = messages.check(message, &mut vec![0; messages.max]);
        panic!("{what}: a message got past the stopped child's slots: {found:?}");
    }
    let messages = parent.messages;
    let pid = child.child().id();
    let until = Instant::now() + STOPPED_FOR;
    let (mut rounds, mut polls) = (0u64, 0u64);
    while Instant::now() < until {
        let polling = Instant::now();
        while polling.elapsed() < SHORT_WAIT {
            match parent.consumer.try_read() {
                Ok(None) => {}
                Ok(Some(message)) => got_through(messages, &message, what),
                Err(other) => panic!("{what}: {other}"),
            }
            match parent.try_send() {
                Ok(None) => {}
                other => panic!(
                    "{what}: the test's producer found room past the stopped child: {other:?}"
                ),
            }
            polls += 1;
        }
        match parent.consumer.read(Some(SHORT_WAIT)) {
            Ok(None) => {}
            Ok(Some(message)) => got_through(messages, &message, what),
            Err(other) => panic!("{what}: {other}"),
        }
        let len = parent.messages.fill(0, parent.sent, &mut parent.message);
        match parent
            .producer
            .send(&parent.message[..len], Some(SHORT_WAIT))
        {
            Ok(false) => {}
            other => {
                panic!("{what}: the test's producer found room past the stopped child: {other:?}")
            }
        }
        let info = parent.info();
        assert_eq!(
            (info.dropped_claims, info.lost_messages),
            (0, 0),
            "{what}: nothing cleaned"
        );
        assert_eq!(
            state_of(&info, pid),
            ParticipantState::Alive,
            "{what}: a stopped child is alive"
        );
        rounds += 1;
    }
    eprintln!(
        "{what}: stopped for {STOPPED_FOR:?}: {rounds} rounds, {polls} polls, nothing got through, nothing cleaned"
    );
}

#[test]
fn stopped_producer_keeps_its_reservation_and_commits_it_after_sigcont() {
    for point in [ProducerPoint::Written, ProducerPoint::Batch] {
        let mut parent = Parent::new(
            &format!("stop-producer-{}", point.name()),
            &RingOptions::mpmc(CAPACITY, SLOT_SIZE, PARTICIPANTS),
            2,
        );
        let what = format!("producer stopped holding ({})", point.name());
        let scratch = Scratch::new("recovery-go").unwrap();
        let go = scratch.path("go");
        let committed = 2;
        let mut env = parent.child_env();
        env.extend([
            ("SHMLANE_TEST_POINT", point.name().to_owned()),
            ("SHMLANE_TEST_ID", "1".to_owned()),
            ("SHMLANE_TEST_COMMITTED", committed.to_string()),
            ("SHMLANE_TEST_GO", go.display().to_string()),
        ]);
        let mut child = ChildProcess::spawn(&what, "child_producer_holding", &env);
        let claimed: u64 = child.wait_for_line_starting("CLAIMED ").parse().unwrap();
        child.stop();

        for seq in 0..committed {
            assert_eq!(
                parent.receive(&what),
                (1, seq),
                "{what}: its messages before the claim"
            );
        }
        // The test's producer commits after the held slots until the ring is full.
        let mut behind = Vec::new();
        loop {
            match parent.try_send() {
                Ok(Some(seq)) => behind.push(seq),
                Ok(None) => break,
                Err(other) => panic!("{what}: {other}"),
            }
        }
        assert_eq!(
            behind.len() as u64,
            CAPACITY - claimed,
            "{what}: the ring filled up"
        );
        poll_while_stopped(&mut parent, &mut child, &what);

        child.resume();
        std::fs::File::create(&go).unwrap();
        let stdout = child.finish(Instant::now() + STALL, || {});
        assert!(stdout.contains("\nCOMMITTED"), "{what}: {stdout:?}");
        for seq in committed..committed + claimed {
            assert_eq!(
                parent.receive(&what),
                (1, seq),
                "{what}: the held messages, committed"
            );
        }
        for &seq in &behind {
            assert_eq!(
                parent.receive(&what),
                (0, seq),
                "{what}: the messages behind them"
            );
        }
        parent.assert_drained(&what);
        let info = parent.info();
        assert_eq!(
            (info.dropped_claims, info.lost_messages),
            (0, 0),
            "{what}: nothing cleaned"
        );
        assert_eq!(parent.ledger.take_gaps(), [], "{what}: nothing lost");
    }
}

#[test]
fn stopped_consumer_keeps_its_messages_and_releases_them_after_sigcont() {
    for point in [
        ConsumerPoint::Read,
        ConsumerPoint::Batch,
        ConsumerPoint::RefusedForShortBuffer,
    ] {
        let mut parent = Parent::new(
            &format!("stop-consumer-{}", point.name()),
            &RingOptions::mpmc(CAPACITY, SLOT_SIZE, PARTICIPANTS),
            1,
        );
        let what = format!("consumer stopped holding ({})", point.name());
        let scratch = Scratch::new("recovery-go").unwrap();
        let go = scratch.path("go");
        let held = point.messages();
        let (mut child, _, sent) =
            start_holding_consumer(&mut parent, point, held + 1, Some(&go), &what);
        child.stop();

        // The test's consumer reads what the child left; the test's producer
        // fills the ring up to the held slots, one lap later.
        assert_eq!(parent.receive(&what), (0, sent[held]));
        loop {
            match parent.try_send() {
                Ok(Some(_)) => {
                    parent.receive(&what);
                }
                Ok(None) => break,
                Err(other) => panic!("{what}: {other}"),
            }
        }
        assert_eq!(
            parent.sent, CAPACITY,
            "{what}: the producer came round to the held slots"
        );
        poll_while_stopped(&mut parent, &mut child, &what);

        child.resume();
        std::fs::File::create(&go).unwrap();
        let stdout = child.finish(Instant::now() + STALL, || {});
        assert!(stdout.contains("\nRELEASED"), "{what}: {stdout:?}");
        if let ConsumerPoint::RefusedForShortBuffer = point {
            assert!(
                stdout.contains(&format!("\nREAD 0:{}", sent[0])),
                "{what}: {stdout:?}"
            );
        }
        // The held slots are free again: the producer goes on.
        for _ in 0..CAPACITY {
            let seq = parent.send(&what);
            parent.receive_until(seq, &what);
        }
        parent.assert_drained(&what);
        let info = parent.info();
        assert_eq!(
            (info.dropped_claims, info.lost_messages),
            (0, 0),
            "{what}: nothing cleaned"
        );
        let to_child: Vec<(u32, u64)> = sent[..held].iter().map(|&seq| (0, seq)).collect();
        assert_eq!(
            parent.ledger.take_gaps(),
            to_child,
            "{what}: all but the child's messages arrived"
        );
        assert_eq!(parent.ledger.received + held as u64, parent.sent);
    }
}

// ---------------------------------------------------------------------------
// Sleepers woken behind a dead owner's slot.
//
// A sleeping handle that a live peer's commit (or release) wakes while a dead
// owner's slot still blocks it must look for that owner then, not at its next
// peer check. Its peer-check interval here is [`LONG_PEER_CHECK`], far longer
// than [`WOKEN_BOUND`]: a handle that waits for its next check cannot get past
// the dead slot in time, only one that looks when the wake finds it blocked.
//
// Each sleeper first sleeps once and is woken with success, so that it stays
// registered and its wakers have acknowledged the registration (an
// unacknowledged sleeper naps with short timeouts, each of which would look for
// dead owners too). The child joins after that, which acknowledges it at once.

/// Peer-check interval of the sleepers woken behind a dead slot.
const LONG_PEER_CHECK: Duration = Duration::from_secs(30);
/// Generous bound for a woken sleeper to get past a dead slot, which takes
/// microseconds; a sleeper waiting for its peer check would take [`LONG_PEER_CHECK`].
const WOKEN_BOUND: Duration = Duration::from_secs(10);

/// Sleeps at once, and looks at its peers only every [`LONG_PEER_CHECK`].
fn sleeping_for_long() -> WaitStrategy {
    WaitStrategy::sleeping().with_peer_check_interval(LONG_PEER_CHECK)
}

/// Waits until some handle waits on the line of `ring` that `line` picks:
/// it is in the sleeping phase of a blocking call.
fn wait_for_waiter(ring: &Ring, line: fn(&RingInfo) -> WaitInfo, what: &str) {
    let deadline = Instant::now() + STALL;
    while line(&shmlane::info(ring.path()).unwrap()).waiters == 0 {
        assert!(Instant::now() < deadline, "{what}: nobody went to sleep");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends message `seq` of producer 0 with `producer`, waiting at most `timeout`.
fn send_message(
    producer: &mut mpmc::Producer,
    messages: Messages,
    seq: u64,
    timeout: Duration,
) -> bool {
    let mut message = vec![0; messages.max];
    let len = messages.fill(0, seq, &mut message);
    producer.send(&message[..len], Some(timeout)).unwrap()
}

/// Reads one message with `consumer` in a thread of its own, waiting at most [`STALL`].
fn read_in_background(
    mut consumer: mpmc::Consumer,
    messages: Messages,
) -> Background<(mpmc::Consumer, (u32, u64))> {
    Background::spawn(move || {
        let got = {
            let message = consumer
                .read(Some(STALL))
                .unwrap()
                .expect("a message within the stall timeout");
            messages
                .check(&message, &mut vec![0; messages.max])
                .unwrap()
        };
        (consumer, got)
    })
}

/// Sends message `seq` with `producer` in a thread of its own, waiting at most [`STALL`].
fn send_in_background(
    mut producer: mpmc::Producer,
    messages: Messages,
    seq: u64,
) -> Background<(mpmc::Producer, bool)> {
    Background::spawn(move || {
        let sent = send_message(&mut producer, messages, seq, STALL);
        (producer, sent)
    })
}

#[test]
fn consumer_asleep_behind_a_dead_producers_claim_gets_past_it_when_a_commit_wakes_it() {
    let what = "consumer asleep behind a dead producer's claim";
    let name = unique_name("woken-consumer");
    let ring = Ring::create(&name, &RingOptions::mpmc(CAPACITY, SLOT_SIZE, PARTICIPANTS)).unwrap();
    let _remove = RemoveRing(name.clone());
    let messages = Messages::of(&ring);
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    consumer.set_wait_strategy(sleeping_for_long());

    let reading = read_in_background(consumer, messages);
    wait_for_waiter(&ring, data, what);
    assert!(send_message(&mut producer, messages, 0, STALL));
    let (consumer, got) = reading.wait(STALL, what);
    assert_eq!(got, (0, 0), "{what}: the first message");

    let reading = read_in_background(consumer, messages);
    wait_for_waiter(&ring, data, what);
    let env = [
        ("SHMLANE_TEST_RING", name.clone()),
        (
            "SHMLANE_TEST_POINT",
            ProducerPoint::Reserved.name().to_owned(),
        ),
        ("SHMLANE_TEST_ID", "1".to_owned()),
        ("SHMLANE_TEST_COMMITTED", "0".to_owned()),
    ];
    let mut child = ChildProcess::spawn(what, "child_producer_holding", &env);
    assert_eq!(child.wait_for_line_starting("CLAIMED "), "1");
    // Reaped: its lock is released before the commit below wakes the consumer.
    child.kill();
    assert!(send_message(&mut producer, messages, 1, STALL));
    let (_consumer, got) = reading.wait(
        WOKEN_BOUND,
        &format!(
            "{what}: woken by the commit behind it, with a peer check due in {LONG_PEER_CHECK:?}"
        ),
    );
    assert_eq!(
        got,
        (0, 1),
        "{what}: the message committed after the dead claim"
    );
    let info = shmlane::info(ring.path()).unwrap();
    assert_eq!(info.dropped_claims, 1, "{what}: the dead claim was dropped");
}

#[test]
fn producer_asleep_behind_a_dead_consumers_slot_gets_past_it_when_a_release_wakes_it() {
    let what = "producer asleep behind a dead consumer's slot";
    let name = unique_name("woken-producer");
    let ring = Ring::create(&name, &RingOptions::mpmc(CAPACITY, SLOT_SIZE, PARTICIPANTS)).unwrap();
    let _remove = RemoveRing(name.clone());
    let messages = Messages::of(&ring);
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    producer.set_wait_strategy(sleeping_for_long());
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let mut scratch = vec![0; messages.max];
    let mut receive = |consumer: &mut mpmc::Consumer| {
        let message = consumer.try_read().unwrap().expect("a message");
        messages.check(&message, &mut scratch).unwrap()
    };
    for seq in 0..CAPACITY {
        assert!(send_message(&mut producer, messages, seq, Duration::ZERO));
    }

    let sending = send_in_background(producer, messages, CAPACITY);
    wait_for_waiter(&ring, space, what);
    assert_eq!(receive(&mut consumer), (0, 0));
    let (producer, sent) = sending.wait(STALL, what);
    assert!(sent, "{what}: the message after a full lap");

    // The next message needs the slot of message 1, which the child takes.
    let sending = send_in_background(producer, messages, CAPACITY + 1);
    wait_for_waiter(&ring, space, what);
    let env = [
        ("SHMLANE_TEST_RING", name.clone()),
        ("SHMLANE_TEST_POINT", ConsumerPoint::Read.name().to_owned()),
    ];
    let mut child = ChildProcess::spawn(what, "child_consumer_holding", &env);
    assert_eq!(child.wait_for_line_starting("HELD "), "0:1");
    // Reaped: its lock is released before the release below wakes the producer.
    child.kill();
    assert_eq!(receive(&mut consumer), (0, 2));
    let (_producer, sent) = sending.wait(
        WOKEN_BOUND,
        &format!("{what}: woken by a release, with a peer check due in {LONG_PEER_CHECK:?}"),
    );
    assert!(sent, "{what}: the message for the dead consumer's slot");
    let info = shmlane::info(ring.path()).unwrap();
    assert_eq!(info.lost_messages, 1, "{what}: the held message was lost");
}

// ---------------------------------------------------------------------------
// The children.

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
}

fn env_u64(name: &str) -> u64 {
    env(name).parse().unwrap()
}

/// Sleeps until killed; gives up (failing) after [`CHILD_LIMIT`].
fn hold_until_killed() -> ! {
    std::thread::sleep(CHILD_LIMIT);
    panic!("held slots for {CHILD_LIMIT:?} and was never killed");
}

/// Sleeps until the file `go` exists; gives up (failing) after [`CHILD_LIMIT`].
fn hold_until(go: Option<&Path>) {
    let Some(go) = go else {
        hold_until_killed();
    };
    let deadline = Instant::now() + CHILD_LIMIT;
    while !go.exists() {
        assert!(
            Instant::now() < deadline,
            "held slots for {CHILD_LIMIT:?} and was never let go"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Says something to the parent, on a line of its own: libtest has printed
/// "test <name> ... " without a newline.
fn tell(line: &str) {
    println!("\n{line}");
}

#[test]
#[ignore = "run as a child process by the tests above"]
fn child_producer_holding() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return;
    };
    let id = env_u64("SHMLANE_TEST_ID") as u32;
    let committed = env_u64("SHMLANE_TEST_COMMITTED");
    let point = env("SHMLANE_TEST_POINT");
    let go = std::env::var_os("SHMLANE_TEST_GO").map(PathBuf::from);
    let ring = Ring::open(&name).unwrap();
    let messages = Messages::of(&ring);
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut message = vec![0u8; messages.max];
    for seq in 0..committed {
        let len = messages.fill(id, seq, &mut message);
        assert!(producer.try_send(&message[..len]).unwrap());
    }
    let seq = committed;
    match point.as_str() {
        "reserved" => {
            let _slot = producer.try_reserve().unwrap().unwrap();
            tell("CLAIMED 1");
            hold_until_killed();
        }
        "half-written" => {
            let mut slot = producer.try_reserve().unwrap().unwrap();
            let half = messages.fill(id, seq, &mut message) / 2;
            slot[..half].copy_from_slice(&message[..half]);
            tell("CLAIMED 1");
            hold_until_killed();
        }
        "written" => {
            let mut slot = producer.try_reserve().unwrap().unwrap();
            let len = messages.fill(id, seq, &mut slot);
            tell("CLAIMED 1");
            hold_until(go.as_deref());
            slot.commit(len).unwrap();
        }
        "batch" => {
            let mut batch = producer.try_reserve_batch(PRODUCER_BATCH).unwrap();
            for index in 0..batch.len() {
                let len = messages.fill(id, seq + index as u64, batch.slot_mut(index));
                batch.set_len(index, len).unwrap();
            }
            tell(&format!("CLAIMED {}", batch.len()));
            hold_until(go.as_deref());
            batch.commit();
        }
        other => panic!("unknown point {other:?}"),
    }
    tell("COMMITTED");
}

#[test]
#[ignore = "run as a child process by the tests above"]
fn child_consumer_holding() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return;
    };
    let point = env("SHMLANE_TEST_POINT");
    let go = std::env::var_os("SHMLANE_TEST_GO").map(PathBuf::from);
    let ring = Ring::open(&name).unwrap();
    let messages = Messages::of(&ring);
    let mut scratch = vec![0u8; messages.max];
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let mut tag = |message: &[u8]| {
        let (producer, seq) = messages.check(message, &mut scratch).unwrap();
        format!("{producer}:{seq}")
    };
    match point.as_str() {
        "read" => {
            let message = consumer.try_read().unwrap().unwrap();
            tell(&format!("HELD {}", tag(&message)));
            hold_until(go.as_deref());
            drop(message);
        }
        "batch" => {
            let batch = consumer.try_read_batch(CONSUMER_BATCH).unwrap();
            let held: Vec<String> = batch.iter().map(&mut tag).collect();
            tell(&format!("HELD {}", held.join(" ")));
            hold_until(go.as_deref());
            drop(batch);
        }
        "short-buffer" => {
            let mut short = [0u8; MIN_TAGGED_LEN - 1];
            match consumer.try_recv(&mut short) {
                Err(e) if e.kind() == ErrorKind::BufferTooSmall => {
                    let (needed, _) = e.sizes().expect("a size error names its sizes");
                    tell(&format!("HELD unread {needed}"))
                }
                other => panic!("try_recv into {} bytes: {other:?}", short.len()),
            }
            hold_until(go.as_deref());
            let message = consumer.try_read().unwrap().unwrap();
            tell(&format!("READ {}", tag(&message)));
        }
        other => panic!("unknown point {other:?}"),
    }
    tell("RELEASED");
}

/// One step of a producer that streams flat out and commits everything it
/// claims (so that every claim a kill leaves behind is counted as dropped):
/// a copy, a slot written in place, or a batch.
fn stream_step(
    producer: &mut mpmc::Producer,
    messages: Messages,
    id: u32,
    next: &mut u64,
    rng: &mut XorShift,
    scratch: &mut [u8],
) -> Result<(), Error> {
    match rng.below(3) {
        0 => {
            let len = messages.fill(id, *next, scratch);
            if producer.try_send(&scratch[..len])? {
                *next += 1;
            }
        }
        1 => {
            let Some(mut slot) = producer.try_reserve()? else {
                return Ok(());
            };
            let len = messages.fill(id, *next, &mut slot);
            slot.commit(len).unwrap();
            *next += 1;
        }
        _ => {
            let mut batch = producer.try_reserve_batch(1 + rng.below(STREAM_BATCH) as usize)?;
            for index in 0..batch.len() {
                let len = messages.fill(id, *next + index as u64, batch.slot_mut(index));
                batch.set_len(index, len).unwrap();
            }
            *next += batch.len() as u64;
            batch.commit();
        }
    }
    Ok(())
}

#[test]
#[ignore = "run as a child process by the tests above"]
fn child_producer_streaming() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return;
    };
    let id = env_u64("SHMLANE_TEST_ID") as u32;
    let mut rng = XorShift::new(env_u64("SHMLANE_TEST_SEED"));
    pin_as_told();
    let ring = Ring::open(&name).unwrap();
    let messages = Messages::of(&ring);
    let mut producer = mpmc::Producer::join(&ring).unwrap();
    let mut scratch = vec![0u8; messages.max];
    let mut next = 0;
    tell("STREAMING");
    let deadline = Instant::now() + CHILD_LIMIT;
    let mut rounds = 0u64;
    loop {
        match stream_step(
            &mut producer,
            messages,
            id,
            &mut next,
            &mut rng,
            &mut scratch,
        ) {
            Ok(()) => {}
            Err(other) => panic!("producer {id}: {other}"),
        }
        rounds += 1;
        if rounds % 1024 == 0 {
            assert!(
                Instant::now() < deadline,
                "streamed for {CHILD_LIMIT:?} and was never killed"
            );
        }
    }
}

/// A consumer that streams flat out and writes each message's sequence number
/// to its log (one `write`, which outlives a kill) before it releases the slot.
/// It reads in place only (`try_read`, `try_read_batch`, and `try_recv` into a
/// short buffer followed by `try_read`): a plain `try_recv` releases the slot
/// before the log could be written.
#[test]
#[ignore = "run as a child process by the tests above"]
fn child_consumer_streaming() {
    let Ok(name) = std::env::var("SHMLANE_TEST_RING") else {
        return;
    };
    let mut log = std::fs::File::create(env("SHMLANE_TEST_LOG")).unwrap();
    let mut rng = XorShift::new(env_u64("SHMLANE_TEST_SEED"));
    pin_as_told();
    let ring = Ring::open(&name).unwrap();
    let messages = Messages::of(&ring);
    let mut scratch = vec![0u8; messages.max];
    let mut consumer = mpmc::Consumer::join(&ring).unwrap();
    let mut record = |message: &[u8]| {
        let (_, seq) = messages.check(message, &mut scratch).unwrap();
        log.write_all(&seq.to_le_bytes()).unwrap();
    };
    tell("STREAMING");
    let deadline = Instant::now() + CHILD_LIMIT;
    let mut short = [0u8; MIN_TAGGED_LEN - 1];
    let mut rounds = 0u64;
    loop {
        let step = match rng.below(3) {
            0 => consumer.try_read().map(|message| {
                if let Some(message) = message {
                    record(&message);
                }
            }),
            1 => consumer
                .try_read_batch(1 + rng.below(STREAM_BATCH) as usize)
                .map(|batch| batch.iter().for_each(&mut record)),
            _ => match consumer.try_recv(&mut short) {
                Err(e) if e.kind() == ErrorKind::BufferTooSmall => {
                    let message = consumer
                        .try_read()
                        .expect("the held message is read next")
                        .expect("the held message is still held");
                    record(&message);
                    Ok(())
                }
                Ok(None) => Ok(()),
                Ok(Some(len)) => panic!("a message of {len} bytes fit in {} bytes", short.len()),
                Err(other) => Err(other),
            },
        };
        match step {
            Ok(()) => {}
            Err(other) => panic!("streaming consumer: {other}"),
        }
        rounds += 1;
        if rounds % 1024 == 0 {
            assert!(
                Instant::now() < deadline,
                "streamed for {CHILD_LIMIT:?} and was never killed"
            );
        }
    }
}
