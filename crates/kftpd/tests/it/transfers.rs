//! Transfers at the socket level: ABOR and STAT mid-transfer, big round trips on both
//! data paths, interrupted and resumed uploads, a file that shrinks while it is sent,
//! active mode, the passive port range and foreign data peers.

use crate::harness::*;
use crate::util::*;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Reads exactly `n` bytes from a data connection.
fn read_n(d: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    d.read_exact(&mut v).unwrap();
    v
}

/// Starts a RETR of a large file, reads the first MiB, and hands back both connections.
fn retr_started(c: &mut Ctl, name: &str) -> TcpStream {
    c.expect("TYPE I", 200);
    let mut d = c.epsv();
    d.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.expect(&format!("RETR {name}"), 150);
    let _ = read_n(&mut d, 1 << 20);
    d
}

/// After an ABOR: 426 for the transfer, then 226 for the ABOR, in that order, and the
/// session is still good for a full transfer.
fn assert_abort_replies(srv: &Server, c: &mut Ctl, d: TcpStream, small: &[u8]) {
    let t0 = Instant::now();
    let first = c.read();
    let second = c.read();
    assert_eq!((first.code, second.code), (426, 226), "{first} / {second}");
    assert!(t0.elapsed() < Duration::from_secs(5), "ABOR was slow");
    drop(d);
    c.expect("NOOP", 200);
    let d = c.epsv();
    c.expect("RETR small.bin", 150);
    assert_eq!(read_all(d), small);
    assert_eq!(c.read().code, 226);
    assert!(
        plain_log(srv).contains("transfer failed"),
        "the abort is logged"
    );
}

#[test]
fn abor_during_large_retr() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("huge.bin"), random_bytes(16 << 20, 131)).unwrap();
    let small = random_bytes(70_000, 132);
    std::fs::write(srv.path("small.bin"), &small).unwrap();
    let mut c = srv.login();

    // Plain ABOR.
    let d = retr_started(&mut c, "huge.bin");
    c.send_raw(b"ABOR\r\n");
    assert_abort_replies(&srv, &mut c, d, &small);

    // ABOR as TCP urgent data (what Python's ftplib does).
    let d = retr_started(&mut c, "huge.bin");
    rustix::net::send(c.socket(), b"ABOR\r\n", rustix::net::SendFlags::OOB).unwrap();
    assert_abort_replies(&srv, &mut c, d, &small);

    // RFC 959's full form: Telnet IP, then Synch (IAC as urgent data, then DM), then ABOR.
    let d = retr_started(&mut c, "huge.bin");
    c.send_raw(b"\xff\xf4");
    rustix::net::send(c.socket(), b"\xff", rustix::net::SendFlags::OOB).unwrap();
    c.send_raw(b"\xf2ABOR\r\n");
    assert_abort_replies(&srv, &mut c, d, &small);

    // ABOR with nothing running is a plain 226, and it closes a prepared data
    // connection: the client is not left waiting on it.
    let mut d = c.epsv();
    c.expect("ABOR", 226);
    d.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let r = d.read(&mut [0u8; 1]);
    let closed = match &r {
        Ok(n) => *n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    };
    assert!(closed, "data connection still open after ABOR: {r:?}");
    c.expect("RETR small.bin", 425);
}

/// A client that closes the control connection while its download is still on its way
/// (aria2 does, as soon as it has the bytes) gets the whole file, and the download is
/// logged complete: the session lets it end by itself. (It was stopped: the client got
/// part of the file, and kftpd logged the download as failed.)
#[test]
fn a_download_ends_by_itself_after_the_client_closes_the_control_connection() {
    let srv = Server::start(&[]);
    let data = random_bytes(16 << 20, 140);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let mut c = srv.login();
    let mut d = retr_started(&mut c, "big.bin");
    drop(c);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    let rest = &data[1 << 20..];
    assert!(
        got == rest,
        "{} of {} bytes after the first MiB",
        got.len(),
        rest.len()
    );
    assert!(
        wait_until(10, || plain_log(&srv).contains("transfer complete")),
        "the download is logged complete: {}",
        plain_log(&srv)
    );
}

#[test]
fn abor_during_upload_keeps_the_part_file() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut d = c.epsv();
    c.expect("STOR up.bin", 150);
    let data = random_bytes(600_000, 133);
    d.write_all(&data).unwrap();
    let part = part_path(&srv, "up.bin");
    assert!(wait_until(10, || file_len(&part) == data.len() as u64));
    c.send_raw(b"ABOR\r\n");
    let (a, b) = (c.read(), c.read());
    assert_eq!((a.code, b.code), (426, 226), "{a} / {b}");
    drop(d);
    assert!(!srv.path("up.bin").exists());
    assert_eq!(c.expect("SIZE up.bin", 213).text(), "600000");
}

#[test]
fn stat_during_transfer_reports_progress() {
    let srv = Server::start(&[]);
    let data = random_bytes(16 << 20, 141);
    std::fs::write(srv.path("huge.bin"), &data).unwrap();
    let mut c = srv.login();
    let mut d = retr_started(&mut c, "huge.bin");
    // The client has read a MiB, but the server counts bytes when a sendfile(2) call
    // returns, and on a loaded machine the call that sent them may not have returned yet
    // (the reader drains the socket while it runs): ask again for a while.
    let t0 = std::time::Instant::now();
    let (line, done) = loop {
        let st = c.expect("STAT", 213);
        let line = st
            .lines
            .iter()
            .find(|l| l.contains("RETR /huge.bin"))
            .unwrap_or_else(|| panic!("{st:?}"))
            .clone();
        let done: u64 = line
            .split(": ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        if done >= 1 << 20 || t0.elapsed() > Duration::from_secs(10) {
            break (line, done);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        done >= 1 << 20 && done <= data.len() as u64,
        "bytes so far: {line}"
    );
    assert!(
        line.contains(&format!(" of {} bytes", data.len())),
        "{line}"
    );
    c.expect("NOOP", 200);
    let mut rest = Vec::new();
    d.read_to_end(&mut rest).unwrap();
    assert_eq!(rest.len() + (1 << 20), data.len());
    assert_eq!(sha256(&rest), sha256(&data[1 << 20..]));
    assert_eq!(c.read().code, 226);
    // With nothing running, STAT is the session status again.
    c.expect("STAT", 211);
}

/// Beside a running transfer only ABOR, STAT and NOOP are answered at once; any other
/// command is answered after the transfer's final reply, in order.
#[test]
fn other_commands_wait_for_the_running_transfer() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut d = c.epsv();
    c.expect("STOR up.bin", 150);
    let data = random_bytes(300_000, 161);
    d.write_all(&data).unwrap();
    let noop = c.expect("NOOP", 200);
    assert!(noop.text().contains("transfer in progress"), "{noop}");
    c.send_raw(b"PWD\r\n");
    drop(d);
    let (a, b) = (c.read(), c.read());
    assert_eq!((a.code, b.code), (226, 257), "{a} / {b}");
    assert_eq!(
        sha256(&std::fs::read(srv.path("up.bin")).unwrap()),
        sha256(&data)
    );
    assert_eq!(c.expect("NOOP", 200).text(), "NOOP ok.");
}

/// 64 MiB up and down on one data path; returns the two 226 texts.
fn round_trip_64m(path: &str) -> (String, String, String) {
    let srv = Server::start(&["--data-path", path]);
    let data = random_bytes(64 << 20, 151);
    let want = sha256(&data);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut d = c.epsv();
    c.expect("STOR big.bin", 150);
    d.write_all(&data).unwrap();
    drop(d);
    let up = c.read();
    assert_eq!(up.code, 226, "{up}");
    assert_eq!(sha256(&std::fs::read(srv.path("big.bin")).unwrap()), want);
    let d = c.epsv();
    c.expect("RETR big.bin", 150);
    let got = read_all(d);
    let down = c.read();
    assert_eq!(down.code, 226, "{down}");
    assert_eq!(got.len(), data.len());
    assert_eq!(sha256(&got), want, "download over --data-path {path}");
    (up.text(), down.text(), plain_log(&srv))
}

#[test]
fn big_round_trip_kernel_path() {
    let (up, down, log) = round_trip_64m("kernel");
    assert!(up.ends_with("via splice."), "{up}");
    assert!(down.ends_with("via sendfile."), "{down}");
    assert!(up.contains(&format!("{} bytes", 64 << 20)), "{up}");
    assert!(log.contains("data_path=\"splice\"") && log.contains("data_path=\"sendfile\""));
}

#[test]
fn big_round_trip_copy_path() {
    let (up, down, log) = round_trip_64m("copy");
    assert!(up.ends_with("via copy."), "{up}");
    assert!(down.ends_with("via copy."), "{down}");
    assert!(!log.contains("data_path=\"sendfile\"") && !log.contains("data_path=\"splice\""));
}

#[test]
fn interrupted_upload_then_rest_stor() {
    let srv = Server::start(&[]);
    let data = random_bytes((3 << 20) + 77, 161);
    let cut = 1_300_000;
    let mut c = interrupted_upload(&srv, "doc.bin", &data[..cut]);
    // Only the hidden part file exists, SIZE reports it, listings do not show it, and
    // the final name cannot be read.
    assert!(!srv.path("doc.bin").exists());
    assert_eq!(file_len(&part_path(&srv, "doc.bin")), cut as u64);
    assert_eq!(c.expect("SIZE doc.bin", 213).text(), cut.to_string());
    let d = c.epsv();
    c.expect("NLST -a", 150);
    assert_eq!(read_all(d), b"");
    assert_eq!(c.read().code, 226);
    let _d = c.epsv();
    c.expect("RETR doc.bin", 550);
    c.expect("ABOR", 226);
    // A restart past what was stored is refused.
    let _d = c.epsv();
    c.expect(&format!("REST {}", cut + 1), 350);
    c.expect("STOR doc.bin", 554);
    c.expect("ABOR", 226);
    // REST n + STOR finishes it.
    let mut d = c.epsv();
    c.expect(&format!("REST {cut}"), 350);
    let r = c.expect("STOR doc.bin", 150);
    assert!(r.text().contains(&format!("from byte {cut}")), "{r}");
    d.write_all(&data[cut..]).unwrap();
    drop(d);
    let r = c.read();
    assert_eq!(r.code, 226, "{r}");
    assert!(
        r.text().contains(&format!("{} bytes", data.len() - cut)),
        "{r}"
    );
    assert_eq!(
        sha256(&std::fs::read(srv.path("doc.bin")).unwrap()),
        sha256(&data)
    );
    assert!(!part_path(&srv, "doc.bin").exists());
    assert_eq!(c.expect("SIZE doc.bin", 213).text(), data.len().to_string());
}

#[test]
fn interrupted_upload_does_not_clobber_existing_file() {
    let srv = Server::start(&[]);
    let old = b"the old version\n".to_vec();
    std::fs::write(srv.path("doc.txt"), &old).unwrap();
    let mut c = interrupted_upload(&srv, "doc.txt", &random_bytes(500_000, 162));
    // Readers still see the old, complete file; SIZE names the resume point.
    assert_eq!(std::fs::read(srv.path("doc.txt")).unwrap(), old);
    let d = c.epsv();
    c.expect("RETR doc.txt", 150);
    assert_eq!(read_all(d), old);
    assert_eq!(c.read().code, 226);
    assert_eq!(c.expect("SIZE doc.txt", 213).text(), "500000");
    drop(c);
    // A fresh STOR replaces it and clears the part file.
    let mut c = srv.login();
    let mut d = c.epsv();
    c.expect("STOR doc.txt", 150);
    d.write_all(b"new\n").unwrap();
    drop(d);
    assert_eq!(c.read().code, 226);
    assert_eq!(std::fs::read(srv.path("doc.txt")).unwrap(), b"new\n");
    assert!(!part_path(&srv, "doc.txt").exists());
}

/// RETR of a file that is truncated on disk mid-transfer: 451, promptly, and the client
/// got fewer bytes than announced.
fn truncated_while_sending(path: &str) {
    let srv = Server::start(&["--data-path", path]);
    let len = 16usize << 20;
    std::fs::write(srv.path("shrink.bin"), random_bytes(len, 171)).unwrap();
    let mut c = srv.login();
    let mut d = retr_started(&mut c, "shrink.bin");
    std::fs::OpenOptions::new()
        .write(true)
        .open(srv.path("shrink.bin"))
        .unwrap()
        .set_len(2 << 20)
        .unwrap();
    let t0 = Instant::now();
    let mut rest = Vec::new();
    let _ = d.read_to_end(&mut rest);
    let r = c.read();
    assert_eq!(r.code, 451, "{path}: {r}");
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "{path}: took {:?}",
        t0.elapsed()
    );
    assert!((1 << 20) + rest.len() < len, "{path}: got everything?");
    c.expect("NOOP", 200);
}

#[test]
fn file_truncated_while_sending_kernel() {
    truncated_while_sending("kernel");
}

#[test]
fn file_truncated_while_sending_copy() {
    truncated_while_sending("copy");
}

#[test]
fn active_mode_port_and_eprt() {
    let srv = Server::start(&[]);
    let data = random_bytes((2 << 20) + 3, 181);
    std::fs::write(srv.path("a.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);

    // PORT + RETR.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    c.expect(&format!("PORT 127,0,0,1,{},{}", p >> 8, p & 0xff), 200);
    c.expect("RETR a.bin", 150);
    let (s, from) = l.accept().unwrap();
    assert_eq!(
        from.ip(),
        srv.addr.ip(),
        "data comes from the control address"
    );
    assert_eq!(sha256(&read_all(s)), sha256(&data));
    assert_eq!(c.read().code, 226);

    // EPRT + STOR.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    c.expect(&format!("EPRT |1|127.0.0.1|{p}|"), 200);
    c.expect("STOR b.bin", 150);
    let (mut s, _) = l.accept().unwrap();
    s.write_all(&data).unwrap();
    drop(s);
    assert_eq!(c.read().code, 226);
    assert_eq!(
        sha256(&std::fs::read(srv.path("b.bin")).unwrap()),
        sha256(&data)
    );

    // EPRT + LIST.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    c.expect(&format!("EPRT |1|127.0.0.1|{p}|"), 200);
    c.expect("NLST", 150);
    let (s, _) = l.accept().unwrap();
    assert_eq!(read_all(s), b"a.bin\r\nb.bin\r\n");
    assert_eq!(c.read().code, 226);

    // Nobody listening: 425 within the data timeout.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    drop(l);
    c.expect(&format!("EPRT |1|127.0.0.1|{p}|"), 200);
    c.expect("RETR a.bin", 150);
    assert_eq!(c.read().code, 425);
    c.expect("NOOP", 200);
}

#[test]
fn passive_port_range_is_honoured() {
    // Below the usual ephemeral range, so other tests' sockets do not collide.
    let (lo, hi) = (23410u16, 23414u16);
    let srv = Server::start(&["--passive-ports", &format!("{lo}-{hi}")]);
    std::fs::write(srv.path("f"), b"ranged\n").unwrap();
    let mut c = srv.login();
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..8 {
        let r = c.expect("EPSV", 229);
        let port = kftp_proto::addr::parse_epsv_reply(&r.text()).unwrap();
        assert!(
            (lo..=hi).contains(&port),
            "EPSV port {port} outside {lo}-{hi}"
        );
        seen.insert(port);
        if i % 2 == 0 {
            let d = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.expect("RETR f", 150);
            assert_eq!(read_all(d), b"ranged\n");
            assert_eq!(c.read().code, 226);
        }
        let r = c.expect("PASV", 227);
        let a = kftp_proto::addr::parse_pasv_reply(&r.text()).unwrap();
        assert!(
            (lo..=hi).contains(&a.port()),
            "PASV port {} outside range",
            a.port()
        );
        seen.insert(a.port());
    }
    assert!(seen.len() > 1, "ports rotate through the range: {seen:?}");
}

/// A TCP connection to `to` from a chosen local address.
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use rustix::net::{AddressFamily, SocketType};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None)?;
    rustix::net::bind(&fd, &SocketAddrV4::new(from, 0))?;
    rustix::net::connect(&fd, &to)?;
    Ok(TcpStream::from(fd))
}

/// In-process on a paused clock: the data timeout runs out in virtual time.
#[tokio::test]
async fn passive_connection_from_foreign_host_is_refused() {
    use tokio::io::AsyncReadExt;
    let srv = start_in_process(&["--data-timeout", "2"]).await;
    std::fs::write(srv.path("f"), b"private\n").unwrap();
    let mut c = AsyncCtl::login(srv.addr, USER, PASS).await;
    tokio::time::pause();
    let to = c.epsv().await;
    let intruder = match connect_from(Ipv4Addr::new(127, 0, 0, 2), to) {
        Ok(s) => s,
        Err(e) => {
            skip(&format!("cannot connect from 127.0.0.2: {e}"));
            return;
        }
    };
    intruder.set_nonblocking(true).unwrap();
    let mut intruder = tokio::net::TcpStream::from_std(intruder).unwrap();
    let t0 = tokio::time::Instant::now();
    c.expect("RETR f", 150).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), intruder.read_to_end(&mut buf)).await;
    assert!(buf.is_empty(), "a foreign peer got data: {buf:?}");
    let r = c.read().await;
    assert_eq!(r.code, 425, "{r}");
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "425 after the data timeout, got {waited:?}"
    );
    assert!(
        srv.log_text().contains("refused passive data connection"),
        "the refusal is logged"
    );
    // The rightful client still gets its file.
    let d = c.epsv().await;
    c.expect("RETR f", 150).await;
    let mut got = Vec::new();
    let mut d = tokio::net::TcpStream::connect(d).await.unwrap();
    d.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"private\n");
    assert_eq!(c.read().await.code, 226);
}

#[test]
fn concurrent_uploads_to_one_name_do_not_mix() {
    let srv = Server::start(&[]);
    let mut a = srv.login();
    let mut da = a.epsv();
    a.expect("STOR same.bin", 150);
    da.write_all(&[b'A'; 300_000]).unwrap();
    let part = part_path(&srv, "same.bin");
    assert!(wait_until(10, || file_len(&part) == 300_000));
    // A second upload to the same name while the first is in flight is refused (450,
    // file busy), and neither truncates nor writes into the first one's part file.
    let mut b = srv.login();
    let mut db = b.epsv();
    let r = b.cmd("STOR same.bin");
    if r.code == 150 {
        db.write_all(&[b'B'; 100_000]).unwrap();
        drop(db);
        let _ = b.read();
    } else {
        assert_eq!(r.code, 450, "{r}");
        b.expect("APPE same.bin", 450);
        b.expect("REST 100", 350);
        b.expect("STOR same.bin", 450);
    }
    da.write_all(&[b'A'; 200_000]).unwrap();
    drop(da);
    assert_eq!(a.read().code, 226);
    let got = std::fs::read(srv.path("same.bin")).unwrap();
    assert!(
        got.len() == 500_000 && got.iter().all(|&x| x == b'A'),
        "the first upload's file holds foreign bytes ({} bytes)",
        got.len()
    );
    // Once it is done, the name is free again.
    let mut db = b.epsv();
    b.expect("STOR same.bin", 150);
    db.write_all(b"B").unwrap();
    drop(db);
    assert_eq!(b.read().code, 226);
    assert_eq!(std::fs::read(srv.path("same.bin")).unwrap(), b"B");
}

#[test]
fn dele_discards_an_interrupted_upload() {
    let srv = Server::start(&[]);
    let mut c = interrupted_upload(&srv, "gone.bin", &random_bytes(200_000, 191));
    assert_eq!(c.expect("SIZE gone.bin", 213).text(), "200000");
    c.expect("DELE gone.bin", 250);
    assert!(!part_path(&srv, "gone.bin").exists());
    c.expect("SIZE gone.bin", 550);
    c.expect("DELE gone.bin", 550);
    // With an older file under the name, DELE removes both.
    std::fs::write(srv.path("both.bin"), b"old").unwrap();
    drop(c);
    let mut c = interrupted_upload(&srv, "both.bin", &random_bytes(100_000, 192));
    c.expect("DELE both.bin", 250);
    assert!(!srv.path("both.bin").exists() && !part_path(&srv, "both.bin").exists());
    // An upload in flight is not pulled from under its writer: 450.
    let mut d = c.epsv();
    c.expect("STOR live.bin", 150);
    d.write_all(&[7u8; 50_000]).unwrap();
    assert!(wait_until(10, || file_len(&part_path(&srv, "live.bin")) == 50_000));
    let mut c2 = srv.login();
    c2.expect("DELE live.bin", 450);
    drop(d);
    assert_eq!(c.read().code, 226);
    assert_eq!(file_len(&srv.path("live.bin")), 50_000);
}

#[test]
fn abor_before_the_data_connection_opens() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("f"), b"x").unwrap();
    let mut c = srv.login();
    let r = c.expect("EPSV", 229);
    let _port = kftp_proto::addr::parse_epsv_reply(&r.text()).unwrap();
    // 150 is sent, the client never connects, then aborts.
    c.expect("RETR f", 150);
    let t0 = Instant::now();
    c.send_raw(b"ABOR\r\n");
    let (a, b) = (c.read(), c.read());
    assert_eq!((a.code, b.code), (426, 226), "{a} / {b}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Same for an upload: no part file is left behind.
    c.expect("EPSV", 229);
    c.expect("STOR never.bin", 150);
    c.send_raw(b"ABOR\r\n");
    let (a, b) = (c.read(), c.read());
    assert_eq!((a.code, b.code), (426, 226), "{a} / {b}");
    assert!(!srv.path("never.bin").exists() && !part_path(&srv, "never.bin").exists());
    c.expect("NOOP", 200);
}

#[test]
fn control_connection_lost_mid_upload() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    let mut d = c.epsv();
    c.expect("STOR lost.bin", 150);
    let data = random_bytes(400_000, 201);
    d.write_all(&data).unwrap();
    let part = part_path(&srv, "lost.bin");
    assert!(wait_until(10, || file_len(&part) == 400_000));
    drop(c);
    // The server ends the transfer with the session: the upload stays resumable, never
    // appears under its name, and its lock is released for the next session.
    let mut c = srv.login();
    assert!(
        wait_until(10, || c.cmd("SIZE lost.bin").text() == "400000"
            && !srv.path("lost.bin").exists()),
        "partial upload not kept"
    );
    drop(d);
    let mut d = c.epsv();
    c.expect("REST 400000", 350);
    c.expect("STOR lost.bin", 150);
    d.write_all(b"end").unwrap();
    drop(d);
    assert_eq!(c.read().code, 226);
    let mut want = data;
    want.extend_from_slice(b"end");
    assert_eq!(std::fs::read(srv.path("lost.bin")).unwrap(), want);
}

#[test]
fn foreign_peer_first_then_rightful_client() {
    let srv = Server::start(&["--data-timeout", "5"]);
    std::fs::write(srv.path("f"), b"mine only\n").unwrap();
    let mut c = srv.login();
    let r = c.expect("EPSV", 229);
    let port = kftp_proto::addr::parse_epsv_reply(&r.text()).unwrap();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut intruder) = connect_from(Ipv4Addr::new(127, 0, 0, 2), to) else {
        skip("cannot connect from 127.0.0.2");
        return;
    };
    c.expect("RETR f", 150);
    intruder
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut stolen = Vec::new();
    let _ = intruder.read_to_end(&mut stolen);
    assert!(stolen.is_empty(), "{stolen:?}");
    // The PASV-theft attempt did not use up the listener: the client still connects.
    let d = TcpStream::connect(to).unwrap();
    assert_eq!(read_all(d), b"mine only\n");
    assert_eq!(c.read().code, 226);
}

/// Many files in a row on one session, on its kept passive listener (a random port of the
/// ephemeral range, no `--passive-ports`, reused by every EPSV), opened on the
/// cached-lookup path of a local root: every download is byte-exact, REST included, and
/// SIZE/MDTM answer from the same path; a name the session just uploaded is found at once.
#[test]
fn many_files_in_a_row_are_byte_exact() {
    let srv = Server::start(&[]);
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| {
            let mut it = r.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some(it.next()??..=it.next()??)
        })
        .unwrap_or(32768..=60999);
    let big = random_bytes(5 << 20, 77);
    std::fs::write(srv.path("big.bin"), &big).unwrap();
    let mut small = Vec::new();
    for i in 0..40u64 {
        let data = random_bytes(4096 + i as usize, i);
        std::fs::write(srv.path(&format!("s{i}.bin")), &data).unwrap();
        small.push(data);
    }
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut ports = std::collections::HashSet::new();
    for (i, data) in small.iter().enumerate() {
        let name = format!("s{i}.bin");
        assert_eq!(
            c.expect(&format!("SIZE {name}"), 213).text(),
            data.len().to_string()
        );
        c.expect(&format!("MDTM {name}"), 213);
        let d = c.epsv();
        let port = d.peer_addr().unwrap().port();
        assert!(
            range.contains(&port),
            "passive port {port} outside {range:?}"
        );
        ports.insert(port);
        c.expect(&format!("RETR {name}"), 150);
        assert_eq!(sha256(&read_all(d)), sha256(data), "{name}");
        assert_eq!(c.read().code, 226);
    }
    assert_eq!(ports.len(), 1, "one kept listener serves every EPSV");
    // A multi-MiB file, whole and from a restart offset.
    for offset in [0usize, 3 << 20] {
        c.expect(&format!("REST {offset}"), 350);
        let d = c.epsv();
        c.expect("RETR big.bin", 150);
        assert_eq!(
            sha256(&read_all(d)),
            sha256(&big[offset..]),
            "REST {offset}"
        );
        assert_eq!(c.read().code, 226);
    }
    // Uploaded by this session, then read back on the cached path.
    let up = random_bytes(3 << 20, 78);
    let mut d = c.epsv();
    c.expect("STOR up.bin", 150);
    d.write_all(&up).unwrap();
    drop(d);
    assert_eq!(c.read().code, 226);
    assert_eq!(c.expect("SIZE up.bin", 213).text(), up.len().to_string());
    let d = c.epsv();
    c.expect("RETR up.bin", 150);
    assert_eq!(sha256(&read_all(d)), sha256(&up));
    assert_eq!(c.read().code, 226);
    c.expect("RETR nope.bin", 550);
}

/// The kept passive listener (see `datachan::Kept`): EPSV after EPSV answers the same
/// port; uploads, a resume, an append and downloads through it are byte-exact; a
/// connection made for an earlier EPSV and never used is closed instead of becoming the
/// next transfer's; ABOR and EPRT close the listener.
#[test]
fn a_kept_passive_listener_serves_transfer_after_transfer() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let port_of = |r: &kftp_proto::Reply| kftp_proto::addr::parse_epsv_reply(&r.text()).unwrap();
    let first = port_of(&c.expect("EPSV", 229));
    let data = random_bytes(6 << 20, 91);
    let (head, tail) = data.split_at(2 << 20);
    // Upload in two parts (STOR, then APPE), each on the same listener.
    for (verb, part) in [("STOR", head), ("APPE", tail)] {
        let mut d = TcpStream::connect(("127.0.0.1", first)).unwrap();
        c.expect(&format!("{verb} k.bin"), 150);
        d.write_all(part).unwrap();
        drop(d);
        assert_eq!(c.read().code, 226, "{verb}");
        assert_eq!(port_of(&c.expect("EPSV", 229)), first, "after {verb}");
    }
    assert_eq!(
        sha256(&std::fs::read(srv.path("k.bin")).unwrap()),
        sha256(&data)
    );
    // A connection for this EPSV that no transfer takes (the RETR fails)...
    let mut stale = TcpStream::connect(("127.0.0.1", first)).unwrap();
    c.expect("RETR nope.bin", 550);
    // ...is closed when the next EPSV reuses the listener; the transfer gets its own.
    assert_eq!(port_of(&c.expect("EPSV", 229)), first);
    stale
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let _ = stale.read_to_end(&mut got);
    assert!(
        got.is_empty(),
        "the stale connection got {} bytes",
        got.len()
    );
    let d = TcpStream::connect(("127.0.0.1", first)).unwrap();
    c.expect("REST 1000000", 350);
    c.expect("RETR k.bin", 150);
    assert_eq!(sha256(&read_all(d)), sha256(&data[1_000_000..]));
    assert_eq!(c.read().code, 226);
    // ABOR without a transfer closes the kept listener too (RFC 959: the data connection
    // goes), and so does a switch to active mode.
    assert_eq!(port_of(&c.expect("EPSV", 229)), first);
    c.expect("ABOR", 226);
    assert!(
        TcpStream::connect(("127.0.0.1", first)).is_err(),
        "still listening after ABOR"
    );
    let second = port_of(&c.expect("EPSV", 229));
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    c.expect(&format!("EPRT |1|127.0.0.1|{p}|"), 200);
    assert!(
        TcpStream::connect(("127.0.0.1", second)).is_err(),
        "still listening after EPRT"
    );
    c.expect("RETR k.bin", 150);
    let (s, _) = l.accept().unwrap();
    assert_eq!(sha256(&read_all(s)), sha256(&data));
    assert_eq!(c.read().code, 226);
}

/// A resume from before the end of a part file cuts what lay past the new end (commit
/// truncates resumed part files only); a fresh upload over a longer old part file and a
/// new file end exactly where their bytes end.
#[test]
fn resume_before_the_end_of_a_part_file_cuts_the_rest() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let old = random_bytes(100_000, 31);
    std::fs::write(part_path(&srv, "r.bin"), &old).unwrap();
    let store = |c: &mut Ctl, cmd: &str, data: &[u8]| {
        let mut d = c.epsv();
        c.expect(cmd, 150);
        d.write_all(data).unwrap();
        drop(d);
        let r = c.read();
        assert_eq!(r.code, 226, "{cmd}: {r}");
    };
    c.expect("REST 1000", 350);
    store(&mut c, "STOR r.bin", b"tail");
    let mut want = old[..1000].to_vec();
    want.extend_from_slice(b"tail");
    assert_eq!(std::fs::read(srv.path("r.bin")).unwrap(), want);
    // A plain STOR over a longer leftover part file: only the new bytes.
    std::fs::write(part_path(&srv, "s.bin"), &old).unwrap();
    store(&mut c, "STOR s.bin", b"short");
    assert_eq!(std::fs::read(srv.path("s.bin")).unwrap(), b"short");
    store(&mut c, "STOR n.bin", &old[..4096]);
    assert_eq!(std::fs::read(srv.path("n.bin")).unwrap(), &old[..4096]);
    assert!(!part_path(&srv, "r.bin").exists() && !part_path(&srv, "s.bin").exists());
}
