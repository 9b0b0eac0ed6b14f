//! The control connection: send one command line, read one reply, with bounds on
//! everything the server can make us buffer and a timeout on everything we wait for.

use crate::error::{Error, Result};
use crate::stream::{Stream, TlsSetup};
use kftp_proto::{Command, Reply, ReplyDecoder};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Longest reply line accepted (servers stay far below; this only bounds memory).
const MAX_REPLY_LINE: u64 = 64 * 1024;
/// Most lines in one multi-line reply (a FEAT or STAT listing fits easily).
const MAX_REPLY_LINES: usize = 100_000;

/// One control connection.
#[derive(Debug)]
pub struct Control {
    io: BufReader<Stream>,
    timeout: Duration,
}

impl Control {
    /// Wraps a connected stream.
    pub fn new(stream: Stream, timeout: Duration) -> Self {
        Control {
            io: BufReader::new(stream),
            timeout,
        }
    }

    /// The stream underneath (for addresses).
    pub fn stream(&self) -> &Stream {
        self.io.get_ref()
    }

    /// Sends one command. PASS is logged masked.
    pub async fn send(&mut self, cmd: &Command) -> Result<()> {
        self.send_all(std::slice::from_ref(cmd)).await
    }

    /// Sends `cmds` in one write, without waiting for any reply (pipelining: the caller
    /// reads their replies in order). Nothing is sent if one of them holds a line break.
    pub async fn send_all(&mut self, cmds: &[Command]) -> Result<()> {
        let mut lines = String::new();
        for cmd in cmds {
            tracing::debug!(target: "kftp::control", "> {}", cmd.loggable());
            let line = cmd.to_line();
            if line.contains(['\r', '\n']) {
                return Err(Error::usage(format!(
                    "refusing to send a name with a line break: {:?}",
                    cmd.loggable()
                )));
            }
            lines.push_str(&line);
            lines.push_str("\r\n");
        }
        let fut = async {
            self.io.get_mut().write_all(lines.as_bytes()).await?;
            self.io.get_mut().flush().await
        };
        let verb = cmds.last().map_or("", |c| c.verb());
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|e| Error::net(format!("sending {verb}"), e)),
            Err(_) => Err(timeout_error("sending a command")),
        }
    }

    /// Sends a raw line (the shell's `quote`).
    pub async fn send_raw(&mut self, line: &str) -> Result<()> {
        if line.contains(['\r', '\n']) {
            return Err(Error::usage("a command cannot contain a line break"));
        }
        tracing::debug!(target: "kftp::control", "> {line}");
        let data = format!("{line}\r\n");
        let fut = async {
            self.io.get_mut().write_all(data.as_bytes()).await?;
            self.io.get_mut().flush().await
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|e| Error::net("sending a command", e)),
            Err(_) => Err(timeout_error("sending a command")),
        }
    }

    /// Reads one complete reply.
    pub async fn read_reply(&mut self) -> Result<Reply> {
        self.read_reply_within(self.timeout).await
    }

    /// Reads one reply, waiting at most `limit` (long transfers wait longer for 226).
    pub async fn read_reply_within(&mut self, limit: Duration) -> Result<Reply> {
        match tokio::time::timeout(limit, self.read_reply_inner()).await {
            Ok(r) => r,
            Err(_) => Err(timeout_error("waiting for the server's reply")),
        }
    }

    async fn read_reply_inner(&mut self) -> Result<Reply> {
        let mut decoder = ReplyDecoder::new();
        let mut buf = Vec::with_capacity(128);
        for _ in 0..MAX_REPLY_LINES {
            buf.clear();
            let n = (&mut self.io)
                .take(MAX_REPLY_LINE)
                .read_until(b'\n', &mut buf)
                .await
                .map_err(|e| Error::net("reading the server's reply", e))?;
            if n == 0 {
                return Err(Error::net(
                    "reading the server's reply",
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the server closed the control connection",
                    ),
                ));
            }
            if buf.last() != Some(&b'\n') && n as u64 >= MAX_REPLY_LINE {
                return Err(Error::new(
                    crate::ErrorKind::Protocol,
                    "the server sent a reply line over 64 KiB",
                ));
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            tracing::debug!(target: "kftp::control", "< {line}");
            match decoder.feed_line(line) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => {
                    return Err(Error::new(
                        crate::ErrorKind::Protocol,
                        format!("the server sent {e}"),
                    ))
                }
            }
        }
        Err(Error::new(
            crate::ErrorKind::Protocol,
            "the server sent a reply of too many lines",
        ))
    }

    /// Sends a command and reads its reply, whatever the code.
    pub async fn cmd(&mut self, cmd: &Command) -> Result<Reply> {
        self.send(cmd).await?;
        self.read_reply().await
    }

    /// Sends a command and requires a 2yz reply; `what` names the operation in errors.
    pub async fn cmd_ok(&mut self, cmd: &Command, what: &str) -> Result<Reply> {
        let r = self.cmd(cmd).await?;
        if r.is_success() {
            Ok(r)
        } else {
            Err(Error::reply(what.to_string(), r))
        }
    }

    /// Ends the connection without waiting for anything more from the server: flushes,
    /// then shuts the stream down (over TLS: close_notify, then the TCP FIN), within
    /// `limit`. Errors are ignored: the connection is being dropped anyway.
    pub async fn close(mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.io.get_mut().shutdown()).await;
    }

    /// Replaces the plain stream with TLS (after `234` to AUTH TLS).
    pub async fn upgrade(self, tls: &TlsSetup) -> Result<Control> {
        if !self.io.buffer().is_empty() {
            return Err(Error::new(
                crate::ErrorKind::Protocol,
                "the server sent data after accepting AUTH TLS",
            ));
        }
        let timeout = self.timeout;
        let tcp = match self.io.into_inner() {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(_) => {
                return Err(Error::new(
                    crate::ErrorKind::Protocol,
                    "the control connection is already encrypted",
                ))
            }
        };
        let stream = match tokio::time::timeout(timeout, tls.connect(tcp)).await {
            Ok(r) => r.map_err(|e| Error::net("TLS handshake on the control connection", e))?,
            Err(_) => return Err(timeout_error("TLS handshake")),
        };
        Ok(Control::new(stream, timeout))
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// A timeout, as a network error.
pub fn timeout_error(what: &str) -> Error {
    Error::net(
        what.to_string(),
        std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
    )
}
