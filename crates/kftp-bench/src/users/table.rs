//! The users' table in markdown, ready for BENCHMARKS.md: one line per figure with
//! kftpd's value, each peer's, kftpd / best peer and the goal of issue 16 beside it; then
//! the `kftp` CLI against curl and `lftp pget` on the same servers.

use super::Kind;
use crate::report::Report;
use crate::Row;
use std::fmt::Write as _;

/// Whether a ratio must be at least or at most the goal.
#[derive(Clone, Copy)]
enum Goal {
    AtLeast(f64),
    AtMost(f64),
    None,
}

impl Goal {
    fn text(self) -> String {
        match self {
            Goal::AtLeast(g) => format!(">= {g:.2}"),
            Goal::AtMost(g) => format!("<= {g:.2}"),
            Goal::None => "-".into(),
        }
    }

    fn met(self, ratio: Option<f64>) -> &'static str {
        match (self, ratio) {
            (Goal::AtLeast(g), Some(x)) if x >= g => "met",
            (Goal::AtMost(g), Some(x)) if x <= g => "met",
            (Goal::None, _) | (_, None) => "-",
            _ => "**missed**",
        }
    }
}

/// One server row of the table: its test, TLS mode, what it shows, and the goals of the
/// figure and of the server CPU beside it.
struct Line {
    test: &'static str,
    tls: bool,
    label: &'static str,
    kind: Kind,
    goal: Goal,
    cpu_goal: Goal,
}

const LINES: [Line; 5] = [
    Line {
        test: "users-retr",
        tls: false,
        label: "RETR {size}, plain (curl)",
        kind: Kind::Bytes,
        goal: Goal::AtLeast(1.1),
        cpu_goal: Goal::AtMost(0.8),
    },
    Line {
        test: "users-stor",
        tls: false,
        label: "STOR {size}, plain (curl -T)",
        kind: Kind::Bytes,
        goal: Goal::AtLeast(1.1),
        cpu_goal: Goal::AtMost(0.8),
    },
    Line {
        test: "users-retr",
        tls: true,
        label: "FTPS RETR {size} (curl --ssl-reqd)",
        kind: Kind::Bytes,
        goal: Goal::AtLeast(1.5),
        cpu_goal: Goal::None,
    },
    Line {
        test: "users-stor",
        tls: true,
        label: "FTPS STOR {size} (curl --ssl-reqd -T)",
        kind: Kind::Bytes,
        goal: Goal::AtLeast(1.5),
        cpu_goal: Goal::None,
    },
    Line {
        test: "users-conc",
        tls: false,
        label: "{client} RETR at once, aggregate",
        kind: Kind::Bytes,
        goal: Goal::None,
        cpu_goal: Goal::AtMost(0.8),
    },
];

fn size_text(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (m, u) in UNITS {
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{} {u}", bytes / m);
        }
    }
    format!("{bytes} B")
}

/// The figure's text in its unit's precision.
fn value_text(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Bytes | Kind::Files => format!("{v:.0}"),
        Kind::Logins => format!("{v:.1}"),
    }
}

/// Server CPU per unit of work: s/GiB, ms/file, ms/login.
fn cpu_per(kind: Kind, r: &Row) -> Option<f64> {
    match kind {
        Kind::Bytes => r.server_cpu_s_per_gib,
        _ => r
            .server_cpu_s
            .filter(|_| r.items > 0)
            .map(|c| c * 1e3 / r.items as f64),
    }
}

/// ` (lowest-highest)` of the reps, when there were several: the noise beside a median.
fn spread(kind: Kind, r: &Row) -> String {
    let lo = best(r.rep_values.iter().copied(), true);
    let hi = best(r.rep_values.iter().copied(), false);
    match (lo, hi) {
        (Some(lo), Some(hi)) if r.rep_values.len() > 1 => {
            format!(" ({}-{})", value_text(kind, lo), value_text(kind, hi))
        }
        _ => String::new(),
    }
}

fn cpu_unit(kind: Kind) -> &'static str {
    match kind {
        Kind::Bytes => "s/GiB",
        Kind::Files => "ms/file",
        Kind::Logins => "ms/login",
    }
}

/// The servers in the users' rows, kftpd first, in the order they ran.
fn servers(rows: &[&Row]) -> Vec<(String, String, bool)> {
    let mut out: Vec<(String, String, bool)> = Vec::new();
    for r in rows {
        let k = (r.server.clone(), r.path.clone(), r.peer);
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out.sort_by_key(|k| k.2);
    out
}

fn label_of(server: &str, path: &str) -> String {
    if path == "-" {
        server.into()
    } else {
        format!("{server} ({path})")
    }
}

/// Best of `vals`: highest, or lowest when `low`.
fn best(vals: impl Iterator<Item = f64>, low: bool) -> Option<f64> {
    vals.fold(None, |m: Option<f64>, x| {
        Some(m.map_or(x, |m| if low { m.min(x) } else { m.max(x) }))
    })
}

/// The markdown tables of the users' rows, or `""` when there are none.
pub fn render(r: &Report) -> String {
    let rows: Vec<&Row> = r
        .rows
        .iter()
        .filter(|x| x.test.starts_with("users-"))
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Users' view: kftpd against the peers with curl and lftp (medians of {} interleaved reps, lowest-highest in brackets)\n",
        r.users_reps
    );
    render_servers(r, &rows, &mut out);
    render_clients(&rows, &mut out);
    let errors: Vec<String> = rows
        .iter()
        .filter_map(|x| {
            x.error.as_ref().map(|e| {
                format!(
                    "- {} {} on {}{}: {e}",
                    x.test,
                    x.client,
                    label_of(&x.server, &x.path),
                    if x.tls { " (FTPS)" } else { "" }
                )
            })
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors:\n{}", errors.join("\n"));
    }
    if !r.users_notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for n in &r.users_notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    out
}

fn render_servers(r: &Report, rows: &[&Row], out: &mut String) {
    let server_rows: Vec<&Row> = rows
        .iter()
        .filter(|x| !matches!(x.test.as_str(), "users-get" | "users-put" | "users-pget"))
        .copied()
        .collect();
    if server_rows.is_empty() {
        return;
    }
    let cols = servers(&server_rows);
    let mut head = vec!["row".to_string()];
    head.extend(cols.iter().map(|(s, p, _)| label_of(s, p)));
    head.extend(["kftpd / best peer", "goal", "met?"].map(String::from));
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    // The fixed lines, then one per mirror level and the logins, as they ran.
    let mut lines: Vec<(String, &str, bool, Kind, Goal, Goal)> = LINES
        .iter()
        .map(|l| {
            (
                l.label.to_string(),
                l.test,
                l.tls,
                l.kind,
                l.goal,
                l.cpu_goal,
            )
        })
        .collect();
    let mut extra: Vec<&str> = Vec::new();
    for x in &server_rows {
        if (x.test.starts_with("users-mirror-") || x.test == "users-logins")
            && !extra.contains(&x.test.as_str())
        {
            extra.push(&x.test);
        }
    }
    for t in extra {
        if t == "users-logins" {
            lines.push((
                "logins/s, sequential ({client})".into(),
                t,
                false,
                Kind::Logins,
                Goal::AtLeast(1.0),
                Goal::None,
            ));
        } else {
            lines.push((
                "small files, {client}".into(),
                t,
                false,
                Kind::Files,
                Goal::AtLeast(1.2),
                Goal::AtMost(0.8),
            ));
        }
    }
    for (label, test, tls, kind, goal, cpu_goal) in lines {
        let cells: Vec<Option<&Row>> = cols
            .iter()
            .map(|(s, p, _)| {
                server_rows
                    .iter()
                    .copied()
                    .find(|x| x.test == test && x.tls == tls && &x.server == s && &x.path == p)
            })
            .collect();
        let Some(any) = cells.iter().flatten().next() else {
            continue;
        };
        let label = label
            .replace("{size}", &size_text(r.size))
            .replace("{client}", &any.client);
        let label = if kind == Kind::Files {
            format!(
                "{label} ({} x {})",
                any.items,
                size_text(r.users_small_size)
            )
        } else {
            label
        };
        let pick = |peer: bool, f: &dyn Fn(&Row) -> Option<f64>, low: bool| {
            best(
                cols.iter()
                    .zip(&cells)
                    .filter(|((_, _, p), _)| *p == peer)
                    .filter_map(|(_, c)| c.and_then(f)),
                low,
            )
        };
        let value = |x: &Row| x.value;
        let cpu = |x: &Row| cpu_per(kind, x);
        let ratio = |ours: Option<f64>, theirs: Option<f64>| match (ours, theirs) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let v_ratio = ratio(pick(false, &value, false), pick(true, &value, false));
        let mut cells_v = vec![format!("{label} ({})", kind.unit())];
        cells_v.extend(cells.iter().map(|c| {
            match c {
                Some(x) => x
                    .value
                    .map(|v| format!("{}{}", value_text(kind, v), spread(kind, x)))
                    .unwrap_or_else(|| "error".into()),
                None => "-".into(),
            }
        }));
        cells_v.push(fmt_ratio(v_ratio));
        cells_v.push(goal.text());
        cells_v.push(goal.met(v_ratio).into());
        let _ = writeln!(out, "| {} |", cells_v.join(" | "));
        // A CPU line under the figure: kftpd / the lowest peer.
        let mut cpu_line = |name: &str, f: &dyn Fn(&Row) -> Option<f64>, goal: Goal| {
            if !cells.iter().flatten().any(|x| f(x).is_some()) {
                return;
            }
            let c_ratio = ratio(pick(false, f, true), pick(true, f, true));
            let mut cells_c = vec![format!("  {name} CPU ({})", cpu_unit(kind))];
            cells_c.extend(cells.iter().map(|c| {
                c.and_then(f)
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or_else(|| "-".into())
            }));
            cells_c.push(fmt_ratio(c_ratio));
            cells_c.push(goal.text());
            cells_c.push(goal.met(c_ratio).into());
            let _ = writeln!(out, "| {} |", cells_c.join(" | "));
        };
        cpu_line("server", &cpu, cpu_goal);
        // The client's CPU per GiB says where the ceiling is: on 2 cores a transfer cannot
        // run faster than the client alone can decrypt or encrypt (BENCHMARKS.md, FTPS).
        if kind == Kind::Bytes {
            let client = |x: &Row| x.client_cpu_s_per_gib;
            cpu_line("client", &client, Goal::None);
        }
    }
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into())
}

/// kftp against the other client, per server: MiB/s and client CPU s/GiB of each.
fn render_clients(rows: &[&Row], out: &mut String) {
    let groups = [
        ("users-get", "get", Goal::AtLeast(1.2)),
        ("users-put", "put", Goal::AtLeast(1.2)),
        ("users-pget", "segmented get", Goal::AtLeast(1.0)),
    ];
    let mut head = false;
    for (test, what, goal) in groups {
        let mine: Vec<&Row> = rows.iter().filter(|x| x.test == test).copied().collect();
        for (server, path, _) in servers(&mine) {
            let on: Vec<&Row> = mine
                .iter()
                .filter(|x| x.server == server && x.path == path)
                .copied()
                .collect();
            let (Some(k), Some(o)) = (
                on.iter().find(|x| x.client.starts_with("kftp")),
                on.iter().find(|x| !x.client.starts_with("kftp")),
            ) else {
                continue;
            };
            if !head {
                let _ = writeln!(
                    out,
                    "\n| client row | server | kftp MiB/s | other MiB/s | kftp / other | goal | met? | client CPU s/GiB kftp / other |"
                );
                let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
                head = true;
            }
            let ratio = match (k.value, o.value) {
                (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                _ => None,
            };
            let v = |x: &Row| {
                x.value
                    .map(|v| format!("{v:.0}{}", spread(Kind::Bytes, x)))
                    .unwrap_or_else(|| "error".into())
            };
            let c = |x: &Row| {
                x.client_cpu_s_per_gib
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or_else(|| "-".into())
            };
            let _ = writeln!(
                out,
                "| {what}: `{}` vs `{}` | {} | {} | {} | {} | {} | {} | {} / {} |",
                k.client,
                o.client,
                label_of(&server, &path),
                v(k),
                v(o),
                fmt_ratio(ratio),
                goal.text(),
                goal.met(ratio),
                c(k),
                c(o)
            );
        }
    }
}
