//! Node's basic-ftp (npm, installed under target/test-deps/node_modules): the whole
//! [`Scenario`] (list via MLSD, get, put, REST+RETR, SIZE then APPE, a tree both ways with
//! uploadFromDir/downloadToDir) in plain FTP, explicit FTPS (`secure: true`) and implicit
//! FTPS (`secure: "implicit"`). basic-ftp resumes the control TLS session on every data
//! connection, so it runs against the strict default server.

use crate::common::*;
use crate::harness::*;
use std::process::Command;

const DRIVER: &str = include_str!("driver_basic_ftp.js");

fn run(mode: Mode) {
    if !need("node") || !need_dep("node_modules/basic-ftp/package.json", "basic-ftp (npm)") {
        return;
    }
    let srv = server(mode);
    let sc = Scenario::new(&srv);
    let script = sc.dir.path().join("driver.js");
    std::fs::write(&script, DRIVER).unwrap();
    let m = match mode {
        Mode::Plain => "plain",
        Mode::Explicit => "explicit",
        Mode::Implicit => "implicit",
    };
    let out = client_ok(
        &srv,
        &format!("basic-ftp driver ({m})"),
        Command::new("timeout")
            .args(["120", "node"])
            .arg(&script)
            .args([m, &port(&srv, mode).to_string(), USER, PASS])
            .env("NODE_PATH", test_deps().join("node_modules"))
            .current_dir(sc.dir.path()),
        130,
    );
    sc.verify(&srv, mode, &out);
}

#[test]
fn basic_ftp_plain() {
    run(Mode::Plain);
}

#[test]
fn basic_ftp_explicit_ftps() {
    run(Mode::Explicit);
}

#[test]
fn basic_ftp_implicit_ftps() {
    run(Mode::Implicit);
}
