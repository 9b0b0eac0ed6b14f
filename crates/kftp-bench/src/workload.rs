//! The measurements themselves, against one server with TLS off or on. Each returns a
//! [`Sample`]: what moved, how long it took, and the CPU both sides spent meanwhile.
//!
//! Downloads are read into a 1 MiB buffer and discarded (like the raw loops' sink), so
//! the client's disk never limits a server's figure; uploads come from the page-cached
//! bench file with the client's own data path (sendfile when plain). Throughput rows run
//! whole transfers until `min_secs` have passed, so per-transfer setup (EPSV, RETR, 226)
//! is part of the figure, as it is for a user.

use super::files;
use super::proc::{tree_pss_bytes, CpuMark, CpuSource};
use kftp::client::{Client, ConnectOptions, Credentials};
use kftp::error::{Error, Result};
use kftp::transfer::TransferOptions;
use kftp_proto::Command;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// Bytes per read when discarding downloads.
const SINK_BUF: usize = 1 << 20;

/// Most transfers one throughput measurement makes, however fast they are.
const MAX_REPEATS: u32 = 64;

/// Where and how to connect for one (server, TLS) combination.
#[derive(Clone, Debug)]
pub struct Target {
    /// Connection options (security and TLS set for this combination).
    pub opts: ConnectOptions,
    /// Login.
    pub creds: Credentials,
    /// Remote directory of the bench files (`""` or ending in `/`).
    pub dir: String,
    /// Server root pid for memory accounting, if local and known.
    pub pid: Option<u32>,
    /// Where the server's CPU is read (its cgroup, else its pid's tree), if local.
    pub cpu: Option<CpuSource>,
    /// Run each throughput measurement at least this long.
    pub min_secs: f64,
}

/// One measurement.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Payload bytes moved.
    pub bytes: u64,
    /// Files transferred, or logins made.
    pub items: u64,
    /// Wall-clock seconds.
    pub secs: f64,
    /// CPU seconds of the server's process tree, if accounted.
    pub server_cpu: Option<f64>,
    /// CPU seconds of this (client) process.
    pub client_cpu: f64,
}

impl Sample {
    fn timed(
        bytes: u64,
        items: u64,
        start: Instant,
        m0: &CpuMark,
        cpu: Option<&CpuSource>,
    ) -> Sample {
        let secs = start.elapsed().as_secs_f64();
        let (server_cpu, client_cpu) = CpuMark::now(cpu).since(m0);
        Sample {
            bytes,
            items,
            secs,
            server_cpu,
            client_cpu,
        }
    }
}

impl Target {
    /// A logged-in session.
    pub async fn connect(&self) -> Result<Client> {
        Client::connect(self.opts.clone(), self.creds.clone()).await
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.dir)
    }
}

/// RETR `path` and throw the bytes away; returns the byte count.
pub async fn fetch_discard(c: &mut Client, path: &str, buf: &mut [u8]) -> Result<u64> {
    let what = format!("get {path}");
    let mut data = c.open_data(Command::Retr(path.into()), &what).await?;
    let mut n = 0u64;
    loop {
        match data.read(buf).await {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) => return Err(Error::net(what, e)),
        }
    }
    drop(data);
    c.finish_data(&what).await?;
    Ok(n)
}

/// Single-stream download of big.bin, repeated for `min_secs`.
pub async fn download(t: &Target) -> Result<Sample> {
    let mut c = t.connect().await?;
    let mut buf = vec![0u8; SINK_BUF];
    let path = t.path(files::BIG);
    let m0 = CpuMark::now(t.cpu.as_ref());
    let start = Instant::now();
    let (mut bytes, mut n) = (0, 0);
    while n == 0 || (start.elapsed().as_secs_f64() < t.min_secs && n < MAX_REPEATS) {
        bytes += fetch_discard(&mut c, &path, &mut buf).await?;
        n += 1;
    }
    let s = Sample::timed(bytes, n as u64, start, &m0, t.cpu.as_ref());
    c.quit().await;
    Ok(s)
}

/// Single-stream upload of the local big.bin to `up/<key>-0`, repeated for `min_secs`;
/// the uploaded file is deleted afterwards.
pub async fn upload(t: &Target, local: &Path, key: &str) -> Result<Sample> {
    let mut c = t.connect().await?;
    let remote = t.path(&files::upload(key, 0));
    let opts = TransferOptions::default();
    let progress = AtomicU64::new(0);
    let m0 = CpuMark::now(t.cpu.as_ref());
    let start = Instant::now();
    let (mut bytes, mut n) = (0, 0);
    while n == 0 || (start.elapsed().as_secs_f64() < t.min_secs && n < MAX_REPEATS) {
        bytes += c.put(local, &remote, &opts, &progress).await?.bytes;
        n += 1;
    }
    let s = Sample::timed(bytes, n as u64, start, &m0, t.cpu.as_ref());
    let _ = c.delete(&remote).await;
    c.quit().await;
    Ok(s)
}

/// Logged-in sessions kept across concurrency levels, so the levels measure transfers
/// and not logins.
#[derive(Debug, Default)]
pub struct Pool {
    clients: Vec<Client>,
}

impl Pool {
    /// Closes every session.
    pub async fn close(self) {
        for c in self.clients {
            c.quit().await;
        }
    }
}

/// `n` simultaneous downloads, of conc/f00 (`same`) or of conc/f00..f(n-1), each
/// connection repeating its file until `min_secs` have passed. Returns the aggregate.
pub async fn concurrency(t: &Target, pool: &mut Pool, n: usize, same: bool) -> Result<Sample> {
    while pool.clients.len() < n {
        // Log in a few at a time: a server with a slow password hash should not time out.
        let want = (n - pool.clients.len()).min(8);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..want {
            let t = t.clone();
            set.spawn(async move { t.connect().await });
        }
        while let Some(r) = set.join_next().await {
            pool.clients
                .push(r.map_err(|e| Error::local("login task", e.into()))??);
        }
    }
    let min_secs = t.min_secs;
    let m0 = CpuMark::now(t.cpu.as_ref());
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, mut c) in pool.clients.drain(..n).enumerate() {
        let path = t.path(&files::conc(if same { 0 } else { i }));
        set.spawn(async move {
            let mut buf = vec![0u8; SINK_BUF];
            let mut bytes = 0u64;
            let mut files = 0u64;
            loop {
                match fetch_discard(&mut c, &path, &mut buf).await {
                    Ok(b) => bytes += b,
                    Err(e) => return Err(e),
                }
                files += 1;
                if start.elapsed().as_secs_f64() >= min_secs || files >= MAX_REPEATS as u64 {
                    return Ok((c, bytes, files));
                }
            }
        });
    }
    let (mut bytes, mut items, mut err) = (0, 0, None);
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok((c, b, f))) => {
                pool.clients.push(c);
                bytes += b;
                items += f;
            }
            Ok(Err(e)) => err = Some(e),
            Err(e) => err = Some(Error::local("transfer task", e.into())),
        }
    }
    let s = Sample::timed(bytes, items, start, &m0, t.cpu.as_ref());
    match err {
        Some(e) => Err(e),
        None => Ok(s),
    }
}

/// Downloads small/s0..s(count-1) over `conns` sessions (file i on session i % conns);
/// stops early after `limit`.
pub async fn small(t: &Target, count: usize, conns: usize, limit: Duration) -> Result<Sample> {
    let conns = conns.clamp(1, count.max(1));
    let mut clients = Vec::new();
    for _ in 0..conns {
        clients.push(t.connect().await?);
    }
    let m0 = CpuMark::now(t.cpu.as_ref());
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (k, mut c) in clients.into_iter().enumerate() {
        let t = t.clone();
        set.spawn(async move {
            let mut buf = vec![0u8; 64 << 10];
            let (mut bytes, mut files) = (0u64, 0u64);
            for i in (k..count).step_by(conns) {
                bytes += fetch_discard(&mut c, &t.path(&files::small(i)), &mut buf).await?;
                files += 1;
                if start.elapsed() >= limit {
                    break;
                }
            }
            c.quit().await;
            Ok::<_, Error>((bytes, files))
        });
    }
    let (mut bytes, mut items) = (0, 0);
    while let Some(r) = set.join_next().await {
        let (b, f) = r.map_err(|e| Error::local("transfer task", e.into()))??;
        bytes += b;
        items += f;
    }
    Ok(Sample::timed(bytes, items, start, &m0, t.cpu.as_ref()))
}

/// Full logins (connect, [AUTH TLS], USER, PASS, FEAT, TYPE I, QUIT) from `parallel`
/// tasks for `min_secs`.
pub async fn logins(t: &Target, parallel: usize) -> Result<Sample> {
    let m0 = CpuMark::now(t.cpu.as_ref());
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..parallel.max(1) {
        let t = t.clone();
        set.spawn(async move {
            let mut n = 0u64;
            while n == 0 || start.elapsed().as_secs_f64() < t.min_secs {
                t.connect().await?.quit().await;
                n += 1;
            }
            Ok::<_, Error>(n)
        });
    }
    let mut items = 0;
    while let Some(r) = set.join_next().await {
        items += r.map_err(|e| Error::local("login task", e.into()))??;
    }
    Ok(Sample::timed(0, items, start, &m0, t.cpu.as_ref()))
}

/// Server memory per idle logged-in session: PSS of the server's process tree with `n`
/// sessions open minus before, divided by `n`, in bytes. `None` without a local pid.
pub async fn idle_memory(t: &Target, n: usize) -> Result<Option<f64>> {
    let Some(pid) = t.pid else {
        return Ok(None);
    };
    // Warm up with one batch of logins first: a password hash's buffers (Argon2id's are
    // megabytes) stay in the allocator's arenas after the first logins, and would
    // otherwise be charged to the sessions.
    let mut pool = Pool::default();
    open_sessions(t, &mut pool, n.min(16)).await?;
    pool.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = tree_pss_bytes(pid);
    let mut pool = Pool::default();
    open_sessions(t, &mut pool, n).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = tree_pss_bytes(pid);
    let per = (after as f64 - before as f64) / n.max(1) as f64;
    drop(pool);
    // Let the server tear the sessions down before the next row.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(Some(per))
}

async fn open_sessions(t: &Target, pool: &mut Pool, n: usize) -> Result<()> {
    while pool.clients.len() < n {
        let want = (n - pool.clients.len()).min(16);
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..want {
            let t = t.clone();
            set.spawn(async move { t.connect().await });
        }
        while let Some(r) = set.join_next().await {
            pool.clients
                .push(r.map_err(|e| Error::local("login task", e.into()))??);
        }
    }
    Ok(())
}
