//! The authentication cache (`--auth-cache-ttl`) against a real kftpd: hits are seen in
//! the debug log ("login verified from cache"), never inferred from timings.

use crate::harness::*;
use std::path::PathBuf;

const HIT: &str = "login verified from cache";

/// A kftpd with its own users file (alice), so a test may change her password.
struct Srv(Running);

impl std::ops::Deref for Srv {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl Srv {
    fn start(extra: &[&str]) -> Srv {
        Srv(kftp_testkit::Server::new()
            .bin(env!("CARGO_BIN_EXE_kftpd"))
            .user(USER, PASS)
            .arg("--no-tls")
            .args(extra)
            .start())
    }

    fn users(&self) -> PathBuf {
        self.dir().join("users.toml")
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
        self.signal("-HUP");
        self.wait_log("SIGHUP: reload done", before + 1);
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
