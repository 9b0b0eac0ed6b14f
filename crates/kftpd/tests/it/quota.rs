//! Quotas (issue #18 item 2): disk bytes and files per account, enforced while the bytes
//! arrive; usage that includes files put in the root outside kftpd; AVBL and SITE QUOTA;
//! a daily download quota.

use crate::harness::*;
use std::io::{Read, Write};

fn login(srv: &Server) -> Ctl {
    let mut c = Ctl::connect(srv.addr);
    c.expect(&format!("USER {QUOTA_USER}"), 331);
    c.expect(&format!("PASS {PASS}"), 230);
    c
}

/// STOR over EPSV; the final reply (or the refusal instead of 150).
fn put(c: &mut Ctl, name: &str, data: &[u8]) -> kftp_proto::Reply {
    let mut d = c.epsv();
    let r = c.cmd(&format!("STOR {name}"));
    if r.code != 150 {
        return r;
    }
    // The server may stop reading once the quota is reached.
    let _ = d.write_all(data);
    drop(d);
    c.read()
}

/// RETR over EPSV: the final reply and the bytes.
fn get(c: &mut Ctl, name: &str) -> (kftp_proto::Reply, Vec<u8>) {
    let mut d = c.epsv();
    let r = c.cmd(&format!("RETR {name}"));
    if r.code != 150 {
        return (r, Vec::new());
    }
    let mut v = Vec::new();
    let _ = d.read_to_end(&mut v);
    (c.read(), v)
}

fn site_quota(c: &mut Ctl) -> String {
    c.expect("SITE QUOTA", 211).text()
}

fn avbl(c: &mut Ctl) -> u64 {
    let r = c.expect("AVBL", 213);
    r.text()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("AVBL -> {r}"))
}

#[test]
fn upload_over_the_disk_quota_is_refused_and_leaves_nothing() {
    let srv = Server::start(&[]);
    let mut c = login(&srv);
    c.expect("TYPE I", 200);
    let a = random_bytes(60_000, 1);
    assert_eq!(put(&mut c, "a.bin", &a).code, 226);
    let q = site_quota(&mut c);
    assert!(q.contains("Disk bytes: 60000 used, limit 100000"), "{q}");
    assert!(q.contains("Disk files: 1 used, limit 3"), "{q}");
    assert_eq!(avbl(&mut c), 40_000);

    // 60,000 more would cross 100,000: 552, no final name, no part file, a.bin intact.
    let r = put(&mut c, "b.bin", &random_bytes(60_000, 2));
    assert_eq!(r.code, 552, "{r}");
    assert!(r.text().contains("disk quota"), "{r}");
    assert!(!srv.path("b.bin").exists());
    assert!(!srv.path(".b.bin.kftp-part").exists());
    assert_eq!(
        sha256(&std::fs::read(srv.path("a.bin")).unwrap()),
        sha256(&a)
    );
    let q = site_quota(&mut c);
    assert!(q.contains("Disk bytes: 60000 used"), "{q}");
    assert!(q.contains("Disk files: 1 used"), "{q}");

    // Exactly up to the limit fits; then nothing does, refused before 150.
    assert_eq!(put(&mut c, "c.bin", &random_bytes(40_000, 3)).code, 226);
    assert_eq!(avbl(&mut c), 0);
    let r = put(&mut c, "d.bin", b"x");
    assert_eq!(r.code, 552, "{r}");
    assert!(r.text().contains("Disk quota"), "{r}");

    // DELE gives the bytes back; replacing a file counts only the difference.
    c.expect("DELE c.bin", 250);
    assert_eq!(avbl(&mut c), 40_000);
    assert_eq!(put(&mut c, "a.bin", &random_bytes(90_000, 4)).code, 226);
    assert_eq!(avbl(&mut c), 10_000);
    // An append that would cross the quota is cut back to the file's old length.
    c.expect("TYPE I", 200);
    let before = std::fs::read(srv.path("a.bin")).unwrap();
    let mut d = c.epsv();
    c.expect("APPE a.bin", 150);
    let _ = d.write_all(&random_bytes(20_000, 5));
    drop(d);
    assert_eq!(c.read().code, 552);
    assert_eq!(std::fs::read(srv.path("a.bin")).unwrap(), before);
    assert_eq!(avbl(&mut c), 10_000);
    c.expect("QUIT", 221);
}

#[test]
fn file_count_quota() {
    let srv = Server::start(&[]);
    let mut c = login(&srv);
    for n in ["f1", "f2", "f3"] {
        assert_eq!(put(&mut c, n, b"small").code, 226);
    }
    let r = put(&mut c, "f4", b"small");
    assert_eq!(r.code, 552, "{r}");
    assert!(r.text().contains("File quota of 3 files"), "{r}");
    assert!(!srv.path("f4").exists());
    // Overwriting is not a new file.
    assert_eq!(put(&mut c, "f1", b"bigger now").code, 226);
    c.expect("DELE f2", 250);
    assert_eq!(put(&mut c, "f4", b"small").code, 226);
    let q = site_quota(&mut c);
    assert!(q.contains("Disk files: 3 used, limit 3"), "{q}");
}

#[test]
fn files_put_there_outside_kftpd_count_after_the_rescan_interval() {
    let srv = Server::start(&["--quota-rescan", "1"]);
    std::fs::write(srv.path("early.bin"), vec![7u8; 10_000]).unwrap();
    let mut c = login(&srv);
    // The first login walks the root.
    assert_eq!(avbl(&mut c), 90_000);
    std::fs::create_dir(srv.path("sub")).unwrap();
    std::fs::write(srv.path("sub/outside.bin"), vec![1u8; 30_000]).unwrap();
    // The rescan comes after its 1 s interval; how soon after depends on the machine's load.
    assert!(
        crate::util::wait_until(15, || avbl(&mut c) == 60_000),
        "the outside file was not counted within 15 s"
    );
    let q = site_quota(&mut c);
    assert!(q.contains("Disk bytes: 40000 used"), "{q}");
    assert!(q.contains("Disk files: 2 used"), "{q}");
    // Counted before any upload: 70,000 would cross.
    assert_eq!(put(&mut c, "big.bin", &random_bytes(70_000, 6)).code, 552);
    // AVBL of a path that is not a directory.
    assert_eq!(c.cmd("AVBL early.bin").code, 550);
    // Accounts without a quota: the file system's free space.
    let mut plain = srv.login();
    let r = plain.expect("AVBL /", 213);
    assert!(r.text().trim().parse::<u64>().is_ok(), "{r}");
}

#[test]
fn daily_download_quota() {
    let srv = Server::start(&[]);
    let data = random_bytes(100_000, 7);
    std::fs::write(srv.path("dl.bin"), &data).unwrap();
    let mut c = login(&srv);
    c.expect("TYPE I", 200);
    let (r, got) = get(&mut c, "dl.bin");
    assert_eq!(r.code, 226, "{r}");
    assert_eq!(got, data);
    // 100,000 more would pass 150,000 today: refused before 150.
    let (r, _) = get(&mut c, "dl.bin");
    assert_eq!(r.code, 451, "{r}");
    assert!(r.text().contains("Daily download quota"), "{r}");
    // A range that fits still goes.
    c.expect("REST 60000", 350);
    let (r, got) = get(&mut c, "dl.bin");
    assert_eq!(r.code, 226, "{r}");
    assert_eq!(got, data[60_000..]);
    let q = site_quota(&mut c);
    assert!(
        q.contains("Downloaded today: 140000 bytes, limit 150000"),
        "{q}"
    );
    // The count is saved in the state directory for the next start.
    let state = srv.dir().join("state/transfer-quota.toml");
    assert!(
        crate::util::wait_until(5, || std::fs::read_to_string(&state)
            .is_ok_and(|t| t.contains("down = 140000"))),
        "{:?}",
        std::fs::read_to_string(&state)
    );
}

#[test]
fn user_add_sets_quotas_and_feat_lists_avbl() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["user", "add", "bob", "--password-stdin", "--users"])
        .arg(&users)
        .args(["--quota-bytes", "5000", "--quota-files", "7"])
        .args([
            "--quota-upload-per-day",
            "800",
            "--quota-download-per-day",
            "900",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&users).unwrap();
    for want in [
        "quota_bytes = 5000",
        "quota_files = 7",
        "quota_upload_bytes_per_day = 800",
        "quota_download_bytes_per_day = 900",
    ] {
        assert!(text.contains(want), "{want} missing: {text}");
    }
    let u = kftpd::auth::Users::load(&users).unwrap();
    assert_eq!(u.get("bob").unwrap().quota.files, Some(7));

    let srv = Server::start(&[]);
    let mut c = Ctl::connect(srv.addr);
    let f = c.expect("FEAT", 211);
    assert!(f.lines.iter().any(|l| l == "AVBL"), "{f:?}");
}

#[test]
fn daily_upload_quota_stops_the_upload_that_crosses_it() {
    let srv = Server::start(&[]);
    let mut c = Ctl::connect(srv.addr);
    c.expect(&format!("USER {DAILY_USER}"), 331);
    c.expect(&format!("PASS {PASS}"), 230);
    c.expect("TYPE I", 200);
    assert_eq!(put(&mut c, "one", &random_bytes(30_000, 8)).code, 226);
    assert_eq!(avbl(&mut c), 20_000);
    // Crosses 50,000 on the way: stopped, discarded.
    let r = put(&mut c, "two", &random_bytes(30_000, 9));
    assert_eq!(r.code, 552, "{r}");
    assert!(r.text().contains("daily upload quota"), "{r}");
    assert!(!srv.path("two").exists() && !srv.path(".two.kftp-part").exists());
    // Up to the limit still fits (the refused chunk was not counted); then 552 before 150.
    let left = avbl(&mut c);
    assert!(left > 0 && left <= 20_000, "{left}");
    assert_eq!(
        put(&mut c, "three", &random_bytes(left as usize, 10)).code,
        226
    );
    assert_eq!(avbl(&mut c), 0);
    let r = put(&mut c, "four", b"x");
    assert_eq!(r.code, 552, "{r}");
    assert!(
        r.text()
            .contains("Daily upload quota of 50000 bytes reached"),
        "{r}"
    );
    let q = site_quota(&mut c);
    assert!(
        q.contains("Uploaded today: 50000 bytes, limit 50000"),
        "{q}"
    );
    assert!(!q.contains("Disk bytes"), "{q}");
}

#[test]
fn disk_quota_holds_on_the_copy_path_and_in_ascii() {
    let srv = Server::start(&["--data-path", "copy"]);
    let mut c = login(&srv);
    c.expect("TYPE I", 200);
    assert_eq!(put(&mut c, "a.bin", &random_bytes(60_000, 11)).code, 226);
    assert_eq!(put(&mut c, "b.bin", &random_bytes(60_000, 12)).code, 552);
    assert!(!srv.path("b.bin").exists() && !srv.path(".b.bin.kftp-part").exists());
    c.expect("TYPE A", 200);
    let text = "line\r\n".repeat(10_000);
    assert_eq!(put(&mut c, "c.txt", text.as_bytes()).code, 552);
    assert!(!srv.path("c.txt").exists() && !srv.path(".c.txt.kftp-part").exists());
    assert_eq!(avbl(&mut c), 40_000);
    assert!(srv.log_text().contains("data_path=\"copy\""));
}

#[test]
fn disk_quota_holds_for_tls_uploads() {
    let srv = Server::start(&[]);
    let opts = kftp_tls::ClientTlsOptions {
        pin_sha256: srv.fingerprint.clone(),
        ..Default::default()
    };
    let config = kftp_tls::client_config(&opts).expect("client config");
    let ftp = suppaftp::RustlsFtpStream::connect(srv.addr).unwrap();
    let mut ftp = ftp
        .into_secure(suppaftp::RustlsConnector::from(config), "127.0.0.1")
        .unwrap();
    ftp.login(QUOTA_USER, PASS).unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary)
        .unwrap();
    ftp.put_file("a.bin", &mut std::io::Cursor::new(random_bytes(60_000, 13)))
        .unwrap();
    let e = ftp
        .put_file("b.bin", &mut std::io::Cursor::new(random_bytes(60_000, 14)))
        .unwrap_err();
    assert!(e.to_string().contains("552"), "{e}");
    assert!(!srv.path("b.bin").exists() && !srv.path(".b.bin.kftp-part").exists());
    assert_eq!(std::fs::metadata(srv.path("a.bin")).unwrap().len(), 60_000);
}

#[test]
fn a_full_account_may_still_replace_a_file_within_its_size() {
    let srv = Server::start(&[]);
    let mut c = login(&srv);
    c.expect("TYPE I", 200);
    assert_eq!(
        put(&mut c, "full.bin", &random_bytes(100_000, 15)).code,
        226
    );
    assert_eq!(avbl(&mut c), 0);
    assert_eq!(put(&mut c, "new.bin", b"x").code, 552);
    let smaller = random_bytes(80_000, 16);
    assert_eq!(put(&mut c, "full.bin", &smaller).code, 226);
    assert_eq!(std::fs::read(srv.path("full.bin")).unwrap(), smaller);
    assert_eq!(avbl(&mut c), 20_000);
}

/// ESTO (an adjusted store, written into the file itself) refused by the disk quota cuts
/// back only what it added past the file's old end: the bytes before its offset and the
/// old length stay (a resume would be cut back to its offset instead).
#[test]
fn esto_over_the_disk_quota_keeps_the_old_file_length() {
    let srv = Server::start(&[]);
    let mut c = login(&srv);
    c.expect("TYPE I", 200);
    let a = random_bytes(60_000, 11);
    assert_eq!(put(&mut c, "a.bin", &a).code, 226);
    // From 59,000: 20,000 bytes first (charged, written, the file grows to 79,000), then
    // 40,000 more, which cross the quota (40,000 were left): refused, cut back to 60,000.
    let mut d = c.epsv();
    c.expect("ESTO A 59000 a.bin", 150);
    d.write_all(&random_bytes(20_000, 12)).unwrap();
    // Time for the server to take the first part on its own (it is charged per read).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = d.write_all(&random_bytes(40_000, 13));
    drop(d);
    let r = c.read();
    assert_eq!(r.code, 552, "{r}");
    let got = std::fs::read(srv.path("a.bin")).unwrap();
    assert_eq!(
        got.len(),
        a.len(),
        "the refused ESTO changed the file's length"
    );
    assert!(
        got[..59_000] == a[..59_000],
        "bytes before the offset changed"
    );
    c.expect("QUIT", 221);
}
