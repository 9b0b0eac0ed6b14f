//! Helpers shared by the third-party-client modules (curl, lftp, ftplib, suppaftp) and the
//! transfer and jail tests.
#![allow(dead_code)] // Shared by test modules; not every module uses every helper.

use crate::harness::*;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Closes a TCP connection with a RST (SO_LINGER 0) instead of a FIN, so the peer sees
/// the connection break rather than end.
pub fn reset(s: TcpStream) {
    rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
    drop(s);
}

/// Polls `cond` every 20 ms for up to `secs`; whether it became true.
pub fn wait_until(secs: u64, cond: impl FnMut() -> bool) -> bool {
    kftp_testkit::wait_until(Duration::from_secs(secs), cond)
}

/// Size of a file, 0 if missing.
pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The hidden part file of an upload to `name` in the root.
pub fn part_path(srv: &Server, name: &str) -> std::path::PathBuf {
    srv.path(&format!(".{name}.kftp-part"))
}

/// Starts `STOR name` on a raw session, sends `data`, waits until the server has stored
/// all of it, then breaks the data connection (RST). Returns the session after the
/// failure reply, which must be 426.
pub fn interrupted_upload(srv: &Server, name: &str, data: &[u8]) -> Ctl {
    let before = std::fs::read(srv.path(name)).ok();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut d = c.epsv();
    c.expect(&format!("STOR {name}"), 150);
    d.write_all(data).unwrap();
    d.flush().unwrap();
    let part = part_path(srv, name);
    assert!(
        wait_until(20, || file_len(&part) == data.len() as u64),
        "the server did not store {} bytes in {} (has {})",
        data.len(),
        part.display(),
        file_len(&part)
    );
    reset(d);
    let r = c.read();
    assert_eq!(r.code, 426, "a broken upload ends with 426: {r}");
    assert_eq!(
        std::fs::read(srv.path(name)).ok(),
        before,
        "an interrupted upload must not appear under its final name"
    );
    c
}

/// The server log without ANSI colour codes.
pub fn plain_log(srv: &Server) -> String {
    strip_ansi(&srv.log_text())
}

/// Removes ANSI escape sequences.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(ch) = it.next() {
        if ch == '\x1b' && it.peek() == Some(&'[') {
            for c in it.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(ch);
    }
    out
}

/// Commands the server received, in order (from its debug log).
pub fn commands(srv: &Server) -> Vec<String> {
    plain_log(srv)
        .lines()
        .filter_map(|l| l.split_once(" cmd=").map(|(_, c)| c.trim().to_string()))
        .collect()
}

/// Runs a command with a hard time limit (the tool's own timeouts are the first line of
/// defence; this one keeps a hung tool from hanging the test run).
pub fn run_limited(cmd: &mut Command, secs: u64) -> (bool, String, String) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let mut err = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    if status.is_none() {
        err.push_str(&format!("\n[killed after {secs} s: {cmd:?}]"));
    }
    (status.is_some_and(|s| s.success()), out, err)
}
