//! Pipelined MODE E runs (`kftp::pipeline`) against kftpd: a mirror of many small files
//! (some empty, one larger than a MODE E block) down and up, with up to eight files'
//! commands outstanding, byte-exact, plain and over PROT P. One file in the middle of a
//! window fails on the server (a download it may not read, an upload into a directory it
//! may not write): that file's error names it, no temp or partial file is left under any
//! name, and every other file arrives under its own name.

use crate::kftpd::Kftpd;
use crate::{random_bytes, tree_hashes};
use kftp::{MirrorOptions, Progress};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// Remembers the error each file ended with.
#[derive(Default)]
struct Ends(Mutex<BTreeMap<String, Option<String>>>);

impl Progress for Ends {
    fn begin(&self, _: &str, _: Option<u64>, _: u64) -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(0))
    }
    fn end(&self, name: &str, error: Option<&str>) {
        let mut m = self.0.lock().unwrap();
        m.insert(name.to_string(), error.map(str::to_string));
    }
    fn message(&self, _: &str) {}
}

impl Ends {
    fn failed(&self) -> Vec<(String, String)> {
        let m = self.0.lock().unwrap();
        m.iter()
            .filter_map(|(k, v)| v.clone().map(|e| (k.clone(), e)))
            .collect()
    }
}

/// 61 files in two directories: 4 KiB ones, three empty, one of 1.5 MiB.
fn make_tree(root: &Path) {
    for i in 0..61u64 {
        let p = root.join(format!("d{}/f{i:02}.bin", i % 2));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let len = match i {
            5 | 17 | 40 => 0,
            23 => (3 << 20) / 2 + 17,
            _ => 4096,
        };
        std::fs::write(p, random_bytes(len, 900 + i)).unwrap();
    }
}

/// Every path under `root` that is a leftover temp or part file.
fn leftovers(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().contains("kftp-part") {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// A session to `s` that pipelines (two MODE E streams), and mirror options for one
/// session: every file of a run goes through that one window.
async fn pipelining(s: &Kftpd) -> (kftp::Client, MirrorOptions) {
    let mut c = s.fixture().client().await;
    c.set_streams(2);
    assert!(c.pipelines(), "MODE E applies, so the mirror pipelines");
    let opts = MirrorOptions {
        parallel: 1,
        ..Default::default()
    };
    (c, opts)
}

/// The mirror's error when it must fail (`why`), checked to count `moved` transferred and
/// `failed` failed files.
fn failed_with(
    r: kftp::Result<kftp::MirrorReport>,
    why: &str,
    moved: usize,
    failed: usize,
) -> String {
    let msg = r.expect_err(why).to_string();
    assert!(
        msg.contains(&format!("{moved} transferred")) && msg.contains(&format!("{failed} failed")),
        "{msg}"
    );
    msg
}

async fn mirror_both_ways(tls: bool) {
    use std::os::unix::fs::PermissionsExt;
    let Some(s) = Kftpd::start_unprivileged(tls) else {
        return;
    };
    let site = s.root.join("site");
    make_tree(&site);
    for d in [site.as_path(), &site.join("d0"), &site.join("d1")] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    // The server may list this one but not read it.
    let secret = site.join("d1/f31.bin");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();

    let (mut c, opts) = pipelining(&s).await;
    let back = tempfile::tempdir().unwrap();
    let ends = Arc::new(Ends::default());
    let r = kftp::mirror_down(&mut c, "site", back.path(), &opts, ends.clone()).await;
    let msg = failed_with(r, "one file could not be read", 60, 1);
    assert!(
        msg.contains("site/d1/f31.bin") && msg.contains("550"),
        "{msg}"
    );
    let failed = ends.failed();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "site/d1/f31.bin", "{failed:?}");
    // Everything else arrived under its own name, byte-exact; nothing half-made.
    let mut want = tree_hashes(&site.join("."));
    assert!(want.remove("d1/f31.bin").is_some());
    // (root reads the secret for the comparison; the server could not.)
    assert_eq!(tree_hashes(back.path()), want);
    assert!(!back.path().join("d1/f31.bin").exists());
    assert_eq!(leftovers(back.path()), Vec::<String>::new());
    // Plain or TLS, the run kept its streams.
    assert_eq!(
        c.cached_streams().len(),
        2,
        "the run kept its MODE E streams"
    );

    // Up: the same tree into a new place where one directory is closed to the server.
    let up = s.root.join("up");
    std::fs::create_dir_all(up.join("d0")).unwrap();
    std::fs::create_dir_all(up.join("d1")).unwrap();
    std::fs::set_permissions(&up, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(up.join("d0"), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(up.join("d1"), std::fs::Permissions::from_mode(0o555)).unwrap();
    // Only one file goes to d1, between files to d0: make the local d1 hold one file.
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    for e in std::fs::read_dir(src.path().join("d1")).unwrap() {
        let p = e.unwrap().path();
        if !p.ends_with("f31.bin") {
            std::fs::rename(&p, src.path().join("d0").join(p.file_name().unwrap())).unwrap();
        }
    }
    let ends = Arc::new(Ends::default());
    let r = kftp::mirror_up(&mut c, src.path(), "up", &opts, ends.clone()).await;
    let msg = failed_with(r, "one directory is not writable", 60, 1);
    assert!(msg.contains("up/d1/f31.bin"), "{msg}");
    let failed = ends.failed();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "up/d1/f31.bin", "{failed:?}");
    let mut want = tree_hashes(src.path());
    assert!(want.remove("d1/f31.bin").is_some());
    assert_eq!(tree_hashes(&up), want);
    assert_eq!(leftovers(&up), Vec::<String>::new());
    // Modification times travel as in MODE S (MFMT pipelined after each 226).
    let secs = |p: &Path| {
        let m = std::fs::metadata(p).unwrap().modified().unwrap();
        m.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    };
    assert_eq!(
        secs(&up.join("d0/f00.bin")),
        secs(&src.path().join("d0/f00.bin"))
    );
    c.quit().await;
}

/// Uploads refused close together in one window (half the names are directories on the
/// server): every other file arrives. kftpd drops its kept streams on each refused upload
/// (a third-party source may have sent onto them), so the files pipelined behind one get
/// `425` and go again on new streams, within their tries even when refusals follow
/// each other.
#[tokio::test]
async fn pipelined_put_with_refusals_close_together() {
    let Some(s) = Kftpd::start_unprivileged(false) else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    for i in 0..16 {
        let f = src.path().join(format!("f{i:02}.bin"));
        std::fs::write(f, random_bytes(4096, 700 + i)).unwrap();
    }
    let up = s.root.join("up");
    let refused = [1, 2, 4, 6, 8, 10, 12, 13];
    for i in refused {
        std::fs::create_dir_all(up.join(format!("f{i:02}.bin/inside"))).unwrap();
    }
    // The server runs as nobody.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&up, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (mut c, opts) = pipelining(&s).await;
    let ends = Arc::new(Ends::default());
    let r = kftp::mirror_up(&mut c, src.path(), "up", &opts, ends.clone()).await;
    failed_with(r, "eight names are directories", 8, 8);
    let failed: Vec<String> = ends.failed().into_iter().map(|(n, _)| n).collect();
    let want: Vec<String> = refused.iter().map(|i| format!("up/f{i:02}.bin")).collect();
    assert_eq!(failed, want);
    for i in (0..16).filter(|i| !refused.contains(i)) {
        let name = format!("f{i:02}.bin");
        assert_eq!(
            std::fs::read(up.join(&name)).unwrap(),
            std::fs::read(src.path().join(&name)).unwrap(),
            "{name}"
        );
    }
    c.quit().await;
}

#[tokio::test]
async fn pipelined_mirror_both_ways_with_a_failure_in_the_window() {
    mirror_both_ways(false).await;
}

#[tokio::test]
async fn pipelined_mirror_both_ways_over_prot_p() {
    mirror_both_ways(true).await;
}

/// The kftp binary's mirror, `--streams` unset, against kftpd on loopback: single files
/// would keep MODE S this near, but the run of files goes in MODE E with its RETRs sent
/// ahead of the `226`s (pipelined), and arrives byte-exact.
#[test]
fn cli_mirror_pipelines_by_itself() {
    let Some(s) = Kftpd::start(false) else { return };
    make_tree(&s.root.join("site"));
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kftp"))
        .args(["-vv", "--netrc"])
        .arg(dir.path().join("none"))
        .arg("mirror")
        .arg(format!("ftp://alice@127.0.0.1:{}/site/", s.port))
        .arg("copy")
        .env("KFTP_PASSWORD", "correct horse battery")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        tree_hashes(&dir.path().join("copy")),
        tree_hashes(&s.root.join("site"))
    );
    let lines: Vec<&str> = err.lines().collect();
    let at = |pat: &str, from: usize| {
        lines[from..]
            .iter()
            .position(|l| l.contains(pat))
            .map(|i| i + from)
    };
    let mode_e = at("> MODE E", 0).expect("MODE E sent");
    let first_226 = at("< 226", mode_e).expect("a 226 after MODE E");
    let retrs = lines[mode_e..first_226]
        .iter()
        .filter(|l| l.contains("> RETR"))
        .count();
    assert!(
        retrs >= 2,
        "RETRs sent before the first 226: {retrs}\n{err}"
    );
    assert!(!err.contains("> SIZE"), "no SIZE per file:\n{err}");
}

/// The shell's `mput` and `mget` (`--streams` unset) pipeline against kftpd: every file
/// arrives byte-exact both ways, and a file the server may not read is named in its error
/// while the others arrive and nothing half-made is left.
#[test]
fn shell_mput_and_mget_pipeline() {
    use std::os::unix::fs::PermissionsExt;
    let Some(s) = Kftpd::start_unprivileged(false) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    std::fs::create_dir(s.root.join("in")).unwrap();
    std::fs::set_permissions(s.root.join("in"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let shell = |cwd: &Path, script: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kftp"))
            .args(["-vv", "--netrc"])
            .arg(dir.path().join("none"))
            .arg("shell")
            .arg(format!("ftp://alice@127.0.0.1:{}/in/", s.port))
            .env("KFTP_PASSWORD", "correct horse battery")
            .current_dir(cwd)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = shell(&src.join("d0"), "mput *.bin\nbye\n");
    assert!(err.contains("> MODE E"), "{err}");
    assert_eq!(
        tree_hashes(&s.root.join("in")),
        tree_hashes(&src.join("d0"))
    );

    std::fs::set_permissions(
        s.root.join("in/f10.bin"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let back = dir.path().join("back");
    std::fs::create_dir(&back).unwrap();
    let err = shell(&back, "mget *.bin\nbye\n");
    assert!(err.contains("mget: f10.bin: get f10.bin: 550"), "{err}");
    let mut want = tree_hashes(&src.join("d0"));
    assert!(want.remove("f10.bin").is_some());
    assert_eq!(tree_hashes(&back), want);
    assert_eq!(leftovers(&back), Vec::<String>::new());
}

/// A download that fails on our side after its bytes came (its final name is taken by a
/// directory) is reported by name; the files pipelined behind it still arrive byte-exact
/// (the run sets up its streams again after a failed file), and no temp file is left.
#[tokio::test]
async fn a_local_failure_inside_the_window_spares_the_rest() {
    let Some(s) = Kftpd::start(false) else { return };
    let site = s.root.join("site");
    make_tree(&site);
    let back = tempfile::tempdir().unwrap();
    // d0/f08.bin cannot be renamed into place: a non-empty directory has its name.
    std::fs::create_dir_all(back.path().join("d0/f08.bin/x")).unwrap();
    let mut c = s.fixture().client().await;
    c.set_streams(2);
    let ends = Arc::new(Ends::default());
    let opts = MirrorOptions {
        parallel: 1,
        ..Default::default()
    };
    let err = kftp::mirror_down(&mut c, "site", back.path(), &opts, ends.clone())
        .await
        .expect_err("one file cannot land");
    assert!(err.to_string().contains("1 failed"), "{err}");
    let failed = ends.failed();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "site/d0/f08.bin", "{failed:?}");
    std::fs::remove_dir_all(back.path().join("d0/f08.bin")).unwrap();
    let mut want = tree_hashes(&site);
    assert!(want.remove("d0/f08.bin").is_some());
    assert_eq!(tree_hashes(back.path()), want);
    assert_eq!(leftovers(back.path()), Vec::<String>::new());
    c.quit().await;
}

/// A mirror with `parallel` left to kftp (0) runs [`kftp::mirror::AUTO_PARALLEL`]
/// sessions, each pipelining in MODE E by itself (`--streams` unset, on loopback: one
/// stream, no NOOP timed); an explicit number is kept. The tree arrives byte-exact.
#[tokio::test]
async fn a_mirror_left_to_kftp_runs_four_pipelined_sessions() {
    let Some(s) = Kftpd::start(false) else { return };
    let site = s.root.join("site");
    make_tree(&site);
    let mut c = s.fixture().client().await;
    assert_eq!(
        c.set_streams_auto().await.unwrap(),
        None,
        "loopback: not timed"
    );
    assert!(c.pipelines(), "a mirror pipelines in MODE E by itself");
    assert_eq!(c.round_trip().await.unwrap(), None);
    assert_eq!(kftp::mirror::sessions_for(0), 4);
    assert_eq!(kftp::mirror::sessions_for(3), 3);
    let back = tempfile::tempdir().unwrap();
    let r = kftp::mirror_down(
        &mut c,
        "site",
        back.path(),
        &MirrorOptions::default(),
        Arc::new(Ends::default()),
    )
    .await
    .unwrap();
    assert_eq!(r.transferred, 61);
    assert_eq!(tree_hashes(back.path()), tree_hashes(&site));
    assert_eq!(leftovers(back.path()), Vec::<String>::new());
    c.quit().await;
}
