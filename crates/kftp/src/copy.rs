//! Third-party copy: a file from one server to another, the bytes going straight from
//! server to server and never through kftp (RFC 959 section 5.2's "server-server"
//! transfer; FXP in FTP lore; how GridFTP users move data between sites). kftp holds the
//! two control connections: the destination is asked for a passive port, the source is
//! told to send there (EPRT, else PORT), then STOR goes to the destination and RETR to the
//! source, and both replies are read side by side.
//!
//! In MODE E (both servers offer `PARALLEL` and the copy runs over more than one stream,
//! or [`CopyOptions::blocks`] asks for it) the roles are the same, as GFD.20 wants the
//! sender to connect: the source gets `OPTS RETR Parallelism=n,n,n;` and opens its
//! streams to the destination's port. Both servers keep those streams after the copy
//! (EOD without the close bit), so the next copy between the same two sessions sends
//! STOR and RETR without EPSV and EPRT, as `globus-url-copy -fast` does; a server that
//! no longer has them answers `425` before anything moves, and the copy is made again
//! with EPSV and EPRT ([`Kept`]).
//!
//! What it needs from the servers, when they are on two hosts: the source must accept a
//! PORT naming a host other than its client, and the destination a data connection from
//! a host other than its client (FTP bounce protection refuses both: kftpd's
//! `allow_foreign_data_peer` allows them, vsftpd's `port_promiscuous`); two servers on
//! one host need nothing. Encrypted data between two servers needs SSCN (one server acting as the TLS
//! client), which kftp does not speak, so a session with PROT P is refused before
//! anything is sent rather than moving the data in the clear.
//!
//! On failure the side still waiting is sent ABOR, so neither server is left holding a
//! transfer (after a refusal at once; after a failure during the transfer once it has had
//! `PEER_GRACE` to answer by itself); what a failed STOR leaves on the destination is
//! the destination's policy (kftpd keeps a hidden part file and the old file intact).

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use kftp_proto::{Command, HashAlgo, Reply, TransferType};
use std::time::{Duration, Instant};

/// How long an aborted side may take to answer its ABOR.
const ABORT_WAIT: Duration = Duration::from_secs(5);

/// After an aborted side's 2xx, how long a second one (ABOR's own) may take.
const ABORT_SETTLE: Duration = Duration::from_millis(300);

/// Once one side of a started copy has failed, how long the other may take to give its own
/// final reply before it is sent ABOR. Where the failure reaches the other server through
/// the data connections (closed streams), it answers within moments of the first, plus
/// the difference of the two servers' round trips to kftp. Where it does not (the source
/// went silent with its streams open, a destination stopped reading), the other waits
/// for data that will not come: globus-gridftp-server waits for MODE E's EOD without end
/// (still after 15 minutes, past its idle timeout), its 112 markers every 5 s restarting
/// kftp's own wait for the final reply.
const PEER_GRACE: Duration = Duration::from_secs(1);

/// What a third-party copy did.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// The file's size: the source's SIZE, which the destination's matched afterwards
    /// (`None` where a server has no SIZE and nothing could be compared).
    pub bytes: Option<u64>,
    /// Data streams between the servers (1: MODE S).
    pub streams: u32,
    /// From the first setting to both final replies.
    pub elapsed: Duration,
}

/// What a caller knows or wants beyond the two paths.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyOptions {
    /// The source's size, known already (a mirror's listing): no SIZE is asked before.
    pub size: Option<u64>,
    /// MODE E even over one stream where both servers offer it: the streams stay between
    /// copies, so a run of files costs no data connection each (a mirror).
    pub blocks: bool,
    /// The modification time to give the copy (MFMT, where the destination has it; a
    /// refusal is not an error), asked in the same write as the SIZE that checks the copy
    /// where the destination takes pipelined commands: one round trip a file less.
    pub mtime: Option<i64>,
}

/// Whether the last copy between two sessions left MODE E streams between their servers
/// (then the next one sends no EPSV and EPRT). Starts false; [`copy_with`] keeps it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kept(bool);

impl Kept {
    /// Whether streams are kept (the next copy sends no EPSV and EPRT).
    pub fn is_kept(&self) -> bool {
        self.0
    }

    /// Forgets them: the next copy sets up new streams.
    pub(crate) fn clear(&mut self) {
        self.0 = false;
    }

    /// A copy in MODE E ended well on them: they are still there.
    pub(crate) fn keep(&mut self) {
        self.0 = true;
    }
}

/// Copies `src_path` on `src`'s server to `dst_path` on `dst`'s, server to server, over
/// `src`'s streams ([`Client::set_streams`]) where both servers speak MODE E, else MODE S.
pub async fn copy(
    src: &mut Client,
    src_path: &str,
    dst: &mut Client,
    dst_path: &str,
) -> Result<CopyReport> {
    let opts = CopyOptions::default();
    copy_with(src, src_path, dst, dst_path, &opts, &mut Kept::default()).await
}

/// [`copy`] with what the caller knows ([`CopyOptions`]) and, for a run of copies between
/// the same two sessions, the streams the last one left ([`Kept`]).
pub async fn copy_with(
    src: &mut Client,
    src_path: &str,
    dst: &mut Client,
    dst_path: &str,
    opts: &CopyOptions,
    kept: &mut Kept,
) -> Result<CopyReport> {
    if src.data_tls() || dst.data_tls() {
        return Err(Error::usage(
            "copy: the servers would exchange the data directly, and kftp cannot have them \
             encrypt it (that takes SSCN); it will not send it in the clear from a TLS \
             session. Use plain ftp:// URLs without --tls, or get then put",
        ));
    }
    let started = Instant::now();
    let size = match opts.size {
        Some(n) => Some(n),
        None => src
            .size(src_path)
            .await
            .map_err(|e| e.context("copy: the source"))?,
    };
    let n = src.streams().max(1);
    let both = src.features().parallel && dst.features().parallel;
    let mode_e = both && (n > 1 || opts.blocks);
    if mode_e {
        src.block_mode(Some(n), "copy").await?;
        dst.block_mode(None, "copy").await?;
    } else {
        kept.0 = false;
        for c in [&mut *src, &mut *dst] {
            if c.mode_e {
                c.stream_mode().await?;
            }
            c.set_type(TransferType::Image).await?;
        }
    }
    let r = match std::mem::take(&mut kept.0) {
        true => match send_both(src, src_path, dst, dst_path, mode_e).await {
            // The servers dropped the streams (425 before anything moved): connect anew.
            Err(e) if e.server_reply().is_some_and(|r| r.code == 425) => None,
            r => Some(r),
        },
        false => None,
    };
    let r = match r {
        Some(r) => r,
        None => {
            let to = dst.passive_addr().await?;
            src.point_to(to, Vec::new())
                .await
                .map_err(|e| e.context("copy: the source"))?;
            send_both(src, src_path, dst, dst_path, mode_e).await
        }
    };
    r?;
    kept.0 = mode_e;
    let mtime = opts.mtime.filter(|_| dst.features().mfmt);
    let got = match (size, mtime) {
        (Some(_), Some(t)) if dst.pipelines_settings() => {
            let (size, mfmt) = (
                Command::Size(dst_path.into()),
                Command::Mfmt(t, dst_path.into()),
            );
            dst.ctl.send_all(&[size, mfmt]).await?;
            let size = dst.ctl.read_reply().await?;
            dst.ctl.read_reply().await?;
            Client::size_of(dst_path, size)?
        }
        (size, mtime) => {
            let got = match size {
                Some(_) => dst.size(dst_path).await?,
                None => None,
            };
            if let Some(t) = mtime {
                dst.set_mtime(dst_path, t).await?;
            }
            got
        }
    };
    check_size(size, got)?;
    Ok(CopyReport {
        bytes: size,
        streams: if mode_e { n } else { 1 },
        elapsed: started.elapsed(),
    })
}

/// The copy's size at the destination (`got`) against the source's (`want`), where both
/// are known: [`ErrorKind::Integrity`] when they differ.
pub(crate) fn check_size(want: Option<u64>, got: Option<u64>) -> Result<()> {
    match (want, got) {
        (Some(want), Some(got)) if got != want => Err(Error::new(
            ErrorKind::Integrity,
            format!("copy: the source has {want} bytes, the destination {got}"),
        )),
        _ => Ok(()),
    }
}

/// STOR to the destination and RETR to the source, both before either reply (a
/// destination may answer its 150 only once the source has connected: vsftpd does),
/// then both final replies; on a refusal or failure the other side is stopped.
async fn send_both(
    src: &mut Client,
    src_path: &str,
    dst: &mut Client,
    dst_path: &str,
    mode_e: bool,
) -> Result<()> {
    send_pair(src, src_path, dst, dst_path).await?;
    let (stor, retr) = opening_replies(dst, src).await;
    if !(started(&stor) && started(&retr)) {
        return Err(refused(src, src_path, dst, dst_path, (stor, retr), mode_e).await);
    }
    // Nothing is sent behind a single copy: whether a side was stopped changes nothing.
    finish_pair(src, src_path, dst, dst_path, mode_e).await.0
}

/// STOR to the destination, then RETR to the source: a copy's two commands, sent before
/// either reply is read.
pub(crate) async fn send_pair(
    src: &mut Client,
    src_path: &str,
    dst: &mut Client,
    dst_path: &str,
) -> Result<()> {
    dst.ctl.send(&Command::Stor(dst_path.into())).await?;
    src.ctl.send(&Command::Retr(src_path.into())).await
}

/// Both final replies of a started copy, read side by side. Once one side has failed, the
/// other gets [`PEER_GRACE`] to answer and is then stopped (ABOR): it may be waiting for
/// data that will not come. The source's failure is the one reported when both failed.
/// Also returns whether a side was stopped: commands sent behind its transfer (a pipelined
/// run) were then answered in a way this cannot know.
pub(crate) async fn finish_pair(
    src: &mut Client,
    src_path: &str,
    dst: &mut Client,
    dst_path: &str,
    mode_e: bool,
) -> (Result<()>, bool) {
    let (stored, sent) = {
        let stored = dst.finish_copy(mode_e);
        let sent = src.finish_copy(mode_e);
        tokio::pin!(stored, sent);
        tokio::select! {
            r = &mut sent => (other_reply(stored, &r).await, Some(r)),
            r = &mut stored => {
                let sent = other_reply(sent, &r).await;
                (Some(r), sent)
            }
        }
    };
    // `None`: still silent after the other's failure.
    if stored.is_none() {
        dst.abort().await;
    }
    if sent.is_none() {
        src.abort().await;
    }
    let stopped = stored.is_none() || sent.is_none();
    let r = match (sent, stored) {
        (Some(Err(e)), _) => Err(e.context(format!("copy: RETR {src_path}"))),
        (_, Some(Err(e))) => Err(e.context(format!("copy: STOR {dst_path}"))),
        _ => Ok(()),
    };
    (r, stopped)
}

/// One side's final reply, once the other's was `first`: all of the usual wait after a
/// success, [`PEER_GRACE`] after a failure (`None` when it has not answered by then).
async fn other_reply(
    other: impl std::future::Future<Output = Result<Reply>>,
    first: &Result<Reply>,
) -> Option<Result<Reply>> {
    match first {
        Ok(_) => Some(other.await),
        Err(_) => tokio::time::timeout(PEER_GRACE, other).await.ok(),
    }
}

/// Whether an opening reply says the transfer started (`150`).
pub(crate) fn started(r: &Option<Result<Reply>>) -> bool {
    matches!(r, Some(Ok(r)) if r.is_preliminary())
}

/// One side of a copy refused (or failed) to start: stops the other, whether it started
/// or is still waiting, and returns the failure to report, the source's first. Nothing may
/// be queued behind the STOR and RETR on either session: a server waits for its transfer
/// before it reads the next command, so ABOR would not reach it.
pub(crate) async fn refused(
    src: &mut Client,
    src_path: &str,
    dst: &mut Client,
    dst_path: &str,
    (stor, retr): (Option<Result<Reply>>, Option<Result<Reply>>),
    mode_e: bool,
) -> Error {
    // Started, or not heard from: a side that may be moving data or waiting for it.
    let live = |r: &Option<Result<Reply>>| r.is_none() || started(r);
    if live(&stor) {
        dst.abort().await;
    }
    if live(&retr) {
        src.abort().await;
        if mode_e && !started(&stor) {
            // The source may have sent the file onto streams kept from the last copy,
            // which the destination did not read: MODE S makes it close them, lest the
            // next copy read those blocks as its own (older kftpd did; kftpd now drops
            // them itself on a refused upload). The next copy connects anew.
            let _ = dst.stream_mode().await;
        }
    }
    match (retr, stor) {
        (Some(Err(e)), _) => e.context("copy: the source"),
        (Some(Ok(r)), _) if !r.is_preliminary() => Error::reply(format!("RETR {src_path}"), r),
        (_, Some(Err(e))) => e.context("copy: the destination"),
        (_, Some(Ok(r))) => Error::reply(format!("STOR {dst_path}"), r),
        _ => Error::new(ErrorKind::Protocol, "copy: neither server started"),
    }
}

/// The replies that open the transfer on each side (`150`, or a refusal). Once one side
/// has refused, the other's is not waited for (`None`): it may wait for a connection that
/// will not come, and is sent ABOR instead. A reply read cut short there can leave that
/// session out of step; the copy has failed, and its caller ends both sessions.
pub(crate) async fn opening_replies(
    dst: &mut Client,
    src: &mut Client,
) -> (Option<Result<Reply>>, Option<Result<Reply>>) {
    let started = |r: &Result<Reply>| r.as_ref().is_ok_and(|r| r.is_preliminary());
    let stor = dst.ctl.read_reply();
    let retr = src.ctl.read_reply();
    tokio::pin!(stor, retr);
    tokio::select! {
        r = &mut retr => {
            if started(&r) {
                (Some(stor.await), Some(r))
            } else {
                (None, Some(r))
            }
        }
        r = &mut stor => {
            if started(&r) {
                (Some(r), Some(retr.await))
            } else {
                (Some(r), None)
            }
        }
    }
}

/// Compares the two servers' checksums of a copy: the source's (SHA-256 where it has it;
/// HASH, GridFTP's CKSM or an X* command, [`Client::remote_hash`]), then the
/// destination's in the same algorithm (or the source's again in the one the destination
/// has). [`ErrorKind::Integrity`] when they differ.
pub async fn verify(
    src: &mut Client,
    src_path: &str,
    dst: &mut Client,
    dst_path: &str,
) -> Result<(HashAlgo, String)> {
    let (algo, theirs) = src.remote_hash(src_path, Some(HashAlgo::Sha256)).await?;
    let (got, ours) = dst.remote_hash(dst_path, Some(algo)).await?;
    let (algo, theirs) = if got == algo {
        (algo, theirs)
    } else {
        let (again, theirs) = src.remote_hash(src_path, Some(got)).await?;
        if again != got {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!(
                    "copy --verify: the servers have no checksum in common (the source {}, the destination {})",
                    algo.name(),
                    got.name()
                ),
            ));
        }
        (got, theirs)
    };
    if theirs != ours {
        return Err(Error::new(
            ErrorKind::Integrity,
            format!(
                "copy --verify: {} differs: source {theirs}, destination {ours}",
                algo.name()
            ),
        ));
    }
    Ok((algo, ours))
}

impl Client {
    /// The final reply of this side of a copy (past MODE E's 111/112 markers).
    pub(crate) async fn finish_copy(&mut self, mode_e: bool) -> Result<Reply> {
        if mode_e {
            self.finish_blocks("copy").await
        } else {
            self.finish_data("copy").await
        }
    }

    /// ABOR for a transfer that started on this side (or may be about to) while the other
    /// failed. Its replies are read so the session stays in step where it can: a 150 and
    /// the transfer's 426 may come before ABOR's own 225/226, and a transfer that had just
    /// ended (its bytes taken by the other server's socket before it refused) has its 226
    /// followed by ABOR's, so after a 2xx a little more is waited for. Errors are ignored:
    /// the copy has failed already, and that is the error reported.
    async fn abort(&mut self) {
        if self.ctl.send(&Command::Abor).await.is_err() {
            return;
        }
        let mut wait = ABORT_WAIT;
        for _ in 0..3 {
            match self.ctl.read_reply_within(wait).await {
                Ok(r) if r.is_success() => wait = ABORT_SETTLE,
                Ok(_) => wait = ABORT_WAIT,
                Err(_) => break,
            }
        }
    }
}
