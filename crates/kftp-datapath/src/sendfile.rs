//! File -> socket with sendfile(2): the bytes never enter user space.
//!
//! The socket stays non-blocking (tokio owns it): each call sends as much as the socket
//! buffer takes, and `EAGAIN` waits for writability through the reactor. Bytes move in
//! chunks of [`Tuning::buf_size`] (at least [`MIN_CHUNK`]), smaller when a rate limit asks
//! for it, and each chunk is paid for with [`crate::RateLimiter::acquire`] before it is
//! sent.
//!
//! TCP_CORK: proftpd corks around sendfile; vsftpd does not. On this machine (loopback,
//! Linux 6.18, 2 vCPUs) corking was no consistent win: faster in one run, slower in
//! another, same CPU per GiB (crates/kftp-datapath/MEASUREMENTS.md). Loopback already sends 64 KiB GSO
//! segments, leaving cork little to merge. So it is off by default; [`set_cork_default`]
//! or `KFTP_SENDFILE_CORK=1` turn it on, and a guard uncorks on completion or cancel.

use crate::Tuning;
use rustix::io::Errno;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The smallest chunk handed to one sendfile loop between rate-limit waits, unless a
/// limiter asks for less.
pub const MIN_CHUNK: usize = 64 * 1024;

/// Linux's cap on one sendfile/splice call (`MAX_RW_COUNT`).
const MAX_CALL: usize = 0x7fff_f000;

/// 0 = not decided, 1 = cork off, 2 = cork on.
static CORK: AtomicU8 = AtomicU8::new(0);

/// Whether sendfile transfers set TCP_CORK for their duration.
pub fn cork_default() -> bool {
    match CORK.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = std::env::var("KFTP_SENDFILE_CORK").is_ok_and(|v| v == "1" || v == "on");
            CORK.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
    }
}

/// Overrides whether sendfile transfers cork the socket (benchmarks, experiments).
pub fn set_cork_default(on: bool) {
    CORK.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

/// The chunk size between two rate-limit waits.
pub(crate) fn chunk_size(tuning: &Tuning) -> usize {
    let mut c = tuning.buf_size.max(MIN_CHUNK);
    for l in &tuning.limits {
        c = c.min(l.chunk_hint());
    }
    c.min(MAX_CALL)
}

/// Uncorks the socket when the transfer ends, however it ends (cancellation included),
/// so the last partial segment is pushed out rather than held for 200 ms.
struct Cork<'a> {
    sock: BorrowedFd<'a>,
}

impl<'a> Cork<'a> {
    fn set(sock: BorrowedFd<'a>) -> Option<Self> {
        rustix::net::sockopt::set_tcp_cork(sock, true).ok()?;
        Some(Cork { sock })
    }

    /// Corks for the transfer when [`cork_default`] says so.
    fn if_default(sock: BorrowedFd<'a>) -> Option<Self> {
        if cork_default() {
            Cork::set(sock)
        } else {
            None
        }
    }
}

impl Drop for Cork<'_> {
    fn drop(&mut self) {
        let _ = rustix::net::sockopt::set_tcp_cork(self.sock, false);
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank during transfer")
}

/// Sends `len` bytes from `offset` with sendfile(2).
///
/// Returns an error for which [`is_unsupported`] holds only if no byte was sent, so the
/// caller can fall back to the copy loop from `offset`. If sendfile stops working after
/// some bytes went out (it should not), the rest is sent by the copy loop here.
pub async fn send(
    file: &File,
    offset: u64,
    len: u64,
    sock: &TcpStream,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let chunk = chunk_size(tuning) as u64;
    let _cork = Cork::if_default(sock.as_fd());
    let mut done = 0u64;
    while done < len {
        let this = chunk.min(len - done);
        for l in &tuning.limits {
            l.acquire(this).await;
        }
        let end = done + this;
        while done < end {
            match send_some(file, offset + done, (end - done) as usize, sock).await {
                Ok(0) => return Err(eof()),
                Ok(n) => {
                    done += n as u64;
                    progress.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if done > 0 && is_unsupported(&e) => {
                    crate::probe::mark_sendfile_broken(&e);
                    let rest = crate::copy::file_to_socket(
                        file,
                        offset + done,
                        len - done,
                        sock,
                        tuning,
                        progress,
                    )
                    .await?;
                    return Ok(done + rest);
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(done)
}

/// [`send`] on a socket in blocking mode, on a blocking thread ([`crate::thread`]). Each
/// sendfile(2) call asks for the whole rest of the file, as vsftpd and proftpd do: one
/// call per transfer instead of one per 1 MiB chunk (1,024 per GiB), and the thread sleeps
/// in the kernel until the file is sent. What the client has received meanwhile is read
/// from the socket (`thread::Mirror`), not counted here. The same contract: an
/// [`is_unsupported`] error only when no byte was sent.
pub(crate) fn send_blocking(
    file: &File,
    offset: u64,
    len: u64,
    sock: &std::net::TcpStream,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let _cork = Cork::if_default(sock.as_fd());
    let mut done = 0u64;
    while done < len {
        let mut off = offset + done;
        let want = (len - done).min(MAX_CALL as u64) as usize;
        match rustix::fs::sendfile(sock, file, Some(&mut off), want) {
            Ok(0) => return Err(eof()),
            Ok(n) => {
                done += n as u64;
                progress.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(Errno::INTR) => {}
            Err(e) => {
                let e = io::Error::from(e);
                if done > 0 && is_unsupported(&e) {
                    crate::probe::mark_sendfile_broken(&e);
                    let rest = crate::copy::file_to_socket_blocking(
                        file,
                        offset + done,
                        len - done,
                        sock,
                        tuning,
                        progress,
                    )?;
                    return Ok(done + rest);
                }
                return Err(e);
            }
        }
    }
    Ok(done)
}

/// One successful sendfile(2) call of at most `count` bytes, waiting for writability.
async fn send_some(file: &File, offset: u64, count: usize, sock: &TcpStream) -> io::Result<usize> {
    loop {
        sock.writable().await?;
        let r = sock.try_io(Interest::WRITABLE, || {
            let mut off = offset;
            loop {
                match rustix::fs::sendfile(sock.as_fd(), file, Some(&mut off), count) {
                    Err(Errno::INTR) => continue,
                    // WOULDBLOCK (== AGAIN) clears tokio's readiness; try_io relies on it.
                    r => return r.map_err(io::Error::from),
                }
            }
        });
        match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// Whether an error means "sendfile cannot do this here" (fall back) rather than a real
/// failure: ENOSYS (no such syscall), EINVAL (this file or socket cannot be spliced) and
/// EOPNOTSUPP, as in vsftpd's `sysdeputil.c`; also our own `ErrorKind::Unsupported`.
pub fn is_unsupported(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::Unsupported {
        return true;
    }
    match e.raw_os_error() {
        Some(code) => [Errno::NOSYS, Errno::INVAL, Errno::OPNOTSUPP]
            .iter()
            .any(|errno| errno.raw_os_error() == code),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_errors() {
        for errno in [Errno::NOSYS, Errno::INVAL, Errno::OPNOTSUPP] {
            assert!(is_unsupported(&io::Error::from(errno)), "{errno:?}");
        }
        assert!(is_unsupported(&io::Error::from(io::ErrorKind::Unsupported)));
        for errno in [Errno::PIPE, Errno::CONNRESET, Errno::IO, Errno::AGAIN] {
            assert!(!is_unsupported(&io::Error::from(errno)), "{errno:?}");
        }
        assert!(!is_unsupported(&io::Error::other("x")));
    }

    #[test]
    fn chunk_follows_tuning_and_limits() {
        let mut t = Tuning::default();
        assert_eq!(chunk_size(&t), 1 << 20);
        t.buf_size = 10;
        assert_eq!(chunk_size(&t), MIN_CHUNK);
        t.buf_size = 8 << 20;
        t.limits
            .push(std::sync::Arc::new(crate::RateLimiter::new(1_000_000)));
        assert_eq!(chunk_size(&t), 100_000);
    }
}
