//! kftp beside GridFTP (`--only gridftp`), on loopback and on the emulated WAN
//! ([`crate::wan`]), and what the emulator itself sustains (`--only wan`).
//!
//! Every row is a real client process against a real server process, both started here:
//! - one big file (the bench's `--size` on loopback, `--wan-size` on the WAN) with 1, 4,
//!   8 streams (`--streams`): `globus-url-copy -nodcau -p N` against
//!   `globus-gridftp-server` (no `-p` for one stream: plain MODE S, since `-p 1` still
//!   asks for MODE E); `kftp get` against kftpd (with `--streams N` when `kftp get
//!   --help` offers it, else one MODE S stream, and `--segments N`, kftp's ranged
//!   connections, marked as such); and `globus-url-copy -p N` against kftpd, whose
//!   failures (MODE E not spoken yet) become the row's error, not the bench's;
//! - the small files: `globus-url-copy -r -cd -pp -cc 4` against GridFTP, `kftp mirror`
//!   against kftpd with its defaults and with `--parallel 4` (and, where kftp has
//!   `--streams`, `--streams 2 --parallel 4`: MODE E, pipelined), `lftp mirror -P 4`
//!   against vsftpd (loopback only: the peers are started on 127.0.0.1).
//!
//! The servers of one network are started once and stay up while every row runs
//! `--reps` times in rotated rounds ([`rounds`]); a row is the median of its rounds and
//! kftpd's rows are divided by the GridFTP pair's of the same run; [`table`] prints them
//! with issue #17's goals. On the WAN the servers run in namespace B and the clients in
//! A. CPU is read as `crate::external` does: each side from its own cgroup, else from
//! `/proc`.

mod rounds;
pub mod table;

use crate::external::{check_received, failed_run, log_tail, measure, sibling, Run};
use crate::servers::{self, Server};
use crate::wan::{Side, Wan, WanConfig};
use crate::{failed_row, files, Row};
use indicatif::ProgressBar;
use rounds::{Case, Load};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The GridFTP and WAN knobs.
#[derive(clap::Args, Debug, Clone)]
pub struct HpcArgs {
    /// Streams per big-file transfer in the gridftp test (`-p N`, `--streams N`).
    #[arg(long, value_delimiter = ',', default_value = "1,4,8")]
    pub streams: Vec<usize>,
    /// One-way delay of the emulated WAN in ms (the RTT is twice this).
    #[arg(long, default_value_t = 25.0)]
    pub wan_delay_ms: f64,
    /// Packet loss of the emulated WAN in percent, each direction.
    #[arg(long, default_value_t = 0.01)]
    pub wan_loss_pct: f64,
    /// htb rate of the emulated WAN in Mbit/s each direction (0: no htb, the delay line's
    /// own speed). Keep it below what `--only wan` measures.
    #[arg(long, default_value_t = 500)]
    pub wan_rate_mbit: u64,
    /// Ceiling of the TCP receive/send buffers in both WAN namespaces (`tcp_rmem` and
    /// `tcp_wmem` max), for every client and server there: a small one (e.g. 1MiB) makes
    /// one stream window-bound, as on an untuned long fat network.
    #[arg(long, default_value = "32MiB", value_parser = crate::parse_size)]
    pub wan_tcp_buffer: u64,
    /// Seed of the WAN's loss draws.
    #[arg(long, default_value_t = 1)]
    pub wan_seed: u64,
    /// Seconds of each `--only wan` capacity stream.
    #[arg(long, default_value_t = 5.0)]
    pub wan_secs: f64,
    /// Size of the big file on the emulated WAN (default: --size): a 1 GiB file on
    /// loopback is over in a second or two, on the WAN one stream takes minutes.
    #[arg(long, value_parser = crate::parse_size)]
    pub wan_size: Option<u64>,
    /// Give up on one transfer after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub transfer_limit: u64,
}

impl HpcArgs {
    fn wan(&self) -> WanConfig {
        WanConfig {
            delay: Duration::from_secs_f64(self.wan_delay_ms.max(0.0) / 1e3),
            loss: self.wan_loss_pct.max(0.0) / 100.0,
            rate_mbit: (self.wan_rate_mbit > 0).then_some(self.wan_rate_mbit),
            seed: self.wan_seed,
            tcp_buffer: self.wan_tcp_buffer,
            ..Default::default()
        }
    }
}

/// What the runs need from the bench.
pub(crate) struct Ctx<'a> {
    pub args: &'a HpcArgs,
    pub kftpd: &'a Path,
    pub root: &'a Path,
    pub work: &'a Path,
    pub peers_dir: &'a Path,
    /// Big-file size on loopback.
    pub size: u64,
    /// The big file on the WAN, and its size.
    pub wan_big: &'a str,
    pub wan_size: u64,
    pub small_files: usize,
    /// Rounds per row.
    pub reps: usize,
    pub bar: &'a ProgressBar,
}

/// The GridFTP server's name in the rows.
const GRIDFTP: &str = "globus-gridftp-server";

/// `--only wan`: one TCP stream through the emulator with no delay and with the
/// configured delay, no loss, no htb: the ceiling the WAN experiments are sized below.
pub(crate) fn capacity(ctx: &Ctx<'_>, rows: &mut Vec<Row>) {
    let delays = [0.0, ctx.args.wan_delay_ms.max(0.0)];
    for ms in delays {
        ctx.bar
            .set_message(format!("WAN emulator capacity, {ms} ms each way"));
        let cfg = WanConfig {
            delay: Duration::from_secs_f64(ms / 1e3),
            ..Default::default()
        };
        let mut row = failed_row(
            "wan-emulator",
            &format!("{ms} ms"),
            true,
            false,
            "wan-capacity",
            1,
            "Mbit/s",
            "",
        );
        match Wan::start(cfg).and_then(|w| w.measure(ctx.args.wan_secs)) {
            Ok(c) => {
                row.error = None;
                row.value = Some(c.bytes as f64 * 8.0 / c.secs / 1e6);
                row.bytes = c.bytes;
                row.secs = c.secs;
                row.login = format!(
                    "connect {:.1} ms, ping {} ms, {} pkts, {} dropped",
                    c.connect.as_secs_f64() * 1e3,
                    c.ping_ms.map_or("-".into(), |p| format!("{p:.1}")),
                    c.stats.forwarded,
                    c.stats.lost + c.stats.overflow
                );
                // The note column shows `login` only for logins rows: say it on stderr.
                say(
                    ctx.bar,
                    format!("kftp-bench: emulator at {ms} ms: {}", row.login),
                );
            }
            Err(e) => row.error = Some(format!("WAN emulator: {e}")),
        }
        rows.push(row);
    }
}

/// A line above the progress bar, or on stderr when there is no bar (not a terminal).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// The load average, for the notes beside a run's figures.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            format!("load average {}", f.join(", "))
        })
        .unwrap_or_else(|_| "load average unknown".into())
}

/// Where one set of rows runs.
#[derive(Clone, Copy)]
enum Net<'a> {
    Loopback,
    Wan(&'a Wan),
}

impl Net<'_> {
    fn name(&self) -> &'static str {
        match self {
            Net::Loopback => "loopback",
            Net::Wan(_) => "wan",
        }
    }

    /// The servers' address.
    fn host(&self) -> String {
        match self {
            Net::Loopback => "127.0.0.1".into(),
            Net::Wan(_) => Wan::addr(Side::B).to_string(),
        }
    }

    fn netns(&self, side: Side) -> Option<&str> {
        match self {
            Net::Loopback => None,
            Net::Wan(w) => Some(w.ns(side)),
        }
    }

    fn command(&self, side: Side, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match self {
            Net::Loopback => Command::new(program),
            Net::Wan(w) => w.command(side, program),
        }
    }

    /// Whether the client side can connect to `port` on the server.
    fn reachable(&self, port: u16) -> bool {
        let host = self.host();
        let connect = || TcpStream::connect((host.as_str(), port)).is_ok();
        match self {
            Net::Loopback => connect(),
            Net::Wan(w) => w.in_ns(Side::A, connect).unwrap_or(false),
        }
    }
}

/// `--only gridftp`: the rows on loopback, then on the WAN (root only).
pub(crate) fn run(ctx: &Ctx<'_>, rows: &mut Vec<Row>) {
    let kftp = sibling("kftp");
    let streams_flag = Command::new(&kftp)
        .args(["get", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--streams"))
        .unwrap_or(false);
    let levels = crate::levels(&ctx.args.streams);
    let env = Env {
        ctx,
        kftp,
        streams_flag,
        levels,
    };
    env.net(Net::Loopback, rows);
    match Wan::start(ctx.args.wan()) {
        Ok(wan) => {
            let c = ctx.args.wan();
            say(
                ctx.bar,
                format!(
                    "kftp-bench: WAN {} ms RTT, {} % loss, {}",
                    c.delay.as_secs_f64() * 2e3,
                    c.loss * 100.0,
                    c.rate_mbit
                        .map_or("no htb".into(), |r| format!("htb {r} Mbit/s"))
                ),
            );
            env.net(Net::Wan(&wan), rows);
            let s = wan.stats();
            say(
                ctx.bar,
                format!(
                    "kftp-bench: WAN forwarded {} packets, lost {}, overflowed {}",
                    s.forwarded, s.lost, s.overflow
                ),
            );
        }
        Err(e) => rows.push(failed_row(
            "-",
            "-",
            true,
            false,
            "hpc-wan",
            1,
            "MB/s",
            &format!("no WAN emulator: {e}"),
        )),
    }
}

struct Env<'a> {
    ctx: &'a Ctx<'a>,
    kftp: PathBuf,
    streams_flag: bool,
    levels: Vec<usize>,
}

impl Env<'_> {
    /// Starts the servers of `net` (GridFTP's, kftpd, and on loopback vsftpd), all up
    /// together, then measures every row in interleaved rounds ([`rounds`]).
    fn net(&self, net: Net<'_>, rows: &mut Vec<Row>) {
        let ctx = self.ctx;
        let big_test = format!("hpc-big-{}", net.name());
        let small_test = format!("hpc-small-{}", net.name());
        let (big_name, size) = match net {
            Net::Loopback => (files::BIG, ctx.size),
            Net::Wan(_) => (ctx.wan_big, ctx.wan_size),
        };
        let big = ctx.root.join(big_name);
        let small = ctx.root.join("small");
        let user = servers::USER;

        ctx.bar
            .set_message(format!("starting the servers on {}", net.name()));
        let gridftp = start_gridftp(net, ctx);
        // kftpd as it ships (`auto`: the data path chosen by measurement). Pinned to the
        // kernel path, globus-url-copy's MODE S download from it ran 0.78-1.01x GridFTP's
        // server on loopback against 1.08-1.89x from the copy loop (BENCHMARKS.md, "GridFTP
        // rows, interleaved"): sendfile keeps a loopback receiver's window small.
        let shipped = crate::builds::Instance {
            bin: ctx.kftpd,
            data_path: "auto",
            label: "auto".into(),
            extra: &[],
        };
        let kftpd = servers::start_kftpd_in(
            &shipped,
            ctx.root,
            ctx.work,
            net.netns(Side::B),
            &net.host(),
        );
        // vsftpd with lftp: the small-files reference, on loopback (peers bind 127.0.0.1).
        let vsftpd = matches!(net, Net::Loopback)
            .then(|| servers::start_peer("vsftpd", ctx.peers_dir, ctx.root, ctx.work, None));
        let started = [Some(&gridftp), Some(&kftpd), vsftpd.as_ref()];
        for s in started.into_iter().flatten().flatten() {
            if let Some(why) = &s.cgroup_note {
                let (who, net) = (s.label(), net.name());
                say(
                    ctx.bar,
                    format!("kftp-bench: {who} on {net}: server CPU from the /proc tree ({why})"),
                );
            }
        }

        let mut cases: Vec<Case<'_>> = Vec::new();
        let big_load = Load::Bytes(size);
        let small_load = Load::Files(ctx.small_files);
        match &gridftp {
            Ok(g) => {
                let url = move |p: &Path| format!("ftp://{}:{}{}", net.host(), g.port, p.display());
                for &n in &self.levels {
                    let src = url(&big);
                    cases.push(Case {
                        server: g,
                        client: guc_label(n).into(),
                        test: big_test.clone(),
                        n,
                        load: big_load,
                        dest_url: true,
                        cmd: Box::new(move || guc(net, n, &src)),
                    });
                }
                let src = format!("{}/", url(&small));
                cases.push(Case {
                    server: g,
                    client: "globus-url-copy -cc 4".into(),
                    test: small_test.clone(),
                    n: 4,
                    load: small_load,
                    dest_url: true,
                    cmd: Box::new(move || {
                        let mut c = net.command(Side::A, "globus-url-copy");
                        c.args(["-nodcau", "-r", "-cd", "-pp", "-cc", "4"])
                            .arg(&src);
                        c
                    }),
                });
            }
            Err(e) => rows.push(failed_row(
                GRIDFTP, "-", true, false, &big_test, 1, "MB/s", e,
            )),
        }
        match &kftpd {
            Ok(k) => {
                let base = format!("ftp://{user}@{}:{}/", net.host(), k.port);
                for &n in &self.levels {
                    let (flag, label) = if self.streams_flag {
                        ("--streams", "kftp --streams")
                    } else if n == 1 {
                        ("", "kftp (MODE S, no --streams)")
                    } else {
                        ("--segments", "kftp --segments (no --streams)")
                    };
                    let (kftp, url) = (&self.kftp, format!("{base}{big_name}"));
                    cases.push(Case {
                        server: k,
                        client: label.into(),
                        test: big_test.clone(),
                        n,
                        load: big_load,
                        dest_url: false,
                        cmd: Box::new(move || {
                            let mut c = net.command(Side::A, kftp);
                            c.args(["get", "-q"]);
                            if !flag.is_empty() {
                                c.args([flag, &n.to_string()]);
                            }
                            c.arg(&url);
                            c
                        }),
                    });
                }
                for &n in &self.levels {
                    let src = format!(
                        "ftp://{user}:{}@{}:{}/{big_name}",
                        servers::PASSWORD,
                        net.host(),
                        k.port,
                    );
                    cases.push(Case {
                        server: k,
                        client: guc_label(n).into(),
                        test: big_test.clone(),
                        n,
                        load: big_load,
                        dest_url: true,
                        cmd: Box::new(move || guc(net, n, &src)),
                    });
                }
                for (label, flags) in self.mirror_variants() {
                    let (kftp, url) = (&self.kftp, format!("{base}small/"));
                    // Defaults: kftp::mirror::AUTO_PARALLEL sessions.
                    let sessions = if flags.is_empty() || flags.contains(&"4") {
                        4
                    } else {
                        1
                    };
                    cases.push(Case {
                        server: k,
                        client: label.into(),
                        test: small_test.clone(),
                        n: sessions,
                        load: small_load,
                        dest_url: false,
                        cmd: Box::new(move || {
                            let mut c = net.command(Side::A, kftp);
                            c.args(["mirror", "-q"]).args(flags).arg(&url).arg("small");
                            c
                        }),
                    });
                }
            }
            Err(e) => rows.push(failed_row(
                "kftpd", "-", false, false, &big_test, 1, "MB/s", e,
            )),
        }
        match &vsftpd {
            Some(Ok(v)) => {
                let script = format!(
                    "set net:max-retries 1; open -u anonymous, -p {} 127.0.0.1; mirror -P 4 small small",
                    v.port
                );
                cases.push(Case {
                    server: v,
                    client: "lftp mirror -P 4".into(),
                    test: small_test.clone(),
                    n: 4,
                    load: small_load,
                    dest_url: false,
                    cmd: Box::new(move || {
                        let mut c = Command::new("lftp");
                        c.arg("-c").arg(&script);
                        c
                    }),
                });
            }
            Some(Err(e)) => rows.push(failed_row(
                "vsftpd",
                "-",
                true,
                false,
                &small_test,
                4,
                "files/s",
                e,
            )),
            None => {}
        }
        if ctx.small_files == 0 {
            cases.retain(|c| !matches!(c.load, Load::Files(_)));
        }

        let reps = ctx.reps.max(1);
        say(
            ctx.bar,
            format!("kftp-bench: {} rounds start, {}", net.name(), loadavg()),
        );
        let runs = rounds::measure(&cases, reps, |case, round| {
            ctx.bar.set_message(format!(
                "{} round {}/{reps}: {} -> {} ({})",
                net.name(),
                round + 1,
                case.client,
                case.server.name,
                case.n
            ));
            self.transfer(case)
        });
        let mut out: Vec<Row> = cases
            .iter()
            .zip(&runs)
            .map(|(c, r)| rounds::row(c, r))
            .collect();
        say(
            ctx.bar,
            format!("kftp-bench: {} rounds end, {}", net.name(), loadavg()),
        );
        rounds::compare(&mut out);
        rows.append(&mut out);
    }

    /// The `kftp mirror` rows of the small files: as a user runs it (streams chosen by
    /// the round trip, sessions by kftp), with four sessions as lftp's row has, and where
    /// kftp has `--streams`, forced into MODE E over two streams on four sessions (the
    /// mirror pipelines its commands, up to 8 files outstanding per session).
    fn mirror_variants(&self) -> Vec<(&'static str, &'static [&'static str])> {
        let mut v: Vec<(&'static str, &'static [&'static str])> = vec![
            ("kftp mirror (defaults)", &[]),
            ("kftp mirror --parallel 4", &["--parallel", "4"]),
        ];
        if self.streams_flag {
            v.push((
                "kftp mirror --streams 2 --parallel 4",
                &["--streams", "2", "--parallel", "4"],
            ));
        }
        v
    }

    /// Runs one case's client in a fresh destination directory; checks it received the
    /// one file of its bytes, or its files.
    fn transfer(&self, case: &Case<'_>) -> Run {
        let (bytes, files) = match case.load {
            Load::Bytes(b) => (b, 0),
            Load::Files(f) => (0, f),
        };
        let dst = self.ctx.work.join("hpc-dst");
        let _ = std::fs::remove_dir_all(&dst);
        if let Err(e) = std::fs::create_dir_all(&dst) {
            return failed_run(format!("creating {}: {e}", dst.display()));
        }
        let mut cmd = (case.cmd)();
        if case.dest_url {
            cmd.arg(format!("file://{}/", dst.display()));
        }
        cmd.current_dir(&dst)
            .env(kftp::creds::PASSWORD_ENV, servers::PASSWORD);
        let log = self.ctx.work.join("hpc-client.log");
        let mut run = measure(
            cmd,
            case.server.cpu().as_ref(),
            &log,
            Duration::from_secs(self.ctx.args.transfer_limit),
        );
        if run.result.is_ok() {
            run.result = check_received(&dst, bytes, files);
        }
        let _ = std::fs::remove_dir_all(&dst);
        run
    }
}

/// `globus-url-copy` of `src` over `n` streams: `-p N` (MODE E) for more than one, plain
/// MODE S for one (`-p 1` would still ask for MODE E).
fn guc(net: Net<'_>, n: usize, src: &str) -> Command {
    let mut c = net.command(Side::A, "globus-url-copy");
    c.arg("-nodcau");
    if n > 1 {
        c.args(["-p", &n.to_string()]);
    }
    c.arg(src);
    c
}

fn guc_label(n: usize) -> &'static str {
    if n > 1 {
        "globus-url-copy -p (MODE E)"
    } else {
        "globus-url-copy (MODE S)"
    }
}

/// A `globus-gridftp-server` for anonymous reads (as nobody: the bench root is world
/// readable), forking per session, its data connections on the server's address.
fn start_gridftp(net: Net<'_>, ctx: &Ctx<'_>) -> Result<Server, String> {
    let dir = ctx.work.join("gridftp");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let host = net.host();
    let mut last = String::new();
    for _ in 0..3 {
        let port = servers::free_port()?;
        let mut cmd = net.command(Side::B, "globus-gridftp-server");
        cmd.args(["-aa", "-anonymous-user", "nobody", "-d", "error"])
            .args(["-p", &port.to_string()])
            .args(["-control-interface", &host, "-data-interface", &host])
            .arg("-home-dir")
            .arg(ctx.root)
            .arg("-l")
            .arg(dir.join("gridftp.log"));
        let log = dir.join("log");
        let child = servers::spawn_logged(&mut cmd, &log)?;
        let server = Server::adopt(GRIDFTP, &host, port, child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if net.reachable(port) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        last = format!("did not accept connections: {}", log_tail(&log));
    }
    Err(last)
}
