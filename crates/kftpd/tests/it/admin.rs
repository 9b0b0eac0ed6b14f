//! The admin API (`--admin-listen`): token, sessions (list with a running transfer's
//! progress, kick), users (add, password, disable, enable), reload, and `kftpd admin`.

use crate::harness::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A kftpd with its own users file (the API edits it) and the admin API on loopback.
struct Admin {
    srv: Running,
    ftp: SocketAddr,
    api: SocketAddr,
    token: String,
}

impl Admin {
    fn start(extra: &[&str]) -> Admin {
        Admin::start_on("127.0.0.1:0", false, extra)
    }

    /// `tls`: FTPS on (a self-signed certificate in the state directory).
    fn start_on(admin_listen: &str, tls: bool, extra: &[&str]) -> Admin {
        let srv = kftp_testkit::Server::new()
            .bin(env!("CARGO_BIN_EXE_kftpd"))
            .user(USER, PASS)
            .args(["--admin-listen", admin_listen])
            .args(if tls { &[][..] } else { &["--no-tls"][..] })
            .args(extra)
            .start();
        let ftp = srv.addr;
        let text = srv.wait_log("admin API listening", 1);
        let api = text
            .lines()
            .find(|l| l.contains("admin API listening"))
            .and_then(|l| l.split("addr=").nth(1))
            .and_then(|a| a.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no admin address in log:\n{text}"));
        let d = srv.dir();
        let token = std::fs::read_to_string(d.join("state/admin-token"))
            .unwrap()
            .trim()
            .to_string();
        Admin {
            srv,
            ftp,
            api,
            token,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.srv.dir().join(rel)
    }

    /// One request with the right token.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        http(self.api, method, path, Some(&self.token), body)
    }

    fn login_code(&self, user: &str, pass: &str) -> u16 {
        let mut c = Ctl::connect(self.ftp);
        c.expect(&format!("USER {user}"), 331);
        c.cmd(&format!("PASS {pass}")).code
    }
}

/// A raw HTTP/1.1 request; returns the status and the JSON body (`Null` if none).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    req.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    let (head, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn admin_token_sessions_and_kick() {
    let srv = Admin::start(&["--rate-session", "1M"]);
    let token_file = srv.path("state/admin-token");
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(srv.token.len(), 64);
    // Without the token, with a wrong one, with one of another length: 401.
    let (code, body) = http(srv.api, "GET", "/api/v1/sessions", None, None);
    assert_eq!(code, 401);
    assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    let wrong = "0".repeat(64);
    assert_eq!(
        http(srv.api, "GET", "/api/v1/sessions", Some(&wrong), None).0,
        401
    );
    assert_eq!(
        http(srv.api, "GET", "/api/v1/users", Some("x"), None).0,
        401
    );
    assert_eq!(
        http(srv.api, "DELETE", "/api/v1/sessions/1", None, None).0,
        401
    );

    // A logged-in session with a slow download (1 MB/s on 16 MiB).
    let data = random_bytes(16 << 20, 3);
    std::fs::write(srv.path("root/big.bin"), &data).unwrap();
    let mut c = Ctl::connect(srv.ftp);
    let (_, list) = srv.call("GET", "/api/v1/sessions", None);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert!(list[0]["user"].is_null(), "{list}");
    c.expect(&format!("USER {USER}"), 331);
    c.expect(&format!("PASS {PASS}"), 230);
    let mut d = c.epsv();
    c.expect("RETR big.bin", 150);
    let mut first = vec![0u8; 64 << 10];
    d.read_exact(&mut first).unwrap();
    let reader = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = d.read_to_end(&mut sink);
        sink.len()
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let session = loop {
        let (code, list) = srv.call("GET", "/api/v1/sessions", None);
        assert_eq!(code, 200);
        let s = list[0].clone();
        if s["transfer"]["bytes"].as_u64().unwrap_or(0) > 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "no transfer progress: {list}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(session["user"], USER, "{session}");
    assert_eq!(
        session["peer"].as_str().unwrap(),
        c.socket().local_addr().unwrap().to_string()
    );
    assert!(
        session["since"].as_u64().unwrap() > 1_700_000_000,
        "{session}"
    );
    let t = &session["transfer"];
    assert_eq!(t["verb"], "RETR", "{session}");
    assert!(t["path"].as_str().unwrap().contains("big.bin"), "{session}");
    assert_eq!(t["total"].as_u64(), Some(data.len() as u64), "{session}");
    assert!(
        t["bytes"].as_u64().unwrap() < data.len() as u64,
        "{session}"
    );
    let id = session["id"].as_u64().unwrap();

    // The CLI prints the same session.
    let (ok, out, err) = run(Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args([
            "admin",
            "--admin-url",
            &format!("http://{}", srv.api),
            "--state-dir",
        ])
        .arg(srv.path("state"))
        .arg("sessions"));
    assert!(ok, "{out}\n{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&id.to_string()))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains(USER) && row.contains("RETR") && row.contains("big.bin"),
        "{out}"
    );
    let (ok, out, _) = run(Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args([
            "admin",
            "--admin-url",
            &format!("http://{}", srv.api),
            "--token-file",
        ])
        .arg(&token_file)
        .args(["--json", "users"]));
    assert!(ok && out.contains("\"alice\""), "{out}");

    // Kick: the transfer is aborted, then 421, then EOF.
    let (code, body) = srv.call("DELETE", &format!("/api/v1/sessions/{id}"), None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(c.read().code, 426);
    let r = c.read();
    assert_eq!(r.code, 421, "{r}");
    let mut rest = Vec::new();
    let n = c
        .socket()
        .try_clone()
        .unwrap()
        .read_to_end(&mut rest)
        .unwrap();
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&rest));
    assert!(reader.join().unwrap() < data.len());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv
        .call("GET", "/api/v1/sessions", None)
        .1
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "kicked session still listed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        srv.call("DELETE", &format!("/api/v1/sessions/{id}"), None)
            .0,
        404
    );
    let (code, body) = srv.call("DELETE", "/api/v1/sessions/abc", None);
    assert_eq!(code, 404);
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(srv.call("GET", "/api/v1/nothing", None).0, 404);
    // An idle session is kicked as well (the wait for its next command wakes).
    let mut idle = Ctl::connect(srv.ftp);
    let (_, list) = srv.call("GET", "/api/v1/sessions", None);
    let id = list[0]["id"].as_u64().unwrap();
    assert_eq!(
        srv.call("DELETE", &format!("/api/v1/sessions/{id}"), None)
            .0,
        200
    );
    assert_eq!(idle.read().code, 421);
    // A session waiting for its transfer to end before the next command (PWD sent during
    // a RETR) is kicked too: the transfer is aborted, PWD answered, then 421.
    let mut c = Ctl::connect(srv.ftp);
    c.expect(&format!("USER {USER}"), 331);
    c.expect(&format!("PASS {PASS}"), 230);
    let mut d = c.epsv();
    c.expect("RETR big.bin", 150);
    d.read_exact(&mut first).unwrap();
    c.send_raw(b"PWD\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let (_, list) = srv.call("GET", "/api/v1/sessions", None);
    let id = list[0]["id"].as_u64().unwrap();
    assert_eq!(
        srv.call("DELETE", &format!("/api/v1/sessions/{id}"), None)
            .0,
        200
    );
    let started = Instant::now();
    assert_eq!(c.read().code, 426);
    assert_eq!(c.read().code, 257);
    assert_eq!(c.read().code, 421);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(d);
}

#[test]
fn admin_users_and_reload() {
    let srv = Admin::start(&[]);
    let (code, list) = srv.call("GET", "/api/v1/users", None);
    assert_eq!(code, 200);
    assert_eq!(list[0]["name"], USER);
    assert_eq!(list[0]["disabled"], false);
    assert!(!list.to_string().contains("argon2"), "{list}");

    // Add: logins work at once.
    assert_eq!(srv.login_code("bob", "pw-one"), 530);
    let (code, body) = srv.call(
        "POST",
        "/api/v1/users",
        Some(r#"{"name":"bob","password":"pw-one","perms":["list","read"]}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["created"], true);
    assert_eq!(body["reload_failures"], 0);
    assert_eq!(srv.login_code("bob", "pw-one"), 230);
    let (_, list) = srv.call("GET", "/api/v1/users", None);
    let bob = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(bob["perms"], serde_json::json!(["list", "read"]), "{list}");

    // Password change.
    let (code, body) = srv.call(
        "PUT",
        "/api/v1/users/bob/password",
        Some(r#"{"password":"pw-two"}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(srv.login_code("bob", "pw-two"), 230);
    assert_eq!(
        srv.call(
            "PUT",
            "/api/v1/users/carol/password",
            Some(r#"{"password":"x"}"#)
        )
        .0,
        404
    );

    // Disable refuses the right password with 530; enable restores it.
    let (code, body) = srv.call("POST", "/api/v1/users/bob/disable", None);
    assert_eq!(code, 200, "{body}");
    let mut c = Ctl::connect(srv.ftp);
    c.expect("USER bob", 331);
    let r = c.expect("PASS pw-two", 530);
    assert!(r.to_string().contains("disabled"), "{r}");
    let text = std::fs::read_to_string(srv.path("users.toml")).unwrap();
    assert!(text.contains("disabled = true"), "{text}");
    let (_, list) = srv.call("GET", "/api/v1/users", None);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["name"] == "bob" && u["disabled"] == true));
    assert_eq!(srv.call("POST", "/api/v1/users/bob/enable", None).0, 200);
    assert_eq!(srv.login_code("bob", "pw-two"), 230);
    assert_eq!(srv.call("POST", "/api/v1/users/carol/disable", None).0, 404);

    // Reload picks up a file edited behind the server's back.
    kftpd::auth::users::add_user(&srv.path("users.toml"), "dave", "pw-d", None, None).unwrap();
    let (code, body) = srv.call("POST", "/api/v1/reload", None);
    assert_eq!(
        (code, &body["reload_failures"]),
        (200, &serde_json::json!(0)),
        "{body}"
    );
    assert_eq!(srv.login_code("dave", "pw-d"), 230);
    let admin = |args: &[&str]| {
        run(Command::new(env!("CARGO_BIN_EXE_kftpd"))
            .args([
                "admin",
                "--admin-url",
                &format!("http://{}", srv.api),
                "--state-dir",
            ])
            .arg(srv.path("state"))
            .args(args))
    };
    let (ok, out, err) = admin(&["reload"]);
    assert!(ok && out.contains("reloaded"), "{out}\n{err}");
    let (ok, out, err) = admin(&["users"]);
    assert!(
        ok && out.lines().any(|l| l.starts_with("dave ")),
        "{out}\n{err}"
    );
    let (ok, _, err) = admin(&["kick", "999"]);
    assert!(
        !ok && err.contains("404") && err.contains("no session 999"),
        "{err}"
    );

    // Bad bodies: JSON errors; oversized bodies refused.
    let (code, body) = srv.call("POST", "/api/v1/users", Some("{not json"));
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("JSON"), "{body}");
    let (code, body) = srv.call(
        "POST",
        "/api/v1/users",
        Some(r#"{"name":"eve","password":"x","perms":["fly"]}"#),
    );
    assert_eq!(code, 400, "{body}");
    let big = format!(r#"{{"name":"eve","password":"{}"}}"#, "x".repeat(100_000));
    assert_eq!(srv.call("POST", "/api/v1/users", Some(&big)).0, 413);
    assert_eq!(mode(&srv.path("users.toml")), 0o600);
}

#[test]
fn admin_non_loopback_needs_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(kftp_testkit::kftpd_root_args())
        .args([
            "--no-tls",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "0.0.0.0:0",
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .arg("--root")
        .arg(dir.path().join("root")));
    assert!(!ok);
    assert!(err.contains("not a loopback address"), "{err}");
    // The same from the config file's admin_listen.
    let conf = dir.path().join("k.toml");
    std::fs::write(&conf, "no_tls = true\nadmin_listen = \"0.0.0.0:0\"\n").unwrap();
    let (ok, _, err) = run(Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(kftp_testkit::kftpd_root_args())
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&conf)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--root")
        .arg(dir.path().join("root")));
    assert!(!ok);
    assert!(err.contains("not a loopback address"), "{err}");
}

#[test]
fn admin_over_tls_when_not_loopback() {
    // Any address but loopback is served over TLS with the FTPS certificate.
    let srv = Admin::start_on("0.0.0.0:0", true, &[]);
    let _c = Ctl::connect(srv.ftp);
    let url = format!("https://localhost:{}", srv.api.port());
    let (ok, out, err) = run(Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["admin", "--admin-url", &url, "--cacert"])
        .arg(srv.path("state/tls-cert.pem"))
        .arg("--state-dir")
        .arg(srv.path("state"))
        .arg("sessions"));
    assert!(ok, "{out}\n{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    // Plain HTTP gets no answer from the TLS port.
    let local: SocketAddr = format!("127.0.0.1:{}", srv.api.port()).parse().unwrap();
    let mut s = TcpStream::connect(local).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /api/v1/sessions HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    assert!(
        !resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    // Without trusting the self-signed certificate the CLI refuses the server.
    let (ok, _, err) = run(Command::new(env!("CARGO_BIN_EXE_kftpd"))
        .args(["admin", "--admin-url", &url, "--state-dir"])
        .arg(srv.path("state"))
        .arg("sessions"));
    assert!(!ok, "{err}");
}
