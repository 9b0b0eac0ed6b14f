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
//! Part files are opened without following a symlink in their own name
//! (`RESOLVE_NO_SYMLINKS`) and refused when they have a second hard link (writing would
//! change another file); such a leftover is no resume point, and `DELE` removes only the
//! name. The reserved suffix is matched ASCII-case-insensitively, so no spelling of it
//! names a part file.
//!
//! # Only regular files and directories
//! Data is read from and written to regular files only: every open for RETR, HASH or an
//! upload uses `O_NONBLOCK` (opening a FIFO must not wait for a peer), checks the type
//! with `fstat`, refuses anything else with 550 "Not a regular file", and only then
//! clears `O_NONBLOCK` again (the data path's pread/pwrite, sendfile and splice then see
//! an ordinary descriptor).
//!
//! # Blocking calls
//! Every system call here can block for as long as the file system likes (NFS, FUSE, a
//! busy disk), so each operation runs on tokio's blocking pool (`spawn_blocking`), never
//! on the async workers that serve the control connections.
//!
//! Except where it provably cannot block: on a local file system (ext4, XFS, btrfs, tmpfs,
//! overlayfs...; see `cached_lookups_possible`) opening a file for reading and `fstat` of
//! it wait for no I/O once every path component is in the kernel's dentry cache, and
//! openat2's `RESOLVE_CACHED` (Linux 5.12) makes the open fail with `EAGAIN` instead of
//! looking anything up. RETR's open and the stat of SIZE, MDTM and MLST try that on the
//! async worker first and go to the blocking pool only on `EAGAIN`: a trip to the pool is
//! two thread wake-ups, a large part of what a small file costs (BENCHMARKS.md, "Small
//! files: where a file's time goes").
//!
//! MFMT and SITE CHMOD (which `lftp mirror -R` sends for every file) do the same for their
//! open, and then change the inode's times or mode there too. That can wait for the
//! journal as any inode update can, no more than the `pwrite` of every small upload,
//! which the async copy loop already makes on the worker; it saves two of the four trips
//! an uploaded file took (BENCHMARKS.md, session 6).
//!
//! An upload's other two trips go the same way: its open, when the parent directory
//! opens with `RESOLVE_CACHED` (the kernel refuses that flag with `O_CREAT`, so only the
//! parent is checked; the final name and the part file's are then looked up and created
//! in it on the worker), and its commit when that is one rename (both names were looked
//! up at the open, so their dentries are cached). Looking a name up in a directory can
//! read one of its blocks, and creating or renaming an inode takes a journal handle: the
//! same kind and size of wait as the `pwrite` and `sendfile` the worker already makes for
//! every small file, and nothing like the unbounded waits of NFS or FUSE, which never take
//! this path. pure-ftpd and vsftpd make all of these calls inline too. Anything else
//! (a resume that cuts the file, a failed upload's unlink, DELE, RNFR/RNTO) stays on the
//! pool.
//!
//! # Listings
//! A directory is read in batches of [`LIST_BATCH`] entries on the blocking pool, pulled by
//! the listing as it is sent: memory stays bounded whatever the directory's size. A
//! directory that fits in the first batch is sorted by name; a larger one is listed in
//! directory (readdir) order, unsorted, since sorting would need all of it in memory.

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
use std::sync::Arc;

/// Suffix of upload part files.
pub const PART_SUFFIX: &str = ".kftp-part";

/// Directory entries read (and stat'ed) per trip to the blocking pool while listing.
pub const LIST_BATCH: usize = 1024;

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);
/// For part files: their own name must not be a symlink either.
const RESOLVE_NO_LINKS: ResolveFlags = RESOLVE.union(ResolveFlags::NO_SYMLINKS);

/// What committing an upload does.
#[derive(Debug)]
pub(crate) enum Finish {
    /// Rename the part file over the final name.
    Rename {
        dir: OwnedFd,
        part: String,
        name: String,
        no_replace: bool,
        /// The part file may hold bytes past the upload's end (a resume from before its
        /// end), to be cut at commit. A new or emptied part file written from 0 ends where
        /// the upload ended: no ftruncate then, one system call less per small upload.
        cut: bool,
    },
    /// The upload writes the final file in place (resume or append of an existing file,
    /// or an adjusted store, `adjust`). `had` is the file's length when opened.
    InPlace { had: u64, adjust: bool },
}

impl Finish {
    /// Whether committing is one rename of a part file and nothing else: a complete upload
    /// that needs no cut. Both names were looked up when the part file was opened, so
    /// their dentries (the final name's a negative one if it did not exist) are cached:
    /// on a local file system the rename waits for no lookup I/O, and it runs on the
    /// async worker (see the module comment).
    fn is_plain_rename(&self, complete: bool) -> bool {
        complete && matches!(self, Finish::Rename { cut: false, .. })
    }
}

/// A directory tree served to one user, rooted where the kernel enforces it. Cloning is
/// cheap (it shares the root descriptor): a clone is what a blocking task works on.
#[derive(Clone, Debug)]
pub struct LocalFs {
    root: Arc<OwnedFd>,
    root_path: Arc<PathBuf>,
    /// The root is on a local file system and the kernel has `RESOLVE_CACHED`: cheap
    /// opens are tried on the async worker first (see the module comment).
    cached_lookups: bool,
}

/// Local file systems, by `statfs` magic: with its dentries cached, opening a file on one
/// (and `fstat` of the open file) waits for no disk or network. Network and FUSE file
/// systems may ask a server to revalidate even a cached name, so they are not listed.
const LOCAL_FS_MAGIC: &[i64] = &[
    0xEF53,      // ext2/3/4
    0x5846_5342, // XFS
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0x794C_7630, // overlayfs
    0x2FC1_2FC1, // ZFS
    0xF2F5_2010, // F2FS
];

/// Whether opens under `root` can be tried from the dentry cache alone: a local file
/// system (see [`LOCAL_FS_MAGIC`]) and a kernel that knows `RESOLVE_CACHED`.
fn cached_lookups_possible(root: &OwnedFd) -> bool {
    let local = rustix::fs::fstatfs(root).is_ok_and(|st| LOCAL_FS_MAGIC.contains(&st.f_type));
    local
        && rustix::fs::openat2(
            root,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE | ResolveFlags::CACHED,
        )
        .is_ok()
}

/// Whether an operation tried with `RESOLVE_CACHED` needs a real lookup (`EAGAIN`).
fn needs_lookup(e: &FsError) -> bool {
    matches!(e, FsError::Other(io) if io.raw_os_error() == Some(rustix::io::Errno::AGAIN.raw_os_error()))
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
            cached_lookups: cached_lookups_possible(&root_fd),
            root: Arc::new(root_fd),
            root_path: Arc::new(root.to_path_buf()),
        })
    }

    /// The host path of the root (for logs).
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    fn open_at(&self, p: &VPath, flags: OFlags) -> Result<OwnedFd, FsError> {
        self.open_at_resolving(p, flags, ResolveFlags::empty())
    }

    /// [`Self::open_at`] with more resolve flags (`RESOLVE_CACHED`).
    fn open_at_resolving(
        &self,
        p: &VPath,
        flags: OFlags,
        more: ResolveFlags,
    ) -> Result<OwnedFd, FsError> {
        check_path(p)?;
        Ok(rustix::fs::openat2(
            &*self.root,
            p.relative(),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE | more,
        )?)
    }

    /// The parent directory (opened beneath the root) and the final component.
    fn parent<'a>(&self, p: &'a VPath) -> Result<(OwnedFd, &'a str), FsError> {
        self.parent_resolving(p, ResolveFlags::empty())
    }

    /// [`Self::parent`] with more resolve flags (`RESOLVE_CACHED`).
    fn parent_resolving<'a>(
        &self,
        p: &'a VPath,
        more: ResolveFlags,
    ) -> Result<(OwnedFd, &'a str), FsError> {
        let (parent, name) = p.split_last().ok_or(FsError::PermissionDenied)?;
        check_name(name)?;
        let dir = self.open_at_resolving(&parent, OFlags::PATH | OFlags::DIRECTORY, more)?;
        Ok((dir, name))
    }

    /// Opens an upload target and takes its upload lock: one upload per name at a time,
    /// so two sessions never write into (or truncate) the same part file. `part` opens
    /// a part file: a symlink in its name is refused instead of followed.
    fn open_upload(dir: &OwnedFd, name: &str, flags: OFlags, part: bool) -> Result<File, FsError> {
        Self::open_upload_len(dir, name, flags, part).map(|(f, _)| f)
    }

    /// [`Self::open_upload`], with the length the file had when opened (from the `fstat`
    /// that checked its type, so no second one is needed).
    fn open_upload_len(
        dir: &OwnedFd,
        name: &str,
        flags: OFlags,
        part: bool,
    ) -> Result<(File, u64), FsError> {
        let (file, len) = Self::open_in(dir, name, flags, part)?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok((file, len)),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(FsError::Busy),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens a regular file beneath `dir` for writing (see [`open_regular`]).
    fn open_in(
        dir: &OwnedFd,
        name: &str,
        flags: OFlags,
        part: bool,
    ) -> Result<(File, u64), FsError> {
        // openat2 refuses (EINVAL) a mode without O_CREAT, unlike openat.
        let mode = if flags.contains(OFlags::CREATE) {
            Mode::from_raw_mode(upload_mode())
        } else {
            Mode::empty()
        };
        let resolve = if part { RESOLVE_NO_LINKS } else { RESOLVE };
        let (fd, st) = open_regular(dir, name, flags, mode, resolve).map_err(|e| match e {
            // RESOLVE_NO_SYMLINKS: the part file's name is a symlink.
            FsError::Escape if part => FsError::NotRegular,
            e => e,
        })?;
        // kftpd never makes a second link to a part file: one that has it is another
        // file's name too, and truncating or writing it would change that file.
        if part && st.st_nlink > 1 {
            return Err(FsError::NotRegular);
        }
        Ok((File::from(fd), st.st_size.max(0) as u64))
    }
}

static UPLOAD_MODE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0o640);

/// Sets the mode of files uploads create (`--upload-mode`; the umask still applies).
pub fn set_upload_mode(mode: u32) {
    UPLOAD_MODE.store(mode & 0o777, std::sync::atomic::Ordering::Relaxed);
}

fn upload_mode() -> u32 {
    UPLOAD_MODE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Opens `name` beneath `dir` as a regular file, or fails with [`FsError::NotRegular`]
/// (or [`FsError::IsADirectory`]): `O_NONBLOCK` so that a FIFO (or a device) never makes
/// open(2) wait for a peer, `fstat` to check what was opened, then `O_NONBLOCK` cleared so
/// the data path gets an ordinary descriptor.
fn open_regular(
    dir: &OwnedFd,
    name: &str,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> Result<(OwnedFd, Stat), FsError> {
    let fd = match rustix::fs::openat2(
        dir,
        name,
        flags | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        mode,
        resolve,
    ) {
        Ok(fd) => fd,
        // A FIFO opened for writing with no reader (O_NONBLOCK), or a device with no
        // driver behind it.
        Err(rustix::io::Errno::NXIO) => return Err(FsError::NotRegular),
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&fd)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {}
        FileType::Directory => return Err(FsError::IsADirectory),
        _ => return Err(FsError::NotRegular),
    }
    // F_SETFL changes only the status flags (O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME)
    // and ignores the rest, so the flags the file was opened with, less O_NONBLOCK, are
    // what F_GETFL would have said less O_NONBLOCK: one system call per open saved.
    rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
    Ok((fd, st))
}

/// Names clients may not use: the upload part files (so nobody can read or clobber an
/// upload in flight).
///
/// The suffix is matched ASCII-case-insensitively: on a case-insensitive file system
/// (casefold ext4, CIFS, some FUSE mounts) `.x.KFTP-PART` would name the part file.
fn check_name(name: &str) -> Result<(), FsError> {
    if is_part_name(name) {
        return Err(FsError::ReservedName);
    }
    Ok(())
}

/// Whether `name` ends with [`PART_SUFFIX`], in any ASCII case.
pub fn is_part_name(name: &str) -> bool {
    let (n, suf) = (name.as_bytes(), PART_SUFFIX.as_bytes());
    n.len() >= suf.len() && n[n.len() - suf.len()..].eq_ignore_ascii_case(suf)
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

/// Reads up to [`LIST_BATCH`] entries of `dir` (skipping `.`, `..` and part files) and
/// stats them; whether the directory ended. Runs on a blocking thread.
fn read_batch(dir: &mut rustix::fs::Dir) -> Result<(Vec<Entry>, bool), FsError> {
    let mut out = Vec::with_capacity(LIST_BATCH.min(256));
    for _ in 0..LIST_BATCH {
        let Some(ent) = dir.read() else {
            return Ok((out, true));
        };
        let ent = ent?;
        let name = ent.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = String::from_utf8_lossy(name);
        if is_part_name(&name) {
            continue;
        }
        // An entry can vanish between readdir and stat; skip it rather than fail.
        let st = rustix::fs::statat(dir.fd()?, ent.file_name(), AtFlags::SYMLINK_NOFOLLOW);
        if let Ok(st) = st {
            out.push(entry(&name, &st));
        }
    }
    Ok((out, false))
}

/// The synchronous halves of the trait methods (all syscalls, no awaits). The trait
/// methods run them on the blocking pool through `LocalFs::blocking`.
impl LocalFs {
    /// Runs `f` on a clone of this jail on tokio's blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, FsError>
    where
        T: Send + 'static,
        F: FnOnce(&LocalFs) -> Result<T, FsError> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| FsError::Other(io::Error::other(format!("file system task: {e}"))))?
    }

    /// Runs `f` here, on the async worker, with `RESOLVE_CACHED` for its opens when the
    /// root allows it; on the blocking pool without it when that is impossible or a name
    /// was not cached (see the module comment). `f` must open only through the resolve
    /// flags it is given and do nothing else that can wait for I/O, except a change of the
    /// opened inode's metadata (futimens, fchmod) and an upload's lookup and creation of a
    /// name in a directory found in the cache: those take the same journal handle (and at
    /// worst one block read) as the `pwrite` by which the async copy loop writes every
    /// small upload on the worker.
    async fn cached_or_blocking<T, F>(&self, f: F) -> Result<T, FsError>
    where
        T: Send + 'static,
        F: Fn(&LocalFs, ResolveFlags) -> Result<T, FsError> + Send + 'static,
    {
        if self.cached_lookups {
            match f(self, ResolveFlags::CACHED) {
                Err(e) if needs_lookup(&e) => {}
                done => return done,
            }
        }
        self.blocking(move |fs| f(fs, ResolveFlags::empty())).await
    }

    /// Opens `p` for MFMT or SITE CHMOD (futimens, fchmod). With `RESOLVE_CACHED` (on the
    /// async worker) only a regular file or a directory is opened, after an `O_PATH` look at
    /// its type: opening a device could wait in its driver, so anything else goes to the
    /// blocking pool (`EAGAIN`), which opens it as before.
    fn open_for_metadata(&self, p: &VPath, more: ResolveFlags) -> Result<OwnedFd, FsError> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        if more.contains(ResolveFlags::CACHED) {
            self.look_for_metadata(p, more)?;
        }
        self.open_at_resolving(p, flags, more)
    }

    /// The `O_PATH` look of [`Self::open_for_metadata`]: `p` if it is a regular file or a
    /// directory, else `EAGAIN` (to the blocking pool).
    fn look_for_metadata(&self, p: &VPath, more: ResolveFlags) -> Result<OwnedFd, FsError> {
        let at = self.open_at_resolving(p, OFlags::PATH, more)?;
        let kind = FileType::from_raw_mode(rustix::fs::fstat(&at)?.st_mode);
        if !matches!(kind, FileType::RegularFile | FileType::Directory) {
            return Err(FsError::Other(rustix::io::Errno::AGAIN.into()));
        }
        Ok(at)
    }

    /// Opens a directory for listing and reads its first batch (sorted when that was all
    /// of it); the directory to read on, unless it ended.
    fn open_list(&self, p: &VPath) -> Result<(Vec<Entry>, Option<rustix::fs::Dir>), FsError> {
        let fd = self.open_at(p, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut dir = rustix::fs::Dir::new(fd)?;
        let (mut first, eof) = read_batch(&mut dir)?;
        if eof {
            first.sort_by(|a, b| a.name.cmp(&b.name));
            return Ok((first, None));
        }
        Ok((first, Some(dir)))
    }

    /// Opens the file an upload writes (see the module comment). `more` is for the open of
    /// the parent directory: with `RESOLVE_CACHED` (on the async worker) a parent not in the
    /// dentry cache fails with `EAGAIN` and the whole call goes to the blocking pool.
    fn open_file_write(
        &self,
        p: &VPath,
        mode: WriteMode,
        more: ResolveFlags,
    ) -> Result<FileUpload, FsError> {
        let (dir, name) = self.parent_resolving(p, more)?;
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
                _ => return Err(FsError::NotRegular),
            }
        }
        let rename = |dir: OwnedFd, no_replace: bool, cut: bool| Finish::Rename {
            dir,
            part: part.clone(),
            name: name.to_string(),
            no_replace,
            cut,
        };
        // Only a resume or an append asks what an earlier upload left: a fresh upload takes
        // the part file's length from the fstat of its open (one lookup less per file).
        let partial = || -> Result<Option<u64>, FsError> {
            Ok(statat_nofollow(&dir, &part)?.map(|st| st.st_size.max(0) as u64))
        };
        let fresh = |dir: OwnedFd, no_replace: bool| -> Result<FileUpload, FsError> {
            // Truncated only once the lock is held.
            let (file, len) =
                Self::open_upload_len(&dir, &part, OFlags::WRONLY | OFlags::CREATE, true)?;
            // Only an old part file needs cutting: ext4 (auto_da_alloc) starts writeback of
            // a file truncated to 0 when it is closed, which cost the server about a tenth
            // of its CPU per uploaded GiB and held the 226 back (BENCHMARKS.md, session 5).
            if len != 0 {
                file.set_len(0)?;
            }
            Ok(FileUpload {
                file,
                offset: 0,
                written: 0,
                discard: false,
                finish: rename(dir, no_replace, false),
            })
        };
        // The existing file (`had` bytes) opened to be written from byte `n`.
        let in_place = |dir: &OwnedFd, had: u64, n: u64, adjust: bool| {
            if had < n {
                return Err(FsError::BadOffset);
            }
            let file = Self::open_upload(dir, name, OFlags::WRONLY, false)?;
            Ok(FileUpload {
                file,
                offset: n,
                written: 0,
                discard: false,
                finish: Finish::InPlace { had, adjust },
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
            WriteMode::ResumeAt(n) => match (existing, partial()?) {
                (_, Some(len)) if len >= n => {
                    let file = Self::open_upload(&dir, &part, OFlags::WRONLY, true)?;
                    Ok(FileUpload {
                        file,
                        offset: n,
                        written: 0,
                        discard: false,
                        finish: rename(dir, false, true),
                    })
                }
                (Some(st), _) => in_place(&dir, st.st_size.max(0) as u64, n, false),
                (None, _) if n == 0 => fresh(dir, false),
                (None, _) => Err(FsError::BadOffset),
            },
            // Into the file itself: a part file left by an interrupted upload is another
            // transfer's and is not touched.
            WriteMode::Adjust(n) => match existing {
                Some(st) => in_place(&dir, st.st_size.max(0) as u64, n, true),
                None if n == 0 => fresh(dir, false),
                None => Err(FsError::BadOffset),
            },
            WriteMode::Append => match (existing, partial()?) {
                (_, Some(len)) => {
                    let file = Self::open_upload(&dir, &part, OFlags::WRONLY, true)?;
                    Ok(FileUpload {
                        file,
                        offset: len,
                        written: 0,
                        discard: false,
                        // `len` was read before the lock: another writer may have grown
                        // the file since, so cut as a resume does.
                        finish: rename(dir, false, true),
                    })
                }
                (Some(st), None) => {
                    let len = st.st_size.max(0) as u64;
                    in_place(&dir, len, len, false)
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
                cut,
            } => {
                if complete {
                    // A resumed part file may hold stale bytes past the new end.
                    if cut {
                        up.file.set_len(end)?;
                    }
                    let flags = if no_replace {
                        RenameFlags::NOREPLACE
                    } else {
                        RenameFlags::empty()
                    };
                    rustix::fs::renameat_with(&dir, &part, &dir, &name, flags)?;
                } else if end == 0 || up.discard {
                    // Nothing arrived, or a quota refused it: leave no litter.
                    let _ = rustix::fs::unlinkat(&dir, &part, AtFlags::empty());
                }
            }
            // A resume or an append ends the file where the upload ended; an adjusted store
            // leaves what lies past its end, and a refused one keeps the old length.
            Finish::InPlace { adjust: false, .. } => {
                if complete {
                    up.file.set_len(end)?;
                } else if up.discard {
                    up.file.set_len(up.offset)?;
                }
            }
            Finish::InPlace { had, adjust: true } => {
                if !complete && up.discard && end > had {
                    up.file.set_len(had)?;
                }
            }
        }
        Ok(())
    }
}

/// Every method runs its system calls on the blocking pool, except the cached-lookup fast
/// path of `stat` and `open_read` (see the module comment).
#[async_trait]
impl Storage for LocalFs {
    async fn stat(&self, p: &VPath) -> Result<Entry, FsError> {
        let p = p.clone();
        self.cached_or_blocking(move |fs, more| {
            let fd = fs.open_at_resolving(&p, OFlags::PATH, more)?;
            let st = rustix::fs::fstat(&fd)?;
            Ok(entry(p.file_name(), &st))
        })
        .await
    }

    async fn list(&self, p: &VPath) -> Result<EntryStream, FsError> {
        use futures::{StreamExt, TryStreamExt};
        let p = p.clone();
        // The first batch is read here, so errors about the directory come before 150.
        let (first, dir) = self.blocking(move |fs| fs.open_list(&p)).await?;
        let first = futures::stream::iter(first.into_iter().map(Ok));
        let Some(dir) = dir else {
            return Ok(Box::pin(first));
        };
        // The rest, one batch per trip to the blocking pool, read only as the listing is
        // sent: at most one batch is held at a time. No reader thread feeding a channel:
        // it would hold a blocking-pool thread for as long as a slow client takes to
        // read, and enough slow listings would then exhaust the pool for every session.
        let rest = futures::stream::try_unfold(Some(dir), |dir| async move {
            let Some(mut dir) = dir else {
                return Ok::<_, FsError>(None);
            };
            let (batch, eof, dir) = tokio::task::spawn_blocking(move || {
                read_batch(&mut dir).map(|(batch, eof)| (batch, eof, dir))
            })
            .await
            .map_err(|e| FsError::Other(io::Error::other(format!("listing task: {e}"))))??;
            Ok(Some((batch, (!eof).then_some(dir))))
        })
        .map_ok(|batch| futures::stream::iter(batch.into_iter().map(Ok)))
        .try_flatten();
        Ok(Box::pin(first.chain(rest)))
    }

    async fn open_write(&self, p: &VPath, mode: WriteMode) -> Result<Upload, FsError> {
        let p = p.clone();
        self.cached_or_blocking(move |fs, more| {
            fs.open_file_write(&p, mode, more).map(Upload::File)
        })
        .await
    }

    async fn commit(&self, up: Upload, complete: bool) -> Result<(), FsError> {
        match up {
            Upload::File(up) if self.cached_lookups && up.finish.is_plain_rename(complete) => {
                self.commit_file(up, complete)
            }
            Upload::File(up) => self.blocking(move |fs| fs.commit_file(up, complete)).await,
            _ => Err(FsError::Other(io::Error::other(
                "not an upload of this backend",
            ))),
        }
    }

    async fn open_read(&self, p: &VPath) -> Result<ReadHandle, FsError> {
        let p = p.clone();
        self.cached_or_blocking(move |fs, more| {
            check_path(&p)?;
            let (fd, st) = open_regular(
                &fs.root,
                p.relative(),
                OFlags::RDONLY,
                Mode::empty(),
                RESOLVE | more,
            )?;
            Ok(ReadHandle::File {
                file: File::from(fd),
                len: st.st_size.max(0) as u64,
            })
        })
        .await
    }

    async fn partial_size(&self, p: &VPath) -> Option<u64> {
        let p = p.clone();
        self.blocking(move |fs| {
            let (dir, name) = fs.parent(&p)?;
            // Only a regular part file is an upload to resume (not a planted symlink).
            Ok(statat_nofollow(&dir, &part_name(name))?
                .filter(|st| {
                    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_nlink == 1
                })
                .map(|st| st.st_size.max(0) as u64))
        })
        .await
        .ok()
        .flatten()
    }

    async fn mkdir(&self, p: &VPath) -> Result<(), FsError> {
        let p = p.clone();
        self.blocking(move |fs| {
            let (dir, name) = fs.parent(&p)?;
            Ok(rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755))?)
        })
        .await
    }

    async fn rmdir(&self, p: &VPath) -> Result<(), FsError> {
        let p = p.clone();
        self.blocking(move |fs| {
            let (dir, name) = fs.parent(&p)?;
            Ok(rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR)?)
        })
        .await
    }

    async fn remove(&self, p: &VPath) -> Result<(), FsError> {
        let p = p.clone();
        self.blocking(move |fs| fs.remove_file(&p)).await
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), FsError> {
        let (from, to) = (from.clone(), to.clone());
        self.blocking(move |fs| {
            let (d1, n1) = fs.parent(&from)?;
            let (d2, n2) = fs.parent(&to)?;
            Ok(rustix::fs::renameat(&d1, n1, &d2, n2)?)
        })
        .await
    }

    async fn set_mtime(&self, p: &VPath, mtime: i64) -> Result<(), FsError> {
        let p = p.clone();
        self.cached_or_blocking(move |fs, more| {
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
            if more.contains(ResolveFlags::CACHED) {
                // RESOLVE_CACHED worked, so the kernel is >= 5.12 and utimensat takes
                // AT_EMPTY_PATH on an O_PATH descriptor (5.8): the look is enough, no
                // second open and close for each file `lftp mirror -R` sends.
                let at = fs.look_for_metadata(&p, more)?;
                return Ok(rustix::fs::utimensat(&at, "", &times, AtFlags::EMPTY_PATH)?);
            }
            let fd = fs.open_for_metadata(&p, more)?;
            Ok(rustix::fs::futimens(&fd, &times)?)
        })
        .await
    }

    async fn chmod(&self, p: &VPath, mode: u32) -> Result<(), FsError> {
        let p = p.clone();
        self.cached_or_blocking(move |fs, more| {
            let fd = fs.open_for_metadata(&p, more)?;
            Ok(rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & 0o777))?)
        })
        .await
    }
}

impl LocalFs {
    /// DELE: the file, and an interrupted upload to its name.
    fn remove_file(&self, p: &VPath) -> Result<(), FsError> {
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
        if let Some(st) = statat_nofollow(&dir, &part)? {
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_nlink > 1 {
                // Not an upload kftpd made (a symlink, a FIFO, a second name of another
                // file): nothing to lock; removing the name leaves any target alone.
                rustix::fs::unlinkat(&dir, &part, AtFlags::empty())?;
                return Ok(());
            }
            match Self::open_upload(&dir, &part, OFlags::WRONLY, true) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A jail with a file, a directory, a FIFO and a symlink out of it, opened with and
    /// without the cached-lookup fast path.
    fn jail() -> (tempfile::TempDir, LocalFs, LocalFs) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("f"), b"12345").unwrap();
        std::fs::create_dir(root.join("d")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
        let fast = LocalFs::open(root).unwrap();
        let slow = LocalFs {
            cached_lookups: false,
            ..fast.clone()
        };
        (dir, fast, slow)
    }

    fn vpath(s: &str) -> VPath {
        VPath::resolve(&VPath::root(), s).unwrap()
    }

    #[test]
    fn a_local_root_takes_the_fast_path() {
        // tempdir is on a local file system wherever these tests run (ext4, XFS, tmpfs,
        // overlayfs); a kernel without RESOLVE_CACHED (< 5.12) falls back, also correctly.
        let (_d, fast, _) = jail();
        let kernel_has_it = rustix::fs::openat2(
            &*fast.root,
            ".",
            OFlags::PATH,
            Mode::empty(),
            ResolveFlags::CACHED,
        )
        .is_ok();
        if kernel_has_it {
            assert!(fast.cached_lookups, "tempdir on {:?}", fast.root_path);
        }
    }

    /// The fast path answers exactly as the blocking pool does, refusals included: the
    /// jail (RESOLVE_BENEATH, no magic links) and the regular-file check stay.
    #[tokio::test]
    async fn mfmt_and_chmod_answer_alike_inline_and_on_the_pool() {
        let (d, fast, slow) = jail();
        let meta = |name: &str| std::fs::metadata(d.path().join(name)).unwrap();
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        for (fs, t) in [(&fast, 1_000_000_000i64), (&slow, 1_100_000_000)] {
            for name in ["f", "d", "fifo"] {
                fs.set_mtime(&vpath(name), t).await.unwrap();
                assert_eq!(meta(name).mtime(), t, "{name}");
            }
            fs.chmod(&vpath("f"), 0o600).await.unwrap();
            assert_eq!(meta("f").permissions().mode() & 0o777, 0o600);
            fs.chmod(&vpath("f"), 0o644).await.unwrap();
            assert_eq!(meta("f").permissions().mode() & 0o777, 0o644);
            for p in ["nope", "out/passwd"] {
                assert!(fs.set_mtime(&vpath(p), t).await.is_err(), "{p}");
                assert!(fs.chmod(&vpath(p), 0o600).await.is_err(), "{p}");
            }
        }
        // The link out of the jail was not followed: /etc keeps its mode.
        assert_ne!(
            std::fs::metadata("/etc").unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[tokio::test]
    async fn the_fast_path_answers_as_the_pool_does() {
        let (_d, fast, slow) = jail();
        for fs in [&fast, &slow] {
            let e = fs.stat(&vpath("f")).await.unwrap();
            assert_eq!((e.kind, e.size), (Kind::File, 5));
            assert_eq!(fs.stat(&vpath("d")).await.unwrap().kind, Kind::Dir);
            assert!(matches!(
                fs.stat(&vpath("nope")).await,
                Err(FsError::NotFound)
            ));
            assert!(matches!(
                fs.stat(&vpath("out/passwd")).await,
                Err(FsError::Escape)
            ));
            match fs.open_read(&vpath("f")).await.unwrap() {
                ReadHandle::File { file, len } => {
                    assert_eq!(len, 5);
                    // O_NONBLOCK was cleared for the data path.
                    assert!(!rustix::fs::fcntl_getfl(&file)
                        .unwrap()
                        .contains(OFlags::NONBLOCK));
                }
                _ => panic!("not a local file"),
            }
            for (p, want) in [
                ("fifo", "NotRegular"),
                ("d", "IsADirectory"),
                ("nope", "NotFound"),
                ("out/passwd", "Escape"),
            ] {
                let got = fs.open_read(&vpath(p)).await.err().unwrap();
                assert_eq!(format!("{got:?}"), want, "{p}");
            }
        }
    }

    /// An upload opened and committed on the worker (a cached parent) ends exactly as one
    /// on the pool: nothing under the final name before commit, the bytes after it, the
    /// part file gone; a name through a link out of the jail, a directory and a part-file
    /// name refused alike.
    #[tokio::test]
    async fn uploads_open_and_commit_alike_inline_and_on_the_pool() {
        use std::io::Write;
        let (d, fast, slow) = jail();
        for (fs, name) in [(&fast, "d/new-fast"), (&slow, "d/new-slow")] {
            for (round, body) in [(0, &b"first"[..]), (1, &b"second, longer"[..])] {
                let Upload::File(mut up) = fs
                    .open_write(&vpath(name), WriteMode::Replace)
                    .await
                    .unwrap()
                else {
                    panic!("not a local upload")
                };
                up.file.write_all(body).unwrap();
                up.written = body.len() as u64;
                // Before commit only the part file holds the new bytes.
                let now = std::fs::read(d.path().join(name)).ok();
                assert_eq!(now.is_some(), round == 1, "{name}");
                fs.commit(Upload::File(up), true).await.unwrap();
                assert_eq!(std::fs::read(d.path().join(name)).unwrap(), body, "{name}");
            }
            let parts: Vec<_> = std::fs::read_dir(d.path().join("d"))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| is_part_name(n))
                .collect();
            assert!(parts.is_empty(), "{parts:?}");
            for (p, want) in [
                ("out/x", "Escape"),
                ("d", "IsADirectory"),
                ("d/.x.kftp-part", "ReservedName"),
            ] {
                let got = fs
                    .open_write(&vpath(p), WriteMode::Replace)
                    .await
                    .err()
                    .unwrap();
                assert_eq!(format!("{got:?}"), want, "{p}");
            }
        }
    }

    /// A name the dentry cache cannot answer (`EAGAIN`) is looked up on the blocking pool.
    #[tokio::test]
    async fn a_lookup_the_cache_cannot_answer_goes_to_the_pool() {
        let (_d, fast, _) = jail();
        let fast = LocalFs {
            cached_lookups: true,
            ..fast
        };
        let tried = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = tried.clone();
        let got = fast
            .cached_or_blocking(move |_, more| {
                seen.lock().unwrap().push(more);
                if more.contains(ResolveFlags::CACHED) {
                    Err(FsError::from(rustix::io::Errno::AGAIN))
                } else {
                    Ok(std::thread::current().name().map(str::to_string))
                }
            })
            .await
            .unwrap();
        assert_eq!(
            *tried.lock().unwrap(),
            vec![ResolveFlags::CACHED, ResolveFlags::empty()]
        );
        // The second try ran on a blocking-pool thread, not on the test's own thread.
        assert_ne!(got, std::thread::current().name().map(str::to_string));
        // Any other error is the answer, without a second try.
        let once = fast
            .cached_or_blocking(|_, _| Err::<(), _>(FsError::NotFound))
            .await;
        assert!(matches!(once, Err(FsError::NotFound)));
    }
}
