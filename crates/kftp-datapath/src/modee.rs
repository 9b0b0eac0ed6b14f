//! MODE E (GridFTP extended block mode) over TCP streams, for the server and the client
//! alike: the block codec is [`kftp_proto::modee`]; this is the I/O around it.
//!
//! - [`send_blocks`]: the sender's side ([`send_ranges`] for a restart: only the parts
//!   the receiver lacks, at their file offsets). Every stream takes the next block from
//!   one shared cursor (a fast stream takes more; with several streams the blocks shrink
//!   toward the end, `next_block`), writes its 17-byte header, then the block's bytes
//!   with [`crate::file_to_socket`] (sendfile where it wins; under `PROT P` too when the
//!   kernel holds the stream's TLS keys, [`Sink::Ktls`]). Each stream ends with EOD;
//!   the first also carries EOF with the number of streams. No close bit: the streams may
//!   be cached for the next transfer.
//! - [`recv_blocks`]: the receiver's side. Streams are read block by block; each block's
//!   bytes go to the file at its offset, from a bare socket ([`Source::socket`]) by
//!   splice(2) bounded to the block, else through the bounded copy loop (pwrite, at most
//!   `buf_size` of buffer, one buffer per stream for all its blocks); quotas are charged
//!   per chunk either way, so a block of any size costs bounded memory. New streams are accepted until EOF's EOD count is reached, since one may
//!   still be in flight when all open ones have ended.

use crate::ktls_stream::KtlsStream;
use crate::{copy, Outcome, PathUsed, Tuning};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use kftp_proto::modee::{Block, EodCounter, Header, Ranges, HEADER_LEN};
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes per block sent: large enough that a header per block costs nothing.
pub const BLOCK: u64 = 1 << 20;

/// The smallest block the end of a transfer is cut into (`next_block`).
pub const MIN_BLOCK: u64 = 64 << 10;

/// The next block a stream takes from the shared `cursor` into `total` bytes sent over
/// `streams` streams: [`BLOCK`], but with more than one stream never more than a
/// `2 * streams`-th of what is left (down to [`MIN_BLOCK`]), so that the streams finish
/// together. With whole 1 MiB blocks a window-bound stream on a long fat network
/// (~2.6 MB/s) takes ~0.4 s over its last block: eight such streams' last bytes arrived
/// 0.16-0.19 s apart while the others sat idle, and 0.05-0.08 s apart with the shrinking
/// blocks (BENCHMARKS.md, HPC run 8). Returns `(at, len)` in the sequence, or None once
/// all is taken.
fn next_block(cursor: &AtomicU64, total: u64, streams: u64) -> Option<(u64, u64)> {
    let mut at = cursor.load(Ordering::Relaxed);
    loop {
        let left = total.checked_sub(at).filter(|l| *l > 0)?;
        // One stream has no other to wait for: whole blocks to the end.
        let len = if streams <= 1 {
            BLOCK.min(left)
        } else {
            (left / (2 * streams)).clamp(MIN_BLOCK, BLOCK).min(left)
        };
        match cursor.compare_exchange_weak(at, at + len, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some((at, len)),
            Err(now) => at = now,
        }
    }
}

/// A stream blocks are sent on: a plain TCP socket (sendfile for the bytes), a socket
/// whose TX the kernel encrypts (sendfile too), or any other writer such as a rustls
/// stream (the copy loop).
pub enum Sink<W> {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS in the kernel (`PROT P` where the kernel took the keys): headers and bytes go
    /// as on `Tcp` and the kernel makes the records. Kept between transfers only beside
    /// other TLS streams (`kftp_tls::kept`, never in a plain cache);
    /// it ends with [`KtlsStream::shutdown`] (the kernel's `close_notify`).
    Ktls(KtlsStream),
    /// rustls or anything else that is not a bare socket.
    Stream(W),
}

/// A stream blocks are read from. A bare TCP socket gives itself up so that a block's
/// bytes go socket -> pipe -> file with splice(2), never through user space (the copy
/// loop's recv cost ~2.5x the CPU of the whole MODE S receive, BENCHMARKS.md HPC run 7);
/// anything else (TLS) is read through the copy loop.
pub trait Source: AsyncRead + Unpin + Send {
    /// The bare socket, when the stream is one.
    fn socket(&self) -> Option<&TcpStream> {
        None
    }
}

impl Source for TcpStream {
    fn socket(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

/// Boxed streams (rustls) are read through the copy loop.
impl<T: AsyncRead + Unpin + Send + ?Sized> Source for Box<T> {}

/// Sends `file[offset..end]` as blocks over `streams` (at least one); returns the streams
/// (for a cache) and what moved. `close` sets the close bit on each stream's last block
/// (the sender will close it rather than keep it for another transfer).
pub async fn send_blocks<W: AsyncWrite + Unpin + Send>(
    file: &File,
    offset: u64,
    end: u64,
    streams: Vec<Sink<W>>,
    close: bool,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<(Vec<Sink<W>>, Outcome)> {
    let whole = [(offset, end.max(offset))];
    send_ranges(file, &whole, streams, close, tuning, progress).await
}

/// [`send_blocks`] for the parts of a file a restarted transfer still needs (`ranges`:
/// sorted, disjoint `[start, end)`): blocks carry their absolute file offsets, so the
/// receiver writes them where they belong.
pub async fn send_ranges<W: AsyncWrite + Unpin + Send>(
    file: &File,
    ranges: &[(u64, u64)],
    streams: Vec<Sink<W>>,
    close: bool,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<(Vec<Sink<W>>, Outcome)> {
    send_ranges_from(file, ranges, 0, streams, close, tuning, progress).await
}

/// [`send_ranges`] of a part of a file sent as a file of its own (GridFTP's `ERET P`):
/// the bytes still come from `file` at their own offsets, but each block header counts
/// from `origin` (GFD.20: offset 0 is the start of the part). `ranges` start at or past
/// `origin`.
pub async fn send_ranges_from<W: AsyncWrite + Unpin + Send>(
    file: &File,
    ranges: &[(u64, u64)],
    origin: u64,
    streams: Vec<Sink<W>>,
    close: bool,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<(Vec<Sink<W>>, Outcome)> {
    if streams.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "MODE E: no stream to send on",
        ));
    }
    let plan = Pieces::new(ranges);
    let n = streams.len() as u64;
    let cursor = AtomicU64::new(0);
    let runs = streams.into_iter().enumerate().map(|(i, s)| {
        let eof = (i == 0).then_some(n);
        let share = Share {
            cursor: &cursor,
            plan: &plan,
            streams: n,
            origin,
        };
        send_stream(s, file, share, eof, close, tuning, progress)
    });
    let ends = futures::future::try_join_all(runs).await?;
    // The slowest path any block took names the transfer.
    let path = [PathUsed::TlsCopy, PathUsed::Copy, PathUsed::KtlsSendfile]
        .into_iter()
        .find(|p| ends.iter().any(|(_, q)| *q == Some(*p)))
        .unwrap_or(PathUsed::Sendfile);
    let streams = ends.into_iter().map(|(s, _)| s).collect();
    Ok((
        streams,
        Outcome {
            bytes: plan.total,
            path,
        },
    ))
}

/// The ranges to send laid end to end: the streams share one cursor into this sequence,
/// and [`Pieces::at`] maps a stretch of it back to file offsets.
struct Pieces<'a> {
    ranges: &'a [(u64, u64)],
    /// Bytes of the sequence before each range.
    before: Vec<u64>,
    total: u64,
}

impl<'a> Pieces<'a> {
    fn new(ranges: &'a [(u64, u64)]) -> Self {
        let mut before = Vec::with_capacity(ranges.len());
        let mut total = 0u64;
        for &(s, e) in ranges {
            before.push(total);
            total += e.saturating_sub(s);
        }
        Pieces {
            ranges,
            before,
            total,
        }
    }

    /// The file stretches (offset, len) of the sequence's bytes `[at, at + len)`: one per
    /// range the stretch touches, so a block never spans a gap.
    fn at(&self, at: u64, len: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let end = at.saturating_add(len).min(self.total);
        // The range holding `at`: the last one that starts at or before it.
        let first = self.before.partition_point(|&b| b <= at).saturating_sub(1);
        self.ranges[first.min(self.ranges.len())..]
            .iter()
            .zip(&self.before[first.min(self.before.len())..])
            .map_while(move |(&(s, e), &b)| {
                if b >= end {
                    return None;
                }
                let from = at.max(b);
                let to = end.min(b + (e - s));
                Some((s + (from - b), to.saturating_sub(from)))
            })
            .filter(|&(_, l)| l > 0)
    }
}

/// What the streams of one send share: the cursor into the ranges laid end to end, and
/// how many streams take from it.
#[derive(Clone, Copy)]
struct Share<'a, 'b> {
    cursor: &'a AtomicU64,
    plan: &'a Pieces<'b>,
    streams: u64,
    /// The file offset block headers count from (0 but for a part, [`send_ranges_from`]).
    origin: u64,
}

/// One stream: blocks from the cursor until the ranges are sent, then EOD (with EOF on
/// the stream given `eof`). Returns the stream and the path its blocks took.
async fn send_stream<W: AsyncWrite + Unpin + Send>(
    mut s: Sink<W>,
    file: &File,
    share: Share<'_, '_>,
    eof: Option<u64>,
    close: bool,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<(Sink<W>, Option<PathUsed>)> {
    let mut path = None;
    while let Some((next, len)) = next_block(share.cursor, share.plan.total, share.streams) {
        for (at, len) in share.plan.at(next, len) {
            let wire = at - share.origin;
            path = Some(send_block(&mut s, file, (at, wire), len, tuning, progress).await?);
        }
    }
    let last = match eof {
        Some(n) => Header::eof(n, close),
        None => Header::eod(close),
    }
    .encode();
    match &mut s {
        Sink::Tcp(t) => {
            t.write_all(&last).await?;
            t.flush().await?;
        }
        Sink::Ktls(k) => k.write_all(&last).await?,
        Sink::Stream(w) => {
            w.write_all(&last).await?;
            w.flush().await?;
        }
    }
    Ok((s, path))
}

/// One block: its header (saying `wire`), then `file[at..at + len]`; returns the path its
/// bytes took.
async fn send_block<W: AsyncWrite + Unpin + Send>(
    s: &mut Sink<W>,
    file: &File,
    (at, wire): (u64, u64),
    len: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<PathUsed> {
    let header = Header::data(wire, len).encode();
    Ok(match s {
        Sink::Tcp(t) => {
            t.write_all(&header).await?;
            crate::file_to_socket(file, at, len, t, tuning, progress)
                .await?
                .path
        }
        Sink::Ktls(k) => {
            k.write_all(&header).await?;
            let o = crate::file_to_socket(file, at, len, k.tcp(), tuning, progress).await?;
            // Encrypted either way; only sendfile kept the bytes in the kernel.
            match o.path {
                PathUsed::Sendfile => PathUsed::KtlsSendfile,
                _ => PathUsed::TlsCopy,
            }
        }
        Sink::Stream(w) => {
            w.write_all(&header).await?;
            copy::file_to_stream(file, at, len, w, tuning, progress).await?;
            PathUsed::TlsCopy
        }
    })
}

/// Bounds on what a sender may make a receiver do.
#[derive(Clone, Copy, Debug)]
pub struct RecvLimits {
    /// Most streams (cached and new) in one transfer, and the largest EOD count accepted.
    pub max_streams: usize,
    /// Largest file end a block may reach (a size cap; `u64::MAX`: none), so that a header
    /// cannot make a huge sparse file.
    pub max_end: u64,
}

/// What a receive delivered.
#[derive(Debug)]
pub struct Received<S> {
    /// File bytes written.
    pub bytes: u64,
    /// EODs counted (the streams the sender used).
    pub streams: u64,
    /// Streams that ended with EOD and no close bit, to cache for the next transfer.
    pub reusable: Vec<S>,
}

/// Accepts the next stream of a transfer (checked against the control peer, and wrapped
/// in TLS where the session has PROT P, by the caller).
pub type Accept<'a, S = TcpStream> = Box<dyn FnMut() -> BoxFuture<'a, io::Result<S>> + Send + 'a>;

/// What a receive has written so far, readable while it runs (a server's `111` restart
/// markers): the bytes of whole blocks, and their ranges, coalesced. A range that would
/// need an entry past [`kftp_proto::modee::MAX_RANGES`] is left out, so the set stays
/// bounded and never claims a byte that is not in the file.
#[derive(Debug, Default)]
pub struct Written {
    bytes: AtomicU64,
    ranges: Mutex<Ranges>,
    /// The furthest end of any block (or of the ranges it started with).
    end: AtomicU64,
}

impl Written {
    /// For a restarted upload: `there` (the ranges the client says the file already
    /// holds) count as written, so restart markers report them too, but not as bytes
    /// this transfer moved.
    pub fn resumed(there: Ranges) -> Self {
        Written {
            bytes: AtomicU64::new(0),
            end: AtomicU64::new(there.end()),
            ranges: Mutex::new(there),
        }
    }

    /// The ranges, even after a panic elsewhere held the lock (they are only ever grown).
    fn lock(&self) -> std::sync::MutexGuard<'_, Ranges> {
        self.ranges.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes from 0 that are in the file without a gap: what is known to be whole.
    pub fn prefix(&self) -> u64 {
        self.lock().prefix()
    }

    /// The furthest end of any block written (or range resumed): the file's length once
    /// the transfer is complete, whatever order its blocks came in.
    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Relaxed)
    }

    /// The ranges of the blocks written so far.
    pub fn ranges(&self) -> Ranges {
        self.lock().clone()
    }

    /// Bytes of the blocks written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Notes a block that is in the file (one lock per block, not per chunk).
    pub fn add(&self, offset: u64, len: u64) {
        self.bytes.fetch_add(len, Ordering::Relaxed);
        self.end
            .fetch_max(offset.saturating_add(len), Ordering::Relaxed);
        let mut r = self.lock();
        r.insert(offset, offset.saturating_add(len));
    }
}

/// Receives blocks into `file` from `cached` streams and from streams `accept` brings,
/// until EOF's EOD count is reached.
pub async fn recv_blocks<S: Source>(
    file: &File,
    cached: Vec<S>,
    accept: Option<Accept<'_, S>>,
    limits: RecvLimits,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Received<S>> {
    let written = Written::default();
    recv_blocks_into(file, cached, accept, limits, tuning, progress, &written).await
}

/// [`recv_blocks`], telling `written` about every block once it is in the file.
pub async fn recv_blocks_into<S: Source>(
    file: &File,
    cached: Vec<S>,
    accept: Option<Accept<'_, S>>,
    limits: RecvLimits,
    tuning: &Tuning,
    progress: &AtomicU64,
    written: &Written,
) -> io::Result<Received<S>> {
    let to = Place { file, origin: 0 };
    recv_blocks_at(to, cached, accept, limits, tuning, progress, written).await
}

/// Where received blocks go: `file` at `origin` plus the offset in each header (GridFTP's
/// `ESTO A origin`, GFD.20; 0 for a plain upload). [`Written`] and the restart markers keep
/// the headers' offsets, which is what the sender counts in.
#[derive(Clone, Copy)]
pub struct Place<'a> {
    /// The file written.
    pub file: &'a File,
    /// Added to every block's offset.
    pub origin: u64,
}

/// [`recv_blocks_into`] for blocks placed at `to.origin` + their offset. `limits.max_end`
/// bounds the file offset a block reaches, origin included.
pub async fn recv_blocks_at<S: Source>(
    to: Place<'_>,
    cached: Vec<S>,
    mut accept: Option<Accept<'_, S>>,
    limits: RecvLimits,
    tuning: &Tuning,
    progress: &AtomicU64,
    written: &Written,
) -> io::Result<Received<S>> {
    let start = written.bytes();
    let mut readers = FuturesUnordered::new();
    let mut opened = 0usize;
    for s in cached {
        opened += 1;
        readers.push(recv_stream(
            s,
            to,
            limits.max_end,
            true,
            tuning,
            progress,
            written,
        ));
    }
    let mut eods = EodCounter::default();
    let mut reusable = Vec::new();
    // The accept in flight lives across loop turns: a stream whose connection (or TLS
    // handshake) is under way when another stream ends must not be dropped half-accepted,
    // or its sender's EOD is lost and the transfer waits for a stream that never comes.
    let mut pending: Option<BoxFuture<'_, io::Result<S>>> = None;
    // After an accept fails while streams are still being read, the next is armed only
    // once one of them ends: a stray connection or an accept deadline reached during a
    // long block does not fail the transfer, and a failing accept cannot spin.
    let mut paused = false;
    let mut last_err = None;
    while !eods.done() {
        if pending.is_none() && !paused && opened < limits.max_streams {
            pending = accept.as_mut().map(|a| a());
        }
        if readers.is_empty() && pending.is_none() {
            return Err(last_err.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "MODE E: the streams ended before EOF",
                )
            }));
        }
        let next = async {
            match pending.as_mut() {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            s = next => {
                pending = None;
                match s {
                    Ok(s) => {
                        opened += 1;
                        readers.push(recv_stream(s, to, limits.max_end, false, tuning, progress, written));
                    }
                    Err(e) if readers.is_empty() => return Err(e),
                    Err(e) => {
                        paused = true;
                        last_err = Some(e);
                    }
                }
            }
            Some(end) = readers.next(), if !readers.is_empty() => {
                paused = false;
                let end = end?;
                if end.unused {
                    continue;
                }
                if let Some(n) = end.eof {
                    if n > limits.max_streams as u64 {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("MODE E: EOF announces {n} streams, more than the {} allowed", limits.max_streams),
                        ));
                    }
                    eods.note_eof(n);
                }
                eods.note_eod();
                if end.reusable {
                    reusable.push(end.sock);
                }
            }
        }
    }
    Ok(Received {
        bytes: written.bytes() - start,
        streams: eods.received(),
        reusable,
    })
}

/// How one stream's part of a transfer ended.
struct StreamEnd<S> {
    sock: S,
    /// EOF came on this stream with this EOD count.
    eof: Option<u64>,
    /// EOD without the close bit: the stream may be cached.
    reusable: bool,
    /// A cached stream the sender closed instead of using: it counts for nothing.
    unused: bool,
}

/// Reads one stream's blocks until its EOD.
async fn recv_stream<S: Source>(
    mut sock: S,
    to: Place<'_>,
    max_end: u64,
    cached: bool,
    tuning: &Tuning,
    progress: &AtomicU64,
    written: &Written,
) -> io::Result<StreamEnd<S>> {
    let mut eof = None;
    let mut first = true;
    let mut buf = copy::recv_buf(tuning);
    loop {
        let next = match read_header(&mut sock).await {
            // A kept TLS stream its sender dropped without close_notify (rustls says
            // UnexpectedEof) or reset is as unused as a plain one it closed.
            Err(e) if first && cached && gone(&e) => None,
            r => r?,
        };
        let Some(h) = next else {
            if first && cached {
                return Ok(StreamEnd {
                    sock,
                    eof: None,
                    reusable: false,
                    unused: true,
                });
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "MODE E stream closed before its EOD",
            ));
        };
        first = false;
        match h.block() {
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "MODE E block past the largest file offset",
                ))
            }
            Ok(Block::Eof { eod_count }) => eof = Some(eod_count),
            Ok(Block::Restart { len }) => {
                let mut skip = (&mut sock).take(len);
                let n = tokio::io::copy(&mut skip, &mut tokio::io::sink()).await?;
                short(n, len)?;
            }
            Ok(Block::Data { offset, len }) => {
                // With an origin the end may pass 2^64 (the header's own check does not
                // know it): that is past any limit too.
                let at = to
                    .origin
                    .checked_add(offset)
                    .filter(|a| a.checked_add(len).is_some_and(|e| e <= max_end));
                let Some(at) = at else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("MODE E block ends past the size limit of {max_end} bytes"),
                    ));
                };
                block_to_file(&mut sock, len, to.file, at, &mut buf, tuning, progress).await?;
                written.add(offset, len);
            }
        }
        if h.is_eod() {
            return Ok(StreamEnd {
                sock,
                eof,
                reusable: !h.is_close(),
                unused: false,
            });
        }
    }
}

/// Reads exactly `len` bytes of a block into `file` at `offset`: by splice(2) from a bare
/// socket where the data path allows it (as a MODE S upload goes), else through `buf`
/// (kept across blocks) with the copy loop. Quotas are charged before each write.
async fn block_to_file<S: Source>(
    sock: &mut S,
    len: u64,
    file: &File,
    offset: u64,
    buf: &mut Vec<u8>,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<()> {
    if let Some(t) = sock.socket() {
        // A block (under chooser::MIN_SAMPLE_BYTES) is not a measurement: it takes the
        // path `auto` has decided for uploads, and teaches it nothing.
        let (kernel, _) = crate::resolve(tuning, crate::chooser::Direction::Recv, Some(len), t);
        if kernel && crate::probe::splice_works() {
            let r = crate::splice::recv_upto(t, file, offset, len, tuning, progress).await;
            if let Some(r) = crate::after_splice(r) {
                return short(r?.bytes, len);
            }
        }
    }
    let n = copy::stream_to_file_exact(sock, len, file, offset, buf, tuning, progress).await?;
    short(n, len)
}

fn short(got: u64, want: u64) -> io::Result<()> {
    if got < want {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("MODE E stream closed inside a block ({got} of {want} bytes)"),
        ));
    }
    Ok(())
}

/// Whether a read error means the peer closed or reset the stream.
fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
    )
}

/// The next header, or None on a clean close before its first byte.
async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Header>> {
    let mut b = [0u8; HEADER_LEN];
    if r.read(&mut b[..1]).await? == 0 {
        return Ok(None);
    }
    r.read_exact(&mut b[1..]).await?;
    Ok(Some(Header::decode(&b)))
}

/// A cached stream is still usable when the peer has not closed or reset it and sent
/// nothing since (the next transfer's blocks have not started).
pub fn alive(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.try_read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use tokio::net::TcpListener;

    /// Three streams each way on loopback: what is sent arrives byte-exact, EOF counts.
    #[tokio::test]
    async fn send_then_receive_over_three_streams() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let data: Vec<u8> = (0..(2 * BLOCK + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        std::fs::write(&src_path, &data).unwrap();
        let src = File::open(&src_path).unwrap();
        let dst = File::create(dir.path().join("dst")).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let tuning = Tuning::default();
        let (sent, got) = (AtomicU64::new(0), AtomicU64::new(0));
        let send = async {
            let mut v: Vec<Sink<TcpStream>> = Vec::new();
            for i in 0..3 {
                let s = TcpStream::connect(addr).await.unwrap();
                // One stream through the generic writer path, as TLS streams go.
                v.push(if i == 0 {
                    Sink::Stream(s)
                } else {
                    Sink::Tcp(s)
                });
            }
            send_blocks(&src, 0, data.len() as u64, v, false, &tuning, &sent).await
        };
        let accept: Accept<'_> = Box::new(|| Box::pin(async { Ok(l.accept().await?.0) }));
        let limits = RecvLimits {
            max_streams: 4,
            max_end: u64::MAX,
        };
        let recv = recv_blocks(&dst, Vec::new(), Some(accept), limits, &tuning, &got);
        let (s, r) = tokio::join!(send, recv);
        let (streams, out) = s.unwrap();
        let r = r.unwrap();
        assert_eq!(streams.len(), 3);
        assert_eq!(out.bytes, data.len() as u64);
        assert_eq!(
            (r.bytes, r.streams, r.reusable.len()),
            (data.len() as u64, 3, 3)
        );
        assert_eq!(std::fs::read(dir.path().join("dst")).unwrap(), data);
    }

    /// A restart: only the ranges the receiver lacks are sent, at their offsets, and a
    /// block never spans a gap; the file the receiver had is completed byte-exact.
    #[tokio::test]
    async fn send_ranges_fills_only_the_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(3 * BLOCK + 999))
            .map(|i| (i * 13 % 251) as u8)
            .collect();
        std::fs::write(dir.path().join("src"), &data).unwrap();
        let missing = [(100, BLOCK + BLOCK / 2), (2 * BLOCK + 5, data.len() as u64)];
        let mut had = data.clone();
        for &(s, e) in &missing {
            had[s as usize..e as usize].fill(0);
        }
        std::fs::write(dir.path().join("dst"), &had).unwrap();
        let src = File::open(dir.path().join("src")).unwrap();
        let dst = OpenOptions::new()
            .write(true)
            .open(dir.path().join("dst"))
            .unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let tuning = Tuning::default();
        let (sent, got) = (AtomicU64::new(0), AtomicU64::new(0));
        let send = async {
            let mut v: Vec<Sink<TcpStream>> = Vec::new();
            for _ in 0..3 {
                v.push(Sink::Tcp(TcpStream::connect(addr).await.unwrap()));
            }
            send_ranges(&src, &missing, v, false, &tuning, &sent).await
        };
        let accept: Accept<'_> = Box::new(|| Box::pin(async { Ok(l.accept().await?.0) }));
        let limits = RecvLimits {
            max_streams: 4,
            max_end: u64::MAX,
        };
        let written = Written::default();
        let recv = recv_blocks_into(
            &dst,
            Vec::new(),
            Some(accept),
            limits,
            &tuning,
            &got,
            &written,
        );
        let (s, r) = tokio::join!(send, recv);
        let want: u64 = missing.iter().map(|(s, e)| e - s).sum();
        assert_eq!(s.unwrap().1.bytes, want);
        assert_eq!(r.unwrap().bytes, want);
        assert_eq!(written.ranges().as_slice(), &missing);
        assert_eq!(written.end(), data.len() as u64);
        assert_eq!(std::fs::read(dir.path().join("dst")).unwrap(), data);
    }

    /// Whole blocks while much is left, then ever smaller ones down to MIN_BLOCK: every
    /// byte taken once, in order, and the last blocks small enough to end together.
    #[test]
    fn blocks_shrink_toward_the_end() {
        let total = 40 * BLOCK + 12345;
        let cursor = AtomicU64::new(0);
        let mut blocks = Vec::new();
        while let Some(b) = next_block(&cursor, total, 8) {
            blocks.push(b);
        }
        let mut at = 0;
        for &(a, l) in &blocks {
            assert_eq!(a, at, "contiguous");
            assert!(l <= BLOCK && (l >= MIN_BLOCK || a + l == total), "{l}");
            at += l;
        }
        assert_eq!(at, total);
        assert_eq!(blocks[0].1, BLOCK);
        assert!(
            blocks.iter().rev().take(8).all(|b| b.1 <= MIN_BLOCK),
            "{blocks:?}"
        );
        assert_eq!(next_block(&AtomicU64::new(5), 5, 1), None);
        assert_eq!(next_block(&AtomicU64::new(0), 100, 0), Some((0, 100)));
        // One stream: whole blocks to the end (one block for a file under 1 MiB).
        assert_eq!(
            next_block(&AtomicU64::new(0), 700_000, 1),
            Some((0, 700_000))
        );
        assert_eq!(
            next_block(&AtomicU64::new(0), 3 * BLOCK, 1),
            Some((0, BLOCK))
        );
    }

    #[test]
    fn pieces_map_the_cursor_back_to_file_offsets() {
        let ranges = [(10, 20), (30, 30), (50, 55)];
        let p = Pieces::new(&ranges);
        assert_eq!(p.total, 15);
        let at = |a, l| p.at(a, l).collect::<Vec<_>>();
        assert_eq!(at(0, 4), [(10, 4)]);
        assert_eq!(at(8, 4), [(18, 2), (50, 2)]);
        assert_eq!(at(12, 100), [(52, 3)]);
        assert_eq!(at(0, 100), [(10, 10), (50, 5)]);
        let seeded = Written::resumed(Ranges::parse("0-10,20-30").unwrap());
        assert_eq!((seeded.bytes(), seeded.end(), seeded.prefix()), (0, 30, 10));
    }

    /// kTLS streams take the socket path (header written, bytes sendfile'd) and name the
    /// transfer `ktls-sendfile`; with `--data-path copy` the copy loop writes to the same
    /// sockets and names it `tls-copy`. Here the sockets hold no keys (this kernel may have
    /// no kTLS), so the bytes arrive in clear and the receiver checks them.
    #[tokio::test]
    async fn ktls_sinks_sendfile_and_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let data: Vec<u8> = (0..(3 * BLOCK + 777))
            .map(|i| (i * 13 % 253) as u8)
            .collect();
        std::fs::write(&src_path, &data).unwrap();
        let src = File::open(&src_path).unwrap();
        let limits = RecvLimits {
            max_streams: 4,
            max_end: u64::MAX,
        };
        for choice in [crate::PathChoice::Kernel, crate::PathChoice::Copy] {
            let tuning = Tuning {
                choice,
                ..Tuning::default()
            };
            let dst_path = dir.path().join(format!("dst-{choice}"));
            let dst = File::create(&dst_path).unwrap();
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let (sent, got) = (AtomicU64::new(0), AtomicU64::new(0));
            let send = async {
                let mut v: Vec<Sink<TcpStream>> = Vec::new();
                for _ in 0..3 {
                    let s = TcpStream::connect(addr).await.unwrap();
                    v.push(Sink::Ktls(KtlsStream::unencrypted_for_test(s)));
                }
                send_blocks(&src, 0, data.len() as u64, v, true, &tuning, &sent).await
            };
            let accept: Accept<'_> = Box::new(|| Box::pin(async { Ok(l.accept().await?.0) }));
            let recv = recv_blocks(&dst, Vec::new(), Some(accept), limits, &tuning, &got);
            let (s, r) = tokio::join!(send, recv);
            let (streams, out) = s.unwrap();
            let r = r.unwrap();
            assert!(streams.iter().all(|s| matches!(s, Sink::Ktls(_))));
            let want = if choice == crate::PathChoice::Kernel && crate::probe::sendfile_works() {
                PathUsed::KtlsSendfile
            } else {
                PathUsed::TlsCopy
            };
            assert_eq!(out.path, want);
            // The close bit: nothing is offered for a cache.
            assert_eq!((r.bytes, r.streams, r.reusable.len()), (out.bytes, 3, 0));
            assert_eq!(std::fs::read(&dst_path).unwrap(), data);
        }
    }

    /// A stream still being accepted (its TLS handshake under way, here a pause) when
    /// another stream ends is kept, not dropped half-accepted: its EOD counts and the
    /// transfer ends. Before the fix the accept was cancelled and the receive waited for a
    /// stream that had already come.
    #[tokio::test]
    async fn a_stream_in_its_handshake_when_another_ends_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dst = File::create(dir.path().join("dst")).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut a = TcpStream::connect(addr).await.unwrap();
        let mut b = TcpStream::connect(addr).await.unwrap();
        let mut first = Vec::new();
        first.extend_from_slice(&Header::data(0, 10).encode());
        first.extend_from_slice(b"0123456789");
        first.extend_from_slice(&Header::eof(2, false).encode());
        a.write_all(&first).await.unwrap();
        let mut second = Vec::new();
        second.extend_from_slice(&Header::data(10, 5).encode());
        second.extend_from_slice(b"abcde");
        second.extend_from_slice(&Header::eod(false).encode());
        b.write_all(&second).await.unwrap();
        let accept: Accept<'_> = Box::new(|| {
            Box::pin(async {
                let s = l.accept().await?.0;
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                Ok(s)
            })
        });
        let limits = RecvLimits {
            max_streams: 4,
            max_end: u64::MAX,
        };
        let tuning = Tuning::default();
        let got = AtomicU64::new(0);
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            recv_blocks(&dst, Vec::new(), Some(accept), limits, &tuning, &got),
        )
        .await
        .expect("the second stream was lost")
        .unwrap();
        assert_eq!((r.bytes, r.streams), (15, 2));
        assert_eq!(
            std::fs::read(dir.path().join("dst")).unwrap(),
            b"0123456789abcde"
        );
        drop((a, b));
    }
}
