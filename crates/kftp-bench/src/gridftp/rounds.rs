//! The GridFTP rows measured in rounds: every row's transfer once per round, `--reps`
//! rounds, each round in a rotated order, while all the servers of one network stay up.
//!
//! On loopback a 1 GiB transfer is over in a second or two and the machine's load moves
//! one pair's figure several-fold between runs (BENCHMARKS.md, HPC runs 8 and 9), so a
//! row measured once, all GridFTP rows before all kftpd rows, compares the load more than
//! the servers. Interleaved, a burst of load falls on every row of a round alike; the
//! rotation keeps one row from always running first (after an idle gap) or last. Each
//! row's figure is the median of its rounds, with every round's value kept
//! (`Row::rep_values`), and each kftpd row is divided by the GridFTP pair's median of
//! the same run ([`compare`]).

use crate::external::Run;
use crate::servers::Server;
use crate::users::median;
use crate::{failed_row, Row};
use std::process::Command;

/// What one row's transfer must deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Load {
    /// One file of this many bytes: MB/s, CPU per GiB.
    Bytes(u64),
    /// This many files: files/s.
    Files(usize),
}

/// One row: a client command against one of the running servers.
pub(super) struct Case<'a> {
    pub server: &'a Server,
    /// The row's client column (also its `path`, where the old single-run rows had it).
    pub client: String,
    pub test: String,
    /// Streams, or sessions of a mirror.
    pub n: usize,
    pub load: Load,
    /// globus-url-copy takes a destination URL; the others write into their cwd.
    pub dest_url: bool,
    /// A fresh command for each round (a `Command` runs once).
    pub cmd: Box<dyn Fn() -> Command + 'a>,
}

/// The order of round `round` over `len` rows: a rotation that starts each round
/// `len / reps` rows (rounded up) further on, so that over the rounds the first place
/// goes to rows spread across the list.
pub(super) fn order(len: usize, reps: usize, round: usize) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    let step = len.div_ceil(reps.max(1)).max(1);
    let start = (round * step) % len;
    (0..len).map(|k| (start + k) % len).collect()
}

/// Runs `reps` rounds of every case through `run(case, round)`; returns each case's runs
/// in round order. A case that failed is not run again (its row shows the failure).
pub(super) fn measure(
    cases: &[Case<'_>],
    reps: usize,
    mut run: impl FnMut(&Case<'_>, usize) -> Run,
) -> Vec<Vec<Run>> {
    let mut got: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..reps.max(1) {
        for i in order(cases.len(), reps, round) {
            if got[i].iter().any(|r| r.result.is_err()) {
                continue;
            }
            let r = run(&cases[i], round);
            got[i].push(r);
        }
    }
    got
}

/// The row of one case: the median of its rounds (figure, seconds and each side's CPU on
/// its own), every round's figure in `rep_values`, or the first failure.
pub(super) fn row(case: &Case<'_>, runs: &[Run]) -> Row {
    let unit = match case.load {
        Load::Bytes(_) => "MB/s",
        Load::Files(_) => "files/s",
    };
    let s = case.server;
    let mut out = failed_row(
        &s.name,
        &case.client,
        s.peer,
        false,
        &case.test,
        case.n,
        unit,
        "",
    );
    out.client = case.client.clone();
    let ok: Vec<&Run> = runs.iter().filter(|r| r.result.is_ok()).collect();
    let per_sec = |r: &Run| match case.load {
        Load::Bytes(b) => b as f64 / r.secs.max(1e-9) / 1e6,
        Load::Files(f) => f as f64 / r.secs.max(1e-9),
    };
    out.rep_values = ok.iter().map(|r| per_sec(r)).collect();
    if let Some(e) = runs.iter().find_map(|r| r.result.as_ref().err()) {
        out.error = Some(e.clone());
        return out;
    }
    if ok.is_empty() {
        out.error = Some("not run".into());
        return out;
    }
    out.error = None;
    out.value = median(out.rep_values.clone());
    out.secs = median(ok.iter().map(|r| r.secs).collect()).unwrap_or(0.0);
    out.server_cpu_s = median(ok.iter().filter_map(|r| r.server_cpu).collect());
    out.client_cpu_s = median(ok.iter().map(|r| r.client_cpu).collect());
    match case.load {
        Load::Bytes(b) => {
            out.bytes = b;
            let gib = b as f64 / (1u64 << 30) as f64;
            out.server_cpu_s_per_gib = out.server_cpu_s.map(|c| c / gib);
            out.client_cpu_s_per_gib = out.client_cpu_s.map(|c| c / gib);
        }
        Load::Files(f) => out.items = f as u64,
    }
    out
}

/// The GridFTP pair: globus-url-copy against globus-gridftp-server.
pub(super) fn is_gridftp_pair(r: &Row) -> bool {
    r.server == super::GRIDFTP && r.client.starts_with("globus-url-copy")
}

/// Fills `vs_gridftp` of every row that is not the GridFTP pair's own (against the pair's
/// row of the same test and streams; for the small files, its one row), and on the small
/// files `vs_lftp_vsftpd`. `rows` are one network's rows of one run.
pub(super) fn compare(rows: &mut [Row]) {
    let reference = |rows: &'_ [Row], of: &Row, pick: &dyn Fn(&Row) -> bool| -> Option<Row> {
        let big = of.unit == "MB/s";
        rows.iter()
            .find(|p| p.test == of.test && pick(p) && (!big || p.connections == of.connections))
            .filter(|p| p.value.is_some_and(|v| v > 0.0))
            .cloned()
    };
    let all = rows.to_vec();
    for r in rows.iter_mut() {
        let Some(v) = r.value else { continue };
        if !is_gridftp_pair(r) {
            if let Some(g) = reference(&all, r, &is_gridftp_pair) {
                r.vs_gridftp = g.value.map(|g| v / g);
                if g.rep_values.len() == r.rep_values.len() {
                    r.vs_gridftp_by_round = r
                        .rep_values
                        .iter()
                        .zip(&g.rep_values)
                        .map(|(a, b)| a / b)
                        .collect();
                }
            }
        }
        if r.unit == "files/s" && r.server != "vsftpd" {
            r.vs_lftp_vsftpd = reference(&all, r, &|p: &Row| p.server == "vsftpd")
                .and_then(|p| p.value)
                .map(|g| v / g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_runs_every_row_once_from_a_new_start() {
        for (len, reps) in [(1, 3), (5, 3), (11, 3), (4, 1), (3, 5)] {
            let rounds: Vec<Vec<usize>> = (0..reps).map(|i| order(len, reps, i)).collect();
            for o in &rounds {
                let mut s = o.clone();
                s.sort_unstable();
                assert_eq!(s, (0..len).collect::<Vec<_>>(), "{len} rows, {reps} rounds");
            }
            let firsts: std::collections::HashSet<usize> = rounds.iter().map(|o| o[0]).collect();
            assert_eq!(
                firsts.len(),
                reps.min(len),
                "{len} rows, {reps} rounds: {rounds:?}"
            );
        }
        assert_eq!(order(11, 3, 1)[0], 4);
        assert!(order(0, 3, 0).is_empty());
    }

    fn pair(server: &str, client: &str, test: &str, n: usize, unit: &str, v: f64) -> Row {
        let mut r = failed_row(server, client, server != "kftpd", false, test, n, unit, "");
        r.client = client.into();
        r.value = Some(v);
        r.rep_values = vec![v, 2.0 * v];
        r.error = None;
        r
    }

    #[test]
    fn ratios_are_to_the_gridftp_pair_of_the_same_streams() {
        let g = super::super::GRIDFTP;
        let mut rows = vec![
            pair(g, "globus-url-copy (MODE S)", "hpc-big-wan", 1, "MB/s", 3.0),
            pair(
                g,
                "globus-url-copy -p (MODE E)",
                "hpc-big-wan",
                8,
                "MB/s",
                20.0,
            ),
            pair("kftpd", "kftp --streams", "hpc-big-wan", 1, "MB/s", 3.3),
            pair("kftpd", "kftp --streams", "hpc-big-wan", 8, "MB/s", 19.0),
            pair(
                "kftpd",
                "globus-url-copy -p (MODE E)",
                "hpc-big-wan",
                8,
                "MB/s",
                21.0,
            ),
            pair(
                g,
                "globus-url-copy -cc 4",
                "hpc-small-loopback",
                4,
                "files/s",
                500.0,
            ),
            pair(
                "vsftpd",
                "lftp mirror -P 4",
                "hpc-small-loopback",
                4,
                "files/s",
                250.0,
            ),
            pair(
                "kftpd",
                "kftp mirror",
                "hpc-small-loopback",
                4,
                "files/s",
                1000.0,
            ),
        ];
        compare(&mut rows);
        let x: Vec<Option<f64>> = rows.iter().map(|r| r.vs_gridftp).collect();
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(x[0].is_none() && x[1].is_none(), "{x:?}");
        assert!(
            close(x[2], 1.1) && close(x[3], 0.95) && close(x[4], 1.05),
            "{x:?}"
        );
        assert!(close(x[6], 0.5) && close(x[7], 2.0), "{x:?}");
        assert!(close(rows[7].vs_lftp_vsftpd, 4.0));
        assert!(close(rows[5].vs_lftp_vsftpd, 2.0));
        assert!(rows[6].vs_lftp_vsftpd.is_none() && rows[3].vs_lftp_vsftpd.is_none());
        // Round by round: (19 / 20, 38 / 40).
        assert_eq!(rows[3].vs_gridftp_by_round, vec![0.95, 0.95]);
        assert!(rows[1].vs_gridftp_by_round.is_empty());
    }
}
