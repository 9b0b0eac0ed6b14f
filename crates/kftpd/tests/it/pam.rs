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
    assert!(
        log.contains("uid 0 is below"),
        "root never reaches PAM: {log}"
    );
    assert!(log.contains("Landlock not applied: --auth pam"), "{log}");
    drop(srv);

    // PAM failures count toward the same ban as users-file failures.
    let srv = Server::start(&[
        "--auth",
        "pam",
        "--pam-service",
        &acct.service,
        "--ban-after",
        "2",
    ]);
    let mut c = login(&srv, &acct.name, "wrong-password", 530);
    c.expect(&format!("USER {}", acct.name), 331);
    let r = c.cmd("PASS wrong-again");
    assert!(r.code == 421 && r.text().contains("banned"), "{r}");
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

/// kftpd's own service account for `--user`, removed on drop.
struct ServiceUser(String);

impl ServiceUser {
    fn create(tag: &str, groups: &[&str]) -> ServiceUser {
        let name = format!("kftps{}{tag}", std::process::id());
        let mut cmd = Command::new("useradd");
        cmd.args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
        ]);
        if !groups.is_empty() {
            cmd.args(["--groups", &groups.join(",")]);
        }
        let (ok, _, err) = run(cmd.arg(&name));
        assert!(ok, "useradd {name}: {err}");
        ServiceUser(name)
    }
}

impl Drop for ServiceUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn pam_after_dropping_root_needs_only_group_shadow() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !can_run() {
        return;
    }
    let acct = Account::create("c");
    // kftpd works as its own user: it must reach the home (SECURITY.md).
    let set_mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    set_mode(acct._dir.path(), 0o755).unwrap();
    set_mode(&acct.home, 0o777).unwrap();
    let with = ServiceUser::create("s", &["shadow"]);
    let srv = Server::start(&[
        "--auth",
        "pam",
        "--pam-service",
        &acct.service,
        "--user",
        &with.0,
    ]);
    let mut c = login(&srv, &acct.name, &acct.password, 230);
    let mut d = c.epsv();
    c.expect("STOR dropped.txt", 150);
    std::io::Write::write_all(&mut d, b"as the service user").unwrap();
    drop(d);
    assert_eq!(c.read().code, 226);
    c.expect("QUIT", 221);
    let meta = std::fs::metadata(acct.home.join("dropped.txt")).unwrap();
    let svc_uid = nix_uid(&with.0);
    assert_eq!(meta.uid(), svc_uid, "files are created as kftpd's user");
    login(&srv, &acct.name, "wrong-password", 530);
    assert!(plain_log(&srv).contains("kept supplementary group"));
    drop(srv);

    // Without the group pam_unix cannot read /etc/shadow, and unix_chkpwd answers only for
    // the caller's own account: the login fails, and kftpd said why at start.
    let without = ServiceUser::create("n", &[]);
    let srv = Server::start(&[
        "--auth",
        "pam",
        "--pam-service",
        &acct.service,
        "--user",
        &without.0,
    ]);
    login(&srv, &acct.name, &acct.password, 530);
    assert!(plain_log(&srv).contains("is not in group shadow"));
}

fn nix_uid(name: &str) -> u32 {
    let (ok, out, _) = run(Command::new("id").args(["-u", name]));
    assert!(ok);
    out.trim().parse().unwrap()
}
