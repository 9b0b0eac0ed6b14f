//! RETR in MODE E: kftpd connects `Parallelism` streams to the PORT target (or reuses the
//! ones cached from the last RETR to it) and sends the file as blocks. Each stream takes
//! the next block from a shared cursor, writes its 17-byte header and then the block's
//! bytes with the same `file_to_socket` (sendfile) as MODE S; a fast stream simply takes
//! more blocks. Every stream ends with EOD; the first also carries EOF with the number of
//! streams. No stream sets the close bit, so the client may keep them for its next file;
//! kftpd keeps them in the session's cache.

use super::{alive, open_failed, Plan};
use crate::config::Config;
use crate::datachan::{self, DataSetup};
use kftp_datapath::{Outcome, PathUsed, Tuning};
use kftp_proto::modee::Header;
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Bytes per block: large enough that a header per block costs nothing, small enough
/// that streams finish together.
pub const BLOCK: u64 = 1 << 20;

/// Sends `file[offset..end]` over the plan's streams; returns what moved.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    file: &File,
    offset: u64,
    end: u64,
    plan: Plan,
    local_ip: IpAddr,
    cfg: &Config,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    let target = match plan.setup {
        Some(DataSetup::Active(t)) => Some(t),
        _ => None,
    };
    let (target, mut streams) = reuse(&plan, target);
    let Some(target) = target else {
        return Err(open_failed(kftp_proto::Reply::new(
            425,
            "MODE E: no PORT target and no cached streams.",
        )));
    };
    while streams.len() < plan.streams {
        let s = datachan::connect(target, local_ip, cfg)
            .await
            .map_err(open_failed)?;
        streams.push(s);
    }
    let n = streams.len() as u64;
    let cursor = AtomicU64::new(offset);
    let runs = streams.into_iter().enumerate().map(|(i, s)| {
        let eof = (i == 0).then_some(n);
        stream(s, file, &cursor, end, eof, tuning, progress)
    });
    let ends = futures::future::try_join_all(runs).await?;
    tracing::info!(mode_e_streams = n, target = %target, "MODE E blocks sent");
    let path = if ends.iter().any(|(_, p)| *p == Some(PathUsed::Copy)) {
        PathUsed::Copy
    } else {
        PathUsed::Sendfile
    };
    let keep: Vec<TcpStream> = ends.into_iter().map(|(s, _)| s).collect();
    if keep.len() <= plan.max_streams {
        plan.cache.lock().unwrap_or_else(|p| p.into_inner()).send = Some((target, keep));
    }
    Ok(Outcome {
        bytes: end - offset,
        path,
    })
}

/// The cached sending streams that may serve this transfer: those to the same target (or
/// any, when no new PORT was given) that the client has not closed, at most `plan.streams`.
fn reuse(plan: &Plan, target: Option<SocketAddr>) -> (Option<SocketAddr>, Vec<TcpStream>) {
    let cached = plan
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send
        .take();
    match cached {
        Some((to, streams)) if target.is_none_or(|t| t == to) => {
            let mut live: Vec<TcpStream> = streams.into_iter().filter(alive).collect();
            live.truncate(plan.streams);
            (Some(to), live)
        }
        _ => (target, Vec::new()),
    }
}

/// One stream: blocks from the cursor until the file is sent, then EOD (with EOF on the
/// stream given `eof`). Returns the stream for the cache, and the path its blocks took.
async fn stream(
    mut s: TcpStream,
    file: &File,
    cursor: &AtomicU64,
    end: u64,
    eof: Option<u64>,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<(TcpStream, Option<PathUsed>)> {
    let mut path = None;
    loop {
        let at = cursor.fetch_add(BLOCK, Ordering::Relaxed);
        if at >= end {
            break;
        }
        let len = BLOCK.min(end - at);
        s.write_all(&Header::data(at, len).encode()).await?;
        let o = kftp_datapath::file_to_socket(file, at, len, &s, tuning, progress).await?;
        path = Some(o.path);
    }
    let last = match eof {
        Some(n) => Header::eof(n, false),
        None => Header::eod(false),
    };
    s.write_all(&last.encode()).await?;
    s.flush().await?;
    Ok((s, path))
}
