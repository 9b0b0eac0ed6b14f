//! MODE E streams under PROT P kept across transfers (issue #17 item 3), kftp against
//! kftpd: several multi-MiB files each way in one session over the same TLS streams (the
//! same local addresses, and kftpd's log says it reused them), byte-exact; MODE S after
//! kept TLS streams; a transfer that fails in the middle drops them on both sides and the
//! next transfers set up new ones; the kftp binary's `mirror --tls` both ways over kept
//! streams.

use crate::kftpd::Kftpd;
use crate::modee::three_files_each_way_on_kept_streams;
use crate::{random_bytes, sha256_file, tree_hashes};
use kftp::TransferOptions;
use std::path::Path;
use std::sync::atomic::AtomicU64;

/// Lines of kftpd's log that contain every one of `parts`.
fn log_lines(log: &str, parts: &[&str]) -> usize {
    log.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

#[tokio::test]
async fn tls_streams_are_kept_across_files_each_way() {
    let Some(s) = Kftpd::start(true) else { return };
    let mut c = s.fixture().client().await;
    let (files, local, gets) = three_files_each_way_on_kept_streams(&mut c, &s.root, 80).await;
    let p = AtomicU64::new(0);
    // kftpd's side: the second and third file each way ran on its kept TLS streams.
    let log = s.log();
    let reused = |what| log_lines(&log, &[what, "tls=true", "mode_e_reused=4"]);
    assert_eq!(reused("MODE E blocks sent"), 2, "{log}");
    assert_eq!(reused("MODE E blocks received"), 2, "{log}");
    assert_eq!(
        log_lines(&log, &["MODE E blocks sent", "mode_e_reused=0"]),
        1,
        "one set of new streams for the gets: {log}"
    );

    // MODE S after kept TLS streams: a listing and a MODE S get close them, then MODE E
    // sets up new ones.
    c.list("").await.unwrap();
    assert!(c.cached_streams().is_empty(), "MODE S closes them");
    let plain = local.path().join("plain.bin");
    c.get("f1.bin", &plain, &TransferOptions::default(), &p)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&plain).unwrap(), files[1]);
    let again = local.path().join("again.bin");
    c.get_mode_e("f2.bin", &again, 4, &p).await.unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), files[2]);
    assert_eq!(c.cached_streams().len(), 4);
    assert!(c.cached_streams().iter().all(|a| !gets.contains(a)));
    c.quit().await;
}

/// An upload that the server ends in the middle (552: past the account's disk quota) drops
/// the kept TLS streams on both sides; the next get and put set up new ones and arrive
/// byte-exact.
#[tokio::test]
async fn a_failed_transfer_drops_kept_tls_streams() {
    let Some(s) = Kftpd::start_account(true, &["--quota-bytes", "5242880"]) else {
        return;
    };
    // Before the login, whose walk of the root counts it.
    let a = random_bytes((2 << 20) + 5, 90);
    std::fs::write(s.root.join("a.bin"), &a).unwrap();
    let mut c = s.fixture().client().await;
    let local = tempfile::tempdir().unwrap();
    let write = |name: &str, len: usize, seed| {
        let p = local.path().join(name);
        std::fs::write(&p, random_bytes(len, seed)).unwrap();
        p
    };
    let small = write("small.bin", 1 << 20, 91);
    let big = write("big.bin", 4 << 20, 92);
    let small2 = write("small2.bin", (1 << 20) - 7, 93);
    let p = AtomicU64::new(0);
    let got = local.path().join("a.bin");
    c.get_mode_e("a.bin", &got, 4, &p).await.unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), a);
    c.put_mode_e(&small, "small.bin", 4, &p).await.unwrap();
    let kept = c.cached_streams();
    assert_eq!(kept.len(), 8, "{kept:?}");

    let err = c
        .put_mode_e(&big, "big.bin", 4, &p)
        .await
        .expect_err("past the quota");
    assert!(err.to_string().contains("552"), "{err}");
    assert!(!s.root.join("big.bin").exists());
    assert_eq!(
        c.cached_streams().len(),
        4,
        "the failed upload's streams are gone: {:?}",
        c.cached_streams()
    );

    // The server dropped all its kept streams: the get finds out (they are closed, or its
    // RETR gets 425) and sets up new ones; so does the put.
    let again = local.path().join("again.bin");
    c.get_mode_e("a.bin", &again, 4, &p).await.unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), a);
    c.put_mode_e(&small2, "small2.bin", 4, &p).await.unwrap();
    assert_eq!(
        sha256_file(&s.root.join("small2.bin")),
        sha256_file(&small2)
    );
    let now = c.cached_streams();
    assert_eq!(now.len(), 8, "{now:?}");
    assert!(now.iter().all(|a| !kept.contains(a)), "{kept:?} {now:?}");
    c.quit().await;
}

/// 40 files of 4 KiB and one of 1.5 MiB in two directories.
fn make_tree(root: &Path) {
    for i in 0..41u64 {
        let p = root.join(format!("d{}/f{i:02}.bin", i % 2));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let len = if i == 7 { (3 << 20) / 2 + 3 } else { 4096 };
        std::fs::write(p, random_bytes(len, 1000 + i)).unwrap();
    }
}

/// The kftp binary's `mirror --tls` down and up in one session each (`--parallel 1`,
/// `--streams 2`): byte-exact, and kftpd made new TLS streams for the first file only.
#[test]
fn cli_mirror_over_tls_keeps_its_streams() {
    let Some(s) = Kftpd::start(true) else { return };
    make_tree(&s.root.join("site"));
    std::fs::create_dir(s.root.join("up")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = |p: &str| format!("ftp://alice@127.0.0.1:{}/{p}", s.port);
    let mirror = |src: &str, dst: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_kftp"))
            .args(["-v", "--netrc"])
            .arg(dir.path().join("none"))
            .args(["mirror", "--tls", "--pin-sha256", &s.pin])
            .args(["--parallel", "1", "--streams", "2", src, dst])
            .env("KFTP_PASSWORD", "correct horse battery")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{src} -> {dst}: {err}");
    };
    mirror(&url("site/"), "copy");
    assert_eq!(
        tree_hashes(&dir.path().join("copy")),
        tree_hashes(&s.root.join("site"))
    );
    let log = s.log();
    let sent = log_lines(&log, &["MODE E blocks sent", "tls=true"]);
    assert_eq!(sent, 41, "{log}");
    assert_eq!(
        log_lines(&log, &["MODE E blocks sent", "tls=true", "mode_e_reused=2"]),
        40,
        "new streams for the first file only: {log}"
    );

    mirror("copy", &url("up/"));
    assert_eq!(
        tree_hashes(&s.root.join("up")),
        tree_hashes(&dir.path().join("copy"))
    );
    let log = s.log();
    assert_eq!(
        log_lines(&log, &["MODE E blocks received", "tls=true"]),
        41,
        "{log}"
    );
    assert_eq!(
        log_lines(&log, &["MODE E blocks received", "mode_e_reused=2"]),
        40,
        "new streams for the first file only: {log}"
    );
}
