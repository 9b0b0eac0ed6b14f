//! Python's aioftp (PyPI, installed under target/test-deps/python): the whole
//! [`Scenario`] (list via MLSD, get, put, REST+RETR, SIZE then REST+STOR, a tree both ways
//! with its recursive upload/download) in plain FTP, explicit FTPS (`upgrade_to_tls`: AUTH
//! TLS, PBSZ 0, PROT P) and implicit FTPS (`Client(ssl=...)`, which sends no PROT P and
//! expects TLS data connections: the implicit session must start protected). aioftp
//! resumes the control TLS session on its data connections, so the server is the strict
//! default.

use crate::common::*;
use crate::harness::*;
use std::process::Command;

const DRIVER: &str = include_str!("driver_aioftp.py");

fn run(mode: Mode) {
    if !need("python3") || !need_dep("python/aioftp/__init__.py", "aioftp (PyPI)") {
        return;
    }
    let srv = server(mode);
    let sc = Scenario::new(&srv);
    let script = sc.dir.path().join("driver.py");
    std::fs::write(&script, DRIVER).unwrap();
    let m = match mode {
        Mode::Plain => "plain",
        Mode::Explicit => "explicit",
        Mode::Implicit => "implicit",
    };
    let out = client_ok(
        &srv,
        &format!("aioftp driver ({m})"),
        Command::new("timeout")
            .args(["120", "python3"])
            .arg(&script)
            .args([m, &port(&srv, mode).to_string(), USER, PASS])
            .env("PYTHONPATH", test_deps().join("python"))
            .current_dir(sc.dir.path()),
        130,
    );
    sc.verify(&srv, mode, &out);
}

#[test]
fn aioftp_plain() {
    run(Mode::Plain);
}

#[test]
fn aioftp_explicit_ftps() {
    run(Mode::Explicit);
}

#[test]
fn aioftp_implicit_ftps() {
    run(Mode::Implicit);
}
