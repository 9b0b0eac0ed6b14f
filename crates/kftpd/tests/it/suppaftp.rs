//! The `suppaftp` crate (sync API) against the real server, in passive, extended-passive
//! and active mode; its LIST and MLSD parsers must understand what kftpd sends.

use crate::harness::*;
use std::io::{Cursor, Read};
use std::str::FromStr;
use std::time::Duration;
use suppaftp::list::File;
use suppaftp::types::FileType;
use suppaftp::{FtpError, FtpStream, Mode, Status};

fn connect(srv: &Server, mode: Mode) -> FtpStream {
    let mut ftp = FtpStream::connect_timeout(srv.addr, Duration::from_secs(10)).unwrap();
    ftp.get_ref()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    ftp = match mode {
        Mode::Active => ftp.active_mode(Duration::from_secs(10)),
        m => {
            ftp.set_mode(m);
            ftp
        }
    };
    ftp.login(USER, PASS).unwrap();
    ftp.transfer_type(FileType::Binary).unwrap();
    ftp
}

fn code(e: &FtpError) -> Option<Status> {
    match e {
        FtpError::UnexpectedResponse(r) => Some(r.status),
        _ => None,
    }
}

/// The whole client surface in one mode.
fn session(mode: Mode) {
    let srv = Server::start(&[]);
    let mut ftp = connect(&srv, mode);
    assert_eq!(ftp.pwd().unwrap(), "/");
    ftp.mkdir("box").unwrap();
    let e = ftp.mkdir("box").unwrap_err();
    assert_eq!(code(&e), Some(Status::FileUnavailable), "{e}");
    ftp.cwd("box").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/box");

    let data = random_bytes((4 << 20) + 321, 121);
    let n = ftp.put_file("p.bin", &mut Cursor::new(&data)).unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(
        sha256(&std::fs::read(srv.path("box/p.bin")).unwrap()),
        sha256(&data)
    );
    let got = ftp.retr_as_buffer("p.bin").unwrap().into_inner();
    assert_eq!(sha256(&got), sha256(&data), "retr_as_buffer is byte-exact");
    assert_eq!(ftp.size("p.bin").unwrap(), data.len());

    // LIST lines parse as POSIX listings; MLSD lines as facts.
    let list = ftp.list(None).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    let f = File::from_str(&list[0]).unwrap_or_else(|e| panic!("{:?}: {e:?}", list[0]));
    assert!(
        f.is_file() && f.name() == "p.bin" && f.size() == data.len(),
        "{f:?}"
    );
    // suppaftp's MLSx parser insists on a 3-digit unix.mode; kftpd sends 4 digits as
    // ProFTPD and Pure-FTPd do, so check the facts here (uploads are created 0640).
    let mlsd = ftp.mlsd(None).unwrap();
    assert_eq!(mlsd.len(), 1, "{mlsd:?}");
    let (facts, name) = mlsd[0].split_once("; ").unwrap();
    assert_eq!(name, "p.bin");
    let facts: Vec<&str> = facts.split(';').collect();
    assert!(facts.contains(&"type=file"), "{facts:?}");
    assert!(
        facts.contains(&format!("size={}", data.len()).as_str()),
        "{facts:?}"
    );
    assert!(facts.contains(&"unix.mode=0640"), "{facts:?}");
    ftp.cdup().unwrap();
    let root = ftp.list(None).unwrap();
    let d = File::from_str(&root[0]).unwrap();
    assert!(d.is_directory() && d.name() == "box", "{d:?}");
    assert_eq!(ftp.nlst(Some("box")).unwrap(), vec!["p.bin".to_string()]);

    // Resume a download: REST then RETR.
    ftp.resume_transfer(1_000_000).unwrap();
    let mut s = ftp.retr_as_stream("box/p.bin").unwrap();
    let mut tail = Vec::new();
    s.read_to_end(&mut tail).unwrap();
    ftp.finalize_retr_stream(s).unwrap();
    assert_eq!(tail, data[1_000_000..]);

    // Resume an upload: REST then STOR continues the existing file.
    std::fs::write(srv.path("r.bin"), &data[..2_000_000]).unwrap();
    ftp.resume_transfer(2_000_000).unwrap();
    ftp.put_file("r.bin", &mut Cursor::new(&data[2_000_000..]))
        .unwrap();
    assert_eq!(
        sha256(&std::fs::read(srv.path("r.bin")).unwrap()),
        sha256(&data)
    );
    // APPE.
    let n = ftp
        .append_file("r.bin", &mut Cursor::new(b"tail".to_vec()))
        .unwrap();
    assert_eq!(n, 4);
    assert_eq!(
        std::fs::read(srv.path("r.bin")).unwrap().len(),
        data.len() + 4
    );

    // Rename, delete, rmdir.
    ftp.rename("box/p.bin", "moved.bin").unwrap();
    assert!(srv.path("moved.bin").exists() && !srv.path("box/p.bin").exists());
    let e = ftp.rename("box/p.bin", "x").unwrap_err();
    assert_eq!(code(&e), Some(Status::FileUnavailable), "{e}");
    ftp.rm("moved.bin").unwrap();
    assert!(!srv.path("moved.bin").exists());
    let e = ftp.rm("moved.bin").unwrap_err();
    assert_eq!(code(&e), Some(Status::FileUnavailable), "{e}");
    ftp.rmdir("box").unwrap();
    assert!(!srv.path("box").exists());

    // ABOR with a RETR in flight: 426 then 226, and the session goes on.
    std::fs::write(srv.path("huge.bin"), random_bytes(16 << 20, 122)).unwrap();
    let mut s = ftp.retr_as_stream("huge.bin").unwrap();
    let mut buf = vec![0u8; 1 << 16];
    s.read_exact(&mut buf).unwrap();
    ftp.abort(s).unwrap();
    ftp.noop().unwrap();
    assert_eq!(ftp.size("huge.bin").unwrap(), 16 << 20);
    ftp.quit().unwrap();
}

#[test]
fn suppaftp_passive() {
    session(Mode::Passive);
}

#[test]
fn suppaftp_extended_passive() {
    session(Mode::ExtendedPassive);
}

#[test]
fn suppaftp_active() {
    session(Mode::Active);
}
