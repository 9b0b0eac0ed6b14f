//! Anonymous FTP under control.
//!
//! Anonymous logins (`anonymous` or `ftp`) exist only with `--anonymous`. They are
//! read-only, except for an optional drop folder (`--anonymous-upload-dir`): there STOR
//! creates new files (never overwriting, never resuming), and nothing in it can be listed,
//! downloaded, sized or hashed, so the folder cannot become a free file-sharing service.
//! Nor can it be probed: those refusals are the same whether a name exists or not, and a
//! STOR to a taken name stores under a fresh one (`name.<16 hex>`) with the same replies
//! (`commands/stor.rs`). One upload may write `--anonymous-upload-max-bytes` (552 past it)
//! and a failed anonymous upload leaves nothing, part file included (`transfer.rs`).
//! Outside it nothing can be written. Anonymous sessions have their own session cap and a
//! bandwidth limit shared by all of them (see [`crate::limits`]).
//!
//! [`check`] runs from [`crate::session::policy::check`] for anonymous logins, ahead of
//! the permission check.

use crate::session::Session;
use kftp_proto::path::VPath;
use kftp_proto::{Command, Reply};

/// The drop folder as a virtual path, when configured.
pub fn upload_dir(s: &Session) -> Option<VPath> {
    let dir = s.shared.config.abuse.anonymous_upload_dir.as_deref()?;
    VPath::resolve(&VPath::root(), dir)
        .ok()
        .filter(|p| !p.is_root())
}

fn inside(p: &VPath, dir: &VPath) -> bool {
    let (p, d) = (p.as_str(), dir.as_str());
    p == d || p.strip_prefix(d).is_some_and(|rest| rest.starts_with('/'))
}

fn read_only() -> Reply {
    Reply::new(550, "Permission denied: anonymous access is read-only.")
}

/// Ok, or the reply refusing `cmd` to an anonymous session.
pub fn check(s: &Session, cmd: &Command) -> Result<(), Reply> {
    let drop = upload_dir(s);
    let in_drop = |arg: Option<&str>| -> Result<bool, Reply> {
        let Some(d) = &drop else { return Ok(false) };
        let p = match arg {
            Some(a) => s.resolve(a)?,
            None => s.cwd.clone(),
        };
        Ok(inside(&p, d))
    };
    let write_only = || {
        Reply::new(
            550,
            "Permission denied: the anonymous upload folder is write-only.",
        )
    };
    match cmd {
        Command::Stor(arg) => {
            let Some(d) = &drop else {
                return Err(read_only());
            };
            let p = s.resolve(arg)?;
            // Directly in the folder: a deeper path would answer differently whether its
            // subfolders exist.
            if p.split_last().map(|(parent, _)| parent) != Some(d.clone()) {
                return Err(Reply::new(
                    550,
                    format!("Permission denied: anonymous uploads go to {d} only (no subfolders)."),
                ));
            }
            if !s.rest.is_none() {
                return Err(Reply::new(
                    550,
                    "Permission denied: anonymous uploads cannot be resumed.",
                ));
            }
            Ok(())
        }
        // An adjusted store is a resumed upload (REST n + STOR), which anonymous users
        // may not make.
        Command::Stou(_)
        | Command::Esto { .. }
        | Command::Appe(_)
        | Command::Dele(_)
        | Command::Rmd(_)
        | Command::Mkd(_)
        | Command::Rnfr(_)
        | Command::Rnto(_)
        | Command::Mfmt(..) => Err(read_only()),
        Command::Site(t) if !t.trim_start().to_ascii_uppercase().starts_with("HELP") => {
            Err(read_only())
        }
        Command::Retr(a)
        | Command::Eret { path: a, .. }
        | Command::Size(a)
        | Command::Mdtm(a)
        | Command::Hash(a)
        | Command::XHash(_, a, _)
        | Command::Cksm(_, _, a) => {
            if in_drop(Some(a))? {
                return Err(write_only());
            }
            Ok(())
        }
        Command::List { path, .. } | Command::Nlst { path, .. } => {
            // ls-style clients send LIST with options only; a path of "" means cwd.
            let arg = path.as_deref().filter(|p| !p.is_empty());
            if in_drop(arg)? {
                return Err(write_only());
            }
            Ok(())
        }
        // Into the folder, not below it: whether a subfolder exists is not told either.
        Command::Cwd(a) => {
            let (Some(d), Ok(p)) = (&drop, s.resolve(a)) else {
                return Ok(());
            };
            if inside(&p, d) && p != *d {
                return Err(write_only());
            }
            Ok(())
        }
        Command::Mlsd(a) | Command::Mlst(a) | Command::Stat(a @ Some(_)) => {
            if in_drop(a.as_deref())? {
                return Err(write_only());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_is_component_wise() {
        let d = VPath::resolve(&VPath::root(), "incoming").unwrap_or_else(|_| VPath::root());
        let r = |a: &str| VPath::resolve(&VPath::root(), a).unwrap_or_else(|_| VPath::root());
        assert!(inside(&r("/incoming"), &d));
        assert!(inside(&r("/incoming/x"), &d));
        assert!(inside(&r("/pub/../incoming/x"), &d));
        assert!(!inside(&r("/incomingx"), &d));
        assert!(!inside(&r("/"), &d));
    }
}
