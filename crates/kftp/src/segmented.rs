//! One file over N data connections: each segment is its own session (control and data),
//! starts with REST at its offset, reads exactly its range into a shared preallocated file
//! with positioned writes, then closes the data connection and drops the session. A
//! segment whose connection fails (not a refusal, not a full disk) goes on from its last
//! written byte over a new session, a few times.
//!
//! Servers (vsftpd among them) limit the rate per connection, and a single TCP stream over
//! a long fat pipe is limited by its window; N streams get N windows.

use crate::client::{Client, Relogins};
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::{temp_path, TransferReport};
use kftp_datapath::{copy, PathUsed};
use kftp_proto::modee::Restart;
use kftp_proto::{Command, TransferType};
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::io::AsyncReadExt;

/// Below this size a file is fetched over one connection: the setup of more sessions
/// would cost more than it saves.
pub const MIN_SEGMENT: u64 = 1 << 20;

/// The `[start, end)` ranges of `n` segments over `size` bytes.
pub fn ranges(size: u64, n: u64) -> Vec<(u64, u64)> {
    let n = n.clamp(1, size.div_ceil(MIN_SEGMENT).max(1));
    let step = size.div_ceil(n);
    (0..n)
        .map(|i| (i * step, ((i + 1) * step).min(size)))
        .filter(|(a, b)| a < b)
        .collect()
}

impl Client {
    /// Downloads `remote` to `local` over `segments` parallel connections. Falls back to
    /// one connection when the server cannot tell the size or the file is small. `known`
    /// is the size when the caller has already asked the server (the CLI, for its
    /// progress bar), so that it is not asked again.
    pub async fn get_segmented(
        &mut self,
        remote: &str,
        local: &Path,
        segments: u32,
        known: Option<u64>,
        progress: Arc<AtomicU64>,
    ) -> Result<TransferReport> {
        let started = Instant::now();
        let what = format!("get {remote}");
        let size = self.known_size(remote, known, &what).await?;
        let parts = match size {
            Some(size) if segments > 1 && size >= 2 * MIN_SEGMENT => ranges(size, segments.into()),
            _ => {
                let opts = crate::TransferOptions {
                    preserve_mtime: true,
                    ..Default::default()
                };
                return self.get(remote, local, &opts, &progress).await;
            }
        };
        let size = size.unwrap_or(0);
        let tmp = temp_path(local);
        let file = crate::localname::nofollow(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true),
        )
        .open(&tmp)
        .map_err(|e| Error::local(format!("creating {}", tmp.display()), e))?;
        let cleanup = |e: Error| {
            let _ = std::fs::remove_file(&tmp);
            e
        };
        file.set_len(size)
            .map_err(|e| cleanup(Error::local(format!("allocating {}", tmp.display()), e)))?;
        let file = Arc::new(file);
        // Where a segment that lost its session logs in again.
        let cwd = self.pwd().await.map_err(cleanup)?;
        // The segments' sessions log in side by side: one after the other, each segment
        // started a login later than the one before it (on a WAN, 6 or 7 round trips).
        let sessions = self.forks(parts.len()).await;
        let mut tasks = tokio::task::JoinSet::new();
        for ((start, end), session) in parts.iter().copied().zip(sessions) {
            let mut session = session.map_err(cleanup)?;
            let file = file.clone();
            let progress = progress.clone();
            let remote = remote.to_string();
            let cwd = cwd.clone();
            tasks.spawn(async move {
                // One dropped connection among several would otherwise throw away the
                // whole download: the segment goes on from where it stopped.
                let mut at = start;
                let mut relogins = Relogins::default();
                let r = loop {
                    let r = session
                        .fetch_range(&remote, &file, &mut at, end, &progress)
                        .await;
                    match r {
                        Err(e) if relogins.left() && e.session_gone() => {
                            let n = relogins.pause().await;
                            tracing::info!(
                                "segment {start}-{end}: {e}; going on from {at} over a new \
                                 session ({n} of {})",
                                Relogins::MAX
                            );
                            match session.fork_in(&cwd).await {
                                Ok(fresh) => session = fresh,
                                Err(e) => break Err(e),
                            }
                        }
                        r => break r,
                    }
                };
                // QUIT costs no round trip (`Client::quit`), and the server logs a
                // session that ended, not one whose client vanished.
                session.quit().await;
                r
            });
        }
        while let Some(r) = tasks.join_next().await {
            let r = r
                .map_err(|e| Error::new(ErrorKind::Local, format!("{what}: segment task: {e}")))
                .and_then(|r| r);
            if let Err(e) = r {
                tasks.abort_all();
                return Err(cleanup(e.context(&what)));
            }
        }
        if let Ok(Some(t)) = self.mdtm(remote).await {
            let _ = file.set_modified(UNIX_EPOCH + Duration::from_secs(t.max(0) as u64));
        }
        drop(file);
        std::fs::rename(&tmp, local).map_err(|e| {
            cleanup(Error::local(
                format!("renaming into {}", local.display()),
                e,
            ))
        })?;
        Ok(TransferReport {
            bytes: size,
            skipped: 0,
            path: PathUsed::Copy,
            elapsed: started.elapsed(),
        })
    }

    /// Reads `[at, end)` of `remote` into `file`, moving `at` past every byte written
    /// (also when it fails: a retry goes on from there). The server keeps sending past
    /// `end` (FTP has no range end), so after the range the data connection is closed and
    /// the final reply (226, or 426/451 for the cut) is read and ignored.
    async fn fetch_range(
        &mut self,
        remote: &str,
        file: &std::fs::File,
        at: &mut u64,
        end: u64,
        progress: &AtomicU64,
    ) -> Result<()> {
        let start = *at;
        let what = format!("segment {start}-{end}");
        self.set_type(TransferType::Image).await?;
        if start > 0 {
            let r = self.ctl.cmd(&Command::Rest(Restart::Offset(start))).await?;
            if r.code != 350 {
                return Err(Error::reply(
                    format!("{what}: the server cannot resume (REST)"),
                    r,
                ));
            }
        }
        let mut data = self.open_data(Command::Retr(remote.into()), &what).await?;
        let want = end - start;
        let mut limited = (&mut data).take(want);
        let copied = crate::transfer::stall_guard(
            copy::stream_to_file(&mut limited, file, start, &self.opts.tuning, progress),
            progress,
            self.ctl.timeout(),
        );
        let n = match copied.await {
            Ok(n) => n,
            // The connection failed: every byte read from it was written, as the receive
            // loop writes each read before it waits again. (A failed write is no network
            // error, and nothing goes on after it.)
            Err(e) if dropped(&e) => {
                *at += want - limited.limit();
                return Err(Error::net(what, e));
            }
            Err(e) if local_write(&e) => return Err(Error::local(what, e)),
            // Anything else (a TLS record that fails to open, say) leaves `at` where this
            // try began: a retry fetches those bytes again, over what was written.
            Err(e) => return Err(Error::net(what, e)),
        };
        *at += n;
        drop(data);
        if n != want {
            return Err(Error::new(
                ErrorKind::Network,
                format!("{what}: the data connection closed after {n} of {want} bytes"),
            ));
        }
        // 226 if the server had finished, 426 if it saw the close: both are fine here.
        let _ = self.ctl.read_reply_within(Duration::from_secs(5)).await;
        Ok(())
    }
}

/// Whether a data transfer's error is the connection's (reset, closed early, stalled).
fn dropped(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::NotConnected
            | K::UnexpectedEof
            | K::TimedOut
    )
}

/// Whether a transfer's error is the local file's (the disk full, say): no retry helps.
fn local_write(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::StorageFull
            | K::QuotaExceeded
            | K::FileTooLarge
            | K::ReadOnlyFilesystem
            | K::PermissionDenied
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_split() {
        let mb = MIN_SEGMENT;
        let r = ranges(10 * mb, 4);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].0, 0);
        assert_eq!(r[3].1, 10 * mb);
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
        // Never more segments than MiB.
        assert_eq!(ranges(3 * mb, 16).len(), 3);
        assert_eq!(ranges(5, 4), vec![(0, 5)]);
    }
}
