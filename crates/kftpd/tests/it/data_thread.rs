//! Large plain transfers on the blocking data thread (`kftp_datapath::thread`): byte-exact
//! both ways on both data paths, through ABOR mid-upload, REST+STOR, APPE and REST+RETR;
//! and `KFTP_DATA_THREAD=0` keeps them on the async loops.

use crate::harness::*;
use crate::util::*;
use std::io::{Read, Write};

const MIB: usize = 1 << 20;
/// What kftp_datapath::thread logs (at debug) when it takes a transfer.
const THREAD_LINE: &str = "moving data on a blocking thread";

fn server(path: &str, thread: bool) -> Server {
    let mut env = vec![("KFTPD_LOG".to_string(), "debug".to_string())];
    if !thread {
        env.push(("KFTP_DATA_THREAD".into(), "0".into()));
    }
    Server::start_full("127.0.0.1:0", None, &["--data-path", path], &env)
}

/// Uploads `data` as `cmd` (STOR, APPE, or STOR after a REST) and expects 226.
fn upload(c: &mut Ctl, cmd: &str, data: &[u8]) {
    let mut d = c.epsv();
    c.expect(cmd, 150);
    d.write_all(data).unwrap();
    drop(d);
    let r = c.read();
    assert_eq!(r.code, 226, "{cmd}: {r}");
}

fn download(c: &mut Ctl, rest: Option<usize>, name: &str) -> Vec<u8> {
    let d = c.epsv();
    if let Some(at) = rest {
        c.expect(&format!("REST {at}"), 350);
    }
    c.expect(&format!("RETR {name}"), 150);
    let got = read_all(d);
    let r = c.read();
    assert_eq!(r.code, 226, "RETR {name}: {r}");
    got
}

fn abor_rest_appe_round_trip(path: &str) {
    let srv = server(path, true);
    let data = random_bytes(8 * MIB + 123, 901);
    let (cut, resumed) = (3 * MIB, 5 * MIB);
    let mut c = srv.login();
    c.expect("TYPE I", 200);

    // ABOR while the thread is blocked reading: 426 then 226, and the part file holds
    // exactly what the server counted.
    let mut d = c.epsv();
    c.expect("STOR f.bin", 150);
    d.write_all(&data[..cut]).unwrap();
    let part = part_path(&srv, "f.bin");
    assert!(
        wait_until(20, || file_len(&part) == cut as u64),
        "stored {}",
        file_len(&part)
    );
    c.send_raw(b"ABOR\r\n");
    let (a, b) = (c.read(), c.read());
    assert_eq!((a.code, b.code), (426, 226), "{a} / {b}");
    drop(d);
    assert_eq!(c.expect("SIZE f.bin", 213).text(), cut.to_string());
    assert_eq!(file_len(&part), cut as u64);

    // Resume with REST + STOR, then finish with APPE.
    c.expect(&format!("REST {cut}"), 350);
    upload(&mut c, "STOR f.bin", &data[cut..resumed]);
    upload(&mut c, "APPE f.bin", &data[resumed..]);
    let stored = std::fs::read(srv.path("f.bin")).unwrap();
    assert_eq!(sha256(&stored), sha256(&data), "upload over {path}");

    // Down again, whole and from an offset.
    assert_eq!(sha256(&download(&mut c, None, "f.bin")), sha256(&data));
    let at = MIB + 7;
    assert_eq!(
        sha256(&download(&mut c, Some(at), "f.bin")),
        sha256(&data[at..])
    );
    let log = plain_log(&srv);
    assert!(
        log.matches(THREAD_LINE).count() >= 4,
        "uploads and downloads took the thread:\n{log}"
    );
}

#[test]
fn data_thread_kernel_path_abor_rest_appe() {
    abor_rest_appe_round_trip("kernel");
}

#[test]
fn data_thread_copy_path_abor_rest_appe() {
    abor_rest_appe_round_trip("copy");
}

#[test]
fn data_thread_off_keeps_the_async_loops() {
    let srv = server("auto", false);
    let data = random_bytes(3 * MIB + 5, 902);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    upload(&mut c, "STOR g.bin", &data);
    assert_eq!(sha256(&download(&mut c, None, "g.bin")), sha256(&data));
    assert!(!plain_log(&srv).contains(THREAD_LINE));
}

#[test]
fn data_thread_small_files_stay_async() {
    let srv = server("auto", true);
    let data = random_bytes(MIB / 2, 903);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    upload(&mut c, "STOR s.bin", &data);
    assert_eq!(download(&mut c, None, "s.bin"), data);
    assert!(!plain_log(&srv).contains(THREAD_LINE));
}

/// The disk quota is charged per chunk on the thread too: an upload that would cross it
/// ends 552 and leaves nothing, and what fits still goes through.
#[test]
fn data_thread_upload_over_the_disk_quota_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    kftpd::auth::users::add_user(&users, "big", PASS, None, None).unwrap();
    let limits = kftpd::quota::Limits {
        bytes: Some(4 * MIB as u64),
        ..Default::default()
    };
    kftpd::auth::users::set_quota(&users, "big", limits).unwrap();
    let srv = Server(builder().users(&users).env("KFTPD_LOG", "debug").start());
    let mut c = Ctl::connect(srv.addr);
    c.expect("USER big", 331);
    c.expect(&format!("PASS {PASS}"), 230);
    c.expect("TYPE I", 200);
    let data = random_bytes(6 * MIB, 904);
    let mut d = c.epsv();
    c.expect("STOR over.bin", 150);
    let _ = d.write_all(&data); // the server stops reading at the quota
    drop(d);
    let r = c.read();
    assert_eq!(r.code, 552, "{r}");
    assert!(r.text().contains("disk quota"), "{r}");
    assert!(!srv.path("over.bin").exists());
    assert!(!part_path(&srv, "over.bin").exists());
    upload(&mut c, "STOR fits.bin", &data[..3 * MIB]);
    assert_eq!(
        sha256(&std::fs::read(srv.path("fits.bin")).unwrap()),
        sha256(&data[..3 * MIB])
    );
    assert!(plain_log(&srv).contains(THREAD_LINE));
}

/// The bytes a `STAT` during a transfer reports ("RETR /x: 123 of 456 bytes in 0.1 s").
fn stat_bytes(c: &mut Ctl) -> u64 {
    let r = c.expect("STAT", 213);
    r.lines
        .iter()
        .find(|l| l.contains(" bytes in "))
        .and_then(|l| l.rsplit(": ").next())
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {r}"))
}

/// A download on the thread is one sendfile(2) call for the whole file: while that call
/// blocks (the client stopped reading), STAT still reports what the client has received,
/// and ABOR ends it at once.
#[test]
fn data_thread_download_reports_progress_and_aborts() {
    let srv = server("kernel", true);
    let data = random_bytes(64 * MIB, 904);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut d = c.epsv();
    c.expect("RETR big.bin", 150);
    let mut head = vec![0u8; 4 * MIB];
    d.read_exact(&mut head).unwrap();
    assert_eq!(sha256(&head), sha256(&data[..4 * MIB]));
    // No more reads: the call blocks with the socket buffers full, and what was read
    // is acknowledged.
    let mut seen = 0;
    assert!(
        wait_until(10, || {
            seen = stat_bytes(&mut c);
            seen >= 4 * MIB as u64
        }),
        "STAT said {seen}"
    );
    assert!(seen < data.len() as u64, "STAT said {seen}");
    c.send_raw(b"ABOR\r\n");
    let (a, b) = (c.read(), c.read());
    assert_eq!((a.code, b.code), (426, 226), "{a} / {b}");
    drop(d);
    // The session goes on: a whole download is byte-exact afterwards.
    assert_eq!(sha256(&download(&mut c, None, "big.bin")), sha256(&data));
    assert!(plain_log(&srv).contains(THREAD_LINE));
}
