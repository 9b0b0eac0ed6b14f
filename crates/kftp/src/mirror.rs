//! Recursive sync in either direction, or between two servers ([`mirror_across`], each
//! file a server-to-server copy). A file is transferred when the destination lacks
//! it, its size differs, or the source is newer (compared at the precision the listing
//! gives: LIST dates drop seconds). Downloads get the remote mtime; uploads set it with
//! MFMT where the server has it, else the remote copy is newer and stays skipped.
//! `delete` removes destination entries that the source does not have.
//!
//! Listing, directory creation and deletion run on the caller's session; the file
//! transfers are spread over `parallel` sessions, each taking files from one queue. Where
//! MODE E applies each session pipelines its files ([`crate::pipeline`]: up to 8 files'
//! commands outstanding, no SIZE), else it runs `get`/`put` one after the other.
//!
//! The remote tree's names are untrusted: an entry whose name is not one plain component
//! (`../x`, `/tmp/x`, ...) is skipped with a message, counted in
//! [`MirrorReport::refused`], and makes the run fail; so is a local path below the
//! target that would go through a symbolic link. Local paths are built only by
//! [`crate::localname`].

use crate::client::Client;
use crate::copy_run::CopyJob;
use crate::error::{Error, ErrorKind, Result};
use crate::localname;
use crate::progress::Progress;
use crate::transfer::{TransferOptions, TransferReport};
use kftp_proto::listing::Kind;
use kftp_proto::listing_parse::Precision;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

/// Mirror settings.
#[derive(Clone, Debug, Default)]
pub struct MirrorOptions {
    /// Delete destination files and directories missing from the source.
    pub delete: bool,
    /// Sessions moving files at once (1 uses the caller's session only; 0: kftp's choice,
    /// [`AUTO_PARALLEL`]).
    pub parallel: usize,
    /// Only report what would be done.
    pub dry_run: bool,
}

/// What a mirror run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorReport {
    /// Files transferred.
    pub transferred: usize,
    /// Bytes transferred.
    pub bytes: u64,
    /// Files already up to date.
    pub up_to_date: usize,
    /// Files and directories deleted.
    pub deleted: usize,
    /// Directories created.
    pub dirs_created: usize,
    /// Files that failed (the run continues past them).
    pub failed: usize,
    /// Entries not mirrored because their names are unsafe (from the server: not one
    /// plain path component) or their local path goes through a symbolic link below the
    /// target. The run continues past them and then fails.
    pub refused: usize,
}

/// One file as found on either side.
#[derive(Clone, Debug)]
struct FileInfo {
    size: u64,
    mtime: Option<i64>,
    precision: Precision,
}

#[derive(Default)]
struct Tree {
    /// Relative paths (with `/`) of directories, parents before children.
    dirs: Vec<String>,
    files: BTreeMap<String, FileInfo>,
    /// Entries refused for their names (remote trees only); each already announced.
    refused: Vec<Error>,
}

fn join_remote(base: &str, rel: &str) -> String {
    match (base.trim_end_matches('/'), rel) {
        ("", r) if base.starts_with('/') => format!("/{r}"),
        ("", r) => r.to_string(),
        (b, "") => b.to_string(),
        (b, r) => format!("{b}/{r}"),
    }
}

/// `dir/name` in a tree's relative paths.
fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// True when a `src` file should replace `dst`.
fn differs(src: &FileInfo, dst: &FileInfo) -> bool {
    if src.size != dst.size {
        return true;
    }
    match (src.mtime, dst.mtime) {
        (Some(s), Some(d)) => {
            let unit = src.precision.max(dst.precision).unit();
            s.div_euclid(unit) > d.div_euclid(unit)
        }
        _ => false,
    }
}

async fn walk_remote(c: &mut Client, root: &str, progress: &dyn Progress) -> Result<Tree> {
    let mut tree = Tree::default();
    let mut queue = VecDeque::from([String::new()]);
    while let Some(dir) = queue.pop_front() {
        let listed = join_remote(root, &dir);
        let listing = c.list(&listed).await?;
        for r in &listing.refused {
            progress.message(&localname::refusal_message(&listed, r));
            tree.refused.push(localname::refused(&listed, r));
        }
        for e in listing.entries {
            // The parser checked the name already; a relative path of the tree is only
            // ever made of names that pass the rule.
            if let Err(err) = localname::check(&e.name) {
                progress.message(&format!("{err}; skipped"));
                tree.refused.push(err);
                continue;
            }
            let rel = join_rel(&dir, &e.name);
            match e.kind {
                Kind::Dir => {
                    tree.dirs.push(rel.clone());
                    queue.push_back(rel);
                }
                Kind::File => {
                    tree.files.insert(
                        rel,
                        FileInfo {
                            size: e.size.unwrap_or(0),
                            mtime: e.mtime,
                            precision: e.precision,
                        },
                    );
                }
                _ => progress.message(&format!("skipping {rel}: not a regular file or directory")),
            }
        }
    }
    Ok(tree)
}

fn walk_local(root: &Path, progress: &dyn Progress) -> Result<Tree> {
    let mut tree = Tree::default();
    let mut queue = VecDeque::from([String::new()]);
    while let Some(dir) = queue.pop_front() {
        let path = root.join(&dir);
        let rd = std::fs::read_dir(&path)
            .map_err(|e| Error::local(format!("reading {}", path.display()), e))?;
        let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let Ok(name) = e.file_name().into_string() else {
                progress.message(&format!("skipping a non-UTF-8 name in {}", path.display()));
                continue;
            };
            let rel = join_rel(&dir, &name);
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                tree.dirs.push(rel.clone());
                queue.push_back(rel);
            } else if ft.is_file() {
                let Ok(m) = e.metadata() else { continue };
                tree.files.insert(rel, local_info(&m));
            } else {
                progress.message(&format!("skipping {rel}: not a regular file or directory"));
            }
        }
    }
    Ok(tree)
}

fn local_info(m: &std::fs::Metadata) -> FileInfo {
    FileInfo {
        size: m.len(),
        mtime: m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64),
        precision: Precision::Seconds,
    }
}

#[derive(Clone, Debug)]
enum Job {
    Get {
        remote: String,
        local: PathBuf,
        size: u64,
        mtime: Option<i64>,
        /// `mtime` is exact to the second (MLSD), so the download keeps it without MDTM.
        mtime_exact: bool,
    },
    Put {
        local: PathBuf,
        remote: String,
        size: u64,
    },
}

impl Job {
    fn name(&self) -> &str {
        match self {
            Job::Get { remote, .. } => remote,
            Job::Put { remote, .. } => remote,
        }
    }

    async fn run(&self, c: &mut Client, progress: &dyn Progress) -> Result<TransferReport> {
        let mut opts = TransferOptions {
            preserve_mtime: true,
            ..Default::default()
        };
        if let Job::Get {
            mtime,
            mtime_exact: true,
            ..
        } = self
        {
            opts.mtime = *mtime;
        }
        let (size, name) = match self {
            Job::Get { size, .. } | Job::Put { size, .. } => (*size, self.name()),
        };
        let counter = progress.begin(name, Some(size), 0);
        let r = match self {
            Job::Get {
                remote,
                local,
                mtime,
                ..
            } => {
                let r = c.get(remote, local, &opts, &counter).await;
                if let (Ok(_), Some(t), false) = (&r, mtime, c.features().mdtm) {
                    if let Ok(f) =
                        localname::nofollow(std::fs::File::options().write(true)).open(local)
                    {
                        let _ =
                            f.set_modified(UNIX_EPOCH + Duration::from_secs((*t).max(0) as u64));
                    }
                }
                r
            }
            Job::Put { local, remote, .. } => c.put(local, remote, &opts, &counter).await,
        };
        progress.end(name, r.as_ref().err().map(|e| e.to_string()).as_deref());
        r
    }
}

/// What one session's share of the jobs came to.
#[derive(Default)]
struct Tally {
    transferred: usize,
    bytes: u64,
    failed: usize,
    first_err: Option<Error>,
}

impl Tally {
    fn add(&mut self, r: Result<TransferReport>) {
        match r {
            Ok(r) => {
                self.transferred += 1;
                self.bytes += r.bytes;
            }
            Err(e) => {
                self.failed += 1;
                self.first_err.get_or_insert(e);
            }
        }
    }

    fn into_report(self, report: &mut MirrorReport, first_err: &mut Option<Error>) {
        report.transferred += self.transferred;
        report.bytes += self.bytes;
        report.failed += self.failed;
        if let Some(e) = self.first_err {
            first_err.get_or_insert(e);
        }
    }
}

type Queue = Arc<Mutex<VecDeque<Job>>>;

/// The next job, if any. The lock is held only to pop; a poisoned queue still holds valid
/// jobs.
fn pop(queue: &Queue) -> Option<Job> {
    queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
}

/// Runs jobs from `queue` on one session until it is empty: pipelined in MODE E where it
/// applies ([`crate::pipeline`]), else one after the other. Stops early only when the
/// session's control connection broke, leaving the rest to other sessions.
async fn drain(c: &mut Client, queue: &Queue, progress: &dyn Progress, tally: &mut Tally) {
    if c.pipelines() {
        if let Err(e) = pipelined(c, queue, progress, tally).await {
            tally.first_err.get_or_insert(e);
            return;
        }
    }
    while let Some(job) = pop(queue) {
        let r = job.run(c, progress).await;
        let gone = r.as_ref().is_err_and(Error::session_gone);
        tally.add(r);
        if gone {
            // A worker that went on would fail every job it took at once, drawing the
            // rest of the queue from the sessions that work.
            return;
        }
    }
}

/// The jobs of one direction with pipelined commands (a mirror's jobs all go one way).
async fn pipelined(
    c: &mut Client,
    queue: &Queue,
    progress: &dyn Progress,
    tally: &mut Tally,
) -> Result<()> {
    use crate::pipeline::{GetFile, PutFile, Run};
    let down = match queue.lock().unwrap_or_else(|p| p.into_inner()).front() {
        Some(Job::Get { .. }) => true,
        Some(Job::Put { .. }) => false,
        None => return Ok(()),
    };
    let mut done = |_, r| tally.add(r);
    if down {
        // Without MDTM the listing's time, however coarse, is the best there is.
        let coarse_ok = !c.features().mdtm;
        let mut next = || match pop(queue)? {
            Job::Get {
                remote,
                local,
                size,
                mtime,
                mtime_exact,
            } => Some(GetFile {
                remote,
                local,
                size: Some(size),
                mtime: mtime.filter(|_| mtime_exact || coarse_ok),
            }),
            Job::Put { .. } => None,
        };
        let run = Run {
            next: &mut next,
            done: &mut |f: GetFile, r| done(f.remote, r),
            progress,
        };
        c.get_pipelined(run).await
    } else {
        let mut next = || match pop(queue)? {
            Job::Put { local, remote, .. } => Some(PutFile {
                local,
                remote,
                preserve_mtime: true,
            }),
            Job::Get { .. } => None,
        };
        let run = Run {
            next: &mut next,
            done: &mut |f: PutFile, r| done(f.remote, r),
            progress,
        };
        c.put_pipelined(run).await
    }
}

/// Sessions a mirror left to kftp (`parallel` 0) uses, near the server and far from it
/// alike (BENCHMARKS.md, HPC run 7): at 50 ms four pipelined sessions moved 2.4x what one
/// did (one session's window of 8 files covers one round trip), and on loopback four
/// moved 1.3-1.6x what one did in the bench (to tmpfs) and as much within the noise to
/// ext4. The earlier finding that one session was faster near the server (run 6) was
/// ext4's inode allocator, slow right after the previous run's 2,000 files were deleted.
pub const AUTO_PARALLEL: usize = 4;

/// The sessions for `parallel` (0: [`AUTO_PARALLEL`]).
pub fn sessions_for(parallel: usize) -> usize {
    match parallel {
        0 => AUTO_PARALLEL,
        n => n,
    }
}

/// Runs transfer jobs over `parallel` sessions (0: [`sessions_for`]); failures are
/// counted and the first one returned after everything else has been tried.
async fn run_jobs(
    c: &mut Client,
    jobs: Vec<Job>,
    parallel: usize,
    progress: Arc<dyn Progress>,
    report: &mut MirrorReport,
) -> Option<Error> {
    let mut first_err = None;
    let workers = sessions_for(parallel).min(jobs.len());
    let queue: Queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    // Where `c` is, to log in there again should the server close it while it waits,
    // or should it break.
    let cwd = match workers {
        0 => None,
        _ => c.pwd().await.ok(),
    };
    if workers <= 1 {
        let mut tally = Tally::default();
        drain(c, &queue, progress.as_ref(), &mut tally).await;
        tally.into_report(report, &mut first_err);
    } else {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let mut session = match c.fork().await {
                Ok(s) => s,
                Err(e) => {
                    first_err.get_or_insert(e);
                    break;
                }
            };
            let queue = queue.clone();
            let progress = progress.clone();
            set.spawn(async move {
                let mut tally = Tally::default();
                drain(&mut session, &queue, progress.as_ref(), &mut tally).await;
                session.quit().await;
                tally
            });
        }
        while let Some(r) = set.join_next().await {
            match r {
                Ok(tally) => tally.into_report(report, &mut first_err),
                Err(e) => {
                    first_err
                        .get_or_insert(Error::new(ErrorKind::Local, format!("transfer task: {e}")));
                }
            }
        }
    }
    let left = || !queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
    // `c` waited while the workers ran, or broke with jobs left: checked, and logged in
    // again where it is gone. After a login that failed, no other is tried.
    let mut cwd = cwd.filter(|_| workers > 1 || left());
    if let Some(dir) = &cwd {
        if let Err(e) = c.revive(dir).await {
            first_err.get_or_insert(e);
            cwd = None;
        }
    }
    // Jobs left behind (no session could be opened, or one broke) run here, one by one.
    let mut tally = Tally::default();
    while let Some(job) = pop(&queue) {
        let r = job.run(c, progress.as_ref()).await;
        let gone = r.as_ref().is_err_and(Error::session_gone);
        tally.add(r);
        if let (true, Some(dir)) = (gone && left(), &cwd) {
            if let Err(e) = c.revive(dir).await {
                first_err.get_or_insert(e);
                cwd = None;
            }
        }
    }
    tally.into_report(report, &mut first_err);
    first_err
}

/// Counts a refused entry, keeping the first error of the run.
fn refuse(report: &mut MirrorReport, first_err: &mut Option<Error>, e: Error) {
    report.refused += 1;
    first_err.get_or_insert(e);
}

/// The result of a run: the report, or the first error with the counts in front of it.
fn finish(report: MirrorReport, err: Option<Error>) -> Result<MirrorReport> {
    match err {
        None => Ok(report),
        Some(e) => Err(e.context(format!(
            "mirror: {} transferred, {} refused, {} failed; the first",
            report.transferred, report.refused, report.failed
        ))),
    }
}

/// Whether `path` is a directory on the server: MLST's `type` where the server has MLST,
/// else CWD into it and back. (MLST first: CWD back fails where the login directory
/// itself cannot be entered, as GridFTP's anonymous `nobody` at `/nonexistent`.)
async fn remote_dir_exists(c: &mut Client, path: &str) -> Result<bool> {
    if path.is_empty() || path == "/" {
        return Ok(true);
    }
    if c.features().mlst {
        let r = c
            .ctl
            .cmd(&kftp_proto::Command::Mlst(Some(path.into())))
            .await?;
        if r.code == 550 {
            return Ok(false);
        }
        let kind = r.lines.iter().find_map(|l| {
            l.split(';').find_map(|f| {
                let (k, v) = f.trim().split_once('=')?;
                k.eq_ignore_ascii_case("type")
                    .then(|| v.to_ascii_lowercase())
            })
        });
        if let (true, Some(kind)) = (r.is_success(), kind) {
            return Ok(matches!(kind.as_str(), "dir" | "cdir"));
        }
    }
    let home = c.pwd().await?;
    match c.cwd(path).await {
        Ok(()) => {
            c.cwd(&home).await?;
            Ok(true)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Tells the user about one deletion of `--delete` (or what `--dry-run` would delete).
fn announce_delete(progress: &dyn Progress, dry_run: bool, what: &dyn std::fmt::Display) {
    let verb = if dry_run { "would delete" } else { "deleting" };
    progress.message(&format!("{verb} {what}"));
}

/// Creates `path` and any missing parents (like `mkdir -p`).
async fn mkdir_all(c: &mut Client, path: &str) -> Result<()> {
    let mut prefix = if path.starts_with('/') {
        "/".to_string()
    } else {
        String::new()
    };
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !(prefix.is_empty() || prefix.ends_with('/')) {
            prefix.push('/');
        }
        prefix.push_str(part);
        if !remote_dir_exists(c, &prefix).await? {
            c.mkdir(&prefix).await?;
        }
    }
    Ok(())
}

/// The remote source tree of a download or a server-to-server mirror, its refused names
/// counted. Some servers (vsftpd) list a missing directory as empty, so it must exist
/// (`where_` says which server in the error), or a typo plus --delete would empty the copy.
async fn remote_source(
    c: &mut Client,
    root: &str,
    where_: &str,
    progress: &dyn Progress,
    report: &mut MirrorReport,
    first_err: &mut Option<Error>,
) -> Result<Tree> {
    if !remote_dir_exists(c, root).await? {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("mirror: no remote directory '{root}'{where_}"),
        ));
    }
    walk_counted(c, root, progress, report, first_err).await
}

/// [`walk_remote`], the names it refused counted in the report.
async fn walk_counted(
    c: &mut Client,
    root: &str,
    progress: &dyn Progress,
    report: &mut MirrorReport,
    first_err: &mut Option<Error>,
) -> Result<Tree> {
    let mut t = walk_remote(c, root, progress).await?;
    for e in t.refused.drain(..) {
        refuse(report, first_err, e);
    }
    Ok(t)
}

/// The remote destination tree of an upload or a server-to-server mirror: walked where
/// the directory exists (its refused names counted), else created (`mkdir -p`; counted,
/// not made on a dry run) and empty.
async fn remote_target(
    c: &mut Client,
    root: &str,
    opts: &MirrorOptions,
    progress: &dyn Progress,
    report: &mut MirrorReport,
    first_err: &mut Option<Error>,
) -> Result<Tree> {
    if remote_dir_exists(c, root).await? {
        return walk_counted(c, root, progress, report, first_err).await;
    }
    if !opts.dry_run {
        mkdir_all(c, root).await?;
    }
    report.dirs_created += 1;
    Ok(Tree::default())
}

/// Creates on the server, below `root`, the directories of `src` that `dst` lacks.
async fn make_dirs(
    c: &mut Client,
    root: &str,
    src: &Tree,
    dst: &Tree,
    opts: &MirrorOptions,
    progress: &dyn Progress,
    report: &mut MirrorReport,
) -> Result<()> {
    for d in src.dirs.iter().filter(|d| !dst.dirs.contains(d)) {
        let p = join_remote(root, d);
        report.dirs_created += 1;
        if opts.dry_run {
            progress.message(&format!("would create {p}"));
        } else {
            c.mkdir(&p).await?;
        }
    }
    Ok(())
}

/// `--delete` on a server: the files, then the directories (children first), of `dst`
/// below `root` that `src` does not have.
async fn delete_extras(
    c: &mut Client,
    root: &str,
    src: &Tree,
    dst: &Tree,
    opts: &MirrorOptions,
    progress: &dyn Progress,
    report: &mut MirrorReport,
) -> Result<()> {
    for rel in dst.files.keys().filter(|k| !src.files.contains_key(*k)) {
        let p = join_remote(root, rel);
        announce_delete(progress, opts.dry_run, &p);
        if !opts.dry_run {
            c.delete(&p).await?;
        }
        report.deleted += 1;
    }
    for rel in dst.dirs.iter().rev().filter(|d| !src.dirs.contains(d)) {
        let p = join_remote(root, rel);
        announce_delete(progress, opts.dry_run, &p);
        if !opts.dry_run {
            c.rmdir(&p).await?;
        }
        report.deleted += 1;
    }
    Ok(())
}

/// Remote directory `remote` -> local directory `local`.
pub async fn mirror_down(
    c: &mut Client,
    remote: &str,
    local: &Path,
    opts: &MirrorOptions,
    progress: Arc<dyn Progress>,
) -> Result<MirrorReport> {
    let mut report = MirrorReport::default();
    let mut first_err = None;
    let src = remote_source(
        c,
        remote,
        "",
        progress.as_ref(),
        &mut report,
        &mut first_err,
    )
    .await?;
    if !opts.dry_run {
        std::fs::create_dir_all(local)
            .map_err(|e| Error::local(format!("creating {}", local.display()), e))?;
    }
    let dst = walk_local(local, progress.as_ref()).unwrap_or_default();
    let mdtm = c.features().mdtm;
    for d in &src.dirs {
        let p = match localname::beneath(local, d) {
            Ok(p) => p,
            Err(e) => {
                progress.message(&format!("{e}; skipped"));
                refuse(&mut report, &mut first_err, e);
                continue;
            }
        };
        if opts.dry_run {
            if std::fs::symlink_metadata(&p).is_err() {
                report.dirs_created += 1;
                progress.message(&format!("would create {}", p.display()));
            }
        } else {
            report.dirs_created += localname::create_dirs_beneath(local, d)?;
        }
    }
    let mut jobs = Vec::new();
    for (rel, info) in &src.files {
        let local_path = match localname::beneath(local, rel) {
            Ok(p) => p,
            Err(e) => {
                progress.message(&format!("{e}; skipped"));
                refuse(&mut report, &mut first_err, e);
                continue;
            }
        };
        let remote_path = join_remote(remote, rel);
        let mut wanted = dst.files.get(rel).is_none_or(|d| differs(info, d));
        // A coarse LIST date can make an unchanged file look newer; ask MDTM to be sure.
        if wanted && info.precision != Precision::Seconds && mdtm {
            if let (Some(d), Ok(Some(exact))) = (dst.files.get(rel), c.mdtm(&remote_path).await) {
                let exact = FileInfo {
                    mtime: Some(exact),
                    precision: Precision::Seconds,
                    ..info.clone()
                };
                wanted = differs(&exact, d);
            }
        }
        if !wanted {
            report.up_to_date += 1;
            continue;
        }
        if opts.dry_run {
            progress.message(&format!("would get {remote_path}"));
            report.transferred += 1;
            continue;
        }
        jobs.push(Job::Get {
            remote: remote_path,
            local: local_path,
            size: info.size,
            mtime: info.mtime,
            mtime_exact: info.precision == Precision::Seconds,
        });
    }
    let err = run_jobs(c, jobs, opts.parallel, progress.clone(), &mut report).await;
    let err = first_err.or(err);
    // Nothing is deleted after a failure or a refusal: the source is not known well
    // enough to say what it lacks.
    if opts.delete && err.is_none() {
        for rel in dst.files.keys().filter(|k| !src.files.contains_key(*k)) {
            // A local name (from read_dir, which does not enter symbolic links).
            let p = local.join(rel);
            announce_delete(progress.as_ref(), opts.dry_run, &p.display());
            if !opts.dry_run {
                std::fs::remove_file(&p)
                    .map_err(|e| Error::local(format!("deleting {}", p.display()), e))?;
            }
            report.deleted += 1;
        }
        for rel in dst.dirs.iter().rev().filter(|d| !src.dirs.contains(d)) {
            // A local name (from read_dir, which does not enter symbolic links).
            let p = local.join(rel);
            announce_delete(progress.as_ref(), opts.dry_run, &p.display());
            if !opts.dry_run {
                std::fs::remove_dir(&p)
                    .map_err(|e| Error::local(format!("deleting {}", p.display()), e))?;
            }
            report.deleted += 1;
        }
    }
    finish(report, err)
}

/// Local directory `local` -> remote directory `remote` (created if missing).
pub async fn mirror_up(
    c: &mut Client,
    local: &Path,
    remote: &str,
    opts: &MirrorOptions,
    progress: Arc<dyn Progress>,
) -> Result<MirrorReport> {
    let src = walk_local(local, progress.as_ref())?;
    let mut report = MirrorReport::default();
    let mut first_err = None;
    let dst = remote_target(
        c,
        remote,
        opts,
        progress.as_ref(),
        &mut report,
        &mut first_err,
    )
    .await?;
    make_dirs(c, remote, &src, &dst, opts, progress.as_ref(), &mut report).await?;
    let mut jobs = Vec::new();
    for (rel, info) in &src.files {
        if dst.files.get(rel).is_some_and(|d| !differs(info, d)) {
            report.up_to_date += 1;
            continue;
        }
        let remote_path = join_remote(remote, rel);
        if opts.dry_run {
            progress.message(&format!("would put {remote_path}"));
            report.transferred += 1;
            continue;
        }
        jobs.push(Job::Put {
            local: local.join(rel),
            remote: remote_path,
            size: info.size,
        });
    }
    let err = run_jobs(c, jobs, opts.parallel, progress.clone(), &mut report).await;
    let err = first_err.or(err);
    if opts.delete && err.is_none() {
        delete_extras(c, remote, &src, &dst, opts, progress.as_ref(), &mut report).await?;
    }
    finish(report, err)
}

/// One session pair's share of a server-to-server mirror: copies from the shared queue
/// until it is empty ([`crate::copy_run`]: pipelined over kept MODE E streams where both
/// servers have MODE E), each followed by MFMT with the source's time where the
/// destination has it.
async fn copy_worker(
    src: &mut Client,
    dst: &mut Client,
    queue: &Mutex<VecDeque<CopyJob>>,
    progress: &dyn Progress,
) -> Tally {
    let mut tally = Tally::default();
    // The lock is held only to pop or push; a poisoned queue still holds valid copies.
    let shared = || queue.lock().unwrap_or_else(|p| p.into_inner());
    let mut next = || shared().pop_front();
    let mut back = |job| shared().push_front(job);
    let mut done = |job: CopyJob, r: Result<crate::copy::CopyReport>| match r {
        Ok(c) => {
            tally.transferred += 1;
            tally.bytes += c.bytes.or(job.opts.size).unwrap_or(0);
        }
        Err(e) => {
            tally.failed += 1;
            tally.first_err.get_or_insert(e);
        }
    };
    let mut jobs = crate::copy_run::Jobs {
        next: &mut next,
        back: &mut back,
        done: &mut done,
        progress,
    };
    crate::copy_run::run(src, dst, &mut jobs).await;
    tally
}

/// Remote directory `src_root` on `src`'s server -> remote directory `dst_root` on
/// `dst`'s (created if missing), each file copied server to server ([`crate::copy`]: the
/// data never passes through kftp), over `parallel` session pairs (the caller's and
/// forks of it); a copied file gets the source's modification time where the destination
/// takes MFMT.
pub async fn mirror_across(
    src: &mut Client,
    src_root: &str,
    dst: &mut Client,
    dst_root: &str,
    opts: &MirrorOptions,
    progress: Arc<dyn Progress>,
) -> Result<MirrorReport> {
    let mut report = MirrorReport::default();
    let mut first_err = None;
    let from = remote_source(
        src,
        src_root,
        " at the source",
        progress.as_ref(),
        &mut report,
        &mut first_err,
    )
    .await?;
    let to = remote_target(
        dst,
        dst_root,
        opts,
        progress.as_ref(),
        &mut report,
        &mut first_err,
    )
    .await?;
    make_dirs(
        dst,
        dst_root,
        &from,
        &to,
        opts,
        progress.as_ref(),
        &mut report,
    )
    .await?;
    let mut copies = VecDeque::new();
    for (rel, info) in &from.files {
        if to.files.get(rel).is_some_and(|d| !differs(info, d)) {
            report.up_to_date += 1;
            continue;
        }
        let (a, b) = (join_remote(src_root, rel), join_remote(dst_root, rel));
        if opts.dry_run {
            progress.message(&format!("would copy {a} to {b}"));
            report.transferred += 1;
            continue;
        }
        copies.push_back(CopyJob {
            src: a,
            dst: b,
            opts: crate::copy::CopyOptions {
                // A listing without sizes says 0: then SIZE is asked.
                size: (info.size > 0).then_some(info.size),
                blocks: true,
                mtime: info.mtime,
            },
        });
    }
    // More session pairs where there is more than one file: each copy costs its round
    // trips at both servers (STOR and RETR with their replies, SIZE, MFMT; EPSV and EPRT
    // where no streams are kept), which pairs overlap. They log in all at once, both
    // servers' side by side; a pair that cannot be opened just means fewer.
    let more = sessions_for(opts.parallel)
        .min(copies.len())
        .saturating_sub(1);
    let (a, b) = tokio::join!(src.forks(more), dst.forks(more));
    let mut pairs = Vec::new();
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => break,
            (Some(Ok(a)), Some(Ok(b))) => pairs.push((a, b)),
            // A session without its other half (that fork failed) is closed.
            (Some(Ok(one)), _) | (_, Some(Ok(one))) => one.quit().await,
            _ => {}
        }
    }
    // Where the first pair is, to log in there again should a server close it while it
    // waits for the other pairs, or should it break.
    let mut cwds = match (src.pwd().await, dst.pwd().await) {
        (Ok(a), Ok(b)) => Some((a, b)),
        _ => None,
    };
    let queue = Mutex::new(copies);
    let mut workers = vec![copy_worker(src, dst, &queue, progress.as_ref())];
    for (a, b) in &mut pairs {
        workers.push(copy_worker(a, b, &queue, progress.as_ref()));
    }
    for t in futures::future::join_all(workers).await {
        t.into_report(&mut report, &mut first_err);
    }
    // A pair whose session broke stopped taking copies (crate::copy_run): what the others
    // left goes over the first pair, checked first (it may have waited, or broken) and
    // logged in again where a server closed it; after a login that failed, no other is
    // tried. Each round takes at least one copy, failing it if that pair is broken, so
    // every copy is made or counted.
    let left = || !queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
    let mut check = !pairs.is_empty() || left();
    loop {
        if let Some((a, b)) = cwds.take_if(|_| check) {
            match (src.revive(&a).await, dst.revive(&b).await) {
                (Ok(()), Ok(())) => cwds = Some((a, b)),
                (Err(e), _) | (_, Err(e)) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if !left() {
            break;
        }
        copy_worker(src, dst, &queue, progress.as_ref())
            .await
            .into_report(&mut report, &mut first_err);
        check = true;
    }
    for (a, b) in pairs {
        a.quit().await;
        b.quit().await;
    }
    if opts.delete && first_err.is_none() {
        delete_extras(
            dst,
            dst_root,
            &from,
            &to,
            opts,
            progress.as_ref(),
            &mut report,
        )
        .await?;
    }
    finish(report, first_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fi(size: u64, mtime: i64, precision: Precision) -> FileInfo {
        FileInfo {
            size,
            mtime: Some(mtime),
            precision,
        }
    }

    #[test]
    fn comparison() {
        let s = Precision::Seconds;
        let m = Precision::Minutes;
        assert!(differs(&fi(1, 0, s), &fi(2, 0, s)));
        assert!(differs(&fi(1, 100, s), &fi(1, 50, s)));
        assert!(
            !differs(&fi(1, 50, s), &fi(1, 100, s)),
            "older source is not copied"
        );
        // A LIST date has no seconds: 12:00:59 locally equals "12:00" remotely.
        assert!(!differs(&fi(1, 43_200, m), &fi(1, 43_259, s)));
        assert!(differs(&fi(1, 43_260, m), &fi(1, 43_259, s)));
    }

    #[test]
    fn remote_joins() {
        assert_eq!(join_remote("", "a/b"), "a/b");
        assert_eq!(join_remote("dir/", "a"), "dir/a");
        assert_eq!(join_remote("/", "a"), "/a");
        assert_eq!(join_remote("/x", ""), "/x");
    }
}
