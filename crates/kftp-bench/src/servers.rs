//! The servers under test: kftpd started here (one per data path), peers started here
//! from their binaries with a generated configuration (vsftpd, proftpd, pure-ftpd), or any
//! server given by URL. All listen on 127.0.0.1 only.
//!
//! Every server started here serves the same bench root (see `files`), accepts AUTH TLS
//! without requiring it (so one instance serves both the plain and the FTPS rows), and has
//! its session limits raised above the largest concurrency level.

use crate::builds::Instance;
use crate::cgroup::Cgroup;
use crate::proc::CpuSource;
use kftp::client::Credentials;
use kftp_proto::Password;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The password of the bench account on servers started here.
pub const PASSWORD: &str = "kftp-bench-pw";
/// The bench account.
pub const USER: &str = "bench";

/// One server under test.
#[derive(Debug)]
pub struct Server {
    /// Name in tables: `kftpd`, `vsftpd`, or the URL's host:port.
    pub name: String,
    /// Data path label: `kernel`, `copy`, or `-` for servers we do not configure.
    pub path: String,
    /// Whether this is a peer (not kftpd) for the "vs best peer" ratios.
    pub peer: bool,
    /// Control address.
    pub host: String,
    /// Control port.
    pub port: u16,
    /// Who to log in as.
    pub creds: Credentials,
    /// Remote directory holding the bench files, with a trailing `/` (or empty).
    pub dir: String,
    /// Root pid of the server's process tree, when it runs here and we know it.
    pub pid: Option<u32>,
    /// What the login does: `argon2id`, `sha512-crypt`, `anonymous`, `unknown`.
    pub login_kind: &'static str,
    /// Why CPU is read from the process tree and not a cgroup, for a server started here.
    pub cgroup_note: Option<String>,
    /// kftpd's metrics endpoint (`--metrics-listen`), whose counters say which data path
    /// the transfers took.
    pub metrics: Option<String>,
    child: Option<Child>,
    /// Dropped after `child` is stopped (Drop below), which removes it.
    cgroup: Option<Cgroup>,
}

impl Server {
    /// A server another module started (GridFTP's): anonymous, stopped on drop like ours.
    pub fn adopt(name: &str, host: &str, port: u16, child: Child) -> Server {
        Server {
            name: name.into(),
            path: "-".into(),
            peer: true,
            host: host.into(),
            port,
            creds: Credentials::anonymous(),
            dir: String::new(),
            pid: Some(child.id()),
            login_kind: "anonymous",
            cgroup_note: None,
            metrics: None,
            child: Some(child),
            cgroup: None,
        }
        .accounted()
    }

    /// Moves the started server into a cgroup of its own (before it has taken a
    /// connection, so every session it forks is in it), or notes why it stays with the
    /// `/proc` tree sum.
    fn accounted(mut self) -> Server {
        if let Some(pid) = self.pid {
            match Cgroup::create(&self.name).and_then(|cg| cg.add(pid).map(|()| cg)) {
                Ok(cg) => self.cgroup = Some(cg),
                Err(why) => self.cgroup_note = Some(why),
            }
        }
        self
    }

    /// Where this server's CPU is read: its cgroup, else its process tree; `None` when it
    /// does not run here.
    pub fn cpu(&self) -> Option<CpuSource> {
        match (&self.cgroup, self.pid) {
            (Some(cg), _) => Some(CpuSource::Cgroup(cg.counter())),
            (None, Some(pid)) => Some(CpuSource::Tree(pid)),
            (None, None) => None,
        }
    }

    /// `name (path)` or just `name`.
    pub fn label(&self) -> String {
        if self.path == "-" {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.path)
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // SIGTERM first so forking daemons take their sessions down; then SIGKILL.
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A self-signed certificate for the peers' TLS, written once into the work dir.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// PEM certificate.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// Certificate and key in one file (pure-ftpd's default layout).
    pub both: PathBuf,
}

/// Writes the peers' certificate with `openssl req` (no Rust cert generator here).
pub fn make_cert(work: &Path) -> Result<CertFiles, String> {
    let cert = work.join("peer-cert.pem");
    let key = work.join("peer-key.pem");
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("running openssl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let both = work.join("peer-both.pem");
    let mut pem = std::fs::read(&cert).map_err(|e| e.to_string())?;
    pem.extend(std::fs::read(&key).map_err(|e| e.to_string())?);
    std::fs::write(&both, pem).map_err(|e| e.to_string())?;
    Ok(CertFiles { cert, key, both })
}

fn sha512_crypt(password: &str) -> Result<String, String> {
    let out = Command::new("openssl")
        .args(["passwd", "-6", password])
        .output()
        .map_err(|e| format!("running openssl passwd: {e}"))?;
    if !out.status.success() {
        return Err("openssl passwd -6 failed".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub(crate) fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Waits until `port` accepts connections or `child` exits.
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(3).collect();
            return Err(format!(
                "exited at start ({st}): {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err("did not accept connections within 10 s".into())
}

fn user_creds() -> Credentials {
    Credentials {
        user: USER.into(),
        password: Some(Password::new(PASSWORD)),
    }
}

/// Starts one build of kftpd with its `--data-path` serving `root`.
pub fn start_kftpd(k: &Instance<'_>, root: &Path, work: &Path) -> Result<Server, String> {
    start_kftpd_in(k, root, work, None, "127.0.0.1")
}

/// [`start_kftpd`] inside network namespace `netns` (`ip netns exec`, which execs: the pid
/// is kftpd's), listening on `host`: the server side of the emulated WAN.
pub fn start_kftpd_in(
    k: &Instance<'_>,
    root: &Path,
    work: &Path,
    netns: Option<&str>,
    host: &str,
) -> Result<Server, String> {
    let (bin, label) = (k.bin, &k.label);
    let users = work.join("kftpd-users.toml");
    add_bench_user(bin, &users, root)?;
    let log = work.join(format!("kftpd-{label}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("--listen")
        .arg(format!("{host}:0"))
        .arg("--root")
        .arg(root)
        .arg("--users")
        .arg(&users)
        .arg("--state-dir")
        .arg(work.join(format!("kftpd-state-{label}")))
        .args(["--data-path", k.data_path, "--no-tls-required"])
        // The bench opens hundreds of sessions from one address.
        .args(["--max-per-ip", "4000", "--max-sessions", "8000"])
        .args(k.extra);
    // Counters of the data path each transfer took, read between reps (users/mod.rs); in
    // a namespace the address would not be this one's.
    let metrics = match netns {
        None => Some(format!("{host}:{}", free_port()?)),
        Some(_) => None,
    };
    if let Some(m) = &metrics {
        cmd.arg("--metrics-listen").arg(m);
    }
    let (child, port) = spawn_kftpd(&mut cmd, bin, log_file, &log)?;
    let pid = child.id();
    Ok(Server {
        name: "kftpd".into(),
        path: label.clone(),
        peer: false,
        host: host.into(),
        port,
        creds: user_creds(),
        dir: String::new(),
        pid: Some(pid),
        login_kind: "argon2id",
        cgroup_note: None,
        metrics,
        child: Some(child),
        cgroup: None,
    }
    .accounted())
}

/// Where a peer's binary is: the unpacked cache (scripts/install-peers.sh) first, then
/// the system.
pub fn find_peer(peers_dir: &Path, name: &str) -> Option<PathBuf> {
    [
        peers_dir.join(name).join("usr/sbin").join(name),
        PathBuf::from("/usr/sbin").join(name),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// Starts a peer by name, trying a few ports (another process may take a probed port).
pub fn start_peer(
    name: &str,
    peers_dir: &Path,
    root: &Path,
    work: &Path,
    cert: Option<&CertFiles>,
) -> Result<Server, String> {
    let bin = find_peer(peers_dir, name).ok_or_else(|| {
        format!(
            "not installed (scripts/install-peers.sh unpacks it into {})",
            peers_dir.display()
        )
    })?;
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let log = dir.join("log");
        let started = match name {
            "vsftpd" => start_vsftpd(&bin, port, root, &dir, cert),
            "proftpd" => start_proftpd(&bin, peers_dir, port, root, &dir, cert),
            "pure-ftpd" => start_pure_ftpd(&bin, peers_dir, port, root, &dir, cert),
            _ => return Err(format!("unknown peer '{name}'")),
        };
        let (child, creds, login_kind) = started?;
        // Into its cgroup before the first connection (wait_ready's probe included).
        let mut server = Server {
            name: name.into(),
            path: "-".into(),
            peer: true,
            host: "127.0.0.1".into(),
            port,
            creds,
            dir: String::new(),
            pid: Some(child.id()),
            login_kind,
            cgroup_note: None,
            metrics: None,
            child: Some(child),
            cgroup: None,
        }
        .accounted();
        let ready = match server.child.as_mut() {
            Some(child) => wait_ready(child, port, &log),
            None => Err("no child".into()),
        };
        match ready {
            Ok(()) => return Ok(server),
            Err(e) => last = e,
        }
    }
    Err(last)
}

type Started = Result<(Child, Credentials, &'static str), String>;

pub(crate) fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<Child, String> {
    let f = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null())
        .stdout(f)
        .stderr(f2)
        .spawn()
        .map_err(|e| format!("starting: {e}"))
}

fn start_vsftpd(
    bin: &Path,
    port: u16,
    root: &Path,
    dir: &Path,
    cert: Option<&CertFiles>,
) -> Started {
    // Anonymous with full write access, no privileged parent, no chroot, no seccomp
    // sandbox (it rejects some syscalls in containers).
    let mut conf = format!(
        "listen=YES\nlisten_ipv6=NO\nbackground=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
         run_as_launching_user=YES\nanonymous_enable=YES\nno_anon_password=YES\n\
         anon_root={root}\nlocal_enable=NO\nwrite_enable=YES\nanon_upload_enable=YES\n\
         anon_mkdir_write_enable=YES\nanon_other_write_enable=YES\nanon_world_readable_only=NO\n\
         anon_umask=022\npasv_enable=YES\npasv_min_port=20000\npasv_max_port=60000\n\
         pasv_address=127.0.0.1\nseccomp_sandbox=NO\nxferlog_enable=NO\nsyslog_enable=NO\n\
         max_per_ip=0\nmax_clients=0\nvsftpd_log_file={log}\n",
        root = root.display(),
        log = dir.join("vsftpd.log").display(),
    );
    if let Some(c) = cert {
        conf.push_str(&format!(
            "ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=NO\nforce_anon_data_ssl=NO\n\
             rsa_cert_file={}\nrsa_private_key_file={}\nssl_tlsv1=NO\nssl_sslv2=NO\nssl_sslv3=NO\n\
             require_ssl_reuse=YES\n",
            c.cert.display(),
            c.key.display()
        ));
    }
    let path = dir.join("vsftpd.conf");
    std::fs::write(&path, conf).map_err(|e| e.to_string())?;
    let child = spawn_logged(Command::new(bin).arg(&path), &dir.join("log"))?;
    Ok((child, Credentials::anonymous(), "anonymous"))
}

fn start_proftpd(
    bin: &Path,
    peers_dir: &Path,
    port: u16,
    root: &Path,
    dir: &Path,
    cert: Option<&CertFiles>,
) -> Started {
    // A virtual user (AuthUserFile) mapped to uid 0: sessions run as root, which lets
    // proftpd work in any sandbox without a system account.
    let hash = sha512_crypt(PASSWORD)?;
    let passwd = dir.join("passwd");
    std::fs::write(
        &passwd,
        format!("{USER}:{hash}:0:0::{}:/bin/sh\n", root.display()),
    )
    .map_err(|e| e.to_string())?;
    // proftpd refuses a world-readable AuthUserFile.
    std::fs::set_permissions(&passwd, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("group"), "root:x:0:\n").map_err(|e| e.to_string())?;
    let modules = peers_dir.join("proftpd/usr/lib/proftpd");
    let mut conf = format!(
        "ServerType standalone\nDefaultServer on\nPort {port}\nDefaultAddress 127.0.0.1\n\
         SocketBindTight on\nUseIPv6 off\nUser root\nGroup root\nRootLogin on\n\
         RequireValidShell off\nAuthOrder mod_auth_file.c\nAuthUserFile {d}/passwd\n\
         AuthGroupFile {d}/group\nDefaultRoot ~\nPassivePorts 20000 60000\n\
         MasqueradeAddress 127.0.0.1\nScoreboardFile {d}/scoreboard\nPidFile {d}/pid\n\
         DelayTable none\nWtmpLog off\nUseReverseDNS off\nTransferLog none\n\
         SystemLog {d}/proftpd.log\nMaxInstances 4000\nUseSendfile on\n\
         <Limit ALL>\nAllowAll\n</Limit>\n<Directory />\nAllowOverwrite on\n</Directory>\n",
        d = dir.display()
    );
    if let Some(c) = cert {
        if modules.join("mod_tls.so").is_file() {
            conf.push_str(&format!(
                "ModulePath {m}\nLoadModule mod_tls.c\nTLSEngine on\nTLSRequired off\n\
                 TLSProtocol TLSv1.2 TLSv1.3\nTLSRSACertificateFile {c}\n\
                 TLSRSACertificateKeyFile {k}\nTLSVerifyClient off\n\
                 TLSOptions NoSessionReuseRequired\nTLSLog {d}/tls.log\n",
                m = modules.display(),
                c = c.cert.display(),
                k = c.key.display(),
                d = dir.display()
            ));
        }
    }
    let path = dir.join("proftpd.conf");
    std::fs::write(&path, conf).map_err(|e| e.to_string())?;
    let child = spawn_logged(
        Command::new(bin).arg("-n").arg("-q").arg("-c").arg(&path),
        &dir.join("log"),
    )?;
    Ok((child, user_creds(), "sha512-crypt"))
}

fn start_pure_ftpd(
    bin: &Path,
    peers_dir: &Path,
    port: u16,
    root: &Path,
    dir: &Path,
    cert: Option<&CertFiles>,
) -> Started {
    // A PureDB virtual user mapped to nobody (pure-ftpd refuses uid 0): the bench root
    // is world-writable for this reason.
    let hash = sha512_crypt(PASSWORD)?;
    let text = dir.join("pureftpd.passwd");
    std::fs::write(
        &text,
        format!(
            "{USER}:{hash}:65534:65534::{}/./::::::::::::\n",
            root.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let pdb = dir.join("pureftpd.pdb");
    let _ = std::fs::remove_file(&pdb);
    let pure_pw = [
        peers_dir.join("pure-ftpd/usr/bin/pure-pw"),
        PathBuf::from("/usr/bin/pure-pw"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .ok_or("pure-pw not found")?;
    let st = Command::new(pure_pw)
        .arg("mkdb")
        .arg(&pdb)
        .arg("-f")
        .arg(&text)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("pure-pw: {e}"))?;
    if !st.success() {
        return Err("pure-pw mkdb failed".into());
    }
    let mut cmd = Command::new(bin);
    cmd.arg("-S")
        .arg(format!("127.0.0.1,{port}"))
        .arg("-l")
        .arg(format!("puredb:{}", pdb.display()))
        .args(["-p", "20000:60000", "-P", "127.0.0.1", "-E", "-H", "-4"])
        .args(["-c", "4000", "-C", "4000"]);
    if let Some(c) = cert {
        cmd.args(["-Y", "1", "-2"]).arg(&c.both);
    }
    let child = spawn_logged(&mut cmd, &dir.join("log"))?;
    Ok((child, user_creds(), "sha512-crypt"))
}

/// A server given by URL: not started or accounted here (no CPU or memory figures).
pub fn from_url(url: &str) -> Result<Server, String> {
    let t = kftp::target::Target::parse(url).map_err(|e| e.to_string())?;
    let creds = match &t.user {
        Some(u) => Credentials {
            user: u.clone(),
            password: t.password.clone().or_else(|| {
                std::env::var(kftp::creds::PASSWORD_ENV)
                    .ok()
                    .map(Password::new)
            }),
        },
        None => Credentials::anonymous(),
    };
    let mut dir = t.path.clone();
    if !dir.is_empty() && !dir.ends_with('/') {
        dir.push('/');
    }
    Ok(Server {
        name: format!("{}:{}", t.host, t.port),
        path: "-".into(),
        peer: true,
        host: t.host.clone(),
        port: t.port,
        creds,
        dir,
        pid: None,
        login_kind: "unknown",
        cgroup_note: None,
        metrics: None,
        child: None,
        cgroup: None,
    })
}

/// Creates the bench account (`USER`/`PASSWORD`, all permissions, rooted at `root`) in
/// `users` with `kftpd user add`, unless that file exists already.
pub(crate) fn add_bench_user(
    bin: &Path,
    users: &Path,
    root: impl AsRef<std::ffi::OsStr>,
) -> Result<(), String> {
    if users.exists() {
        return Ok(());
    }
    let mut add = Command::new(bin)
        .args(["user", "add", USER, "--users"])
        .arg(users)
        .arg("--root")
        .arg(root)
        .args(["--perms", "all", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {} user add: {e}", bin.display()))?;
    if let Some(mut stdin) = add.stdin.take() {
        let _ = writeln!(stdin, "{PASSWORD}");
    }
    let out = add.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "kftpd user add failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Starts a kftpd made ready in `cmd` (logging to `log_file`, which is `log`), and returns
/// it with the port it reported on its first line. Its stdout keeps being drained so it
/// never blocks on a full pipe.
pub(crate) fn spawn_kftpd(
    cmd: &mut Command,
    bin: &Path,
    log_file: std::fs::File,
    log: &Path,
) -> Result<(Child, u16), String> {
    // The bench runs wherever it is started, root included (a container, CI): kftpd
    // refuses to serve as root without --user unless told so.
    if std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0) {
        cmd.arg("--allow-root");
    }
    let mut child = cmd
        .env("KFTPD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let Some(stdout) = child.stdout.take() else {
        return Err("kftpd stdout not captured".into());
    };
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    std::thread::spawn(move || for _ in lines.by_ref() {});
    // "kftpd 0.1.0 listening on 127.0.0.1:PORT, serving ..."
    let port = first
        .split_once("listening on ")
        .and_then(|(_, rest)| rest.split([',', ' ']).next())
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .map(|a| a.port());
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        let err = std::fs::read_to_string(log).unwrap_or_default();
        return Err(format!(
            "kftpd did not report its address (first line: {first:?}; log: {})",
            err.trim()
        ));
    };
    Ok((child, port))
}

/// How many transfers kftpd has made on each data path (`sendfile`, `copy`, `splice`,
/// ...), from its metrics endpoint at `addr`; empty when it does not answer.
pub fn data_path_counts(addr: &str) -> Vec<(String, u64)> {
    let Ok(mut sock) = TcpStream::connect(addr) else {
        return Vec::new();
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = sock.write_all(b"GET /metrics HTTP/1.0\r\nHost: kftpd\r\n\r\n");
    let mut body = String::new();
    let _ = std::io::Read::read_to_string(&mut sock, &mut body);
    parse_path_counts(&body)
}

/// The `kftpd_transfers_total{path="..."} N` lines of a metrics page.
pub fn parse_path_counts(page: &str) -> Vec<(String, u64)> {
    page.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("kftpd_transfers_total{path=\"")?;
            let (path, n) = rest.split_once("\"} ")?;
            Some((path.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}
