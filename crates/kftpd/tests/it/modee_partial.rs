//! ERET P and ESTO A in MODE E (GFD.20, issue #17), driven by hand on the wire: the part
//! is a file of its own, so ERET's blocks count from the part's start and ESTO writes each
//! block at its offset plus the ESTO offset, never truncating the rest of the file; and
//! the refusals (REST past the part, TYPE A, the wrong data setup, an offset past the end, a
//! block header that overflows once shifted) get replies and leave the file as it was.

use crate::harness::*;
use crate::modee::{block, port_cmd, read_stream};
use kftp_proto::modee::Header;
use std::net::TcpListener;

const MIB: usize = 1 << 20;

/// `cmd` (an ERET) on `streams` streams to a fresh PORT listener: every block, sorted.
fn eret_blocks(c: &mut Ctl, cmd: &str, streams: usize) -> Vec<(u64, Vec<u8>)> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&port_cmd(&l), 200);
    c.expect(cmd, 150);
    let readers: Vec<_> = (0..streams)
        .map(|_| {
            let (s, _) = l.accept().unwrap();
            std::thread::spawn(move || read_stream(s))
        })
        .collect();
    let (mut blocks, mut eofs) = (Vec::new(), Vec::new());
    for r in readers {
        let (b, eof) = r.join().unwrap();
        blocks.extend(b);
        eofs.extend(eof);
    }
    assert_eq!(c.read().code, 226);
    assert_eq!(eofs, vec![streams as u64], "one EOF counting every stream");
    blocks.sort_by_key(|b| b.0);
    blocks
}

/// The blocks laid end to end, checking that they start at 0 and leave no gap or overlap.
fn contiguous(blocks: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (off, body) in blocks {
        assert_eq!(*off, out.len() as u64, "a gap or an overlap at {off}");
        out.extend_from_slice(body);
    }
    out
}

#[test]
fn mode_e_eret_sends_the_part_with_offsets_from_its_start() {
    let srv = Server::start(&[]);
    let data = random_bytes(5 * MIB + 321, 1801);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    c.expect("OPTS RETR Parallelism=4,4,4;", 200);

    // A part inside the file: its blocks start at 0 (not at 1000003) and make exactly
    // the file's bytes [1000003, 1000003 + 2500000).
    let (at, len) = (1_000_003usize, 2_500_000usize);
    let blocks = eret_blocks(&mut c, &format!("ERET P {at} {len} big.bin"), 4);
    let got = contiguous(&blocks);
    assert_eq!(got.len(), len);
    assert!(
        got == data[at..at + len],
        "the part differs from the file's bytes"
    );

    // A part running past the end is cut at the end.
    let at = data.len() - 70_000;
    let blocks = eret_blocks(&mut c, &format!("ERET P {at} 999999999 big.bin"), 4);
    assert!(contiguous(&blocks) == data[at..], "the tail differs");

    // A plain RETR afterwards has its file offsets again (the part's origin is gone).
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&port_cmd(&l), 200);
    c.expect("REST 5000000", 350);
    c.expect("RETR big.bin", 150);
    let readers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn({
                let (s, _) = l.accept().unwrap();
                move || read_stream(s)
            })
        })
        .collect();
    let mut blocks: Vec<_> = readers
        .into_iter()
        .flat_map(|r| r.join().unwrap().0)
        .collect();
    blocks.sort_by_key(|b| b.0);
    assert_eq!(c.read().code, 226);
    assert_eq!(blocks[0].0, 5_000_000, "RETR blocks carry file offsets");
    let tail: Vec<u8> = blocks.into_iter().flat_map(|b| b.1).collect();
    assert!(tail == data[5_000_000..]);
}

/// The names in the server root, sorted (no part file may stay behind).
fn names(srv: &Server) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(srv.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn mode_e_esto_writes_at_its_offset_without_truncating() {
    let srv = Server::start(&[]);
    let old = random_bytes(4 * MIB, 1811);
    std::fs::write(srv.path("dst.bin"), &old).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);

    // A part in the middle, over two streams, its blocks out of order and counted from
    // 0: it lands at 1000003, and the file keeps its bytes before and after it.
    let (at, part) = (1_000_003usize, random_bytes(1_500_000, 1812));
    let mut a = c.epsv();
    let mut b = std::net::TcpStream::connect(a.peer_addr().unwrap()).unwrap();
    c.expect(&format!("ESTO A {at} dst.bin"), 150);
    let h = 700_001;
    block(
        &mut b,
        Header::data(h as u64, (part.len() - h) as u64),
        &part[h..],
    );
    block(&mut b, Header::eod(false), &[]);
    block(&mut a, Header::data(0, h as u64), &part[..h]);
    block(&mut a, Header::eof(2, false), &[]);
    assert_eq!(c.read().code, 226);
    let mut want = old.clone();
    want[at..at + part.len()].copy_from_slice(&part);
    let got = std::fs::read(srv.path("dst.bin")).unwrap();
    assert_eq!(got.len(), old.len(), "the file was not truncated");
    assert!(got == want, "the part is not at its offset");

    // A part past the old end grows the file (on the cached streams: no new PASV).
    let (at2, tail) = (old.len() - 100, random_bytes(1000, 1813));
    c.expect(&format!("ESTO A {at2} dst.bin"), 150);
    block(&mut a, Header::data(0, tail.len() as u64), &tail);
    block(&mut a, Header::eof(2, false), &[]);
    block(&mut b, Header::eod(false), &[]);
    assert_eq!(c.read().code, 226);
    want.truncate(at2);
    want.extend_from_slice(&tail);
    assert!(std::fs::read(srv.path("dst.bin")).unwrap() == want);

    // ESTO A 0 to a new name makes the file (through a part file, renamed when whole).
    c.expect("ESTO A 0 new.bin", 150);
    block(&mut a, Header::data(0, 5), b"hello");
    block(&mut a, Header::eof(2, false), &[]);
    block(&mut b, Header::eod(false), &[]);
    assert_eq!(c.read().code, 226);
    assert_eq!(std::fs::read(srv.path("new.bin")).unwrap(), b"hello");
    assert_eq!(names(&srv), ["dst.bin", "new.bin"]);
}

/// What MODE E refuses in ERET and ESTO gets a reply, and a refused or broken ESTO leaves
/// the file exactly as it was.
#[test]
fn mode_e_eret_and_esto_refusals_leave_the_file_alone() {
    let srv = Server::start(&[]);
    let orig = b"0123456789".to_vec();
    std::fs::write(srv.path("f.bin"), &orig).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    // REST before either is a restart of the part (tests/it/partial_restart.rs); one past
    // the part's end gets 554.
    c.expect("REST 6", 350);
    c.expect("ERET P 0 5 f.bin", 554);
    // TYPE A: 504.
    c.expect("TYPE A", 200);
    c.expect("ERET P 0 5 f.bin", 504);
    c.expect("ESTO A 3 f.bin", 504);
    c.expect("TYPE I", 200);
    // No data setup, or the wrong one (in MODE E the sender connects): 425.
    c.expect("ERET P 0 5 f.bin", 425);
    c.expect("ESTO A 3 f.bin", 425);
    c.expect("PASV", 227);
    let r = c.expect("ERET P 0 5 f.bin", 425);
    assert!(r.text().contains("PORT"), "{r}");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&port_cmd(&l), 200);
    let r = c.expect("ESTO A 3 f.bin", 425);
    assert!(r.text().contains("PASV"), "{r}");
    // Offsets past the end: 554.
    let _d = c.epsv();
    c.expect("ESTO A 11 f.bin", 554);
    c.expect(&port_cmd(&l), 200);
    c.expect("ERET P 11 1 f.bin", 554);
    // A block whose end passes 2^64 once the ESTO offset is added: a reply, no panic.
    let mut d = c.epsv();
    c.expect("ESTO A 5 f.bin", 150);
    block(&mut d, Header::data(u64::MAX - 7, 5), b"hello");
    let r = c.read();
    assert!(r.code >= 400, "{r}");
    c.expect("NOOP", 200);
    assert_eq!(std::fs::read(srv.path("f.bin")).unwrap(), orig);
    assert_eq!(names(&srv), ["f.bin"]);
}

/// An anonymous drop folder is never overwritten: ESTO in MODE E writes into a file in
/// place, which an anonymous login (fresh uploads only) may not do (550), at offset 0
/// too; the file dropped earlier keeps its bytes and no new one appears.
#[test]
fn mode_e_esto_never_writes_into_an_anonymous_drop_folder() {
    let srv = Server::start(&["--anonymous", "--anonymous-upload-dir", "incoming"]);
    std::fs::create_dir(srv.path("incoming")).unwrap();
    std::fs::write(srv.path("incoming/secret.txt"), b"dropped earlier").unwrap();
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER anonymous", 331);
    c.expect("PASS guest@example.org", 230);
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    let _d = c.epsv();
    c.expect("ESTO A 0 incoming/secret.txt", 550);
    c.expect("ESTO A 0 incoming/new.txt", 550);
    c.expect("NOOP", 200);
    assert_eq!(
        std::fs::read(srv.path("incoming/secret.txt")).unwrap(),
        b"dropped earlier"
    );
    assert!(!srv.path("incoming/new.txt").exists());
}

/// ESTO writes into the file itself in MODE S as in MODE E: never through a part file an
/// interrupted upload left behind (renaming that over the file would replace it with the
/// stale upload), and never cutting the file at the part's end.
#[test]
fn esto_writes_the_file_itself_in_both_modes_never_a_stale_part_file() {
    let srv = Server::start(&[]);
    let old = random_bytes(2 * MIB, 1821);
    let stale = random_bytes(3 * MIB, 1822);
    std::fs::write(srv.path("dst.bin"), &old).unwrap();
    std::fs::write(srv.path("dst.bin.kftp-part"), &stale).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut want = old.clone();

    // MODE S: the data connection's bytes land at the offset; the rest stays.
    let (at, part) = (300_007usize, random_bytes(100_000, 1823));
    let mut d = c.epsv();
    c.expect(&format!("ESTO A {at} dst.bin"), 150);
    std::io::Write::write_all(&mut d, &part).unwrap();
    drop(d);
    assert_eq!(c.read().code, 226);
    want[at..at + part.len()].copy_from_slice(&part);
    let got = std::fs::read(srv.path("dst.bin")).unwrap();
    assert_eq!(got.len(), old.len(), "MODE S ESTO cut the file");
    assert!(got == want, "MODE S ESTO: the part is not at its offset");

    // MODE E: the same through a block.
    c.expect("MODE E", 200);
    let (at, part) = (1_500_000usize, random_bytes(4096, 1824));
    let mut a = c.epsv();
    c.expect(&format!("ESTO A {at} dst.bin"), 150);
    block(&mut a, Header::data(0, part.len() as u64), &part);
    block(&mut a, Header::eof(1, false), &[]);
    assert_eq!(c.read().code, 226);
    want[at..at + part.len()].copy_from_slice(&part);
    assert!(
        std::fs::read(srv.path("dst.bin")).unwrap() == want,
        "MODE E ESTO: the part is not at its offset"
    );
    assert!(
        std::fs::read(srv.path("dst.bin.kftp-part")).unwrap() == stale,
        "the interrupted upload's part file was touched"
    );
}
