//! Quotas at the command level (the counting is in [`crate::quota`]): what STOR and RETR
//! check before their 150, DELE's bookkeeping, `SITE QUOTA` and `AVBL`.

use super::{Answer, OrReply};
use crate::quota::{Limits, TransferQuota, UserQuota};
use crate::session::Session;
use crate::storage::{Storage, WriteMode};
use kftp_proto::listing::Kind;
use kftp_proto::path::VPath;
use kftp_proto::Reply;
use std::sync::Arc;

fn account(s: &Session) -> Option<(String, Limits, Option<Arc<UserQuota>>)> {
    let l = s.login()?;
    l.quota_limits
        .any()
        .then(|| (l.user.clone(), l.quota_limits, l.quota.clone()))
}

/// The disk count of an account with a disk quota, refreshed if stale.
async fn disk(s: &Session, q: &Option<Arc<UserQuota>>) -> Option<Arc<UserQuota>> {
    let q = q.clone().filter(|q| q.has_disk())?;
    s.shared.quotas.refresh(&q).await;
    Some(q)
}

/// Before an upload opens its file: refuses one that cannot fit (552), else the budgets
/// its chunks are charged to.
pub async fn for_upload(
    s: &Session,
    fs: &Arc<dyn Storage>,
    p: &VPath,
    mode: WriteMode,
) -> Result<Option<TransferQuota>, Reply> {
    let Some((user, limits, uq)) = account(s) else {
        return Ok(None);
    };
    let day = s.shared.quotas.daily(&user, limits);
    if let Some(max) = limits.upload_per_day {
        if day.up.remaining() == 0 {
            return Err(Reply::new(
                552,
                format!("Daily upload quota of {max} bytes reached; it resets at 00:00 UTC."),
            ));
        }
    }
    let mut q = TransferQuota::new(s.shared.quotas.clone());
    q.budgets.push(day.up.clone());
    if let Some(uq) = disk(s, &uq).await {
        let existing = match fs.stat(p).await {
            Ok(e) if e.kind == Kind::File => Some(e.size),
            Ok(_) => Some(0),
            Err(_) => None,
        };
        let partial = fs.partial_size(p).await;
        // A part file is not counted as a file: finishing it makes one.
        q.new_file = existing.is_none();
        if q.new_file && !uq.file_fits() {
            return Err(Reply::new(
                552,
                format!(
                    "File quota of {} files reached; delete some first.",
                    limits.files.unwrap_or(0)
                ),
            ));
        }
        // The part file is renamed over the final name at the end: what is there now is
        // freed then. A fresh STOR truncates an old part file at once. An adjusted store
        // (ESTO) writes the file itself, never a part file, and frees nothing: every byte
        // it writes is charged, even over old ones (a bound, never an overrun; the next
        // walk of the root, `--quota-rescan`, counts the file as it is).
        let through_part = partial.is_some() && !matches!(mode, WriteMode::Adjust(_));
        let replaces = if matches!(mode, WriteMode::Replace | WriteMode::CreateNew) || through_part
        {
            existing.unwrap_or(0)
        } else {
            0
        };
        if let Some(max) = limits.bytes {
            if uq.disk.remaining().saturating_add(replaces) == 0 {
                return Err(Reply::new(
                    552,
                    format!("Disk quota of {max} bytes reached; delete some files first."),
                ));
            }
        }
        if matches!(mode, WriteMode::Replace | WriteMode::CreateNew) {
            q.truncates = partial.unwrap_or(0);
        }
        q.upload_into(uq, replaces);
    }
    Ok(Some(q))
}

/// Before a download of `want` bytes: refuses it (451) if it would cross the day's
/// download quota, else reserves them.
pub fn for_download(s: &Session, want: u64) -> Result<Option<TransferQuota>, Reply> {
    let Some((user, limits, _)) = account(s) else {
        return Ok(None);
    };
    let day = s.shared.quotas.daily(&user, limits);
    if day.down.try_spend(want).is_err() {
        return Err(Reply::new(
            451,
            format!(
                "Daily download quota: {} of {} bytes used today, this transfer needs {want}; \
                 it resets at 00:00 UTC.",
                day.down.used(),
                day.down.limit()
            ),
        ));
    }
    let mut q = TransferQuota::new(s.shared.quotas.clone());
    q.reserved = Some((day.down.clone(), want));
    Ok(Some(q))
}

/// DELE removed a file of `size` bytes.
pub fn deleted(s: &Session, size: u64) {
    if let Some(q) = s.login().and_then(|l| l.quota.as_ref()) {
        q.removed(size);
    }
}

fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "none".to_string(), |n| n.to_string())
}

/// `SITE QUOTA`: use and limits.
pub async fn site_quota(s: &Session) -> Answer {
    let Some((user, limits, uq)) = account(s) else {
        return Ok(Reply::new(211, "No quota applies to this account."));
    };
    let day = s.shared.quotas.daily(&user, limits);
    let mut lines = vec![format!("Quota for {user}:")];
    match disk(s, &uq).await {
        Some(q) => {
            lines.push(format!(
                "Disk bytes: {} used, limit {}",
                q.disk.used(),
                limit(limits.bytes)
            ));
            lines.push(format!(
                "Disk files: {} used, limit {}",
                q.files.load(std::sync::atomic::Ordering::Acquire),
                limit(limits.files)
            ));
        }
        None if limits.bytes.is_some() || limits.files.is_some() => {
            lines.push("Disk: not counted on this storage".into());
        }
        None => {}
    }
    lines.push(format!(
        "Uploaded today: {} bytes, limit {}",
        day.up.used(),
        limit(limits.upload_per_day)
    ));
    lines.push(format!(
        "Downloaded today: {} bytes, limit {}",
        day.down.used(),
        limit(limits.download_per_day)
    ));
    lines.push("End.".into());
    Ok(Reply::multi(211, lines))
}

/// `AVBL [path]`: bytes that may still be uploaded (the disk quota and today's upload
/// quota, whichever is less); with no quota, the file system's free space.
pub async fn avbl(s: &Session, arg: Option<&str>) -> Answer {
    let fs = super::storage(s)?;
    let p = s.resolve(arg.unwrap_or("."))?;
    if fs.stat(&p).await.or_reply(&p)?.kind != Kind::Dir {
        return Err(Reply::new(550, format!("{p}: not a directory.")));
    }
    let mut avail: Option<u64> = None;
    if let Some((user, limits, uq)) = account(s) {
        let day = s.shared.quotas.daily(&user, limits);
        if limits.upload_per_day.is_some() {
            avail = Some(day.up.remaining());
        }
        if let (Some(q), Some(_)) = (disk(s, &uq).await, limits.bytes) {
            avail = Some(avail.map_or(q.disk.remaining(), |a| a.min(q.disk.remaining())));
        }
    }
    let avail = match avail {
        Some(a) => Some(a),
        None => match local_root(s) {
            Some(root) => tokio::task::spawn_blocking(move || {
                let st = rustix::fs::statvfs(&root).ok()?;
                Some(st.f_bavail.saturating_mul(st.f_frsize))
            })
            .await
            .ok()
            .flatten(),
            None => None,
        },
    };
    let avail =
        avail.ok_or_else(|| Reply::new(550, "Available space is not known for this storage."))?;
    Ok(Reply::new(213, avail.to_string()))
}

/// The session's local root, for the file system's free space (statvfs `f_bavail`: what
/// unprivileged users may use).
fn local_root(s: &Session) -> Option<std::path::PathBuf> {
    let user = s.login()?;
    let root = if user.anonymous {
        s.shared.config.root.clone()
    } else {
        s.shared
            .users()
            .get(&user.user)
            .and_then(|u| u.root.clone())
            .unwrap_or_else(|| s.shared.config.root.clone())
    };
    crate::storage::Root::is_local(&root).then_some(root)
}
