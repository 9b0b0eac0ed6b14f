//! Deployment hardening (issue #14) against the real binary: kftpd's own files never inside
//! a served root, no serving as root by accident, the initial password printed once, the
//! metrics endpoint on loopback unless said otherwise, and what clients may learn or do in
//! the anonymous drop folder, with SITE CHMOD and the passive port pool.

use crate::harness::*;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs kftpd with `args` (plus `--listen 127.0.0.1:0`) and expects it to exit within 15 s;
/// returns (success, stderr).
fn refused(args: &[&str], root_args: bool) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kftpd"));
    cmd.args(["--listen", "127.0.0.1:0"]).args(args);
    if root_args {
        cmd.args(kftp_testkit::kftpd_root_args());
    }
    let mut child = cmd
        .env("KFTPD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kftpd");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kftpd {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), err)
}

/// Starts kftpd with `args`; returns the child and its stdout lines up to the certificate
/// line (the last start-up line with TLS on).
fn started(args: &[&str]) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .args(kftp_testkit::kftpd_root_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kftpd");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        let done = l.contains("SHA-256");
        lines.push(l.trim_end().to_string());
        if done {
            break;
        }
    }
    (child, lines)
}

/// A kftpd in `dir`, with the users file the test wrote there: root `<dir>/root`, state
/// `<dir>/state`, users `<dir>/users.toml`.
fn own(dir: tempfile::TempDir, extra: &[&str]) -> Running {
    kftp_testkit::Server::new()
        .bin(env!("CARGO_BIN_EXE_kftpd"))
        .dir(dir)
        .args(extra)
        .start()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn state_dir_inside_the_root_refuses_to_start() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("pub");
    std::fs::create_dir(&root).unwrap();
    let state = root.join(".kftpd-state");
    let (ok, err) = refused(
        &["--root", s(&root), "--state-dir", s(&state), "--anonymous"],
        true,
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("state directory") && err.contains("inside the served root"),
        "{err}"
    );
    assert!(err.contains("--state-dir /var/lib/kftpd"), "{err}");
    assert!(
        !state.join("users.toml").exists(),
        "nothing written into the root"
    );
    // A users file or TLS key inside the root is refused the same way.
    let (ok, err) = refused(
        &[
            "--root",
            s(&root),
            "--state-dir",
            s(&d.path().join("state")),
            "--users",
            s(&root.join("users.toml")),
        ],
        true,
    );
    assert!(!ok && err.contains("the users file"), "{err}");
    // Through a symbolic link to the root, too (paths are compared canonical).
    std::os::unix::fs::symlink(&root, d.path().join("alias")).unwrap();
    let (ok, err) = refused(
        &[
            "--root",
            s(&d.path().join("alias")),
            "--state-dir",
            s(&d.path().join("state2")),
            "--xferlog",
            s(&root.join("logs/xferlog")),
        ],
        true,
    );
    assert!(!ok && err.contains("the transfer log"), "{err}");
}

#[test]
fn a_user_root_that_contains_the_state_dir_refuses_to_start() {
    let d = tempfile::tempdir().unwrap();
    let users = d.path().join("etc/users.toml");
    // bob's root is the whole directory: it holds the state directory.
    kftpd::auth::users::add_user(&users, "bob", PASS, Some(d.path().to_path_buf()), None).unwrap();
    std::fs::create_dir(d.path().join("pub")).unwrap();
    let (ok, err) = refused(
        &[
            "--root",
            s(&d.path().join("pub")),
            "--users",
            s(&users),
            "--state-dir",
            s(&d.path().join("state")),
        ],
        true,
    );
    assert!(!ok && err.contains("inside the served root"), "{err}");
}

#[test]
fn sibling_root_and_state_dir_start() {
    let d = tempfile::tempdir().unwrap();
    let (mut child, lines) = started(&[
        "--root",
        s(&d.path().join("public")),
        "--state-dir",
        s(&d.path().join(".kftpd-state")),
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("listening on")),
        "{lines:?}"
    );
}

#[test]
fn root_without_user_refuses_to_start() {
    if !kftp_testkit::running_as_root() {
        kftp_testkit::skip("needs root: kftpd only refuses when started as root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (ok, err) = refused(
        &[
            "--root",
            s(&d.path().join("public")),
            "--state-dir",
            s(&d.path().join("state")),
        ],
        false,
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("--user ftp") && err.contains("--allow-root"),
        "{err}"
    );
    // --allow-root serves, and says so loudly.
    let state = d.path().join("state");
    let log = d.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["--listen", "127.0.0.1:0", "--no-tls", "--allow-root"])
        .args([
            "--root",
            s(&d.path().join("public")),
            "--state-dir",
            s(&state),
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let l = read_banner(&mut child, false, &log);
    let pw = std::fs::read_to_string(state.join("initial-password")).unwrap();
    let mut c = Ctl::connect(l.addr);
    c.expect("USER kftp", 331);
    c.expect(&format!("PASS {}", pw.trim()), 230);
    c.expect("QUIT", 221);
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let t = std::fs::read_to_string(&log).unwrap_or_default();
        if t.contains("this session acts as root") || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains("WARN") && text.contains("--allow-root: serving as root"),
        "{text}"
    );
    assert!(text.contains("this session acts as root"), "{text}");
}

#[test]
fn initial_password_is_printed_only_on_the_first_start() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let public = d.path().join("public");
    let args = ["--root", s(&public), "--state-dir", s(&state)];
    let (mut first, lines) = started(&args);
    let _ = first.kill();
    let _ = first.wait();
    let pw = std::fs::read_to_string(state.join("initial-password")).unwrap();
    let pw = pw.trim();
    let text = lines.join("\n");
    assert!(text.contains(pw), "first start shows the password: {text}");
    let (mut second, lines) = started(&args);
    let _ = second.kill();
    let _ = second.wait();
    let text = lines.join("\n");
    assert!(text.contains("listening on"), "{text}");
    assert!(!text.contains(pw), "second start must not print it: {text}");
    assert!(
        text.contains(s(&state.join("initial-password"))),
        "says where it is: {text}"
    );
}

#[test]
fn metrics_beyond_loopback_need_metrics_public() {
    let d = tempfile::tempdir().unwrap();
    let (ok, err) = refused(
        &[
            "--root",
            s(&d.path().join("public")),
            "--state-dir",
            s(&d.path().join("state")),
            "--metrics-listen",
            "0.0.0.0:0",
        ],
        true,
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("not a loopback address") && err.contains("--metrics-public"),
        "{err}"
    );
    let (mut child, lines) = started(&[
        "--root",
        s(&d.path().join("public")),
        "--state-dir",
        s(&d.path().join("state")),
        "--metrics-listen",
        "0.0.0.0:0",
        "--metrics-public",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("listening on")),
        "{lines:?}"
    );
}

/// STOR `name` with `data` on a fresh EPSV connection; returns (150 reply, final reply).
fn stor(c: &mut Ctl, name: &str, data: &[u8]) -> (kftp_proto::Reply, kftp_proto::Reply) {
    use std::io::Write;
    let mut d = c.epsv();
    let opening = c.expect(&format!("STOR {name}"), 150);
    let _ = d.write_all(data);
    drop(d);
    (opening, c.read())
}

fn anon(srv: &Server) -> Ctl {
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER anonymous", 331);
    c.expect("PASS guest@example.org", 230);
    c
}

/// Names in `dir` (hidden ones too).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn anonymous_drop_folder_does_not_tell_whether_a_name_exists() {
    let srv = Server::start(&["--anonymous", "--anonymous-upload-dir", "incoming"]);
    std::fs::create_dir(srv.path("incoming")).unwrap();
    std::fs::create_dir(srv.path("incoming/sub")).unwrap();
    std::fs::write(srv.path("incoming/taken.txt"), b"someone else's").unwrap();
    let mut c = anon(&srv);
    // Upload over a taken name, a directory's name and a free name: the same replies.
    let (o1, r1) = stor(&mut c, "incoming/taken.txt", b"mine");
    let (o2, r2) = stor(&mut c, "incoming/free.txt", b"mine too");
    let (o3, r3) = stor(&mut c, "incoming/sub", b"third");
    for (o, r) in [(&o1, &r1), (&o2, &r2), (&o3, &r3)] {
        assert_eq!((o.code, r.code), (150, 226), "{o} / {r}");
    }
    let strip = |t: String, n: &str| t.replace(n, "NAME");
    assert_eq!(
        strip(o1.text(), "taken.txt"),
        strip(o2.text(), "free.txt"),
        "the 150 replies differ only in the name"
    );
    // Nothing was overwritten; the upload over the taken name is kept beside it.
    assert_eq!(
        std::fs::read(srv.path("incoming/taken.txt")).unwrap(),
        b"someone else's"
    );
    assert_eq!(
        std::fs::read(srv.path("incoming/free.txt")).unwrap(),
        b"mine too"
    );
    let all = names(&srv.path("incoming"));
    let fresh: Vec<_> = all.iter().filter(|n| n.starts_with("taken.txt.")).collect();
    assert_eq!(fresh.len(), 1, "{all:?}");
    assert_eq!(
        std::fs::read(srv.path("incoming").join(fresh[0])).unwrap(),
        b"mine"
    );
    // SIZE, MDTM, LIST, NLST, MLST: refused alike whether the name exists or not.
    for verb in ["SIZE", "MDTM", "LIST", "NLST", "MLST", "RETR"] {
        let a = c.cmd(&format!("{verb} incoming/taken.txt"));
        let b = c.cmd(&format!("{verb} incoming/nothing.txt"));
        assert_eq!((a.code, b.code), (550, 550), "{verb}: {a} / {b}");
        assert_eq!(a.text(), b.text(), "{verb}");
    }
    // Subfolders are not told apart from missing ones either: no CWD below the folder, no
    // STOR below it.
    c.expect("EPSV", 229);
    for verb in ["CWD", "STOR"] {
        let a = c.cmd(&format!(
            "{verb} incoming/sub{}",
            if verb == "STOR" { "/x" } else { "" }
        ));
        let b = c.cmd(&format!(
            "{verb} incoming/nosuch{}",
            if verb == "STOR" { "/x" } else { "" }
        ));
        assert_eq!((a.code, b.code), (550, 550), "{verb}: {a} / {b}");
        assert_eq!(a.text(), b.text(), "{verb}");
    }
    c.expect("CWD incoming", 250);
    c.expect("QUIT", 221);
}

#[test]
fn anonymous_uploads_are_capped_and_leave_nothing() {
    let srv = Server::start(&[
        "--anonymous",
        "--anonymous-upload-dir",
        "incoming",
        "--anonymous-upload-max-bytes",
        "100000",
    ]);
    std::fs::create_dir(srv.path("incoming")).unwrap();
    let mut c = anon(&srv);
    let (_, r) = stor(&mut c, "incoming/small.bin", &random_bytes(100_000, 1));
    assert_eq!(r.code, 226, "{r}");
    let (_, r) = stor(&mut c, "incoming/big.bin", &random_bytes(3_000_000, 2));
    assert_eq!(r.code, 552, "{r}");
    assert!(r.text().contains("100000 bytes"), "{r}");
    // Nothing under the final name, and no part file either.
    assert_eq!(names(&srv.path("incoming")), vec!["small.bin".to_string()]);
    // The account may go on.
    let (_, r) = stor(&mut c, "incoming/after.bin", b"ok");
    assert_eq!(r.code, 226, "{r}");
    c.expect("QUIT", 221);
}

fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn uploads_are_created_0640_and_upload_mode_sets_it() {
    let srv = Server::start(&["--no-tls"]);
    let mut c = srv.login();
    let (_, r) = stor(&mut c, "up.bin", b"data");
    assert_eq!(r.code, 226, "{r}");
    // 0640 before the umask, which can only take bits away.
    assert_eq!(
        mode_of(&srv.path("up.bin")) & 0o037,
        0,
        "no group write, nothing for others"
    );
    assert_eq!(mode_of(&srv.path("up.bin")) & 0o600, 0o600);
    drop(c);
    let srv = Server::start(&["--no-tls", "--upload-mode", "0600"]);
    let mut c = srv.login();
    let (_, r) = stor(&mut c, "up.bin", b"data");
    assert_eq!(r.code, 226, "{r}");
    assert_eq!(mode_of(&srv.path("up.bin")), 0o600);
}

#[test]
fn site_chmod_needs_the_chmod_permission_and_never_sets_dangerous_bits() {
    let d = tempfile::tempdir().unwrap();
    let users = d.path().join("users.toml");
    // carol may write and rename, but not chmod; dave has everything.
    kftpd::auth::users::add_user(
        &users,
        "carol",
        PASS,
        None,
        Some(
            ["list", "read", "write", "rename"]
                .map(String::from)
                .to_vec(),
        ),
    )
    .unwrap();
    kftpd::auth::users::add_user(&users, "dave", PASS, None, None).unwrap();
    let srv = own(d, &["--no-tls"]);
    std::fs::write(srv.path("f"), b"x").unwrap();
    let before = mode_of(&srv.path("f"));
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER carol", 331);
    c.expect(&format!("PASS {PASS}"), 230);
    let r = c.expect("SITE CHMOD 600 f", 550);
    assert!(r.text().contains("'chmod'"), "{r}");
    assert_eq!(mode_of(&srv.path("f")), before);
    c.expect("QUIT", 221);
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER dave", 331);
    c.expect(&format!("PASS {PASS}"), 230);
    c.expect("SITE CHMOD 600 f", 200);
    assert_eq!(mode_of(&srv.path("f")), 0o600);
    let r = c.expect("SITE CHMOD 777 f", 200);
    assert!(r.text().contains("world-write"), "{r}");
    assert_eq!(mode_of(&srv.path("f")), 0o775);
    for m in ["4755", "2755", "1777", "6777"] {
        c.expect(&format!("SITE CHMOD {m} f"), 501);
    }
    assert_eq!(mode_of(&srv.path("f")), 0o775);
    c.expect("QUIT", 221);
}

#[test]
fn sighup_rejects_a_users_file_whose_root_holds_the_state_dir() {
    let d = tempfile::tempdir().unwrap();
    let users = d.path().join("users.toml");
    kftpd::auth::users::add_user(&users, "bob", PASS, None, None).unwrap();
    let srv = own(d, &["--no-tls"]);
    // eve's root is the directory that holds the state directory and the users file.
    kftpd::auth::users::add_user(&users, "eve", PASS, Some(srv.dir().to_path_buf()), None).unwrap();
    srv.signal("-HUP");
    let log = srv.wait_log("users file rejected", 1);
    assert!(
        log.contains("users file rejected") && log.contains("inside the served root"),
        "{log}"
    );
    // The old accounts stay: bob logs in, eve does not exist.
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER bob", 331);
    c.expect(&format!("PASS {PASS}"), 230);
    let mut e = Ctl::connect(srv.addr);
    e.expect("USER eve", 331);
    e.expect(&format!("PASS {PASS}"), 530);
}

/// A free-looking range of `n` ports (the kernel's pick, and the ones after it).
fn port_range(n: u16) -> String {
    for _ in 0..50 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let lo = l.local_addr().unwrap().port();
        drop(l);
        if lo < 65535 - n
            && (lo..lo + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        {
            return format!("{lo}-{}", lo + n - 1);
        }
    }
    panic!("no free port range");
}

#[test]
fn one_account_cannot_take_the_whole_passive_pool() {
    // 8 ports: one account may hold max(4, 8/8) = 4.
    let range = port_range(8);
    let srv = Server::start(&["--no-tls", "--passive-ports", &range]);
    let mut alice: Vec<Ctl> = (0..5).map(|_| srv.login()).collect();
    for c in alice.iter_mut().take(4) {
        c.expect("EPSV", 229);
    }
    let r = alice[4].expect("EPSV", 425);
    assert!(
        r.text()
            .contains("Too many passive ports in use by your account"),
        "{r}"
    );
    // A session's new PASV replaces its own listener: no extra port, so it works at the cap.
    alice[0].expect("EPSV", 229);
    alice[0].expect("PASV", 227);
    // Other accounts still get ports.
    let mut reader = Ctl::connect(srv.addr);
    reader.expect(&format!("USER {READER}"), 331);
    reader.expect(&format!("PASS {PASS}"), 230);
    reader.expect("EPSV", 229);
    // A session that ends gives its port back.
    alice[1].expect("QUIT", 221);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = alice[4].cmd("EPSV");
        if r.code == 229 {
            break;
        }
        assert!(Instant::now() < deadline, "port not given back: {r}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The ports are real: a transfer over one works.
    std::fs::write(srv.path("f"), b"abc").unwrap();
    let d = alice[2].epsv();
    alice[2].expect("RETR f", 150);
    assert_eq!(read_all(d), b"abc");
    let r = alice[2].read();
    assert_eq!(r.code, 226, "{r}");
}

#[test]
fn landlock_is_on_by_default_and_no_sandbox_turns_it_off() {
    let d = tempfile::tempdir().unwrap();
    let users = d.path().join("users.toml");
    kftpd::auth::users::add_user(&users, "bob", PASS, None, None).unwrap();
    let srv = own(d, &["--no-tls"]);
    let log = srv.log_text();
    if log.contains("this kernel does not support it") {
        assert!(log.contains("INFO"), "{log}");
        kftp_testkit::skip("kernel without Landlock: only the fallback line is checked");
        return;
    }
    assert!(log.contains("Landlock applied"), "{log}");
    // Serving still works under it: upload, list, download.
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER bob", 331);
    c.expect(&format!("PASS {PASS}"), 230);
    let (_, r) = stor(&mut c, "x.bin", b"landlocked");
    assert_eq!(r.code, 226, "{r}");
    assert_eq!(std::fs::read(srv.path("x.bin")).unwrap(), b"landlocked");
    drop(srv);
    let srv = own(tempfile::tempdir().unwrap(), &["--no-tls", "--no-sandbox"]);
    let log = srv.log_text();
    assert!(log.contains("Landlock not applied (--no-sandbox)"), "{log}");
}

#[test]
fn world_writable_state_refuses_to_start_and_readable_state_is_logged() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (ok, err) = refused(
        &[
            "--root",
            s(&d.path().join("public")),
            "--state-dir",
            s(&state),
        ],
        true,
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("world-writable") && err.contains("chmod"),
        "{err}"
    );
    // Readable by others: it starts, and says so.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let users = d.path().join("users.toml");
    kftpd::auth::users::add_user(&users, "bob", PASS, None, None).unwrap();
    let log = d.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["--listen", "127.0.0.1:0", "--no-tls", "--users", s(&users)])
        .args([
            "--root",
            s(&d.path().join("public")),
            "--state-dir",
            s(&state),
        ])
        .args(kftp_testkit::kftpd_root_args())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    read_banner(&mut child, false, &log);
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("readable by other local users"), "{text}");
}

#[test]
fn root_with_user_serves_without_allow_root() {
    if !kftp_testkit::running_as_root() {
        kftp_testkit::skip("needs root: --user only switches users when started as root");
        return;
    }
    if nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .is_none()
    {
        kftp_testkit::skip("no user 'nobody' on this machine");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let public = d.path().join("public");
    std::fs::create_dir(&public).unwrap();
    let log = d.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["--listen", "127.0.0.1:0", "--no-tls", "--user", "nobody"])
        .args([
            "--root",
            s(&public),
            "--state-dir",
            s(&d.path().join("state")),
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let l = read_banner(&mut child, false, &log);
    let mut c = Ctl::connect(l.addr);
    c.expect("NOOP", 200);
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("dropped privileges"), "{text}");
}

/// The README's first command (`kftpd` with no arguments) works for a newcomer who happens to
/// be root: loopback only, with a loud warning, instead of the refusal that any other
/// configuration gets.
#[test]
fn embedded_default_serves_as_root_on_loopback_with_a_warning() {
    if !kftp_testkit::running_as_root() {
        kftp_testkit::skip("needs root: the exception is for root");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kftpd"));
    cmd.current_dir(d.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("KFTPD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("running as root without --user"),
        "{stderr}"
    );
    // Port 2121 may be taken on a busy machine; then the start fails for that reason only.
    assert!(
        stdout.contains("listening on") || stderr.contains("2121"),
        "{stdout}\n{stderr}"
    );
    if stdout.contains("listening on") {
        assert!(
            stderr.contains("started as root with no arguments"),
            "{stderr}"
        );
    }
}
