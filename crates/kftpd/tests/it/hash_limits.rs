//! HASH and the X* digests cost disk and CPU: they stop on ABOR, QUIT and disconnect, follow
//! the session's rate limit, are capped in size and are off for anonymous (#14 item 7).

use crate::harness::*;
use std::time::{Duration, Instant};

/// A sparse file of `len` bytes: digesting it costs CPU, not disk space.
fn sparse(srv: &Server, name: &str, len: u64) {
    let f = std::fs::File::create(srv.path(name)).unwrap();
    f.set_len(len).unwrap();
}

/// CPU the server burns over `window` once things have settled.
fn cpu_over(srv: &Server, window: Duration) -> Duration {
    let before = cpu_time(srv.pid());
    std::thread::sleep(window);
    cpu_time(srv.pid()).saturating_sub(before)
}

#[test]
fn abor_stops_a_running_digest() {
    let srv = Server::start(&["--no-tls"]);
    sparse(&srv, "big.bin", 15 << 30);
    let mut c = srv.login();
    c.expect("OPTS HASH SHA-512", 200);
    c.send_raw(b"HASH big.bin\r\n");
    std::thread::sleep(Duration::from_millis(300));
    // The control connection still answers while the digest runs.
    let st = c.cmd("STAT");
    assert_eq!(st.code, 213, "{st}");
    assert!(st.to_string().contains("HASH /big.bin"), "{st}");
    let at = Instant::now();
    c.send_raw(b"ABOR\r\n");
    assert_eq!(c.read().code, 426);
    assert_eq!(c.read().code, 226);
    assert!(at.elapsed() < Duration::from_secs(10));
    c.expect("NOOP", 200);
    let burnt = cpu_over(&srv, Duration::from_secs(1));
    assert!(
        burnt < Duration::from_millis(400),
        "still hashing: {burnt:?}"
    );
}

#[test]
fn quit_and_disconnect_stop_a_running_digest() {
    let srv = Server::start(&["--no-tls"]);
    sparse(&srv, "big.bin", 15 << 30);
    let mut c = srv.login();
    c.send_raw(b"XSHA512 big.bin\r\n");
    std::thread::sleep(Duration::from_millis(300));
    c.send_raw(b"QUIT\r\n");
    assert_eq!(c.read().code, 426);
    assert_eq!(c.read().code, 221);
    std::thread::sleep(Duration::from_millis(200));
    let burnt = cpu_over(&srv, Duration::from_secs(1));
    assert!(
        burnt < Duration::from_millis(400),
        "still hashing after QUIT: {burnt:?}"
    );

    let mut c = srv.login();
    c.send_raw(b"HASH big.bin\r\n");
    std::thread::sleep(Duration::from_millis(300));
    drop(c);
    std::thread::sleep(Duration::from_millis(300));
    let burnt = cpu_over(&srv, Duration::from_secs(1));
    assert!(
        burnt < Duration::from_millis(400),
        "still hashing after the client left: {burnt:?}"
    );
}

#[test]
fn digest_size_is_capped_and_ranges_still_work() {
    let srv = Server::start(&["--no-tls", "--hash-max-bytes", "1000"]);
    std::fs::write(srv.path("f.bin"), vec![7u8; 2000]).unwrap();
    let mut c = srv.login();
    let r = c.expect("HASH f.bin", 504);
    assert!(r.to_string().contains("RANG"), "{r}");
    c.expect("XMD5 f.bin", 504);
    c.expect("RANG 0 999", 350);
    let r = c.expect("HASH f.bin", 213);
    assert!(r.to_string().contains("SHA-256 0-999 "), "{r}");
    c.expect("XMD5 f.bin 1000 2000", 250);
}

#[test]
fn anonymous_may_not_hash_unless_allowed() {
    let srv = Server::start(&["--no-tls", "--anonymous"]);
    std::fs::write(srv.path("f.txt"), b"abc").unwrap();
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER anonymous", 331);
    c.expect("PASS a@b", 230);
    c.expect("HASH f.txt", 550);
    c.expect("XSHA256 f.txt", 550);
    c.expect("RETR f.txt", 425);

    let srv = Server::start(&["--no-tls", "--anonymous", "--anonymous-hash"]);
    std::fs::write(srv.path("f.txt"), b"abc").unwrap();
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER anonymous", 331);
    c.expect("PASS a@b", 230);
    let r = c.expect("XSHA256 f.txt", 250);
    assert_eq!(
        r.lines[0],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn digests_follow_the_session_rate_limit() {
    // 8 MiB at 1 MiB/s cannot be done after one second; unlimited, it takes milliseconds.
    let srv = Server::start(&["--no-tls", "--rate-session", "1048576"]);
    std::fs::write(srv.path("f.bin"), vec![1u8; 8 << 20]).unwrap();
    let mut c = srv.login();
    c.send_raw(b"HASH f.bin\r\n");
    std::thread::sleep(Duration::from_secs(1));
    let st = c.cmd("STAT");
    assert_eq!(st.code, 213, "the digest ignored the rate limit: {st}");
    assert!(st.to_string().contains("HASH /f.bin"), "{st}");
    c.send_raw(b"ABOR\r\n");
    assert_eq!(c.read().code, 426);
    assert_eq!(c.read().code, 226);
}
