//! Counters, kept as plain atomics; exported in Prometheus text format by `metrics_http`.

use kftp_datapath::PathUsed;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Server-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Sessions accepted.
    pub sessions_total: AtomicU64,
    /// Sessions open now.
    pub sessions_active: AtomicU64,
    /// Sessions refused by a limit.
    pub sessions_refused: AtomicU64,
    /// Successful logins.
    pub logins_ok: AtomicU64,
    /// Failed logins.
    pub logins_failed: AtomicU64,
    /// Addresses banned after repeated failed logins.
    pub bans: AtomicU64,
    /// Bytes sent to clients (RETR).
    pub bytes_out: AtomicU64,
    /// Bytes received (STOR/APPE).
    pub bytes_in: AtomicU64,
    /// Replies sent, by code.
    pub replies: ReplyCounts,
    transfers: [AtomicU64; PATHS.len()],
}

/// Replies sent, one counter per code 100..=599.
#[derive(Debug)]
pub struct ReplyCounts(Vec<AtomicU64>);

impl Default for ReplyCounts {
    fn default() -> Self {
        ReplyCounts((0..500).map(|_| AtomicU64::new(0)).collect())
    }
}

impl ReplyCounts {
    /// Counts one reply.
    pub fn count(&self, code: u16) {
        if let Some(c) = code
            .checked_sub(100)
            .and_then(|i| self.0.get(usize::from(i)))
        {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Replies sent with `code` so far.
    pub fn get(&self, code: u16) -> u64 {
        code.checked_sub(100)
            .and_then(|i| self.0.get(usize::from(i)))
            .map_or(0, |c| c.load(Relaxed))
    }
}

const PATHS: [PathUsed; 8] = [
    PathUsed::Sendfile,
    PathUsed::Splice,
    PathUsed::Copy,
    PathUsed::Ascii,
    PathUsed::KtlsSendfile,
    PathUsed::KtlsSplice,
    PathUsed::TlsCopy,
    PathUsed::ObjectStream,
];

impl Metrics {
    /// Records a finished transfer.
    pub fn transfer(&self, verb: &str, bytes: u64, path: PathUsed) {
        match verb {
            "RETR" => self.bytes_out.fetch_add(bytes, Relaxed),
            "STOR" | "APPE" | "STOU" => self.bytes_in.fetch_add(bytes, Relaxed),
            _ => 0,
        };
        if let Some(i) = PATHS.iter().position(|p| *p == path) {
            self.transfers[i].fetch_add(1, Relaxed);
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            "kftpd_sessions_total",
            "Control connections accepted.",
            self.sessions_total.load(Relaxed),
        );
        counter(
            "kftpd_sessions_refused_total",
            "Connections refused by a limit.",
            self.sessions_refused.load(Relaxed),
        );
        counter(
            "kftpd_logins_ok_total",
            "Successful logins.",
            self.logins_ok.load(Relaxed),
        );
        counter(
            "kftpd_logins_failed_total",
            "Failed logins.",
            self.logins_failed.load(Relaxed),
        );
        counter(
            "kftpd_bans_total",
            "Addresses banned after repeated failed logins.",
            self.bans.load(Relaxed),
        );
        counter(
            "kftpd_bytes_out_total",
            "Bytes sent by RETR.",
            self.bytes_out.load(Relaxed),
        );
        counter(
            "kftpd_bytes_in_total",
            "Bytes received by STOR/APPE/STOU.",
            self.bytes_in.load(Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP kftpd_replies_total Replies sent, by code.\n# TYPE kftpd_replies_total counter"
        );
        for code in 100..600u16 {
            let n = self.replies.get(code);
            if n > 0 {
                let _ = writeln!(s, "kftpd_replies_total{{code=\"{code}\"}} {n}");
            }
        }
        let _ = writeln!(
            s,
            "# HELP kftpd_sessions_active Sessions open now.\n# TYPE kftpd_sessions_active gauge\nkftpd_sessions_active {}",
            self.sessions_active.load(Relaxed)
        );
        let _ = writeln!(s, "# HELP kftpd_transfers_total Transfers by data path.\n# TYPE kftpd_transfers_total counter");
        for (i, p) in PATHS.iter().enumerate() {
            let _ = writeln!(
                s,
                "kftpd_transfers_total{{path=\"{}\"}} {}",
                p.name(),
                self.transfers[i].load(Relaxed)
            );
        }
        s
    }
}
