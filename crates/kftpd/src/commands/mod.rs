//! Command handlers, one module per verb or per small family of verbs:
//!
//! | module | verbs |
//! |---|---|
//! | `login` | USER PASS ACCT REIN QUIT HOST |
//! | `cwd` | CWD CDUP PWD (and XCWD XCUP XPWD) |
//! | `params` | TYPE STRU MODE REST |
//! | `port` | PORT EPRT |
//! | `pasv` | PASV EPSV |
//! | `retr` | RETR |
//! | `stor` | STOR APPE STOU |
//! | `extended` | ERET ESTO (GridFTP's partial retrieve and adjusted store) |
//! | `list` | LIST NLST MLSD MLST, STAT path |
//! | `files` | DELE RMD MKD RNFR RNTO SIZE MDTM MFMT (and XRMD XMKD) |
//! | `hash` | HASH RANG XCRC XMD5 XSHA1 XSHA256 XSHA512 |
//! | `site` | SITE HELP, SITE CHMOD, SITE QUOTA, SITE BUFSIZE and its aliases, SITE CLIENTINFO |
//! | `info` | FEAT OPTS HELP STAT |
//! | `tls` | AUTH PBSZ PROT |
//!
//! Every handler has one error style: it returns an [`Answer`] (`Ok` the reply to a
//! command that did what it asked, `Err` the reply refusing or failing it; both are sent
//! alike, the split is for `?`), or, when it sends its own replies (150 before a transfer,
//! 234 before a handshake), a [`Replied`]. Storage errors become replies with
//! `OrReply::or_reply`; `Session::resolve`, `storage()` and the quota checks already
//! return the reply.

pub mod cwd;
pub mod extended;
pub mod files;
pub mod hash;
pub mod info;
pub mod list;
pub mod login;
pub mod params;
pub mod pasv;
pub mod port;
pub mod quota;
pub mod retr;
pub mod site;
pub mod stor;
pub mod tls;

use crate::session::{Running, Session};
use crate::storage::{FsError, Storage};
use crate::transfer::{self, Job};
use kftp_proto::command::Prot;
use kftp_proto::path::VPath;
use kftp_proto::Reply;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// What a handler answers: see the module docs.
pub type Answer = Result<Reply, Reply>;

/// What a handler that sends its own replies answers: `Ok` once it has (the transfer it
/// started sends the final one), `Err` the reply refusing the command instead.
pub type Replied = Result<(), Reply>;

/// Storage errors as FTP replies.
pub(crate) trait OrReply<T> {
    /// The error's reply code, with the text `<what>: <error>.`.
    fn or_reply(self, what: impl std::fmt::Display) -> Result<T, Reply>;
}

impl<T> OrReply<T> for Result<T, FsError> {
    fn or_reply(self, what: impl std::fmt::Display) -> Result<T, Reply> {
        self.map_err(|e| Reply::new(e.code(), format!("{what}: {e}.")))
    }
}

/// The logged-in user's storage. Policy guarantees a login for every command that calls
/// this; the error arm only guards that invariant.
pub(crate) fn storage(s: &Session) -> Result<Arc<dyn Storage>, Reply> {
    s.login()
        .map(|l| l.storage.clone())
        .ok_or_else(|| Reply::new(530, "Please log in with USER and PASS first."))
}

/// Answers 150 and starts `job` on the data connection set up earlier.
pub(crate) async fn start_transfer(
    s: &mut Session,
    job: Job,
    verb: &'static str,
    path: VPath,
    total: Option<u64>,
    opening: String,
) -> Replied {
    let quota = s.pending_quota.take();
    // PROT P, where required, was checked by the policy before the handler ran.
    let channel = match crate::modee::admit(s, &job) {
        Ok(Some(plan)) => Ok(transfer::Channel::Blocks(plan)),
        Ok(None) => s
            .data
            .take()
            .map(transfer::Channel::Stream)
            .ok_or_else(|| Reply::new(425, "Use PORT, EPRT, PASV or EPSV first.")),
        Err(r) => Err(r),
    };
    let setup = match channel {
        Ok(c) => c,
        Err(refusal) => {
            if let Job::Receive {
                upload, storage, ..
            } = job
            {
                let _ = storage.commit(upload, false).await;
            }
            return Err(refusal);
        }
    };
    let tls = match (s.prot, &s.shared.tls) {
        (Prot::Private, Some(server)) => Some(transfer::DataTls {
            server: server.clone(),
            lineage: s.lineage.clone(),
            require_reuse: s.login().is_none_or(|l| l.tls_reuse_required),
        }),
        _ => None,
    };
    if s.send(&Reply::new(150, opening)).await.is_err() {
        return Ok(());
    }
    let progress = Arc::new(AtomicU64::new(0));
    let markers = match &setup {
        transfer::Channel::Blocks(plan) => crate::modee::markers::Markers::new(
            s.shared.config.perf_marker_interval,
            progress.clone(),
            matches!(job, Job::Receive { .. }).then(|| plan.written.clone()),
        ),
        transfer::Channel::Stream(_) => None,
    };
    let (abort_tx, abort_rx) = oneshot::channel();
    let ctx = transfer::Ctx {
        shared: s.shared.clone(),
        session: s.id,
        user: s.login().map(|l| l.user.clone()).unwrap_or_default(),
        peer_ip: s.peer.ip(),
        local_ip: s.local.ip(),
        tcp_buffer: s.tcp_buffer,
        verb,
        path: path.clone(),
        progress: progress.clone(),
        abort: abort_rx,
        tls,
        limits: s.login().map(|l| l.guard.limits()).unwrap_or_default(),
        control: match (&job, s.control().stream.as_ref()) {
            (Job::Receive { .. }, Some(st)) => crate::limits::control_probe(st),
            _ => None,
        },
        quota,
        anonymous_upload: match (&job, s.login().is_some_and(|l| l.anonymous)) {
            (Job::Receive { .. }, true) => Some(transfer::UploadCap {
                max_bytes: s.shared.config.abuse.anonymous_upload_max_bytes,
            }),
            _ => None,
        },
    };
    let download = matches!(job, Job::Send { .. });
    s.running = Some(Running {
        handle: Running::work(transfer::run(job, setup, ctx)),
        abort: Some(abort_tx),
        progress,
        what: format!("{verb} {path}"),
        total,
        started: Instant::now(),
        stop_on_quit: false,
        ends_by_itself: download,
        markers,
    });
    Ok(())
}

/// "BINARY" or "ASCII", for 150 replies.
pub(crate) fn mode_name(s: &Session) -> &'static str {
    match s.ttype {
        kftp_proto::TransferType::Ascii => "ASCII",
        kftp_proto::TransferType::Image => "BINARY",
    }
}
