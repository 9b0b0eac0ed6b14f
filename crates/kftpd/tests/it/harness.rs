//! This suite's accounts and helpers over `kftp-testkit` (which starts every kftpd and
//! reads its address), and a raw control client that asserts exact replies.
#![allow(dead_code)] // Shared by test modules; not every module uses every helper.

use kftp_proto::{Reply, ReplyDecoder};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
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
        // Under the target's tmp dir, not /tmp: one directory per test process, and `cargo
        // clean` takes them all.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kftpd-it-users-{}", std::process::id()));
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

/// A running kftpd (the binary) with the users above: [`kftp_testkit::Running`] with the
/// suite's accounts and helpers. Killed on drop.
pub struct Server(pub Running);

impl std::ops::Deref for Server {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Running {
        &mut self.0
    }
}

/// The builder of this suite's servers: this package's kftpd binary, the shared users file.
pub fn builder() -> kftp_testkit::Server {
    kftp_testkit::Server::new()
        .bin(env!("CARGO_BIN_EXE_kftpd"))
        .users(users_file())
}

/// An in-process kftpd with the shared users file and `extra` flags, on the test's
/// runtime (see [`kftp_testkit::InProcess`]).
pub async fn start_in_process(extra: &[&str]) -> InProcess {
    builder().args(extra).start_in_process().await
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
        let mut b = builder().listen(listen).args(extra);
        if let Some(r) = root_arg {
            b = b.root(r);
        }
        for (k, v) in env {
            b = b.env(k, v);
        }
        Server(b.start())
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

    /// A raw control connection, logged in as `alice`.
    pub fn login(&self) -> Ctl {
        login_as(self.addr, USER)
    }
}

/// A raw control connection to `addr`, logged in as `user` (password [`PASS`]).
pub fn login_as(addr: SocketAddr, user: &str) -> Ctl {
    let mut c = Ctl::connect(addr);
    c.expect(&format!("USER {user}"), 331);
    c.expect(&format!("PASS {PASS}"), 230);
    c
}

#[allow(unused_imports)] // Not every test target uses all of them.
pub use kftp_testkit::{read_banner, AsyncCtl, Banner, InProcess, Running};
// The names tests used before the test kit owned the start-up lines.
#[allow(unused_imports)]
pub use kftp_testkit::{read_banner as launched, Banner as Launched};

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
