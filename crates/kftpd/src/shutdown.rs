//! Stopping the server: the stage sessions watch, and the drain.
//!
//! SIGTERM/SIGINT stop the accept loops; then [`drain`] sets [`Stop::Drain`] (sessions end
//! once their running transfer, if any, has finished) and, past the deadline, [`Stop::Now`]
//! (transfers aborted, 421, closed). Knowing when the last session has gone needs no
//! polling: every session task holds a clone of the [`SessionGuard`] sender, and the
//! drain's receiver yields `None` once all of them have been dropped (as mini-redis does).

use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Where the server is in its life; sessions watch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Serving.
    Run,
    /// Draining: no new commands once the running transfer (if any) ends.
    Drain,
    /// The drain deadline passed: abort transfers, say 421, close.
    Now,
}

/// Held (cloned) by every session for its whole life; never sent on.
pub type SessionGuard = mpsc::Sender<()>;

/// Tells when every session has ended: [`Drained::wait`] returns once every
/// [`SessionGuard`] clone is gone.
#[derive(Debug)]
pub struct Drained(mpsc::Receiver<()>);

impl Drained {
    /// Waits up to `limit` for the last session; whether they all ended.
    pub async fn wait(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.0.recv()).await.is_ok()
    }
}

/// A guard for the sessions to clone, and the receiver that sees them all gone.
pub fn session_guard() -> (SessionGuard, Drained) {
    let (tx, rx) = mpsc::channel(1);
    (tx, Drained(rx))
}

/// How long sessions get after [`Stop::Now`] to send their 426/421 and close.
const ABORT_GRACE: Duration = Duration::from_secs(5);

/// Drains after the listeners stopped: sessions finish their running transfer and are
/// told 421; at `deadline` the rest are aborted (426, then 421) and closed. `guard` is the
/// caller's own sender, dropped here; `active` counts sessions for the log.
pub async fn drain(
    stop: &watch::Sender<Stop>,
    guard: SessionGuard,
    mut drained: Drained,
    deadline: Duration,
    active: impl Fn() -> u64,
) {
    drop(guard);
    tracing::info!(
        sessions = active(),
        deadline_secs = deadline.as_secs(),
        "draining"
    );
    stop.send_replace(Stop::Drain);
    if !drained.wait(deadline).await {
        tracing::warn!(
            sessions = active(),
            "drain deadline passed: aborting the rest"
        );
        stop.send_replace(Stop::Now);
        drained.wait(ABORT_GRACE).await;
    }
    tracing::info!(sessions = active(), "drained");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_ends_when_the_last_session_does() {
        let (stop, mut stage) = watch::channel(Stop::Run);
        let (guard, drained) = session_guard();
        let session = guard.clone();
        let t = tokio::spawn(async move {
            // A session: finishes its transfer a while after the drain starts.
            stage.changed().await.unwrap();
            assert_eq!(*stage.borrow(), Stop::Drain);
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(session);
        });
        drain(&stop, guard, drained, Duration::from_secs(30), || 1).await;
        t.await.unwrap();
        assert_eq!(*stop.borrow(), Stop::Drain, "ended before the deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_past_the_deadline_is_told_to_stop_now() {
        let (stop, mut stage) = watch::channel(Stop::Run);
        let (guard, drained) = session_guard();
        let session = guard.clone();
        let t = tokio::spawn(async move {
            while *stage.borrow_and_update() != Stop::Now {
                stage.changed().await.unwrap();
            }
            drop(session);
        });
        drain(&stop, guard, drained, Duration::from_secs(2), || 1).await;
        t.await.unwrap();
        assert_eq!(*stop.borrow(), Stop::Now);
    }
}
