//! STOR in MODE E: the client is the sender, so it connects, to the PASV listener, as many
//! streams as it likes (at most `--max-streams`, each from the control peer's address as
//! in MODE S); streams cached from the last STOR are read too.
//! [`kftp_datapath::modee::recv_blocks`] writes the blocks at their offsets until EOF's
//! EOD count is reached; reusable streams go back to the session's cache.

use super::{open_failed, Plan};
use crate::config::Config;
use crate::datachan::{self, DataSetup};
use kftp_datapath::modee::{recv_blocks, Accept, RecvLimits};
use kftp_datapath::{Outcome, PathUsed, Tuning};
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;

/// Receives blocks into `file` until EOF's EOD count is reached; returns what moved.
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
    // The first stream must come within the data timeout, as in MODE S; later ones (still
    // in flight when the first ones end) within the stall timeout.
    let mut first = true;
    let accept: Option<Accept<'_>> = listener.as_ref().map(|(l, _)| {
        Box::new(move || {
            let wait = if std::mem::take(&mut first) {
                cfg.data_timeout
            } else {
                cfg.stall_timeout
            };
            let deadline = tokio::time::Instant::now() + wait;
            Box::pin(async move {
                datachan::accept_peer(l, peer_ip, cfg, session, deadline)
                    .await
                    .map_err(open_failed)
            }) as futures::future::BoxFuture<'_, io::Result<tokio::net::TcpStream>>
        }) as Accept<'_>
    });
    let limits = RecvLimits {
        max_streams: plan.max_streams,
        max_end: plan.max_end,
    };
    let got = recv_blocks(file, cached, accept, limits, tuning, progress).await?;
    tracing::info!(
        session,
        mode_e_streams = got.streams,
        "MODE E blocks received"
    );
    let mut keep = got.reusable;
    keep.truncate(plan.max_streams);
    plan.cache.lock().unwrap_or_else(|p| p.into_inner()).recv = keep;
    Ok(Outcome {
        bytes: got.bytes,
        path: PathUsed::Copy,
    })
}
