//! The client against this project's own server, `kftpd`, started as a process the way a
//! user would: `kftpd user add`, then kftpd through `kftp_testkit::Server`, which reads the
//! address and certificate pin from its first lines of output.
//!
//! kftpd is another package of the workspace, so its binary is found beside this test's
//! (`kftp_testkit::kftpd_bin`), where `cargo test --workspace` builds it. Without it the
//! tests print SKIP.

use crate::suite::Fixture;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const USER: &str = "alice";
const PASS: &str = "correct horse battery";

pub struct Kftpd {
    pub port: u16,
    pub pin: String,
    pub root: PathBuf,
    pub tls: bool,
    _srv: kftp_testkit::Running,
}

impl Kftpd {
    pub fn start(tls: bool) -> Option<Kftpd> {
        Self::start_on("127.0.0.1:0", tls)
    }

    pub fn start_on(listen: &str, tls: bool) -> Option<Kftpd> {
        Self::start_with(listen, tls, false, &[])
    }

    /// A server whose account is made with extra `kftpd user add` options (a quota).
    pub fn start_account(tls: bool, account: &[&str]) -> Option<Kftpd> {
        Self::start_full("127.0.0.1:0", tls, false, &[], account)
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        self._srv.log_text()
    }

    /// The log once `needle` is in it `n` times (20 s at most).
    pub fn wait_log(&self, needle: &str, n: usize) -> String {
        self._srv.wait_log(needle, n)
    }

    /// Sends the server process `sig` (`-STOP`: it goes silent, its connections open).
    pub fn signal(&self, sig: &str) {
        self._srv.signal(sig)
    }

    /// A server with extra flags (unprivileged, so pipelined runs work as in `pipeline.rs`).
    pub fn start_flags(tls: bool, flags: &[&str]) -> Option<Kftpd> {
        Self::start_with("127.0.0.1:0", tls, true, flags)
    }

    /// kftpd as an account that file modes bind: as root it drops to `nobody`, so a
    /// file of mode 000 (or a directory of 0555) stays closed to it, as to any other user.
    pub fn start_unprivileged(tls: bool) -> Option<Kftpd> {
        Self::start_with("127.0.0.1:0", tls, true, &[])
    }

    fn start_with(listen: &str, tls: bool, unprivileged: bool, flags: &[&str]) -> Option<Kftpd> {
        Self::start_full(listen, tls, unprivileged, flags, &[])
    }

    fn start_full(
        listen: &str,
        tls: bool,
        unprivileged: bool,
        flags: &[&str],
        account: &[&str],
    ) -> Option<Kftpd> {
        let Some(bin) = kftp_testkit::kftpd_bin() else {
            crate::vsftpd::skip(
                "kftpd binary not built beside the tests (run cargo test --workspace)",
            );
            return None;
        };
        // The account the way a user makes it; the server runs in the same directory.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut add = Command::new(&bin)
            .args(["user", "add", USER, "--password-stdin", "--users"])
            .arg(dir.path().join("users.toml"))
            .args(account)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kftpd user add");
        add.stdin
            .take()
            .expect("piped stdin")
            .write_all(format!("{PASS}\n").as_bytes())
            .expect("password");
        assert!(add.wait().expect("kftpd user add").success());
        let mut srv = kftp_testkit::Server::new().bin(bin);
        if unprivileged && kftp_testkit::running_as_root() {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path, m| {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
            };
            mode(dir.path(), 0o755);
            std::fs::create_dir(dir.path().join("root")).expect("root dir");
            mode(&dir.path().join("root"), 0o777);
            srv = srv.args(["--user", "nobody"]);
        }
        let srv = srv.args(flags).dir(dir).listen(listen).start();
        let pin = srv
            .fingerprint
            .clone()
            .expect("kftpd printed its certificate pin");
        Some(Kftpd {
            port: srv.addr.port(),
            pin,
            root: srv.root().to_path_buf(),
            tls,
            _srv: srv,
        })
    }

    pub fn fixture(&self) -> Fixture {
        let mut opts = kftp::ConnectOptions::new("127.0.0.1", self.port);
        if self.tls {
            let cfg = kftp_tls::client_config(&kftp_tls::ClientTlsOptions {
                pin_sha256: Some(self.pin.clone()),
                ..Default::default()
            })
            .expect("client config");
            opts.security = kftp::Security::Explicit;
            opts.tls = Some(kftp::TlsSetup::new(cfg, "127.0.0.1").expect("server name"));
        }
        Fixture {
            opts,
            creds: kftp::Credentials {
                user: USER.into(),
                password: Some(kftp::Password::new(PASS)),
            },
            root: self.root.clone(),
        }
    }
}

mod plain {
    use super::Kftpd;
    crate::core_suite!(Kftpd::start(false));
}

mod tls {
    use super::Kftpd;
    crate::core_suite!(Kftpd::start(true));
}

#[tokio::test]
async fn hash_and_verify_use_the_servers_checksums() {
    let Some(s) = Kftpd::start(true) else { return };
    let f = s.fixture();
    let data = crate::random_bytes(1_000_000, 21);
    std::fs::write(s.root.join("h.bin"), &data).unwrap();
    let mut c = f.client().await;
    let (algo, hex) = c.remote_hash("h.bin", None).await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let p = local.path().join("h.bin");
    std::fs::write(&p, &data).unwrap();
    assert_eq!(kftp::hash::local_hash(&p, algo).await.unwrap(), hex);
    for want in [
        kftp::HashAlgo::Sha1,
        kftp::HashAlgo::Md5,
        kftp::HashAlgo::Crc32,
    ] {
        let (got, hex) = c.remote_hash("h.bin", Some(want)).await.unwrap();
        assert_eq!(got, want);
        assert_eq!(kftp::hash::local_hash(&p, want).await.unwrap(), hex);
    }
    c.verify(&p, "h.bin").await.unwrap();
    std::fs::write(&p, b"different").unwrap();
    let err = c.verify(&p, "h.bin").await.unwrap_err();
    assert_eq!(err.kind(), kftp::ErrorKind::Integrity);
}

#[tokio::test]
async fn wrong_password_is_an_auth_error() {
    let Some(s) = Kftpd::start(false) else { return };
    let mut f = s.fixture();
    f.creds.password = Some(kftp::Password::new("wrong"));
    let err = kftp::Client::connect(f.opts.clone(), f.creds.clone())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), kftp::ErrorKind::Auth, "{err}");
}

#[test]
fn cli_against_kftpd() {
    let Some(s) = Kftpd::start(true) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f.bin"), crate::random_bytes(2_500_000, 5)).unwrap();
    let url = |p: &str| format!("ftp://{USER}@127.0.0.1:{}/{p}", s.port);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kftp"))
            .args(["--tls", "--pin-sha256", &s.pin, "--netrc"])
            .arg(d.join("none"))
            .args(args)
            .current_dir(d)
            .env("KFTP_PASSWORD", PASS)
            .stdin(Stdio::null())
            .output()
            .expect("kftp")
    };
    let o = run(&["put", "--verify", "f.bin", &url("")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["get", "--verify", "--segments", "3", &url("f.bin"), "g.bin"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        crate::sha256_file(&d.join("g.bin")),
        crate::sha256_file(&d.join("f.bin"))
    );
    let o = run(&["hash", &url("f.bin")]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&crate::sha256_file(&d.join("f.bin"))), "{out}");
    let o = run(&["get", &url("missing")]);
    assert_eq!(o.status.code(), Some(4));
}

#[test]
fn ipv6_literal_urls_passive_and_active() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        crate::vsftpd::skip("no IPv6 loopback here");
        return;
    }
    let Some(s) = Kftpd::start_on("[::1]:0", false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(s.root.join("six.bin"), crate::random_bytes(300_000, 6)).unwrap();
    for mode in [None, Some("--active")] {
        let o = Command::new(env!("CARGO_BIN_EXE_kftp"))
            .args(mode)
            .args(["--netrc"])
            .arg(d.join("none"))
            .args([
                "get",
                &format!("ftp://{USER}@[::1]:{}/six.bin", s.port),
                "six.bin",
            ])
            .current_dir(d)
            .env("KFTP_PASSWORD", PASS)
            .stdin(Stdio::null())
            .output()
            .expect("kftp");
        assert!(
            o.status.success(),
            "{mode:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            crate::sha256_file(&d.join("six.bin")),
            crate::sha256_file(&s.root.join("six.bin"))
        );
    }
}
