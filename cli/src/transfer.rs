//! `shmlane send` and `shmlane recv`: rings in shell pipelines.

use std::io::{self, BufReader, BufWriter, Write};
use std::time::{Duration, Instant};

use shmlane::broadcast::{self, Received, Start, Subscriber, Untethered};
use shmlane::{
    Consumer, Error, ErrorKind, Kind, OpenOptions, Producer, Protocol, Ring, RingInfo, Role,
};

use crate::args::{Framing, FromArg, RecvArgs, RingArg, SendArgs};
use crate::ends::{join_reader, join_writer};
use crate::fail::Failure;
use crate::framing::{write_message, FrameReader};
use crate::stat::alive;
use crate::target::Target;
use crate::Outcome;

/// Size of the stdin and stdout buffers.
const IO_BUFFER: usize = 1 << 16;

/// Opens the ring of `send` or `recv` (`command`), with the library's
/// ownership and mode checks unless `allow_shared`; returns it with what the
/// command is called in its errors (`send ticks`).
fn open(command: &str, ring: &RingArg, allow_shared: bool) -> Result<(Ring, String), Failure> {
    let target = Target::from_arg(ring);
    let what = format!("{command} {target}");
    let options = OpenOptions::new()
        .allow_other_owner(allow_shared)
        .allow_shared_mode(allow_shared);
    let ring = target.open(&options).map_err(|e| Failure::ring(&what, e))?;
    Ok((ring, what))
}

/// How a timeout reads in a message.
fn seconds(timeout: Option<Duration>) -> String {
    timeout.map_or_else(|| "ever".to_owned(), |t| format!("{} s", t.as_secs_f64()))
}

/// How often a command waiting for its first peer looks at the ring.
const PEER_POLL: Duration = Duration::from_millis(2);

/// Whether a peer of the other role has been here since the command joined.
///
/// The library reports `Disconnected` whenever the peers that once joined are
/// all gone, even if they left long before this command started. A command
/// that has not yet met a peer treats that as "not yet joined" instead, and
/// waits for one: so `send` and `recv` can be started in any order on a ring
/// used before. A peer counts as met when it is seen alive, or when the
/// position it moves has moved since the command joined (it came and went
/// between two looks).
struct PeerPresence<'a> {
    ring: &'a Ring,
    peer: Role,
    met: bool,
    peer_position_at_join: u64,
}

impl<'a> PeerPresence<'a> {
    fn new(ring: &'a Ring, peer: Role, met_if_not_empty: bool) -> PeerPresence<'a> {
        let info = ring.info();
        let met = alive(&info, peer) > 0 || (met_if_not_empty && !info.is_empty());
        PeerPresence {
            ring,
            peer,
            met,
            peer_position_at_join: peer_position(&info, peer),
        }
    }

    /// Waits until a peer has been here, for at most `timeout`; `false` when
    /// none came in time.
    fn wait(&mut self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let info = self.ring.info();
            if alive(&info, self.peer) > 0
                || peer_position(&info, self.peer) != self.peer_position_at_join
            {
                self.met = true;
                return true;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return false;
            }
            std::thread::sleep(PEER_POLL);
        }
    }
}

/// The position a peer of `role` moves: producers the tail, consumers the head.
fn peer_position(info: &RingInfo, role: Role) -> u64 {
    match role {
        Role::Producer => info.tail,
        Role::Consumer => info.head,
    }
}

/// `shmlane send`: stdin to messages.
pub fn send(args: &SendArgs) -> Outcome {
    if args.chunk.is_some() && args.framing != Framing::Raw {
        // A mistake of the command line, told before the ring is looked for.
        return Err(Failure::usage(
            format!("send {}", Target::from_arg(&args.ring)),
            "--chunk applies only to --framing raw",
        ));
    }
    let (ring, what) = open("send", &args.ring, args.allow_shared)?;
    let consumers = PeerPresence::new(&ring, Role::Consumer, false);
    let joined = |e| Failure::ring(&what, e);
    if ring.geometry().kind == Kind::Broadcast {
        // The kind-erased handles are SPSC's and MPMC's only.
        let mut writer = broadcast::Producer::join(&ring).map_err(joined)?;
        writer.set_wait_strategy(args.wait.strategy());
        send_all(writer, consumers, args, &what)
    } else {
        let writer = join_writer(&ring, args.wait.strategy()).map_err(joined)?;
        send_all(writer, consumers, args, &what)
    }
}

fn send_all<K: Protocol>(
    mut writer: Producer<K>,
    mut consumers: PeerPresence<'_>,
    args: &SendArgs,
    what: &str,
) -> Outcome {
    let max = writer.max_payload();
    let limit = match args.chunk {
        Some(chunk) if chunk == 0 || chunk > max => {
            return Err(Failure::usage(
                what,
                format!("--chunk must be 1 to {max} (the ring's largest message), not {chunk}"),
            ))
        }
        Some(chunk) => chunk,
        None => max,
    };
    let stdin = BufReader::with_capacity(IO_BUFFER, io::stdin().lock());
    let mut frames = FrameReader::new(stdin, args.framing, limit);
    loop {
        let message = match frames.next_message() {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(()),
            Err(error) => return Err(Failure::runtime(what, error)),
        };
        let mut sent = writer.send(message, args.timeout);
        while matches!(&sent, Err(e) if e.kind() == ErrorKind::Disconnected) && !consumers.met {
            // Full, and the consumers that left did so before we came: wait
            // for one to join.
            sent = if consumers.wait(args.timeout) {
                writer.send(message, args.timeout)
            } else {
                Ok(false)
            };
        }
        let number = frames.count();
        match sent {
            Ok(true) => {}
            Ok(false) => {
                return Err(Failure::runtime(
                    what,
                    format!(
                        "message {number}: the ring stayed full for {}",
                        seconds(args.timeout)
                    ),
                ))
            }
            Err(error) if error.kind() == ErrorKind::Disconnected => {
                return Err(Failure::runtime(
                    what,
                    format!("message {number}: the ring is full and its consumers have left"),
                ))
            }
            Err(other) => return Err(Failure::ring(format!("{what}: message {number}"), other)),
        }
    }
}

/// `shmlane recv`: messages to stdout.
pub fn recv(args: &RecvArgs) -> Outcome {
    let (ring, what) = open("recv", &args.ring, args.allow_shared)?;
    let broadcast = ring.geometry().kind == Kind::Broadcast;
    if !broadcast && (args.from.is_some() || args.untethered) {
        return Err(Failure::usage(
            &what,
            format!(
                "--from and --untethered apply only to a broadcast ring; this one is {}",
                ring.geometry().kind
            ),
        ));
    }
    let wait = args.wait.strategy();
    let start = match args.from {
        Some(FromArg::Oldest) => Start::Oldest,
        Some(FromArg::Newest) | None => Start::Newest,
    };
    // Messages already in the ring count as the visit of a producer, but a
    // subscriber that starts at the newest message has none to read.
    let producers = PeerPresence::new(&ring, Role::Producer, !broadcast || start == Start::Oldest);
    let joined = |e| Failure::ring(&what, e);
    if args.untethered {
        let mut subscriber = Untethered::join(&ring, start).map_err(joined)?;
        subscriber.set_wait_strategy(wait);
        let buffer = vec![0; subscriber.max_payload()];
        let reader = Lossy {
            subscriber,
            buffer,
            what: &what,
        };
        recv_all(reader, producers, args, &what)
    } else if broadcast {
        let mut subscriber = Subscriber::join_from(&ring, start).map_err(joined)?;
        subscriber.set_wait_strategy(wait);
        recv_all(subscriber, producers, args, &what)
    } else {
        let reader = join_reader(&ring, wait).map_err(joined)?;
        recv_all(reader, producers, args, &what)
    }
}

/// What `recv` reads from: a consumer or tethered subscriber lending each
/// message in place, or an untethered subscriber copying it out.
trait Source {
    /// The next message, lent to `use_message`, without waiting.
    fn try_take<R>(&mut self, use_message: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Error>;
    /// The next message, lent to `use_message`, waiting up to `timeout`.
    fn take<R>(
        &mut self,
        timeout: Option<Duration>,
        use_message: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, Error>;
}

impl<K: Protocol> Source for Consumer<K> {
    fn try_take<R>(&mut self, use_message: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Error> {
        Ok(self.try_read()?.map(|message| use_message(&message)))
    }
    fn take<R>(
        &mut self,
        timeout: Option<Duration>,
        use_message: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, Error> {
        Ok(self.read(timeout)?.map(|message| use_message(&message)))
    }
}

/// An untethered subscriber, telling stderr what it lost.
struct Lossy<'a> {
    subscriber: Untethered,
    buffer: Vec<u8>,
    what: &'a str,
}

impl Lossy<'_> {
    /// `Some(len)` for a message in the buffer; `None` after a lag, told.
    fn message(&mut self, received: Received) -> Option<usize> {
        match received {
            Received::Message(len) => Some(len),
            Received::Lagged(lost) => {
                eprintln!(
                    "shmlane: {}: lagged behind the producer, lost {lost} messages ({} in all)",
                    self.what,
                    self.subscriber.lost()
                );
                None
            }
        }
    }
}

impl Source for Lossy<'_> {
    fn try_take<R>(&mut self, use_message: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, Error> {
        loop {
            let Some(received) = self.subscriber.try_recv(&mut self.buffer)? else {
                return Ok(None);
            };
            if let Some(len) = self.message(received) {
                return Ok(Some(use_message(&self.buffer[..len])));
            }
        }
    }
    fn take<R>(
        &mut self,
        timeout: Option<Duration>,
        use_message: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, Error> {
        // A lag is not a message: wait again, for what is left of the time.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let Some(received) = self.subscriber.recv(&mut self.buffer, left)? else {
                return Ok(None);
            };
            if let Some(len) = self.message(received) {
                return Ok(Some(use_message(&self.buffer[..len])));
            }
        }
    }
}

fn recv_all(
    mut reader: impl Source,
    mut producers: PeerPresence<'_>,
    args: &RecvArgs,
    what: &str,
) -> Outcome {
    let framing = args.framing;
    let mut out = BufWriter::with_capacity(IO_BUFFER, io::stdout().lock());
    let wanted = args.count.unwrap_or(u64::MAX);
    let mut received = 0u64;
    while received < wanted {
        // Take what is there without waiting; flush before a wait, so that a
        // reader of the pipe sees every message that has come so far.
        let written = match reader.try_take(|m| write_message(&mut out, framing, m)) {
            Ok(None) => {
                if let Err(error) = out.flush() {
                    return output_error(error, what);
                }
                reader.take(args.timeout, |m| write_message(&mut out, framing, m))
            }
            other => other,
        };
        match written {
            Ok(Some(Ok(()))) => received += 1,
            Ok(Some(Err(error))) => return output_error(error, what),
            Ok(None) => {
                // What came before the timeout still reaches stdout.
                let _ = out.flush();
                return Err(recv_timeout(args.timeout, received, what));
            }
            Err(error) if error.kind() == ErrorKind::Disconnected && !producers.met => {
                // Drained, and the producers that left did so before we came:
                // wait for one to join.
                if let Err(error) = out.flush() {
                    return output_error(error, what);
                }
                if !producers.wait(args.timeout) {
                    return Err(recv_timeout(args.timeout, received, what));
                }
            }
            Err(error) if error.kind() == ErrorKind::Disconnected => break,
            Err(error) => return Err(Failure::ring(what, error)),
        }
    }
    match out.flush() {
        Ok(()) => Ok(()),
        Err(error) => output_error(error, what),
    }
}

fn recv_timeout(timeout: Option<Duration>, received: u64, what: &str) -> Failure {
    Failure::runtime(
        what,
        format!(
            "no message came for {} (received {received})",
            seconds(timeout)
        ),
    )
}

/// A closed stdout (the reader of the pipe has gone, as `head` does) ends
/// `recv` quietly and successfully; any other write error is a failure.
fn output_error(error: io::Error, what: &str) -> Outcome {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return Ok(());
    }
    Err(Failure::runtime(what, format!("writing stdout: {error}")))
}
