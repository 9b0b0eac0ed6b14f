//! Socket -> pipe -> file with splice(2): received bytes never enter user space.
//!
//! Each round moves what the socket has (up to the pipe's size and the rate-limit chunk)
//! into a pipe with `SPLICE_F_MOVE | SPLICE_F_NONBLOCK`, readiness coming from tokio's
//! reactor, then empties the pipe into the file at an explicit offset. The file side is a
//! plain blocking call, like `pwrite` in the copy loop: for page-cached writes it costs
//! less than a hop to a blocking thread.
//!
//! Pipes are enlarged with `F_SETPIPE_SZ` toward [`Tuning::buf_size`] and kept in a small
//! global pool: creating and growing a 1 MiB pipe per transfer costs two syscalls and a
//! 1 MiB ring allocation. A pipe goes back to the pool only when empty; one left holding
//! bytes (a cancelled or failed transfer) is closed instead.

use crate::Tuning;
use rustix::io::Errno;
use rustix::pipe::SpliceFlags;
use std::cell::Cell;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Pipes kept for reuse; more concurrent transfers simply create more.
const POOL_MAX: usize = 16;

/// The smallest pipe we ask for: the kernel default (16 pages).
const MIN_PIPE: usize = 64 * 1024;

/// A pipe and its capacity in bytes.
#[derive(Debug)]
struct Pipe {
    r: OwnedFd,
    w: OwnedFd,
    cap: usize,
}

static POOL: Mutex<Vec<Pipe>> = Mutex::new(Vec::new());

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let cap = rustix::pipe::fcntl_getpipe_size(&w)?;
        Ok(Pipe { r, w, cap })
    }

    /// Grows the pipe toward `want` bytes. Unprivileged processes are capped by
    /// `/proc/sys/fs/pipe-max-size` (EPERM) and per-user limits, so this halves the request
    /// until the kernel agrees, and otherwise keeps what the pipe has.
    fn grow(&mut self, want: usize) {
        let mut want = want.max(MIN_PIPE);
        while want > self.cap {
            match rustix::pipe::fcntl_setpipe_size(&self.w, want) {
                Ok(cap) => {
                    self.cap = cap;
                    return;
                }
                Err(_) => want /= 2,
            }
        }
    }
}

/// A pipe borrowed from the pool for one transfer; `held` counts bytes sitting in it.
struct Lease {
    pipe: Option<Pipe>,
    held: Cell<usize>,
}

impl Lease {
    fn take(want: usize) -> io::Result<Lease> {
        let pooled = POOL.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut pipe = match pooled {
            Some(p) => p,
            None => Pipe::new()?,
        };
        pipe.grow(want);
        Ok(Lease {
            pipe: Some(pipe),
            held: Cell::new(0),
        })
    }

    fn pipe(&self) -> io::Result<&Pipe> {
        // Invariant: `pipe` is Some from `take` until `drop`.
        self.pipe
            .as_ref()
            .ok_or_else(|| io::Error::other("pipe lease already returned"))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(p) = self.pipe.take() {
            if self.held.get() == 0 {
                let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
                if pool.len() < POOL_MAX {
                    pool.push(p);
                }
            }
        }
    }
}

/// Receives until EOF with splice(2).
///
/// Returns an error for which [`is_unsupported`] holds only if no byte was taken from the
/// socket, so the caller can fall back to the copy loop from `offset`. Files opened with
/// `O_APPEND` cannot take a positioned splice and get `ErrorKind::Unsupported` up front.
pub async fn recv(
    sock: &TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    recv_upto(sock, file, offset, u64::MAX, tuning, progress).await
}

/// What a bounded receive asks the socket to hold before it wakes the task
/// (`SO_RCVLOWAT`, never more than the block has left), at most. On a long fat network a
/// window-bound stream brings a few packets at a time, and a wake-up per packet (readiness,
/// two splices, a task hop) was most of the client's CPU with eight streams (BENCHMARKS.md,
/// HPC run 7). 32 KiB stays below what Linux would raise the receive buffer (and clamp
/// the window) for, which a low-water mark near the default 128 KiB buffer would do.
pub const LOWAT: usize = 32 * 1024;

/// Bytes held back by the low-water mark shrink the advertised window while they wait,
/// so it is at most this fraction of the receive buffer: with 256 KiB buffers a 32 KiB
/// mark cost a window-bound stream ~10 % of its rate (HPC run 7), 1/32 costs ~2 %.
const LOWAT_SHARE: usize = 32;

/// The low-water mark for `sock`: [`LOWAT`], or less on a small receive buffer.
fn lowat_for(sock: &TcpStream) -> usize {
    match rustix::net::sockopt::socket_recv_buffer_size(sock) {
        Ok(buf) => (buf / LOWAT_SHARE).clamp(1, LOWAT),
        Err(_) => 1,
    }
}

/// The socket's `SO_RCVLOWAT` while a bounded receive runs, back to 1 when it ends (the
/// next MODE E header is 17 bytes, and a cached stream must wake for any byte).
struct Lowat<'a> {
    sock: &'a TcpStream,
    now: usize,
}

impl Lowat<'_> {
    fn set(&mut self, n: usize) {
        let n = n.max(1);
        if n != self.now {
            // Best effort: without it the receive only wakes more often.
            if let Err(e) = set_rcvlowat(self.sock.as_fd(), n) {
                tracing::debug!(error = %e, "SO_RCVLOWAT");
            }
            self.now = n;
        }
    }
}

impl Drop for Lowat<'_> {
    fn drop(&mut self) {
        self.set(1);
    }
}

#[allow(unsafe_code)]
fn set_rcvlowat(fd: std::os::fd::BorrowedFd<'_>, n: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let v = n.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: `v` is a valid c_int that lives for the call and the length given is its
    // size; the kernel only reads it. `fd` is a borrowed, open descriptor.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            std::ptr::from_ref(&v).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// [`recv`] of at most `limit` bytes: returns once `limit` bytes are in the file, or at
/// EOF with fewer (a MODE E block, whose length its header gave: no byte past it leaves
/// the socket, since the next header follows). The task wakes only once [`LOWAT`] bytes
/// (or the rest of the block) are queued.
pub async fn recv_upto(
    sock: &TcpStream,
    file: &File,
    offset: u64,
    limit: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    refuse_append(file)?;
    let chunk = crate::sendfile::chunk_size(tuning);
    let lease = Lease::take(chunk)?;
    let mut done = 0u64;
    // Only a bounded receive: an unbounded one (MODE S) is a stream task's whole job.
    let mut lowat = (limit != u64::MAX).then(|| (Lowat { sock, now: 1 }, lowat_for(sock)));
    while done < limit {
        let pipe = lease.pipe()?;
        let left = (limit - done).min(usize::MAX as u64) as usize;
        if let Some((l, most)) = lowat.as_mut() {
            // The block's bytes are on their way, so waiting for up to `left` cannot stall.
            l.set(left.min(*most));
        }
        let want = chunk.min(pipe.cap).min(left);
        let n = match splice_in(sock, &pipe.w, want).await {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(e) if done > 0 && is_unsupported(&e) => {
                crate::probe::mark_splice_broken(&e);
                return finish_with_copy(sock, file, (offset, done, limit), tuning, progress).await;
            }
            Err(e) => return Err(e),
        };
        lease.held.set(n);
        // Top the pipe up with what else the socket already has, so the file side sees
        // fewer, larger splices. Stops at EAGAIN without touching tokio's readiness (a
        // non-empty pipe can also say EAGAIN); EOF and errors wait until the pipe is empty.
        let (n, after) = top_up(sock, &pipe.w, n, want);
        lease.held.set(n);
        crate::charge(tuning, n as u64)?;
        match drain_to_file(&pipe.r, file, offset + done, n) {
            Ok(()) => lease.held.set(0),
            Err((moved, e)) if is_unsupported(&e) => {
                rescue(&lease, file, offset + done, moved, &e)?;
                done += n as u64;
                progress.fetch_add(n as u64, Ordering::Relaxed);
                return finish_with_copy(sock, file, (offset, done, limit), tuning, progress).await;
            }
            Err((_, e)) => return Err(e),
        }
        done += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
        for l in &tuning.limits {
            l.acquire(n as u64).await;
        }
        match after {
            TopUp::More => {}
            TopUp::Eof => return Ok(done),
            TopUp::Failed(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The file system cannot take spliced pages, after `moved` of the bytes the pipe held
/// reached the file at `at`: the rest are already out of the socket, so they are written
/// from user space, and the caller carries on with the copy loop.
fn rescue(lease: &Lease, file: &File, at: u64, moved: usize, e: &io::Error) -> io::Result<()> {
    crate::probe::mark_splice_broken(e);
    let mut buf = vec![0u8; lease.held.get() - moved];
    read_exact_pipe(&lease.pipe()?.r, &mut buf)?;
    lease.held.set(0);
    crate::copy::pwrite_all(file, &buf, at + moved as u64)
}

/// [`recv`] on a socket in blocking mode, on a blocking thread ([`crate::thread`]; no rate
/// limit applies there): each blocking splice(2) returns what the socket has (up to the
/// pipe's size), which then goes to the file. The same contract as [`recv`].
pub(crate) fn recv_blocking(
    sock: &std::net::TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    refuse_append(file)?;
    let chunk = crate::sendfile::chunk_size(tuning);
    let lease = Lease::take(chunk)?;
    let mut done = 0u64;
    loop {
        let pipe = lease.pipe()?;
        let want = chunk.min(pipe.cap);
        // No SPLICE_F_NONBLOCK: the socket's own blocking mode decides, and the pipe is
        // empty, so only the socket can make this wait.
        let n = match rustix::pipe::splice(sock, None, &pipe.w, None, want, SpliceFlags::MOVE) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => {
                let e = io::Error::from(e);
                if done > 0 && is_unsupported(&e) {
                    crate::probe::mark_splice_broken(&e);
                    let at = offset + done;
                    let rest =
                        crate::copy::socket_to_file_blocking(sock, file, at, tuning, progress)?;
                    return Ok(done + rest);
                }
                return Err(e);
            }
        };
        lease.held.set(n);
        crate::charge(tuning, n as u64)?;
        match drain_to_file(&pipe.r, file, offset + done, n) {
            Ok(()) => lease.held.set(0),
            Err((moved, e)) if is_unsupported(&e) => {
                rescue(&lease, file, offset + done, moved, &e)?;
                done += n as u64;
                progress.fetch_add(n as u64, Ordering::Relaxed);
                let at = offset + done;
                let rest = crate::copy::socket_to_file_blocking(sock, file, at, tuning, progress)?;
                return Ok(done + rest);
            }
            Err((_, e)) => return Err(e),
        }
        done += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Files opened with `O_APPEND` cannot take a positioned splice: `Unsupported` up front.
fn refuse_append(file: &File) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(file)?;
    if flags.contains(rustix::fs::OFlags::APPEND) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "splice cannot write at an offset to an O_APPEND file",
        ));
    }
    Ok(())
}

/// What ended a [`top_up`].
enum TopUp {
    /// The pipe is full or the socket has nothing more right now.
    More,
    /// The peer closed the connection.
    Eof,
    /// The socket failed (reported once the bytes already in the pipe are written).
    Failed(io::Error),
}

/// Adds up to `want - n` more bytes from the socket to a pipe holding `n`; returns the new
/// total held and why it stopped.
fn top_up(sock: &TcpStream, w: &OwnedFd, mut n: usize, want: usize) -> (usize, TopUp) {
    while n < want {
        match rustix::pipe::splice(
            sock.as_fd(),
            None,
            w,
            None,
            want - n,
            SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
        ) {
            Ok(0) => return (n, TopUp::Eof),
            Ok(m) => n += m,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => break,
            Err(e) => return (n, TopUp::Failed(e.into())),
        }
    }
    (n, TopUp::More)
}

/// The copy loop takes over after `done` bytes went by splice: until EOF, or until
/// `limit` (a bounded receive) without reading past it.
async fn finish_with_copy(
    sock: &TcpStream,
    file: &File,
    (offset, done, limit): (u64, u64, u64),
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let at = offset + done;
    let rest = if limit == u64::MAX {
        crate::copy::socket_to_file(sock, file, at, tuning, progress).await?
    } else {
        crate::copy::socket_to_file_exact(sock, limit - done, file, at, tuning, progress).await?
    };
    Ok(done + rest)
}

/// One splice(2) of at most `len` bytes from the socket into the (empty) pipe.
async fn splice_in(sock: &TcpStream, w: &OwnedFd, len: usize) -> io::Result<usize> {
    loop {
        sock.readable().await?;
        // The pipe is empty here (every round drains it), so EAGAIN can only come from the
        // socket, and try_io may clear the socket's read readiness on it.
        let r = sock.try_io(Interest::READABLE, || loop {
            match rustix::pipe::splice(
                sock.as_fd(),
                None,
                w,
                None,
                len,
                SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
            ) {
                Err(Errno::INTR) => continue,
                r => return r.map_err(io::Error::from),
            }
        });
        match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// Moves exactly `n` bytes from the pipe into `file` at `offset`. On failure, also says how
/// many bytes had already reached the file.
fn drain_to_file(
    r: &OwnedFd,
    file: &File,
    offset: u64,
    n: usize,
) -> Result<(), (usize, io::Error)> {
    let mut moved = 0;
    while moved < n {
        let mut off = offset + moved as u64;
        match rustix::pipe::splice(r, None, file, Some(&mut off), n - moved, SpliceFlags::MOVE) {
            Ok(0) => {
                return Err((
                    moved,
                    io::Error::new(io::ErrorKind::WriteZero, "splice to file wrote 0"),
                ))
            }
            Ok(m) => moved += m,
            Err(Errno::INTR) => {}
            Err(e) => return Err((moved, e.into())),
        }
    }
    Ok(())
}

fn read_exact_pipe(r: &OwnedFd, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::read(r, &mut *buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether an error means "splice cannot do this here".
pub fn is_unsupported(e: &io::Error) -> bool {
    crate::sendfile::is_unsupported(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_empty_pipes_only() {
        let a = Lease::take(1 << 20).unwrap();
        assert!(a.pipe().unwrap().cap >= MIN_PIPE);
        let b = Lease::take(1 << 20).unwrap();
        b.held.set(5);
        drop(a);
        let before = POOL.lock().unwrap().len();
        drop(b);
        assert_eq!(
            POOL.lock().unwrap().len(),
            before,
            "a dirty pipe is not pooled"
        );
    }

    /// A bounded receive (a MODE E block) takes exactly its bytes, however the socket has
    /// them queued, and leaves what follows (the next header) in the socket.
    #[tokio::test]
    async fn recv_upto_stops_at_the_limit() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut tx = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut rx, _) = l.accept().await.unwrap();
        let data: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i * 13 % 251) as u8).collect();
        let limit = (2 << 20) + 5;
        let sent = data.clone();
        let send = tokio::spawn(async move {
            tx.write_all(&sent).await.unwrap();
            tx.write_all(b"tail").await.unwrap();
            tx.shutdown().await.unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let file = File::create(dir.path().join("f")).unwrap();
        let p = AtomicU64::new(0);
        let t = Tuning::default();
        let n = recv_upto(&rx, &file, 7, limit, &t, &p).await.unwrap();
        assert_eq!(n, limit);
        let got = std::fs::read(dir.path().join("f")).unwrap();
        assert_eq!(&got[7..], &data[..limit as usize]);
        let mut rest = Vec::new();
        rx.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest.len(), data.len() - limit as usize + 4);
        assert!(rest.ends_with(b"tail"));
        send.await.unwrap();
    }
}
