//! The client library against vsftpd: the core suite in clear and over explicit TLS,
//! and what is particular to vsftpd (LIST parsing, ASCII, TLS variants).

mod plain {
    use crate::vsftpd::{Tls, Vsftpd};
    crate::core_suite!(Vsftpd::start(Tls::None));
}

mod explicit_tls {
    use crate::vsftpd::{Tls, Vsftpd};
    crate::core_suite!(Vsftpd::start(Tls::Explicit));
}

use crate::vsftpd::{Tls, Vsftpd};
use crate::{random_bytes, sha256_file};
use kftp::{
    Client, ConnectOptions, Credentials, ErrorKind, Kind, Security, TlsSetup, TransferOptions,
};
use std::sync::atomic::AtomicU64;

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
    let listing = c.list("").await.unwrap();
    assert!(listing.refused.is_empty(), "{:?}", listing.refused);
    let mut entries = listing.entries;
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
    assert_eq!(c.list("").await.unwrap().entries.len(), 1);
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
