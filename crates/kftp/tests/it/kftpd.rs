//! The client against this project's own server, `kftpd`, started as a process the way a
//! user would: `kftpd user add`, then `kftpd --listen 127.0.0.1:0 --root DIR ...`, reading
//! the address and certificate pin from its first lines of output.
//!
//! kftpd is another package of the workspace, so its binary is found beside this test's
//! (`target/<profile>/kftpd`), where `cargo test --workspace` builds it. Without it the
//! tests print SKIP.

use crate::suite::Fixture;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const USER: &str = "alice";
const PASS: &str = "correct horse battery";

pub struct Kftpd {
    child: Child,
    pub port: u16,
    pub pin: String,
    pub root: PathBuf,
    pub tls: bool,
    _dir: tempfile::TempDir,
}

impl Drop for Kftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/it-<hash> -> target/<profile>/kftpd
    let p = exe.parent()?.parent()?.join("kftpd");
    p.exists().then_some(p)
}

impl Kftpd {
    pub fn start(tls: bool) -> Option<Kftpd> {
        Self::start_on("127.0.0.1:0", tls)
    }

    pub fn start_on(listen: &str, tls: bool) -> Option<Kftpd> {
        let Some(bin) = binary() else {
            crate::vsftpd::skip(
                "kftpd binary not built beside the tests (run cargo test --workspace)",
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("root");
        let users = dir.path().join("users.toml");
        let mut add = Command::new(&bin)
            .args(["user", "add", USER, "--password-stdin", "--users"])
            .arg(&users)
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
        let mut child = Command::new(&bin)
            .args(["--listen", listen, "--root"])
            .arg(&root)
            .arg("--users")
            .arg(&users)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(kftp_testkit::kftpd_root_args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting kftpd");
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (mut port, mut pin) = (None, None);
        for _ in 0..10 {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if let Some(i) = line.find("listening on ") {
                port = line[i + 13..]
                    .split([',', ' '])
                    .next()
                    .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
                    .map(|a| a.port());
            }
            if let Some(i) = line.find("SHA-256 ") {
                pin = line[i + 8..].split_whitespace().next().map(str::to_string);
                break;
            }
        }
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        let (Some(port), Some(pin)) = (port, pin) else {
            let _ = child.kill();
            panic!("kftpd did not print its address and certificate pin");
        };
        Some(Kftpd {
            child,
            port,
            pin,
            root,
            tls,
            _dir: dir,
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
