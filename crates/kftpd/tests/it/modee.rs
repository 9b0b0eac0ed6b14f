//! MODE E (GridFTP extended block mode) on the wire, driven by hand: which side connects,
//! blocks out of order over several streams, streams cached after EOD and reused by the
//! next transfer, `--max-streams`, and hostile block headers answered with a reply.

use crate::harness::*;
use kftp_proto::modee::{Header, HEADER_LEN};
use kftp_proto::Reply;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

pub(crate) fn port_cmd(l: &TcpListener) -> String {
    let p = l.local_addr().unwrap().port();
    format!("PORT 127,0,0,1,{},{}", p >> 8, p & 0xff)
}

pub(crate) fn block(s: &mut TcpStream, h: Header, body: &[u8]) {
    s.write_all(&h.encode()).unwrap();
    s.write_all(body).unwrap();
}

/// Reads one stream's blocks up to its EOD: (offset, bytes) pairs and EOF's count.
pub(crate) fn read_stream(mut s: TcpStream) -> (Vec<(u64, Vec<u8>)>, Option<u64>) {
    let (mut blocks, mut eof) = (Vec::new(), None);
    loop {
        let mut b = [0u8; HEADER_LEN];
        s.read_exact(&mut b).unwrap();
        let h = Header::decode(&b);
        if h.descriptor & kftp_proto::modee::DESC_EOF != 0 {
            eof = Some(h.offset);
        } else if h.count > 0 {
            let mut body = vec![0u8; h.count as usize];
            s.read_exact(&mut body).unwrap();
            blocks.push((h.offset, body));
        }
        if h.is_eod() {
            assert!(!h.is_close(), "kftpd keeps its streams for reuse");
            return (blocks, eof);
        }
    }
}

#[test]
fn mode_e_roles_blocks_cache_and_bad_headers() {
    let srv = Server::start(&["--max-streams", "3"]);
    let data = random_bytes((3 << 20) + 77, 501);
    std::fs::write(srv.path("a.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let feat = c.expect("FEAT", 211);
    assert!(feat.text().contains("PARALLEL"), "{feat}");
    c.expect("MODE E", 200);

    // The sender connects: RETR needs PORT, STOR needs PASV.
    c.expect("PASV", 227);
    let r = c.expect("RETR a.bin", 425);
    assert!(r.text().contains("PORT"), "{r}");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&port_cmd(&l), 200);
    c.expect("STOR x.bin", 425);

    // Upload over two streams, blocks out of order; EOF (count 2) on the first.
    let mut a = c.epsv();
    let mut b = TcpStream::connect(a.peer_addr().unwrap()).unwrap();
    c.expect("STOR up.bin", 150);
    let half = data.len() / 2;
    block(
        &mut b,
        Header::data(half as u64, (data.len() - half) as u64),
        &data[half..],
    );
    block(&mut b, Header::eod(false), &[]);
    block(&mut a, Header::data(0, half as u64), &data[..half]);
    block(&mut a, Header::eof(2, false), &[]);
    assert_eq!(c.read().code, 226);
    assert_eq!(
        sha256(&std::fs::read(srv.path("up.bin")).unwrap()),
        sha256(&data)
    );

    // The next STOR needs no PASV: the two cached streams carry it.
    let small = random_bytes(100_003, 502);
    c.expect("STOR again.bin", 150);
    block(&mut b, Header::eod(false), &[]);
    block(&mut a, Header::data(0, small.len() as u64), &small);
    block(&mut a, Header::eof(2, false), &[]);
    assert_eq!(c.read().code, 226);
    assert_eq!(std::fs::read(srv.path("again.bin")).unwrap(), small);

    // Download: kftpd opens Parallelism streams (clamped to --max-streams 3) to the PORT
    // target; the blocks over all of them make the file, EOF says three.
    c.expect("OPTS RETR Parallelism=8,8,8;", 200);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&port_cmd(&l), 200);
    c.expect("RETR a.bin", 150);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (s, from) = l.accept().unwrap();
            assert_eq!(from.ip(), srv.addr.ip());
            std::thread::spawn(move || read_stream(s))
        })
        .collect();
    let mut got = vec![0u8; data.len()];
    let mut eofs = Vec::new();
    let mut sizes = Vec::new();
    for r in readers {
        let (blocks, eof) = r.join().unwrap();
        eofs.extend(eof);
        for (off, body) in blocks {
            sizes.push(body.len());
            got[off as usize..off as usize + body.len()].copy_from_slice(&body);
        }
    }
    assert_eq!(c.read().code, 226);
    assert_eq!(eofs, vec![3], "one EOF, counting three streams");
    assert_eq!(sha256(&got), sha256(&data));
    // At most 1 MiB a block, and smaller toward the end (a sixth of what is left, down to
    // 64 KiB), so that the three streams finish together.
    assert!(sizes.iter().all(|&n| n <= 1 << 20), "{sizes:?}");
    assert!(
        sizes.len() > 4 && sizes.iter().filter(|&&n| n < 64 << 10).count() <= 1,
        "3 MiB + 77 bytes in shrinking blocks: {sizes:?}"
    );

    // A block whose end passes 2^64 ends the transfer with a reply, not a panic.
    let mut d = c.epsv();
    c.expect("STOR bad.bin", 150);
    block(&mut d, Header::data(u64::MAX - 1, 5), b"hello");
    let r = c.read();
    assert!(r.code >= 400, "{r}");
    // An EOF announcing more streams than --max-streams is refused too.
    let mut e = c.epsv();
    c.expect("STOR bad2.bin", 150);
    block(&mut e, Header::eof(1000, false), &[]);
    let r = c.read();
    assert!(r.code >= 400, "{r}");
    c.expect("NOOP", 200);

    // REIN closes the cached streams: after a new login there is nothing to send on.
    let mut a = c.epsv();
    c.expect("STOR cached.bin", 150);
    block(&mut a, Header::eof(1, false), &[]);
    assert_eq!(c.read().code, 226);
    c.expect("STOR cached2.bin", 150);
    block(&mut a, Header::eof(1, false), &[]);
    assert_eq!(c.read().code, 226, "the cached stream serves the next STOR");
    c.expect("REIN", 220);
    c.expect(&format!("USER {USER}"), 331);
    c.expect(&format!("PASS {PASS}"), 230);
    c.expect("MODE E", 200);
    c.expect("STOR cached3.bin", 425);
    let mut probe = [0u8; 1];
    assert_eq!(
        a.read(&mut probe).unwrap(),
        0,
        "the cached stream was closed"
    );

    // A listing in MODE E is sent as a RETR is (the server connects: PASV is the wrong
    // side, 425; interop/gridftp.rs lists over PORT); MODE S brings plain streams back.
    c.expect("PASV", 227);
    let r = c.expect("LIST", 425);
    assert!(r.text().contains("PORT"), "{r}");
    c.expect("MODE S", 200);
    let s = c.epsv();
    c.expect("RETR a.bin", 150);
    assert_eq!(sha256(&read_all(s)), sha256(&data));
    assert_eq!(c.read().code, 226);
}

#[test]
fn mode_e_can_be_turned_off() {
    let srv = Server::start(&["--max-streams", "0"]);
    let mut c = srv.login();
    assert!(!c.expect("FEAT", 211).text().contains("PARALLEL"));
    c.expect("MODE E", 504);
}

/// ERET and ESTO (GFD.20) get a reply for what they do not take: another mode (504), a
/// malformed offset (501), an ERET offset or a REST past the end (554);
/// in MODE E the data setup MODE E wants (425; more in modee_partial.rs). FEAT lists
/// both. (globus-url-copy drives them in the interop suite.)
/// A refused upload drops the kept streams. A third-party source sends its blocks as soon
/// as its RETR arrives, before the destination has answered the STOR, so when the STOR is
/// refused (here: the name is a directory) those blocks wait on the kept stream; the next
/// upload must not read them as its own. They did: `kftp mirror` between two kftpd stored
/// one file's bytes under the next file's name when a name between them was refused.
#[test]
fn a_refused_upload_drops_the_streams_its_blocks_may_be_on() {
    let srv = Server::start(&[]);
    std::fs::create_dir(srv.path("dir")).unwrap();
    let (first, stale, fresh) = (
        random_bytes(4096, 511),
        random_bytes(4096, 512),
        random_bytes(4096, 513),
    );
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    let mut a = c.epsv();
    c.expect("STOR first.bin", 150);
    block(&mut a, Header::data(0, first.len() as u64), &first);
    block(&mut a, Header::eof(1, false), &[]);
    assert_eq!(c.read().code, 226);
    // The sender of the next file writes it on the kept stream at once...
    block(&mut a, Header::data(0, stale.len() as u64), &stale);
    block(&mut a, Header::eof(1, false), &[]);
    // ...and the server refuses the name.
    c.expect("STOR dir", 550);
    a.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut probe = [0u8; 1];
    match a.read(&mut probe) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        r => panic!("the kept stream holding the refused file's blocks is still open: {r:?}"),
    }
    // The next file comes over a new stream and holds its own bytes only.
    let mut b = c.epsv();
    c.expect("STOR next.bin", 150);
    block(&mut b, Header::data(0, fresh.len() as u64), &fresh);
    block(&mut b, Header::eof(1, false), &[]);
    assert_eq!(c.read().code, 226);
    assert_eq!(std::fs::read(srv.path("next.bin")).unwrap(), fresh);
    assert_eq!(std::fs::read(srv.path("first.bin")).unwrap(), first);
}

#[test]
fn eret_and_esto_refusals_get_replies() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("f.bin"), b"0123456789").unwrap();
    let mut c = srv.login();
    let feat = c.expect("FEAT", 211).text();
    assert!(feat.contains("ERET") && feat.contains("ESTO"), "{feat}");
    c.expect("ERET X 0 1 f.bin", 504);
    c.expect("ESTO B 0 f.bin", 504);
    c.expect("ERET P 0 f.bin", 501);
    c.expect("ERET P -1 5 f.bin", 501);
    c.expect("ESTO A 12x f.bin", 501);
    c.expect("ESTO A 3", 501);
    c.expect("TYPE I", 200);
    c.expect("EPSV", 229);
    c.expect("ERET P 11 1 f.bin", 554);
    // A REST claiming more than the file has (3 + 8 > 10; partial_restart.rs has more).
    c.expect("REST 8", 350);
    c.expect("ESTO A 3 f.bin", 554);
    c.expect("MODE E", 200);
    c.expect("ERET P 0 5 f.bin", 425);
    c.expect("ESTO A 3 f.bin", 425);
    c.expect("NOOP", 200);
}

/// Under PROT P a MODE E stream must resume its own control connection's TLS session: a
/// stream with a fresh handshake (as another session's client would make) is refused and
/// the transfer ends with a reply, not with the stream's bytes in the file.
#[test]
fn mode_e_tls_stream_must_resume_the_control_session() {
    use std::io::BufRead;
    use tokio_rustls::rustls;
    let srv = Server::start(&[]);
    let config = || {
        kftp_tls::client_config(&kftp_tls::ClientTlsOptions {
            insecure: true,
            ..Default::default()
        })
        .unwrap()
    };
    let name = || rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut c = Ctl::connect(srv.addr);
    c.expect("AUTH TLS", 234);
    let tcp = c.socket().try_clone().unwrap();
    let conn = rustls::ClientConnection::new(config(), name()).unwrap();
    let mut tls = std::io::BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let mut cmd = |line: &str| -> String {
        tls.get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        let mut reply = String::new();
        loop {
            let mut l = String::new();
            assert!(tls.read_line(&mut l).unwrap() > 0, "control closed");
            reply.push_str(&l);
            if l.len() > 3 && l.as_bytes()[3] == b' ' {
                return reply;
            }
        }
    };
    assert!(cmd(&format!("USER {USER}")).starts_with("331"));
    assert!(cmd(&format!("PASS {PASS}")).starts_with("230"));
    assert!(cmd("PBSZ 0").starts_with("200"));
    assert!(cmd("PROT P").starts_with("200"));
    assert!(cmd("MODE E").starts_with("200"));
    let epsv = cmd("EPSV");
    let port = kftp_proto::addr::parse_epsv_reply(epsv[4..].trim()).expect(&epsv);
    let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(cmd("STOR stolen.bin").starts_with("150"));
    // A full handshake with its own, empty session store: no resumption.
    let conn = rustls::ClientConnection::new(config(), name()).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, data);
    let _ = stream.write_all(&Header::eof(1, false).encode());
    let _ = stream.flush();
    let mut l = String::new();
    tls.read_line(&mut l).unwrap();
    assert!(l.starts_with("522"), "{l}");
    assert!(!srv.path("stolen.bin").exists());
}

/// Markers (`--perf-marker-interval 1`), driven by hand: a STOR whose blocks come out of
/// order, with pauses, gets a `111 Range Marker` with the gap-free prefix written so far
/// (what a failed upload keeps) and whole `112` performance markers, all between its `150` and its `226`; a STAT sent
/// meanwhile gets its own whole reply (one writer: the session task).
#[test]
fn mode_e_markers_come_whole_between_150_and_226() {
    let srv = Server::start(&["--perf-marker-interval", "1"]);
    let mib = 1usize << 20;
    let data = random_bytes(3 * mib + 5, 503);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    let mut a = c.epsv();
    c.expect("STOR m.bin", 150);
    // The last part and the first, not the middle: two ranges.
    let tail = (data.len() - 2 * mib) as u64;
    block(&mut a, Header::data(2 * mib as u64, tail), &data[2 * mib..]);
    block(&mut a, Header::data(0, mib as u64), &data[..mib]);
    let check_perf = |r: &Reply| {
        assert_eq!(r.code, 112, "{r}");
        assert_eq!(r.lines.len(), 6, "{r}");
        assert_eq!(
            (r.lines[0].as_str(), r.lines[5].as_str()),
            ("Perf Marker", "End.")
        );
        let m = kftp_proto::modee::PerfMarker::parse(r.lines.iter().map(String::as_str));
        let m = m.expect("a 112 that parses");
        assert_eq!((m.stripe, m.stripes), (0, 1));
        assert!(m.bytes <= data.len() as u64, "{r}");
    };
    // The first tick, about a second in: the ranges so far, then a performance marker.
    let r = c.read();
    assert_eq!(r.code, 111, "{r}");
    assert_eq!(r.text(), format!("Range Marker 0-{mib}"));
    check_perf(&c.read());
    // STAT beside the transfer: its own reply, whole.
    c.send_raw(b"STAT\r\n");
    let mut stat = c.read();
    while matches!(stat.code, 111 | 112) {
        stat = c.read();
    }
    assert!(matches!(stat.code, 211 | 213), "{stat}");
    std::thread::sleep(std::time::Duration::from_millis(1300));
    block(
        &mut a,
        Header::data(mib as u64, mib as u64),
        &data[mib..2 * mib],
    );
    block(&mut a, Header::eof(1, false), &[]);
    let mut perf = 0;
    let end = loop {
        let r = c.read();
        match r.code {
            111 => assert!(r.text().starts_with("Range Marker 0-"), "{r}"),
            112 => {
                check_perf(&r);
                perf += 1;
            }
            _ => break r,
        }
    };
    assert_eq!(end.code, 226, "{end}");
    assert!(perf >= 1, "a marker while the middle block was awaited");
    assert_eq!(std::fs::read(srv.path("m.bin")).unwrap(), data);
    c.expect("NOOP", 200);
}

/// SPAS and SPOR (GridFTP striped passive/port): kftpd is one stripe. SPAS answers the
/// toolkit's multi-line 229 with one host-port, which then serves a STOR like PASV; SPOR
/// with one host-port serves a RETR like PORT (bounce check included); both need MODE E,
/// and SPOR with several host-ports gets a clear 504.
#[test]
fn spas_and_spor_as_one_stripe() {
    let srv = Server::start(&[]);
    let data = random_bytes((2 << 20) + 9, 504);
    std::fs::write(srv.path("s.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("SPAS", 503);
    c.expect("SPOR 127,0,0,1,200,1", 503);
    c.expect("MODE E", 200);

    let r = c.expect("SPAS", 229);
    assert_eq!(r.lines.len(), 3, "{r}");
    assert_eq!(r.lines[0], "Entering Striped Passive Mode.");
    let to = kftp_proto::addr::parse_port(r.lines[1].trim()).expect("one host-port");
    assert_eq!(to.ip(), srv.addr.ip());
    let (mut a, mut b) = (
        TcpStream::connect(to).unwrap(),
        TcpStream::connect(to).unwrap(),
    );
    c.expect("STOR up.bin", 150);
    let half = data.len() / 2;
    block(
        &mut b,
        Header::data(half as u64, (data.len() - half) as u64),
        &data[half..],
    );
    block(&mut b, Header::eod(false), &[]);
    block(&mut a, Header::data(0, half as u64), &data[..half]);
    block(&mut a, Header::eof(2, false), &[]);
    assert_eq!(c.read().code, 226);
    assert_eq!(std::fs::read(srv.path("up.bin")).unwrap(), data);

    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    c.expect(&format!("SPOR 127,0,0,1,{},{}", p >> 8, p & 0xff), 200);
    c.expect("RETR s.bin", 150);
    let (blocks, eof) = read_stream(l.accept().unwrap().0);
    assert_eq!(c.read().code, 226);
    assert_eq!(eof, Some(1));
    let got: Vec<u8> = blocks.into_iter().flat_map(|(_, b)| b).collect();
    assert_eq!(sha256(&got), sha256(&data));

    let r = c.expect("SPOR 127,0,0,1,200,1 127,0,0,1,200,2", 504);
    assert!(r.text().contains("one stripe"), "{r}");
    let many = vec!["127,0,0,1,200,1"; 17].join(" ");
    c.expect(&format!("SPOR {many}"), 501);
    let r = c.cmd("SPOR 10,9,8,7,200,1");
    assert!(r.code >= 500, "a third host is refused as with PORT: {r}");
    c.expect("NOOP", 200);
}
