//! Cutting a byte stream into messages, and writing messages back as one.
//!
//! - `line`: a message per line; the `\n` is not part of it (a `\r` before it
//!   is). A last line without `\n` is a message too.
//! - `length`: a 4-byte little-endian length, then that many bytes.
//! - `raw`: fixed-size chunks; the last may be shorter. On output, the bytes
//!   of each message back to back.

use std::io::{self, BufRead, Read, Write};

use crate::args::Framing;

/// Why the input could not be cut into messages.
#[derive(Debug)]
pub enum FrameError {
    /// Reading the input failed.
    Io(io::Error),
    /// The input breaks the framing.
    Malformed(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(error) => write!(f, "reading stdin: {error}"),
            FrameError::Malformed(reason) => f.write_str(reason),
        }
    }
}

impl From<io::Error> for FrameError {
    fn from(error: io::Error) -> FrameError {
        FrameError::Io(error)
    }
}

/// Messages read from a byte stream.
pub struct FrameReader<R> {
    input: R,
    framing: Framing,
    /// Size of a raw chunk, and the largest length a `length` frame may announce.
    limit: usize,
    message: Vec<u8>,
    count: u64,
}

impl<R: BufRead> FrameReader<R> {
    /// Reads `input` in `framing`; `limit` is the raw chunk size, and the
    /// largest message a `length` frame may hold.
    pub fn new(input: R, framing: Framing, limit: usize) -> FrameReader<R> {
        FrameReader {
            input,
            framing,
            limit,
            message: Vec::with_capacity(limit.min(1 << 20)),
            count: 0,
        }
    }

    /// Messages returned so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The next message, or `None` at the end of the input.
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let more = match self.framing {
            Framing::Line => self.next_line()?,
            Framing::Length => self.next_length_prefixed()?,
            Framing::Raw => self.next_chunk()?,
        };
        if !more {
            return Ok(None);
        }
        self.count += 1;
        Ok(Some(&self.message))
    }

    fn next_line(&mut self) -> Result<bool, FrameError> {
        self.message.clear();
        let read = self.input.read_until(b'\n', &mut self.message)?;
        if read == 0 {
            return Ok(false);
        }
        if self.message.last() == Some(&b'\n') {
            self.message.pop();
        }
        Ok(true)
    }

    fn next_length_prefixed(&mut self) -> Result<bool, FrameError> {
        let mut prefix = [0u8; 4];
        match read_full(&mut self.input, &mut prefix)? {
            0 => return Ok(false),
            4 => {}
            got => {
                return Err(FrameError::Malformed(format!(
                    "input ends inside the length prefix of message {} ({got} of 4 bytes)",
                    self.count + 1
                )))
            }
        }
        let len = u32::from_le_bytes(prefix) as usize;
        if len > self.limit {
            return Err(FrameError::Malformed(format!(
                "message {} announces {len} bytes, more than the ring's largest message of {} bytes",
                self.count + 1,
                self.limit
            )));
        }
        self.message.clear();
        (&mut self.input)
            .take(len as u64)
            .read_to_end(&mut self.message)?;
        let got = self.message.len();
        if got < len {
            return Err(FrameError::Malformed(format!(
                "input ends inside message {} ({got} of {len} bytes)",
                self.count + 1
            )));
        }
        Ok(true)
    }

    fn next_chunk(&mut self) -> Result<bool, FrameError> {
        // The buffer still holds the previous chunk, which is overwritten:
        // only the first chunk grows it (with zeros), not every one.
        self.message.resize(self.limit, 0);
        let got = read_full(&mut self.input, &mut self.message)?;
        self.message.truncate(got);
        Ok(got > 0)
    }
}

/// Reads until `buffer` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match input.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Writes `message` to `output` in `framing`.
#[inline]
pub fn write_message(output: &mut impl Write, framing: Framing, message: &[u8]) -> io::Result<()> {
    match framing {
        Framing::Line => {
            output.write_all(message)?;
            output.write_all(b"\n")
        }
        Framing::Length => {
            // A ring's slot is at most 2 GiB, so every message length fits.
            let len = u32::try_from(message.len()).expect("a message fits a u32 length");
            output.write_all(&len.to_le_bytes())?;
            output.write_all(message)
        }
        Framing::Raw => output.write_all(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], framing: Framing, limit: usize) -> Result<Vec<Vec<u8>>, String> {
        let mut reader = FrameReader::new(input, framing, limit);
        let mut messages = Vec::new();
        while let Some(message) = reader.next_message().map_err(|e| e.to_string())? {
            messages.push(message.to_vec());
        }
        Ok(messages)
    }

    #[test]
    fn lines_lose_their_newline_and_keep_empty_lines() {
        let messages = all(b"one\n\nthree\r\nlast", Framing::Line, 64).unwrap();
        assert_eq!(
            messages,
            vec![
                b"one".to_vec(),
                vec![],
                b"three\r".to_vec(),
                b"last".to_vec()
            ]
        );
        assert!(all(b"", Framing::Line, 64).unwrap().is_empty());
    }

    #[test]
    fn length_frames_round_trip() {
        let mut encoded = Vec::new();
        for message in [&b"alpha"[..], b"", b"\n\0binary"] {
            write_message(&mut encoded, Framing::Length, message).unwrap();
        }
        let messages = all(&encoded, Framing::Length, 64).unwrap();
        assert_eq!(
            messages,
            vec![b"alpha".to_vec(), vec![], b"\n\0binary".to_vec()]
        );
    }

    #[test]
    fn truncated_or_oversized_length_frames_are_refused() {
        let error = all(&[5, 0, 0, 0, b'a'], Framing::Length, 64).unwrap_err();
        assert!(error.contains("input ends inside message 1"), "{error}");
        let error = all(&[5, 0], Framing::Length, 64).unwrap_err();
        assert!(error.contains("length prefix"), "{error}");
        let error = all(&[100, 0, 0, 0], Framing::Length, 64).unwrap_err();
        assert!(error.contains("announces 100 bytes"), "{error}");
    }

    #[test]
    fn raw_chunks_are_full_but_the_last() {
        let messages = all(b"abcdefgh", Framing::Raw, 3).unwrap();
        assert_eq!(
            messages,
            vec![b"abc".to_vec(), b"def".to_vec(), b"gh".to_vec()]
        );
    }
}
