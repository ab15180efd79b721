//! Every language's producer against every other language's consumer, across
//! processes: the peers of conformance/README.md (Rust always; C and Go when
//! `SHMLANE_PEER_C` and `SHMLANE_PEER_GO` name their binaries, as
//! `scripts/test-all.sh` does, which also sets `SHMLANE_PEERS_REQUIRED=c,go`
//! so that a missing peer fails instead of being left out).
//!
//! Each case checks exactly-once delivery from the peers' reports: per
//! producer, the counts of all consumers add up to what it sent and so do the
//! sequence numbers; every message passed its checksum in the consumer that
//! read it, and per-producer order held in each consumer.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A peer program and the language it is written in.
#[derive(Clone)]
struct Peer {
    language: &'static str,
    program: PathBuf,
}

fn peers() -> Vec<Peer> {
    let mut peers = vec![Peer {
        language: "rust",
        program: PathBuf::from(env!("CARGO_BIN_EXE_shmlane-peer")),
    }];
    let required = std::env::var("SHMLANE_PEERS_REQUIRED").unwrap_or_default();
    for (language, variable) in [("c", "SHMLANE_PEER_C"), ("go", "SHMLANE_PEER_GO")] {
        match std::env::var_os(variable).map(PathBuf::from) {
            Some(program) if program.is_file() => peers.push(Peer { language, program }),
            Some(program) => panic!("{variable}={} is not a file", program.display()),
            None if required.split(',').any(|l| l == language) => {
                panic!(
                    "{variable} is not set, and SHMLANE_PEERS_REQUIRED={required} names {language}"
                )
            }
            None => eprintln!("{variable} not set: the {language} peer is left out"),
        }
    }
    peers
}

/// Ordered pairs of different languages (or Rust with itself when alone).
fn pairs() -> Vec<(Peer, Peer)> {
    let peers = peers();
    let mut pairs = Vec::new();
    for producer in &peers {
        for consumer in &peers {
            if producer.language != consumer.language || peers.len() == 1 {
                pairs.push((producer.clone(), consumer.clone()));
            }
        }
    }
    pairs
}

/// No case takes near this long; it only stops a hung peer from hanging the test.
const HANG_LIMIT: Duration = Duration::from_secs(120);

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("shmlane-matrix-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spawn(peer: &Peer, args: &[String]) -> Child {
    Command::new(&peer.program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", peer.program.display()))
}

/// Waits for a peer; returns its stdout, failing on a non-zero exit or a hang.
fn finish(peer: &Peer, mut child: Child, started: Instant) -> String {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = String::new();
            let mut stderr = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut stdout)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            assert!(
                status.success(),
                "{} peer failed ({status}): {stderr}{stdout}",
                peer.language
            );
            return stdout;
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            panic!("{} peer still running after {HANG_LIMIT:?}", peer.language);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn run_ok(peer: &Peer, args: &[String]) -> String {
    let started = Instant::now();
    finish(peer, spawn(peer, args), started)
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// What a consumer's report says about one producer.
#[derive(Default, Debug)]
struct Seen {
    count: u64,
    first: u64,
    last: u64,
    sequence_sum: u64,
}

/// Parses a consumer report: per-producer lines and the end line.
fn parse_report(report: &str) -> (BTreeMap<u32, Seen>, u64, String) {
    let mut producers = BTreeMap::new();
    let mut total = None;
    let mut end = String::new();
    for line in report.lines() {
        let fields: BTreeMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|field| field.split_once('='))
            .collect();
        if let Some(id) = fields.get("producer") {
            let number = |key: &str| fields[key].parse::<u64>().unwrap();
            producers.insert(
                id.parse().unwrap(),
                Seen {
                    count: number("count"),
                    first: number("first"),
                    last: number("last"),
                    sequence_sum: number("seqsum"),
                },
            );
        } else if let Some(value) = fields.get("total") {
            total = Some(value.parse().unwrap());
            end = fields["end"].to_owned();
        }
    }
    (
        producers,
        total.expect("no `consumed` line in the report"),
        end,
    )
}

/// One exchange over a fresh ring.
struct Case<'a> {
    tag: &'a str,
    create: &'a str,
    producers: Vec<(&'a Peer, Vec<&'a str>)>,
    consumers: Vec<(&'a Peer, Vec<&'a str>)>,
    count: u64,
}

impl Case<'_> {
    fn run(&self, creator: &Peer) {
        let scratch = Scratch::new(self.tag);
        let path = scratch.0.display().to_string();
        run_ok(
            creator,
            &words(&format!("create --path {path} {}", self.create)),
        );
        let started = Instant::now();
        let consumers: Vec<_> = self
            .consumers
            .iter()
            .map(|(peer, extra)| {
                let mut args = words(&format!(
                    "consume --path {path} --producers {}",
                    self.producers.len()
                ));
                args.extend(extra.iter().map(|s| s.to_string()));
                (*peer, spawn(peer, &args))
            })
            .collect();
        let producers: Vec<_> = self
            .producers
            .iter()
            .enumerate()
            .map(|(id, (peer, extra))| {
                let mut args = words(&format!(
                    "produce --path {path} --count {} --id {id}",
                    self.count
                ));
                args.extend(extra.iter().map(|s| s.to_string()));
                (*peer, spawn(peer, &args))
            })
            .collect();
        for (peer, child) in producers {
            let report = finish(peer, child, started);
            assert!(report.contains("produced"), "{report}");
        }
        let mut totals: BTreeMap<u32, Seen> = BTreeMap::new();
        for (peer, child) in consumers {
            let (seen, total, end) = parse_report(&finish(peer, child, started));
            assert_eq!(end, "disconnected", "{}: consumer ended {end}", self.tag);
            assert_eq!(total, seen.values().map(|s| s.count).sum::<u64>());
            if self.consumers.len() == 1 {
                for (id, seen) in &seen {
                    assert_eq!(
                        (seen.first, seen.last),
                        (0, self.count - 1),
                        "{}: producer {id}",
                        self.tag
                    );
                }
            }
            for (id, seen) in seen {
                let entry = totals.entry(id).or_default();
                entry.count += seen.count;
                entry.sequence_sum += seen.sequence_sum;
            }
        }
        assert_eq!(
            totals.len(),
            self.producers.len(),
            "{}: producers heard from",
            self.tag
        );
        for (id, seen) in totals {
            assert_eq!(
                seen.count, self.count,
                "{}: messages of producer {id}",
                self.tag
            );
            assert_eq!(
                seen.sequence_sum,
                self.count * (self.count - 1) / 2,
                "{}: sequence numbers of producer {id}",
                self.tag
            );
        }
        eprintln!(
            "{}: {} messages in {:?}",
            self.tag,
            self.count * self.producers.len() as u64,
            started.elapsed()
        );
    }
}

#[test]
fn spsc_between_languages_non_blocking_and_blocking() {
    for (producer, consumer) in pairs() {
        let pair = format!("{}-to-{}", producer.language, consumer.language);
        let cases = [
            (
                "try",
                vec!["--wait", "try"],
                vec!["--wait", "try"],
                1_000_000,
            ),
            (
                "block-batch",
                vec!["--wait", "block", "--batch", "32"],
                vec!["--wait", "block", "--batch", "16"],
                1_000_000,
            ),
            (
                "sleep",
                vec!["--wait", "sleep"],
                vec!["--wait", "sleep"],
                200_000,
            ),
        ];
        for (mode, producer_args, consumer_args, count) in cases {
            let tag = format!("spsc-{pair}-{mode}");
            Case {
                tag: &tag,
                create: "--kind spsc --capacity 256 --slot-size 72",
                producers: vec![(&producer, producer_args)],
                consumers: vec![(&consumer, consumer_args)],
                count,
            }
            .run(&consumer);
        }
        // A fixed-size ring, created by the producer's language.
        let tag = format!("spsc-fixed-{pair}");
        Case {
            tag: &tag,
            create: "--kind spsc --capacity 64 --slot-size 32 --fixed",
            producers: vec![(&producer, vec!["--size", "32", "--batch", "8"])],
            consumers: vec![(&consumer, vec!["--batch", "4"])],
            count: 300_000,
        }
        .run(&producer);
    }
}

#[test]
fn mpmc_between_languages_two_producers_two_consumers() {
    for (producer, consumer) in pairs() {
        let pair = format!("{}-to-{}", producer.language, consumer.language);
        let tag = format!("mpmc-{pair}");
        Case {
            tag: &tag,
            create: "--kind mpmc --capacity 64 --slot-size 80 --participants 8",
            producers: vec![
                (&producer, vec!["--wait", "try"]),
                (&producer, vec!["--wait", "block", "--batch", "8"]),
            ],
            consumers: vec![
                (&consumer, vec!["--wait", "try"]),
                (&consumer, vec!["--wait", "block", "--batch", "4"]),
            ],
            count: 500_000,
        }
        .run(&consumer);
        let tag = format!("mpmc-sleep-{pair}");
        Case {
            tag: &tag,
            create: "--kind mpmc --capacity 32 --slot-size 40 --fixed --participants 4",
            producers: vec![(&producer, vec!["--wait", "sleep", "--size", "32"])],
            consumers: vec![(&consumer, vec!["--wait", "sleep"])],
            count: 100_000,
        }
        .run(&producer);
    }
}

#[test]
fn mpmc_with_every_language_at_once() {
    let peers = peers();
    let tag = "mpmc-all-languages";
    Case {
        tag,
        create: "--kind mpmc --capacity 128 --slot-size 64 --participants 8",
        producers: peers
            .iter()
            .map(|peer| (peer, vec!["--wait", "block", "--size", "48"]))
            .collect(),
        consumers: peers
            .iter()
            .map(|peer| (peer, vec!["--wait", "sleep", "--batch", "8"]))
            .collect(),
        count: 200_000,
    }
    .run(&peers[0]);
}

/// A producer killed mid-stream: its consumer in another language drains what
/// was committed, in order and without a gap, then reports `Disconnected`.
#[test]
fn consumer_sees_disconnected_when_a_producer_of_another_language_is_killed() {
    for (producer, consumer) in pairs() {
        // MPMC too: a producer killed between its claim and its commit leaves
        // a claimed slot that the consumer's crash recovery marks to be skipped.
        for kind in ["spsc", "mpmc"] {
            let scratch = Scratch::new(&format!(
                "kill-{kind}-{}-{}",
                producer.language, consumer.language
            ));
            let path = scratch.0.display().to_string();
            run_ok(
                &consumer,
                &words(&format!(
                    "create --path {path} --kind {kind} --capacity 64 --slot-size 80"
                )),
            );
            let started = Instant::now();
            let reader = spawn(
                &consumer,
                &words(&format!("consume --path {path} --wait sleep --producers 1")),
            );
            let mut writer = spawn(
                &producer,
                &words(&format!(
                    "produce --path {path} --count 1000000000 --id 0 --wait block"
                )),
            );
            // Let some messages through, then kill the producer where it is.
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            writer.kill().unwrap();
            writer.wait().unwrap();
            let (seen, total, end) = parse_report(&finish(&consumer, reader, started));
            assert_eq!(end, "disconnected");
            assert!(
                total > 0,
                "{kind} {}-to-{}: nothing arrived",
                producer.language,
                consumer.language
            );
            let seen = &seen[&0];
            assert_eq!(
                (seen.first, seen.last),
                (0, seen.count - 1),
                "a gap before the kill"
            );
        }
    }
}

/// MPMC crash recovery across languages: producer A of one language is
/// SIGKILLed mid-stream (perhaps between a claim and its commit) while producer
/// B of the same language keeps sending; the consumer of another language must
/// get every message of B, A's messages up to its death without a gap, and then
/// `Disconnected`. The ring's `dropped_claims` counts at most A's one open claim.
#[test]
fn mpmc_consumer_recovers_from_a_killed_producer_of_another_language() {
    const SURVIVOR_COUNT: u64 = 100_000;
    for (producer, consumer) in pairs() {
        let scratch = Scratch::new(&format!(
            "recover-{}-{}",
            producer.language, consumer.language
        ));
        let path = scratch.0.display().to_string();
        run_ok(
            &consumer,
            &words(&format!(
                "create --path {path} --kind mpmc --capacity 64 --slot-size 80 --participants 4"
            )),
        );
        let started = Instant::now();
        let reader = spawn(
            &consumer,
            &words(&format!("consume --path {path} --wait block --producers 2")),
        );
        let mut doomed = spawn(
            &producer,
            &words(&format!(
                "produce --path {path} --count 1000000000 --id 0 --wait try"
            )),
        );
        let pair = format!("{}-to-{}", producer.language, consumer.language);
        // Let the doomed producer get going (it has claimed 100 positions)
        // before the survivor starts, then kill it where it is.
        let until = Instant::now() + HANG_LIMIT;
        while shmlane::info(&scratch.0).unwrap().tail < 100 {
            assert!(
                Instant::now() < until,
                "{pair}: the doomed producer never started"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let survivor = spawn(
            &producer,
            &words(&format!(
                "produce --path {path} --count {SURVIVOR_COUNT} --id 1 --wait block"
            )),
        );
        doomed.kill().unwrap();
        doomed.wait().unwrap();
        finish(&producer, survivor, started);
        let (seen, total, end) = parse_report(&finish(&consumer, reader, started));
        assert_eq!(end, "disconnected", "{pair}");
        let survivor = &seen[&1];
        assert_eq!(
            (survivor.count, survivor.first, survivor.last),
            (SURVIVOR_COUNT, 0, SURVIVOR_COUNT - 1),
            "{pair}: the surviving producer's messages"
        );
        let doomed = seen
            .get(&0)
            .expect("nothing of the killed producer arrived");
        assert_eq!(
            (doomed.first, doomed.last),
            (0, doomed.count - 1),
            "{pair}: a gap before the kill"
        );
        let info = shmlane::info(&scratch.0).unwrap();
        // Every claimed position was delivered or dropped, nothing else.
        assert_eq!(info.tail, total + info.dropped_claims, "{pair}");
        assert!(
            info.dropped_claims <= 1 && info.lost_messages == 0,
            "{pair}: dropped {} claims and lost {} messages",
            info.dropped_claims,
            info.lost_messages
        );
        eprintln!(
            "{pair}: killed producer delivered {} messages, dropped claims {}",
            doomed.count, info.dropped_claims
        );
    }
}

/// The same, with the death placed exactly: producer A of one language writes
/// a message into a claimed slot, never commits it, and is SIGKILLed
/// (`produce --die-holding`); a consumer of another language, asleep in a
/// blocking read, must skip that slot and deliver what producer B of A's
/// language sends after it. Exactly one claim is dropped.
#[test]
fn mpmc_claim_of_a_producer_killed_holding_it_is_skipped_by_another_language() {
    const BEFORE: u64 = 10;
    const AFTER: u64 = 1_000;
    for (producer, consumer) in pairs() {
        let pair = format!("{}-to-{}", producer.language, consumer.language);
        let scratch = Scratch::new(&format!("hold-{pair}"));
        let path = scratch.0.display().to_string();
        run_ok(
            &consumer,
            &words(&format!(
                "create --path {path} --kind mpmc --capacity 64 --slot-size 80 --participants 4"
            )),
        );
        let started = Instant::now();
        let reader = spawn(
            &consumer,
            &words(&format!("consume --path {path} --wait sleep --producers 2")),
        );
        let mut doomed = spawn(
            &producer,
            &words(&format!(
                "produce --path {path} --count {BEFORE} --id 0 --wait block --die-holding"
            )),
        );
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(doomed.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(
            line.trim(),
            format!("holding id=0 count={BEFORE}"),
            "{pair}"
        );
        doomed.kill().unwrap();
        doomed.wait().unwrap();
        let survivor = run_ok(
            &producer,
            &words(&format!(
                "produce --path {path} --count {AFTER} --id 1 --wait block"
            )),
        );
        assert_eq!(survivor.trim(), format!("produced id=1 count={AFTER}"));
        let (seen, total, end) = parse_report(&finish(&consumer, reader, started));
        assert_eq!(end, "disconnected", "{pair}");
        assert_eq!(total, BEFORE + AFTER, "{pair}");
        assert_eq!(
            (seen[&0].count, seen[&0].last),
            (BEFORE, BEFORE - 1),
            "{pair}"
        );
        assert_eq!(
            (seen[&1].count, seen[&1].last),
            (AFTER, AFTER - 1),
            "{pair}"
        );
        let info = shmlane::info(&scratch.0).unwrap();
        assert_eq!(
            (info.dropped_claims, info.lost_messages),
            (1, 0),
            "{pair}: the held claim is dropped, nothing else"
        );
    }
}
