//! DELE, RMD, MKD, RNFR, RNTO, SIZE, MDTM, MFMT.

use super::storage;
use crate::session::Session;
use crate::storage::FsError;
use kftp_proto::listing::Kind;
use kftp_proto::time::format_mdtm;
use kftp_proto::Reply;

macro_rules! try_reply {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

fn fail(arg: &str, e: FsError) -> Reply {
    Reply::new(e.code(), format!("{arg}: {e}."))
}

/// DELE.
pub async fn dele(s: &mut Session, arg: &str) -> Reply {
    let fs = try_reply!(storage(s));
    let p = try_reply!(s.resolve(arg));
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
    match fs.remove(&p).await {
        Ok(()) => {
            if let Some(n) = size {
                super::quota::deleted(s, n);
            }
            event(s, "delete", &p);
            Reply::new(250, format!("Deleted {p}."))
        }
        Err(e) => fail(arg, e),
    }
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
pub async fn rmd(s: &mut Session, arg: &str) -> Reply {
    let fs = try_reply!(storage(s));
    let p = try_reply!(s.resolve(arg));
    let inside = s.cwd == p || s.cwd.as_str().starts_with(&format!("{}/", p.as_str()));
    if p.is_root() || inside {
        return Reply::new(
            550,
            format!("{arg}: cannot remove the root or the current directory."),
        );
    }
    match fs.rmdir(&p).await {
        Ok(()) => {
            event(s, "rmdir", &p);
            Reply::new(250, format!("Removed directory {p}."))
        }
        Err(e) => fail(arg, e),
    }
}

/// MKD: 257 with the new path quoted (RFC 959 appendix II).
pub async fn mkd(s: &mut Session, arg: &str) -> Reply {
    let fs = try_reply!(storage(s));
    let p = try_reply!(s.resolve(arg));
    match fs.mkdir(&p).await {
        Ok(()) => {
            event(s, "mkdir", &p);
            Reply::new(257, format!("{} created.", p.quoted()))
        }
        Err(e) => fail(arg, e),
    }
}

/// RNFR: remember the source; it must exist.
pub async fn rnfr(s: &mut Session, arg: &str) -> Reply {
    let fs = try_reply!(storage(s));
    let p = try_reply!(s.resolve(arg));
    match fs.stat(&p).await {
        Ok(_) if p.is_root() => Reply::new(550, "Cannot rename the root."),
        Ok(_) => {
            s.rnfr = Some(p);
            Reply::new(350, "Ready for RNTO.")
        }
        Err(e) => fail(arg, e),
    }
}

/// RNTO: must follow RNFR.
pub async fn rnto(s: &mut Session, arg: &str) -> Reply {
    let Some(from) = s.rnfr.take() else {
        return Reply::new(503, "Send RNFR first.");
    };
    let fs = try_reply!(storage(s));
    let to = try_reply!(s.resolve(arg));
    match fs.rename(&from, &to).await {
        Ok(()) => {
            if let Some(l) = s.login() {
                let mut ev =
                    crate::events::Event::new("rename", s.id, &l.user, s.peer.ip()).path(&to);
                ev.from = Some(from.to_string());
                s.shared.events.emit(ev);
            }
            Reply::new(250, format!("Renamed {from} to {to}."))
        }
        Err(e) => fail(arg, e),
    }
}

/// SIZE: bytes of a file. For a name whose upload was interrupted, the bytes stored so
/// far, so that clients find the resume point; this wins over an older file under the
/// same name, since a resume continues the part file (see [`crate::storage::local`]).
pub async fn size(s: &mut Session, arg: &str) -> Reply {
    let fs = try_reply!(storage(s));
    let p = try_reply!(s.resolve(arg));
    match fs.stat(&p).await {
        Ok(e) if e.kind != Kind::File => Reply::new(550, format!("{arg}: not a regular file.")),
        Ok(e) => match fs.partial_size(&p).await {
            Some(n) => Reply::new(213, n.to_string()),
            None => Reply::new(213, e.size.to_string()),
        },
        Err(FsError::NotFound) => match fs.partial_size(&p).await {
            Some(n) => Reply::new(213, n.to_string()),
            None => fail(arg, FsError::NotFound),
        },
        Err(e) => fail(arg, e),
    }
}

/// MDTM: modification time, UTC.
pub async fn mdtm(s: &mut Session, arg: &str) -> Reply {
    let fs = try_reply!(storage(s));
    let p = try_reply!(s.resolve(arg));
    match fs.stat(&p).await {
        Ok(e) => Reply::new(213, format_mdtm(e.mtime)),
        Err(e) => fail(arg, e),
    }
}

/// MFMT: set the modification time (draft-somers-ftp-mfxx).
pub async fn mfmt(s: &mut Session, t: i64, arg: &str) -> Reply {
    let fs = try_reply!(storage(s));
    let p = try_reply!(s.resolve(arg));
    match fs.set_mtime(&p, t).await {
        Ok(()) => Reply::new(213, format!("Modify={}; {arg}", format_mdtm(t))),
        Err(e) => fail(arg, e),
    }
}
