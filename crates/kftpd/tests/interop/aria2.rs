//! aria2c: a segmented download (`-x4 -s4`: four connections, each RETR from its own REST
//! offset and cut short when its segment is done) and `-c` completing a partial local file.
//!
//! Plain FTP only: aria2 has no FTPS (neither AUTH TLS nor implicit), and it neither
//! lists, uploads nor recurses, so those checks are not here.

use crate::common::*;
use crate::harness::*;
use std::path::Path;
use std::process::Command;

fn aria2c(srv: &Server, dir: &Path, args: &[&str]) {
    client_ok(
        srv,
        &format!("aria2c {args:?}"),
        Command::new("timeout")
            .args(["120", "aria2c", "--no-conf", "--console-log-level=warn"])
            .args(["--summary-interval=0", "--max-tries=1", "--timeout=30"])
            .args(["--file-allocation=none", "--ftp-pasv=true"])
            // With connection reuse on, aria2 (1.36) waits for the 226 of a segment whose
            // RETR the server finished at once (the whole rest fits in the socket
            // buffers, so 150 and 226 arrive together) by polling the socket, not its
            // buffer: "Timeout before receiving transfer complete" after --timeout (30 s),
            // then the download still succeeds. Not reusing connections skips that wait.
            .arg("--ftp-reuse-connection=false")
            .args([
                &format!("--ftp-user={USER}"),
                &format!("--ftp-passwd={PASS}"),
            ])
            .arg("-d")
            .arg(dir)
            .args(args),
        130,
    );
}

#[test]
fn aria2c_segmented_download() {
    if !need("aria2c") {
        return;
    }
    let srv = server(Mode::Plain);
    let data = random_bytes((12 << 20) + 777, 21);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    aria2c(
        &srv,
        tmp.path(),
        &[
            "-x4",
            "-s4",
            "--min-split-size=1M",
            // Slow enough that all four segments start before the first one could
            // fetch the whole file over loopback.
            "--max-download-limit=6M",
            "-o",
            "seg.bin",
            &format!("ftp://127.0.0.1:{}/big.bin", srv.addr.port()),
        ],
    );
    assert_eq!(
        sha_of(&tmp.path().join("seg.bin")),
        sha256(&data),
        "segmented download is byte-exact"
    );
    let cmds = commands(&srv);
    let mut offsets: Vec<u64> = cmds
        .iter()
        .filter_map(|c| c.strip_prefix("REST "))
        .filter_map(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .collect();
    offsets.sort();
    offsets.dedup();
    assert!(
        offsets.len() >= 2,
        "segments RETR from several REST offsets: {cmds:?}"
    );
    let logins = cmds.iter().filter(|c| c.starts_with("USER ")).count();
    assert!(logins >= 2, "segments on parallel connections: {cmds:?}");
    // The server is still healthy after segment connections were cut short.
    let mut c = srv.login();
    c.expect("NOOP", 200);
    assert_mode_used(&srv, Mode::Plain);
}

#[test]
fn aria2c_continue_partial_file() {
    if !need("aria2c") {
        return;
    }
    let srv = server(Mode::Plain);
    let data = payload(22);
    std::fs::write(srv.path("r.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = 1_500_001;
    std::fs::write(tmp.path().join("r.bin"), &data[..cut]).unwrap();
    aria2c(
        &srv,
        tmp.path(),
        &[
            "-c",
            "-x1",
            "-s1",
            &format!("ftp://127.0.0.1:{}/r.bin", srv.addr.port()),
        ],
    );
    assert_eq!(
        sha_of(&tmp.path().join("r.bin")),
        sha256(&data),
        "the partial file was completed byte-exact"
    );
    let cmds = commands(&srv);
    // aria2 continues from the last whole piece (16 KiB) of the local file.
    let rest: Vec<u64> = cmds
        .iter()
        .filter_map(|c| c.strip_prefix("REST "))
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(
        rest.len() == 1 && rest[0] > cut as u64 - (16 << 10) && rest[0] <= cut as u64,
        "aria2c -c continues from the local size: {cmds:?}"
    );
    assert_mode_used(&srv, Mode::Plain);
}
