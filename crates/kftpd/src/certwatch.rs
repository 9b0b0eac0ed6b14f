//! Certificates that renew themselves into place: a small task stats the certificate and
//! key files every `--tls-reload-interval` seconds and reloads them
//! ([`kftp_tls::ServerTls::reload`], the same call as SIGHUP) when they changed, so a
//! renewal by certbot or an ACME client needs no signal and drops no session.
//!
//! What is compared, per file: the resolved path (certbot's `live/` names are symlinks that
//! a renewal points at new files in `archive/`), and, through the symlinks, the device,
//! inode, size and modification time. A pair caught half-written (a new certificate with the
//! old key, a truncated PEM) does not parse or does not match: the old pair stays, a warning
//! is logged once for that state, and the next tick tries again. Generated self-signed
//! certificates are not watched.

use kftp_tls::ServerTls;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What identifies one version of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    target: Option<PathBuf>,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        target: std::fs::canonicalize(path).ok(),
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
    })
}

/// Both files' stamps; `None` for a file that cannot be stat'ed right now.
type Pair = (Option<Stamp>, Option<Stamp>);

fn stamps(cert: &Path, key: &Path) -> Pair {
    (stamp(cert), stamp(key))
}

/// Starts the watcher (inside the runtime) unless the interval is zero or the certificate
/// was generated.
pub fn spawn(tls: Arc<ServerTls>, key: PathBuf, interval: Duration) {
    if interval.is_zero() || tls.is_generated() {
        return;
    }
    let cert = tls.cert_path().to_path_buf();
    tracing::debug!(
        cert = %cert.display(),
        key = %key.display(),
        secs = interval.as_secs(),
        "watching the TLS certificate for renewals"
    );
    tokio::spawn(async move {
        let (c, k) = (cert.clone(), key.clone());
        let mut loaded = tokio::task::spawn_blocking(move || stamps(&c, &k))
            .await
            .unwrap_or((None, None));
        let mut failed: Option<Pair> = None;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let (c, k, t) = (cert.clone(), key.clone(), tls.clone());
            let before = loaded.clone();
            // Stat and PEM parsing: off the async workers (the files may sit on a slow mount).
            let outcome = tokio::task::spawn_blocking(move || {
                let now = stamps(&c, &k);
                if now == before {
                    return (now, None);
                }
                let r = t.reload();
                (now, Some(r))
            })
            .await;
            let Ok((now, result)) = outcome else { continue };
            match result {
                Some(Ok(())) => {
                    loaded = now;
                    failed = None;
                }
                Some(Err(e)) if failed.as_ref() != Some(&now) => {
                    tracing::warn!(
                        error = %e,
                        "TLS certificate files changed but do not load (half-written?); \
                         keeping the old pair, retrying"
                    );
                    failed = Some(now);
                }
                _ => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_sees_replacement_and_symlink_retarget() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.pem");
        let b = d.path().join("b.pem");
        std::fs::write(&a, "one").unwrap();
        std::fs::write(&b, "two").unwrap();
        let live = d.path().join("live.pem");
        std::os::unix::fs::symlink(&a, &live).unwrap();
        let s1 = stamp(&live).unwrap();
        assert_eq!(stamp(&live), Some(s1.clone()));
        // Retarget the symlink (certbot's renewal), same size.
        let tmp = d.path().join("live.tmp");
        std::os::unix::fs::symlink(&b, &tmp).unwrap();
        std::fs::rename(&tmp, &live).unwrap();
        let s2 = stamp(&live).unwrap();
        assert_ne!(s1, s2);
        assert_eq!(
            s2.target.as_deref(),
            Some(std::fs::canonicalize(&b).unwrap().as_path())
        );
        // Replace by rename: a new inode.
        let n = d.path().join("new");
        std::fs::write(&n, "two").unwrap();
        std::fs::rename(&n, &b).unwrap();
        assert_ne!(stamp(&live).unwrap(), s2);
        assert!(stamp(&d.path().join("missing")).is_none());
    }
}
