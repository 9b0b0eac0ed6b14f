//! Events for outside programs (`--event-exec PROGRAM`): on login, logout, upload,
//! download, delete, rename, mkdir and rmdir, kftpd runs PROGRAM with one JSON object on
//! its standard input, e.g.
//!
//! ```json
//! {"event":"upload","time":1765000000.123,"session":7,"user":"alice","peer":"192.0.2.7",
//!  "path":"/in/a.csv","size":1048576,"duration_ms":12,"data_path":"splice","ok":true}
//! ```
//!
//! Events go through a bounded queue ([`QUEUE`]) to one worker that runs the program once
//! per event, in order, each run limited to `--event-timeout` seconds (then killed).
//! Emitting never waits: when the queue is full the event is dropped and counted in a
//! warning, so a slow or hung program cannot stall a session or a transfer.
//!
//! The program runs as kftpd's user (after `--user`), and inside its Landlock domain with
//! `--sandbox` (it can reach only what kftpd can); `--seccomp` forbids running programs, so
//! kftpd refuses to start with both.

use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Events waiting for the program at most; more are dropped.
pub const QUEUE: usize = 1024;

/// One event, as the program receives it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Event {
    /// login, logout, upload, download, delete, rename, mkdir, rmdir.
    pub event: &'static str,
    /// Seconds since the Unix epoch.
    pub time: f64,
    /// Session id (as in the log).
    pub session: u64,
    /// Login name.
    pub user: String,
    /// The client's address.
    pub peer: String,
    /// The virtual path (the new name for a rename).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A rename's old name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Bytes moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// How long it took (transfers) or lasted (a session, at logout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The data path of a transfer (`sendfile`, `splice`, `tls-copy`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_path: Option<&'static str>,
    /// Whether a transfer completed (226).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
}

impl Event {
    /// An event of `kind` by `user` from `peer` in `session`, stamped now.
    pub fn new(kind: &'static str, session: u64, user: &str, peer: std::net::IpAddr) -> Event {
        Event {
            event: kind,
            time: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            session,
            user: user.to_string(),
            peer: peer.to_canonical().to_string(),
            ..Event::default()
        }
    }

    /// With a path.
    pub fn path(mut self, p: impl ToString) -> Event {
        self.path = Some(p.to_string());
        self
    }
}

/// The sending side, shared by all sessions.
#[derive(Debug)]
pub struct Events {
    tx: Option<mpsc::Sender<Event>>,
    dropped: AtomicU64,
}

impl Events {
    /// No program: events go nowhere.
    pub fn off() -> Events {
        Events {
            tx: None,
            dropped: AtomicU64::new(0),
        }
    }

    /// Starts the worker that runs `program`, on a thread of its own with a small runtime.
    ///
    /// Call it *before* the process confines itself (`ops::confine`): Landlock restricts
    /// only the thread that applies it and threads started after, so the operator's
    /// program runs outside kftpd's file-system sandbox (it would otherwise be unable to
    /// execute, or to write its own files), while the privilege drop, which glibc applies
    /// to every thread, still makes it run as `--user`.
    pub fn start(program: PathBuf, timeout: Duration) -> std::io::Result<Events> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("kftpd-events".into())
            .spawn(move || rt.block_on(worker(program, timeout, rx)))?;
        Ok(Events {
            tx: Some(tx),
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues `ev` without waiting; drops it when the queue is full.
    pub fn emit(&self, ev: Event) {
        let Some(tx) = &self.tx else { return };
        if tx.try_send(ev).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "event queue full: the --event-exec program is too slow; events dropped"
                );
            }
        }
    }
}

async fn worker(program: PathBuf, timeout: Duration, mut rx: mpsc::Receiver<Event>) {
    while let Some(ev) = rx.recv().await {
        let kind = ev.event;
        let mut line = match serde_json::to_vec(&ev) {
            Ok(l) => l,
            Err(_) => continue,
        };
        line.push(b'\n');
        let run = async {
            let mut child = tokio::process::Command::new(&program)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            if let Some(mut stdin) = child.stdin.take() {
                // A program that does not read its input is its own business.
                let _ = stdin.write_all(&line).await;
            }
            child.wait().await
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(st)) if st.success() => {}
            Ok(Ok(st)) => {
                tracing::warn!(event = kind, status = %st, program = %program.display(), "event program failed")
            }
            Ok(Err(e)) => {
                tracing::warn!(event = kind, error = %e, program = %program.display(), "cannot run the event program")
            }
            Err(_) => {
                tracing::warn!(event = kind, secs = timeout.as_secs(), program = %program.display(), "event program timed out: killed")
            }
        }
    }
}
