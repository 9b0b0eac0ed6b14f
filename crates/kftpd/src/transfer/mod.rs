//! Running one transfer (RETR, STOR/APPE/STOU, LIST/NLST/MLSD) on its data connection.
//!
//! The control loop opens the file and answers 150 itself, then spawns [`run`] as its own
//! task so that ABOR, STAT and NOOP are answered while bytes move. The task returns the
//! final reply (226, 425, 426, 451, 452, 552).

pub mod job;
pub use job::{DataTls, Job, ListingBody};

use crate::datachan::{self, DataSetup};
use crate::session::Shared;
use crate::storage::{FsError, ReadHandle, Upload};
use futures::StreamExt;
use kftp_datapath::{Outcome, PathUsed, Tuning};
use kftp_proto::path::VPath;
use kftp_proto::Reply;
use kftp_tls::{accept_data_for, BulkRead, EofWatch};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Everything a transfer task needs besides the job.
pub struct Ctx {
    /// Server-wide state.
    pub shared: Arc<Shared>,
    /// Session id for logs.
    pub session: u64,
    /// User name for the transfer log.
    pub user: String,
    /// The control peer, for the data-peer check.
    pub peer_ip: IpAddr,
    /// The control connection's local address.
    pub local_ip: IpAddr,
    /// SBUF: the data connection's socket buffers (None: the kernel's tuning).
    pub tcp_buffer: Option<usize>,
    /// The verb, for logs.
    pub verb: &'static str,
    /// The virtual path, for logs.
    pub path: VPath,
    /// Bytes moved so far.
    pub progress: Arc<AtomicU64>,
    /// Fires on ABOR.
    pub abort: oneshot::Receiver<()>,
    /// Set for PROT P.
    pub tls: Option<DataTls>,
    /// Bandwidth limits (session, user, global; see [`crate::limits`]).
    pub limits: Vec<Arc<kftp_datapath::RateLimiter>>,
    /// The control socket (a duplicate), to check that an uploading client is still
    /// there before committing ([`crate::limits::control_closed`]).
    pub control: Option<rustix::fd::OwnedFd>,
    /// Quota budgets and bookkeeping (see [`crate::quota`]).
    pub quota: Option<crate::quota::TransferQuota>,
    /// Anonymous uploads: the size cap (552 past it), and nothing of a failed upload is
    /// kept (it cannot be resumed, so a part file would only take space).
    pub anonymous_upload: Option<UploadCap>,
}

/// The quota a failed transfer ran into, if that is why it failed.
fn quota_error(e: &io::Error) -> Option<&kftp_datapath::QuotaExceeded> {
    e.get_ref()
        .and_then(|x| x.downcast_ref::<kftp_datapath::QuotaExceeded>())
}

/// How an anonymous upload is bounded.
#[derive(Clone, Copy, Debug)]
pub struct UploadCap {
    /// Largest size in bytes (0: no cap).
    pub max_bytes: u64,
}

enum End {
    Done(Outcome),
    Aborted,
    Stalled,
    TooLarge(u64),
    Failed(io::Error),
}

/// The data connection, plain or TLS (the same type as the control connection's).
type Conn = kftp_tls::ServerStream;

/// Moves the bytes of `job` over `conn`, ending with a clean close (FIN, or TLS
/// close_notify) on success.
async fn move_bytes(
    job: &mut Job,
    conn: Conn,
    tuning: &Tuning,
    progress: &AtomicU64,
    strict_eof: bool,
) -> io::Result<Outcome> {
    match (job, conn) {
        (
            Job::Send {
                handle: ReadHandle::Object(o),
                offset,
                ascii,
            },
            conn,
        ) => {
            let bytes = match conn {
                Conn::Plain(mut s) => {
                    let n = o.send(*offset, &mut s, *ascii, tuning, progress).await?;
                    s.shutdown().await?;
                    n
                }
                Conn::Tls(mut s) => {
                    let n = o.send(*offset, &mut *s, *ascii, tuning, progress).await?;
                    kftp_tls::close_data(s).await?;
                    n
                }
            };
            let path = if *ascii {
                PathUsed::Ascii
            } else {
                PathUsed::ObjectStream
            };
            Ok(Outcome { bytes, path })
        }
        (
            Job::Receive {
                upload: Upload::Object(o),
                ascii,
                ..
            },
            conn,
        ) => {
            let bytes = match conn {
                Conn::Plain(mut s) => o.receive(&mut s, *ascii, tuning, progress).await?,
                Conn::Tls(mut s) => {
                    let mut r = EofWatch::new(&mut *s);
                    let n = o.receive(&mut r, *ascii, tuning, progress).await?;
                    let truncated = r.truncated();
                    end_tls_upload(s, truncated, n, strict_eof).await?;
                    n
                }
            };
            let path = if *ascii {
                PathUsed::Ascii
            } else {
                PathUsed::ObjectStream
            };
            Ok(Outcome { bytes, path })
        }
        (
            Job::Send {
                handle: ReadHandle::File { file, len },
                offset,
                ascii,
            },
            Conn::Plain(mut sock),
        ) => {
            let o = if *ascii {
                let bytes = kftp_datapath::ascii::file_to_stream_ascii(
                    file, *offset, &mut sock, tuning, progress,
                )
                .await?;
                Outcome {
                    bytes,
                    path: PathUsed::Ascii,
                }
            } else {
                let n = len.saturating_sub(*offset);
                let (o, s) =
                    kftp_datapath::file_to_owned_socket(file, *offset, n, sock, tuning, progress)
                        .await?;
                sock = s;
                o
            };
            sock.shutdown().await?;
            Ok(o)
        }
        (
            Job::Send {
                handle: ReadHandle::File { file, len },
                offset,
                ascii,
            },
            Conn::Tls(mut tls),
        ) => {
            if *ascii {
                let bytes = kftp_datapath::ascii::file_to_stream_ascii(
                    file, *offset, &mut *tls, tuning, progress,
                )
                .await?;
                kftp_tls::close_data(tls).await?;
                return Ok(Outcome {
                    bytes,
                    path: PathUsed::Ascii,
                });
            }
            let n = len.saturating_sub(*offset);
            // kTLS and sendfile when the kernel takes the keys, so PROT P still sendfiles.
            kftp_tls::send_file(*tls, file, *offset, n, tuning, progress).await
        }
        (
            Job::Receive {
                upload: Upload::File(upload),
                ascii,
                ..
            },
            Conn::Plain(mut sock),
        ) => {
            if *ascii {
                let bytes = kftp_datapath::ascii::stream_to_file_ascii(
                    &mut sock,
                    &upload.file,
                    upload.offset,
                    tuning,
                    progress,
                )
                .await?;
                Ok(Outcome {
                    bytes,
                    path: PathUsed::Ascii,
                })
            } else {
                let (file, at) = (&upload.file, upload.offset);
                kftp_datapath::socket_to_owned_file(sock, file, at, tuning, progress)
                    .await
                    .map(|(o, _)| o)
            }
        }
        (
            Job::Receive {
                upload: Upload::File(upload),
                ascii,
                ..
            },
            Conn::Tls(mut tls),
        ) => {
            let (tcp, session) = tls.get_mut();
            let mut bulk = BulkRead::new(tcp, session);
            let mut r = EofWatch::new(&mut bulk);
            let bytes = if *ascii {
                kftp_datapath::ascii::stream_to_file_ascii(
                    &mut r,
                    &upload.file,
                    upload.offset,
                    tuning,
                    progress,
                )
                .await?
            } else {
                kftp_datapath::copy::stream_to_file(
                    &mut r,
                    &upload.file,
                    upload.offset,
                    tuning,
                    progress,
                )
                .await?
            };
            let truncated = r.truncated();
            end_tls_upload(tls, truncated, bytes, strict_eof).await?;
            let path = if *ascii {
                PathUsed::Ascii
            } else {
                PathUsed::TlsCopy
            };
            Ok(Outcome { bytes, path })
        }
        (Job::Listing(body), conn) => {
            let n = match conn {
                Conn::Plain(mut s) => {
                    let n = send_listing(body, &mut s, progress).await?;
                    s.shutdown().await?;
                    n
                }
                Conn::Tls(mut s) => {
                    let n = send_listing(body, &mut *s, progress).await?;
                    kftp_tls::close_data(s).await?;
                    return Ok(Outcome {
                        bytes: n,
                        path: PathUsed::TlsCopy,
                    });
                }
            };
            Ok(Outcome {
                bytes: n,
                path: PathUsed::Copy,
            })
        }
    }
}

/// An upload that ended with a bare FIN instead of a TLS close_notify: kept as a resumable
/// part file under `--tls-strict-eof`, where [`failure_reply`] names the reason.
#[derive(Debug)]
struct NoCloseNotify {
    bytes: u64,
}

impl std::fmt::Display for NoCloseNotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the client closed the TLS data connection without close_notify after {} bytes, \
             so the upload may have been cut short (this server is strict about it); \
             the bytes are kept: resume with REST {} and STOR, or APPE",
            self.bytes, self.bytes
        )
    }
}

impl std::error::Error for NoCloseNotify {}

/// The policy for a TLS upload that ended without close_notify (see [`EofWatch`]): accepted
/// with a log line by default, as vsftpd, proftpd and pure-ftpd do; an error that keeps the
/// part file with `--tls-strict-eof`.
fn tls_eof_policy(truncated: bool, bytes: u64, strict: bool) -> io::Result<()> {
    if !truncated {
        return Ok(());
    }
    if strict {
        return Err(io::Error::other(NoCloseNotify { bytes }));
    }
    tracing::info!(
        bytes,
        "TLS upload ended without close_notify: accepted (--tls-strict-eof refuses such uploads)"
    );
    Ok(())
}

/// Ends an upload's TLS data connection after `bytes` were read, then applies
/// [`tls_eof_policy`]. Every byte is in (the read ended on close_notify or a bare FIN), so
/// answer with our close_notify, as clients such as Python's ftplib wait for it; a client
/// that has already gone must not turn a complete upload into a failed one.
async fn end_tls_upload(
    tls: Box<tokio_rustls::server::TlsStream<TcpStream>>,
    truncated: bool,
    bytes: u64,
    strict: bool,
) -> io::Result<()> {
    if let Err(e) = kftp_tls::close_data(tls).await {
        tracing::debug!(error = %e, "closing an upload's TLS data connection");
    }
    tls_eof_policy(truncated, bytes, strict)
}

async fn send_listing<W: tokio::io::AsyncWrite + Unpin>(
    body: &mut ListingBody,
    w: &mut W,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        w.write_all(&chunk).await?;
        n += chunk.len() as u64;
        progress.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    w.flush().await?;
    Ok(n)
}

/// How a transfer reaches the client: MODE S's one data connection, or MODE E's streams
/// of blocks ([`crate::modee`], which opens them itself).
pub enum Channel {
    /// MODE S.
    Stream(DataSetup),
    /// MODE E.
    Blocks(crate::modee::Plan),
}

/// What moves the bytes once the channel is open.
enum Wire {
    Stream(Conn),
    Blocks(crate::modee::Plan),
}

/// Opens the data connection, moves the bytes, and returns the final reply.
pub async fn run(job: Job, channel: Channel, mut ctx: Ctx) -> Reply {
    let cfg = &ctx.shared.config;
    let upload = matches!(job, Job::Receive { .. });
    let setup = match channel {
        Channel::Stream(setup) => setup,
        Channel::Blocks(plan) => return run_opened(job, Wire::Blocks(plan), ctx).await,
    };
    let opened = async {
        let sock = datachan::open(setup, ctx.peer_ip, ctx.local_ip, cfg, ctx.session).await?;
        datachan::set_buffers(&sock, ctx.tcp_buffer);
        match &ctx.tls {
            None => Ok(Conn::Plain(sock)),
            Some(t) => match accept_data_for(&t.server, sock, t.reuse(), upload).await {
                Ok(s) => Ok(Conn::Tls(Box::new(s))),
                Err(e) => {
                    tracing::warn!(session = ctx.session, peer = %ctx.peer_ip, error = %e, "refused TLS data connection");
                    let hint = if e.is_reuse_refusal() {
                        " If your client cannot resume TLS sessions (Java's FTPSClient, \
                             Python's ftplib.FTP_TLS, gvfs), ask the server's operator to \
                             relax this for your account (tls_reuse_required = false)."
                    } else {
                        ""
                    };
                    Err(Reply::new(
                        e.reply_code(),
                        format!("Data connection refused: {e}.{hint}"),
                    ))
                }
            },
        }
    };
    let conn = tokio::select! {
        r = opened => r,
        _ = &mut ctx.abort => Err(Reply::new(426, "Transfer aborted before the data connection opened.")),
    };
    let conn = match conn {
        Ok(c) => c,
        Err(reply) => {
            if let Some(q) = &mut ctx.quota {
                q.finish(upload, false, 0, 0);
            }
            if let Job::Receive {
                upload, storage, ..
            } = job
            {
                let _ = storage.commit(upload, false).await;
            }
            return reply;
        }
    };
    run_opened(job, Wire::Stream(conn), ctx).await
}

/// Moves the bytes over an open channel and returns the final reply.
async fn run_opened(mut job: Job, wire: Wire, mut ctx: Ctx) -> Reply {
    let cfg = &ctx.shared.config;
    let upload = matches!(job, Job::Receive { .. });
    let tuning = Tuning {
        choice: cfg.data_path,
        buf_size: cfg.buf_size,
        limits: std::mem::take(&mut ctx.limits),
        budgets: ctx
            .quota
            .as_ref()
            .map(|q| q.budgets.clone())
            .unwrap_or_default(),
    };
    let started = Instant::now();
    let progress = ctx.progress.clone();
    let stall = cfg.stall_timeout;
    let (peer_ip, local_ip, session) = (ctx.peer_ip, ctx.local_ip, ctx.session);
    let data_tls = ctx.tls.as_ref();
    // A MODE E upload's blocks, for what it keeps (crate::modee::restart::keep).
    let blocks = match &wire {
        Wire::Blocks(plan) => Some((plan.written.clone(), plan.had, plan.partial)),
        Wire::Stream(_) => None,
    };

    // The watchdog: a transfer that makes no progress for `stall_timeout` ends with 426
    // instead of holding a session and a file forever.
    let watchdog = async {
        let mut last = 0u64;
        let mut last_change = Instant::now();
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1).min(stall)).await;
            let now = progress.load(Ordering::Relaxed);
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() >= stall {
                return;
            }
        }
    };

    // The anonymous size cap, checked as bytes arrive.
    let cap = ctx.anonymous_upload.map_or(0, |c| c.max_bytes);
    let over_cap = async {
        if cap == 0 {
            return std::future::pending().await;
        }
        loop {
            if progress.load(Ordering::Relaxed) > cap {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };

    let mut end = tokio::select! {
        r = async {
            match wire {
                Wire::Stream(conn) => move_bytes(&mut job, conn, &tuning, &progress, cfg.tls_strict_eof).await,
                Wire::Blocks(plan) => crate::modee::move_blocks(&mut job, plan, (peer_ip, local_ip, session), data_tls, cfg, &tuning, &progress).await,
            }
        } => r.map_or_else(End::Failed, End::Done),
        _ = &mut ctx.abort => End::Aborted,
        _ = watchdog => End::Stalled,
        _ = over_cap => End::TooLarge(cap),
    };
    if let End::Done(o) = &end {
        if cap != 0 && o.bytes > cap {
            end = End::TooLarge(cap);
        }
    }
    // An upload whose client vanished (control connection closed) is not committed.
    if upload
        && matches!(end, End::Done(_))
        && ctx
            .control
            .as_ref()
            .is_some_and(crate::limits::control_closed)
    {
        end = End::Aborted;
    }

    let secs = started.elapsed().as_secs_f64();
    let mut reply = match &end {
        End::Done(o) => {
            let rate = o.bytes as f64 / secs.max(1e-6) / 1e6;
            tracing::info!(
                session = ctx.session,
                user = %ctx.user,
                verb = ctx.verb,
                path = %ctx.path,
                bytes = o.bytes,
                secs = format!("{secs:.3}"),
                mb_per_s = format!("{rate:.1}"),
                data_path = o.path.name(),
                "transfer complete"
            );
            ctx.shared.metrics.transfer(ctx.verb, o.bytes, o.path);
            Reply::new(
                226,
                format!(
                    "Transfer complete: {} bytes in {secs:.3} s ({rate:.1} MB/s) via {}.",
                    o.bytes,
                    o.path.name()
                ),
            )
        }
        End::Aborted => Reply::new(426, "Connection closed; transfer aborted."),
        End::Stalled => Reply::new(
            426,
            format!("Transfer aborted: no progress for {} s.", stall.as_secs()),
        ),
        End::TooLarge(cap) => Reply::new(
            552,
            format!("Upload exceeds the anonymous size limit of {cap} bytes; nothing was kept."),
        ),
        End::Failed(e) => failure_reply(e, upload),
    };
    if !matches!(end, End::Done(_)) {
        tracing::warn!(
            session = ctx.session,
            verb = ctx.verb,
            path = %ctx.path,
            bytes = progress.load(Ordering::Relaxed),
            reply = %reply,
            "transfer failed"
        );
    }
    let ascii = matches!(
        job,
        Job::Send { ascii: true, .. } | Job::Receive { ascii: true, .. }
    );
    let file_job = !matches!(job, Job::Listing(_));
    let over_quota = matches!(&end, End::Failed(e) if quota_error(e).is_some());
    let mut freed = 0;
    let mut complete = matches!(end, End::Done(_));
    if let Job::Receive {
        mut upload,
        storage,
        ..
    } = job
    {
        // A failed anonymous upload leaves nothing (a zero-length part is removed).
        let kept = match &blocks {
            _ if ctx.anonymous_upload.is_some() && !complete => 0,
            Some((written, had, partial)) => {
                crate::modee::restart::keep(&mut upload, written, (*had, *partial), complete)
            }
            None => progress.load(Ordering::Relaxed),
        };
        upload.set_written(kept);
        if over_quota {
            // Nothing of a refused upload may stay to count against the quota.
            freed = upload.discard();
        }
        // The synchronous hook sees the upload before its name does (crate::events).
        if let (true, Some(gate)) = (complete, ctx.shared.events.gate()) {
            let mut ev = file_event(&ctx, &end, &progress, started);
            ev.local_path = crate::events::webhook::local_path(&upload);
            if let Err(why) = gate.ask(&ev).await {
                freed = upload.discard();
                complete = false;
                reply = Reply::new(550, format!("Upload refused: {why}; it was not kept."));
            }
        }
        if let Err(e) = storage.commit(upload, complete).await {
            if complete {
                complete = false;
                reply = Reply::new(e.code(), format!("Upload could not be saved: {e}."));
            }
        }
    }
    if let Some(q) = &mut ctx.quota {
        q.finish(upload, complete, progress.load(Ordering::Relaxed), freed);
    }
    if file_job && ctx.shared.events.wanted() {
        let mut ev = file_event(&ctx, &end, &progress, started);
        ev.ok = Some(reply.code == 226);
        ctx.shared.events.emit(ev);
    }
    if let (Some(x), true) = (&ctx.shared.ops.xferlog, file_job) {
        let bytes = match &end {
            End::Done(o) => o.bytes,
            _ => progress.load(Ordering::Relaxed),
        };
        x.write(&crate::xferlog::Entry {
            at: std::time::SystemTime::now(),
            took: started.elapsed(),
            host: ctx.peer_ip,
            bytes,
            path: ctx.path.as_str(),
            ascii,
            outgoing: ctx.verb == "RETR",
            anonymous: ctx.user == "anonymous",
            user: &ctx.user,
            complete: reply.code == 226,
        });
    }
    reply
}

/// The event of a file transfer: who, what, how much, how long, which data path.
fn file_event(
    ctx: &Ctx,
    end: &End,
    progress: &AtomicU64,
    started: Instant,
) -> crate::events::Event {
    let kind = if ctx.verb == "RETR" {
        "download"
    } else {
        "upload"
    };
    let mut ev =
        crate::events::Event::new(kind, ctx.session, &ctx.user, ctx.peer_ip).path(&ctx.path);
    ev.size = Some(match end {
        End::Done(o) => o.bytes,
        _ => progress.load(Ordering::Relaxed),
    });
    ev.duration_ms = Some(started.elapsed().as_millis() as u64);
    ev.data_path = match end {
        End::Done(o) => Some(o.path.name()),
        _ => None,
    };
    ev
}

/// [`failure_reply`] of a download, for tests of what clients are told.
#[cfg(test)]
pub(crate) fn failure_reply_for_test(e: &io::Error) -> Reply {
    failure_reply(e, false)
}

fn failure_reply(e: &io::Error, upload: bool) -> Reply {
    if let Some(crate::modee::OpenFailed(r)) = e.get_ref().and_then(|x| x.downcast_ref()) {
        return r.clone();
    }
    if let Some(q) = quota_error(e) {
        return Reply::new(
            552,
            format!("Transfer aborted: {q}; the upload was discarded (see SITE QUOTA)."),
        );
    }
    if let Some(why) = e.get_ref().and_then(|x| x.downcast_ref::<NoCloseNotify>()) {
        return Reply::new(426, format!("Upload incomplete: {why}."));
    }
    if let Some(why) = e
        .get_ref()
        .and_then(|x| x.downcast_ref::<crate::storage::SourceReplaced>())
    {
        return Reply::new(451, format!("Transfer aborted: {why}."));
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof if upload => Reply::new(
            426,
            format!("Connection closed before the upload ended: {e}; the bytes received are kept for REST or APPE."),
        ),
        io::ErrorKind::UnexpectedEof => Reply::new(
            451,
            "Transfer aborted: the file changed size while it was being sent.",
        ),
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => {
            Reply::new(426, format!("Connection closed; transfer aborted: {e}."))
        }
        // Only an errno can say "disk full" or "quota"; everything else is a local error.
        _ => match e
            .raw_os_error()
            .map(|raw| FsError::from(io::Error::from_raw_os_error(raw)))
        {
            Some(fe @ (FsError::NoSpace | FsError::Quota)) => {
                Reply::new(fe.code(), format!("Transfer aborted: {fe}."))
            }
            _ => Reply::new(
                451,
                format!("Transfer aborted: {}.", crate::storage::hidden(e)),
            ),
        },
    }
}
