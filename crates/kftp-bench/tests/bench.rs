//! `kftp-bench` end to end against a kftpd it starts itself, with tiny sizes: the JSON has
//! the expected rows and every throughput is positive. Peers are left out (they have
//! their own tests and may not be installed).

use std::process::Command;

#[test]
fn bench_runs_against_its_own_kftpd() {
    // kftpd is another package: its binary is beside this test's when `cargo test
    // --workspace` (CI) built it; a test does not run cargo.
    let Some(kftpd) = kftp_testkit::kftpd_bin() else {
        kftp_testkit::skip("kftpd binary not built beside the tests (cargo build -p kftpd)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let svg = dir.path().join("bench.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_kftp-bench"))
        .arg("--kftpd")
        .arg(kftpd)
        .args([
            "--size",
            "4MiB",
            "--conc-size",
            "1MiB",
            "--connections",
            "1,2",
        ])
        .args([
            "--small-files",
            "20",
            "--idle-sessions",
            "10",
            "--login-conns",
            "2",
        ])
        .args(["--min-secs", "0.2", "--peers", "none", "--paths", "kernel"])
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .arg("--plot")
        .arg(&svg)
        .output()
        .expect("running kftp-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kftp-bench failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("targets"), "{stdout}");

    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(v["ceiling_download_gbps"].as_f64().unwrap() > 0.0);
    assert_eq!(v["raw"].as_array().unwrap().len(), 6);
    let rows = v["rows"].as_array().unwrap();
    let find = |test: &str, tls: bool, n: u64| {
        rows.iter()
            .find(|r| r["test"] == test && r["tls"] == tls && r["connections"] == n)
            .unwrap_or_else(|| panic!("no row {test} tls={tls} n={n} in {rows:#?}"))
    };
    for tls in [false, true] {
        for (test, n) in [
            ("download", 1),
            ("upload", 1),
            ("concurrency-same", 1),
            ("concurrency-same", 2),
            ("concurrency-different", 2),
            ("small", 1),
            ("small", 4),
            ("logins", 2),
        ] {
            let r = find(test, tls, n);
            assert!(r["error"].is_null(), "{r:#}");
            assert!(r["value"].as_f64().unwrap() > 0.0, "{r:#}");
            assert_eq!(r["server"], "kftpd");
        }
        assert!(find("download", tls, 1)["server_cpu_s"].as_f64().is_some());
    }
    let idle = find("idle-memory", false, 10);
    assert!(idle["value"].as_f64().is_some(), "{idle:#}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("kftpd (kernel)"));
}
