//! The `shmlane` binary, run as a user would: exit codes, stdout, stderr.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_shmlane");

fn shmlane(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn shmlane_with_input(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // A command that fails early closes its stdin; that shows in its output.
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// Starts the binary and collects its output on a thread, so that a full
/// stdout pipe never stalls it.
fn spawn_collecting(args: &[&str]) -> std::thread::JoinHandle<Output> {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    std::thread::spawn(move || child.wait_with_output().unwrap())
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A ring name unique to this test run; the file is removed when dropped.
struct TestRing(String);

impl TestRing {
    fn new(tag: &str) -> TestRing {
        let ring = TestRing(format!("cli-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(ring.path());
        ring
    }

    fn path(&self) -> String {
        format!("/dev/shm/{}", self.0)
    }

    fn create(&self, extra: &[&str]) {
        let mut args = vec!["create", self.0.as_str()];
        args.extend_from_slice(extra);
        let output = shmlane(&args);
        assert!(
            output.status.success(),
            "create failed: {}",
            stderr(&output)
        );
    }
}

impl Drop for TestRing {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
    }
}

/// Asserts a failure: the exit code, and one line on stderr of the form
/// `shmlane: <what>: <why>` that contains `needle`.
fn assert_fails(output: &Output, code: i32, needle: &str) {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr: {text}");
    assert_eq!(text.lines().count(), 1, "not one line: {text:?}");
    assert!(text.starts_with("shmlane: "), "{text}");
    assert!(text.ends_with('\n'), "{text:?}");
    assert!(text.contains(needle), "{text:?} lacks {needle:?}");
}

fn stat_json(ring: &TestRing) -> Value {
    let output = shmlane(&["stat", &ring.0, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(stdout(&output).trim()).expect("stat --json prints JSON")
}

/// Polls `stat --json` until `ready` holds (the test fails after 20 s).
fn wait_for_stat(ring: &TestRing, ready: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let stat = stat_json(ring);
        if ready(&stat) {
            return stat;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never got there: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn lines(count: u32) -> Vec<u8> {
    (1..=count)
        .map(|i| format!("{i}\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn create_stat_and_rm_round_trip() {
    let ring = TestRing::new("round-trip");
    let output = shmlane(&["create", &ring.0, "--capacity", "1024", "--slot-size", "64"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let said = stdout(&output);
    assert!(said.contains(&ring.path()), "{said}");
    assert!(said.contains("messages of up to 56 bytes"), "{said}");

    let output = shmlane(&["stat", &ring.0]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    for expected in [
        "kind          spsc",
        "1,024 slots of 64 bytes",
        "fill          0 of 1,024",
        "participants  none yet",
    ] {
        assert!(report.contains(expected), "{report} lacks {expected:?}");
    }

    let output = shmlane(&["rm", &ring.0]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!std::path::Path::new(&ring.path()).exists());
    assert_fails(&shmlane(&["stat", &ring.0]), 1, "no ring at");
    assert_fails(&shmlane(&["rm", &ring.0]), 1, "no ring at");
}

#[test]
fn a_shared_ring_is_refused_with_the_flag_that_accepts_it() {
    let ring = TestRing::new("shared");
    ring.create(&["--capacity", "8", "--slot-size", "64", "--mode", "0660"]);
    let refused = shmlane_with_input(&["send", &ring.0], b"x\n");
    assert_fails(
        &refused,
        1,
        "mode 0660 lets group or others write it; to accept that, give --allow-shared",
    );
    // The tool's errors name what to do with the tool, not the library's API.
    assert!(!stderr(&refused).contains("::"), "{}", stderr(&refused));
    let accepted = shmlane_with_input(&["send", &ring.0, "--allow-shared"], b"x\n");
    assert!(accepted.status.success(), "{}", stderr(&accepted));
}

#[test]
fn a_ring_in_a_file_is_named_by_path() {
    let dir = std::env::temp_dir().join(format!("cli-test-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ring");
    let file = file.to_str().unwrap();
    let output = shmlane(&[
        "create",
        "--path",
        file,
        "--capacity",
        "8",
        "--slot-size",
        "64",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = shmlane_with_input(&["send", "--path", file], b"via a file\n");
    assert!(output.status.success(), "{}", stderr(&output));
    let output = shmlane(&["recv", "--path", file]);
    assert_eq!(stdout(&output), "via a file\n");
    assert!(shmlane(&["rm", "--path", file]).status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stat_json_has_geometry_positions_participants_and_rates() {
    let ring = TestRing::new("stat-json");
    ring.create(&[
        "--kind",
        "mpmc",
        "--capacity",
        "64",
        "--slot-size",
        "80",
        "--participants",
        "4",
    ]);
    let output = shmlane_with_input(&["send", &ring.0], b"a\nb\nc\n");
    assert!(output.status.success(), "{}", stderr(&output));

    let stat = stat_json(&ring);
    assert_eq!(stat["kind"], "mpmc");
    assert_eq!(stat["path"], ring.path());
    assert_eq!(stat["capacity"], 64);
    assert_eq!(stat["slot_size"], 80);
    assert_eq!(stat["max_payload"], 64);
    assert_eq!(stat["fixed_size"], false);
    assert_eq!(stat["participant_records"], 4);
    assert_eq!(stat["tail"], 3);
    assert_eq!(stat["head"], 0);
    assert_eq!(stat["len"], 3);
    let participants = stat["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 4);
    let producer = &participants[0];
    assert_eq!(producer["role"], "producer");
    assert_eq!(producer["state"], "closed");
    assert!(producer["pid"].as_u64().unwrap() > 0);
    assert_eq!(participants[1]["state"], "free");
    assert_eq!(stat["rates"]["over"], "lifetime");
    assert!(stat["rates"]["written_per_sec"].as_f64().unwrap() > 0.0);
    // Variable-length messages: bytes/s cannot be known, only bounded.
    assert!(stat["rates"]["bytes_per_sec"].is_null());
    assert!(stat["rates"]["bytes_per_sec_max"].is_number());
    for line in ["data", "space"] {
        for counter in ["waiters", "sleepers", "sleeps", "wakes"] {
            assert!(stat["waits"][line][counter].is_u64(), "{line}.{counter}");
        }
    }
}

#[test]
fn stat_shows_a_live_consumer_then_a_dead_one() {
    let ring = TestRing::new("liveness");
    ring.create(&["--capacity", "16", "--slot-size", "64"]);
    let mut recv = Command::new(BIN)
        .args(["recv", &ring.0])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = u64::from(recv.id());
    let stat = wait_for_stat(&ring, |s| s["consumers_alive"] == 1);
    assert_eq!(stat["participants"][1]["role"], "consumer");
    assert_eq!(stat["participants"][1]["state"], "alive");
    assert_eq!(stat["participants"][1]["pid"], pid);
    // A second consumer of an SPSC ring is refused while the first lives.
    assert_fails(
        &shmlane(&["recv", &ring.0, "--timeout", "1"]),
        1,
        "a live consumer is already attached to this ring",
    );
    recv.kill().unwrap(); // SIGKILL: the kernel drops its lock
    recv.wait().unwrap();
    let stat = stat_json(&ring);
    assert_eq!(stat["participants"][1]["state"], "dead");
    assert_eq!(stat["consumers_alive"], 0);
    let report = stdout(&shmlane(&["stat", &ring.0]));
    assert!(report.contains(&format!("consumer  pid {pid}")), "{report}");
    assert!(report.contains("dead"), "{report}");
}

/// Writes `bytes` at `offset` of the file at `path`, behind the library's back.
fn overwrite(path: &str, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

#[test]
fn stat_of_a_ring_whose_header_fails_its_checks_is_a_corrupt_ring_not_a_usage_error() {
    let ring = TestRing::new("capacity-1000");
    ring.create(&["--capacity", "16", "--slot-size", "64"]);
    overwrite(&ring.path(), 24, &1000u64.to_le_bytes()); // the capacity field
    let output = shmlane(&["stat", &ring.0]);
    assert_fails(&output, 1, &ring.path());
    assert_fails(&output, 1, "is corrupt: header field capacity");
}

#[test]
fn stat_of_a_file_with_the_magic_and_zeros_after_it_is_corrupt_without_waiting() {
    let ring = TestRing::new("magic-zeros");
    let file = std::fs::File::create(ring.path()).unwrap();
    file.set_len(4096).unwrap();
    overwrite(&ring.path(), 0, b"SHMLANE\0");
    // Creator pid 0: nobody is writing this header, so nothing is waited for.
    let output = shmlane(&["stat", &ring.0]);
    assert_fails(&output, 1, &ring.path());
    assert_fails(&output, 1, "creator_pid is 0");
}

#[test]
fn stat_reads_a_ring_of_another_owner_and_shows_its_owner_and_mode() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: giving a ring to another uid needs root (id -u is not 0)");
        return;
    }
    let ring = TestRing::new("foreign");
    ring.create(&["--capacity", "16", "--slot-size", "64"]);
    let other_uid = 4242;
    std::os::unix::fs::chown(ring.path(), Some(other_uid), None).unwrap();
    // Joining is refused: the ring is not ours.
    assert_fails(
        &shmlane(&["recv", &ring.0, "--timeout", "1"]),
        1,
        "owned by uid 4242",
    );
    // Reading its figures is not: stat changes nothing.
    let stat = stat_json(&ring);
    assert_eq!(stat["owner_uid"], other_uid);
    assert_eq!(stat["mode"], "0600");
    let report = stdout(&shmlane(&["stat", &ring.0]));
    assert!(
        report.contains("file          owner uid 4242, mode 0600"),
        "{report}"
    );
}

/// Spawns this test binary's `#[ignore]`d `child` test with `env`, its stdout piped.
fn spawn_child_test(child: &str, env: &[(&str, &str)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            child,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
#[ignore = "run as a child process by stat_shows_dead_producers_claims_apart_from_the_fill"]
fn child_mpmc_producer_holding_a_claim() {
    let Ok(path) = std::env::var("SHMLANE_TEST_RING_PATH") else {
        return;
    };
    let ring = shmlane::Ring::open(std::path::Path::new(&path)).unwrap();
    let mut producer = shmlane::mpmc::Producer::join(&ring).unwrap();
    let _slot = producer.try_reserve().unwrap().expect("room for a claim");
    println!("\nCLAIMED");
    std::thread::sleep(Duration::from_secs(60));
    panic!("held a claim for 60 s and was never killed");
}

#[test]
fn stat_shows_dead_producers_claims_apart_from_the_fill() {
    let ring = TestRing::new("dead-claim");
    ring.create(&[
        "--kind",
        "mpmc",
        "--capacity",
        "8",
        "--slot-size",
        "64",
        "--participants",
        "4",
    ]);
    let output = shmlane_with_input(&["send", &ring.0], b"a\nb\n");
    assert!(output.status.success(), "{}", stderr(&output));
    let path = ring.path();
    let mut child = spawn_child_test(
        "child_mpmc_producer_holding_a_claim",
        &[("SHMLANE_TEST_RING_PATH", path.as_str())],
    );
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "CLAIMED" {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the child ended");
    }
    child.kill().unwrap(); // SIGKILL inside its claim of position 2
    child.wait().unwrap();
    let output = shmlane_with_input(&["send", &ring.0], b"c\n");
    assert!(output.status.success(), "{}", stderr(&output));

    let stat = stat_json(&ring);
    assert_eq!(
        (stat["tail"].clone(), stat["head"].clone()),
        (4.into(), 0.into())
    );
    assert_eq!(stat["len"], 3, "three messages, not the dead claim: {stat}");
    assert_eq!(stat["dead_claims"], 1, "{stat}");
    assert_eq!(stat["fill"], 3.0 / 8.0);
    let report = stdout(&shmlane(&["stat", &ring.0]));
    assert!(
        report
            .contains("fill          3 of 8 slots (37.5%), and 1 slot claimed by a dead producer"),
        "{report}"
    );
    // A consumer drops it and reads the three messages.
    let output = shmlane(&["recv", &ring.0, "--count", "3", "--timeout", "10"]);
    assert_eq!(stdout(&output), "a\nb\nc\n", "{}", stderr(&output));
    let stat = stat_json(&ring);
    assert_eq!(stat["dead_claims"], 0, "{stat}");
    assert_eq!(stat["recovery"]["dropped_claims"], 1, "{stat}");
}

#[test]
fn stat_watch_prints_one_json_object_per_snapshot_with_interval_rates() {
    let ring = TestRing::new("watch");
    ring.create(&["--capacity", "16", "--slot-size", "16", "--fixed"]);
    let output = shmlane(&[
        "stat",
        &ring.0,
        "--watch",
        "--json",
        "--count",
        "3",
        "--interval",
        "0.02",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let snapshots: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(snapshots.len(), 3);
    assert_eq!(snapshots[0]["rates"]["over"], "lifetime");
    for later in &snapshots[1..] {
        assert_eq!(later["rates"]["over"], "interval");
        assert_eq!(later["rates"]["read_per_sec"], 0.0);
        // Fixed-size messages: bytes/s is exact.
        assert_eq!(later["rates"]["bytes_per_sec"], 0.0);
    }

    let output = shmlane(&[
        "stat",
        &ring.0,
        "--watch",
        "--count",
        "2",
        "--interval",
        "0.02",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    // The report of the first snapshot, then the header and one row of rates.
    let mut watch = text.lines().skip_while(|l| !l.starts_with("time (UTC)"));
    let header = watch
        .next()
        .unwrap_or_else(|| panic!("no watch header: {text}"));
    assert!(header.contains("written/s"), "{text}");
    let row = watch
        .next()
        .unwrap_or_else(|| panic!("no watch row: {text}"));
    // Nothing moved, and a fixed-size ring's bytes/s is exact, not a bound.
    assert!(row.contains("0.00 B/s"), "{row}");
    assert!(!row.contains("<="), "{row}");
}

#[test]
fn send_and_recv_move_100000_lines_in_order_through_a_pipeline() {
    let ring = TestRing::new("pipeline");
    ring.create(&["--capacity", "1024", "--slot-size", "64"]);
    let input = lines(100_000);
    let recv = spawn_collecting(&["recv", &ring.0]);
    let sent = shmlane_with_input(&["send", &ring.0], &input);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let received = recv.join().unwrap();
    assert!(received.status.success(), "{}", stderr(&received));
    assert_eq!(received.stdout.len(), input.len());
    assert!(
        received.stdout == input,
        "the lines differ or are out of order"
    );

    // Again on the same ring, whose producer and consumer have closed: a
    // receiver that comes first waits for the new producer instead of taking
    // the old one's leaving for the end.
    let recv = spawn_collecting(&["recv", &ring.0]);
    wait_for_stat(&ring, |s| s["consumers_alive"] == 1);
    let input = lines(5_000);
    let sent = shmlane_with_input(&["send", &ring.0], &input);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let received = recv.join().unwrap();
    assert!(received.status.success(), "{}", stderr(&received));
    assert!(received.stdout == input);

    // And a sender that comes first, with more lines than the ring holds,
    // waits for the new consumer instead of failing once the ring is full.
    let input = lines(5_000);
    let sender = {
        let ring = ring.0.clone();
        let input = input.clone();
        std::thread::spawn(move || shmlane_with_input(&["send", &ring], &input))
    };
    wait_for_stat(&ring, |s| s["len"] == 1024);
    let received = shmlane(&["recv", &ring.0]);
    let sent = sender.join().unwrap();
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert!(received.stdout == input);
}

#[test]
fn an_mpmc_ring_carries_a_pipeline_too() {
    let ring = TestRing::new("mpmc-pipeline");
    ring.create(&["--kind", "mpmc", "--capacity", "256", "--slot-size", "32"]);
    let input = lines(20_000);
    let recv = spawn_collecting(&["recv", &ring.0, "--wait", "sleep"]);
    let sent = shmlane_with_input(&["send", &ring.0, "--wait", "sleep"], &input);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let received = recv.join().unwrap();
    assert!(received.status.success());
    assert!(received.stdout == input);
}

#[test]
fn length_framing_carries_any_bytes() {
    let ring = TestRing::new("length");
    ring.create(&["--capacity", "16", "--slot-size", "64"]);
    let messages: [&[u8]; 4] = [b"plain", b"", b"with\nnewline\0and nul", &[0xff; 56]];
    let mut framed = Vec::new();
    for message in messages {
        framed.extend_from_slice(&(message.len() as u32).to_le_bytes());
        framed.extend_from_slice(message);
    }
    let sent = shmlane_with_input(&["send", &ring.0, "--framing", "length"], &framed);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let stat = stat_json(&ring);
    assert_eq!(stat["tail"], 4, "one message per frame");
    let received = shmlane(&["recv", &ring.0, "--framing", "length"]);
    assert!(received.status.success(), "{}", stderr(&received));
    assert_eq!(received.stdout, framed);

    // A frame cut short is an error, after the whole frames before it.
    let sent = shmlane_with_input(
        &["send", &ring.0, "--framing", "length"],
        &framed[..framed.len() - 1],
    );
    assert_fails(&sent, 1, "input ends inside message 4");
}

#[test]
fn raw_framing_cuts_chunks_and_writes_bytes_back_to_back() {
    let ring = TestRing::new("raw");
    ring.create(&["--capacity", "64", "--slot-size", "64"]);
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    assert_fails(&sent_raw_chunk_too_big(&ring), 2, "--chunk must be 1 to 56");
    assert_eq!(
        stat_json(&ring)["tail"],
        0,
        "100-byte chunks do not fit 56-byte messages"
    );

    let sent = shmlane_with_input(
        &["send", &ring.0, "--framing", "raw", "--chunk", "50"],
        &data,
    );
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert_eq!(stat_json(&ring)["tail"], 20);
    let received = shmlane(&["recv", &ring.0, "--framing", "raw"]);
    assert_eq!(received.stdout, data);

    // Default chunks are the ring's largest message: 1000 = 17 x 56 + 48.
    let sent = shmlane_with_input(&["send", &ring.0, "--framing", "raw"], &data);
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert_eq!(stat_json(&ring)["tail"], 20 + 18);
    let received = shmlane(&["recv", &ring.0, "--framing", "raw"]);
    assert_eq!(received.stdout, data);
}

fn sent_raw_chunk_too_big(ring: &TestRing) -> Output {
    shmlane_with_input(
        &["send", &ring.0, "--framing", "raw", "--chunk", "100"],
        b"x",
    )
}

#[test]
fn a_fixed_size_ring_takes_raw_records_and_refuses_other_sizes() {
    let ring = TestRing::new("fixed");
    ring.create(&["--capacity", "16", "--slot-size", "8", "--fixed"]);
    let records: Vec<u8> = (0..4u64).flat_map(|i| (i * 1000).to_le_bytes()).collect();
    let sent = shmlane_with_input(&["send", &ring.0, "--framing", "raw"], &records);
    assert!(sent.status.success(), "{}", stderr(&sent));
    let received = shmlane(&["recv", &ring.0, "--framing", "raw"]);
    assert_eq!(received.stdout, records);
    let sent = shmlane_with_input(&["send", &ring.0], b"short\n");
    assert_fails(&sent, 1, "fixed-size messages of 8 bytes");
}

#[test]
fn recv_count_stops_early_and_leaves_the_rest() {
    let ring = TestRing::new("count");
    ring.create(&["--capacity", "64", "--slot-size", "32"]);
    let sent = shmlane_with_input(&["send", &ring.0], &lines(10));
    assert!(sent.status.success());
    let received = shmlane(&["recv", &ring.0, "--count", "3"]);
    assert!(received.status.success());
    assert_eq!(stdout(&received), "1\n2\n3\n");
    let received = shmlane(&["recv", &ring.0]);
    assert_eq!(stdout(&received), "4\n5\n6\n7\n8\n9\n10\n");
}

#[test]
fn recv_timeout_on_an_empty_ring_fails() {
    let ring = TestRing::new("recv-timeout");
    ring.create(&["--capacity", "16", "--slot-size", "64"]);
    let output = shmlane(&["recv", &ring.0, "--timeout", "0.1"]);
    assert!(output.stdout.is_empty());
    assert_fails(&output, 1, "no message came for 0.1 s (received 0)");
}

#[test]
fn send_timeout_on_a_full_ring_fails_after_what_fit() {
    let ring = TestRing::new("send-timeout");
    ring.create(&["--capacity", "4", "--slot-size", "64"]);
    let output = shmlane_with_input(&["send", &ring.0, "--timeout", "0.1"], &lines(10));
    assert_fails(&output, 1, "message 5: the ring stayed full for 0.1 s");
    assert_eq!(stat_json(&ring)["tail"], 4);
}

#[test]
fn a_closed_stdout_ends_recv_quietly() {
    let ring = TestRing::new("epipe");
    ring.create(&["--capacity", "1024", "--slot-size", "64"]);
    let mut sender = Command::new(BIN)
        .args(["send", &ring.0, "--timeout", "20"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut sender_stdin = sender.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = sender_stdin.write_all(&lines(200_000));
    });
    let mut recv = Command::new(BIN)
        .args(["recv", &ring.0])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(recv.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap(); // then the read end closes, as `head -1` would
    assert_eq!(first, "1\n");
    let mut recv_stderr = String::new();
    recv.stderr
        .take()
        .unwrap()
        .read_to_string(&mut recv_stderr)
        .unwrap();
    assert!(recv.wait().unwrap().success());
    assert_eq!(recv_stderr, "", "a broken pipe is not an error");
    stop(sender);
    feeder.join().unwrap();
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_missing_ring_is_a_runtime_error_for_every_command() {
    let ring = TestRing::new("missing");
    for command in ["stat", "send", "recv", "rm"] {
        let output = shmlane_with_input(&[command, &ring.0], b"x\n");
        assert_fails(
            &output,
            1,
            &format!("{command} {}: no ring at {}", ring.0, ring.path()),
        );
    }
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let ring = TestRing::new("usage");
    let create = |extra: &[&str]| {
        let mut args = vec!["create", ring.0.as_str()];
        args.extend_from_slice(extra);
        shmlane(&args)
    };
    assert_fails(
        &create(&["--capacity", "1000", "--slot-size", "64"]),
        2,
        "must be a power of two",
    );
    assert_fails(
        &create(&["--capacity", "many", "--slot-size", "64"]),
        2,
        "invalid value 'many'",
    );
    assert_fails(
        &create(&["--capacity", "16", "--slot-size", "60"]),
        2,
        "bad ring geometry",
    );
    assert_fails(&create(&["--capacity", "16"]), 2, "--slot-size <BYTES>");
    assert_fails(
        &create(&["--capacity", "16", "--slot-size", "64", "--mode", "0999"]),
        2,
        "octal",
    );
    // A mode the ring cannot work with is the command line's mistake, and
    // the message says why.
    assert_fails(
        &create(&["--capacity", "16", "--slot-size", "64", "--mode", "0400"]),
        2,
        "mode 0400 lacks owner write: every process that joins a ring opens it for reading and writing",
    );
    assert_fails(
        &create(&["--capacity", "16", "--slot-size", "64", "--mode", "4600"]),
        2,
        "mode 4600 has bits outside 0777",
    );
    assert_fails(
        &create(&[
            "--capacity",
            "16",
            "--slot-size",
            "64",
            "--participants",
            "4",
        ]),
        2,
        "--participants applies only to --kind mpmc",
    );
    // Even the two participants an SPSC ring has are not for the command line.
    assert_fails(
        &create(&[
            "--capacity",
            "16",
            "--slot-size",
            "64",
            "--participants",
            "2",
        ]),
        2,
        "--participants applies only to --kind mpmc",
    );
    assert!(!std::path::Path::new(&ring.path()).exists());
    assert_fails(
        &shmlane(&[
            "create",
            "../etc/x",
            "--capacity",
            "16",
            "--slot-size",
            "64",
        ]),
        2,
        "bad ring name",
    );
    assert_fails(&shmlane(&["stat", ".hidden"]), 2, "starts with a dot");
    // A path given as a name is refused for its '/', pointing to --path.
    assert_fails(
        &shmlane(&["stat", "../etc/passwd"]),
        2,
        "bad ring name \"../etc/passwd\": it may not contain '/'; to give a path, use --path",
    );
    assert_fails(
        &shmlane(&["stat", "x", "--path", "/tmp/x"]),
        2,
        "cannot be used with",
    );
    assert_fails(&shmlane(&["stat"]), 2, "required");
    assert_fails(&shmlane(&["frobnicate"]), 2, "unrecognized subcommand");
    assert_fails(&shmlane(&[]), 2, "a subcommand is needed");
    assert_fails(&shmlane(&["recv", "x", "--timeout=-1"]), 2, "non-negative");
}

#[test]
fn creating_an_existing_ring_fails_and_leaves_it_alone() {
    let ring = TestRing::new("exists");
    ring.create(&["--capacity", "16", "--slot-size", "64"]);
    let output = shmlane(&["create", &ring.0, "--capacity", "32", "--slot-size", "64"]);
    assert_fails(&output, 1, "a file already exists at");
    assert_eq!(stat_json(&ring)["capacity"], 16);
}

#[test]
fn a_message_too_large_for_the_ring_fails() {
    let ring = TestRing::new("too-large");
    ring.create(&["--capacity", "16", "--slot-size", "16"]);
    let output = shmlane_with_input(&["send", &ring.0], b"ok\nthis line is far too long\n");
    assert_fails(
        &output,
        1,
        "message 2: message of 25 bytes exceeds the ring's maximum of 8 bytes",
    );
    assert_eq!(stat_json(&ring)["tail"], 1);
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for command in ["create", "stat", "send", "recv", "bench", "rm"] {
        let output = shmlane(&[command, "--help"]);
        assert!(output.status.success(), "{command}");
        let help = stdout(&output);
        // The usage line names the command too: look only at the examples.
        let (_, examples) = help
            .split_once("Examples:")
            .unwrap_or_else(|| panic!("{command} --help lacks examples"));
        assert!(
            examples.contains(&format!("shmlane {command}")),
            "{command} --help has no example of it: {examples}"
        );
    }
    let help = stdout(&shmlane(&["--help"]));
    assert!(help.contains("Exit codes"), "{help}");
    assert!(
        !help.contains("__bench-child"),
        "the child command is hidden"
    );
}

fn bench_json(args: &[&str]) -> Value {
    let mut all = vec!["bench", "--json", "--quiet"];
    all.extend_from_slice(args);
    let output = shmlane(&all);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_str(stdout(&output).trim()).expect("bench --json prints JSON")
}

/// One latency sample per message, none longer than the run itself (every
/// message is sent after the run's start and read before its end): a send time
/// misread from the message would show as a latency of up to a minute.
fn assert_latency_is_plausible(result: &Value, samples: u64) {
    let latency = &result["latency_ns"];
    assert_eq!(latency["samples"], samples, "{result}");
    let max = latency["max"].as_u64().expect("max latency");
    let run_ns = result["seconds"].as_f64().expect("seconds") * 1e9;
    // The histogram gives a bucket's upper end, at most 0.1 % above the value.
    assert!(
        max as f64 <= run_ns * 1.002 + 1.0,
        "max latency {max} ns in a run of {run_ns} ns: {result}"
    );
}

/// The rates are the counts divided by the run's time.
fn assert_rates_match_counts(result: &Value) {
    let seconds = result["seconds"].as_f64().expect("seconds");
    for (rate, count) in [("messages_per_sec", "messages"), ("bytes_per_sec", "bytes")] {
        let rate = result[rate].as_f64().expect(rate);
        let count = result[count].as_f64().expect(count);
        assert!(
            (rate * seconds - count).abs() <= count * 1e-9,
            "{rate} x {seconds} s is not {count}: {result}"
        );
    }
}

#[test]
fn bench_prints_throughput_and_percentiles_and_removes_its_ring() {
    let bench = Command::new(BIN)
        .args(["bench", "--messages", "5000", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ring_file = format!("/dev/shm/shmlane-bench-{}-0", bench.id());
    let output = bench.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report = stdout(&output);
    assert!(report.starts_with("shmlane SPSC, 1P/1C processes, 64-byte messages, spinning waits"));
    assert!(report.contains("messages     5,000 in "), "{report}");
    assert!(report.contains("throughput"), "{report}");
    for label in ["p50", "p90", "p99", "p99.9", "max"] {
        assert!(
            report.lines().any(|l| l.trim_start().starts_with(label)),
            "{report} lacks {label}"
        );
    }
    assert!(
        !std::path::Path::new(&ring_file).exists(),
        "{ring_file} is left behind"
    );
}

#[test]
fn bench_json_counts_every_message_one_way() {
    let result = bench_json(&[
        "--messages",
        "3000",
        "--size",
        "32",
        "--capacity",
        "256",
        "--wait",
        "sleep",
    ]);
    assert_eq!(result["kind"], "spsc");
    assert_eq!(result["mode"], "one-way");
    assert_eq!(result["messages"], 3000);
    assert_eq!(result["bytes"], 3000 * 32);
    assert_eq!(result["wait"], "sleep");
    assert_rates_match_counts(&result);
    assert_latency_is_plausible(&result, 3000);
}

#[test]
fn bench_runs_mpmc_with_several_processes_on_each_side() {
    let result = bench_json(&[
        "--kind",
        "mpmc",
        "--producers",
        "2",
        "--consumers",
        "2",
        "--messages",
        "4001",
        "--wait",
        "sleep",
    ]);
    assert_eq!(result["kind"], "mpmc");
    assert_eq!(result["producers"], 2);
    assert_eq!(result["consumers"], 2);
    assert_eq!(result["messages"], 4001);
    assert_latency_is_plausible(&result, 4001);
}

#[test]
fn bench_pingpong_measures_round_trips_and_plots_them() {
    let plot = std::env::temp_dir().join(format!("cli-test-plot-{}.svg", std::process::id()));
    let plot_arg = plot.to_str().unwrap();
    let result = bench_json(&[
        "--pingpong",
        "--messages",
        "500",
        "--size",
        "8",
        "--plot",
        plot_arg,
    ]);
    assert_eq!(result["mode"], "round-trip");
    assert_eq!(result["round_trips"], 500);
    assert_eq!(result["messages"], 1000);
    assert_rates_match_counts(&result);
    assert_latency_is_plausible(&result, 500);
    let svg = std::fs::read_to_string(&plot).unwrap();
    std::fs::remove_file(&plot).unwrap();
    assert!(svg.starts_with("<svg "), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
    for label in [
        "0%",
        "90%",
        "99%",
        "99.9%",
        "percentile",
        "latency",
        "p50",
        "p99.9",
        "max",
        "<polyline",
    ] {
        assert!(svg.contains(label), "the plot lacks {label}");
    }
    // Every element that opens is closed or self-closing, as XML wants.
    let opened = svg.matches("<text").count();
    assert_eq!(opened, svg.matches("</text>").count());
}

#[test]
fn bench_refuses_impossible_plans() {
    assert_fails(
        &shmlane(&["bench", "--size", "4"]),
        2,
        "--size must be at least 8",
    );
    assert_fails(
        &shmlane(&["bench", "--producers", "2"]),
        2,
        "needs --kind mpmc",
    );
    assert_fails(
        &shmlane(&["bench", "--capacity", "1000", "--messages", "10"]),
        2,
        "power of two",
    );
    assert_fails(
        &shmlane(&["bench", "--messages", "5", "--duration", "1"]),
        2,
        "cannot be used with",
    );
}

#[test]
fn create_makes_a_broadcast_ring_and_stat_shows_its_subscribers() {
    let ring = TestRing::new("broadcast");
    ring.create(&[
        "--kind",
        "broadcast",
        "--capacity",
        "64",
        "--slot-size",
        "80",
        "--participants",
        "4",
    ]);
    let stat = stat_json(&ring);
    assert_eq!(stat["kind"], "broadcast");
    assert_eq!(stat["max_payload"], 64);
    assert_eq!(stat["participant_records"], 4);
    assert!(stat["participants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p.get("subscription").is_none()));
    // stat shows each subscriber's policy and how far behind it is.
    let opened = shmlane::Ring::open(std::path::Path::new(&ring.path())).unwrap();
    let mut producer = shmlane::broadcast::Producer::join(&opened).unwrap();
    let _tethered = shmlane::broadcast::Subscriber::join(&opened).unwrap();
    let _lossy =
        shmlane::broadcast::Untethered::join(&opened, shmlane::broadcast::Start::Newest).unwrap();
    for _ in 0..3 {
        assert!(producer.try_send(b"reading").unwrap());
    }
    let stat = stat_json(&ring);
    let subscribers: Vec<_> = stat["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.get("subscription").is_some())
        .map(|p| {
            (
                p["subscription"].clone(),
                p["cursor"].clone(),
                p["behind"].clone(),
            )
        })
        .collect();
    assert_eq!(
        subscribers,
        [
            (json!("tethered"), json!(0), json!(3)),
            (json!("untethered"), json!(0), json!(3))
        ]
    );
    let text = stdout(&shmlane(&["stat", &ring.0]));
    assert!(
        text.contains("tethered subscriber at 0 (3 behind the producer, 0 lost)"),
        "{text}"
    );
    assert!(text.contains("untethered subscriber at 0"), "{text}");
    assert!(text.contains("overflow block"), "{text}");
    // One producer: a second one is refused.
    assert_fails(
        &shmlane_with_input(&["send", &ring.0], b"a\n"),
        1,
        "producer",
    );

    let fixed = TestRing::new("broadcast-fixed");
    fixed.create(&[
        "--kind",
        "broadcast",
        "--fixed",
        "--capacity",
        "8",
        "--slot-size",
        "24",
    ]);
    let stat = stat_json(&fixed);
    assert_eq!(stat["fixed_size"], true);
    assert_eq!(stat["max_payload"], 16);
    assert_eq!(stat["participant_records"], 8);
    assert_fails(
        &shmlane(&["bench", "--kind", "broadcast"]),
        2,
        "does not cover --kind broadcast",
    );
}

#[test]
fn a_broadcast_ring_gives_every_recv_every_line_and_counts_the_untethered_losses() {
    let ring = TestRing::new("broadcast-pipeline");
    ring.create(&[
        "--kind",
        "broadcast",
        "--capacity",
        "64",
        "--slot-size",
        "32",
        "--participants",
        "4",
    ]);
    let input = lines(20_000);
    let tethered = [
        spawn_collecting(&["recv", &ring.0, "--wait", "sleep"]),
        spawn_collecting(&["recv", &ring.0, "--from", "oldest"]),
    ];
    let lossy = spawn_collecting(&["recv", &ring.0, "--untethered", "--wait", "sleep"]);
    // Every subscriber joins before the first line, or it would miss some.
    wait_for_stat(&ring, |stat| {
        stat["participants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["state"] == "alive" && p.get("subscription").is_some())
            .count()
            == 3
    });
    let sent = shmlane_with_input(&["send", &ring.0], &input);
    assert!(sent.status.success(), "{}", stderr(&sent));
    for recv in tethered {
        let received = recv.join().unwrap();
        assert!(received.status.success(), "{}", stderr(&received));
        assert!(
            received.stdout == input,
            "a tethered recv lost or reordered lines"
        );
    }
    let received = lossy.join().unwrap();
    assert!(received.status.success(), "{}", stderr(&received));
    // What the untethered one printed is in order, and with what it says it
    // lost adds up to every line.
    let got: Vec<u32> = stdout(&received)
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    assert!(got.windows(2).all(|pair| pair[0] < pair[1]), "out of order");
    let lost: u64 = stderr(&received)
        .lines()
        .filter_map(|line| {
            line.split("lost ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(got.len() as u64 + lost, 20_000, "{}", stderr(&received));
}

#[test]
fn broadcast_options_are_refused_where_they_do_not_apply() {
    let ring = TestRing::new("broadcast-refusals");
    ring.create(&["--capacity", "8", "--slot-size", "32"]);
    assert_fails(
        &shmlane(&["recv", &ring.0, "--untethered"]),
        2,
        "apply only to a broadcast ring",
    );
    let overwriting = TestRing::new("broadcast-overwrite");
    assert_fails(
        &shmlane(&[
            "create",
            &overwriting.0,
            "--capacity",
            "8",
            "--slot-size",
            "32",
            "--overflow",
            "overwrite",
        ]),
        2,
        "only to --kind broadcast",
    );
    overwriting.create(&[
        "--kind",
        "broadcast",
        "--capacity",
        "8",
        "--slot-size",
        "32",
        "--overflow",
        "overwrite",
    ]);
    assert_eq!(stat_json(&overwriting)["overflow"], "overwrite");
    assert_fails(
        &shmlane(&["recv", &overwriting.0, "--timeout", "1"]),
        1,
        "give recv --untethered",
    );
    let sent = shmlane_with_input(&["send", &overwriting.0], &lines(100));
    assert!(sent.status.success(), "never waits: {}", stderr(&sent));
    let oldest = shmlane(&[
        "recv",
        &overwriting.0,
        "--untethered",
        "--from",
        "oldest",
        "--count",
        "3",
    ]);
    assert!(oldest.status.success(), "{}", stderr(&oldest));
    assert_eq!(
        stdout(&oldest),
        "94\n95\n96\n",
        "the oldest still intact: 100 - 8 + 1 + 1"
    );
}
