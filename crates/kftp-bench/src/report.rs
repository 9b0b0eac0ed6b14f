//! What a run found: the rows, the ratios to the raw ceiling and to the best peer, the
//! targets, and how they print (terminal table) and serialise (`--json`).

use serde::Serialize;
use std::fmt::Write as _;

/// One measured figure of one server.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `kftpd`, `vsftpd`, `proftpd`, `pure-ftpd` or a URL's host:port.
    pub server: String,
    /// kftpd's data path (`kernel`, `copy`), `-` for others.
    pub path: String,
    /// Not kftpd.
    pub peer: bool,
    /// Explicit FTPS with PROT P.
    pub tls: bool,
    /// `download`, `upload`, `concurrency-same`, `concurrency-different`, `small`,
    /// `logins`, `idle-memory`; with `--only s3`: `s3-retr`, `s3-stor`, `s3-nlst`,
    /// `s3-list`, `s3-rss-fresh`, `s3-rss-before-listing`, `s3-rss-listing-peak`.
    pub test: String,
    /// Simultaneous connections.
    pub connections: usize,
    /// The figure, in `unit`; `None` when the row failed.
    pub value: Option<f64>,
    /// `GB/s` (10^9 bytes/s), `files/s`, `logins/s` or `KiB/session`; for s3 rows `MB/s`
    /// (10^6 bytes/s), `entries/s` or `MiB`.
    pub unit: String,
    /// Payload bytes moved.
    pub bytes: u64,
    /// Transfers or logins made.
    pub items: u64,
    /// Wall-clock seconds measured.
    pub secs: f64,
    /// Server CPU seconds (whole process tree) during the measurement.
    pub server_cpu_s: Option<f64>,
    /// Client CPU seconds during the measurement.
    pub client_cpu_s: Option<f64>,
    /// Server CPU seconds per GiB moved.
    pub server_cpu_s_per_gib: Option<f64>,
    /// Client CPU seconds per GiB moved.
    pub client_cpu_s_per_gib: Option<f64>,
    /// `value` divided by the raw ceiling (R for downloads, the best socket-to-file loop
    /// for uploads).
    pub vs_ceiling: Option<f64>,
    /// `value` divided by the best peer's on the same test, TLS mode and connections
    /// (for memory: the lowest peer's divided by ours, so > 1 is better throughout).
    pub vs_best_peer: Option<f64>,
    /// Server CPU per GiB divided by the lowest peer's (< 1 is better).
    pub cpu_vs_best_peer: Option<f64>,
    /// s3 rows of kftpd: `value` divided by the same operation made directly on the store
    /// (server `direct`); > 1 is better.
    pub vs_direct: Option<f64>,
    /// `hpc-*` rows (`--only gridftp`) other than the GridFTP pair's own: `value` divided
    /// by the GridFTP pair's (globus-url-copy → globus-gridftp-server) of the same test
    /// and streams in the same run; > 1 is better.
    pub vs_gridftp: Option<f64>,
    /// `hpc-*` rows with `vs_gridftp`: each round's value / the GridFTP pair's in the same
    /// round (rounds are interleaved, so the two ran minutes apart at most); empty unless
    /// both ran every round.
    pub vs_gridftp_by_round: Vec<f64>,
    /// `hpc-small-*` rows other than vsftpd's: `value` divided by `lftp mirror -P 4` →
    /// vsftpd's in the same run.
    pub vs_lftp_vsftpd: Option<f64>,
    /// s3 rows: CPU seconds of the store's process tree (`--s3-store-pid`).
    pub store_cpu_s: Option<f64>,
    /// How the server checks a login (`argon2id`, `sha512-crypt`, `anonymous`).
    pub login: String,
    /// The external client of a `users-*` row (`curl`, `lftp mirror --parallel=8`, `kftp
    /// get`); empty for the bench's own in-process client.
    pub client: String,
    /// Each rep's value, in run order (`users-*` and `hpc-*` rows; `value` is their
    /// median).
    pub rep_values: Vec<f64>,
    /// Why there is no value.
    pub error: Option<String>,
}

impl Row {
    fn higher_is_better(&self) -> bool {
        self.unit != "KiB/session" && self.unit != "MiB"
    }
}

/// One raw loop of `crate::raw`.
#[derive(Clone, Debug, Serialize)]
pub struct RawRow {
    /// Loop name (`sendfile`, `splice-up`, ...).
    pub kind: String,
    /// File to socket.
    pub download: bool,
    /// GB/s.
    pub gbps: f64,
    /// CPU seconds of the measuring thread per GiB.
    pub cpu_s_per_gib: f64,
    /// Bytes moved.
    pub bytes: u64,
}

/// One of the targets, evaluated (reported, never asserted).
#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    /// What the target says.
    pub target: String,
    /// `Some(true)` met, `Some(false)` missed, `None` not measurable in this run.
    pub met: Option<bool>,
    /// The numbers behind the verdict.
    pub detail: String,
}

/// The machine the run was on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub nproc: usize,
    /// `uname -r`.
    pub kernel: String,
    /// From /proc/cpuinfo.
    pub cpu: String,
}

impl Machine {
    /// Reads this machine's description.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            cpu,
        }
    }
}

/// The whole run, as written by `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// The command line.
    pub command: String,
    /// Size of the single-stream file, bytes.
    pub size: u64,
    /// Raw loops over loopback.
    pub raw: Vec<RawRow>,
    /// R: the best raw download loop, GB/s.
    pub ceiling_download_gbps: Option<f64>,
    /// The loop that set R.
    pub ceiling_download_kind: Option<String>,
    /// CPU s/GiB of the loop that set R.
    pub ceiling_download_cpu_s_per_gib: Option<f64>,
    /// The best raw socket-to-file loop, GB/s.
    pub ceiling_upload_gbps: Option<f64>,
    /// Every measured row.
    pub rows: Vec<Row>,
    /// The targets, evaluated.
    pub targets: Vec<TargetCheck>,
    /// Wall-clock seconds of the whole run.
    pub run_secs: f64,
    /// Runs per `users-*` row and server (their medians are the rows).
    pub users_reps: usize,
    /// Size of each small file of the mirror rows.
    pub users_small_size: u64,
    /// CPU sources, load before and after, servers that did not start (`users-*` rows).
    pub users_notes: Vec<String>,
}

fn same_cell(a: &Row, b: &Row) -> bool {
    a.test == b.test && a.tls == b.tls && a.connections == b.connections
}

/// Fills `vs_ceiling`, `vs_best_peer` and `cpu_vs_best_peer`.
pub fn fill_ratios(r: &mut Report) {
    let rows = r.rows.clone();
    for row in &mut r.rows {
        let Some(v) = row.value else { continue };
        // The users' rows have their own ratios (`crate::users::table`).
        if row.test.starts_with("users-") {
            continue;
        }
        let ceiling = match row.test.as_str() {
            "download" | "concurrency-same" | "concurrency-different" => r.ceiling_download_gbps,
            "upload" => r.ceiling_upload_gbps,
            _ => None,
        };
        row.vs_ceiling = ceiling.filter(|c| *c > 0.0).map(|c| v / c);
        if row.peer {
            continue;
        }
        let peers = rows.iter().filter(|p| p.peer && same_cell(p, row));
        let best = if row.higher_is_better() {
            peers
                .filter_map(|p| p.value)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
        } else {
            peers
                .filter_map(|p| p.value)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))))
        };
        row.vs_best_peer = best.filter(|b| *b > 0.0 && v > 0.0).map(|b| {
            if row.higher_is_better() {
                v / b
            } else {
                b / v
            }
        });
        let best_cpu = rows
            .iter()
            .filter(|p| p.peer && same_cell(p, row))
            .filter_map(|p| p.server_cpu_s_per_gib)
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
        row.cpu_vs_best_peer = match (row.server_cpu_s_per_gib, best_cpu) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
    }
}

fn find<'a>(r: &'a Report, test: &str, tls: bool, conns: usize, peer: bool) -> Vec<&'a Row> {
    r.rows
        .iter()
        .filter(|x| x.test == test && x.tls == tls && x.connections == conns && x.peer == peer)
        .collect()
}

fn best<'a>(rows: &[&'a Row]) -> Option<&'a Row> {
    rows.iter()
        .filter(|r| r.value.is_some())
        .max_by(|a, b| {
            a.value
                .partial_cmp(&b.value)
                .unwrap_or(std::cmp::Ordering::Equal)
        })
        .copied()
}

fn check(target: &str, met: Option<bool>, detail: String) -> TargetCheck {
    TargetCheck {
        target: target.into(),
        met,
        detail,
    }
}

/// Evaluates the targets against the rows (kftpd's best path where a target is
/// about kftpd as a whole, the kernel path where it is about the kernel path).
pub fn evaluate_targets(r: &Report) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    let kd = best(&find(r, "download", false, 1, false));
    out.push(match (kd, r.ceiling_download_gbps) {
        (Some(k), Some(c)) => {
            let x = k.value.unwrap_or(0.0) / c;
            check(
                "single-stream download >= 0.95 R",
                Some(x >= 0.95),
                format!(
                    "kftpd ({}) {:.2} GB/s = {x:.2} R (R = {c:.2} GB/s)",
                    k.path,
                    k.value.unwrap_or(0.0)
                ),
            )
        }
        _ => check(
            "single-stream download >= 0.95 R",
            None,
            "not measured".into(),
        ),
    });
    let ku = best(&find(r, "upload", false, 1, false));
    out.push(match (ku, r.ceiling_upload_gbps) {
        (Some(k), Some(c)) => {
            let x = k.value.unwrap_or(0.0) / c;
            check(
                "upload >= 0.90 best raw socket-to-file loop",
                Some(x >= 0.90),
                format!(
                    "kftpd ({}) {:.2} GB/s = {x:.2} of {c:.2} GB/s",
                    k.path,
                    k.value.unwrap_or(0.0)
                ),
            )
        }
        _ => check(
            "upload >= 0.90 best raw socket-to-file loop",
            None,
            "not measured".into(),
        ),
    });
    let kk = find(r, "download", false, 1, false)
        .into_iter()
        .find(|x| x.path == "kernel");
    out.push(
        match (
            kk.and_then(|k| k.server_cpu_s_per_gib),
            r.ceiling_download_cpu_s_per_gib,
        ) {
            (Some(a), Some(b)) => check(
                "server CPU s/GiB <= 1.1x the loop that set R",
                Some(a <= 1.1 * b),
                format!(
                    "kftpd (kernel) {a:.3} s/GiB vs {} {b:.3} s/GiB = {:.2}x",
                    r.ceiling_download_kind.clone().unwrap_or_default(),
                    a / b.max(1e-9)
                ),
            ),
            _ => check(
                "server CPU s/GiB <= 1.1x the loop that set R",
                None,
                "not measured".into(),
            ),
        },
    );
    let levels: Vec<usize> = {
        let mut l: Vec<usize> = r
            .rows
            .iter()
            .filter(|x| x.test == "concurrency-different")
            .map(|x| x.connections)
            .collect();
        l.sort_unstable();
        l.dedup();
        l
    };
    if let (Some(&lo), Some(&hi)) = (levels.first(), levels.last()) {
        let mut parts = Vec::new();
        let mut ok = true;
        for path in ["kernel", "copy"] {
            for test in ["concurrency-different", "concurrency-same"] {
                let at = |n| {
                    find(r, test, false, n, false)
                        .into_iter()
                        .find(|x| x.path == path)
                        .and_then(|x| x.value)
                };
                if let (Some(a), Some(b)) = (at(lo), at(hi)) {
                    let x = b / a.max(1e-9);
                    ok &= x >= 0.9;
                    parts.push(format!(
                        "{path} {}: {x:.2}",
                        test.trim_start_matches("concurrency-")
                    ));
                }
            }
        }
        let t = format!("aggregate at {hi} connections >= 0.90x that at {lo}");
        out.push(check(
            &t,
            (!parts.is_empty()).then_some(ok),
            parts.join(", "),
        ));
    }
    let mut behind = Vec::new();
    let mut compared = 0;
    for row in r.rows.iter().filter(|x| !x.peer) {
        let same: Vec<&Row> = r
            .rows
            .iter()
            .filter(|x| !x.peer && same_cell(x, row))
            .collect();
        // Judge kftpd's best path per cell, once.
        if best(&same).map(|b| !std::ptr::eq(b, row)).unwrap_or(true) {
            continue;
        }
        if let Some(v) = row.vs_best_peer {
            compared += 1;
            let cpu_bad = row.cpu_vs_best_peer.is_some_and(|c| c > 0.8);
            if v < 1.0 || cpu_bad {
                behind.push(format!(
                    "{}{}{} {:.2}x{}",
                    row.test,
                    if row.connections > 1 {
                        format!("/{}", row.connections)
                    } else {
                        String::new()
                    },
                    if row.tls { " tls" } else { "" },
                    v,
                    row.cpu_vs_best_peer
                        .map(|c| format!(" cpu {c:.2}x"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    out.push(check(
        "ahead of the best peer on every row (>= 1.0x, CPU/GiB <= 0.8x)",
        (compared > 0).then_some(behind.is_empty()),
        if behind.is_empty() {
            format!("{compared} cells compared")
        } else {
            format!(
                "behind on {} of {compared}: {}",
                behind.len(),
                behind.join("; ")
            )
        },
    ));
    let mut parts = Vec::new();
    let mut ok = true;
    for test in ["download", "upload"] {
        if let Some(k) = best(&find(r, test, true, 1, false)) {
            if let Some(v) = k.vs_best_peer {
                ok &= v >= 1.5;
                parts.push(format!("{test} {v:.2}x"));
            }
        }
    }
    out.push(check(
        "FTPS >= 1.5x best peer",
        (!parts.is_empty()).then_some(ok),
        parts.join(", "),
    ));
    let kl = best(&find(
        r,
        "logins",
        false,
        r.rows
            .iter()
            .find(|x| x.test == "logins")
            .map(|x| x.connections)
            .unwrap_or(1),
        false,
    ));
    let vl = r
        .rows
        .iter()
        .find(|x| x.test == "logins" && !x.tls && x.server == "vsftpd");
    out.push(match (kl.and_then(|k| k.value), vl.and_then(|v| v.value)) {
        (Some(a), Some(b)) => check(
            "logins/s >= vsftpd's (kftpd with Argon2id)",
            Some(a >= b),
            format!(
                "kftpd {a:.0}/s vs vsftpd {b:.0}/s ({}) = {:.2}x",
                vl.map(|v| v.login.as_str()).unwrap_or(""),
                a / b.max(1e-9)
            ),
        ),
        _ => check(
            "logins/s >= vsftpd's (kftpd with Argon2id)",
            None,
            "not measured".into(),
        ),
    });
    if r.rows.iter().any(|x| x.test.starts_with("s3-")) {
        // Judged on plain FTP, whose legs are both as plain as the direct HTTP; the FTPS
        // figures (TLS on the client leg only) are shown beside.
        let (mut parts, mut judged) = (Vec::new(), 0);
        let mut ok = true;
        for test in ["s3-retr", "s3-stor"] {
            for x in r
                .rows
                .iter()
                .filter(|x| x.test == test && x.server == "kftpd")
            {
                if let Some(v) = x.vs_direct {
                    if !x.tls {
                        ok &= v >= 0.9;
                        judged += 1;
                    }
                    parts.push(format!(
                        "{}{} {v:.2}",
                        test.trim_start_matches("s3-"),
                        if x.tls { " (ftps, not judged)" } else { "" }
                    ));
                }
            }
        }
        out.push(check(
            "S3 RETR and STOR through kftpd (plain FTP) >= 0.90 of direct",
            (judged > 0).then_some(ok),
            parts.join(", "),
        ));
    }
    let km = r
        .rows
        .iter()
        .filter(|x| x.test == "idle-memory" && !x.peer)
        .filter_map(|x| x.value)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))));
    out.push(match km {
        Some(v) => check(
            "idle logged-in session <= 64 KiB server memory",
            Some(v <= 64.0),
            format!("{v:.1} KiB/session (PSS delta)"),
        ),
        None => check(
            "idle logged-in session <= 64 KiB server memory",
            None,
            "not measured".into(),
        ),
    });
    out
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "-".into())
}

/// Lays out rows of cells with padded columns (first column left-aligned).
fn layout(header: &[String], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(c.chars().count());
            if i + 1 == cells.len() {
                s.push_str(c);
            } else if i < 4 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad + 2));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
                s.push_str("  ");
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    line(header, &mut out);
    let total: usize = w.iter().sum::<usize>() + 2 * w.len();
    let _ = writeln!(out, "{}", "-".repeat(total.min(160)));
    for r in rows {
        line(r, &mut out);
    }
    out
}

/// The terminal table: raw ceiling, the per-test rows, the concurrency grid, targets.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "machine: {} CPUs, {}, Linux {}",
        r.machine.nproc, r.machine.cpu, r.machine.kernel
    );
    if !r.raw.is_empty() {
        let _ = writeln!(
            out,
            "\nraw loops over loopback (crate::raw, CPU = measuring thread):"
        );
        let h: Vec<String> = ["loop", "dir", "", "", "GB/s", "CPU s/GiB"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rows: Vec<Vec<String>> = r
            .raw
            .iter()
            .map(|x| {
                vec![
                    x.kind.clone(),
                    if x.download {
                        "file->sock"
                    } else {
                        "sock->file"
                    }
                    .into(),
                    String::new(),
                    String::new(),
                    format!("{:.2}", x.gbps),
                    format!("{:.3}", x.cpu_s_per_gib),
                ]
            })
            .collect();
        out.push_str(&layout(&h, &rows));
        let _ = writeln!(
            out,
            "R = {} GB/s ({}), upload ceiling = {} GB/s",
            fmt_opt(r.ceiling_download_gbps, 2),
            r.ceiling_download_kind.clone().unwrap_or_default(),
            fmt_opt(r.ceiling_upload_gbps, 2)
        );
    }
    let h: Vec<String> = [
        "test",
        "server",
        "path",
        "tls",
        "conns",
        "value",
        "unit",
        "xR",
        "x best peer",
        "srv CPU s/GiB",
        "CPU x peer",
        "cli CPU s/GiB",
        "note",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .filter(|x| {
            !x.test.starts_with("concurrency")
                && !x.test.starts_with("s3-")
                && !x.test.starts_with("users-")
                && !x.test.starts_with("hpc-")
        })
        .map(|x| {
            let prec = if x.unit == "GB/s" { 2 } else { 0 };
            vec![
                x.test.clone(),
                x.server.clone(),
                x.path.clone(),
                if x.tls { "on" } else { "off" }.into(),
                x.connections.to_string(),
                fmt_opt(x.value, prec),
                x.unit.clone(),
                fmt_ratio(x.vs_ceiling),
                fmt_ratio(x.vs_best_peer),
                fmt_opt(x.server_cpu_s_per_gib, 3),
                fmt_ratio(x.cpu_vs_best_peer),
                fmt_opt(x.client_cpu_s_per_gib, 3),
                x.error.clone().unwrap_or_else(|| {
                    if x.test == "logins" {
                        x.login.clone()
                    } else {
                        String::new()
                    }
                }),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(out);
        out.push_str(&layout(&h, &rows));
    }
    let mut levels: Vec<usize> = r
        .rows
        .iter()
        .filter(|x| x.test.starts_with("concurrency"))
        .map(|x| x.connections)
        .collect();
    levels.sort_unstable();
    levels.dedup();
    if !levels.is_empty() {
        let _ = writeln!(
            out,
            "\naggregate GB/s by simultaneous transfers (xR of the last level in the last column):"
        );
        let mut h: Vec<String> = ["files", "server", "path", "tls"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        h.extend(levels.iter().map(|l| l.to_string()));
        h.push(format!("{}/{}", levels[levels.len() - 1], levels[0]));
        h.push("xR".into());
        let mut rows = Vec::new();
        for test in ["concurrency-different", "concurrency-same"] {
            let mut keys: Vec<(String, String, bool)> = Vec::new();
            for x in r.rows.iter().filter(|x| x.test == test) {
                let k = (x.server.clone(), x.path.clone(), x.tls);
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            keys.sort_by_key(|k| (k.2, k.0.clone(), k.1.clone()));
            for (server, path, tls) in keys {
                let at = |n: usize| {
                    r.rows.iter().find(|x| {
                        x.test == test
                            && x.server == server
                            && x.path == path
                            && x.tls == tls
                            && x.connections == n
                    })
                };
                let mut cells = vec![
                    test.trim_start_matches("concurrency-").to_string(),
                    server.clone(),
                    path.clone(),
                    if tls { "on" } else { "off" }.into(),
                ];
                cells.extend(levels.iter().map(|&n| {
                    at(n)
                        .map(|x| fmt_opt(x.value, 2))
                        .unwrap_or_else(|| "-".into())
                }));
                let first = at(levels[0]).and_then(|x| x.value);
                let last = at(levels[levels.len() - 1]);
                cells.push(match (first, last.and_then(|x| x.value)) {
                    (Some(a), Some(b)) if a > 0.0 => format!("{:.2}", b / a),
                    _ => "-".into(),
                });
                cells.push(fmt_ratio(last.and_then(|x| x.vs_ceiling)));
                rows.push(cells);
            }
        }
        out.push_str(&layout(&h, &rows));
        let errs: Vec<String> = r
            .rows
            .iter()
            .filter(|x| x.test.starts_with("concurrency") && x.error.is_some())
            .map(|x| {
                format!(
                    "{} {} tls={} n={}: {}",
                    x.server,
                    x.test,
                    x.tls,
                    x.connections,
                    x.error.clone().unwrap_or_default()
                )
            })
            .collect();
        for e in errs {
            let _ = writeln!(out, "  error: {e}");
        }
    }
    render_s3(r, &mut out);
    out.push_str(&crate::users::table::render(r));
    out.push_str(&crate::gridftp::table::render(r));
    if !r.targets.is_empty() {
        let _ = writeln!(out, "\ntargets (reported, not asserted):");
        for t in &r.targets {
            let v = match t.met {
                Some(true) => "MET   ",
                Some(false) => "MISSED",
                None => "n/a   ",
            };
            let _ = writeln!(out, "  {v} {}: {}", t.target, t.detail);
        }
    }
    let _ = writeln!(out, "\nrun took {:.0} s", r.run_secs);
    out
}

/// The s3 rows: kftpd against the same operations made directly on the store.
fn render_s3(r: &Report, out: &mut String) {
    let rows: Vec<&Row> = r
        .rows
        .iter()
        .filter(|x| x.test.starts_with("s3-"))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nobject storage: kftpd on s3:// vs the same operations directly on the store (OpenDAL):"
    );
    let h: Vec<String> = [
        "test",
        "server",
        "path",
        "tls",
        "value",
        "unit",
        "x direct",
        "secs",
        "items",
        "srv CPU s/GiB",
        "store CPU s/GiB",
        "cli CPU s/GiB",
        "note",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Per GiB for transfers only: a listing's bytes are its text.
    let per_gib = |x: &Row, cpu: Option<f64>| {
        cpu.filter(|_| x.unit == "MB/s" && x.bytes > 0)
            .map(|c| c / (x.bytes as f64 / (1u64 << 30) as f64))
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|x| {
            let prec = if x.unit == "entries/s" { 0 } else { 1 };
            let memory = x.unit == "MiB";
            vec![
                x.test.clone(),
                x.server.clone(),
                x.path.clone(),
                if x.tls { "on" } else { "off" }.into(),
                fmt_opt(x.value, prec),
                x.unit.clone(),
                fmt_ratio(x.vs_direct),
                if memory {
                    "-".into()
                } else {
                    format!("{:.2}", x.secs)
                },
                if memory {
                    "-".into()
                } else {
                    x.items.to_string()
                },
                fmt_opt(x.server_cpu_s_per_gib, 3),
                fmt_opt(per_gib(x, x.store_cpu_s), 3),
                fmt_opt(x.client_cpu_s_per_gib, 3),
                x.error.clone().unwrap_or_else(|| {
                    // A listing's CPU as seconds in all: kftpd's, the store's.
                    match (x.unit == "entries/s", x.server_cpu_s, x.store_cpu_s) {
                        (true, Some(k), Some(g)) => format!("cpu kftpd {k:.2} s, store {g:.2} s"),
                        (true, None, Some(g)) => format!("cpu store {g:.2} s"),
                        _ => String::new(),
                    }
                }),
            ]
        })
        .collect();
    out.push_str(&layout(&h, &cells));
}
