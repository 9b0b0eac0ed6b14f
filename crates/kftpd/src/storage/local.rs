//! The local file system backend, jailed by the kernel.
//!
//! Every path is opened with openat2(2) beneath an `O_PATH` descriptor of the user's root,
//! with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`: `..`, absolute symlinks and symlinks
//! that climb out are refused by the kernel (EXDEV), whatever the string looked like.
//! Operations on a final component (unlink, mkdir, rename) use the `*at` calls on a parent
//! directory descriptor that was itself opened that way.
//!
//! # Uploads
//! STOR writes to `.<name>.kftp-part` beside the target and renames it over the target
//! only when the data connection closed cleanly: a reader never sees a half-written file
//! under the final name. When an upload fails the part file stays, so `REST n` + `STOR`
//! or `APPE` can resume it, and `SIZE name` reports its length so standard clients
//! (`lftp put -c`, `curl -C -`) find the resume point. Part files are hidden from
//! listings and cannot be named by clients. While a part file exists it is what `SIZE`,
//! `REST n` + `STOR` and `APPE` refer to, even if an older file holds the final name (an
//! interrupted replacement): resuming into the old file would splice old and new bytes.
//! `DELE name` removes it as well. Each upload holds an `flock` on the file it writes, so
//! a second upload to the same name gets 450 instead of sharing the part file.
//! Without a part file, a resume of a file that exists under its final name writes in
//! place from the offset: the bytes before it are the ones the client already confirmed.

use super::{EntryStream, FileUpload, FsError, ReadHandle, Storage, Upload, WriteMode};
use async_trait::async_trait;
use kftp_proto::listing::{Entry, Kind};
use kftp_proto::path::VPath;
use rustix::fd::OwnedFd;
use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, RenameFlags, ResolveFlags, Stat, Timespec, Timestamps,
};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Suffix of upload part files.
pub const PART_SUFFIX: &str = ".kftp-part";

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// What committing an upload does.
#[derive(Debug)]
pub(crate) enum Finish {
    /// Rename the part file over the final name.
    Rename {
        dir: OwnedFd,
        part: String,
        name: String,
        no_replace: bool,
    },
    /// The upload writes the final file in place (resume or append of an existing file).
    InPlace,
}

/// A directory tree served to one user, rooted where the kernel enforces it.
#[derive(Debug)]
pub struct LocalFs {
    root: OwnedFd,
    root_path: PathBuf,
}

impl LocalFs {
    /// Opens `root` as a jail. Fails if it is not a directory or openat2 is unavailable
    /// (Linux < 5.6), since the jail would then rest on string checks alone.
    pub fn open(root: &Path) -> io::Result<Self> {
        let root_fd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("{}: {e}", root.display()),
            )
        })?;
        // Probe openat2 once so a kernel without it fails loudly at start, not per request.
        rustix::fs::openat2(
            &root_fd,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("openat2(RESOLVE_BENEATH) unavailable ({e}); kftpd needs Linux >= 5.6"),
            )
        })?;
        Ok(LocalFs {
            root: root_fd,
            root_path: root.to_path_buf(),
        })
    }

    /// The host path of the root (for logs).
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    fn open_at(&self, p: &VPath, flags: OFlags) -> Result<OwnedFd, FsError> {
        check_path(p)?;
        Ok(rustix::fs::openat2(
            &self.root,
            p.relative(),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )?)
    }

    /// The parent directory (opened beneath the root) and the final component.
    fn parent<'a>(&self, p: &'a VPath) -> Result<(OwnedFd, &'a str), FsError> {
        let (parent, name) = p.split_last().ok_or(FsError::PermissionDenied)?;
        check_name(name)?;
        let dir = self.open_at(&parent, OFlags::PATH | OFlags::DIRECTORY)?;
        Ok((dir, name))
    }

    /// Opens an upload target and takes its upload lock: one upload per name at a time,
    /// so two sessions never write into (or truncate) the same part file.
    fn open_upload(dir: &OwnedFd, name: &str, flags: OFlags) -> Result<File, FsError> {
        let file = Self::open_in(dir, name, flags)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(FsError::Busy),
            Err(e) => Err(e.into()),
        }
    }

    fn open_in(dir: &OwnedFd, name: &str, flags: OFlags) -> Result<File, FsError> {
        // openat2 refuses (EINVAL) a mode without O_CREAT, unlike openat.
        let mode = if flags.contains(OFlags::CREATE) {
            Mode::from_raw_mode(0o644)
        } else {
            Mode::empty()
        };
        let fd = rustix::fs::openat2(dir, name, flags | OFlags::CLOEXEC, mode, RESOLVE)?;
        Ok(File::from(fd))
    }
}

/// Names clients may not use: the upload part files (so nobody can read or clobber an
/// upload in flight).
fn check_name(name: &str) -> Result<(), FsError> {
    if name.ends_with(PART_SUFFIX) {
        return Err(FsError::ReservedName);
    }
    Ok(())
}

fn check_path(p: &VPath) -> Result<(), FsError> {
    match p.split_last() {
        Some((_, name)) => check_name(name),
        None => Ok(()),
    }
}

fn part_name(name: &str) -> String {
    format!(".{name}{PART_SUFFIX}")
}

fn entry(name: &str, st: &Stat) -> Entry {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    };
    Entry {
        name: name.to_string(),
        kind,
        size: st.st_size.max(0) as u64,
        mtime: st.st_mtime,
        mode: st.st_mode & 0o7777,
        nlink: st.st_nlink,
        dev: st.st_dev,
        ino: st.st_ino,
    }
}

fn statat_nofollow(dir: &OwnedFd, name: &str) -> Result<Option<Stat>, FsError> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The synchronous halves of the trait methods (all syscalls, no awaits).
impl LocalFs {
    fn list_dir(&self, p: &VPath) -> Result<Vec<Entry>, FsError> {
        let fd = self.open_at(p, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let dir = rustix::fs::Dir::read_from(&fd)?;
        let mut out = Vec::new();
        for ent in dir {
            let ent = ent?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = String::from_utf8_lossy(name).into_owned();
            if name.ends_with(PART_SUFFIX) {
                continue;
            }
            // An entry can vanish between readdir and stat; skip it rather than fail.
            if let Ok(st) = rustix::fs::statat(&fd, ent.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                out.push(entry(&name, &st));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn open_file_write(&self, p: &VPath, mode: WriteMode) -> Result<FileUpload, FsError> {
        let (dir, name) = self.parent(p)?;
        let part = part_name(name);
        let existing = statat_nofollow(&dir, name)?;
        if let Some(st) = &existing {
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory => return Err(FsError::IsADirectory),
                FileType::RegularFile => {}
                // Replacing a link is fine; one that leads out of the root is refused, so
                // that a STOR "through" it fails as every other access through it does.
                FileType::Symlink => {
                    match rustix::fs::openat2(
                        &dir,
                        name,
                        OFlags::PATH | OFlags::CLOEXEC,
                        Mode::empty(),
                        RESOLVE,
                    ) {
                        Ok(_) | Err(rustix::io::Errno::NOENT) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => return Err(FsError::PermissionDenied),
            }
        }
        let rename = |dir: OwnedFd, no_replace: bool| Finish::Rename {
            dir,
            part: part.clone(),
            name: name.to_string(),
            no_replace,
        };
        let partial = statat_nofollow(&dir, &part)?.map(|st| st.st_size.max(0) as u64);
        let fresh = |dir: OwnedFd, no_replace: bool| -> Result<FileUpload, FsError> {
            // Truncated only once the lock is held.
            let file = Self::open_upload(&dir, &part, OFlags::WRONLY | OFlags::CREATE)?;
            file.set_len(0)?;
            Ok(FileUpload {
                file,
                offset: 0,
                written: 0,
                finish: rename(dir, no_replace),
            })
        };
        match mode {
            WriteMode::Replace => fresh(dir, false),
            WriteMode::CreateNew => {
                if existing.is_some() {
                    return Err(FsError::Exists);
                }
                fresh(dir, true)
            }
            // An interrupted upload's part file comes first, even when an older file
            // still holds the final name: that is what the client is resuming (SIZE
            // reports the part's length), and writing into the old file would splice
            // old and new bytes together.
            WriteMode::ResumeAt(n) => match (existing, partial) {
                (_, Some(len)) if len >= n => {
                    let file = Self::open_upload(&dir, &part, OFlags::WRONLY)?;
                    Ok(FileUpload {
                        file,
                        offset: n,
                        written: 0,
                        finish: rename(dir, false),
                    })
                }
                (Some(st), _) => {
                    if (st.st_size.max(0) as u64) < n {
                        return Err(FsError::BadOffset);
                    }
                    let file = Self::open_upload(&dir, name, OFlags::WRONLY)?;
                    Ok(FileUpload {
                        file,
                        offset: n,
                        written: 0,
                        finish: Finish::InPlace,
                    })
                }
                (None, _) if n == 0 => fresh(dir, false),
                (None, _) => Err(FsError::BadOffset),
            },
            WriteMode::Append => match (existing, partial) {
                (_, Some(len)) => {
                    let file = Self::open_upload(&dir, &part, OFlags::WRONLY)?;
                    Ok(FileUpload {
                        file,
                        offset: len,
                        written: 0,
                        finish: rename(dir, false),
                    })
                }
                (Some(st), None) => {
                    let file = Self::open_upload(&dir, name, OFlags::WRONLY)?;
                    let offset = st.st_size.max(0) as u64;
                    Ok(FileUpload {
                        file,
                        offset,
                        written: 0,
                        finish: Finish::InPlace,
                    })
                }
                (None, None) => fresh(dir, false),
            },
        }
    }

    fn commit_file(&self, up: FileUpload, complete: bool) -> Result<(), FsError> {
        let end = up.offset + up.written;
        match up.finish {
            Finish::Rename {
                dir,
                part,
                name,
                no_replace,
            } => {
                if complete {
                    // A resumed part file may hold stale bytes past the new end.
                    up.file.set_len(end)?;
                    let flags = if no_replace {
                        RenameFlags::NOREPLACE
                    } else {
                        RenameFlags::empty()
                    };
                    rustix::fs::renameat_with(&dir, &part, &dir, &name, flags)?;
                } else if end == 0 {
                    // Nothing arrived: leave no litter.
                    let _ = rustix::fs::unlinkat(&dir, &part, AtFlags::empty());
                }
            }
            Finish::InPlace => {
                if complete {
                    up.file.set_len(end)?;
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Storage for LocalFs {
    async fn stat(&self, p: &VPath) -> Result<Entry, FsError> {
        let fd = self.open_at(p, OFlags::PATH)?;
        let st = rustix::fs::fstat(&fd)?;
        Ok(entry(p.file_name(), &st))
    }

    async fn list(&self, p: &VPath) -> Result<EntryStream, FsError> {
        let all = self.list_dir(p)?;
        Ok(Box::pin(futures::stream::iter(all.into_iter().map(Ok))))
    }

    async fn open_write(&self, p: &VPath, mode: WriteMode) -> Result<Upload, FsError> {
        self.open_file_write(p, mode).map(Upload::File)
    }

    async fn commit(&self, up: Upload, complete: bool) -> Result<(), FsError> {
        match up {
            Upload::File(up) => self.commit_file(up, complete),
            _ => Err(FsError::Other(io::Error::other(
                "not an upload of this backend",
            ))),
        }
    }

    async fn open_read(&self, p: &VPath) -> Result<ReadHandle, FsError> {
        let fd = self.open_at(p, OFlags::RDONLY)?;
        let st = rustix::fs::fstat(&fd)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => {}
            FileType::Directory => return Err(FsError::IsADirectory),
            _ => return Err(FsError::PermissionDenied),
        }
        Ok(ReadHandle::File {
            file: File::from(fd),
            len: st.st_size.max(0) as u64,
        })
    }

    async fn partial_size(&self, p: &VPath) -> Option<u64> {
        let (dir, name) = self.parent(p).ok()?;
        let st = statat_nofollow(&dir, &part_name(name)).ok()??;
        Some(st.st_size.max(0) as u64)
    }

    async fn mkdir(&self, p: &VPath) -> Result<(), FsError> {
        let (dir, name) = self.parent(p)?;
        Ok(rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))?)
    }

    async fn rmdir(&self, p: &VPath) -> Result<(), FsError> {
        let (dir, name) = self.parent(p)?;
        Ok(rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR)?)
    }

    async fn remove(&self, p: &VPath) -> Result<(), FsError> {
        let (dir, name) = self.parent(p)?;
        let removed = match statat_nofollow(&dir, name)? {
            None => false,
            Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(FsError::IsADirectory)
            }
            Some(_) => {
                rustix::fs::unlinkat(&dir, name, AtFlags::empty())?;
                true
            }
        };
        // An interrupted upload to the name goes too: SIZE reports it and a resume would
        // bring it back, so DELE must reach it. One being written right now stays.
        let part = part_name(name);
        if statat_nofollow(&dir, &part)?.is_some() {
            match Self::open_upload(&dir, &part, OFlags::WRONLY) {
                Ok(_locked) => {
                    rustix::fs::unlinkat(&dir, &part, AtFlags::empty())?;
                    return Ok(());
                }
                Err(e) if !removed => return Err(e),
                Err(_) => {}
            }
        }
        if removed {
            Ok(())
        } else {
            Err(FsError::NotFound)
        }
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), FsError> {
        let (d1, n1) = self.parent(from)?;
        let (d2, n2) = self.parent(to)?;
        Ok(rustix::fs::renameat(&d1, n1, &d2, n2)?)
    }

    async fn set_mtime(&self, p: &VPath, mtime: i64) -> Result<(), FsError> {
        let fd = self.open_at(p, OFlags::RDONLY)?;
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        };
        let times = Timestamps {
            last_access: now,
            last_modification: Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            },
        };
        Ok(rustix::fs::futimens(&fd, &times)?)
    }

    async fn chmod(&self, p: &VPath, mode: u32) -> Result<(), FsError> {
        let fd = self.open_at(p, OFlags::RDONLY)?;
        Ok(rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o777))?)
    }
}
