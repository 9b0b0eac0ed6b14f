//! REST before ERET P and ESTO A (issue #17): how the toolkit's client restarts a partial
//! transfer. The offset (MODE S) or ranges (MODE E) count from the part's start, as
//! globus-gridftp-server counts them (the interop suite compares the two servers on the
//! same commands): ERET sends the part from there (MODE S) or the part minus the ranges
//! (MODE E, headers from the part's start); ESTO writes the stream from offset + REST
//! (MODE S) or the blocks at offset + their own offset (MODE E). What cannot be honoured
//! gets a reply and leaves the file as it was.

use crate::harness::*;
use crate::modee::{block, port_cmd, read_stream};
use kftp_proto::modee::Header;
use std::io::Write;
use std::net::TcpListener;

const MIB: usize = 1 << 20;

/// MODE S: `cmd` (an ERET) over EPSV; the bytes, after its 226.
fn eret_stream(c: &mut Ctl, cmd: &str) -> Vec<u8> {
    let d = c.epsv();
    c.expect(cmd, 150);
    let got = read_all(d);
    assert_eq!(c.read().code, 226);
    got
}

/// MODE E: `cmd` (an ERET) over `streams` streams to a fresh PORT listener: its blocks,
/// sorted by offset, after its 226.
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
    let mut blocks: Vec<_> = readers
        .into_iter()
        .flat_map(|r| r.join().unwrap().0)
        .collect();
    assert_eq!(c.read().code, 226);
    blocks.sort_by_key(|b| b.0);
    blocks
}

/// Checks that `blocks` are exactly `part`'s bytes over `want` (sorted, disjoint ranges
/// counted from the part's start): no byte outside them, none twice, none missing.
fn assert_covers(blocks: &[(u64, Vec<u8>)], part: &[u8], want: &[(u64, u64)]) {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (off, body) in blocks {
        let (a, b) = (*off as usize, *off as usize + body.len());
        assert!(b <= part.len(), "a block past the part: {a}..{b}");
        assert!(
            body[..] == part[a..b],
            "block {a}..{b} differs from the part"
        );
        match runs.last_mut() {
            Some(last) if last.1 == *off => last.1 = b as u64,
            Some(last) => {
                assert!(last.1 < *off, "overlapping blocks at {off}");
                runs.push((*off, b as u64));
            }
            None => runs.push((*off, b as u64)),
        }
    }
    assert_eq!(runs, want, "the blocks do not cover what the client lacks");
}

#[test]
fn rest_before_eret_in_mode_s_sends_the_part_from_the_offset() {
    let srv = Server::start(&[]);
    let data = random_bytes(100_000, 2301);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);

    // The part is [10000, 15000); REST 1000 is 1000 bytes into it.
    c.expect("REST 1000", 350);
    let got = eret_stream(&mut c, "ERET P 10000 5000 f.bin");
    assert!(
        got == data[11_000..15_000],
        "REST 1000: got {} bytes",
        got.len()
    );
    // One range from 0 is an offset too.
    c.expect("REST 0-4999", 350);
    assert!(eret_stream(&mut c, "ERET P 10000 5000 f.bin") == data[14_999..15_000]);
    // The whole part already there: an empty part.
    c.expect("REST 5000", 350);
    assert!(eret_stream(&mut c, "ERET P 10000 5000 f.bin").is_empty());
    // A part cut by the file's end is that long: its end is the limit.
    c.expect("REST 70", 350);
    let got = eret_stream(&mut c, "ERET P 99900 999999 f.bin");
    assert!(got == data[99_970..]);

    // Past the part's end, and gaps MODE S cannot send: replies, and the REST is used up.
    let _d = c.epsv();
    c.expect("REST 5001", 350);
    let r = c.expect("ERET P 10000 5000 f.bin", 554);
    assert!(r.text().contains("past the end of the part"), "{r}");
    c.expect("REST 0-1000,2000-3000", 350);
    c.expect("ERET P 10000 5000 f.bin", 504);
    c.expect("REST 1000", 350);
    c.expect("TYPE A", 200);
    c.expect("ERET P 10000 5000 f.bin", 504);
    c.expect("TYPE I", 200);
    drop(_d);
    // Nothing left over: the next ERET sends the whole part.
    assert!(eret_stream(&mut c, "ERET P 10000 5000 f.bin") == data[10_000..15_000]);
}

#[test]
fn rest_before_eret_in_mode_e_sends_the_part_minus_the_ranges() {
    let srv = Server::start(&[]);
    let data = random_bytes(5 * MIB + 321, 2311);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    c.expect("OPTS RETR Parallelism=4,4,4;", 200);

    // Over four streams, what a restart after an out-of-order break sends: the part's
    // gaps, headers from the part's start, bytes from the file at offset + header.
    let (at, len) = (1_000_003usize, 2_500_000usize);
    let part = &data[at..at + len];
    c.expect("REST 0-700000,1500000-1600000,2400000-2450000", 350);
    let blocks = eret_blocks(&mut c, &format!("ERET P {at} {len} big.bin"), 4);
    let want = [
        (700_000, 1_500_000),
        (1_600_000, 2_400_000),
        (2_450_000, 2_500_000),
    ];
    assert_covers(&blocks, part, &want);

    // A plain offset is the range from 0.
    c.expect("REST 2000000", 350);
    let blocks = eret_blocks(&mut c, &format!("ERET P {at} {len} big.bin"), 4);
    assert_covers(&blocks, part, &[(2_000_000, 2_500_000)]);

    // All of it there: EOF and EODs, no block.
    c.expect(&format!("REST 0-{len}"), 350);
    let blocks = eret_blocks(&mut c, &format!("ERET P {at} {len} big.bin"), 4);
    assert!(blocks.is_empty(), "{} blocks", blocks.len());

    // Ranges past the part's end (where the toolkit clips them): 554, nothing opened.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&port_cmd(&l), 200);
    for rest in [format!("0-{}", len + 1), format!("{len}-{}", len + 10)] {
        c.expect(&format!("REST {rest}"), 350);
        let r = c.expect(&format!("ERET P {at} {len} big.bin"), 554);
        assert!(r.text().contains("part"), "{r}");
    }
    // The REST and the part's origin are gone: a RETR has the file's offsets again.
    c.expect("REST 5000000", 350);
    c.expect("RETR big.bin", 150);
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (s, _) = l.accept().unwrap();
            std::thread::spawn(move || read_stream(s))
        })
        .collect();
    let mut blocks: Vec<_> = readers
        .into_iter()
        .flat_map(|r| r.join().unwrap().0)
        .collect();
    assert_eq!(c.read().code, 226);
    blocks.sort_by_key(|b| b.0);
    assert_covers(&blocks, &data, &[(5_000_000, data.len() as u64)]);
}

#[test]
fn rest_before_esto_writes_where_the_part_left_off() {
    let srv = Server::start(&[]);
    let old = random_bytes(100_000, 2321);
    std::fs::write(srv.path("dst.bin"), &old).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut want = old.clone();

    // MODE S: REST 1000 + ESTO A 10000 writes the stream from 11000 (the toolkit's
    // server too); the file keeps its length and every other byte.
    let new = random_bytes(2000, 2322);
    let mut d = c.epsv();
    c.expect("REST 1000", 350);
    c.expect("ESTO A 10000 dst.bin", 150);
    d.write_all(&new).unwrap();
    drop(d);
    assert_eq!(c.read().code, 226);
    want[11_000..13_000].copy_from_slice(&new);
    assert!(std::fs::read(srv.path("dst.bin")).unwrap() == want);

    // REST claiming bytes the file does not have (offset + REST past its end): 554,
    // where the toolkit would write past a hole; the file is untouched.
    let _d = c.epsv();
    c.expect("REST 90001", 350);
    c.expect("ESTO A 10000 dst.bin", 554);
    c.expect("REST 0-1000,2000-3000", 350);
    let r = c.expect("ESTO A 10000 dst.bin", 504);
    assert!(r.text().contains("MODE E"), "{r}");
    c.expect(&format!("REST {}", u64::MAX - 5), 350);
    c.expect("ESTO A 10 dst.bin", 554);
    c.expect("REST 5", 350);
    c.expect("TYPE A", 200);
    c.expect("ESTO A 10 dst.bin", 504);
    c.expect("TYPE I", 200);
    drop(_d);
    assert!(std::fs::read(srv.path("dst.bin")).unwrap() == want);

    // MODE E: blocks still land at 10000 + their offset; REST 0-1000,2000-3000 says what
    // the part has, and the restart sends the rest, out of order over two streams.
    c.expect("MODE E", 200);
    let part = random_bytes(4000, 2323);
    let mut a = c.epsv();
    let mut b = std::net::TcpStream::connect(a.peer_addr().unwrap()).unwrap();
    c.expect("REST 0-1000,2000-3000", 350);
    c.expect("ESTO A 10000 dst.bin", 150);
    block(&mut b, Header::data(3000, 1000), &part[3000..]);
    block(&mut b, Header::eod(false), &[]);
    block(&mut a, Header::data(1000, 1000), &part[1000..2000]);
    block(&mut a, Header::eof(2, false), &[]);
    assert_eq!(c.read().code, 226);
    want[11_000..12_000].copy_from_slice(&part[1000..2000]);
    want[13_000..14_000].copy_from_slice(&part[3000..]);
    let got = std::fs::read(srv.path("dst.bin")).unwrap();
    assert_eq!(got.len(), old.len(), "ESTO cut the file");
    assert!(got == want, "the restarted part is not where it belongs");

    // MODE E ranges past what the file has: 554 before 150, the file untouched.
    c.expect("REST 0-90001", 350);
    c.expect("ESTO A 10000 dst.bin", 554);
    c.expect("NOOP", 200);
    assert!(std::fs::read(srv.path("dst.bin")).unwrap() == want);
}

/// The whole cycle a GridFTP client runs for a partial upload that broke: `ESTO A N`
/// into a file holding the first N bytes, blocks out of order over two streams, the
/// streams die with one block half sent; the file keeps only the part's gap-free prefix
/// of whole blocks (SIZE says how much), and `REST 0-<that>` + `ESTO A N` with the rest
/// of the part ends byte-exact. (The restart is computed from SIZE, so it does not
/// matter how much the server had read when the streams died.)
#[test]
fn an_interrupted_esto_restarted_with_rest_ends_byte_exact() {
    let srv = Server::start(&[]);
    let data = random_bytes(5 * MIB + 4321, 2341);
    let at = MIB + 17;
    std::fs::write(srv.path("up.bin"), &data[..at]).unwrap();
    let part = &data[at..];
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);

    let mut a = c.epsv();
    let mut b = std::net::TcpStream::connect(a.peer_addr().unwrap()).unwrap();
    c.expect(&format!("ESTO A {at} up.bin"), 150);
    block(&mut a, Header::data(0, MIB as u64), &part[..MIB]);
    block(
        &mut b,
        Header::data(2 * MIB as u64, MIB as u64),
        &part[2 * MIB..3 * MIB],
    );
    a.write_all(&Header::data(MIB as u64, MIB as u64).encode())
        .unwrap();
    a.write_all(&part[MIB..MIB + MIB / 2]).unwrap();
    drop((a, b));
    let r = c.read();
    assert!(r.code >= 400, "{r}");
    let size: usize = c.expect("SIZE up.bin", 213).text().trim().parse().unwrap();
    assert!(
        size == at || size == at + MIB,
        "kept {size}: only whole blocks from the part's start, nothing past a gap"
    );
    let have = size - at;
    assert!(std::fs::read(srv.path("up.bin")).unwrap() == data[..size]);

    // The restart: REST says what the part has (from its start), the blocks the rest.
    let mut a = c.epsv();
    let mut b = std::net::TcpStream::connect(a.peer_addr().unwrap()).unwrap();
    if have > 0 {
        c.expect(&format!("REST 0-{have}"), 350);
    }
    c.expect(&format!("ESTO A {at} up.bin"), 150);
    let starts: Vec<usize> = (have..part.len()).step_by(MIB).collect();
    for (i, &s) in starts.iter().enumerate().rev() {
        let e = (s + MIB).min(part.len());
        let to = if i % 2 == 0 { &mut a } else { &mut b };
        block(to, Header::data(s as u64, (e - s) as u64), &part[s..e]);
    }
    block(&mut a, Header::eof(2, false), &[]);
    block(&mut b, Header::eod(false), &[]);
    assert_eq!(c.read().code, 226);
    let got = std::fs::read(srv.path("up.bin")).unwrap();
    assert_eq!(
        sha256(&got),
        sha256(&data),
        "the restarted part upload differs"
    );
}
