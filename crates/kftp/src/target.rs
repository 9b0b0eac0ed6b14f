//! Where to connect: `ftp://user@host:port/path` and `ftps://` URLs.
//!
//! Paths follow curl's reading of RFC 1738: the path is relative to the login directory,
//! and an absolute path is written with an encoded first slash (`ftp://h/%2Fetc/motd`).
//! A bare `host`, `host:port` or `user@host/path` is read as `ftp://...`.

use crate::error::{Error, Result};
use kftp_proto::Password;
use url::{Host, Url};

/// How the control connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain FTP.
    Plain,
    /// Explicit FTPS: connect in the clear, then `AUTH TLS` (RFC 4217).
    Explicit,
    /// Implicit FTPS (`ftps://`, port 990 by default): TLS from the first byte.
    Implicit,
}

/// A parsed FTP URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Plain or implicit TLS, from the scheme (explicit TLS is a flag, not a scheme).
    pub security: Security,
    /// Host name or IP address, without brackets.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name, if the URL has one.
    pub user: Option<String>,
    /// Password, if the URL has one (accepted, but the CLI warns: it shows in `ps`).
    pub password: Option<Password>,
    /// The path, decoded; relative to the login directory unless it starts with `/`.
    /// Empty means the login directory. A trailing `/` is kept (it names a directory).
    pub path: String,
}

impl Target {
    /// Parses a URL (or a bare host).
    pub fn parse(s: &str) -> Result<Target> {
        let with_scheme = if s.contains("://") {
            s.to_string()
        } else {
            format!("ftp://{s}")
        };
        let url = Url::parse(&with_scheme)
            .map_err(|e| Error::usage(format!("invalid URL '{s}': {e}")))?;
        let (security, default_port) = match url.scheme() {
            "ftp" => (Security::Plain, 21),
            "ftps" => (Security::Implicit, 990),
            other => {
                return Err(Error::usage(format!(
                    "unsupported URL scheme '{other}' in '{s}' (expected ftp:// or ftps://)"
                )))
            }
        };
        let host = match url.host() {
            Some(Host::Domain(d)) => d.to_string(),
            Some(Host::Ipv4(a)) => a.to_string(),
            Some(Host::Ipv6(a)) => a.to_string(),
            None => return Err(Error::usage(format!("no host in URL '{s}'"))),
        };
        let user = match url.username() {
            "" => None,
            u => Some(decode(u)?),
        };
        let password = url.password().map(decode).transpose()?.map(Password::new);
        // `url` normalises the path to start with '/'; the first slash only separates it
        // from the authority.
        let raw = url.path();
        let raw = raw.strip_prefix('/').unwrap_or(raw);
        let mut path = String::new();
        for (i, seg) in raw.split('/').enumerate() {
            if i > 0 {
                path.push('/');
            }
            path.push_str(&decode(seg)?);
        }
        Ok(Target {
            security,
            host,
            port: url.port().unwrap_or(default_port),
            user,
            password,
            path,
        })
    }

    /// `host:port`, with brackets around an IPv6 address, for connecting and messages.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether the URL names a directory (empty path or a trailing slash).
    pub fn is_dir_like(&self) -> bool {
        self.path.is_empty() || self.path.ends_with('/')
    }
}

/// Whether a string looks like a remote location rather than a local path: it has an
/// `ftp://` or `ftps://` scheme.
pub fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("ftp://") || l.starts_with("ftps://")
}

fn decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::usage(format!("bad percent-escape in '{s}'")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::usage(format!("'{s}' is not UTF-8 when decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let t = Target::parse("ftp://alice@example.com:2121/pub/file%20name.txt").unwrap();
        assert_eq!(t.security, Security::Plain);
        assert_eq!(t.host, "example.com");
        assert_eq!(t.port, 2121);
        assert_eq!(t.user.as_deref(), Some("alice"));
        assert!(t.password.is_none());
        assert_eq!(t.path, "pub/file name.txt");
        assert!(!t.is_dir_like());
    }

    #[test]
    fn defaults_and_schemes() {
        let t = Target::parse("ftps://h/").unwrap();
        assert_eq!(
            (t.security, t.port, t.path.as_str()),
            (Security::Implicit, 990, "")
        );
        assert!(t.is_dir_like());
        let t = Target::parse("example.org").unwrap();
        assert_eq!((t.security, t.port), (Security::Plain, 21));
        let t = Target::parse("bob@example.org:99/dir/").unwrap();
        assert_eq!((t.user.as_deref(), t.port), (Some("bob"), 99));
        assert_eq!(t.path, "dir/");
        assert!(Target::parse("http://x/").is_err());
        assert!(Target::parse("ftp://").is_err());
        assert!(Target::parse("ftp://h:99999/").is_err());
    }

    #[test]
    fn ipv6_and_absolute_paths() {
        let t = Target::parse("ftp://[::1]:2121/%2Fetc/motd").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.authority(), "[::1]:2121");
        assert_eq!(t.path, "/etc/motd");
        let t = Target::parse("ftp://127.0.0.1/").unwrap();
        assert_eq!(t.authority(), "127.0.0.1:21");
    }

    #[test]
    fn credentials_in_url() {
        let t = Target::parse("ftp://us%40er:p%3Ass@h/").unwrap();
        assert_eq!(t.user.as_deref(), Some("us@er"));
        assert_eq!(t.password.unwrap().expose(), "p:ss");
        assert!(is_url("FTP://x"));
        assert!(!is_url("./ftp:/x"));
    }
}
