//! Running real client programs (curl, lftp, the `kftp` CLI, globus-url-copy) as a user
//! would: started here, timed from spawn to exit, their CPU read from a cgroup of their
//! own (else from their process trees, waited for with `WNOWAIT` so each exited client's
//! `/proc` entry still holds its totals), the server's CPU read around them, and then a
//! check of what arrived.

use crate::cgroup::Cgroup;
use crate::proc::{tree_cpu_secs, CpuSource};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `name` next to this executable, else on PATH.
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|e| e.with_file_name(name))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// One client run (or several started together): wall time, CPU of both sides, and
/// whether every client exited 0.
#[derive(Debug)]
pub struct Run {
    /// From the first spawn to the last exit.
    pub secs: f64,
    /// CPU seconds of the clients, children included.
    pub client_cpu: f64,
    /// CPU seconds of the server meanwhile, if accounted.
    pub server_cpu: Option<f64>,
    /// `Err` with the first failed client's last line.
    pub result: Result<(), String>,
}

/// A run that never started.
pub fn failed_run(why: String) -> Run {
    Run {
        secs: 0.0,
        client_cpu: 0.0,
        server_cpu: None,
        result: Err(why),
    }
}

/// Runs `cmd` to its end (or `limit`); its output goes to `log`.
pub fn measure(cmd: Command, server: Option<&CpuSource>, log: &Path, limit: Duration) -> Run {
    measure_all(vec![cmd], server, log, limit)
}

/// The log of the `i`-th of several clients: `log` itself for the first.
pub fn log_of(log: &Path, i: usize) -> PathBuf {
    if i == 0 {
        log.to_path_buf()
    } else {
        let mut s = log.as_os_str().to_owned();
        s.push(format!(".{i}"));
        PathBuf::from(s)
    }
}

/// Starts every command at once, each writing to its own [`log_of`] `log`, and waits for
/// all (killing them all at `limit`).
pub fn measure_all(
    cmds: Vec<Command>,
    server: Option<&CpuSource>,
    log: &Path,
    limit: Duration,
) -> Run {
    let cgroup = Cgroup::create("client").ok();
    let server_before = server.and_then(CpuSource::secs);
    let client_before = cgroup
        .as_ref()
        .and_then(|c| c.counter().secs())
        .unwrap_or(0.0);
    let t0 = Instant::now();
    let mut children: Vec<Child> = Vec::new();
    let mut result = Ok(());
    for (i, cmd) in cmds.into_iter().enumerate() {
        let mut cmd = match &cgroup {
            Some(cg) => cg.wrap(&cmd),
            None => cmd,
        };
        let out = match std::fs::File::create(log_of(log, i)).and_then(|f| Ok((f.try_clone()?, f)))
        {
            Ok(f) => f,
            Err(e) => {
                result = Err(format!("client log: {e}"));
                break;
            }
        };
        match cmd.stdin(Stdio::null()).stdout(out.0).stderr(out.1).spawn() {
            Ok(c) => children.push(c),
            Err(e) => {
                result = Err(format!("starting {:?}: {e}", cmd.get_program()));
                break;
            }
        }
    }
    let deadline = t0 + limit;
    let opts = rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::NOWAIT
        | rustix::process::WaitIdOptions::NOHANG;
    let mut timed_out = false;
    // Wait without reaping: an exited client's /proc entry still has its CPU totals.
    let mut left: Vec<usize> = (0..children.len()).collect();
    while !left.is_empty() {
        left.retain(|&i| {
            let Some(pid) = rustix::process::Pid::from_raw(children[i].id() as i32) else {
                return false;
            };
            matches!(
                rustix::process::waitid(rustix::process::WaitId::Pid(pid), opts),
                Ok(None)
            )
        });
        if left.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            for &i in &left {
                let _ = children[i].kill();
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let secs = t0.elapsed().as_secs_f64();
    let tree_cpu: f64 = children.iter().map(|c| tree_cpu_secs(c.id())).sum();
    let mut statuses = Vec::new();
    for c in &mut children {
        statuses.push(c.wait());
    }
    let client_cpu = cgroup
        .as_ref()
        .and_then(|c| c.counter().secs())
        .map(|a| (a - client_before).max(0.0))
        .unwrap_or(tree_cpu);
    let server_cpu = server
        .and_then(CpuSource::secs)
        .zip(server_before)
        .map(|(a, b)| (a - b).max(0.0));
    if result.is_ok() {
        result = if timed_out {
            Err(format!("no end within {} s", limit.as_secs()))
        } else {
            statuses
                .into_iter()
                .enumerate()
                .find_map(|(i, s)| match s {
                    Ok(s) if s.success() => None,
                    Ok(s) => Some(format!("{s}: {}", log_tail(&log_of(log, i)))),
                    Err(e) => Some(e.to_string()),
                })
                .map_or(Ok(()), Err)
        };
    }
    Run {
        secs,
        client_cpu,
        server_cpu,
        result,
    }
}

/// The last meaningful line a failed client wrote.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(160)
        .collect()
}

/// One file of `bytes` bytes, or `files` files, somewhere under `dst`.
pub fn check_received(dst: &Path, bytes: u64, files: usize) -> Result<(), String> {
    let mut got = Vec::new();
    let mut dirs = vec![dst.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| e.to_string())?.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                dirs.push(e.path());
            } else {
                got.push(m.len());
            }
        }
    }
    if files > 0 && got.len() != files {
        return Err(format!("received {} of {files} files", got.len()));
    }
    if bytes > 0 && got != [bytes] {
        return Err(format!("received {got:?} bytes, not one file of {bytes}"));
    }
    Ok(())
}

/// Whether two files hold the same bytes (read in 1 MiB blocks; both are page-cached).
pub fn same_bytes(a: &Path, b: &Path) -> Result<(), String> {
    use std::io::Read;
    let open =
        |p: &Path| std::fs::File::open(p).map_err(|e| format!("opening {}: {e}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut at = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(|e| e.to_string())?;
        let nb = read_full(&mut fb, &mut bb).map_err(|e| e.to_string())?;
        if na != nb || ba[..na] != bb[..nb] {
            return Err(format!(
                "{} differs from {} in the MiB at byte {at}",
                b.display(),
                a.display()
            ));
        }
        if na == 0 {
            return Ok(());
        }
        at += na as u64;
    }

    fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
}
