//! Measures this machine's loopback data-path ceiling and the crate's own paths.
//!
//! ```text
//! cargo run --release -p kftp-bench --example ceiling -- [SIZE] [REPS]
//! ```
//!
//! SIZE is the file size (default 1G; suffixes K, M, G are powers of 1024), REPS the
//! number of runs per loop (default 3; the median is printed). The source file is
//! `/tmp/kftp-ceiling-src` (created with pseudo-random bytes and read once so it is
//! page-cached); uploads overwrite `/tmp/kftp-ceiling-dst` in place.
//!
//! With `CEILING_WAIT_IDLE=0.9` each run waits for a ~idle machine first (for shared
//! hosts); `CEILING_ONLY=substring` selects lines; `CEILING_BUF=4M` sets the crate's
//! `Tuning::buf_size`.
//!
//! Each line: GB/s (10^9 bytes/s, wall clock) and CPU seconds per GiB of the measuring
//! thread (the sender for downloads, the receiver for uploads). The crate's paths run on
//! a current-thread tokio runtime, so that thread is the one that ran the transfer.

use kftp_bench::raw::{self, RawKind, RawResult};
use kftp_datapath::{PathChoice, Tuning};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::thread;
use std::time::Instant;

const SRC: &str = "/tmp/kftp-ceiling-src";
const DST: &str = "/tmp/kftp-ceiling-dst";

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()?.to_ascii_uppercase() {
        'K' => (&s[..s.len() - 1], 1u64 << 10),
        'M' => (&s[..s.len() - 1], 1 << 20),
        'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

fn prepare(path: &Path, size: u64) -> io::Result<()> {
    let ok = std::fs::metadata(path)
        .map(|m| m.len() == size)
        .unwrap_or(false);
    if !ok {
        let mut f = File::create(path)?;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            for c in buf.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                c.copy_from_slice(&x.to_le_bytes());
            }
            let n = buf.len().min(left as usize);
            f.write_all(&buf[..n])?;
            left -= n as u64;
        }
    }
    // Read it once so it sits in the page cache.
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// The median run, and the best run's GB/s.
fn median(mut v: Vec<RawResult>) -> (RawResult, f64) {
    v.sort_by(|a, b| a.wall_secs.total_cmp(&b.wall_secs));
    (v[v.len() / 2], v[0].gbps())
}

fn print(name: &str, (r, best): (RawResult, f64), extra: &str) {
    println!(
        "{name:<28} {:>6.2} GB/s (best {best:>5.2})  {:>6.3} CPU s/GiB  {extra}",
        r.gbps(),
        r.cpu_per_gib()
    );
}

/// The crate's default tuning; `CEILING_BUF` (bytes) overrides the buffer/chunk size.
fn tuning(choice: PathChoice) -> Tuning {
    let mut t = Tuning {
        choice,
        ..Tuning::default()
    };
    if let Some(b) = std::env::var("CEILING_BUF")
        .ok()
        .and_then(|s| parse_size(&s))
    {
        t.buf_size = b as usize;
    }
    t
}

fn crate_down(choice: PathChoice, size: u64) -> io::Result<(RawResult, &'static str)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let tx = TcpStream::connect(listener.local_addr()?)?;
    let (mut rx, _) = listener.accept()?;
    let sink = thread::spawn(move || -> io::Result<u64> {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        loop {
            match rx.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    });
    let file = File::open(SRC)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tuning = tuning(choice);
    let progress = AtomicU64::new(0);
    let start = Instant::now();
    let cpu0 = raw::thread_cpu_secs();
    let out = rt.block_on(async {
        tx.set_nonblocking(true)?;
        let sock = tokio::net::TcpStream::from_std(tx)?;
        let out = kftp_datapath::file_to_socket(&file, 0, size, &sock, &tuning, &progress).await?;
        let std = sock.into_std()?;
        std.shutdown(Shutdown::Write)?;
        io::Result::Ok(out)
    })?;
    let cpu = raw::thread_cpu_secs() - cpu0;
    let got = sink
        .join()
        .map_err(|_| io::Error::other("sink panicked"))??;
    let wall = start.elapsed().as_secs_f64();
    assert_eq!(got, size);
    Ok((
        RawResult {
            kind: RawKind::SendfileDown,
            bytes: out.bytes,
            wall_secs: wall,
            cpu_secs: cpu,
        },
        out.path.name(),
    ))
}

fn crate_up(choice: PathChoice, size: u64) -> io::Result<(RawResult, &'static str)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut tx = TcpStream::connect(listener.local_addr()?)?;
    let (rx, _) = listener.accept()?;
    let file = OpenOptions::new().write(true).open(DST)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tuning = tuning(choice);
    let progress = AtomicU64::new(0);
    let start = Instant::now();
    let source = thread::spawn(move || -> io::Result<()> {
        let buf: Vec<u8> = (0..1 << 20).map(|i| (i * 7 + 3) as u8).collect();
        let mut left = size;
        while left > 0 {
            let n = buf.len().min(left as usize);
            tx.write_all(&buf[..n])?;
            left -= n as u64;
        }
        tx.shutdown(Shutdown::Write)
    });
    let cpu0 = raw::thread_cpu_secs();
    let out = rt.block_on(async {
        rx.set_nonblocking(true)?;
        let sock = tokio::net::TcpStream::from_std(rx)?;
        kftp_datapath::socket_to_file(&sock, &file, 0, &tuning, &progress).await
    })?;
    let cpu = raw::thread_cpu_secs() - cpu0;
    let wall = start.elapsed().as_secs_f64();
    source
        .join()
        .map_err(|_| io::Error::other("source panicked"))??;
    assert_eq!(out.bytes, size);
    Ok((
        RawResult {
            kind: RawKind::ReadWriteUp,
            bytes: out.bytes,
            wall_secs: wall,
            cpu_secs: cpu,
        },
        out.path.name(),
    ))
}

/// Fraction of CPU time idle over `ms` milliseconds, from /proc/stat.
fn idle_fraction(ms: u64) -> f64 {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        Some((v.iter().take(8).sum(), *v.get(3)? + *v.get(4)?))
    }
    let (Some((t1, i1)), Some((t2, i2))) = (sample(), {
        thread::sleep(std::time::Duration::from_millis(ms));
        sample()
    }) else {
        return 1.0;
    };
    (i2 - i1) as f64 / (t2 - t1).max(1) as f64
}

/// With `CEILING_WAIT_IDLE=F` (a fraction, e.g. 0.9) each run first waits, for at most
/// 30 s, until the machine is at least that idle, so other processes do not share the
/// CPUs with the measured loop.
fn wait_idle() {
    let want = std::env::var("CEILING_WAIT_IDLE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok());
    if let Some(want) = want {
        let start = Instant::now();
        while idle_fraction(300) < want && start.elapsed().as_secs() < 30 {}
    }
}

/// One line of the report.
#[derive(Clone, Copy)]
enum Entry {
    Raw(RawKind),
    Crate { choice: PathChoice, down: bool },
}

impl Entry {
    fn name(self) -> String {
        match self {
            Entry::Raw(kind) => format!("raw {kind}"),
            Entry::Crate { choice, down } => {
                format!(
                    "crate {} {choice}",
                    if down { "download" } else { "upload" }
                )
            }
        }
    }

    fn run(self, size: u64) -> io::Result<(RawResult, &'static str)> {
        match self {
            Entry::Raw(kind) => {
                let path = if kind.is_download() { SRC } else { DST };
                Ok((raw::measure(kind, Path::new(path), size)?, ""))
            }
            Entry::Crate { choice, down: true } => crate_down(choice, size),
            Entry::Crate {
                choice,
                down: false,
            } => crate_up(choice, size),
        }
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let size = match args.next() {
        Some(s) => parse_size(&s).ok_or_else(|| io::Error::other(format!("bad size '{s}'")))?,
        None => 1 << 30,
    };
    let reps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
    let only: Option<String> = std::env::var("CEILING_ONLY").ok();
    prepare(Path::new(SRC), size)?;
    prepare(Path::new(DST), size)?;
    let mut entries: Vec<Entry> = RawKind::ALL.into_iter().map(Entry::Raw).collect();
    for choice in [PathChoice::Kernel, PathChoice::Copy, PathChoice::Auto] {
        for down in [true, false] {
            entries.push(Entry::Crate { choice, down });
        }
    }
    entries.retain(|e| only.as_deref().is_none_or(|o| e.name().contains(o)));
    // Round-robin, so a burst of load elsewhere hits every entry alike.
    let mut runs: Vec<Vec<RawResult>> = vec![Vec::new(); entries.len()];
    let mut used = vec![""; entries.len()];
    for _ in 0..reps {
        for (i, e) in entries.iter().enumerate() {
            wait_idle();
            let (r, u) = e.run(size)?;
            eprintln!(
                "  run: {:<26} {:>6.2} GB/s {:>6.3} CPU s/GiB",
                e.name(),
                r.gbps(),
                r.cpu_per_gib()
            );
            runs[i].push(r);
            used[i] = u;
        }
    }
    println!("size {size} bytes, median of {reps} interleaved runs");
    for ((e, r), u) in entries.iter().zip(runs).zip(used) {
        let extra = if u.is_empty() {
            String::new()
        } else {
            format!("(path: {u})")
        };
        print(&e.name(), median(r), &extra);
    }
    Ok(())
}
