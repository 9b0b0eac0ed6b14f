//! The resolved configuration: plain data, everything a session needs to know, made by
//! [`super::resolve`] from the flags, the environment and the file before the first
//! connection is accepted.

use kftp_datapath::PathChoice;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// When TLS is required before login (`--tls-required`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsPolicy {
    /// Required on every listener that is not loopback (the default).
    #[default]
    NonLoopback,
    /// Required everywhere, loopback included.
    Always,
    /// Never required (logged as a warning at start).
    Never,
}

/// Resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Control listeners.
    pub listen: Vec<SocketAddr>,
    /// Default root for users that name none, and for anonymous.
    pub root: PathBuf,
    /// The users file (TOML, Argon2id hashes).
    pub users_file: PathBuf,
    /// Where kftpd keeps its own files (generated certificate, initial password).
    pub state_dir: PathBuf,
    /// Ports for PASV/EPSV listeners; `None` lets the kernel choose.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Address advertised in 227 replies (for NAT); default: the control connection's
    /// local address.
    pub passive_address: Option<IpAddr>,
    /// kernel / copy / auto.
    pub data_path: PathChoice,
    /// Copy-loop buffer and splice pipe size.
    pub buf_size: usize,
    /// Allow `anonymous`/`ftp` logins (read-only).
    pub anonymous: bool,
    /// Total concurrent sessions.
    pub max_sessions: usize,
    /// Concurrent sessions per source IP.
    pub max_per_ip: usize,
    /// Concurrent sessions per user.
    pub max_per_user: usize,
    /// Idle control connection timeout.
    pub idle_timeout: Duration,
    /// How long to wait for a data connection.
    pub data_timeout: Duration,
    /// A session not logged in by then is closed (421), however busy it keeps itself.
    pub login_timeout: Duration,
    /// A transfer with no progress for this long is aborted.
    pub stall_timeout: Duration,
    /// Accept data connections (and PORT targets) from hosts other than the control peer.
    pub allow_foreign_data_peer: bool,
    /// Delay before answering a failed login.
    pub login_fail_delay: Duration,
    /// How long a successful login is remembered (`auth::cache`); zero: not at all.
    pub auth_cache_ttl: Duration,
    /// When TLS is required.
    pub tls_policy: TlsPolicy,
    /// Offer TLS at all (AUTH TLS, implicit FTPS).
    pub tls_enabled: bool,
    /// PEM certificate chain; with `tls_key`. Without them a self-signed certificate is
    /// generated once into the state directory.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// How often the given certificate and key files are checked for a renewal (zero: never).
    pub tls_reload_interval: Duration,
    /// How long a user's walked disk usage is trusted (see `quota`).
    pub quota_rescan: Duration,
    /// Program run with one JSON event on stdin per login, logout, transfer, change.
    pub event_exec: Option<PathBuf>,
    /// How long one run of `event_exec` may take before it is killed.
    pub event_timeout: Duration,
    /// Listeners that speak TLS from the first byte (implicit FTPS, usually port 990).
    pub implicit_listen: Vec<SocketAddr>,
    /// On plain listeners, how long to wait for a TLS ClientHello before greeting in clear
    /// (one port for implicit and explicit FTPS). Zero disables the sniffing.
    pub tls_sniff: Duration,
    /// PROT P data connections must resume the control connection's TLS session (unless
    /// the account or `tls_reuse_optional_from` says otherwise; see [`Config::tls_reuse_for`]).
    pub tls_require_reuse: bool,
    /// Client networks exempt from `tls_require_reuse`.
    pub tls_reuse_optional_from: Vec<ipnet::IpNet>,
    /// A TLS upload that ends without close_notify is kept as a resumable part file and
    /// answered 426, instead of being accepted with a log line.
    pub tls_strict_eof: bool,
    /// Login bans, anonymous limits, bandwidth limits (see `limits`).
    pub abuse: AbuseConfig,
    /// Transfer log, metrics, drain, privileges, sandbox, PROXY protocol, split horizon.
    pub ops: OpsConfig,
    /// How `s3://` roots reach their store.
    pub s3: super::s3::S3Settings,
    /// What HASH and the X* digests may cost.
    pub hash: HashLimits,
    /// Admin API address (`--admin-listen`; off when `None`).
    pub admin_listen: Option<std::net::SocketAddr>,
    /// Mode of files created by uploads (before the umask).
    pub upload_mode: u32,
}

/// Limits on HASH, XCRC, XMD5, XSHA*: each reads the whole range from disk and burns CPU.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    /// Largest range one command may hash (RANG and the X* ranges hash parts of larger
    /// files).
    pub max_bytes: u64,
    /// Whether anonymous sessions may hash.
    pub anonymous: bool,
}

impl Config {
    /// Whether a login from `peer` must resume its control TLS session on data connections:
    /// the account's own setting, else the server's, relaxed for `tls_reuse_optional_from`.
    pub fn tls_reuse_for(&self, account: Option<bool>, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        account.unwrap_or_else(|| {
            self.tls_require_reuse
                && !self
                    .tls_reuse_optional_from
                    .iter()
                    .any(|n| n.contains(&peer))
        })
    }

    /// The defaults, with a root, a users file and a state directory (for tests).
    pub fn new(root: PathBuf, users_file: PathBuf, state_dir: PathBuf) -> Self {
        let s = super::Settings {
            root: Some(root),
            users: Some(users_file),
            state_dir: Some(state_dir),
            ..Default::default()
        };
        super::resolve(s, super::Settings::default()).expect("the defaults resolve")
    }
}

/// Abuse-related settings (see `limits`).
#[derive(Clone, Debug)]
pub struct AbuseConfig {
    /// Failed logins within `ban_window` that ban an address (0: never ban).
    pub ban_after: u32,
    /// The window in which failures are counted.
    pub ban_window: Duration,
    /// How long a ban lasts.
    pub ban_time: Duration,
    /// Upper bound of the growing delay before a failed login's 530.
    pub login_delay_max: Duration,
    /// Anonymous upload-only folder (virtual path under the anonymous root).
    pub anonymous_upload_dir: Option<String>,
    /// Concurrent anonymous sessions.
    pub anonymous_max_sessions: usize,
    /// Largest anonymous upload in bytes (0: no cap); past it 552 and nothing is kept.
    pub anonymous_upload_max_bytes: u64,
    /// Bandwidth of all anonymous sessions together, bytes/s (0: unlimited).
    pub anonymous_rate: u64,
    /// Bandwidth per session, bytes/s (0: unlimited).
    pub rate_session: u64,
    /// Bandwidth per user (all their sessions together), bytes/s (0: unlimited).
    pub rate_user: u64,
    /// Bandwidth of the whole server, bytes/s (0: unlimited).
    pub rate_global: u64,
}

impl Default for AbuseConfig {
    fn default() -> Self {
        Config::new("/".into(), "/u".into(), "/s".into()).abuse
    }
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
        let net = super::values::parse_network(network)?;
        Ok(PassiveNet { net, address })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.net.contains(&ip.to_canonical())
    }
}

/// Operational settings: config file, transfer log, metrics, drain, privileges, sandbox,
/// PROXY protocol, split horizon.
#[derive(Clone, Debug)]
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
    /// Log format on stderr.
    pub log_format: super::LogFormat,
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
