//! The interim replies of a MODE E transfer, as globus-gridftp-server sends them: every
//! `--perf-marker-interval` a `112` performance marker (bytes moved so far; kftpd is one
//! stripe) and, on an upload, a `111` restart marker when what is whole in the file grew.
//!
//! A `111` reports the gap-free prefix of whole blocks (`0-n`), not every block: a failed
//! upload keeps exactly that prefix ([`super::restart`]), so a client that restarts from
//! the markers (`REST 0-n`, globus-url-copy `-restart`) never claims a byte the file no
//! longer has, and `SIZE` agrees with them. The protocol allows a subset: the ranges are
//! what is on disk, and a client resends what they leave out.
//!
//! The session's own task writes them, between polls of the transfer future
//! ([`crate::session`]), as it is the only writer of the control connection: a marker
//! can never land inside another reply, and it always comes after the `150` and before
//! the final reply.

use kftp_datapath::modee::Written;
use kftp_proto::modee::{format_range_marker, PerfMarker, Ranges};
use kftp_proto::Reply;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The marker clock of one running MODE E transfer.
pub struct Markers {
    every: Duration,
    next: Instant,
    progress: Arc<AtomicU64>,
    /// An upload's blocks in the file (None for a download: no restart markers).
    written: Option<Arc<Written>>,
    /// The ranges the last `111` reported, so an unchanged set is not sent again.
    reported: Ranges,
}

impl Markers {
    /// Markers every `every` (None when zero: turned off) for a transfer whose bytes
    /// `progress` counts; `written` for an upload's restart markers.
    pub fn new(
        every: Duration,
        progress: Arc<AtomicU64>,
        written: Option<Arc<Written>>,
    ) -> Option<Self> {
        if every.is_zero() {
            return None;
        }
        Some(Markers {
            every,
            next: Instant::now() + every,
            progress,
            written,
            reported: Ranges::new(),
        })
    }

    /// Resolves when the next markers are due; never for `None`.
    pub async fn due(m: &Option<Self>) {
        match m {
            Some(m) => tokio::time::sleep_until(m.next).await,
            None => std::future::pending().await,
        }
    }

    /// The replies to send now (a `111` when the ranges grew, then a `112`), and the
    /// clock set for the next ones.
    pub fn take(&mut self) -> Vec<Reply> {
        self.next = Instant::now() + self.every;
        let mut out = Vec::with_capacity(2);
        if let Some(w) = &self.written {
            let mut ranges = Ranges::new();
            ranges.insert(0, w.prefix());
            if !ranges.as_slice().is_empty() && ranges != self.reported {
                out.push(Reply::new(111, format_range_marker(&ranges)));
                self.reported = ranges;
            }
        }
        let bytes = self.progress.load(Ordering::Relaxed);
        let perf = PerfMarker::single_stripe(SystemTime::now(), bytes);
        out.push(Reply::multi(112, perf.lines()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_on_the_wire_as_globus_writes_them() {
        let perf = PerfMarker {
            timestamp_tenths: 17966160175,
            stripe: 0,
            bytes: 4096,
            stripes: 1,
        };
        let wire = String::from_utf8(Reply::multi(112, perf.lines()).encode()).unwrap();
        assert_eq!(
            wire,
            "112-Perf Marker\r\n Timestamp: 1796616017.5\r\n Stripe Index: 0\r\n \
             Stripe Bytes Transferred: 4096\r\n Total Stripe Count: 1\r\n112 End.\r\n"
        );
        let mut r = Ranges::new();
        r.insert(1 << 20, 2 << 20);
        r.insert(0, 1 << 20);
        r.insert(3 << 20, 4 << 20);
        let wire = Reply::new(111, format_range_marker(&r)).encode();
        assert_eq!(wire, b"111 Range Marker 0-2097152,3145728-4194304\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn off_at_zero_and_restart_markers_only_when_grown() {
        let progress = Arc::new(AtomicU64::new(0));
        assert!(Markers::new(Duration::ZERO, progress.clone(), None).is_none());
        let every = Duration::from_secs(5);
        let written = Arc::new(Written::default());
        let mut m = Markers::new(every, progress.clone(), Some(written.clone()));
        let codes = |r: &[Reply]| r.iter().map(|r| r.code).collect::<Vec<_>>();
        // Nothing written yet: a 112 alone.
        let first = m.as_mut().unwrap().take();
        assert_eq!(codes(&first), [112]);
        assert!(first[0].text().contains("Stripe Bytes Transferred: 0"));
        let start = Instant::now();
        Markers::due(&m).await;
        assert_eq!(Instant::now() - start, every);
        // Blocks out of order: a block past a gap is not reported until the gap is filled
        // (a failed upload keeps only the whole prefix); then one 111, not repeated.
        written.add(2 << 20, 1 << 20);
        assert_eq!(codes(&m.as_mut().unwrap().take()), [112]);
        written.add(0, 1 << 20);
        written.add(1 << 20, 1 << 20);
        progress.store(3 << 20, Ordering::Relaxed);
        let second = m.as_mut().unwrap().take();
        assert_eq!(codes(&second), [111, 112]);
        assert_eq!(second[0].text(), "Range Marker 0-3145728");
        assert!(second[1]
            .text()
            .contains("Stripe Bytes Transferred: 3145728"));
        assert_eq!(codes(&m.as_mut().unwrap().take()), [112]);
    }
}
