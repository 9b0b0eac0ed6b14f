//! CPU and memory accounting of the processes under test, from `/proc`.
//!
//! A server's CPU time is that of its whole process tree: kftpd is one process (all its
//! threads are in its `/proc/PID/stat`), but vsftpd, proftpd and pure-ftpd fork per
//! session. The tree's time is the sum over its live processes of `utime + stime +
//! cutime + cstime`: a child that exited and was reaped has its time folded into its
//! parent's `cutime/cstime`, and a zombie still shows its own. Resolution is one clock
//! tick (usually 10 ms), so measurement windows are kept around a second or longer.
//!
//! Servers started here are accounted by cgroup instead (`crate::cgroup`, [`CpuSource`]);
//! the tree sum is the fallback where no cgroup can be made, and misses sessions that
//! forked and exited between two readings when the parent does not reap them.
//!
//! The client's own time is `CLOCK_PROCESS_CPUTIME_ID` (what `getrusage(RUSAGE_SELF)`
//! reports, user + system, all threads, nanosecond resolution).

use crate::cgroup::CpuCounter;
use std::collections::HashMap;

/// Where a server's CPU time is read.
#[derive(Clone, Debug)]
pub enum CpuSource {
    /// The server's own cgroup: children included, exited ones too.
    Cgroup(CpuCounter),
    /// The sum over the live process tree under this pid.
    Tree(u32),
}

impl CpuSource {
    /// CPU seconds so far.
    pub fn secs(&self) -> Option<f64> {
        match self {
            CpuSource::Cgroup(c) => c.secs(),
            CpuSource::Tree(pid) => Some(tree_cpu_secs(*pid)),
        }
    }

    /// `cgroup` or `/proc tree`, for the report.
    pub fn name(&self) -> &'static str {
        match self {
            CpuSource::Cgroup(_) => "cgroup",
            CpuSource::Tree(_) => "/proc tree",
        }
    }
}

/// Seconds per clock tick of `/proc/PID/stat`.
fn tick() -> f64 {
    1.0 / rustix::param::clock_ticks_per_second().max(1) as f64
}

/// `(ppid, utime + stime + cutime + cstime in ticks)` of one process.
fn stat_of(pid: u32) -> Option<(u32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); ppid is field 4, utime..cstime are fields 14..17.
    let ppid = f.get(1)?.parse().ok()?;
    let mut t = 0u64;
    for i in 11..=14 {
        t += f.get(i)?.parse::<u64>().ok()?;
    }
    Some((ppid, t))
}

/// Every process in the tree rooted at `root` (itself included).
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((ppid, _)) = stat_of(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c.iter().copied());
        }
        i += 1;
    }
    out
}

/// CPU seconds used so far by the tree rooted at `root`, dead and reaped children included.
pub fn tree_cpu_secs(root: u32) -> f64 {
    let ticks: u64 = tree(root)
        .into_iter()
        .filter_map(stat_of)
        .map(|(_, t)| t)
        .sum();
    ticks as f64 * tick()
}

/// Proportional set size of the tree in bytes (shared pages split between sharers), from
/// `/proc/PID/smaps_rollup`; falls back to RSS from `/proc/PID/status` per process.
pub fn tree_pss_bytes(root: u32) -> u64 {
    tree(root).into_iter().map(pss_of).sum()
}

fn pss_of(pid: u32) -> u64 {
    let field = |file: &str, name: &str| -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        let line = s.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    };
    field("smaps_rollup", "Pss:")
        .or_else(|| field("status", "VmRSS:"))
        .unwrap_or(0)
}

/// CPU seconds (user + system, all threads) of this process so far.
pub fn self_cpu_secs() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// A CPU reading of the server tree and of this client, taken together.
#[derive(Clone, Copy, Debug)]
pub struct CpuMark {
    server: Option<f64>,
    client: f64,
}

impl CpuMark {
    /// Reads both now. `server` is where the server's CPU is read, if it runs on this
    /// machine and we know it.
    pub fn now(server: Option<&CpuSource>) -> CpuMark {
        CpuMark {
            server: server.and_then(CpuSource::secs),
            client: self_cpu_secs(),
        }
    }

    /// `(server, client)` CPU seconds since `earlier`.
    pub fn since(&self, earlier: &CpuMark) -> (Option<f64>, f64) {
        let server = match (self.server, earlier.server) {
            (Some(a), Some(b)) => Some((a - b).max(0.0)),
            _ => None,
        };
        (server, (self.client - earlier.client).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_accounted() {
        let me = std::process::id();
        assert!(tree(me).contains(&me));
        // Burn a little CPU so both clocks move.
        let mut x = 0u64;
        let t0 = self_cpu_secs();
        while self_cpu_secs() - t0 < 0.05 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        assert!(x != 1);
        assert!(tree_cpu_secs(me) > 0.0);
        assert!(tree_pss_bytes(me) > 0);
    }
}
