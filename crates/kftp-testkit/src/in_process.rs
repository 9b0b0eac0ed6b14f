//! kftpd inside the test process ([`crate::Server::start_in_process`]): the real server
//! code through `kftpd::embed`, on the test's own tokio runtime, so that a
//! `#[tokio::test]` can `tokio::time::pause()` and `advance` through idle, login, data and
//! stall timeouts instead of sleeping. Drive it with [`crate::AsyncCtl`]: a blocking
//! client would stop the runtime the server runs on.
//!
//! Passwords are checked on kftpd's own hashing threads, which a paused clock does not
//! wait for: log in first, then pause.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A kftpd serving on the test's runtime. Stopped on drop (and with the runtime).
pub struct InProcess {
    /// The control address.
    pub addr: SocketAddr,
    /// The implicit FTPS address, with `--implicit-listen`.
    pub implicit_addr: Option<SocketAddr>,
    /// The certificate's SHA-256 fingerprint, unless `--no-tls`.
    pub fingerprint: Option<String>,
    root: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

pub(crate) async fn start(args: Vec<OsString>, dir: tempfile::TempDir, root: PathBuf) -> InProcess {
    let server = kftpd::embed::bind_with_args(args.clone())
        .await
        .unwrap_or_else(|e| panic!("in-process kftpd {args:?} did not start: {e:#}"));
    let addr = server.addrs[0];
    let implicit_addr = server.implicit_addrs.first().copied();
    let fingerprint = server.fingerprint.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    InProcess {
        addr,
        implicit_addr,
        fingerprint,
        root,
        stop: Some(stop),
        _dir: dir,
    }
}

impl InProcess {
    /// The temp root (served unless `.root(..)` named another).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path in the temp root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
