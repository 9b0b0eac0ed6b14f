//! Apache Commons Net (Debian's libcommons-net-java): `FTPClient` in plain FTP and
//! `FTPSClient` in explicit (AUTH TLS) and implicit FTPS, running the whole [`Scenario`]
//! (list, get, put, REST+RETR, SIZE then REST+STOR, a tree both ways) from `Driver.java`,
//! compiled with javac into a temp directory once per test run.

use crate::common::*;
use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const JAR: &str = "/usr/share/java/commons-net.jar";
const DRIVER: &str = include_str!("Driver.java");

/// The directory holding the compiled `Driver.class` (None if javac failed: that fails
/// the test that asked).
fn compiled() -> &'static Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        // Under the target directory (a few KiB a run), replaced on the next run.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-java");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let src = dir.join("Driver.java");
        std::fs::write(&src, DRIVER).map_err(|e| e.to_string())?;
        let (ok, out, err) = run_limited(
            Command::new("javac")
                .args(["-nowarn", "-cp", JAR, "-d"])
                .arg(&dir)
                .arg(&src),
            180,
        );
        if ok {
            Ok(dir)
        } else {
            Err(format!("javac failed:\n{out}\n{err}"))
        }
    })
}

/// Commons Net's FTPSClient opens every data connection with a new TLS session (it has no
/// way to resume the control connection's), so it gets a server that allows that.
fn start(mode: Mode) -> (Server, &'static str) {
    if mode.tls() {
        relaxed_server(mode)
    } else {
        (server(mode), USER)
    }
}

fn run(mode: Mode) {
    if !need("javac") || !need("java") {
        return;
    }
    if !Path::new(JAR).exists() {
        skip(&format!(
            "{JAR} is missing (libcommons-net-java; scripts/install-test-deps.sh installs it)"
        ));
        return;
    }
    let classes = compiled().as_ref().unwrap_or_else(|e| panic!("{e}"));
    let (srv, user) = start(mode);
    let sc = Scenario::new(&srv);
    let m = match mode {
        Mode::Plain => "plain",
        Mode::Explicit => "explicit",
        Mode::Implicit => "implicit",
    };
    let out = client_ok(
        &srv,
        &format!("Commons Net driver ({m})"),
        Command::new("timeout")
            .args(["120", "java", "-cp"])
            .arg(format!("{JAR}:{}", classes.display()))
            .args(["Driver", m, &port(&srv, mode).to_string(), user, PASS])
            .current_dir(sc.dir.path()),
        130,
    );
    sc.verify(&srv, mode, &out);
}

#[test]
fn commons_net_plain() {
    run(Mode::Plain);
}

#[test]
fn commons_net_explicit_ftps() {
    run(Mode::Explicit);
}

#[test]
fn commons_net_implicit_ftps() {
    run(Mode::Implicit);
}
