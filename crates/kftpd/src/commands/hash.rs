//! HASH with OPTS HASH and RANG (draft-bryan-ftpext-hash), and the older XCRC, XMD5,
//! XSHA1, XSHA256, XSHA512 forms.

use super::{storage, Answer, OrReply, Replied};
use crate::session::{Running, Session};
use crate::storage::ReadHandle;
use kftp_proto::command::{ByteRange, HashAlgo};
use kftp_proto::Reply;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// An incremental digest of one of the HASH algorithms.
pub enum Hasher {
    /// SHA-256.
    S256(sha2::Sha256),
    /// SHA-512.
    S512(sha2::Sha512),
    /// SHA-1.
    S1(sha1::Sha1),
    /// MD5.
    M5(md5::Md5),
    /// CRC-32.
    C(crc32fast::Hasher),
}

impl Hasher {
    /// A fresh digest.
    pub fn new(algo: HashAlgo) -> Hasher {
        use sha2::Digest;
        match algo {
            HashAlgo::Sha256 => Hasher::S256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Hasher::S512(sha2::Sha512::new()),
            HashAlgo::Sha1 => Hasher::S1(sha1::Sha1::new()),
            HashAlgo::Md5 => Hasher::M5(md5::Md5::new()),
            HashAlgo::Crc32 => Hasher::C(crc32fast::Hasher::new()),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, b: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::S256(x) => x.update(b),
            Hasher::S512(x) => x.update(b),
            Hasher::S1(x) => x.update(b),
            Hasher::M5(x) => x.update(b),
            Hasher::C(x) => x.update(b),
        }
    }

    /// The digest in lower-case hex.
    pub fn hex(self) -> String {
        use sha2::Digest;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match self {
            Hasher::S256(x) => hex(&x.finalize()),
            Hasher::S512(x) => hex(&x.finalize()),
            Hasher::S1(x) => hex(&x.finalize()),
            Hasher::M5(x) => hex(&x.finalize()),
            Hasher::C(x) => format!("{:08x}", x.finalize()),
        }
    }
}

/// Digest of bytes `[start, end)` of `file`. Blocking: for tests and small reads.
pub fn digest(file: &File, algo: HashAlgo, start: u64, end: u64) -> io::Result<String> {
    let mut h = Hasher::new(algo);
    let mut buf = vec![0u8; CHUNK];
    let mut pos = start;
    while pos < end {
        let n = read_chunk(file, &mut h, &mut buf, pos, end)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
    }
    Ok(h.hex())
}

/// Bytes hashed per step: between steps the job can be cancelled and rate-limited.
const CHUNK: usize = 1 << 20;

/// Reads and hashes the next chunk at `pos` (at most up to `end`); the bytes hashed.
fn read_chunk(
    file: &File,
    h: &mut Hasher,
    buf: &mut [u8],
    pos: u64,
    end: u64,
) -> io::Result<usize> {
    let want = buf.len().min((end - pos) as usize);
    let n = kftp_datapath::copy::pread(file, &mut buf[..want], pos)?;
    h.update(&buf[..n]);
    Ok(n)
}

/// What a running digest reports and obeys: bytes done, and the session's rate limits (a
/// digest reads the disk like a download does).
struct Pace {
    progress: Arc<AtomicU64>,
    limits: Vec<Arc<kftp_datapath::RateLimiter>>,
}

impl Pace {
    async fn step(&self, n: usize) {
        self.progress.fetch_add(n as u64, Ordering::Relaxed);
        for l in &self.limits {
            l.acquire(n as u64).await;
        }
    }
}

/// Digest of a local file, one chunk per blocking step. Dropping the future cancels it after
/// the chunk in hand (at most [`CHUNK`] bytes): ABOR, QUIT and a vanished client stop it.
async fn file_digest(
    file: File,
    algo: HashAlgo,
    start: u64,
    end: u64,
    pace: &Pace,
) -> io::Result<String> {
    let file = Arc::new(file);
    let mut state = Some((Hasher::new(algo), vec![0u8; CHUNK]));
    let mut pos = start;
    while pos < end {
        let (mut h, mut buf) = state
            .take()
            .ok_or_else(|| io::Error::other("hash state lost"))?;
        let f = Arc::clone(&file);
        let (h, buf, n) = tokio::task::spawn_blocking(move || {
            let n = read_chunk(&f, &mut h, &mut buf, pos, end);
            (h, buf, n)
        })
        .await
        .map_err(|_| io::Error::other("hashing thread failed"))?;
        let n = n?;
        state = Some((h, buf));
        if n == 0 {
            break;
        }
        pos += n as u64;
        pace.step(n).await;
    }
    let (h, _) = state.ok_or_else(|| io::Error::other("hash state lost"))?;
    Ok(h.hex())
}

/// Digest of bytes `[start, end)` of an object. A whole-object MD5 comes from the ETag
/// when the store computed one (single-part uploads); everything else is read.
async fn object_digest(
    o: &crate::storage::object::ObjectRead,
    algo: HashAlgo,
    start: u64,
    end: u64,
    pace: &Pace,
) -> io::Result<String> {
    use futures::StreamExt;
    if algo == HashAlgo::Md5 && start == 0 && end == o.size() {
        if let Some(md5) = o.content_md5() {
            return Ok(md5);
        }
    }
    let mut h = Hasher::new(algo);
    let mut s = o.stream(start, end).await?;
    while let Some(b) = s.next().await {
        let b = b?;
        h.update(&b);
        pace.step(b.len()).await;
    }
    Ok(h.hex())
}

/// Which reply form a digest ends with.
#[derive(Clone, Copy)]
enum Form {
    /// `213 <algo> <start>-<end> <hex> <path>` (HASH).
    Hash,
    /// `250 <hex>` (XCRC, XMD5, XSHA*).
    X,
}

/// Checks the request, then starts the digest as the session's running job, so that the
/// control loop keeps answering ABOR, STAT and NOOP, and ABOR, QUIT or a closed connection
/// stop it. `Ok`: the job's reply comes when it ends.
async fn start(
    s: &mut Session,
    arg: &str,
    algo: HashAlgo,
    range: ByteRange,
    form: Form,
) -> Replied {
    let cfg = &s.shared.config;
    if s.login().is_some_and(|l| l.anonymous) && !cfg.hash.anonymous {
        return Err(Reply::new(
            550,
            "HASH and the X* digests are not available to anonymous users here.",
        ));
    }
    let max = cfg.hash.max_bytes;
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let handle = fs.open_read(&p).await.or_reply(arg)?;
    let len = handle.size();
    let end = range.end.unwrap_or(len).min(len);
    let start = range.start;
    if start > end {
        return Err(Reply::new(
            501,
            format!("Range starts past the end of the file ({len} bytes)."),
        ));
    }
    if end - start > max {
        return Err(Reply::new(
            504,
            format!(
                "Hashing {} bytes is refused here: the limit is {max} bytes; use RANG (or the \
                 X* range arguments) to hash the file in parts.",
                end - start
            ),
        ));
    }
    let pace = Pace {
        progress: Arc::new(AtomicU64::new(0)),
        limits: s.login().map(|l| l.guard.limits()).unwrap_or_default(),
    };
    let progress = Arc::clone(&pace.progress);
    let (abort_tx, abort_rx) = oneshot::channel::<()>();
    let arg = arg.to_string();
    let job = async move {
        let work = async {
            match handle {
                ReadHandle::File { file, .. } => file_digest(file, algo, start, end, &pace).await,
                ReadHandle::Object(o) => object_digest(&o, algo, start, end, &pace).await,
            }
        };
        let hex = tokio::select! {
            r = work => r,
            _ = abort_rx => return Reply::new(426, "HASH aborted; no digest sent."),
        };
        match (hex, form) {
            (Ok(hex), Form::Hash) => Reply::new(
                213,
                format!(
                    "{} {start}-{} {hex} {arg}",
                    algo.name(),
                    end.saturating_sub(1).max(start)
                ),
            ),
            (Ok(hex), Form::X) => Reply::new(250, hex),
            (Err(e), _) => Reply::new(
                451,
                format!("Hashing failed: {}.", crate::storage::hidden(&e)),
            ),
        }
    };
    s.running = Some(Running {
        handle: tokio::spawn(tracing::Instrument::in_current_span(job)),
        abort: Some(abort_tx),
        progress,
        what: format!("HASH {p}"),
        total: Some(end - start),
        started: Instant::now(),
        stop_on_quit: true,
    });
    Ok(())
}

/// HASH path: `213 <algo> <start>-<end> <hex> <path>`, end inclusive as the draft shows.
pub async fn hash(s: &mut Session, arg: &str) -> Replied {
    let algo = s.hash_algo;
    let range = match s.rang.take() {
        Some((a, b)) => ByteRange {
            start: a,
            end: Some(b.saturating_add(1)),
        },
        None => ByteRange {
            start: 0,
            end: None,
        },
    };
    start(s, arg, algo, range, Form::Hash).await
}

/// RANG start end: limits the next HASH; `RANG 1 0` resets.
pub fn rang(s: &mut Session, a: u64, b: u64) -> Answer {
    if a == 1 && b == 0 {
        s.rang = None;
        return Ok(Reply::new(350, "Range reset."));
    }
    if a > b {
        return Err(Reply::new(501, "RANG start must not exceed end."));
    }
    s.rang = Some((a, b));
    Ok(Reply::new(350, format!("Range set to {a}-{b}; send HASH.")))
}

/// XCRC/XMD5/XSHA*: `250 <hex>`, range end exclusive.
pub async fn xhash(s: &mut Session, algo: HashAlgo, arg: &str, range: ByteRange) -> Replied {
    start(s, arg, algo, range, Form::X).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn known_digests() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"abc").unwrap();
        assert_eq!(
            digest(&f, HashAlgo::Sha256, 0, 3).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(&f, HashAlgo::Md5, 0, 3).unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            digest(&f, HashAlgo::Sha1, 0, 3).unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(digest(&f, HashAlgo::Crc32, 0, 3).unwrap(), "352441c2");
        assert_eq!(digest(&f, HashAlgo::Md5, 1, 2).unwrap(), {
            use sha2::Digest;
            format!("{:x}", md5::Md5::digest(b"b"))
        });
    }
}
