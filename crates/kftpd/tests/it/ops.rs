//! Operating kftpd: config file and check-config, SIGHUP reload, SIGTERM drain, xferlog,
//! metrics, PROXY protocol, split-horizon PASV, abandoned PASV ports, Landlock and seccomp.

use crate::harness::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A kftpd whose every flag the test chooses (own users file, state dir, config): paths
/// are relative to its directory, which holds `root/`, `state/` and `users.toml`.
struct Custom(Running);

impl std::ops::Deref for Custom {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl std::ops::DerefMut for Custom {
    fn deref_mut(&mut self) -> &mut Running {
        &mut self.0
    }
}

impl Custom {
    /// Starts kftpd in a fresh directory with alice in its `users.toml`, plus `extra` flags.
    fn start(extra: &[&str]) -> Custom {
        Self::start_in(tempfile::tempdir().unwrap(), extra)
    }

    /// The same in `dir`, where the test may have written a config file.
    fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Custom {
        let mut b = kftp_testkit::Server::new().bin(env!("CARGO_BIN_EXE_kftpd"));
        if !dir.path().join("users.toml").exists() {
            b = b.user(USER, PASS);
        }
        Custom(b.dir(dir).args(extra).start())
    }

    /// A path in the server's directory (not its root).
    fn path(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    fn login(&self, user: &str) -> Ctl {
        login_as(self.addr, user)
    }
}

/// The SHA-256 of the certificate a new (implicit, sniffed: `--tls-sniff-ms`) TLS
/// connection is shown.
fn tls_fingerprint(addr: SocketAddr) -> String {
    use tokio_rustls::rustls;
    let cfg = kftp_tls::client_config(&kftp_tls::ClientTlsOptions {
        insecure: true,
        ..Default::default()
    })
    .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut greeting = [0u8; 3];
    tls.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"220");
    let der = tls.conn.peer_certificates().unwrap()[0].to_vec();
    kftp_tls::fingerprint_of(&der)
}

fn kftpd(args: &[&str]) -> (bool, String, String) {
    run(Command::new(env!("CARGO_BIN_EXE_kftpd")).args(args))
}

/// Scrapes /metrics; returns the body.
fn scrape(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

fn metric(body: &str, name: &str) -> u64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Uploads `data` as `name` and downloads it back over EPSV.
fn round_trip(c: &mut Ctl, name: &str, data: &[u8]) {
    let mut d = c.epsv();
    c.expect(&format!("STOR {name}"), 150);
    d.write_all(data).unwrap();
    drop(d);
    c.expect_final(226);
    let d = c.epsv();
    c.expect(&format!("RETR {name}"), 150);
    assert_eq!(read_all(d), data);
    c.expect_final(226);
}

trait Final {
    fn expect_final(&mut self, code: u16);
}

impl Final for Ctl {
    fn expect_final(&mut self, code: u16) {
        let r = self.read();
        assert_eq!(r.code, code, "{r}");
    }
}

#[test]
fn check_config_reports_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../kftpd.example.toml");
    let (ok, out, err) = kftpd(&["check-config", example]);
    assert!(ok, "the shipped example is valid: {err}");
    assert!(out.contains(": ok"), "{out}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "# comment\nanonymous = true\nmax_sessions = \"many\"\n",
    )
    .unwrap();
    let (ok, _, err) = kftpd(&["check-config", bad.to_str().unwrap()]);
    assert!(!ok);
    let want = format!("{}:3:16: key `max_sessions`: invalid type", bad.display());
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("expected usize"), "{err}");

    std::fs::write(&bad, "listen = [\"127.0.0.1:0\"]\n\nmax_per_iq = 2\n").unwrap();
    let (ok, _, err) = kftpd(&["check-config", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains(":3:1: key `max_per_iq`: unknown field `max_per_iq`, expected one of"),
        "{err}"
    );

    // The server refuses to start on it, with the same message.
    let (ok, _, err) = kftpd(&["--config", bad.to_str().unwrap(), "--root", "/nonexistent"]);
    assert!(!ok);
    assert!(err.contains("key `max_per_iq`"), "{err}");
}

#[test]
fn config_file_sits_under_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kftpd.toml");
    // The file says 1 session per address and a passive address; the flag raises the limit.
    std::fs::write(
        &cfg,
        "max_per_ip = 1\nno_tls = true\npassive_address = \"10.9.8.7\"\n",
    )
    .unwrap();
    let srv = Custom::start_in(
        dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--max-per-ip",
            "2",
            "--no-tls",
        ],
    );
    let mut a = srv.login(USER);
    let _b = Ctl::connect(srv.addr);
    let r = a.expect("PASV", 227);
    assert!(
        r.text().contains("(10,9,8,7,"),
        "file's passive_address: {r}"
    );
}

#[test]
fn sighup_reloads_users_certificate_and_passive_networks_keeping_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("kftpd.toml");
    let nets = |a: &str| {
        format!("passive_networks = [ {{ network = \"127.0.0.0/8\", address = \"{a}\" }} ]\n")
    };
    std::fs::write(&cfg, nets("10.0.0.5")).unwrap();
    // The certificate is read over implicit TLS on the one port (the sniff is off by
    // default).
    let srv = Custom::start_in(
        dir,
        &["--config", cfg.to_str().unwrap(), "--tls-sniff-ms", "1000"],
    );
    let old_fp = srv.fingerprint.clone().expect("fingerprint printed");
    assert_eq!(tls_fingerprint(srv.addr), old_fp);

    let mut a = srv.login(USER);
    std::fs::write(srv.path("root/a.txt"), b"before reload\n").unwrap();
    let r = a.expect("PASV", 227);
    assert!(r.text().contains("(10,0,0,5,"), "{r}");
    a.expect("ABOR", 226);

    // A new user, with the CLI, into the live users file.
    let mut add = Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["user", "add", "bob", "--password-stdin", "--users"])
        .arg(srv.path("users.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASS}").unwrap();
    assert!(add.wait().unwrap().success());
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER bob", 331);
    c.expect(&format!("PASS {PASS}"), 530);

    // A new certificate: generate a pair elsewhere and put it in place of the old one.
    let other = tempfile::tempdir().unwrap();
    let fresh = kftp_tls::ServerTls::load_or_generate(other.path(), &["localhost".into()]).unwrap();
    let state = srv.path("state");
    for f in std::fs::read_dir(other.path()).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), state.join(f.file_name())).unwrap();
    }
    std::fs::write(&cfg, nets("10.0.0.6")).unwrap();

    srv.signal("-HUP");
    let log = srv.wait_log("SIGHUP: reload done", 1);
    let line = log
        .lines()
        .find(|l| l.contains("SIGHUP: reload done"))
        .unwrap();
    assert!(line.contains("failed=0"), "{line}");
    println!("reload: {line}");

    // New connections: the new user and the new certificate.
    srv.login("bob").expect("QUIT", 221);
    let new_fp = tls_fingerprint(srv.addr);
    assert_ne!(new_fp, old_fp);
    assert_eq!(new_fp, fresh.fingerprint_sha256());

    // The old session lived through it and still works, with the new passive address.
    a.expect("NOOP", 200);
    let d = a.epsv();
    a.expect("RETR a.txt", 150);
    assert_eq!(read_all(d), b"before reload\n");
    a.expect_final(226);
    let r = a.expect("PASV", 227);
    assert!(r.text().contains("(10,0,0,6,"), "{r}");
}

#[test]
fn sigterm_drains_a_running_transfer_then_exits_0() {
    let mut srv = Custom::start(&["--no-tls", "--drain-timeout", "30"]);
    let data = random_bytes(48 << 20, 7);
    std::fs::write(srv.path("root/big.bin"), &data).unwrap();
    let mut idle = srv.login(USER);
    let mut c = srv.login(USER);
    let mut d = c.epsv();
    c.expect("RETR big.bin", 150);
    let mut got = vec![0u8; 256 << 10];
    d.read_exact(&mut got).unwrap();

    srv.signal("-TERM");
    srv.wait_log("draining", 1);
    // The idle session is told at once; new connections are not accepted.
    assert_eq!(idle.read().code, 421);
    assert!(
        TcpStream::connect(srv.addr).is_err() || {
            // Accepted by the kernel backlog only if the listener lingered: then it must close.
            let mut s = TcpStream::connect(srv.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut b = [0u8; 1];
            !matches!(s.read(&mut b), Ok(1))
        }
    );
    // A slow reader: the transfer goes on to the end.
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = d.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(got.len(), data.len());
    assert!(got == data, "content intact");
    c.expect_final(226);
    assert_eq!(c.read().code, 421);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = srv.child().try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "kftpd did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(srv.log_text().contains("drained"));
}

#[test]
fn xferlog_lines_parse() {
    let dir = tempfile::tempdir().unwrap();
    let xlog = dir.path().join("logs/xferlog");
    std::fs::create_dir_all(xlog.parent().unwrap()).unwrap();
    let srv = Custom::start_in(dir, &["--no-tls", "--xferlog", xlog.to_str().unwrap()]);
    let mut c = srv.login(USER);
    let data = random_bytes(300_000, 3);
    round_trip(&mut c, "x file.bin", &data);
    let d = c.epsv();
    c.expect("RETR missing", 550);
    drop(d);
    c.expect("QUIT", 221);
    let text = std::fs::read_to_string(&xlog).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, dir) in lines.iter().zip(["i", "o"]) {
        // The date is ctime(3)'s fixed 24 columns, whose day of the month is padded with a
        // space ("Mon Dec  7 ..."); the fields after it are single-space separated.
        let (date, rest) = line.split_at(24);
        let d: Vec<&str> = date.split_whitespace().collect();
        assert_eq!(d.len(), 5, "{line}");
        let day: u32 = date[8..10].trim_start().parse().unwrap();
        assert!((1..=31).contains(&day), "{line}");
        assert_eq!(d[3].len(), 8, "{line}");
        assert!(d[4].parse::<u32>().unwrap() >= 2025, "{line}");
        let f: Vec<&str> = rest.strip_prefix(' ').expect(line).split(' ').collect();
        assert_eq!(f.len(), 13, "{line}");
        assert!(f[0].parse::<u64>().unwrap() >= 1, "{line}");
        assert_eq!(f[1], "127.0.0.1");
        assert_eq!(f[2].parse::<u64>().unwrap(), data.len() as u64);
        assert_eq!(f[3], "/x_file.bin");
        assert_eq!(
            &f[4..],
            &["b", "_", dir, "r", USER, "ftp", "0", "*", "c"],
            "{line}"
        );
    }
}

#[test]
fn metrics_move_with_traffic() {
    let srv = Custom::start(&["--no-tls", "--metrics-listen", "127.0.0.1:0"]);
    let log = srv.wait_log("metrics endpoint listening", 1);
    let addr: SocketAddr = log
        .lines()
        .find(|l| l.contains("metrics endpoint listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("metrics address in the log");
    let (status, before) = scrape(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        before.contains("# TYPE kftpd_bans_total counter"),
        "{before}"
    );
    let data = random_bytes(123_457, 5);
    std::fs::write(srv.path("root/m.bin"), &data).unwrap();
    let mut c = srv.login(USER);
    let d = c.epsv();
    c.expect("RETR m.bin", 150);
    assert_eq!(read_all(d).len(), data.len());
    c.expect_final(226);
    let mut bad = Ctl::connect(srv.addr);
    bad.expect("USER alice", 331);
    bad.expect("PASS wrong", 530);
    let (_, after) = scrape(addr, "/metrics");
    let delta = |m: &str| metric(&after, m) - metric(&before, m);
    assert_eq!(delta("kftpd_bytes_out_total"), data.len() as u64, "{after}");
    assert_eq!(delta("kftpd_logins_ok_total"), 1);
    assert_eq!(delta("kftpd_logins_failed_total"), 1);
    assert!(delta("kftpd_sessions_total") >= 2);
    assert!(
        metric(&after, "kftpd_replies_total{code=\"226\"}") >= 1,
        "{after}"
    );
    assert!(
        metric(&after, "kftpd_replies_total{code=\"530\"}") >= 1,
        "{after}"
    );
    let transfers: u64 = after
        .lines()
        .filter(|l| l.starts_with("kftpd_transfers_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(transfers >= 1, "{after}");
    assert_eq!(scrape(addr, "/").0, "HTTP/1.1 404 Not Found");
    // A request that never ends its headers is cut off, not buffered without bound.
    let mut s = TcpStream::connect(addr).unwrap();
    let _ = s.write_all(&[b'a'; 8192]);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 431"),
        "{resp}"
    );
}

fn proxied(addr: SocketAddr, header: &[u8]) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(header).unwrap();
    BufReader::new(s)
}

fn first_line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    let _ = r.read_line(&mut l);
    l
}

#[test]
fn proxy_protocol_address_is_used_for_limits_and_logs() {
    let srv = Custom::start(&[
        "--no-tls",
        "--proxy-protocol",
        "--proxy-trusted",
        "127.0.0.1/32",
        "--max-per-ip",
        "1",
    ]);
    let mut a = proxied(srv.addr, b"PROXY TCP4 192.0.2.1 127.0.0.1 40000 21\r\n");
    assert!(first_line(&mut a).starts_with("220 "));
    // Same claimed source over v2: over the per-address limit.
    let v2 = kftpd::proxy::encode_v2(
        "192.0.2.1:40001".parse().unwrap(),
        "127.0.0.1:21".parse().unwrap(),
    );
    let mut b = proxied(srv.addr, &v2);
    assert!(
        first_line(&mut b).starts_with("421 "),
        "same source refused"
    );
    // Another source is admitted, though every socket comes from 127.0.0.1.
    let v2 = kftpd::proxy::encode_v2(
        "198.51.100.2:40002".parse().unwrap(),
        "127.0.0.1:21".parse().unwrap(),
    );
    let mut c = proxied(srv.addr, &v2);
    assert!(first_line(&mut c).starts_with("220 "));
    // No header at all: closed without a greeting.
    let mut d = proxied(srv.addr, b"USER alice\r\n");
    assert_eq!(first_line(&mut d), "");
    let log = srv.log_text();
    assert!(log.contains("peer=192.0.2.1:40000"), "{log}");
    assert!(log.contains("peer=198.51.100.2:40002"), "{log}");
    assert!(log.contains("bad PROXY header"), "{log}");
}

/// In-process on a paused clock: the data timeout passes in virtual time.
#[tokio::test]
async fn abandoned_pasv_listener_is_closed_after_data_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let range = format!("{port}-{port}");
    let srv =
        start_in_process(&["--no-tls", "--passive-ports", &range, "--data-timeout", "1"]).await;
    let mut a = AsyncCtl::login(srv.addr, USER, PASS).await;
    let mut b = AsyncCtl::login(srv.addr, USER, PASS).await;
    tokio::time::pause();
    a.expect("EPSV", 229).await;
    b.expect("EPSV", 425).await; // The one port is taken...
    tokio::time::advance(Duration::from_millis(1600)).await;
    let r = b.expect("EPSV", 229).await; // ...until the unused listener is dropped.
    assert!(r.text().contains(&format!("|||{port}|")), "{r}");
    a.expect("NOOP", 200).await;
}

#[test]
fn session_id_on_every_line_and_json_logs() {
    let srv = Custom::start(&["--no-tls", "--log-format", "json"]);
    let mut c = srv.login(USER);
    c.expect("QUIT", 221);
    let log = srv.wait_log("session closed", 1);
    for l in log.lines() {
        assert!(l.starts_with('{') && l.ends_with('}'), "not JSON: {l}");
    }
    let logged_in = log.lines().find(|l| l.contains("logged in")).unwrap();
    assert!(
        logged_in.contains("\"span\":{") && logged_in.contains("\"session\":1"),
        "{logged_in}"
    );

    let srv = Custom::start(&["--no-tls"]);
    let mut c = srv.login(USER);
    let d = c.epsv();
    c.expect("LIST", 150);
    read_all(d);
    c.expect_final(226);
    let log = srv.log_text();
    for needle in ["logged in", "transfer complete"] {
        let l = log.lines().find(|l| l.contains(needle)).unwrap();
        assert!(l.contains("session{session=1}"), "{l}");
    }
}

fn sandbox_round_trip(flags: &[&str], expect: &str) -> Option<String> {
    let srv = Custom::start(flags);
    let log = srv.log_text();
    if log.contains("Landlock not applied") && expect.contains("Landlock") {
        return Some("kernel without Landlock".into());
    }
    assert!(log.contains(expect), "{log}");
    let mut c = srv.login(USER);
    round_trip(&mut c, "s.bin", &random_bytes(200_000, 9));
    let d = c.epsv();
    c.expect("LIST", 150);
    assert!(String::from_utf8(read_all(d)).unwrap().contains("s.bin"));
    c.expect_final(226);
    // A listing in MODE E goes through a memory file (memfd_create, on the allow-list).
    c.expect("MODE E", 200);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&crate::modee::port_cmd(&l), 200);
    c.expect("NLST", 150);
    let (blocks, eof) = crate::modee::read_stream(l.accept().unwrap().0);
    let names: Vec<u8> = blocks.into_iter().flat_map(|(_, b)| b).collect();
    assert!(String::from_utf8(names).unwrap().contains("s.bin"));
    assert_eq!(eof, Some(1));
    c.expect_final(226);
    c.expect("MODE S", 200);
    c.expect("MKD sub", 257);
    c.expect("RNFR s.bin", 350);
    c.expect("RNTO sub/t.bin", 250);
    c.expect("DELE sub/t.bin", 250);
    None
}

#[test]
fn landlock_sandbox_applies_and_serving_still_works() {
    if let Some(why) = sandbox_round_trip(&["--no-tls", "--sandbox"], "Landlock applied") {
        skip(&why);
    }
}

#[test]
fn seccomp_allow_list_applies_and_serving_still_works() {
    let _ = sandbox_round_trip(&["--seccomp", "--sandbox"], "seccomp applied");
}

#[test]
fn started_as_root_it_drops_to_user() {
    if !rustix::process::geteuid().is_root() {
        skip("not running as root, so there is no privilege to drop");
        return;
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        skip("no user 'nobody' on this machine");
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.path().join("root")).unwrap();
    std::fs::set_permissions(
        dir.path().join("root"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let srv = Custom::start_in(dir, &["--no-tls", "--user", "nobody"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", srv.pid())).unwrap();
    let uids: Vec<u32> = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|u| u.parse().unwrap())
        .collect();
    assert_eq!(
        uids,
        vec![nobody.uid.as_raw(); 4],
        "real, effective, saved and fs uid"
    );
    // Still serves, and what it writes belongs to the unprivileged user.
    let mut c = srv.login(USER);
    round_trip(&mut c, "p.bin", &random_bytes(100_000, 4));
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(srv.dir().join("root/p.bin")).unwrap();
    assert_eq!(meta.uid(), nobody.uid.as_raw());
}
