//! RETR in MODE E: kftpd is the sender, so it is the active side. It connects
//! `Parallelism` streams to the PORT target (or, in the clear, reuses the ones cached from
//! the last RETR to that target) and hands them to [`kftp_datapath::modee::send_ranges`]
//! with the parts of the file the client lacks (all of it without a REST);
//! afterwards plain streams go back to the session's cache, TLS ones are closed.
//!
//! Under PROT P each stream, once its handshake resumed the control session, hands its
//! transmit keys to the kernel where it can ([`kftp_tls::block_sink`], as a MODE S RETR
//! does), so headers and blocks go out through the kernel and the bytes by sendfile; where
//! it cannot, rustls and the copy loop. A kTLS stream is closed by the kernel's
//! `close_notify`: its rustls session is gone and never writes again.

use super::{open_failed, tls_stream, Plan};
use crate::config::Config;
use crate::datachan::{self, DataSetup};
use crate::transfer::job::DataTls;
use kftp_datapath::modee::{alive, send_ranges, Sink};
use kftp_datapath::{Outcome, Tuning};
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;
use tokio::net::TcpStream;

/// A stream of a RETR: TCP, or TLS under PROT P (in the kernel or in rustls).
type Stream = Sink<Box<tokio_rustls::server::TlsStream<TcpStream>>>;

/// Sends the `missing` ranges of `file` over the plan's streams; returns what moved.
#[allow(clippy::too_many_arguments)]
pub async fn send(
    file: &File,
    missing: &[(u64, u64)],
    plan: Plan,
    local_ip: IpAddr,
    tls: Option<&DataTls>,
    cfg: &Config,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    let target = match plan.setup {
        Some(DataSetup::Active(t)) => Some(t),
        _ => None,
    };
    let (target, cached) = reuse(&plan, target);
    let Some(target) = target else {
        return Err(open_failed(kftp_proto::Reply::new(
            425,
            "MODE E: no PORT target and no cached streams.",
        )));
    };
    // TLS streams are never cached, so a plain one cannot serve a protected transfer.
    let mut streams: Vec<Stream> = match tls {
        None => cached.into_iter().map(Sink::Tcp).collect(),
        Some(_) => Vec::new(),
    };
    // What one stream may carry at most (it may take every block): its record budget.
    let bytes: u64 = missing.iter().map(|(a, b)| b.saturating_sub(*a)).sum();
    if tls.is_none() {
        // In the clear, all at once: one after the other, each connect waits a round trip,
        // and at 50 ms the eighth stream started 0.35 s after the first (BENCHMARKS.md,
        // HPC run 8). TLS streams keep the order below, one handshake at a time.
        let want = plan.streams.saturating_sub(streams.len());
        let fresh = (0..want).map(|_| datachan::connect(target, local_ip, cfg));
        let fresh = futures::future::try_join_all(fresh)
            .await
            .map_err(open_failed)?;
        streams.extend(fresh.into_iter().map(Sink::Tcp));
    }
    while streams.len() < plan.streams {
        let s = datachan::connect(target, local_ip, cfg)
            .await
            .map_err(open_failed)?;
        streams.push(match tls {
            None => Sink::Tcp(s),
            Some(t) => {
                let tls = tls_stream(t, s, false).await?;
                kftp_tls::block_sink(tls, bytes, Box::new).await?
            }
        });
    }
    let n = streams.len();
    let ktls = streams
        .iter()
        .filter(|s| matches!(s, Sink::Ktls(_)))
        .count();
    let close = tls.is_some();
    let (streams, outcome) = send_ranges(file, missing, streams, close, tuning, progress).await?;
    tracing::info!(
        mode_e_streams = n,
        ktls_streams = ktls,
        target = %target,
        tls = close,
        "MODE E blocks sent"
    );
    let mut keep = Vec::new();
    for s in streams {
        match s {
            Sink::Tcp(s) => keep.push(s),
            Sink::Ktls(k) => k.shutdown().await?,
            Sink::Stream(s) => kftp_tls::close_data(s).await?,
        }
    }
    if !keep.is_empty() {
        plan.cache.lock().unwrap_or_else(|p| p.into_inner()).send = Some((target, keep));
    }
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
