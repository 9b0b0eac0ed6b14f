//! Measures this machine's loopback data-path ceiling and the crate's own paths.
//!
//! ```text
//! cargo run --release -p kftp-datapath --example ceiling -- [SIZE] [REPS]
//! ```
//!
//! SIZE is the file size (default 1G; suffixes K, M, G are powers of 1024), REPS the
//! number of runs per loop (default 3; the median is printed). The source file is
//! `/tmp/kftp-ceiling-src` (created with pseudo-random bytes and read once so it is
//! page-cached); uploads overwrite `/tmp/kftp-ceiling-dst` in place.
//!
//! Each line: GB/s (10^9 bytes/s, wall clock) and CPU seconds per GiB of the measuring
//! thread (the sender for downloads, the receiver for uploads). The crate's paths run on
//! a current-thread tokio runtime, so that thread is the one that ran the transfer.

use kftp_datapath::raw::{self, RawKind, RawResult};
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

fn median(mut v: Vec<RawResult>) -> RawResult {
    v.sort_by(|a, b| a.wall_secs.total_cmp(&b.wall_secs));
    v[v.len() / 2]
}

fn print(name: &str, r: &RawResult, extra: &str) {
    println!(
        "{name:<28} {:>6.2} GB/s  {:>6.3} CPU s/GiB  {extra}",
        r.gbps(),
        r.cpu_per_gib()
    );
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
    let tuning = Tuning {
        choice,
        ..Tuning::default()
    };
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
    let tuning = Tuning {
        choice,
        ..Tuning::default()
    };
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
    println!("size {size} bytes, median of {reps} runs");
    for kind in RawKind::ALL {
        let name = format!("raw {kind}");
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let path = if kind.is_download() { SRC } else { DST };
        let runs = (0..reps)
            .map(|_| raw::measure(kind, Path::new(path), size))
            .collect::<io::Result<Vec<_>>>()?;
        print(&name, &median(runs), "");
    }
    for choice in [PathChoice::Kernel, PathChoice::Copy, PathChoice::Auto] {
        for down in [true, false] {
            let name = format!(
                "crate {} {choice}",
                if down { "download" } else { "upload" }
            );
            if only.as_deref().is_some_and(|o| !name.contains(o)) {
                continue;
            }
            let mut runs = Vec::new();
            let mut used = "";
            for _ in 0..reps {
                let (r, u) = if down {
                    crate_down(choice, size)?
                } else {
                    crate_up(choice, size)?
                };
                used = u;
                runs.push(r);
            }
            print(&name, &median(runs), &format!("(path: {used})"));
        }
    }
    Ok(())
}
