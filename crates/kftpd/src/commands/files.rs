//! DELE, RMD, MKD, RNFR, RNTO, SIZE, MDTM, MFMT.

use super::{storage, Answer, OrReply};
use crate::session::Session;
use crate::storage::FsError;
use kftp_proto::listing::Kind;
use kftp_proto::time::format_mdtm;
use kftp_proto::Reply;

/// DELE.
pub async fn dele(s: &mut Session, arg: &str) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    // The size it frees, for the quota count (a symbolic link frees nothing counted).
    let size = match s.login().and_then(|l| l.quota.as_ref()) {
        Some(_) => fs
            .stat(&p)
            .await
            .ok()
            .filter(|e| e.kind == kftp_proto::listing::Kind::File)
            .map(|e| e.size),
        None => None,
    };
    fs.remove(&p).await.or_reply(arg)?;
    if let Some(n) = size {
        super::quota::deleted(s, n);
    }
    event(s, "delete", &p);
    Ok(Reply::new(250, format!("Deleted {p}.")))
}

/// Tells `--event-exec` about a change to `p`.
fn event(s: &Session, kind: &'static str, p: &kftp_proto::path::VPath) {
    if let Some(l) = s.login() {
        s.shared
            .events
            .emit(crate::events::Event::new(kind, s.id, &l.user, s.peer.ip()).path(p));
    }
}

/// RMD.
pub async fn rmd(s: &mut Session, arg: &str) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let inside = s.cwd == p || s.cwd.as_str().starts_with(&format!("{}/", p.as_str()));
    if p.is_root() || inside {
        return Err(Reply::new(
            550,
            format!("{arg}: cannot remove the root or the current directory."),
        ));
    }
    fs.rmdir(&p).await.or_reply(arg)?;
    event(s, "rmdir", &p);
    Ok(Reply::new(250, format!("Removed directory {p}.")))
}

/// MKD: 257 with the new path quoted (RFC 959 appendix II).
pub async fn mkd(s: &mut Session, arg: &str) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    fs.mkdir(&p).await.or_reply(arg)?;
    event(s, "mkdir", &p);
    Ok(Reply::new(257, format!("{} created.", p.quoted())))
}

/// RNFR: remember the source; it must exist.
pub async fn rnfr(s: &mut Session, arg: &str) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    fs.stat(&p).await.or_reply(arg)?;
    if p.is_root() {
        return Err(Reply::new(550, "Cannot rename the root."));
    }
    s.rnfr = Some(p);
    Ok(Reply::new(350, "Ready for RNTO."))
}

/// RNTO: must follow RNFR.
pub async fn rnto(s: &mut Session, arg: &str) -> Answer {
    let from = s
        .rnfr
        .take()
        .ok_or_else(|| Reply::new(503, "Send RNFR first."))?;
    let fs = storage(s)?;
    let to = s.resolve(arg)?;
    fs.rename(&from, &to).await.or_reply(arg)?;
    if let Some(l) = s.login() {
        let mut ev = crate::events::Event::new("rename", s.id, &l.user, s.peer.ip()).path(&to);
        ev.from = Some(from.to_string());
        s.shared.events.emit(ev);
    }
    Ok(Reply::new(250, format!("Renamed {from} to {to}.")))
}

/// SIZE: bytes of a file. For a name whose upload was interrupted, the bytes stored so
/// far, so that clients find the resume point; this wins over an older file under the
/// same name, since a resume continues the part file (see [`crate::storage::local`]).
pub async fn size(s: &mut Session, arg: &str) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let complete = match fs.stat(&p).await {
        Ok(e) if e.kind != Kind::File => {
            return Err(Reply::new(550, format!("{arg}: not a regular file.")))
        }
        Ok(e) => Ok(e.size),
        Err(FsError::NotFound) => Err(FsError::NotFound),
        Err(e) => return Err(e).or_reply(arg),
    };
    // A part file wins over a complete file, and answers for a missing one.
    let size = match fs.partial_size(&p).await {
        Some(n) => n,
        None => complete.or_reply(arg)?,
    };
    Ok(Reply::new(213, size.to_string()))
}

/// MDTM: modification time, UTC.
pub async fn mdtm(s: &mut Session, arg: &str) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let e = fs.stat(&p).await.or_reply(arg)?;
    Ok(Reply::new(213, format_mdtm(e.mtime)))
}

/// MFMT: set the modification time (draft-somers-ftp-mfxx).
pub async fn mfmt(s: &mut Session, t: i64, arg: &str) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    fs.set_mtime(&p, t).await.or_reply(arg)?;
    Ok(Reply::new(213, format!("Modify={}; {arg}", format_mdtm(t))))
}
