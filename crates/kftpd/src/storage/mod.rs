//! The storage seam: what a session may do to files, independent of where they live.
//!
//! [`local::LocalFs`] is the embedded default and the one with the zero-copy path: its
//! handles are real `File`s that `kftp-datapath` can sendfile from and splice into.
//! [`object::ObjectFs`] serves an S3-compatible bucket; its handles are streams (ranged
//! GETs, a multipart upload). The protocol crate and the command parser do not change.
//! [`open_root`] picks the backend from the root a user is given.

pub mod local;
#[cfg(feature = "s3")]
pub mod object;
/// Without the `s3` cargo feature: the same handle types, uninhabited, so the transfer and
/// hash code compiles unchanged, and `s3://` roots are refused with a reason.
#[cfg(not(feature = "s3"))]
#[path = "object_off.rs"]
pub mod object;

use async_trait::async_trait;
use kftp_proto::listing::Entry;
use kftp_proto::path::VPath;
use std::fmt;
use std::fs::File;
use std::io;

/// Why a storage operation failed, with the reply it becomes.
#[derive(Debug)]
#[non_exhaustive]
pub enum FsError {
    /// 550: nothing by that name.
    NotFound,
    /// 550: the OS refused.
    PermissionDenied,
    /// 550: the path (through a symlink) leads outside the session root. The kernel
    /// (openat2 RESOLVE_BENEATH) reports this; it is never decided by string checks alone.
    Escape,
    /// 550: the name exists.
    Exists,
    /// 550: a directory was expected.
    NotADirectory,
    /// 550: a file was expected.
    IsADirectory,
    /// 550: not a regular file (a FIFO, socket or device, or a part file that is a
    /// symlink): only regular files are read or written.
    NotRegular,
    /// 550: RMD on a directory with entries.
    NotEmpty,
    /// 553: a name kftpd reserves for itself (upload temp files) or an invalid name.
    ReservedName,
    /// 450: another upload to the same name is in progress.
    Busy,
    /// 452: the file system is full.
    NoSpace,
    /// 552: quota or file size limit exceeded.
    Quota,
    /// 554 (REST): the restart offset is past the end of what exists.
    BadOffset,
    /// 504: the backend cannot do this safely (the text says why).
    Unsupported(&'static str),
    /// 450: the object changed while the operation relied on it (ETag mismatch).
    Changed,
    /// 451: anything else.
    Other(io::Error),
}

impl FsError {
    /// The reply code for this error.
    pub fn code(&self) -> u16 {
        match self {
            FsError::Busy | FsError::Changed => 450,
            FsError::Unsupported(_) => 504,
            FsError::NoSpace => 452,
            FsError::Quota => 552,
            FsError::ReservedName => 553,
            FsError::BadOffset => 554,
            FsError::Other(_) => 451,
            _ => 550,
        }
    }
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsError::NotFound => f.write_str("No such file or directory"),
            FsError::PermissionDenied => f.write_str("Permission denied"),
            FsError::Escape => f.write_str("Path leads outside your root directory"),
            FsError::Exists => f.write_str("File exists"),
            FsError::NotADirectory => f.write_str("Not a directory"),
            FsError::IsADirectory => f.write_str("Is a directory"),
            FsError::NotRegular => f.write_str("Not a regular file"),
            FsError::NotEmpty => f.write_str("Directory not empty"),
            FsError::ReservedName => f.write_str("File name not allowed"),
            FsError::Busy => f.write_str("File busy: another upload to it is in progress"),
            FsError::NoSpace => f.write_str("Insufficient storage space"),
            FsError::Quota => f.write_str("Quota or file size limit exceeded"),
            FsError::BadOffset => f.write_str("Restart offset is past the end of the file"),
            FsError::Unsupported(why) => f.write_str(why),
            FsError::Changed => {
                f.write_str("The file changed on the server while this was being done; try again")
            }
            // The error itself can name the S3 endpoint, bucket, keys or local paths: the
            // client gets a reference to the log line that has it.
            FsError::Other(e) => f.write_str(&hidden(e)),
        }
    }
}

impl std::error::Error for FsError {}

/// A download's source changed under it (an object replaced mid-transfer): the client is
/// told so, since it is about its file, not about the server's internals.
#[derive(Debug)]
pub struct SourceReplaced;

impl fmt::Display for SourceReplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the object was replaced while it was being sent (ETag changed)")
    }
}

impl std::error::Error for SourceReplaced {}

/// What a client is told about an internal error `e`: a generic text with a reference,
/// while the whole error goes to the log under that reference (a hash of its text, so the
/// same failure always has the same reference).
pub fn hidden(e: &dyn std::fmt::Display) -> String {
    let detail = e.to_string();
    let reference = format!("{:08x}", crc32fast::hash(detail.as_bytes()));
    tracing::warn!(reference = %reference, error = %detail, "storage error (details withheld from the client)");
    format!("storage error (ref {reference}); the server log has details")
}

impl From<io::Error> for FsError {
    fn from(e: io::Error) -> Self {
        use rustix::io::Errno;
        let Some(raw) = e.raw_os_error() else {
            return match e.kind() {
                io::ErrorKind::NotFound => FsError::NotFound,
                io::ErrorKind::PermissionDenied => FsError::PermissionDenied,
                _ => FsError::Other(e),
            };
        };
        match Errno::from_raw_os_error(raw) {
            Errno::NOENT => FsError::NotFound,
            Errno::ACCESS | Errno::PERM | Errno::ROFS => FsError::PermissionDenied,
            // RESOLVE_BENEATH reports an escape as EXDEV; RESOLVE_NO_MAGICLINKS as ELOOP.
            Errno::XDEV | Errno::LOOP => FsError::Escape,
            Errno::EXIST => FsError::Exists,
            Errno::NOTDIR => FsError::NotADirectory,
            Errno::ISDIR => FsError::IsADirectory,
            Errno::NOTEMPTY => FsError::NotEmpty,
            Errno::NOSPC => FsError::NoSpace,
            Errno::DQUOT | Errno::FBIG => FsError::Quota,
            Errno::NAMETOOLONG | Errno::INVAL => FsError::ReservedName,
            _ => FsError::Other(e),
        }
    }
}

impl From<rustix::io::Errno> for FsError {
    fn from(e: rustix::io::Errno) -> Self {
        FsError::from(io::Error::from(e))
    }
}

/// How an upload opens its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// STOR: a new file replaces the old one when complete.
    Replace,
    /// REST n + STOR: continue an earlier upload at byte n.
    ResumeAt(u64),
    /// APPE: add to the end.
    Append,
    /// STOU: a new file; never replaces an existing one.
    CreateNew,
    /// ESTO A n (GridFTP's adjusted store): write into the file itself from byte n, never
    /// through an earlier upload's part file and never shortening it, as the toolkit's
    /// server does; a failed one cuts back only what it added past the old end.
    Adjust(u64),
}

/// A file opened for reading.
#[derive(Debug)]
pub enum ReadHandle {
    /// A local file: eligible for sendfile.
    File {
        /// The open file.
        file: File,
        /// Its size when opened; the transfer sends exactly this much.
        len: u64,
    },
    /// An object: read with ranged GETs pinned to the ETag it had when opened.
    Object(object::ObjectRead),
}

impl ReadHandle {
    /// Size when opened.
    pub fn size(&self) -> u64 {
        match self {
            ReadHandle::File { len, .. } => *len,
            ReadHandle::Object(o) => o.size(),
        }
    }
}

/// The entries of a directory, produced as they are read so that a listing of a huge
/// prefix streams to the client in bounded memory.
pub type EntryStream = futures::stream::BoxStream<'static, Result<Entry, FsError>>;

/// An upload in progress. Nothing appears under the final name until
/// [`Storage::commit`] with `complete`.
#[derive(Debug)]
pub enum Upload {
    /// Into a local part file (zero-copy eligible).
    File(FileUpload),
    /// A streamed multipart upload to an object store.
    Object(object::ObjectUpload),
}

impl Upload {
    /// Where writing starts in the final file.
    pub fn offset(&self) -> u64 {
        match self {
            Upload::File(f) => f.offset,
            Upload::Object(o) => o.offset(),
        }
    }

    /// Records how many bytes the transfer delivered, before commit.
    /// Marks the upload to be thrown away by `commit(.., false)` (a quota refusal): the
    /// part file is removed, an in-place resume or append cut back to where it began.
    /// Returns the bytes that frees on disk.
    pub fn discard(&mut self) -> u64 {
        match self {
            Upload::File(f) => {
                f.discard = true;
                match f.finish {
                    // What was charged for it: an adjusted store's bytes over old ones
                    // were charged too (commands::quota), and go back with the rest.
                    local::Finish::InPlace { .. } => f.written,
                    local::Finish::Rename { .. } => {
                        f.file.metadata().map_or(f.offset + f.written, |m| m.len())
                    }
                }
            }
            // An object upload that is not completed leaves nothing.
            Upload::Object(_) => 0,
        }
    }

    pub fn set_written(&mut self, n: u64) {
        match self {
            Upload::File(f) => f.written = n,
            Upload::Object(o) => o.set_written(n),
        }
    }
}

/// An upload into a local part file. Nothing appears under the final name until commit.
#[derive(Debug)]
pub struct FileUpload {
    /// Where the bytes go: eligible for splice.
    pub file: File,
    /// Where writing starts.
    pub offset: u64,
    /// Bytes written so far; the caller sets it before commit.
    pub written: u64,
    /// Throw the upload away instead of keeping it resumable (see [`Upload::discard`]).
    pub discard: bool,
    /// What commit does.
    pub(crate) finish: local::Finish,
}

/// The operations a session performs on its tree. All paths are virtual and already
/// normalised; implementations enforce the root.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug {
    /// Whether the root is reachable, checked once at login so that a missing bucket or
    /// bad credentials fail the login with a clear log line instead of every command.
    async fn check(&self) -> Result<(), FsError> {
        Ok(())
    }
    /// Facts about one path (symlinks inside the root are followed).
    async fn stat(&self, p: &VPath) -> Result<Entry, FsError>;
    /// The entries of a directory (symlinks shown as links), as a stream. Errors about
    /// the directory itself (missing, not a directory) come from this call, before any
    /// entry, so a listing can still be refused before its 150 reply.
    async fn list(&self, p: &VPath) -> Result<EntryStream, FsError>;
    /// Opens a file for RETR.
    async fn open_read(&self, p: &VPath) -> Result<ReadHandle, FsError>;
    /// Opens an upload target.
    async fn open_write(&self, p: &VPath, mode: WriteMode) -> Result<Upload, FsError>;
    /// Makes an upload visible under its final name (or keeps it resumable on failure).
    async fn commit(&self, up: Upload, complete: bool) -> Result<(), FsError>;
    /// Size of what an interrupted upload to `p` has stored so far, if any.
    async fn partial_size(&self, p: &VPath) -> Option<u64>;
    /// MKD.
    async fn mkdir(&self, p: &VPath) -> Result<(), FsError>;
    /// RMD.
    async fn rmdir(&self, p: &VPath) -> Result<(), FsError>;
    /// DELE.
    async fn remove(&self, p: &VPath) -> Result<(), FsError>;
    /// RNFR/RNTO.
    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), FsError>;
    /// MFMT.
    async fn set_mtime(&self, p: &VPath, mtime: i64) -> Result<(), FsError>;
    /// SITE CHMOD.
    async fn chmod(&self, p: &VPath, mode: u32) -> Result<(), FsError>;
}

/// Where a user's files live: a local directory, or `s3://bucket/prefix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Root {
    /// A directory on this machine.
    Local(std::path::PathBuf),
    /// A bucket (and key prefix) on the configured S3-compatible store.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix without leading or trailing `/` (may be empty).
        prefix: String,
    },
}

impl Root {
    /// Reads a configured root: `s3://bucket[/prefix]` or a local path.
    pub fn parse(p: &std::path::Path) -> Result<Root, String> {
        let Some(rest) = p.to_str().and_then(|s| s.strip_prefix("s3://")) else {
            return Ok(Root::Local(p.to_path_buf()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{}: no bucket name after s3://", p.display()));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|c| c == ".." || c == ".") || prefix.contains("//") {
            return Err(format!(
                "{}: the prefix must not contain . or .. or //",
                p.display()
            ));
        }
        Ok(Root::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// Whether this is a local directory.
    pub fn is_local(p: &std::path::Path) -> bool {
        matches!(Root::parse(p), Ok(Root::Local(_)))
    }
}

/// Opens the backend for a configured root, at login: a local root is opened on the
/// blocking pool (a hung mount must not hold an async worker), an object store root as
/// [`open_root`] does.
pub async fn open_root_at_login(
    root: &std::path::Path,
    s3: &crate::config::S3Settings,
) -> Result<std::sync::Arc<dyn Storage>, String> {
    match Root::parse(root)? {
        Root::Local(p) => tokio::task::spawn_blocking(move || local::LocalFs::open(&p))
            .await
            .map_err(|e| e.to_string())?
            .map(|fs| std::sync::Arc::new(fs) as std::sync::Arc<dyn Storage>)
            .map_err(|e| e.to_string()),
        Root::S3 { .. } => open_root(root, s3),
    }
}

/// Opens the backend for a configured root.
pub fn open_root(
    root: &std::path::Path,
    s3: &crate::config::S3Settings,
) -> Result<std::sync::Arc<dyn Storage>, String> {
    match Root::parse(root)? {
        Root::Local(p) => local::LocalFs::open(&p)
            .map(|fs| std::sync::Arc::new(fs) as std::sync::Arc<dyn Storage>)
            .map_err(|e| e.to_string()),
        #[cfg(feature = "s3")]
        Root::S3 { bucket, prefix } => object::ObjectFs::open(s3, &bucket, &prefix)
            .map(|fs| std::sync::Arc::new(fs) as std::sync::Arc<dyn Storage>),
        #[cfg(not(feature = "s3"))]
        Root::S3 { bucket, prefix } => {
            object::ObjectFs::open(s3, &bucket, &prefix).map(object::ObjectFs::into_storage)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn internal_errors_reach_clients_without_details() {
        let secret = "object store: Unexpected at https://s3.internal.example:3900/kftp-bucket/alice/payroll.xlsx";
        let e = FsError::Other(io::Error::other(secret));
        let shown = format!("{e}");
        assert!(shown.contains("storage error (ref "), "{shown}");
        assert!(shown.contains("server log"), "{shown}");
        for leak in [
            "s3.internal",
            "kftp-bucket",
            "payroll",
            "3900",
            "object store",
        ] {
            assert!(!shown.contains(leak), "{leak} in {shown}");
        }
        // The reference is the same for the same failure (it is looked up in the log).
        assert_eq!(
            shown,
            format!("{}", FsError::Other(io::Error::other(secret)))
        );
        // Errors that say nothing about the setup keep their words.
        assert_eq!(
            format!("{}", FsError::NotFound),
            "No such file or directory"
        );
    }

    #[test]
    fn roots_parse() {
        assert_eq!(
            Root::parse(Path::new("/srv/ftp")).unwrap(),
            Root::Local("/srv/ftp".into())
        );
        assert_eq!(
            Root::parse(Path::new("s3://b/users/alice/")).unwrap(),
            Root::S3 {
                bucket: "b".into(),
                prefix: "users/alice".into()
            }
        );
        assert_eq!(
            Root::parse(Path::new("s3://b")).unwrap(),
            Root::S3 {
                bucket: "b".into(),
                prefix: String::new()
            }
        );
        assert!(Root::parse(Path::new("s3://")).is_err());
        assert!(Root::parse(Path::new("s3://b/a/../c")).is_err());
    }
}
