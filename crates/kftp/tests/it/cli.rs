//! The `kftp` binary itself: arguments, output, exit codes.

use crate::vsftpd::{Tls, Vsftpd};
use crate::{random_bytes, sha256_file, tree_hashes};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs kftp with an empty netrc and no password in the environment, in `cwd`.
fn kftp(cwd: &Path, args: &[&str]) -> Output {
    let netrc = cwd.join(".no-netrc");
    Command::new(env!("CARGO_BIN_EXE_kftp"))
        .args(args)
        .arg("--netrc")
        .arg(&netrc)
        .current_dir(cwd)
        .env_remove("KFTP_PASSWORD")
        .env("HOME", cwd)
        .stdin(Stdio::null())
        .output()
        .expect("running kftp")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "kftp failed ({:?}): {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_documents_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let o = kftp(dir.path(), &["--help"]);
    let out = ok(&o);
    for needle in [
        "Exit codes",
        "authentication failed",
        "not found",
        "permission denied",
        "network failure",
        "TLS failure",
        "KFTP_PASSWORD",
        "netrc",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}");
    }
    let o = kftp(dir.path(), &["get"]);
    assert_eq!(o.status.code(), Some(2));
    let o = kftp(dir.path(), &["ls", "http://example.com/"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("kftp: "),
        "error format"
    );
}

#[test]
fn get_put_ls_cat_and_file_commands() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("up.bin"), random_bytes(1_000_003, 7)).unwrap();
    ok(&kftp(d, &["mkdir", "-p", &v.url("x/y/z")]));
    assert!(v.root.join("x/y/z").is_dir());
    ok(&kftp(d, &["put", "up.bin", &v.url("x/")]));
    assert_eq!(
        sha256_file(&v.root.join("x/up.bin")),
        sha256_file(&d.join("up.bin"))
    );
    let listing = ok(&kftp(d, &["ls", &v.url("x/")]));
    assert_eq!(listing, "up.bin\ny/\n");
    let long = ok(&kftp(d, &["ls", "-l", &v.url("x/")]));
    assert!(
        long.contains("1000003") && long.contains("up.bin"),
        "{long}"
    );
    ok(&kftp(d, &["get", &v.url("x/up.bin"), "down.bin"]));
    assert_eq!(
        sha256_file(&d.join("down.bin")),
        sha256_file(&d.join("up.bin"))
    );
    ok(&kftp(
        d,
        &["--active", "get", &v.url("x/up.bin"), "active.bin"],
    ));
    assert_eq!(
        sha256_file(&d.join("active.bin")),
        sha256_file(&d.join("up.bin"))
    );
    ok(&kftp(d, &["mv", &v.url("x/up.bin"), "x/moved.bin"]));
    assert!(v.root.join("x/moved.bin").is_file());
    std::fs::write(v.root.join("hello.txt"), b"hi there\n").unwrap();
    assert_eq!(ok(&kftp(d, &["cat", &v.url("hello.txt")])), "hi there\n");
    ok(&kftp(d, &["rm", &v.url("x/moved.bin"), "hello.txt"]));
    assert!(!v.root.join("x/moved.bin").exists() && !v.root.join("hello.txt").exists());
    ok(&kftp(d, &["rmdir", &v.url("x/y/z")]));
    assert!(!v.root.join("x/y/z").exists());
}

#[test]
fn resume_and_segments() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = random_bytes(5 << 20, 11);
    std::fs::write(v.root.join("big.bin"), &data).unwrap();
    std::fs::write(d.join("big.bin"), &data[..1_000_000]).unwrap();
    ok(&kftp(d, &["get", "-c", &v.url("big.bin")]));
    assert_eq!(std::fs::read(d.join("big.bin")).unwrap(), data);
    ok(&kftp(
        d,
        &["get", "--segments", "4", &v.url("big.bin"), "seg.bin"],
    ));
    assert_eq!(std::fs::read(d.join("seg.bin")).unwrap(), data);
    std::fs::write(v.root.join("half.bin"), &data[..(3 << 20)]).unwrap();
    ok(&kftp(d, &["put", "-c", "big.bin", &v.url("half.bin")]));
    assert_eq!(std::fs::read(v.root.join("half.bin")).unwrap(), data);
}

#[test]
fn mirror_down_and_up() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (p, n) in [("t/a", 5000), ("t/s/b", 70_000), ("t/s/u/c", 3)] {
        let path = v.root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, random_bytes(n, n as u64)).unwrap();
    }
    ok(&kftp(
        d,
        &["mirror", "--parallel", "2", &v.url("t/"), "local"],
    ));
    assert_eq!(
        tree_hashes(&d.join("local")),
        tree_hashes(&v.root.join("t"))
    );
    std::fs::write(d.join("local/s/extra"), b"extra").unwrap();
    ok(&kftp(d, &["mirror", "local", &v.url("t2")]));
    assert_eq!(
        tree_hashes(&v.root.join("t2")),
        tree_hashes(&d.join("local"))
    );
    std::fs::remove_file(d.join("local/a")).unwrap();
    ok(&kftp(d, &["mirror", "--delete", "local", &v.url("t2")]));
    assert!(!v.root.join("t2/a").exists());
    assert_eq!(
        tree_hashes(&v.root.join("t2")),
        tree_hashes(&d.join("local"))
    );
    let o = kftp(d, &["mirror", "local", "other"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn exit_codes_for_failures() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // This vsftpd is anonymous-only: any other user is refused at USER.
    let o = kftp(d, &["ls", &format!("ftp://bob@127.0.0.1:{}/", v.port)]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = kftp(d, &["get", &v.url("no/such/file")]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!d.join("file").exists());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.starts_with("kftp: get no/such/file: 550"),
        "{stderr}"
    );
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = kftp(d, &["ls", &format!("ftp://127.0.0.1:{closed}/")]);
    assert_eq!(
        o.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // --verify against a server without checksum commands fails loudly, not silently.
    std::fs::write(v.root.join("f"), b"x").unwrap();
    let o = kftp(d, &["get", "--verify", &v.url("f")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no checksum command"));
    // A password in the URL works, with a warning.
    let o = kftp(
        d,
        &[
            "ls",
            &format!("ftp://anonymous:secret@127.0.0.1:{}/", v.port),
        ],
    );
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning"));
}

#[test]
fn netrc_supplies_credentials() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(v.root.join("n"), b"netrc").unwrap();
    // netrc says "bob": the anonymous-only server refuses, which proves netrc was read.
    let netrc = d.join("mynetrc");
    std::fs::write(&netrc, "machine 127.0.0.1 login bob password pw\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kftp"))
        .args(["cat", &v.url("n"), "--netrc"])
        .arg(&netrc)
        .env("HOME", d)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    std::fs::write(&netrc, "machine 127.0.0.1 login anonymous password me@\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kftp"))
        .args(["cat", &v.url("n"), "--netrc"])
        .arg(&netrc)
        .env("HOME", d)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(ok(&o), "netrc");
}

#[test]
fn tls_flags() {
    let Some(v) = Vsftpd::start(Tls::Explicit) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(v.root.join("s"), b"secret").unwrap();
    let pin = v.pin.clone().unwrap();
    assert_eq!(
        ok(&kftp(
            d,
            &["cat", "--tls", "--pin-sha256", &pin, &v.url("s")]
        )),
        "secret"
    );
    // Without a pin the self-signed certificate fails verification: exit 7.
    let o = kftp(d, &["cat", "--tls", &v.url("s")]);
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Without --tls this server (force_anon_logins_ssl) refuses the login.
    let o = kftp(d, &["cat", &v.url("s")]);
    assert_ne!(o.status.code(), Some(0));
    let o = kftp(d, &["cat", "--pin-sha256", &pin, &v.url("s")]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a pin without TLS is a usage error"
    );
}
