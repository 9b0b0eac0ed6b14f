//! Operational state shared by all sessions: the stop stage, the transfer log and the
//! split-horizon passive addresses (replaced on SIGHUP). Built by [`crate::startup`].

use crate::config::{OpsConfig, PassiveNet};
use crate::shutdown::Stop;
use crate::xferlog::Xferlog;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Operational state shared by all sessions.
#[derive(Debug)]
pub struct OpsState {
    /// The server's stage; sessions select on it.
    pub stop: watch::Sender<Stop>,
    /// The transfer log, when configured.
    pub xferlog: Option<Xferlog>,
    /// Split-horizon passive addresses; replaced on reload.
    pub passive_networks: RwLock<Arc<Vec<PassiveNet>>>,
}

impl OpsState {
    /// State for a fresh server.
    pub fn new(cfg: &OpsConfig) -> OpsState {
        OpsState {
            stop: watch::channel(Stop::Run).0,
            xferlog: None,
            passive_networks: RwLock::new(Arc::new(cfg.passive_networks.clone())),
        }
    }

    /// The address to advertise in a 227 reply to `client`: the first matching
    /// `passive_networks` entry, else `fallback` (the global `passive_address`).
    pub fn passive_address_for(&self, client: IpAddr, fallback: Option<IpAddr>) -> Option<IpAddr> {
        let nets = self
            .passive_networks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        nets.iter()
            .find(|n| n.contains(client))
            .map(|n| n.address)
            .or(fallback)
    }
}
