//! Events for outside programs and services: on login, logout, upload, download, delete,
//! rename, mkdir and rmdir, kftpd hands one JSON object to every hook, e.g.
//!
//! ```json
//! {"event":"upload","time":1765000000.123,"session":7,"user":"alice","peer":"192.0.2.7",
//!  "path":"/in/a.csv","size":1048576,"duration_ms":12,"data_path":"splice","ok":true}
//! ```
//!
//! Hooks, each repeatable (flags or TOML arrays): `--event-exec PROGRAM` runs PROGRAM with
//! the JSON on its standard input ([`exec`]); `--event-webhook URL` POSTs it, with retries
//! ([`webhook`]). Each hook has its own bounded queue ([`QUEUE`]) and worker, so one slow
//! hook neither delays nor starves another; each run or request is limited to
//! `--event-timeout` seconds. Emitting never waits: when a hook's queue is full the event
//! is dropped for that hook and counted in a warning, so a slow or hung hook cannot stall a
//! session or a transfer.
//!
//! `--event-webhook-sync URL` is different: it is asked *during* the upload, before the
//! part file is renamed into place, and the 226 waits for its answer ([`webhook::Gate`]):
//! 2xx keeps the file, anything else (or no answer within the timeout) discards it and the
//! client gets 550 with the hook's reason. Its JSON adds `local_path`, where the part file
//! can be read on the server. Uploads are not hashed on the way in (the splice path never
//! sees the bytes in user space), so events carry no SHA-256: a hook that needs one reads
//! the file.
//!
//! The workers run on one thread of their own, started before the process confines itself:
//! programs run as kftpd's user (after `--user`) but outside its Landlock domain, and
//! `--seccomp` forbids running programs, so kftpd refuses `--event-exec` with it.

pub mod exec;
pub mod webhook;

use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// Events waiting for one hook at most; more are dropped.
pub const QUEUE: usize = 1024;

/// One event, as the hooks receive it.
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
    /// For the synchronous upload hook: where the uploaded bytes are on the server (the
    /// part file, or the file itself for an append), to be read before it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_path: Option<PathBuf>,
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

    /// One line of JSON (`None` only if serialising failed, which these fields cannot).
    fn json_line(&self) -> Option<Vec<u8>> {
        let mut line = serde_json::to_vec(self).ok()?;
        line.push(b'\n');
        Some(line)
    }
}

/// What hooks to start (`--event-exec`, `--event-webhook`, `--event-webhook-sync`).
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    /// Programs, each run once per event.
    pub exec: Vec<PathBuf>,
    /// URLs, each POSTed once per event.
    pub webhook: Vec<String>,
    /// The URL asked before an upload is kept.
    pub webhook_sync: Option<String>,
    /// How long one run or request may take.
    pub timeout: Duration,
}

impl Hooks {
    /// The hooks `cfg` names.
    pub fn of(cfg: &crate::config::Config) -> Hooks {
        Hooks {
            exec: cfg.event_exec.clone(),
            webhook: cfg.event_webhook.clone(),
            webhook_sync: cfg.event_webhook_sync.clone(),
            timeout: cfg.event_timeout,
        }
    }
}

/// One hook's queue.
#[derive(Debug)]
struct Queue {
    /// For warnings: the program or URL.
    name: String,
    tx: mpsc::Sender<Arc<Event>>,
    dropped: AtomicU64,
}

/// The sending side, shared by all sessions.
#[derive(Debug, Default)]
pub struct Events {
    queues: Vec<Queue>,
    gate: Option<webhook::Gate>,
}

impl Events {
    /// No hooks: events go nowhere.
    pub fn off() -> Events {
        Events::default()
    }

    /// Starts the workers of `hooks`, on a thread of their own with a small runtime.
    ///
    /// Call it *before* the process confines itself (`startup::confine`): Landlock restricts
    /// only the thread that applies it and threads started after, so the operator's
    /// programs run outside kftpd's file-system sandbox (they would otherwise be unable to
    /// execute, or to write their own files), and the HTTP client reads the system's CA
    /// certificates now; the privilege drop, which glibc applies to every thread, still
    /// makes them run as `--user`.
    pub fn start(hooks: &Hooks) -> anyhow::Result<Events> {
        let gate = match &hooks.webhook_sync {
            Some(url) => Some(webhook::Gate::new(url.clone(), hooks.timeout)?),
            None => None,
        };
        if hooks.exec.is_empty() && hooks.webhook.is_empty() {
            return Ok(Events {
                queues: Vec::new(),
                gate,
            });
        }
        let mut queues = Vec::new();
        let mut workers: Vec<futures::future::BoxFuture<'static, ()>> = Vec::new();
        for program in &hooks.exec {
            let (tx, rx) = mpsc::channel(QUEUE);
            queues.push(Queue::new(program.display().to_string(), tx));
            workers.push(Box::pin(exec::worker(program.clone(), hooks.timeout, rx)));
        }
        if !hooks.webhook.is_empty() {
            let client = webhook::client(hooks.timeout)?;
            for url in &hooks.webhook {
                let (tx, rx) = mpsc::channel(QUEUE);
                queues.push(Queue::new(webhook::shown(url), tx));
                workers.push(Box::pin(webhook::worker(client.clone(), url.clone(), rx)));
            }
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("kftpd-events".into())
            .spawn(move || rt.block_on(futures::future::join_all(workers)))?;
        Ok(Events { queues, gate })
    }

    /// Whether any hook takes events: building one costs allocations that a server
    /// without hooks should not pay per transfer.
    pub fn wanted(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Queues `ev` for every hook without waiting; a hook whose queue is full misses it.
    pub fn emit(&self, ev: Event) {
        if self.queues.is_empty() {
            return;
        }
        let ev = Arc::new(ev);
        for q in &self.queues {
            if q.tx.try_send(ev.clone()).is_err() {
                let n = q.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n,
                        hook = %q.name,
                        "event queue full: the event hook is too slow; events dropped"
                    );
                }
            }
        }
    }

    /// The synchronous upload hook, when there is one.
    pub fn gate(&self) -> Option<&webhook::Gate> {
        self.gate.as_ref()
    }
}

impl Queue {
    fn new(name: String, tx: mpsc::Sender<Arc<Event>>) -> Queue {
        Queue {
            name,
            tx,
            dropped: AtomicU64::new(0),
        }
    }
}
