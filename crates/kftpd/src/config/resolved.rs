//! The resolved configuration: plain data, everything a session needs to know, made by
//! [`resolve`] from the flags, the environment and the file before the first connection
//! is accepted. A new setting's field goes into [`Config`] here, with its line in
//! [`resolve`].

use super::file::{self, ConfigError};
use super::s3::S3Settings;
use super::settings::*;
use super::values::{self, AuthSource, AuthSources, PassiveNet, TlsPolicy};
use kftp_datapath::PathChoice;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Programs run with one JSON event on stdin per login, logout, transfer, change.
    pub event_exec: Vec<PathBuf>,
    /// URLs each event is POSTed to (JSON).
    pub event_webhook: Vec<String>,
    /// URL asked before an upload is kept (2xx: keep; otherwise 550 and discarded).
    pub event_webhook_sync: Option<String>,
    /// How long one run of an event program, or one webhook request, may take.
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
    pub s3: S3Settings,
    /// What HASH and the X* digests may cost.
    pub hash: HashLimits,
    /// Admin API address (`--admin-listen`; off when `None`).
    pub admin_listen: Option<std::net::SocketAddr>,
    /// Mode of files created by uploads (before the umask).
    pub upload_mode: u32,
    /// Most streams of one MODE E transfer (0: MODE E off).
    pub max_streams: usize,
    /// Time between MODE E markers (`--perf-marker-interval`; zero: none).
    pub perf_marker_interval: Duration,
    /// Where logins are checked, in order (`--auth`).
    pub auth: Vec<AuthSource>,
    /// PAM logins (`--auth pam`).
    pub pam: PamConfig,
}

/// How PAM logins are checked and jailed (see `auth::pam`).
#[derive(Clone, Debug)]
pub struct PamConfig {
    /// The PAM service name (`/etc/pam.d/<service>`).
    pub service: String,
    /// A root for every PAM user instead of their home; `{user}` is the login name.
    pub root: Option<String>,
    /// What PAM users may do: users-file permission names, comma-separated (checked at
    /// start by `auth::pam::check_config`).
    pub perms: String,
    /// Accounts with a smaller uid (system and daemon accounts) are refused.
    pub min_uid: u32,
}

/// Resolves the settings the flags (and the `KFTPD_*` variables, which clap reads into
/// the same fields) and the file give: for each field the flag, else the file, else the
/// default. Returns plain data, or why the settings cannot work together.
pub fn resolve(mut flags: Settings, mut file: Settings) -> Result<Config, ConfigError> {
    macro_rules! get {
        ($f:ident) => {
            flags.$f.take().or_else(|| file.$f.take())
        };
    }
    let secs = Duration::from_secs;
    let state_dir = get!(state_dir).unwrap_or_else(|| STATE_DIR.into());
    let users_file = get!(users).unwrap_or_else(|| state_dir.join("users.toml"));
    // tls_required, or the older require_tls / no_tls_required, as a whole per layer: a
    // flag saying one beats a file saying the other.
    let no_tls = get!(no_tls).unwrap_or(false);
    let tls_policy = tls_required(&flags)
        .or_else(|| tls_required(&file))
        .unwrap_or(if no_tls {
            TlsPolicy::Never
        } else {
            TLS_REQUIRED
        });
    // --no-sandbox wins over everything; else `sandbox` as any layer says.
    let sandbox = flags.no_sandbox != Some(true) && get!(sandbox).unwrap_or(SANDBOX);
    let login_delay_ms = get!(login_delay_ms).unwrap_or(LOGIN_DELAY_MS);
    let rate = |b: Option<values::Bytes>| b.unwrap_or(UNLIMITED).0;
    let passive_networks = file::passive_networks(&file);
    let c = Config {
        listen: get!(listen).unwrap_or_else(|| vec![LISTEN.parse().expect("static address")]),
        root: get!(root).unwrap_or_else(|| ROOT.into()),
        users_file,
        state_dir,
        passive_ports: get!(passive_ports).map(|r| r.0),
        passive_address: get!(passive_address),
        data_path: get!(data_path).unwrap_or(DATA_PATH).into(),
        buf_size: get!(buffer_size)
            .unwrap_or(BUFFER_SIZE)
            .clamp(4096, 64 << 20),
        anonymous: get!(anonymous).unwrap_or(false),
        max_sessions: get!(max_sessions).unwrap_or(MAX_SESSIONS).max(1),
        max_per_ip: get!(max_per_ip).unwrap_or(MAX_PER_IP).max(1),
        max_per_user: get!(max_per_user).unwrap_or(MAX_PER_USER).max(1),
        idle_timeout: secs(get!(idle_timeout).unwrap_or(IDLE_TIMEOUT).max(1)),
        data_timeout: secs(get!(data_timeout).unwrap_or(DATA_TIMEOUT).max(1)),
        login_timeout: secs(get!(login_timeout).unwrap_or(LOGIN_TIMEOUT).max(1)),
        stall_timeout: secs(get!(stall_timeout).unwrap_or(STALL_TIMEOUT).max(1)),
        allow_foreign_data_peer: get!(allow_foreign_data_peer).unwrap_or(false),
        login_fail_delay: Duration::from_millis(login_delay_ms),
        auth_cache_ttl: secs(get!(auth_cache_ttl).unwrap_or(AUTH_CACHE_TTL)),
        tls_policy,
        tls_enabled: !no_tls,
        tls_cert: get!(tls_cert),
        tls_key: get!(tls_key),
        tls_reload_interval: secs(get!(tls_reload_interval).unwrap_or(TLS_RELOAD_INTERVAL)),
        quota_rescan: secs(get!(quota_rescan).unwrap_or(QUOTA_RESCAN)),
        event_exec: get!(event_exec).unwrap_or_default(),
        event_webhook: get!(event_webhook)
            .unwrap_or_default()
            .into_iter()
            .map(|u| u.0)
            .collect(),
        event_webhook_sync: get!(event_webhook_sync).map(|u| u.0),
        event_timeout: secs(get!(event_timeout).unwrap_or(EVENT_TIMEOUT).max(1)),
        implicit_listen: get!(implicit_listen).unwrap_or_default(),
        tls_sniff: Duration::from_millis(get!(tls_sniff_ms).unwrap_or(TLS_SNIFF_MS).min(5000)),
        tls_require_reuse: !get!(no_tls_reuse_required).unwrap_or(false),
        tls_reuse_optional_from: get!(tls_reuse_optional_from).unwrap_or_default(),
        tls_strict_eof: get!(tls_strict_eof).unwrap_or(false),
        abuse: AbuseConfig {
            ban_after: get!(ban_after).unwrap_or(BAN_AFTER),
            ban_window: secs(get!(ban_window).unwrap_or(BAN_WINDOW).max(1)),
            ban_time: secs(get!(ban_time).unwrap_or(BAN_TIME).max(1)),
            login_delay_max: Duration::from_millis(
                get!(login_delay_max_ms)
                    .unwrap_or(LOGIN_DELAY_MAX_MS)
                    .max(login_delay_ms),
            ),
            anonymous_upload_dir: get!(anonymous_upload_dir),
            anonymous_max_sessions: get!(anonymous_max_sessions)
                .unwrap_or(ANONYMOUS_MAX_SESSIONS)
                .max(1),
            anonymous_upload_max_bytes: get!(anonymous_upload_max_bytes)
                .unwrap_or(ANONYMOUS_UPLOAD_MAX_BYTES)
                .0,
            anonymous_rate: rate(get!(anonymous_rate)),
            rate_session: rate(get!(rate_session)),
            rate_user: rate(get!(rate_user)),
            rate_global: rate(get!(rate_global)),
        },
        ops: OpsConfig {
            config_file: get!(config),
            xferlog: get!(xferlog),
            metrics_listen: get!(metrics_listen),
            drain_timeout: secs(get!(drain_timeout).unwrap_or(DRAIN_TIMEOUT)),
            user: get!(user),
            sandbox,
            seccomp: get!(seccomp).unwrap_or(false),
            proxy_protocol: get!(proxy_protocol).unwrap_or(false),
            proxy_trusted: get!(proxy_trusted).unwrap_or_default(),
            passive_networks,
            allow_root: get!(allow_root).unwrap_or(false),
            metrics_public: get!(metrics_public).unwrap_or(false),
            log_format: get!(log_format).unwrap_or(LOG_FORMAT),
        },
        s3: S3Settings {
            endpoint: get!(s3_endpoint),
            region: get!(s3_region),
            access_key_id: get!(s3_access_key_id),
            secret_access_key: get!(s3_secret_access_key).map(|s| s.0),
            session_token: None,
            virtual_host_style: get!(s3_virtual_host_style).unwrap_or(false),
            part_size: get!(s3_part_size)
                .unwrap_or(S3_PART_SIZE)
                .clamp(5, 5 * 1024)
                << 20,
            concurrency: get!(s3_concurrency).unwrap_or(S3_CONCURRENCY).clamp(1, 64),
        },
        hash: HashLimits {
            max_bytes: get!(hash_max_bytes).unwrap_or(HASH_MAX_BYTES),
            anonymous: get!(anonymous_hash).unwrap_or(false),
        },
        admin_listen: get!(admin_listen),
        upload_mode: get!(upload_mode).unwrap_or(UPLOAD_MODE).0,
        max_streams: get!(max_streams).unwrap_or(MAX_STREAMS).min(64),
        perf_marker_interval: secs(get!(perf_marker_interval).unwrap_or(PERF_MARKER_INTERVAL)),
        auth: get!(auth)
            .unwrap_or_else(|| AUTH.parse::<AuthSources>().expect("static default"))
            .0,
        pam: PamConfig {
            service: get!(pam_service).unwrap_or_else(|| PAM_SERVICE.into()),
            root: get!(pam_root),
            perms: get!(pam_perms).unwrap_or_else(|| PAM_PERMS.into()),
            min_uid: get!(pam_min_uid).unwrap_or(PAM_MIN_UID),
        },
    };
    check(&c)?;
    Ok(c)
}

/// The TLS policy one layer (the flags, or the file) states, if any.
fn tls_required(s: &Settings) -> Option<TlsPolicy> {
    s.tls_required.or(match (s.require_tls, s.no_tls_required) {
        (_, Some(true)) => Some(TlsPolicy::Never),
        (Some(true), _) => Some(TlsPolicy::Always),
        (Some(false), _) | (_, Some(false)) => Some(TLS_REQUIRED),
        (None, None) => None,
    })
}

/// Settings that cannot work together, refused before anything starts.
fn check(c: &Config) -> Result<(), ConfigError> {
    if c.ops.proxy_protocol && c.ops.proxy_trusted.is_empty() {
        return Err(ConfigError::conflict(
            "--proxy-protocol needs --proxy-trusted CIDR (repeatable; config key \
             proxy_trusted = [\"10.0.0.0/8\"]) naming the load balancers allowed to send \
             PROXY headers: otherwise any client could claim any address",
        ));
    }
    if !c.event_exec.is_empty() && c.ops.seccomp {
        return Err(ConfigError::conflict(
            "--event-exec runs a program (execve), which --seccomp forbids: use one or the other",
        ));
    }
    Ok(())
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
        let s = Settings {
            root: Some(root),
            users: Some(users_file),
            state_dir: Some(state_dir),
            ..Default::default()
        };
        resolve(s, Settings::default()).expect("the defaults resolve")
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
    pub log_format: values::LogFormat,
}
