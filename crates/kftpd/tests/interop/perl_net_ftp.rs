//! Perl's Net::FTP (core perl; FTPS through Debian's IO::Socket::SSL): the whole
//! [`Scenario`] (LIST parsed from `dir`, get, put, REST+RETR with `get`'s offset, SIZE then
//! APPE, a tree both ways walked with `dir`) in plain FTP, explicit FTPS (`starttls` +
//! `prot('P')`) and implicit FTPS (`SSL => 1`, which sends no PROT: the implicit session
//! must start at PROT P).

use crate::common::*;
use crate::harness::*;
use std::process::Command;

const DRIVER: &str = include_str!("driver_net_ftp.pl");

/// Net::FTP over TLS 1.3 does not resume the control connection's session on its data
/// connections (on the strict server its first LIST gets "522 ... did not resume the
/// control connection's TLS session (full TLSv1.3 handshake)"), so the TLS modes get a
/// server that does not require it.
fn start(mode: Mode) -> (Server, &'static str) {
    if mode.tls() {
        relaxed_server(mode)
    } else {
        (server(mode), USER)
    }
}

fn run(mode: Mode) {
    if !need("perl") {
        return;
    }
    if mode.tls() {
        let (ok, _, _) = run_limited(Command::new("perl").args(["-MIO::Socket::SSL", "-e1"]), 30);
        if !ok {
            skip("IO::Socket::SSL is not installed (libio-socket-ssl-perl; scripts/install-test-deps.sh)");
            return;
        }
    }
    let (srv, user) = start(mode);
    let sc = Scenario::new(&srv);
    let script = sc.dir.path().join("driver.pl");
    std::fs::write(&script, DRIVER).unwrap();
    let m = match mode {
        Mode::Plain => "plain",
        Mode::Explicit => "explicit",
        Mode::Implicit => "implicit",
    };
    let out = client_ok(
        &srv,
        &format!("Net::FTP driver ({m})"),
        Command::new("timeout")
            .args(["120", "perl"])
            .arg(&script)
            .args([m, &port(&srv, mode).to_string(), user, PASS])
            .current_dir(sc.dir.path()),
        130,
    );
    sc.verify(&srv, mode, &out);
}

#[test]
fn net_ftp_plain() {
    run(Mode::Plain);
}

#[test]
fn net_ftp_explicit_ftps() {
    run(Mode::Explicit);
}

#[test]
fn net_ftp_implicit_ftps() {
    run(Mode::Implicit);
}
