//! STOR in MODE E: the client connects to the PASV listener as many streams as it likes
//! (at most `--max-streams`); streams cached from the last STOR are read too. Each stream
//! is read block by block: a 17-byte header, then its bytes written at the block's offset
//! by the same bounded copy loop as a TLS upload (pwrite, quota charged per chunk, a
//! buffer of at most `--buf-size`), so a block of any size costs bounded memory. The
//! transfer is complete when EOF has said how many EODs to expect and that many arrived;
//! the listener stays open until then, as a stream may still be in flight.

use super::{open_failed, Plan};
use crate::config::Config;
use crate::datachan::{self, DataSetup};
use futures::stream::{FuturesUnordered, StreamExt};
use kftp_datapath::{Outcome, PathUsed, Tuning};
use kftp_proto::modee::{Block, EodCounter, Header, HEADER_LEN};
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;

/// How one stream's part of the transfer ended.
struct StreamEnd {
    sock: TcpStream,
    /// EOF came on this stream with this EOD count.
    eof: Option<u64>,
    /// EOD without the close bit: the stream may be cached.
    reusable: bool,
    /// A cached stream the client closed instead of using: counts for nothing.
    unused: bool,
}

/// Receives blocks into `file` until EOF's EOD count is reached; returns what moved.
#[allow(clippy::too_many_arguments)]
pub async fn recv(
    file: &File,
    plan: Plan,
    peer_ip: IpAddr,
    cfg: &Config,
    session: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    let listener = match plan.setup {
        Some(DataSetup::Passive(l, slot)) => Some((l, slot)),
        _ => None,
    };
    let cached = std::mem::take(&mut plan.cache.lock().unwrap_or_else(|p| p.into_inner()).recv);
    let max_end = plan.max_end;
    let mut readers = FuturesUnordered::new();
    let mut opened = 0usize;
    for s in cached {
        opened += 1;
        readers.push(read_stream(s, file, max_end, true, tuning, progress));
    }
    let mut eods = EodCounter::default();
    let mut keep = Vec::new();
    let mut bytes_done = false;
    // Until the first stream arrives, the data timeout applies as in MODE S.
    let first_deadline = tokio::time::Instant::now() + cfg.data_timeout;
    while !bytes_done {
        let accept = async {
            match &listener {
                Some((l, _)) if opened < plan.max_streams => {
                    let deadline = if opened == 0 {
                        first_deadline
                    } else {
                        tokio::time::Instant::now() + cfg.stall_timeout
                    };
                    datachan::accept_peer(l, peer_ip, cfg, session, deadline).await
                }
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            s = accept => {
                let s = s.map_err(open_failed)?;
                opened += 1;
                readers.push(read_stream(s, file, max_end, false, tuning, progress));
            }
            Some(end) = readers.next(), if !readers.is_empty() => {
                let end = end?;
                if end.unused {
                    continue;
                }
                if let Some(n) = end.eof {
                    if n > plan.max_streams as u64 {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("MODE E: EOF announces {n} streams, more than allowed ({})", plan.max_streams),
                        ));
                    }
                    eods.note_eof(n);
                }
                eods.note_eod();
                if end.reusable {
                    keep.push(end.sock);
                }
                bytes_done = eods.done();
            }
        }
        let can_accept = listener.is_some() && opened < plan.max_streams;
        if readers.is_empty() && !can_accept && !eods.done() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "MODE E: the streams ended before EOF",
            ));
        }
    }
    tracing::info!(
        session,
        mode_e_streams = eods.received(),
        "MODE E blocks received"
    );
    keep.truncate(plan.max_streams);
    plan.cache.lock().unwrap_or_else(|p| p.into_inner()).recv = keep;
    Ok(Outcome {
        bytes: progress.load(std::sync::atomic::Ordering::Relaxed),
        path: PathUsed::Copy,
    })
}

/// Reads one stream's blocks until its EOD.
async fn read_stream(
    mut sock: TcpStream,
    file: &File,
    max_end: u64,
    cached: bool,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<StreamEnd> {
    let mut eof = None;
    let mut first = true;
    loop {
        let Some(h) = read_header(&mut sock).await? else {
            if first && cached {
                return Ok(StreamEnd {
                    sock,
                    eof: None,
                    reusable: false,
                    unused: true,
                });
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "MODE E stream closed before its EOD",
            ));
        };
        first = false;
        match h.block() {
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "MODE E block past the largest file offset",
                ))
            }
            Ok(Block::Eof { eod_count }) => eof = Some(eod_count),
            Ok(Block::Restart { len }) => {
                let mut skip = (&mut sock).take(len);
                let n = tokio::io::copy(&mut skip, &mut tokio::io::sink()).await?;
                short(n, len)?;
            }
            Ok(Block::Data { offset, len }) => {
                if offset + len > max_end {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("MODE E block ends past the upload size limit of {max_end} bytes"),
                    ));
                }
                let mut body = (&mut sock).take(len);
                let n =
                    kftp_datapath::copy::stream_to_file(&mut body, file, offset, tuning, progress)
                        .await?;
                short(n, len)?;
            }
        }
        if h.is_eod() {
            return Ok(StreamEnd {
                sock,
                eof,
                reusable: !h.is_close(),
                unused: false,
            });
        }
    }
}

fn short(got: u64, want: u64) -> io::Result<()> {
    if got < want {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("MODE E stream closed inside a block ({got} of {want} bytes)"),
        ));
    }
    Ok(())
}

/// The next header, or None on a clean close before its first byte.
async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Header>> {
    let mut b = [0u8; HEADER_LEN];
    if r.read(&mut b[..1]).await? == 0 {
        return Ok(None);
    }
    r.read_exact(&mut b[1..]).await?;
    Ok(Some(Header::decode(&b)))
}
