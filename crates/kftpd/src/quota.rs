//! Per-user quotas (users-file fields `quota_bytes`, `quota_files`,
//! `quota_upload_bytes_per_day`, `quota_download_bytes_per_day`).
//!
//! **Disk quota** (bytes and files under the user's local root). The count survives
//! restarts and includes files put there outside kftpd because it comes from a walk of the
//! root: at the first login, and again when the count is older than `--quota-rescan`
//! seconds (at a login, STOR, `SITE QUOTA` or `AVBL`, never while one of the user's uploads
//! runs). The walk runs on the blocking pool. Between walks kftpd updates the count itself:
//! every received chunk is charged to the user's [`Budget`] before it is written (so an
//! upload stops at most one chunk short of the limit and nothing past it reaches the file),
//! a completed upload that replaced a file gives the old size back, DELE gives the file's
//! size back. All sessions of one user share one [`UserQuota`], so concurrent uploads cannot
//! together cross the limit. Files are counted as regular files other than upload part
//! files; bytes as the sizes of all regular files, part files included.
//!
//! An upload refused for quota ends with `552`, nothing appears under the final name, and
//! its part file is removed (an in-place append or resume is cut back to its old length):
//! a refused upload must not leave bytes that count against the quota.
//!
//! **Daily transfer quotas** count bytes up and down per user per UTC day, in memory, and
//! are written to `<state-dir>/transfer-quota.toml` (at most once a second, after a change)
//! and read back at start. Uploads are charged per chunk like the disk quota; a download is
//! refused before it starts (`451`) when its length would cross the day's limit, and its
//! length is reserved while it runs (what was not sent is given back at its end).
//!
//! Disk quotas apply to local roots only; daily quotas to every backend.

use kftp_datapath::Budget;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A user's limits, from the users file. `None`: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes under the root.
    pub bytes: Option<u64>,
    /// Files under the root.
    pub files: Option<u64>,
    /// Bytes uploaded per UTC day.
    pub upload_per_day: Option<u64>,
    /// Bytes downloaded per UTC day.
    pub download_per_day: Option<u64>,
}

impl Limits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.bytes.is_some()
            || self.files.is_some()
            || self.upload_per_day.is_some()
            || self.download_per_day.is_some()
    }

    fn disk(&self) -> bool {
        self.bytes.is_some() || self.files.is_some()
    }
}

/// One user's disk usage, shared by all their sessions.
#[derive(Debug)]
pub struct UserQuota {
    /// Bytes under the root, with the byte limit.
    pub disk: Arc<Budget>,
    /// Files under the root.
    pub files: AtomicU64,
    files_limit: AtomicU64,
    /// When the last walk ended (`None`: never).
    walked: Mutex<Option<Instant>>,
    walking: AtomicBool,
    /// Uploads of this user running now (no walk meanwhile: it would count their part
    /// files and then their charges again).
    uploads: AtomicUsize,
    root: Option<PathBuf>,
    limits: Mutex<Limits>,
}

impl UserQuota {
    /// The limits in force.
    pub fn limits(&self) -> Limits {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether one more file fits.
    pub fn file_fits(&self) -> bool {
        self.files.load(Ordering::Acquire) < self.files_limit.load(Ordering::Acquire)
    }

    /// A file of `bytes` left the tree (DELE).
    pub fn removed(&self, bytes: u64) {
        self.disk.refund(bytes);
        let _ = self
            .files
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                Some(f.saturating_sub(1))
            });
    }

    /// Whether the disk quota applies (a local root).
    pub fn has_disk(&self) -> bool {
        self.root.is_some() && self.limits().disk()
    }
}

/// Counts regular files and their bytes under `root` without following symbolic links.
/// Part files count as bytes but not as files.
pub fn walk(root: &Path) -> std::io::Result<(u64, u64)> {
    let (mut bytes, mut files) = (0u64, 0u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if dir == root => return Err(e),
            Err(_) => continue,
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                bytes += meta.len();
                let name = e.file_name();
                if !crate::storage::local::is_part_name(&name.to_string_lossy()) {
                    files += 1;
                }
            }
        }
    }
    Ok((bytes, files))
}

/// Days since the Unix epoch, UTC.
pub fn today() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

/// One user's transfers today.
#[derive(Debug, Clone)]
pub struct Daily {
    /// UTC day (days since the epoch).
    pub day: u64,
    /// Bytes uploaded, with the limit.
    pub up: Arc<Budget>,
    /// Bytes downloaded, with the limit.
    pub down: Arc<Budget>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DailyFile {
    #[serde(default)]
    user: BTreeMap<String, DailyRecord>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DailyRecord {
    day: u64,
    up: u64,
    down: u64,
}

/// Quotas of every user, shared by the server.
#[derive(Debug)]
pub struct Quotas {
    rescan: Duration,
    users: Mutex<HashMap<String, Arc<UserQuota>>>,
    daily: Mutex<HashMap<String, Daily>>,
    state_file: PathBuf,
    dirty: tokio::sync::Notify,
}

fn limit_of(v: Option<u64>) -> u64 {
    v.unwrap_or(u64::MAX)
}

impl Quotas {
    /// Quotas with `rescan` between walks; reads `<state_dir>/transfer-quota.toml`.
    pub fn new(state_dir: &Path, rescan: Duration) -> Quotas {
        let state_file = state_dir.join("transfer-quota.toml");
        let day = today();
        let mut daily = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(&state_file) {
            match toml::from_str::<DailyFile>(&text) {
                Ok(f) => {
                    for (name, r) in f.user.into_iter().filter(|(_, r)| r.day == day) {
                        daily.insert(
                            name,
                            Daily {
                                day,
                                up: Arc::new(Budget::new(r.up, u64::MAX, "daily upload quota")),
                                down: Arc::new(Budget::new(
                                    r.down,
                                    u64::MAX,
                                    "daily download quota",
                                )),
                            },
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %state_file.display(), error = %e, "transfer quota state unreadable; counting today from zero")
                }
            }
        }
        Quotas {
            rescan,
            users: Mutex::new(HashMap::new()),
            daily: Mutex::new(daily),
            state_file,
            dirty: tokio::sync::Notify::new(),
        }
    }

    /// The user's shared disk count (created at the first login), with `limits` applied.
    /// `root` is the local root, `None` for object storage. A root changed by a reload of
    /// the users file starts a new count (sessions still on the old root keep theirs).
    pub fn user(&self, name: &str, limits: Limits, root: Option<&Path>) -> Arc<UserQuota> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.get(name).is_some_and(|q| q.root.as_deref() != root) {
            users.remove(name);
        }
        let q = users
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(UserQuota {
                    disk: Arc::new(Budget::new(0, u64::MAX, "disk quota")),
                    files: AtomicU64::new(0),
                    files_limit: AtomicU64::new(u64::MAX),
                    walked: Mutex::new(None),
                    walking: AtomicBool::new(false),
                    uploads: AtomicUsize::new(0),
                    root: root.map(Path::to_path_buf),
                    limits: Mutex::new(limits),
                })
            })
            .clone();
        q.disk.set_limit(limit_of(limits.bytes));
        q.files_limit
            .store(limit_of(limits.files), Ordering::Release);
        *q.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
        q
    }

    /// Walks the user's root if the count is missing or older than the rescan interval
    /// and no upload of theirs is running. Runs on the blocking pool.
    pub async fn refresh(&self, q: &Arc<UserQuota>) {
        let Some(root) = q.root.clone().filter(|_| q.limits().disk()) else {
            return;
        };
        let stale = q
            .walked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| t.elapsed() >= self.rescan);
        if !stale || q.uploads.load(Ordering::Acquire) > 0 || q.walking.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let started = Instant::now();
        let r = tokio::task::spawn_blocking(move || walk(&root)).await;
        match r {
            Ok(Ok((bytes, files))) if q.uploads.load(Ordering::Acquire) == 0 => {
                q.disk.set_used(bytes);
                q.files.store(files, Ordering::Release);
                *q.walked.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                tracing::debug!(
                    bytes,
                    files,
                    ms = started.elapsed().as_millis() as u64,
                    "quota: root walked"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "quota: cannot walk the root"),
            Err(e) => tracing::warn!(error = %e, "quota: walk failed"),
        }
        q.walking.store(false, Ordering::Release);
    }

    /// The user's counters for today (fresh ones when the UTC day changed), limits applied.
    pub fn daily(&self, name: &str, limits: Limits) -> Daily {
        let day = today();
        let mut all = self.daily.lock().unwrap_or_else(|p| p.into_inner());
        let d = all
            .entry(name.to_string())
            .and_modify(|d| {
                if d.day != day {
                    *d = Daily {
                        day,
                        up: Arc::new(Budget::new(0, u64::MAX, "daily upload quota")),
                        down: Arc::new(Budget::new(0, u64::MAX, "daily download quota")),
                    };
                }
            })
            .or_insert_with(|| Daily {
                day,
                up: Arc::new(Budget::new(0, u64::MAX, "daily upload quota")),
                down: Arc::new(Budget::new(0, u64::MAX, "daily download quota")),
            });
        d.up.set_limit(limit_of(limits.upload_per_day));
        d.down.set_limit(limit_of(limits.download_per_day));
        d.clone()
    }

    /// Asks the writer task to save the daily counters.
    pub fn changed(&self) {
        self.dirty.notify_one();
    }

    fn snapshot(&self) -> String {
        let all = self.daily.lock().unwrap_or_else(|p| p.into_inner());
        let file = DailyFile {
            user: all
                .iter()
                .map(|(n, d)| {
                    (
                        n.clone(),
                        DailyRecord {
                            day: d.day,
                            up: d.up.used(),
                            down: d.down.used(),
                        },
                    )
                })
                .collect(),
        };
        toml::to_string(&file).unwrap_or_default()
    }

    /// Saves the daily counters after each change, at most once a second (inside the
    /// runtime).
    pub fn spawn_writer(self: &Arc<Self>) {
        let q = self.clone();
        tokio::spawn(async move {
            loop {
                q.dirty.notified().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                let text = q.snapshot();
                let path = q.state_file.clone();
                let r = tokio::task::spawn_blocking(move || {
                    crate::privfile::write_private(&path, text.as_bytes())
                })
                .await;
                if let Ok(Err(e)) = r {
                    tracing::warn!(error = %format!("{e:#}"), "cannot save the transfer quota state");
                }
            }
        });
    }
}

/// What a transfer does about quotas, carried into [`crate::transfer::run`].
#[derive(Debug)]
pub struct TransferQuota {
    /// Charged per received chunk (uploads).
    pub budgets: Vec<Arc<Budget>>,
    /// The uploading user's disk count.
    pub disk: Option<Arc<UserQuota>>,
    /// The upload creates a file that did not exist.
    pub new_file: bool,
    /// Bytes of the file the upload replaces when it completes: given back while the
    /// upload runs (the quota applies to the result), taken again if it does not complete.
    replaces: u64,
    /// Bytes of an old part file that opening the upload truncates (see [`Self::opened`]).
    pub truncates: u64,
    /// A download's reservation on the day's download budget.
    pub reserved: Option<(Arc<Budget>, u64)>,
    /// Where to report changes of the daily counters.
    pub quotas: Option<Arc<Quotas>>,
}

impl TransferQuota {
    /// Nothing charged yet; changes are reported to `quotas`.
    pub fn new(quotas: Arc<Quotas>) -> TransferQuota {
        TransferQuota {
            budgets: Vec::new(),
            disk: None,
            new_file: false,
            replaces: 0,
            truncates: 0,
            reserved: None,
            quotas: Some(quotas),
        }
    }

    /// An upload into `user`'s root begins; it will replace a file of `replaces` bytes.
    /// No walk of that root runs until it ends.
    pub fn upload_into(&mut self, user: Arc<UserQuota>, replaces: u64) {
        user.uploads.fetch_add(1, Ordering::AcqRel);
        user.disk.refund(replaces);
        self.replaces = replaces;
        self.budgets.push(user.disk.clone());
        self.disk = Some(user);
    }

    /// The upload's file is open: an old part file it truncated no longer counts.
    pub fn opened(&mut self) {
        if let Some(d) = &self.disk {
            d.disk.refund(std::mem::take(&mut self.truncates));
        }
    }

    /// The transfer ended: `complete` with `moved` bytes, or `discarded` (quota) after
    /// freeing `freed` bytes on disk.
    pub fn finish(&mut self, upload: bool, complete: bool, moved: u64, freed: u64) {
        if let Some((b, n)) = self.reserved.take() {
            b.refund(n.saturating_sub(moved));
        }
        if let Some(d) = self.disk.take() {
            d.uploads.fetch_sub(1, Ordering::AcqRel);
            if freed > 0 {
                d.disk.refund(freed);
            }
            if complete && upload {
                if self.new_file {
                    d.files.fetch_add(1, Ordering::AcqRel);
                }
            } else {
                d.disk.add(self.replaces);
            }
        }
        if let Some(q) = &self.quotas {
            q.changed();
        }
    }
}

impl Drop for TransferQuota {
    fn drop(&mut self) {
        // A transfer refused before it ran gives its download reservation back.
        if let Some((b, n)) = self.reserved.take() {
            b.refund(n);
        }
        // An upload refused before it ran: the replaced file is still there.
        if let Some(d) = self.disk.take() {
            d.uploads.fetch_sub(1, Ordering::AcqRel);
            d.disk.add(self.replaces);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_counts_files_and_bytes_but_not_part_files_as_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), vec![0u8; 100]).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b"), vec![0u8; 50]).unwrap();
        std::fs::write(d.path().join("sub/.c.kftp-part"), vec![0u8; 7]).unwrap();
        std::os::unix::fs::symlink("/etc", d.path().join("out")).unwrap();
        assert_eq!(walk(d.path()).unwrap(), (157, 2));
    }

    #[test]
    fn daily_counters_persist_for_the_same_day() {
        let d = tempfile::tempdir().unwrap();
        let q = Quotas::new(d.path(), Duration::from_secs(60));
        let lim = Limits {
            download_per_day: Some(10),
            ..Limits::default()
        };
        q.daily("bob", lim).down.add(7);
        std::fs::write(d.path().join("transfer-quota.toml"), q.snapshot()).unwrap();
        let again = Quotas::new(d.path(), Duration::from_secs(60));
        let day = again.daily("bob", lim);
        assert_eq!((day.down.used(), day.down.remaining()), (7, 3));
    }
}
