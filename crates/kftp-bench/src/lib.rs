//! `kftp-bench`: measures FTP servers on this machine against its raw data-path ceiling
//! and against each other.
//!
//! # Layout
//! - `files`: the bench root every server serves (big file, concurrency files, small
//!   files, upload directory).
//! - `builds`: the kftpd builds under test (`--kftpd [NAME=]PATH`, one or several side
//!   by side) and their labels.
//! - `servers`: starting kftpd (per build and `--data-path`) and the peers (vsftpd, proftpd,
//!   pure-ftpd) on loopback with generated configs, or taking a server by URL.
//! - `cgroup`: a CPU cgroup per server and per external client run (v1 cpuacct or
//!   cgroup2), children included, removed afterwards.
//! - `proc`: where a server's CPU is read (`CpuSource`: its cgroup, else the `/proc`
//!   tree sum), memory of its process tree, and the in-process client's own CPU from
//!   `CLOCK_PROCESS_CPUTIME_ID`.
//! - `external`: running real client programs (curl, lftp, `kftp`, globus-url-copy):
//!   timed, accounted, and what arrived checked.
//! - `workload`: the measurements (download, upload, N simultaneous transfers, small
//!   files, logins, idle-session memory).
//! - `report`: rows, ratios to the ceiling R and to the best peer, targets, the table
//!   and the JSON.
//! - `users` (`--client curl,lftp`): the users' table, all servers up at once, reps
//!   interleaved across them, curl and lftp command lines, medians, and the markdown
//!   table with kftpd / best peer beside issue 16's goals (`users::table`).
//! - `plot`: the SVG of aggregate throughput against connections.
//! - [`raw`]: blocking raw loops (sendfile, splice, read/write between a file and a loopback
//!   socket) that measure the machine's ceiling R.
//! - `s3`: kftpd on an S3-compatible store against the same operations made directly on
//!   the store (`--only s3`; not in the default set, since it needs a store).
//! - `gridftp`: kftpd + kftp beside globus-gridftp-server + globus-url-copy (and lftp +
//!   vsftpd for small files), on loopback and on the emulated WAN (`--only gridftp`), in
//!   interleaved rounds with medians (`gridftp::rounds`) and their markdown table
//!   (`gridftp::table`), and the emulator's own capacity (`--only wan`). Neither is in
//!   the default set (root).
//! - [`wan`]: the emulated long fat network (two namespaces joined by a user-space delay
//!   line, htb for the rate) that `--only wan` measures.
//!
//! With the in-process client (`--client kftp`, the default) one server runs at a time;
//! each is measured with TLS off, then on, then stopped. The users' table starts them all
//! and interleaves the reps across them.

mod autogroup;
mod builds;
mod cgroup;
mod external;
mod files;
mod gridftp;
mod plot;
mod proc;
pub mod raw;
mod report;
mod s3;
mod servers;
mod users;
pub mod wan;
mod workload;

pub use autogroup::AutogroupNice;
pub use report::{Report, Row};

use crate::raw::RawKind;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kftp::client::ConnectOptions;
use kftp::error::{Error, ErrorKind, Result};
use kftp::stream::TlsSetup;
use kftp::target::Security;
use report::{Machine, RawRow};
use servers::Server;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::{Sample, Target};

/// The tests `--only` selects from.
const TESTS: [&str; 12] = [
    "raw",
    "download",
    "upload",
    "concurrency",
    "small",
    "logins",
    "idle",
    "peers",
    "clients",
    "s3",
    "wan",
    "gridftp",
];

/// Tests that run only when `--only` names them.
const NOT_DEFAULT: [&str; 3] = ["s3", "wan", "gridftp"];

/// Tests measured per server started in the main loop.
const PER_SERVER: [&str; 7] = [
    "download",
    "upload",
    "concurrency",
    "small",
    "logins",
    "idle",
    "peers",
];

/// `kftp-bench` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Servers to measure by URL (ftp://user@127.0.0.1:PORT/dir/), in addition to the ones
    /// started here; the directory must hold the bench files (see --work-dir). The
    /// password comes from the URL or KFTP_PASSWORD. No CPU or memory figures for these.
    pub urls: Vec<String>,
    /// The kftpd binary (default: `kftpd` next to this executable). Give it several times
    /// as NAME=PATH to measure builds side by side in the same interleaved run, e.g.
    /// `--kftpd before=/tmp/kftpd-main --kftpd after=target/release/kftpd`: each build
    /// runs every --paths entry, labelled NAME:PATH; the S3 and GridFTP rows use the first.
    #[arg(long, value_name = "[NAME=]PATH")]
    pub kftpd: Vec<String>,
    /// One more flag for every kftpd started here, e.g. `--kftpd-arg=--tls-strict-eof`
    /// (repeat it for several, or for a flag and its value).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub kftpd_arg: Vec<String>,
    /// Do not start kftpd (measure only peers and URLs).
    #[arg(long)]
    pub no_kftpd: bool,
    /// kftpd data paths to measure, each in its own server: kernel, copy, auto.
    #[arg(long, value_delimiter = ',', default_value = "kernel,copy")]
    pub paths: Vec<String>,
    /// Peers to start when installed: vsftpd, proftpd, pure-ftpd, or none.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "vsftpd,proftpd,pure-ftpd"
    )]
    pub peers: Vec<String>,
    /// Where scripts/install-peers.sh unpacked the peers.
    #[arg(long, value_name = "DIR")]
    pub peers_dir: Option<PathBuf>,
    /// TLS modes: off (plain), on (explicit FTPS with PROT P), or both.
    #[arg(long, value_delimiter = ',', default_value = "off,on")]
    pub tls_modes: Vec<String>,
    /// Tests to run: raw, download, upload, concurrency, small, logins, idle, peers, clients
    /// (the kftp CLI against curl and lftp pget, with --client curl or lftp) (default all
    /// of these), s3 (only when named: kftpd on an S3 store vs the store directly), wan
    /// (the WAN emulator's own capacity) and gridftp (kftp beside GridFTP on loopback and
    /// the emulated WAN), both only when named and as root.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Size of the single-stream file (page-cached), e.g. 256MiB, 1GiB.
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    pub size: u64,
    /// Size of each concurrency file.
    #[arg(long, default_value = "32MiB", value_parser = parse_size)]
    pub conc_size: u64,
    /// Simultaneous transfers to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64")]
    pub connections: Vec<usize>,
    /// Number of small files.
    #[arg(long, default_value_t = 2000)]
    pub small_files: usize,
    /// Size of each small file.
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    pub small_size: u64,
    /// Connections for the "several connections" small-file row.
    #[arg(long, default_value_t = 4)]
    pub small_conns: usize,
    /// Parallel login loops for logins/s.
    #[arg(long, default_value_t = 4)]
    pub login_conns: usize,
    /// Idle logged-in sessions for the memory row (kftpd allows 64 per user by default).
    #[arg(long, default_value_t = 60)]
    pub idle_sessions: usize,
    /// Run each throughput measurement at least this many seconds.
    #[arg(long, default_value_t = 1.0)]
    pub min_secs: f64,
    /// Keep the bench files here (reused across runs) instead of a temp dir.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Clients: kftp (the bench's in-process client, every test), curl and lftp (the
    /// users' table: real curl and lftp processes against kftpd and the peers, and the
    /// `kftp` CLI against them; see BENCHMARKS.md), or all.
    #[arg(long, value_delimiter = ',', default_value = "kftp")]
    pub client: Vec<String>,
    /// Runs per users' row and server, interleaved across the servers, and rounds of the
    /// gridftp rows (every row once per round, the order rotated); rows are medians.
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Simultaneous curl downloads of the users' concurrency row (files of --conc-size).
    #[arg(long, default_value_t = 16)]
    pub users_conc: usize,
    /// `lftp mirror --parallel=N` levels of the users' small-files rows.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    pub mirror_parallel: Vec<usize>,
    /// Sequential logins (one curl process each) per users' logins run.
    #[arg(long, default_value_t = 60)]
    pub logins: usize,
    /// The nice of the autogroup the bench runs in (a session of its own, so servers and
    /// clients it starts share it), or `off` to stay in the caller's: where the kernel
    /// groups the CPU by session, `nice` on builds in other terminals does not yield to
    /// the bench without it. Raising it needs root.
    #[arg(long, default_value = "-10", allow_hyphen_values = true, value_parser = autogroup::parse_nice)]
    pub autogroup_nice: AutogroupNice,
    /// Untimed curl RETR + STOR pairs per server before the users' rows (of the first
    /// concurrency file, else the big file): kftpd's `--data-path auto` probes both paths
    /// on its first transfers of each direction.
    #[arg(long, default_value_t = 6)]
    pub warmup: usize,
    /// Write every row as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the concurrency plot as SVG.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// The `s3` test's store and shapes.
    #[command(flatten)]
    pub s3: s3::S3BenchArgs,
    /// The `wan` and `gridftp` tests' streams and emulated WAN.
    #[command(flatten)]
    pub hpc: gridftp::HpcArgs,
}

/// Parses `256MiB`, `4KiB`, `1G`, `1000`.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("bad size '{s}'"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return Err(format!("bad size unit in '{s}' (use KiB, MiB, GiB)")),
    };
    Ok((n * mul as f64) as u64)
}

struct Plan<'a> {
    args: &'a BenchArgs,
    tests: Vec<String>,
}

impl Plan<'_> {
    fn has(&self, t: &str) -> bool {
        self.tests.iter().any(|x| x == t)
    }
}

/// Removes the temp work dir at the end (not a `--work-dir`).
struct WorkDir(PathBuf, bool);

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn default_peers_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KFTP_PEERS_DIR") {
        return d.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("kftp-peers")
}

/// The `--kftpd` builds; the first is the one the S3, GridFTP and client rows use.
fn kftpd_builds(args: &BenchArgs) -> Result<Vec<builds::Build>> {
    builds::parse(&args.kftpd, || {
        let exe = std::env::current_exe()
            .map_err(|e| format!("finding this executable: {e}"))?;
        let p = exe.with_file_name("kftpd");
        if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "no kftpd next to {} (build it with `cargo build --release -p kftpd`, or pass --kftpd PATH)",
                exe.display()
            ))
        }
    })
    .map_err(Error::usage)
}

fn kftpd_binary(args: &BenchArgs) -> Result<PathBuf> {
    Ok(kftpd_builds(args)?.swap_remove(0).bin)
}

/// Runs the benchmark and prints the table to stdout.
pub async fn run(args: BenchArgs) -> Result<Report> {
    let started = Instant::now();
    // Before any server or client is started: they inherit the session.
    let sched_note = autogroup::own_session(args.autogroup_nice);
    eprintln!("kftp-bench: {sched_note}");
    let tests: Vec<String> = if args.only.is_empty() {
        TESTS
            .iter()
            .filter(|t| !NOT_DEFAULT.contains(t))
            .map(|s| s.to_string())
            .collect()
    } else {
        args.only
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .collect()
    };
    for t in &tests {
        if !TESTS.contains(&t.as_str()) {
            return Err(Error::usage(format!(
                "unknown test '{t}' in --only (one of {})",
                TESTS.join(", ")
            )));
        }
    }
    let mut tls_modes = Vec::new();
    for m in &args.tls_modes {
        match m.as_str() {
            "off" => tls_modes.push(false),
            "on" => tls_modes.push(true),
            _ => return Err(Error::usage(format!("--tls-modes: '{m}' is not off or on"))),
        }
    }
    let mut in_process = false;
    let mut clients = users::Clients::default();
    for c in &args.client {
        match c.trim().to_ascii_lowercase().as_str() {
            "kftp" => in_process = true,
            "curl" => clients.curl = true,
            "lftp" => clients.lftp = true,
            "all" => {
                in_process = true;
                clients.curl = true;
                clients.lftp = true;
            }
            other => {
                return Err(Error::usage(format!(
                    "--client: '{other}' is not kftp, curl, lftp or all"
                )))
            }
        }
    }
    let levels = levels(&args.connections);
    let plan = Plan { args: &args, tests };
    if plan.has("s3") {
        s3::check(&args.s3).map_err(Error::usage)?;
    }

    let (work, temp) = match &args.work_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("kftp-bench-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&work)
        .map_err(|e| Error::local(format!("creating {}", work.display()), e))?;
    let _cleanup = WorkDir(work.clone(), temp);
    // The GridFTP rows' WAN file, where it is not big.bin.
    let wan_size = args.hpc.wan_size.unwrap_or(args.size).max(1);
    let wan_big = (plan.has("gridftp") && wan_size != args.size.max(1)).then_some(wan_size);
    let layout = files::Layout {
        big: args.size.max(1),
        wan_big,
        conc_files: if plan.has("concurrency") {
            let users = if clients.any() { args.users_conc } else { 0 };
            levels.last().copied().unwrap_or(1).max(users)
        } else {
            0
        },
        conc_size: args.conc_size.max(1),
        small_files: if plan.has("small") || plan.has("gridftp") {
            args.small_files
        } else {
            0
        },
        small_size: args.small_size,
    };
    let bar = progress_bar();
    bar.set_message("writing the bench files");
    let w2 = work.clone();
    let root = tokio::task::spawn_blocking(move || files::prepare(&w2, &layout))
        .await
        .map_err(|e| Error::local("bench files", e.into()))?
        .map_err(|e| Error::local(format!("writing bench files in {}", work.display()), e))?;
    let big = root.join(files::BIG);

    let mut report = Report {
        machine: Machine::detect(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        size: args.size,
        raw: Vec::new(),
        ceiling_download_gbps: None,
        ceiling_download_kind: None,
        ceiling_download_cpu_s_per_gib: None,
        ceiling_upload_gbps: None,
        rows: Vec::new(),
        targets: Vec::new(),
        run_secs: 0.0,
        users_reps: args.reps.max(1),
        users_small_size: args.small_size,
        users_notes: Vec::new(),
    };

    // The raw ceiling is for the in-process rows; the users' table compares servers only.
    if plan.has("raw") && in_process {
        let bytes = args.size.max(1 << 30);
        for kind in RawKind::ALL {
            bar.set_message(format!("raw loop {kind}"));
            let path = if kind.is_download() {
                big.clone()
            } else {
                root.join("up/raw-up")
            };
            let r = tokio::task::spawn_blocking(move || raw::measure(kind, &path, bytes)).await;
            match r {
                Ok(Ok(x)) => report.raw.push(RawRow {
                    kind: kind.name().into(),
                    download: kind.is_download(),
                    gbps: x.gbps(),
                    cpu_s_per_gib: x.cpu_per_gib(),
                    bytes: x.bytes,
                }),
                Ok(Err(e)) => bar.println(format!("kftp-bench: raw loop {kind} failed: {e}")),
                Err(e) => bar.println(format!("kftp-bench: raw loop {kind} failed: {e}")),
            }
        }
        let _ = std::fs::remove_file(root.join("up/raw-up"));
        let cmp = |a: &&RawRow, b: &&RawRow| {
            a.gbps
                .partial_cmp(&b.gbps)
                .unwrap_or(std::cmp::Ordering::Equal)
        };
        if let Some(d) = report.raw.iter().filter(|r| r.download).max_by(cmp) {
            report.ceiling_download_gbps = Some(d.gbps);
            report.ceiling_download_kind = Some(d.kind.clone());
            report.ceiling_download_cpu_s_per_gib = Some(d.cpu_s_per_gib);
        }
        report.ceiling_upload_gbps = report
            .raw
            .iter()
            .filter(|r| !r.download)
            .max_by(cmp)
            .map(|r| r.gbps);
    }

    // The servers, started one at a time.
    enum Start<'a> {
        Kftpd(builds::Instance<'a>),
        Peer(String),
        Url(String),
    }
    let mut starts = Vec::new();
    let per_server = in_process && PER_SERVER.iter().any(|t| plan.has(t));
    let kftpd_builds = if args.no_kftpd && !plan.has("s3") && !clients.any() {
        Vec::new()
    } else {
        kftpd_builds(&args)?
    };
    if !args.no_kftpd && per_server {
        for k in builds::instances(&kftpd_builds, &args.paths, &args.kftpd_arg) {
            starts.push(Start::Kftpd(k));
        }
    }
    if plan.has("peers") && in_process {
        for p in args.peers.iter().filter(|p| p.as_str() != "none") {
            starts.push(Start::Peer(p.clone()));
        }
    }
    if per_server {
        for u in &args.urls {
            starts.push(Start::Url(u.clone()));
        }
    }
    let kftpd_bin = kftpd_builds.first().map(|b| b.bin.clone());
    let peers_dir = args.peers_dir.clone().unwrap_or_else(default_peers_dir);
    let cert = if tls_modes.contains(&true) && starts.iter().any(|s| matches!(s, Start::Peer(_))) {
        servers::make_cert(&work)
            .map_err(|e| bar.println(format!("kftp-bench: no TLS for peers: {e}")))
            .ok()
    } else {
        None
    };
    let tls_config = kftp_tls::client_config(&kftp_tls::ClientTlsOptions {
        insecure: true,
        ..Default::default()
    })
    .map_err(|e| Error::new(ErrorKind::Tls, format!("TLS setup: {e}")))?;
    let steps_per = 2 + 2 * levels.len() as u64 + 3;
    let users_steps = u64::from(clients.any());
    let s3_steps = if plan.has("s3") { s3::STEPS } else { 0 };
    bar.set_length(
        1 + (starts.len() * tls_modes.len()) as u64 * steps_per + s3_steps + users_steps + 1,
    );
    bar.inc(1);

    for start in starts {
        let (name, server) = match &start {
            Start::Kftpd(k) => (
                format!("kftpd ({})", k.label),
                servers::start_kftpd(k, &root, &work),
            ),
            Start::Peer(p) => (
                p.clone(),
                servers::start_peer(p, &peers_dir, &root, &work, cert.as_ref()),
            ),
            Start::Url(u) => (u.clone(), servers::from_url(u)),
        };
        let server = match server {
            Ok(s) => s,
            Err(why) => {
                bar.println(format!("kftp-bench: {name}: {why}"));
                let (server, path) = match &start {
                    Start::Kftpd(k) => ("kftpd".to_string(), k.label.clone()),
                    _ => (name.clone(), "-".to_string()),
                };
                for &tls in &tls_modes {
                    report.rows.push(failed_row(
                        &server,
                        &path,
                        !matches!(start, Start::Kftpd(_)),
                        tls,
                        "download",
                        1,
                        "GB/s",
                        &why,
                    ));
                    bar.inc(steps_per);
                }
                continue;
            }
        };
        if let Some(why) = &server.cgroup_note {
            bar.println(format!(
                "kftp-bench: {}: server CPU from the /proc tree, not a cgroup ({why})",
                server.label()
            ));
        }
        for &tls in &tls_modes {
            let t = target(&server, tls, &tls_config, args.min_secs)?;
            let what = format!("{} tls={}", server.label(), if tls { "on" } else { "off" });
            if !bar.is_hidden() {
                bar.set_prefix(what.clone());
            } else {
                eprintln!("kftp-bench: {what}");
            }
            run_server(&plan, &server, tls, &t, &big, &levels, &bar, &mut report).await;
        }
        drop(server);
    }
    if clients.any() {
        if !bar.is_hidden() {
            bar.set_prefix("users' view");
        }
        let has = |t: &str| plan.has(t);
        let no_paths: [String; 0] = [];
        let ctx = users::Ctx {
            clients,
            reps: args.reps.max(1),
            has: &has,
            kftpds: if args.no_kftpd {
                Vec::new()
            } else {
                builds::instances(&kftpd_builds, &args.paths, &args.kftpd_arg)
            },
            peers: if plan.has("peers") {
                &args.peers
            } else {
                &no_paths
            },
            kftp: external::sibling("kftp"),
            root: &root,
            work: &work,
            peers_dir: &peers_dir,
            tls_modes: &tls_modes,
            size: args.size,
            conc: args.users_conc,
            conc_size: args.conc_size.max(1),
            small_files: args.small_files,
            mirror_parallel: &args.mirror_parallel,
            logins: args.logins,
            warmup: args.warmup,
            limit: Duration::from_secs(args.hpc.transfer_limit),
            bar: &bar,
        };
        report.users_notes = tokio::task::block_in_place(|| users::run(&ctx, &mut report.rows));
        report.users_notes.insert(0, sched_note.clone());
        bar.inc(1);
    }
    if plan.has("s3") {
        if !bar.is_hidden() {
            bar.set_prefix("kftpd (s3)");
        }
        if let Some(bin) = kftpd_bin.as_deref() {
            let ctx = s3::Ctx {
                args: &args.s3,
                kftpd: bin,
                work: &work,
                big: &big,
                tls_modes: &tls_modes,
                tls_config: &tls_config,
                bar: &bar,
            };
            s3::run(&ctx, &mut report).await;
        }
    }
    if plan.has("wan") || plan.has("gridftp") {
        // Ctrl-C: delete the namespaces before going (Drop does it on every other way out).
        tokio::spawn(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                wan::teardown_all();
                std::process::exit(130);
            }
        });
        let peers_dir = args.peers_dir.clone().unwrap_or_else(default_peers_dir);
        let kftpd = kftpd_binary(&args)?;
        let ctx = gridftp::Ctx {
            args: &args.hpc,
            kftpd: &kftpd,
            root: &root,
            work: &work,
            peers_dir: &peers_dir,
            size: args.size.max(1),
            wan_big: if wan_big.is_some() {
                files::BIG_WAN
            } else {
                files::BIG
            },
            wan_size,
            small_files: args.small_files,
            reps: args.reps.max(1),
            bar: &bar,
        };
        tokio::task::block_in_place(|| {
            if plan.has("wan") {
                gridftp::capacity(&ctx, &mut report.rows);
            }
            if plan.has("gridftp") {
                gridftp::run(&ctx, &mut report.rows);
            }
        });
    }
    bar.finish_and_clear();
    report.run_secs = started.elapsed().as_secs_f64();
    report::fill_ratios(&mut report);
    if in_process {
        report.targets = report::evaluate_targets(&report);
    }
    print!("{}", report::render(&report));
    if let Some(p) = &args.json {
        let s = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::new(ErrorKind::Local, format!("JSON: {e}")))?;
        std::fs::write(p, s + "\n")
            .map_err(|e| Error::local(format!("writing {}", p.display()), e))?;
    }
    if let Some(p) = &args.plot {
        plot::write_svg(p, &report)
            .map_err(|e| Error::new(ErrorKind::Local, format!("writing {}: {e}", p.display())))?;
    }
    Ok(report)
}

fn progress_bar() -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(1), target);
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {prefix}: {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn target(s: &Server, tls: bool, cfg: &Arc<rustls::ClientConfig>, min_secs: f64) -> Result<Target> {
    let mut t = target_at(&s.host, s.port, s.creds.clone(), s.pid, tls, cfg, min_secs)?;
    t.dir = s.dir.clone();
    t.cpu = s.cpu();
    Ok(t)
}

/// A [`Target`] at `host:port` with the bench's connect options (FTPS when `tls`).
fn target_at(
    host: &str,
    port: u16,
    creds: kftp::client::Credentials,
    pid: Option<u32>,
    tls: bool,
    cfg: &Arc<rustls::ClientConfig>,
    min_secs: f64,
) -> Result<Target> {
    let mut opts = ConnectOptions::new(host.to_string(), port);
    opts.timeout = Duration::from_secs(60);
    if tls {
        opts.security = Security::Explicit;
        opts.tls = Some(
            TlsSetup::new(cfg.clone(), host)
                .map_err(|e| Error::usage(format!("TLS name {host}: {e}")))?,
        );
    }
    Ok(Target {
        opts,
        creds,
        dir: String::new(),
        pid,
        cpu: pid.map(proc::CpuSource::Tree),
        min_secs: min_secs.max(0.0),
    })
}

#[allow(clippy::too_many_arguments)]
fn failed_row(
    server: &str,
    path: &str,
    peer: bool,
    tls: bool,
    test: &str,
    conns: usize,
    unit: &str,
    why: &str,
) -> Row {
    Row {
        server: server.into(),
        path: path.into(),
        peer,
        tls,
        test: test.into(),
        connections: conns,
        value: None,
        unit: unit.into(),
        bytes: 0,
        items: 0,
        secs: 0.0,
        server_cpu_s: None,
        client_cpu_s: None,
        server_cpu_s_per_gib: None,
        client_cpu_s_per_gib: None,
        vs_ceiling: None,
        vs_best_peer: None,
        cpu_vs_best_peer: None,
        vs_direct: None,
        vs_gridftp: None,
        vs_gridftp_by_round: Vec::new(),
        vs_lftp_vsftpd: None,
        store_cpu_s: None,
        login: String::new(),
        client: String::new(),
        rep_values: Vec::new(),
        error: Some(why.into()),
    }
}

fn row(s: &Server, tls: bool, test: &str, conns: usize, r: Result<Sample>) -> Row {
    let gib =
        |cpu: f64, bytes: u64| (bytes > 0).then(|| cpu / (bytes as f64 / (1u64 << 30) as f64));
    let (unit, value) = match test {
        "small" => (
            "files/s",
            r.as_ref().ok().map(|x| x.items as f64 / x.secs.max(1e-9)),
        ),
        "logins" => (
            "logins/s",
            r.as_ref().ok().map(|x| x.items as f64 / x.secs.max(1e-9)),
        ),
        _ => (
            "GB/s",
            r.as_ref()
                .ok()
                .map(|x| x.bytes as f64 / x.secs.max(1e-9) / 1e9),
        ),
    };
    let mut out = failed_row(&s.name, &s.path, s.peer, tls, test, conns, unit, "");
    out.login = s.login_kind.into();
    match r {
        Ok(x) => {
            out.error = None;
            out.value = value;
            out.bytes = x.bytes;
            out.items = x.items;
            out.secs = x.secs;
            out.server_cpu_s = x.server_cpu;
            out.client_cpu_s = Some(x.client_cpu);
            if unit == "GB/s" {
                out.server_cpu_s_per_gib = x.server_cpu.and_then(|c| gib(c, x.bytes));
                out.client_cpu_s_per_gib = gib(x.client_cpu, x.bytes);
            }
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

#[allow(clippy::too_many_arguments)]
async fn run_server(
    plan: &Plan<'_>,
    s: &Server,
    tls: bool,
    t: &Target,
    big: &Path,
    levels: &[usize],
    bar: &ProgressBar,
    report: &mut Report,
) {
    let a = plan.args;
    let key = format!(
        "{}-{}-{}",
        s.name.replace([':', '/'], "_"),
        s.path,
        if tls { "tls" } else { "plain" }
    );
    if plan.has("download") {
        bar.set_message("single-stream download");
        report
            .rows
            .push(row(s, tls, "download", 1, workload::download(t).await));
    }
    bar.inc(1);
    if plan.has("upload") {
        bar.set_message("single-stream upload");
        report.rows.push(row(
            s,
            tls,
            "upload",
            1,
            workload::upload(t, big, &key).await,
        ));
    }
    bar.inc(1);
    if plan.has("concurrency") {
        let mut pool = workload::Pool::default();
        for same in [false, true] {
            let test = if same {
                "concurrency-same"
            } else {
                "concurrency-different"
            };
            for &n in levels {
                bar.set_message(format!(
                    "{n} simultaneous downloads, {} file{}",
                    if same { "same" } else { "different" },
                    if same { "" } else { "s" }
                ));
                let r = workload::concurrency(t, &mut pool, n, same).await;
                report.rows.push(row(s, tls, test, n, r));
                bar.inc(1);
            }
        }
        pool.close().await;
    } else {
        bar.inc(2 * levels.len() as u64);
    }
    if plan.has("small") && a.small_files > 0 {
        let limit = Duration::from_secs(30);
        for conns in [1, a.small_conns.max(2)] {
            bar.set_message(format!(
                "{} small files over {conns} connection(s)",
                a.small_files
            ));
            report.rows.push(row(
                s,
                tls,
                "small",
                conns,
                workload::small(t, a.small_files, conns, limit).await,
            ));
        }
    }
    bar.inc(1);
    if plan.has("logins") {
        bar.set_message("logins");
        report.rows.push(row(
            s,
            tls,
            "logins",
            a.login_conns.max(1),
            workload::logins(t, a.login_conns).await,
        ));
    }
    bar.inc(1);
    if plan.has("idle") && !tls && a.idle_sessions > 0 && s.pid.is_some() {
        bar.set_message(format!("{} idle sessions", a.idle_sessions));
        let mut r = failed_row(
            &s.name,
            &s.path,
            s.peer,
            tls,
            "idle-memory",
            a.idle_sessions,
            "KiB/session",
            "",
        );
        r.login = s.login_kind.into();
        match workload::idle_memory(t, a.idle_sessions).await {
            Ok(Some(b)) => {
                r.value = Some(b / 1024.0);
                r.error = None;
            }
            Ok(None) => r.error = Some("server not local".into()),
            Err(e) => r.error = Some(e.to_string()),
        }
        report.rows.push(r);
    }
    bar.inc(1);
}

/// The positive values of a level list (connections, streams), sorted, each once.
pub(crate) fn levels(asked: &[usize]) -> Vec<usize> {
    let mut v: Vec<usize> = asked.iter().copied().filter(|n| *n > 0).collect();
    v.sort_unstable();
    v.dedup();
    v
}
