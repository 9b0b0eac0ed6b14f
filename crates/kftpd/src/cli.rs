//! Command-line interface: `kftpd` (serve) and `kftpd user add`.

use crate::config::{Config, TlsPolicy};
use clap::{Args, Parser, Subcommand};
use kftp_datapath::PathChoice;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// kftpd: a fast, secure-by-default FTP server.
///
/// With no arguments it serves ./public on 127.0.0.1:2121, keeps its state in
/// ./.kftpd-state, and prints how to log in.
#[derive(Parser, Debug)]
#[command(name = "kftpd", about, long_about)]
#[command(version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KFTP_BUILD"), ")"))]
pub struct Cli {
    /// Subcommand; without one, run the server.
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// Server options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Manage accounts in the users file.
    #[command(subcommand)]
    User(UserCmd),
    /// Validate a configuration file (default: --config) and report the first error with
    /// its file, line, key and what was expected.
    CheckConfig {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Talk to a running server's admin API (--admin-listen): list or end sessions, list
    /// users, reload.
    Admin(crate::admin::client::AdminCli),
}

/// `kftpd user ...`
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create or update an account (password from a prompt, or stdin with --password-stdin).
    ///
    /// Example: printf 'secret\n' | kftpd user add alice --users users.toml --root /srv/alice --password-stdin
    Add {
        /// Login name.
        name: String,
        /// Users file to edit (created if missing).
        #[arg(long, default_value = ".kftpd-state/users.toml", env = "KFTPD_USERS")]
        users: PathBuf,
        /// The user's root directory (default: the server's --root).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Permissions, comma-separated: list,read,write,append,delete,rename,mkdir,chmod or
        /// all (chmod: SITE CHMOD, permission bits only).
        #[arg(long, value_delimiter = ',')]
        perms: Option<Vec<String>>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Whether this account's PROT P data connections must resume the control
        /// connection's TLS session: `optional` for clients that cannot (Java's Commons Net
        /// FTPSClient, Python's ftplib.FTP_TLS, gvfs), `required` to enforce it even where
        /// the server relaxes it, `default` for the server's policy.
        #[arg(long, value_parser = ["required", "optional", "default"])]
        tls_reuse: Option<String>,
        /// Disk quota: bytes under the account's root (uploads past it get 552).
        #[arg(long, value_name = "N")]
        quota_bytes: Option<u64>,
        /// Disk quota: files under the account's root.
        #[arg(long, value_name = "N")]
        quota_files: Option<u64>,
        /// Bytes the account may upload per UTC day.
        #[arg(long, value_name = "N")]
        quota_upload_per_day: Option<u64>,
        /// Bytes the account may download per UTC day.
        #[arg(long, value_name = "N")]
        quota_download_per_day: Option<u64>,
    },
}

/// Options of the server itself.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (repeat for several; use [::1]:2121 for IPv6).
    #[arg(long, default_value = "127.0.0.1:2121", env = "KFTPD_LISTEN")]
    pub listen: Vec<SocketAddr>,
    /// Directory served to users without a root of their own (created if missing), or
    /// s3://bucket/prefix to serve them from object storage (see the --s3-* options).
    #[arg(long, default_value = "public", env = "KFTPD_ROOT")]
    pub root: PathBuf,
    /// Users file (default: <state-dir>/users.toml, created with one account if missing).
    #[arg(long, env = "KFTPD_USERS")]
    pub users: Option<PathBuf>,
    /// Where kftpd keeps its own files.
    #[arg(long, default_value = ".kftpd-state", env = "KFTPD_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Passive data ports, e.g. 30000-30099 (default: any free port).
    #[arg(long, value_parser = parse_range)]
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Address to advertise in PASV replies (behind NAT).
    #[arg(long)]
    pub passive_address: Option<IpAddr>,
    /// Data path: kernel (sendfile/splice), copy (user-space loop) or auto.
    #[arg(long, default_value = "auto")]
    pub data_path: PathChoice,
    /// Copy-loop buffer size in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub buffer_size: usize,
    /// Allow anonymous (read-only) logins as `anonymous` or `ftp`.
    #[arg(long)]
    pub anonymous: bool,
    /// Maximum concurrent sessions.
    #[arg(long, default_value_t = 2000)]
    pub max_sessions: usize,
    /// Maximum concurrent sessions per client address.
    #[arg(long, default_value_t = 64)]
    pub max_per_ip: usize,
    /// Close control connections idle for this many seconds.
    #[arg(long, default_value_t = 300)]
    pub idle_timeout: u64,
    /// Seconds to wait for a data connection.
    #[arg(long, default_value_t = 30)]
    pub data_timeout: u64,
    /// Most data streams one MODE E (GridFTP extended block) transfer may use; 0 turns
    /// MODE E off (at most 64).
    #[arg(long, default_value_t = 16)]
    pub max_streams: usize,
    /// Close sessions not logged in within this many seconds (421), whatever they send.
    #[arg(long, default_value_t = 60)]
    pub login_timeout: u64,
    /// Seconds a successful login is remembered (a keyed MAC, never the password), so
    /// repeated logins skip Argon2id; wrong passwords always pay it (0 turns this off;
    /// at most 86400).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub auth_cache_ttl: u64,
    /// Accept data connections from, and PORT to, hosts other than the control peer.
    #[arg(long)]
    pub allow_foreign_data_peer: bool,
    /// Require TLS before login even on loopback.
    #[arg(long, conflicts_with = "no_tls_required")]
    pub require_tls: bool,
    /// Allow clear-text logins on every listener (logs a warning).
    #[arg(long)]
    pub no_tls_required: bool,
    /// Listen for implicit FTPS (TLS from the first byte) on this address (repeatable).
    #[arg(long)]
    pub implicit_listen: Vec<SocketAddr>,
    /// PEM certificate chain (default: a self-signed certificate in the state directory).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between checks of --tls-cert/--tls-key for a renewal (certbot, ACME clients):
    /// changed files that parse are loaded for new handshakes, sessions go on (0: off).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub tls_reload_interval: u64,
    /// Seconds a user's disk usage is trusted before their root is walked again (at a
    /// login, STOR, SITE QUOTA or AVBL): files put there outside kftpd count after this.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub quota_rescan: u64,
    /// Run PROGRAM with one JSON object on stdin for each login, logout, upload, download,
    /// delete, rename, mkdir and rmdir (user, peer, path, size, duration, data path). Runs
    /// are queued (bounded; never waited for by a session) and run one at a time.
    #[arg(long, value_name = "PROGRAM")]
    pub event_exec: Option<PathBuf>,
    /// Seconds one run of --event-exec may take before it is killed.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub event_timeout: u64,
    /// Disable TLS entirely (AUTH TLS is refused; implies --no-tls-required).
    #[arg(long)]
    pub no_tls: bool,
    /// Milliseconds a plain listener waits for a TLS ClientHello before greeting in clear,
    /// so one port serves implicit and explicit FTPS (0 turns this off).
    #[arg(long, default_value_t = 25)]
    pub tls_sniff_ms: u64,
    /// Let every PROT P data connection skip resuming the control TLS session. Prefer
    /// relaxing it for one account (`kftpd user add NAME --tls-reuse optional`) or one
    /// network (--tls-reuse-optional-from): the check stops passive-port theft.
    #[arg(long)]
    pub no_tls_reuse_required: bool,
    /// Clients in this network (CIDR, repeatable) need not resume the control TLS session
    /// on PROT P data connections, e.g. an office of Java or gvfs users.
    #[arg(long, value_name = "CIDR")]
    pub tls_reuse_optional_from: Vec<ipnet::IpNet>,
    /// Refuse TLS uploads that end without a TLS close_notify (keep them as resumable part
    /// files, reply 426). Off by default: many clients close that way, and vsftpd, proftpd
    /// and pure-ftpd accept it; with it on, a forged FIN cannot cut an upload short unseen.
    #[arg(long)]
    pub tls_strict_eof: bool,
    /// Largest byte range one HASH/XMD5/XSHA*/XCRC may digest (default 16 GiB); larger files
    /// are hashed in parts with RANG. Digests follow the session's rate limits and stop on
    /// ABOR, QUIT or disconnect.
    #[arg(long, default_value_t = 16 << 30, value_name = "BYTES")]
    pub hash_max_bytes: u64,
    /// Let anonymous sessions use HASH and the X* digests (off: each costs disk and CPU).
    #[arg(long)]
    pub anonymous_hash: bool,
    /// Mode of files created by uploads (octal; the process umask still applies). 0640:
    /// the owner and its group read, nobody else.
    #[arg(long, value_parser = parse_mode, default_value = "0640", value_name = "OCTAL")]
    pub upload_mode: u32,
    /// Limits: sessions per user, failed-login bans, anonymous, bandwidth, stalls.
    #[command(flatten)]
    pub abuse: crate::limits::AbuseArgs,
    /// Object storage (for users whose root is s3://bucket/prefix).
    #[command(flatten)]
    pub s3: crate::storage::s3args::S3Args,
    /// Log format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Configuration file, transfer log, metrics, drain, privileges, sandbox, PROXY protocol.
    #[command(flatten)]
    pub ops: crate::ops::OpsArgs,
    /// Admin API.
    #[command(flatten)]
    pub admin: crate::admin::AdminArgs,
}

/// Parses an octal file mode such as `0640` (permission bits only, at most 0777).
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let m = u32::from_str_radix(s.trim().trim_start_matches("0o"), 8)
        .map_err(|_| format!("expected an octal mode such as 0640, found {s:?}"))?;
    if m > 0o777 {
        return Err(format!("only permission bits (at most 0777), found {s:?}"));
    }
    Ok(m)
}

/// Parses a port range `LOW-HIGH` (also used for the config file).
pub fn parse_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or("expected LOW-HIGH, e.g. 30000-30099")?;
    let a: u16 = a.trim().parse().map_err(|_| format!("bad port '{a}'"))?;
    let b: u16 = b.trim().parse().map_err(|_| format!("bad port '{b}'"))?;
    if a == 0 || a > b {
        return Err("range must be LOW-HIGH with 0 < LOW <= HIGH".into());
    }
    Ok(a..=b)
}

impl ServeArgs {
    /// The resolved configuration.
    pub fn to_config(&self) -> Config {
        let users = self
            .users
            .clone()
            .unwrap_or_else(|| self.state_dir.join("users.toml"));
        let mut c = Config::new(self.root.clone(), users, self.state_dir.clone());
        c.listen = self.listen.clone();
        c.passive_ports = self.passive_ports.clone();
        c.passive_address = self.passive_address;
        c.data_path = self.data_path;
        c.buf_size = self.buffer_size.clamp(4096, 64 << 20);
        c.anonymous = self.anonymous;
        c.max_sessions = self.max_sessions.max(1);
        c.max_per_ip = self.max_per_ip.max(1);
        c.idle_timeout = Duration::from_secs(self.idle_timeout.max(1));
        c.data_timeout = Duration::from_secs(self.data_timeout.max(1));
        c.max_streams = self.max_streams.min(64);
        c.login_timeout = Duration::from_secs(self.login_timeout.max(1));
        c.auth_cache_ttl = Duration::from_secs(self.auth_cache_ttl);
        c.allow_foreign_data_peer = self.allow_foreign_data_peer;
        c.tls_enabled = !self.no_tls;
        c.tls_cert = self.tls_cert.clone();
        c.tls_key = self.tls_key.clone();
        c.tls_reload_interval = Duration::from_secs(self.tls_reload_interval);
        c.quota_rescan = Duration::from_secs(self.quota_rescan);
        c.event_exec = self.event_exec.clone();
        c.event_timeout = Duration::from_secs(self.event_timeout.max(1));
        c.implicit_listen = self.implicit_listen.clone();
        c.tls_sniff = Duration::from_millis(self.tls_sniff_ms.min(5000));
        c.tls_require_reuse = !self.no_tls_reuse_required;
        c.tls_reuse_optional_from = self.tls_reuse_optional_from.clone();
        c.tls_strict_eof = self.tls_strict_eof;
        c.hash = crate::config::HashLimits {
            max_bytes: self.hash_max_bytes,
            anonymous: self.anonymous_hash,
        };
        self.abuse.apply(&mut c);
        c.upload_mode = self.upload_mode;
        c.ops = self.ops.to_config();
        c.s3 = self.s3.to_settings();
        c.admin_listen = self.admin.admin_listen;
        c.tls_policy = if self.require_tls {
            TlsPolicy::Always
        } else if self.no_tls_required || self.no_tls {
            TlsPolicy::Never
        } else {
            TlsPolicy::NonLoopback
        };
        c
    }
}
