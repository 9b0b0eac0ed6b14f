//! Listings and single-file transfers: `get` (with resume and a temp file renamed on
//! success), `put` (with resume by SIZE then REST+STOR or APPE), `cat`.
//!
//! Plain data connections go through `kftp_datapath::{socket_to_owned_file,
//! file_to_owned_socket}` (splice/sendfile where the kernel offers them, large transfers on
//! a blocking thread); TLS ones through the copy loops of
//! `kftp_datapath::copy`. ASCII mode converts line endings here, in user space.

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::stream::Stream;
use kftp_datapath::{copy, PathUsed};
use kftp_proto::listing_parse::{
    parse_list_line, parse_mlsx_line, parse_nlst_line, RefusedEntry, RemoteEntry,
};
use kftp_proto::modee::Restart;
use kftp_proto::{Command, TransferType};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest listing read into memory (a directory of about a million entries).
const MAX_LISTING: u64 = 256 << 20;

/// Options for [`Client::get`] and [`Client::put`].
#[derive(Clone, Debug, Default)]
pub struct TransferOptions {
    /// Continue a partial transfer (REST, or APPE/REST+STOR for uploads).
    pub resume: bool,
    /// TYPE A with line-ending conversion instead of binary.
    pub ascii: bool,
    /// Set the downloaded file's mtime from MDTM (or the uploaded one's with MFMT).
    pub preserve_mtime: bool,
    /// The server's modification time, when the caller already knows it to the second (an
    /// MLSD listing, as `mirror` has): a download keeps it without an MDTM round trip.
    pub mtime: Option<i64>,
    /// The remote file's size, when the caller has just asked it (the command line does,
    /// for its progress bar): a download does not ask SIZE again, a round trip saved.
    pub size: Option<u64>,
}

/// What a finished transfer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferReport {
    /// Bytes moved in this run (excluding what was already there when resuming).
    pub bytes: u64,
    /// Bytes that were already in place (resume offset).
    pub skipped: u64,
    /// Which data path moved the bytes.
    pub path: PathUsed,
    /// Wall time.
    pub elapsed: std::time::Duration,
}

/// A parsed directory listing. Names come from the server and are untrusted: an entry
/// whose name is not one safe path component (`../x`, `/tmp/x`, control characters...;
/// see [`kftp_proto::name`]) is in `refused`, never in `entries`. A caller that skips
/// refused entries should say so ([`crate::localname::refusal_message`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing<T = RemoteEntry> {
    /// The entries, without `.` and `..`.
    pub entries: Vec<T>,
    /// Entries refused for their names, as the server sent them.
    pub refused: Vec<RefusedEntry>,
}

impl<T> Listing<T> {
    fn collect(parsed: impl Iterator<Item = kftp_proto::listing_parse::Parsed<T>>) -> Self {
        let mut l = Listing {
            entries: Vec::new(),
            refused: Vec::new(),
        };
        for p in parsed.flatten() {
            match p {
                Ok(e) => l.entries.push(e),
                Err(r) => l.refused.push(r),
            }
        }
        l
    }
}

/// Seconds since the epoch, now.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The temp name beside `target`: `.name.<pid>.kftp-part`, hidden and unique per process.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    target.with_file_name(format!(".{name}.{}.kftp-part", std::process::id()))
}

/// Reads a data stream to its end, at most `limit` bytes.
async fn read_all<R: AsyncRead + Unpin>(r: &mut R, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let n = r.take(limit + 1).read_to_end(&mut out).await?;
    if n as u64 > limit {
        return Err(std::io::Error::other("listing larger than 256 MiB"));
    }
    Ok(out)
}

/// Removes the file at `path` when dropped, unless disarmed: a failed or cancelled
/// download leaves no temp file behind.
pub(crate) struct RemoveOnDrop(pub(crate) Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where a download writes: with resume and a local file, that file from its length;
/// else a temp file beside `local`, removed unless the download succeeds and renames it.
/// Neither open follows a symbolic link in the final component: a link planted where the
/// file goes must not redirect the download (the rename replaces a link rather than
/// following it).
pub(crate) struct GetTarget {
    pub(crate) file: File,
    /// The file written: `local` itself when resuming, else the temp file.
    pub(crate) path: PathBuf,
    /// Bytes already there (what REST asks the server to skip).
    pub(crate) offset: u64,
    pub(crate) guard: RemoveOnDrop,
}

impl GetTarget {
    pub(crate) fn open(local: &Path, resume: bool) -> Result<Self> {
        if resume && local.exists() {
            let file = crate::localname::nofollow(OpenOptions::new().write(true))
                .open(local)
                .map_err(|e| Error::local(format!("opening {}", local.display()), e))?;
            let offset = file
                .metadata()
                .map_err(|e| Error::local(format!("{}", local.display()), e))?
                .len();
            return Ok(GetTarget {
                file,
                path: local.to_path_buf(),
                offset,
                guard: RemoveOnDrop(None),
            });
        }
        let tmp = temp_path(local);
        let file =
            crate::localname::nofollow(OpenOptions::new().write(true).create(true).truncate(true))
                .open(&tmp)
                .map_err(|e| Error::local(format!("creating {}", tmp.display()), e))?;
        Ok(GetTarget {
            file,
            path: tmp.clone(),
            offset: 0,
            guard: RemoveOnDrop(Some(tmp)),
        })
    }

    /// True when a resumed file already has all of the remote's `size` bytes; an error
    /// when it is longer (not the same file: nothing is overwritten).
    pub(crate) fn holds_all(&self, size: Option<u64>, what: &str) -> Result<bool> {
        let (offset, Some(size)) = (self.offset, size) else {
            return Ok(false);
        };
        if offset > size {
            return Err(Error::new(
                ErrorKind::Local,
                format!(
                    "{what}: the local file ({offset} bytes) is longer than the remote one ({size} bytes); not resuming"
                ),
            ));
        }
        // Only a resumed local file (no temp file) can already hold it all.
        Ok(offset == size && self.guard.0.is_none())
    }

    /// The report of a resume that found nothing left to fetch.
    pub(crate) fn report_skipped(&self, started: Instant) -> TransferReport {
        TransferReport {
            bytes: 0,
            skipped: self.offset,
            path: PathUsed::Copy,
            elapsed: started.elapsed(),
        }
    }
}

impl Client {
    /// `REST offset` before a resumed RETR or STOR (nothing for 0); in MODE E kftpd and
    /// GridFTP servers read it as the range `0-offset` the receiver has.
    pub(crate) async fn rest(&mut self, offset: u64, what: &str) -> Result<()> {
        if offset == 0 {
            return Ok(());
        }
        let r = self
            .ctl
            .cmd(&Command::Rest(Restart::Offset(offset)))
            .await?;
        if r.code != 350 {
            return Err(Error::reply(
                format!("{what}: the server cannot resume (REST)"),
                r,
            ));
        }
        Ok(())
    }

    /// Where a resumed upload of `len` local bytes starts: the remote file's SIZE (0 when
    /// it does not exist); an error when the remote one is longer.
    pub(crate) async fn remote_offset(
        &mut self,
        remote: &str,
        len: u64,
        what: &str,
    ) -> Result<u64> {
        let offset = match self.size(remote).await {
            Ok(Some(n)) => n,
            Ok(None) => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("{what}: the server has no SIZE command, so it cannot resume"),
                ))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        if offset > len {
            return Err(Error::new(
                ErrorKind::Local,
                format!("{what}: the remote file ({offset} bytes) is longer than the local one ({len} bytes); not resuming"),
            ));
        }
        Ok(offset)
    }

    /// Lists a directory (MLSD when the server has it, else LIST, parsed), without `.`
    /// and `..`. Lines that do not parse are skipped; entries with unsafe names are
    /// returned apart, in [`Listing::refused`].
    pub async fn list(&mut self, path: &str) -> Result<Listing> {
        let arg = (!path.is_empty()).then(|| path.to_string());
        let mlsd = self.features.mlst;
        let cmd = if mlsd {
            Command::Mlsd(arg)
        } else {
            Command::List {
                path: arg,
                all: false,
            }
        };
        let what = format!("ls {path}");
        let raw = self.retr_bytes(cmd, &what).await?;
        let text = String::from_utf8_lossy(&raw);
        let now = now();
        Ok(Listing::collect(text.lines().map(|l| {
            if mlsd {
                parse_mlsx_line(l)
            } else {
                parse_list_line(l, now)
            }
        })))
    }

    /// The raw lines of LIST, for showing to a person.
    pub async fn list_raw(&mut self, path: &str) -> Result<Vec<String>> {
        let arg = (!path.is_empty()).then(|| path.to_string());
        let raw = self
            .retr_bytes(
                Command::List {
                    path: arg,
                    all: false,
                },
                &format!("ls {path}"),
            )
            .await?;
        Ok(String::from_utf8_lossy(&raw)
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// NLST: bare names (a `path/` prefix the server puts on them is taken off; any
    /// other path is refused).
    pub async fn nlst(&mut self, path: &str) -> Result<Listing<String>> {
        let arg = (!path.is_empty()).then(|| path.to_string());
        let raw = self
            .retr_bytes(
                Command::Nlst {
                    path: arg,
                    all: false,
                },
                &format!("ls {path}"),
            )
            .await?;
        Ok(Listing::collect(
            String::from_utf8_lossy(&raw)
                .lines()
                .map(|l| parse_nlst_line(l, path)),
        ))
    }

    async fn retr_bytes(&mut self, cmd: Command, what: &str) -> Result<Vec<u8>> {
        let mut data = self.open_data(cmd, what).await?;
        let raw = read_all(&mut data, MAX_LISTING)
            .await
            .map_err(|e| Error::net(what.to_string(), e))?;
        drop(data);
        self.finish_data(what).await?;
        Ok(raw)
    }

    /// Writes a remote file to `out` (for `cat`).
    pub async fn cat<W: AsyncWrite + Unpin>(&mut self, path: &str, out: &mut W) -> Result<u64> {
        let what = format!("cat {path}");
        let mut data = self.open_data(Command::Retr(path.into()), &what).await?;
        let n = tokio::io::copy(&mut data, out)
            .await
            .map_err(|e| Error::net(what.clone(), e))?;
        drop(data);
        out.flush()
            .await
            .map_err(|e| Error::local("writing output", e))?;
        self.finish_data(&what).await?;
        Ok(n)
    }

    /// Downloads `remote` to `local`. Without `resume`, bytes go to a temp file beside
    /// `local` that is renamed over it on success, so `local` is never half-written.
    pub async fn get(
        &mut self,
        remote: &str,
        local: &Path,
        opts: &TransferOptions,
        progress: &AtomicU64,
    ) -> Result<TransferReport> {
        let started = Instant::now();
        let what = format!("get {remote}");
        if opts.resume && opts.ascii {
            return Err(Error::usage("resuming (-c) needs binary mode, not --ascii"));
        }
        if self.mode_e_applies(self.streams, opts.ascii) {
            return self
                .get_mode_e_at(remote, local, self.streams, opts, progress)
                .await;
        }
        let size = self.known_size(remote, opts.size, &what).await?;
        let target = GetTarget::open(local, opts.resume)?;
        if target.holds_all(size, &what)? {
            progress.store(0, std::sync::atomic::Ordering::Relaxed);
            return Ok(target.report_skipped(started));
        }
        let GetTarget {
            file,
            path: write_path,
            offset,
            mut guard,
        } = target;
        self.set_type(if opts.ascii {
            TransferType::Ascii
        } else {
            TransferType::Image
        })
        .await?;
        self.rest(offset, &what).await?;
        let data = self.open_data(Command::Retr(remote.into()), &what).await?;
        let moved = stall_guard(
            receive(data, &file, offset, opts.ascii, &self.opts.tuning, progress),
            progress,
            self.ctl.timeout(),
        )
        .await
        .map_err(|e| Error::net(what.clone(), e));
        let moved = match moved {
            Ok(m) => m,
            Err(e) => {
                // The final reply (426/451) usually says more than the socket error.
                if let Ok(Err(r)) =
                    tokio::time::timeout(std::time::Duration::from_secs(2), self.finish_data(&what))
                        .await
                {
                    return Err(r);
                }
                return Err(e);
            }
        };
        self.finish_data(&what).await?;
        if let (Some(size), false) = (size, opts.ascii) {
            if offset + moved.0 != size {
                return Err(Error::new(
                    ErrorKind::Integrity,
                    format!(
                        "{what}: received {} bytes, but the server said the file has {size}",
                        offset + moved.0
                    ),
                ));
            }
        }
        if opts.preserve_mtime {
            if let Some(t) = self.remote_mtime(remote, opts.mtime).await {
                let _ =
                    file.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64));
            }
        }
        drop(file);
        if write_path != local {
            std::fs::rename(&write_path, local)
                .map_err(|e| Error::local(format!("renaming into {}", local.display()), e))?;
            guard.0 = None;
        }
        Ok(TransferReport {
            bytes: moved.0,
            skipped: offset,
            path: moved.1,
            elapsed: started.elapsed(),
        })
    }

    /// Uploads `local` to `remote`. With `resume`, asks SIZE and sends only the rest
    /// (REST+STOR when the server has REST STREAM, else APPE; in MODE E always REST+STOR,
    /// the blocks carrying their offsets).
    pub async fn put(
        &mut self,
        local: &Path,
        remote: &str,
        opts: &TransferOptions,
        progress: &AtomicU64,
    ) -> Result<TransferReport> {
        let started = Instant::now();
        let what = format!("put {remote}");
        if opts.resume && opts.ascii {
            return Err(Error::usage("resuming (-c) needs binary mode, not --ascii"));
        }
        let file = File::open(local)
            .map_err(|e| Error::local(format!("opening {}", local.display()), e))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::local(format!("{}", local.display()), e))?;
        if !meta.is_file() {
            return Err(Error::usage(format!(
                "{} is not a regular file",
                local.display()
            )));
        }
        let len = meta.len();
        let mut offset = 0;
        if opts.resume {
            offset = self.remote_offset(remote, len, &what).await?;
            if offset == len {
                return Ok(TransferReport {
                    bytes: 0,
                    skipped: offset,
                    path: PathUsed::Copy,
                    elapsed: started.elapsed(),
                });
            }
        }
        if self.mode_e_applies(self.streams, opts.ascii) {
            let streams = self.streams;
            return self
                .put_blocks(&file, (offset, len), remote, streams, started, progress)
                .await;
        }
        self.set_type(if opts.ascii {
            TransferType::Ascii
        } else {
            TransferType::Image
        })
        .await?;
        let cmd = if offset > 0 && self.features.rest_stream {
            self.rest(offset, &what).await?;
            Command::Stor(remote.into())
        } else if offset > 0 {
            Command::Appe(remote.into())
        } else {
            Command::Stor(remote.into())
        };
        let data = self.open_data(cmd, &what).await?;
        let sent = stall_guard(
            send(
                data,
                &file,
                offset,
                len - offset,
                opts.ascii,
                &self.opts.tuning,
                progress,
            ),
            progress,
            self.ctl.timeout(),
        )
        .await;
        let sent = match sent {
            Ok(s) => s,
            Err(e) => {
                let e = Error::net(what.clone(), e);
                if let Ok(Err(r)) =
                    tokio::time::timeout(std::time::Duration::from_secs(2), self.finish_data(&what))
                        .await
                {
                    return Err(r);
                }
                return Err(e);
            }
        };
        self.finish_data(&what).await?;
        if opts.preserve_mtime {
            if let Ok(m) = meta.modified() {
                if let Ok(d) = m.duration_since(UNIX_EPOCH) {
                    let _ = self.set_mtime(remote, d.as_secs() as i64).await;
                }
            }
        }
        Ok(TransferReport {
            bytes: sent.0,
            skipped: offset,
            path: sent.1,
            elapsed: started.elapsed(),
        })
    }
}

/// Fails a transfer that has moved no byte for `limit` (a stalled server or network),
/// instead of waiting forever; the data path itself has no timeouts.
pub(crate) async fn stall_guard<T>(
    fut: impl std::future::Future<Output = std::io::Result<T>>,
    progress: &AtomicU64,
    limit: std::time::Duration,
) -> std::io::Result<T> {
    tokio::pin!(fut);
    let mut last = progress.load(std::sync::atomic::Ordering::Relaxed);
    loop {
        tokio::select! {
            r = &mut fut => return r,
            _ = tokio::time::sleep(limit) => {
                let now = progress.load(std::sync::atomic::Ordering::Relaxed);
                if now == last {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no data moved for {} s", limit.as_secs()),
                    ));
                }
                last = now;
            }
        }
    }
}

/// Receives a whole data stream into `file` at `offset`.
pub(crate) async fn receive(
    data: Stream,
    file: &File,
    offset: u64,
    ascii: bool,
    tuning: &kftp_datapath::Tuning,
    progress: &AtomicU64,
) -> std::io::Result<(u64, PathUsed)> {
    if ascii {
        let mut data = data;
        let n = crate::ascii::recv_ascii(&mut data, file, progress).await?;
        return Ok((n, PathUsed::Ascii));
    }
    match data {
        Stream::Plain(tcp) => {
            let (o, _) =
                kftp_datapath::socket_to_owned_file(tcp, file, offset, tuning, progress).await?;
            Ok((o.bytes, o.path))
        }
        Stream::Tls(mut tls) => {
            let n = copy::stream_to_file(&mut tls, file, offset, tuning, progress).await?;
            Ok((n, PathUsed::TlsCopy))
        }
    }
}

/// Sends `len` bytes of `file` from `offset`, then closes the data connection (with a
/// TLS close_notify when encrypted) so the server sees the end of the file.
pub(crate) async fn send(
    data: Stream,
    file: &File,
    offset: u64,
    len: u64,
    ascii: bool,
    tuning: &kftp_datapath::Tuning,
    progress: &AtomicU64,
) -> std::io::Result<(u64, PathUsed)> {
    let (mut data, n, path) = match (data, ascii) {
        // Over TLS the shared routine sends (through kTLS and sendfile when the kernel
        // takes the keys) and closes.
        (Stream::Tls(tls), false) => {
            let o = kftp_tls::send_file(*tls, file, offset, len, tuning, progress).await?;
            return Ok((o.bytes, o.path));
        }
        (Stream::Plain(tcp), false) => {
            let (o, tcp) =
                kftp_datapath::file_to_owned_socket(file, offset, len, tcp, tuning, progress)
                    .await?;
            (Stream::Plain(tcp), o.bytes, o.path)
        }
        (mut data, true) => {
            let n = crate::ascii::send_ascii(file, &mut data, progress).await?;
            (data, n, PathUsed::Ascii)
        }
    };
    data.shutdown().await?;
    drain(&mut data).await;
    Ok((n, path))
}

/// Reads what the server still sends after our end of an upload (a TLS 1.3 server's
/// session tickets, its close_notify) until it closes. Closing a socket with unread bytes
/// makes the kernel send RST instead of FIN, and the server then reports the upload as
/// failed (vsftpd: `426 Failure reading network stream`).
async fn drain(data: &mut Stream) {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match data.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}
