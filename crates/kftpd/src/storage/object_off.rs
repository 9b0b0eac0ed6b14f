//! Stands in for `object.rs` when kftpd is built without the `s3` cargo feature (no OpenDAL,
//! no HTTP client): the object handle types exist but have no values, so the code that
//! matches on them compiles unchanged and those arms can never run, and a root written
//! `s3://...` is refused with a reason ([`ObjectFs::open`]).

use super::Storage;
use crate::config::S3Settings;
use bytes::Bytes;
use kftp_datapath::Tuning;
use std::io;
use std::sync::atomic::AtomicU64;
use tokio::io::{AsyncRead, AsyncWrite};

/// Nothing to prepare without an HTTP client.
pub fn prepare() {}

/// An object store root; never opened in this build.
#[derive(Debug)]
pub enum ObjectFs {}

impl ObjectFs {
    /// Always refuses: this kftpd has no object-storage backend.
    pub fn open(_: &S3Settings, bucket: &str, _: &str) -> Result<Self, String> {
        Err(format!(
            "s3://{bucket}: this kftpd was built without object storage (cargo feature `s3`)"
        ))
    }

    /// Never called: there is no value to call it on.
    pub fn into_storage(self) -> std::sync::Arc<dyn Storage> {
        match self {}
    }
}

/// An object opened for RETR; no value exists in this build.
#[derive(Debug)]
pub enum ObjectRead {}

impl ObjectRead {
    /// Size when opened.
    pub fn size(&self) -> u64 {
        match *self {}
    }

    /// The ETag as an MD5.
    pub fn content_md5(&self) -> Option<String> {
        match *self {}
    }

    /// The bytes `[start, end)`.
    pub async fn stream(
        &self,
        _start: u64,
        _end: u64,
    ) -> io::Result<futures::stream::Empty<io::Result<Bytes>>> {
        match *self {}
    }

    /// Sends to `w`.
    pub async fn send<W: AsyncWrite + Unpin>(
        &self,
        _offset: u64,
        _w: &mut W,
        _ascii: bool,
        _tuning: &Tuning,
        _progress: &AtomicU64,
    ) -> io::Result<u64> {
        match *self {}
    }
}

/// An upload to an object; no value exists in this build.
#[derive(Debug)]
pub enum ObjectUpload {}

impl ObjectUpload {
    /// Where the upload starts.
    pub fn offset(&self) -> u64 {
        match *self {}
    }

    /// Records what the transfer delivered.
    pub fn set_written(&mut self, _n: u64) {
        match *self {}
    }

    /// Receives from `r`.
    pub async fn receive<R: AsyncRead + Unpin>(
        &mut self,
        _r: &mut R,
        _ascii: bool,
        _tuning: &Tuning,
        _progress: &AtomicU64,
    ) -> io::Result<u64> {
        match *self {}
    }
}
