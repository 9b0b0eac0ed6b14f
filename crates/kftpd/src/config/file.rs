//! The configuration file (`kftpd --config FILE`, `kftpd check-config FILE`): TOML whose
//! keys are the fields of [`Settings`], read into the same struct as the flags. Every
//! error names the file, line, column and key, and what was expected.

use super::settings::Settings;
use super::values::PassiveNet;
use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration error, with its place in the file when it comes from one.
#[derive(Debug)]
pub struct ConfigError {
    /// The file (`None`: the settings together, from wherever they came).
    pub file: Option<PathBuf>,
    /// 1-based line and column, when known.
    pub pos: Option<(usize, usize)>,
    /// The key (dotted for nested tables), when known.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ConfigError {
    /// An error about settings that cannot work together.
    pub fn conflict(message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: None,
            pos: None,
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some((l, c)) = self.pos {
                write!(f, ":{l}:{c}")?;
            }
            if let Some(k) = &self.key {
                write!(f, ": key `{k}`")?;
            }
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// 1-based (line, column) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
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

/// serde says "unknown variant `warp`, expected one of `kernel`, `copy`, `auto`"; say what
/// was expected first, as every other message does.
fn expected_first(message: String) -> String {
    let Some(rest) = message.strip_prefix("unknown variant ") else {
        return message;
    };
    match rest.split_once(", expected ") {
        Some((found, expected)) => format!("expected {expected}, found {found}"),
        None => message,
    }
}

/// Reads and parses `path`.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(path.to_path_buf()),
        pos: None,
        key: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and checks `text` (read from `path`).
pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
    let at =
        |span: Option<std::ops::Range<usize>>, key: Option<String>, message: String| ConfigError {
            file: Some(path.to_path_buf()),
            pos: span.map(|s| line_col(text, s.start)),
            key,
            message,
        };
    let settings: Settings = toml::from_str(text).map_err(|e| {
        let span = e.span();
        let message = expected_first(e.message().trim().to_string());
        // For an unknown key serde names it in the message; the span points at it.
        let key = span.as_ref().and_then(|s| {
            message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split('`').next())
                .map(str::to_string)
                .or_else(|| key_at(text, s.start))
        });
        at(span, key, message)
    })?;
    for n in settings.passive_networks.iter().flatten() {
        n.to_passive_net().map_err(|m| {
            at(
                Some(n.network_span()),
                Some("passive_networks.network".into()),
                m,
            )
        })?;
    }
    Ok(settings)
}

/// The split-horizon passive addresses of a file's settings (entries [`load`] checked).
pub fn passive_networks(s: &Settings) -> Vec<PassiveNet> {
    s.passive_networks
        .iter()
        .flatten()
        .filter_map(|n| n.to_passive_net().ok())
        .collect()
}

/// `kftpd check-config [FILE]`: validates and prints what it checked.
pub fn check_cmd(file: Option<&Path>) -> anyhow::Result<()> {
    let path =
        file.ok_or_else(|| anyhow::anyhow!("check-config: name a file (or pass --config)"))?;
    load(path)?;
    println!("{}: ok", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        super::parse(Path::new("k.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn hooks_take_one_value_or_an_array_and_urls_are_checked() {
        let f =
            parse("event_exec = \"/bin/a\"\nevent_webhook = [\"http://h/1\", \"https://h/2\"]\n")
                .unwrap();
        assert_eq!(f.event_exec.unwrap(), [std::path::PathBuf::from("/bin/a")]);
        assert_eq!(f.event_webhook.unwrap().len(), 2);
        let e = parse("event_webhook_sync = \"ftp://h/\"\n").unwrap_err();
        assert!(e.contains("key `event_webhook_sync`"), "{e}");
        let e = parse("auth = \"pam,ldap\"\n").unwrap_err();
        assert!(e.contains("k.toml:1:8: key `auth`"), "{e}");
    }

    #[test]
    fn example_file_parses() {
        parse(include_str!("../../../../kftpd.example.toml")).unwrap();
        parse(include_str!("../../../../dist/debian/kftpd.toml")).unwrap();
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = parse("anonymous = true\n\nmax_per_iq = 3\n").unwrap_err();
        assert!(
            e.starts_with("k.toml:3:1: key `max_per_iq`: unknown field"),
            "{e}"
        );
        // Flags that only make sense on a command line are not keys.
        let e = parse("config = \"other.toml\"\n").unwrap_err();
        assert!(e.contains("key `config`: unknown field"), "{e}");
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
        let e = parse("upload_mode = 0o1777\n").unwrap_err();
        assert!(
            e.starts_with("k.toml:1:15: key `upload_mode`: expected permission bits"),
            "{e}"
        );
    }

    #[test]
    fn enum_errors_say_what_was_expected() {
        let e = parse("data_path = \"warp\"\n").unwrap_err();
        assert!(e.contains("key `data_path`: expected"), "{e}");
        assert!(e.contains("`kernel`, `copy`, `auto`, found `warp`"), "{e}");
        let e = parse("\nlog_format = \"xml\"\n").unwrap_err();
        assert!(
            e.starts_with("k.toml:2:14: key `log_format`: expected `text` or `json`, found `xml`"),
            "{e}"
        );
        let e = parse("tls_required = \"sometimes\"\n").unwrap_err();
        assert!(
            e.contains("key `tls_required`: expected one of `non-loopback`, `always`, `never`"),
            "{e}"
        );
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

    #[test]
    fn rates_take_suffixes_in_the_file_too() {
        let f = parse("rate_user = \"2M\"\nrate_global = 1000\n").unwrap();
        assert_eq!(f.rate_user.map(|b| b.0), Some(2_000_000));
        assert_eq!(f.rate_global.map(|b| b.0), Some(1000));
    }
}
