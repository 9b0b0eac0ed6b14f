//! The authentication cache (`--auth-cache-ttl`) against a real kftpd: hits are seen in
//! the debug log ("login verified from cache"), never inferred from timings.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HIT: &str = "login verified from cache";

/// A kftpd with its own users file (alice), so a test may change her password.
struct Srv {
    child: Child,
    addr: std::net::SocketAddr,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Srv {
    fn start(extra: &[&str]) -> Srv {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("root")).unwrap();
        kftpd::auth::users::add_user(&d.join("users.toml"), USER, PASS, None, None).unwrap();
        let log = d.join("kftpd.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kftpd"))
            .args(kftp_testkit::kftpd_root_args())
            .args(["--listen", "127.0.0.1:0", "--no-tls", "--root"])
            .arg(d.join("root"))
            .arg("--users")
            .arg(d.join("users.toml"))
            .arg("--state-dir")
            .arg(d.join("state"))
            .args(extra)
            .env("KFTPD_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start kftpd");
        let addr = launched(&mut child, false, &log).addr;
        Srv {
            child,
            addr,
            log,
            dir,
        }
    }

    fn users(&self) -> PathBuf {
        self.dir.path().join("users.toml")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn hits(&self) -> usize {
        self.log_text().matches(HIT).count()
    }

    /// USER/PASS/QUIT; returns the PASS reply code.
    fn try_login(&self, password: &str) -> u16 {
        let mut c = Ctl::connect(self.addr);
        c.expect(&format!("USER {USER}"), 331);
        let code = c.cmd(&format!("PASS {password}")).code;
        c.cmd("QUIT");
        code
    }

    fn reload(&self) {
        let before = self.log_text().matches("SIGHUP: reload done").count();
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
        wait_for(&self.log, "SIGHUP: reload done", before + 1);
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(log: &Path, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = std::fs::read_to_string(log).unwrap_or_default();
        if t.matches(needle).count() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no {needle:?} in log:\n{t}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn second_login_hits_and_a_wrong_password_is_still_refused() {
    let srv = Srv::start(&[]);
    assert_eq!(srv.try_login(PASS), 230);
    assert_eq!(srv.hits(), 0, "the first login pays Argon2id");
    assert_eq!(srv.try_login(PASS), 230);
    assert_eq!(srv.hits(), 1, "{}", srv.log_text());
    assert_eq!(srv.try_login("not-the-password"), 530);
    assert_eq!(srv.hits(), 1);
    assert!(srv.log_text().contains("login failed"));
    // The failure cached nothing and evicted nothing: the right password still hits.
    assert_eq!(srv.try_login(PASS), 230);
    assert_eq!(srv.hits(), 2);
}

#[test]
fn changed_password_and_sighup_make_the_old_one_fail_at_once() {
    let srv = Srv::start(&["--auth-cache-ttl", "3600"]);
    assert_eq!(srv.try_login(PASS), 230);
    assert_eq!(srv.try_login(PASS), 230);
    assert_eq!(srv.hits(), 1);
    kftpd::auth::users::add_user(&srv.users(), USER, "brand-new-pw", None, None).unwrap();
    srv.reload();
    assert_eq!(srv.try_login(PASS), 530, "old password after reload");
    assert_eq!(srv.try_login("brand-new-pw"), 230);
    assert_eq!(srv.try_login("brand-new-pw"), 230);
    assert_eq!(srv.hits(), 2, "only the repeated new password hit");
}

#[test]
fn ttl_zero_never_caches() {
    let srv = Srv::start(&["--auth-cache-ttl", "0"]);
    for _ in 0..3 {
        assert_eq!(srv.try_login(PASS), 230);
    }
    assert_eq!(srv.try_login("not-the-password"), 530);
    assert_eq!(srv.try_login(PASS), 230);
    assert_eq!(srv.hits(), 0, "{}", srv.log_text());
}
