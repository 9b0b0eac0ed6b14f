//! RETR in MODE E: kftpd is the sender, so it is the active side. It connects
//! `Parallelism` streams to the PORT target (or reuses the ones cached from the last RETR
//! to that target) and hands them to [`kftp_datapath::modee::send_blocks`]; afterwards the
//! streams go back to the session's cache.

use super::{open_failed, Plan};
use crate::config::Config;
use crate::datachan::{self, DataSetup};
use kftp_datapath::modee::{alive, send_blocks};
use kftp_datapath::{Outcome, Tuning};
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use tokio::net::TcpStream;

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
    let n = streams.len();
    let (streams, outcome) = send_blocks(file, offset, end, streams, tuning, progress).await?;
    tracing::info!(mode_e_streams = n, target = %target, "MODE E blocks sent");
    plan.cache.lock().unwrap_or_else(|p| p.into_inner()).send = Some((target, streams));
    Ok(outcome)
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
