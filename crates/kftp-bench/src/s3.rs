//! `kftp-bench --only s3`: kftpd serving an S3-compatible store (`--root s3://B/PREFIX`)
//! against the same operations made directly on the store from this process with
//! OpenDAL, the library kftpd itself uses, with the same part size and concurrency.
//!
//! - `s3-retr`: RETR of `PREFIX/big.bin` (`--size` bytes) through kftpd, vs a direct
//!   ranged-GET download of it (stat, then `part` chunks, `concurrency` in flight, pinned
//!   to the ETag: what kftpd does for RETR).
//! - `s3-stor`: STOR of the local bench file through kftpd, vs a direct streamed
//!   multipart upload of the same file (written 1 MiB at a time, as kftpd hands it on).
//! - `s3-nlst` / `s3-list`: NLST and LIST of `PREFIX/list-N/` holding `--s3-list-objects`
//!   empty objects (seeded here once, 64 PUTs in flight, skipped when already there), vs
//!   a direct non-recursive listing of the prefix (`s3-list`, server `direct`).
//! - `s3-rss-*`: kftpd's resident memory: freshly started, with the listing sessions
//!   logged in (one per TLS mode, before the measured window, so no login happens in it),
//!   and the peak during the listings (a fresh kftpd runs them, so the peak is theirs;
//!   VmHWM is reset through `clear_refs` where allowed, and VmRSS is sampled every 5 ms
//!   either way).
//!
//! Direct and kftpd measurements alternate, `--s3-rounds` times, and each figure is the
//! total bytes (or entries) over the total time of its rounds, so drift on a busy machine
//! hits both sides alike. Credentials come from `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY`, which kftpd inherits.

use super::files;
use super::proc::{self, CpuMark, CpuSource};
use super::report::{Report, Row};
use super::servers::{PASSWORD, USER};
use super::workload::{self, Sample, Target};
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use kftp::client::{Client, Credentials};
use kftp_proto::{Command, Password};
use opendal::Operator;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// `kftp-bench` flags of the `s3` test.
#[derive(clap::Args, Debug, Clone)]
pub struct S3BenchArgs {
    /// `--only s3`: the S3-compatible endpoint, e.g. http://127.0.0.1:3900 (default:
    /// $AWS_ENDPOINT_URL). Credentials: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// `--only s3`: the bucket (kftpd serves s3://BUCKET/PREFIX).
    #[arg(long, value_name = "NAME")]
    pub s3_bucket: Option<String>,
    /// `--only s3`: the region to sign for (default: $AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// `--only s3`: key prefix the bench works under (big.bin, up/, list-N/).
    #[arg(long, value_name = "PREFIX", default_value = "kftp-bench")]
    pub s3_prefix: String,
    /// `--only s3`: part size and ranged-GET chunk in MiB, for kftpd and the direct side.
    #[arg(long, value_name = "MIB", default_value_t = 8)]
    pub s3_part_size: usize,
    /// `--only s3`: parts or chunks in flight per transfer, for kftpd and the direct side.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub s3_concurrency: usize,
    /// `--only s3`: objects in the listed prefix (0: no listing or memory rows).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub s3_list_objects: usize,
    /// `--only s3`: PUTs in flight while seeding the listed prefix.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub s3_seed_concurrency: usize,
    /// `--only s3`: alternating direct/kftpd rounds per measurement.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub s3_rounds: usize,
    /// `--only s3`: pid of the store's server when it runs on this machine, to report its
    /// CPU per GiB too.
    #[arg(long, value_name = "PID")]
    pub s3_store_pid: Option<u32>,
}

/// The rows' server name for the direct side.
pub const DIRECT: &str = "direct";

/// What the s3 test needs from the run.
pub struct Ctx<'a> {
    /// The flags.
    pub args: &'a S3BenchArgs,
    /// The kftpd binary.
    pub kftpd: &'a Path,
    /// The bench work dir (users file, state, log).
    pub work: &'a Path,
    /// The local bench file uploaded by both sides.
    pub big: &'a Path,
    /// TLS modes to measure kftpd with.
    pub tls_modes: &'a [bool],
    /// The FTPS client configuration.
    pub tls_config: &'a Arc<rustls::ClientConfig>,
    /// Progress.
    pub bar: &'a ProgressBar,
}

/// Steps the progress bar takes for this test.
pub const STEPS: u64 = 5;

/// Checks the flags and environment before anything runs (a usage error otherwise).
pub fn check(a: &S3BenchArgs) -> Result<(), String> {
    Store::resolve(a).map(|_| ())
}

/// Where the store is, resolved from flags and environment.
#[derive(Clone, Debug)]
struct Store {
    endpoint: Option<String>,
    bucket: String,
    region: String,
    prefix: String,
    part: usize,
    concurrency: usize,
}

impl Store {
    fn resolve(a: &S3BenchArgs) -> Result<Store, String> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let bucket = a
            .s3_bucket
            .clone()
            .ok_or("--only s3 needs --s3-bucket (and --s3-endpoint or $AWS_ENDPOINT_URL)")?;
        for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            if env(k).is_none() {
                return Err(format!("--only s3 needs ${k} in the environment"));
            }
        }
        let prefix = a.s3_prefix.trim_matches('/').to_string();
        if prefix.is_empty() {
            return Err("--s3-prefix must not be empty".into());
        }
        Ok(Store {
            endpoint: a.s3_endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL")),
            bucket,
            region: a
                .s3_region
                .clone()
                .or_else(|| env("AWS_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            prefix,
            // kftpd clamps these the same way (5 MiB is S3's smallest part).
            part: a.s3_part_size.clamp(5, 5 * 1024) << 20,
            concurrency: a.s3_concurrency.clamp(1, 64),
        })
    }

    /// An operator rooted at the prefix, built as kftpd builds its own.
    fn operator(&self) -> Result<Operator, String> {
        install_http_client();
        let env = |k: &str| std::env::var(k).unwrap_or_default();
        let mut b = opendal::services::S3::default()
            .bucket(&self.bucket)
            .root(&format!("/{}", self.prefix))
            .region(&self.region)
            .access_key_id(&env("AWS_ACCESS_KEY_ID"))
            .secret_access_key(&env("AWS_SECRET_ACCESS_KEY"))
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(e) = &self.endpoint {
            b = b.endpoint(e);
        }
        Ok(Operator::new(b)
            .map_err(|e| format!("s3://{}/{}: {e}", self.bucket, self.prefix))?
            .layer(opendal::layers::TimeoutLayer::new())
            .layer(opendal::layers::RetryLayer::new().with_jitter()))
    }
}

/// OpenDAL's HTTP client, installed once: reqwest with rustls (ring) and the system's
/// roots, as kftpd does.
fn install_http_client() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let client = kftp_tls::client_config(&kftp_tls::ClientTlsOptions::default())
            .ok()
            .and_then(|tls| {
                reqwest::Client::builder()
                    .tls_backend_preconfigured((*tls).clone())
                    .build()
                    .ok()
            })
            .unwrap_or_default();
        opendal::HttpTransporter::install_default(
            opendal_http_transport_reqwest::ReqwestTransport::new(client),
        );
    });
}

fn e2s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Downloads `key` as kftpd's RETR does; returns the bytes.
async fn get_direct(op: &Operator, key: &str, part: usize, conc: usize) -> Result<u64, String> {
    let m = op.stat(key).await.map_err(e2s)?;
    let mut r = op.reader_with(key).chunk(part).concurrent(conc);
    if let Some(t) = m.etag() {
        r = r.if_match(t);
    }
    let mut s = r
        .await
        .map_err(e2s)?
        .into_bytes_stream(0..m.content_length())
        .await
        .map_err(e2s)?;
    let mut n = 0u64;
    while let Some(b) = s.next().await {
        n += b.map_err(e2s)?.len() as u64;
    }
    Ok(n)
}

/// Uploads the local file to `key` as kftpd's STOR does (1 MiB writes into a multipart
/// writer); returns the bytes.
async fn put_direct(
    op: &Operator,
    key: &str,
    local: &Path,
    part: usize,
    conc: usize,
) -> Result<u64, String> {
    let mut f = tokio::fs::File::open(local).await.map_err(e2s)?;
    let mut w = op
        .writer_with(key)
        .chunk(part)
        .concurrent(conc)
        .await
        .map_err(e2s)?;
    let mut n = 0u64;
    loop {
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        while got < buf.len() {
            let k = f.read(&mut buf[got..]).await.map_err(e2s)?;
            if k == 0 {
                break;
            }
            got += k;
        }
        if got == 0 {
            break;
        }
        buf.truncate(got);
        n += got as u64;
        if let Err(e) = w.write(buf).await {
            let _ = w.abort().await;
            return Err(e2s(e));
        }
    }
    w.close().await.map_err(e2s)?;
    Ok(n)
}

/// Entries directly under `dir/` (a non-recursive listing, the directory's own marker
/// left out).
async fn list_direct(op: &Operator, dir: &str) -> Result<Vec<String>, String> {
    let own = format!("{dir}/");
    let mut l = op.lister(&own).await.map_err(e2s)?;
    let mut out = Vec::new();
    while let Some(e) = l.try_next().await.map_err(e2s)? {
        if e.path().trim_start_matches('/') != own {
            out.push(e.name().to_string());
        }
    }
    Ok(out)
}

/// Name of the `i`-th listed object.
fn list_object(i: usize) -> String {
    format!("o{i:07}")
}

/// Makes `dir/` hold objects `o0000000..` up to `n` (empty), writing only missing ones.
async fn seed(
    op: &Operator,
    dir: &str,
    n: usize,
    conc: usize,
    bar: &ProgressBar,
) -> Result<usize, String> {
    let have: HashSet<String> = list_direct(op, dir).await?.into_iter().collect();
    let missing: Vec<String> = (0..n)
        .map(list_object)
        .filter(|k| !have.contains(k))
        .collect();
    let todo = missing.len();
    if todo == 0 {
        return Ok(0);
    }
    say(bar, format!("seeding {todo} objects under {dir}/"));
    let started = Instant::now();
    let mut done = 0usize;
    let mut puts = futures::stream::iter(missing)
        .map(|k| {
            let op = op.clone();
            let key = format!("{dir}/{k}");
            async move { op.write(&key, Vec::<u8>::new()).await.map(|_| ()) }
        })
        .buffer_unordered(conc.max(1));
    while let Some(r) = puts.next().await {
        r.map_err(|e| format!("seeding {dir}/: {e}"))?;
        done += 1;
        if done.is_multiple_of(1000) {
            bar.set_message(format!("seeding {dir}/: {done}/{todo}"));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    say(
        bar,
        format!(
            "seeded {todo} objects in {secs:.1} s ({:.0} PUTs/s, {conc} in flight)",
            todo as f64 / secs.max(1e-9)
        ),
    );
    Ok(todo)
}

fn say(bar: &ProgressBar, msg: String) {
    if bar.is_hidden() {
        eprintln!("kftp-bench: s3: {msg}");
    }
    bar.set_message(msg);
}

/// A kftpd serving `s3://bucket/prefix`, stopped on drop.
struct Kftpd {
    child: Child,
    port: u16,
}

impl Kftpd {
    fn start(bin: &Path, work: &Path, st: &Store, tag: &str) -> Result<Kftpd, String> {
        let root = format!("s3://{}/{}", st.bucket, st.prefix);
        let users = work.join("kftpd-s3-users.toml");
        super::servers::add_bench_user(bin, &users, &root)?;
        let log = work.join(format!("kftpd-s3-{tag}.log"));
        let log_file = std::fs::File::create(&log).map_err(e2s)?;
        let mut cmd = std::process::Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0", "--root", &root, "--users"])
            .arg(&users)
            .arg("--state-dir")
            .arg(work.join("kftpd-state-s3"))
            .args(["--no-tls-required"])
            .args(["--s3-region", &st.region])
            .args(["--s3-part-size", &(st.part >> 20).to_string()])
            .args(["--s3-concurrency", &st.concurrency.to_string()]);
        if let Some(e) = &st.endpoint {
            cmd.args(["--s3-endpoint", e]);
        }
        let (child, port) = super::servers::spawn_kftpd(&mut cmd, bin, log_file, &log)?;
        let k = Kftpd { child, port };
        Ok(k)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn target(&self, ctx: &Ctx<'_>, tls: bool) -> kftp::error::Result<Target> {
        let creds = Credentials {
            user: USER.into(),
            password: Some(Password::new(PASSWORD)),
        };
        super::target_at(
            "127.0.0.1",
            self.port,
            creds,
            Some(self.pid()),
            tls,
            ctx.tls_config,
            0.0,
        )
    }
}

impl Drop for Kftpd {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/PID/status` field in bytes, summed over the process tree.
fn status_bytes(pid: u32, field: &str) -> u64 {
    status_sum(&proc::tree(pid), field)
}

/// A `/proc/PID/status` field in bytes, summed over `pids`.
fn status_sum(pids: &[u32], field: &str) -> u64 {
    pids.iter()
        .filter_map(|p| {
            let s = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let line = s.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum::<u64>()
        * 1024
}

/// Resets VmHWM of the tree to the current RSS (`clear_refs` 5); false if not allowed.
fn reset_hwm(pid: u32) -> bool {
    proc::tree(pid).into_iter().all(|p| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{p}/clear_refs"))
            .and_then(|mut f| f.write_all(b"5"))
            .is_ok()
    })
}

/// Samples the tree's VmRSS every 5 ms on its own thread until stopped; the maximum. The
/// tree is read once (scanning all of /proc every 5 ms would cost the measured listings
/// CPU).
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let pids = proc::tree(pid);
        let thread = std::thread::spawn(move || {
            let mut max = 0;
            while !s.load(Ordering::Relaxed) {
                max = max.max(status_sum(&pids, "VmRSS:"));
                std::thread::sleep(Duration::from_millis(5));
            }
            max.max(status_sum(&pids, "VmRSS:"))
        });
        RssSampler { stop, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

/// Sums of one side's rounds.
#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    bytes: u64,
    items: u64,
    secs: f64,
    server_cpu: Option<f64>,
    client_cpu: f64,
    store_cpu: Option<f64>,
}

impl Acc {
    fn add(&mut self, s: &Sample, store_cpu: Option<f64>) {
        self.bytes += s.bytes;
        self.items += s.items;
        self.secs += s.secs;
        self.client_cpu += s.client_cpu;
        if let Some(c) = s.server_cpu {
            self.server_cpu = Some(self.server_cpu.unwrap_or(0.0) + c);
        }
        if let Some(c) = store_cpu {
            self.store_cpu = Some(self.store_cpu.unwrap_or(0.0) + c);
        }
    }
}

/// Runs `f` with the store's CPU accounted around it; adds the sample to `acc`.
async fn measure<F>(acc: &mut Acc, store_pid: Option<u32>, f: F) -> Result<(), String>
where
    F: std::future::Future<Output = Result<Sample, String>>,
{
    let s0 = store_pid.map(proc::tree_cpu_secs);
    let s = f.await?;
    let store = match (store_pid, s0) {
        (Some(p), Some(a)) => Some((proc::tree_cpu_secs(p) - a).max(0.0)),
        _ => None,
    };
    acc.add(&s, store);
    Ok(())
}

/// Times a direct operation returning (bytes, items).
async fn direct<F>(f: F) -> Result<Sample, String>
where
    F: std::future::Future<Output = Result<(u64, u64), String>>,
{
    let m0 = CpuMark::now(None);
    let start = Instant::now();
    let (bytes, items) = f.await?;
    let secs = start.elapsed().as_secs_f64();
    let (_, client_cpu) = CpuMark::now(None).since(&m0);
    Ok(Sample {
        bytes,
        items,
        secs,
        server_cpu: None,
        client_cpu,
    })
}

/// NLST or LIST of `dir` on a logged-in session: (bytes, lines). `pid` is kftpd's, for
/// its CPU.
async fn ftp_listing(
    c: &mut Client,
    pid: Option<u32>,
    dir: &str,
    nlst: bool,
) -> Result<Sample, String> {
    let path = Some(dir.to_string());
    let cmd = if nlst {
        Command::Nlst { path, all: false }
    } else {
        Command::List { path, all: false }
    };
    let what = format!("{} {dir}", if nlst { "nlst" } else { "list" });
    let src = pid.map(CpuSource::Tree);
    let m0 = CpuMark::now(src.as_ref());
    let start = Instant::now();
    let mut data = c.open_data(cmd, &what).await.map_err(e2s)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        match data.read(&mut buf).await {
            Ok(0) => break,
            Ok(k) => {
                bytes += k as u64;
                lines += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
    drop(data);
    c.finish_data(&what).await.map_err(e2s)?;
    let secs = start.elapsed().as_secs_f64();
    let (server_cpu, client_cpu) = CpuMark::now(src.as_ref()).since(&m0);
    Ok(Sample {
        bytes,
        items: lines,
        secs,
        server_cpu,
        client_cpu,
    })
}

fn tls_name(tls: bool) -> &'static str {
    if tls {
        "tls"
    } else {
        "plain"
    }
}

/// A row of this test.
fn row(server: &str, tls: bool, test: &str, unit: &str, r: Result<Acc, String>) -> Row {
    let path = if server == DIRECT { "opendal" } else { "s3" };
    let mut out = super::failed_row(server, path, false, tls, test, 1, unit, "");
    match r {
        Ok(a) => {
            out.error = None;
            out.value = Some(match unit {
                "MB/s" => a.bytes as f64 / a.secs.max(1e-9) / 1e6,
                _ => a.items as f64 / a.secs.max(1e-9),
            });
            out.bytes = a.bytes;
            out.items = a.items;
            out.secs = a.secs;
            out.server_cpu_s = a.server_cpu;
            out.client_cpu_s = Some(a.client_cpu);
            out.store_cpu_s = a.store_cpu;
            if unit == "MB/s" && a.bytes > 0 {
                let gib = a.bytes as f64 / (1u64 << 30) as f64;
                out.server_cpu_s_per_gib = a.server_cpu.map(|c| c / gib);
                out.client_cpu_s_per_gib = Some(a.client_cpu / gib);
            }
        }
        Err(e) => out.error = Some(e),
    }
    out
}

fn mem_row(test: &str, bytes: Result<u64, String>) -> Row {
    let mut out = super::failed_row("kftpd", "s3", false, false, test, 1, "MiB", "");
    match bytes {
        Ok(b) => {
            out.error = None;
            out.value = Some(b as f64 / (1u64 << 20) as f64);
        }
        Err(e) => out.error = Some(e),
    }
    out
}

/// The direct test each kftpd test is compared with.
pub fn direct_test(test: &str) -> &str {
    match test {
        "s3-nlst" => "s3-list",
        t => t,
    }
}

/// Fills `vs_direct` of kftpd's s3 rows: its value over the direct row's.
pub fn fill_vs_direct(rows: &mut [Row]) {
    let directs: Vec<(String, f64)> = rows
        .iter()
        .filter(|r| r.server == DIRECT)
        .filter_map(|r| Some((r.test.clone(), r.value?)))
        .collect();
    for r in rows
        .iter_mut()
        .filter(|r| r.test.starts_with("s3-") && r.server != DIRECT)
    {
        let want = direct_test(&r.test);
        let d = directs.iter().find(|(t, _)| t == want).map(|(_, v)| *v);
        r.vs_direct = match (r.value, d) {
            (Some(v), Some(d)) if d > 0.0 && r.unit != "MiB" => Some(v / d),
            _ => None,
        };
    }
}

/// Runs the s3 test, pushing its rows.
pub async fn run(ctx: &Ctx<'_>, report: &mut Report) {
    let tests: [(&str, &str); 4] = [
        ("s3-retr", "MB/s"),
        ("s3-stor", "MB/s"),
        ("s3-nlst", "entries/s"),
        ("s3-list", "entries/s"),
    ];
    let fail_all = |report: &mut Report, why: String| {
        for (t, unit) in tests {
            for &tls in ctx.tls_modes {
                report
                    .rows
                    .push(row("kftpd", tls, t, unit, Err(why.clone())));
            }
        }
    };
    let st = match Store::resolve(ctx.args) {
        Ok(s) => s,
        Err(e) => {
            ctx.bar.println(format!("kftp-bench: s3: {e}"));
            fail_all(report, e);
            ctx.bar.inc(STEPS);
            return;
        }
    };
    let op = match st.operator() {
        Ok(o) => o,
        Err(e) => {
            fail_all(report, e);
            ctx.bar.inc(STEPS);
            return;
        }
    };
    let rounds = ctx.args.s3_rounds.max(1);
    let store_pid = ctx.args.s3_store_pid;
    let (part, conc) = (st.part, st.concurrency);

    // The object RETR reads, and the directory STOR writes into.
    say(
        ctx.bar,
        format!(
            "uploading big.bin to s3://{}/{}/ ({} MiB parts, {} in flight)",
            st.bucket,
            st.prefix,
            part >> 20,
            conc
        ),
    );
    let prep = async {
        put_direct(&op, files::BIG, ctx.big, part, conc).await?;
        op.create_dir("up/").await.map_err(e2s)
    }
    .await;
    if let Err(e) = prep {
        let e = format!("preparing s3://{}/{}: {e}", st.bucket, st.prefix);
        ctx.bar.println(format!("kftp-bench: s3: {e}"));
        fail_all(report, e);
        ctx.bar.inc(STEPS);
        return;
    }
    ctx.bar.inc(1);

    // Transfers, on one kftpd.
    let server = match Kftpd::start(ctx.kftpd, ctx.work, &st, "transfers") {
        Ok(k) => k,
        Err(e) => {
            ctx.bar.println(format!("kftp-bench: s3: kftpd: {e}"));
            fail_all(report, e);
            ctx.bar.inc(STEPS - 1);
            return;
        }
    };
    let mut targets = Vec::new();
    for &tls in ctx.tls_modes {
        match server.target(ctx, tls) {
            Ok(t) => targets.push((tls, t)),
            Err(e) => {
                for (t, unit) in tests {
                    report
                        .rows
                        .push(row("kftpd", tls, t, unit, Err(e.to_string())));
                }
            }
        }
    }
    for (test, up) in [("s3-retr", false), ("s3-stor", true)] {
        say(
            ctx.bar,
            format!(
                "{} {} MiB, {rounds} rounds",
                if up { "STOR" } else { "RETR" },
                ctx.big.metadata().map(|m| m.len() >> 20).unwrap_or(0)
            ),
        );
        let mut d = Ok(Acc::default());
        let mut k: Vec<Result<Acc, String>> = targets.iter().map(|_| Ok(Acc::default())).collect();
        for _ in 0..rounds {
            if let Ok(acc) = &mut d {
                let r = measure(acc, store_pid, async {
                    if up {
                        let s = direct(async {
                            put_direct(&op, "up/direct-0", ctx.big, part, conc)
                                .await
                                .map(|n| (n, 1))
                        })
                        .await;
                        let _ = op.delete("up/direct-0").await;
                        s
                    } else {
                        direct(async {
                            get_direct(&op, files::BIG, part, conc)
                                .await
                                .map(|n| (n, 1))
                        })
                        .await
                    }
                })
                .await;
                if let Err(e) = r {
                    d = Err(e);
                }
            }
            for ((tls, t), acc) in targets.iter().zip(k.iter_mut()) {
                let Ok(a) = acc else { continue };
                let r = measure(a, store_pid, async {
                    if up {
                        workload::upload(t, ctx.big, &format!("kftpd-{}", tls_name(*tls)))
                            .await
                            .map_err(e2s)
                    } else {
                        workload::download(t).await.map_err(e2s)
                    }
                })
                .await;
                if let Err(e) = r {
                    *acc = Err(e);
                }
            }
        }
        report.rows.push(row(DIRECT, false, test, "MB/s", d));
        for ((tls, _), acc) in targets.iter().zip(k) {
            report.rows.push(row("kftpd", *tls, test, "MB/s", acc));
        }
        ctx.bar.inc(1);
    }
    drop(server);

    // Listings, on a fresh kftpd so that its peak memory is theirs.
    let n = ctx.args.s3_list_objects;
    if n == 0 {
        ctx.bar.inc(2);
        fill_vs_direct(&mut report.rows);
        return;
    }
    let dir = format!("list-{n}");
    let seeded = seed(&op, &dir, n, ctx.args.s3_seed_concurrency, ctx.bar).await;
    ctx.bar.inc(1);
    if let Err(e) = seeded {
        ctx.bar.println(format!("kftp-bench: s3: {e}"));
        for (t, unit) in &tests[2..] {
            for &tls in ctx.tls_modes {
                report.rows.push(row("kftpd", tls, t, unit, Err(e.clone())));
            }
        }
        ctx.bar.inc(1);
        return;
    }
    let server = match Kftpd::start(ctx.kftpd, ctx.work, &st, "listing") {
        Ok(k) => k,
        Err(e) => {
            for (t, unit) in &tests[2..] {
                for &tls in ctx.tls_modes {
                    report.rows.push(row("kftpd", tls, t, unit, Err(e.clone())));
                }
            }
            ctx.bar.inc(1);
            return;
        }
    };
    let pid = server.pid();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = status_bytes(pid, "VmRSS:");
    // One session per TLS mode, logged in now: no login (and its Argon2id buffer) may
    // fall inside the measured window. Each is warmed up on a small listing (TLS, the
    // store's HTTP pool).
    let mut sessions: Vec<(bool, Result<Client, String>)> = Vec::new();
    for &tls in ctx.tls_modes {
        let c = match server.target(ctx, tls) {
            Ok(t) => t.connect().await.map_err(e2s),
            Err(e) => Err(e.to_string()),
        };
        sessions.push((tls, c));
    }
    for (_, c) in sessions.iter_mut() {
        if let Ok(c) = c {
            let _ = ftp_listing(c, None, "up", true).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = status_bytes(pid, "VmRSS:");
    let hwm_reset = reset_hwm(pid);
    let sampler = RssSampler::start(pid);
    say(
        ctx.bar,
        format!("listing {n} objects, {rounds} rounds (NLST, LIST, direct)"),
    );
    let mut d = Ok(Acc::default());
    let mut k: Vec<(bool, bool, Result<Acc, String>)> = Vec::new();
    for (tls, c) in &sessions {
        for nlst in [true, false] {
            let acc = match c {
                Ok(_) => Ok(Acc::default()),
                Err(e) => Err(e.clone()),
            };
            k.push((*tls, nlst, acc));
        }
    }
    let want = n as u64;
    for _ in 0..rounds {
        if let Ok(acc) = &mut d {
            let r = measure(acc, store_pid, async {
                direct(async {
                    let l = list_direct(&op, &dir).await?;
                    Ok((0, l.len() as u64))
                })
                .await
            })
            .await;
            if let Err(e) = r {
                d = Err(e);
            }
        }
        for (tls, nlst, acc) in k.iter_mut() {
            let Ok(a) = acc else { continue };
            let Some((_, Ok(c))) = sessions.iter_mut().find(|(x, _)| x == tls) else {
                continue;
            };
            let items_before = a.items;
            let r = measure(a, store_pid, ftp_listing(c, Some(pid), &dir, *nlst)).await;
            if let Err(e) = r {
                *acc = Err(e);
            } else if a.items - items_before != want {
                *acc = Err(format!(
                    "{} returned {} lines, expected {want}",
                    if *nlst { "NLST" } else { "LIST" },
                    a.items - items_before
                ));
            }
        }
    }
    let sampled = sampler.finish();
    let hwm = status_bytes(pid, "VmHWM:");
    for (_, c) in sessions {
        if let Ok(c) = c {
            c.quit().await;
        }
    }
    let peak = if hwm_reset { hwm.max(sampled) } else { sampled };
    if let Ok(a) = &d {
        if a.items != want * rounds as u64 {
            d = Err(format!(
                "direct listing found {} entries, expected {want}",
                a.items / rounds as u64
            ));
        }
    }
    report
        .rows
        .push(row(DIRECT, false, "s3-list", "entries/s", d));
    for (tls, nlst, acc) in k {
        let test = if nlst { "s3-nlst" } else { "s3-list" };
        report.rows.push(row("kftpd", tls, test, "entries/s", acc));
    }
    report.rows.push(mem_row("s3-rss-fresh", Ok(fresh)));
    report
        .rows
        .push(mem_row("s3-rss-before-listing", Ok(before)));
    report.rows.push(mem_row("s3-rss-listing-peak", Ok(peak)));
    drop(server);
    ctx.bar.inc(1);
    fill_vs_direct(&mut report.rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(server: &str, test: &str, unit: &str, v: f64) -> Row {
        let mut x = super::super::failed_row(server, "s3", false, false, test, 1, unit, "");
        x.value = Some(v);
        x.error = None;
        x
    }

    #[test]
    fn ratios_pair_each_kftpd_row_with_its_direct_row() {
        let mut rows = vec![
            r(DIRECT, "s3-retr", "MB/s", 400.0),
            r("kftpd", "s3-retr", "MB/s", 360.0),
            r(DIRECT, "s3-list", "entries/s", 50_000.0),
            r("kftpd", "s3-nlst", "entries/s", 25_000.0),
            r("kftpd", "s3-list", "entries/s", 40_000.0),
            r("kftpd", "s3-rss-listing-peak", "MiB", 12.0),
            r("kftpd", "s3-stor", "MB/s", 100.0),
        ];
        fill_vs_direct(&mut rows);
        let v: Vec<Option<f64>> = rows.iter().map(|x| x.vs_direct).collect();
        assert_eq!(v, [None, Some(0.9), None, Some(0.5), Some(0.8), None, None]);
    }

    #[test]
    fn store_needs_bucket_and_keys() {
        let a = S3BenchArgs {
            s3_endpoint: Some("http://127.0.0.1:1".into()),
            s3_bucket: None,
            s3_region: None,
            s3_prefix: "/p/".into(),
            s3_part_size: 1,
            s3_concurrency: 0,
            s3_list_objects: 10,
            s3_seed_concurrency: 1,
            s3_rounds: 1,
            s3_store_pid: None,
        };
        assert!(Store::resolve(&a).unwrap_err().contains("--s3-bucket"));
        assert_eq!(list_object(7), "o0000007");
    }
}
