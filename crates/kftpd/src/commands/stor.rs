//! STOR, APPE, STOU. Uploads go to a part file that is renamed into place only on success
//! (see [`crate::storage::local`] for the design).

use super::{mode_name, start_transfer, storage, OrReply, Replied};
use crate::session::Session;
use crate::storage::{FsError, WriteMode};
use crate::transfer::Job;
use kftp_proto::{Reply, TransferType};

/// Which verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// STOR (with REST: resume).
    Stor,
    /// APPE.
    Appe,
}

/// STOR and APPE.
pub async fn stor(s: &mut Session, arg: &str, kind: Kind) -> Replied {
    let restart = std::mem::take(&mut s.rest);
    let rest = crate::modee::restart::for_stor(s, restart, kind == Kind::Appe)?;
    let mode = match (kind, rest) {
        (Kind::Appe, _) => WriteMode::Append,
        (Kind::Stor, 0) => WriteMode::Replace,
        (Kind::Stor, n) => {
            need_append(s, "resuming needs")?;
            WriteMode::ResumeAt(n)
        }
    };
    // Anonymous uploads (drop folder only, see crate::anon) never overwrite.
    let mode = match (mode, s.login().is_some_and(|l| l.anonymous)) {
        (WriteMode::Replace, true) => WriteMode::CreateNew,
        (m, _) => m,
    };
    let verb = match kind {
        Kind::Stor => "STOR",
        Kind::Appe => "APPE",
    };
    open_and_start(s, arg, mode, verb, None).await
}

/// Refuses (550) a write into an existing file (a resume, ESTO) to a login without the
/// `append` permission; `what` starts the reason ("resuming needs").
pub(super) fn need_append(s: &Session, what: &str) -> Result<(), Reply> {
    if s.login()
        .is_some_and(|l| l.perms.allows(crate::auth::Perm::Append))
    {
        return Ok(());
    }
    Err(Reply::new(
        550,
        format!("Permission denied: {what} the 'append' permission."),
    ))
}

/// STOU: store under a name that does not exist yet; the 150 reply names it (RFC 1123).
pub async fn stou(s: &mut Session, hint: Option<&str>) -> Replied {
    s.rest = Default::default();
    let fs = storage(s)?;
    let base = hint.unwrap_or("file").to_string();
    let mut chosen = None;
    for i in 0..1000u32 {
        let name = if i == 0 {
            base.clone()
        } else {
            format!("{base}.{i}")
        };
        let p = s.resolve(&name)?;
        if fs.stat(&p).await.is_err() {
            chosen = Some(name);
            break;
        }
    }
    let name = chosen.ok_or_else(|| Reply::new(553, "Could not find a unique file name."))?;
    open_and_start(s, &name, WriteMode::CreateNew, "STOU", Some(&name)).await
}

/// `p` with a random suffix (`name.<16 hex>`), opened as a new file.
async fn fresh_name(
    fs: &std::sync::Arc<dyn crate::storage::Storage>,
    p: &kftp_proto::path::VPath,
) -> Option<(crate::storage::Upload, kftp_proto::path::VPath)> {
    use rand::Rng;
    for _ in 0..4 {
        let tag: u64 = rand::rngs::OsRng.gen();
        let (dir, name) = p.split_last()?;
        let candidate = dir.join(&format!("{name}.{tag:016x}"));
        if let Ok(u) = fs.open_write(&candidate, WriteMode::CreateNew).await {
            return Some((u, candidate));
        }
    }
    None
}

pub(super) async fn open_and_start(
    s: &mut Session,
    arg: &str,
    mode: WriteMode,
    verb: &'static str,
    unique: Option<&str>,
) -> Replied {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    if s.data.is_none() && !crate::modee::has_cached(s) {
        return Err(Reply::new(425, "Use PORT, EPRT, PASV or EPSV first."));
    }
    let quota = super::quota::for_upload(s, &fs, &p, mode).await?;
    let anonymous = s.login().is_some_and(|l| l.anonymous);
    let (upload, stored) = match fs.open_write(&p, mode).await {
        Ok(u) => (u, p.clone()),
        // Anonymous uploads (drop folder only): a taken name must not be told apart from a
        // free one, so the file goes under a fresh name with the same replies; the client
        // cannot list or read the folder, and never learns which name was used.
        Err(FsError::Exists | FsError::Busy | FsError::IsADirectory)
            if anonymous && mode == WriteMode::CreateNew =>
        {
            fresh_name(&fs, &p)
                .await
                .ok_or_else(|| Reply::new(451, format!("{arg}: could not store the upload.")))?
        }
        Err(e) => return Err(e).or_reply(arg),
    };
    s.pending_quota = quota.map(|mut q| {
        q.opened();
        q
    });
    if stored != p {
        tracing::info!(session = s.id, asked = %p, stored = %stored, "anonymous upload: name taken, storing under a fresh name");
    }
    let p_shown = p;
    let p = stored;
    let opening = match unique {
        Some(name) => format!("FILE: {name}"),
        None => format!(
            "Opening {} mode data connection for {} (from byte {}).",
            mode_name(s),
            p_shown,
            upload.offset()
        ),
    };
    let ascii = s.ttype == TransferType::Ascii;
    start_transfer(
        s,
        Job::Receive {
            upload,
            ascii,
            storage: fs,
        },
        verb,
        p,
        None,
        opening,
    )
    .await
}
