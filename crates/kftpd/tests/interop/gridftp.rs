//! GridFTP's own client, `globus-url-copy` (Debian's globus-gass-copy-progs), in MODE E
//! (extended block mode) with four parallel streams: a byte-exact download and upload of a
//! multi-MiB file, plain FTP with no data channel authentication (`-nodcau`). The server's
//! log shows that the transfers really ran in MODE E over four streams.

use crate::common::*;
use crate::harness::*;
use std::process::Command;

fn url(srv: &Server, path: &str) -> String {
    format!("ftp://{USER}:{PASS}@{}/{path}", srv.host_port())
}

fn guc(srv: &Server, from: &str, to: &str) -> String {
    let mut cmd = Command::new("globus-url-copy");
    cmd.args(["-nodcau", "-p", "4", "-vb", "-dbg", from, to]);
    let (ok, out, err) = run_limited(&mut cmd, 120);
    assert!(
        ok,
        "globus-url-copy {from} {to} failed\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n--- server log ---\n{}",
        plain_log(srv)
    );
    err
}

#[test]
fn globus_url_copy_parallel_download_and_upload() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = server(Mode::Plain);
    let data = payload(17);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();

    // Download: kftpd connects four streams to the client's PORT and sends blocks.
    let got = tmp.path().join("got.bin");
    let dbg = guc(
        &srv,
        &url(&srv, "big.bin"),
        &format!("file://{}", got.display()),
    );
    assert!(dbg.contains("MODE E"), "{dbg}");
    assert!(dbg.contains("Parallelism=4,4,4"), "{dbg}");
    assert_eq!(sha_of(&got), sha256(&data), "download differs");

    // Upload: the client connects to PASV and sends blocks; kftpd writes them at their
    // offsets.
    let up = payload(18);
    let src = tmp.path().join("up.bin");
    std::fs::write(&src, &up).unwrap();
    guc(
        &srv,
        &format!("file://{}", src.display()),
        &url(&srv, "sent.bin"),
    );
    assert_eq!(sha_of(&srv.path("sent.bin")), sha256(&up), "upload differs");
    assert!(part_files(&srv).is_empty(), "{:?}", part_files(&srv));

    let cmds = commands(&srv);
    assert!(cmds.iter().any(|c| c == "MODE E"), "{cmds:?}");
    let log = plain_log(&srv);
    assert_eq!(
        log.matches("mode_e_streams=4").count(),
        2,
        "both transfers ran over four streams: {log}"
    );
}

/// `-fast` keeps the data channels open between files: the second file of each direction
/// goes over the four cached streams, with no new PORT or PASV.
#[test]
fn globus_url_copy_reuses_cached_streams() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = server(Mode::Plain);
    let (a, b) = (payload(21), random_bytes((2 << 20) + 5, 22));
    std::fs::write(srv.path("a.bin"), &a).unwrap();
    std::fs::write(srv.path("b.bin"), &b).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let list = |name: &str, lines: [(String, String); 2]| {
        let p = t.join(name);
        let text: String = lines.iter().map(|(f, to)| format!("{f} {to}\n")).collect();
        std::fs::write(&p, text).unwrap();
        p
    };
    let file = |n: &str| format!("file://{}", t.join(n).display());
    let down = list(
        "down.list",
        [
            (url(&srv, "a.bin"), file("a.bin")),
            (url(&srv, "b.bin"), file("b.bin")),
        ],
    );
    let up = list(
        "up.list",
        [
            (file("a.bin"), url(&srv, "ua.bin")),
            (file("b.bin"), url(&srv, "ub.bin")),
        ],
    );
    for l in [&down, &up] {
        let mut cmd = Command::new("globus-url-copy");
        cmd.args(["-nodcau", "-fast", "-p", "4", "-f"]).arg(l);
        client_ok(&srv, "globus-url-copy -fast", &mut cmd, 120);
    }
    assert_eq!(sha_of(&t.join("a.bin")), sha256(&a));
    assert_eq!(sha_of(&t.join("b.bin")), sha256(&b));
    assert_eq!(sha_of(&srv.path("ua.bin")), sha256(&a));
    assert_eq!(sha_of(&srv.path("ub.bin")), sha256(&b));
    let cmds = commands(&srv);
    let count = |verb: &str| cmds.iter().filter(|c| c.starts_with(verb)).count();
    assert_eq!((count("RETR"), count("STOR")), (2, 2), "{cmds:?}");
    assert_eq!(
        (count("PORT") + count("EPRT"), count("PASV") + count("EPSV")),
        (1, 1),
        "one data setup per direction: {cmds:?}"
    );
}

/// Markers: with `--perf-marker-interval 1` and a per-session rate limit that makes each
/// transfer last a few seconds, globus-url-copy (whose `-dbg` prints the control channel)
/// receives `112` performance markers on the download and the upload, and `111` restart
/// markers on the upload, before the final `226`; both files stay byte-exact.
#[test]
fn globus_url_copy_gets_performance_and_restart_markers() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = Server::start(&["--rate-session", "2M", "--perf-marker-interval", "1"]);
    // Twice the usual payload: a 111 lists only whole blocks written, and with four
    // streams of large blocks a 4 MiB upload at 2 MB/s could finish most of its blocks
    // together at the end.
    let data = [payload(31), payload(32)].concat();
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();

    let got = tmp.path().join("got.bin");
    let dbg = guc(
        &srv,
        &url(&srv, "big.bin"),
        &format!("file://{}", got.display()),
    );
    assert_eq!(sha_of(&got), sha256(&data), "download differs");
    assert_markers(&dbg, false, data.len());

    let src = tmp.path().join("up.bin");
    std::fs::write(&src, &data).unwrap();
    let dbg = guc(
        &srv,
        &format!("file://{}", src.display()),
        &url(&srv, "sent.bin"),
    );
    assert_eq!(
        sha_of(&srv.path("sent.bin")),
        sha256(&data),
        "upload differs"
    );
    assert_markers(&dbg, true, data.len());
}

/// The markers in globus-url-copy's `-dbg` output: each `112` whole, with a byte count no
/// larger than the file, and every marker before the `226`.
fn assert_markers(dbg: &str, upload: bool, size: usize) {
    let perf = dbg.find("112-Perf Marker").expect(dbg);
    let end = dbg.rfind("226 ").expect(dbg);
    assert!(perf < end, "a marker after the final reply: {dbg}");
    for k in [
        "Timestamp:",
        "Stripe Index: 0",
        "Total Stripe Count: 1",
        "112 End.",
    ] {
        assert!(dbg[perf..].contains(k), "{k} missing: {dbg}");
    }
    let bytes: Vec<u64> = dbg
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Stripe Bytes Transferred:"))
        .map(|n| n.trim().parse().unwrap())
        .collect();
    assert!(!bytes.is_empty(), "{dbg}");
    assert!(bytes.iter().all(|&b| b <= size as u64), "{bytes:?}");
    if upload {
        // Blocks end in any order (the short last one often first), so a marker need not
        // start at 0; every range it lists must be inside the file.
        let at = dbg.find("111 Range Marker ").expect(dbg);
        assert!(at < end, "{dbg}");
        let line = dbg[at..].lines().next().unwrap();
        for r in line["111 Range Marker ".len()..].trim().split(',') {
            let (a, b) = r.split_once('-').expect(line);
            let (a, b): (u64, u64) = (a.parse().expect(line), b.parse().expect(line));
            assert!(a < b && b <= size as u64, "{line}");
        }
    }
}

/// globus-url-copy resuming a download with `-partial-offset N`: it asks `REST 0-N` (a
/// GridFTP range list) and RETR in MODE E over four streams, and kftpd sends only the
/// rest, as blocks at their offsets; the local file holding the first N bytes ends
/// byte-exact. (Its upload counterpart sends `ESTO A N`: see the next test.)
#[test]
fn globus_url_copy_resumes_with_rest_ranges() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = server(Mode::Plain);
    let data = [payload(41), payload(42)].concat();
    let at = 3_000_000;
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let got = tmp.path().join("got.bin");
    std::fs::write(&got, &data[..at]).unwrap();
    let off = at.to_string();
    let guc = |from: &str, to: &str| {
        let mut cmd = Command::new("globus-url-copy");
        cmd.args(["-nodcau", "-p", "4", "-dbg", "-off", &off, from, to]);
        client_ok(&srv, "globus-url-copy -partial-offset", &mut cmd, 120)
    };
    guc(&url(&srv, "big.bin"), &format!("file://{}", got.display()));
    assert_eq!(sha_of(&got), sha256(&data), "resumed download differs");
    let rest = format!("REST 0-{at}");
    let cmds = commands(&srv);
    assert!(cmds.contains(&rest), "{cmds:?}");
    let log = plain_log(&srv);
    let moved = format!("bytes={}", data.len() - at);
    assert!(
        log.contains(&moved),
        "only the rest was sent ({moved}): {log}"
    );
}

/// `globus-url-copy [extra] -partial-offset N -partial-length L` of `data` (as big.bin on
/// `srv`) and then `-partial-offset N` into up.bin, which holds the first N bytes: the
/// part lands at N and the resumed upload ends byte-exact, the server's log shows `ERET P`
/// and `ESTO A` and each moving just its bytes. Returns the upload's `-dbg` output.
fn partial_round_trip(srv: &Server, extra: &[&str], data: &[u8], at: usize, len: usize) -> String {
    std::fs::write(srv.path("big.bin"), data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let got = tmp.path().join("part.bin");
    let src = tmp.path().join("src.bin");
    std::fs::write(&src, data).unwrap();
    let guc = |args: &[&str], from: &str, to: &str| {
        let mut cmd = Command::new("globus-url-copy");
        cmd.args(["-nodcau"])
            .args(extra)
            .arg("-dbg")
            .args(args)
            .args([from, to]);
        let (ok, out, err) = run_limited(&mut cmd, 120);
        assert!(ok, "{out}\n{err}\n--- server log ---\n{}", plain_log(srv));
        err
    };
    let (off, n) = (at.to_string(), len.to_string());
    guc(
        &["-partial-offset", &off, "-partial-length", &n],
        &url(srv, "big.bin"),
        &format!("file://{}", got.display()),
    );
    let part = std::fs::read(&got).unwrap();
    assert_eq!(part.len(), at + len, "written at the offset");
    assert!(
        part[at..] == data[at..at + len],
        "the part differs from the file's bytes"
    );
    // An upload resumed at `at`: the server holds the first `at` bytes.
    std::fs::write(srv.path("up.bin"), &data[..at]).unwrap();
    let dbg = guc(
        &["-partial-offset", &off],
        &format!("file://{}", src.display()),
        &url(srv, "up.bin"),
    );
    assert_eq!(
        sha_of(&srv.path("up.bin")),
        sha256(data),
        "resumed upload differs"
    );
    let cmds = commands(srv);
    assert!(
        cmds.contains(&format!("ERET P {at} {len} /big.bin")),
        "{cmds:?}"
    );
    assert!(cmds.contains(&format!("ESTO A {at} /up.bin")), "{cmds:?}");
    let log = plain_log(srv);
    for moved in [len, data.len() - at] {
        assert!(log.contains(&format!("bytes={moved} ")), "{moved}: {log}");
    }
    dbg
}

/// GridFTP's extended retrieve and store in MODE S (`commands/extended.rs`):
/// `globus-url-copy -partial-offset N -partial-length L` downloads with `ERET P N L`
/// (kftpd sends only those bytes, which the client writes at N), and `-partial-offset N`
/// uploads with `ESTO A N` (kftpd writes into the file from N on: the file that held the
/// first N bytes ends byte-exact). MODE E (`-p 4`): the next test.
#[test]
fn globus_url_copy_partial_transfers_use_eret_and_esto() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = server(Mode::Plain);
    partial_round_trip(&srv, &[], &payload(45), 1_000_003, 2_500_000);
}

/// The same in MODE E over four streams (`-p 4`), as GridFTP users run partial transfers:
/// `ERET P N L` comes back as blocks counted from the part's start, which the client
/// writes at N (the part is byte-exact), and `ESTO A N`'s blocks, which the client counts
/// from 0, land at N + their offset (the resumed upload is byte-exact). The log shows
/// four streams each way, and the 111 markers the upload got count from the part.
#[test]
fn globus_url_copy_partial_transfers_in_mode_e() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = Server::start(&["--rate-session", "2M", "--perf-marker-interval", "1"]);
    let data = [payload(46), payload(47)].concat();
    let at = 1_000_003;
    let dbg = partial_round_trip(&srv, &["-p", "4"], &data, at, 5_500_000);
    let cmds = commands(&srv);
    assert!(cmds.iter().any(|c| c == "MODE E"), "{cmds:?}");
    let log = plain_log(&srv);
    assert_eq!(log.matches("mode_e_streams=4").count(), 2, "{log}");
    // The upload's 111 ranges count from the part (the toolkit's do): none reaches past
    // what the part holds.
    assert_markers(&dbg, true, data.len() - at);
}

/// `globus-url-copy -stripe` against kftpd, one stripe: the upload sets up its data
/// connections with SPAS (kftpd answers one host-port), the download with PORT; both are
/// byte-exact over four streams.
#[test]
fn globus_url_copy_stripe_uses_spas() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = server(Mode::Plain);
    let data = payload(51);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let got = tmp.path().join("got.bin");
    let stripe = |from: &str, to: &str| {
        let mut cmd = Command::new("globus-url-copy");
        cmd.args(["-nodcau", "-p", "4", "-stripe", from, to]);
        client_ok(&srv, "globus-url-copy -stripe", &mut cmd, 120);
    };
    stripe(&url(&srv, "big.bin"), &format!("file://{}", got.display()));
    assert_eq!(sha_of(&got), sha256(&data), "download differs");
    stripe(&format!("file://{}", got.display()), &url(&srv, "up.bin"));
    assert_eq!(sha_of(&srv.path("up.bin")), sha256(&data), "upload differs");
    let cmds = commands(&srv);
    assert!(cmds.iter().any(|c| c == "SPAS"), "{cmds:?}");
    let log = plain_log(&srv);
    assert!(log.matches("mode_e_streams=4").count() >= 2, "{log}");
}

/// `-verify-checksum` asks both ends for CKSM after each file (MD5 by default, SHA256
/// with `-checksum-alg`), and `-sync -sync-level 3` compares checksums before copying:
/// all of it against kftpd, in MODE E, and a local file that differs only in content (the
/// same size) is fetched again.
#[test]
fn globus_url_copy_verifies_and_syncs_by_cksm() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = server(Mode::Plain);
    let data = payload(61);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let got = tmp.path().join("got.bin");
    let local = format!("file://{}", got.display());
    let run = |extra: &[&str], from: &str, to: &str| {
        let mut cmd = Command::new("globus-url-copy");
        cmd.args(["-nodcau", "-p", "4"])
            .args(extra)
            .args([from, to]);
        client_ok(&srv, "globus-url-copy with checksums", &mut cmd, 120);
    };
    run(&["-verify-checksum"], &url(&srv, "big.bin"), &local);
    assert_eq!(sha_of(&got), sha256(&data), "download differs");
    run(
        &["-verify-checksum", "-checksum-alg", "SHA256"],
        &local,
        &url(&srv, "up.bin"),
    );
    assert_eq!(sha_of(&srv.path("up.bin")), sha256(&data), "upload differs");
    // Same size, other bytes: only the checksums tell, and the file comes again.
    let mut changed = data.clone();
    changed[1000] ^= 0xff;
    std::fs::write(&got, &changed).unwrap();
    run(
        &["-sync", "-sync-level", "3"],
        &url(&srv, "big.bin"),
        &local,
    );
    assert_eq!(
        sha_of(&got),
        sha256(&data),
        "sync did not fetch the changed file"
    );
    let cksm: Vec<String> = commands(&srv)
        .into_iter()
        .filter(|c| c.contains("CKSM"))
        .collect();
    assert!(cksm.iter().any(|c| c.contains("CKSM MD5 0 -1")), "{cksm:?}");
    assert!(
        cksm.iter().any(|c| c.contains("CKSM SHA256 0 -1")),
        "{cksm:?}"
    );
    assert!(cksm.len() >= 3, "{cksm:?}");
}

/// `-tcp-bs N` (GridFTP's TCP buffer size; old tuning scripts all pass it) used to fail
/// with "the server doesn't support the Adjust socket buffer feature": kftpd now takes
/// the SITE RETRBUFSIZE / STORBUFSIZE the client sends (and SBUF), and sets every data
/// connection's socket buffers, in MODE S and on each MODE E stream.
#[test]
fn globus_url_copy_tcp_bs_sets_the_data_buffers() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = server(Mode::Plain);
    let data = payload(71);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let got = tmp.path().join("got.bin");
    let local = format!("file://{}", got.display());
    let run = |extra: &[&str], from: &str, to: &str| {
        let mut cmd = Command::new("globus-url-copy");
        cmd.args(["-nodcau", "-tcp-bs", "1048576"])
            .args(extra)
            .args([from, to]);
        client_ok(&srv, "globus-url-copy -tcp-bs", &mut cmd, 120);
    };
    run(&[], &url(&srv, "big.bin"), &local);
    assert_eq!(sha_of(&got), sha256(&data), "download differs");
    run(&["-p", "4"], &local, &url(&srv, "up.bin"));
    assert_eq!(sha_of(&srv.path("up.bin")), sha256(&data), "upload differs");
    let cmds = commands(&srv);
    assert!(
        cmds.iter().any(|c| c.contains("BUFSIZE 1048576")),
        "{cmds:?}"
    );
    // One MODE S connection, then four MODE E streams.
    let log = plain_log(&srv);
    assert!(
        log.matches("data connection buffers set asked=1048576")
            .count()
            >= 5,
        "{log}"
    );
}

/// `-fast` runs every data transfer in MODE E, listings included, over streams kept
/// between them: a recursive download lists each directory (MLSD) as blocks on the
/// cached streams, then fetches the files on the same streams. It used to stop at the
/// first listing (`504 MODE E: listings are sent in MODE S`).
#[test]
fn globus_url_copy_fast_lists_and_copies_a_tree_in_mode_e() {
    if !need("globus-url-copy") {
        return;
    }
    let srv = server(Mode::Plain);
    std::fs::create_dir_all(srv.path("tree/a/b")).unwrap();
    std::fs::create_dir_all(srv.path("tree/empty")).unwrap();
    std::fs::write(srv.path("tree/top.bin"), payload(81)).unwrap();
    std::fs::write(srv.path("tree/a/x.txt"), b"x\n").unwrap();
    std::fs::write(srv.path("tree/a/b/y.bin"), payload(82)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (i, extra) in [&["-fast"][..], &["-fast", "-p", "4", "-pp", "-cc", "2"][..]]
        .into_iter()
        .enumerate()
    {
        let dst = tmp.path().join(format!("got{i}"));
        let mut cmd = Command::new("globus-url-copy");
        cmd.args(["-nodcau", "-r", "-cd"])
            .args(extra)
            .arg(url(&srv, "tree/"))
            .arg(format!("file://{}/", dst.display()));
        client_ok(&srv, "globus-url-copy -fast -r", &mut cmd, 120);
        for f in ["top.bin", "a/x.txt", "a/b/y.bin"] {
            assert_eq!(
                sha_of(&dst.join(f)),
                sha_of(&srv.path(&format!("tree/{f}"))),
                "{extra:?}: {f}"
            );
        }
        assert!(dst.join("empty").is_dir(), "{extra:?}: the empty directory");
    }
    let cmds = commands(&srv);
    assert!(!cmds.iter().any(|c| c == "MODE S"), "{cmds:?}");
    let listings = cmds.iter().filter(|c| c.starts_with("MLSD")).count();
    assert!(listings >= 8, "four directories listed per run: {cmds:?}");
    // Listings and files alike went out as blocks.
    let log = plain_log(&srv);
    assert!(
        log.matches("MODE E blocks sent").count() >= listings + 6,
        "{log}"
    );
}

/// GridFTP's own server on a loopback port, anonymous logins as `nobody` under root (as
/// another user, that user), a process per session; killed when dropped.
pub(crate) struct Gfs {
    child: std::process::Child,
    pub(crate) port: u16,
    pub(crate) dir: tempfile::TempDir,
}

impl Gfs {
    pub(crate) const BIN: &'static str = "/usr/sbin/globus-gridftp-server";

    pub(crate) fn start() -> Gfs {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // Its anonymous account must reach and write the files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let user = if kftp_testkit::running_as_root() {
            "nobody".to_string()
        } else {
            std::env::var("USER").unwrap_or_else(|_| "nobody".into())
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(Self::BIN)
            .args(["-aa", "-anonymous-user", &user, "-d", "error"])
            .args([
                "-control-interface",
                "127.0.0.1",
                "-data-interface",
                "127.0.0.1",
            ])
            .args(["-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting globus-gridftp-server");
        let g = Gfs { child, port, dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return g;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("globus-gridftp-server did not listen within 10 s");
    }

    /// A file of its own in the server's directory, world-writable.
    pub(crate) fn put(&self, name: &str, data: &[u8]) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    }

    /// Its paths are the file system's.
    fn url(&self, name: &str) -> String {
        let p = self.dir.path().join(name);
        format!("ftp://anonymous:x@127.0.0.1:{}{}", self.port, p.display())
    }
}

impl Drop for Gfs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Third-party partial transfers in MODE E over four streams, as GridFTP sites move a
/// part of a file between servers: globus-url-copy `-partial-offset N -partial-length L`
/// between globus-gridftp-server and kftpd sends `ERET P N L` to the source and `ESTO A
/// N` to the destination, so the blocks one server counts from the part's start the
/// other must write at N + their offset. Both ways, into a copy of the file whose part
/// was zeroed: the part is filled byte-exact and the rest of the file stays as it was
/// (ESTO does not truncate).
#[test]
fn third_party_partial_transfers_with_globus_gridftp_server() {
    if !need("globus-url-copy") || !std::path::Path::new(Gfs::BIN).exists() {
        return;
    }
    let srv = server(Mode::Plain);
    let gfs = Gfs::start();
    let data = payload(48);
    let (at, len) = (1_000_003usize, 2_500_000usize);
    let mut holed = data.clone();
    holed[at..at + len].fill(0);
    let third = |from: &str, to: &str| {
        let mut cmd = Command::new("globus-url-copy");
        cmd.args(["-nodcau", "-p", "4", "-dbg"])
            .args(["-partial-offset", &at.to_string()])
            .args(["-partial-length", &len.to_string()])
            .args([from, to]);
        let (ok, out, err) = run_limited(&mut cmd, 120);
        assert!(ok, "{out}\n{err}\n--- server log ---\n{}", plain_log(&srv));
        err
    };

    // globus-gridftp-server sends, kftpd stores.
    gfs.put("src.bin", &data);
    std::fs::write(srv.path("dst.bin"), &holed).unwrap();
    third(&gfs.url("src.bin"), &url(&srv, "dst.bin"));
    let got = std::fs::read(srv.path("dst.bin")).unwrap();
    assert_eq!(got.len(), data.len(), "kftpd truncated the file");
    assert!(got == data, "the part kftpd stored differs");

    // kftpd sends, globus-gridftp-server stores.
    std::fs::write(srv.path("src.bin"), &data).unwrap();
    gfs.put("dst.bin", &holed);
    third(&url(&srv, "src.bin"), &gfs.url("dst.bin"));
    let got = std::fs::read(gfs.dir.path().join("dst.bin")).unwrap();
    assert!(got == data, "the part kftpd sent differs");

    let cmds = commands(&srv);
    assert!(cmds.contains(&format!("ESTO A {at} /dst.bin")), "{cmds:?}");
    assert!(
        cmds.contains(&format!("ERET P {at} {len} /src.bin")),
        "{cmds:?}"
    );
    let log = plain_log(&srv);
    assert_eq!(log.matches("mode_e_streams=4").count(), 2, "{log}");
}
