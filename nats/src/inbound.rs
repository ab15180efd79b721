//! The inbound bridge: subscribes to a NATS subject and writes each message
//! into a ring as one ring message (boundaries kept), applying the ring's
//! backpressure: while the ring is full, the bridge waits and reads nothing
//! more from the server.
//!
//! Core NATS delivers at most once: a message the server sends while the
//! bridge is disconnected is lost, and a server that finds the bridge too
//! slow (the ring full for long) may drop it as a slow consumer, which the
//! bridge sees as a lost connection. It reconnects with backoff, subscribes
//! again, and counts it. A message larger than the ring's `max_payload` is
//! refused, counted and reported, never cut.

use std::time::Duration;

use shmlane::{AnyProducer, Error, Ring};

use crate::client::Connection;
use crate::out::Counters;

/// How an inbound bridge runs.
#[derive(Clone, Debug)]
pub struct InOptions {
    /// The server, `host:port`.
    pub server: String,
    /// The subject to subscribe to (wildcards allowed).
    pub subject: String,
    /// Longest wait between two attempts to reach the server.
    pub max_backoff: Duration,
}

impl InOptions {
    /// Subscribe to `subject` on `server`, retrying every 2 s at most while
    /// the server is away.
    pub fn new(server: impl Into<String>, subject: impl Into<String>) -> InOptions {
        InOptions {
            server: server.into(),
            subject: subject.into(),
            max_backoff: Duration::from_secs(2),
        }
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(10);

/// Feeds a ring from a NATS subject.
pub struct BridgeIn {
    producer: AnyProducer,
    options: InOptions,
    connection: Option<Connection>,
    counters: Counters,
    connected_once: bool,
}

impl BridgeIn {
    /// Joins `ring` as a producer; the server is reached (and the subject
    /// subscribed) by [`BridgeIn::connect`] or the first [`BridgeIn::step`].
    ///
    /// # Errors
    /// As [`shmlane::Handle::join`] for a producer.
    pub fn new(ring: &Ring, options: InOptions) -> Result<BridgeIn, Error> {
        Ok(BridgeIn {
            producer: AnyProducer::join(ring)?,
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

    /// Connects and subscribes, retrying with backoff until the server has
    /// the subscription (and saying so on stderr while it cannot).
    pub fn connect(&mut self) {
        let mut backoff = FIRST_BACKOFF;
        while self.connection.is_none() {
            let subscribed = Connection::connect(&self.options.server, "shmlane-bridge-in")
                .and_then(|mut connection| {
                    connection.subscribe(&self.options.subject)?;
                    connection.flush(Some(Duration::from_secs(10)))?;
                    Ok(connection)
                });
            match subscribed {
                Ok(connection) => {
                    if self.connected_once {
                        self.counters.reconnects += 1;
                        eprintln!("shmlane-nats: reconnected to {}", self.options.server);
                    }
                    self.connected_once = true;
                    self.connection = Some(connection);
                }
                Err(error) => {
                    eprintln!(
                        "shmlane-nats: cannot subscribe at {}: {error}; retrying in {backoff:?}",
                        self.options.server
                    );
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.options.max_backoff);
                }
            }
        }
    }

    /// Writes the next message from the subject into the ring, waiting up
    /// to `timeout` for one (and as long as the ring stays full); returns
    /// whether one was committed.
    ///
    /// # Errors
    /// What writing the ring fails with:
    /// [`ErrorKind::Disconnected`](shmlane::ErrorKind::Disconnected) when
    /// every consumer of the ring is gone and it is full.
    pub fn step(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.connect();
        let Some(connection) = self.connection.as_mut() else {
            return Ok(false);
        };
        let message = match connection.next_message(timeout) {
            Ok(Some(message)) => message,
            Ok(None) => return Ok(false),
            Err(error) => {
                eprintln!(
                    "shmlane-nats: lost {}: {error}; reconnecting",
                    self.options.server
                );
                self.connection = None;
                return Ok(false);
            }
        };
        if message.payload.len() > self.producer.max_payload() {
            self.counters.refused += 1;
            eprintln!(
                "shmlane-nats: refused a message of {} bytes on {}: above the ring's max_payload of {}",
                message.payload.len(),
                message.subject,
                self.producer.max_payload()
            );
            return Ok(false);
        }
        match self.producer.send(&message.payload, None) {
            Ok(true) => {
                self.counters.forwarded += 1;
                Ok(true)
            }
            Ok(false) => unreachable!("a send without a timeout waits until it sends"),
            Err(error) => Err(error),
        }
    }
}
