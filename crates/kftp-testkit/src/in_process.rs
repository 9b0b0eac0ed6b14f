//! kftpd inside the test process ([`crate::Server::start_in_process`]): the real server
//! code through `kftpd::embed`, on the test's own tokio runtime, so that a
//! `#[tokio::test]` can `tokio::time::pause()` and `advance` through idle, login, data and
//! stall timeouts instead of sleeping. Drive it with [`crate::AsyncCtl`]: a blocking
//! client would stop the runtime the server runs on.
//!
//! Passwords are checked on kftpd's own hashing threads, which a paused clock does not
//! wait for: log in first, then pause.
//!
//! The server logs (debug) to `kftpd.log` in its directory through a subscriber that is
//! this thread's default while the server lives: a current-thread runtime polls every
//! kftpd task on the test's thread, so each test's log holds only its own server.

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
    log: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _logging: tracing::subscriber::DefaultGuard,
    _dir: tempfile::TempDir,
}

/// This thread's log subscriber, writing to `log`.
fn log_to(log: &Path) -> tracing::subscriber::DefaultGuard {
    let file = std::fs::File::create(log).expect("log file");
    let filter = "debug,rustls=error,hyper=warn,reqwest=warn,opendal=warn";
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .finish();
    tracing::subscriber::set_default(subscriber)
}

pub(crate) async fn start(args: Vec<OsString>, dir: tempfile::TempDir, root: PathBuf) -> InProcess {
    let log = dir.path().join("kftpd.log");
    let logging = log_to(&log);
    let server = kftpd::embed::bind_with_args(args.clone())
        .await
        .unwrap_or_else(|e| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("in-process kftpd {args:?} did not start: {e:#}\n{text}")
        });
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
        log,
        stop: Some(stop),
        _logging: logging,
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

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if std::thread::panicking() {
            eprintln!(
                "--- kftpd log ({}) ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}
