//! The jail: every way out of the root is refused, and nothing outside it is read or
//! written. Destructive attempts aim at a temp directory of the test's own (through
//! symlinks planted in the root), never at system files.

use crate::harness::*;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::Duration;

/// A server whose root holds `sub/f.txt`, links to `/etc`, to an outside directory and
/// file of the test's own, a climbing relative link, and links that stay inside.
struct Jail {
    srv: Server,
    outside: tempfile::TempDir,
}

fn jail() -> Jail {
    let srv = Server::start(&[]);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"outside secret\n").unwrap();
    std::fs::create_dir(outside.path().join("empty")).unwrap();
    std::fs::create_dir(srv.path("sub")).unwrap();
    std::fs::write(srv.path("sub/f.txt"), b"inside\n").unwrap();
    std::fs::write(srv.path("mine.txt"), b"mine\n").unwrap();
    symlink("/etc", srv.path("etc-link")).unwrap();
    symlink(outside.path(), srv.path("odir")).unwrap();
    symlink(outside.path().join("secret.txt"), srv.path("ofile")).unwrap();
    symlink("../../..", srv.path("up")).unwrap();
    symlink("sub", srv.path("inside")).unwrap();
    symlink("sub/f.txt", srv.path("fl")).unwrap();
    symlink("../sub/f.txt", srv.path("sub/back")).unwrap();
    Jail { srv, outside }
}

impl Jail {
    fn secret(&self) -> Vec<u8> {
        std::fs::read(self.outside.path().join("secret.txt")).unwrap()
    }
    /// The outside directory's entries, sorted.
    fn outside_names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.outside.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// A transfer command with a passive data connection ready: the reply must be `code`
/// (no 150), and the data connection must carry nothing.
fn refused_with_data(c: &mut Ctl, cmd: &str, code: u16) {
    let mut d = c.epsv();
    let r = c.cmd(cmd);
    assert_eq!(r.code, code, "{cmd} -> {r}");
    // ABOR drops the unused passive listener, which ends our queued connection.
    c.expect("ABOR", 226);
    d.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    let n = d.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "{cmd}: data leaked: {:?}", &buf[..n]);
}

#[test]
fn dotdot_and_absolute_paths_stay_inside() {
    let j = jail();
    let mut c = j.srv.login();
    for p in [
        "../../../../etc/passwd",
        "/etc/passwd",
        "/../../etc/passwd",
        "sub/../../../etc/passwd",
        "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2f..%2fetc%2fpasswd",
        "....//....//etc/passwd",
    ] {
        refused_with_data(&mut c, &format!("RETR {p}"), 550);
        c.expect(&format!("SIZE {p}"), 550);
    }
    // `..` above the root is the root.
    c.expect("CWD ..", 250);
    assert_eq!(
        c.expect("PWD", 257).text(),
        "\"/\" is the current directory."
    );
    c.expect("CWD ../../..", 250);
    assert_eq!(
        c.expect("PWD", 257).text(),
        "\"/\" is the current directory."
    );
    c.expect("CDUP", 250);
    assert_eq!(
        c.expect("PWD", 257).text(),
        "\"/\" is the current directory."
    );
    c.expect("CWD %2e%2e", 550);
    // `../mine.txt` from the root is /mine.txt.
    c.expect("SIZE ../../mine.txt", 213);
    // A listing of `..` at the root is the root.
    let d = c.epsv();
    c.expect("NLST ../..", 150);
    let names = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(c.read().code, 226);
    assert!(
        names.contains("mine.txt\r\n") && !names.contains("passwd"),
        "{names}"
    );
}

#[test]
fn symlink_to_etc_is_refused() {
    let j = jail();
    let mut c = j.srv.login();
    c.expect("CWD etc-link", 550);
    assert_eq!(
        c.expect("PWD", 257).text(),
        "\"/\" is the current directory."
    );
    refused_with_data(&mut c, "RETR etc-link/passwd", 550);
    refused_with_data(&mut c, "LIST etc-link", 550);
    refused_with_data(&mut c, "LIST etc-link/", 550);
    refused_with_data(&mut c, "NLST etc-link/*", 550);
    refused_with_data(&mut c, "MLSD etc-link", 550);
    c.expect("SIZE etc-link/passwd", 550);
    c.expect("MDTM etc-link/passwd", 550);
    c.expect("MLST etc-link/passwd", 550);
    c.expect("STAT etc-link", 550);
    c.expect("HASH etc-link/passwd", 550);
    c.expect("XMD5 etc-link/passwd", 550);
    // The link itself shows in listings (as a link), never what is behind it.
    let d = c.epsv();
    c.expect("LIST", 150);
    let list = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(c.read().code, 226);
    assert!(!list.contains("passwd"), "{list}");
}

#[test]
fn symlink_to_outside_file_and_dir() {
    let j = jail();
    let before = j.secret();
    let mut c = j.srv.login();
    c.expect("TYPE I", 200);
    refused_with_data(&mut c, "RETR ofile", 550);
    refused_with_data(&mut c, "RETR odir/secret.txt", 550);
    c.expect("SIZE ofile", 550);
    // Writing through the link: STOR, REST+STOR, APPE, STOU-by-name all refused.
    refused_with_data(&mut c, "STOR ofile", 550);
    c.expect("REST 3", 350);
    refused_with_data(&mut c, "STOR ofile", 550);
    refused_with_data(&mut c, "APPE ofile", 550);
    refused_with_data(&mut c, "STOR odir/new.txt", 550);
    refused_with_data(&mut c, "STOR odir/secret.txt", 550);
    // Namespace operations through the link.
    c.expect("DELE odir/secret.txt", 550);
    c.expect("RNFR odir/secret.txt", 550);
    c.expect("RNFR mine.txt", 350);
    c.expect("RNTO odir/stolen.txt", 550);
    c.expect("MKD odir/made", 550);
    c.expect("RMD odir/empty", 550);
    c.expect("SITE CHMOD 777 ofile", 550);
    c.expect("SITE CHMOD 777 odir/secret.txt", 550);
    c.expect("MFMT 20000101000000 ofile", 550);
    c.expect("CWD odir", 550);
    // Nothing outside changed.
    assert_eq!(j.secret(), before);
    assert_eq!(j.outside_names(), vec!["empty", "secret.txt"]);
    let mode = std::fs::metadata(j.outside.path().join("secret.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o777, 0o777);
    assert_eq!(std::fs::read(j.srv.path("mine.txt")).unwrap(), b"mine\n");
    // The link is still a link (a refused STOR did not replace it).
    assert!(std::fs::symlink_metadata(j.srv.path("ofile"))
        .unwrap()
        .file_type()
        .is_symlink());
    // RNTO onto the link replaces the link itself (rename never follows it): the file
    // stays inside and the outside file is untouched.
    c.expect("RNFR mine.txt", 350);
    c.expect("RNTO ofile", 250);
    assert_eq!(std::fs::read(j.srv.path("ofile")).unwrap(), b"mine\n");
    assert_eq!(j.secret(), before);
    assert_eq!(j.outside_names(), vec!["empty", "secret.txt"]);
}

#[test]
fn relative_symlink_climbing_out() {
    let j = jail();
    let mut c = j.srv.login();
    c.expect("CWD up", 550);
    refused_with_data(&mut c, "LIST up", 550);
    refused_with_data(&mut c, "RETR up/etc/passwd", 550);
    c.expect("SIZE up/etc/passwd", 550);
    c.expect("CWD sub", 250);
    // `sub/back` is `../sub/f.txt`: it climbs but stays inside.
    let d = c.epsv();
    c.expect("RETR back", 150);
    assert_eq!(read_all(d), b"inside\n");
    assert_eq!(c.read().code, 226);
}

#[test]
fn symlinks_that_stay_inside_work() {
    let j = jail();
    let mut c = j.srv.login();
    c.expect("CWD inside", 250);
    let d = c.epsv();
    c.expect("RETR f.txt", 150);
    assert_eq!(read_all(d), b"inside\n");
    assert_eq!(c.read().code, 226);
    c.expect("CDUP", 250);
    let d = c.epsv();
    c.expect("RETR fl", 150);
    assert_eq!(read_all(d), b"inside\n");
    assert_eq!(c.read().code, 226);
    assert_eq!(c.expect("SIZE inside/f.txt", 213).text(), "7");
    let d = c.epsv();
    c.expect("NLST inside", 150);
    assert_eq!(read_all(d), b"back\r\nf.txt\r\n");
    assert_eq!(c.read().code, 226);
}

#[test]
fn nul_bytes_and_odd_lines_do_not_crash() {
    let j = jail();
    let mut c = j.srv.login();
    for raw in [
        &b"RETR sub\0/../../../etc/passwd\r\n"[..],
        b"CWD \0\r\n",
        b"STOR a\0b\r\n",
        b"DELE mine.txt\0.bak\r\n",
        b"MKD x\0y\r\n",
        b"\0\0\0\r\n",
        b"RETR \xff\xfe\r\n",
    ] {
        c.send_raw(raw);
        let r = c.read();
        assert!(
            (500..600).contains(&r.code) || r.code == 425,
            "{:?} -> {r}",
            String::from_utf8_lossy(raw)
        );
        c.expect("NOOP", 200);
    }
    assert!(j.srv.path("mine.txt").exists());
    assert!(!j.srv.path("x").exists() && !j.srv.path("a").exists());
    // The server process is alive and serves new sessions.
    let mut c2 = j.srv.login();
    c2.expect("PWD", 257);
}

#[test]
fn part_file_names_are_reserved() {
    let j = jail();
    std::fs::write(j.srv.path(".x.kftp-part"), b"upload in flight").unwrap();
    let mut c = j.srv.login();
    refused_with_data(&mut c, "RETR .x.kftp-part", 553);
    refused_with_data(&mut c, "STOR .x.kftp-part", 553);
    refused_with_data(&mut c, "APPE .x.kftp-part", 553);
    refused_with_data(&mut c, "STOR sub/.y.kftp-part", 553);
    c.expect("DELE .x.kftp-part", 553);
    c.expect("SIZE .x.kftp-part", 553);
    c.expect("RNFR .x.kftp-part", 553);
    c.expect("RNFR mine.txt", 350);
    c.expect("RNTO .x.kftp-part", 553);
    c.expect("MKD .d.kftp-part", 553);
    c.expect("SITE CHMOD 600 .x.kftp-part", 553);
    assert_eq!(
        std::fs::read(j.srv.path(".x.kftp-part")).unwrap(),
        b"upload in flight"
    );
    assert!(j.srv.path("mine.txt").exists());
    // And they never show in listings.
    let d = c.epsv();
    c.expect("LIST -a", 150);
    let list = String::from_utf8(read_all(d)).unwrap();
    assert_eq!(c.read().code, 226);
    assert!(!list.contains("kftp-part"), "{list}");
}
