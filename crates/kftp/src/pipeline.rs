//! Runs of small files in MODE E with pipelined commands, as `globus-url-copy -pp` does:
//! the next files' commands go out without waiting for the previous `226`, up to
//! [`WINDOW`] files ahead, so the server starts the next file as soon as one ends and a
//! small file costs about one control round trip (a get: none, once the window is full).
//!
//! Replies come back in the order the commands went, so each one is matched to its file
//! by position: an `Expect` queue holds, in order, the files whose commands are on the
//! wire and the MFMTs sent after uploads. No SIZE is asked: the caller (a mirror) knows
//! each size from its listing, and MODE E's EOD count says when a file is complete.
//!
//! What keeps the files consistent when one fails inside a window:
//! - A download goes to its temp file, renamed only after the server's `226`; a failed one
//!   removes it (`RemoveOnDrop`). An upload's file is opened before its STOR is sent,
//!   so a local file that cannot be read is reported and never announced to the server.
//! - Data goes onto an upload's streams only after the server's `150` for that file, so a
//!   refused STOR (`550`) can never make the next file's bytes land under its name.
//! - A failed transfer closes the streams on both sides (kftpd drops its cache). The
//!   files pipelined behind it without a new PORT/PASV then get `425`: they are sent
//!   again, once the failure is known, after a fresh EPRT or EPSV.
//! - Only a broken control connection ends the run; every file in flight is then reported
//!   failed with it.
//!
//! Under PROT P the same holds: TLS streams are kept across files as plain ones are
//! ([`kftp_tls::kept`]), so only the first file (and one sent again after a failure)
//! carries an EPRT or EPSV and new handshakes; a download's reader stops at its EOD, and
//! the next file's blocks that rustls already read stay with the stream. Uploads stop the
//! window to top up TLS tickets only before new streams, when too few are left.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::modee::{connect, MAX_STREAMS};
use crate::progress::Progress;
use crate::stream::Stream;
use crate::transfer::{stall_guard, temp_path, RemoveOnDrop, TransferReport};
use kftp_datapath::modee::{recv_blocks, send_blocks, RecvLimits};
use kftp_proto::{Command, Reply};
use kftp_tls::kept::{self, Kept};
use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};

/// Files whose commands are on the wire at once. Eight keeps a 4 KiB file's round trip
/// hidden behind the transfers of the seven before it, and bounds what a failure in the
/// middle sends again.
pub const WINDOW: usize = 8;

/// Times a file is sent again after `425` (its streams were closed by an earlier
/// failure in the window) before it counts as failed.
const RETRIES: u8 = 2;

/// How long the final reply of a failed transfer may take (a server still flushing).
const FINAL_REPLY_WAIT: Duration = Duration::from_secs(300);

/// One file of a pipelined download.
#[derive(Clone, Debug)]
pub struct GetFile {
    /// Path on the server.
    pub remote: String,
    /// Where it goes (through a temp file beside it).
    pub local: PathBuf,
    /// Size from the listing (for progress only).
    pub size: Option<u64>,
    /// The server's modification time when a listing gave it to the second; otherwise
    /// MDTM is pipelined with the file where the server has it.
    pub mtime: Option<i64>,
}

/// One file of a pipelined upload.
#[derive(Clone, Debug)]
pub struct PutFile {
    /// The local file.
    pub local: PathBuf,
    /// Path on the server.
    pub remote: String,
    /// Set the remote modification time (MFMT, pipelined after the `226`).
    pub preserve_mtime: bool,
}

/// Where files come from and where their results go: `next` is asked whenever the window
/// has room (it may hand out work shared with other sessions), `done` gets each result.
pub struct Run<'a, F> {
    /// The next file, or `None` at the end.
    pub next: &'a mut (dyn FnMut() -> Option<F> + Send),
    /// A file's outcome (in the order they finish).
    pub done: &'a mut (dyn FnMut(F, Result<TransferReport>) + Send),
    /// Per-file progress.
    pub progress: &'a dyn Progress,
}

/// A download whose commands are sent.
struct GetFlight {
    file: GetFile,
    /// The temp file and its removal unless renamed.
    tmp: (File, RemoveOnDrop),
    mdtm: bool,
    port: bool,
    tries: u8,
}

/// An upload whose commands are sent.
struct PutFlight {
    file: PutFile,
    handle: File,
    len: u64,
    pasv: bool,
    tries: u8,
}

/// One reply (or group of replies) expected, in wire order.
enum Expect<T> {
    File(T),
    /// MFMT after an upload: its answer changes nothing.
    Mfmt,
}

impl Client {
    /// Whether [`Client::get_pipelined`] and [`Client::put_pipelined`] apply: the server
    /// offers MODE E, and either the session's streams make single transfers use it
    /// ([`Client::mode_e_applies`]) or `--streams` was left to kftp
    /// ([`Client::set_streams_auto`]; one stream then, where the round trip is short). An
    /// explicit `--streams 1` keeps MODE S everywhere.
    pub fn pipelines(&self) -> bool {
        self.mode_e_applies(self.streams, false) || (self.pipeline_auto && self.features.parallel)
    }

    /// Downloads the files `run.next` hands out in MODE E over the session's streams,
    /// with up to [`WINDOW`] RETRs outstanding. Each file's result goes to `run.done`; the
    /// error returned is one that ended the run (the control connection broke).
    pub async fn get_pipelined(&mut self, mut run: Run<'_, GetFile>) -> Result<()> {
        let n = self.streams.clamp(1, MAX_STREAMS);
        let settings = self.block_settings(Some(n), "get");
        // Streams kept from an earlier get are checked now, while no RETR is outstanding
        // (later, the next file's blocks may already be waiting on them).
        let (listener, mut streams) = match self.take_recv_cache() {
            Some(c) => {
                self.settle(settings).await?;
                c
            }
            None => (self.active_listener_after(settings).await?, Vec::new()),
        };
        let addr = listener
            .local_addr()
            .map_err(|e| Error::local("the MODE E listener", e))?;
        // The first file uses the PORT just sent or the cached streams, and so do the
        // later ones, plain or TLS, until a failure closes them.
        let mut need_port = false;
        let mut retry: VecDeque<GetFlight> = VecDeque::new();
        let mut expect: VecDeque<GetFlight> = VecDeque::new();
        let mut failed: Option<Error> = None;
        loop {
            // Fill the window: files sent again first, then new ones.
            while expect.len() < WINDOW {
                let flight = match retry.pop_front() {
                    Some(f) => f,
                    None => match (run.next)() {
                        Some(file) => match start_get(file, &mut run) {
                            Some(f) => f,
                            None => continue,
                        },
                        None => break,
                    },
                };
                let mut flight = flight;
                flight.mdtm = flight.file.mtime.is_none() && self.features.mdtm;
                flight.port = std::mem::take(&mut need_port);
                let sent = self.send_get(&flight, addr).await;
                if let Err(e) = sent {
                    failed = Some(e);
                    expect.push_back(flight);
                    break;
                }
                expect.push_back(flight);
            }
            if failed.is_some() {
                break;
            }
            let Some(flight) = expect.pop_front() else {
                break;
            };
            match self
                .finish_get(flight, &listener, &mut streams, &mut run)
                .await
            {
                Ok(Step::Done | Step::Refused) => {}
                Ok(Step::Again(f)) => {
                    need_port = true;
                    retry.push_back(f);
                }
                Ok(Step::Failed) => need_port = true,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            for f in expect.into_iter().chain(retry) {
                let what = format!("get {}", f.file.remote);
                (run.done)(f.file, Err(Error::new(e.kind(), format!("{what}: {e}"))));
            }
            return Err(e);
        }
        self.mode_e_cache.recv = Some((listener, streams));
        Ok(())
    }

    /// Puts a download's commands on the wire without reading any reply.
    async fn send_get(&mut self, f: &GetFlight, addr: std::net::SocketAddr) -> Result<()> {
        if f.mdtm {
            self.ctl.send(&Command::Mdtm(f.file.remote.clone())).await?;
        }
        if f.port {
            self.ctl.send(&self.active_command(addr)).await?;
        }
        self.ctl.send(&Command::Retr(f.file.remote.clone())).await
    }

    /// Reads the head download's replies and receives its blocks. `Err` only when the
    /// control connection broke (the file's failure is reported with it).
    async fn finish_get(
        &mut self,
        mut f: GetFlight,
        listener: &TcpListener,
        streams: &mut Vec<Stream>,
        run: &mut Run<'_, GetFile>,
    ) -> Result<Step<GetFlight>> {
        let what = format!("get {}", f.file.remote);
        if f.mdtm {
            let r = self.ctl.read_reply().await?;
            if r.code == 213 {
                f.file.mtime = kftp_proto::time::parse_mdtm(&r.text());
            }
        }
        if f.port {
            let r = self.ctl.read_reply().await?;
            if !r.is_success() {
                tracing::debug!(reply = %r, "{what}: EPRT refused");
            }
        }
        let r = self.ctl.read_reply().await?;
        if !r.is_preliminary() {
            if again(&r, f.port, &mut f.tries) {
                return Ok(Step::Again(f));
            }
            let name = f.file.remote.clone();
            fail(run, &name, f.file, Error::reply(what, r));
            return Ok(Step::Refused);
        }
        let started = Instant::now();
        let counter = run.progress.begin(&f.file.remote, f.file.size, 0);
        let accept = self.accept_streams(listener)?;
        let limits = RecvLimits {
            max_streams: MAX_STREAMS as usize,
            max_end: u64::MAX,
        };
        let got = stall_guard(
            recv_blocks::<Stream>(
                &f.tmp.0,
                std::mem::take(streams),
                Some(accept),
                limits,
                &self.opts.tuning,
                &counter,
            ),
            &counter,
            self.ctl.timeout(),
        )
        .await;
        let result = match got {
            Ok(got) => match self.finish_blocks(&what).await {
                Ok(_) => {
                    streams.extend(got.reusable);
                    complete_get(f.tmp, &f.file, got.bytes, started)
                }
                Err(e) if e.server_reply().is_some() => Err(e),
                Err(e) => return Err(end_file(run, f.file, e)),
            },
            // Our ends of the streams are gone with the future; the server's final reply
            // (426/451) comes once it sees that.
            Err(io) => match self.late_reply(&what, Error::net(what.clone(), io)).await {
                Ok(e) => Err(e),
                Err(e) => return Err(end_file(run, f.file, e)),
            },
        };
        let remote = f.file.remote.clone();
        Ok(finished(run, &remote, f.file, result))
    }

    /// The server's final reply after a transfer failed on our side: the file's error (the
    /// server's reply says more than the socket error when it is one), or `Err` when the
    /// control connection broke.
    async fn late_reply(&mut self, what: &str, e: Error) -> Result<Error> {
        loop {
            let r = self.ctl.read_reply_within(FINAL_REPLY_WAIT).await?;
            match r.code {
                111 | 112 => self.mode_e_markers.note(&r),
                c if (200..300).contains(&c) => return Ok(e),
                _ => return Ok(Error::reply(what.to_string(), r)),
            }
        }
    }

    /// Uploads the files `run.next` hands out in MODE E over the session's streams, with
    /// up to [`WINDOW`] STORs outstanding (each file's bytes wait for its `150`). Each
    /// file's result goes to `run.done`; the error returned is one that ended the run.
    pub async fn put_pipelined(&mut self, mut run: Run<'_, PutFile>) -> Result<()> {
        let n = self.streams.clamp(1, MAX_STREAMS) as usize;
        let mut streams = Streams {
            kept: self.take_send_cache(0),
            fresh: Vec::new(),
        };
        let tls = self.data_tls;
        // No cached streams: the first file gets its passive port in the pipeline too.
        let mut need_pasv = streams.kept.is_empty();
        if need_pasv && self.tickets_short(n) {
            self.refill_tickets().await;
        }
        self.block_mode(None, "put").await?;
        let timeout = self.ctl.timeout();
        let mut retry: VecDeque<PutFlight> = VecDeque::new();
        let mut expect: VecDeque<Expect<PutFlight>> = VecDeque::new();
        let mut failed: Option<Error> = None;
        loop {
            while expect
                .iter()
                .filter(|e| matches!(e, Expect::File(_)))
                .count()
                < WINDOW
            {
                let in_flight = expect
                    .iter()
                    .filter(|e| matches!(e, Expect::File(_)))
                    .count();
                // Each new TLS stream resumes on a ticket kftpd does not replace on
                // uploads: before a file that needs new streams, stop filling when they
                // could not resume, and top the store up once the window is empty (its
                // listing's MODE S closes the kept streams: the file has new ones).
                if tls && need_pasv && self.tickets_short(n * (in_flight + 1)) {
                    if !expect.is_empty() {
                        break;
                    }
                    self.refill_tickets().await;
                    self.block_mode(None, "put").await?;
                }
                let mut flight = match retry.pop_front() {
                    Some(f) => f,
                    None => match (run.next)() {
                        Some(file) => match open_put(file, &mut run) {
                            Some(f) => f,
                            None => continue,
                        },
                        None => break,
                    },
                };
                if !need_pasv && !streams.room_for(&expect, flight.len) {
                    need_pasv = true;
                }
                flight.pasv = std::mem::take(&mut need_pasv);
                let sent = async {
                    if flight.pasv {
                        self.ctl.send(&self.passive_command()).await?;
                    }
                    self.ctl
                        .send(&Command::Stor(flight.file.remote.clone()))
                        .await
                }
                .await;
                expect.push_back(Expect::File(flight));
                if let Err(e) = sent {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_some() {
                break;
            }
            let Some(head) = expect.pop_front() else {
                break;
            };
            let flight = match head {
                Expect::Mfmt => match self.ctl.read_reply().await {
                    Ok(_) => continue,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                },
                Expect::File(f) => f,
            };
            match self
                .finish_put(flight, &mut streams, timeout, &mut run)
                .await
            {
                Ok((Step::Done, mfmt)) => {
                    if let Some(cmd) = mfmt {
                        if let Err(e) = self.ctl.send(&cmd).await {
                            failed = Some(e);
                            break;
                        }
                        expect.push_back(Expect::Mfmt);
                    }
                }
                Ok((Step::Refused, _)) => {}
                Ok((Step::Again(f), _)) => {
                    need_pasv = true;
                    retry.push_back(f);
                }
                Ok((Step::Failed, _)) => need_pasv = true,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            let files = expect.into_iter().filter_map(|x| match x {
                Expect::File(f) => Some(f),
                Expect::Mfmt => None,
            });
            for f in files.chain(retry) {
                let what = format!("put {}", f.file.remote);
                (run.done)(f.file, Err(Error::new(e.kind(), format!("{what}: {e}"))));
            }
            return Err(e);
        }
        // Streams connected for a file that was refused are not kept.
        self.mode_e_cache.send = streams.take().0;
        Ok(())
    }

    /// Reads the head upload's replies and sends its blocks after its `150`; on success
    /// also the MFMT to send for it. `Err` only when the control connection broke.
    async fn finish_put(
        &mut self,
        mut f: PutFlight,
        streams: &mut Streams,
        timeout: Duration,
        run: &mut Run<'_, PutFile>,
    ) -> Result<(Step<PutFlight>, Option<Command>)> {
        let what = format!("put {}", f.file.remote);
        if f.pasv {
            let r = self.ctl.read_reply().await?;
            // New streams for this file; the old ones (if any) the server no longer needs.
            streams.close();
            match self.passive_target(&r) {
                Ok(addr) => {
                    for _ in 0..self.streams.clamp(1, MAX_STREAMS) {
                        match connect(addr, timeout).await {
                            Ok(s) => streams.fresh.push(s),
                            Err(e) => {
                                tracing::debug!(error = %e, "{what}: MODE E stream");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "{what}: no passive port"),
            }
        }
        let r = self.ctl.read_reply().await?;
        if !r.is_preliminary() {
            if again(&r, f.pasv, &mut f.tries) {
                return Ok((Step::Again(f), None));
            }
            let name = f.file.remote.clone();
            fail(run, &name, f.file, Error::reply(what, r));
            return Ok((Step::Refused, None));
        }
        let started = Instant::now();
        let counter = run.progress.begin(&f.file.remote, Some(f.len), 0);
        let sent = self
            .send_file_blocks(&f, streams.take(), timeout, &counter)
            .await;
        let result = match sent {
            Ok((keep, bytes, path)) => match self.finish_blocks(&what).await {
                Ok(_) => {
                    streams.kept = keep;
                    Ok(TransferReport {
                        bytes,
                        skipped: 0,
                        path,
                        elapsed: started.elapsed(),
                    })
                }
                Err(e) if e.server_reply().is_some() => Err(e),
                Err(e) => return Err(end_file(run, f.file, e)),
            },
            Err(e) => match self.late_reply(&what, e).await {
                Ok(e) => Err(e),
                Err(e) => return Err(end_file(run, f.file, e)),
            },
        };
        let mfmt = match (&result, f.file.preserve_mtime && self.features.mfmt) {
            (Ok(_), true) => {
                local_mtime(&f.handle).map(|t| Command::Mfmt(t, f.file.remote.clone()))
            }
            _ => None,
        };
        let remote = f.file.remote.clone();
        Ok((finished(run, &remote, f.file, result), mfmt))
    }

    /// Sends one upload's blocks over the kept streams and the new `tcp` ones (TLS after
    /// the `150` under PROT P); the streams to keep, the bytes and the path used.
    async fn send_file_blocks(
        &self,
        f: &PutFlight,
        (kept, tcp): (Vec<Kept<Stream>>, Vec<TcpStream>),
        timeout: Duration,
        counter: &std::sync::atomic::AtomicU64,
    ) -> Result<(Vec<Kept<Stream>>, u64, kftp_datapath::PathUsed)> {
        let what = format!("put {}", f.file.remote);
        if kept.is_empty() && tcp.is_empty() {
            return Err(Error::new(
                ErrorKind::Network,
                format!("{what}: no MODE E stream to the server"),
            ));
        }
        let (socks, counts) = self.send_sinks(kept, tcp, f.len, timeout).await?;
        let (socks, outcome) = stall_guard(
            send_blocks(
                &f.handle,
                0,
                f.len,
                socks,
                false,
                &self.opts.tuning,
                counter,
            ),
            counter,
            timeout,
        )
        .await
        .map_err(|e| Error::net(what, e))?;
        Ok((
            kept::rejoin(socks, counts, f.len, 1),
            outcome.bytes,
            outcome.path,
        ))
    }
}

/// An upload run's streams: those kept from earlier files (TLS ones past their
/// handshake), and new TCP connections whose handshakes wait for their file's `150`.
struct Streams {
    kept: Vec<Kept<Stream>>,
    fresh: Vec<TcpStream>,
}

impl Streams {
    /// Both, for the next file (which keeps what comes back in `kept`).
    fn take(&mut self) -> (Vec<Kept<Stream>>, Vec<TcpStream>) {
        (
            std::mem::take(&mut self.kept),
            std::mem::take(&mut self.fresh),
        )
    }

    /// Whether the kept streams' keys have room for a file of `len` after the files in
    /// flight (counted from above: as if all were still to go on these streams). When
    /// not, the file brings new streams, and its EPSV retires these.
    fn room_for(&self, in_flight: &VecDeque<Expect<PutFlight>>, len: u64) -> bool {
        let (bytes, files) = in_flight
            .iter()
            .filter_map(|e| match e {
                Expect::File(f) => Some(f.len),
                Expect::Mfmt => None,
            })
            .fold((len, 1usize), |(b, n), l| (b.saturating_add(l), n + 1));
        // Each file: its blocks, a header and a short record each, EOD (`kept::records`).
        self.kept.iter().all(|k| k.room_for(bytes, 3 * files))
    }

    /// Closes them all (TLS ones with close_notify): the next file has new ones.
    fn close(&mut self) {
        let (kept, _fresh) = self.take();
        kept::close_later(kept::split(kept).0, Vec::<Stream>::new());
    }
}

/// Whether a transfer refused with `reply` is sent again: `425` to a file that relied on
/// cached streams (no PORT/PASV of its own), which an earlier failure closed.
fn again(reply: &Reply, own_setup: bool, tries: &mut u8) -> bool {
    if reply.code == 425 && !own_setup && *tries < RETRIES {
        *tries += 1;
        return true;
    }
    false
}

/// Reports `file` failed because the control connection broke, and returns that error.
fn end_file<F>(run: &mut Run<'_, F>, file: F, e: Error) -> Error {
    let copy = Error::new(e.kind(), e.to_string());
    (run.done)(file, Err(e));
    copy
}

/// Opens a download's temp file; a local failure is reported at once and the file is
/// never requested.
fn start_get(file: GetFile, run: &mut Run<'_, GetFile>) -> Option<GetFlight> {
    let tmp = temp_path(&file.local);
    let opened = crate::localname::nofollow(
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
    )
    .open(&tmp);
    match opened {
        Ok(h) => Some(GetFlight {
            file,
            tmp: (h, RemoveOnDrop(Some(tmp))),
            mdtm: false,
            port: false,
            tries: 0,
        }),
        Err(e) => {
            let name = file.remote.clone();
            let err = Error::local(format!("get {name}: creating {}", tmp.display()), e);
            fail(run, &name, file, err);
            None
        }
    }
}

/// Reports a file that failed before any byte moved, to the progress display (which says
/// which file) and to the caller.
fn fail<F>(run: &mut Run<'_, F>, name: &str, file: F, e: Error) {
    run.progress.begin(name, None, 0);
    run.progress.end(name, Some(&e.to_string()));
    (run.done)(file, Err(e));
}

/// Reports a file whose transfer ended (after its bytes moved or failed to), to the
/// progress display and to the caller: Done, or Failed (later files need new streams).
fn finished<F, T>(
    run: &mut Run<'_, F>,
    name: &str,
    file: F,
    result: Result<TransferReport>,
) -> Step<T> {
    let msg = result.as_ref().err().map(|e| e.to_string());
    run.progress.end(name, msg.as_deref());
    let step = if result.is_ok() {
        Step::Done
    } else {
        Step::Failed
    };
    (run.done)(file, result);
    step
}

/// Opens an upload's local file; a failure is reported at once and nothing is sent.
fn open_put(file: PutFile, run: &mut Run<'_, PutFile>) -> Option<PutFlight> {
    let opened = File::open(&file.local).and_then(|h| {
        let m = h.metadata()?;
        if !m.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        Ok((h, m.len()))
    });
    match opened {
        Ok((handle, len)) => Some(PutFlight {
            file,
            handle,
            len,
            pasv: false,
            tries: 0,
        }),
        Err(e) => {
            let name = file.remote.clone();
            let err = Error::local(format!("put {name}: opening {}", file.local.display()), e);
            fail(run, &name, file, err);
            None
        }
    }
}

/// A local file's modification time, in seconds since the epoch.
fn local_mtime(f: &File) -> Option<i64> {
    let m = f.metadata().ok()?.modified().ok()?;
    Some(m.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64)
}

/// Gives a received download the server's modification time and its final name.
fn complete_get(
    (handle, mut guard): (File, RemoveOnDrop),
    file: &GetFile,
    bytes: u64,
    started: Instant,
) -> Result<TransferReport> {
    if let Some(t) = file.mtime {
        let _ = handle.set_modified(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64));
    }
    drop(handle);
    let Some(tmp) = guard.0.take() else {
        return Err(Error::new(ErrorKind::Local, "download without a temp file"));
    };
    if let Err(e) = std::fs::rename(&tmp, &file.local) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::local(
            format!("renaming into {}", file.local.display()),
            e,
        ));
    }
    Ok(TransferReport {
        bytes,
        skipped: 0,
        path: kftp_datapath::PathUsed::Copy,
        elapsed: started.elapsed(),
    })
}

/// What became of the file at the head of the window.
enum Step<T> {
    /// Finished (its result reported).
    Done,
    /// Refused before any data moved (its error reported). The streams are as they were
    /// on our side; kftpd drops its own on a refused upload (a third-party source may
    /// have sent onto them), and the files behind then get `425` and go again.
    Refused,
    /// Failed (its result reported); later files need new streams.
    Failed,
    /// Send it again, with a new PORT or PASV.
    Again(T),
}
