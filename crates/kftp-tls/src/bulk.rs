//! Receiving a bulk TLS stream (an upload) in large socket reads.
//!
//! tokio-rustls feeds rustls through `read_tls`, which reads at most what rustls' deframer
//! buffer has room for: one TLS record (about 16 KiB) per `recvfrom`, and one task wake-up
//! per few records. A 1 GiB curl upload took 66,000 `recvfrom`, 4,700 `epoll_wait`, and
//! `memmove` was 37% of the server's CPU samples. [`BulkRead`] reads the socket
//! [`READ_CHUNK`] at a time into its own buffer and hands rustls the bytes from there (a
//! copy in memory, not a syscall), then gives the caller as much plaintext as its buffer
//! holds: 6,300 `recvfrom`, 1,000 `epoll_wait`, `memmove` 10%, half the CPU samples.
//!
//! rustls still does all of the record layer: decryption, sequence numbers, alerts and
//! `close_notify`. An end without `close_notify` is reported exactly as tokio-rustls reports
//! it (`UnexpectedEof`), so [`crate::EofWatch`] and `--tls-strict-eof` see no difference.
//! Use it for a connection that only receives data until the peer's end: bytes that arrive
//! after `close_notify` stay unread in its buffer and are dropped with it. Whatever rustls
//! wants to send meanwhile (a TLS 1.3 KeyUpdate answer) stays queued in the connection and
//! goes out with the next write or the closing `shutdown`, as with tokio-rustls.

use rustls::{ConnectionCommon, SideData};
use std::io::{self, Read};
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read from the socket per syscall at most (a 1 GiB curl upload over loopback
/// averaged 170 KiB per read at this size).
pub const READ_CHUNK: usize = 256 * 1024;

/// The buffer starts here and grows (x4) while reads fill it, up to [`READ_CHUNK`], so a
/// small upload or a slow client does not hold 256 KiB.
const FIRST_READ: usize = 16 * 1024;

/// An [`AsyncRead`] of the plaintext of a rustls connection over TCP that reads the socket in
/// large pieces (module docs). It borrows the connection: after the upload, close it with
/// the stream it came from ([`crate::close_data`]).
pub struct BulkRead<'a, C> {
    tcp: &'a TcpStream,
    conn: &'a mut C,
    /// Raw TLS bytes from the socket not yet given to rustls: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The socket said end of stream (rustls has been told, or will be).
    tcp_eof: bool,
    /// A record rustls refused: reported once the plaintext before it has been read.
    failed: Option<io::Error>,
}

impl<'a, C, SD> BulkRead<'a, C>
where
    C: DerefMut<Target = ConnectionCommon<SD>>,
    SD: SideData,
{
    /// Reads the plaintext of `conn` (whose handshake is done) from `tcp`.
    pub fn new(tcp: &'a TcpStream, conn: &'a mut C) -> Self {
        BulkRead {
            tcp,
            conn,
            buf: vec![0u8; FIRST_READ],
            start: 0,
            end: 0,
            tcp_eof: false,
            failed: None,
        }
    }

    /// Gives rustls the buffered socket bytes (or the end of stream) until it has plaintext
    /// or needs more. Returns whether it was given anything.
    fn feed(&mut self) -> io::Result<bool> {
        if self.start == self.end && !self.tcp_eof {
            return Ok(false);
        }
        let mut pending = &self.buf[self.start..self.end];
        // With nothing pending this is rustls' end-of-stream read (`Ok(0)`): it then
        // answers `Ok(0)` after a close_notify and `UnexpectedEof` otherwise.
        let n = self.conn.read_tls(&mut pending)?;
        self.start += n;
        if let Err(e) = self.conn.process_new_packets() {
            // Records before the bad one were decrypted: their plaintext is read first.
            // The alert rustls queued goes out with the closing shutdown.
            self.failed = Some(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(true)
    }
}

impl<C, SD> AsyncRead for BulkRead<'_, C>
where
    C: DerefMut<Target = ConnectionCommon<SD>> + Unpin,
    SD: SideData,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = out.filled().len();
        while out.remaining() > 0 {
            match this.conn.reader().read(out.initialize_unfilled()) {
                // End of stream (close_notify, all plaintext read).
                Ok(0) => return Poll::Ready(Ok(())),
                Ok(n) => {
                    out.advance(n);
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(e) = this.failed.take() {
                        if out.filled().len() > before {
                            this.failed = Some(e);
                            return Poll::Ready(Ok(()));
                        }
                        return Poll::Ready(Err(e));
                    }
                }
                // An error after some plaintext waits for the next call (rustls repeats it).
                Err(_) if out.filled().len() > before => return Poll::Ready(Ok(())),
                Err(e) => return Poll::Ready(Err(e)),
            }
            // rustls' plaintext buffer is empty here, so `read_tls` has room. After the end
            // of stream is fed, `reader().read` above answers `Ok(0)` or `UnexpectedEof`,
            // never `WouldBlock`, so this loop ends.
            if this.feed()? {
                continue;
            }
            match this.tcp.try_read(&mut this.buf) {
                Ok(0) => this.tcp_eof = true,
                Ok(n) => {
                    this.start = 0;
                    this.end = n;
                    if n == this.buf.len() && n < READ_CHUNK {
                        this.buf.resize((n * 4).min(READ_CHUNK), 0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if out.filled().len() > before {
                        return Poll::Ready(Ok(()));
                    }
                    ready!(this.tcp.poll_read_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}
