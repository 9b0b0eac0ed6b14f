//! A real kftpd on an ephemeral loopback port, in temp directories, and a raw control
//! client that asserts exact replies.
#![allow(dead_code)] // Shared by test modules; not every module uses every helper.

use kftp_proto::{Reply, ReplyDecoder};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub const USER: &str = "alice";
pub const PASS: &str = "s3cret-pw";
pub const READER: &str = "reader";
/// An account whose PROT P data connections need not resume the control TLS session
/// (`tls_reuse_required = false`), for clients that cannot (ftplib.FTP_TLS, Commons Net).
pub const RELAXED: &str = "relaxed";
/// An account with quotas: [`QUOTA_BYTES`] and [`QUOTA_FILES`] on disk, and
/// [`QUOTA_DOWN_PER_DAY`] bytes of downloads a day.
pub const QUOTA_USER: &str = "quota";
pub const QUOTA_BYTES: u64 = 100_000;
pub const QUOTA_FILES: u64 = 3;
pub const QUOTA_DOWN_PER_DAY: u64 = 150_000;
/// An account whose only quota is [`DAILY_UP`] bytes of uploads a day.
pub const DAILY_USER: &str = "daily";
pub const DAILY_UP: u64 = 50_000;

/// A users file with `alice` (all permissions) and `reader` (list, read), made once.
fn users_file() -> &'static Path {
    static USERS: OnceLock<PathBuf> = OnceLock::new();
    USERS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kftpd-it-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("users.toml");
        kftpd::auth::users::add_user(&p, USER, PASS, None, None).unwrap();
        kftpd::auth::users::add_user(
            &p,
            READER,
            PASS,
            None,
            Some(vec!["list".into(), "read".into()]),
        )
        .unwrap();
        kftpd::auth::users::add_user(&p, RELAXED, PASS, None, None).unwrap();
        kftpd::auth::users::set_tls_reuse_required(&p, RELAXED, Some(false)).unwrap();
        kftpd::auth::users::add_user(&p, QUOTA_USER, PASS, None, None).unwrap();
        kftpd::auth::users::set_quota(
            &p,
            QUOTA_USER,
            kftpd::quota::Limits {
                bytes: Some(QUOTA_BYTES),
                files: Some(QUOTA_FILES),
                upload_per_day: None,
                download_per_day: Some(QUOTA_DOWN_PER_DAY),
            },
        )
        .unwrap();
        kftpd::auth::users::add_user(&p, DAILY_USER, PASS, None, None).unwrap();
        kftpd::auth::users::set_quota(
            &p,
            DAILY_USER,
            kftpd::quota::Limits {
                upload_per_day: Some(DAILY_UP),
                ..Default::default()
            },
        )
        .unwrap();
        p
    })
}

/// A running server. Killed on drop.
pub struct Server {
    child: Child,
    /// Control address.
    pub addr: SocketAddr,
    /// The served root.
    pub root: tempfile::TempDir,
    _state: tempfile::TempDir,
    /// What the server logged so far is read on demand from this file.
    pub log: PathBuf,
    /// The implicit FTPS listener, if one was asked for with `--implicit-listen`.
    pub implicit_addr: Option<SocketAddr>,
    /// SHA-256 fingerprint of the server certificate (unless `--no-tls`).
    pub fingerprint: Option<String>,
}

impl Server {
    /// Starts kftpd on 127.0.0.1:0 with `extra` flags.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_on("127.0.0.1:0", extra)
    }

    /// Starts kftpd listening on `listen`.
    pub fn start_on(listen: &str, extra: &[&str]) -> Server {
        Server::start_full(listen, None, extra, &[])
    }

    /// Starts kftpd serving `root` (a directory or `s3://bucket/prefix`; default a temp
    /// dir) with extra environment variables.
    pub fn start_full(
        listen: &str,
        root_arg: Option<&str>,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Server {
        let root = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("kftpd.log");
        let root_arg = root_arg.map_or_else(|| root.path().as_os_str().to_owned(), Into::into);
        let mut child = Command::new(env!("CARGO_BIN_EXE_kftpd"))
            .args(["--listen", listen, "--root"])
            .arg(root_arg)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("--users")
            .arg(users_file())
            .arg("--state-dir")
            .arg(state.path())
            .args(extra)
            .args(kftp_testkit::kftpd_root_args())
            .env("KFTPD_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start kftpd");
        let Launched {
            addr,
            implicit_addr,
            fingerprint,
        } = launched(&mut child, !extra.contains(&"--no-tls"), &log);
        Server {
            child,
            addr,
            root,
            _state: state,
            log,
            implicit_addr,
            fingerprint,
        }
    }

    /// `ftp://user:pass@host:port`
    pub fn url(&self) -> String {
        format!("ftp://{USER}:{PASS}@{}", self.host_port())
    }

    /// `host:port`, IPv6 bracketed.
    pub fn host_port(&self) -> String {
        match self.addr {
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            a => a.to_string(),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A path in the served root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// The server log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A raw control connection, logged in as `alice`.
    pub fn login(&self) -> Ctl {
        let mut c = Ctl::connect(self.addr);
        c.expect(&format!("USER {USER}"), 331);
        c.expect(&format!("PASS {PASS}"), 230);
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a freshly started kftpd reported on stdout.
pub struct Launched {
    /// The first control listener.
    pub addr: SocketAddr,
    /// The implicit FTPS listener, if one was asked for.
    pub implicit_addr: Option<SocketAddr>,
    /// SHA-256 fingerprint of the server certificate, when TLS is on.
    pub fingerprint: Option<String>,
}

/// Reads kftpd's start-up lines from `child`'s piped stdout (the listener, implicit
/// listeners, and with `tls` the certificate line that ends them), then keeps draining
/// stdout so the server never blocks on it. Panics with the server log if it did not start.
pub fn launched(child: &mut Child, tls: bool, log: &Path) -> Launched {
    let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
    let (mut addr, mut implicit_addr, mut fingerprint) = (None, None, None);
    loop {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        if l.contains("implicit FTPS listening on") {
            implicit_addr = l.split_whitespace().last().and_then(|a| a.parse().ok());
        } else if addr.is_none() && l.contains("listening on") {
            addr = l
                .split_whitespace()
                .skip_while(|w| *w != "on")
                .nth(1)
                .and_then(|a| a.trim_end_matches(',').parse().ok());
        }
        if let Some(i) = l.find("SHA-256 ") {
            fingerprint = l[i + 8..].split_whitespace().next().map(str::to_string);
        }
        if fingerprint.is_some() || (!tls && addr.is_some()) {
            break;
        }
    }
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    let addr = addr.unwrap_or_else(|| {
        panic!(
            "kftpd did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    });
    Launched {
        addr,
        implicit_addr,
        fingerprint,
    }
}

/// A raw control connection.
pub struct Ctl {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    dec: ReplyDecoder,
}

impl Ctl {
    /// Connects and reads the 220 greeting.
    pub fn connect(addr: SocketAddr) -> Ctl {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut c = Ctl {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            dec: ReplyDecoder::new(),
        };
        let greet = c.read();
        assert_eq!(greet.code, 220, "{greet}");
        c
    }

    /// Reads one reply.
    pub fn read(&mut self) -> Reply {
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "server closed the control connection");
            if let Some(r) = self.dec.feed_line(&line).unwrap() {
                return r;
            }
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, b: &[u8]) {
        self.writer.write_all(b).unwrap();
    }

    /// Sends a command and returns its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.read()
    }

    /// Sends a command and asserts the reply code.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        let r = self.cmd(line);
        assert_eq!(r.code, code, "{line} -> {r}");
        r
    }

    /// The control socket (for socket-level tricks such as urgent data).
    pub fn socket(&self) -> &TcpStream {
        &self.writer
    }

    /// EPSV and connect to the data port.
    pub fn epsv(&mut self) -> TcpStream {
        let r = self.expect("EPSV", 229);
        let port = kftp_proto::addr::parse_epsv_reply(&r.text()).unwrap();
        let ip = self.writer.peer_addr().unwrap().ip();
        TcpStream::connect((ip, port)).unwrap()
    }
}

/// Reads a data connection to the end.
pub fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).unwrap();
    v
}

/// Deterministic pseudo-random bytes.
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// SHA-256 hex of bytes.
pub fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[allow(unused_imports)] // Not every test target uses all three.
pub use kftp_testkit::{have, need, skip};

/// CPU time (user + system) a process has used, from /proc.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    let ticks = f.iter().sum::<u64>();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Runs a command, returning (status ok, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
