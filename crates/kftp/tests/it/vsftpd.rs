//! A real vsftpd (Debian's `vsftpd` package) on an ephemeral loopback port, anonymous,
//! rooted in a temp dir, standalone in the foreground, killed on drop.
//!
//! `run_as_launching_user=YES` lets it run without the privileged parent or a chroot, so
//! the anonymous login lands in `anon_root` with full write access (the test's temp dir),
//! and paths the server prints are host paths: tests use relative paths only.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const VSFTPD: &str = "/usr/sbin/vsftpd";

/// TLS settings for an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    None,
    /// AUTH TLS on the normal port; PROT P required for anonymous data too.
    Explicit,
    /// TLS from the first byte.
    Implicit,
}

pub struct Vsftpd {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
    /// SHA-256 pin of the server certificate, when TLS is on.
    pub pin: Option<String>,
    pub tls: Tls,
    _dir: tempfile::TempDir,
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use kftp_testkit::skip;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

impl Vsftpd {
    /// Starts an instance, or prints SKIP and returns `None` if vsftpd is not installed.
    pub fn start(tls: Tls) -> Option<Vsftpd> {
        if !Path::new(VSFTPD).exists() {
            skip("vsftpd is not installed (apt-get install vsftpd)");
            return None;
        }
        for _ in 0..5 {
            if let Some(v) = Self::try_start(tls) {
                return Some(v);
            }
        }
        panic!("vsftpd did not come up in five tries");
    }

    fn try_start(tls: Tls) -> Option<Vsftpd> {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("root dir");
        let port = free_port();
        // isolate=NO, isolate_network=NO: no new PID and network namespace per session.
        // A network namespace per login is costly kernel work that shares locks with every
        // other namespace made or torn down on the machine (benchmarks make many); under
        // load a login once got no reply within the client's 30 s, probably from that.
        // What these tests check is the client, not vsftpd's sandbox.
        let mut conf = format!(
            "listen=YES\nlisten_ipv6=NO\nbackground=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             run_as_launching_user=YES\nanonymous_enable=YES\nno_anon_password=YES\n\
             anon_root={root}\nlocal_enable=NO\nwrite_enable=YES\nanon_upload_enable=YES\n\
             anon_mkdir_write_enable=YES\nanon_other_write_enable=YES\nanon_world_readable_only=NO\n\
             anon_umask=022\npasv_enable=YES\npasv_min_port=20000\npasv_max_port=60000\n\
             pasv_address=127.0.0.1\nport_enable=YES\nseccomp_sandbox=NO\nxferlog_enable=NO\n\
             syslog_enable=NO\nuse_localtime=NO\nmax_per_ip=50\nmax_clients=100\n\
             isolate=NO\nisolate_network=NO\nvsftpd_log_file={log}\n",
            root = root.display(),
            log = dir.path().join("vsftpd.log").display(),
        );
        let mut pin = None;
        if tls != Tls::None {
            let ck =
                rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                    .expect("self-signed certificate");
            let cert = dir.path().join("cert.pem");
            let key = dir.path().join("key.pem");
            std::fs::write(&cert, ck.cert.pem()).expect("cert");
            std::fs::write(&key, ck.key_pair.serialize_pem()).expect("key");
            pin = Some(kftp_tls::fingerprint_of(ck.cert.der()));
            conf.push_str(&format!(
                "ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\n\
                 rsa_cert_file={}\nrsa_private_key_file={}\nssl_tlsv1=NO\nssl_sslv2=NO\nssl_sslv3=NO\n\
                 require_ssl_reuse=YES\n",
                cert.display(),
                key.display()
            ));
            if tls == Tls::Implicit {
                conf.push_str("implicit_ssl=YES\n");
            }
        }
        let conf_path = dir.path().join("vsftpd.conf");
        std::fs::write(&conf_path, conf).expect("config");
        let mut child = Command::new(VSFTPD)
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning vsftpd");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                // Exited: most likely the port was taken between probe and bind.
                return None;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Vsftpd {
                    child,
                    port,
                    root,
                    pin,
                    tls,
                    _dir: dir,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// How the client suite reaches this server: anonymous, with TLS as configured.
    pub fn fixture(&self) -> crate::suite::Fixture {
        let mut opts = kftp::ConnectOptions::new("127.0.0.1", self.port);
        if self.tls != Tls::None {
            let cfg = kftp_tls::client_config(&kftp_tls::ClientTlsOptions {
                pin_sha256: self.pin.clone(),
                ..Default::default()
            })
            .expect("client config");
            opts.security = match self.tls {
                Tls::Implicit => kftp::Security::Implicit,
                _ => kftp::Security::Explicit,
            };
            opts.tls = Some(kftp::TlsSetup::new(cfg, "127.0.0.1").expect("server name"));
        }
        crate::suite::Fixture {
            opts,
            creds: kftp::Credentials::anonymous(),
            root: self.root.clone(),
        }
    }

    /// `ftp://127.0.0.1:PORT/` + path.
    pub fn url(&self, path: &str) -> String {
        format!("ftp://127.0.0.1:{}/{path}", self.port)
    }
}
