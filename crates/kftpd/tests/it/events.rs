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

/// A tiny HTTP server (the peer of the webhooks, in a thread): records each POST body and
/// answers with `answer(body)`: a status and a body, or `None` to never answer.
struct Hook {
    url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

type Answer = dyn Fn(&str) -> Option<(u16, String)> + Send + Sync;

impl Hook {
    fn start(answer: impl Fn(&str) -> Option<(u16, String)> + Send + Sync + 'static) -> Hook {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", l.local_addr().unwrap());
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (b, answer): (_, std::sync::Arc<Answer>) =
            (bodies.clone(), std::sync::Arc::new(answer));
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let (b, answer) = (b.clone(), answer.clone());
                std::thread::spawn(move || serve_one(conn, &b, &*answer));
            }
        });
        Hook { url, bodies }
    }

    fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

fn serve_one(conn: std::net::TcpStream, bodies: &std::sync::Mutex<Vec<String>>, answer: &Answer) {
    use std::io::BufRead;
    let mut r = std::io::BufReader::new(conn.try_clone().unwrap());
    let mut len = 0usize;
    let mut first = String::new();
    if r.read_line(&mut first).unwrap_or(0) == 0 || !first.starts_with("POST ") {
        return;
    }
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    let body = String::from_utf8(body).unwrap();
    let reply = answer(&body);
    bodies.lock().unwrap().push(body);
    match reply {
        Some((code, text)) => {
            let mut w = conn;
            let _ = write!(
                w,
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
        // Never answer: hold the connection until the client gives up.
        None => std::thread::sleep(Duration::from_secs(30)),
    }
}

fn kinds(bodies: &[String]) -> Vec<String> {
    bodies
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn webhooks_and_programs_are_repeatable_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.jsonl");
    let prog = script(dir.path(), &format!("cat >> '{}'", out.display()));
    let ok = Hook::start(|_| Some((200, String::new())));
    // The second hook fails its first request (503): the event must arrive on a retry.
    let failed_once = std::sync::atomic::AtomicBool::new(false);
    let flaky = Hook::start(move |_| {
        if failed_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Some((200, String::new()))
        } else {
            Some((503, "busy".into()))
        }
    });
    let srv = Server::start(&[
        "--event-webhook",
        &ok.url,
        "--event-webhook",
        &flaky.url,
        "--event-exec",
        prog.to_str().unwrap(),
    ]);
    let mut c = srv.login();
    put(&mut c, "w.txt", b"webhook bytes");
    c.expect("QUIT", 221);
    let want = ["login", "upload", "logout"];
    assert!(
        crate::util::wait_until(15, || kinds(&ok.bodies()) == want),
        "{:?}\n{}",
        ok.bodies(),
        srv.log_text()
    );
    // login (503, then retried), upload, logout.
    assert!(
        crate::util::wait_until(15, || flaky.bodies().len() == 4),
        "{:?}\n{}",
        flaky.bodies(),
        srv.log_text()
    );
    assert_eq!(
        kinds(&flaky.bodies()),
        ["login", "login", "upload", "logout"]
    );
    assert!(crate::util::wait_until(15, || std::fs::read_to_string(
        &out
    )
    .unwrap_or_default()
    .lines()
    .count()
        == 3));
    let up: serde_json::Value = serde_json::from_str(&ok.bodies()[1]).unwrap();
    assert_eq!(up["path"], "/w.txt");
    assert_eq!(up["size"], 13);
    assert_eq!(up["user"], USER);
    assert_eq!(up["ok"], true);
    assert!(up.get("local_path").is_none(), "only the sync hook gets it");
}

#[test]
fn a_synchronous_hook_decides_whether_an_upload_is_kept() {
    // The hook reads the bytes where `local_path` says, checks the final name is not there
    // yet, and refuses files that contain "EICAR".
    let root_seen = std::sync::Arc::new(std::sync::Mutex::new(None::<std::path::PathBuf>));
    let seen = root_seen.clone();
    let hook = Hook::start(move |body| {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let local = std::path::PathBuf::from(v["local_path"].as_str().unwrap());
        let bytes = std::fs::read(&local).unwrap();
        let root = seen.lock().unwrap().clone().unwrap();
        let final_name = root.join(v["path"].as_str().unwrap().trim_start_matches('/'));
        if final_name.exists() {
            return Some((500, "the final name existed during the hold".into()));
        }
        if bytes.windows(5).any(|w| w == b"EICAR") {
            Some((
                403,
                "infected: EICAR test file\r\nInjected: 230 not a reply".into(),
            ))
        } else {
            Some((204, String::new()))
        }
    });
    let srv = Server::start(&["--event-webhook-sync", &hook.url]);
    *root_seen.lock().unwrap() = Some(std::fs::canonicalize(srv.root()).unwrap());
    let mut c = srv.login();
    put(&mut c, "clean.txt", b"nothing to see");
    assert_eq!(
        std::fs::read(srv.path("clean.txt")).unwrap(),
        b"nothing to see"
    );
    let mut d = c.epsv();
    c.expect("STOR bad.txt", 150);
    d.write_all(b"xx EICAR xx").unwrap();
    drop(d);
    let r = c.read();
    assert_eq!(r.code, 550, "{r}");
    assert!(
        r.text().contains("infected: EICAR test file") && !r.text().contains("Injected"),
        "{r}"
    );
    assert!(!srv.path("bad.txt").exists());
    assert!(
        !crate::util::part_path(&srv, "bad.txt").exists(),
        "no part file left"
    );
    // The session goes on.
    c.expect("NOOP", 200);
    c.expect("QUIT", 221);
    assert_eq!(hook.bodies().len(), 2);
    let first: serde_json::Value = serde_json::from_str(&hook.bodies()[0]).unwrap();
    assert_eq!(first["event"], "upload");
    assert_eq!(first["size"], 14);
}

#[test]
fn a_synchronous_hook_that_does_not_answer_refuses_the_upload() {
    if !kftp_testkit::need("curl") {
        return;
    }
    let hook = Hook::start(|_| None);
    let srv = Server::start(&["--event-webhook-sync", &hook.url, "--event-timeout", "1"]);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("f.bin");
    std::fs::write(&src, random_bytes(100_000, 7)).unwrap();
    let (ok, _, err) = crate::util::run_limited(
        std::process::Command::new("curl").args([
            "-sS",
            "--max-time",
            "30",
            "-T",
            src.to_str().unwrap(),
            &format!("{}/f.bin", srv.url()),
        ]),
        40,
    );
    assert!(!ok && err.contains("550"), "{err}");
    assert!(!srv.path("f.bin").exists());
    assert!(srv.log_text().contains("upload hook unreachable"));
}
