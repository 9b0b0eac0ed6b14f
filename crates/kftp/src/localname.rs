//! Where a name from the server may land on this machine, and in which remote directory
//! a later command may use it. Remote names are untrusted: a server (or whoever sits in
//! the middle of clear-text FTP) that lists `../x` or `/tmp/x` must not make `mirror` or
//! `mget` write outside their target.
//!
//! The rule for one name is [`kftp_proto::name::check_name`]: the listing parsers apply
//! it (a refused entry comes back in [`crate::transfer::Listing::refused`]), and every
//! place in this crate that turns a listed name into a path goes through this module,
//! which applies it again:
//! - [`child`] and [`beneath`] build a local path only from checked components, then
//!   check that the result still lies under the target, lexically;
//! - [`beneath`] also refuses a path below the target that goes through a symbolic link
//!   (a planted `dst/sub -> /etc`), and [`nofollow`] makes the final `open` refuse one;
//! - [`remote_child`] builds a remote path the same way.

use crate::error::{Error, ErrorKind, Result};
use kftp_proto::listing_parse::RefusedEntry;
use kftp_proto::name::{check_name, quoted};
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Where a listing came from, for messages: `"pub/x"`, or the login directory.
fn listed_in(dir: &str) -> String {
    if dir.is_empty() {
        "the current remote directory".to_string()
    } else {
        quoted(dir)
    }
}

/// The error for an entry of the listing of remote `dir` that is refused: it names the
/// server's entry exactly (escaped) and says why. A protocol error (exit 1), as for any
/// other server answer the client cannot accept.
pub fn refused(dir: &str, r: &RefusedEntry) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!(
            "refusing the server's entry {r} (listed in {})",
            listed_in(dir)
        ),
    )
}

/// The warning for such an entry, which the command skips.
pub fn refusal_message(dir: &str, r: &RefusedEntry) -> String {
    format!("{}; skipped", refused(dir, r))
}

/// Checks one name from the server (see [`check_name`]).
pub fn check(name: &str) -> Result<()> {
    check_name(name).map_err(|why| {
        Error::new(
            ErrorKind::Protocol,
            format!("refusing the server's entry {}: {why}", quoted(name)),
        )
    })
}

/// `dir/name` for a name from the server, which must be one component.
pub fn child(dir: &Path, name: &str) -> Result<PathBuf> {
    check(name)?;
    let p = dir.join(name);
    under(dir, &p)?;
    Ok(p)
}

/// `root/a/b` for a relative path `a/b` made of names from the server, each of which
/// must be one component. No existing component of it below `root` may be a symbolic
/// link (`root` itself may be one: the user chose it).
pub fn beneath(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for part in rel.split('/') {
        check(part)?;
        p.push(part);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)
                    .map(|t| format!(" (-> {})", t.display()))
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::Local,
                    format!(
                        "refusing to write through the symbolic link {}{target}",
                        p.display()
                    ),
                ));
            }
            _ => {}
        }
    }
    under(root, &p)?;
    Ok(p)
}

/// The last line of defence: `path` is `root` followed only by normal components.
fn under(root: &Path, path: &Path) -> Result<()> {
    let ok = path
        .strip_prefix(root)
        .is_ok_and(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "refusing {}: it is not under {}",
                path.display(),
                root.display()
            ),
        ))
    }
}

/// `mkdir -p root/rel` for a `rel` already accepted by [`beneath`]. Returns how many
/// directories it created. Checks each component again as it goes, so a symbolic link
/// planted since is refused rather than followed.
pub fn create_dirs_beneath(root: &Path, rel: &str) -> Result<usize> {
    let mut p = root.to_path_buf();
    let mut created = 0;
    for part in rel.split('/') {
        check(part)?;
        p.push(part);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Local,
                    format!("creating {}: it exists and is not a directory", p.display()),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::local(format!("creating {}", p.display()), e)),
        }
        match std::fs::create_dir(&p) {
            Ok(()) => created += 1,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Created by someone else meanwhile: only a real directory will do.
                if !std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
                    return Err(Error::local(format!("creating {}", p.display()), e));
                }
            }
            Err(e) => return Err(Error::local(format!("creating {}", p.display()), e)),
        }
    }
    Ok(created)
}

/// Makes an `open` fail (ELOOP) when the final component is a symbolic link.
pub fn nofollow(o: &mut OpenOptions) -> &mut OpenOptions {
    o.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
}

/// `dir/name` on the server for a name from a listing of `dir` (`""` for the current
/// directory; `dir` may end in `/`): `name` must be one component, so the path cannot
/// lead into another remote directory.
pub fn remote_child(dir: &str, name: &str) -> Result<String> {
    check(name)?;
    Ok(match dir {
        "" => name.to_string(),
        d if d.ends_with('/') => format!("{d}{name}"),
        d => format!("{d}/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kftp_proto::listing::Kind;
    use kftp_proto::name::UnsafeName;

    #[test]
    fn children_are_one_component_under_the_target() {
        let t = Path::new("/home/u/dst");
        assert_eq!(child(t, "ok.txt").unwrap(), t.join("ok.txt"));
        assert_eq!(child(t, "...").unwrap(), t.join("..."));
        for bad in [
            "",
            ".",
            "..",
            "../escape",
            "/tmp/x/abs",
            "a/../../b",
            "a\\b",
            "x\0",
            "cr\r",
        ] {
            let e = child(t, bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{bad:?}");
            assert!(e.to_string().contains(&quoted(bad)), "{e}");
        }
        // The relative target of mget (the current directory) works the same way.
        assert_eq!(child(Path::new(""), "a").unwrap(), Path::new("a"));
        assert!(child(Path::new(""), "..").is_err());
    }

    #[test]
    fn beneath_checks_every_component() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        assert_eq!(beneath(t, "a/b/c").unwrap(), t.join("a/b/c"));
        for bad in ["", "a//b", "a/../../b", "../x", "a/.", "/abs", "a/"] {
            assert!(beneath(t, bad).is_err(), "{bad:?}");
        }
        assert!(under(t, &t.join("a/../..")).is_err());
        assert!(under(t, Path::new("/etc/passwd")).is_err());
        assert!(under(t, &t.join("a")).is_ok());
    }

    #[test]
    fn symlinks_below_the_target_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        let t = dir.path().join("dst");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(t.join("real")).unwrap();
        std::os::unix::fs::symlink(&outside, t.join("sub")).unwrap();
        let e = beneath(&t, "sub/f").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(beneath(&t, "sub").is_err());
        assert!(create_dirs_beneath(&t, "sub/deeper").is_err());
        assert!(!outside.join("deeper").exists());
        assert_eq!(create_dirs_beneath(&t, "real/x/y").unwrap(), 2);
        assert!(t.join("real/x/y").is_dir());
        // The target itself may be a link the user made.
        let alias = dir.path().join("alias");
        std::os::unix::fs::symlink(&t, &alias).unwrap();
        assert_eq!(beneath(&alias, "real/f").unwrap(), alias.join("real/f"));
        // The final open does not follow a link either.
        std::os::unix::fs::symlink(outside.join("victim"), t.join("f")).unwrap();
        let r = nofollow(OpenOptions::new().write(true).create(true)).open(t.join("f"));
        assert!(r.is_err());
        assert!(!outside.join("victim").exists());
    }

    #[test]
    fn remote_children() {
        assert_eq!(remote_child("", "a").unwrap(), "a");
        assert_eq!(remote_child("/", "a").unwrap(), "/a");
        assert_eq!(remote_child("pub/", "a").unwrap(), "pub/a");
        assert_eq!(remote_child("pub", "a").unwrap(), "pub/a");
        assert!(remote_child("pub", "../etc").is_err());
        assert!(remote_child("pub", "x/y").is_err());
    }

    #[test]
    fn messages_name_the_entry() {
        let r = RefusedEntry {
            name: "../e\u{1b}".into(),
            kind: Kind::File,
            why: UnsafeName::Slash,
        };
        let m = refusal_message("pub", &r);
        assert_eq!(
            m,
            "refusing the server's entry \"../e\\u{1b}\": it contains '/', a path separator (listed in \"pub\"); skipped"
        );
        assert_eq!(refused("", &r).kind(), ErrorKind::Protocol);
    }
}
