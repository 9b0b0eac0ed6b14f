//! The core client checks, written once and run against every real server we have
//! (vsftpd in `library`, kftpd in `kftpd`).

use crate::{random_bytes, sha256_file, tree_hashes};
use kftp::{
    Client, ConnectOptions, Credentials, DataMode, ErrorKind, MirrorOptions, Silent,
    TransferOptions,
};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// How to reach a server and where its files are on disk.
pub struct Fixture {
    pub opts: ConnectOptions,
    pub creds: Credentials,
    /// The directory the login lands in.
    pub root: PathBuf,
}

impl Fixture {
    pub async fn client(&self) -> Client {
        Client::connect(self.opts.clone(), self.creds.clone())
            .await
            .expect("login")
    }
}

pub async fn put_then_get_is_byte_exact(f: &Fixture) {
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    std::fs::write(&src, random_bytes(3 << 20, 1)).unwrap();
    for mode in [DataMode::Passive, DataMode::Active] {
        let mut o = f.opts.clone();
        o.mode = mode;
        let mut c = Client::connect(o, f.creds.clone()).await.unwrap();
        let p = AtomicU64::new(0);
        let r = c
            .put(&src, "up.bin", &TransferOptions::default(), &p)
            .await
            .unwrap();
        assert_eq!(r.bytes, 3 << 20);
        assert_eq!(
            sha256_file(&f.root.join("up.bin")),
            sha256_file(&src),
            "{mode:?}"
        );
        let dst = local.path().join("dst.bin");
        let r = c
            .get("up.bin", &dst, &TransferOptions::default(), &p)
            .await
            .unwrap();
        assert_eq!(r.bytes, 3 << 20);
        assert_eq!(sha256_file(&dst), sha256_file(&src), "{mode:?}");
        // No temp file left behind.
        assert_eq!(std::fs::read_dir(local.path()).unwrap().count(), 2);
        c.quit().await;
    }
}

/// Many uploads in a row on one session. Over TLS 1.3 each data connection uses up one
/// session ticket, and kftpd sends none on upload connections: the client must keep its
/// supply up or its data connections stop resuming the control session.
pub async fn many_uploads_in_one_session(f: &Fixture) {
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("small.bin");
    std::fs::write(&src, random_bytes(10_000, 12)).unwrap();
    let mut c = f.client().await;
    let p = AtomicU64::new(0);
    for i in 0..25 {
        c.put(
            &src,
            &format!("many{i}.bin"),
            &TransferOptions::default(),
            &p,
        )
        .await
        .unwrap_or_else(|e| panic!("upload {i}: {e}"));
    }
    assert_eq!(sha256_file(&f.root.join("many24.bin")), sha256_file(&src));
    c.quit().await;
}

pub async fn failed_get_leaves_no_file(f: &Fixture) {
    let local = tempfile::tempdir().unwrap();
    let mut c = f.client().await;
    let err = c
        .get(
            "missing.bin",
            &local.path().join("x"),
            &TransferOptions::default(),
            &AtomicU64::new(0),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(std::fs::read_dir(local.path()).unwrap().count(), 0);
}

pub async fn resume_get_and_put(f: &Fixture) {
    let data = random_bytes(2_000_000, 2);
    std::fs::write(f.root.join("big.bin"), &data).unwrap();
    let local = tempfile::tempdir().unwrap();
    let mut c = f.client().await;
    let resume = TransferOptions {
        resume: true,
        ..Default::default()
    };
    // get -c: the first 700 000 bytes are already here.
    let part = local.path().join("big.bin");
    std::fs::write(&part, &data[..700_000]).unwrap();
    let r = c
        .get("big.bin", &part, &resume, &AtomicU64::new(0))
        .await
        .unwrap();
    assert_eq!((r.skipped, r.bytes), (700_000, 1_300_000));
    assert_eq!(std::fs::read(&part).unwrap(), data);
    // Complete already: nothing moves.
    let r = c
        .get("big.bin", &part, &resume, &AtomicU64::new(0))
        .await
        .unwrap();
    assert_eq!(r.bytes, 0);
    // put -c: the server has the first 1 234 567 bytes.
    std::fs::write(f.root.join("up.bin"), &data[..1_234_567]).unwrap();
    let r = c
        .put(&part, "up.bin", &resume, &AtomicU64::new(0))
        .await
        .unwrap();
    assert_eq!((r.skipped, r.bytes), (1_234_567, 2_000_000 - 1_234_567));
    assert_eq!(std::fs::read(f.root.join("up.bin")).unwrap(), data);
    c.quit().await;
}

pub async fn segmented_download(f: &Fixture) {
    std::fs::write(f.root.join("seg.bin"), random_bytes(6 << 20, 3)).unwrap();
    let local = tempfile::tempdir().unwrap();
    let dst = local.path().join("seg.bin");
    let mut c = f.client().await;
    let progress = Arc::new(AtomicU64::new(0));
    let r = c
        .get_segmented("seg.bin", &dst, 4, None, progress.clone())
        .await
        .unwrap();
    assert_eq!(r.bytes, 6 << 20);
    assert_eq!(sha256_file(&dst), sha256_file(&f.root.join("seg.bin")));
    assert_eq!(progress.load(std::sync::atomic::Ordering::Relaxed), 6 << 20);
    c.quit().await;
}

pub async fn file_operations(f: &Fixture) {
    let mut c = f.client().await;
    c.mkdir("d").await.unwrap();
    assert!(f.root.join("d").is_dir());
    std::fs::write(f.root.join("d/f"), b"x").unwrap();
    c.rename("d/f", "d/g").await.unwrap();
    assert!(f.root.join("d/g").is_file());
    assert_eq!(
        c.delete("d/nope").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    c.delete("d/g").await.unwrap();
    c.cwd("d").await.unwrap();
    assert!(c.pwd().await.unwrap().ends_with("/d"));
    c.cwd("..").await.unwrap();
    c.rmdir("d").await.unwrap();
    assert!(!f.root.join("d").exists());
    let mut out = Vec::new();
    std::fs::write(f.root.join("cat.txt"), b"meow\n").unwrap();
    c.cat("cat.txt", &mut out).await.unwrap();
    assert_eq!(out, b"meow\n");
    c.quit().await;
}

pub async fn mirror_both_ways(f: &Fixture) {
    let local = tempfile::tempdir().unwrap();
    // Upload a tree.
    let src = local.path().join("src");
    for (p, n, seed) in [
        ("a.bin", 10_000, 1),
        ("d1/b.bin", 300_000, 2),
        ("d1/d2/c.bin", 1, 3),
        ("d1/d2/empty", 0, 4),
    ] {
        let path = src.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, random_bytes(n, seed)).unwrap();
    }
    std::fs::create_dir_all(src.join("emptydir")).unwrap();
    let mut c = f.client().await;
    let opts = MirrorOptions {
        parallel: 3,
        ..Default::default()
    };
    let r = kftp::mirror_up(&mut c, &src, "site", &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 4);
    assert_eq!(tree_hashes(&f.root.join("site")), tree_hashes(&src));
    assert!(f.root.join("site/emptydir").is_dir());
    // Into a directory whose parents do not exist yet: created like mkdir -p.
    let r = kftp::mirror_up(&mut c, &src, "nested/deeper/site", &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 4);
    assert_eq!(
        tree_hashes(&f.root.join("nested/deeper/site")),
        tree_hashes(&src)
    );
    // Again: nothing to do.
    let r = kftp::mirror_up(&mut c, &src, "site", &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!((r.transferred, r.up_to_date), (0, 4));
    // Download it elsewhere.
    let dst = local.path().join("dst");
    let r = kftp::mirror_down(&mut c, "site", &dst, &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 4);
    assert_eq!(tree_hashes(&dst), tree_hashes(&src));
    let r = kftp::mirror_down(&mut c, "site", &dst, &opts, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.transferred, 0, "second download is a no-op");
    // Change the server side: one file grows, one appears, one goes; --delete follows.
    std::fs::write(f.root.join("site/a.bin"), random_bytes(20_000, 9)).unwrap();
    std::fs::write(f.root.join("site/new.txt"), b"new").unwrap();
    std::fs::remove_file(f.root.join("site/d1/b.bin")).unwrap();
    let del = MirrorOptions {
        delete: true,
        parallel: 1,
        ..Default::default()
    };
    let r = kftp::mirror_down(&mut c, "site", &dst, &del, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!((r.transferred, r.deleted), (2, 1));
    assert_eq!(tree_hashes(&dst), tree_hashes(&f.root.join("site")));
    // And upward with --delete: the local tree wins.
    let r = kftp::mirror_up(&mut c, &src, "site", &del, Arc::new(Silent))
        .await
        .unwrap();
    assert_eq!(r.deleted, 1, "new.txt removed");
    assert_eq!(tree_hashes(&f.root.join("site")), tree_hashes(&src));
    // A missing source directory is an error, not an empty tree.
    let err = kftp::mirror_down(&mut c, "nope", &dst, &del, Arc::new(Silent))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(dst.join("a.bin").exists());
    c.quit().await;
}

/// Runs every check in this module, each on a fresh server from `make`.
#[macro_export]
macro_rules! core_suite {
    ($make:expr) => {
        #[tokio::test]
        async fn put_then_get_is_byte_exact() {
            let Some(s) = $make else { return };
            $crate::suite::put_then_get_is_byte_exact(&s.fixture()).await;
        }
        #[tokio::test]
        async fn many_uploads_in_one_session() {
            let Some(s) = $make else { return };
            $crate::suite::many_uploads_in_one_session(&s.fixture()).await;
        }
        #[tokio::test]
        async fn failed_get_leaves_no_file() {
            let Some(s) = $make else { return };
            $crate::suite::failed_get_leaves_no_file(&s.fixture()).await;
        }
        #[tokio::test]
        async fn resume_get_and_put() {
            let Some(s) = $make else { return };
            $crate::suite::resume_get_and_put(&s.fixture()).await;
        }
        #[tokio::test]
        async fn segmented_download() {
            let Some(s) = $make else { return };
            $crate::suite::segmented_download(&s.fixture()).await;
        }
        #[tokio::test]
        async fn file_operations() {
            let Some(s) = $make else { return };
            $crate::suite::file_operations(&s.fixture()).await;
        }
        #[tokio::test]
        async fn mirror_both_ways() {
            let Some(s) = $make else { return };
            $crate::suite::mirror_both_ways(&s.fixture()).await;
        }
    };
}
