//! rclone's FTP backend (Go, jlaffaye/ftp): lsl/lsf, copyto both ways, and copy of a
//! nested tree both ways, in plain FTP, explicit FTPS (`explicit_tls`) and implicit FTPS
//! (`tls`).
//!
//! Resume: rclone has none for FTP (it neither continues a partial download nor sends
//! REST/APPE for uploads; an interrupted transfer is redone whole), so there is no resume
//! check here.

use crate::common::*;
use crate::harness::*;
use std::path::Path;
use std::process::Command;

/// rclone 1.60 does not reliably resume its control connection's TLS session on the data
/// connections: one transfer on one connection passes on the strict server, but `copy` of
/// a tree (several control connections at once) gets "522 ... did not resume the control
/// connection's TLS session (full TLSv1.3 handshake)", with rustls logging "rejected
/// over-length ticket": a data connection offers a ticket from another control connection
/// (seemingly one client session cache per host, shared by all connections). So it gets
/// a server that does not require resumption.
fn start(mode: Mode) -> (Server, &'static str) {
    relaxed_server(mode)
}

/// The on-the-fly remote for `srv` in `mode` (no config file entry needed).
fn remote(srv: &Server, user: &str, mode: Mode) -> String {
    let (ok, obscured, err) =
        crate::util::run_limited(Command::new("rclone").args(["obscure", PASS]), 30);
    assert!(ok, "rclone obscure: {err}");
    let tls = match mode {
        Mode::Plain => "",
        Mode::Explicit => ",explicit_tls=true,no_check_certificate=true",
        Mode::Implicit => ",tls=true,no_check_certificate=true",
    };
    format!(
        ":ftp,host=127.0.0.1,port={},user={user},pass={}{tls}:",
        port(srv, mode),
        obscured.trim()
    )
}

fn rclone(srv: &Server, cfg: &Path, args: &[&str]) -> String {
    client_ok(
        srv,
        &format!("rclone {args:?}"),
        Command::new("timeout")
            .args(["120", "rclone", "--config"])
            .arg(cfg)
            .args([
                "--retries",
                "1",
                "--low-level-retries",
                "1",
                "--contimeout",
                "10s",
                "--timeout",
                "30s",
            ])
            .args(args),
        130,
    )
}

fn round_trip(mode: Mode) {
    if !need("rclone") {
        return;
    }
    let (srv, user) = start(mode);
    let r = remote(&srv, user, mode);
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("rclone.conf");
    std::fs::write(&cfg, "").unwrap();
    let data = payload(1);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    std::fs::create_dir(srv.path("sub")).unwrap();

    // Listings: sizes and names, directories marked.
    let lsl = rclone(&srv, &cfg, &["lsl", "--max-depth", "1", &r]);
    assert!(
        lsl.lines()
            .any(|l| l.trim_start().starts_with(&format!("{} ", data.len()))
                && l.ends_with(" big.bin")),
        "lsl shows big.bin with its size: {lsl}"
    );
    let lsf = rclone(&srv, &cfg, &["lsf", &r]);
    let mut names: Vec<&str> = lsf.lines().collect();
    names.sort();
    assert_eq!(names, ["big.bin", "sub/"], "{lsf}");

    // Byte-exact download and upload.
    let got = tmp.path().join("got.bin");
    rclone(
        &srv,
        &cfg,
        &["copyto", &format!("{r}big.bin"), got.to_str().unwrap()],
    );
    assert_eq!(sha_of(&got), sha256(&data), "download is byte-exact");
    let up = payload(2);
    let src = tmp.path().join("up.bin");
    std::fs::write(&src, &up).unwrap();
    rclone(
        &srv,
        &cfg,
        &["copyto", src.to_str().unwrap(), &format!("{r}sub/up.bin")],
    );
    assert_eq!(
        sha_of(&srv.path("sub/up.bin")),
        sha256(&up),
        "upload is byte-exact"
    );

    // A nested tree up, then down again.
    let local = tmp.path().join("tree");
    make_tree(&local);
    rclone(
        &srv,
        &cfg,
        &["copy", local.to_str().unwrap(), &format!("{r}tree")],
    );
    assert_tree(&srv.path("tree"), "rclone copy up");
    let back = tmp.path().join("back");
    rclone(
        &srv,
        &cfg,
        &["copy", &format!("{r}tree"), back.to_str().unwrap()],
    );
    assert_tree(&back, "rclone copy down");
    assert!(part_files(&srv).is_empty(), "{:?}", part_files(&srv));
    assert_mode_used(&srv, mode);
}

#[test]
fn rclone_plain() {
    round_trip(Mode::Plain);
}

#[test]
fn rclone_explicit_ftps() {
    round_trip(Mode::Explicit);
}

#[test]
fn rclone_implicit_ftps() {
    round_trip(Mode::Implicit);
}
