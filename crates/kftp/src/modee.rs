//! MODE E (GridFTP extended block mode): one file over several TCP streams of one session,
//! against kftpd and GridFTP servers (FEAT `PARALLEL`). The block I/O is
//! [`kftp_datapath::modee`], shared with kftpd.
//!
//! The sender of the data connects (GFD.20): for a download kftp listens (EPRT, falling
//! back to PORT) and the server opens `Parallelism` streams to it; only streams from the
//! control peer's address are read. For an upload kftp asks for a passive port (EPSV,
//! falling back to PASV) and connects its streams there. Replies 111 (restart ranges) and
//! 112 (performance markers) that the server sends before the final one are read and
//! passed over (never taken for the final reply); [`Client::markers`] says what they
//! reported. Listings and other transfers switch back to MODE S first.
//!
//! Under PROT P every stream runs its own TLS handshake with the control connection's
//! session store, so each resumes the control session as kftpd requires (a download's
//! streams each bring new tickets; before an upload the store is topped up if low). An
//! upload's streams then hand their transmit keys to the kernel where it has kTLS
//! ([`kftp_tls::block_sink`], as a MODE S put does): blocks by sendfile, the end by the
//! kernel's `close_notify`; elsewhere rustls and the copy loop. Downloads are read by
//! rustls, as in MODE S.
//!
//! Streams outlive a transfer (EOD without the close bit, as GridFTP servers keep theirs),
//! plain and TLS alike: the next get reads the server's cached streams without EPRT, the
//! next put writes to the same streams without EPSV, so a run of files costs no new
//! connections and no TLS handshakes. A kept kTLS upload stream stays in the kernel; a
//! rustls one keeps its state, and a download stream what rustls read past its EOD.
//! Streams the server has closed meanwhile are dropped first (and new ones made: checked
//! without consuming a byte, [`kftp_tls::kept`]); so are TLS streams whose keys near their
//! record limit. `MODE S`, a change of PROT and the end of the session close them (TLS
//! ones with close_notify).
//!
//! `get -c` and `put -c` resume here too: `REST n` (GridFTP servers and kftpd read it as
//! the range `0-n`), then only the rest travels, as blocks written at their offsets.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::settings::{Effect, Setting};
use crate::stream::Stream;
use crate::transfer::{stall_guard, GetTarget, TransferOptions, TransferReport};
use kftp_datapath::modee::{recv_blocks, send_blocks, Accept, RecvLimits, Sink};
use kftp_proto::modee::{format_retr_opts, parse_range_marker, PerfMarker, Ranges};
use kftp_proto::{Command, Reply, TransferType};
use kftp_tls::kept::{self, Kept};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::net::TcpStream;

/// Most streams kftp asks for or accepts in one transfer.
pub const MAX_STREAMS: u32 = 64;

/// `--streams` left to kftp: MODE E with [`AUTO_STREAMS`] streams when the control round
/// trip is at least this long, else MODE S. Measured (BENCHMARKS.md, HPC run 5): on
/// loopback one MODE S stream moved 1278 MB/s against 386 MB/s for four MODE E streams,
/// while at 50 ms RTT with 1 MiB TCP windows four streams moved 3.6x what one did. Extra
/// streams pay where one TCP window (or loss recovery) limits a stream, which needs a long
/// round trip; near the server they only add work.
pub const AUTO_RTT: Duration = Duration::from_millis(10);

/// Streams [`Client::set_streams_auto`] chooses for a distant server (GridFTP's usual
/// choice; within 3 % of eight at 50 ms RTT in run 5, with half the connections).
pub const AUTO_STREAMS: u32 = 4;

/// Streams kept between MODE E transfers of one session, all made under one PROT.
#[derive(Default)]
pub struct Cache {
    /// After a get: our listener (the server's PORT target) and the server's streams.
    pub(crate) recv: Option<(TcpListener, Vec<Stream>)>,
    /// After a put: our streams to the server's passive port (plain, kTLS or rustls).
    pub(crate) send: Vec<Kept<Stream>>,
    /// The `Parallelism` last set with OPTS RETR: the server keeps it until MODE S, so a
    /// run of gets asks once (a round trip saved per small file).
    pub(crate) retr_parallelism: Option<u32>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("recv", &self.recv.as_ref().map(|(_, v)| v.len()))
            .field("send", &self.send.len())
            .field("retr_parallelism", &self.retr_parallelism)
            .finish()
    }
}

/// A dropped cache (MODE S, PROT, the end of the session) ends its TLS streams with
/// close_notify.
impl Drop for Cache {
    fn drop(&mut self) {
        let recv = self.recv.take().map(|(_, v)| v).unwrap_or_default();
        let send = kept::split(std::mem::take(&mut self.send)).0;
        kept::close_later(send, recv);
    }
}

/// What the server's `111`/`112` markers said during this session's MODE E transfers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Markers {
    /// `112` performance markers read.
    pub perf: u64,
    /// `111` restart markers read.
    pub restart: u64,
    /// The last performance marker that parsed.
    pub last_perf: Option<PerfMarker>,
    /// The ranges of the last restart marker that parsed (what the server has written).
    pub last_ranges: Option<Ranges>,
}

impl Markers {
    /// Notes an interim marker reply; one that does not parse is counted and passed over.
    pub(crate) fn note(&mut self, r: &Reply) {
        tracing::debug!(reply = %r, "MODE E marker");
        match r.code {
            111 => {
                self.restart += 1;
                if let Some(ranges) = parse_range_marker(&r.text()) {
                    self.last_ranges = Some(ranges);
                }
            }
            _ => {
                self.perf += 1;
                if let Some(m) = PerfMarker::parse(r.lines.iter().map(String::as_str)) {
                    self.last_perf = Some(m);
                }
            }
        }
    }
}

/// The streams `--streams` left unset takes for a control round trip of `rtt`.
pub fn streams_for_rtt(rtt: Duration) -> u32 {
    if rtt >= AUTO_RTT {
        AUTO_STREAMS
    } else {
        1
    }
}

/// Opens one stream to the server's passive port.
pub(crate) async fn connect(addr: std::net::SocketAddr, timeout: Duration) -> Result<TcpStream> {
    let s = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| crate::control::timeout_error("opening a MODE E stream"))?
        .map_err(|e| Error::net(format!("data stream to {addr}"), e))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// A kept download stream the server has not closed and sent nothing on since.
pub(crate) fn live(s: &mut Stream) -> bool {
    kept::idle(s)
}

impl Client {
    /// From now on [`Client::get`] and [`Client::put`] (and so `mirror` and the shell) move
    /// a whole binary file over `n` streams in MODE E where the server offers it; 1 (the
    /// default) keeps MODE S. Forked sessions inherit it.
    pub fn set_streams(&mut self, n: u32) {
        self.streams = n.clamp(1, MAX_STREAMS);
        self.pipeline_auto = false;
    }

    /// Chooses the streams by distance: where the server offers MODE E, times two NOOP
    /// round trips on the control connection and takes [`AUTO_STREAMS`] if the shorter is
    /// at least [`AUTO_RTT`], else one (MODE S); a server on loopback gets one without a
    /// measurement. Returns the round trip measured, if any.
    /// Runs of files (`mirror`) then pipeline in MODE E at any distance
    /// ([`Client::pipelines`]): without a connection and a round trip per file, a small
    /// file costs less in MODE E even on loopback (BENCHMARKS.md, HPC run 6).
    pub async fn set_streams_auto(&mut self) -> Result<Option<Duration>> {
        self.pipeline_auto = self.features.parallel;
        if !self.features.parallel {
            self.streams = 1;
            return Ok(None);
        }
        // Streams never pay on one host (loopback: MODE S 1278 MB/s against 386 MB/s over
        // four streams, BENCHMARKS.md): one stream.
        let Some(rtt) = self.round_trip().await? else {
            self.streams = 1;
            return Ok(None);
        };
        self.streams = streams_for_rtt(rtt);
        tracing::debug!(?rtt, streams = self.streams, "streams chosen by round trip");
        Ok(Some(rtt))
    }

    /// The control round trip that what kftp chooses by itself goes by (streams, a
    /// mirror's sessions): the shorter of the login's USER and FEAT round trips, or None
    /// for a server on loopback, which is near by definition (a loaded machine's reply
    /// can take over 10 ms there). Two samples, as the two NOOPs this used to send, but
    /// no round trip of its own: two fewer on every CLI run with `--streams` unset (0.1 s
    /// at 50 ms).
    pub async fn round_trip(&mut self) -> Result<Option<Duration>> {
        if self.peer()?.ip().to_canonical().is_loopback() {
            return Ok(None);
        }
        Ok(Some(self.login_rtt))
    }

    /// The streams [`Client::get`] and [`Client::put`] use where MODE E applies.
    pub fn streams(&self) -> u32 {
        self.streams
    }

    /// Whether a transfer of `streams` streams would run in MODE E here: more than one
    /// stream, a server that offers it, and binary mode.
    pub fn mode_e_applies(&self, streams: u32, ascii: bool) -> bool {
        streams > 1 && self.features.parallel && !ascii
    }

    /// What the markers of this session's MODE E transfers said so far.
    pub fn markers(&self) -> &Markers {
        &self.mode_e_markers
    }

    /// The local addresses of the MODE E streams kept for the next transfer (downloads'
    /// then uploads'): the same addresses after another transfer mean it reused them.
    pub fn cached_streams(&self) -> Vec<std::net::SocketAddr> {
        let c = &self.mode_e_cache;
        let recv = c.recv.iter().flat_map(|(_, v)| v.iter().map(|s| s.tcp()));
        recv.chain(c.send.iter().map(|k| k.tcp()))
            .filter_map(|t| t.local_addr().ok())
            .collect()
    }

    /// The client side of a stream: TLS under PROT P.
    pub(crate) async fn wrap(&self, tcp: TcpStream) -> std::io::Result<Stream> {
        match (&self.opts.tls, self.data_tls) {
            (Some(tls), true) => tls.connect(tcp).await,
            _ => Ok(Stream::Plain(tcp)),
        }
    }

    /// Opens an upload's `n` streams to the server's passive port. In the clear all at once:
    /// one after the other each waits a round trip (eight at 50 ms: 0.35 s before the last
    /// one moves a byte, BENCHMARKS.md HPC run 8). Under PROT P one at a time, so that the
    /// server accepts them in the order [`Client::send_sinks`] runs their handshakes.
    async fn connect_streams(
        &self,
        addr: std::net::SocketAddr,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<TcpStream>> {
        if !self.data_tls {
            return futures::future::try_join_all((0..n).map(|_| connect(addr, timeout))).await;
        }
        let mut tcp = Vec::with_capacity(n);
        for _ in 0..n {
            tcp.push(connect(addr, timeout).await?);
        }
        Ok(tcp)
    }

    /// The download streams kept from the last get, when every one is still usable under
    /// the PROT now in force (checked while no RETR is outstanding: later, the next file's
    /// blocks may already be waiting on them); otherwise none (closed).
    pub(crate) fn take_recv_cache(&mut self) -> Option<(TcpListener, Vec<Stream>)> {
        let tls = self.data_tls;
        let (l, mut s) = self.mode_e_cache.recv.take()?;
        if !s.is_empty() && s.iter_mut().all(|s| s.is_tls() == tls && live(s)) {
            return Some((l, s));
        }
        kept::close_later(Vec::<Sink<Stream>>::new(), s);
        None
    }

    /// The upload streams kept from the last put, when every one may carry `bytes` more
    /// under the PROT now in force (the server has not closed it, its keys have room);
    /// otherwise none (closed).
    pub(crate) fn take_send_cache(&mut self, bytes: u64) -> Vec<Kept<Stream>> {
        let k = std::mem::take(&mut self.mode_e_cache.send);
        let tls = self.data_tls;
        if k.iter()
            .all(|k| k.is_tls() == tls && kept::usable(k, bytes, 1))
        {
            return k;
        }
        kept::close_later(kept::split(k).0, Vec::<Stream>::new());
        Vec::new()
    }

    /// The streams an upload of `len` bytes sends its blocks on: the `kept` ones, then the
    /// new `tcp` ones, plain (sendfile) or TLS under PROT P (each handshake within
    /// `timeout`, after the `150`), in the order the server accepted them; a new TLS
    /// stream's keys go to the kernel where it takes them (sendfile again). Also each
    /// stream's record count, for [`kept::rejoin`].
    pub(crate) async fn send_sinks(
        &self,
        kept: Vec<Kept<Stream>>,
        tcp: Vec<TcpStream>,
        len: u64,
        timeout: Duration,
    ) -> Result<(Vec<Sink<Stream>>, Vec<u64>)> {
        let (mut socks, mut counts) = kept::split(kept);
        for s in tcp {
            socks.push(if self.data_tls {
                let s = tokio::time::timeout(timeout, self.wrap(s))
                    .await
                    .map_err(|_| crate::control::timeout_error("TLS on a MODE E stream"))?
                    .map_err(|e| Error::net("TLS handshake on a MODE E stream", e))?;
                match s {
                    Stream::Tls(tls) => {
                        kftp_tls::block_sink(*tls, len, |t| Stream::Tls(Box::new(t)))
                            .await
                            .map_err(|e| Error::net("kernel TLS on a MODE E stream", e))?
                    }
                    plain => Sink::Stream(plain),
                }
            } else {
                Sink::Tcp(s)
            });
            counts.push(0);
        }
        Ok((socks, counts))
    }

    /// Accepts the server's streams on `listener` for a download: only from the control
    /// peer's address, each within the session timeout, wrapped in TLS under PROT P.
    pub(crate) fn accept_streams<'a>(
        &'a self,
        listener: &'a TcpListener,
    ) -> Result<Accept<'a, Stream>> {
        let peer = self.peer()?.ip().to_canonical();
        let timeout = self.ctl.timeout();
        Ok(Box::new(move || {
            Box::pin(async move {
                loop {
                    let (s, from) = tokio::time::timeout(timeout, listener.accept())
                        .await
                        .map_err(|_| std::io::Error::other("no data stream from the server"))??;
                    if from.ip().to_canonical() == peer {
                        let _ = s.set_nodelay(true);
                        return tokio::time::timeout(timeout, self.wrap(s)).await.map_err(
                            |_| std::io::Error::other("TLS handshake on a MODE E stream timed out"),
                        )?;
                    }
                    tracing::warn!(%from, "refused a MODE E stream from a host that is not the server");
                }
            })
        }))
    }

    /// Under PROT P, whether the TLS 1.3 tickets left are fewer than `n` handshakes need
    /// (kftpd sends none on upload streams, and each resumption uses one up).
    pub(crate) fn tickets_short(&self, n: usize) -> bool {
        self.data_tls
            && self
                .opts
                .tls
                .as_ref()
                .and_then(|t| t.tickets.as_ref())
                .is_some_and(|t| t.tickets() < n)
    }

    /// The settings a MODE E transfer needs that the server does not have yet: TYPE I,
    /// MODE E and, for a get (`retr`: its streams), `OPTS RETR Parallelism=n,n,n;` (the
    /// server keeps it until MODE S, so a run of gets asks once). `what` names the
    /// operation in a refusal of the last.
    pub(crate) fn block_settings(&self, retr: Option<u32>, what: &str) -> Vec<Setting> {
        let mut v = Vec::new();
        if self.ty != TransferType::Image {
            let image = TransferType::Image;
            v.push(Setting::required(
                Command::Type(image),
                "TYPE",
                Effect::Type(image),
            ));
        }
        if !self.mode_e {
            v.push(Setting::required(
                Command::Mode('E'),
                "MODE E",
                Effect::ModeE,
            ));
        }
        if let Some(n) = retr.filter(|n| self.mode_e_cache.retr_parallelism != Some(*n)) {
            v.push(Setting::required(
                Command::Opts("RETR".into(), Some(format_retr_opts(n))),
                format!("{what}: OPTS RETR Parallelism"),
                Effect::Parallelism(n),
            ));
        }
        v
    }

    /// Downloads `remote` to `local` in MODE E over `streams` streams the server opens.
    pub async fn get_mode_e(
        &mut self,
        remote: &str,
        local: &Path,
        streams: u32,
        progress: &AtomicU64,
    ) -> Result<TransferReport> {
        let opts = TransferOptions::default();
        self.get_mode_e_at(remote, local, streams, &opts, progress)
            .await
    }

    /// [`Client::get_mode_e`] with `opts`: `resume` continues a local file from its length
    /// (REST n: the server sends the rest as blocks at their offsets, written there), and
    /// `mtime` (the server's, known to the second) is kept as the file's modification time
    /// instead of asking MDTM.
    pub(crate) async fn get_mode_e_at(
        &mut self,
        remote: &str,
        local: &Path,
        streams: u32,
        opts: &TransferOptions,
        progress: &AtomicU64,
    ) -> Result<TransferReport> {
        let started = Instant::now();
        let what = format!("get {remote}");
        let size = self.known_size(remote, opts.size, &what).await?;
        let target = GetTarget::open(local, opts.resume)?;
        if target.holds_all(size, &what)? {
            return Ok(target.report_skipped(started));
        }
        let GetTarget {
            file,
            path: tmp,
            offset,
            mut guard,
        } = target;
        let n = streams.clamp(1, MAX_STREAMS);
        let settings = self.block_settings(Some(n), &what);
        // The server reuses its streams when no new PORT comes, and connects any it lacks
        // to the old target, our listener. The settings go with the EPRT where there is
        // one (one round trip for all of them: `crate::settings`).
        let (mut listener, mut cached) = match self.take_recv_cache() {
            Some(c) => {
                self.settle(settings).await?;
                c
            }
            None => (self.active_listener_after(settings).await?, Vec::new()),
        };
        let retr = Command::Retr(remote.into());
        self.rest(offset, &what).await?;
        if let Err(e) = self.expect_preliminary(&retr, &what).await {
            if cached.is_empty() {
                return Err(e);
            }
            // The server no longer has the streams (425): set up new ones, once (the
            // refused RETR used up the REST).
            cached.clear();
            listener = self.active_listener().await?;
            self.rest(offset, &what).await?;
            self.expect_preliminary(&retr, &what).await?;
        }
        let timeout = self.ctl.timeout();
        let accept = self.accept_streams(&listener)?;
        let limits = RecvLimits {
            max_streams: MAX_STREAMS as usize,
            // A server cannot make the local file larger than it said it is.
            max_end: size.unwrap_or(u64::MAX),
        };
        let tuning = self.opts.tuning.clone();
        let got = stall_guard(
            recv_blocks::<Stream>(&file, cached, Some(accept), limits, &tuning, progress),
            progress,
            timeout,
        )
        .await
        .map_err(|e| Error::net(what.clone(), e));
        let got = match got {
            Ok(g) => g,
            Err(e) => return Err(self.final_error(&what, e).await),
        };
        self.finish_blocks(&what).await?;
        let keep: Vec<Stream> = got
            .reusable
            .into_iter()
            .filter_map(|mut s| live(&mut s).then_some(s))
            .collect();
        if !keep.is_empty() {
            self.mode_e_cache.recv = Some((listener, keep));
        }
        if let Some(size) = size {
            if offset + got.bytes != size {
                return Err(Error::new(
                    ErrorKind::Integrity,
                    format!(
                        "{what}: received {} bytes, but the server said the file has {size}",
                        offset + got.bytes
                    ),
                ));
            }
        }
        // Blocks are written where they belong; a file that ends in a hole still gets its
        // full length.
        if let Some(size) = size {
            file.set_len(size)
                .map_err(|e| Error::local(format!("{}", tmp.display()), e))?;
        }
        // The server's modification time, as a MODE S get and a segmented get keep it.
        if let Some(t) = self.remote_mtime(remote, opts.mtime).await {
            let _ = file.set_modified(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64));
        }
        drop(file);
        if tmp != local {
            std::fs::rename(&tmp, local)
                .map_err(|e| Error::local(format!("renaming into {}", local.display()), e))?;
        }
        guard.0 = None;
        Ok(TransferReport {
            bytes: got.bytes,
            skipped: offset,
            path: kftp_datapath::PathUsed::Copy,
            elapsed: started.elapsed(),
        })
    }

    /// Uploads `local` to `remote` in MODE E over `streams` streams kftp opens.
    pub async fn put_mode_e(
        &mut self,
        local: &Path,
        remote: &str,
        streams: u32,
        progress: &AtomicU64,
    ) -> Result<TransferReport> {
        let started = Instant::now();
        let file = File::open(local)
            .map_err(|e| Error::local(format!("opening {}", local.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::local(format!("{}", local.display()), e))?
            .len();
        self.put_blocks(&file, (0, len), remote, streams, started, progress)
            .await
    }

    /// Sends `file[offset..len]` to `remote` in MODE E (after `REST offset` when resuming:
    /// the server writes the blocks at their offsets into what it has).
    pub(crate) async fn put_blocks(
        &mut self,
        file: &File,
        (offset, len): (u64, u64),
        remote: &str,
        streams: u32,
        started: Instant,
        progress: &AtomicU64,
    ) -> Result<TransferReport> {
        let what = format!("put {remote}");
        // The server reads its cached streams when no new PASV comes.
        let mut kept = self.take_send_cache(len - offset.min(len));
        // Only new TLS streams use up tickets (the refill's listing closes no kept upload
        // stream: there is none).
        if kept.is_empty() && self.tickets_short(streams as usize) {
            self.refill_tickets().await;
        }
        let settings = self.block_settings(None, &what);
        let timeout = self.ctl.timeout();
        let mut tcp: Vec<TcpStream> = Vec::new();
        let want = if kept.is_empty() {
            streams.clamp(1, MAX_STREAMS) as usize
        } else {
            0
        };
        if want > 0 {
            let addr = self.passive_addr_after(settings).await?;
            tcp = self.connect_streams(addr, want, timeout).await?;
        } else {
            self.settle(settings).await?;
        }
        let stor = Command::Stor(remote.into());
        self.rest(offset, &what).await?;
        if let Err(e) = self.expect_preliminary(&stor, &what).await {
            if want > 0 {
                return Err(e);
            }
            // The server no longer reads the cached streams (425): new ones, once (the
            // refused STOR used up the REST).
            let addr = self.passive_addr().await?;
            kept::close_later(
                kept::split(std::mem::take(&mut kept)).0,
                Vec::<Stream>::new(),
            );
            let n = streams.clamp(1, MAX_STREAMS) as usize;
            tcp = self.connect_streams(addr, n, timeout).await?;
            self.rest(offset, &what).await?;
            self.expect_preliminary(&stor, &what).await?;
        }
        // TLS after the 150, as for a MODE S data connection: the server accepts the
        // streams (in the order they connected) once the transfer has started.
        let (socks, counts) = self.send_sinks(kept, tcp, len, timeout).await?;
        let tuning = self.opts.tuning.clone();
        // No close bit: the streams, plain or TLS, are kept for the next put.
        let sent = stall_guard(
            send_blocks(file, offset, len, socks, false, &tuning, progress),
            progress,
            timeout,
        )
        .await
        .map_err(|e| Error::net(what.clone(), e));
        let (socks, outcome) = match sent {
            Ok(s) => s,
            Err(e) => return Err(self.final_error(&what, e).await),
        };
        let keep = kept::rejoin(socks, counts, len - offset.min(len), 1);
        self.finish_blocks(&what).await?;
        self.mode_e_cache.send = keep;
        // The local modification time, as a MODE S put keeps it (MFMT, where offered).
        if let Ok(Ok(d)) = file
            .metadata()
            .and_then(|m| m.modified())
            .map(|m| m.duration_since(UNIX_EPOCH))
        {
            let _ = self.set_mtime(remote, d.as_secs() as i64).await;
        }
        Ok(TransferReport {
            bytes: outcome.bytes,
            skipped: offset,
            path: outcome.path,
            elapsed: started.elapsed(),
        })
    }

    /// TYPE I and MODE E, unless already set (and, for gets over `retr` streams,
    /// Parallelism), sent together where the server takes that.
    pub(crate) async fn block_mode(&mut self, retr: Option<u32>, what: &str) -> Result<()> {
        let settings = self.block_settings(retr, what);
        self.settle(settings).await
    }

    /// MODE S again, before a transfer that uses one plain data connection.
    pub(crate) async fn stream_mode(&mut self) -> Result<()> {
        self.ctl.cmd_ok(&Command::Mode('S'), "MODE S").await?;
        self.mode_e = false;
        // The server closes its cached streams on MODE S; so do we (TLS ones with
        // close_notify, as the cache is dropped).
        self.mode_e_cache = Cache::default();
        Ok(())
    }

    /// The final reply of a MODE E transfer, past any 111/112 markers.
    pub(crate) async fn finish_blocks(&mut self, what: &str) -> Result<Reply> {
        loop {
            let r = self.ctl.read_reply_within(Duration::from_secs(300)).await?;
            match r.code {
                111 | 112 => self.mode_e_markers.note(&r),
                c if (200..300).contains(&c) => return Ok(r),
                _ => return Err(Error::reply(what.to_string(), r)),
            }
        }
    }

    /// A failed MODE E transfer: the server's reply, when it comes soon, says more than
    /// the socket error.
    async fn final_error(&mut self, what: &str, e: Error) -> Error {
        match tokio::time::timeout(Duration::from_secs(2), self.finish_blocks(what)).await {
            Ok(Err(r)) => r,
            _ => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_only_for_a_distant_server() {
        assert_eq!(streams_for_rtt(Duration::from_micros(60)), 1, "loopback");
        assert_eq!(streams_for_rtt(Duration::from_millis(2)), 1, "a LAN");
        assert_eq!(streams_for_rtt(AUTO_RTT), AUTO_STREAMS);
        assert_eq!(streams_for_rtt(Duration::from_millis(50)), AUTO_STREAMS);
    }
}
