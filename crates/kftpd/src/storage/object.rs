//! An S3-compatible object store as a user's tree, through Apache OpenDAL.
//!
//! Why OpenDAL: its S3 lister is lazy and non-recursive (one ListObjectsV2 page at a time
//! with `/` as delimiter), so a prefix of 500,000 objects streams to the client in bounded
//! memory; its writer is a streamed multipart upload with `abort`, and can place a
//! server-side copy of a range of another object (UploadPartCopy) between written bytes,
//! which is how resume works below; its reader issues ranged GETs pinned with `If-Match`.
//! `object_store` lists a prefix only into one `Vec`, and the AWS SDK would mean writing
//! all of that by hand.
//!
//! # Directories
//! A directory is any prefix that has objects under it, or an empty marker object named
//! `dir/` (what MKD creates, as the S3 console and rclone do). RMD removes the marker and
//! refuses while anything else is under the prefix. Deleting the last file of a
//! directory that has no marker leaves a marker behind, so the directory does not vanish
//! under the client's feet.
//!
//! # Uploads
//! STOR is a multipart upload of `part_size` parts, at most `concurrency` in flight, so
//! memory is bounded whatever the file size. The object appears only when the upload
//! completes; a failed or aborted transfer aborts the multipart upload, leaving nothing
//! under the name and no orphaned parts. (Parts orphaned by a crash of kftpd itself are
//! what the bucket lifecycle rule `AbortIncompleteMultipartUpload` is for; see
//! SECURITY.md.) Objects are immutable, so:
//! - `REST n` + `STOR` and `APPE` build a *new* object from the first `n` bytes of the
//!   existing one (all of it for APPE) followed by the uploaded bytes, and it replaces the
//!   old one only when complete. The prefix is copied inside the store (UploadPartCopy)
//!   when it is at least 5 MiB, else read and re-sent by kftpd; either way it is pinned to
//!   the ETag seen when the upload started, so an object replaced in between makes the
//!   upload fail with 450 instead of mixing two versions.
//! - An interrupted upload keeps nothing, so there is no part to resume: `SIZE` reports
//!   only complete objects, and a client resuming after a failure starts over.
//!
//! RNFR/RNTO of a file is a server-side copy (pinned to the source's ETag) and a delete.
//! Renaming a directory would copy every object under it, non-atomically, and is refused
//! with 504, as are MFMT and SITE CHMOD, which objects do not have.

use super::{EntryStream, FsError, ReadHandle, Storage, Upload, WriteMode};
use crate::config::{S3Settings, MIN_PART};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt};
use kftp_datapath::Tuning;
use kftp_proto::listing::{Entry, Kind};
use kftp_proto::path::VPath;
use opendal::{ErrorKind, Operator};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest range one UploadPartCopy may copy.
const MAX_COPY: u64 = 5 << 30;

/// Builds the shared HTTP client now (reading the system's CA certificates), before a
/// sandbox closes the file system.
pub fn prepare() {
    install_http_client();
}

/// One HTTP client for every bucket and session: rustls with the ring provider (the one
/// the rest of kftp uses) and the system's and webpki's roots.
fn install_http_client() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let tls = crate::http_tls::client_config();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "S3 HTTP client with our TLS settings failed; using reqwest's defaults");
                reqwest::Client::new()
            });
        opendal::HttpTransporter::install_default(
            opendal_http_transport_reqwest::ReqwestTransport::new(client),
        );
    });
}

/// A bucket prefix served as one user's tree.
pub struct ObjectFs {
    op: Operator,
    /// `bucket/prefix`, for logs.
    label: String,
    part_size: usize,
    concurrency: usize,
}

impl fmt::Debug for ObjectFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectFs(s3://{})", self.label)
    }
}

impl ObjectFs {
    /// Connects (lazily: no request is made here) to `bucket`, keys under `prefix`.
    pub fn open(settings: &S3Settings, bucket: &str, prefix: &str) -> Result<Self, String> {
        install_http_client();
        let s = settings.resolved();
        let mut b = opendal::services::S3::default()
            .bucket(bucket)
            .root(&format!("/{prefix}"))
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(e) = &s.endpoint {
            b = b.endpoint(e);
        }
        if let Some(r) = &s.region {
            b = b.region(r);
        }
        match (&s.access_key_id, &s.secret_access_key) {
            (Some(k), Some(sk)) => {
                b = b.access_key_id(k).secret_access_key(sk);
                if let Some(t) = &s.session_token {
                    b = b.session_token(t);
                }
            }
            _ => b = b.skip_signature(),
        }
        if s.virtual_host_style {
            b = b.enable_virtual_host_style();
        }
        let op = Operator::new(b)
            .map_err(|e| format!("s3://{bucket}/{prefix}: {e}"))?
            .layer(opendal::layers::TimeoutLayer::new())
            .layer(opendal::layers::RetryLayer::new().with_jitter());
        Ok(ObjectFs {
            op,
            label: format!("{bucket}/{prefix}"),
            part_size: s.part_size,
            concurrency: s.concurrency,
        })
    }

    /// Whether a directory exists at `p`: a marker, or anything under the prefix.
    async fn dir_exists(&self, p: &VPath) -> Result<bool, FsError> {
        if p.is_root() {
            return Ok(true);
        }
        let mut l = self
            .op
            .lister_with(&dir_key(p))
            .limit(1)
            .await
            .map_err(err)?;
        Ok(l.try_next().await.map_err(err)?.is_some())
    }

    /// Facts of the object `p`, if it exists as a file.
    async fn file_meta(&self, p: &VPath) -> Result<Option<opendal::Metadata>, FsError> {
        if p.is_root() {
            return Ok(None);
        }
        match self.op.stat(&file_key(p)).await {
            Ok(m) if m.is_file() => Ok(Some(m)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    /// The parent of `p` must be a directory (as on a file system: no implicit MKD).
    async fn check_parent(&self, p: &VPath) -> Result<(), FsError> {
        let Some((parent, _)) = p.split_last() else {
            return Err(FsError::PermissionDenied);
        };
        if self.dir_exists(&parent).await? {
            Ok(())
        } else if self.file_meta(&parent).await?.is_some() {
            Err(FsError::NotADirectory)
        } else {
            Err(FsError::NotFound)
        }
    }
}

fn file_key(p: &VPath) -> String {
    p.relative().to_string()
}

fn dir_key(p: &VPath) -> String {
    if p.is_root() {
        "/".into()
    } else {
        format!("{}/", p.relative())
    }
}

fn err(e: opendal::Error) -> FsError {
    match e.kind() {
        ErrorKind::NotFound => FsError::NotFound,
        ErrorKind::PermissionDenied => FsError::PermissionDenied,
        ErrorKind::AlreadyExists => FsError::Exists,
        ErrorKind::IsADirectory => FsError::IsADirectory,
        ErrorKind::NotADirectory => FsError::NotADirectory,
        ErrorKind::ConditionNotMatch => FsError::Changed,
        ErrorKind::RangeNotSatisfied => FsError::BadOffset,
        _ => FsError::Other(io::Error::other(format!("object store: {e}"))),
    }
}

fn io_err(e: opendal::Error) -> io::Error {
    match e.kind() {
        ErrorKind::ConditionNotMatch => io::Error::other(super::SourceReplaced),
        _ => io::Error::other(format!("object store: {e}")),
    }
}

/// A stable stand-in for an inode: the MLSx `unique` fact must differ between objects.
fn unique(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

fn entry(name: &str, key: &str, m: &opendal::Metadata, dir: bool) -> Entry {
    Entry {
        name: name.to_string(),
        kind: if dir { Kind::Dir } else { Kind::File },
        size: if dir { 0 } else { m.content_length() },
        mtime: m
            .last_modified()
            .map(|t| t.into_inner().as_second())
            .unwrap_or(0),
        mode: if dir { 0o755 } else { 0o644 },
        nlink: 1,
        dev: 0,
        ino: unique(key),
    }
}

fn dir_entry(name: &str, key: &str) -> Entry {
    Entry {
        name: name.to_string(),
        kind: Kind::Dir,
        size: 0,
        mtime: 0,
        mode: 0o755,
        nlink: 1,
        dev: 0,
        ino: unique(key),
    }
}

/// An object opened for RETR.
pub struct ObjectRead {
    op: Operator,
    key: String,
    len: u64,
    etag: Option<String>,
    chunk: usize,
    concurrency: usize,
}

impl fmt::Debug for ObjectRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectRead({}, {} bytes)", self.key, self.len)
    }
}

impl ObjectRead {
    /// Size when opened.
    pub fn size(&self) -> u64 {
        self.len
    }

    /// The ETag, when it is the MD5 of the content (a single-part upload): 32 hex digits.
    pub fn content_md5(&self) -> Option<String> {
        let t = self.etag.as_deref()?.trim_matches('"');
        (t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())).then(|| t.to_ascii_lowercase())
    }

    /// The bytes `[start, end)` as a stream of chunks, fetched `concurrency` ranged GETs at
    /// a time and pinned to the ETag the object had when opened.
    pub async fn stream(
        &self,
        start: u64,
        end: u64,
    ) -> io::Result<impl futures::Stream<Item = io::Result<Bytes>> + Send + Unpin> {
        let mut r = self
            .op
            .reader_with(&self.key)
            .chunk(self.chunk)
            .concurrent(self.concurrency);
        if let Some(t) = &self.etag {
            r = r.if_match(t);
        }
        let reader = r.await.map_err(io_err)?;
        let s = reader.into_bytes_stream(start..end).await.map_err(io_err)?;
        // The stream wraps OpenDAL's error in an io::Error; unwrap it to name the ETag case.
        Ok(s.map_err(
            |e| match e.get_ref().and_then(|i| i.downcast_ref::<opendal::Error>()) {
                Some(o) if o.kind() == ErrorKind::ConditionNotMatch => {
                    io_err(opendal::Error::new(ErrorKind::ConditionNotMatch, ""))
                }
                _ => e,
            },
        ))
    }

    /// Sends `[offset, len)` to `w` (TYPE A converts LF to CRLF). Does not close `w`.
    pub async fn send<W: AsyncWrite + Unpin>(
        &self,
        offset: u64,
        w: &mut W,
        ascii: bool,
        tuning: &Tuning,
        progress: &AtomicU64,
    ) -> io::Result<u64> {
        let mut s = self.stream(offset, self.len).await?;
        let mut conv = kftp_datapath::ascii::ToNetwork;
        let mut out = Vec::new();
        let mut done = 0u64;
        while let Some(b) = s.next().await {
            let b = b?;
            let wire: &[u8] = if ascii {
                out.clear();
                conv.convert(&b, &mut out);
                &out
            } else {
                &b
            };
            for l in &tuning.limits {
                l.acquire(wire.len() as u64).await;
            }
            w.write_all(wire).await?;
            done += b.len() as u64;
            progress.fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        if done != self.len - offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the object ended early",
            ));
        }
        w.flush().await?;
        Ok(done)
    }
}

/// A streamed multipart upload in progress.
pub struct ObjectUpload {
    writer: opendal::Writer,
    key: String,
    offset: u64,
    written: u64,
}

impl fmt::Debug for ObjectUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectUpload({} from {})", self.key, self.offset)
    }
}

impl ObjectUpload {
    /// Where the client's bytes start in the new object.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Records what the transfer delivered.
    pub fn set_written(&mut self, n: u64) {
        self.written = n;
    }

    /// Receives until EOF from `r` into the upload (TYPE A converts CRLF to LF).
    pub async fn receive<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        ascii: bool,
        tuning: &Tuning,
        progress: &AtomicU64,
    ) -> io::Result<u64> {
        // Hand the writer 1 MiB at a time; it gathers them into parts and blocks (which
        // stops reading the socket) while `concurrency` parts are in flight.
        const BATCH: usize = 1 << 20;
        let mut buf = BytesMut::with_capacity(BATCH);
        let mut conv = kftp_datapath::ascii::FromNetwork::default();
        let mut raw = Vec::new();
        let mut done = 0u64;
        loop {
            let n = if ascii {
                raw.resize(256 << 10, 0);
                let n = r.read(&mut raw).await?;
                let before = buf.len();
                let mut out = Vec::with_capacity(n + 1);
                if n == 0 {
                    conv.finish(&mut out);
                } else {
                    conv.convert(&raw[..n], &mut out);
                }
                buf.extend_from_slice(&out);
                let stored = (buf.len() - before) as u64;
                kftp_datapath::charge(tuning, stored)?;
                done += stored;
                progress.fetch_add(stored, Ordering::Relaxed);
                n
            } else {
                // Straight into the buffer that becomes the part: no copy in between.
                buf.reserve(256 << 10);
                let n = r.read_buf(&mut buf).await?;
                kftp_datapath::charge(tuning, n as u64)?;
                done += n as u64;
                progress.fetch_add(n as u64, Ordering::Relaxed);
                n
            };
            if n == 0 || buf.len() >= BATCH {
                let chunk = buf.split().freeze();
                if !chunk.is_empty() {
                    self.writer.write(chunk).await.map_err(io_err)?;
                }
            }
            if n == 0 {
                return Ok(done);
            }
            for l in &tuning.limits {
                l.acquire(n as u64).await;
            }
        }
    }
}

#[async_trait]
impl Storage for ObjectFs {
    async fn check(&self) -> Result<(), FsError> {
        // The whole OpenDAL error (status, S3 code, request) goes to the log.
        let why = |e: opendal::Error| {
            FsError::Other(io::Error::other(format!("s3://{}: {e}", self.label)))
        };
        let mut l = self.op.lister_with("/").limit(1).await.map_err(why)?;
        l.try_next().await.map_err(why)?;
        Ok(())
    }

    async fn stat(&self, p: &VPath) -> Result<Entry, FsError> {
        if p.is_root() {
            return Ok(dir_entry("/", "/"));
        }
        if let Some(m) = self.file_meta(p).await? {
            return Ok(entry(p.file_name(), &file_key(p), &m, false));
        }
        if self.dir_exists(p).await? {
            return Ok(dir_entry(p.file_name(), &dir_key(p)));
        }
        Err(FsError::NotFound)
    }

    async fn list(&self, p: &VPath) -> Result<EntryStream, FsError> {
        let key = dir_key(p);
        if !p.is_root() && !self.dir_exists(p).await? {
            return Err(if self.file_meta(p).await?.is_some() {
                FsError::NotADirectory
            } else {
                FsError::NotFound
            });
        }
        let lister = self.op.lister(&key).await.map_err(err)?;
        let own = key.trim_start_matches('/').to_string();
        let s = lister.filter_map(move |r| {
            let out = match r {
                Err(e) => Some(Err(err(e))),
                Ok(e) => {
                    let path = e.path().trim_start_matches('/');
                    // The directory's own marker is not one of its entries.
                    if path == own || path.is_empty() {
                        None
                    } else {
                        let dir = path.ends_with('/');
                        let name = e.name().trim_end_matches('/');
                        if name.is_empty() || name == "." || name == ".." {
                            None
                        } else {
                            Some(Ok(entry(name, path, e.metadata(), dir)))
                        }
                    }
                }
            };
            futures::future::ready(out)
        });
        Ok(Box::pin(s))
    }

    async fn open_read(&self, p: &VPath) -> Result<ReadHandle, FsError> {
        let Some(m) = self.file_meta(p).await? else {
            return Err(if self.dir_exists(p).await? {
                FsError::IsADirectory
            } else {
                FsError::NotFound
            });
        };
        Ok(ReadHandle::Object(ObjectRead {
            op: self.op.clone(),
            key: file_key(p),
            len: m.content_length(),
            etag: m.etag().map(str::to_string),
            chunk: self.part_size,
            concurrency: self.concurrency,
        }))
    }

    async fn open_write(&self, p: &VPath, mode: WriteMode) -> Result<Upload, FsError> {
        if p.is_root() {
            return Err(FsError::IsADirectory);
        }
        self.check_parent(p).await?;
        let existing = self.file_meta(p).await?;
        if existing.is_none() && self.dir_exists(p).await? {
            return Err(FsError::IsADirectory);
        }
        let old_len = existing.as_ref().map(|m| m.content_length());
        // How much of the existing object the new one starts with.
        let keep = match mode {
            WriteMode::Replace => 0,
            WriteMode::CreateNew if existing.is_some() => return Err(FsError::Exists),
            WriteMode::CreateNew => 0,
            WriteMode::Append => old_len.unwrap_or(0),
            WriteMode::ResumeAt(n) => match old_len {
                Some(len) if n <= len => n,
                None if n == 0 => 0,
                _ => return Err(FsError::BadOffset),
            },
            // An object is written whole: keeping its tail past the part would mean copying it.
            WriteMode::Adjust(_) => {
                return Err(FsError::Unsupported(
                    "ESTO writes into a file in place, which an object store cannot; \
                     use REST and STOR.",
                ))
            }
        };
        let key = file_key(p);
        let mut w = self
            .op
            .writer_with(&key)
            .chunk(self.part_size)
            .concurrent(self.concurrency)
            .await
            .map_err(err)?;
        if keep > 0 {
            let etag = existing.as_ref().and_then(|m| m.etag()).map(str::to_string);
            if let Err(e) = self.copy_prefix(&mut w, &key, keep, etag).await {
                let _ = w.abort().await;
                return Err(e);
            }
        }
        Ok(Upload::Object(ObjectUpload {
            writer: w,
            key,
            offset: keep,
            written: 0,
        }))
    }

    async fn commit(&self, up: Upload, complete: bool) -> Result<(), FsError> {
        let Upload::Object(mut up) = up else {
            return Err(FsError::Other(io::Error::other(
                "not an upload of this backend",
            )));
        };
        if complete {
            if let Err(e) = up.writer.close().await {
                tracing::warn!(key = %up.key, error = %e, "completing an upload failed");
                let _ = up.writer.abort().await;
                return Err(err(e));
            }
            tracing::debug!(key = %up.key, bytes = up.offset + up.written, "object stored");
        } else if let Err(e) = up.writer.abort().await {
            tracing::warn!(key = %up.key, error = %e, "aborting a multipart upload failed");
        }
        Ok(())
    }

    async fn partial_size(&self, _p: &VPath) -> Option<u64> {
        // Failed uploads are aborted, so there is never a partial object to resume.
        None
    }

    async fn mkdir(&self, p: &VPath) -> Result<(), FsError> {
        if p.is_root() {
            return Err(FsError::Exists);
        }
        self.check_parent(p).await?;
        if self.file_meta(p).await?.is_some() || self.dir_exists(p).await? {
            return Err(FsError::Exists);
        }
        self.op.create_dir(&dir_key(p)).await.map_err(err)
    }

    async fn rmdir(&self, p: &VPath) -> Result<(), FsError> {
        if p.is_root() {
            return Err(FsError::PermissionDenied);
        }
        let key = dir_key(p);
        let own = key.clone();
        let mut l = self.op.lister_with(&key).limit(2).await.map_err(err)?;
        let mut any = false;
        while let Some(e) = l.try_next().await.map_err(err)? {
            if e.path().trim_start_matches('/') != own {
                return Err(FsError::NotEmpty);
            }
            any = true;
        }
        if !any {
            return Err(if self.file_meta(p).await?.is_some() {
                FsError::NotADirectory
            } else {
                FsError::NotFound
            });
        }
        self.op.delete(&key).await.map_err(err)?;
        self.keep_parent(p).await;
        Ok(())
    }

    async fn remove(&self, p: &VPath) -> Result<(), FsError> {
        if self.file_meta(p).await?.is_none() {
            return Err(if self.dir_exists(p).await? {
                FsError::IsADirectory
            } else {
                FsError::NotFound
            });
        }
        self.op.delete(&file_key(p)).await.map_err(err)?;
        self.keep_parent(p).await;
        Ok(())
    }

    async fn rename(&self, from: &VPath, to: &VPath) -> Result<(), FsError> {
        let Some(m) = self.file_meta(from).await? else {
            return Err(if self.dir_exists(from).await? {
                FsError::Unsupported(
                    "Renaming a directory is not supported on object storage: it would copy \
                     every object under it, one by one, with no way to do it atomically",
                )
            } else {
                FsError::NotFound
            });
        };
        if from == to {
            return Ok(());
        }
        self.check_parent(to).await?;
        if self.file_meta(to).await?.is_none() && self.dir_exists(to).await? {
            return Err(FsError::IsADirectory);
        }
        self.op
            .copy(&file_key(from), &file_key(to))
            .await
            .map_err(err)?;
        // S3 has no conditional copy source: if the file was replaced meanwhile, keep it
        // (the copy may hold either version) rather than delete a newer one.
        let now = self.file_meta(from).await?;
        if now.as_ref().and_then(|n| n.etag()) != m.etag() {
            return Err(FsError::Changed);
        }
        self.op.delete(&file_key(from)).await.map_err(err)?;
        self.keep_parent(from).await;
        Ok(())
    }

    async fn set_mtime(&self, _p: &VPath, _mtime: i64) -> Result<(), FsError> {
        Err(FsError::Unsupported(
            "Modification times cannot be set on object storage (objects are immutable)",
        ))
    }

    async fn chmod(&self, _p: &VPath, _mode: u32) -> Result<(), FsError> {
        Err(FsError::Unsupported(
            "Object storage has no permission bits",
        ))
    }
}

impl ObjectFs {
    /// Starts the new object with the first `keep` bytes of the existing one, pinned to
    /// `etag`: a server-side copy when S3 allows it as a part, else through kftpd.
    async fn copy_prefix(
        &self,
        w: &mut opendal::Writer,
        key: &str,
        keep: u64,
        etag: Option<String>,
    ) -> Result<(), FsError> {
        if keep >= MIN_PART && self.op.info().capability().write_can_copy_from {
            // Equal pieces of at most 5 GiB: each is a part, so each must be >= 5 MiB.
            let pieces = keep.div_ceil(MAX_COPY);
            let piece = keep.div_ceil(pieces);
            let mut at = 0;
            while at < keep {
                let end = (at + piece).min(keep);
                let opts = opendal::options::ReadOptions {
                    range: (at..end).into(),
                    if_match: etag.clone(),
                    ..Default::default()
                };
                w.copy_from_options(key, opts).await.map_err(err)?;
                at = end;
            }
            return Ok(());
        }
        let mut r = self.op.reader_with(key);
        if let Some(t) = &etag {
            r = r.if_match(t);
        }
        let reader = r.await.map_err(err)?;
        let mut s = reader.into_bytes_stream(0..keep).await.map_err(err)?;
        while let Some(b) = s.next().await {
            let b = b.map_err(FsError::Other)?;
            w.write(b).await.map_err(err)?;
        }
        Ok(())
    }

    /// After the last entry under a marker-less directory goes, put a marker there so the
    /// directory stays until RMD, as it would on a disk.
    async fn keep_parent(&self, p: &VPath) {
        let Some((parent, _)) = p.split_last() else {
            return;
        };
        if parent.is_root() {
            return;
        }
        if let Ok(false) = self.dir_exists(&parent).await {
            if let Err(e) = self.op.create_dir(&dir_key(&parent)).await {
                tracing::warn!(dir = %parent, error = %e, "could not keep an emptied directory");
            }
        }
    }
}

#[cfg(test)]
mod error_text_tests {
    use super::*;

    #[test]
    fn store_errors_are_not_shown_to_clients() {
        let e = opendal::Error::new(ErrorKind::Unexpected, "SignatureDoesNotMatch")
            .with_context("endpoint", "https://s3.internal.example:3900")
            .with_context("bucket", "kftp-bucket")
            .with_context("path", "alice/payroll.xlsx");
        let full = e.to_string();
        assert!(full.contains("kftp-bucket"), "the log keeps it: {full}");
        let shown = err(e).to_string();
        for leak in ["s3.internal", "kftp-bucket", "payroll", "Signature"] {
            assert!(!shown.contains(leak), "{leak} in {shown}");
        }
        // Errors in a transfer (io::Error) end in a reply that hides them the same way.
        let e = opendal::Error::new(ErrorKind::Unexpected, "boom")
            .with_context("bucket", "kftp-bucket");
        let shown = crate::transfer::failure_reply_for_test(&io_err(e)).to_string();
        assert!(
            shown.starts_with("451 ") && !shown.contains("kftp-bucket"),
            "{shown}"
        );
    }
}
