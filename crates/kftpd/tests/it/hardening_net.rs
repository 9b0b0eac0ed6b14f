//! Network trust and login hardening (issue #14) against a real kftpd: PROXY headers only
//! from trusted balancers, TLS required by the real client's address, the login deadline,
//! IPv6 grouped by /64 for caps and bans, fair password hashing across sources, bans that
//! close open sessions, and rate-limited WARN lines.

use crate::harness::*;
use crate::util::{plain_log, wait_until};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A raw connection to `addr` that starts with `header`.
fn proxied(addr: SocketAddr, header: &[u8]) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(header).unwrap();
    BufReader::new(s)
}

/// The next line the server sends ("" when it closed the connection).
fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    let _ = r.read_line(&mut l);
    l.trim_end().to_string()
}

/// Sends one command line and returns the reply's line.
fn cmd(r: &mut BufReader<TcpStream>, c: &str) -> String {
    r.get_mut()
        .write_all(format!("{c}\r\n").as_bytes())
        .unwrap();
    line(r)
}

/// A v1 header claiming `src` as the client.
fn v1(src: &str) -> Vec<u8> {
    let proto = if src.contains(':') { "TCP6" } else { "TCP4" };
    let dst = if src.contains(':') {
        "::1"
    } else {
        "127.0.0.1"
    };
    format!("PROXY {proto} {src} {dst} 40000 21\r\n").into_bytes()
}

/// A session whose PROXY header claims `src`; returns it after the 220 greeting.
fn greeted_as(srv: &Server, src: &str) -> BufReader<TcpStream> {
    let mut c = proxied(srv.addr, &v1(src));
    let l = line(&mut c);
    assert!(l.starts_with("220 "), "claiming {src}: {l}");
    c
}

/// Lines of the server log at WARN level.
fn warn_lines(srv: &Server) -> Vec<String> {
    plain_log(srv)
        .lines()
        .filter(|l| l.contains(" WARN "))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// 1. PROXY headers only from trusted peers.

#[test]
fn proxy_header_from_an_untrusted_peer_is_refused() {
    let srv = Server::start(&[
        "--no-tls",
        "--proxy-protocol",
        "--proxy-trusted",
        "192.0.2.0/24",
    ]);
    // 127.0.0.1 is not a trusted balancer: whatever it claims, it gets no session (a spoofed
    // 127.0.0.2 used to pass the bounce check for PORT 127,0,0,2,...).
    for header in [v1("127.0.0.2"), v1("198.51.100.7")] {
        let mut c = proxied(srv.addr, &header);
        assert_eq!(line(&mut c), "", "closed without a greeting");
    }
    let log = plain_log(&srv);
    assert!(log.contains("outside --proxy-trusted"), "{log}");
    assert!(!log.contains("session opened"), "{log}");
    assert!(!log.contains("peer=127.0.0.2"), "{log}");
}

#[test]
fn proxy_header_from_a_trusted_peer_names_the_client() {
    let srv = Server::start(&[
        "--no-tls",
        "--proxy-protocol",
        "--proxy-trusted",
        "192.0.2.0/24",
        "--proxy-trusted",
        "127.0.0.1/32",
    ]);
    let mut c = greeted_as(&srv, "127.0.0.2");
    assert!(cmd(&mut c, &format!("USER {USER}")).starts_with("331 "));
    assert!(cmd(&mut c, &format!("PASS {PASS}")).starts_with("230 "));
    // The claimed client is the data peer: PORT to the socket's real source is a bounce.
    let r = cmd(&mut c, "PORT 127,0,0,1,200,1");
    assert!(!r.starts_with("200 "), "{r}");
    let log = plain_log(&srv);
    assert!(log.contains("peer=127.0.0.2:40000"), "{log}");
}

#[test]
fn proxy_protocol_without_a_trusted_list_refuses_to_start() {
    let state = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["--listen", "127.0.0.1:0", "--no-tls", "--proxy-protocol"])
        .arg("--root")
        .arg(state.path().join("root"))
        .arg("--state-dir")
        .arg(state.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_until(10, || child.try_wait().unwrap().is_some());
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("kftpd started with --proxy-protocol and no --proxy-trusted");
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--proxy-trusted") && err.contains("proxy_trusted"),
        "the message says what to add: {err}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. TLS required by the real client's address, not the listener's.

#[test]
fn proxied_remote_client_on_a_loopback_listener_needs_tls() {
    let srv = Server::start(&["--proxy-protocol", "--proxy-trusted", "127.0.0.1/32"]);
    // The balancer runs on this host; the client it names is remote.
    let mut c = greeted_as(&srv, "198.51.100.7");
    let r = cmd(&mut c, &format!("USER {USER}"));
    assert!(r.starts_with("530 ") && r.contains("AUTH TLS"), "{r}");
    let r = cmd(&mut c, &format!("PASS {PASS}"));
    assert!(r.starts_with("530 ") && r.contains("AUTH TLS"), "{r}");
    // A client that really is on loopback keeps the loopback exemption.
    let mut c = greeted_as(&srv, "127.0.0.5");
    assert!(cmd(&mut c, &format!("USER {USER}")).starts_with("331 "));
}

// ---------------------------------------------------------------------------------------
// 3. A login deadline that NOOP does not move.

/// In-process on a paused clock: the deadline is checked in virtual time, no sleeping.
#[tokio::test]
async fn session_not_logged_in_is_closed_at_the_login_timeout_whatever_it_sends() {
    let srv = start_in_process(&["--no-tls", "--login-timeout", "1"]).await;
    // Logged in before the clock stops (passwords are checked off the runtime).
    let mut logged_in = AsyncCtl::login(srv.addr, USER, PASS).await;
    tokio::time::pause();
    let mut c = AsyncCtl::connect(srv.addr).await;
    let t = tokio::time::Instant::now();
    let closed = loop {
        assert!(t.elapsed() < Duration::from_secs(5), "still open");
        let r = c.cmd("NOOP").await;
        if r.code == 421 {
            break r;
        }
        assert_eq!(r.code, 200, "{r}");
        tokio::time::advance(Duration::from_millis(200)).await;
    };
    assert!(closed.text().contains("Login timeout"), "{closed}");
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(c.try_read().await.is_none(), "closed after 421");
    // A logged-in session is not bound by it.
    tokio::time::advance(Duration::from_millis(1500)).await;
    logged_in.expect("NOOP", 200).await;
}

// ---------------------------------------------------------------------------------------
// 4. IPv6 clients grouped by /64 for per-address caps and bans.

#[test]
fn per_address_cap_counts_an_ipv6_64_as_one_client() {
    let srv = Server::start(&[
        "--no-tls",
        "--proxy-protocol",
        "--proxy-trusted",
        "127.0.0.1/32",
        "--max-per-ip",
        "1",
    ]);
    let _a = greeted_as(&srv, "2001:db8:1:2::1");
    let mut b = proxied(srv.addr, &v1("2001:db8:1:2:ffff::9"));
    let l = line(&mut b);
    assert!(l.starts_with("421 ") && l.contains("your address"), "{l}");
    // Another /64 is another client.
    let _c = greeted_as(&srv, "2001:db8:1:3::1");
    // IPv4 is still per address, and IPv4-mapped IPv6 is that IPv4 address.
    let _d = greeted_as(&srv, "192.0.2.1");
    let mut e = proxied(srv.addr, &v1("::ffff:192.0.2.1"));
    assert!(line(&mut e).starts_with("421 "));
}

#[test]
fn a_ban_covers_the_whole_ipv6_64() {
    let srv = Server::start(&[
        "--no-tls",
        "--proxy-protocol",
        "--proxy-trusted",
        "127.0.0.1/32",
        "--ban-after",
        "1",
        "--login-delay-ms",
        "0",
    ]);
    let mut a = greeted_as(&srv, "2001:db8:5:6::1");
    assert!(cmd(&mut a, &format!("USER {USER}")).starts_with("331 "));
    let r = cmd(&mut a, "PASS wrong");
    assert!(r.starts_with("421 ") && r.contains("banned"), "{r}");
    // A neighbour in the same /64 is banned too.
    let mut b = proxied(srv.addr, &v1("2001:db8:5:6:a:b:c:d"));
    let l = line(&mut b);
    assert!(l.starts_with("421 ") && l.contains("banned"), "{l}");
    // The next /64 is not.
    let _c = greeted_as(&srv, "2001:db8:5:7::1");
}

// ---------------------------------------------------------------------------------------
// 5. Password checks are fair across sources.

#[test]
fn a_pass_flood_from_one_address_does_not_delay_another_login() {
    const FLOOD: usize = 40;
    let srv = Server::start(&[
        "--no-tls",
        "--proxy-protocol",
        "--proxy-trusted",
        "127.0.0.1/32",
        "--ban-after",
        "0",
        "--login-delay-ms",
        "0",
        "--max-per-ip",
        "64",
    ]);
    let mut flood: Vec<_> = (0..FLOOD)
        .map(|_| {
            let mut c = greeted_as(&srv, "203.0.113.66");
            assert!(cmd(&mut c, &format!("USER {USER}")).starts_with("331 "));
            c
        })
        .collect();
    let mut good = greeted_as(&srv, "198.51.100.9");
    assert!(cmd(&mut good, &format!("USER {USER}")).starts_with("331 "));
    // Queue the flood's checks, and only then the good one.
    for c in &mut flood {
        c.get_mut().write_all(b"PASS wrong\r\n").unwrap();
    }
    let passes = |srv: &Server| plain_log(srv).matches("cmd=PASS <password>").count();
    assert!(wait_until(20, || passes(&srv) >= FLOOD), "flood not queued");
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let r = cmd(&mut good, &format!("PASS {PASS}"));
    assert!(r.starts_with("230 "), "{r}");
    let waited = t.elapsed();
    for c in &mut flood {
        let r = line(c);
        assert!(r.starts_with("530 "), "{r}");
    }
    // Order in the log: how many of the flood's checks finished between the good PASS
    // arriving (the last PASS logged) and its login. Those done during the pause above are
    // not counted: how many fit in 100 ms depends on how fast this machine hashes.
    let log = plain_log(&srv);
    let lines: Vec<&str> = log.lines().collect();
    let good_pass = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("cmd=PASS <password>"))
        .nth(FLOOD)
        .map(|(i, _)| i)
        .expect("the good PASS is logged");
    let before = lines[good_pass..]
        .iter()
        .take_while(|l| !l.contains("logged in"))
        .filter(|l| l.contains("login failed"))
        .count();
    // The test means something only if part of the flood was still queued when the good
    // PASS came.
    let done_early = lines[..good_pass]
        .iter()
        .filter(|l| l.contains("login failed"))
        .count();
    assert!(
        done_early < FLOOD - 10,
        "{done_early} of the {FLOOD} flooded checks ended before the good PASS was sent"
    );
    assert!(
        before < 10,
        "the good login waited behind {before} of the {FLOOD} flooded checks ({waited:?})"
    );
    assert!(waited < Duration::from_secs(15), "{waited:?}");
}

// ---------------------------------------------------------------------------------------
// 6. A ban closes the sessions already open from that address.

#[test]
fn a_ban_closes_open_sessions_from_the_banned_address() {
    let srv = Server::start(&["--ban-after", "2", "--login-delay-ms", "0"]);
    let mut logged_in = srv.login();
    let mut greeted = Ctl::connect(srv.addr);
    greeted.expect("NOOP", 200);
    // Another host (any 127/8 source works on Linux loopback) is not affected.
    let mut other = {
        use rustix::net::{AddressFamily, SocketType};
        let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
        rustix::net::bind(&fd, &SocketAddr::new(IpAddr::from([127, 0, 0, 2]), 0)).unwrap();
        rustix::net::connect(&fd, &srv.addr).unwrap();
        let s = TcpStream::from(fd);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        BufReader::new(s)
    };
    assert!(line(&mut other).starts_with("220 "));
    let mut bad = Ctl::connect(srv.addr);
    bad.expect(&format!("USER {USER}"), 331);
    bad.expect("PASS wrong", 530);
    bad.expect(&format!("USER {USER}"), 331);
    let r = bad.cmd("PASS wrong");
    assert!(r.code == 421 && r.text().contains("banned"), "{r}");
    for c in [&mut logged_in, &mut greeted] {
        c.socket()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let r = c.read();
        assert!(r.code == 421 && r.text().contains("banned"), "{r}");
    }
    assert!(cmd(&mut other, "NOOP").starts_with("200 "));
    let log = plain_log(&srv);
    assert!(log.contains("reason=\"address banned\""), "{log}");
}

// ---------------------------------------------------------------------------------------
// 7. Refused connections cannot flood the log.

#[test]
fn refused_connections_log_a_bounded_number_of_warnings() {
    // Refused by the per-address limit.
    let srv = Server::start(&["--no-tls", "--max-per-ip", "1"]);
    let _held = Ctl::connect(srv.addr);
    for _ in 0..200 {
        let mut c = BufReader::new(TcpStream::connect(srv.addr).unwrap());
        c.get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert!(line(&mut c).starts_with("421 "));
    }
    let warns = warn_lines(&srv);
    // 10 a minute per kind, a line saying more are suppressed, the start-up warning about
    // --no-tls, and room for one minute boundary on a slow machine.
    assert!(warns.len() <= 25, "{} WARN lines: {warns:#?}", warns.len());
    assert!(
        warns.iter().any(|l| l.contains("suppressed")),
        "says that more were suppressed: {warns:#?}"
    );
    // Closed for a PROXY header from an untrusted peer.
    let srv = Server::start(&[
        "--no-tls",
        "--proxy-protocol",
        "--proxy-trusted",
        "192.0.2.0/24",
    ]);
    for _ in 0..200 {
        let mut c = proxied(srv.addr, &v1("198.51.100.7"));
        assert_eq!(line(&mut c), "");
    }
    let warns = warn_lines(&srv);
    // 10 a minute per kind, a line saying more are suppressed, the start-up warning about
    // --no-tls, and room for one minute boundary on a slow machine.
    assert!(warns.len() <= 25, "{} WARN lines: {warns:#?}", warns.len());
}
