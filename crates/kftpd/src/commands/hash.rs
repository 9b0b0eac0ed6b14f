//! HASH with OPTS HASH and RANG (draft-bryan-ftpext-hash), the older XCRC, XMD5,
//! XSHA1, XSHA256, XSHA512 forms, and GridFTP's CKSM: one digest job behind all three,
//! with the same limits (anonymous access, `hash.max_bytes`, the session's rate).

use super::{storage, Answer, OrReply, Replied};
use crate::session::{Running, Session};
use crate::storage::ReadHandle;
use kftp_datapath::digest::{hash_chunk, Hasher, CHUNK};
use kftp_proto::command::{ByteRange, HashAlgo};
use kftp_proto::Reply;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

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
            let n = hash_chunk(&f, &mut h, &mut buf, pos, end);
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
    /// `213 <hex>` (CKSM, as the Grid Community Toolkit's server answers it).
    Cksm,
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
            "HASH, CKSM and the X* digests are not available to anonymous users here.",
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
            (Ok(hex), Form::Cksm) => Reply::new(213, hex),
            (Err(e), _) => Reply::new(
                451,
                format!("Hashing failed: {}.", crate::storage::hidden(&e)),
            ),
        }
    };
    s.running = Some(Running {
        handle: Running::spawned(tracing::Instrument::in_current_span(job)),
        abort: Some(abort_tx),
        progress,
        what: format!("HASH {p}"),
        total: Some(end - start),
        started: Instant::now(),
        stop_on_quit: true,
        ends_by_itself: false,
        markers: None,
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

/// CKSM algorithm offset length path: `213 <hex>` of `length` bytes from `offset`.
pub async fn cksm(s: &mut Session, algo: HashAlgo, arg: &str, range: ByteRange) -> Replied {
    start(s, arg, algo, range, Form::Cksm).await
}

/// XCRC/XMD5/XSHA*: `250 <hex>`, range end exclusive.
pub async fn xhash(s: &mut Session, algo: HashAlgo, arg: &str, range: ByteRange) -> Replied {
    start(s, arg, algo, range, Form::X).await
}
