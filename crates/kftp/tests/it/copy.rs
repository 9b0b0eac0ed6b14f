//! `kftp copy`: a file from one server to another, server to server (third party), run as
//! the binary against real servers: two kftpd, kftpd and GridFTP's own server both ways,
//! vsftpd as a destination that answers 150 only once the data connection is there; in
//! MODE S and over four MODE E streams; and the failures (a missing source, a refused
//! destination, TLS) end at once with the right exit code and leave both servers idle.

use crate::kftpd::Kftpd;
use crate::modee::Gridftp;
use crate::recovery::Relay;
use crate::vsftpd::{Tls, Vsftpd};
use crate::{random_bytes, tree_hashes};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// kftp with `alice`'s password in the environment and no netrc.
pub(crate) fn kftp_command(cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kftp"));
    c.args(["-v", "--netrc"])
        .arg(cwd.join(".no-netrc"))
        .args(args)
        .current_dir(cwd)
        .env("KFTP_PASSWORD", "correct horse battery")
        .env("HOME", cwd)
        .stdin(Stdio::null());
    c
}

/// Runs [`kftp_command`] to its end.
fn kftp(cwd: &Path, args: &[&str]) -> Output {
    kftp_command(cwd, args).output().expect("running kftp")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn ok(o: &Output) -> String {
    let err = stderr(o);
    assert!(
        o.status.success(),
        "kftp failed ({:?}): {err}",
        o.status.code()
    );
    err
}

pub(crate) fn url(s: &Kftpd, path: &str) -> String {
    format!("ftp://alice@127.0.0.1:{}/{path}", s.port)
}

/// globus-gridftp-server's URL of `path` (its paths are the file system's; anonymous
/// login).
fn grid_url(g: &Gridftp, path: &str) -> String {
    format!(
        "ftp://127.0.0.1:{}/%2F{}/{path}",
        g.port,
        g.root.display().to_string().trim_start_matches('/')
    )
}

/// Runs kftp with `args`, again while it cannot connect (exit 6): globus-gridftp-server
/// may still be starting. 10 s at most.
fn kftp_once_listening(cwd: &Path, args: &[&str]) -> Output {
    for _ in 0..50 {
        let o = kftp(cwd, args);
        if o.status.code() != Some(6) {
            return o;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("globus-gridftp-server not listening within 10 s");
}

/// Writes `bytes` to `f` and dates it `secs` after the epoch (2001 for 1_000_000_000: a
/// copy gets such a time only from MFMT).
fn write_dated(f: &Path, bytes: &[u8], secs: u64) {
    std::fs::write(f, bytes).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let h = std::fs::File::options().write(true).open(f).unwrap();
    h.set_modified(t).unwrap();
}

#[test]
fn copy_between_two_kftpd_in_mode_s_and_mode_e() {
    let (Some(a), Some(b)) = (Kftpd::start(false), Kftpd::start(false)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes((6 << 20) + 777, 91);
    std::fs::write(a.root.join("src.bin"), &data).unwrap();

    // MODE S: PASV (EPSV) to the destination, EPRT to the source, STOR and RETR at once.
    let log = ok(&kftp(
        dir.path(),
        &["copy", &url(&a, "src.bin"), &url(&b, "")],
    ));
    assert!(
        log.contains("> STOR src.bin") && log.contains("> RETR src.bin"),
        "{log}"
    );
    assert!(!log.contains("MODE E"), "{log}");
    assert_eq!(std::fs::read(b.root.join("src.bin")).unwrap(), data);
    // Each server moved the file itself: the source sent it, the destination stored it.
    a.wait_log("verb=\"RETR\"", 1);
    b.wait_log("verb=\"STOR\"", 1);

    // MODE E over four streams, the source connecting them to the destination.
    let log = ok(&kftp(
        dir.path(),
        &[
            "--streams",
            "4",
            "copy",
            &url(&a, "src.bin"),
            &url(&b, "e.bin"),
        ],
    ));
    assert!(log.contains("OPTS RETR Parallelism=4,4,4;"), "{log}");
    assert_eq!(std::fs::read(b.root.join("e.bin")).unwrap(), data);
    let sent = a.wait_log("MODE E blocks sent", 1);
    assert!(sent.contains("mode_e_streams=4"), "{sent}");
    b.wait_log("MODE E blocks received", 1);
    // kftp itself opened no data connection: no local file, nothing but its netrc dir.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn copy_to_and_from_globus_gridftp_server_over_four_streams() {
    let (Some(k), Some(g)) = (Kftpd::start(false), Gridftp::start(&[])) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes((5 << 20) + 4321, 92);
    std::fs::write(k.root.join("k.bin"), &data).unwrap();
    let grid = |name: &str| grid_url(&g, name);
    // It may still be starting: the first copy retries its connection for a while.
    let log = ok(&kftp_once_listening(
        dir.path(),
        &["--streams", "4", "copy", &url(&k, "k.bin"), &grid("g.bin")],
    ));
    assert!(log.contains("MODE E"), "{log}");
    assert_eq!(std::fs::read(g.root.join("g.bin")).unwrap(), data);
    k.wait_log("MODE E blocks sent", 1);

    // Back, GridFTP's server the sender, checked by both servers' SHA-256: GridFTP's
    // CKSM on one side, kftpd's HASH on the other.
    let log = ok(&kftp(
        dir.path(),
        &[
            "--streams",
            "4",
            "copy",
            "--verify",
            &grid("g.bin"),
            &url(&k, "back.bin"),
        ],
    ));
    assert!(log.contains("> CKSM SHA256 0 -1 "), "{log}");
    assert!(log.contains("verified back.bin: SHA-256"), "{log}");
    assert_eq!(std::fs::read(k.root.join("back.bin")).unwrap(), data);
    k.wait_log("MODE E blocks received", 1);
}

#[test]
fn copy_into_vsftpd_which_answers_once_the_data_connection_is_there() {
    let (Some(k), Some(v)) = (Kftpd::start(false), Vsftpd::start(Tls::None)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes((3 << 20) + 5, 93);
    std::fs::write(k.root.join("v.bin"), &data).unwrap();
    // vsftpd offers no MODE E: --streams 4 falls back to MODE S.
    let log = ok(&kftp(
        dir.path(),
        &["--streams", "4", "copy", &url(&k, "v.bin"), &v.url("v.bin")],
    ));
    assert!(!log.contains("MODE E"), "{log}");
    assert_eq!(std::fs::read(v.root.join("v.bin")).unwrap(), data);
}

#[test]
fn copy_failures_stop_both_sides_with_the_right_exit_code() {
    let (Some(a), Some(b)) = (Kftpd::start(false), Kftpd::start(false)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(a.root.join("src.bin"), random_bytes(1 << 20, 94)).unwrap();

    // No source file: found out by SIZE, before anything is sent to the destination.
    let o = kftp(
        dir.path(),
        &["copy", &url(&a, "nope.bin"), &url(&b, "x.bin")],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("nope.bin"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("STOR"), "{}", stderr(&o));

    // The destination refuses the STOR (no such directory) while the source has started
    // its RETR: the source is sent ABOR, and the run ends with the destination's reply.
    let o = kftp(
        dir.path(),
        &["copy", &url(&a, "src.bin"), &url(&b, "no/such/dir/x.bin")],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(4), "{err}");
    assert!(
        err.contains("> ABOR") && err.contains("STOR no/such/dir/x.bin: 550"),
        "{err}"
    );
    // The source may have sent its 1 MiB into the destination's socket before the refusal
    // (then its RETR completes and ABOR finds nothing to stop); either way it got ABOR and
    // the session ended with the QUIT read in step.
    let log = a.wait_log("reason=\"quit\"", 2);
    assert!(log.contains("cmd=ABOR"), "{log}");
    assert_eq!(
        std::fs::read_dir(&b.root).unwrap().count(),
        0,
        "nothing written at the destination"
    );

    // TLS: refused before connecting, rather than moving the data in the clear.
    for args in [
        vec!["--tls", "copy", &url(&a, "src.bin"), &url(&b, "t.bin")],
        vec!["copy", "ftps://127.0.0.1:1/src.bin", &url(&b, "t.bin")],
    ] {
        let o = kftp(
            dir.path(),
            &args.iter().map(|s| s.as_ref()).collect::<Vec<&str>>(),
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("in the clear"), "{}", stderr(&o));
    }
}

/// The source goes silent in the middle of a MODE E copy into globus-gridftp-server (its
/// kftpd stopped, its streams open) and its control connection drops. The destination
/// notices nothing: it waits for the EOD that will not come, with a 112 marker every 5 s
/// that restarts kftp's own wait for its final reply (kftp used to be waiting still after
/// 15 minutes, the server's control idle timeout of 10 set here not ending a transfer).
/// kftp gives it a moment to answer, sends it ABOR and ends with the source's failure
/// within seconds. (A source that dies closes its streams, and GridFTP's server fails at
/// once.)
#[test]
fn copy_ends_soon_when_the_source_fails_mid_transfer_into_globus_gridftp_server() {
    // 1 MiB/s: the 16 MiB take 16 s, time enough to stop the source in the middle.
    let (Some(k), Some(g)) = (
        Kftpd::start_flags(false, &["--rate-session", "1Mi"]),
        Gridftp::start(&["-control-idle-timeout", "600"]),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(k.root.join("slow.bin"), random_bytes(16 << 20, 99)).unwrap();
    // Once GridFTP's server listens (the copy below is not run again).
    ok(&kftp_once_listening(dir.path(), &["ls", &grid_url(&g, "")]));

    let relay = Relay::to(k.port);
    let log = dir.path().join("copy.log");
    let mut copy = kftp_command(
        dir.path(),
        &[
            "--streams",
            "2",
            "copy",
            &format!("ftp://alice@127.0.0.1:{}/slow.bin", relay.port),
            &grid_url(&g, "slow.bin"),
        ],
    )
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .expect("running kftp");
    let arrived = || std::fs::metadata(g.root.join("slow.bin")).map_or(0, |m| m.len());
    assert!(
        kftp_testkit::wait_until(Duration::from_secs(20), || arrived() > 0),
        "the copy started"
    );
    k.signal("-STOP");
    relay.cut();
    let cut = Instant::now();
    let mut status = None;
    kftp_testkit::wait_until(Duration::from_secs(30), || {
        status = copy.try_wait().unwrap();
        status.is_some()
    });
    let waited = cut.elapsed();
    if status.is_none() {
        let _ = copy.kill();
        let _ = copy.wait();
    }
    let err = std::fs::read_to_string(&log).unwrap();
    let status =
        status.unwrap_or_else(|| panic!("kftp still waiting {waited:?} after the cut: {err}"));
    assert!(arrived() < 16 << 20, "cut before the end");
    assert_eq!(status.code(), Some(6), "{err}");
    assert!(
        err.contains("kftp: copy: RETR slow.bin:"),
        "the source's failure: {err}"
    );
    assert!(err.contains("> ABOR"), "the destination stopped: {err}");
    eprintln!("kftp ended {waited:?} after the cut");
}

/// `kftp mirror ftp://A/dir ftp://B/dir`: the tree copied server to server (directories
/// made, files copied with their times), a second run finds everything up to date, and
/// `--delete` removes what the source lacks.
#[test]
fn mirror_between_two_kftpd() {
    let (Some(a), Some(b)) = (Kftpd::start(false), Kftpd::start(false)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = a.root.join("site");
    std::fs::create_dir_all(src.join("img/thumbs")).unwrap();
    std::fs::create_dir_all(src.join("empty")).unwrap();
    std::fs::write(src.join("index.html"), b"<p>hi</p>").unwrap();
    std::fs::write(src.join("img/a.bin"), random_bytes((2 << 20) + 3, 95)).unwrap();
    std::fs::write(src.join("img/thumbs/t.bin"), random_bytes(4099, 96)).unwrap();

    // Three files over the default four session pairs: three pairs copy at once.
    let log = ok(&kftp(
        dir.path(),
        &["mirror", &url(&a, "site/"), &url(&b, "copy/")],
    ));
    assert!(log.contains("> RETR site/img/a.bin"), "{log}");
    b.wait_log("verb=\"STOR\"", 3);
    let opened = b.log().matches("session opened").count();
    assert_eq!(opened, 3, "the mirror's own session and two forks");
    assert_eq!(tree_hashes(&src), tree_hashes(&b.root.join("copy")));
    assert!(b.root.join("copy/empty").is_dir());
    // MFMT carries whole seconds.
    let mtime = |p: &Path| {
        p.metadata()
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    assert_eq!(
        mtime(&b.root.join("copy/img/a.bin")),
        mtime(&src.join("img/a.bin")),
        "the source's time, by MFMT"
    );
    // kftp moved no file bytes itself: nothing landed where it ran.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // Nothing to do the second time.
    let log = ok(&kftp(
        dir.path(),
        &["mirror", &url(&a, "site/"), &url(&b, "copy/")],
    ));
    assert!(!log.contains("> RETR") && !log.contains("> STOR"), "{log}");

    // A file only the destination has goes with --delete.
    std::fs::write(b.root.join("copy/stale.txt"), b"old").unwrap();
    ok(&kftp(
        dir.path(),
        &["mirror", "--delete", &url(&a, "site/"), &url(&b, "copy/")],
    ));
    assert!(!b.root.join("copy/stale.txt").exists());
    assert_eq!(tree_hashes(&src), tree_hashes(&b.root.join("copy")));
}

/// A server-to-server mirror of many small files between two kftpd on one session pair
/// runs in MODE E, and the source's stream to the destination carries file after file:
/// one EPSV and one EPRT for the whole run, every later copy on the kept stream, each
/// file's commands sent while the one before it moves.
#[test]
fn mirror_between_servers_keeps_one_stream_for_all_files() {
    let (Some(a), Some(b)) = (Kftpd::start(false), Kftpd::start(false)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(a.root.join("many")).unwrap();
    for i in 0..12 {
        let f = a.root.join(format!("many/f{i:02}"));
        write_dated(
            &f,
            &random_bytes(4096 + i, 97 + i as u64),
            1_000_000_000 + i as u64,
        );
    }
    let log = ok(&kftp(
        dir.path(),
        &[
            "mirror",
            "--parallel",
            "1",
            &url(&a, "many/"),
            &url(&b, "many/"),
        ],
    ));
    assert_eq!(
        tree_hashes(&a.root.join("many")),
        tree_hashes(&b.root.join("many"))
    );
    // (Listings before it run in MODE S, with an EPSV each.)
    let copies = &log[log.find("> MODE E").expect("MODE E")..];
    assert_eq!(copies.matches("> EPRT").count(), 1, "{log}");
    assert_eq!(copies.matches("> EPSV").count(), 1, "{log}");
    // The listing gave the sizes: no SIZE before a copy, one after each.
    assert_eq!(log.matches("> SIZE many/").count(), 12, "{log}");
    let sent = a.wait_log("MODE E blocks sent", 12);
    assert_eq!(sent.matches("mode_e_reused=1").count(), 11, "{sent}");
    // Pipelined (copy_run.rs): once both servers have started f01, its SIZE and the next
    // STOR go out before f01's replies are read.
    let size1 = log.find("> SIZE many/f01").expect("SIZE of f01");
    let stor2 = log.find("> STOR many/f02").expect("STOR of f02");
    let answered = size1 + log[size1..].find("< 213").expect("SIZE answered");
    assert!(
        stor2 < answered,
        "f02's STOR before f01's SIZE reply: {log}"
    );
    // Every copy got its source's time: the MFMTs that rode along with later commands,
    // and the last one's alone.
    for i in 0..12 {
        let name = format!("many/f{i:02}");
        // (To the second: what MFMT carries.)
        let mtime = |root: &Path| {
            let t = std::fs::metadata(root.join(&name))
                .unwrap()
                .modified()
                .unwrap();
            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        };
        assert_eq!(mtime(&a.root), mtime(&b.root), "{name}'s time");
    }
}

/// Names the destination refuses in the middle of a server-to-server mirror fail those
/// files alone, and every later file holds its own bytes. The source sends each file onto
/// the kept stream as soon as its RETR arrives; when the destination refused the STOR,
/// those bytes waited on the stream and the next copy stored them under its own name
/// (the files are all one size, so the SIZE check could not tell).
#[test]
fn mirror_across_refused_names_keeps_every_other_file_its_own() {
    let (Some(a), Some(b)) = (Kftpd::start(false), Kftpd::start(false)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(a.root.join("m")).unwrap();
    for i in 0..12 {
        let f = a.root.join(format!("m/f{i:02}"));
        std::fs::write(f, random_bytes(4096, 300 + i)).unwrap();
    }
    // Three names are directories at the destination: their STORs get 550. (Whether the
    // source has sent before its ABOR is a race; three refusals make the old failure
    // show in nearly every run.)
    let refused = [2, 5, 8];
    for i in refused {
        std::fs::create_dir_all(b.root.join(format!("m/f{i:02}"))).unwrap();
        std::fs::write(b.root.join(format!("m/f{i:02}/keep")), b"x").unwrap();
    }
    let o = kftp(
        dir.path(),
        &["mirror", "--parallel", "1", &url(&a, "m/"), &url(&b, "m/")],
    );
    assert!(!o.status.success(), "three were refused: {}", stderr(&o));
    assert!(stderr(&o).contains("3 failed"), "{}", stderr(&o));
    for i in (0..12).filter(|i| !refused.contains(i)) {
        let name = format!("m/f{i:02}");
        assert_eq!(
            std::fs::read(b.root.join(&name)).unwrap(),
            std::fs::read(a.root.join(&name)).unwrap(),
            "{name} holds its own bytes"
        );
    }
}

/// A run of small files server to server, pipelined, into globus-gridftp-server and back
/// out of it over one session pair: the next STOR goes out before the last copy's SIZE is
/// answered, both ways, and every file arrives with its time.
#[test]
fn mirror_pipelines_into_globus_gridftp_server_and_back() {
    let (Some(k), Some(g)) = (Kftpd::start(false), Gridftp::start(&[])) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(k.root.join("p")).unwrap();
    for i in 0..10 {
        let f = k.root.join(format!("p/f{i:02}"));
        let bytes = random_bytes(4096 + 7 * i, 400 + i as u64);
        write_dated(&f, &bytes, 1_000_000_000 + i as u64);
    }
    let grid = grid_url(&g, "p/");
    let pipelined = |log: &str, stor: &str| {
        let size = log.find("> SIZE ").expect("a SIZE");
        let answered = size + log[size..].find("< 213").expect("SIZE answered");
        let next = log.find(stor).expect("the second STOR");
        assert!(next < answered, "{stor} before the SIZE reply: {log}");
    };
    let log = ok(&kftp_once_listening(
        dir.path(),
        &["mirror", "--parallel", "1", &url(&k, "p/"), &grid],
    ));
    pipelined(&log[log.find("p/f01").unwrap_or(0)..], "/p/f02\n");
    let back = ok(&kftp(
        dir.path(),
        &["mirror", "--parallel", "1", &grid, &url(&k, "back/")],
    ));
    pipelined(
        &back[back.find("back/f01").unwrap_or(0)..],
        "> STOR back/f02",
    );
    assert_eq!(
        tree_hashes(&k.root.join("p")),
        tree_hashes(&g.root.join("p"))
    );
    assert_eq!(
        tree_hashes(&k.root.join("p")),
        tree_hashes(&k.root.join("back"))
    );
    for i in 0..10 {
        let name = format!("f{i:02}");
        let secs = |p: std::path::PathBuf| {
            let m = std::fs::metadata(p).unwrap().modified().unwrap();
            m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        };
        assert_eq!(
            secs(g.root.join("p").join(&name)),
            1_000_000_000 + i,
            "{name}"
        );
        assert_eq!(
            secs(k.root.join("back").join(&name)),
            1_000_000_000 + i,
            "{name}"
        );
    }
}

/// A server-to-server mirror into globus-gridftp-server and back out of it, and an upload
/// mirror into it. Its anonymous login lands in a directory that cannot be entered
/// (`/nonexistent`), so kftp asks MLST whether a directory exists instead of CWD there and
/// back, and a forked session does not CWD into where it already is (both failed).
#[test]
fn mirror_into_globus_gridftp_server_and_back() {
    let (Some(k), Some(g)) = (Kftpd::start(false), Gridftp::start(&[])) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(k.root.join("t/sub")).unwrap();
    for (i, name) in ["t/a.bin", "t/b.bin", "t/sub/c.bin"].iter().enumerate() {
        std::fs::write(k.root.join(name), random_bytes(10_000 + i, 98 + i as u64)).unwrap();
    }
    let grid = grid_url(&g, "t/");
    ok(&kftp_once_listening(
        dir.path(),
        &["mirror", &url(&k, "t/"), &grid],
    ));
    assert_eq!(
        tree_hashes(&k.root.join("t")),
        tree_hashes(&g.root.join("t"))
    );
    ok(&kftp(dir.path(), &["mirror", &grid, &url(&k, "back/")]));
    assert_eq!(
        tree_hashes(&k.root.join("t")),
        tree_hashes(&k.root.join("back"))
    );
    // An upload mirror into it: its parallel sessions (forks) start in that same
    // directory, where a CWD into it used to fail them.
    let up = grid.replace("/t/", "/up/");
    let local = k.root.join("t").display().to_string();
    ok(&kftp(dir.path(), &["mirror", &local, &up]));
    assert_eq!(
        tree_hashes(&k.root.join("t")),
        tree_hashes(&g.root.join("up"))
    );
}
