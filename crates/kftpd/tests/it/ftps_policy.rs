//! FTPS policies that real clients run into: implicit sessions protect data connections
//! without PROT P, accounts and networks relaxed from session reuse, uploads that end
//! without close_notify, OPTS MLST, and what the log says about them.

use crate::harness::*;
use std::process::Command;

/// Runs a Python 3 script with arguments, bounded in time.
fn python(script: &str, args: &[&str]) -> (bool, String, String) {
    run(Command::new("timeout")
        .args(["60", "python3", "-c", script])
        .args(args))
}

/// Python's stock `ftplib.FTP_TLS` (which cannot resume the control session on data
/// connections, cpython issue 63699): log in as argv[3], upload argv[4] as `up.bin`, list,
/// download it back to argv[5]. Prints the server's replies it saw.
const FTPLIB_TLS: &str = r#"
import ftplib, ssl, sys
host, port, user, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect(host, port)
f.login(user, "s3cret-pw")
f.prot_p()
try:
    with open(src, "rb") as fh:
        print(f.storbinary("STOR up.bin", fh))
    names = f.nlst()
    print("NLST", names)
    with open(dst, "wb") as out:
        print(f.retrbinary("RETR up.bin", out.write))
except ftplib.all_errors as e:
    print("ERROR", e)
    # A refused data connection breaks the client's side first; the reply says why.
    if not str(e)[:1].isdigit():
        try:
            print("REPLY", f.getresp())
        except ftplib.all_errors as reply:
            print("REPLY", reply)
    sys.exit(3)
f.quit()
"#;

fn ftplib_tls(srv: &Server, user: &str, data: &[u8]) -> (bool, String, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.bin"), dir.path().join("dst.bin"));
    std::fs::write(&src, data).unwrap();
    let port = srv.addr.port().to_string();
    let (ok, out, err) = python(
        FTPLIB_TLS,
        &[
            "127.0.0.1",
            &port,
            user,
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ],
    );
    let got = std::fs::read(&dst).unwrap_or_default();
    (ok, out, err, got)
}

/// A client that cannot resume TLS sessions gets 522 with a message that tells its user what
/// to ask for; the same client works through an account with `tls_reuse_required = false`,
/// and from a network listed in `--tls-reuse-optional-from`.
#[test]
fn session_reuse_is_relaxed_per_account_and_per_network() {
    if !need("python3") {
        return;
    }
    let data = random_bytes(3 << 20, 21);
    let srv = Server::start(&[]);
    let (ok, out, _, _) = ftplib_tls(&srv, USER, &data);
    assert!(
        !ok,
        "stock ftplib.FTP_TLS should be refused for alice: {out}"
    );
    assert!(out.contains("522"), "{out}");
    assert!(out.contains("tls_reuse_required = false"), "{out}");
    assert!(!srv.path("up.bin").exists(), "a refused upload left a file");

    let (ok, out, err, got) = ftplib_tls(&srv, RELAXED, &data);
    assert!(ok, "relaxed account: {out}\n{err}");
    assert!(out.contains("NLST ['up.bin']"), "{out}");
    assert_eq!(sha256(&got), sha256(&data));
    assert_eq!(
        sha256(&std::fs::read(srv.path("up.bin")).unwrap()),
        sha256(&data)
    );

    // A network exemption covers every account; an account that insists stays strict.
    let srv = Server::start(&["--tls-reuse-optional-from", "127.0.0.0/8"]);
    let (ok, out, err, got) = ftplib_tls(&srv, USER, &data);
    assert!(ok, "alice from an exempt network: {out}\n{err}");
    assert_eq!(sha256(&got), sha256(&data));
    let srv = Server::start(&["--tls-reuse-optional-from", "192.0.2.0/24"]);
    let (ok, out, _, _) = ftplib_tls(&srv, USER, &data);
    assert!(
        !ok && out.contains("522"),
        "192.0.2.0/24 must not exempt 127.0.0.1: {out}"
    );
}

/// Uploads over TLS with the account relaxed: the server must send no TLS 1.3 tickets on the
/// upload's data connection, or a client that never reads (as here: Python writes, then
/// closes) resets the connection and the tail of the upload is lost.
#[test]
fn relaxed_tls_uploads_are_complete_every_time() {
    if !need("python3") {
        return;
    }
    let srv = Server::start(&["--no-tls-reuse-required"]);
    for i in 0..4 {
        let data = random_bytes((5 << 20) + i * 7919, 30 + i as u64);
        let (ok, out, err, got) = ftplib_tls(&srv, USER, &data);
        assert!(ok, "upload {i}: {out}\n{err}");
        assert_eq!(sha256(&got), sha256(&data), "upload {i}");
    }
}

/// Uploads a file over TLS and ends the data connection with a bare FIN, no close_notify.
const FIN_UPLOAD: &str = r#"
import ftplib, socket, ssl, sys
host, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect(host, port)
f.login("relaxed", "s3cret-pw")
f.prot_p()
conn = f.transfercmd("STOR fin.bin")
with open(src, "rb") as fh:
    conn.sendall(fh.read())
# SSLSocket.shutdown is the TCP shutdown: a FIN with no TLS close_notify before it.
conn.shutdown(socket.SHUT_RDWR)
conn.close()
try:
    print(f.voidresp())
except ftplib.all_errors as e:
    print("REPLY", e)
f.quit()
"#;

fn fin_upload(srv: &Server, data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, data).unwrap();
    let port = srv.addr.port().to_string();
    let (ok, out, err) = python(FIN_UPLOAD, &["127.0.0.1", &port, src.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    out
}

/// By default an upload that ends with a FIN instead of close_notify is kept whole (as
/// vsftpd, proftpd and pure-ftpd do); `--tls-strict-eof` keeps it as a resumable part file and
/// says why, never with a download's message.
#[test]
fn tls_upload_ending_without_close_notify() {
    if !need("python3") {
        return;
    }
    let data = random_bytes(8 << 20, 41);
    let srv = Server::start(&[]);
    let out = fin_upload(&srv, &data);
    assert!(out.starts_with("226"), "{out}");
    assert_eq!(
        sha256(&std::fs::read(srv.path("fin.bin")).unwrap()),
        sha256(&data)
    );
    assert!(
        wait_log(&srv, "TLS upload ended without close_notify: accepted"),
        "{}",
        srv.log_text()
    );

    let srv = Server::start(&["--tls-strict-eof"]);
    let out = fin_upload(&srv, &data);
    assert!(out.contains("426"), "{out}");
    assert!(out.contains("without close_notify"), "{out}");
    assert!(!out.contains("changed size"), "{out}");
    assert!(
        !srv.path("fin.bin").exists(),
        "strict mode committed the upload"
    );
    let part = srv.path(".fin.bin.kftp-part");
    assert_eq!(
        std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0),
        data.len() as u64,
        "the bytes are kept for resume"
    );
}

fn wait_log(srv: &Server, needle: &str) -> bool {
    kftp_testkit::wait_until(std::time::Duration::from_secs(5), || {
        srv.log_text().contains(needle)
    })
}

/// Perl's Net::FTP with `SSL => 1` (implicit FTPS) never sends PBSZ/PROT and expects TLS on
/// its data connections: the session starts at PROT P. It cannot resume TLS 1.3 sessions on
/// data connections, hence the relaxed account.
#[test]
fn implicit_ftps_starts_protected_for_perl_net_ftp() {
    if !need("perl") {
        return;
    }
    let ssl = Command::new("perl")
        .args(["-MIO::Socket::SSL", "-e1"])
        .status()
        .is_ok_and(|s| s.success());
    if !ssl {
        skip("Perl's IO::Socket::SSL is not installed (Debian: libio-socket-ssl-perl)");
        return;
    }
    let srv = Server::start(&["--implicit-listen", "127.0.0.1:0"]);
    let port = srv.implicit_addr.expect("implicit listener").port();
    let data = random_bytes(2 << 20, 51);
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.bin"), dir.path().join("dst.bin"));
    std::fs::write(&src, &data).unwrap();
    let script = r#"
use strict; use Net::FTP;
my ($port, $src, $dst) = @ARGV;
my $f = Net::FTP->new("127.0.0.1", Port => $port, SSL => 1, SSL_verify_mode => 0,
                      Passive => 1, Timeout => 30) or die "connect: $@";
$f->login("relaxed", "s3cret-pw") or die "login: " . $f->message;
$f->binary;
$f->put($src, "perl.bin") or die "put: " . $f->code . " " . $f->message;
my @names = $f->ls() or die "ls: " . $f->code . " " . $f->message;
print "LS @names\n";
$f->get("perl.bin", $dst) or die "get: " . $f->code . " " . $f->message;
$f->quit;
"#;
    let (ok, out, err) = run(Command::new("timeout").args([
        "60",
        "perl",
        "-e",
        script,
        &port.to_string(),
        src.to_str().unwrap(),
        dst.to_str().unwrap(),
    ]));
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("LS perl.bin"), "{out}");
    assert_eq!(sha256(&std::fs::read(&dst).unwrap()), sha256(&data));
    assert_eq!(
        sha256(&std::fs::read(srv.path("perl.bin")).unwrap()),
        sha256(&data)
    );
    let log = srv.log_text();
    // Library chatter stays below WARN (rustls warns about IP addresses sent as SNI).
    assert!(!log.contains("Illegal SNI"), "{log}");
    // A listing under PROT P is logged as TLS, not as clear-text copy.
    let listing = log
        .lines()
        .find(|l| l.contains("transfer complete") && l.contains("NLST"))
        .unwrap_or_else(|| panic!("no NLST line in {log}"));
    assert!(listing.contains("tls-copy"), "{listing}");
}

/// OPTS MLST selects the facts MLST and MLSD return (RFC 3659 7.9), and FEAT marks them.
#[test]
fn opts_mlst_selects_facts() {
    let srv = Server::start(&["--no-tls"]);
    std::fs::write(srv.path("f.txt"), b"12345").unwrap();
    let mut c = srv.login();
    let r = c.expect("OPTS MLST type;size;", 200);
    assert_eq!(r.lines.join(" "), "MLST OPTS type;size;");
    let r = c.expect("MLST f.txt", 250);
    assert_eq!(r.lines[1].trim(), "type=file;size=5; /f.txt", "{r:?}");
    let feat = c.expect("FEAT", 211);
    assert!(
        feat.lines
            .iter()
            .any(|l| l.trim() == "MLST type*;size*;modify;perm;unique;unix.mode;"),
        "{feat:?}"
    );
    let d = c.epsv();
    c.expect("MLSD", 150);
    let body = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(c.read().code, 226);
    assert_eq!(body, "type=file;size=5; f.txt\r\n");
    // Unknown facts are ignored; an empty list selects none.
    let r = c.expect("OPTS MLST bogus;", 200);
    assert_eq!(r.lines.join(" "), "MLST OPTS ");
    let r = c.expect("MLST f.txt", 250);
    assert_eq!(r.lines[1].trim(), "/f.txt", "{r:?}");
}

/// Where TLS is required, a data command without PROT P is refused by the policy with 521
/// before its handler runs: no data connection is waited for and no part file is opened.
#[test]
fn data_commands_need_prot_p_where_tls_is_required() {
    if !need("python3") {
        return;
    }
    let srv = Server::start(&["--require-tls"]);
    std::fs::write(srv.path("f.txt"), b"secret").unwrap();
    let script = r#"
import ftplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect(sys.argv[1], int(sys.argv[2]))
f.login("alice", "s3cret-pw")
for cmd in ["RETR f.txt", "STOR up.txt", "APPE up.txt", "LIST", "NLST", "MLSD"]:
    try:
        print(cmd, "->", f.sendcmd(cmd))
    except ftplib.all_errors as e:
        print(cmd, "->", e)
f.quit()
"#;
    let port = srv.addr.port().to_string();
    let (ok, out, err) = python(script, &["127.0.0.1", &port]);
    assert!(ok, "{out}\n{err}");
    let refused = out
        .lines()
        .filter(|l| l.contains("-> 521 Data connections must be protected"))
        .count();
    assert_eq!(refused, 6, "{out}");
    assert!(!srv.path("up.txt").exists() && !srv.path(".up.txt.kftp-part").exists());
}
