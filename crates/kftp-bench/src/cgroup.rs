//! CPU accounting by cgroup: each server (and each external client run) is moved into a
//! cgroup of its own right after it starts, before it accepts a connection, so every
//! process it forks later is counted too, including sessions that exited and were never
//! visible to a `/proc` walk between two readings.
//!
//! Which hierarchy: cgroup v1 `cpuacct` (`cpuacct.usage`, nanoseconds) if mounted at
//! `/sys/fs/cgroup/cpuacct`, else cgroup2 at `/sys/fs/cgroup/unified` (hybrid systemd
//! layout) or at `/sys/fs/cgroup` (a fresh Debian), whose `cpu.stat` has `usage_usec`
//! without the cpu controller enabled. The first one we can make a directory in wins;
//! when none is writable (not root, a read-only mount) [`Cgroup::create`] says why and the
//! caller falls back to `crate::proc`'s tree sum.
//!
//! A cgroup is removed on drop; whatever still runs in it (a forked session the server's
//! SIGTERM left behind) is killed first, since an occupied cgroup cannot be removed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How a hierarchy reports CPU time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// cgroup v1 cpuacct: `cpuacct.usage` is one number, nanoseconds.
    V1,
    /// cgroup2: `cpu.stat` has a `usage_usec` line.
    V2,
}

/// The mount points tried, in order.
const HIERARCHIES: [(&str, Kind); 3] = [
    ("/sys/fs/cgroup/cpuacct", Kind::V1),
    ("/sys/fs/cgroup/unified", Kind::V2),
    ("/sys/fs/cgroup", Kind::V2),
];

/// Reads one cgroup's CPU total; cheap to clone into every measurement.
#[derive(Clone, Debug)]
pub struct CpuCounter {
    file: PathBuf,
    kind: Kind,
}

impl CpuCounter {
    /// CPU seconds used in the cgroup so far (all its processes, alive or gone), or
    /// `None` if the file cannot be read (the cgroup was removed).
    pub fn secs(&self) -> Option<f64> {
        let text = std::fs::read_to_string(&self.file).ok()?;
        match self.kind {
            Kind::V1 => text.trim().parse::<u64>().ok().map(|ns| ns as f64 * 1e-9),
            Kind::V2 => text
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|us| us as f64 * 1e-6),
        }
    }
}

/// A cgroup this process made; removed on drop.
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    counter: CpuCounter,
}

/// Makes names unique within this run.
static SEQ: AtomicU32 = AtomicU32::new(0);

impl Cgroup {
    /// A new, empty cgroup named after `label` in the first writable hierarchy.
    pub fn create(label: &str) -> Result<Cgroup, String> {
        let name = format!(
            "kftp-bench-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            label.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let mut why = Vec::new();
        for (mount, kind) in HIERARCHIES {
            let base = Path::new(mount);
            let (marker, file) = match kind {
                Kind::V1 => ("cpuacct.usage", "cpuacct.usage"),
                Kind::V2 => ("cgroup.controllers", "cpu.stat"),
            };
            if !base.join(marker).is_file() {
                continue;
            }
            let dir = base.join(&name);
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    let counter = CpuCounter {
                        file: dir.join(file),
                        kind,
                    };
                    let cg = Cgroup { dir, counter };
                    // cgroup2 without usage_usec (very old kernels) is no use.
                    if cg.counter.secs().is_some() {
                        return Ok(cg);
                    }
                    why.push(format!("{mount}: no CPU usage in {file}"));
                }
                Err(e) => why.push(format!("{mount}: {e}")),
            }
        }
        if why.is_empty() {
            why.push("no cgroup v1 cpuacct or cgroup2 mount under /sys/fs/cgroup".into());
        }
        Err(why.join("; "))
    }

    /// Moves process `pid` (all its threads) into this cgroup; its future children follow.
    pub fn add(&self, pid: u32) -> Result<(), String> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .map_err(|e| format!("moving {pid} into {}: {e}", self.dir.display()))
    }

    /// `cmd` started inside this cgroup: a shell writes its own pid into `cgroup.procs`
    /// and then execs the program, so nothing the program does runs outside (adding the
    /// pid after spawn misses a client that finishes before the parent is scheduled
    /// again). Arguments, environment and working directory are carried over.
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut w = Command::new("/bin/sh");
        w.arg("-c")
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(self.dir.join("cgroup.procs"))
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => w.env(k, v),
                None => w.env_remove(k),
            };
        }
        if let Some(d) = cmd.get_current_dir() {
            w.current_dir(d);
        }
        w
    }

    /// The CPU reader of this cgroup.
    pub fn counter(&self) -> CpuCounter {
        self.counter.clone()
    }

    fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let pids = self.pids();
            if pids.is_empty() || Instant::now() >= deadline {
                break;
            }
            // Only processes this run started (or their children) are in here.
            for p in pids {
                if let Some(pid) = rustix::process::Pid::from_raw(p as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_counted_and_the_cgroup_removed() {
        let cg = match Cgroup::create("selftest") {
            Ok(cg) => cg,
            Err(why) => {
                // Not root, or no cgroup mount: the bench falls back to /proc.
                eprintln!("no cgroup here: {why}");
                return;
            }
        };
        let dir = cg.dir.clone();
        let before = cg.counter().secs().unwrap();
        let mut child = Command::new("sh")
            .args([
                "-c",
                "read x; i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done",
            ])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        cg.add(child.id()).unwrap();
        assert_eq!(cg.pids(), vec![child.id()]);
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        assert!(cg.counter().secs().unwrap() > before);
        // A wrapped command is inside from its first instruction, even a short one.
        let mut short = Command::new("true");
        short.env("KFTP_BENCH_WRAP", "1");
        let mid = cg.counter().secs().unwrap();
        assert!(cg.wrap(&short).status().unwrap().success());
        assert!(cg.counter().secs().unwrap() > mid);
        drop(cg);
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
}
