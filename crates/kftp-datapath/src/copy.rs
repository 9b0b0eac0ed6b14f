//! The user-space copy loop: pread/pwrite on the file, a large buffer, async socket I/O.
//!
//! File reads and writes are plain positioned syscalls on the calling task: for page-cached
//! files they cost less than handing each chunk to a blocking thread pool.

use crate::Tuning;
use std::fs::File;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

pub(crate) async fn pace(tuning: &Tuning, n: u64) {
    for l in &tuning.limits {
        l.acquire(n).await;
    }
}

fn chunk(tuning: &Tuning) -> usize {
    let mut c = tuning.buf_size.max(4096);
    for l in &tuning.limits {
        c = c.min(l.chunk_hint());
    }
    c
}

/// A send buffer: never larger than the file, so a 4 KiB file does not cost a zeroed
/// 1 MiB allocation (which dominated small-file transfers on the copy path).
fn send_buf(tuning: &Tuning, len: u64) -> AlignedBuf {
    AlignedBuf::new((chunk(tuning) as u64).min(len.max(1)) as usize)
}

/// Where a copy buffer starts: on a cache line. The kernel copies file pages into it
/// (pread) with `rep movsb`, which on an AMD EPYC development VM cost 3.4x the CPU when
/// the destination sat 16 bytes past a line, as glibc places the large blocks it maps
/// itself: pread of 1 GiB of page-cached data took 0.47-0.49 s of CPU into such a buffer
/// and 0.13-0.15 s into an aligned one, at 64 KiB to 1 MiB per call (session 7). On an
/// Intel Xeon VM the offset made no difference (0.128 s either way, session 8), so the
/// alignment costs nothing where it does not help (BENCHMARKS.md, "Copy buffers on a
/// cache line").
const BUF_ALIGN: usize = 64;

/// A zeroed byte buffer whose first byte is [`BUF_ALIGN`]-aligned (safe code: a slice of
/// a slightly larger `Vec`).
pub(crate) struct AlignedBuf {
    v: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    pub(crate) fn new(len: usize) -> AlignedBuf {
        let v = vec![0u8; len + BUF_ALIGN];
        let start = v.as_ptr().align_offset(BUF_ALIGN).min(BUF_ALIGN);
        AlignedBuf { v, start, len }
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.v[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.v[self.start..self.start + self.len]
    }
}

/// Receive buffers start here and grow (x4) while reads fill them, up to the tuned chunk:
/// the length of an upload is not known in advance. Small, because the buffer is zeroed
/// for every upload and most uploads of a mirror are small files; a large one reaches the
/// tuned chunk within four reads.
const FIRST_RECV_BUF: usize = 16 * 1024;

pub(crate) fn recv_buf(tuning: &Tuning) -> Vec<u8> {
    vec![0u8; FIRST_RECV_BUF.min(chunk(tuning))]
}

pub(crate) fn grow(buf: &mut Vec<u8>, filled: usize, tuning: &Tuning) {
    let max = chunk(tuning);
    if filled == buf.len() && buf.len() < max {
        let next = (buf.len() * 4).min(max);
        buf.resize(next, 0);
    }
}

/// Reads up to `buf.len()` bytes at `offset`, retrying on EINTR.
pub fn pread(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match rustix::io::pread(file, &mut *buf, offset) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes all of `buf` at `offset`.
pub fn pwrite_all(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::pwrite(file, buf, offset) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "file write returned 0",
                ))
            }
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A shared `&TcpStream` as an async reader and writer, through readiness and
/// `try_read`/`try_write`: the sendfile and splice paths hold only a shared reference, and
/// fall back to this copy loop on the same socket. Flush and shutdown do nothing (TCP has
/// no user-space buffer; the caller closes the socket).
struct SockIo<'a>(&'a TcpStream);

impl AsyncRead for SockIo<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SockIo<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Sends `len` bytes of `file` from `offset` through a user-space buffer: the loop of
/// [`file_to_stream`] on the bare socket.
pub async fn file_to_socket(
    file: &File,
    offset: u64,
    len: u64,
    sock: &TcpStream,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    file_to_stream(file, offset, len, &mut SockIo(sock), tuning, progress).await
}

/// Receives until EOF from `sock` into `file` at `offset`: the loop of [`stream_to_file`]
/// on the bare socket.
pub async fn socket_to_file(
    sock: &TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    stream_to_file(&mut SockIo(sock), file, offset, tuning, progress).await
}

/// [`file_to_socket`] on a socket in blocking mode, on a blocking thread
/// ([`crate::thread`]; no rate limit applies there).
pub(crate) fn file_to_socket_blocking(
    file: &File,
    offset: u64,
    len: u64,
    mut sock: &std::net::TcpStream,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut buf = send_buf(tuning, len);
    let mut done = 0u64;
    while done < len {
        let want = buf.len().min((len - done) as usize);
        let n = pread(file, &mut buf[..want], offset + done)?;
        if n == 0 {
            return Err(shrank());
        }
        std::io::Write::write_all(&mut sock, &buf[..n])?;
        done += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(done)
}

/// [`socket_to_file`] on a socket in blocking mode, on a blocking thread.
pub(crate) fn socket_to_file_blocking(
    mut sock: &std::net::TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut buf = recv_buf(tuning);
    let mut done = 0u64;
    loop {
        let n = match std::io::Read::read(&mut sock, &mut buf) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crate::charge(tuning, n as u64)?;
        pwrite_all(file, &buf[..n], offset + done)?;
        done += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
        grow(&mut buf, n, tuning);
    }
}

fn shrank() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank during transfer")
}

/// Sends `len` bytes of `file` from `offset` to any async writer (TLS streams).
/// Does not shut the writer down; the caller does, so it can close TLS properly.
pub async fn file_to_stream<W: AsyncWrite + Unpin>(
    file: &File,
    offset: u64,
    len: u64,
    w: &mut W,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut buf = send_buf(tuning, len);
    let mut done = 0u64;
    while done < len {
        let want = buf.len().min((len - done) as usize);
        let n = pread(file, &mut buf[..want], offset + done)?;
        if n == 0 {
            return Err(shrank());
        }
        pace(tuning, n as u64).await;
        w.write_all(&buf[..n]).await?;
        done += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    w.flush().await?;
    Ok(done)
}

/// Receives until EOF from any async reader into `file` at `offset`.
pub async fn stream_to_file<R: AsyncRead + Unpin>(
    r: &mut R,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    stream_to_file_upto(r, file, offset, tuning, progress, u64::MAX)
        .await
        .map(|(n, _)| n)
}

/// Receives from `sock` into `file` at `offset` until EOF or until at least `limit` bytes
/// arrived; says how many, and whether it was EOF (the head of an upload whose length is
/// unknown, before [`crate::thread`] takes the rest).
pub(crate) async fn socket_to_file_upto(
    sock: &TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
    limit: u64,
) -> io::Result<(u64, bool)> {
    stream_to_file_upto(&mut SockIo(sock), file, offset, tuning, progress, limit).await
}

/// Reads exactly `len` bytes (fewer only at EOF; returns how many) from `r` into `file`
/// at `offset` through `buf`, which the caller keeps across calls (a MODE E block each),
/// charging quotas before each write and pacing as the other loops do.
pub(crate) async fn stream_to_file_exact<R: AsyncRead + Unpin>(
    r: &mut R,
    len: u64,
    file: &File,
    offset: u64,
    buf: &mut Vec<u8>,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    receive(r, file, offset, buf, tuning, progress, len, true)
        .await
        .map(|(n, _)| n)
}

/// [`stream_to_file_exact`] on the bare socket (the splice path's fallback inside a block).
pub(crate) async fn socket_to_file_exact(
    sock: &TcpStream,
    len: u64,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut buf = recv_buf(tuning);
    stream_to_file_exact(
        &mut SockIo(sock),
        len,
        file,
        offset,
        &mut buf,
        tuning,
        progress,
    )
    .await
}

async fn stream_to_file_upto<R: AsyncRead + Unpin>(
    r: &mut R,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
    limit: u64,
) -> io::Result<(u64, bool)> {
    let mut buf = recv_buf(tuning);
    receive(r, file, offset, &mut buf, tuning, progress, limit, false).await
}

/// The receive loop of the functions above: reads from `r` into `file` at `offset` through
/// `buf` until EOF or until `limit` bytes arrived, charging quotas before each write and
/// pacing. `exact` never reads past `limit` (a MODE E block, whose next header follows);
/// otherwise the last read may (the head of an upload). Says how many bytes, and whether
/// it ended at EOF.
#[allow(clippy::too_many_arguments)]
async fn receive<R: AsyncRead + Unpin>(
    r: &mut R,
    file: &File,
    offset: u64,
    buf: &mut Vec<u8>,
    tuning: &Tuning,
    progress: &AtomicU64,
    limit: u64,
    exact: bool,
) -> io::Result<(u64, bool)> {
    let mut done = 0u64;
    while done < limit {
        let room = match exact {
            true => buf
                .len()
                .min((limit - done).min(usize::MAX as u64) as usize),
            false => buf.len(),
        };
        let n = r.read(&mut buf[..room]).await?;
        if n == 0 {
            return Ok((done, true));
        }
        crate::charge(tuning, n as u64)?;
        pwrite_all(file, &buf[..n], offset + done)?;
        done += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
        pace(tuning, n as u64).await;
        grow(buf, n, tuning);
    }
    Ok((done, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_start_on_a_line_and_have_their_length() {
        for len in [1, 4096, 1 << 20] {
            let mut b = AlignedBuf::new(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % BUF_ALIGN, 0);
            assert!(b.iter().all(|&x| x == 0));
            b[len - 1] = 7;
            assert_eq!(b[len - 1], 7);
        }
    }
}
