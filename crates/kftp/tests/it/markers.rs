//! MODE E markers from kftpd (`--perf-marker-interval 1`, and a per-session rate limit so
//! that a multi-MiB transfer lasts a few seconds on loopback): kftp's get and put over
//! four streams, and a pipelined mirror down and up, read the `111`/`112` replies that
//! come before each final `226` without taking one for a file's reply, stay byte-exact,
//! and report what the markers said ([`kftp::Client::markers`]).

use crate::kftpd::Kftpd;
use crate::{random_bytes, sha256_file, tree_hashes};
use kftp::MirrorOptions;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

const FLAGS: &[&str] = &["--rate-session", "2M", "--perf-marker-interval", "1"];

#[tokio::test]
async fn markers_during_get_put_and_a_pipelined_mirror() {
    use std::os::unix::fs::PermissionsExt;
    let Some(s) = Kftpd::start_flags(false, FLAGS) else {
        return;
    };
    let mut c = s.fixture().client().await;
    let len = (4 << 20) + 77;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src.bin");
    std::fs::write(&src, random_bytes(len, 61)).unwrap();
    let p = AtomicU64::new(0);

    // Put: performance markers and restart markers, whose ranges lie inside the file.
    let r = c.put_mode_e(&src, "m.bin", 4, &p).await.unwrap();
    assert_eq!(r.bytes, len as u64);
    assert_eq!(sha256_file(&s.root.join("m.bin")), sha256_file(&src));
    let put = c.markers().clone();
    assert!(put.perf >= 1 && put.restart >= 1, "{put:?}");
    let ranges = put.last_ranges.clone().expect("a 111 that parses");
    let ranges = ranges.as_slice();
    assert!(!ranges.is_empty() && ranges.iter().all(|&(_, e)| e <= len as u64));
    let perf = put.last_perf.expect("a 112 that parses");
    assert_eq!((perf.stripe, perf.stripes), (0, 1));
    assert!(perf.bytes <= len as u64, "{perf:?}");

    // Get: performance markers only.
    let dst = local.path().join("dst.bin");
    let r = c.get_mode_e("m.bin", &dst, 4, &p).await.unwrap();
    assert_eq!(r.bytes, len as u64);
    assert_eq!(sha256_file(&dst), sha256_file(&src));
    let get = c.markers().clone();
    assert!(get.perf > put.perf, "{get:?}");
    assert_eq!(get.restart, put.restart, "no 111 on a download: {get:?}");

    // A pipelined mirror of small files and one that lasts a few marker intervals.
    let site = s.root.join("site");
    std::fs::create_dir_all(&site).unwrap();
    for i in 0..12u64 {
        std::fs::write(
            site.join(format!("f{i:02}.bin")),
            random_bytes(4096, 70 + i),
        )
        .unwrap();
    }
    std::fs::write(site.join("f06.bin"), random_bytes(len, 69)).unwrap();
    c.set_streams(2);
    assert!(c.pipelines(), "MODE E applies, so the mirror pipelines");
    let opts = MirrorOptions {
        parallel: 1,
        ..Default::default()
    };
    let back = tempfile::tempdir().unwrap();
    kftp::mirror_down(&mut c, "site", back.path(), &opts, Arc::new(kftp::Silent))
        .await
        .unwrap();
    assert_eq!(tree_hashes(back.path()), tree_hashes(&site));
    let down = c.markers().clone();
    assert!(down.perf > get.perf, "{down:?}");

    let up = s.root.join("up");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::set_permissions(&up, std::fs::Permissions::from_mode(0o777)).unwrap();
    kftp::mirror_up(&mut c, back.path(), "up", &opts, Arc::new(kftp::Silent))
        .await
        .unwrap();
    assert_eq!(tree_hashes(&up), tree_hashes(&site));
    let after = c.markers().clone();
    assert!(
        after.perf > down.perf && after.restart > down.restart,
        "{after:?}"
    );
    c.quit().await;
}
