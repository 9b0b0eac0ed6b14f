//! The data path over real loopback TCP and real temporary files.

use kftp_datapath::ascii::{file_to_stream_ascii, stream_to_file_ascii};
use kftp_datapath::{
    file_to_socket, probe, socket_to_file, PathChoice, PathUsed, RateLimiter, Tuning,
};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIG: usize = 64 << 20;

/// 64 MiB of pseudo-random bytes, made once per test binary.
fn data() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut v = Vec::with_capacity(BIG);
        while v.len() < BIG {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        v
    })
}

fn temp_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
    let mut t = tempfile::NamedTempFile::new().unwrap();
    t.write_all(bytes).unwrap();
    t.flush().unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(t.path())
        .unwrap();
    (t, f)
}

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (s, c)
}

fn tuning(choice: PathChoice) -> Tuning {
    Tuning {
        choice,
        ..Tuning::default()
    }
}

fn kernel_path(down: bool) -> PathUsed {
    if down {
        PathUsed::Sendfile
    } else {
        PathUsed::Splice
    }
}

/// Whether `used` is a path `choice` may take: `auto` measures (kftp_datapath::chooser),
/// so with it either may be right, unless KFTP_AUTO_PATH pins one.
fn path_allowed(choice: PathChoice, down: bool, used: PathUsed) -> bool {
    let kernel = match choice {
        PathChoice::Kernel => Some(true),
        PathChoice::Copy => Some(false),
        PathChoice::Auto => probe::auto_override(),
    };
    match kernel {
        Some(true) => used == kernel_path(down),
        Some(false) => used == PathUsed::Copy,
        None => used == kernel_path(down) || used == PathUsed::Copy,
    }
}

async fn download(choice: PathChoice) {
    let data = data();
    let (_t, file) = temp_with(data);
    let (offset, len) = (12_345u64, (BIG - 12_345 - 7) as u64);
    let (srv, mut cli) = pair().await;
    let reader = tokio::spawn(async move {
        let mut got = Vec::with_capacity(BIG);
        cli.read_to_end(&mut got).await.map(|_| got)
    });
    let progress = AtomicU64::new(0);
    let out = file_to_socket(&file, offset, len, &srv, &tuning(choice), &progress)
        .await
        .unwrap();
    drop(srv);
    let got = reader.await.unwrap().unwrap();
    assert_eq!(out.bytes, len);
    assert!(path_allowed(choice, true, out.path), "{choice}: {out:?}");
    assert_eq!(progress.load(Ordering::Relaxed), len);
    assert_eq!(got.len() as u64, len);
    assert!(
        got == data[offset as usize..(offset + len) as usize],
        "{choice}: bytes differ"
    );
}

async fn upload(choice: PathChoice) {
    let data = data();
    let offset = 4097u64;
    let prefix = vec![0xA5u8; offset as usize];
    let (t, file) = temp_with(&prefix);
    let (srv, mut cli) = pair().await;
    let writer = tokio::spawn(async move {
        // Odd-sized writes so reads end at arbitrary places.
        for c in data.chunks(1_000_003) {
            cli.write_all(c).await?;
        }
        cli.shutdown().await
    });
    let progress = AtomicU64::new(0);
    let out = socket_to_file(&srv, &file, offset, &tuning(choice), &progress)
        .await
        .unwrap();
    writer.await.unwrap().unwrap();
    assert_eq!(out.bytes, BIG as u64);
    assert!(path_allowed(choice, false, out.path), "{choice}: {out:?}");
    assert_eq!(progress.load(Ordering::Relaxed), BIG as u64);
    let back = std::fs::read(t.path()).unwrap();
    assert_eq!(back.len(), offset as usize + BIG);
    assert!(back[..offset as usize] == prefix[..], "prefix overwritten");
    assert!(
        back[offset as usize..] == data[..],
        "{choice}: bytes differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_kernel() {
    download(PathChoice::Kernel).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_copy() {
    download(PathChoice::Copy).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_auto() {
    download(PathChoice::Auto).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_kernel() {
    upload(PathChoice::Kernel).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_copy() {
    upload(PathChoice::Copy).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_auto() {
    upload(PathChoice::Auto).await;
}

/// A file that shrinks while it is being sent ends the transfer with UnexpectedEof.
async fn truncated(choice: PathChoice) {
    let data = data();
    let (_t, file) = temp_with(data);
    let (srv, mut cli) = pair().await;
    let keep = 24u64 << 20;
    let truncater = file.try_clone().unwrap();
    let reader = tokio::spawn(async move {
        // Read a little, shrink the file under the sender, then drain.
        let mut head = vec![0u8; 1 << 20];
        cli.read_exact(&mut head).await?;
        truncater.set_len(keep)?;
        let mut rest = Vec::new();
        cli.read_to_end(&mut rest).await?;
        io::Result::Ok(head.len() + rest.len())
    });
    let progress = AtomicU64::new(0);
    let r = file_to_socket(&file, 0, BIG as u64, &srv, &tuning(choice), &progress).await;
    drop(srv);
    let got = reader.await.unwrap().unwrap() as u64;
    let e = r.expect_err("a shrunk file must not look like a finished transfer");
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{choice}: {e}");
    assert!(
        got <= keep,
        "{choice}: received {got} of a {keep}-byte file"
    );
    assert_eq!(progress.load(Ordering::Relaxed), got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_kernel() {
    truncated(PathChoice::Kernel).await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_copy() {
    truncated(PathChoice::Copy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn len_past_eof_is_unexpected_eof() {
    let (_t, file) = temp_with(&data()[..100_000]);
    for choice in [PathChoice::Kernel, PathChoice::Copy] {
        let (srv, _cli) = pair().await;
        let p = AtomicU64::new(0);
        let e = file_to_socket(&file, 99_000, 5_000, &srv, &tuning(choice), &p)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{choice}");
        assert_eq!(p.load(Ordering::Relaxed), 1_000);
    }
}

/// Dropping a transfer mid-way (ABOR) neither panics nor poisons later transfers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_transfers_are_harmless() {
    let (_t, file) = temp_with(data());
    for choice in [PathChoice::Kernel, PathChoice::Copy] {
        let tun = tuning(choice);
        // Send to a peer that never reads: the sender blocks, then is dropped.
        let (srv, cli) = pair().await;
        let p = AtomicU64::new(0);
        let send = file_to_socket(&file, 0, BIG as u64, &srv, &tun, &p);
        assert!(tokio::time::timeout(Duration::from_millis(100), send)
            .await
            .is_err());
        assert!(p.load(Ordering::Relaxed) < BIG as u64);
        drop((srv, cli));

        // Receive from a peer that sends a little and stalls, then drop the receiver.
        let (srv, mut cli) = pair().await;
        let (_t2, out) = temp_with(b"");
        cli.write_all(&data()[..300_000]).await.unwrap();
        let p = AtomicU64::new(0);
        let recv = socket_to_file(&srv, &out, 0, &tun, &p);
        assert!(tokio::time::timeout(Duration::from_millis(100), recv)
            .await
            .is_err());
        drop((srv, cli));
    }
    // Everything still works afterwards (no half-full pipe came back from the pool).
    upload(PathChoice::Kernel).await;
    assert!(probe::sendfile_works() && probe::splice_works());
}

/// An O_APPEND file cannot take a positioned splice: the copy loop runs, and splice is not
/// marked broken for everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_mode_falls_back_quietly() {
    let t = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(t.path(), b"head:").unwrap();
    let file = OpenOptions::new().append(true).open(t.path()).unwrap();
    let (srv, mut cli) = pair().await;
    cli.write_all(b"tail").await.unwrap();
    cli.shutdown().await.unwrap();
    let p = AtomicU64::new(0);
    let out = socket_to_file(&srv, &file, 5, &tuning(PathChoice::Kernel), &p)
        .await
        .unwrap();
    assert_eq!(out.path, PathUsed::Copy);
    assert_eq!(std::fs::read(t.path()).unwrap(), b"head:tail");
    assert!(probe::splice_works());
}

/// A rate limit slows the kernel paths down to about the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_paces_sendfile_and_splice() {
    let rate = 4_000_000u64;
    let len = 2_000_000u64;
    let limited = || Tuning {
        choice: PathChoice::Kernel,
        buf_size: 1 << 20,
        limits: vec![Arc::new(RateLimiter::new(rate))],
        budgets: Vec::new(),
    };
    let (down_tuning, up_tuning) = (limited(), limited());
    let (_t, file) = temp_with(&data()[..len as usize]);
    let (srv, mut cli) = pair().await;
    let reader = tokio::spawn(async move {
        let mut v = Vec::new();
        cli.read_to_end(&mut v).await.map(|_| v.len())
    });
    let start = Instant::now();
    let p = AtomicU64::new(0);
    let out = file_to_socket(&file, 0, len, &srv, &down_tuning, &p)
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    drop(srv);
    assert_eq!(out.path, PathUsed::Sendfile);
    assert_eq!(reader.await.unwrap().unwrap() as u64, len);
    // 2 MB at 4 MB/s with a 0.1 s burst: ~0.4 s.
    assert!((0.35..1.5).contains(&secs), "sendfile took {secs}");

    let (srv, mut cli) = pair().await;
    let writer = tokio::spawn(async move {
        cli.write_all(&data()[..len as usize]).await?;
        cli.shutdown().await
    });
    let (t2, out_file) = temp_with(b"");
    let start = Instant::now();
    let out = socket_to_file(&srv, &out_file, 0, &up_tuning, &p)
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    writer.await.unwrap().unwrap();
    assert_eq!(out.path, PathUsed::Splice);
    assert_eq!(std::fs::read(t2.path()).unwrap(), &data()[..len as usize]);
    // Receives pay after each chunk, so the last chunk is free: at least ~0.3 s.
    assert!((0.25..1.5).contains(&secs), "splice took {secs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ascii_both_ways() {
    let text = b"line one\nline two\r\nbare\rcr\n\nlast".repeat(5000);
    let (_t, file) = temp_with(&text);
    // Send from offset 5 over a narrow pipe.
    let (mut w, mut r) = tokio::io::duplex(777);
    let small = Tuning {
        buf_size: 4096,
        ..Tuning::default()
    };
    let reader = tokio::spawn(async move {
        let mut v = Vec::new();
        r.read_to_end(&mut v).await.map(|_| v)
    });
    let p = AtomicU64::new(0);
    let n = file_to_stream_ascii(&file, 5, &mut w, &small, &p)
        .await
        .unwrap();
    drop(w);
    let wire = reader.await.unwrap().unwrap();
    assert_eq!(n, text.len() as u64 - 5);
    assert_eq!(p.load(Ordering::Relaxed), n);
    let mut expect = Vec::new();
    for &b in &text[5..] {
        if b == b'\n' {
            expect.push(b'\r');
        }
        expect.push(b);
    }
    assert!(wire == expect, "LF -> CRLF");

    // Receive it back at offset 3, through 7-byte writes so CRs land at chunk ends.
    let (mut w, mut r) = tokio::io::duplex(7);
    let writer = tokio::spawn(async move {
        for c in wire.chunks(7) {
            w.write_all(c).await?;
        }
        w.shutdown().await
    });
    let (t2, out) = temp_with(b"abc");
    let p = AtomicU64::new(0);
    let n = stream_to_file_ascii(&mut r, &out, 3, &small, &p)
        .await
        .unwrap();
    writer.await.unwrap().unwrap();
    assert_eq!(n, text.len() as u64 - 5);
    let back = std::fs::read(t2.path()).unwrap();
    assert_eq!(&back[..3], b"abc");
    assert!(back[3..] == text[5..], "CRLF -> LF");

    // And over real TCP, a CR that ends the stream survives.
    let (mut srv, mut cli) = pair().await;
    cli.write_all(b"a\r\nb\r").await.unwrap();
    cli.shutdown().await.unwrap();
    let (t3, out) = temp_with(b"");
    stream_to_file_ascii(&mut srv, &out, 0, &small, &p)
        .await
        .unwrap();
    assert_eq!(std::fs::read(t3.path()).unwrap(), b"a\nb\r");
}
