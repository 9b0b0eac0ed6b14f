//! What a session costs in round trips (issue #17), read from the `kftp -vv` transcript:
//! against servers that take pipelined commands (kftpd, globus-gridftp-server: they
//! announce PARALLEL) the settings go out together (the login's PBSZ, PROT, OPTS UTF8 and
//! TYPE I; a MODE E transfer's MODE E, OPTS RETR and EPRT or EPSV), one at a time
//! elsewhere (vsftpd); QUIT is sent and its 221 not waited for, and kftpd still logs the
//! session as ended by QUIT. A refused setting in a batch is still reported by name, and
//! the session stays in step.

use crate::kftpd::Kftpd;
use crate::modee::Gridftp;
use crate::vsftpd::{Tls, Vsftpd};
use crate::{random_bytes, sha256_file};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU64;

/// Runs kftp with `-vv` in `dir` (password from the environment, no netrc); the control
/// transcript (`> sent`, `< received`, in the order they happened) and whether it
/// succeeded.
fn kftp(dir: &Path, args: &[&str]) -> (Vec<String>, String, bool) {
    let o = Command::new(env!("CARGO_BIN_EXE_kftp"))
        .args(["-vv", "--netrc"])
        .arg(dir.join("none"))
        .args(args)
        .env("KFTP_PASSWORD", "correct horse battery")
        .env("KFTP_LOG", "kftp::control=debug")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("running kftp");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    // Only the control connection's lines: `DEBUG > USER alice`, `DEBUG < 331 ...`.
    let lines = err
        .lines()
        .filter_map(|l| l.split_once("DEBUG ").map(|(_, t)| t))
        .filter_map(|t| {
            let at = t.find(['<', '>'])?;
            Some(t[at..].to_string())
        })
        .collect();
    (lines, err, o.status.success())
}

/// The commands sent in one go that start with `first`: `first` and the `>` lines right
/// after it, up to the next reply read.
fn batch_from(t: &[String], first: &str) -> Vec<String> {
    let at = t
        .iter()
        .position(|l| l.starts_with(&format!("> {first}")))
        .unwrap_or_else(|| panic!("no {first} sent:\n{}", t.join("\n")));
    t[at..]
        .iter()
        .take_while(|l| l.starts_with("> "))
        .map(|l| l[2..].to_string())
        .collect()
}

/// The session ended with QUIT sent last and no reply read after it.
fn quit_without_221(t: &[String]) {
    assert_eq!(
        t.last().map(String::as_str),
        Some("> QUIT"),
        "{}",
        t.join("\n")
    );
    assert!(
        !t.iter().any(|l| l.starts_with("< 221")),
        "{}",
        t.join("\n")
    );
}

#[test]
fn kftpd_gets_settings_together_and_a_quit_it_logs_as_quit() {
    for tls in [false, true] {
        let Some(s) = Kftpd::start(tls) else { return };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("f.bin"), random_bytes(3_500_017, 9)).unwrap();
        let url = |p: &str| format!("ftp://alice@127.0.0.1:{}/{p}", s.port);
        let tls_args: Vec<&str> = if tls {
            vec!["--tls", "--pin-sha256", &s.pin]
        } else {
            vec![]
        };
        let run = |args: &[&str]| {
            let all: Vec<&str> = tls_args.iter().chain(args).copied().collect();
            let (t, err, ok) = kftp(d, &all);
            assert!(ok, "{args:?}: {err}");
            t
        };

        let put = run(&["--streams", "4", "put", "f.bin", &url("f.bin")]);
        let login = if tls { "PBSZ 0" } else { "OPTS UTF8 ON" };
        let mut want = vec!["OPTS UTF8 ON", "TYPE I"];
        if tls {
            want.splice(0..0, ["PBSZ 0", "PROT P"]);
        }
        assert_eq!(batch_from(&put, login), want, "tls {tls}");
        assert_eq!(batch_from(&put, "MODE E"), ["MODE E", "EPSV"], "tls {tls}");
        quit_without_221(&put);

        let get = run(&["--streams", "4", "get", &url("f.bin"), "back.bin"]);
        // A get's MLST (size and time) goes out with the login's settings.
        let mut with_mlst = want.clone();
        with_mlst.push("MLST f.bin");
        assert_eq!(batch_from(&get, login), with_mlst, "tls {tls}");
        assert_eq!(get.iter().filter(|l| l.starts_with("> MLST")).count(), 1);
        let modee = batch_from(&get, "MODE E");
        assert_eq!(modee[..2], ["MODE E", "OPTS RETR Parallelism=4,4,4;"]);
        assert!(
            modee.len() == 3 && modee[2].starts_with("EPRT "),
            "{modee:?}"
        );
        quit_without_221(&get);
        assert_eq!(
            sha256_file(&d.join("back.bin")),
            sha256_file(&d.join("f.bin"))
        );

        // A listing ends the same way, and so do a segmented get's three extra sessions.
        let ls = run(&["ls", &url("")]);
        quit_without_221(&ls);
        let seg = run(&["get", "--segments", "3", &url("f.bin"), "seg.bin"]);
        assert_eq!(seg.iter().filter(|l| *l == "> QUIT").count(), 4, "{seg:?}");
        // The size is asked once, for the progress bar and the segments alike.
        let sizes = seg.iter().filter(|l| l.starts_with("> SIZE")).count();
        assert_eq!(sizes, 1, "{seg:?}");
        assert!(!seg.iter().any(|l| l.starts_with("< 221")), "{seg:?}");
        assert_eq!(
            sha256_file(&d.join("seg.bin")),
            sha256_file(&d.join("f.bin"))
        );

        // Every session the server saw ended on the QUIT, not on a broken connection
        // (the QUIT is read before the close: kftpd's 221 goes to a closed socket).
        let log = s.wait_log("session closed", 7);
        let closed: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("session closed"))
            .collect();
        assert_eq!(closed.len(), 7, "{log}");
        for l in closed {
            assert!(l.contains("reason=\"quit\""), "tls {tls}: {l}\n{log}");
        }
    }
}

/// vsftpd does not announce PARALLEL: every command waits for the one before it, as
/// before; QUIT is not waited for there either.
#[test]
fn other_servers_get_one_command_at_a_time() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("up.bin"), random_bytes(100_003, 3)).unwrap();
    for args in [
        vec!["put", "up.bin", &v.url("up.bin")],
        vec!["get", &v.url("up.bin"), "down.bin"],
    ] {
        let (t, err, ok) = kftp(d, &args);
        assert!(ok, "{args:?}: {err}");
        quit_without_221(&t);
        let sent = &t[..t.len() - 1];
        for pair in sent.windows(2) {
            assert!(
                !(pair[0].starts_with("> ") && pair[1].starts_with("> ")),
                "two commands without a reply between them:\n{}",
                t.join("\n")
            );
        }
    }
    assert_eq!(
        sha256_file(&d.join("down.bin")),
        sha256_file(&d.join("up.bin"))
    );
}

/// A refused setting inside a batch: globus-gridftp-server with MODE or TYPE disabled.
/// The error names the setting and carries the server's reply, and the session is still
/// in step after it (the EPRT pipelined behind MODE E had its reply read): the next
/// command gets its own reply, and a MODE S get is byte-exact.
#[tokio::test]
async fn gridftp_refusing_a_pipelined_setting_is_reported_by_name() {
    let Some(srv) = Gridftp::start(&["-disable-command-list", "MODE"]) else {
        return;
    };
    let mut c = srv
        .login()
        .await
        .expect("login (MODE is not a login setting)");
    assert!(c.features().parallel, "the server still announces PARALLEL");
    let data = random_bytes(1_500_000, 11);
    std::fs::write(srv.root.join("f.bin"), &data).unwrap();
    let remote = format!("{}/f.bin", srv.root.display());
    let local = tempfile::tempdir().unwrap();
    let p = AtomicU64::new(0);
    let e = c
        .get_mode_e(&remote, &local.path().join("e.bin"), 4, &p)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("MODE E: 5"), "{msg}");
    assert!(!local.path().join("e.bin").exists());
    // In step: PWD's reply is PWD's.
    let pwd = c.pwd().await.expect("PWD after the refused MODE E");
    assert!(pwd.starts_with('/'), "{pwd}");
    c.set_streams(1);
    let opts = kftp::TransferOptions::default();
    c.get(&remote, &local.path().join("s.bin"), &opts, &p)
        .await
        .expect("MODE S get after the refusal");
    assert_eq!(std::fs::read(local.path().join("s.bin")).unwrap(), data);
    c.quit().await;
    drop(srv);

    // TYPE I goes with OPTS UTF8 in the login's batch; refused, the login fails by name.
    let Some(srv) = Gridftp::start(&["-disable-command-list", "TYPE"]) else {
        return;
    };
    let e = srv.login().await.unwrap_err();
    assert!(e.to_string().starts_with("TYPE I: 5"), "{e}");
}
