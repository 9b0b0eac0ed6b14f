//! The accept loop: limits on who connects and how many, then one task per session.

use crate::limits::{client_key, WarnGate};
use crate::session::{Session, Shared};
use crate::shutdown::SessionGuard;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

static BANNED_WARN: WarnGate = WarnGate::new("refused_banned");
static LIMIT_WARN: WarnGate = WarnGate::new("refused_limit");

/// Connection limits, shared by all listeners.
#[derive(Debug)]
struct Limits {
    /// Total sessions: a permit is held for a session's whole life.
    total: Arc<Semaphore>,
    /// Sessions per client key (an IPv4 address or an IPv6 /64, [`client_key`]).
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Releases a per-IP slot when the session ends, however it ends.
struct IpSlot {
    limits: Arc<Limits>,
    ip: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.limits.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl Limits {
    fn admit(self: &Arc<Self>, ip: IpAddr, max_per_ip: usize) -> Result<IpSlot, &'static str> {
        let ip = client_key(ip);
        let permit = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| "too many sessions on this server")?;
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max_per_ip {
            return Err("too many sessions from your address");
        }
        *n += 1;
        Ok(IpSlot {
            limits: self.clone(),
            ip,
            _permit: permit,
        })
    }
}

/// The control listeners, each with whether it is implicit FTPS.
pub type Listeners = Vec<(TcpListener, bool)>;

/// Serves `listeners` until `shutdown` resolves, then lets sessions drain for up to
/// `drain` before returning.
pub async fn run(
    shared: Arc<Shared>,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let limits = Arc::new(Limits {
        total: Arc::new(Semaphore::new(shared.config.max_sessions)),
        per_ip: Mutex::new(HashMap::new()),
    });
    let (guard, drained) = crate::shutdown::session_guard();
    let mut tasks = Vec::new();
    for (l, implicit) in listeners {
        tasks.push(tokio::spawn(accept_loop(
            shared.clone(),
            limits.clone(),
            l,
            implicit,
            guard.clone(),
        )));
    }
    shutdown.await;
    tracing::info!("shutting down: no new sessions");
    for t in &tasks {
        t.abort(); // drops the loop's guard
    }
    let active = || shared.metrics.sessions_active.load(Ordering::Relaxed);
    crate::shutdown::drain(&shared.ops.stop, guard, drained, drain, active).await;
}

async fn accept_loop(
    shared: Arc<Shared>,
    limits: Arc<Limits>,
    listener: TcpListener,
    implicit: bool,
    guard: SessionGuard,
) {
    let mut backoff = Duration::from_millis(5);
    // Connections whose PROXY header has been read come back here with the real client.
    let (proxied_tx, mut proxied_rx) = tokio::sync::mpsc::channel(64);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a.map(|(s, p)| (s, p, false)),
            Some((s, p)) = proxied_rx.recv() => Ok((s, p, true)),
        };
        let (stream, peer) = match accepted {
            Ok((s, p, proxied)) => {
                backoff = Duration::from_millis(5);
                if shared.config.ops.proxy_protocol && !proxied {
                    // Read the header off the accept loop, bounded in size and time.
                    crate::proxy::spawn_handshake(s, p, &shared, proxied_tx.clone());
                    continue;
                }
                (s, p)
            }
            Err(e) => {
                // EMFILE and friends: wait rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        // Clients send ABOR as TCP urgent data (RFC 959 4.1.3 "Synch"; Python's ftplib
        // sends the whole line with MSG_OOB). Keep the urgent byte in the stream, or the
        // line's final LF is lost and the ABOR never ends.
        let _ = rustix::net::sockopt::set_socket_oobinline(&stream, true);
        shared
            .metrics
            .sessions_total
            .fetch_add(1, Ordering::Relaxed);
        if let Some(left) = shared.abuse.banned(peer.ip()) {
            shared
                .metrics
                .sessions_refused
                .fetch_add(1, Ordering::Relaxed);
            if BANNED_WARN.pass() {
                tracing::warn!(peer = %peer, ban_left_secs = left.as_secs(), "connection refused: address banned");
            }
            tokio::spawn(refuse(
                stream,
                peer,
                "your address is banned after repeated failed logins",
            ));
            continue;
        }
        match limits.admit(peer.ip(), shared.config.max_per_ip) {
            Ok(slot) => {
                let shared = shared.clone();
                let guard = guard.clone();
                tokio::spawn(async move {
                    let _guard = guard; // the drain waits for every clone to go
                    shared
                        .metrics
                        .sessions_active
                        .fetch_add(1, Ordering::Relaxed);
                    Session::run(shared.clone(), stream, peer, implicit).await;
                    shared
                        .metrics
                        .sessions_active
                        .fetch_sub(1, Ordering::Relaxed);
                    drop(slot);
                });
            }
            Err(why) => {
                shared
                    .metrics
                    .sessions_refused
                    .fetch_add(1, Ordering::Relaxed);
                if LIMIT_WARN.pass() {
                    tracing::warn!(peer = %peer, reason = why, "connection refused by limit");
                }
                tokio::spawn(refuse(stream, peer, why));
            }
        }
    }
}

async fn refuse(mut stream: TcpStream, _peer: SocketAddr, why: &'static str) {
    let msg = format!("421 Service not available: {why}. Try again later.\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(msg.as_bytes())).await;
    let _ = stream.shutdown().await;
}
