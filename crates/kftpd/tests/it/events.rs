//! `--event-exec` (issue #18 item 3): one JSON object per event on a program's stdin, and a
//! slow program never holds up a session.

use crate::harness::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn script(dir: &Path, body: &str) -> std::path::PathBuf {
    let p = dir.join("event.sh");
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn put(c: &mut Ctl, name: &str, data: &[u8]) {
    let mut d = c.epsv();
    c.expect(&format!("STOR {name}"), 150);
    d.write_all(data).unwrap();
    drop(d);
    assert_eq!(c.read().code, 226);
}

#[test]
fn events_reach_the_program_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let prog = script(dir.path(), &format!("cat >> '{}'", out.display()));
    let srv = Server::start(&["--event-exec", prog.to_str().unwrap()]);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    put(&mut c, "a.txt", b"hello events");
    let mut d = c.epsv();
    c.expect("RETR a.txt", 150);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(c.read().code, 226);
    c.expect("MKD dir", 257);
    c.expect("RNFR a.txt", 350);
    c.expect("RNTO dir/b.txt", 250);
    c.expect("DELE dir/b.txt", 250);
    c.expect("QUIT", 221);
    let lines = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(
        crate::util::wait_until(15, || lines().len() >= 7),
        "{:?}\n{}",
        lines(),
        srv.log_text()
    );
    let lines = lines();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| {
            let i = l.find("\"event\":\"").unwrap() + 9;
            &l[i..i + l[i..].find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        kinds,
        ["login", "upload", "download", "mkdir", "rename", "delete", "logout"]
    );
    let up = &lines[1];
    for want in [
        &format!("\"user\":\"{USER}\""),
        "\"peer\":\"127.0.0.1\"",
        "\"path\":\"/a.txt\"",
        "\"size\":12",
        "\"ok\":true",
        "\"data_path\":\"",
        "\"duration_ms\":",
    ] {
        assert!(up.contains(want), "{want} not in {up}");
    }
    assert!(
        lines[4].contains("\"from\":\"/a.txt\"") && lines[4].contains("\"path\":\"/dir/b.txt\"")
    );
}

#[test]
fn a_slow_event_program_never_stalls_a_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let prog = script(dir.path(), "sleep 30");
    let srv = Server::start(&[
        "--event-exec",
        prog.to_str().unwrap(),
        "--event-timeout",
        "1",
    ]);
    let started = Instant::now();
    let mut c = srv.login();
    for i in 0..5 {
        put(&mut c, &format!("f{i}"), &random_bytes(10_000, i));
    }
    c.expect("QUIT", 221);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        crate::util::wait_until(10, || srv.log_text().contains("event program timed out")),
        "{}",
        srv.log_text()
    );
}
