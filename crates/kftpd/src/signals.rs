//! Signals: SIGTERM and SIGINT drain and stop the server ([`crate::shutdown`]); SIGHUP
//! reloads what can change without dropping sessions — the users file, the TLS
//! certificate, the transfer log (reopened for rotation) and the reloadable part of the
//! config file (`passive_networks`). A reload that fails (a broken file) logs the error and
//! keeps the old state.

use crate::session::Shared;
use std::sync::Arc;
use std::time::Instant;
use tokio::signal::unix::{signal, SignalKind};

/// Resolves on SIGTERM or SIGINT.
pub async fn stop_requested() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
        _ = term.recv() => tracing::info!("SIGTERM: draining"),
    }
}

/// Reloads on every SIGHUP, for as long as the runtime runs.
pub fn spawn_reloader(shared: Arc<Shared>) {
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot catch SIGHUP: reload disabled");
            return;
        }
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let s = shared.clone();
            // File reads and PEM parsing: off the reactor.
            let _ = tokio::task::spawn_blocking(move || reload(&s)).await;
        }
    });
}

/// Reloads everything reloadable; returns how many parts failed.
pub fn reload(shared: &Shared) -> usize {
    let started = Instant::now();
    let mut failed = 0;
    if let Some(path) = &shared.config.ops.config_file {
        match crate::config::load(path) {
            Ok(f) => {
                *shared
                    .ops
                    .passive_networks
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) =
                    Arc::new(crate::config::file::passive_networks(&f));
            }
            Err(e) => {
                failed += 1;
                tracing::error!(error = %e, "reload: config file rejected; keeping the old settings");
            }
        }
    }
    let loaded = crate::auth::Users::load(&shared.config.users_file).and_then(|u| {
        // A new account root must not contain kftpd's own files either.
        crate::hardening::check_private_paths(&shared.config, &u).map_err(anyhow::Error::msg)?;
        Ok(u)
    });
    match loaded {
        Ok(u) => {
            let n = u.len();
            *shared.users.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(u);
            shared.auth_cache.clear();
            tracing::info!(users = n, "reload: users file loaded");
        }
        Err(e) => {
            failed += 1;
            tracing::error!(error = %format!("{e:#}"), "reload: users file rejected; keeping the old accounts");
        }
    }
    if let Some(tls) = &shared.tls {
        if let Err(e) = tls.reload() {
            failed += 1;
            tracing::error!(error = %e, "reload: certificate rejected; keeping the old one");
        }
    }
    if let Some(x) = &shared.ops.xferlog {
        if let Err(e) = x.reopen() {
            failed += 1;
            tracing::error!(error = %e, "reload: cannot reopen the transfer log");
        }
    }
    tracing::info!(
        failed,
        ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
        "SIGHUP: reload done"
    );
    failed
}
