//! `--auth pam` (issue #18 item 1): a system account that the test creates logs in through
//! a PAM service the test writes, is jailed to its home (or `--pam-root`), moves bytes
//! exactly; a wrong password gets 530; `pam,file` and `file,pam` try both.

use crate::harness::*;
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A system account and a PAM service file, removed on drop (also when the test fails).
struct Account {
    name: String,
    password: String,
    home: PathBuf,
    service: String,
    _dir: tempfile::TempDir,
}

impl Account {
    /// Creates `kftpt<pid><tag>` with a home under a temp directory and a random password,
    /// and `/etc/pam.d/kftpd-test-<pid><tag>` (pam_unix only, no failure delay).
    fn create(tag: &str) -> Account {
        let id = format!("{}{tag}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let name = format!("kftpt{id}");
        let service = format!("kftpd-test-{id}");
        let password = format!("pw-{:016x}", rand_u64());
        let acct = Account {
            name,
            password,
            home,
            service,
            _dir: dir,
        };
        std::fs::write(
            acct.service_file(),
            "auth required pam_unix.so nodelay\naccount required pam_unix.so\n",
        )
        .unwrap();
        let (ok, _, err) = run(Command::new("useradd")
            .args(["--create-home", "--shell", "/bin/sh", "--home-dir"])
            .arg(&acct.home)
            .arg(&acct.name));
        assert!(ok, "useradd: {err}");
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let line = format!("{}:{}\n", acct.name, acct.password);
        chpasswd
            .stdin
            .take()
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
        assert!(chpasswd.wait().unwrap().success(), "chpasswd");
        acct
    }

    fn service_file(&self) -> PathBuf {
        Path::new("/etc/pam.d").join(&self.service)
    }

    fn url(&self, srv: &Server) -> String {
        format!("ftp://{}:{}@{}", self.name, self.password, srv.host_port())
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .args(["--remove", &self.name])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(self.service_file());
    }
}

fn rand_u64() -> u64 {
    let b = random_bytes(8, std::process::id().into());
    u64::from_le_bytes(b[..8].try_into().unwrap())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
}

/// Root is needed to create accounts and for pam_unix to read /etc/shadow.
fn can_run() -> bool {
    if !kftp_testkit::running_as_root() {
        kftp_testkit::skip("--auth pam tests create a system account: run as root");
        return false;
    }
    for prog in ["useradd", "userdel", "chpasswd", "curl"] {
        if !kftp_testkit::need(prog) {
            return false;
        }
    }
    true
}

fn curl(args: &[&str]) -> (bool, String, String) {
    run_limited(
        Command::new("curl")
            .args(["-sS", "--max-time", "30"])
            .args(args),
        40,
    )
}

fn login(srv: &Server, user: &str, pass: &str, code: u16) -> Ctl {
    let mut c = Ctl::connect(srv.addr);
    c.expect(&format!("USER {user}"), 331);
    c.expect(&format!("PASS {pass}"), code);
    c
}

#[test]
fn pam_account_is_jailed_to_its_home_and_moves_exact_bytes() {
    if !can_run() {
        return;
    }
    let acct = Account::create("a");
    let srv = Server::start(&["--auth", "pam", "--pam-service", &acct.service]);
    // The jail is the home: what is in it is at "/", and a link out of it is refused by
    // the kernel (RESOLVE_BENEATH), whatever the path looks like.
    std::fs::write(acct.home.join("marker.txt"), b"home\n").unwrap();
    std::os::unix::fs::symlink("/etc", acct.home.join("etc-link")).unwrap();
    let mut c = login(&srv, &acct.name, &acct.password, 230);
    c.expect("CWD ../../..", 250);
    assert!(c.expect("PWD", 257).text().contains("\"/\""));
    c.expect("SIZE /marker.txt", 213);
    c.expect("SIZE etc-link/passwd", 550);
    c.expect("SIZE ../../../etc/passwd", 550);
    c.expect("QUIT", 221);

    // Byte-exact both ways with curl.
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(3 << 20, 18);
    let src = dir.path().join("up.bin");
    std::fs::write(&src, &data).unwrap();
    let url = acct.url(&srv);
    let (ok, _, err) = curl(&["-T", src.to_str().unwrap(), &format!("{url}/up.bin")]);
    assert!(ok, "upload: {err}\n{}", plain_log(&srv));
    assert_eq!(
        sha256(&std::fs::read(acct.home.join("up.bin")).unwrap()),
        sha256(&data)
    );
    let back = dir.path().join("back.bin");
    let (ok, _, err) = curl(&["-o", back.to_str().unwrap(), &format!("{url}/up.bin")]);
    assert!(ok, "download: {err}");
    assert_eq!(sha256(&std::fs::read(&back).unwrap()), sha256(&data));

    // A wrong password, an unknown name and a users-file account (not a source here): 530.
    login(&srv, &acct.name, "wrong-password", 530);
    login(&srv, "kftpt-nobody-here", &acct.password, 530);
    login(&srv, USER, PASS, 530);
    // Root, whatever its password, is never served.
    login(&srv, "root", "whatever", 530);
    let log = plain_log(&srv);
    assert!(log.contains("PAM login refused"), "{log}");
    assert!(log.contains("Landlock not applied: --auth pam"), "{log}");
}

#[test]
fn pam_and_file_both_log_in_in_the_order_written_and_pam_root_keeps_landlock() {
    if !can_run() {
        return;
    }
    let acct = Account::create("b");
    let roots = tempfile::tempdir().unwrap();
    let jail = roots.path().join(&acct.name);
    std::fs::create_dir(&jail).unwrap();
    std::fs::write(jail.join("in-root.txt"), b"pam root\n").unwrap();
    let template = format!("{}/{{user}}", roots.path().display());
    for order in ["pam,file", "file,pam"] {
        let srv = Server::start(&[
            "--auth",
            order,
            "--pam-service",
            &acct.service,
            "--pam-root",
            &template,
            "--pam-perms",
            "list,read",
        ]);
        let mut c = login(&srv, &acct.name, &acct.password, 230);
        c.expect("SIZE in-root.txt", 213);
        // --pam-perms list,read: no uploads.
        c.expect("MKD newdir", 550);
        c.expect("QUIT", 221);
        let mut c = login(&srv, USER, PASS, 230);
        c.expect("QUIT", 221);
        login(&srv, &acct.name, "wrong-password", 530);
        let log = plain_log(&srv);
        assert!(!log.contains("Landlock not applied"), "{order}: {log}");
    }
    assert!(!jail.join("newdir").exists());
}
