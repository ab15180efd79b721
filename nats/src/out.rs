//! The outbound bridge: drains a ring and publishes each message to a NATS
//! subject, one NATS message per ring message (boundaries kept), with the
//! message's ring position in the [`POSITION_HEADER`] header.
//!
//! The bridge joins the ring as a consumer of any kind. It reads a batch,
//! publishes it, and waits for the server to confirm it has processed the
//! batch (a `PING` answered by `PONG`) before it releases the batch's slots:
//! when the connection fails, it reconnects with backoff and publishes the
//! whole batch again, so a message leaves the ring only after the server
//! took it (at least once; a batch resent after a failure may reach
//! subscribers twice). A message larger than the server's `max_payload` is
//! refused, counted and reported, never cut.

use std::time::Duration;

use shmlane::{AnyConsumer, Error, ReadBatch, Ring, WaitStrategy};

use crate::client::{Connection, NatsError};

/// The header that carries a message's ring position, in decimal.
pub const POSITION_HEADER: &str = "Shmlane-Position";

/// How an outbound bridge runs.
#[derive(Clone, Debug)]
pub struct OutOptions {
    /// The server, `host:port`.
    pub server: String,
    /// The subject every message is published to.
    pub subject: String,
    /// Most messages read and published together.
    pub batch: usize,
    /// Longest wait between two attempts to reach the server.
    pub max_backoff: Duration,
    /// Publish to JetStream: each message with the id [`message_id`] in
    /// `Nats-Msg-Id`, released from the ring once the stream acknowledged
    /// it (a stream must capture the subject).
    pub jetstream: bool,
}

impl OutOptions {
    /// Publish to `subject` on `server`, in batches of up to 256, retrying
    /// every 2 s at most while the server is away.
    pub fn new(server: impl Into<String>, subject: impl Into<String>) -> OutOptions {
        OutOptions {
            server: server.into(),
            subject: subject.into(),
            batch: 256,
            max_backoff: Duration::from_secs(2),
            jetstream: false,
        }
    }
}

/// What a bridge has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages forwarded: confirmed by the server (out), committed to the
    /// ring (in).
    pub forwarded: u64,
    /// Messages refused for being larger than the server takes.
    pub refused: u64,
    /// Connections made after the first.
    pub reconnects: u64,
    /// Messages JetStream acknowledged as duplicates of ones it already had
    /// (sent again after a restart or a lost connection).
    pub duplicates: u64,
}

/// The JetStream message id of the message at `position` of the ring
/// `ring` created at `incarnation` (its creation time in ns): the same
/// message always gets the same id, and a ring created anew under the same
/// name gets new ones.
pub fn message_id(ring: &str, incarnation: u64, position: u64) -> String {
    format!("{ring}:{incarnation:x}:{position}")
}

/// First wait before reaching the server again.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// Longest wait for the server to confirm a batch.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Drains a ring to a NATS subject.
pub struct BridgeOut {
    consumer: AnyConsumer,
    /// The ring's name and incarnation, for JetStream message ids.
    ring_id: (String, u64),
    options: OutOptions,
    connection: Option<Connection>,
    counters: Counters,
    connected_once: bool,
}

impl BridgeOut {
    /// Joins `ring` as a consumer; the server is reached at the first
    /// [`BridgeOut::step`].
    ///
    /// # Errors
    /// As [`shmlane::Handle::join`] for a consumer.
    pub fn new(ring: &Ring, options: OutOptions) -> Result<BridgeOut, Error> {
        let mut consumer = AnyConsumer::join(ring)?;
        consumer.set_wait_strategy(WaitStrategy::default());
        let info = ring.info();
        let name = info.path.file_name().map_or_else(
            || "ring".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        );
        Ok(BridgeOut {
            consumer,
            ring_id: (name, info.created_ns),
            options,
            connection: None,
            counters: Counters::default(),
            connected_once: false,
        })
    }

    /// What the bridge has done so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Forwards the messages in the ring, waiting up to `timeout` for the
    /// first; returns how many the server confirmed. While the server is
    /// away, it keeps trying (and says so on stderr).
    ///
    /// # Errors
    /// What reading the ring fails with:
    /// [`ErrorKind::Disconnected`](shmlane::ErrorKind::Disconnected) once
    /// every producer is gone and the ring is drained.
    pub fn step(&mut self, timeout: Duration) -> Result<u64, Error> {
        let batch = self
            .consumer
            .read_batch(self.options.batch, Some(timeout))?;
        if batch.is_empty() {
            return Ok(0);
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            let connection = match self.connection.as_mut() {
                Some(connection) => connection,
                None => match Connection::connect(&self.options.server, "shmlane-bridge-out") {
                    Ok(connection) => {
                        if self.connected_once {
                            self.counters.reconnects += 1;
                            eprintln!("shmlane-nats: reconnected to {}", self.options.server);
                        }
                        self.connected_once = true;
                        backoff = FIRST_BACKOFF;
                        self.connection.insert(connection)
                    }
                    Err(error) => {
                        eprintln!(
                            "shmlane-nats: cannot reach {}: {error}; retrying in {backoff:?}",
                            self.options.server
                        );
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(self.options.max_backoff);
                        continue;
                    }
                },
            };
            let published = if self.options.jetstream {
                publish_batch_jetstream(connection, &self.options.subject, &self.ring_id, &batch)
            } else {
                publish_batch(connection, &self.options.subject, &batch).map(|refused| (refused, 0))
            };
            match published {
                Ok((refused, duplicates)) => {
                    self.counters.refused += refused;
                    self.counters.duplicates += duplicates;
                    let forwarded = batch.len() as u64 - refused;
                    self.counters.forwarded += forwarded;
                    return Ok(forwarded);
                }
                Err(error) => {
                    eprintln!(
                        "shmlane-nats: lost {}: {error}; publishing the batch again",
                        self.options.server
                    );
                    self.connection = None;
                }
            }
        }
    }
}

/// Publishes every message of `batch` and waits for the server to confirm;
/// returns how many were refused for their size.
fn publish_batch(
    connection: &mut Connection,
    subject: &str,
    batch: &ReadBatch<'_, shmlane::AnyKind>,
) -> Result<u64, NatsError> {
    let mut refused = 0;
    let mut position_text = String::new();
    for (index, message) in batch.iter().enumerate() {
        let position = batch.position(index);
        position_text.clear();
        position_text.push_str(&position.to_string());
        let headers = [(POSITION_HEADER, position_text.as_str())];
        match connection.publish(subject, &headers, message) {
            Ok(()) => {}
            Err(NatsError::TooLarge { size, max }) => {
                refused += 1;
                eprintln!(
                    "shmlane-nats: refused the message at position {position}: {size} bytes with headers, above the server's max_payload of {max}"
                );
            }
            Err(error) => return Err(error),
        }
    }
    connection.flush(Some(CONFIRM_TIMEOUT))?;
    Ok(refused)
}

/// Publishes every message of `batch` to JetStream, each with its message
/// id, and waits for the stream's acknowledgement of each; returns how many
/// were refused for their size, and how many the stream had already.
fn publish_batch_jetstream(
    connection: &mut Connection,
    subject: &str,
    (ring, incarnation): &(String, u64),
    batch: &ReadBatch<'_, shmlane::AnyKind>,
) -> Result<(u64, u64), NatsError> {
    let mut refused = 0;
    let mut pending = std::collections::HashSet::new();
    for (index, message) in batch.iter().enumerate() {
        let position = batch.position(index);
        let position_text = position.to_string();
        let id = message_id(ring, *incarnation, position);
        let headers = [
            (POSITION_HEADER, position_text.as_str()),
            ("Nats-Msg-Id", id.as_str()),
        ];
        let reply = connection.reply_subject()?;
        match connection.publish_with_reply(subject, &reply, &headers, message) {
            Ok(()) => {
                pending.insert(reply);
            }
            Err(NatsError::TooLarge { size, max }) => {
                refused += 1;
                eprintln!(
                    "shmlane-nats: refused the message at position {position}: {size} bytes with headers, above the server's max_payload of {max}"
                );
            }
            Err(error) => return Err(error),
        }
    }
    let mut duplicates = 0;
    while !pending.is_empty() {
        let Some(ack) = connection.next_message(CONFIRM_TIMEOUT)? else {
            return Err(NatsError::Protocol(
                "JetStream acknowledgements did not come".into(),
            ));
        };
        if !pending.remove(&ack.subject) {
            continue;
        }
        if ack.header("Status") == Some("503") {
            return Err(NatsError::Protocol(format!(
                "no JetStream stream captures {subject}"
            )));
        }
        let text = String::from_utf8_lossy(&ack.payload);
        if text.contains("\"error\"") {
            return Err(NatsError::Protocol(format!(
                "JetStream refused a message: {text}"
            )));
        }
        let duplicate = text
            .find("\"duplicate\"")
            .and_then(|at| {
                text[at + "\"duplicate\"".len()..]
                    .trim_start()
                    .strip_prefix(':')
            })
            .is_some_and(|value| value.trim_start().starts_with("true"));
        if duplicate {
            duplicates += 1;
        }
    }
    Ok((refused, duplicates))
}
