//! Configuration, written once.
//!
//! - [`settings`]: [`Settings`], one flat struct that is both the server's flags (clap)
//!   and its TOML file (serde): every field an `Option`, the TOML key the long flag with
//!   `_`, the default a `const` beside the field.
//! - [`file`]: reading the file, with errors that name file, line, column and key.
//! - [`values`]: value types that parse alike from a flag and from the file (port range,
//!   mode, byte rates, the enums).
//! - [`resolve()`]: defaults < file < environment < flags, into [`Config`], plain data that
//!   sessions read ([`resolved`], [`s3`]).
//!
//! Nothing here imports a runtime module: the rest of the crate depends on `config`,
//! never the other way round.
//!
//! # Adding a setting: two edits
//! 1. A field in [`Settings`] (its doc comment is the `--help` text; `#[arg(long)]`, plus
//!    `env = "KFTPD_..."` if it should have a variable, plus `default_value_t = CONST`
//!    with a `const` beside it if it has a default). That makes the flag and the TOML key.
//! 2. Its field in [`Config`] (or a sub-struct) and the line in [`resolve()`] that fills
//!    it: `get!(name).unwrap_or(CONST)` (the compiler points at the missing field).
//!
//! Then a line in `kftpd.example.toml` (a unit test parses it).

pub mod file;
pub mod resolved;
pub mod s3;
pub mod settings;
pub mod values;

pub use file::{check_cmd, load, ConfigError};
pub use resolved::{AbuseConfig, Config, HashLimits, OpsConfig, PassiveNet, TlsPolicy};
pub use s3::{S3Settings, MIN_PART};
pub use settings::Settings;
pub use values::{DataPath, LogFormat, TlsReuse};

use settings::*;
use std::time::Duration;

/// `cmd` as a parser of what was actually said: every default of its arguments moves into
/// the help text (`[default: X]`) and out of the parser, so an unset flag parses as `None`
/// and [`resolve()`] can put the file under it. Flags of type `bool` take no value
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
        event_exec: get!(event_exec),
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
    if c.event_exec.is_some() && c.ops.seccomp {
        return Err(ConfigError::conflict(
            "--event-exec runs a program (execve), which --seccomp forbids: use one or the other",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
