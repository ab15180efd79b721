//! A small, blocking NATS client: the core protocol's `INFO`, `CONNECT`,
//! `HPUB`, `SUB`, `MSG`/`HMSG`, `PING`/`PONG` and `-ERR`, over TCP without
//! TLS or authentication. Enough for a bridge on a trusted network, and for
//! its tests.

use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Why a NATS operation failed.
#[derive(Debug)]
pub enum NatsError {
    /// The connection failed or was closed.
    Io(io::Error),
    /// The server answered with `-ERR`, or said something we cannot parse.
    Protocol(String),
    /// A message larger than the server's `max_payload`: refused, never cut.
    TooLarge {
        /// Bytes the message would take (headers and payload).
        size: usize,
        /// The server's limit.
        max: usize,
    },
}

impl fmt::Display for NatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NatsError::Io(error) => write!(f, "NATS connection: {error}"),
            NatsError::Protocol(what) => write!(f, "NATS protocol: {what}"),
            NatsError::TooLarge { size, max } => write!(
                f,
                "message of {size} bytes is larger than the server's max_payload of {max}"
            ),
        }
    }
}

impl std::error::Error for NatsError {}

impl From<io::Error> for NatsError {
    fn from(error: io::Error) -> NatsError {
        NatsError::Io(error)
    }
}

/// A message received on a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The subject it was published to.
    pub subject: String,
    /// Its headers, in order (empty for a message without).
    pub headers: Vec<(String, String)>,
    /// Its payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// The first value of header `name` (compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One connection to a NATS server.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    max_payload: usize,
    next_sid: u64,
    /// Our inbox prefix (`_INBOX.<unique>`), once subscribed to its replies.
    inbox: Option<String>,
    next_reply: u64,
}

/// Longest the rest of an operation may take once its first byte came.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest a protocol line (not a payload) may be.
const MAX_LINE: usize = 64 * 1024;

impl Connection {
    /// Connects to the server at `address` (`host:port`), as `name`, and
    /// waits until the server has taken the `CONNECT`.
    ///
    /// # Errors
    /// [`NatsError::Io`] when the server cannot be reached;
    /// [`NatsError::Protocol`] when it does not speak NATS with headers.
    pub fn connect(address: &str, name: &str) -> Result<Connection, NatsError> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let writer = BufWriter::with_capacity(64 * 1024, stream);
        let info = read_line(&mut reader)?;
        let info = info
            .strip_prefix("INFO ")
            .ok_or_else(|| NatsError::Protocol(format!("expected INFO, got {info:?}")))?;
        let max_payload = json_number(info, "max_payload")
            .ok_or_else(|| NatsError::Protocol("INFO without max_payload".into()))?;
        if !json_true(info, "headers") {
            return Err(NatsError::Protocol(
                "the server does not support headers".into(),
            ));
        }
        let mut connection = Connection {
            reader,
            writer,
            max_payload: usize::try_from(max_payload).unwrap_or(usize::MAX),
            next_sid: 1,
            inbox: None,
            next_reply: 0,
        };
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
            .collect();
        write!(
            connection.writer,
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"lang\":\"rust\",\"version\":\"{}\",\"protocol\":1,\"name\":\"{name}\"}}\r\n",
            env!("CARGO_PKG_VERSION")
        )?;
        connection.flush(Some(Duration::from_secs(10)))?;
        Ok(connection)
    }

    /// The server's `max_payload`: the most bytes of headers and payload a
    /// message may take.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The bytes a message with `headers` and `payload_len` bytes of payload
    /// takes against [`Connection::max_payload`].
    pub fn message_size(headers: &[(&str, &str)], payload_len: usize) -> usize {
        header_block_len(headers) + payload_len
    }

    /// Queues `payload` for `subject` with `headers` (`HPUB`). Nothing is sent
    /// until the buffer fills or [`Connection::flush`] is called.
    ///
    /// # Errors
    /// [`NatsError::TooLarge`] when the message exceeds the server's
    /// `max_payload` (nothing is queued); [`NatsError::Io`] when the
    /// connection failed.
    pub fn publish(
        &mut self,
        subject: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<(), NatsError> {
        let header_len = header_block_len(headers);
        let size = header_len + payload.len();
        if size > self.max_payload {
            return Err(NatsError::TooLarge {
                size,
                max: self.max_payload,
            });
        }
        write!(
            self.writer,
            "HPUB {subject} {header_len} {size}\r\nNATS/1.0\r\n"
        )?;
        for (key, value) in headers {
            write!(self.writer, "{key}: {value}\r\n")?;
        }
        self.writer.write_all(b"\r\n")?;
        self.writer.write_all(payload)?;
        self.writer.write_all(b"\r\n")?;
        Ok(())
    }

    /// Like [`Connection::publish`], asking for replies on `reply`.
    ///
    /// # Errors
    /// As [`Connection::publish`].
    pub fn publish_with_reply(
        &mut self,
        subject: &str,
        reply: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> Result<(), NatsError> {
        let header_len = header_block_len(headers);
        let size = header_len + payload.len();
        if size > self.max_payload {
            return Err(NatsError::TooLarge {
                size,
                max: self.max_payload,
            });
        }
        write!(
            self.writer,
            "HPUB {subject} {reply} {header_len} {size}\r\nNATS/1.0\r\n"
        )?;
        for (key, value) in headers {
            write!(self.writer, "{key}: {value}\r\n")?;
        }
        self.writer.write_all(b"\r\n")?;
        self.writer.write_all(payload)?;
        self.writer.write_all(b"\r\n")?;
        Ok(())
    }

    /// A fresh reply subject in our inbox (subscribed at the first call).
    ///
    /// # Errors
    /// [`NatsError::Io`] when the connection failed.
    pub fn reply_subject(&mut self) -> Result<String, NatsError> {
        let inbox = match &self.inbox {
            Some(inbox) => inbox.clone(),
            None => {
                let unique = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| since.as_nanos());
                let inbox = format!("_INBOX.{}x{unique:x}x{}", std::process::id(), self.next_sid);
                self.subscribe(&format!("{inbox}.*"))?;
                self.inbox = Some(inbox.clone());
                inbox
            }
        };
        self.next_reply += 1;
        Ok(format!("{inbox}.{}", self.next_reply))
    }

    /// Sends `payload` to `subject` and waits (at most `timeout`) for the
    /// reply.
    ///
    /// # Errors
    /// [`NatsError::Protocol`] when no reply came in time, or the server
    /// said there is no responder; otherwise as [`Connection::flush`].
    pub fn request(
        &mut self,
        subject: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message, NatsError> {
        let reply = self.reply_subject()?;
        self.publish_with_reply(subject, &reply, &[], payload)?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(NatsError::Protocol(format!(
                    "no reply to {subject} in time"
                )));
            }
            if let Some(message) = self.next_message(left)? {
                if message.subject == reply {
                    if message.header("Status") == Some("503") {
                        return Err(NatsError::Protocol(format!("no responder for {subject}")));
                    }
                    return Ok(message);
                }
            }
        }
    }

    /// Subscribes to `subject`; returns the subscription's id.
    ///
    /// # Errors
    /// [`NatsError::Io`] when the connection failed.
    pub fn subscribe(&mut self, subject: &str) -> Result<u64, NatsError> {
        let sid = self.next_sid;
        self.next_sid += 1;
        write!(self.writer, "SUB {subject} {sid}\r\n")?;
        Ok(sid)
    }

    /// Sends what is queued and waits (at most `timeout`) until the server
    /// has processed it: a `PING` answered by `PONG`. Messages that arrive
    /// meanwhile are dropped, so subscribers flush before they receive.
    ///
    /// # Errors
    /// [`NatsError::Protocol`] for a `-ERR` from the server; [`NatsError::Io`]
    /// when the connection failed or the time ran out.
    pub fn flush(&mut self, timeout: Option<Duration>) -> Result<(), NatsError> {
        self.writer.write_all(b"PING\r\n")?;
        self.writer.flush()?;
        self.reader.get_ref().set_read_timeout(timeout)?;
        loop {
            match self.read_op()? {
                Op::Pong => return Ok(()),
                Op::Message(_) | Op::Other => continue,
            }
        }
    }

    /// The next message on any of our subscriptions, waiting at most
    /// `timeout`; `None` when the time ran out.
    ///
    /// # Errors
    /// As [`Connection::flush`].
    pub fn next_message(&mut self, timeout: Duration) -> Result<Option<Message>, NatsError> {
        self.writer.flush()?;
        loop {
            // Wait at most `timeout` for the first byte of an operation only:
            // a timeout in the middle of one would lose our place in the
            // stream. Once it began, the rest comes within OPERATION_TIMEOUT.
            self.reader.get_ref().set_read_timeout(Some(timeout))?;
            match self.reader.fill_buf() {
                Ok([]) => return Err(NatsError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {}
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(error) => return Err(error.into()),
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(OPERATION_TIMEOUT))?;
            match self.read_op()? {
                Op::Message(message) => return Ok(Some(message)),
                Op::Pong | Op::Other => continue,
            }
        }
    }

    /// Reads one operation from the server, answering `PING`.
    fn read_op(&mut self) -> Result<Op, NatsError> {
        let line = read_line(&mut self.reader)?;
        let mut words = line.split_ascii_whitespace();
        match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("PING") => {
                self.writer.write_all(b"PONG\r\n")?;
                self.writer.flush()?;
                Ok(Op::Other)
            }
            Some("PONG") => Ok(Op::Pong),
            Some("+OK") | Some("INFO") => Ok(Op::Other),
            Some("-ERR") => Err(NatsError::Protocol(line.clone())),
            Some("MSG") => {
                let words: Vec<&str> = words.collect();
                let (subject, total) = match words.as_slice() {
                    [subject, _sid, total] | [subject, _sid, _, total] => (*subject, *total),
                    _ => return Err(NatsError::Protocol(format!("bad MSG line {line:?}"))),
                };
                let total = parse_len(total)?;
                let payload = self.read_payload(total)?;
                Ok(Op::Message(Message {
                    subject: subject.to_owned(),
                    headers: Vec::new(),
                    payload,
                }))
            }
            Some("HMSG") => {
                let words: Vec<&str> = words.collect();
                let (subject, header_len, total) = match words.as_slice() {
                    [subject, _sid, header_len, total] | [subject, _sid, _, header_len, total] => {
                        (*subject, *header_len, *total)
                    }
                    _ => return Err(NatsError::Protocol(format!("bad HMSG line {line:?}"))),
                };
                let (header_len, total) = (parse_len(header_len)?, parse_len(total)?);
                if header_len > total {
                    return Err(NatsError::Protocol(format!("bad HMSG line {line:?}")));
                }
                let mut bytes = self.read_payload(total)?;
                let payload = bytes.split_off(header_len);
                Ok(Op::Message(Message {
                    subject: subject.to_owned(),
                    headers: parse_headers(&bytes)?,
                    payload,
                }))
            }
            _ => Err(NatsError::Protocol(format!("unexpected {line:?}"))),
        }
    }

    fn read_payload(&mut self, len: usize) -> Result<Vec<u8>, NatsError> {
        let mut bytes = vec![0; len + 2];
        self.reader.read_exact(&mut bytes)?;
        if !bytes.ends_with(b"\r\n") {
            return Err(NatsError::Protocol("payload not followed by CRLF".into()));
        }
        bytes.truncate(len);
        Ok(bytes)
    }
}

enum Op {
    Pong,
    Message(Message),
    Other,
}

/// `NATS/1.0\r\n`, each `key: value\r\n`, and the closing `\r\n`.
fn header_block_len(headers: &[(&str, &str)]) -> usize {
    "NATS/1.0\r\n".len()
        + headers
            .iter()
            .map(|(key, value)| key.len() + 2 + value.len() + 2)
            .sum::<usize>()
        + 2
}

fn parse_headers(block: &[u8]) -> Result<Vec<(String, String)>, NatsError> {
    let text = std::str::from_utf8(block)
        .map_err(|_| NatsError::Protocol("headers are not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status = match lines.next().and_then(|line| line.strip_prefix("NATS/1.0")) {
        Some(status) => status.split_whitespace().next().map(str::to_owned),
        None => return Err(NatsError::Protocol("bad header status line".into())),
    };
    // A status code (503: no responders) is kept as the pseudo-header `Status`.
    Ok(status
        .map(|code| ("Status".to_owned(), code))
        .into_iter()
        .chain(
            lines
                .filter(|line| !line.is_empty())
                .filter_map(|line| line.split_once(':'))
                .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned())),
        )
        .collect())
}

fn parse_len(word: &str) -> Result<usize, NatsError> {
    word.parse()
        .map_err(|_| NatsError::Protocol(format!("bad length {word:?}")))
}

/// One CRLF-terminated line, without its end.
fn read_line(reader: &mut BufReader<TcpStream>) -> Result<String, NatsError> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)?;
    if read == 0 {
        return Err(NatsError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    if !line.ends_with(b"\n") {
        return Err(NatsError::Protocol("protocol line too long".into()));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| NatsError::Protocol("line is not UTF-8".into()))
}

/// The number after `"key":` in a flat JSON object.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let rest = json_value(json, key)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn json_true(json: &str, key: &str) -> bool {
    json_value(json, key).is_some_and(|rest| rest.starts_with("true"))
}

fn json_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let at = json.find(&quoted)? + quoted.len();
    Some(json[at..].trim_start().strip_prefix(':')?.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_read_from_the_json() {
        let info = r#"{"server_id":"x","headers":true,"max_payload":1048576,"proto":1}"#;
        assert_eq!(json_number(info, "max_payload"), Some(1_048_576));
        assert!(json_true(info, "headers"));
        assert!(!json_true(info, "jetstream"));
    }

    #[test]
    fn header_block_length_counts_every_byte() {
        let headers = [("Shmlane-Position", "42")];
        assert_eq!(
            header_block_len(&headers),
            "NATS/1.0\r\nShmlane-Position: 42\r\n\r\n".len()
        );
        let parsed = parse_headers(b"NATS/1.0\r\nShmlane-Position: 42\r\n\r\n").unwrap();
        assert_eq!(
            parsed,
            vec![("Shmlane-Position".to_owned(), "42".to_owned())]
        );
    }
}
