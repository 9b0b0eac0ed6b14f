//! The WAN emulator (`kftp_bench::wan`) end to end: real namespaces, real TUN devices, a
//! real TCP connection through the delay line. Root only (namespaces and TUN need it).

use kftp_bench::wan::{ns_exists, Side, Wan, WanConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const BYTES: usize = 4 << 20;

fn can_run() -> bool {
    if !kftp_testkit::running_as_root() {
        kftp_testkit::skip("the WAN emulator needs root (network namespaces, TUN)");
        return false;
    }
    kftp_testkit::need("ip") && kftp_testkit::need("tc")
}

/// A byte pattern that a shifted or repeated block would not match.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Listens in B, connects from A; returns the connect time and whether 4 MiB sent by B
/// arrived byte-exact in A.
fn connect_and_transfer(wan: &Wan) -> (Duration, bool) {
    let listener = wan
        .in_ns(Side::B, || TcpListener::bind((Wan::addr(Side::B), 0)))
        .expect("entering B")
        .expect("listening in B");
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let data: Vec<u8> = (0..BYTES).map(pattern).collect();
        s.write_all(&data).expect("sending");
    });
    let to = SocketAddr::from((Wan::addr(Side::B), port));
    let (rtt, mut stream) = wan
        .in_ns(Side::A, || {
            let t0 = Instant::now();
            let s = TcpStream::connect_timeout(&to, Duration::from_secs(10));
            (t0.elapsed(), s)
        })
        .expect("entering A");
    let mut got = Vec::new();
    stream
        .as_mut()
        .expect("connecting through the WAN")
        .read_to_end(&mut got)
        .expect("receiving");
    server.join().unwrap();
    let exact = got.len() == BYTES && got.iter().enumerate().all(|(i, b)| *b == pattern(i));
    (rtt, exact)
}

#[test]
fn delay_line_delays_and_delivers_intact_and_cleans_up() {
    if !can_run() {
        return;
    }
    let wan = Wan::start(WanConfig {
        delay: Duration::from_millis(20),
        rate_mbit: Some(200),
        ..Default::default()
    })
    .expect("starting the emulator");
    let names = [wan.ns(Side::A).to_string(), wan.ns(Side::B).to_string()];
    assert!(names.iter().all(|n| ns_exists(n)));
    let (rtt, exact) = connect_and_transfer(&wan);
    // SYN out and SYN-ACK back each wait 20 ms in the delay line.
    assert!(rtt >= Duration::from_millis(40), "connect took {rtt:?}");
    assert!(exact, "4 MiB did not arrive byte-exact");
    assert!(wan.stats().forwarded > 100);
    drop(wan);
    for n in &names {
        assert!(!ns_exists(n), "namespace {n} left behind");
        let etc = std::path::Path::new("/etc/netns").join(n);
        assert!(!etc.exists(), "{} left behind", etc.display());
    }
}

#[test]
fn loss_drops_packets_and_tcp_still_delivers() {
    if !can_run() {
        return;
    }
    let wan = Wan::start(WanConfig {
        delay: Duration::from_millis(2),
        loss: 0.01,
        seed: 7,
        ..Default::default()
    })
    .expect("starting the emulator");
    let (_, exact) = connect_and_transfer(&wan);
    assert!(exact, "4 MiB did not arrive byte-exact through 1 % loss");
    // ~3000 data packets at 1 %: none lost would be a broken draw.
    assert!(wan.stats().lost > 0, "{:?}", wan.stats());
}

#[test]
fn tcp_buffer_caps_rmem_and_wmem_in_both_namespaces() {
    if !can_run() {
        return;
    }
    let wan = Wan::start(WanConfig {
        tcp_buffer: 1 << 20,
        ..Default::default()
    })
    .expect("starting the emulator");
    for side in [Side::A, Side::B] {
        for key in ["net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"] {
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", wan.ns(side), "sysctl", "-n", key])
                .output()
                .expect("running sysctl");
            let text = String::from_utf8_lossy(&out.stdout);
            let max = text.split_whitespace().last().unwrap_or_default();
            assert_eq!(max, "1048576", "{key} in {side:?}: {text}");
        }
    }
}

/// A bench cleans up the namespaces a killed run left, but only those made in its own PID
/// namespace: from inside another one (CI under `unshare -p`) a live bench's pid is not
/// in `/proc`, and deleting its namespaces broke its run.
#[test]
fn stale_namespaces_go_only_from_this_pid_namespace() {
    use std::os::unix::fs::MetadataExt;
    if !can_run() {
        return;
    }
    let ours = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    // No pid is this large, so both look dead from here.
    let foreign = format!("kftpb-a-{}-99999999-0", ours + 1);
    let stale = format!("kftpb-a-{ours}-99999998-0");
    for n in [&foreign, &stale] {
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", n])
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip netns add {n}");
    }
    drop(Wan::start(WanConfig::default()).expect("starting the emulator"));
    assert!(!ns_exists(&stale), "a dead run's namespace was kept");
    assert!(ns_exists(&foreign), "another PID namespace's was deleted");
    let _ = std::process::Command::new("ip")
        .args(["netns", "del", &foreign])
        .status();
}

/// `kftp get` with `--streams` left to it, through a 20 ms round trip: it takes MODE E with
/// four streams, as `streams_for_rtt` says for a distant server, from the round trips its
/// login made (USER, FEAT), with no NOOP of its own; the file arrives byte-exact.
#[test]
fn kftp_picks_its_streams_from_the_login_round_trips_without_noops() {
    if !can_run() {
        return;
    }
    let (Some(kftpd), Some(kftp)) = (kftp_testkit::kftpd_bin(), kftp_testkit::kftp_bin()) else {
        kftp_testkit::skip("kftpd and kftp not built beside the tests (cargo build --workspace)");
        return;
    };
    let wan = Wan::start(WanConfig {
        delay: Duration::from_millis(10),
        ..Default::default()
    })
    .expect("starting the emulator");
    let server = kftp_testkit::Server::new()
        .bin(kftpd)
        .netns(wan.ns(Side::B))
        .listen(&format!("{}:0", Wan::addr(Side::B)))
        .user("alice", "correct horse battery")
        .args(["--no-tls-required"])
        .start();
    let data: Vec<u8> = (0..3_000_017).map(pattern).collect();
    std::fs::write(server.root().join("f.bin"), &data).unwrap();
    let local = tempfile::tempdir().unwrap();
    let out = wan
        .command(Side::A, &kftp)
        .args(["-vv", "--netrc", "/nonexistent", "get"])
        .arg(format!("ftp://alice@{}/f.bin", server.addr))
        .arg(local.path().join("f.bin"))
        .env("KFTP_PASSWORD", "correct horse battery")
        .env("KFTP_LOG", "kftp::control=debug,kftp::modee=debug")
        .output()
        .expect("running kftp in A");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("> OPTS RETR Parallelism=4,4,4;"), "{log}");
    assert!(!log.contains("> NOOP"), "{log}");
    assert_eq!(std::fs::read(local.path().join("f.bin")).unwrap(), data);
}
