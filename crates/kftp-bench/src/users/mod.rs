//! The users' view (`--client curl,lftp`): kftpd and the peers driven by the programs
//! users run, curl and lftp, and the `kftp` CLI against curl and `lftp pget` on the same
//! servers.
//!
//! Every server is started once, each in its own cgroup (`crate::cgroup`), and stays up
//! for the whole table, so that the repetitions interleave across servers (A B C D A B C
//! D ...) and a burst of load from elsewhere falls on all of them alike. Each row's figure
//! is the median of `--reps` runs; each run is one client process (or 16 at once) timed
//! from spawn to exit, with the server's CPU read around it and the client's from its own
//! cgroup. What arrived is checked every time (sizes, file counts) and compared byte for
//! byte once per row and server. [`table`] turns the rows into the markdown table.

mod commands;
pub mod table;

use crate::external::{check_received, measure, measure_all, same_bytes, Run};
use crate::servers::{self, Server};
use crate::{failed_row, files, Row};
use indicatif::ProgressBar;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// What a row counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Bytes: MiB/s, server CPU s/GiB.
    Bytes,
    /// Files: files/s, server CPU ms/file.
    Files,
    /// Logins: logins/s, server CPU ms/login.
    Logins,
}

impl Kind {
    /// The unit of a row's value.
    pub fn unit(self) -> &'static str {
        match self {
            Kind::Bytes => "MiB/s",
            Kind::Files => "files/s",
            Kind::Logins => "logins/s",
        }
    }
}

/// External-client modes selected by `--client`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clients {
    /// curl rows (single transfers, FTPS, simultaneous, logins) and kftp against curl.
    pub curl: bool,
    /// lftp rows (mirror) and `kftp get --segments` against `lftp pget`.
    pub lftp: bool,
}

impl Clients {
    /// Whether any external client is selected.
    pub fn any(self) -> bool {
        self.curl || self.lftp
    }
}

/// What the users' rows need from the run.
pub struct Ctx<'a> {
    /// Which clients.
    pub clients: Clients,
    /// Runs per row and server.
    pub reps: usize,
    /// Whether a test of `--only` is selected.
    pub has: &'a dyn Fn(&str) -> bool,
    /// The kftpds to start: each build with each data path (none with `--no-kftpd`).
    pub kftpds: Vec<crate::builds::Instance<'a>>,
    /// Peers to start.
    pub peers: &'a [String],
    /// The `kftp` CLI.
    pub kftp: PathBuf,
    /// The bench root and work dir.
    pub root: &'a Path,
    /// Scratch space: configs, logs, downloads.
    pub work: &'a Path,
    /// Where the peers are unpacked.
    pub peers_dir: &'a Path,
    /// TLS modes of the single-stream rows.
    pub tls_modes: &'a [bool],
    /// Size of big.bin.
    pub size: u64,
    /// Simultaneous curls.
    pub conc: usize,
    /// Size of each concurrency file.
    pub conc_size: u64,
    /// Small files, and lftp mirror's `--parallel` levels.
    pub small_files: usize,
    /// `--parallel` levels of the mirror rows.
    pub mirror_parallel: &'a [usize],
    /// Sequential logins per run.
    pub logins: usize,
    /// Untimed curl RETR + STOR pairs per server before the rows.
    pub warmup: usize,
    /// Give up on one run after this long.
    pub limit: Duration,
    /// Progress.
    pub bar: &'a ProgressBar,
}

/// One server under test, with what the table says about it.
struct Under {
    server: Server,
    /// `kftpd (auto)`, `vsftpd`.
    label: String,
}

/// One measured run, reduced to what a row keeps.
#[derive(Clone, Debug)]
struct Rep {
    /// Bytes, files or logins in the run.
    amount: f64,
    /// Files moved or logins made in the run.
    items: u64,
    secs: f64,
    server_cpu: Option<f64>,
    client_cpu: f64,
}

/// Runs every selected users' row; returns notes for the report (CPU sources, load).
pub fn run(ctx: &Ctx<'_>, rows: &mut Vec<Row>) -> Vec<String> {
    let mut notes = vec![format!("load before: {}", uptime())];
    let cert = if ctx.tls_modes.contains(&true) {
        servers::make_cert(ctx.work)
            .map_err(|e| notes.push(format!("no TLS for peers: {e}")))
            .ok()
    } else {
        None
    };
    let mut unders = Vec::new();
    ctx.bar.set_message("starting the servers");
    for k in &ctx.kftpds {
        match servers::start_kftpd(k, ctx.root, ctx.work) {
            Ok(s) => unders.push(Under {
                label: s.label(),
                server: s,
            }),
            Err(e) => notes.push(format!("kftpd ({}): {e}", k.label)),
        }
    }
    for p in ctx.peers.iter().filter(|p| p.as_str() != "none") {
        match servers::start_peer(p, ctx.peers_dir, ctx.root, ctx.work, cert.as_ref()) {
            Ok(s) => unders.push(Under {
                label: s.label(),
                server: s,
            }),
            Err(e) => notes.push(format!("{p}: {e}")),
        }
    }
    for u in &unders {
        let src = u.server.cpu().map(|c| c.name()).unwrap_or("none");
        let why = u
            .server
            .cgroup_note
            .as_ref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        notes.push(format!(
            "{}: CPU from {src}{why}; login {}",
            u.label, u.server.login_kind
        ));
    }
    let c = ctx.clients;
    let m = Measurer {
        ctx,
        notes: RefCell::new(Vec::new()),
    };
    if ctx.warmup > 0 && ((ctx.has)("download") || (ctx.has)("upload")) {
        notes.push(m.warm_up(&unders));
    }
    if c.curl {
        for &tls in ctx.tls_modes {
            if (ctx.has)("download") {
                m.each_server(rows, &unders, "retr", "curl", tls, Kind::Bytes, |u, i| {
                    m.curl_get(u, tls, files::BIG, None, ctx.size, i)
                });
            }
            if (ctx.has)("upload") {
                m.each_server(
                    rows,
                    &unders,
                    "stor",
                    "curl -T",
                    tls,
                    Kind::Bytes,
                    |u, i| m.curl_put(u, tls, i),
                );
            }
        }
        if (ctx.has)("concurrency") && ctx.conc > 0 {
            let label = format!("{} x curl", ctx.conc);
            m.each_server(rows, &unders, "conc", &label, false, Kind::Bytes, |u, _| {
                m.curl_many(u)
            });
        }
    }
    if c.lftp && (ctx.has)("small") && ctx.small_files > 0 {
        for &p in ctx.mirror_parallel {
            let test = format!("mirror-{p}");
            let label = format!("lftp mirror --parallel={p}");
            m.each_server(rows, &unders, &test, &label, false, Kind::Files, |u, i| {
                m.mirror(u, p, i)
            });
        }
        for &p in ctx.mirror_parallel {
            let test = format!("mirror-put-{p}");
            let label = format!("lftp mirror -R --parallel={p}");
            m.each_server(rows, &unders, &test, &label, false, Kind::Files, |u, i| {
                m.mirror_up(u, p, i)
            });
        }
    }
    if c.curl && (ctx.has)("logins") && ctx.logins > 0 {
        m.each_server(
            rows,
            &unders,
            "logins",
            "curl",
            false,
            Kind::Logins,
            |u, _| m.logins(u),
        );
    }
    if (ctx.has)("clients") {
        m.clients(rows, &unders);
    }
    notes.append(&mut m.notes.borrow_mut());
    notes.push(format!("load after: {}", uptime()));
    notes
}

/// One rep's data paths in a few words, from kftpd's counters before and after it:
/// `copy`, or `sendfile x2 + copy x1`; `?` when they say nothing.
fn tally(before: &[(String, u64)], after: &[(String, u64)]) -> String {
    let made: Vec<(&str, u64)> = after
        .iter()
        .map(|(p, n)| {
            let was = before.iter().find(|(q, _)| q == p).map_or(0, |(_, m)| *m);
            (p.as_str(), n.saturating_sub(was))
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    match made.as_slice() {
        [] => "?".into(),
        [(p, _)] => (*p).into(),
        many => many
            .iter()
            .map(|(p, n)| format!("{p} x{n}"))
            .collect::<Vec<_>>()
            .join(" + "),
    }
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            format!("load average {}", f.join(", "))
        })
        .unwrap_or_else(|_| "unknown".into())
}

struct Measurer<'a> {
    ctx: &'a Ctx<'a>,
    /// Notes the rows add for the report (kftpd's data paths).
    notes: RefCell<Vec<String>>,
}

impl Measurer<'_> {
    /// One row per server: `reps` runs interleaved across the servers, then medians.
    #[allow(clippy::too_many_arguments)]
    fn each_server(
        &self,
        rows: &mut Vec<Row>,
        unders: &[Under],
        test: &str,
        client: &str,
        tls: bool,
        kind: Kind,
        f: impl Fn(&Under, usize) -> Result<Rep, String>,
    ) {
        let mut got: Vec<Vec<Result<Rep, String>>> = unders.iter().map(|_| Vec::new()).collect();
        // kftpd's data path in each rep: `auto` may settle differently between server
        // starts or re-probe between reps, which a row's range alone does not tell.
        let mut paths: Vec<Vec<String>> = unders.iter().map(|_| Vec::new()).collect();
        for i in 0..self.ctx.reps.max(1) {
            for ((u, out), seen) in unders.iter().zip(&mut got).zip(&mut paths) {
                // A server that failed once is not asked again in this row.
                if out.iter().any(|r| r.is_err()) {
                    continue;
                }
                self.ctx.bar.set_message(format!(
                    "{test}{} {} rep {}: {client}",
                    if tls { " tls" } else { "" },
                    u.label,
                    i + 1
                ));
                let metrics = u.server.metrics.as_deref().filter(|_| kind == Kind::Bytes);
                let before = metrics.map(servers::data_path_counts);
                out.push(f(u, i));
                if let (Some(m), Some(before)) = (metrics, before) {
                    seen.push(tally(&before, &servers::data_path_counts(m)));
                }
            }
        }
        for ((u, reps), seen) in unders.iter().zip(got).zip(paths) {
            if !seen.is_empty() {
                self.notes.borrow_mut().push(format!(
                    "{} {test}{}: data path by rep: {}",
                    u.label,
                    if tls { " tls" } else { "" },
                    seen.join(", ")
                ));
            }
            rows.push(median_row(&u.server, test, client, tls, kind, reps));
        }
    }

    /// Untimed transfers both ways on every server, so that the rows measure servers in
    /// their steady state (kftpd's `--data-path auto` has probed both paths by then).
    fn warm_up(&self, unders: &[Under]) -> String {
        let ctx = self.ctx;
        let conc = files::conc(0);
        let file = if ctx.root.join(&conc).is_file() {
            conc.as_str()
        } else {
            files::BIG
        };
        let local = ctx.root.join(file);
        for u in unders {
            ctx.bar.set_message(format!("warming up {}", u.label));
            let name = files::upload(&format!("warm-{}", key(&u.label)), 0);
            for _ in 0..ctx.warmup {
                let sink = Path::new("/dev/null");
                let _ = self.run(commands::curl_get(&u.server, false, file, sink), u);
                let _ = self.run(commands::curl_put(&u.server, false, &local, &name), u);
                let _ = std::fs::remove_file(ctx.root.join(&name));
            }
        }
        format!(
            "warm-up, untimed: {} x (curl RETR, curl -T) of {file} on each server",
            ctx.warmup
        )
    }

    fn log(&self) -> PathBuf {
        self.ctx.work.join("users-client.log")
    }

    /// A fresh, empty directory for what a client writes.
    fn dst(&self) -> Result<PathBuf, String> {
        let d = self.ctx.work.join("users-dst");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        Ok(d)
    }

    fn run(&self, cmd: Command, u: &Under) -> Run {
        measure(cmd, u.server.cpu().as_ref(), &self.log(), self.ctx.limit)
    }

    /// curl downloads `path` to /dev/null (or `out`); the bytes it reports must be `size`.
    fn curl_get(
        &self,
        u: &Under,
        tls: bool,
        path: &str,
        out: Option<&Path>,
        size: u64,
        _rep: usize,
    ) -> Result<Rep, String> {
        let sink = out.unwrap_or(Path::new("/dev/null"));
        let r = self.run(commands::curl_get(&u.server, tls, path, sink), u);
        let log = self.log();
        finish(r, size as f64, 1, || match commands::curl_bytes(&log) {
            Some((down, _)) if down == size => Ok(()),
            other => Err(format!("curl reported {other:?} bytes, not {size}")),
        })
    }

    /// curl uploads big.bin to `up/`; the file must arrive whole (byte for byte on rep 0).
    fn curl_put(&self, u: &Under, tls: bool, rep: usize) -> Result<Rep, String> {
        let name = files::upload(&format!("users-{}", key(&u.label)), 0);
        let dest = self.ctx.root.join(&name);
        let _ = std::fs::remove_file(&dest);
        let big = self.ctx.root.join(files::BIG);
        let r = self.run(commands::curl_put(&u.server, tls, &big, &name), u);
        let out = finish(r, self.ctx.size as f64, 1, || {
            check_file(&big, &dest, self.ctx.size, rep == 0)
        });
        let _ = std::fs::remove_file(&dest);
        out
    }

    /// `conc` curls at once, each downloading its own concurrency file to /dev/null.
    fn curl_many(&self, u: &Under) -> Result<Rep, String> {
        let n = self.ctx.conc;
        let sink = Path::new("/dev/null");
        let cmds = (0..n)
            .map(|i| commands::curl_get(&u.server, false, &files::conc(i), sink))
            .collect();
        let log = self.log();
        let r = measure_all(cmds, u.server.cpu().as_ref(), &log, self.ctx.limit);
        let size = self.ctx.conc_size;
        finish(r, (size * n as u64) as f64, n as u64, || {
            for i in 0..n {
                let l = crate::external::log_of(&log, i);
                match commands::curl_bytes(&l) {
                    Some((down, _)) if down == size => {}
                    other => return Err(format!("curl {i} reported {other:?} bytes, not {size}")),
                }
            }
            Ok(())
        })
    }

    /// `lftp mirror --parallel=p` of the small files into a fresh directory.
    fn mirror(&self, u: &Under, p: usize, rep: usize) -> Result<Rep, String> {
        let dst = self.dst()?;
        let script = format!("mirror --parallel={p} small {}", dst.display());
        self.mirror_run(u, &script, &dst, rep, false)
    }

    /// `lftp mirror -R --parallel=p` of the small files into a fresh directory under `up/`
    /// (every server serves the same root, so the result is checked here directly).
    fn mirror_up(&self, u: &Under, p: usize, rep: usize) -> Result<Rep, String> {
        let remote = files::upload(&format!("mirror-{}", key(&u.label)), rep);
        let dst = self.ctx.root.join(&remote);
        let _ = std::fs::remove_dir_all(&dst);
        let src = self.ctx.root.join("small");
        let script = format!("mirror -R --parallel={p} {} {remote}", src.display());
        self.mirror_run(u, &script, &dst, rep, true)
    }

    /// Runs an lftp mirror `script` that puts the small files into `dst`: every file must
    /// arrive (the first byte for byte on rep 0, and for an `upload`, a note when the
    /// server did not keep its time); `dst` is removed afterwards.
    fn mirror_run(
        &self,
        u: &Under,
        script: &str,
        dst: &Path,
        rep: usize,
        upload: bool,
    ) -> Result<Rep, String> {
        let r = self.run(commands::lftp(&u.server, script), u);
        let n = self.ctx.small_files;
        let out = finish(r, n as f64, n as u64, || {
            check_received(dst, 0, n)?;
            if rep == 0 {
                let first = files::small(0);
                let name = first.trim_start_matches("small/");
                let (src, copy) = (self.ctx.root.join(&first), dst.join(name));
                same_bytes(&src, &copy)?;
                if upload && !same_second(&src, &copy) {
                    // lftp sets each copy's time (MFMT, else SITE UTIME); where the server
                    // refuses (vsftpd has neither), each file cost it less work than on
                    // the others, and the user lost the times.
                    self.notes.borrow_mut().push(format!(
                        "{}: `{script}`: the copies did not get their sources' times (the \
                         server refused to set them)",
                        u.label
                    ));
                }
            }
            Ok(())
        });
        let _ = std::fs::remove_dir_all(dst);
        out
    }

    /// `logins` curl processes one after another, each logging in and quitting.
    fn logins(&self, u: &Under) -> Result<Rep, String> {
        let n = self.ctx.logins;
        let r = self.run(commands::curl_logins(&u.server, n), u);
        finish(r, n as f64, n as u64, || Ok(()))
    }

    /// The client rows: on kftpd (the first path) and vsftpd, plain, each rep runs kftp
    /// then the other client on one server, then on the next.
    fn clients(&self, rows: &mut Vec<Row>, unders: &[Under]) {
        let ctx = self.ctx;
        let on: Vec<&Under> = unders
            .iter()
            .filter(|u| !u.server.peer)
            .take(1)
            .chain(unders.iter().filter(|u| u.server.name == "vsftpd"))
            .collect();
        if !ctx.kftp.is_file() {
            for u in &on {
                let mut r = failed_row(
                    &u.server.name,
                    &u.server.path,
                    u.server.peer,
                    false,
                    "users-get",
                    1,
                    "MiB/s",
                    &format!("no kftp CLI at {}", ctx.kftp.display()),
                );
                r.client = "kftp get".into();
                rows.push(r);
            }
            return;
        }
        type Variant<'v> = (
            &'static str,
            &'static str,
            &'v dyn Fn(&Under, usize) -> Result<Rep, String>,
        );
        let get_kftp = |u: &Under, i| self.kftp_get(u, &[], i);
        let get_curl = |u: &Under, i| self.curl_get_file(u, i);
        let put_kftp = |u: &Under, i| self.kftp_put(u, i);
        let put_curl = |u: &Under, i| self.curl_put(u, false, i);
        let seg_kftp = |u: &Under, i| self.kftp_get(u, &["--segments", "4"], i);
        let seg_lftp = |u: &Under, i| self.lftp_pget(u, i);
        let mut groups: Vec<(&str, [Variant<'_>; 2])> = Vec::new();
        if ctx.clients.curl {
            groups.push((
                "get",
                [("kftp get", "kftp", &get_kftp), ("curl", "curl", &get_curl)],
            ));
            groups.push((
                "put",
                [
                    ("kftp put", "kftp", &put_kftp),
                    ("curl -T", "curl", &put_curl),
                ],
            ));
        }
        if ctx.clients.lftp {
            groups.push((
                "pget",
                [
                    ("kftp get --segments 4", "kftp", &seg_kftp),
                    ("lftp pget -n 4", "lftp", &seg_lftp),
                ],
            ));
        }
        for (what, variants) in groups {
            let test = format!("users-{what}");
            let mut got: Vec<Vec<Vec<Result<Rep, String>>>> =
                on.iter().map(|_| vec![Vec::new(), Vec::new()]).collect();
            for i in 0..ctx.reps.max(1) {
                for (u, per) in on.iter().zip(&mut got) {
                    for ((label, _, f), out) in variants.iter().zip(per.iter_mut()) {
                        if out.iter().any(|r| r.is_err()) {
                            continue;
                        }
                        ctx.bar
                            .set_message(format!("{what} {} rep {}: {label}", u.label, i + 1));
                        out.push(f(u, i));
                    }
                }
            }
            for (u, per) in on.iter().zip(got) {
                for ((label, _, _), reps) in variants.iter().zip(per) {
                    let mut r = median_row(&u.server, &test, label, false, Kind::Bytes, reps);
                    r.test = test.clone();
                    rows.push(r);
                }
            }
        }
    }

    /// `kftp get [extra] URL dst/big.bin`.
    fn kftp_get(&self, u: &Under, extra: &[&str], rep: usize) -> Result<Rep, String> {
        let dst = self.dst()?;
        let out = dst.join(files::BIG);
        let mut args = vec!["get", "-q"];
        args.extend_from_slice(extra);
        let mut cmd = commands::kftp(&self.ctx.kftp, &u.server, &args, files::BIG);
        cmd.arg(&out);
        self.check_download(self.run(cmd, u), &out, rep)
    }

    /// `curl -o dst/big.bin URL`: the same destination as `kftp get`.
    fn curl_get_file(&self, u: &Under, rep: usize) -> Result<Rep, String> {
        let dst = self.dst()?;
        let out = dst.join(files::BIG);
        let cmd = commands::curl_get(&u.server, false, files::BIG, &out);
        self.check_download(self.run(cmd, u), &out, rep)
    }

    /// `lftp pget -n 4 big.bin -o dst/big.bin`.
    fn lftp_pget(&self, u: &Under, rep: usize) -> Result<Rep, String> {
        let dst = self.dst()?;
        let out = dst.join(files::BIG);
        let script = format!("pget -n 4 {} -o {}", files::BIG, out.display());
        self.check_download(self.run(commands::lftp(&u.server, &script), u), &out, rep)
    }

    fn check_download(&self, r: Run, out: &Path, rep: usize) -> Result<Rep, String> {
        let big = self.ctx.root.join(files::BIG);
        let res = finish(r, self.ctx.size as f64, 1, || {
            check_file(&big, out, self.ctx.size, rep == 0)
        });
        if let Some(d) = out.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
        res
    }

    /// `kftp put big.bin URL`, to the same name as curl's upload.
    fn kftp_put(&self, u: &Under, rep: usize) -> Result<Rep, String> {
        let name = files::upload(&format!("users-{}", key(&u.label)), 0);
        let dest = self.ctx.root.join(&name);
        let _ = std::fs::remove_file(&dest);
        let big = self.ctx.root.join(files::BIG);
        let local = big.to_string_lossy().into_owned();
        let cmd = commands::kftp(&self.ctx.kftp, &u.server, &["put", "-q", &local], &name);
        let r = self.run(cmd, u);
        let out = finish(r, self.ctx.size as f64, 1, || {
            check_file(&big, &dest, self.ctx.size, rep == 0)
        });
        let _ = std::fs::remove_file(&dest);
        out
    }
}

/// A file name part from a server label.
fn key(label: &str) -> String {
    label.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
}

/// Whether `a` and `b` were modified in the same second (what MFMT and MDTM carry).
fn same_second(a: &Path, b: &Path) -> bool {
    let secs = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    matches!((secs(a), secs(b)), (Some(x), Some(y)) if x == y)
}

/// `got` has `size` bytes; with `compare`, the same bytes as `want`.
fn check_file(want: &Path, got: &Path, size: u64, compare: bool) -> Result<(), String> {
    let len = std::fs::metadata(got)
        .map_err(|e| format!("{}: {e}", got.display()))?
        .len();
    if len != size {
        return Err(format!("{} has {len} bytes, not {size}", got.display()));
    }
    if compare {
        same_bytes(want, got)?;
    }
    Ok(())
}

/// A [`Rep`] from a run that succeeded and whose output passes `check`.
fn finish(
    r: Run,
    amount: f64,
    items: u64,
    check: impl FnOnce() -> Result<(), String>,
) -> Result<Rep, String> {
    r.result.clone()?;
    check()?;
    Ok(Rep {
        amount,
        items,
        secs: r.secs,
        server_cpu: r.server_cpu,
        client_cpu: r.client_cpu,
    })
}

/// The median (the mean of the middle two for an even count); `None` for none.
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The row of one server: medians over its reps (each figure on its own), or the first
/// error.
fn median_row(
    s: &Server,
    test: &str,
    client: &str,
    tls: bool,
    kind: Kind,
    reps: Vec<Result<Rep, String>>,
) -> Row {
    let test = format!("users-{}", test.trim_start_matches("users-"));
    let mut row = failed_row(&s.name, &s.path, s.peer, tls, &test, 1, kind.unit(), "");
    row.client = client.into();
    row.login = s.login_kind.into();
    if let Some(e) = reps.iter().find_map(|r| r.as_ref().err()) {
        row.error = Some(e.clone());
        return row;
    }
    let ok: Vec<Rep> = reps.into_iter().filter_map(Result::ok).collect();
    if ok.is_empty() {
        row.error = Some("not run".into());
        return row;
    }
    let amount = ok[0].amount;
    let per_sec = |r: &Rep| {
        let a = if kind == Kind::Bytes {
            r.amount / (1u64 << 20) as f64
        } else {
            r.amount
        };
        a / r.secs.max(1e-9)
    };
    row.error = None;
    row.rep_values = ok.iter().map(per_sec).collect();
    row.value = median(row.rep_values.clone());
    row.secs = median(ok.iter().map(|r| r.secs).collect()).unwrap_or(0.0);
    row.items = ok[0].items;
    row.server_cpu_s = median(ok.iter().filter_map(|r| r.server_cpu).collect());
    row.client_cpu_s = median(ok.iter().map(|r| r.client_cpu).collect());
    if kind == Kind::Bytes {
        row.bytes = amount as u64;
        let gib = amount / (1u64 << 30) as f64;
        row.server_cpu_s_per_gib = row.server_cpu_s.map(|c| c / gib);
        row.client_cpu_s_per_gib = row.client_cpu_s.map(|c| c / gib);
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reps_data_paths_in_a_few_words() {
        let page = |sendfile: u64, copy: u64| {
            servers::parse_path_counts(&format!(
                "# HELP kftpd_transfers_total Transfers by data path.\n\
                 kftpd_sessions_active 0\n\
                 kftpd_transfers_total{{path=\"sendfile\"}} {sendfile}\n\
                 kftpd_transfers_total{{path=\"copy\"}} {copy}\n\
                 kftpd_transfers_total{{path=\"splice\"}} 7\n"
            ))
        };
        assert_eq!(page(2, 3).len(), 3);
        assert_eq!(tally(&page(2, 3), &page(2, 3)), "?");
        assert_eq!(tally(&page(2, 3), &page(2, 4)), "copy");
        assert_eq!(tally(&page(2, 3), &page(4, 4)), "sendfile x2 + copy x1");
        assert_eq!(tally(&[], &page(0, 1)), "copy x1 + splice x7");
        assert_eq!(tally(&page(1, 1), &[]), "?");
    }
}
