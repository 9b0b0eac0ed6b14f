//! STOR, APPE, STOU. Uploads go to a part file that is renamed into place only on success
//! (see [`crate::storage::local`] for the design).

use super::{mode_name, start_transfer, storage};
use crate::session::Session;
use crate::storage::WriteMode;
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
pub async fn stor(s: &mut Session, arg: &str, kind: Kind) -> Option<Reply> {
    let rest = std::mem::take(&mut s.rest);
    let mode = match (kind, rest) {
        (Kind::Appe, _) => WriteMode::Append,
        (Kind::Stor, 0) => WriteMode::Replace,
        (Kind::Stor, n) => {
            let can_append = s.login().is_some_and(|l| l.perms.append || l.perms.write);
            if !can_append {
                return Some(Reply::new(
                    550,
                    "Permission denied: resuming needs the 'append' permission.",
                ));
            }
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

/// STOU: store under a name that does not exist yet; the 150 reply names it (RFC 1123).
pub async fn stou(s: &mut Session, hint: Option<&str>) -> Option<Reply> {
    s.rest = 0;
    let fs = match storage(s) {
        Ok(f) => f,
        Err(r) => return Some(r),
    };
    let base = hint.unwrap_or("file").to_string();
    let mut chosen = None;
    for i in 0..1000u32 {
        let name = if i == 0 {
            base.clone()
        } else {
            format!("{base}.{i}")
        };
        let p = match s.resolve(&name) {
            Ok(p) => p,
            Err(r) => return Some(r),
        };
        if fs.stat(&p).await.is_err() {
            chosen = Some(name);
            break;
        }
    }
    let Some(name) = chosen else {
        return Some(Reply::new(553, "Could not find a unique file name."));
    };
    open_and_start(s, &name, WriteMode::CreateNew, "STOU", Some(&name)).await
}

async fn open_and_start(
    s: &mut Session,
    arg: &str,
    mode: WriteMode,
    verb: &'static str,
    unique: Option<&str>,
) -> Option<Reply> {
    let fs = match storage(s) {
        Ok(f) => f,
        Err(r) => return Some(r),
    };
    let p = match s.resolve(arg) {
        Ok(p) => p,
        Err(r) => return Some(r),
    };
    if s.data.is_none() {
        return Some(Reply::new(425, "Use PORT, EPRT, PASV or EPSV first."));
    }
    let quota = match super::quota::for_upload(s, &fs, &p, mode).await {
        Ok(q) => q,
        Err(r) => return Some(r),
    };
    let upload = match fs.open_write(&p, mode).await {
        Ok(u) => u,
        Err(e) => return Some(Reply::new(e.code(), format!("{arg}: {e}."))),
    };
    s.pending_quota = quota.map(|mut q| {
        q.opened();
        q
    });
    let opening = match unique {
        Some(name) => format!("FILE: {name}"),
        None => format!(
            "Opening {} mode data connection for {} (from byte {}).",
            mode_name(s),
            p,
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
