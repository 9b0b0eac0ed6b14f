//! lftp against the real server: ls, get, put, mv, rm, mirror both ways, pget with
//! several connections, and `put -c` finishing an interrupted upload.

use crate::harness::*;
use crate::util::*;
use std::path::Path;
use std::process::Command;

/// Runs an lftp script against `srv` (settings and `open` prepended); panics with lftp's
/// stderr and the server log unless every command succeeded.
fn lftp(srv: &Server, cwd: &Path, script: &str) -> String {
    let full = format!(
        "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; \
         set net:reconnect-interval-base 1; set cmd:fail-exit yes; set xfer:clobber yes; \
         open -u {USER},{PASS} ftp://{}; {script}",
        srv.host_port()
    );
    let (ok, out, err) = run_limited(
        Command::new("lftp").arg("-c").arg(&full).current_dir(cwd),
        60,
    );
    assert!(
        ok,
        "lftp failed: {script}\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n--- server log ---\n{}",
        plain_log(srv)
    );
    out
}

fn sha_of(p: &Path) -> String {
    sha256(&std::fs::read(p).unwrap())
}

#[test]
fn lftp_ls_get_put_mv_rm() {
    if !need("lftp") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes((6 << 20) + 3, 71);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    std::fs::write(srv.path("gone.txt"), b"bye\n").unwrap();
    std::fs::create_dir(srv.path("dir")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let up = random_bytes((2 << 20) + 99, 72);
    std::fs::write(tmp.path().join("local.bin"), &up).unwrap();

    let out = lftp(
        &srv,
        tmp.path(),
        "ls; get big.bin -o got.bin; put local.bin -o up.bin; mv up.bin dir/moved.bin; \
         rm gone.txt; cls -1 dir",
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('-') && l.contains(" 6291459 ") && l.ends_with(" big.bin")),
        "ls shows big.bin with its size: {out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" dir")),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "dir/moved.bin"), "{out}");
    assert_eq!(sha_of(&tmp.path().join("got.bin")), sha256(&data));
    assert_eq!(sha_of(&srv.path("dir/moved.bin")), sha256(&up));
    assert!(!srv.path("up.bin").exists() && !srv.path("gone.txt").exists());

    // A failing command fails the run (rm of a missing file: 550).
    let full = format!(
        "set ftp:ssl-allow no; set net:max-retries 1; set cmd:fail-exit yes; \
         open -u {USER},{PASS} ftp://{}; rm nope.txt",
        srv.host_port()
    );
    let (ok, _, err) = run_limited(Command::new("lftp").arg("-c").arg(&full), 30);
    assert!(!ok && err.contains("550"), "{err}");
}

#[test]
fn lftp_mirror_both_ways() {
    if !need("lftp") {
        return;
    }
    let srv = Server::start(&[]);
    std::fs::create_dir_all(srv.path("tree/a/b")).unwrap();
    let files = [
        ("tree/top.bin", random_bytes(300_000, 81)),
        ("tree/a/mid.txt", b"middle\n".to_vec()),
        ("tree/a/b/deep.bin", random_bytes(3 << 20, 82)),
        ("tree/a/b/empty", Vec::new()),
    ];
    // An old mtime, which mirror carries down (MLSD) and back up (MFMT, on the worker's
    // cached path since session 7).
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for (p, d) in &files {
        std::fs::write(srv.path(p), d).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(srv.path(p))
            .unwrap();
        f.set_modified(old).unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    lftp(&srv, tmp.path(), "mirror tree local; mirror -R local back");
    for (p, d) in &files {
        let rel = p.strip_prefix("tree/").unwrap();
        let local = tmp.path().join("local").join(rel);
        assert_eq!(sha_of(&local), sha256(d), "mirror: {rel}");
        let back = srv.path(&format!("back/{rel}"));
        assert_eq!(sha_of(&back), sha256(d), "mirror -R: {rel}");
        let mtime = std::fs::metadata(&back).unwrap().modified().unwrap();
        assert_eq!(mtime, old, "mirror -R kept the time of {rel}");
    }
    // No upload part files are left anywhere.
    let out = Command::new("find")
        .arg(srv.root())
        .args(["-name", "*.kftp-part"])
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn lftp_pget_segments() {
    if !need("lftp") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes(12 << 20, 91);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    lftp(
        &srv,
        tmp.path(),
        // Rate-limited per connection, or loopback finishes before the segments start.
        "set pget:min-chunk-size 1M; set net:limit-rate 3M; pget -n 4 big.bin -o seg.bin",
    );
    assert_eq!(sha_of(&tmp.path().join("seg.bin")), sha256(&data));
    // Segments on parallel connections, each a RETR from a REST offset (lftp may fold
    // a segment into the first connection when that one is ahead).
    let cmds = commands(&srv);
    let rest = cmds
        .iter()
        .filter(|c| c.starts_with("REST ") && *c != "REST 0");
    assert!(rest.count() >= 2, "pget -n 4 restarts at offsets: {cmds:?}");
    // The server is still healthy after segment connections were cut short.
    let mut c = srv.login();
    c.expect("NOOP", 200);
}

#[test]
fn lftp_put_c_resumes_interrupted_upload() {
    if !need("lftp") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes((5 << 20) + 1234, 101);
    let cut = 1_500_000;
    let mut c = interrupted_upload(&srv, "resume.bin", &data[..cut]);
    assert_eq!(
        c.expect("SIZE resume.bin", 213).text(),
        cut.to_string(),
        "SIZE reports the partial upload"
    );
    c.expect("QUIT", 221);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("resume.bin"), &data).unwrap();
    lftp(&srv, tmp.path(), "put -c resume.bin");
    assert_eq!(sha_of(&srv.path("resume.bin")), sha256(&data));
    assert!(!part_path(&srv, "resume.bin").exists());
    let cmds = commands(&srv);
    assert!(
        cmds.iter()
            .any(|c| c == &format!("REST {cut}") || c == "APPE resume.bin"),
        "put -c continues from the partial size: {cmds:?}"
    );
    // 226 for the resumed upload names only the bytes that were missing.
    let log = plain_log(&srv);
    assert!(
        log.contains(&format!("bytes={}", data.len() - cut)),
        "the resumed upload moved only the rest: {log}"
    );
}

#[test]
fn lftp_put_c_resumes_interrupted_replacement() {
    if !need("lftp") {
        return;
    }
    let srv = Server::start(&[]);
    std::fs::write(srv.path("doc.bin"), b"the old version of the document\n").unwrap();
    let data = random_bytes((3 << 20) + 11, 102);
    let cut = 1_000_000;
    let mut c = interrupted_upload(&srv, "doc.bin", &data[..cut]);
    c.expect("QUIT", 221);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("doc.bin"), &data).unwrap();
    lftp(&srv, tmp.path(), "put -c doc.bin");
    assert_eq!(
        sha256(&std::fs::read(srv.path("doc.bin")).unwrap()),
        sha256(&data),
        "the resumed replacement is byte-exact"
    );
    assert!(!part_path(&srv, "doc.bin").exists());
}
