//! The configuration file (`kftpd --config FILE`, `kftpd check-config FILE`).
//!
//! One TOML file whose keys mirror the long flags (`max_per_ip` for `--max-per-ip`), plus a
//! few that only make sense in a file (`passive_networks`, `stall_timeout`, ...). Every key is
//! documented in `kftpd.example.toml` at the repository root. Precedence, lowest first:
//! built-in defaults, the file, environment variables, flags. Unknown keys are errors, and
//! every error names the file, line, column and key, and what was expected.

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::ops::PassiveNet;
use clap::parser::ValueSource;
use clap::ArgMatches;
use serde::Deserialize;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The file, as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<Vec<SocketAddr>>,
    root: Option<PathBuf>,
    users: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    passive_ports: Option<Spanned<String>>,
    passive_address: Option<IpAddr>,
    passive_networks: Option<Vec<NetEntry>>,
    data_path: Option<Spanned<String>>,
    buffer_size: Option<usize>,
    anonymous: Option<bool>,
    max_sessions: Option<usize>,
    max_per_ip: Option<usize>,
    idle_timeout: Option<u64>,
    data_timeout: Option<u64>,
    max_streams: Option<usize>,
    allow_foreign_data_peer: Option<bool>,
    require_tls: Option<bool>,
    no_tls_required: Option<bool>,
    implicit_listen: Option<Vec<SocketAddr>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_reload_interval: Option<u64>,
    quota_rescan: Option<u64>,
    event_exec: Option<PathBuf>,
    event_timeout: Option<u64>,
    no_tls: Option<bool>,
    tls_sniff_ms: Option<u64>,
    no_tls_reuse_required: Option<bool>,
    tls_reuse_optional_from: Option<Vec<ipnet::IpNet>>,
    tls_strict_eof: Option<bool>,
    hash_max_bytes: Option<u64>,
    anonymous_hash: Option<bool>,
    upload_mode: Option<Spanned<u32>>,
    log_format: Option<Spanned<String>>,
    xferlog: Option<PathBuf>,
    metrics_listen: Option<SocketAddr>,
    drain_timeout: Option<u64>,
    user: Option<String>,
    sandbox: Option<bool>,
    seccomp: Option<bool>,
    proxy_protocol: Option<bool>,
    // Network trust and login deadline (issue #14).
    proxy_trusted: Option<Vec<ipnet::IpNet>>,
    login_timeout: Option<u64>,
    // Deployment hardening (issue #14).
    allow_root: Option<bool>,
    metrics_public: Option<bool>,
    auth_cache_ttl: Option<u64>,
    // Abuse resistance (see `limits`).
    max_per_user: Option<usize>,
    ban_after: Option<u32>,
    ban_window: Option<u64>,
    ban_time: Option<u64>,
    login_delay_ms: Option<u64>,
    login_delay_max_ms: Option<u64>,
    stall_timeout: Option<u64>,
    anonymous_upload_dir: Option<String>,
    anonymous_max_sessions: Option<usize>,
    anonymous_upload_max_bytes: Option<u64>,
    anonymous_rate: Option<u64>,
    rate_session: Option<u64>,
    rate_user: Option<u64>,
    rate_global: Option<u64>,
    // Object storage (see `storage::s3args`).
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_virtual_host_style: Option<bool>,
    s3_part_size: Option<usize>,
    s3_concurrency: Option<usize>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<String>,
    // Admin API (see `admin`).
    admin_listen: Option<SocketAddr>,
}

/// One `passive_networks` entry: clients in `network` are told `address` in 227 replies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetEntry {
    network: Spanned<String>,
    address: IpAddr,
}

/// A configuration error with its place in the file.
#[derive(Debug)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub pos: Option<(usize, usize)>,
    /// The key (dotted for nested tables), when known.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((l, c)) = self.pos {
            write!(f, ":{l}:{c}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": key `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// 1-based (line, column) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor(text, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The largest char boundary at or below `i`.
fn floor(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The key a byte offset belongs to: the `key =` on its line, prefixed by the nearest
/// `[table]` header above it.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let (line_no, _) = line_col(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_no.checked_sub(1)?)?.trim();
    let key = if let Some((k, _)) = line.split_once('=') {
        k.trim().trim_start_matches('{').trim().to_string()
    } else if line.starts_with('[') {
        line.trim_matches(['[', ']']).trim().to_string()
    } else {
        return None;
    };
    // An inline table entry (`{ network = "..", .. }`): name the last key before the offset.
    let key = {
        let start = text[..floor(text, offset)].rfind('\n').map_or(0, |i| i + 1);
        let upto = &text[start..floor(text, offset)];
        match upto.rsplit_once(['{', ',']) {
            Some((_, tail)) if tail.contains('=') => tail
                .split('=')
                .next()
                .map(|k| k.trim().to_string())
                .unwrap_or(key),
            _ => key,
        }
    };
    let table = lines[..line_no - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(['[', ']']).trim().to_string());
    Some(match table {
        Some(t) if !line.starts_with('[') => format!("{t}.{key}"),
        _ => key,
    })
}

impl FileConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            pos: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates `text` (read from `path`).
    pub fn parse(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            let span = e.span();
            let message = e.message().trim().to_string();
            // For an unknown key serde names it in the message; the span points at it.
            let key = span.as_ref().and_then(|s| {
                message
                    .strip_prefix("unknown field `")
                    .and_then(|m| m.split('`').next())
                    .map(str::to_string)
                    .or_else(|| key_at(text, s.start))
            });
            ConfigError {
                file: path.to_path_buf(),
                pos: span.map(|s| line_col(text, s.start)),
                key,
                message,
            }
        })?;
        file.validate(path, text)?;
        Ok(file)
    }

    fn validate(&self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let err = |span: std::ops::Range<usize>, key: &str, message: String| ConfigError {
            file: path.to_path_buf(),
            pos: Some(line_col(text, span.start)),
            key: Some(key.to_string()),
            message,
        };
        if let Some(p) = &self.passive_ports {
            crate::cli::parse_range(p.get_ref()).map_err(|m| err(p.span(), "passive_ports", m))?;
        }
        if let Some(d) = &self.data_path {
            d.get_ref()
                .parse::<kftp_datapath::PathChoice>()
                .map_err(|_| {
                    err(
                        d.span(),
                        "data_path",
                        format!(
                            "expected \"kernel\", \"copy\" or \"auto\", found {:?}",
                            d.get_ref()
                        ),
                    )
                })?;
        }
        if let Some(m) = &self.upload_mode {
            if *m.get_ref() > 0o777 {
                return Err(err(
                    m.span(),
                    "upload_mode",
                    format!(
                        "expected permission bits such as 0o640 (at most 0o777), found {:o}",
                        m.get_ref()
                    ),
                ));
            }
        }
        if let Some(f) = &self.log_format {
            if !matches!(f.get_ref().as_str(), "text" | "json") {
                return Err(err(
                    f.span(),
                    "log_format",
                    format!("expected \"text\" or \"json\", found {:?}", f.get_ref()),
                ));
            }
        }
        for n in self.passive_networks.iter().flatten() {
            PassiveNet::parse(n.network.get_ref(), n.address)
                .map_err(|m| err(n.network.span(), "passive_networks.network", m))?;
        }
        Ok(())
    }

    /// Fills in every `args` field that the command line and the environment left at its
    /// default.
    pub fn apply_to_args(&self, args: &mut ServeArgs, m: &ArgMatches) {
        let unset = |id: &str| {
            !matches!(
                m.value_source(id),
                Some(ValueSource::CommandLine) | Some(ValueSource::EnvVariable)
            )
        };
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    if unset(stringify!($field)) {
                        args.$field = v.clone().into();
                    }
                }
            )*};
        }
        macro_rules! take_in {
            ($group:ident: $($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    if unset(stringify!($field)) {
                        args.$group.$field = v.clone().into();
                    }
                }
            )*};
        }
        take!(
            listen,
            root,
            users,
            state_dir,
            passive_address,
            buffer_size,
            anonymous,
            max_sessions,
            max_per_ip,
            idle_timeout,
            data_timeout,
            max_streams,
            allow_foreign_data_peer,
            require_tls,
            no_tls_required,
            implicit_listen,
            tls_cert,
            tls_key,
            no_tls,
            tls_sniff_ms,
            no_tls_reuse_required,
            tls_reuse_optional_from,
            tls_strict_eof,
            hash_max_bytes,
            anonymous_hash
        );
        take_in!(ops: xferlog, metrics_listen, drain_timeout, user, seccomp, proxy_protocol);
        // `sandbox = false` in the file is --no-sandbox, unless a flag said either.
        if let Some(on) = self.sandbox {
            if unset("sandbox") && unset("no_sandbox") {
                args.ops.sandbox = on;
                args.ops.no_sandbox = !on;
            }
        }
        take_in!(ops: proxy_trusted);
        take!(tls_reload_interval);
        take!(quota_rescan);
        take!(event_exec, event_timeout);
        take!(login_timeout);
        take_in!(ops: allow_root, metrics_public);
        take!(auth_cache_ttl);
        take_in!(
            abuse: max_per_user,
            ban_after,
            ban_window,
            ban_time,
            login_delay_ms,
            login_delay_max_ms,
            stall_timeout,
            anonymous_upload_dir,
            anonymous_max_sessions,
            anonymous_upload_max_bytes,
            anonymous_rate,
            rate_session,
            rate_user,
            rate_global
        );
        take_in!(
            s3: s3_endpoint,
            s3_region,
            s3_virtual_host_style,
            s3_part_size,
            s3_concurrency,
            s3_access_key_id,
            s3_secret_access_key
        );
        take_in!(admin: admin_listen);
        if let Some(p) = &self.passive_ports {
            if unset("passive_ports") {
                args.passive_ports = crate::cli::parse_range(p.get_ref()).ok();
            }
        }
        if let Some(d) = &self.data_path {
            if unset("data_path") {
                if let Ok(d) = d.get_ref().parse() {
                    args.data_path = d;
                }
            }
        }
        if let Some(m) = &self.upload_mode {
            if unset("upload_mode") {
                args.upload_mode = *m.get_ref();
            }
        }
        if let Some(f) = &self.log_format {
            if unset("log_format") {
                args.log_format = f.get_ref().clone();
            }
        }
        if args.require_tls && args.no_tls_required {
            // The file said one and a flag the other: the flag wins.
            if unset("require_tls") {
                args.require_tls = false;
            } else {
                args.no_tls_required = false;
            }
        }
    }

    /// Settings that only exist in the file, applied to the resolved configuration.
    pub fn apply_to_config(&self, c: &mut Config) {
        c.ops.passive_networks = self.passive_networks();
    }

    /// The split-horizon passive addresses (reloadable).
    pub fn passive_networks(&self) -> Vec<PassiveNet> {
        self.passive_networks
            .iter()
            .flatten()
            .filter_map(|n| PassiveNet::parse(n.network.get_ref(), n.address).ok())
            .collect()
    }
}

/// `kftpd check-config [FILE]`: validates and prints what it checked.
pub fn check_cmd(file: Option<&Path>) -> anyhow::Result<()> {
    let path =
        file.ok_or_else(|| anyhow::anyhow!("check-config: name a file (or pass --config)"))?;
    FileConfig::load(path)?;
    println!("{}: ok", path.display());
    Ok(())
}

/// Applies `--config` (if given) under the flags and environment; returns the file for the
/// settings only a file can hold.
pub fn merge(args: &mut ServeArgs, m: &ArgMatches) -> Result<Option<FileConfig>, ConfigError> {
    let Some(path) = args.ops.config.clone() else {
        return Ok(None);
    };
    let file = FileConfig::load(&path)?;
    file.apply_to_args(args, m);
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, String> {
        FileConfig::parse(Path::new("k.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../../../kftpd.example.toml");
        parse(text).unwrap();
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = parse("anonymous = true\n\nmax_per_iq = 3\n").unwrap_err();
        assert!(
            e.starts_with("k.toml:3:1: key `max_per_iq`: unknown field"),
            "{e}"
        );
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let e = parse("anonymous = true\nmax_sessions = \"many\"\n").unwrap_err();
        assert!(
            e.starts_with("k.toml:2:16: key `max_sessions`: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_line_and_key() {
        let e = parse("passive_ports = \"9-3\"\n").unwrap_err();
        assert!(e.starts_with("k.toml:1:17: key `passive_ports`"), "{e}");
        let e = parse(
            "\npassive_networks = [\n { network = \"10.0.0.0/33\", address = \"10.0.0.5\" },\n]\n",
        )
        .unwrap_err();
        assert!(
            e.starts_with("k.toml:3:14: key `passive_networks.network`"),
            "{e}"
        );
        let e = parse("data_path = \"warp\"\n").unwrap_err();
        assert!(e.contains("key `data_path`: expected"), "{e}");
    }

    #[test]
    fn proxy_trusted_and_login_timeout() {
        let f =
            parse("proxy_trusted = [\"10.0.0.0/8\", \"fd00::/8\"]\nlogin_timeout = 30\n").unwrap();
        assert_eq!(f.proxy_trusted.as_ref().map(Vec::len), Some(2));
        assert_eq!(f.login_timeout, Some(30));
        let e = parse("\nproxy_trusted = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(e.starts_with("k.toml:2:"), "{e}");
        assert!(e.contains("key `proxy_trusted`"), "{e}");
    }
}
