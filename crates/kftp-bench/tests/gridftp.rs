//! `kftp-bench --only gridftp` end to end with tiny sizes: real globus-gridftp-server,
//! kftpd and vsftpd, real globus-url-copy, kftp and lftp, on loopback and through the
//! emulated WAN. Root only (namespaces, TUN), and only where the GridFTP packages are
//! installed (scripts/install-test-deps.sh).

use serde_json::Value;
use std::process::Command;

const REPS: usize = 3;
const SIZE: u64 = 3 << 20;
const WAN_SIZE: u64 = 1 << 20;

fn can_run() -> bool {
    if !kftp_testkit::running_as_root() {
        kftp_testkit::skip("the gridftp rows need root (the WAN's namespaces, TUN)");
        return false;
    }
    [
        "globus-url-copy",
        "globus-gridftp-server",
        "lftp",
        "ip",
        "tc",
    ]
    .iter()
    .all(|p| kftp_testkit::need(p))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Every row is `--reps` rounds with the median as its value, the big file's size is
/// `--size` on loopback and `--wan-size` on the WAN, and kftpd's rows carry their ratio
/// to the GridFTP pair of the same streams (and on the small files to lftp + vsftpd).
#[test]
fn gridftp_rows_are_medians_of_rounds_with_ratios_to_the_pair() {
    if !can_run() {
        return;
    }
    let (Some(kftpd), Some(_)) = (kftp_testkit::kftpd_bin(), kftp_testkit::kftp_bin()) else {
        kftp_testkit::skip("kftpd and kftp not built beside the tests (cargo build --workspace)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("gridftp.json");
    let out = Command::new(env!("CARGO_BIN_EXE_kftp-bench"))
        .arg("--kftpd")
        .arg(kftpd)
        .args(["--only", "gridftp", "--streams", "1,2"])
        .args([
            "--size",
            "3MiB",
            "--wan-size",
            "1MiB",
            "--small-files",
            "12",
        ])
        .args(["--reps", &REPS.to_string(), "--transfer-limit", "60"])
        .args([
            "--wan-delay-ms",
            "1",
            "--wan-loss-pct",
            "0",
            "--wan-rate-mbit",
            "0",
        ])
        .arg("--work-dir")
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .output()
        .expect("running kftp-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("GridFTP rows: medians of 3 interleaved rounds"),
        "{stdout}"
    );
    assert!(
        stdout.contains("| big-wan | kftp --streams -> kftpd | 2 |"),
        "{stdout}"
    );

    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    let find = |test: &str, server: &str, client: &str, n: u64| -> &Value {
        rows.iter()
            .find(|r| {
                r["test"] == test
                    && r["server"] == server
                    && r["client"].as_str().unwrap_or("").starts_with(client)
                    && r["connections"] == n
            })
            .unwrap_or_else(|| panic!("no row {test} {client} -> {server} {n}: {rows:#?}"))
    };
    let value = |r: &Value| r["value"].as_f64().unwrap_or_else(|| panic!("{r:#}"));
    for (net, size) in [("loopback", SIZE), ("wan", WAN_SIZE)] {
        let test = format!("hpc-big-{net}");
        for n in [1, 2] {
            let pair = find(&test, "globus-gridftp-server", "globus-url-copy", n);
            for r in [
                pair,
                find(&test, "kftpd", "kftp", n),
                find(&test, "kftpd", "globus-url-copy", n),
            ] {
                assert!(r["error"].is_null(), "{r:#}");
                let reps: Vec<f64> = r["rep_values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect();
                assert_eq!(reps.len(), REPS, "{r:#}");
                assert!(reps.iter().all(|x| *x > 0.0), "{r:#}");
                assert_eq!(value(r), median(&reps), "{r:#}");
                assert_eq!(r["bytes"].as_u64(), Some(size), "{r:#}");
                assert!(r["server_cpu_s_per_gib"].as_f64().is_some(), "{r:#}");
            }
            assert!(pair["vs_gridftp"].is_null(), "{pair:#}");
            let k = find(&test, "kftpd", "kftp", n);
            let x = k["vs_gridftp"].as_f64().unwrap_or_else(|| panic!("{k:#}"));
            assert!((x - value(k) / value(pair)).abs() < 1e-9, "{k:#}\n{pair:#}");
            let by_round = k["vs_gridftp_by_round"].as_array().unwrap();
            assert_eq!(by_round.len(), REPS, "{k:#}");
            let first =
                k["rep_values"][0].as_f64().unwrap() / pair["rep_values"][0].as_f64().unwrap();
            assert!(
                (by_round[0].as_f64().unwrap() - first).abs() < 1e-9,
                "{k:#}"
            );
        }
    }
    let lftp = find("hpc-small-loopback", "vsftpd", "lftp mirror", 4);
    let mirror = find("hpc-small-loopback", "kftpd", "kftp mirror (defaults)", 4);
    let guc = find(
        "hpc-small-loopback",
        "globus-gridftp-server",
        "globus-url-copy",
        4,
    );
    for r in [lftp, mirror, guc] {
        assert!(r["error"].is_null(), "{r:#}");
        assert_eq!(r["rep_values"].as_array().unwrap().len(), REPS, "{r:#}");
        assert_eq!(r["items"].as_u64(), Some(12), "{r:#}");
    }
    let x = mirror["vs_lftp_vsftpd"].as_f64().unwrap();
    assert!((x - value(mirror) / value(lftp)).abs() < 1e-9, "{mirror:#}");
    let x = mirror["vs_gridftp"].as_f64().unwrap();
    assert!((x - value(mirror) / value(guc)).abs() < 1e-9, "{mirror:#}");
    // The small files over the WAN: GridFTP's and kftp's, no vsftpd there.
    find("hpc-small-wan", "kftpd", "kftp mirror (defaults)", 4);
    assert!(!rows
        .iter()
        .any(|r| r["test"] == "hpc-small-wan" && r["server"] == "vsftpd"));
}
