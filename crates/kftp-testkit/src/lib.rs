//! Test support shared by the workspace's test suites. Dev-only: nothing ships with it.
//!
//! # Skips
//!
//! A test that cannot run here (a client program is missing, no IPv6 loopback, not root)
//! calls [`skip`] and returns. A skip is never silent:
//!
//! - under CI (`CI` set to anything but `false` or `0`) it **fails** the test, because CI
//!   installs everything the tests need and a skip there would hide a missing install step;
//! - elsewhere it prints `SKIP: <reason>` on the real standard error (past libtest's
//!   output capture, so it shows in a normal `cargo test` run) and, when `KFTP_SKIP_LOG`
//!   names a file, appends the reason there. `scripts/test` sets that variable and prints
//!   the skips as a summary after the run.
//!
//! # Servers
//!
//! [`Server`] is how every test starts kftpd: `.start()` runs the real binary (signals,
//! privilege drop, rlimits, Landlock, start-up output) and reads its start-up lines once,
//! in [`read_banner`]; `.start_in_process()` runs the same flags inside the test on the
//! current tokio runtime, for timer tests on a paused clock ([`InProcess`], [`AsyncCtl`]).

mod banner;
mod ctl;
mod in_process;
mod server;

pub use banner::{read_banner, Banner};
pub use ctl::AsyncCtl;
pub use in_process::InProcess;
pub use server::{kftp_bin, kftpd_bin, Running, Server};

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this run is CI's, where skipping is failing.
pub fn under_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !(v.is_empty() || v == "false" || v == "0"),
        Err(_) => false,
    }
}

/// Says why a test cannot run here: a failure under CI, a visible line elsewhere.
#[track_caller]
pub fn skip(reason: &str) {
    let at = std::panic::Location::caller();
    let test = std::thread::current().name().unwrap_or("?").to_string();
    if under_ci() {
        panic!("SKIP is a failure under CI ({test}, {at}): {reason}");
    }
    let line = format!("SKIP: {test}: {reason}");
    // `writeln!` to the stderr handle bypasses libtest's capture (which only hooks the
    // print macros), so the line is seen even when the test passes.
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Some(log) = std::env::var_os("KFTP_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Whether `prog` is on `PATH`.
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v '{prog}'"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether `prog` is on `PATH`; if not, [`skip`]s with the command that installs it.
#[track_caller]
pub fn need(prog: &str) -> bool {
    if have(prog) {
        return true;
    }
    skip(&format!(
        "{prog} is not installed (scripts/install-test-deps.sh installs every test client)"
    ));
    false
}

/// Polls `cond` every 20 ms for up to `limit`; whether it became true.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether this test process runs as root (effective uid 0: the owner of `/proc/self`).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Flags every test that starts `kftpd` passes: kftpd refuses to serve as root without
/// `--user` unless told `--allow-root`, and the tests run as root in CI.
pub fn kftpd_root_args() -> &'static [&'static str] {
    if running_as_root() {
        &["--allow-root"]
    } else {
        &[]
    }
}
