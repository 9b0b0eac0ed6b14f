//! The server's runtime configuration: everything a session needs to know, resolved from
//! flags (and, later, a config file) before the first connection is accepted.

use kftp_datapath::PathChoice;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// When TLS is required before login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
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
    /// Most streams of one MODE E transfer (0: MODE E off).
    pub max_streams: usize,
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
    /// How long a user's walked disk usage is trusted (see [`crate::quota`]).
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
    /// Login bans, anonymous limits, bandwidth limits (see [`crate::limits`]).
    pub abuse: crate::limits::AbuseConfig,
    /// Transfer log, metrics, drain, privileges, sandbox, PROXY protocol, split horizon.
    pub ops: crate::ops::OpsConfig,
    /// How `s3://` roots reach their store.
    pub s3: crate::storage::s3args::S3Settings,
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

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            max_bytes: 16 << 30,
            anonymous: false,
        }
    }
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

    /// Defaults for tests and scripts: loopback, a root, a users file.
    pub fn new(root: PathBuf, users_file: PathBuf, state_dir: PathBuf) -> Self {
        Config {
            listen: vec!["127.0.0.1:2121".parse().expect("static address")],
            root,
            users_file,
            state_dir,
            passive_ports: None,
            passive_address: None,
            data_path: PathChoice::Auto,
            buf_size: 1 << 20,
            anonymous: false,
            max_sessions: 2000,
            max_per_ip: 64,
            max_per_user: 64,
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(30),
            max_streams: 16,
            login_timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(120),
            allow_foreign_data_peer: false,
            login_fail_delay: Duration::from_millis(500),
            auth_cache_ttl: Duration::from_secs(300),
            tls_policy: TlsPolicy::NonLoopback,
            tls_enabled: true,
            tls_cert: None,
            tls_key: None,
            tls_reload_interval: Duration::from_secs(10),
            quota_rescan: Duration::from_secs(60),
            event_exec: None,
            event_timeout: Duration::from_secs(10),
            implicit_listen: Vec::new(),
            tls_sniff: Duration::from_millis(25),
            tls_require_reuse: true,
            tls_reuse_optional_from: Vec::new(),
            tls_strict_eof: false,
            abuse: crate::limits::AbuseConfig::default(),
            ops: crate::ops::OpsConfig::default(),
            s3: crate::storage::s3args::S3Settings::new(),
            hash: HashLimits::default(),
            admin_listen: None,
            upload_mode: 0o640,
        }
    }
}
