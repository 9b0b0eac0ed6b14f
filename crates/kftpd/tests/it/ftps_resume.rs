//! FTPS transfers that stop and resume: REST with STOR and RETR, APPE, and ABOR of a large
//! upload whose part file is then completed, over TLS 1.2 and 1.3 with session reuse. The
//! upload side reads the socket in large pieces (`kftp_tls::BulkRead`); every byte that
//! reaches the file must be the client's, in order, wherever the stream stops.

use crate::harness::*;
use std::process::Command;

/// Python's ftplib with the control session reused on data connections. argv: port, user,
/// password, TLS version, source file, file to write what it downloaded to. Prints "ok".
const SCRIPT: &str = r#"
import ftplib, ssl, sys, time
port, user, pw, ver, src, dst = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
data = open(src, "rb").read()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if ver == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
else:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3

class Reusing(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

def check(ok, what):
    if not ok:
        print("FAILED:", what)
        sys.exit(1)

import io
ftp = Reusing(context=ctx, timeout=30)
ftp.connect("127.0.0.1", port)
ftp.login(user, pw)
ftp.prot_p()
half = len(data) // 2 + 4093

# STOR the first part, then REST + STOR the rest into the same file.
ftp.storbinary("STOR rest.bin", io.BytesIO(data[:half]))
check(ftp.size("rest.bin") == half, "size after the first part")
ftp.storbinary("STOR rest.bin", io.BytesIO(data[half:]), rest=half)
# APPE: a second file built from two appends.
ftp.storbinary("APPE appe.bin", io.BytesIO(data[:half]))
ftp.storbinary("APPE appe.bin", io.BytesIO(data[half:]))

# ABOR in the middle of a large upload: the part file keeps a prefix of what was sent,
# and REST + STOR completes it.
conn = ftp.transfercmd("STOR abor.bin")
conn.sendall(data[:3 << 20])
time.sleep(0.3)  # let the server write some of it
first = ftp.abort()
check(first[:3] in ("426", "225", "226"), "abort reply: " + first)
if first.startswith("426"):
    second = ftp.getmultiline()
    check(second.startswith("226"), "second abort reply: " + second)
try:
    conn.close()
except OSError:
    pass
try:
    kept = ftp.size("abor.bin")
except ftplib.error_perm:
    kept = 0  # aborted before its first write: nothing kept
check(0 <= kept <= 3 << 20, "part file size after ABOR: %d" % kept)
ftp.storbinary("STOR abor.bin", io.BytesIO(data[kept:]), rest=kept)

# RETR with REST: the tail from an odd offset.
got = bytearray()
ftp.retrbinary("RETR rest.bin", got.extend, rest=12345)
check(bytes(got) == data[12345:], "REST + RETR tail")
got = bytearray()
ftp.retrbinary("RETR abor.bin", got.extend)
open(dst, "wb").write(got)
ftp.quit()
print("ok")
"#;

#[test]
fn tls_rest_appe_and_abor_keep_every_byte() {
    if !need("python3") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes((9 << 20) + 4321, 77);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, &data).unwrap();
    for ver in ["1.2", "1.3"] {
        let dst = dir.path().join(format!("dst{ver}.bin"));
        let (ok, out, err) = run(Command::new("timeout").args([
            "120",
            "python3",
            "-c",
            SCRIPT,
            &srv.addr.port().to_string(),
            USER,
            PASS,
            ver,
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ]));
        assert!(
            ok && out.trim() == "ok",
            "TLS {ver}: {out}\n{err}\n{}",
            srv.log_text()
        );
        let want = sha256(&data);
        for name in ["rest.bin", "appe.bin", "abor.bin"] {
            let got = std::fs::read(srv.path(name)).unwrap();
            assert_eq!(sha256(&got), want, "TLS {ver}: {name}");
            std::fs::remove_file(srv.path(name)).unwrap();
        }
        assert_eq!(
            sha256(&std::fs::read(&dst).unwrap()),
            want,
            "TLS {ver}: download"
        );
    }
    let log = srv.log_text();
    assert!(log.contains("ABOR"), "{log}");
}
