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
//! it), and when it is dropped (ABOR, the stall watchdog, a kick) the [`Interrupt`] guard
//! shuts the socket down, which ends a blocked sendfile/read/splice at once, and waits
//! for the thread to leave the file before the caller sets the length of a kept part file.
//!
//! `KFTP_DATA_THREAD=0` keeps every transfer on the async loops (for comparisons).

use std::io;
use std::net::{Shutdown, TcpStream as StdTcpStream};
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
        self.mirror.sync();
    }
}

/// The thread's own counter and what of it the caller's counter has seen.
struct Mirror<'a> {
    inner: Arc<AtomicU64>,
    seen: u64,
    outer: &'a AtomicU64,
}

impl Mirror<'_> {
    fn sync(&mut self) {
        let now = self.inner.load(Ordering::Relaxed);
        self.outer.fetch_add(now - self.seen, Ordering::Relaxed);
        self.seen = now;
    }
}

/// The calling thread's CPU time so far.
fn thread_cpu() -> Duration {
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
pub(crate) async fn run<T, F>(sock: TcpStream, progress: &AtomicU64, work: F) -> io::Result<Ran<T>>
where
    T: Send + 'static,
    F: FnOnce(&StdTcpStream, &AtomicU64) -> io::Result<T> + Send + 'static,
{
    let sock = sock.into_std()?;
    sock.set_nonblocking(false)?;
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
        },
    };
    tokio::pin!(job);
    let result = loop {
        tokio::select! {
            r = &mut job => break r,
            _ = tokio::time::sleep(MIRROR_EVERY) => guard.mirror.sync(),
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
        let ran = run(a, &progress, |s, p| {
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
    async fn dropping_the_transfer_ends_a_blocked_read() {
        let (a, _b) = pair().await;
        let progress = AtomicU64::new(0);
        let (tx, rx) = std::sync::mpsc::channel();
        let fut = run(a, &progress, move |s, _| {
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
