//! The kftp data path: how file bytes move between a file and a data connection.
//!
//! # Layout
//! - [`sendfile`]: file -> socket with sendfile(2) (RETR on the server, put on the client).
//! - [`splice`]: socket -> pipe -> file with splice(2) (STOR, get).
//! - [`copy`]: the user-space loop with a large buffer: the baseline and the path for
//!   anything that is not a plain TCP socket (user-space TLS). On the development VM it
//!   is slower than sendfile/splice and costs about twice the CPU (crates/kftp-datapath/MEASUREMENTS.md).
//!   One loop per direction: the bare-socket forms run the stream loop over the socket.
//! - [`modee`]: MODE E (GridFTP extended block mode): blocks over several streams, both
//!   directions, for the server and the client.
//! - [`ascii`]: TYPE A line-ending conversion, streaming.
//! - [`digest`]: the HASH/X* digests of a file range, for the server and the client.
//! - [`rate`]: token-bucket bandwidth limits, paced in chunks so zero-copy survives.
//! - [`ktls`]: handing rustls session keys to the kernel (TCP_ULP "tls").
//! - [`ktls_stream`]: [`ktls_stream::KtlsStream`], a socket whose TX the kernel encrypts
//!   (MODE S and MODE E sends under TLS), and its clean close.
//! - [`probe`]: run-time detection of what the kernel offers, cached.
//! - [`chooser`]: what `--data-path auto` picks, per direction, from measured throughput.
//! - [`thread`]: large plain transfers on a blocking thread with a blocking socket (the
//!   `*_owned` entry points below), as vsftpd does: no `EAGAIN`, epoll or wake-ups per chunk.
//!
//! This is the only crate with `unsafe` code, and only at the syscall boundary; every
//! block carries a `// SAFETY:` comment.

pub mod ascii;
pub mod chooser;
pub mod copy;
pub mod digest;
pub mod ktls;
pub mod ktls_stream;
pub mod modee;
pub mod probe;
pub mod rate;
pub mod sendfile;
pub mod splice;
pub mod thread;

use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;

use chooser::Direction;

pub use rate::RateLimiter;

/// Which way file bytes should move, as configured (`--data-path`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PathChoice {
    /// sendfile/splice, falling back to the copy loop where they cannot apply.
    Kernel,
    /// Always the user-space copy loop.
    Copy,
    /// Whichever of the two measures faster here, per direction ([`chooser`]).
    #[default]
    Auto,
}

impl FromStr for PathChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "kernel" => Ok(PathChoice::Kernel),
            "copy" => Ok(PathChoice::Copy),
            "auto" => Ok(PathChoice::Auto),
            _ => Err(format!(
                "unknown data path '{s}' (expected kernel, copy or auto)"
            )),
        }
    }
}

impl fmt::Display for PathChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathChoice::Kernel => "kernel",
            PathChoice::Copy => "copy",
            PathChoice::Auto => "auto",
        })
    }
}

/// Which path a transfer actually took: logged per transfer and counted in metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathUsed {
    /// sendfile(2) on a plain TCP socket.
    Sendfile,
    /// splice(2) through a pipe.
    Splice,
    /// The user-space copy loop on a plain socket.
    Copy,
    /// TYPE A conversion in user space.
    Ascii,
    /// sendfile(2) on a kTLS socket: the kernel encrypts.
    KtlsSendfile,
    /// splice(2) from a kTLS socket: the kernel decrypts.
    KtlsSplice,
    /// rustls in user space with the copy loop.
    TlsCopy,
    /// Streamed to or from an object store (ranged GETs, multipart upload).
    ObjectStream,
}

impl PathUsed {
    /// Short name for logs, STAT and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            PathUsed::Sendfile => "sendfile",
            PathUsed::Splice => "splice",
            PathUsed::Copy => "copy",
            PathUsed::Ascii => "ascii",
            PathUsed::KtlsSendfile => "ktls-sendfile",
            PathUsed::KtlsSplice => "ktls-splice",
            PathUsed::TlsCopy => "tls-copy",
            PathUsed::ObjectStream => "object-stream",
        }
    }

    /// Whether the bytes stayed in the kernel.
    pub fn is_zero_copy(self) -> bool {
        matches!(
            self,
            PathUsed::Sendfile | PathUsed::Splice | PathUsed::KtlsSendfile | PathUsed::KtlsSplice
        )
    }
}

/// Knobs for one transfer.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Kernel, copy or auto.
    pub choice: PathChoice,
    /// Buffer size of the copy loop (and pipe size for splice), bytes.
    pub buf_size: usize,
    /// Bandwidth limits that apply (session, user, global); all are honoured.
    pub limits: Vec<Arc<RateLimiter>>,
    /// Byte ceilings (quotas) that receive loops charge before writing each chunk.
    pub budgets: Vec<Arc<Budget>>,
}

/// A byte ceiling shared by transfers (a disk or daily quota). Receive loops
/// [`charge`] each chunk before writing it: a chunk that would cross the ceiling is not
/// written and the transfer ends with [`QuotaExceeded`]. Nothing past the ceiling reaches
/// the file; concurrent transfers charging one budget cannot together cross it.
#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    limit: AtomicU64,
    what: &'static str,
}

impl Budget {
    /// A budget with `used` bytes spent out of `limit` (`u64::MAX`: none).
    pub fn new(used: u64, limit: u64, what: &'static str) -> Budget {
        Budget {
            used: AtomicU64::new(used),
            limit: AtomicU64::new(limit),
            what,
        }
    }

    /// Spends `n` bytes, or spends nothing and fails if that would cross the limit.
    pub fn try_spend(&self, n: u64) -> Result<(), QuotaExceeded> {
        let limit = self.limit.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= limit)
            })
            .map(|_| ())
            .map_err(|_| QuotaExceeded {
                what: self.what,
                limit,
            })
    }

    /// Adds `n` bytes whatever the limit (a download reserved in advance, a rescan).
    pub fn add(&self, n: u64) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    /// Gives `n` bytes back (a file deleted, an upload discarded).
    pub fn refund(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            });
    }

    /// Bytes spent.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Replaces the count (after a rescan).
    pub fn set_used(&self, n: u64) {
        self.used.store(n, Ordering::Release);
    }

    /// The ceiling (`u64::MAX`: none).
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Acquire)
    }

    /// Replaces the ceiling (the users file was reloaded).
    pub fn set_limit(&self, n: u64) {
        self.limit.store(n, Ordering::Release);
    }

    /// Bytes left before the ceiling.
    pub fn remaining(&self) -> u64 {
        self.limit().saturating_sub(self.used())
    }
}

/// The error a receive loop ends with when a [`Budget`] is exhausted (inside an
/// `io::Error` of kind `Other`; find it with `get_ref().downcast_ref()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// Which budget ("disk quota", "daily upload quota").
    pub what: &'static str,
    /// Its ceiling in bytes.
    pub limit: u64,
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} bytes exceeded", self.what, self.limit)
    }
}

impl std::error::Error for QuotaExceeded {}

/// Charges `n` bytes to every budget of `tuning`, all or none.
pub fn charge(tuning: &Tuning, n: u64) -> io::Result<()> {
    for (i, b) in tuning.budgets.iter().enumerate() {
        if let Err(e) = b.try_spend(n) {
            for done in &tuning.budgets[..i] {
                done.refund(n);
            }
            return Err(io::Error::other(e));
        }
    }
    Ok(())
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            choice: PathChoice::Auto,
            buf_size: 1 << 20,
            limits: Vec::new(),
            budgets: Vec::new(),
        }
    }
}

/// What a finished transfer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes moved.
    pub bytes: u64,
    /// The path taken.
    pub path: PathUsed,
}

/// Sends exactly `len` bytes of `file` from `offset` to `sock` (RETR, client put).
///
/// A file that shrinks under the transfer ends it with `UnexpectedEof` rather than a hang.
/// `progress` counts bytes sent so far (for STAT). Cancelling the future (ABOR) is safe.
pub async fn file_to_socket(
    file: &File,
    offset: u64,
    len: u64,
    sock: &TcpStream,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    let (kernel, ticket) = resolve(tuning, Direction::Send, Some(len), sock);
    let started = Instant::now();
    let out = send_on(kernel, file, offset, len, sock, tuning, progress).await?;
    if let Some(mut t) = ticket {
        t.record(out.path == PathUsed::Sendfile, out.bytes, started.elapsed());
    }
    Ok(out)
}

/// The path for one transfer (`true`: kernel), and the ticket `auto` learns from it with,
/// held while it runs: none when pinned, rate-limited, or on a kernel-TLS socket.
fn resolve(
    tuning: &Tuning,
    dir: Direction,
    len: Option<u64>,
    sock: &TcpStream,
) -> (bool, Option<chooser::Ticket>) {
    match tuning.choice {
        PathChoice::Kernel => (true, None),
        PathChoice::Copy => (false, None),
        PathChoice::Auto => match probe::auto_override() {
            Some(kernel) => (kernel, None),
            None if ktls::has_ulp(sock.as_fd()) => (true, None),
            // Too small to measure: the path decided for transfers alone, no ticket.
            None if len.is_some_and(|n| n < chooser::MIN_SAMPLE_BYTES) => {
                (chooser::settled(dir), None)
            }
            None => {
                let ticket = chooser::Ticket::begin(dir);
                let kernel = ticket.pick();
                (kernel, tuning.limits.is_empty().then_some(ticket))
            }
        },
    }
}

async fn send_on(
    kernel: bool,
    file: &File,
    offset: u64,
    len: u64,
    sock: &TcpStream,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    if kernel && probe::sendfile_works() {
        if let Some(r) =
            after_sendfile(sendfile::send(file, offset, len, sock, tuning, progress).await)
        {
            return r;
        }
    }
    let bytes = copy::file_to_socket(file, offset, len, sock, tuning, progress).await?;
    Ok(Outcome {
        bytes,
        path: PathUsed::Copy,
    })
}

/// [`file_to_socket`] for a caller that can lend the socket itself: a large transfer
/// without a rate limit runs on a blocking thread ([`thread`]), and the socket comes back
/// for the caller to close.
pub async fn file_to_owned_socket(
    file: &File,
    offset: u64,
    len: u64,
    sock: TcpStream,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<(Outcome, TcpStream)> {
    if !thread::applies(tuning, Some(len)) {
        let out = file_to_socket(file, offset, len, &sock, tuning, progress).await?;
        return Ok((out, sock));
    }
    let (kernel, ticket) = resolve(tuning, Direction::Send, Some(len), &sock);
    // `auto` learning: the plan may probe the unsettled path on a slice (chooser.rs).
    let plan = match &ticket {
        Some(t) => t.plan(len),
        None => chooser::Plan {
            first: kernel,
            slice: len,
            rest: kernel,
        },
    };
    if plan.slice < len {
        tracing::debug!(
            probed = if plan.first { "sendfile" } else { "copy" },
            slice = plan.slice,
            "data-path auto: probing on the first bytes of this send"
        );
    }
    let (file, t) = (file.try_clone()?, tuning.clone());
    let ran = thread::run(sock, progress, thread::Watch::Acked, move |s, p| {
        let c0 = thread::thread_cpu();
        let head = send_blocking_on(plan.first, &file, offset, plan.slice, s, &t, p)?;
        let c1 = thread::thread_cpu();
        let tail = if plan.slice < len {
            let rest = send_blocking_on(
                plan.rest,
                &file,
                offset + plan.slice,
                len - plan.slice,
                s,
                &t,
                p,
            )?;
            Some((rest, thread::thread_cpu().saturating_sub(c1)))
        } else {
            None
        };
        Ok((head, c1.saturating_sub(c0), tail))
    })
    .await?;
    let (head, head_cpu, tail) = ran.out;
    if let Some(mut t) = ticket {
        t.record(head.path == PathUsed::Sendfile, head.bytes, head_cpu);
        if let Some((rest, cpu)) = &tail {
            t.record(rest.path == PathUsed::Sendfile, rest.bytes, *cpu);
        }
    }
    // The reply names the path that carried the bulk of the file.
    let out = match tail {
        Some((rest, _)) => Outcome {
            bytes: head.bytes + rest.bytes,
            path: rest.path,
        },
        None => head,
    };
    Ok((out, ran.sock))
}

/// [`send_on`] on a blocking thread.
fn send_blocking_on(
    kernel: bool,
    file: &File,
    offset: u64,
    len: u64,
    sock: &std::net::TcpStream,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    if kernel && probe::sendfile_works() {
        if let Some(r) = after_sendfile(sendfile::send_blocking(
            file, offset, len, sock, tuning, progress,
        )) {
            return r;
        }
    }
    let bytes = copy::file_to_socket_blocking(file, offset, len, sock, tuning, progress)?;
    Ok(Outcome {
        bytes,
        path: PathUsed::Copy,
    })
}

/// [`socket_to_file`] for a caller that can lend the socket itself: the first
/// [`thread::MIN_BYTES`] arrive on the async copy loop (a small upload ends there), the
/// rest of a large one, without a rate limit, on a blocking thread ([`thread`]).
pub async fn socket_to_owned_file(
    sock: TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<(Outcome, TcpStream)> {
    if !thread::applies(tuning, None) {
        let out = socket_to_file(&sock, file, offset, tuning, progress).await?;
        return Ok((out, sock));
    }
    let limit = thread::MIN_BYTES;
    let (head, eof) =
        copy::socket_to_file_upto(&sock, file, offset, tuning, progress, limit).await?;
    if eof {
        let path = PathUsed::Copy;
        return Ok((Outcome { bytes: head, path }, sock));
    }
    // Only now is it a large upload, one that counts among the running ones (chooser.rs).
    let (kernel, ticket) = resolve(tuning, Direction::Recv, None, &sock);
    let (file, t, at) = (file.try_clone()?, tuning.clone(), offset + head);
    let ran = thread::run(sock, progress, thread::Watch::Counted, move |s, p| {
        recv_blocking_on(kernel, s, &file, at, &t, p)
    })
    .await?;
    let mut out = ran.out;
    let on_thread = out.bytes;
    out.bytes += head;
    if let Some(mut t) = ticket {
        // The head went the async way: the whole upload is costed at the thread's rate.
        let cpu = ran.cpu.mul_f64(out.bytes as f64 / on_thread.max(1) as f64);
        t.record(out.path == PathUsed::Splice, out.bytes, cpu);
    }
    Ok((out, ran.sock))
}

/// [`recv_on`] on a blocking thread.
fn recv_blocking_on(
    kernel: bool,
    sock: &std::net::TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    if kernel && probe::splice_works() {
        if let Some(r) = after_splice(splice::recv_blocking(sock, file, offset, tuning, progress)) {
            return r;
        }
    }
    let bytes = copy::socket_to_file_blocking(sock, file, offset, tuning, progress)?;
    Ok(Outcome {
        bytes,
        path: PathUsed::Copy,
    })
}

/// Receives from `sock` until EOF into `file` at `offset` (STOR, client get).
pub async fn socket_to_file(
    sock: &TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    let (kernel, ticket) = resolve(tuning, Direction::Recv, None, sock);
    let started = Instant::now();
    let out = recv_on(kernel, sock, file, offset, tuning, progress).await?;
    if let Some(mut t) = ticket {
        t.record(out.path == PathUsed::Splice, out.bytes, started.elapsed());
    }
    Ok(out)
}

async fn recv_on(
    kernel: bool,
    sock: &TcpStream,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    if kernel && probe::splice_works() {
        if let Some(r) = after_splice(splice::recv(sock, file, offset, tuning, progress).await) {
            return r;
        }
    }
    let bytes = copy::socket_to_file(sock, file, offset, tuning, progress).await?;
    Ok(Outcome {
        bytes,
        path: PathUsed::Copy,
    })
}

/// What a kernel path's attempt gives the caller: its outcome on `path`, or None when the
/// kernel refused it before a byte moved and the copy loop takes over. Only the kernel's
/// verdict (an errno) is remembered for later transfers, not e.g. an O_APPEND file.
fn kernel_verdict(
    r: io::Result<u64>,
    path: PathUsed,
    unsupported: fn(&io::Error) -> bool,
    remember: fn(&io::Error),
) -> Option<io::Result<Outcome>> {
    match r {
        Err(e) if unsupported(&e) => {
            if e.raw_os_error().is_some() {
                remember(&e);
            }
            None
        }
        r => Some(r.map(|bytes| Outcome { bytes, path })),
    }
}

/// [`kernel_verdict`] of a sendfile attempt.
fn after_sendfile(r: io::Result<u64>) -> Option<io::Result<Outcome>> {
    kernel_verdict(
        r,
        PathUsed::Sendfile,
        sendfile::is_unsupported,
        probe::mark_sendfile_broken,
    )
}

/// [`kernel_verdict`] of a splice attempt.
fn after_splice(r: io::Result<u64>) -> Option<io::Result<Outcome>> {
    kernel_verdict(
        r,
        PathUsed::Splice,
        splice::is_unsupported,
        probe::mark_splice_broken,
    )
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn budget_charges_all_or_none() {
        let disk = Arc::new(Budget::new(90, 100, "disk quota"));
        let day = Arc::new(Budget::new(0, 1000, "daily upload quota"));
        let t = Tuning {
            budgets: vec![day.clone(), disk.clone()],
            ..Tuning::default()
        };
        charge(&t, 10).unwrap();
        assert_eq!((disk.used(), day.used()), (100, 10));
        let e = charge(&t, 1).unwrap_err();
        let q = e.get_ref().and_then(|x| x.downcast_ref::<QuotaExceeded>());
        assert_eq!(q.map(|q| q.what), Some("disk quota"));
        // The failed charge left nothing behind in the budget that had room.
        assert_eq!((disk.used(), day.used()), (100, 10));
        disk.refund(500);
        assert_eq!(disk.remaining(), 100);
    }
}
