//! The control protocol, byte for byte: reply codes, sequencing, multi-line replies.

use crate::harness::*;
use std::io::Write;

#[test]
fn login_and_sequencing() {
    let srv = Server::start(&[]);
    let mut c = Ctl::connect(srv.addr);
    assert_eq!(c.cmd("PWD").code, 530, "commands before login are refused");
    c.expect("PASS x", 503);
    c.expect("USER alice", 331);
    c.expect("PASS wrong", 530);
    c.expect("USER nobody", 331);
    c.expect("PASS s3cret-pw", 530);
    c.expect("USER alice", 331);
    c.expect("PASS s3cret-pw", 230);
    c.expect("USER alice", 530);
    c.expect("HOST example.org", 503);
    c.expect("ACCT x", 202);
    c.expect("RNTO x", 503);
    c.expect("REIN", 220);
    assert_eq!(c.cmd("PWD").code, 530);
    c.expect("HOST example.org", 220);
    c.expect("USER alice", 331);
    c.expect("PASS s3cret-pw", 230);
    c.expect("QUIT", 221);
}

#[test]
fn simple_replies() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    assert_eq!(
        c.expect("PWD", 257).text(),
        "\"/\" is the current directory."
    );
    c.expect("SYST", 215);
    c.expect("NOOP", 200);
    c.expect("FROB", 500);
    c.expect("RETR", 501);
    c.expect("TYPE E", 504);
    c.expect("TYPE X", 501);
    c.expect("TYPE A", 200);
    c.expect("TYPE I", 200);
    c.expect("STRU F", 200);
    c.expect("STRU R", 504);
    c.expect("MODE S", 200);
    c.expect("MODE B", 504);
    c.expect("SMNT /x", 502);
    c.expect("ALLO 100", 202);
    c.expect("REST 10", 350);
    c.expect("OPTS UTF8 ON", 200);
    c.expect("OPTS HASH SHA-1", 200);
    c.expect("OPTS HASH FOO", 501);
    c.expect("PROT P", 503);
    c.expect("SITE FROB", 500);
    let help = c.expect("HELP", 214);
    assert!(help.lines.len() > 3 && help.text().contains("RETR"));
    let stat = c.expect("STAT", 211);
    assert!(stat.text().contains("Logged in as alice"), "{stat:?}");
}

#[test]
fn feat_lists_extensions() {
    let srv = Server::start(&[]);
    let mut c = Ctl::connect(srv.addr);
    let f = c.expect("FEAT", 211);
    for want in [
        "UTF8",
        "EPSV",
        "EPRT",
        "MDTM",
        "MFMT",
        "SIZE",
        "REST STREAM",
        "TVFS",
        "HOST",
        "XCRC",
    ] {
        assert!(
            f.lines.iter().any(|l| l == want),
            "FEAT lacks {want}: {f:?}"
        );
    }
    assert!(f
        .lines
        .iter()
        .any(|l| l.starts_with("MLST type*;size*;modify*;perm*;unique*;unix.mode*")));
    assert!(f.lines.iter().any(|l| l.starts_with("HASH SHA-256*;")));
}

#[test]
fn over_long_line_gets_500_and_session_survives() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    let long = format!("RETR {}\r\n", "a".repeat(10_000));
    c.send_raw(long.as_bytes());
    assert_eq!(c.read().code, 500);
    c.expect("NOOP", 200);
}

#[test]
fn directories_and_files() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    assert_eq!(
        c.expect("MKD a \"q\"", 257).text(),
        "\"/a \"\"q\"\"\" created."
    );
    c.expect("MKD a \"q\"", 550);
    c.expect("CWD a \"q\"", 250);
    assert_eq!(
        c.expect("XPWD", 257).text(),
        "\"/a \"\"q\"\"\" is the current directory."
    );
    c.expect("CDUP", 250);
    c.expect("XCWD nope", 550);
    std::fs::write(srv.path("f.txt"), b"hello\n").unwrap();
    c.expect("CWD f.txt", 550);
    assert_eq!(c.expect("SIZE f.txt", 213).text(), "6");
    c.expect("SIZE nope", 550);
    c.expect("SIZE a \"q\"", 550);
    c.expect("MFMT 20200102030405 f.txt", 213);
    assert_eq!(c.expect("MDTM f.txt", 213).text(), "20200102030405");
    let m = c.expect("MLST f.txt", 250);
    assert_eq!(m.lines.len(), 3, "{m:?}");
    assert!(
        m.lines[1].starts_with("type=file;size=6;modify=20200102030405;perm="),
        "{m:?}"
    );
    assert!(m.lines[1].ends_with(" /f.txt"), "{m:?}");
    c.expect("RNFR f.txt", 350);
    c.expect("RNTO g.txt", 250);
    assert!(srv.path("g.txt").exists() && !srv.path("f.txt").exists());
    c.expect("RNFR nope", 550);
    c.expect("DELE g.txt", 250);
    c.expect("DELE g.txt", 550);
    c.expect("XRMD a \"q\"", 250);
    c.expect("XMKD d", 257);
    std::fs::write(srv.path("d/x"), b"x").unwrap();
    c.expect("RMD d", 550);
    c.expect("DELE d", 550);
    let st = c.expect("STAT d", 212);
    assert!(st.text().contains(" x"), "{st:?}");
}

#[test]
fn checksums() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("abc"), b"abc").unwrap();
    let mut c = srv.login();
    let h = c.expect("HASH abc", 213);
    assert_eq!(
        h.text(),
        "SHA-256 0-2 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad abc"
    );
    c.expect("OPTS HASH MD5", 200);
    c.expect("RANG 1 1", 350);
    let h = c.expect("HASH abc", 213);
    assert!(
        h.text()
            .starts_with("MD5 1-1 92eb5ffee6ae2fec3ad71c777531578f"),
        "{h}"
    );
    assert_eq!(c.expect("XCRC abc", 250).text(), "352441c2");
    assert_eq!(
        c.expect("XMD5 abc", 250).text(),
        "900150983cd24fb0d6963f7d28e17f72"
    );
    assert_eq!(
        c.expect("XSHA1 abc", 250).text(),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    c.expect("XSHA256 nope", 550);
    // GridFTP's CKSM (what globus-url-copy -verify-checksum sends): `213 <hex>`, offset
    // and length (-1: to the end), the toolkit's algorithm names, ADLER32 not offered.
    assert_eq!(
        c.expect("CKSM MD5 0 -1 abc", 213).text(),
        "900150983cd24fb0d6963f7d28e17f72"
    );
    assert_eq!(
        c.expect("CKSM sha256 1 1 abc", 213).text(),
        // SHA-256 of "b"
        "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
    );
    c.expect("CKSM ADLER32 0 -1 abc", 504);
    c.expect("CKSM MD5 0 -7 abc", 501);
    c.expect("CKSM MD5 9 -1 abc", 501);
    c.expect("CKSM MD5 0 -1 nope", 550);
    let feat = c.expect("FEAT", 211);
    assert!(
        feat.lines.iter().any(|l| l.trim().starts_with("CKSM MD5:")),
        "{feat}"
    );
}

/// SBUF and the SITE forms of it: a size in bytes (a tiny one raised to 64 KiB), 0 for
/// the kernel's tuning, anything else a usage error; only after login.
#[test]
fn tcp_buffer_sizes() {
    let srv = Server::start(&[]);
    let mut c = Ctl::connect(srv.addr);
    c.expect("SBUF 1048576", 530);
    let mut c = srv.login();
    let r = c.expect("SBUF 1048576", 200);
    assert!(r.text().contains("1048576"), "{r}");
    let r = c.expect("SITE BUFSIZE 1", 200);
    assert!(r.text().contains("65536"), "{r}");
    let r = c.expect("SBUF 99999999999999", 200);
    assert!(r.text().contains("1073741824"), "{r}");
    c.expect("SITE RETRBUFSIZE 0", 200);
    c.expect("SITE STORBUFSIZE lots", 501);
    c.expect("SITE SBUFSZ", 501);
    c.expect("SBUF -5", 501);
    let help = c.expect("SITE HELP", 214);
    assert!(help.text().contains("BUFSIZE"), "{help}");
}

/// GridFTP clients name themselves after login; globus-gridftp-server answers 250.
#[test]
fn site_clientinfo_is_taken_as_the_toolkit_takes_it() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    let r = c.expect(
        "SITE CLIENTINFO appname=globus-url-copy;appver=10.10;schema=ftp;",
        250,
    );
    assert_eq!(r.text(), "OK.", "{r}");
    c.expect("SITE clientinfo", 250);
    let help = c.expect("SITE HELP", 214);
    assert!(help.text().contains("CLIENTINFO"), "{help}");
    c.expect("SITE NOSUCH", 500);
}

#[test]
fn permissions_are_enforced() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("f"), b"data").unwrap();
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER reader", 331);
    c.expect("PASS s3cret-pw", 230);
    c.expect("SIZE f", 213);
    let r = c.expect("DELE f", 550);
    assert!(r.text().contains("'delete'"), "{r}");
    c.expect("MKD x", 550);
    c.expect("STOR y", 550);
    c.expect("RNFR f", 550);
    c.expect("SITE CHMOD 600 f", 550);
    assert!(srv.path("f").exists());
}

#[test]
fn epsv_all_and_bounce_protection() {
    let srv = Server::start(&[]);
    let mut c = srv.login();
    c.expect("PORT 127,0,0,2,200,1", 501);
    c.expect("PORT 127,0,0,1,0,21", 501);
    c.expect("EPRT |1|10.1.2.3|5000|", 501);
    c.expect("PORT 127,0,0,1,200,1", 200);
    c.expect("EPSV 2", 522);
    c.expect("EPSV ALL", 200);
    c.expect("PASV", 503);
    c.expect("PORT 127,0,0,1,200,1", 503);
    c.expect("EPSV", 229);
}

#[test]
fn transfer_commands_need_a_data_connection() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("f"), b"data").unwrap();
    let mut c = srv.login();
    c.expect("RETR f", 425);
    c.expect("LIST", 425);
    c.expect("STOR g", 425);
    assert!(!srv.path("g").exists() && !srv.path(".g.kftp-part").exists());
}

#[test]
fn list_nlst_mlsd_over_epsv() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("one.txt"), b"1").unwrap();
    std::fs::write(srv.path(".hidden"), b"h").unwrap();
    std::fs::create_dir(srv.path("sub")).unwrap();
    let mut c = srv.login();
    let d = c.epsv();
    c.expect("NLST", 150);
    let names = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(c.read().code, 226);
    assert_eq!(names, "one.txt\r\nsub\r\n");
    let d = c.epsv();
    c.expect("LIST -la", 150);
    let long = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(c.read().code, 226);
    assert!(
        long.contains(".hidden")
            && long
                .lines()
                .any(|l| l.starts_with("drwx") && l.ends_with(" sub")),
        "{long}"
    );
    let d = c.epsv();
    c.expect("MLSD", 150);
    let facts = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(c.read().code, 226);
    assert!(
        facts
            .lines()
            .any(|l| l.starts_with("type=dir;") && l.ends_with("; sub")),
        "{facts}"
    );
    let d = c.epsv();
    c.expect("NLST *.txt", 150);
    assert_eq!(read_all(d), b"one.txt\r\n");
    assert_eq!(c.read().code, 226);
}

#[test]
fn retr_with_rest_and_stor_round_trip() {
    let srv = Server::start(&[]);
    let data = random_bytes(3 << 20, 7);
    std::fs::write(srv.path("r.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let d = c.epsv();
    c.expect("REST 1000", 350);
    c.expect("RETR r.bin", 150);
    assert_eq!(read_all(d), data[1000..]);
    assert_eq!(c.read().code, 226);
    let mut d = c.epsv();
    c.expect("STOR w.bin", 150);
    d.write_all(&data).unwrap();
    drop(d);
    assert_eq!(c.read().code, 226);
    assert_eq!(std::fs::read(srv.path("w.bin")).unwrap(), data);
    c.expect("REST 99999999", 350);
    let _d = c.epsv();
    c.expect("RETR r.bin", 554);
}

#[test]
fn listing_consumes_a_pending_rest() {
    let srv = Server::start(&[]);
    std::fs::write(srv.path("f"), b"0123456789").unwrap();
    let mut c = srv.login();
    c.expect("REST 5", 350);
    let d = c.epsv();
    c.expect("NLST", 150);
    read_all(d);
    assert_eq!(c.read().code, 226);
    let d = c.epsv();
    c.expect("RETR f", 150);
    assert_eq!(
        read_all(d),
        b"0123456789",
        "REST must not survive the listing"
    );
    assert_eq!(c.read().code, 226);
}
