//! The client library against vsftpd.

use crate::vsftpd::{Tls, Vsftpd};
use crate::{random_bytes, sha256_file, tree_hashes};
use kftp::{
    Client, ConnectOptions, Credentials, DataMode, ErrorKind, Kind, MirrorOptions, Security,
    Silent, TlsSetup, TransferOptions,
};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

async fn client(v: &Vsftpd) -> Client {
    Client::connect(
        ConnectOptions::new("127.0.0.1", v.port),
        Credentials::anonymous(),
    )
    .await
    .expect("login")
}

fn tls_options(v: &Vsftpd, security: Security) -> ConnectOptions {
    let cfg = kftp_tls::client_config(&kftp_tls::ClientTlsOptions {
        pin_sha256: v.pin.clone(),
        ..Default::default()
    })
    .expect("client config");
    let mut o = ConnectOptions::new("127.0.0.1", v.port);
    o.security = security;
    o.tls = Some(TlsSetup::new(cfg, "127.0.0.1").expect("server name"));
    o
}

#[tokio::test]
async fn login_and_listing_are_parsed() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    std::fs::write(v.root.join("a.txt"), b"hello").unwrap();
    std::fs::write(v.root.join("name with spaces.bin"), vec![7u8; 1234]).unwrap();
    std::fs::create_dir(v.root.join("sub dir")).unwrap();
    std::os::unix::fs::symlink("a.txt", v.root.join("link")).unwrap();
    let mut c = client(&v).await;
    assert!(
        !c.features().mlst,
        "vsftpd has no MLSD: this exercises the LIST parser"
    );
    let mut entries = c.list("").await.unwrap();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<(&str, Kind, Option<u64>)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind, e.size))
        .collect();
    assert_eq!(got[0], ("a.txt", Kind::File, Some(5)));
    assert_eq!(got[1].0, "link");
    assert_eq!(got[1].1, Kind::Symlink);
    assert_eq!(entries[1].link_target.as_deref(), Some("a.txt"));
    assert_eq!(got[2], ("name with spaces.bin", Kind::File, Some(1234)));
    assert_eq!((got[3].0, got[3].1), ("sub dir", Kind::Dir));
    let now = kftp_proto::time::civil(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let t = kftp_proto::time::civil(entries[0].mtime.unwrap());
    assert_eq!(
        (t.year, t.month),
        (now.year, now.month),
        "a fresh file is dated this month"
    );
    assert_eq!(c.size("a.txt").await.unwrap(), Some(5));
    c.quit().await;
}

#[tokio::test]
async fn put_then_get_is_byte_exact_passive_and_active() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    std::fs::write(&src, random_bytes(3 << 20, 1)).unwrap();
    for mode in [DataMode::Passive, DataMode::Active] {
        let mut o = ConnectOptions::new("127.0.0.1", v.port);
        o.mode = mode;
        let mut c = Client::connect(o, Credentials::anonymous()).await.unwrap();
        let p = AtomicU64::new(0);
        let r = c
            .put(&src, "up.bin", &TransferOptions::default(), &p)
            .await
            .unwrap();
        assert_eq!(r.bytes, 3 << 20);
        assert_eq!(
            sha256_file(&v.root.join("up.bin")),
            sha256_file(&src),
            "{mode:?}"
        );
        let dst = local.path().join("dst.bin");
        let r = c
            .get("up.bin", &dst, &TransferOptions::default(), &p)
            .await
            .unwrap();
        assert_eq!(r.bytes, 3 << 20);
        assert_eq!(sha256_file(&dst), sha256_file(&src), "{mode:?}");
        // No temp file left behind.
        assert_eq!(std::fs::read_dir(local.path()).unwrap().count(), 2);
        c.quit().await;
    }
}

#[tokio::test]
async fn failed_get_leaves_no_file() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    let mut c = client(&v).await;
    let err = c
        .get(
            "missing.bin",
            &local.path().join("x"),
            &TransferOptions::default(),
            &AtomicU64::new(0),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(std::fs::read_dir(local.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn resume_get_and_put() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let data = random_bytes(2_000_000, 2);
    std::fs::write(v.root.join("big.bin"), &data).unwrap();
    let local = tempfile::tempdir().unwrap();
    let mut c = client(&v).await;
    let resume = TransferOptions {
        resume: true,
        ..Default::default()
    };
    // get -c: the first 700 000 bytes are already here.
    let part = local.path().join("big.bin");
    std::fs::write(&part, &data[..700_000]).unwrap();
    let r = c
        .get("big.bin", &part, &resume, &AtomicU64::new(0))
        .await
        .unwrap();
    assert_eq!((r.skipped, r.bytes), (700_000, 1_300_000));
    assert_eq!(std::fs::read(&part).unwrap(), data);
    // Complete already: nothing moves.
    let r = c
        .get("big.bin", &part, &resume, &AtomicU64::new(0))
        .await
        .unwrap();
    assert_eq!(r.bytes, 0);
    // put -c: the server has the first 1 234 567 bytes.
    std::fs::write(v.root.join("up.bin"), &data[..1_234_567]).unwrap();
    let r = c
        .put(&part, "up.bin", &resume, &AtomicU64::new(0))
        .await
        .unwrap();
    assert_eq!((r.skipped, r.bytes), (1_234_567, 2_000_000 - 1_234_567));
    assert_eq!(std::fs::read(v.root.join("up.bin")).unwrap(), data);
    c.quit().await;
}

#[tokio::test]
async fn segmented_download() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    std::fs::write(v.root.join("seg.bin"), random_bytes(6 << 20, 3)).unwrap();
    let local = tempfile::tempdir().unwrap();
    let dst = local.path().join("seg.bin");
    let mut c = client(&v).await;
    let progress = Arc::new(AtomicU64::new(0));
    let r = c
        .get_segmented("seg.bin", &dst, 4, progress.clone())
        .await
        .unwrap();
    assert_eq!(r.bytes, 6 << 20);
    assert_eq!(sha256_file(&dst), sha256_file(&v.root.join("seg.bin")));
    assert_eq!(progress.load(std::sync::atomic::Ordering::Relaxed), 6 << 20);
    c.quit().await;
}

#[tokio::test]
async fn file_operations() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let mut c = client(&v).await;
    c.mkdir("d").await.unwrap();
    assert!(v.root.join("d").is_dir());
    std::fs::write(v.root.join("d/f"), b"x").unwrap();
    c.rename("d/f", "d/g").await.unwrap();
    assert!(v.root.join("d/g").is_file());
    assert_eq!(
        c.delete("d/nope").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    c.delete("d/g").await.unwrap();
    c.cwd("d").await.unwrap();
    assert!(c.pwd().await.unwrap().ends_with("/root/d"));
    c.cwd("..").await.unwrap();
    c.rmdir("d").await.unwrap();
    assert!(!v.root.join("d").exists());
    let mut out = Vec::new();
    std::fs::write(v.root.join("cat.txt"), b"meow\n").unwrap();
    c.cat("cat.txt", &mut out).await.unwrap();
    assert_eq!(out, b"meow\n");
    c.quit().await;
}

#[tokio::test]
async fn ascii_mode_converts_line_endings() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    // vsftpd converts on upload (ascii_upload_enable) only if told to; by default it
    // stores what it gets, so the wire form (CRLF) is visible on disk.
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("t.txt");
    std::fs::write(&src, b"one\ntwo\n").unwrap();
    let mut c = client(&v).await;
    let ascii = TransferOptions {
        ascii: true,
        ..Default::default()
    };
    c.put(&src, "t.txt", &ascii, &AtomicU64::new(0))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(v.root.join("t.txt")).unwrap(),
        b"one\r\ntwo\r\n"
    );
    let dst = local.path().join("back.txt");
    c.get("t.txt", &dst, &ascii, &AtomicU64::new(0))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dst).unwrap(), b"one\ntwo\n");
}

#[tokio::test]
async fn mirror_both_ways() {
    let Some(v) = Vsftpd::start(Tls::None) else {
        return;
    };
    let local = tempfile::tempdir().unwrap();
    // Upload a tree.
    let src = local.path().join("src");
    for (p, n, seed) in [
        ("a.bin", 10_000, 1),
        ("d1/b.bin", 300_000, 2),
        ("d1/d2/c.bin", 1, 3),
        ("d1/d2/empty", 0, 4),
    ] {
        let path = src.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, random_bytes(n, seed)).unwrap();
    }
    std::fs::create_dir_all(src.join("emptydir")).unwrap();
    let mut c = client(&v).await;
    let opts = MirrorOptions {
        parallel: 3,
        ..Default::default()
    };
    let r = kftp::mirror_up(&mut c, &src, "site", &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 4);
    assert_eq!(tree_hashes(&v.root.join("site")), tree_hashes(&src));
    assert!(v.root.join("site/emptydir").is_dir());
    // Again: nothing to do.
    let r = kftp::mirror_up(&mut c, &src, "site", &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!((r.transferred, r.up_to_date), (0, 4));
    // Download it elsewhere.
    let dst = local.path().join("dst");
    let r = kftp::mirror_down(&mut c, "site", &dst, &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 4);
    assert_eq!(tree_hashes(&dst), tree_hashes(&src));
    let r = kftp::mirror_down(&mut c, "site", &dst, &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 0, "second download is a no-op");
    // Change the server side: one file grows, one appears, one goes; --delete follows.
    std::fs::write(v.root.join("site/a.bin"), random_bytes(20_000, 9)).unwrap();
    std::fs::write(v.root.join("site/new.txt"), b"new").unwrap();
    std::fs::remove_file(v.root.join("site/d1/b.bin")).unwrap();
    let del = MirrorOptions {
        delete: true,
        parallel: 1,
        ..Default::default()
    };
    let r = kftp::mirror_down(&mut c, "site", &dst, &del, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!((r.transferred, r.deleted), (2, 1));
    assert_eq!(tree_hashes(&dst), tree_hashes(&v.root.join("site")));
    // And upward with --delete: the local tree wins.
    let r = kftp::mirror_up(&mut c, &src, "site", &del, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.deleted, 1, "new.txt removed");
    assert_eq!(tree_hashes(&v.root.join("site")), tree_hashes(&src));
    c.quit().await;
}

#[tokio::test]
async fn explicit_tls_with_pin_and_session_reuse() {
    let Some(v) = Vsftpd::start(Tls::Explicit) else {
        return;
    };
    let mut c = Client::connect(
        tls_options(&v, Security::Explicit),
        Credentials::anonymous(),
    )
    .await
    .expect("AUTH TLS login");
    assert!(c.data_tls());
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("s.bin");
    std::fs::write(&src, random_bytes(1_500_000, 5)).unwrap();
    // vsftpd's require_ssl_reuse refuses data connections that do not resume the control
    // session, so these transfers prove the reuse works.
    c.put(
        &src,
        "s.bin",
        &TransferOptions::default(),
        &AtomicU64::new(0),
    )
    .await
    .unwrap();
    let dst = local.path().join("d.bin");
    c.get(
        "s.bin",
        &dst,
        &TransferOptions::default(),
        &AtomicU64::new(0),
    )
    .await
    .unwrap();
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    assert_eq!(c.list("").await.unwrap().len(), 1);
    c.quit().await;
}

#[tokio::test]
async fn implicit_tls() {
    let Some(v) = Vsftpd::start(Tls::Implicit) else {
        return;
    };
    std::fs::write(v.root.join("x"), b"implicit").unwrap();
    let mut c = Client::connect(
        tls_options(&v, Security::Implicit),
        Credentials::anonymous(),
    )
    .await
    .expect("implicit TLS login");
    let mut out = Vec::new();
    c.cat("x", &mut out).await.unwrap();
    assert_eq!(out, b"implicit");
}

#[tokio::test]
async fn wrong_pin_is_a_tls_error() {
    let Some(v) = Vsftpd::start(Tls::Explicit) else {
        return;
    };
    let mut o = tls_options(&v, Security::Explicit);
    let cfg = kftp_tls::client_config(&kftp_tls::ClientTlsOptions {
        pin_sha256: Some("00".repeat(32)),
        ..Default::default()
    })
    .unwrap();
    o.tls = Some(TlsSetup::new(cfg, "127.0.0.1").unwrap());
    let err = Client::connect(o, Credentials::anonymous())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}
