//! MODE E (GridFTP extended block mode) from the client: byte-exact get and put over four
//! streams against kftpd (plain and PROT P) and against GridFTP's own server (`globus-gridftp-server` from
//! Debian's globus-gridftp-server-progs, started here on loopback), and MODE S again for
//! what follows (a listing, a plain get); `get -c` / `put -c` resuming in MODE E.

use crate::kftpd::Kftpd;
use crate::{random_bytes, sha256_file};
use kftp::{Client, ConnectOptions, Credentials, TransferOptions};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// put_mode_e then get_mode_e of a multi-MiB file at `remote_dir` (a path on the server),
/// checking both copies, then a listing and a MODE S get on the same session.
async fn round_trip(c: &mut Client, remote_dir: &str, on_disk: &Path) {
    assert!(c.features().parallel, "the server offers PARALLEL");
    assert!(c.mode_e_applies(4, false));
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    std::fs::write(&src, random_bytes((5 << 20) + 4321, 41)).unwrap();
    let p = AtomicU64::new(0);
    let remote = format!("{remote_dir}up.bin");
    let r = c.put_mode_e(&src, &remote, 4, &p).await.unwrap();
    assert_eq!(r.bytes, (5 << 20) + 4321);
    assert_eq!(sha256_file(&on_disk.join("up.bin")), sha256_file(&src));

    let dst = local.path().join("dst.bin");
    let r = c.get_mode_e(&remote, &dst, 4, &p).await.unwrap();
    assert_eq!(r.bytes, (5 << 20) + 4321);
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    assert_eq!(
        std::fs::read_dir(local.path()).unwrap().count(),
        2,
        "no temp file left"
    );
    // Modification times travel as in MODE S: MFMT after put, MDTM after get.
    let secs = |p: &Path| {
        p.metadata()
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    assert_eq!(secs(&on_disk.join("up.bin")), secs(&src));
    assert_eq!(secs(&dst), secs(&src));

    // Back to MODE S by itself.
    let names: Vec<String> = c
        .list(remote_dir)
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&"up.bin".to_string()), "{names:?}");
    let plain = local.path().join("plain.bin");
    c.get(&remote, &plain, &TransferOptions::default(), &p)
        .await
        .unwrap();
    assert_eq!(sha256_file(&plain), sha256_file(&src));
}

#[tokio::test]
async fn mode_e_get_and_put_against_kftpd() {
    let Some(s) = Kftpd::start(false) else { return };
    let mut c = s.fixture().client().await;
    round_trip(&mut c, "", &s.root).await;
    c.quit().await;
}

/// Three multi-MiB files put in `root` (`f0.bin`..`f2.bin`, random from `seed`) got over
/// four MODE E streams, then put back as `u0.bin`..`u2.bin`, in one session, byte-exact:
/// every get on the same four streams, every put on the same eight (four each way), plain
/// or under PROT P alike. Returns the files, the folder that holds the gets, and the gets'
/// streams (their local addresses).
pub(crate) async fn three_files_each_way_on_kept_streams(
    c: &mut Client,
    root: &Path,
    seed: u64,
) -> (Vec<Vec<u8>>, tempfile::TempDir, Vec<std::net::SocketAddr>) {
    let files: Vec<Vec<u8>> = (0..3)
        .map(|i| random_bytes((2 << 20) + i * 999, seed + i as u64))
        .collect();
    for (i, f) in files.iter().enumerate() {
        std::fs::write(root.join(format!("f{i}.bin")), f).unwrap();
    }
    let local = tempfile::tempdir().unwrap();
    let p = AtomicU64::new(0);
    let mut seen = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let dst = local.path().join(format!("f{i}.bin"));
        c.get_mode_e(&format!("f{i}.bin"), &dst, 4, &p)
            .await
            .unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), *f);
        seen.push(c.cached_streams());
    }
    assert_eq!(seen[0].len(), 4, "{seen:?}");
    assert!(
        seen.iter().all(|s| *s == seen[0]),
        "the same streams each time: {seen:?}"
    );
    let mut sent = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let src = local.path().join(format!("f{i}.bin"));
        c.put_mode_e(&src, &format!("u{i}.bin"), 4, &p)
            .await
            .unwrap();
        assert_eq!(std::fs::read(root.join(format!("u{i}.bin"))).unwrap(), *f);
        sent.push(c.cached_streams());
    }
    assert_eq!(sent[0].len(), 8, "four each way: {sent:?}");
    assert!(sent.iter().all(|s| *s == sent[0]), "{sent:?}");
    (files, local, seen.swap_remove(0))
}

/// A run of files in one session reuses the streams: the second get reads the server's
/// cached streams and the second put writes to its own, without new connections (the
/// same local addresses), byte-exact; a listing (MODE S) closes them.
#[tokio::test]
async fn mode_e_streams_are_reused_across_files() {
    let Some(s) = Kftpd::start(false) else { return };
    let mut c = s.fixture().client().await;
    let (files, local, _) = three_files_each_way_on_kept_streams(&mut c, &s.root, 50).await;
    let p = AtomicU64::new(0);
    c.list("").await.unwrap();
    assert!(c.cached_streams().is_empty(), "MODE S closes them");
    let again = local.path().join("again.bin");
    c.get_mode_e("f1.bin", &again, 4, &p).await.unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), files[1]);
    c.quit().await;
}

/// `get -c` and `put -c` in MODE E: REST with what is already there, then only the rest
/// travels, over four streams, as blocks written at their offsets; byte-exact both ways.
#[tokio::test]
async fn mode_e_get_and_put_resume_against_kftpd() {
    let Some(s) = Kftpd::start(false) else { return };
    let mut c = s.fixture().client().await;
    c.set_streams(4);
    let data = random_bytes((6 << 20) + 777, 61);
    std::fs::write(s.root.join("big.bin"), &data).unwrap();
    let local = tempfile::tempdir().unwrap();
    let dst = local.path().join("big.bin");
    let have = (5 << 19) + 3;
    std::fs::write(&dst, &data[..have]).unwrap();
    let resume = TransferOptions {
        resume: true,
        ..Default::default()
    };
    let p = AtomicU64::new(0);
    let r = c.get("big.bin", &dst, &resume, &p).await.unwrap();
    assert_eq!(
        (r.skipped, r.bytes),
        (have as u64, (data.len() - have) as u64)
    );
    assert_eq!(std::fs::read(&dst).unwrap(), data);
    assert_eq!(c.cached_streams().len(), 4, "the get ran in MODE E");
    // Nothing left: no transfer at all.
    let r = c.get("big.bin", &dst, &resume, &p).await.unwrap();
    assert_eq!((r.skipped, r.bytes), (data.len() as u64, 0));

    // put -c: the server holds a prefix; SIZE, REST, then the rest over four streams.
    let sent = (3 << 20) + 11;
    std::fs::write(s.root.join("up.bin"), &data[..sent]).unwrap();
    let r = c.put(&dst, "up.bin", &resume, &p).await.unwrap();
    assert_eq!(
        (r.skipped, r.bytes),
        (sent as u64, (data.len() - sent) as u64)
    );
    assert_eq!(sha256_file(&s.root.join("up.bin")), sha256_file(&dst));
    assert!(
        c.cached_streams().len() >= 4,
        "the put ran in MODE E: {:?}",
        c.cached_streams()
    );
    // A remote file longer than the local one is not resumed (nothing is overwritten).
    std::fs::write(s.root.join("long.bin"), &data).unwrap();
    let short = local.path().join("short.bin");
    std::fs::write(&short, &data[..1000]).unwrap();
    assert!(c.put(&short, "long.bin", &resume, &p).await.is_err());
    assert_eq!(std::fs::read(s.root.join("long.bin")).unwrap(), data);
    c.quit().await;
}

/// The kftp binary: `get -c` and `put -c` with `--streams 4` resume in MODE E (REST, then
/// blocks), byte-exact.
#[test]
fn cli_continues_in_mode_e() {
    let Some(s) = Kftpd::start(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = random_bytes((4 << 20) + 99, 62);
    std::fs::write(s.root.join("f.bin"), &data).unwrap();
    std::fs::write(d.join("f.bin"), &data[..(3 << 20) / 2]).unwrap();
    let url = |p: &str| format!("ftp://alice@127.0.0.1:{}/{p}", s.port);
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_kftp"))
            .args(["-vv", "--netrc"])
            .arg(d.join("none"))
            .args(args)
            .env("KFTP_PASSWORD", "correct horse battery")
            .current_dir(d)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{args:?}: {err}");
        err
    };
    let get = run(&["--streams", "4", "get", "-c", &url("f.bin"), "f.bin"]);
    assert!(
        get.contains("MODE E") && get.contains("REST 1572864"),
        "{get}"
    );
    assert_eq!(std::fs::read(d.join("f.bin")).unwrap(), data);
    std::fs::write(s.root.join("g.bin"), &data[..12345]).unwrap();
    let put = run(&["--streams", "4", "put", "-c", "f.bin", &url("g.bin")]);
    assert!(
        put.contains("MODE E") && put.contains("REST 12345"),
        "{put}"
    );
    assert_eq!(std::fs::read(s.root.join("g.bin")).unwrap(), data);
}

/// PROT P on every stream: each stream's TLS handshake resumes the control session (kftpd
/// refuses any that does not), and the bytes arrive intact both ways.
#[tokio::test]
async fn mode_e_over_tls_against_kftpd() {
    let Some(s) = Kftpd::start(true) else { return };
    let mut c = s.fixture().client().await;
    round_trip(&mut c, "", &s.root).await;
    // Twice, so the second transfer's streams resume on tickets the first ones brought.
    round_trip(&mut c, "", &s.root).await;
    c.quit().await;
}

/// The kftp binary uses MODE E against kftpd with `--streams N`, and without it measures
/// the round trip and keeps MODE S for a server this near (loopback).
#[test]
fn cli_uses_mode_e_by_itself() {
    let Some(s) = Kftpd::start(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f.bin"), random_bytes(3_000_001, 42)).unwrap();
    let url = |p: &str| format!("ftp://alice@127.0.0.1:{}/{p}", s.port);
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_kftp"))
            .args(["-vv", "--netrc"])
            .arg(d.join("none"))
            .args(args)
            .env("KFTP_PASSWORD", "correct horse battery")
            .current_dir(d)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{args:?}: {err}");
        err
    };
    let put = run(&["--streams", "4", "put", "f.bin", &url("f.bin")]);
    assert!(put.contains("MODE E"), "{put}");
    let get = run(&["--streams", "4", "get", &url("f.bin"), "back.bin"]);
    assert!(get.contains("Parallelism=4,4,4"), "{get}");
    // Size and time come from one MLST: no SIZE before the transfer, no MDTM after it,
    // and the time MLST gave is the one kept (set far from now on the server first).
    let then = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(s.root.join("f.bin"))
        .unwrap()
        .set_modified(then)
        .unwrap();
    let get = run(&["--streams", "4", "get", &url("f.bin"), "back.bin"]);
    let kept = std::fs::metadata(d.join("back.bin")).unwrap().modified();
    assert_eq!(kept.unwrap(), then, "{get}");
    assert!(get.contains("> MLST"), "{get}");
    assert!(!get.contains("> SIZE") && !get.contains("> MDTM"), "{get}");
    assert_eq!(
        sha256_file(&d.join("back.bin")),
        sha256_file(&d.join("f.bin"))
    );
    // --streams 1 keeps MODE S.
    let one = run(&["--streams", "1", "get", &url("f.bin"), "one.bin"]);
    assert!(!one.contains("MODE E"), "{one}");
    // A run of gets on one session sets Parallelism once (the server keeps it), and the
    // MLSD listing's exact times are kept without an MDTM per file.
    std::fs::create_dir(s.root.join("tree")).unwrap();
    for (i, name) in ["a.bin", "b.bin", "c.bin"].iter().enumerate() {
        std::fs::write(
            s.root.join("tree").join(name),
            random_bytes(5_000, i as u64),
        )
        .unwrap();
    }
    let tree = run(&["--streams", "4", "mirror", &url("tree/"), "tree"]);
    assert_eq!(tree.matches("OPTS RETR").count(), 1, "{tree}");
    assert!(!tree.contains("> MDTM"), "{tree}");
    let secs = |p: &Path| {
        let m = std::fs::metadata(p).unwrap().modified().unwrap();
        m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    };
    for name in ["a.bin", "b.bin", "c.bin"] {
        let (here, there) = (d.join("tree").join(name), s.root.join("tree").join(name));
        assert_eq!(sha256_file(&here), sha256_file(&there), "{name}");
        assert_eq!(secs(&here), secs(&there), "{name}: the server's mtime");
    }
    // Unset: a server on loopback is too near for streams, without timing NOOPs (a loaded
    // machine's loopback round trip can pass the 10 ms mark).
    let auto = run(&["get", &url("f.bin"), "auto.bin"]);
    assert!(!auto.contains("NOOP"), "{auto}");
    assert!(!auto.contains("MODE E"), "{auto}");
    assert_eq!(
        sha256_file(&d.join("auto.bin")),
        sha256_file(&d.join("f.bin"))
    );
    assert_eq!(
        sha256_file(&d.join("one.bin")),
        sha256_file(&d.join("f.bin"))
    );
}

/// GridFTP's own server, anonymous, on a loopback port, serving `root` (a directory
/// anyone may write), stopped on drop.
pub(crate) struct Gridftp {
    child: Child,
    pub port: u16,
    pub root: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Gridftp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gridftp {
    /// Starts it with `extra` arguments (`-disable-command-list MODE`...); `None` (SKIP)
    /// when it is not installed.
    pub(crate) fn start(extra: &[&str]) -> Option<Gridftp> {
        let bin = "/usr/sbin/globus-gridftp-server";
        if !Path::new(bin).exists() {
            kftp_testkit::skip(
                "globus-gridftp-server is not installed (scripts/install-test-deps.sh)",
            );
            return None;
        }
        // Anonymous logins run as this account; as root the server needs one that is not.
        let user = if kftp_testkit::running_as_root() {
            "nobody".to_string()
        } else {
            std::env::var("USER").unwrap_or_else(|_| "nobody".into())
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for p in [dir.path(), root.as_path()] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(Gridftp {
            child: Command::new(bin)
                // In the foreground, a process per session (-no-fork would serve only one).
                .args(["-aa", "-anonymous-user", &user, "-d", "error"])
                .args(["-control-interface", "127.0.0.1", "-p", &port.to_string()])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting globus-gridftp-server"),
            port,
            root,
            _dir: dir,
        })
    }

    /// An anonymous login, once the server listens (within 20 s): the login's own
    /// result, whatever it is.
    pub(crate) async fn login(&self) -> kftp::Result<Client> {
        let mut last = None;
        for _ in 0..100 {
            match Client::connect(
                ConnectOptions::new("127.0.0.1", self.port),
                Credentials::anonymous(),
            )
            .await
            {
                Err(e) if e.kind() == kftp::ErrorKind::Network => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                r => return r,
            }
        }
        panic!("globus-gridftp-server listening within 20 s: {last:?}");
    }
}

#[tokio::test]
async fn mode_e_get_and_put_against_globus_gridftp_server() {
    use std::os::unix::fs::PermissionsExt;
    let Some(srv) = Gridftp::start(&[]) else {
        return;
    };
    let mut c = srv
        .login()
        .await
        .expect("anonymous login to globus-gridftp-server");
    let root = srv.root.clone();
    // Its paths are the file system's.
    let remote_dir = format!("{}/", root.display());
    round_trip(&mut c, &remote_dir, &root).await;
    // get -c and put -c in MODE E: the toolkit's server reads REST n as the range 0-n.
    let whole = std::fs::read(root.join("up.bin")).unwrap();
    let local = tempfile::tempdir().unwrap();
    let part = local.path().join("part.bin");
    std::fs::write(&part, &whole[..(2 << 20) + 1]).unwrap();
    c.set_streams(4);
    let resume = TransferOptions {
        resume: true,
        ..Default::default()
    };
    let p = AtomicU64::new(0);
    let r = c
        .get(&format!("{remote_dir}up.bin"), &part, &resume, &p)
        .await
        .unwrap();
    assert_eq!(r.skipped, (2 << 20) + 1);
    assert_eq!(std::fs::read(&part).unwrap(), whole);
    let half = root.join("half.bin");
    std::fs::write(&half, &whole[..3 << 20]).unwrap();
    std::fs::set_permissions(&half, std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = c
        .put(&part, &format!("{remote_dir}half.bin"), &resume, &p)
        .await
        .unwrap();
    assert_eq!(r.skipped, 3 << 20);
    assert_eq!(std::fs::read(&half).unwrap(), whole);
    c.quit().await;
}

/// `mirror` with streams set: every file goes in MODE E, and after the first file the
/// run keeps using the same cached streams, both ways (40 files of 4 KiB in two
/// directories, byte-exact).
#[tokio::test]
async fn mirror_moves_small_files_over_cached_mode_e_streams() {
    use kftp::{MirrorOptions, Silent};
    use std::sync::Arc;
    let Some(s) = Kftpd::start(false) else { return };
    let src = tempfile::tempdir().unwrap();
    for i in 0..40u64 {
        let p = src.path().join(format!("d{}/f{i}.bin", i % 2));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, random_bytes(4096, 700 + i)).unwrap();
    }
    let mut c = s.fixture().client().await;
    c.set_streams(2);
    let opts = MirrorOptions {
        parallel: 1,
        ..Default::default()
    };
    let r = kftp::mirror_up(&mut c, src.path(), "site", &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 40);
    assert_eq!(
        crate::tree_hashes(&s.root.join("site")),
        crate::tree_hashes(src.path())
    );
    assert_eq!(
        c.cached_streams().len(),
        2,
        "the upload ran on cached MODE E streams"
    );

    let back = tempfile::tempdir().unwrap();
    let r = kftp::mirror_down(&mut c, "site", back.path(), &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 40);
    assert_eq!(
        crate::tree_hashes(back.path()),
        crate::tree_hashes(src.path())
    );
    assert_eq!(
        c.cached_streams().len(),
        2,
        "the download ran on cached MODE E streams"
    );
    c.quit().await;
}
