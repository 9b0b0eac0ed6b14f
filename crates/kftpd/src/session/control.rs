//! The control connection: bounded line reading and reply writing over a plain or TLS
//! stream.

use kftp_proto::{Reply, MAX_LINE};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The control stream, plain or TLS: an enum (not a trait object) so that AUTH TLS can
/// take the TCP stream back out and wrap it.
pub type CtrlStream = kftp_tls::ServerStream;

/// What [`Control::read_line`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// One line, without its line ending.
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; its bytes were discarded up to the line end.
    TooLong,
    /// The peer closed the connection.
    Eof,
}

/// A control connection with its read buffer.
pub struct Control {
    /// The stream; `None` only while AUTH TLS swaps it.
    pub stream: Option<CtrlStream>,
    buf: Vec<u8>,
    /// Skipping the rest of an over-long line.
    discarding: bool,
}

const READ_CHUNK: usize = 1024;

impl Control {
    /// Wraps a stream.
    pub fn new(stream: CtrlStream) -> Self {
        // The buffer starts small: an idle session should cost a few KiB, not a page of
        // buffer per connection.
        Control {
            stream: Some(stream),
            buf: Vec::new(),
            discarding: false,
        }
    }

    /// Whether bytes beyond the last line are already buffered. After AUTH TLS they must be
    /// discarded: plaintext sent before the handshake must never be read as if it came
    /// through TLS (the STARTTLS command-injection class of bugs).
    pub fn discard_buffered(&mut self) -> bool {
        let had = !self.buf.is_empty();
        self.buf = Vec::new();
        had
    }

    fn stream(&mut self) -> io::Result<&mut CtrlStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "control stream taken"))
    }

    /// Reads one line. Never buffers more than [`MAX_LINE`] + a read chunk. Cancel-safe:
    /// bytes already read stay in the buffer.
    pub async fn read_line(&mut self) -> io::Result<Line> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if std::mem::take(&mut self.discarding) {
                    return Ok(Line::TooLong);
                }
                if line.len() > MAX_LINE {
                    return Ok(Line::TooLong);
                }
                if self.buf.is_empty() {
                    self.buf = Vec::new();
                }
                return Ok(Line::Line(line));
            }
            if self.buf.len() > MAX_LINE + 2 {
                self.buf.clear();
                self.discarding = true;
            }
            let mut chunk = [0u8; READ_CHUNK];
            let n = self.stream()?.read(&mut chunk).await?;
            if n == 0 {
                return Ok(Line::Eof);
            }
            self.buf.extend_from_slice(&chunk[..n]);
            // A read stops short at TCP urgent data (ABOR sent with MSG_OOB, kept inline by
            // SO_OOBINLINE) and tokio then takes the socket for drained: fetch the rest of
            // the line now, or it waits for bytes that are already here.
            if n < READ_CHUNK && !chunk[..n].contains(&b'\n') {
                if let Some(CtrlStream::Plain(s)) = &self.stream {
                    let flags = rustix::net::RecvFlags::DONTWAIT;
                    if let Ok((m, _)) = rustix::net::recv(s, &mut chunk[..], flags) {
                        self.buf.extend_from_slice(&chunk[..m]);
                    }
                }
            }
        }
    }

    /// Writes one reply and flushes it.
    pub async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        let bytes = reply.encode();
        let s = self.stream()?;
        s.write_all(&bytes).await?;
        s.flush().await
    }
}
