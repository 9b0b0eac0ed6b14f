//! STOR in MODE E: the client is the sender, so it connects, to the PASV listener, as many
//! streams as it likes (at most `--max-streams`, each from the control peer's address as
//! in MODE S; under PROT P each resumes the control TLS session); streams cached from the
//! last STOR under the same PROT are read too. [`kftp_datapath::modee::recv_blocks`]
//! writes the blocks at their offsets until EOF's EOD count is reached; the streams that
//! ended without the close bit go back to the session's cache, TLS ones with whatever
//! rustls has read past their EOD (the start of the next upload, when it comes early).
//! A refused upload drops the cache (`Session::handle`): its sender may have sent the
//! file already, and those blocks must not become the next upload's.

use super::{open_failed, tls_stream, Plan};
use crate::config::Config;
use crate::datachan::{self, DataSetup};
use crate::transfer::job::DataTls;
use futures::future::BoxFuture;
use kftp_datapath::modee::{recv_blocks_at, Accept, Place, RecvLimits};
use kftp_datapath::{Outcome, PathUsed, Tuning};
use kftp_tls::ServerStream;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use tokio::net::{TcpListener, TcpStream};

/// Receives blocks into `file` until EOF's EOD count is reached; returns what moved.
/// `peer` is the control peer's address and the session id.
pub async fn recv(
    file: &File,
    plan: Plan,
    peer: (IpAddr, u64),
    tls: Option<&DataTls>,
    cfg: &Config,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    let listener = match &plan.setup {
        Some(DataSetup::Passive(l, _slot)) => Some(l),
        _ => None,
    };
    let cached = std::mem::take(&mut plan.cache.lock().unwrap_or_else(|p| p.into_inner()).recv);
    // Only streams made under this transfer's PROT (PROT drops the cache; this is the
    // rule itself): a clear stream never carries a protected upload.
    let (cached, other): (Vec<_>, Vec<_>) = cached
        .into_iter()
        .partition(|s| s.is_tls() == tls.is_some());
    kftp_tls::kept::close_later(Vec::<super::state::SendStream>::new(), other);
    let reused = cached.len();
    let limits = RecvLimits {
        max_streams: plan.max_streams,
        max_end: plan.max_end,
    };
    let mut waits = Waits { first: true, cfg };
    let buffers = plan.tcp_buffer;
    let accept = listener.map(|l| {
        Box::new(move || {
            let deadline = waits.next();
            Box::pin(async move {
                let s = accept(l, peer, cfg, deadline).await?;
                datachan::set_buffers(&s, buffers);
                Ok(match tls {
                    None => ServerStream::Plain(s),
                    Some(t) => ServerStream::Tls(Box::new(tls_stream(t, s, true).await?)),
                })
            }) as BoxFuture<'_, io::Result<ServerStream>>
        }) as Accept<'_, ServerStream>
    });
    // An ESTO part's blocks count from its offset (GFD.20); a STOR's from 0.
    let to = Place {
        file,
        origin: plan.partial.unwrap_or(0),
    };
    let got = recv_blocks_at(to, cached, accept, limits, tuning, progress, &plan.written).await?;
    tracing::info!(
        session = peer.1,
        mode_e_streams = got.streams,
        mode_e_reused = reused,
        tls = tls.is_some(),
        "MODE E blocks received"
    );
    let mut keep = got.reusable;
    let extra = keep.split_off(keep.len().min(plan.max_streams));
    kftp_tls::kept::close_later(Vec::<super::state::SendStream>::new(), extra);
    plan.cache.lock().unwrap_or_else(|p| p.into_inner()).recv = keep;
    Ok(Outcome {
        bytes: got.bytes,
        path: if tls.is_some() {
            PathUsed::TlsCopy
        } else {
            PathUsed::Copy
        },
    })
}

/// The first stream must come within the data timeout, as in MODE S; later ones (still in
/// flight when the first ones end) within the stall timeout.
struct Waits<'a> {
    first: bool,
    cfg: &'a Config,
}

impl Waits<'_> {
    fn next(&mut self) -> tokio::time::Instant {
        let wait = if std::mem::take(&mut self.first) {
            self.cfg.data_timeout
        } else {
            self.cfg.stall_timeout
        };
        tokio::time::Instant::now() + wait
    }
}

async fn accept(
    l: &TcpListener,
    (peer_ip, session): (IpAddr, u64),
    cfg: &Config,
    deadline: tokio::time::Instant,
) -> io::Result<TcpStream> {
    datachan::accept_peer(l, peer_ip, cfg, session, deadline)
        .await
        .map_err(open_failed)
}
