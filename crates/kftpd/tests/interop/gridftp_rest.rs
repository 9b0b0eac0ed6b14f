//! REST before ERET P and ESTO A (issue #17) against GridFTP's own server: the same raw
//! commands go to globus-gridftp-server and to kftpd, and what each sends (MODE S bytes,
//! MODE E blocks merged into runs, since the two cut blocks differently) or writes (the
//! file afterwards) must be the same. This is what the toolkit's client relies on when it
//! restarts a partial transfer: the REST offset or ranges count from the part's start.

use crate::gridftp::Gfs;
use crate::harness::*;
use kftp_proto::modee::{Header, DESC_EOF, HEADER_LEN};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

/// One server under test: where it listens, how to log in, how it names the file.
struct Target {
    addr: SocketAddr,
    user: &'static str,
    pass: &'static str,
    path: String,
}

impl Target {
    fn login(&self) -> Ctl {
        let mut c = Ctl::connect(self.addr);
        c.expect(&format!("USER {}", self.user), 331);
        c.expect(&format!("PASS {}", self.pass), 230);
        c.expect("TYPE I", 200);
        c
    }
}

/// The final reply, past any 111/112 markers.
fn done(c: &mut Ctl) -> u16 {
    loop {
        let r = c.read();
        if r.code >= 200 {
            return r.code;
        }
    }
}

fn pasv(c: &mut Ctl) -> TcpStream {
    let r = c.expect("PASV", 227);
    TcpStream::connect(kftp_proto::addr::parse_pasv_reply(&r.text()).unwrap()).unwrap()
}

/// Bytes at an offset: a MODE E block, or a run of them.
type Block = (u64, Vec<u8>);

/// The data as runs of contiguous bytes: (offset, bytes), sorted and merged.
fn runs(mut blocks: Vec<Block>) -> Vec<Block> {
    blocks.sort_by_key(|b| b.0);
    let mut out: Vec<Block> = Vec::new();
    for (off, body) in blocks {
        match out.last_mut() {
            Some((at, run)) if *at + run.len() as u64 == off => run.extend(body),
            _ => out.push((off, body)),
        }
    }
    out
}

/// `REST rest` then `ERET P part` in MODE S (`mode_e` false: one run at 0) or MODE E
/// (the blocks, every stream the EOF counts read up to its EOD).
fn eret(t: &Target, mode_e: bool, rest: &str, part: &str) -> Vec<Block> {
    let mut c = t.login();
    let cmd = format!("ERET P {part} {}", t.path);
    if !mode_e {
        let d = pasv(&mut c);
        c.expect(&format!("REST {rest}"), 350);
        c.expect(&cmd, 150);
        let got = read_all(d);
        assert_eq!(done(&mut c), 226);
        return vec![(0, got)];
    }
    c.expect("MODE E", 200);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    c.expect(&format!("PORT 127,0,0,1,{},{}", p >> 8, p & 0xff), 200);
    c.expect(&format!("REST {rest}"), 350);
    c.expect(&cmd, 150);
    let (mut blocks, mut streams, mut eods, mut expect) = (Vec::new(), 0, 0, None);
    while expect.is_none_or(|n| eods < n) || streams == 0 {
        let (mut s, _) = l.accept().unwrap();
        streams += 1;
        loop {
            let mut b = [0u8; HEADER_LEN];
            s.read_exact(&mut b).unwrap();
            let h = Header::decode(&b);
            if h.descriptor & DESC_EOF != 0 {
                expect = Some(h.offset);
            } else if h.count > 0 {
                let mut body = vec![0u8; h.count as usize];
                s.read_exact(&mut body).unwrap();
                blocks.push((h.offset, body));
            }
            if h.is_eod() {
                eods += 1;
                break;
            }
        }
    }
    assert_eq!(done(&mut c), 226);
    runs(blocks)
}

/// `REST rest` then `ESTO A offset` in MODE S (`blocks` sent as one stream, in order) or
/// MODE E (the blocks, on one stream).
fn esto(t: &Target, mode_e: bool, rest: &str, offset: u64, blocks: &[Block]) {
    let mut c = t.login();
    if mode_e {
        c.expect("MODE E", 200);
    }
    let mut d = pasv(&mut c);
    c.expect(&format!("REST {rest}"), 350);
    c.expect(&format!("ESTO A {offset} {}", t.path), 150);
    for (off, body) in blocks {
        if mode_e {
            d.write_all(&Header::data(*off, body.len() as u64).encode())
                .unwrap();
        }
        d.write_all(body).unwrap();
    }
    if mode_e {
        d.write_all(&Header::eof(1, true).encode()).unwrap();
    }
    drop(d);
    assert_eq!(done(&mut c), 226);
}

#[test]
fn rest_before_eret_and_esto_matches_globus_gridftp_server() {
    if !std::path::Path::new(Gfs::BIN).exists() {
        eprintln!("SKIP: globus-gridftp-server is not installed");
        return;
    }
    let srv = crate::common::server(crate::common::Mode::Plain);
    let gfs = Gfs::start();
    let data = random_bytes(300_000, 2331);
    let gfs_file = gfs.dir.path().join("f.bin");
    let targets = [
        Target {
            addr: ([127, 0, 0, 1], gfs.port).into(),
            user: "anonymous",
            pass: "x",
            path: gfs_file.display().to_string(),
        },
        Target {
            addr: srv.addr,
            user: USER,
            pass: PASS,
            path: "f.bin".into(),
        },
    ];
    let reset = || {
        gfs.put("f.bin", &data);
        std::fs::write(srv.path("f.bin"), &data).unwrap();
    };
    reset();

    // ERET: what each server sends for the same REST, counted from the part's start.
    let cases = [
        (false, "1000", "10000 50000"),
        (false, "50000", "10000 50000"),
        (true, "1000", "10000 50000"),
        (true, "0-1000,2000-3000,40000-45000", "10000 50000"),
        (true, "5000-6000", "250000 100000"),
        (true, "0-50000", "10000 50000"),
    ];
    for (mode_e, rest, part) in cases {
        let [theirs, ours] = targets.each_ref().map(|t| eret(t, mode_e, rest, part));
        let total: usize = ours.iter().map(|r| r.1.len()).sum();
        let what = format!(
            "MODE {} REST {rest} ERET P {part}",
            if mode_e { 'E' } else { 'S' }
        );
        assert!(
            theirs == ours,
            "{what}: kftpd sent {total} bytes unlike globus-gridftp-server"
        );
        eprintln!("{what}: both sent {total} bytes in {} runs", ours.len());
    }

    // ESTO: where each server writes the same data for the same REST.
    let new = random_bytes(20_000, 2332);
    let cases: [(bool, &str, Vec<Block>); 3] = [
        (false, "1000", vec![(0, new.clone())]),
        (true, "0-1000", vec![(1000, new[..5000].to_vec())]),
        (
            true,
            "0-1000,2000-3000",
            vec![
                (3000, new[3000..].to_vec()),
                (1000, new[1000..2000].to_vec()),
            ],
        ),
    ];
    for (mode_e, rest, blocks) in cases {
        reset();
        for t in &targets {
            esto(t, mode_e, rest, 100_000, &blocks);
        }
        let theirs = std::fs::read(&gfs_file).unwrap();
        let ours = std::fs::read(srv.path("f.bin")).unwrap();
        assert!(
            theirs != data,
            "REST {rest}: the toolkit's server wrote nothing"
        );
        assert!(
            theirs == ours,
            "MODE {} REST {rest} ESTO A 100000: kftpd's file differs from globus-gridftp-server's",
            if mode_e { 'E' } else { 'S' }
        );
    }
}
