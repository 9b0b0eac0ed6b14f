//! RETR in MODE E: kftpd is the sender, so it is the active side. It connects
//! `Parallelism` streams to the PORT target (or reuses the ones cached from the last RETR
//! to that target, made under the same PROT) and hands them to
//! [`kftp_datapath::modee::send_ranges`] with the parts of the file the client lacks (all
//! of it without a REST); afterwards every stream goes back to the session's cache.
//!
//! Under PROT P each new stream, once its handshake resumed the control session, hands its
//! transmit keys to the kernel where it can ([`kftp_tls::block_sink`], as a MODE S RETR
//! does), so headers and blocks go out through the kernel and the bytes by sendfile; where
//! it cannot, rustls and the copy loop. A kept kTLS stream stays in the kernel for the
//! next RETR; one whose keys are near their record limit is closed (the kernel's
//! `close_notify`) and replaced.

use super::state::SendStream;
use super::{open_failed, tls_stream, Plan};
use crate::config::Config;
use crate::datachan::{self, DataSetup};
use crate::transfer::job::DataTls;
use kftp_datapath::modee::{send_ranges_from, Sink};
use kftp_datapath::{Outcome, Tuning};
use kftp_tls::kept::{self, Kept};
use kftp_tls::ServerStream;
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicU64;

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
    // What one stream may carry at most (it may take every block): its record budget.
    let bytes: u64 = missing.iter().map(|(a, b)| b.saturating_sub(*a)).sum();
    let pieces = missing.len();
    let (target, cached) = reuse(&plan, target, tls.is_some(), bytes, pieces);
    let Some(target) = target else {
        return Err(open_failed(kftp_proto::Reply::new(
            425,
            "MODE E: no PORT target and no cached streams.",
        )));
    };
    let reused = cached.len();
    let (mut streams, mut counts) = kept::split(cached);
    if tls.is_none() {
        // In the clear, all at once: one after the other, each connect waits a round trip,
        // and at 50 ms the eighth stream started 0.35 s after the first (BENCHMARKS.md,
        // HPC run 8). TLS streams keep the order below, one handshake at a time.
        let want = plan.streams.saturating_sub(streams.len());
        let fresh = (0..want).map(|_| datachan::connect(target, local_ip, cfg));
        let fresh = futures::future::try_join_all(fresh)
            .await
            .map_err(open_failed)?;
        for s in &fresh {
            datachan::set_buffers(s, plan.tcp_buffer);
        }
        counts.extend(fresh.iter().map(|_| 0));
        streams.extend(fresh.into_iter().map(Sink::Tcp));
    }
    while streams.len() < plan.streams {
        let s = datachan::connect(target, local_ip, cfg)
            .await
            .map_err(open_failed)?;
        datachan::set_buffers(&s, plan.tcp_buffer);
        streams.push(match tls {
            None => Sink::Tcp(s),
            Some(t) => {
                let tls = tls_stream(t, s, false).await?;
                kftp_tls::block_sink(tls, bytes, |t| ServerStream::Tls(Box::new(t))).await?
            }
        });
        counts.push(0);
    }
    let n = streams.len();
    let ktls = streams
        .iter()
        .filter(|s| matches!(s, Sink::Ktls(_)))
        .count();
    // No close bit: every stream, plain or TLS, is kept for the next RETR.
    // An ERET part's headers count from its start (GFD.20); a RETR's from 0.
    let origin = plan.partial.unwrap_or(0);
    let (streams, outcome) =
        send_ranges_from(file, missing, origin, streams, false, tuning, progress).await?;
    tracing::info!(
        mode_e_streams = n,
        mode_e_reused = reused,
        ktls_streams = ktls,
        target = %target,
        tls = tls.is_some(),
        "MODE E blocks sent"
    );
    let keep = kept::rejoin(streams, counts, bytes, pieces);
    plan.cache.lock().unwrap_or_else(|p| p.into_inner()).send = Some((target, keep));
    Ok(outcome)
}

/// The cached sending streams that may serve this transfer: those to the same target (or
/// any, when no new PORT was given), made under the same PROT, that the client has not
/// closed and whose keys have room for it, at most `plan.streams`. The others are closed.
fn reuse(
    plan: &Plan,
    target: Option<SocketAddr>,
    tls: bool,
    bytes: u64,
    pieces: usize,
) -> (Option<SocketAddr>, Vec<Kept<ServerStream>>) {
    let cached = plan
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send
        .take();
    let Some((to, streams)) = cached else {
        return (target, Vec::new());
    };
    let (mut live, dead): (Vec<_>, Vec<_>) = streams
        .into_iter()
        .partition(|k| k.is_tls() == tls && kept::usable(k, bytes, pieces));
    let spare = live.split_off(live.len().min(plan.streams));
    let retire = |v: Vec<Kept<ServerStream>>| kept::split(v).0;
    let mut closing: Vec<SendStream> = retire(dead);
    let (to, live) = match target {
        Some(t) if t != to => {
            closing.extend(retire(live));
            (t, Vec::new())
        }
        _ => (to, live),
    };
    closing.extend(retire(spare));
    kept::close_later(closing, Vec::<ServerStream>::new());
    (Some(to), live)
}
