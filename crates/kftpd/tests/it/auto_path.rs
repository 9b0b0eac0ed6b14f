//! `--data-path auto` (the default) measures: the first large uploads alternate splice and
//! the copy loop, then it logs its choice. The speeds are not asserted, only the order of
//! the paths (named in the 226 replies) and that a choice was logged.

use crate::harness::*;
use crate::util::plain_log;
use std::io::Write;

#[test]
fn auto_probes_both_paths_on_large_uploads_then_chooses() {
    let srv = Server::start(&[]);
    let data = random_bytes(4 << 20, 7);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut paths = Vec::new();
    for i in 0..6 {
        let mut d = c.epsv();
        c.expect(&format!("STOR f{i}.bin"), 150);
        d.write_all(&data).unwrap();
        drop(d);
        let r = c.read();
        assert_eq!(r.code, 226, "{r}");
        paths.push(r.text().rsplit(' ').next().unwrap_or("").to_string());
        assert_eq!(std::fs::read(srv.path(&format!("f{i}.bin"))).unwrap(), data);
    }
    assert_eq!(
        paths,
        ["splice.", "copy.", "splice.", "copy.", "splice.", "copy."],
        "kernel path first, then in turn"
    );
    let log = plain_log(&srv);
    assert!(log.contains("data-path auto: measured, choosing"), "{log}");
    // A small upload afterwards takes the chosen path, whichever it is.
    let mut d = c.epsv();
    c.expect("STOR small.txt", 150);
    d.write_all(b"hello\n").unwrap();
    drop(d);
    let r = c.read();
    assert_eq!(r.code, 226, "{r}");
}

/// Large downloads probe the copy loop on a slice only (the first 16 MiB, sendfile for the
/// rest), each byte-exact, also from a REST offset, and `auto` still comes to a choice.
#[test]
fn auto_probes_large_downloads_on_a_slice_then_chooses() {
    let srv = Server::start_full(
        "127.0.0.1:0",
        None,
        &[],
        &[("KFTPD_LOG".to_string(), "debug".to_string())],
    );
    let data = random_bytes(24 << 20, 8);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    for i in 0..5 {
        let at = if i == 2 { 12_345 } else { 0 };
        let d = c.epsv();
        if at > 0 {
            c.expect(&format!("REST {at}"), 350);
        }
        c.expect("RETR big.bin", 150);
        let got = read_all(d);
        let r = c.read();
        assert_eq!(r.code, 226, "{r}");
        // The fourth download ends the probe round (three copy slices, each with a
        // sendfile rest); the fifth takes whichever path was measured cheaper.
        if i < 4 {
            assert!(
                r.text().ends_with("sendfile."),
                "the bulk stays on sendfile while probing: {r}"
            );
        } else {
            assert!(
                r.text().ends_with("sendfile.") || r.text().ends_with("copy."),
                "{r}"
            );
        }
        assert_eq!(sha256(&got), sha256(&data[at..]), "download {i}");
    }
    let log = plain_log(&srv);
    assert!(
        log.contains("data-path auto: probing on the first bytes of this send"),
        "{log}"
    );
    assert!(log.contains("data-path auto: measured, choosing"), "{log}");
}

/// Uploads that run with at least as many transfers at once as the machine has CPUs are
/// measured in a lane of their own (chooser.rs, "alone or crowded"): rounds of simultaneous large uploads
/// bring `auto` to a choice for the crowd, logged as such, and every file is byte-exact.
#[test]
fn auto_measures_a_crowd_of_uploads_apart() {
    let srv = Server::start(&[]);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let crowd = cpus + 1;
    let data = random_bytes(6 << 20, 9);
    let mut sessions: Vec<_> = (0..crowd)
        .map(|_| {
            let mut c = srv.login();
            c.expect("TYPE I", 200);
            c
        })
        .collect();
    let crowded = |log: &str| {
        log.lines()
            .any(|l| l.contains("data-path auto: measured, choosing") && l.contains("crowded"))
    };
    // Three measurements of each path; a round may count fewer where one upload ended
    // before the crowd gathered, so a few rounds more are allowed.
    for round in 0..12 {
        let mut data_conns: Vec<_> = sessions
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                let d = c.epsv();
                c.expect(&format!("STOR r{round}-{i}.bin"), 150);
                d
            })
            .collect();
        // Everyone past the first MiB (onto the data threads) before anyone finishes.
        for d in &mut data_conns {
            d.write_all(&data[..2 << 20]).unwrap();
        }
        for d in &mut data_conns {
            d.write_all(&data[2 << 20..]).unwrap();
        }
        drop(data_conns);
        for (i, c) in sessions.iter_mut().enumerate() {
            let r = c.read();
            assert_eq!(r.code, 226, "{r}");
            let got = std::fs::read(srv.path(&format!("r{round}-{i}.bin"))).unwrap();
            assert!(got == data, "round {round} upload {i} differs");
        }
        if crowded(&plain_log(&srv)) {
            return;
        }
    }
    panic!(
        "no choice for the crowd after 12 rounds of {crowd}:\n{}",
        plain_log(&srv)
    );
}
