//! FTPS (RFC 4217): explicit and implicit TLS with real clients, data-channel session reuse
//! enforced, TLS required before login, and no password on the wire.

use crate::harness::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

fn curl(args: &[&str]) -> (bool, String, String) {
    run(Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args))
}

#[test]
fn curl_explicit_tls12_and_tls13_round_trip() {
    if !have("curl") {
        skip("curl not installed");
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes(2 << 20, 11);
    std::fs::write(srv.path("f.bin"), &data).unwrap();
    let local = srv.root().join("../up-src.bin");
    std::fs::write(&local, &data).unwrap();
    for (i, ver) in [
        ["--tlsv1.2", "--tls-max", "1.2"],
        ["--tlsv1.3", "--tls-max", "1.3"],
    ]
    .iter()
    .enumerate()
    {
        let url = format!("{}/f.bin", srv.url());
        let out = srv.root().join(format!("../dl{i}.bin"));
        let (ok, _, err) = curl(&[
            ver[0],
            ver[1],
            ver[2],
            "--ssl-reqd",
            "-k",
            &url,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "curl {ver:?} download: {err}");
        assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&data));
        let up = format!("{}/up{i}.bin", srv.url());
        let (ok, _, err) = curl(&[
            ver[0],
            ver[1],
            ver[2],
            "--ssl-reqd",
            "-k",
            "-T",
            local.to_str().unwrap(),
            &up,
        ]);
        assert!(ok, "curl {ver:?} upload: {err}");
        assert_eq!(
            sha256(&std::fs::read(srv.path(&format!("up{i}.bin"))).unwrap()),
            sha256(&data)
        );
    }
    let log = srv.log_text();
    assert!(log.contains("control connection upgraded to TLS"), "{log}");
    assert!(
        log.contains("tls-copy") || log.contains("ktls-sendfile"),
        "{log}"
    );
}

#[test]
fn curl_implicit_on_own_port_and_on_the_plain_port() {
    if !have("curl") {
        skip("curl not installed");
        return;
    }
    // One port for both needs the sniff (off by default); curl's ClientHello comes 2-3 ms
    // after its connect.
    let srv = Server::start(&["--implicit-listen", "127.0.0.1:0", "--tls-sniff-ms", "200"]);
    std::fs::write(srv.path("hello.txt"), b"hello over tls\n").unwrap();
    let implicit = srv.implicit_addr.expect("implicit listener reported");
    for addr in [implicit, srv.addr] {
        let url = format!("ftps://{USER}:{PASS}@{addr}/hello.txt");
        let (ok, out, err) = curl(&["-k", &url]);
        assert!(ok, "implicit FTPS to {addr}: {err}");
        assert_eq!(out, "hello over tls\n");
    }
}

#[test]
fn clear_text_login_refused_when_tls_required() {
    let srv = Server::start(&["--require-tls"]);
    let mut c = Ctl::connect(srv.addr);
    let r = c.expect("USER alice", 530);
    assert!(
        r.text().contains("AUTH TLS"),
        "the refusal says what to do: {r}"
    );
    c.expect("PASS s3cret-pw", 530);
    let f = c.expect("FEAT", 211);
    assert!(f.lines.iter().any(|l| l == "AUTH TLS"), "{f:?}");
    c.expect("PBSZ 0", 503);
    c.expect("AUTH KERBEROS", 504);
}

const PY_FTPS: &str = r#"
import ftplib, ssl, sys, hashlib
host, port, user, pw, mode, ver = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if ver == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
else:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3

class Reusing(ftplib.FTP_TLS):
    # The well-known fix for servers that require TLS session reuse (vsftpd
    # require_ssl_reuse): wrap the data socket with the control connection's session.
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

cls = Reusing if mode == "reuse" else ftplib.FTP_TLS
ftp = cls(context=ctx, timeout=20)
ftp.connect(host, port)
ftp.login(user, pw)
ftp.prot_p()
data = bytes(range(256)) * 4096
import io
try:
    ftp.storbinary("STOR py.bin", io.BytesIO(data))
    got = bytearray()
    ftp.retrbinary("RETR py.bin", got.extend)
except ftplib.error_reply as e:
    print("REFUSED", e); sys.exit(3)
except ftplib.error_temp as e:
    print("REFUSED", e); sys.exit(3)
except ftplib.error_perm as e:
    print("REFUSED", e); sys.exit(3)
except (ssl.SSLError, OSError, EOFError) as e:
    print("REFUSED", type(e).__name__, e); sys.exit(3)
if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
    print("MISMATCH"); sys.exit(1)
print("OK", ftp.sock.version())
ftp.quit()
"#;

fn python_ftps(srv: &Server, mode: &str, ver: &str) -> (Option<i32>, String) {
    let out = Command::new("python3")
        .args([
            "-c",
            PY_FTPS,
            "127.0.0.1",
            &srv.addr.port().to_string(),
            USER,
            PASS,
            mode,
            ver,
        ])
        .output()
        .expect("python3");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn python_ftplib_prot_p_must_reuse_the_session() {
    if !have("python3") {
        skip("python3 not installed");
        return;
    }
    let srv = Server::start(&[]);
    for ver in ["1.2", "1.3"] {
        let (code, out) = python_ftps(&srv, "reuse", ver);
        assert_eq!(code, Some(0), "TLS {ver} with session reuse: {out}");
        assert!(out.contains(&format!("OK TLSv{ver}")), "{out}");
        // Plain FTP_TLS does a full handshake on the data connection: refused with 522.
        let (code, out) = python_ftps(&srv, "plain", ver);
        assert_eq!(
            code,
            Some(3),
            "TLS {ver} without reuse must be refused: {out}"
        );
        assert!(out.contains("REFUSED"), "{out}");
    }
    let log = srv.log_text();
    assert!(
        log.contains("did not resume the control connection's TLS session"),
        "{log}"
    );
}

#[test]
fn suppaftp_rustls_with_pinned_certificate() {
    let srv = Server::start(&[]);
    let fp = srv.fingerprint.clone().expect("fingerprint printed");
    let opts = kftp_tls::ClientTlsOptions {
        pin_sha256: Some(fp),
        ..Default::default()
    };
    let config = kftp_tls::client_config(&opts).expect("client config");
    let data = random_bytes(1 << 20, 5);
    let ftp = suppaftp::RustlsFtpStream::connect(srv.addr).unwrap();
    let mut ftp = ftp
        .into_secure(suppaftp::RustlsConnector::from(config), "127.0.0.1")
        .expect("AUTH TLS with a pinned certificate");
    ftp.login(USER, PASS).unwrap();
    ftp.put_file("s.bin", &mut std::io::Cursor::new(data.clone()))
        .unwrap();
    let got = ftp.retr_as_buffer("s.bin").unwrap().into_inner();
    assert_eq!(sha256(&got), sha256(&data));
    ftp.quit().unwrap();

    // A wrong pin is refused.
    let bad = kftp_tls::ClientTlsOptions {
        pin_sha256: Some("00".repeat(32)),
        ..Default::default()
    };
    let config = kftp_tls::client_config(&bad).unwrap();
    let ftp = suppaftp::RustlsFtpStream::connect(srv.addr).unwrap();
    assert!(ftp
        .into_secure(suppaftp::RustlsConnector::from(config), "127.0.0.1")
        .is_err());
}

#[test]
fn lftp_ssl_force() {
    if !have("lftp") {
        skip("lftp not installed");
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes(1 << 20, 9);
    std::fs::write(srv.path("l.bin"), &data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no; \
         set net:max-retries 1; set net:timeout 15; open -u {USER},{PASS} ftp://127.0.0.1:{}; \
         get l.bin -o {d}/l.bin; put {d}/l.bin -o l2.bin; bye",
        srv.addr.port(),
        d = dir.path().display()
    );
    let (ok, out, err) = run(Command::new("lftp").args(["-c", &script]));
    assert!(ok, "lftp: {out}{err}");
    assert_eq!(
        sha256(&std::fs::read(dir.path().join("l.bin")).unwrap()),
        sha256(&data)
    );
    assert_eq!(
        sha256(&std::fs::read(srv.path("l2.bin")).unwrap()),
        sha256(&data)
    );
    assert!(srv
        .log_text()
        .contains("control connection upgraded to TLS"));
}

/// A TCP relay that records what the client sends.
fn recording_relay(target: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    std::thread::spawn(move || {
        let Ok((client, _)) = l.accept() else { return };
        let server = TcpStream::connect(target).unwrap();
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let down = std::thread::spawn(move || {
            let _ = std::io::copy(&mut s2, &mut c2);
            let _ = c2.shutdown(std::net::Shutdown::Write);
        });
        let (mut c, mut s) = (client, server);
        let mut buf = [0u8; 8192];
        loop {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    rec.lock().unwrap().extend_from_slice(&buf[..n]);
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = down.join();
    });
    (addr, seen)
}

#[test]
fn password_never_crosses_in_clear_with_tls() {
    if !have("curl") {
        skip("curl not installed");
        return;
    }
    let srv = Server::start(&[]);
    std::fs::write(srv.path("x"), b"x").unwrap();
    for tls in [true, false] {
        let (relay, seen) = recording_relay(srv.addr);
        let url = format!("ftp://{USER}:{PASS}@{relay}/x");
        let mut args = vec!["--ftp-pasv"];
        if tls {
            args.extend(["--ssl-reqd", "-k"]);
        }
        args.push(&url);
        let (ok, out, err) = curl(&args);
        assert!(ok && out == "x", "curl via relay (tls={tls}): {err}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let bytes = seen.lock().unwrap().clone();
        let found = bytes.windows(PASS.len()).any(|w| w == PASS.as_bytes());
        // Without TLS the password is on the wire, which proves the relay sees it.
        assert_eq!(found, !tls, "password visible on the wire with tls={tls}");
    }
}
