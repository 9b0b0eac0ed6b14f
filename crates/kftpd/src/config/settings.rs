//! Every server setting, once: the flag, its `KFTPD_*` variable, the TOML key, the help
//! text and the default.
//!
//! Each field is both a long flag (`max_per_ip` is `--max-per-ip`) and a key of the
//! configuration file (`max_per_ip = 3`). Every field is an `Option`: `None` means "not
//! said here", so [`super::resolve`] can layer the file under the environment and the flags
//! and fill in the default (the `const` beside the field) only when nobody said anything.
//! `default_value = CONST.to_string()` shows the default in `--help` and the man page;
//! [`flags_only`] takes it out of the parser again so that an unset flag stays `None`.
//!
//! Flags of type `bool` take no value (`--anonymous`; `--anonymous=false` also works).

use super::values::{
    self, AuthSources, Bytes, DataPath, HttpUrl, LogFormat, Mode, NetEntry, PortRange, Secret,
    TlsPolicy,
};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Default `--listen`.
pub const LISTEN: &str = "127.0.0.1:2121";
/// Default `--root`.
pub const ROOT: &str = "public";
/// Default `--state-dir`.
pub const STATE_DIR: &str = ".kftpd-state";
/// Default `--data-path`.
pub const DATA_PATH: DataPath = DataPath::Auto;
/// Default `--buffer-size`.
pub const BUFFER_SIZE: usize = 1 << 20;
/// Default `--max-sessions`.
pub const MAX_SESSIONS: usize = 2000;
/// Default `--max-per-ip`.
pub const MAX_PER_IP: usize = 64;
/// Default `--idle-timeout`.
pub const IDLE_TIMEOUT: u64 = 300;
/// Default `--data-timeout`.
pub const DATA_TIMEOUT: u64 = 30;
/// Default `--login-timeout`.
pub const LOGIN_TIMEOUT: u64 = 60;
/// Default `--auth-cache-ttl`.
pub const AUTH_CACHE_TTL: u64 = 300;
/// Default `--tls-reload-interval`.
pub const TLS_RELOAD_INTERVAL: u64 = 10;
/// Default `--quota-rescan`.
pub const QUOTA_RESCAN: u64 = 60;
/// Default `--max-streams`.
pub const MAX_STREAMS: usize = 16;
/// Default `--perf-marker-interval`: globus-gridftp-server's.
pub const PERF_MARKER_INTERVAL: u64 = 5;
/// Default `--auth`.
pub const AUTH: &str = "file";
/// Default `--pam-service`.
pub const PAM_SERVICE: &str = "kftpd";
/// Default `--pam-perms`.
pub const PAM_PERMS: &str = "all";
/// Default `--pam-min-uid`.
pub const PAM_MIN_UID: u32 = 1000;
/// Default `--event-timeout`.
pub const EVENT_TIMEOUT: u64 = 10;
/// Default `--tls-required` (with TLS on; `--no-tls` makes it `never`).
pub const TLS_REQUIRED: TlsPolicy = TlsPolicy::NonLoopback;
/// Default `--tls-sniff-ms`: off. FTP clients wait for the server's greeting, so any wait
/// for a ClientHello is added to every plain and explicit-FTPS connection (25 ms capped
/// sequential logins at about 40/s, BENCHMARKS.md), and no wait fits every implicit
/// client: curl sends its ClientHello 2-3 ms after connecting, lftp 31 ms. Implicit FTPS
/// has its own port (`--implicit-listen`, usually 990).
pub const TLS_SNIFF_MS: u64 = 0;
/// Default `--hash-max-bytes` (16 GiB).
pub const HASH_MAX_BYTES: u64 = 16 << 30;
/// Default `--upload-mode`: the owner and its group read, nobody else.
pub const UPLOAD_MODE: Mode = Mode(0o640);
/// Default `--log-format`.
pub const LOG_FORMAT: LogFormat = LogFormat::Text;
/// Default `--max-per-user`.
pub const MAX_PER_USER: usize = 64;
/// Default `--ban-after`.
pub const BAN_AFTER: u32 = 5;
/// Default `--ban-window`.
pub const BAN_WINDOW: u64 = 60;
/// Default `--ban-time`.
pub const BAN_TIME: u64 = 300;
/// Default `--login-delay-ms`.
pub const LOGIN_DELAY_MS: u64 = 500;
/// Default `--login-delay-max-ms`.
pub const LOGIN_DELAY_MAX_MS: u64 = 8000;
/// Default `--stall-timeout`.
pub const STALL_TIMEOUT: u64 = 120;
/// Default `--anonymous-max-sessions`.
pub const ANONYMOUS_MAX_SESSIONS: usize = 50;
/// Default `--anonymous-upload-max-bytes` (100 MiB).
pub const ANONYMOUS_UPLOAD_MAX_BYTES: Bytes = Bytes(100 << 20);
/// Default of the bandwidth limits: unlimited.
pub const UNLIMITED: Bytes = Bytes(0);
/// Default `--s3-part-size`, MiB.
pub const S3_PART_SIZE: usize = 8;
/// Default `--s3-concurrency`.
pub const S3_CONCURRENCY: usize = 4;
/// Default `--drain-timeout`.
pub const DRAIN_TIMEOUT: u64 = 30;
/// Default of `sandbox`: Landlock on where the kernel has it.
pub const SANDBOX: bool = true;

/// The server's settings, as flags and as the configuration file.
///
/// The fields' doc comments are clap's `--help` text, written for a terminal
/// (`<state-dir>/users.toml`, `[::1]:2121`, bare URLs), not rustdoc markup.
#[allow(
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links
)]
#[derive(clap::Args, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    // --- Listening and files ---
    /// Address to listen on (repeat for several; use [::1]:2121 for IPv6).
    #[arg(long, env = "KFTPD_LISTEN", default_value = LISTEN)]
    pub listen: Option<Vec<SocketAddr>>,
    /// Listen for implicit FTPS (TLS from the first byte) on this address (repeatable).
    #[arg(long)]
    pub implicit_listen: Option<Vec<SocketAddr>>,
    /// Directory served to users without a root of their own (created if missing), or
    /// s3://bucket/prefix to serve them from object storage (see the --s3-* options).
    #[arg(long, env = "KFTPD_ROOT", default_value = ROOT)]
    pub root: Option<PathBuf>,
    /// Users file (default: <state-dir>/users.toml, created with one account if missing).
    #[arg(long, env = "KFTPD_USERS")]
    pub users: Option<PathBuf>,
    /// Where kftpd keeps its own files.
    #[arg(long, env = "KFTPD_STATE_DIR", default_value = STATE_DIR)]
    pub state_dir: Option<PathBuf>,
    /// Configuration file (TOML; see kftpd.example.toml). Flags and KFTPD_* variables
    /// override it. Reloaded on SIGHUP.
    #[arg(long, env = "KFTPD_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Mode of files created by uploads (octal; the process umask still applies). 0640:
    /// the owner and its group read, nobody else.
    #[arg(long, value_name = "OCTAL", default_value = UPLOAD_MODE.to_string())]
    pub upload_mode: Option<Mode>,

    // --- Passive mode, NAT and load balancers ---
    /// Passive data ports, e.g. 30000-30099 (default: a random free port of the kernel's
    /// ephemeral range, ip_local_port_range).
    #[arg(long)]
    pub passive_ports: Option<PortRange>,
    /// Address to advertise in PASV replies (behind NAT).
    #[arg(long)]
    pub passive_address: Option<IpAddr>,
    /// Split horizon (file only, reloaded on SIGHUP): clients in `network` are told
    /// `address` in 227 replies; first match wins.
    #[arg(skip)]
    pub passive_networks: Option<Vec<NetEntry>>,
    /// Expect a PROXY protocol v1 or v2 header on every control connection (behind a load
    /// balancer); the address it carries is the client's for limits, logs and data checks.
    /// Needs --proxy-trusted.
    #[arg(long)]
    pub proxy_protocol: Option<bool>,
    /// Load balancers allowed to send PROXY headers, as networks (repeatable), e.g.
    /// 10.0.0.0/8 or 192.0.2.10/32; required with --proxy-protocol. Connections from
    /// other peers are closed.
    #[arg(long, value_name = "CIDR")]
    pub proxy_trusted: Option<Vec<ipnet::IpNet>>,
    /// Accept data connections from, and PORT to, hosts other than the control peer.
    #[arg(long)]
    pub allow_foreign_data_peer: Option<bool>,

    // --- Data path ---
    /// Data path: kernel (sendfile/splice), copy (user-space loop) or auto.
    #[arg(long, value_enum, default_value = values::name(DATA_PATH))]
    pub data_path: Option<DataPath>,
    /// Copy-loop buffer size in bytes.
    #[arg(long, default_value = BUFFER_SIZE.to_string())]
    pub buffer_size: Option<usize>,

    // --- Sessions and timeouts ---
    /// Most data streams one MODE E (GridFTP extended block) transfer may use; 0 turns
    /// MODE E off (at most 64).
    #[arg(long, value_name = "N", default_value = MAX_STREAMS.to_string())]
    pub max_streams: Option<usize>,
    /// Seconds between the 112 performance markers (and, on MODE E uploads, 111 restart
    /// markers) sent during a MODE E transfer; 0: none.
    #[arg(long, value_name = "SECS", default_value = PERF_MARKER_INTERVAL.to_string())]
    pub perf_marker_interval: Option<u64>,
    /// Maximum concurrent sessions.
    #[arg(long, default_value = MAX_SESSIONS.to_string())]
    pub max_sessions: Option<usize>,
    /// Maximum concurrent sessions per client address.
    #[arg(long, default_value = MAX_PER_IP.to_string())]
    pub max_per_ip: Option<usize>,
    /// Close control connections idle for this many seconds.
    #[arg(long, default_value = IDLE_TIMEOUT.to_string())]
    pub idle_timeout: Option<u64>,
    /// Seconds to wait for a data connection.
    #[arg(long, default_value = DATA_TIMEOUT.to_string())]
    pub data_timeout: Option<u64>,
    /// Close sessions not logged in within this many seconds (421), whatever they send.
    #[arg(long, default_value = LOGIN_TIMEOUT.to_string())]
    pub login_timeout: Option<u64>,

    // --- Accounts and abuse resistance ---
    /// Allow anonymous (read-only) logins as `anonymous` or `ftp`.
    #[arg(long)]
    pub anonymous: Option<bool>,
    /// Seconds a successful login is remembered (a keyed MAC, never the password), so
    /// repeated logins skip Argon2id; wrong passwords always pay it (0 turns this off;
    /// at most 86400).
    #[arg(long, value_name = "SECS", default_value = AUTH_CACHE_TTL.to_string())]
    pub auth_cache_ttl: Option<u64>,
    /// Maximum concurrent sessions per user (checked at PASS).
    #[arg(long, default_value = MAX_PER_USER.to_string())]
    pub max_per_user: Option<usize>,
    /// Ban an address after this many failed logins within --ban-window (0: never).
    #[arg(long, default_value = BAN_AFTER.to_string())]
    pub ban_after: Option<u32>,
    /// Seconds in which failed logins are counted towards a ban.
    #[arg(long, default_value = BAN_WINDOW.to_string())]
    pub ban_window: Option<u64>,
    /// Seconds a banned address is refused at connect.
    #[arg(long, default_value = BAN_TIME.to_string())]
    pub ban_time: Option<u64>,
    /// Delay before answering the first failed login from an address, in milliseconds;
    /// it doubles with each further failure.
    #[arg(long, default_value = LOGIN_DELAY_MS.to_string())]
    pub login_delay_ms: Option<u64>,
    /// Cap of the growing failed-login delay, in milliseconds.
    #[arg(long, default_value = LOGIN_DELAY_MAX_MS.to_string())]
    pub login_delay_max_ms: Option<u64>,
    /// Abort a transfer that makes no progress for this many seconds.
    #[arg(long, default_value = STALL_TIMEOUT.to_string())]
    pub stall_timeout: Option<u64>,
    /// Anonymous upload-only folder, relative to the anonymous root: STOR is allowed
    /// there only (never overwriting), and nothing in it can be listed or downloaded.
    #[arg(long, requires = "anonymous")]
    pub anonymous_upload_dir: Option<String>,
    /// Maximum concurrent anonymous sessions.
    #[arg(long, default_value = ANONYMOUS_MAX_SESSIONS.to_string())]
    pub anonymous_max_sessions: Option<usize>,
    /// Largest file one anonymous upload may write, in bytes (suffixes as for
    /// --anonymous-rate; 0: no cap). Past it the upload ends with 552 and nothing is kept.
    #[arg(long, default_value = ANONYMOUS_UPLOAD_MAX_BYTES.to_string())]
    pub anonymous_upload_max_bytes: Option<Bytes>,
    /// Bandwidth of all anonymous sessions together, bytes/s (k, M, G suffixes: powers
    /// of 1000; Ki, Mi, Gi: powers of 1024; 0: unlimited).
    #[arg(long, default_value = UNLIMITED.to_string())]
    pub anonymous_rate: Option<Bytes>,
    /// Bandwidth per session, bytes/s (suffixes as for --anonymous-rate).
    #[arg(long, default_value = UNLIMITED.to_string())]
    pub rate_session: Option<Bytes>,
    /// Bandwidth per user, all their sessions together, bytes/s.
    #[arg(long, default_value = UNLIMITED.to_string())]
    pub rate_user: Option<Bytes>,
    /// Bandwidth of the whole server, bytes/s.
    #[arg(long, default_value = UNLIMITED.to_string())]
    pub rate_global: Option<Bytes>,
    /// Seconds a user's disk usage is trusted before their root is walked again (at a
    /// login, STOR, SITE QUOTA or AVBL): files put there outside kftpd count after this.
    #[arg(long, value_name = "SECS", default_value = QUOTA_RESCAN.to_string())]
    pub quota_rescan: Option<u64>,
    /// Largest byte range one HASH/XMD5/XSHA*/XCRC may digest; larger files are hashed in
    /// parts with RANG. Digests follow the session's rate limits and stop on ABOR, QUIT or
    /// disconnect.
    #[arg(long, value_name = "BYTES", default_value = HASH_MAX_BYTES.to_string())]
    pub hash_max_bytes: Option<u64>,
    /// Let anonymous sessions use HASH and the X* digests (off: each costs disk and CPU).
    #[arg(long)]
    pub anonymous_hash: Option<bool>,

    // --- System accounts (PAM) ---
    /// Where logins are checked, in order: `file` (the users file), `pam` (the machine's
    /// accounts, jailed to their home), `pam,file` or `file,pam`.
    #[arg(long, value_name = "SOURCES", default_value = AUTH)]
    pub auth: Option<AuthSources>,
    /// PAM service name: the stack in /etc/pam.d/NAME.
    #[arg(long, value_name = "NAME", default_value = PAM_SERVICE)]
    pub pam_service: Option<String>,
    /// Jail every PAM user here instead of their home directory; `{user}` is replaced by
    /// the login name (e.g. /srv/ftp/{user}).
    #[arg(long, value_name = "DIR")]
    pub pam_root: Option<String>,
    /// What PAM users may do (users-file permission names, comma-separated).
    #[arg(long, value_name = "PERMS", default_value = PAM_PERMS)]
    pub pam_perms: Option<String>,
    /// PAM accounts with a smaller uid (system and daemon accounts) are refused; root
    /// always is.
    #[arg(long, value_name = "UID", default_value = PAM_MIN_UID.to_string())]
    pub pam_min_uid: Option<u32>,

    // --- TLS ---
    /// When TLS is required before login: on listeners that are not loopback, always
    /// (loopback included), or never (clear-text logins everywhere; logs a warning).
    #[arg(long, value_enum, default_value = values::name(TLS_REQUIRED))]
    #[arg(conflicts_with_all = ["require_tls", "no_tls_required"])]
    pub tls_required: Option<TlsPolicy>,
    /// Require TLS before login even on loopback (--tls-required always).
    #[arg(long, conflicts_with = "no_tls_required")]
    pub require_tls: Option<bool>,
    /// Allow clear-text logins on every listener (--tls-required never; logs a warning).
    #[arg(long)]
    pub no_tls_required: Option<bool>,
    /// Disable TLS entirely (AUTH TLS is refused; implies --no-tls-required).
    #[arg(long)]
    pub no_tls: Option<bool>,
    /// PEM certificate chain (default: a self-signed certificate in the state directory).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds between checks of --tls-cert/--tls-key for a renewal (certbot, ACME clients):
    /// changed files that parse are loaded for new handshakes, sessions go on (0: off).
    #[arg(long, value_name = "SECS", default_value = TLS_RELOAD_INTERVAL.to_string())]
    pub tls_reload_interval: Option<u64>,
    /// Milliseconds a plain listener waits for a TLS ClientHello before greeting in clear,
    /// so one port serves implicit and explicit FTPS. Off by default: every client that
    /// waits for the greeting (all plain and explicit-FTPS ones) would wait this long on
    /// each connection. Implicit FTPS clients take a few ms (curl) to 31 ms (lftp) to send
    /// their ClientHello; prefer --implicit-listen
    #[arg(long, default_value = TLS_SNIFF_MS.to_string())]
    pub tls_sniff_ms: Option<u64>,
    /// Let every PROT P data connection skip resuming the control TLS session. Prefer
    /// relaxing it for one account (`kftpd user add NAME --tls-reuse optional`) or one
    /// network (--tls-reuse-optional-from): the check stops passive-port theft.
    #[arg(long)]
    pub no_tls_reuse_required: Option<bool>,
    /// Clients in this network (CIDR, repeatable) need not resume the control TLS session
    /// on PROT P data connections, e.g. an office of Java or gvfs users.
    #[arg(long, value_name = "CIDR")]
    pub tls_reuse_optional_from: Option<Vec<ipnet::IpNet>>,
    /// Refuse TLS uploads that end without a TLS close_notify (keep them as resumable part
    /// files, reply 426). Off by default: many clients close that way, and vsftpd, proftpd
    /// and pure-ftpd accept it; with it on, a forged FIN cannot cut an upload short unseen.
    #[arg(long)]
    pub tls_strict_eof: Option<bool>,

    // --- Logs, metrics, events, admin ---
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = values::name(LOG_FORMAT))]
    pub log_format: Option<LogFormat>,
    /// Append a transfer log in xferlog format (as wu-ftpd and vsftpd) to this file.
    #[arg(long, env = "KFTPD_XFERLOG")]
    pub xferlog: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (off by default; keep it on loopback).
    #[arg(long, env = "KFTPD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Let --metrics-listen be a non-loopback address (the endpoint has no
    /// authentication: firewall it to the scraper). Without it kftpd refuses to start.
    #[arg(long)]
    pub metrics_public: Option<bool>,
    /// Run PROGRAM with one JSON object on stdin for each login, logout, upload, download,
    /// delete, rename, mkdir and rmdir (user, peer, path, size, duration, data path). Runs
    /// are queued (bounded; never waited for by a session) and run one at a time.
    /// Repeatable: each program gets every event.
    #[arg(long, value_name = "PROGRAM")]
    #[serde(default, deserialize_with = "values::one_or_many")]
    pub event_exec: Option<Vec<PathBuf>>,
    /// POST each event (the same JSON) to URL, queued like --event-exec, retried with
    /// backoff (3 tries). Repeatable.
    #[arg(long, value_name = "URL")]
    #[serde(default, deserialize_with = "values::one_or_many")]
    pub event_webhook: Option<Vec<HttpUrl>>,
    /// Ask URL (POST, the upload's JSON with `local_path`) before keeping each upload: the
    /// 226 waits for it; 2xx keeps the file, anything else or no answer within
    /// --event-timeout discards it with 550 and the first line of the answer.
    #[arg(long, value_name = "URL")]
    pub event_webhook_sync: Option<HttpUrl>,
    /// Seconds one run of --event-exec, or one webhook request, may take.
    #[arg(long, value_name = "SECS", default_value = EVENT_TIMEOUT.to_string())]
    pub event_timeout: Option<u64>,
    /// Serve the admin API (HTTP+JSON; sessions, users, reload) on this address, e.g.
    /// 127.0.0.1:2122. Bearer token in <state-dir>/admin-token. A non-loopback address is
    /// served over TLS with the FTPS certificate.
    #[arg(long, env = "KFTPD_ADMIN_LISTEN", value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,

    // --- Shutdown, privileges, sandbox ---
    /// Seconds running transfers get to finish after SIGTERM/SIGINT before sessions are
    /// told 421 and closed.
    #[arg(long, default_value = DRAIN_TIMEOUT.to_string())]
    pub drain_timeout: Option<u64>,
    /// Started as root: drop to this user (and its group) after binding and loading keys.
    #[arg(long)]
    pub user: Option<String>,
    /// Serve as root when started as root without --user (logs a warning at start and on
    /// every login). Without it kftpd refuses to start as root unless --user is given.
    #[arg(long)]
    pub allow_root: Option<bool>,
    /// Confine file access with Landlock to the served roots, state and log directories
    /// (the default where the kernel has Landlock; kept for older command lines).
    #[arg(long, conflicts_with = "no_sandbox")]
    pub sandbox: Option<bool>,
    /// Do not confine file access with Landlock (the file says `sandbox = false`).
    #[arg(long)]
    #[serde(skip)]
    pub no_sandbox: Option<bool>,
    /// Install a seccomp system-call allow-list (other calls fail with EPERM).
    #[arg(long)]
    pub seccomp: Option<bool>,

    // --- Object storage (users whose root is s3://bucket/prefix) ---
    /// S3-compatible endpoint for s3:// roots, e.g. http://127.0.0.1:3900 (Garage) or
    /// https://minio.example:9000 (default: $AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, env = "KFTPD_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region of the store (default: $AWS_REGION, else us-east-1; Garage's default is
    /// "garage").
    #[arg(long, env = "KFTPD_S3_REGION")]
    pub s3_region: Option<String>,
    /// Address buckets as https://BUCKET.host/ instead of https://host/BUCKET/.
    #[arg(long)]
    pub s3_virtual_host_style: Option<bool>,
    /// Multipart part size and ranged-GET chunk, in MiB (at least 5). A transfer holds up
    /// to about 2 x part size x (concurrency + 1) (measured peak for 8 x 4: ~110 MB).
    #[arg(long, value_name = "MIB", default_value = S3_PART_SIZE.to_string())]
    pub s3_part_size: Option<usize>,
    /// Parts uploaded, or chunks fetched, in parallel per transfer.
    #[arg(long, value_name = "N", default_value = S3_CONCURRENCY.to_string())]
    pub s3_concurrency: Option<usize>,
    /// Access key id (config file only, or $AWS_ACCESS_KEY_ID: a flag would show in `ps`).
    #[arg(skip)]
    pub s3_access_key_id: Option<String>,
    /// Secret key (config file only, or $AWS_SECRET_ACCESS_KEY).
    #[arg(skip)]
    pub s3_secret_access_key: Option<Secret>,
}

/// `cmd` as a parser of what was actually said: every default of its arguments moves into
/// the help text (`[default: X]`) and out of the parser, so an unset flag parses as `None`
/// and [`resolve()`](super::resolve()) can put the file under it. Flags of type `bool` take no value
/// (`--anonymous`, or `--anonymous=false` to override a file).
pub fn flags_only(cmd: clap::Command) -> clap::Command {
    cmd.mut_args(|mut a| {
        if a.get_value_parser().type_id() == std::any::TypeId::of::<bool>() {
            a = a
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .hide_possible_values(true);
        }
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        if defaults.is_empty() {
            return a;
        }
        let note = format!("[default: {}]", defaults.join(", "));
        let help = match a.get_help() {
            Some(h) => format!("{h} {note}"),
            None => note.clone(),
        };
        if let Some(long) = a.get_long_help() {
            let long = format!("{long}\n\n{note}");
            a = a.long_help(long);
        }
        a.help(help).default_value(None::<&'static str>)
    })
}
