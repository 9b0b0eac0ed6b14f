//! Operating the server: the flags and state for the config file, transfer log, metrics
//! endpoint, shutdown and reload, privileges and sandbox, and life behind NAT or a load
//! balancer. The mechanisms live in their own modules ([`crate::config_file`],
//! [`crate::xferlog`], [`crate::metrics_http`], [`crate::signals`], [`crate::privdrop`],
//! [`crate::sandbox`], [`crate::proxy`]); this module holds what they share.

use crate::config::Config;
use crate::session::Shared;
use crate::xferlog::Xferlog;
use clap::Args;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Operational flags (flattened into the server's flags).
#[derive(Args, Debug, Clone, Default)]
pub struct OpsArgs {
    /// Configuration file (TOML; see kftpd.example.toml). Flags and KFTPD_* variables
    /// override it. Reloaded on SIGHUP.
    #[arg(long, env = "KFTPD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Append a transfer log in xferlog format (as wu-ftpd and vsftpd) to this file.
    #[arg(long, env = "KFTPD_XFERLOG")]
    pub xferlog: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (off by default; keep it on loopback).
    #[arg(long, env = "KFTPD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seconds running transfers get to finish after SIGTERM/SIGINT before sessions are
    /// told 421 and closed.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Started as root: drop to this user (and its group) after binding and loading keys.
    #[arg(long)]
    pub user: Option<String>,
    /// Confine file access with Landlock to the served roots, state and log directories
    /// (the default where the kernel has Landlock; kept for older command lines).
    #[arg(long, conflicts_with = "no_sandbox")]
    pub sandbox: bool,
    /// Do not confine file access with Landlock (on by default where the kernel has it).
    #[arg(long)]
    pub no_sandbox: bool,
    /// Install a seccomp system-call allow-list (other calls fail with EPERM).
    #[arg(long)]
    pub seccomp: bool,
    /// Expect a PROXY protocol v1 or v2 header on every control connection (behind a load
    /// balancer); the address it carries is the client's for limits, logs and data checks.
    /// Needs --proxy-trusted.
    #[arg(long)]
    pub proxy_protocol: bool,
    /// Load balancers allowed to send PROXY headers, as networks (repeatable), e.g.
    /// 10.0.0.0/8 or 192.0.2.10/32; required with --proxy-protocol. Connections from
    /// other peers are closed.
    #[arg(long, value_name = "CIDR")]
    pub proxy_trusted: Vec<ipnet::IpNet>,
    /// Serve as root when started as root without --user (logs a warning at start and on
    /// every login). Without it kftpd refuses to start as root unless --user is given.
    #[arg(long)]
    pub allow_root: bool,
    /// Let --metrics-listen be a non-loopback address (the endpoint has no
    /// authentication: firewall it to the scraper). Without it kftpd refuses to start.
    #[arg(long)]
    pub metrics_public: bool,
}

/// One split-horizon entry: clients in `network` get `address` in 227 replies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassiveNet {
    /// The client network.
    pub net: ipnet::IpNet,
    /// What to advertise.
    pub address: IpAddr,
}

impl PassiveNet {
    /// Parses `10.0.0.0/8` (a bare address is a /32 or /128).
    pub fn parse(network: &str, address: IpAddr) -> Result<PassiveNet, String> {
        let network = network.trim();
        let net = match network.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => network
                .parse::<IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| {
                    format!(
                        "expected a network such as \"10.0.0.0/8\" (prefix length 0-32, or 0-128 \
                     for IPv6), found {network:?}"
                    )
                })?,
        };
        Ok(PassiveNet { net, address })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.net.contains(&ip.to_canonical())
    }
}

/// Operational settings, resolved.
#[derive(Clone, Debug, Default)]
pub struct OpsConfig {
    /// The configuration file, if any (re-read on SIGHUP).
    pub config_file: Option<PathBuf>,
    /// Transfer log path.
    pub xferlog: Option<PathBuf>,
    /// Metrics endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// How long a drain may take.
    pub drain_timeout: Duration,
    /// Unprivileged user to switch to.
    pub user: Option<String>,
    /// Landlock (on unless --no-sandbox).
    pub sandbox: bool,
    /// seccomp allow-list.
    pub seccomp: bool,
    /// PROXY protocol on control listeners.
    pub proxy_protocol: bool,
    /// Peers allowed to send PROXY headers.
    pub proxy_trusted: Vec<ipnet::IpNet>,
    /// Split-horizon passive addresses (first match wins).
    pub passive_networks: Vec<PassiveNet>,
    /// Serve as root without --user (warned about).
    pub allow_root: bool,
    /// Metrics endpoint may listen beyond loopback.
    pub metrics_public: bool,
}

impl OpsArgs {
    /// The resolved settings.
    pub fn to_config(&self) -> OpsConfig {
        OpsConfig {
            config_file: self.config.clone(),
            xferlog: self.xferlog.clone(),
            metrics_listen: self.metrics_listen,
            drain_timeout: Duration::from_secs(self.drain_timeout),
            user: self.user.clone(),
            sandbox: !self.no_sandbox,
            seccomp: self.seccomp,
            proxy_protocol: self.proxy_protocol,
            proxy_trusted: self.proxy_trusted.clone(),
            passive_networks: Vec::new(),
            allow_root: self.allow_root,
            metrics_public: self.metrics_public,
        }
    }
}

impl OpsConfig {
    /// Settings that cannot work together, refused before anything starts.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.proxy_protocol && self.proxy_trusted.is_empty() {
            anyhow::bail!(
                "--proxy-protocol needs --proxy-trusted CIDR (repeatable; config key \
                 proxy_trusted = [\"10.0.0.0/8\"]) naming the load balancers allowed to send \
                 PROXY headers: otherwise any client could claim any address"
            );
        }
        Ok(())
    }
}

/// Where the server is in its life; sessions watch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Serving.
    Run,
    /// Draining: no new commands once the running transfer (if any) ends.
    Drain,
    /// The drain deadline passed: abort transfers, say 421, close.
    Now,
}

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
}

/// The address to advertise in a 227 reply to `client`: the first matching
/// `passive_networks` entry, else the global `passive_address`.
pub fn passive_address_for(shared: &Shared, client: IpAddr) -> Option<IpAddr> {
    let nets = shared
        .ops
        .passive_networks
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    nets.iter()
        .find(|n| n.contains(client))
        .map(|n| n.address)
        .or(shared.config.passive_address)
}

/// Sockets bound before the runtime starts (while still root, before the sandbox).
#[derive(Debug, Default)]
pub struct Bound {
    control: Vec<(SocketAddr, std::net::TcpListener)>,
    metrics: Option<std::net::TcpListener>,
}

impl Bound {
    /// The listener bound for `addr`, for the runtime (call inside it).
    pub fn take(&mut self, addr: &SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
        let i = self
            .control
            .iter()
            .position(|(a, _)| a == addr)
            .ok_or_else(|| std::io::Error::other(format!("{addr} was not bound")))?;
        let (_, l) = self.control.remove(i);
        tokio::net::TcpListener::from_std(l)
    }
}

fn bind_std(addr: &SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    use anyhow::Context;
    let l = std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Binds every listener: control, implicit FTPS and metrics.
pub fn bind_all(cfg: &Config) -> anyhow::Result<Bound> {
    let mut b = Bound::default();
    for a in cfg.listen.iter().chain(&cfg.implicit_listen) {
        b.control.push((*a, bind_std(a)?));
    }
    if let Some(a) = &cfg.ops.metrics_listen {
        b.metrics = Some(bind_std(a)?);
    }
    Ok(b)
}

/// Opens the transfer log (before dropping privileges: the descriptor stays writable).
pub fn open_xferlog(cfg: &Config) -> anyhow::Result<Option<Xferlog>> {
    use anyhow::Context;
    cfg.ops
        .xferlog
        .as_deref()
        .map(|p| Xferlog::open(p).with_context(|| format!("opening xferlog {}", p.display())))
        .transpose()
}

fn parent(p: &std::path::Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Drops privileges (`--user`), then applies Landlock (`--sandbox`) and seccomp
/// (`--seccomp`). Call while the process is single-threaded, after binding and loading keys.
pub fn confine(
    cfg: &Config,
    users: &crate::auth::Users,
    tls: Option<&kftp_tls::ServerTls>,
) -> anyhow::Result<()> {
    if let Some(u) = &cfg.ops.user {
        crate::privdrop::drop_to(u, crate::auth::pam::groups_to_keep(cfg))?;
    }
    let pam = crate::auth::pam::landlock_paths(cfg);
    if cfg.ops.sandbox && pam.is_none() {
        tracing::warn!("Landlock not applied: --auth pam serves home directories, which are known only at login (set --pam-root to keep the sandbox)");
    }
    if let (true, Some((pam_rw, pam_ro))) = (cfg.ops.sandbox, pam) {
        let mut rw = vec![cfg.root.clone(), cfg.state_dir.clone()];
        rw.extend(users.roots().map(|p| p.to_path_buf()));
        rw.extend(pam_rw);
        let object_roots = rw.iter().any(|p| !crate::storage::Root::is_local(p));
        rw.retain(|p| crate::storage::Root::is_local(p));
        rw.extend(cfg.ops.xferlog.as_deref().map(parent));
        let mut ro = vec![parent(&cfg.users_file)];
        ro.extend(pam_ro);
        if cfg.admin_listen.is_some() {
            rw.push(parent(&cfg.users_file)); // the admin API edits the users file
        }
        if object_roots {
            // The S3 client resolves names and verifies certificates: load its roots now
            // and leave /etc (resolv.conf, hosts, ssl) readable.
            crate::storage::object::prepare();
            ro.push("/etc".into());
        }
        ro.extend(cfg.ops.config_file.as_deref().map(parent));
        if let Some(t) = tls {
            ro.push(parent(t.cert_path()));
        }
        ro.extend(cfg.tls_key.as_deref().map(parent));
        // certbot's live/ names are symlinks into archive/: renewals land beside the targets.
        for p in cfg.tls_cert.iter().chain(&cfg.tls_key) {
            ro.extend(std::fs::canonicalize(p).ok().as_deref().map(parent));
        }
        // A directory that does not exist (yet) cannot be a Landlock rule; leave it out
        // rather than refuse to start (its users cannot log in until a restart).
        let exists = |p: &PathBuf| {
            let ok = p.exists();
            if !ok {
                tracing::warn!(path = %p.display(), "not in the Landlock sandbox: it does not exist; accounts under it cannot log in until kftpd restarts");
            }
            ok
        };
        rw.retain(exists);
        ro.retain(exists);
        crate::sandbox::apply_landlock(&rw, &ro)?;
    } else if !cfg.ops.sandbox {
        tracing::info!("Landlock not applied (--no-sandbox)");
    }
    if cfg.ops.seccomp {
        crate::sandbox::apply_seccomp()?;
    }
    Ok(())
}

/// Starts the metrics endpoint and the SIGHUP reloader (inside the runtime).
pub fn start(shared: &Arc<Shared>, bound: &mut Bound) -> anyhow::Result<()> {
    if let Some(l) = bound.metrics.take() {
        let l = tokio::net::TcpListener::from_std(l)?;
        let addr = l.local_addr()?;
        tracing::info!(addr = %addr, "metrics endpoint listening (GET /metrics)");
        println!("kftpd metrics on http://{addr}/metrics");
        tokio::spawn(crate::metrics_http::serve(shared.clone(), l));
    }
    crate::signals::spawn_reloader(shared.clone());
    shared.quotas.spawn_writer();
    if let (Some(tls), Some(key)) = (&shared.tls, &shared.config.tls_key) {
        crate::certwatch::spawn(tls.clone(), key.clone(), shared.config.tls_reload_interval);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let n = PassiveNet::parse("10.0.0.0/8", ip("10.0.0.5")).unwrap();
        assert!(n.contains(ip("10.200.1.1")));
        assert!(n.contains(ip("::ffff:10.1.2.3")));
        assert!(!n.contains(ip("11.0.0.1")));
        let all = PassiveNet::parse("0.0.0.0/0", ip("1.2.3.4")).unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one = PassiveNet::parse("192.168.1.7", ip("1.2.3.4")).unwrap();
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let v6 = PassiveNet::parse("fd00::/8", ip("10.0.0.5")).unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(PassiveNet::parse("10.0.0.0/33", ip("1.2.3.4")).is_err());
        assert!(PassiveNet::parse("ten", ip("1.2.3.4")).is_err());
    }
}
