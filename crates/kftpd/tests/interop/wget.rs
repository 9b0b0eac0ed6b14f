//! GNU Wget (GnuTLS build): a directory listing, a byte-exact download, `-c` finishing a
//! partial local file with REST, and `-r` of a nested tree, in plain FTP, explicit FTPS
//! (`ftps://`, AUTH TLS + PROT P, data sessions resumed: `--ftps-resume-ssl` is its
//! default) and implicit FTPS (`--ftps-implicit`).
//!
//! Uploads: Wget only downloads, so there is no put here.

use crate::common::*;
use crate::harness::*;
use std::path::Path;
use std::process::Command;

fn url(srv: &Server, mode: Mode, path: &str) -> String {
    let scheme = if mode.tls() { "ftps" } else { "ftp" };
    format!("{scheme}://127.0.0.1:{}/{path}", port(srv, mode))
}

fn wget(srv: &Server, mode: Mode, cwd: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("timeout");
    cmd.args(["120", "wget", "--tries=1", "--timeout=30", "-nv"])
        .args(["--user", USER, "--password", PASS])
        .current_dir(cwd);
    if mode.tls() {
        // TLS 1.2: Wget 1.21 (GnuTLS) saves the control connection's session for its data
        // connections right after the handshake, which under TLS 1.3 is before the server's
        // session ticket has arrived; on a loaded machine it then resumes nothing and the
        // data connection gets 522 (session reuse is required). TLS 1.2 session IDs are
        // part of the handshake, so resumption is deterministic there.
        cmd.args(["--no-check-certificate", "--secure-protocol=TLSv1_2"]);
    }
    if mode == Mode::Implicit {
        cmd.arg("--ftps-implicit");
    }
    client_ok(srv, &format!("wget {args:?}"), cmd.args(args), 130)
}

fn run(mode: Mode) {
    if !need("wget") {
        return;
    }
    let srv = server(mode);
    let data = payload(11);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    std::fs::create_dir(srv.path("sub")).unwrap();
    make_tree(&srv.path("tree"));
    let tmp = tempfile::tempdir().unwrap();

    // The listing Wget parses (kept as .listing) names the file with its size.
    let ldir = tmp.path().join("listing");
    std::fs::create_dir(&ldir).unwrap();
    wget(
        &srv,
        mode,
        &ldir,
        &[
            "--no-remove-listing",
            "-O",
            "index.html",
            &url(&srv, mode, ""),
        ],
    );
    let listing = std::fs::read_to_string(ldir.join(".listing")).unwrap();
    assert!(
        listing.lines().any(|l| l.starts_with('-')
            && l.contains(&format!(" {} ", data.len()))
            && l.trim_end().ends_with(" big.bin")),
        "{listing}"
    );
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with('d') && l.trim_end().ends_with(" sub")),
        "{listing}"
    );
    let index = std::fs::read_to_string(ldir.join("index.html")).unwrap();
    assert!(index.contains("big.bin"), "{index}");

    // Byte-exact download.
    let got = tmp.path().join("got.bin");
    wget(
        &srv,
        mode,
        tmp.path(),
        &["-O", got.to_str().unwrap(), &url(&srv, mode, "big.bin")],
    );
    assert_eq!(sha_of(&got), sha256(&data), "download is byte-exact");

    // -c completes a partial local file from its size (REST).
    let cut = 1_234_567;
    let partial = tmp.path().join("big.bin");
    std::fs::write(&partial, &data[..cut]).unwrap();
    wget(&srv, mode, tmp.path(), &["-c", &url(&srv, mode, "big.bin")]);
    assert_eq!(sha_of(&partial), sha256(&data), "resumed download");
    let cmds = commands(&srv);
    assert!(
        cmds.iter().any(|c| c == &format!("REST {cut}")),
        "wget -c sends REST {cut}: {cmds:?}"
    );

    // -r fetches the nested tree.
    let rdir = tmp.path().join("rec");
    std::fs::create_dir(&rdir).unwrap();
    wget(
        &srv,
        mode,
        &rdir,
        &[
            "-r",
            "-nH",
            "--cut-dirs=1",
            "-P",
            "out",
            &url(&srv, mode, "tree/"),
        ],
    );
    let out = rdir.join("out");
    // Wget leaves its .listing files only with --no-remove-listing; none expected.
    assert_tree(&out, "wget -r");
    assert_mode_used(&srv, mode);
}

#[test]
fn wget_plain() {
    run(Mode::Plain);
}

#[test]
fn wget_explicit_ftps() {
    run(Mode::Explicit);
}

#[test]
fn wget_implicit_ftps() {
    run(Mode::Implicit);
}
