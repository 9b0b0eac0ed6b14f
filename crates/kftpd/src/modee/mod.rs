//! MODE E, GridFTP's extended block mode: one file over several TCP streams, blocks at
//! offsets (the codec is [`kftp_proto::modee`]).
//!
//! # Layout
//! - this file: the session's MODE E state (`MODE E`, `OPTS RETR Parallelism=`, the
//!   connection cache) and [`admit`], which turns a transfer into a [`Plan`] or refuses it
//!   before `150`.
//! - [`send`]: RETR: kftpd connects the streams (or reuses cached ones).
//! - [`recv`]: STOR: the client connects the streams; cached ones are read too.
//! - [`listing`]: LIST, NLST and MLSD in MODE E: the listing rendered, then sent as blocks.
//! - [`markers`]: the `111`/`112` markers the session sends while a transfer runs.
//! - [`restart`]: REST in MODE E (range lists; what a resumed or failed upload keeps).
//!
//! Moving the blocks is [`kftp_datapath::modee`], shared with the client.
//!
//! # Which side connects
//! In MODE E the sender of the data is the active side (GFD.20: EOF carries the number of
//! EODs to expect, which only the sender knows). So RETR needs PORT/EPRT and kftpd opens
//! `Parallelism` streams to that address; STOR needs PASV/EPSV and the client opens as many
//! streams as it likes (up to `--max-streams`) to that listener. The other combinations
//! are refused with `425` before any data moves.
//!
//! # PROT P
//! Under `PROT P` every stream runs its own TLS handshake, which must resume the control
//! connection's session (as a MODE S data connection must). A RETR's streams then hand
//! their transmit keys to the kernel where it has kTLS (blocks by sendfile, as a MODE S
//! RETR), else blocks go through rustls and the copy loop; a STOR's are read by rustls, as
//! in MODE S. TLS streams are kept after EOD as plain ones are (below), so a run of files
//! pays one handshake per stream, not per file: a kTLS stream stays in the kernel and
//! sends the next RETR's blocks by sendfile too, a rustls one keeps its state (and, when
//! receiving, what it read past the last EOD). A stream's keys are retired before their
//! record limit ([`kftp_tls::kept`]); its life ends with close_notify (the kernel's on a
//! kTLS stream), then close.
//!
//! # Streams belong to the session
//! Every stream passes the checks of a MODE S data connection ([`crate::datachan`]): a
//! passive stream must come from the control peer's address, an active target passed the
//! bounce check at PORT; under PROT P its handshake resumed this control session. Streams
//! that end a transfer with EOD but without the close bit are kept in this session's
//! cache (at most `--max-streams`), and only this session's next transfer in the same
//! direction and under the same PROT reads from or writes to them (a sending stream is
//! reused only for the same PORT target, and only while the client has not closed it);
//! they close with the session, on `MODE S`, on a change of PROT, or when a transfer
//! fails. Nothing is shared between sessions, so a stream cannot be stolen by another
//! login.

pub mod listing;
pub mod markers;
pub mod recv;
pub mod restart;
pub mod send;
pub mod state;

use crate::datachan::DataSetup;
use crate::session::Session;
use crate::storage::{ReadHandle, Upload};
use crate::transfer::job::Job;
use kftp_proto::modee::parse_retr_opts;
use kftp_proto::Reply;
use tokio::net::TcpStream;

pub use state::{Cache, Cached, State};

/// How one MODE E transfer runs.
#[derive(Debug)]
pub struct Plan {
    /// The PORT target or PASV listener given for this transfer (None: cached streams).
    pub setup: Option<DataSetup>,
    /// Streams to send on (RETR).
    pub streams: usize,
    /// Most streams a transfer may use (`--max-streams`).
    pub max_streams: usize,
    /// The session's cache.
    pub cache: Cache,
    /// Largest file end a received block may reach (an anonymous upload's size cap), so a
    /// block header cannot make a huge sparse file.
    pub max_end: u64,
    /// An upload's blocks in the file so far (with the ranges a REST said were there),
    /// for its `111` restart markers and for what it keeps ([`restart::keep`]).
    pub written: std::sync::Arc<kftp_datapath::modee::Written>,
    /// The ranges the client has (REST): a RETR sends only the rest.
    pub have: kftp_proto::modee::Ranges,
    /// An upload file's length before the transfer: a failed one is never cut below it.
    pub had: u64,
    /// `ERET P` / `ESTO A`: the part's file offset, where block offset 0 is (GFD.20);
    /// None for RETR and STOR, whose blocks carry the file's own offsets.
    pub partial: Option<u64>,
    /// SBUF: each new stream's socket buffers (None: the kernel's tuning).
    pub tcp_buffer: Option<usize>,
}

/// MODE E: accepted unless `--max-streams 0` turned it off.
pub fn mode_e(s: &mut Session) -> Reply {
    if s.shared.config.max_streams == 0 {
        return Reply::new(504, "MODE E is disabled on this server; use MODE S.");
    }
    s.modee.on = true;
    Reply::new(200, "Mode set to E.")
}

/// MODE S: leaves MODE E and closes its cached streams.
pub fn mode_s(s: &mut Session) {
    s.modee.on = false;
    s.modee.drop_cache();
}

/// OPTS RETR: `Parallelism=start,min,max;` (a `StripeLayout` is accepted and ignored:
/// kftpd is one stripe). More than `--max-streams` is clamped, as the option allows.
pub fn opts_retr(s: &mut Session, arg: Option<&str>) -> Reply {
    match parse_retr_opts(arg.unwrap_or("")) {
        Some(p) => {
            if let Some(p) = p {
                let max = s.shared.config.max_streams as u32;
                s.modee.parallelism = p.start.min(max).max(1);
            }
            Reply::new(200, "OPTS Command Successful.")
        }
        None => Reply::new(
            501,
            "OPTS RETR: expected Parallelism=start,min,max; (start at least 1).",
        ),
    }
}

/// Whether the next transfer may run on the session's cached streams (MODE E, some kept
/// under the PROT now in force) without a new PORT/PASV.
pub fn has_cached(s: &Session) -> bool {
    let tls = s.prot == kftp_proto::command::Prot::Private && s.shared.tls.is_some();
    s.modee.has_cached(tls)
}

/// Turns the next transfer into a MODE E [`Plan`] (None in MODE S), taking the session's
/// data setup, or refuses it with the reply to send instead of `150`.
pub fn admit(s: &mut Session, job: &Job) -> Result<Option<Plan>, Reply> {
    if !s.modee.on {
        return Ok(None);
    }
    // Taken first, so that a refused transfer leaves nothing for the next one.
    let have = s.modee.restart.take();
    let partial = s.modee.partial.take();
    let cfg = &s.shared.config;
    let refuse = |why: &str| Err(Reply::new(504, format!("MODE E: {why}")));
    let sending = match job {
        Job::Send { ascii: true, .. } | Job::Receive { ascii: true, .. } => {
            return refuse("needs TYPE I.")
        }
        Job::Send {
            handle: ReadHandle::Object(_),
            ..
        }
        | Job::Receive {
            upload: Upload::Object(_),
            ..
        } => return refuse("needs a local file system root; use MODE S."),
        // Sent as blocks, as GridFTP servers do (globus-url-copy -fast lists in MODE E).
        Job::Listing(_) | Job::Send { .. } => true,
        Job::Receive { .. } => false,
    };
    let cached = has_cached(s);
    let setup = s.data.take();
    match (&setup, sending, cached) {
        (Some(DataSetup::Active(_)), true, _)
        | (Some(DataSetup::Passive(..)), false, _)
        | (None, _, true) => {}
        (None, _, false) => {
            return Err(Reply::new(425, "Use PORT, EPRT, PASV or EPSV first."));
        }
        (Some(_), true, _) => {
            return Err(Reply::new(
                425,
                "MODE E: the sender connects; for RETR send PORT or EPRT, not PASV.",
            ))
        }
        (Some(_), false, _) => {
            return Err(Reply::new(
                425,
                "MODE E: the sender connects; for STOR send PASV or EPSV, not PORT.",
            ))
        }
    }
    let max_end = match (s.login().is_some_and(|l| l.anonymous), sending) {
        (true, false) => match cfg.abuse.anonymous_upload_max_bytes {
            0 => u64::MAX,
            n => n,
        },
        _ => u64::MAX,
    };
    let had = match job {
        Job::Receive {
            upload: Upload::File(up),
            ..
        } => up.file.metadata().map_or(0, |m| m.len()),
        _ => 0,
    };
    let (written, have) = match sending {
        true => (Default::default(), have.unwrap_or_default()),
        false => (restart::written_for(have), Default::default()),
    };
    Ok(Some(Plan {
        setup,
        streams: (s.modee.parallelism.max(1) as usize).min(cfg.max_streams.max(1)),
        max_streams: cfg.max_streams.max(1),
        cache: s.modee.cache.clone(),
        max_end,
        written: std::sync::Arc::new(written),
        have,
        had,
        partial,
        tcp_buffer: s.tcp_buffer,
    }))
}

/// A MODE E transfer that could not open its streams: the reply is the one a MODE S
/// transfer gives for the same failure (425).
#[derive(Debug)]
pub struct OpenFailed(pub Reply);

impl std::fmt::Display for OpenFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.text())
    }
}

impl std::error::Error for OpenFailed {}

/// The TLS handshake on one stream under `PROT P`: it must resume the control
/// connection's session, as a MODE S data connection must.
pub(crate) async fn tls_stream(
    t: &crate::transfer::job::DataTls,
    sock: TcpStream,
    upload: bool,
) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    kftp_tls::accept_data_for(&t.server, sock, t.reuse(), upload)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "refused TLS on a MODE E stream");
            open_failed(Reply::new(
                e.reply_code(),
                format!("Data connection refused: {e}."),
            ))
        })
}

/// Wraps a data-connection refusal so that [`crate::transfer`] answers it as is.
pub(crate) fn open_failed(r: Reply) -> std::io::Error {
    std::io::Error::other(OpenFailed(r))
}

/// Runs a MODE E transfer admitted by [`admit`]: RETR through [`send`], STOR through
/// [`recv`]. `peer` is (control peer IP, control local IP, session id).
pub(crate) async fn move_blocks(
    job: &mut Job,
    plan: Plan,
    peer: (std::net::IpAddr, std::net::IpAddr, u64),
    tls: Option<&crate::transfer::job::DataTls>,
    cfg: &crate::config::Config,
    tuning: &kftp_datapath::Tuning,
    progress: &std::sync::atomic::AtomicU64,
) -> std::io::Result<kftp_datapath::Outcome> {
    let (peer_ip, local_ip, session) = peer;
    let cache = plan.cache.clone();
    let r = match job {
        Job::Send {
            handle: ReadHandle::File { file, len },
            ..
        } => {
            // Without a REST this is the whole file (an ERET's part: the handle ends where
            // the part does); the job's offset is the prefix of it.
            let missing = restart::missing(&plan.have, plan.partial, *len);
            send::send(file, &missing, plan, local_ip, tls, cfg, tuning, progress).await
        }
        Job::Receive {
            upload: Upload::File(up),
            ..
        } => {
            let peer = (peer_ip, session);
            recv::recv(&up.file, plan, peer, tls, cfg, tuning, progress).await
        }
        Job::Listing(body) => {
            let (file, len) = listing::render(body).await?;
            send::send(
                &file,
                &[(0, len)],
                plan,
                local_ip,
                tls,
                cfg,
                tuning,
                progress,
            )
            .await
        }
        // admit() refuses every other job before 150.
        _ => Err(std::io::Error::other("MODE E: unsupported transfer")),
    };
    if r.is_err() {
        // Streams of a failed transfer are in an unknown state: none is reused.
        *cache.lock().unwrap_or_else(|p| p.into_inner()) = Cached::default();
    }
    r
}
