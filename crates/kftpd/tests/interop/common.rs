//! What every client module shares: the three connection modes, the servers they run
//! against, the test data (a few MiB of random bytes and a small nested tree), and running
//! a client program with a hard time limit.
#![allow(dead_code)] // Shared by the client modules; not every module uses every helper.

use crate::harness::*;
pub use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a client reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Clear-text FTP (the harness's loopback listener allows it).
    Plain,
    /// AUTH TLS on the plain port, then PBSZ 0 + PROT P.
    Explicit,
    /// TLS from the first byte, on the `--implicit-listen` port.
    Implicit,
}

impl Mode {
    pub fn tls(self) -> bool {
        self != Mode::Plain
    }
}

/// A server for `mode` whose PROT P data connections must resume the control connection's
/// TLS session (the default). Implicit mode adds the implicit listener.
pub fn server(mode: Mode) -> Server {
    match mode {
        Mode::Implicit => Server::start(&["--implicit-listen", "127.0.0.1:0"]),
        _ => Server::start(&[]),
    }
}

/// A server for clients that cannot resume the control TLS session on their data
/// connections (Commons Net's FTPSClient, Perl Net::FTP with TLS 1.3, rclone 1.60), and
/// the user they log in as (password [`PASS`]): the strict default server, and the
/// harness's account with `tls_reuse_required = false` in the users file, so only these
/// clients' sessions are relaxed.
pub fn relaxed_server(mode: Mode) -> (Server, &'static str) {
    (server(mode), RELAXED)
}

/// The control port a client in `mode` connects to.
pub fn port(srv: &Server, mode: Mode) -> u16 {
    match mode {
        Mode::Implicit => srv.implicit_addr.expect("implicit listener").port(),
        _ => srv.addr.port(),
    }
}

/// The project-local directory of npm and PyPI test clients that
/// `scripts/install-test-deps.sh` fills (`target/test-deps` of the workspace).
pub fn test_deps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-deps")
}

/// Whether a project-local test dependency is installed at `rel` under [`test_deps`];
/// if not, skips (a failure under CI) with the script that installs it.
#[track_caller]
pub fn need_dep(rel: &str, what: &str) -> bool {
    if test_deps().join(rel).exists() {
        return true;
    }
    skip(&format!(
        "{what} is not installed in {} (run scripts/install-test-deps.sh)",
        test_deps().display()
    ));
    false
}

/// SHA-256 of a file's contents.
pub fn sha_of(p: &Path) -> String {
    sha256(&std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
}

/// The nested tree every client mirrors: relative path and contents. Three levels of
/// directories, a binary file at each level, a text file and an empty file.
pub fn tree_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("top.bin", random_bytes(300_001, 901)),
        ("a/mid.txt", b"middle of the tree\n".to_vec()),
        ("a/b/deep.bin", random_bytes((1 << 20) + 13, 902)),
        ("a/b/c/deepest.bin", random_bytes(70_000, 903)),
        ("a/b/c/empty", Vec::new()),
        ("z/other.bin", random_bytes(5_000, 904)),
    ]
}

/// Writes [`tree_files`] under `dir` (created).
pub fn make_tree(dir: &Path) {
    for (rel, data) in tree_files() {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

/// Asserts that `dir` holds [`tree_files`] byte for byte, and no other file.
#[track_caller]
pub fn assert_tree(dir: &Path, what: &str) {
    assert_tree_except(dir, what, &[]);
}

/// [`assert_tree`] without the files named in `except` (which must be absent too).
#[track_caller]
pub fn assert_tree_except(dir: &Path, what: &str, except: &[&str]) {
    let files: Vec<_> = tree_files()
        .into_iter()
        .filter(|(rel, _)| !except.contains(rel))
        .collect();
    for (rel, data) in &files {
        let p = dir.join(rel);
        assert!(p.is_file(), "{what}: {} missing", p.display());
        assert_eq!(sha_of(&p), sha256(data), "{what}: {rel} differs");
    }
    let mut found = Vec::new();
    walk(dir, dir, &mut found);
    found.sort();
    let mut want: Vec<String> = files.iter().map(|(r, _)| r.to_string()).collect();
    want.sort();
    assert_eq!(found, want, "{what}: the files under {}", dir.display());
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(base, &p, out);
        } else {
            out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
        }
    }
}

/// Upload part files left anywhere under the served root.
pub fn part_files(srv: &Server) -> Vec<PathBuf> {
    let mut all = Vec::new();
    walk(srv.root(), srv.root(), &mut all);
    all.into_iter()
        .filter(|p| p.ends_with(".kftp-part"))
        .map(PathBuf::from)
        .collect()
}

/// Runs a client program under a hard limit of `secs`; panics with its output and the
/// server log unless it exited 0. Returns its stdout.
#[track_caller]
pub fn client_ok(srv: &Server, what: &str, cmd: &mut Command, secs: u64) -> String {
    let (ok, out, err) = run_limited(cmd, secs);
    assert!(
        ok,
        "{what} failed\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n--- server log ---\n{}",
        plain_log(srv)
    );
    out
}

/// The data every single-file transfer moves: a few MiB of random bytes, not a multiple
/// of any buffer size.
pub fn payload(seed: u64) -> Vec<u8> {
    random_bytes((4 << 20) + 4321, seed)
}

/// Asserts from the server's log that the session(s) used `mode`: the TLS modes took
/// their own way in (AUTH TLS + PROT P, or none of it on the implicit port) and moved every
/// completed transfer over TLS; the plain mode used no TLS at all.
#[track_caller]
pub fn assert_mode_used(srv: &Server, mode: Mode) {
    let log = plain_log(srv);
    let cmds = commands(srv);
    let paths: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("transfer complete"))
        // Listings are rendered through a buffer and always log `copy`; files name the path.
        .filter(|l| {
            ["RETR", "STOR", "APPE"]
                .iter()
                .any(|v| l.contains(&format!("verb=\"{v}\"")))
        })
        .filter_map(|l| l.split(" data_path=").nth(1))
        .map(|p| p.split_whitespace().next().unwrap_or("").trim_matches('"'))
        .collect();
    assert!(
        !paths.is_empty(),
        "no completed file transfer logged: {log}"
    );
    let tls = |p: &&str| p.starts_with("tls-") || p.starts_with("ktls-");
    match mode {
        Mode::Plain => {
            assert!(
                !cmds.iter().any(|c| c.starts_with("AUTH")),
                "plain mode sends no AUTH: {cmds:?}"
            );
            assert!(!paths.iter().any(tls), "plain transfers: {paths:?}");
        }
        Mode::Explicit | Mode::Implicit => {
            if mode == Mode::Explicit {
                assert!(
                    cmds.iter().any(|c| c == "AUTH TLS" || c == "AUTH SSL"),
                    "explicit mode sends AUTH TLS: {cmds:?}"
                );
            } else {
                assert!(
                    !cmds.iter().any(|c| c.starts_with("AUTH")),
                    "implicit mode needs no AUTH: {cmds:?}"
                );
            }
            assert!(
                paths.iter().all(tls),
                "every transfer is protected: {paths:?}"
            );
        }
    }
}

/// The session every library client (Commons Net, basic-ftp, aioftp, Net::FTP) runs as a
/// small driver program, in its working directory [`Scenario::dir`]:
///
/// 1. list `/` and print one line per entry: `LIST <name> <size> <f|d>`;
/// 2. download `big.bin` to `got.bin`;
/// 3. upload `up.bin` to `/up.bin`;
/// 4. resume the download of `big.bin` into `partial.bin` from its local size (REST);
/// 5. resume the interrupted upload of `resume.bin`: ask the server its SIZE (what the
///    part file holds), then send the rest (REST+STOR or APPE);
/// 6. upload the local `tree/` to `/tree-up`, and download `/tree` to `tree-down/`,
///    walking directories with the client's own listing;
/// 7. print `DONE` and quit.
pub struct Scenario {
    pub dir: tempfile::TempDir,
    big: Vec<u8>,
    up: Vec<u8>,
    resume: Vec<u8>,
    cut_dl: usize,
    cut_ul: usize,
}

impl Scenario {
    /// Lays out both sides: `big.bin`, `tree/` and an interrupted upload of `resume.bin`
    /// (a part file of `cut_ul` bytes, left by a broken STOR) on the server; `up.bin`,
    /// `tree/`, `partial.bin` (a prefix of `big.bin`) and the whole `resume.bin` locally.
    pub fn new(srv: &Server) -> Scenario {
        let big = payload(1);
        let up = payload(2);
        let resume = payload(3);
        let (cut_dl, cut_ul) = (1_234_567, 1_000_000);
        std::fs::write(srv.path("big.bin"), &big).unwrap();
        make_tree(&srv.path("tree"));
        let mut c = interrupted_upload(srv, "resume.bin", &resume[..cut_ul]);
        c.expect("QUIT", 221);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("up.bin"), &up).unwrap();
        std::fs::write(dir.path().join("partial.bin"), &big[..cut_dl]).unwrap();
        std::fs::write(dir.path().join("resume.bin"), &resume).unwrap();
        make_tree(&dir.path().join("tree"));
        Scenario {
            dir,
            big,
            up,
            resume,
            cut_dl,
            cut_ul,
        }
    }

    /// Checks every step's result from the driver's output, both file trees and the
    /// commands the server received.
    #[track_caller]
    pub fn verify(&self, srv: &Server, mode: Mode, out: &str) {
        self.verify_except(srv, mode, out, &[]);
    }

    /// [`Scenario::verify`], where the driver was told not to upload the tree files in
    /// `not_uploaded` (a client fault worked around, named where this is called).
    #[track_caller]
    pub fn verify_except(&self, srv: &Server, mode: Mode, out: &str, not_uploaded: &[&str]) {
        let d = self.dir.path();
        assert!(
            out.lines()
                .any(|l| l.trim() == format!("LIST big.bin {} f", self.big.len())),
            "the listing names big.bin, its size and type:\n{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.trim().starts_with("LIST tree ") && l.trim().ends_with(" d")),
            "the listing names the directory tree:\n{out}"
        );
        assert!(
            out.lines().any(|l| l.trim() == "DONE"),
            "the driver ran to the end:\n{out}"
        );
        assert_eq!(sha_of(&d.join("got.bin")), sha256(&self.big), "download");
        assert_eq!(sha_of(&srv.path("up.bin")), sha256(&self.up), "upload");
        assert_eq!(
            sha_of(&d.join("partial.bin")),
            sha256(&self.big),
            "resumed download"
        );
        assert_eq!(
            sha_of(&srv.path("resume.bin")),
            sha256(&self.resume),
            "resumed upload"
        );
        let cmds = commands(srv);
        assert!(
            cmds.iter().any(|c| c == &format!("REST {}", self.cut_dl)),
            "the download resumed with REST {}: {cmds:?}",
            self.cut_dl
        );
        assert!(
            cmds.iter().any(|c| c == &format!("REST {}", self.cut_ul))
                || cmds.iter().any(|c| c == "APPE resume.bin"),
            "the upload resumed with REST {} or APPE: {cmds:?}",
            self.cut_ul
        );
        let log = plain_log(srv);
        assert!(
            log.contains(&format!("bytes={}", self.resume.len() - self.cut_ul)),
            "the resumed upload sent only the missing bytes: {log}"
        );
        assert_tree_except(&srv.path("tree-up"), "tree uploaded", not_uploaded);
        assert_tree(&d.join("tree-down"), "tree downloaded");
        assert!(part_files(srv).is_empty(), "{:?}", part_files(srv));
        assert_mode_used(srv, mode);
    }
}
