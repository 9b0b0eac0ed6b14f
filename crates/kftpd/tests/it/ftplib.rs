//! Python's ftplib against the real server: a script that exits nonzero on any mismatch.

use crate::harness::*;
use crate::util::*;
use std::process::Command;

/// The client side, run as `python3 script PORT`. Every check appends to `failures`; the
/// script prints them and exits 1, or exits 0 when all held.
const SCRIPT: &str = r#"
import ftplib, hashlib, io, os, socket, sys, time

port = int(sys.argv[1])
failures = []

def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)

def expect_error(code, fn, *args):
    try:
        fn(*args)
    except ftplib.all_errors as e:
        check(str(e).startswith(code), "%s%r: expected %s, got %s" % (fn.__name__, args, code, e))
        return
    check(False, "%s%r: expected %s, got success" % (fn.__name__, args, code))

ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=20)
check(ftp.getwelcome().startswith("220"), "welcome: " + ftp.getwelcome())
expect_error("530", ftp.login, "alice", "wrong-password")
ftp.login("alice", "s3cret-pw")

# Directories.
check(ftp.pwd() == "/", "pwd at login: " + ftp.pwd())
check(ftp.mkd("work") == "/work", "mkd returns the quoted path")
expect_error("550", ftp.mkd, "work")
ftp.cwd("work")
check(ftp.pwd() == "/work", "pwd after cwd: " + ftp.pwd())
expect_error("550", ftp.cwd, "missing")

# Binary round trip.
data = os.urandom(3 * 1024 * 1024 + 7)
r = ftp.storbinary("STOR blob.bin", io.BytesIO(data), blocksize=65536)
check(r.startswith("226"), "storbinary: " + r)
h = hashlib.sha256()
r = ftp.retrbinary("RETR blob.bin", h.update, blocksize=65536)
check(r.startswith("226"), "retrbinary: " + r)
check(h.hexdigest() == hashlib.sha256(data).hexdigest(), "retrbinary sha256")
check(ftp.size("blob.bin") == len(data), "size blob.bin")
# Resume a download with rest=.
h = hashlib.sha256()
ftp.retrbinary("RETR blob.bin", h.update, rest=1000)
check(h.hexdigest() == hashlib.sha256(data[1000:]).hexdigest(), "retrbinary rest=1000")

# Text round trip (TYPE A): LF on disk, CRLF on the wire, lines back.
text = b"alpha\nbeta\n\ngamma\n"
r = ftp.storlines("STOR text.txt", io.BytesIO(text))
check(r.startswith("226"), "storlines: " + r)
lines = []
ftp.retrlines("RETR text.txt", lines.append)
check(lines == ["alpha", "beta", "", "gamma"], "retrlines: %r" % lines)
raw = bytearray()
ftp.retrbinary("RETR text.txt", raw.extend)
check(bytes(raw) == text, "stored with LF: %r" % bytes(raw))
check(ftp.size("text.txt") == len(text), "size text.txt")

# Listings.
check(sorted(ftp.nlst()) == ["blob.bin", "text.txt"], "nlst: %r" % ftp.nlst())
listing = []
ftp.retrlines("LIST", listing.append)
check(any(l.endswith(" blob.bin") and l.startswith("-") for l in listing), "list: %r" % listing)
facts = dict(ftp.mlsd())
check(set(facts) == {"blob.bin", "text.txt"}, "mlsd names: %r" % sorted(facts))
b = facts.get("blob.bin", {})
check(b.get("type") == "file", "mlsd type: %r" % b)
check(b.get("size") == str(len(data)), "mlsd size: %r" % b)
check(len(b.get("modify", "")) >= 14, "mlsd modify: %r" % b)
check("r" in b.get("perm", "") and "w" in b.get("perm", ""), "mlsd perm: %r" % b)
facts = dict(ftp.mlsd("/", facts=["type", "size"]))
check(facts.get("work", {}).get("type") == "dir", "mlsd / facts: %r" % facts)

# Rename, delete, rmd.
check(ftp.rename("blob.bin", "renamed.bin").startswith("250"), "rename")
check(sorted(ftp.nlst()) == ["renamed.bin", "text.txt"], "nlst after rename")
expect_error("550", ftp.rename, "blob.bin", "x.bin")
check(ftp.delete("renamed.bin").startswith("250"), "delete")
expect_error("550", ftp.delete, "renamed.bin")
ftp.delete("text.txt")
ftp.cwd("..")
expect_error("550", ftp.rmd, "missing")
ftp.rmd("work")
check("work" not in ftp.nlst(), "rmd removed work")

# ABOR during a large RETR: 426 for the transfer, then 226 for the ABOR, and the session
# keeps working. ftplib sends ABOR as urgent (MSG_OOB) data.
conn = ftp.transfercmd("RETR huge.bin")
got = 0
while got < 1024 * 1024:
    chunk = conn.recv(65536)
    if not chunk:
        break
    got += len(chunk)
t0 = time.time()
first = ftp.abort()
check(first.startswith("426"), "abort first reply: " + first)
second = ftp.getmultiline()
check(second.startswith("226"), "abort second reply: " + second)
check(time.time() - t0 < 5, "abort answered promptly")
conn.close()
check(ftp.voidcmd("NOOP").startswith("200"), "NOOP after ABOR")
check(ftp.size("huge.bin") == int(sys.argv[2]), "size after ABOR")
h = hashlib.sha256()
ftp.retrbinary("RETR small.bin", h.update)
check(h.hexdigest() == sys.argv[3], "transfer after ABOR")

check(ftp.quit().startswith("221"), "quit")
if failures:
    print("%d failure(s)" % len(failures), file=sys.stderr)
    sys.exit(1)
print("ok")
"#;

#[test]
fn python_ftplib_session() {
    if !need("python3") {
        return;
    }
    let srv = Server::start(&[]);
    let huge = random_bytes(16 << 20, 111);
    std::fs::write(srv.path("huge.bin"), &huge).unwrap();
    let small = random_bytes(100_000, 112);
    std::fs::write(srv.path("small.bin"), &small).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("client.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let (ok, out, err) = run_limited(
        Command::new("python3")
            .arg(&script)
            .arg(srv.addr.port().to_string())
            .arg(huge.len().to_string())
            .arg(sha256(&small)),
        60,
    );
    assert!(
        ok && out.trim() == "ok",
        "ftplib script failed\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n--- server log ---\n{}",
        plain_log(&srv)
    );
    let cmds = commands(&srv);
    for want in [
        "MKD work",
        "TYPE A",
        "MLSD",
        "RNFR blob.bin",
        "RMD work",
        "ABOR",
    ] {
        assert!(cmds.iter().any(|c| c == want), "{want} not seen: {cmds:?}");
    }
}
