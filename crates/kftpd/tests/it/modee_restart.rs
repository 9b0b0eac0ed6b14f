//! REST in MODE E (GridFTP restart), driven by hand on the wire: a RETR after `REST n`
//! or `REST a-b,c-d` sends only what the client lacks, as blocks at their file offsets
//! over four streams; an interrupted MODE E upload keeps its whole prefix only and resumes
//! byte-exact with REST + STOR; garbage range lists get 501, APPE a clear 504.

use crate::harness::*;
use crate::modee::{block, port_cmd, read_stream};
use kftp_proto::modee::Header;
use std::io::Write;
use std::net::{TcpListener, TcpStream};

const MIB: usize = 1 << 20;

/// RETR on `streams` streams to a fresh PORT listener: every block, from all streams.
fn retr_blocks(c: &mut Ctl, name: &str, streams: usize) -> Vec<(u64, Vec<u8>)> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&port_cmd(&l), 200);
    c.expect(&format!("RETR {name}"), 150);
    let readers: Vec<_> = (0..streams)
        .map(|_| {
            let (s, _) = l.accept().unwrap();
            std::thread::spawn(move || read_stream(s))
        })
        .collect();
    let mut blocks = Vec::new();
    let mut eofs = Vec::new();
    for r in readers {
        let (b, eof) = r.join().unwrap();
        blocks.extend(b);
        eofs.extend(eof);
    }
    assert_eq!(c.read().code, 226);
    assert_eq!(eofs, vec![streams as u64]);
    blocks.sort_by_key(|b| b.0);
    blocks
}

/// `have` with the blocks written in; panics if a block overlaps what the client had.
fn fill(mut have: Vec<u8>, had: &[(usize, usize)], blocks: &[(u64, Vec<u8>)]) -> Vec<u8> {
    for (off, body) in blocks {
        let (s, e) = (*off as usize, *off as usize + body.len());
        assert!(
            had.iter().all(|&(a, b)| e <= a || s >= b),
            "block {s}-{e} resends bytes the client has ({had:?})"
        );
        have[s..e].copy_from_slice(body);
    }
    have
}

#[test]
fn mode_e_rest_retr_sends_only_what_is_missing_over_four_streams() {
    let srv = Server::start(&[]);
    let data = random_bytes(6 * MIB + 12_345, 1701);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    c.expect("OPTS RETR Parallelism=4,4,4;", 200);

    // A plain offset from the middle: the rest of the file, at absolute offsets.
    let at = 5 * MIB / 2 + 3;
    c.expect(&format!("REST {at}"), 350);
    let blocks = retr_blocks(&mut c, "big.bin", 4);
    assert_eq!(blocks.first().map(|b| b.0), Some(at as u64));
    let mut have = data.clone();
    have[at..].fill(0);
    let got = fill(have, &[(0, at)], &blocks);
    assert_eq!(sha256(&got), sha256(&data));
    let sent: usize = blocks.iter().map(|b| b.1.len()).sum();
    assert_eq!(sent, data.len() - at);

    // A range list (what 111 markers report): only the gaps and the tail come.
    let had = [(0, MIB), (2 * MIB + 17, 4 * MIB), (5 * MIB, 5 * MIB + 1)];
    let list: Vec<String> = had.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    c.expect(&format!("REST {}", list.join(",")), 350);
    let blocks = retr_blocks(&mut c, "big.bin", 4);
    let mut have = vec![0u8; data.len()];
    for &(a, b) in &had {
        have[a..b].copy_from_slice(&data[a..b]);
    }
    let got = fill(have, &had, &blocks);
    assert_eq!(sha256(&got), sha256(&data));
    let covered: usize = had.iter().map(|(a, b)| b - a).sum();
    let sent: usize = blocks.iter().map(|b| b.1.len()).sum();
    assert_eq!(sent, data.len() - covered);

    // REST applies to one transfer: the next RETR sends the whole file.
    let blocks = retr_blocks(&mut c, "big.bin", 4);
    assert_eq!(blocks[0].0, 0);
    let got = fill(vec![0u8; data.len()], &[], &blocks);
    assert_eq!(sha256(&got), sha256(&data));
}

#[test]
fn mode_e_rest_garbage_and_misfits_get_replies() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("f.bin"), random_bytes(3000, 9)).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    let many: Vec<String> = (0..300)
        .map(|i| format!("{}-{}", 4 * i, 4 * i + 1))
        .collect();
    for bad in [
        "REST 5-1",
        "REST 1-1",
        "REST 0-1,,2-3",
        "REST 0-1,x",
        "REST -5",
        "REST 0-99999999999999999999",
        "REST 1-2 3-4",
        &format!("REST {}", many.join(",")),
    ] {
        let r = c.expect(bad, 501);
        assert!(r.text().contains("REST"), "{bad}: {r}");
    }
    c.expect("NOOP", 200);
    // Ranges past the end of the file: refused before 150, and not kept for the next RETR.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    c.expect(&port_cmd(&l), 200);
    c.expect("REST 0-1000,2000-3001", 350);
    c.expect("RETR f.bin", 554);
    // A range list with a gap means nothing in MODE S.
    c.expect("MODE S", 200);
    c.expect("REST 0-1000,2000-3000", 350);
    let r = c.expect("RETR f.bin", 504);
    assert!(r.text().contains("MODE E"), "{r}");
    // But a single range from 0 is an offset there too.
    let s = c.epsv();
    c.expect("REST 0-2990", 350);
    c.expect("RETR f.bin", 150);
    assert_eq!(read_all(s).len(), 10);
    assert_eq!(c.read().code, 226);
    // APPE has no meaning in MODE E: a clear 504 before anything is opened.
    c.expect("MODE E", 200);
    c.expect("PASV", 227);
    let r = c.expect("APPE f.bin", 504);
    assert!(r.text().contains("APPE"), "{r}");
    // A resume past the end of what the server holds: 554, the file untouched.
    c.expect("REST 0-5000", 350);
    c.expect("STOR f.bin", 554);
    assert_eq!(std::fs::metadata(srv.path("f.bin")).unwrap().len(), 3000);
}

#[test]
fn mode_e_rest_stor_resumes_an_interrupted_upload_byte_exact() {
    let srv = Server::start(&[]);
    let data = random_bytes(5 * MIB + 4321, 1702);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);

    // Blocks 0 and 2 MiB arrive whole, the one at 1 MiB half; then the streams die.
    let mut a = c.epsv();
    let mut b = TcpStream::connect(a.peer_addr().unwrap()).unwrap();
    c.expect("STOR up.bin", 150);
    block(&mut a, Header::data(0, MIB as u64), &data[..MIB]);
    block(
        &mut b,
        Header::data(2 * MIB as u64, MIB as u64),
        &data[2 * MIB..3 * MIB],
    );
    a.write_all(&Header::data(MIB as u64, MIB as u64).encode())
        .unwrap();
    a.write_all(&data[MIB..MIB + MIB / 2]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop((a, b));
    let r = c.read();
    assert!(r.code >= 400, "{r}");
    // Nothing under the final name; the part keeps only the whole prefix, so SIZE (and a
    // MODE S client's REST n) can be trusted.
    assert!(
        !srv.path("up.bin").exists(),
        "half an upload under its final name"
    );
    let r = c.expect("SIZE up.bin", 213);
    assert_eq!(r.text().trim(), MIB.to_string());

    // Resume with the range form over three streams, blocks out of order.
    let mut streams: Vec<TcpStream> = vec![c.epsv()];
    let addr = streams[0].peer_addr().unwrap();
    for _ in 0..2 {
        streams.push(TcpStream::connect(addr).unwrap());
    }
    c.expect(&format!("REST 0-{MIB}"), 350);
    c.expect("STOR up.bin", 150);
    let starts: Vec<usize> = (1..6).map(|i| i * MIB).collect();
    for (i, &s) in starts.iter().enumerate().rev() {
        let e = (s + MIB).min(data.len());
        block(
            &mut streams[i % 3],
            Header::data(s as u64, (e - s) as u64),
            &data[s..e],
        );
    }
    block(&mut streams[0], Header::eof(3, false), &[]);
    block(&mut streams[1], Header::eod(false), &[]);
    block(&mut streams[2], Header::eod(false), &[]);
    assert_eq!(c.read().code, 226);
    let got = std::fs::read(srv.path("up.bin")).unwrap();
    assert_eq!(sha256(&got), sha256(&data));

    // A plain REST n resumes a file that exists under its final name, in place; the
    // claimed bytes are not touched and the file ends where the last block ends.
    let cut = 3 * MIB + 7;
    std::fs::write(srv.path("in.bin"), &data[..cut]).unwrap();
    c.expect(&format!("REST {cut}"), 350);
    c.expect("STOR in.bin", 150);
    block(
        &mut streams[1],
        Header::data(cut as u64, (data.len() - cut) as u64),
        &data[cut..],
    );
    block(&mut streams[1], Header::eof(3, false), &[]);
    block(&mut streams[0], Header::eod(false), &[]);
    block(&mut streams[2], Header::eod(false), &[]);
    assert_eq!(c.read().code, 226);
    assert_eq!(
        sha256(&std::fs::read(srv.path("in.bin")).unwrap()),
        sha256(&data)
    );
}

/// ABOR in the middle of a resumed MODE E upload: 426 then 226, the part file keeps the
/// resumed bytes and the whole prefix of what came (never less than it had), and a second
/// resume completes it byte-exact.
#[test]
fn mode_e_abor_during_a_resumed_upload_keeps_the_whole_prefix() {
    let srv = Server::start(&[]);
    let data = random_bytes(4 * MIB + 99, 1703);
    std::fs::write(srv.path("ab.bin"), &data[..MIB]).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    c.expect("MODE E", 200);
    let mut a = c.epsv();
    c.expect(&format!("REST 0-{MIB}"), 350);
    c.expect("STOR ab.bin", 150);
    // The block at 1 MiB whole, the one at 3 MiB whole (past a gap), then ABOR.
    block(
        &mut a,
        Header::data(MIB as u64, MIB as u64),
        &data[MIB..2 * MIB],
    );
    block(
        &mut a,
        Header::data(3 * MIB as u64, (data.len() - 3 * MIB) as u64),
        &data[3 * MIB..],
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    c.send_raw(b"ABOR\r\n");
    let r = c.read();
    assert_eq!(r.code, 426, "{r}");
    assert_eq!(c.read().code, 226);
    let kept = std::fs::read(srv.path("ab.bin")).unwrap();
    assert_eq!(
        kept.len(),
        2 * MIB,
        "the whole prefix, not the block past the gap"
    );
    assert_eq!(kept, data[..2 * MIB]);

    let mut a = c.epsv();
    c.expect(&format!("REST {}", 2 * MIB), 350);
    c.expect("STOR ab.bin", 150);
    block(
        &mut a,
        Header::data(2 * MIB as u64, (data.len() - 2 * MIB) as u64),
        &data[2 * MIB..],
    );
    block(&mut a, Header::eof(1, false), &[]);
    assert_eq!(c.read().code, 226);
    assert_eq!(
        sha256(&std::fs::read(srv.path("ab.bin")).unwrap()),
        sha256(&data)
    );
}
