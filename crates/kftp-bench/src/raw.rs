//! Raw, blocking loops that measure this machine's data-path ceiling over loopback.
//!
//! `kftp-bench` (and `examples/ceiling.rs`) call [`measure`] to learn what the kernel can
//! do with no FTP, no tokio and no bookkeeping in the way, so the crate's own paths
//! ([`kftp_datapath::file_to_socket`], [`kftp_datapath::socket_to_file`]) can be judged against it.
//!
//! Every measurement builds a fresh loopback TCP connection (`127.0.0.1:0`):
//!
//! - **Download kinds** (`*Down`): the measuring thread moves `bytes` bytes from the file
//!   into the socket; a sink thread reads and discards them (1 MiB `read`). When `bytes`
//!   exceeds the file's length the file is sent again from its start, so a page-cached
//!   file of any size works.
//! - **Upload kinds** (`*Up`): a source thread writes `bytes` bytes from memory into the
//!   socket; the measuring thread receives them into the file, overwriting it in place from
//!   offset 0 and wrapping at its current length (at least 1 MiB: an empty or short file
//!   is extended), so repeated runs write into the page cache and not to fresh blocks.
//!
//! [`RawResult::cpu_secs`] is the CPU time (user + system) of the *measuring* thread only:
//! the sender for downloads, the receiver for uploads. It is read from
//! `CLOCK_THREAD_CPUTIME_ID`, the same per-thread accounting as `getrusage(RUSAGE_THREAD)`
//! but with nanosecond resolution. Note that on loopback the receive-side TCP processing
//! (softirq) mostly runs on the sending thread and is charged to it.
//!
//! Nothing here is async; run it on a blocking thread (`tokio::task::spawn_blocking`).

use rustix::pipe::SpliceFlags;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::str::FromStr;
use std::thread;
use std::time::Instant;

/// Buffer size of the read/write loops, the sink and the source.
pub const RAW_BUF: usize = 1 << 20;

/// Which raw loop to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RawKind {
    /// file -> socket with sendfile(2), as much as the socket takes per call.
    SendfileDown,
    /// sendfile(2) with TCP_CORK set for the whole transfer (what proftpd does).
    SendfileCorkDown,
    /// pread(2) into a 1 MiB buffer, write(2) to the socket.
    ReadWriteDown,
    /// file -> pipe -> socket with splice(2) (1 MiB pipe).
    SpliceDown,
    /// socket -> file: read(2) into a 1 MiB buffer, pwrite(2) to the file.
    ReadWriteUp,
    /// socket -> pipe -> file with splice(2) (1 MiB pipe).
    SpliceUp,
}

impl RawKind {
    /// Every kind, downloads first.
    pub const ALL: [RawKind; 6] = [
        RawKind::SendfileDown,
        RawKind::SendfileCorkDown,
        RawKind::ReadWriteDown,
        RawKind::SpliceDown,
        RawKind::ReadWriteUp,
        RawKind::SpliceUp,
    ];

    /// Short name, as accepted by `FromStr`.
    pub fn name(self) -> &'static str {
        match self {
            RawKind::SendfileDown => "sendfile",
            RawKind::SendfileCorkDown => "sendfile-cork",
            RawKind::ReadWriteDown => "readwrite-down",
            RawKind::SpliceDown => "splice-down",
            RawKind::ReadWriteUp => "readwrite-up",
            RawKind::SpliceUp => "splice-up",
        }
    }

    /// Whether this kind moves bytes from the file to the socket.
    pub fn is_download(self) -> bool {
        matches!(
            self,
            RawKind::SendfileDown
                | RawKind::SendfileCorkDown
                | RawKind::ReadWriteDown
                | RawKind::SpliceDown
        )
    }
}

impl fmt::Display for RawKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RawKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RawKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown raw loop '{s}'"))
    }
}

/// What one raw loop achieved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawResult {
    /// The loop measured.
    pub kind: RawKind,
    /// Bytes moved.
    pub bytes: u64,
    /// Wall-clock seconds from the first byte sent to the last byte received.
    pub wall_secs: f64,
    /// CPU seconds (user + system) of the measuring thread.
    pub cpu_secs: f64,
}

impl RawResult {
    /// Throughput in GB/s (10^9 bytes per second).
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 / self.wall_secs.max(1e-9) / 1e9
    }
    /// CPU seconds of the measuring thread per GiB moved.
    pub fn cpu_per_gib(&self) -> f64 {
        self.cpu_secs / (self.bytes as f64 / (1u64 << 30) as f64).max(1e-12)
    }
}

/// CPU time of the calling thread, in seconds.
pub fn thread_cpu_secs() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Runs one raw loop moving `bytes` bytes between `file` and a loopback socket.
///
/// For downloads `file` must exist and be non-empty (it is read, ideally page-cached); for
/// uploads it is created if missing and overwritten in place (see the module docs).
pub fn measure(kind: RawKind, file: &Path, bytes: u64) -> io::Result<RawResult> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let tx = TcpStream::connect(listener.local_addr()?)?;
    let (rx, _) = listener.accept()?;
    if kind.is_download() {
        let f = File::open(file)?;
        let flen = f.metadata()?.len();
        if flen == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "raw download needs a non-empty file",
            ));
        }
        let sink = thread::spawn(move || sink(rx));
        let start = Instant::now();
        let cpu0 = thread_cpu_secs();
        let sent = match kind {
            RawKind::SendfileDown => sendfile_loop(&f, flen, &tx, bytes, false),
            RawKind::SendfileCorkDown => sendfile_loop(&f, flen, &tx, bytes, true),
            RawKind::ReadWriteDown => readwrite_down(&f, flen, &tx, bytes),
            _ => splice_down(&f, flen, &tx, bytes),
        };
        let cpu = thread_cpu_secs() - cpu0;
        // Closing the socket lets the sink see EOF even if the loop failed.
        let _ = tx.shutdown(Shutdown::Write);
        let received = sink
            .join()
            .map_err(|_| io::Error::other("sink thread panicked"))??;
        let wall = start.elapsed().as_secs_f64();
        let sent = sent?;
        if received != sent {
            return Err(io::Error::other(format!(
                "sink got {received} bytes of {sent}"
            )));
        }
        Ok(RawResult {
            kind,
            bytes: sent,
            wall_secs: wall,
            cpu_secs: cpu,
        })
    } else {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(file)?;
        let mut flen = f.metadata()?.len();
        if flen < RAW_BUF as u64 {
            f.set_len(RAW_BUF as u64)?;
            flen = RAW_BUF as u64;
        }
        drop(listener);
        let start = Instant::now();
        let source = thread::spawn(move || source(tx, bytes));
        let cpu0 = thread_cpu_secs();
        let got = match kind {
            RawKind::ReadWriteUp => readwrite_up(&rx, &f, flen),
            _ => splice_up(&rx, &f, flen),
        };
        let cpu = thread_cpu_secs() - cpu0;
        let wall = start.elapsed().as_secs_f64();
        drop(rx);
        source
            .join()
            .map_err(|_| io::Error::other("source thread panicked"))??;
        let got = got?;
        if got != bytes {
            return Err(io::Error::other(format!("received {got} bytes of {bytes}")));
        }
        Ok(RawResult {
            kind,
            bytes: got,
            wall_secs: wall,
            cpu_secs: cpu,
        })
    }
}

fn sink(mut s: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; RAW_BUF];
    let mut total = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn source(mut s: TcpStream, bytes: u64) -> io::Result<()> {
    let buf: Vec<u8> = (0..RAW_BUF).map(|i| (i * 7 + 3) as u8).collect();
    let mut left = bytes;
    while left > 0 {
        let n = buf.len().min(left as usize);
        s.write_all(&buf[..n])?;
        left -= n as u64;
    }
    s.shutdown(Shutdown::Write)
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "file shrank during measurement",
    )
}

fn sendfile_loop(f: &File, flen: u64, s: &TcpStream, bytes: u64, cork: bool) -> io::Result<u64> {
    if cork {
        rustix::net::sockopt::set_tcp_cork(s, true)?;
    }
    let mut done = 0u64;
    while done < bytes {
        let mut off = done % flen;
        let want = (bytes - done).min(flen - off).min(1 << 30) as usize;
        match rustix::fs::sendfile(s, f, Some(&mut off), want) {
            Ok(0) => return Err(eof()),
            Ok(n) => done += n as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if cork {
        rustix::net::sockopt::set_tcp_cork(s, false)?;
    }
    Ok(done)
}

fn readwrite_down(f: &File, flen: u64, mut s: &TcpStream, bytes: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; RAW_BUF];
    let mut done = 0u64;
    while done < bytes {
        let off = done % flen;
        let want = (bytes - done).min(flen - off).min(RAW_BUF as u64) as usize;
        let n = kftp_datapath::copy::pread(f, &mut buf[..want], off)?;
        if n == 0 {
            return Err(eof());
        }
        s.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(done)
}

fn pipe_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // Best effort: an unprivileged process may be capped below 1 MiB by pipe-max-size.
    let _ = rustix::pipe::fcntl_setpipe_size(&w, RAW_BUF);
    Ok((r, w))
}

/// Moves exactly `n` bytes already in the pipe `r` to `out` (at `off` if given).
fn drain_pipe(
    r: &OwnedFd,
    out: impl AsFd,
    mut off: Option<&mut u64>,
    mut n: usize,
) -> io::Result<()> {
    while n > 0 {
        match rustix::pipe::splice(r, None, &out, off.as_deref_mut(), n, SpliceFlags::MOVE) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "splice wrote 0")),
            Ok(m) => n -= m,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn splice_down(f: &File, flen: u64, s: &TcpStream, bytes: u64) -> io::Result<u64> {
    let (r, w) = pipe_pair()?;
    let cap = rustix::pipe::fcntl_getpipe_size(&w)?;
    let mut done = 0u64;
    while done < bytes {
        let mut off = done % flen;
        let want = (bytes - done).min(flen - off).min(cap as u64) as usize;
        let n = match rustix::pipe::splice(f, Some(&mut off), &w, None, want, SpliceFlags::MOVE) {
            Ok(0) => return Err(eof()),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        drain_pipe(&r, s, None, n)?;
        done += n as u64;
    }
    Ok(done)
}

fn readwrite_up(mut s: &TcpStream, f: &File, flen: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; RAW_BUF];
    let mut done = 0u64;
    loop {
        let off = done % flen;
        let want = (flen - off).min(RAW_BUF as u64) as usize;
        let n = match s.read(&mut buf[..want]) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        kftp_datapath::copy::pwrite_all(f, &buf[..n], off)?;
        done += n as u64;
    }
}

fn splice_up(s: &TcpStream, f: &File, flen: u64) -> io::Result<u64> {
    let (r, w) = pipe_pair()?;
    let cap = rustix::pipe::fcntl_getpipe_size(&w)?;
    let mut done = 0u64;
    loop {
        let off = done % flen;
        let want = (flen - off).min(cap as u64) as usize;
        let n = match rustix::pipe::splice(s, None, &w, None, want, SpliceFlags::MOVE) {
            Ok(0) => return Ok(done),
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut o = off;
        drain_pipe(&r, f, Some(&mut o), n)?;
        done += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_moves_every_byte() {
        let dir = std::env::temp_dir().join(format!("kftp-raw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("src");
        std::fs::write(&src, vec![7u8; 3 << 20]).unwrap();
        for kind in RawKind::ALL {
            let path = if kind.is_download() {
                src.clone()
            } else {
                dir.join("dst")
            };
            // 7 MiB + 5 wraps the 3 MiB file and ends off a page boundary.
            let r = measure(kind, &path, (7 << 20) + 5).unwrap();
            assert_eq!(r.bytes, (7 << 20) + 5, "{kind}");
            assert!(r.wall_secs > 0.0 && r.cpu_secs >= 0.0);
            assert_eq!(kind.name().parse::<RawKind>().unwrap(), kind);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
