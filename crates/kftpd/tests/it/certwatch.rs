//! Certificates renewed into place (issue #18 item 5): kftpd notices new certificate files
//! without a signal, serves them to new handshakes, and keeps the sessions it has.

use crate::harness::*;
use std::path::Path;
use std::time::Duration;

/// A fresh self-signed pair in `dir` (tls-cert.pem, tls-key.pem) and its fingerprint.
fn pair(dir: &Path) -> String {
    kftp_tls::ServerTls::load_or_generate(dir, &["localhost".to_string()])
        .expect("generate")
        .fingerprint_sha256()
}

fn pinned(fp: &str) -> suppaftp::RustlsConnector {
    let opts = kftp_tls::ClientTlsOptions {
        pin_sha256: Some(fp.to_string()),
        ..Default::default()
    };
    suppaftp::RustlsConnector::from(kftp_tls::client_config(&opts).expect("client config"))
}

fn tls_session(srv: &Server, fp: &str) -> Result<suppaftp::RustlsFtpStream, String> {
    let ftp = suppaftp::RustlsFtpStream::connect(srv.addr).map_err(|e| e.to_string())?;
    let mut ftp = ftp
        .into_secure(pinned(fp), "127.0.0.1")
        .map_err(|e| e.to_string())?;
    ftp.login(USER, PASS).map_err(|e| e.to_string())?;
    Ok(ftp)
}

fn wait_log(srv: &Server, needle: &str, n: usize) -> bool {
    crate::util::wait_until(15, || srv.log_text().matches(needle).count() >= n)
}

#[test]
fn renewed_certificate_is_served_without_a_signal() {
    let certs = tempfile::tempdir().unwrap();
    let (old_dir, new_dir) = (certs.path().join("old"), certs.path().join("new"));
    let old_fp = pair(&old_dir);
    let new_fp = pair(&new_dir);
    assert_ne!(old_fp, new_fp);
    // certbot's layout: live/ names are symlinks into archive/.
    let archive = certs.path().join("archive");
    let live = certs.path().join("live");
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::create_dir_all(&live).unwrap();
    for (from, to) in [("tls-cert.pem", "cert1.pem"), ("tls-key.pem", "key1.pem")] {
        std::fs::copy(old_dir.join(from), archive.join(to)).unwrap();
    }
    std::os::unix::fs::symlink(archive.join("cert1.pem"), live.join("cert.pem")).unwrap();
    std::os::unix::fs::symlink(archive.join("key1.pem"), live.join("key.pem")).unwrap();
    let cert = live.join("cert.pem");
    let key = live.join("key.pem");
    let srv = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--tls-reload-interval",
        "1",
    ]);
    assert_eq!(srv.fingerprint.as_deref(), Some(old_fp.as_str()));
    let mut old = tls_session(&srv, &old_fp).expect("TLS session with the first certificate");
    old.put_file("before.txt", &mut std::io::Cursor::new(b"before".to_vec()))
        .unwrap();

    // Half a renewal: the new certificate beside the old key does not load.
    std::fs::copy(new_dir.join("tls-cert.pem"), archive.join("cert2.pem")).unwrap();
    let tmp = live.join("cert.pem.tmp");
    std::os::unix::fs::symlink(archive.join("cert2.pem"), &tmp).unwrap();
    std::fs::rename(&tmp, &cert).unwrap();
    assert!(
        wait_log(&srv, "do not load", 1),
        "mismatched pair not noticed: {}",
        srv.log_text()
    );
    assert!(!srv.log_text().contains("TLS certificate reloaded"));
    tls_session(&srv, &old_fp).expect("the old pair is still served");

    // The key follows (written as a new file and renamed into place, as ACME clients do).
    std::fs::copy(new_dir.join("tls-key.pem"), archive.join("key2.pem.new")).unwrap();
    std::fs::rename(archive.join("key2.pem.new"), archive.join("key2.pem")).unwrap();
    let tmp = live.join("key.pem.tmp");
    std::os::unix::fs::symlink(archive.join("key2.pem"), &tmp).unwrap();
    std::fs::rename(&tmp, &key).unwrap();
    assert!(
        wait_log(&srv, "TLS certificate reloaded", 1),
        "no reload: {}",
        srv.log_text()
    );

    // New handshakes present the new certificate; the old pin is refused.
    let mut new = tls_session(&srv, &new_fp).expect("TLS session with the renewed certificate");
    assert!(tls_session(&srv, &old_fp).is_err());
    let got = new.retr_as_buffer("before.txt").unwrap().into_inner();
    assert_eq!(got, b"before");
    new.quit().unwrap();

    // The session opened before the renewal goes on, data connections included.
    old.put_file("after.txt", &mut std::io::Cursor::new(b"after".to_vec()))
        .unwrap();
    let got = old.retr_as_buffer("after.txt").unwrap().into_inner();
    assert_eq!(got, b"after");
    old.quit().unwrap();

    // No further reloads while nothing changes.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        srv.log_text().matches("TLS certificate reloaded").count(),
        1
    );
}
