//! STOR in MODE E: the client is the sender, so it connects, to the PASV listener, as many
//! streams as it likes (at most `--max-streams`, each from the control peer's address as
//! in MODE S; under PROT P each resumes the control TLS session); plain streams cached
//! from the last STOR are read too. [`kftp_datapath::modee::recv_blocks`] writes the
//! blocks at their offsets until EOF's EOD count is reached; reusable plain streams go
//! back to the session's cache, TLS ones are closed.

use super::{open_failed, tls_stream, Plan};
use crate::config::Config;
use crate::datachan::{self, DataSetup};
use crate::transfer::job::DataTls;
use futures::future::BoxFuture;
use kftp_datapath::modee::{recv_blocks_into, Accept, RecvLimits};
use kftp_datapath::{Outcome, PathUsed, Tuning};
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
    let limits = RecvLimits {
        max_streams: plan.max_streams,
        max_end: plan.max_end,
    };
    let mut waits = Waits { first: true, cfg };
    let (bytes, streams, keep) = match tls {
        None => {
            let accept = listener.map(|l| {
                Box::new(move || {
                    let deadline = waits.next();
                    Box::pin(async move { accept(l, peer, cfg, deadline).await })
                        as BoxFuture<'_, io::Result<TcpStream>>
                }) as Accept<'_>
            });
            let got = recv_blocks_into(
                file,
                cached,
                accept,
                limits,
                tuning,
                progress,
                &plan.written,
            )
            .await?;
            (got.bytes, got.streams, got.reusable)
        }
        Some(t) => {
            drop(cached);
            // Boxed: the TLS state is large, and a boxed stream is read by the copy loop.
            type Tls = Box<tokio_rustls::server::TlsStream<TcpStream>>;
            let accept = listener.map(|l| {
                Box::new(move || {
                    let deadline = waits.next();
                    Box::pin(async move {
                        let s = accept(l, peer, cfg, deadline).await?;
                        tls_stream(t, s, true).await.map(Box::new)
                    }) as BoxFuture<'_, io::Result<Tls>>
                }) as Accept<'_, Tls>
            });
            let got = recv_blocks_into(
                file,
                Vec::new(),
                accept,
                limits,
                tuning,
                progress,
                &plan.written,
            )
            .await?;
            for s in got.reusable {
                // Every byte is in; a client that has gone must not fail the upload.
                let _ = kftp_tls::close_data(s).await;
            }
            (got.bytes, got.streams, Vec::new())
        }
    };
    tracing::info!(
        session = peer.1,
        mode_e_streams = streams,
        tls = tls.is_some(),
        "MODE E blocks received"
    );
    let mut keep = keep;
    keep.truncate(plan.max_streams);
    plan.cache.lock().unwrap_or_else(|p| p.into_inner()).recv = keep;
    Ok(Outcome {
        bytes,
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
