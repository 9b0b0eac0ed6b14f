//! The session registry: what the admin API lists and how it ends a session.
//!
//! Each session registers when it starts ([`Registry::register`]) and is removed when its
//! [`Registration`] drops. The session touches its shared [`SessionInfo`] only when its
//! login or running transfer changes; the bytes moved are read from the transfer's own
//! progress counter when the API asks.

use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// A running transfer as the session last published it.
#[derive(Debug, Clone)]
pub struct TransferInfo {
    /// Verb and path (`RETR /big.bin`).
    pub what: String,
    /// Bytes moved so far (the transfer's own counter).
    pub progress: Arc<AtomicU64>,
    /// Expected size, if known.
    pub total: Option<u64>,
    /// When it started.
    pub started: Instant,
}

/// What a session publishes about itself.
#[derive(Debug, Clone, Default)]
pub struct SessionInfo {
    /// The logged-in user.
    pub user: Option<String>,
    /// The running transfer.
    pub transfer: Option<TransferInfo>,
}

#[derive(Debug)]
struct Entry {
    peer: SocketAddr,
    since: SystemTime,
    kick: watch::Sender<bool>,
    info: Arc<Mutex<SessionInfo>>,
}

/// All live sessions of one server.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    inner: Arc<Mutex<BTreeMap<u64, Entry>>>,
}

/// A session's place in the registry; removes it on drop.
#[derive(Debug)]
pub struct Registration {
    registry: Registry,
    id: u64,
    info: Arc<Mutex<SessionInfo>>,
    /// Becomes `true` when an administrator ends the session.
    pub kicked: watch::Receiver<bool>,
    seen_user: bool,
    seen_transfer: Option<Arc<AtomicU64>>,
}

/// One session in a listing.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct SessionView {
    /// Session id (as in the logs: `session=N`).
    pub id: u64,
    /// Logged-in user; `null` before login.
    pub user: Option<String>,
    /// Client address.
    pub peer: String,
    /// Start, Unix seconds.
    pub since: u64,
    /// The running transfer.
    pub transfer: Option<TransferView>,
}

/// A running transfer in a listing.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct TransferView {
    /// Verb (`RETR`, `STOR`, `LIST`...).
    pub verb: String,
    /// Path as the client gave it.
    pub path: String,
    /// Bytes moved so far.
    pub bytes: u64,
    /// Expected size, if known.
    pub total: Option<u64>,
    /// Seconds since it started.
    pub seconds: f64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Registers session `id` from `peer`.
    pub fn register(&self, id: u64, peer: SocketAddr) -> Registration {
        let (kick, kicked) = watch::channel(false);
        let info = Arc::new(Mutex::new(SessionInfo::default()));
        lock(&self.inner).insert(
            id,
            Entry {
                peer,
                since: SystemTime::now(),
                kick,
                info: info.clone(),
            },
        );
        Registration {
            registry: self.clone(),
            id,
            info,
            kicked,
            seen_user: false,
            seen_transfer: None,
        }
    }

    /// Every live session, by id.
    pub fn list(&self) -> Vec<SessionView> {
        let map = lock(&self.inner);
        map.iter()
            .map(|(id, e)| {
                let info = lock(&e.info).clone();
                SessionView {
                    id: *id,
                    user: info.user,
                    peer: e.peer.to_string(),
                    since: e
                        .since
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                    transfer: info.transfer.map(|t| {
                        let (verb, path) = match t.what.split_once(' ') {
                            Some((v, p)) => (v.to_string(), p.to_string()),
                            None => (t.what.clone(), String::new()),
                        };
                        TransferView {
                            verb,
                            path,
                            bytes: t.progress.load(Ordering::Relaxed),
                            total: t.total,
                            seconds: t.started.elapsed().as_secs_f64(),
                        }
                    }),
                }
            })
            .collect()
    }

    /// Asks session `id` to end (421, its transfer aborted). `false`: no such session.
    pub fn kick(&self, id: u64) -> bool {
        match lock(&self.inner).get(&id) {
            Some(e) => {
                e.kick.send_replace(true);
                true
            }
            None => false,
        }
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Registration {
    /// Publishes the login and running transfer if they changed since the last call
    /// (a comparison when nothing did; the lock only on a change).
    pub fn sync(
        &mut self,
        user: Option<&str>,
        transfer: Option<(&str, &Arc<AtomicU64>, Option<u64>, Instant)>,
    ) {
        let same_transfer = match (&self.seen_transfer, &transfer) {
            (None, None) => true,
            (Some(a), Some((_, b, _, _))) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if self.seen_user == user.is_some() && same_transfer {
            return;
        }
        self.seen_user = user.is_some();
        self.seen_transfer = transfer.map(|t| t.1.clone());
        let mut info = lock(&self.info);
        info.user = user.map(str::to_string);
        info.transfer = transfer.map(|(what, progress, total, started)| TransferInfo {
            what: what.to_string(),
            progress: progress.clone(),
            total,
            started,
        });
    }

    /// Resolves when an administrator asks this session to end (at once if already asked).
    pub async fn wait_kicked(&mut self) {
        if self.kicked.wait_for(|k| *k).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether an administrator asked this session to end.
    pub fn is_kicked(&self) -> bool {
        *self.kicked.borrow()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry.inner).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_list_kick_drop() {
        let r = Registry::default();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut a = r.register(7, peer);
        assert_eq!(r.list()[0].user, None);
        let p = Arc::new(AtomicU64::new(0));
        a.sync(
            Some("alice"),
            Some(("RETR /x y", &p, Some(10), Instant::now())),
        );
        p.store(4, Ordering::Relaxed);
        let v = &r.list()[0];
        assert_eq!(v.user.as_deref(), Some("alice"));
        let t = v.transfer.as_ref().unwrap();
        assert_eq!(
            (t.verb.as_str(), t.path.as_str(), t.bytes, t.total),
            ("RETR", "/x y", 4, Some(10))
        );
        a.sync(Some("alice"), None);
        assert!(r.list()[0].transfer.is_none());
        assert!(!a.is_kicked());
        assert!(r.kick(7) && !r.kick(8));
        assert!(a.is_kicked());
        drop(a);
        assert!(r.is_empty());
    }
}
