//! `kftp-bench --client curl,lftp` end to end on a tiny workload: kftpd and vsftpd driven
//! by real curl, lftp and kftp processes. The JSON must have every users' row for both
//! servers, with the bytes or files that arrived and server CPU read; the markdown table
//! must be printed. No speed is asserted.

use std::path::{Path, PathBuf};
use std::process::Command;

/// vsftpd where `kftp-bench` looks for it (scripts/install-peers.sh's cache, or the
/// Debian package that scripts/install-test-deps.sh installs).
fn vsftpd() -> Option<PathBuf> {
    let cache = std::env::var_os("KFTP_PEERS_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/kftp-peers")));
    cache
        .map(|c| c.join("vsftpd/usr/sbin/vsftpd"))
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/vsftpd")])
        .find(|p| p.is_file())
}

fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn users_table_with_curl_and_lftp_against_kftpd_and_vsftpd() {
    let Some(kftpd) = kftp_testkit::kftpd_bin() else {
        kftp_testkit::skip("kftpd binary not built beside the tests (cargo build -p kftpd)");
        return;
    };
    let kftp = Path::new(env!("CARGO_BIN_EXE_kftp-bench")).with_file_name("kftp");
    if !kftp.is_file() {
        kftp_testkit::skip("kftp binary not built beside the tests (cargo build -p kftp)");
        return;
    }
    for p in ["curl", "lftp"] {
        if !on_path(p) {
            kftp_testkit::skip(&format!("{p} not installed (scripts/install-test-deps.sh)"));
            return;
        }
    }
    if vsftpd().is_none() {
        kftp_testkit::skip("vsftpd not installed (scripts/install-test-deps.sh)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("users.json");
    let size: u64 = 3 << 20;
    // Two builds side by side (here the same binary twice), as a before/after run has.
    let out = Command::new(env!("CARGO_BIN_EXE_kftp-bench"))
        .arg("--kftpd")
        .arg(format!("main={}", kftpd.display()))
        .arg("--kftpd")
        .arg(format!("again={}", kftpd.display()))
        .args(["--client", "curl,lftp", "--reps", "1", "--paths", "kernel"])
        .args([
            "--peers",
            "vsftpd",
            "--size",
            "3MiB",
            "--conc-size",
            "256KiB",
        ])
        .args(["--users-conc", "3", "--small-files", "12", "--logins", "3"])
        .args(["--mirror-parallel", "1,4", "--warmup", "1"])
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("running kftp-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kftp-bench failed:\n{stdout}\n{stderr}"
    );
    for line in [
        "| RETR 3 MiB, plain (curl) (MiB/s) |",
        "| FTPS STOR 3 MiB (curl --ssl-reqd -T) (MiB/s) |",
        "| row | kftpd (main:kernel) | kftpd (again:kernel) | vsftpd | kftpd / best peer | goal | met? |",
        "| get: `kftp get` vs `curl` | vsftpd |",
        // Where the ceiling is: the client's own CPU per GiB, beside the server's.
        "|   client CPU (s/GiB) |",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    // The notes say which autogroup the run had (a session of its own, or why not).
    assert!(stdout.contains("- autogroup: "), "{stdout}");

    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let find = |test: &str, server: &str, client: &str, tls: bool| {
        rows.iter()
            .find(|r| {
                r["test"] == test
                    && r["server"] == server
                    && r["tls"] == tls
                    && r["client"].as_str().unwrap().starts_with(client)
            })
            .unwrap_or_else(|| panic!("no row {test} {server} {client} tls={tls} in {rows:#?}"))
    };
    let cgroups = v["users_notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("CPU from cgroup"));
    assert!(stdout.contains("warm-up, untimed: 1 x"), "{stdout}");
    let ok = |r: &serde_json::Value| {
        assert!(r["error"].is_null(), "{r:#}");
        assert!(r["value"].as_f64().unwrap() > 0.0, "{r:#}");
        let cpu = r["server_cpu_s"].as_f64();
        assert!(cpu.is_some(), "no server CPU: {r:#}");
        if cgroups {
            assert!(cpu.unwrap() > 0.0, "{r:#}");
        }
    };
    // Each build ran every row, in its own server.
    for label in ["main:kernel", "again:kernel"] {
        for test in ["users-stor", "users-mirror-put-4"] {
            assert!(
                rows.iter()
                    .any(|r| r["test"] == test && r["path"] == label && r["error"].is_null()),
                "no {test} row of kftpd ({label})"
            );
        }
    }
    for server in ["kftpd", "vsftpd"] {
        for (test, tls, bytes) in [
            ("users-retr", false, size),
            ("users-stor", false, size),
            ("users-retr", true, size),
            ("users-stor", true, size),
            ("users-conc", false, 3 * (256 << 10)),
        ] {
            let r = find(test, server, "", tls);
            ok(r);
            assert_eq!(r["bytes"].as_u64(), Some(bytes), "{r:#}");
        }
        for test in [
            "users-mirror-1",
            "users-mirror-4",
            "users-mirror-put-1",
            "users-mirror-put-4",
        ] {
            let r = find(test, server, "lftp mirror", false);
            ok(r);
            assert_eq!(r["items"].as_u64(), Some(12), "{r:#}");
        }
        let r = find("users-logins", server, "curl", false);
        ok(r);
        assert_eq!(r["items"].as_u64(), Some(3), "{r:#}");
        for (test, client) in [
            ("users-get", "kftp get"),
            ("users-get", "curl"),
            ("users-put", "kftp put"),
            ("users-put", "curl -T"),
            ("users-pget", "kftp get --segments"),
            ("users-pget", "lftp pget"),
        ] {
            let r = find(test, server, client, false);
            ok(r);
            assert_eq!(r["bytes"].as_u64(), Some(size), "{r:#}");
            let client_cpu = r["client_cpu_s"].as_f64().unwrap();
            assert!(!cgroups || client_cpu > 0.0, "{r:#}");
        }
    }
}
