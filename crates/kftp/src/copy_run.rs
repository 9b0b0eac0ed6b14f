//! A run of third-party copies between one pair of sessions, pipelined as
//! `globus-url-copy -pp` pipelines them: the next file's STOR and RETR go out while the
//! current file moves, so each server starts the next file as soon as one ends, instead
//! of waiting a round trip through kftp for it (and another for the SIZE that checks it).
//!
//! It applies once MODE E streams are kept between the two servers (the first copy, and
//! any after a failure, go one at a time through [`crate::copy::copy_with`], which sets
//! them up) and the size of each file is known from a listing.
//!
//! What keeps it safe, given that a server reads no command while its transfer runs (so
//! an ABOR queued behind other commands would not reach it):
//! - Nothing is sent behind a file's STOR or RETR until both servers have answered `150`
//!   for it. A refusal of either is therefore handled as a single copy handles it (the
//!   other side gets ABOR, the destination MODE S if the source may have sent), with no
//!   other command in the way.
//! - Once both have started, the destination gets the file's SIZE, the previous file's
//!   MFMT and the next file's STOR in one write, the source the next RETR.
//! - MFMT goes only for a copy whose `226` and SIZE were read: sent with a STOR that may
//!   fail, it would give the old file at the destination (kept intact by kftpd) the
//!   source's time, and the next mirror would take it for up to date.
//! - A file whose transfer fails leaves the streams in an unknown state: the file queued
//!   behind it then gets `425` (or a refusal) and is copied again, once, the single way
//!   with new streams.
//! - Where one side of a failed file had to be stopped (ABOR: it was still waiting for
//!   the other, `copy::finish_pair`), the commands behind it were answered as that
//!   server handles ABOR: both sessions are read up to a PWD (`resync`), and the file
//!   queued behind goes again the single way, once.
//!
//! A pair whose control connection is gone (a copy failed with no reply behind it, or
//! the server said `421`) takes no more copies: the rest of a shared queue goes to the
//! other pairs, where a failing pair would have drawn every copy into a quick failure.

use crate::client::Client;
use crate::copy::{self, CopyOptions, CopyReport, Kept};
use crate::error::{Error, ErrorKind, Result};
use crate::progress::Progress;
use kftp_proto::Command;
use std::collections::VecDeque;
use std::time::Instant;

/// Times a file queued behind a failed one is copied again after its `425`.
const RETRIES: u8 = 1;

/// Replies [`resync`] reads at most before PWD's: a stopped copy's own, its SIZE's and
/// MFMT's, the next copy's (its markers too, had it started), two ABORs'.
const RESYNC_REPLIES: usize = 32;

/// One copy of a run.
#[derive(Clone, Debug)]
pub struct CopyJob {
    /// Path on the source's server.
    pub src: String,
    /// Path on the destination's server.
    pub dst: String,
    /// Its known size and time ([`CopyOptions::blocks`] is set by the run).
    pub opts: CopyOptions,
}

/// Where a run's copies come from and where their results go.
pub struct Jobs<'a> {
    /// The next copy, or `None` at the end (it may hand out work shared with other pairs).
    pub next: &'a mut (dyn FnMut() -> Option<CopyJob> + Send),
    /// A copy handed out but not made, for another pair: this one broke before it.
    pub back: &'a mut (dyn FnMut(CopyJob) + Send),
    /// A copy's outcome, in the order they finish.
    pub done: &'a mut (dyn FnMut(CopyJob, Result<CopyReport>) + Send),
    /// Per-file progress.
    pub progress: &'a dyn Progress,
}

/// A copy whose STOR and RETR are sent.
struct Flight {
    job: CopyJob,
    tries: u8,
    started: Instant,
    /// Shown to the progress display (once both servers started it).
    shown: bool,
}

impl Flight {
    fn new(mut job: CopyJob, tries: u8) -> Flight {
        job.opts.blocks = true;
        Flight {
            job,
            tries,
            started: Instant::now(),
            shown: false,
        }
    }

    /// Both servers started it: the progress display shows it from here.
    fn show(&mut self, progress: &dyn Progress) {
        if !self.shown {
            self.shown = true;
            progress.begin(&self.job.dst, self.job.opts.size, 0);
        }
    }
}

/// The run's queue: copies to make again come first.
struct Queue<'j, 'a> {
    jobs: &'j mut Jobs<'a>,
    again: VecDeque<(CopyJob, u8)>,
}

impl Queue<'_, '_> {
    fn take(&mut self) -> Option<(CopyJob, u8)> {
        self.again
            .pop_front()
            .or_else(|| (self.jobs.next)().map(|j| (j, 0)))
    }

    /// Reports a copy's outcome (one that never started is shown as it fails).
    fn finish(&mut self, mut f: Flight, r: Result<CopyReport>) {
        f.show(self.jobs.progress);
        self.jobs.progress.end(
            &f.job.dst,
            r.as_ref().err().map(|e| e.to_string()).as_deref(),
        );
        (self.jobs.done)(f.job, r);
    }

    /// A copy that got `425` behind a failed one goes again (the single way), once.
    fn retry_or_finish(&mut self, f: Flight, e: Error) {
        match e.server_reply() {
            Some(r) if r.code == 425 => self.retry(f, e),
            _ => self.finish(f, Err(e)),
        }
    }

    /// A copy sent behind a failed one goes again (the single way), once; else it ends
    /// with `e`.
    fn retry(&mut self, f: Flight, e: Error) {
        if f.tries < RETRIES {
            self.again.push_front((f.job, f.tries + 1));
        } else {
            self.finish(f, Err(e));
        }
    }
}

/// Copies every job `jobs` hands out from `src`'s server to `dst`'s, server to server,
/// over MODE E streams kept between them, pipelined where both servers speak MODE E
/// (module doc); otherwise one at a time. Each copy's result goes to `jobs.done`.
/// Returns early when a session of the pair is gone ([`Error::session_gone`]), leaving
/// the rest of `jobs` untaken and handing back (`jobs.back`) any it was to try again.
pub async fn run(src: &mut Client, dst: &mut Client, jobs: &mut Jobs<'_>) {
    // MODE E on both ends (what copy_with uses with `blocks`), where replies to commands
    // sent together come back in order.
    let pipelines = src.features().parallel && dst.pipelines_settings();
    let mut q = Queue {
        jobs,
        again: VecDeque::new(),
    };
    let mut kept = Kept::default();
    while let Some((job, tries)) = q.take() {
        let mut f = Flight::new(job, tries);
        let gone = if pipelines && kept.is_kept() && f.job.opts.size.is_some() {
            pipelined(src, dst, f, &mut kept, &mut q).await
        } else {
            f.show(q.jobs.progress);
            let r = copy::copy_with(src, &f.job.src, dst, &f.job.dst, &f.job.opts, &mut kept).await;
            let gone = r.as_ref().is_err_and(Error::session_gone);
            q.finish(f, r);
            gone
        };
        if gone {
            // Copies waiting here for another try go to the pairs that work.
            while let Some((job, _)) = q.again.pop_front() {
                (q.jobs.back)(job);
            }
            return;
        }
    }
}

/// Copies `first` and, behind it, every copy the queue has while each goes well; returns
/// (with `kept` cleared) at the first one that does not, or at the end of the queue.
/// Says whether a session of the pair is gone ([`Error::session_gone`], or out of step after a stop).
async fn pipelined(
    src: &mut Client,
    dst: &mut Client,
    first: Flight,
    kept: &mut Kept,
    q: &mut Queue<'_, '_>,
) -> bool {
    if let Err(e) = copy::send_pair(src, &first.job.src, dst, &first.job.dst).await {
        kept.clear();
        let gone = e.session_gone();
        q.finish(first, Err(e));
        return gone;
    }
    let mut cur = first;
    // The last copy's MFMT, once its 226 and SIZE are read.
    let mut mfmt_due: Option<(String, i64)> = None;
    loop {
        let (stor, retr) = copy::opening_replies(dst, src).await;
        if !(copy::started(&stor) && copy::started(&retr)) {
            let e = copy::refused(src, &cur.job.src, dst, &cur.job.dst, (stor, retr), true).await;
            kept.clear();
            let gone = e.session_gone();
            q.retry_or_finish(cur, e);
            if gone {
                return true;
            }
            // The last copy's MFMT (below) still goes.
            break;
        }
        cur.show(q.jobs.progress);
        // Both started: the SIZE that checks this copy, the last one's MFMT and the next
        // STOR go behind it, the next RETR behind the source's.
        let next = match q.take() {
            Some((j, tries)) if j.opts.size.is_none() => {
                // Its size is asked first, the single way.
                q.again.push_front((j, tries));
                None
            }
            Some((job, tries)) => Some(Flight::new(job, tries)),
            None => None,
        };
        let rides = mfmt_due.take();
        let mut cmds = vec![Command::Size(cur.job.dst.clone())];
        if let Some((path, t)) = &rides {
            cmds.push(Command::Mfmt(*t, path.clone()));
        }
        if let Some(n) = &next {
            cmds.push(Command::Stor(n.job.dst.clone()));
        }
        let sent = match dst.ctl.send_all(&cmds).await {
            Ok(()) => match &next {
                Some(n) => src.ctl.send(&Command::Retr(n.job.src.clone())).await,
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        let (r, stopped) = match sent {
            Ok(()) => finish_one(src, dst, &cur, rides.is_some()).await,
            Err(e) => (Err(e), false),
        };
        if stopped {
            kept.clear();
            q.finish(cur, r);
            let synced = resync(src, dst).await;
            let gone = synced.is_err();
            if let (Ok(()), Some((path, t))) = (&synced, rides) {
                // Its MFMT may have been dropped with the rest (a refusal is no error).
                let _ = dst.set_mtime(&path, t).await;
            }
            if let Some(n) = next {
                let e = synced.err().unwrap_or_else(|| {
                    Error::new(
                        ErrorKind::Network,
                        "copy: sent behind a copy that failed, and not copied again",
                    )
                });
                q.retry(n, e);
            }
            return gone;
        }
        let gone = r.as_ref().is_err_and(Error::session_gone);
        match &r {
            Ok(_) => {
                kept.keep();
                mfmt_due = cur
                    .job
                    .opts
                    .mtime
                    .filter(|_| dst.features().mfmt)
                    .map(|t| (cur.job.dst.clone(), t));
            }
            // The streams are in an unknown state: the copy behind this one will say.
            Err(_) => kept.clear(),
        }
        q.finish(cur, r);
        match next {
            Some(n) if !gone => cur = n,
            Some(n) => {
                kept.clear();
                q.finish(
                    n,
                    Err(Error::new(
                        ErrorKind::Network,
                        "copy: a control connection failed before this copy started",
                    )),
                );
                return true;
            }
            None if gone => return true,
            None => break,
        }
    }
    if let Some((path, t)) = mfmt_due {
        // The run's last copy: its time alone (a refusal is not an error, as in a
        // single copy).
        let _ = dst.set_mtime(&path, t).await;
    }
    false
}

/// The rest of a started copy: both final replies, then the destination's answers to
/// the SIZE sent behind it and to the MFMT that rode along (`mfmt`). Also whether a side
/// was stopped ([`copy::finish_pair`]): then those answers are left to [`resync`].
async fn finish_one(
    src: &mut Client,
    dst: &mut Client,
    f: &Flight,
    mfmt: bool,
) -> (Result<CopyReport>, bool) {
    let finished = match copy::finish_pair(src, &f.job.src, dst, &f.job.dst, true).await {
        (Err(e), true) => return (Err(e), true),
        (r, _) => r,
    };
    let checked = async {
        let size = dst.ctl.read_reply().await?;
        if mfmt {
            // Its answer changes nothing (a refusal is not an error).
            dst.ctl.read_reply().await?;
        }
        finished?;
        let got = Client::size_of(&f.job.dst, size)?;
        copy::check_size(f.job.opts.size, got)?;
        Ok(CopyReport {
            bytes: f.job.opts.size,
            streams: src.streams().max(1),
            elapsed: f.started.elapsed(),
        })
    };
    (checked.await, false)
}

/// Brings both sessions back in step after a side of a pipelined copy was stopped. How
/// the commands behind that transfer were answered is up to each server
/// (globus-gridftp-server answers each `426` on ABOR; kftpd runs them, so the next copy
/// may have started), so each session gets ABOR, for whatever runs, and PWD, and is read
/// up to PWD's `257`, which none of those commands gets. The destination then leaves
/// MODE E, closing streams that may hold blocks of the next file, as after a refusal
/// ([`copy::refused`]).
async fn resync(src: &mut Client, dst: &mut Client) -> Result<()> {
    for c in [&mut *src, &mut *dst] {
        c.ctl.send_all(&[Command::Abor, Command::Pwd]).await?;
        let mut left = RESYNC_REPLIES;
        while c.ctl.read_reply().await?.code != 257 {
            left -= 1;
            if left == 0 {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "copy: no answer to PWD after a stopped copy",
                ));
            }
        }
    }
    dst.stream_mode().await
}
