//! Large plain transfers on a blocking thread, the way vsftpd moves bytes.
//!
//! Why: under tokio a data socket is non-blocking, so every time the socket buffer fills
//! (sends) or empties (receives) the loop takes an `EAGAIN`, the reactor an `epoll_wait`
//! and the task a wake-up. A `curl -T` upload of 1 GiB cost kftpd 1,690 `epoll_wait`s and
//! 288 `EAGAIN`s (downloads far fewer: 116), which vsftpd, blocking in read(2) and
//! sendfile(2), does not pay (BENCHMARKS.md, "Plain data path: where the time goes
//! (session 5)"). So a large plain transfer without a rate limit runs here: the socket leaves tokio's reactor
//! (`into_std` deregisters it, so its readiness wakes nobody), is switched to blocking
//! mode, and the loop runs on one of tokio's blocking threads, one syscall per chunk and
//! no wake-ups in between. Afterwards the socket goes back to tokio, non-blocking.
//!
//! The async side stays in charge: it copies the thread's byte count into the caller's
//! `progress` every [`MIRROR_EVERY`] (STAT, the admin API and the stall watchdogs read
//! it; for sends, which are one sendfile(2) call per file, the bytes the peer has
//! acknowledged, read with `TCP_INFO`), and when it is dropped (ABOR, the stall watchdog, a kick) the `Interrupt` guard
//! shuts the socket down, which ends a blocked sendfile/read/splice at once, and waits
//! for the thread to leave the file before the caller sets the length of a kept part file.
//!
//! `KFTP_DATA_THREAD=0` keeps every transfer on the async loops (for comparisons).

use std::io;
use std::net::{Shutdown, TcpStream as StdTcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

use crate::Tuning;

/// Transfers smaller than this stay on the async loops: handing a socket to a thread and
/// back costs a few syscalls and two thread hand-offs, which a small file would notice.
pub const MIN_BYTES: u64 = 1 << 20;

/// How often the thread's byte count is copied into the caller's progress counter.
pub const MIRROR_EVERY: Duration = Duration::from_millis(100);

/// How long a dropped transfer waits for its thread after shutting the socket down (a
/// blocked call returns at once; this bounds a file write stuck on slow storage).
const LEAVE_WAIT: Duration = Duration::from_secs(5);

/// Transfers on blocking threads at once, at most. Past it a transfer stays on the async
/// loops: tokio's blocking pool (512 threads by default) also serves file opens and
/// renames, which must not queue behind thousands of long transfers, and each thread
/// costs its stack.
pub const MAX_THREADS: usize = 128;

/// Transfers on blocking threads now.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// 0 = not decided, 1 = off, 2 = on.
static ENABLED: AtomicU8 = AtomicU8::new(0);

/// Whether large plain transfers may run on a blocking thread (`KFTP_DATA_THREAD`, on
/// unless `0` or `off`).
pub fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let off = std::env::var("KFTP_DATA_THREAD").is_ok_and(|v| v == "0" || v == "off");
            ENABLED.store(if off { 1 } else { 2 }, Ordering::Relaxed);
            !off
        }
    }
}

/// Overrides [`enabled`] (benchmarks, tests).
pub fn set_enabled(on: bool) {
    ENABLED.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether a transfer of `len` bytes (`None`: not known yet) with `tuning` runs here. Rate
/// limits pace with tokio timers, so limited transfers stay async (they are not CPU-bound).
pub(crate) fn applies(tuning: &Tuning, len: Option<u64>) -> bool {
    tuning.limits.is_empty()
        && len.is_none_or(|n| n >= MIN_BYTES)
        && enabled()
        && ACTIVE.load(Ordering::Relaxed) < MAX_THREADS
}

/// Counts a transfer on a thread for as long as it lives.
struct Active;

impl Active {
    fn enter() -> Active {
        ACTIVE.fetch_add(1, Ordering::Relaxed);
        Active
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Shuts the socket down and waits for the thread when the transfer is dropped before the
/// thread finished.
struct Interrupt<'a> {
    sock: Option<Arc<StdTcpStream>>,
    left: mpsc::Receiver<()>,
    mirror: Mirror<'a>,
}

impl Drop for Interrupt<'_> {
    fn drop(&mut self) {
        if let Some(sock) = self.sock.take() {
            let _ = sock.shutdown(Shutdown::Both);
            // Disconnected (the thread dropped its sender) is the normal way out.
            let _ = self.left.recv_timeout(LEAVE_WAIT);
        }
        self.mirror.sync(None);
    }
}

/// What the caller's progress counter is fed from while the thread works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Watch {
    /// The thread's own count, updated after each call (receives: one per chunk read).
    Counted,
    /// Also what the peer has acknowledged (`TCP_INFO`): a send makes one sendfile(2)
    /// call for the whole file (sendfile.rs), which counts nothing until it returns.
    Acked,
}

/// The thread's own counter and what of it the caller's counter has seen.
struct Mirror<'a> {
    inner: Arc<AtomicU64>,
    seen: u64,
    outer: &'a AtomicU64,
    /// With [`Watch::Acked`]: the socket's acknowledged byte count when the thread started.
    acked_base: Option<u64>,
}

impl Mirror<'_> {
    /// Brings the caller's counter up to what the thread counted or, for a send, what the
    /// peer acknowledged if that is more. Acknowledged bytes were sent, so the count never
    /// runs ahead of the thread's final one, and it never goes back.
    fn sync(&mut self, sock: Option<&StdTcpStream>) {
        let mut now = self.inner.load(Ordering::Relaxed);
        if let (Some(base), Some(sock)) = (self.acked_base, sock) {
            if let Some(acked) = bytes_acked(sock.as_fd()) {
                now = now.max(acked.saturating_sub(base));
            }
        }
        if now > self.seen {
            self.outer.fetch_add(now - self.seen, Ordering::Relaxed);
            self.seen = now;
        }
    }
}

/// The bytes the peer of a TCP socket has acknowledged (`tcpi_bytes_acked`, Linux 4.1),
/// or `None` where the kernel does not say.
#[allow(unsafe_code)]
fn bytes_acked(fd: BorrowedFd<'_>) -> Option<u64> {
    // SAFETY: `tcp_info` is a plain `#[repr(C)]` struct of integers, for which all zeroes
    // is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a writable buffer of `len` bytes and `len` a valid socklen_t, both
    // live for the call; the kernel writes at most `len` bytes and stores the length it
    // filled. `fd` is a borrowed, open descriptor.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + 8;
    (rc == 0 && len as usize >= needed).then_some(info.tcpi_bytes_acked)
}

/// The calling thread's CPU time so far.
pub(crate) fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// What a transfer on the thread returned, and the CPU time it took there: the thread does
/// nothing else meanwhile, so this is what the transfer cost (kernel work included), and
/// unlike wall time it is hardly disturbed by other processes (`auto` compares it,
/// chooser.rs).
pub(crate) struct Ran<T> {
    pub out: T,
    pub cpu: Duration,
    pub sock: TcpStream,
}

/// Runs `work` on a blocking thread with `sock` in blocking mode, then gives the socket
/// back to tokio. `work` counts the bytes it moves in the counter it is given.
pub(crate) async fn run<T, F>(
    sock: TcpStream,
    progress: &AtomicU64,
    watch: Watch,
    work: F,
) -> io::Result<Ran<T>>
where
    T: Send + 'static,
    F: FnOnce(&StdTcpStream, &AtomicU64) -> io::Result<T> + Send + 'static,
{
    let sock = sock.into_std()?;
    sock.set_nonblocking(false)?;
    let acked_base = match watch {
        Watch::Acked => bytes_acked(sock.as_fd()),
        Watch::Counted => None,
    };
    tracing::debug!("moving data on a blocking thread");
    let sock = Arc::new(sock);
    let inner = Arc::new(AtomicU64::new(0));
    let (leaving, left) = mpsc::channel::<()>();
    let job = {
        let (sock, inner) = (sock.clone(), inner.clone());
        let active = Active::enter();
        tokio::task::spawn_blocking(move || {
            let (_leaving, _active) = (leaving, active);
            let before = thread_cpu();
            let out = work(&sock, &inner)?;
            Ok::<_, io::Error>((out, thread_cpu().saturating_sub(before)))
        })
    };
    let mut guard = Interrupt {
        sock: Some(sock),
        left,
        mirror: Mirror {
            inner,
            seen: 0,
            outer: progress,
            acked_base,
        },
    };
    tokio::pin!(job);
    let result = loop {
        tokio::select! {
            r = &mut job => break r,
            _ = tokio::time::sleep(MIRROR_EVERY) => guard.mirror.sync(guard.sock.as_deref()),
        }
    };
    // The thread has returned and dropped its handle on the socket: nothing to interrupt.
    let sock = guard.sock.take();
    drop(guard);
    let (out, cpu) = result.map_err(|e| io::Error::other(format!("data thread: {e}")))??;
    let sock = sock
        .and_then(Arc::into_inner)
        .ok_or_else(|| io::Error::other("data thread kept the socket"))?;
    sock.set_nonblocking(true)?;
    let sock = TcpStream::from_std(sock)?;
    Ok(Ran { out, cpu, sock })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    async fn pair() -> (TcpStream, StdTcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn socket_comes_back_and_progress_is_mirrored() {
        let (a, mut b) = pair().await;
        let progress = AtomicU64::new(7);
        let ran = run(a, &progress, Watch::Counted, |s, p| {
            let mut s = s;
            s.write_all(b"hello")?;
            p.fetch_add(5, Ordering::Relaxed);
            Ok(5u64)
        })
        .await
        .unwrap();
        let (n, a) = (ran.out, ran.sock);
        assert_eq!(n, 5);
        assert!(ran.cpu < Duration::from_secs(5));
        assert_eq!(progress.load(Ordering::Relaxed), 12);
        // Back under tokio, non-blocking.
        a.writable().await.unwrap();
        assert_eq!(a.try_write(b"!").unwrap(), 1);
        let mut got = [0u8; 6];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello!");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_send_is_mirrored_from_the_acks_before_its_call_returns() {
        let (a, mut b) = pair().await;
        let progress = AtomicU64::new(0);
        let (go, wait) = mpsc::channel::<()>();
        // The work counts nothing itself (as one sendfile call of a whole file counts
        // nothing until it returns) and stays in the thread until told to leave.
        let send = run(a, &progress, Watch::Acked, move |s, _| {
            let mut s = s;
            s.write_all(&[7u8; 100_000])?;
            let _ = wait.recv_timeout(Duration::from_secs(10));
            Ok(())
        });
        let reader = std::thread::spawn(move || {
            let mut got = vec![0u8; 100_000];
            b.read_exact(&mut got).map(|_| got)
        });
        let watch = async {
            let start = std::time::Instant::now();
            while progress.load(Ordering::Relaxed) < 100_000 && start.elapsed().as_secs() < 10 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let seen = progress.load(Ordering::Relaxed);
            go.send(()).unwrap();
            seen
        };
        let (ran, seen) = tokio::join!(send, watch);
        ran.unwrap();
        assert_eq!(seen, 100_000, "progress while the call was still running");
        assert_eq!(
            progress.load(Ordering::Relaxed),
            100_000,
            "no double count at the end"
        );
        assert!(reader.join().unwrap().unwrap().iter().all(|&x| x == 7));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_transfer_ends_a_blocked_read() {
        let (a, _b) = pair().await;
        let progress = AtomicU64::new(0);
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = run(a, &progress, Watch::Counted, move |s, _| {
            let mut s = s;
            let mut buf = [0u8; 16];
            let r = s.read(&mut buf);
            let _ = tx.send(r.map_err(|e| e.kind()));
            Ok(())
        });
        // The peer never sends: only the interrupt can end the read.
        let r = tokio::time::timeout(Duration::from_millis(200), fut).await;
        assert!(r.is_err(), "the read was blocked");
        assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap(), Ok(0));
    }
}
