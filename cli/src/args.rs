//! The command line: one struct per subcommand, with the long help's examples.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const TOP_EXAMPLES: &str = "\
Rings are named: NAME is the file /dev/shm/NAME. Every subcommand also takes
--path FILE instead of NAME, for a ring in a file anywhere (give one or the other).

Examples:
  shmlane create ticks --capacity 1024 --slot-size 64
  seq 1 100000 | shmlane send ticks &
  shmlane recv ticks | wc -l
  shmlane stat ticks --watch
  shmlane rm ticks
  shmlane bench --size 64 --messages 1000000

Exit codes: 0 success, 1 failure at run time, 2 bad command line.";

/// Lock-free shared-memory rings from the shell.
#[derive(Debug, Parser)]
#[command(
    name = "shmlane",
    version,
    about = "Create, inspect, feed, drain and benchmark shmlane shared-memory rings",
    after_long_help = TOP_EXAMPLES,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a ring
    #[command(after_long_help = CREATE_EXAMPLES)]
    Create(CreateArgs),
    /// Show a ring's geometry, positions, participants and rates, without joining it
    #[command(after_long_help = STAT_EXAMPLES)]
    Stat(StatArgs),
    /// Send stdin to a ring as messages (one per line by default)
    #[command(after_long_help = SEND_EXAMPLES)]
    Send(SendArgs),
    /// Receive messages from a ring to stdout until its producers are gone
    #[command(after_long_help = RECV_EXAMPLES)]
    Recv(RecvArgs),
    /// Measure throughput and latency between real producer and consumer processes
    #[command(after_long_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// Remove a ring's file (open handles keep working until they close)
    #[command(after_long_help = RM_EXAMPLES)]
    Rm(RmArgs),
    /// Forward a ring's messages over a NATS server
    #[command(subcommand)]
    Bridge(BridgeCommand),
    /// One process of a benchmark, started by `shmlane bench`
    #[command(name = "__bench-child", hide = true)]
    BenchChild(ChildArgs),
}

/// Which ring: a name in /dev/shm, or a file.
#[derive(Debug, Clone, Args)]
pub struct RingArg {
    /// Ring name: the ring is the file /dev/shm/NAME (letters, digits, '.', '_', '-')
    #[arg(
        value_name = "NAME",
        required_unless_present = "path",
        conflicts_with = "path"
    )]
    pub name: Option<String>,
    /// Use the ring in FILE (on any file system) instead of /dev/shm/NAME
    #[arg(long, value_name = "FILE")]
    pub path: Option<PathBuf>,
}

/// The kinds of ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// One producer, one consumer
    Spsc,
    /// Many producers, many consumers; each message goes to one consumer
    Mpmc,
    /// One producer, many subscribers; every subscriber sees every message
    Broadcast,
}

/// How a value of an option is spelled on the command line (`spsc`, `sleep`,
/// `producer`): the name clap parses it from.
pub fn value_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .expect("no value of the command line is skipped")
        .get_name()
        .to_owned()
}

const CREATE_EXAMPLES: &str = "\
--slot-size counts the whole slot: a variable-length SPSC slot spends 8 bytes on
the message length, an MPMC slot 16 (a stamp and the length); --fixed rings carry
messages of exactly one size and spend 0 (SPSC) or 8 (MPMC) bytes. The largest
message is printed after creation.

Examples:
  shmlane create ticks --capacity 1024 --slot-size 64
  shmlane create frames --kind spsc --capacity 64 --slot-size 65544 --mode 0640
  shmlane create jobs --kind mpmc --capacity 4096 --slot-size 144 --participants 32
  shmlane create readings --kind broadcast --capacity 1024 --slot-size 80 --participants 4 --overflow overwrite
  shmlane create records --capacity 4096 --slot-size 16 --fixed
  shmlane create --path /var/tmp/ticks.ring --capacity 1024 --slot-size 64";

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub ring: RingArg,
    /// Kind of ring
    #[arg(long, value_enum, default_value_t = KindArg::Spsc)]
    pub kind: KindArg,
    /// Number of slots, a power of two (2 to 2^32)
    #[arg(long, value_name = "N")]
    pub capacity: u64,
    /// Bytes per slot, slot header included, a multiple of 8
    #[arg(long, value_name = "BYTES")]
    pub slot_size: u64,
    /// File mode in octal; must include 0600 (default 0600)
    #[arg(long, value_name = "MODE", default_value = "0600", value_parser = parse_mode)]
    pub mode: u32,
    /// Every message is exactly the slot's payload size (no length field)
    #[arg(long)]
    pub fixed: bool,
    /// MPMC and broadcast: how many handles may be joined at once (2 to 1024; broadcast: the producer and P-1 subscribers)
    #[arg(long, value_name = "P")]
    pub participants: Option<u32>,
    /// Broadcast: what the producer does when the ring is full
    #[arg(long, value_enum, value_name = "POLICY")]
    pub overflow: Option<OverflowArg>,
}

const STAT_EXAMPLES: &str = "\
stat maps the ring read-only and never joins it, so it changes nothing. Rates
need two snapshots: --watch prints one line per interval with messages/s written
and read. Bytes/s are exact for --fixed rings; for variable-length rings they are
unknown (the sizes of read messages are not recorded), and an upper bound
(messages/s x largest message) is shown instead.

Examples:
  shmlane stat ticks
  shmlane stat ticks --json
  shmlane stat ticks --watch --interval 0.5
  shmlane stat ticks --watch --json --count 10 > samples.jsonl";

#[derive(Debug, Args)]
pub struct StatArgs {
    #[command(flatten)]
    pub ring: RingArg,
    /// Keep printing snapshots, with rates, until interrupted (or --count)
    #[arg(long)]
    pub watch: bool,
    /// Seconds between snapshots with --watch
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_interval, requires = "watch")]
    pub interval: Duration,
    /// Stop after N snapshots with --watch
    #[arg(long, value_name = "N", requires = "watch")]
    pub count: Option<u64>,
    /// Print one JSON object (one per line with --watch)
    #[arg(long)]
    pub json: bool,
}

/// How messages are cut out of a byte stream, and written back to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Framing {
    /// One message per line; the newline is not part of the message
    Line,
    /// Each message is a 4-byte little-endian length, then that many bytes
    Length,
    /// Fixed-size chunks of the ring's largest message (or --chunk); no framing on output
    Raw,
}

/// How blocking calls wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WaitArg {
    /// Busy-poll: lowest latency, one core busy while waiting
    Spin,
    /// Sleep on the futex at once: no CPU while waiting, a system call per wake-up
    Sleep,
    /// The library's default: spin briefly, yield, then sleep
    Adaptive,
}

impl WaitArg {
    pub fn strategy(self) -> shmlane::WaitStrategy {
        match self {
            WaitArg::Spin => shmlane::WaitStrategy::spinning(),
            WaitArg::Sleep => shmlane::WaitStrategy::sleeping(),
            WaitArg::Adaptive => shmlane::WaitStrategy::default(),
        }
    }
}

const SEND_EXAMPLES: &str = "\
send joins the ring as a producer (SPSC: the only one; MPMC: one of many), waits
for room as long as it takes (or --timeout), and leaves when stdin ends; the
consumers then drain the ring and see the producer gone.

Examples:
  seq 1 100000 | shmlane send ticks
  printf 'one\\ntwo\\n' | shmlane send ticks --timeout 5
  shmlane send frames --framing length < frames.bin
  shmlane send blobs --framing raw --chunk 4096 < file.bin";

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub ring: RingArg,
    /// How stdin is cut into messages
    #[arg(long, value_enum, default_value_t = Framing::Line)]
    pub framing: Framing,
    /// With --framing raw: bytes per message (default: the ring's largest message)
    #[arg(long, value_name = "N")]
    pub chunk: Option<usize>,
    /// Give up with an error if the ring stays full for SECS
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// How to wait for room
    #[arg(long, value_enum, default_value_t = WaitArg::Adaptive)]
    pub wait: WaitArg,
    /// Accept a ring owned by another user or writable by group or others
    #[arg(long)]
    pub allow_shared: bool,
}

const RECV_EXAMPLES: &str = "\
recv joins the ring as a consumer and writes each message to stdout until every
producer has left and the ring is drained (exit 0), --count messages have come
(exit 0), or --timeout passes without a message (exit 1). Output is flushed
whenever the ring is empty. A closed stdout (a pipe to `head`) ends it quietly.

Examples:
  shmlane recv ticks | wc -l
  shmlane recv ticks --count 10
  shmlane recv ticks --timeout 2 || echo 'nothing for 2 s'
  shmlane recv frames --framing length > frames.bin";

#[derive(Debug, Args)]
pub struct RecvArgs {
    #[command(flatten)]
    pub ring: RingArg,
    /// How messages are written to stdout
    #[arg(long, value_enum, default_value_t = Framing::Line)]
    pub framing: Framing,
    /// Stop after N messages
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Give up with an error if no message comes for SECS
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// How to wait for messages
    #[arg(long, value_enum, default_value_t = WaitArg::Adaptive)]
    pub wait: WaitArg,
    /// Accept a ring owned by another user or writable by group or others
    #[arg(long)]
    pub allow_shared: bool,
    /// Broadcast: start at the next message published, or at the oldest one the ring still holds
    #[arg(long, value_enum, value_name = "WHERE")]
    pub from: Option<FromArg>,
    /// Broadcast: never hold the producer back; lost messages are counted on stderr
    #[arg(long)]
    pub untethered: bool,
}

/// Where a broadcast subscriber starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FromArg {
    /// The next message the producer publishes
    Newest,
    /// The oldest message the ring still holds
    Oldest,
}

/// What a broadcast ring's producer does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OverflowArg {
    /// Wait for the slowest tethered subscriber (lossless)
    Block,
    /// Overwrite the oldest message, never wait; subscribers are untethered
    Overwrite,
}

const BENCH_EXAMPLES: &str = "\
bench creates its own rings, starts separate producer and consumer processes
(this binary, re-executed) and removes the ring files once all have joined. Each message carries its send
time (CLOCK_MONOTONIC, taken once the slot is reserved), so the consumer measures
one-way latency; under full load that includes the time a message queues in the
ring (--rate paces the producers to measure below saturation). --pingpong
bounces each message back through a second ring and measures the round trip,
one message in flight. Percentiles come from an HdrHistogram (3 significant
digits). Progress goes to stderr every second on long runs. The run fails if a
message is lost, or (with --size 16 or more) reordered or damaged.

Examples:
  shmlane bench
  shmlane bench --size 8 --capacity 65536 --messages 10000000
  shmlane bench --wait sleep --duration 5
  shmlane bench --rate 100000 --duration 3
  shmlane bench --kind mpmc --producers 2 --consumers 2
  shmlane bench --pingpong --messages 100000 --plot rtt.svg
  shmlane bench --json > result.json";

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Kind of ring
    #[arg(long, value_enum, default_value_t = KindArg::Spsc)]
    pub kind: KindArg,
    /// Message size in bytes (at least 8: the send timestamp)
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub size: u64,
    /// Slots per ring, a power of two
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub capacity: u64,
    /// How blocking reads and reserves wait
    #[arg(long, value_enum, default_value_t = WaitArg::Spin)]
    pub wait: WaitArg,
    /// Messages in all (default 1,000,000; 100,000 with --pingpong)
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub messages: Option<u64>,
    /// Run for SECS instead of a number of messages
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Send at most N messages per second in all (spread evenly over the
    /// producers), so that one-way latency is measured below saturation
    #[arg(long, value_name = "N", conflicts_with = "pingpong")]
    pub rate: Option<f64>,
    /// Measure round trips: each message is bounced back through a second ring
    #[arg(long)]
    pub pingpong: bool,
    /// MPMC: number of producer processes
    #[arg(long, value_name = "P", default_value_t = 1)]
    pub producers: u32,
    /// MPMC: number of consumer processes
    #[arg(long, value_name = "C", default_value_t = 1)]
    pub consumers: u32,
    /// Use a ring of fixed-size messages (--size must be a multiple of 8)
    #[arg(long)]
    pub fixed: bool,
    /// Print one JSON object instead of the report
    #[arg(long)]
    pub json: bool,
    /// Write an SVG plot of the latency percentiles to FILE
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// No progress lines on stderr
    #[arg(long, short)]
    pub quiet: bool,
}

const RM_EXAMPLES: &str = "\
Only ring files are removed (a file without the ring's magic is refused).
Processes that have the ring open keep using it until they close it.

Examples:
  shmlane rm ticks
  shmlane rm --path /var/tmp/ticks.ring";

#[derive(Debug, Args)]
pub struct RmArgs {
    #[command(flatten)]
    pub ring: RingArg,
}

/// The directions of `shmlane bridge`.
#[derive(Debug, Subcommand)]
pub enum BridgeCommand {
    /// Drain a ring and publish each message to a NATS subject
    #[command(after_long_help = BRIDGE_OUT_EXAMPLES)]
    Out(BridgeOutArgs),
    /// Subscribe to a NATS subject and write each message into a ring
    #[command(after_long_help = BRIDGE_IN_EXAMPLES)]
    In(BridgeInArgs),
}

const BRIDGE_IN_EXAMPLES: &str = "\
bridge in joins the ring as a producer, subscribes to SUBJECT on the NATS
server and writes each message into the ring, waiting while the ring is full.
Messages larger than the ring's max_payload are refused and counted, never cut.
While the server is away it reconnects and subscribes again with backoff, and
says so. It prints a status line (forwarded, refused, reconnects) to stderr
every --status seconds; it runs until stopped, or until every consumer of a
full ring is gone (exit 1).

Examples:
  shmlane bridge in ticks --server 127.0.0.1:4222 --subject ticks.raw
  shmlane bridge in frames --server nats-host:4222 --subject 'cam.*' --status 10";

#[derive(Debug, Args)]
pub struct BridgeInArgs {
    #[command(flatten)]
    pub ring: RingArg,
    /// The NATS server, HOST:PORT
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:4222")]
    pub server: String,
    /// The subject to subscribe to (wildcards allowed)
    #[arg(long, value_name = "SUBJECT")]
    pub subject: String,
    /// Print a status line every SECS
    #[arg(long, value_name = "SECS", value_parser = parse_interval, default_value = "5")]
    pub status: Duration,
    /// Accept a ring owned by another user or writable by group or others
    #[arg(long)]
    pub allow_shared: bool,
}

const BRIDGE_OUT_EXAMPLES: &str = "\
bridge out joins the ring as a consumer and publishes each message to SUBJECT
on the NATS server, with its ring position in the header Shmlane-Position. It
releases messages from the ring only once the server has taken them; while the
server is away it reconnects with backoff, and says so. Messages larger than
the server's max_payload are refused and counted, never cut. It prints a status
line (forwarded, refused, reconnects) to stderr every --status seconds and when
it ends: when every producer has left and the ring is drained (exit 0).

Examples:
  shmlane bridge out ticks --server 127.0.0.1:4222 --subject ticks.raw
  shmlane bridge out frames --server nats-host:4222 --subject cam0 --status 10
  shmlane bridge out orders --subject orders.in --jetstream";

#[derive(Debug, Args)]
pub struct BridgeOutArgs {
    #[command(flatten)]
    pub ring: RingArg,
    /// The NATS server, HOST:PORT
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:4222")]
    pub server: String,
    /// The subject to publish to
    #[arg(long, value_name = "SUBJECT")]
    pub subject: String,
    /// Print a status line every SECS
    #[arg(long, value_name = "SECS", value_parser = parse_interval, default_value = "5")]
    pub status: Duration,
    /// Most messages read and published together
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub batch: usize,
    /// Publish to JetStream with message ids, releasing messages once the stream
    /// acknowledged them (a stream must capture SUBJECT)
    #[arg(long)]
    pub jetstream: bool,
    /// Accept a ring owned by another user or writable by group or others
    #[arg(long)]
    pub allow_shared: bool,
}

/// The part a benchmark process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChildRole {
    /// Writes timestamped messages.
    Producer,
    /// Reads them and records one-way latency.
    Consumer,
    /// Ping-pong: sends, waits for the echo, records the round trip.
    Pinger,
    /// Ping-pong: sends back what it reads.
    Echo,
}

#[derive(Debug, Args)]
pub struct ChildArgs {
    #[arg(long, value_enum)]
    pub role: ChildRole,
    /// The ring it writes to or reads from (the pinger writes here).
    #[arg(long)]
    pub ring: String,
    /// Ping-pong: the ring the echoes travel back through.
    #[arg(long)]
    pub reply_ring: Option<String>,
    #[arg(long)]
    pub size: usize,
    #[arg(long, value_enum)]
    pub wait: WaitArg,
    /// Messages this process sends (producer, pinger).
    #[arg(long)]
    pub messages: Option<u64>,
    /// How long this process sends, in nanoseconds (producer, pinger).
    #[arg(long)]
    pub duration_ns: Option<u64>,
    /// Producer: nanoseconds between the starts of two sends (pacing).
    #[arg(long)]
    pub gap_ns: Option<u64>,
    /// Index of this process among those of its role.
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    /// Number of producers, so that consumers can check each one's order.
    #[arg(long, default_value_t = 1)]
    pub producers: u32,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err("expected an octal mode such as 0600 or 0640".to_owned());
    }
    let mode = u32::from_str_radix(digits, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
        .ok_or_else(|| "a mode holds at most four octal digits".to_owned())?;
    // The library refuses these too, but as a permission it was denied; on
    // the command line they are a mistake in the line, said as such.
    let lacks = match (mode & 0o400 != 0, mode & 0o200 != 0) {
        (true, true) => None,
        (true, false) => Some("owner write"),
        (false, true) => Some("owner read"),
        (false, false) => Some("owner read and write"),
    };
    if let Some(lacks) = lacks {
        return Err(format!(
            "mode {mode:04o} lacks {lacks}: every process that joins a ring opens it for reading and writing, so the mode must include 0600 (such as 0600 or 0640)"
        ));
    }
    if mode & !0o777 != 0 {
        return Err(format!(
            "mode {mode:04o} has bits outside 0777 (setuid, setgid or sticky), which a ring file has no use for"
        ));
    }
    Ok(mode)
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds, such as 2 or 0.5, not {text:?}"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| "expected a finite, non-negative number of seconds".to_owned())
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_seconds(text)?;
    if interval < Duration::from_millis(10) {
        return Err("the interval must be at least 0.01 s".to_owned());
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("640"), Ok(0o640));
        assert_eq!(parse_mode("0o644"), Ok(0o644));
        assert!(parse_mode("0800").is_err());
        assert!(parse_mode("rw").is_err());
        assert!(parse_mode("77777").is_err());
        assert!(parse_mode("0400")
            .unwrap_err()
            .contains("lacks owner write"));
        assert!(parse_mode("0200").unwrap_err().contains("lacks owner read"));
        assert!(parse_mode("0044")
            .unwrap_err()
            .contains("lacks owner read and write"));
        assert!(parse_mode("1600").unwrap_err().contains("outside 0777"));
    }

    #[test]
    fn seconds_accept_fractions_and_refuse_negatives() {
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_interval("0.001").is_err());
    }

    #[test]
    fn values_are_named_as_clap_parses_them() {
        assert_eq!(value_name(KindArg::Mpmc), "mpmc");
        assert_eq!(value_name(WaitArg::Adaptive), "adaptive");
        assert_eq!(value_name(ChildRole::Pinger), "pinger");
        for role in ChildRole::value_variants() {
            assert_eq!(ChildRole::from_str(&value_name(*role), false), Ok(*role));
        }
    }
}
