//! A run of transfers over several sessions when one of them goes: a session that breaks
//! stops taking work and the others do the rest; a session the server closed while it
//! waited (an idle timeout) is logged in again for what the run does last on it.

use crate::copy::{kftp_command, ok, url};
use crate::kftpd::Kftpd;
use crate::random_bytes;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// TCP connections relayed to a server, for control connections the test cuts
/// ([`Relay::cut`]) while the server behind them notices nothing.
pub(crate) struct Relay {
    pub(crate) port: u16,
    /// kftp's side of each connection, in the order they came.
    kftp_side: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    pub(crate) fn to(port: u16) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Relay {
            port: l.local_addr().unwrap().port(),
            kftp_side: Arc::default(),
        };
        let kftp_side = relay.kftp_side.clone();
        std::thread::spawn(move || -> std::io::Result<()> {
            loop {
                let (mut a, _) = l.accept()?;
                let mut b = TcpStream::connect(("127.0.0.1", port))?;
                kftp_side.lock().unwrap().push(a.try_clone()?);
                let (mut a2, mut b2) = (a.try_clone()?, b.try_clone()?);
                std::thread::spawn(move || std::io::copy(&mut a2, &mut b2));
                std::thread::spawn(move || std::io::copy(&mut b, &mut a));
            }
        });
        relay
    }

    /// Closes every connection so far on kftp's side only.
    pub(crate) fn cut(&self) {
        for s in self.kftp_side.lock().unwrap().iter() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Closes the `i`th connection (from 0) on kftp's side only; false if there is none.
    pub(crate) fn cut_one(&self, i: usize) -> bool {
        let conns = self.kftp_side.lock().unwrap();
        conns
            .get(i)
            .is_some_and(|s| s.shutdown(std::net::Shutdown::Both).is_ok())
    }
}

/// A mirror between servers over four session pairs, one of whose source sessions drops
/// in the middle: that pair stops taking copies and the other three copy the rest. (A
/// pair that kept taking them failed each at once, so it drew nearly every copy left
/// into a failure.) At most the copy in flight on the broken pair and the one queued
/// behind it fail.
#[test]
fn mirror_across_goes_on_over_the_other_pairs_when_one_breaks() {
    let (Some(a), Some(b)) = (slow_source(500), Kftpd::start(false)) else {
        return;
    };
    let dst = url(&b, "m/");
    // The first connection is the user's session; the next ones are the extra pairs'.
    mirror_with_a_cut(
        &a,
        &["mirror", "--parallel", "4", SRC, &dst],
        &b.root.join("m"),
        1,
        2,
    );
}

/// The same for a mirror down over four sessions one file at a time (`--streams 1`: MODE
/// S, as with any server that has no MODE E): a worker whose session drops stops taking
/// files, and the others, then the user's session, get the rest.
#[test]
fn mirror_down_goes_on_over_the_other_sessions_when_one_breaks() {
    mirror_down_with_a_session_cut("4", 1);
}

/// A mirror down over one session that drops: it logs in again and gets the rest (every
/// file after the one in flight failed at once on the dead session).
#[test]
fn mirror_down_over_one_session_logs_in_again_when_it_breaks() {
    mirror_down_with_a_session_cut("1", 0);
}

fn mirror_down_with_a_session_cut(parallel: &str, cut: usize) {
    let Some(a) = slow_source(600) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("m");
    let args = [
        "--streams",
        "1",
        "mirror",
        "--parallel",
        parallel,
        SRC,
        local.to_str().unwrap(),
    ];
    mirror_with_a_cut(&a, &args, &local, cut, 1);
}

/// Where [`mirror_with_a_cut`]'s arguments name the source.
const SRC: &str = "{src}";
/// The files of [`slow_source`].
const FILES: u64 = 40;

/// A kftpd at 256 KiB/s a session (a 64 KiB file takes a quarter of a second) serving
/// [`FILES`] files of 64 KiB in `m/`, their bytes seeded from `seed`.
fn slow_source(seed: u64) -> Option<Kftpd> {
    let a = Kftpd::start_flags(false, &["--rate-session", "256Ki"])?;
    std::fs::create_dir(a.root.join("m")).unwrap();
    for i in 0..FILES {
        let f = a.root.join(format!("m/f{i:02}"));
        std::fs::write(f, random_bytes(64 << 10, seed + i)).unwrap();
    }
    Some(a)
}

/// Runs kftp with `args` ([`SRC`] the URL of `m/` on `a` through a relay), closes the
/// relayed connection `cut` once `dst` holds four files, and checks the end: at most
/// `max_failed` copies failed, every file in `dst` is its source's, and every other file
/// is there.
fn mirror_with_a_cut(a: &Kftpd, args: &[&str], dst: &Path, cut: usize, max_failed: usize) {
    let relay = Relay::to(a.port);
    let src = format!("ftp://alice@127.0.0.1:{}/m/", relay.port);
    let args: Vec<&str> = args
        .iter()
        .map(|&s| if s == SRC { src.as_str() } else { s })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mirror = kftp_command(dir.path(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kftp");
    let arrived = || {
        std::fs::read_dir(dst).map_or(0, |d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with('f'))
                .count()
        })
    };
    assert!(
        kftp_testkit::wait_until(Duration::from_secs(30), || arrived() >= 4),
        "the mirror started"
    );
    assert!(relay.cut_one(cut), "connection {cut}");
    let o = mirror.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let failed = failed_count(&err);
    assert!(failed <= max_failed, "{failed} failed: {err}");
    let mut copied = 0;
    for i in 0..FILES {
        let name = format!("f{i:02}");
        if let Ok(got) = std::fs::read(dst.join(&name)) {
            let want = std::fs::read(a.root.join("m").join(&name)).unwrap();
            assert!(got == want, "{name} is its source's");
            copied += 1;
        }
    }
    assert!(
        copied + failed >= FILES as usize,
        "{copied} copied, {failed} failed: {err}"
    );
}

/// The failed copies a mirror's summary counts ("N transferred, M refused, K failed"), 0
/// without one.
fn failed_count(err: &str) -> usize {
    match err.split_once(" refused, ") {
        Some((_, tail)) => tail
            .split(' ')
            .next()
            .and_then(|k| k.parse().ok())
            .expect("a count of failed copies"),
        None => 0,
    }
}

/// A mirror up with `--delete` over four sessions that takes longer than the server's
/// idle timeout: the user's own session waits, unused, while the other three upload, and
/// the server closes it (`421`). It is logged in again for the deletion, and the mirror
/// succeeds. (It failed at `rm` with the 421: vsftpd's idle timeout is 5 minutes, so any
/// longer parallel mirror with `--delete` did.)
#[test]
fn mirror_logs_in_again_where_the_server_closed_the_waiting_session() {
    // 128 KiB/s a session: 24 x 64 KiB over three sessions take 4 s, past the 2 s.
    let Some(a) = Kftpd::start_flags(false, &["--idle-timeout", "2", "--rate-session", "128Ki"])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local");
    std::fs::create_dir(&local).unwrap();
    for i in 0..24 {
        std::fs::write(
            local.join(format!("f{i:02}")),
            random_bytes(64 << 10, 700 + i),
        )
        .unwrap();
    }
    std::fs::create_dir(a.root.join("m")).unwrap();
    std::fs::write(a.root.join("m/extra"), b"not in the source").unwrap();
    // kftpd serves as `nobody` here: the directory is the test's.
    let open = std::os::unix::fs::PermissionsExt::from_mode(0o777);
    std::fs::set_permissions(a.root.join("m"), open).unwrap();
    let o = kftp_command(
        dir.path(),
        &[
            "mirror",
            "--parallel",
            "4",
            "--delete",
            local.to_str().unwrap(),
            &url(&a, "m/"),
        ],
    )
    .output()
    .expect("running kftp");
    let err = ok(&o);
    assert!(
        err.contains("421"),
        "the server closed the waiting session: {err}"
    );
    assert!(!a.root.join("m/extra").exists(), "--delete ran: {err}");
    for i in 0..24 {
        let name = format!("f{i:02}");
        assert_eq!(
            std::fs::read(a.root.join("m").join(&name)).unwrap(),
            std::fs::read(local.join(&name)).unwrap(),
            "{name}"
        );
    }
}

/// `kftp get --segments 4` where the server ends one segment's session in the middle (its
/// admin API, as an operator would): that segment goes on from where it stopped over a
/// new session, and the file arrives whole. (The whole download failed, its temporary
/// file deleted.)
#[test]
fn a_segment_whose_session_is_ended_goes_on_over_a_new_one() {
    // Session 1 is the user's, 2 to 5 the segments'; the third is ended.
    get_with_a_session_ended(&["--segments", "4"], 5, 3);
}

/// A plain `kftp get` whose session the server ends in the middle goes on from where it
/// stopped over a new login, as lftp's does, and the file arrives whole. (It failed, its
/// temporary file deleted.)
#[test]
fn a_get_whose_session_is_ended_goes_on_over_a_new_one() {
    get_with_a_session_ended(&[], 1, 1);
}

/// 8 MiB from a kftpd at 1 MiB/s a session, `kftp get` with `extra` arguments; once
/// session `started` is logged in and 0.7 s later, session `ended` is ended through the
/// admin API. The get succeeds over a new session, with every byte.
fn get_with_a_session_ended(extra: &[&str], started: u32, ended: u32) {
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .to_string();
    let Some(a) = Kftpd::start_flags(false, &["--rate-session", "1Mi", "--admin-listen", &admin])
    else {
        return;
    };
    let token = std::fs::read_to_string(a.root.parent().unwrap().join("state/admin-token"))
        .expect("the admin token");
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(8 << 20, 800);
    std::fs::write(a.root.join("big.bin"), &data).unwrap();
    let out = dir.path().join("big.bin");
    let src = url(&a, "big.bin");
    let mut args = vec!["get"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[&src, out.to_str().unwrap()]);
    let get = kftp_command(dir.path(), &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running kftp");
    let logged_in = format!("logged in session={started} ");
    assert!(
        kftp_testkit::wait_until(Duration::from_secs(20), || a.log().contains(&logged_in)),
        "the transfers started"
    );
    std::thread::sleep(Duration::from_millis(700));
    let kicked = std::process::Command::new("curl")
        .args(["-sS", "-f", "-X", "DELETE", "-H"])
        .arg(format!("Authorization: Bearer {}", token.trim()))
        .arg(format!("http://{admin}/api/v1/sessions/{ended}"))
        .output()
        .expect("curl");
    assert!(kicked.status.success(), "{kicked:?}");
    let o = get.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    let again = format!("logged in session={} ", started + 1);
    assert!(a.log().contains(&again), "a new session: {err}");
    assert!(
        std::fs::read(&out).unwrap() == data,
        "the file arrived whole"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".kftp-part"))
        .collect();
    assert!(left.is_empty(), "no temporary file left: {left:?}");
}
