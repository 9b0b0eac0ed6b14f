//! The value types of settings that are more than a number, a path or an address: each
//! parses the same from a flag, a `KFTPD_*` variable and the TOML file (`FromStr` for
//! clap, `Deserialize` for the file), so a setting's syntax is written once.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use toml::Spanned;

/// How file data moves (`--data-path`): the kernel's sendfile/splice, a user-space copy,
/// or whichever measures better here (`kftp_datapath::chooser`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataPath {
    /// sendfile (downloads) and splice (uploads); the copy loop only where they cannot
    /// apply (TYPE A, TLS without kernel TLS, a file system without them).
    Kernel,
    /// A user-space read/write loop.
    Copy,
    /// Measures both on the first large transfers of each direction (bytes per CPU second)
    /// and keeps the better, checking again every 64 transfers or 10 minutes; transfers
    /// running with at least as many at once as CPUs are measured apart. The choice is logged.
    Auto,
}

impl From<DataPath> for kftp_datapath::PathChoice {
    fn from(d: DataPath) -> Self {
        match d {
            DataPath::Kernel => kftp_datapath::PathChoice::Kernel,
            DataPath::Copy => kftp_datapath::PathChoice::Copy,
            DataPath::Auto => kftp_datapath::PathChoice::Auto,
        }
    }
}

/// Log lines on stderr (`--log-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

/// The name a flag value of an enum is written as (`auto` for [`DataPath::Auto`]).
pub fn name(v: impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

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

/// Whether an account's PROT P data connections must resume the control TLS session
/// (`kftpd user add --tls-reuse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsReuse {
    /// Enforced even where the server relaxes it.
    Required,
    /// Not required (Java's Commons Net, Python's ftplib, gvfs cannot resume).
    Optional,
    /// The server's policy.
    Default,
}

impl TlsReuse {
    /// The users-file value: `Some(required)`, or `None` for the server's policy.
    pub fn required(self) -> Option<bool> {
        match self {
            TlsReuse::Required => Some(true),
            TlsReuse::Optional => Some(false),
            TlsReuse::Default => None,
        }
    }
}

/// A credential from the file: kept out of `Debug` output (and so out of logs).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Implements `Deserialize` through `FromStr` for a type written as a string in the file.
macro_rules! deserialize_from_str {
    ($t:ty) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(de::Error::custom)
            }
        }
    };
}

/// A passive port range, `LOW-HIGH` (`--passive-ports 30000-30099`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRange(pub RangeInclusive<u16>);

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or("expected LOW-HIGH, e.g. 30000-30099")?;
        let a: u16 = a.trim().parse().map_err(|_| format!("bad port '{a}'"))?;
        let b: u16 = b.trim().parse().map_err(|_| format!("bad port '{b}'"))?;
        if a == 0 || a > b {
            return Err("range must be LOW-HIGH with 0 < LOW <= HIGH".into());
        }
        Ok(PortRange(a..=b))
    }
}
deserialize_from_str!(PortRange);

/// A file mode, permission bits only: `0640` on the command line, `0o640` (a TOML octal
/// integer) or `"0640"` in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    fn checked(m: u64, shown: &dyn fmt::Display) -> Result<Mode, String> {
        match u32::try_from(m) {
            Ok(m) if m <= 0o777 => Ok(Mode(m)),
            _ => Err(format!(
                "expected permission bits such as 0o640 (at most 0o777), found {shown}"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let m = u64::from_str_radix(s.trim().trim_start_matches("0o"), 8)
            .map_err(|_| format!("expected an octal mode such as 0640, found {s:?}"))?;
        Mode::checked(m, &format_args!("{s:?}"))
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Mode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("permission bits such as 0o640")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Mode, E> {
                let m = u64::try_from(v).map_err(|_| E::custom(format!("negative mode {v}")))?;
                self.visit_u64(m)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Mode, E> {
                Mode::checked(v, &format_args!("{v:o}")).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mode, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte count or a rate in bytes per second: `500000`, `500k`, `2M`, `1Gi`, `64KiB`
/// (k, M, G: powers of 1000; Ki, Mi, Gi: powers of 1024). The file also takes a plain
/// integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bytes(pub u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Bytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_rate(s).map(Bytes)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count such as 500000 or \"2M\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
                u64::try_from(v)
                    .map(Bytes)
                    .map_err(|_| E::custom(format!("negative byte count {v}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a rate in bytes per second: `500000`, `500k`, `2M`, `1G`, `1Mi`, `64KiB`.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad rate '{s}': expected bytes/s such as 500k, 2M or 1Gi"))?;
    let mult: u64 = match unit {
        "" => 1,
        "k" | "K" => 1_000,
        "M" | "m" => 1_000_000,
        "G" | "g" => 1_000_000_000,
        "Ki" | "ki" => 1 << 10,
        "Mi" | "mi" => 1 << 20,
        "Gi" | "gi" => 1 << 30,
        _ => return Err(format!("bad rate unit in '{s}': use k, M, G, Ki, Mi or Gi")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("rate '{s}' is too large"))
}

/// A split-horizon network, `10.0.0.0/8` (a bare address is a /32 or /128).
pub fn parse_network(network: &str) -> Result<ipnet::IpNet, String> {
    let network = network.trim();
    match network.parse::<ipnet::IpNet>() {
        Ok(n) => Ok(n),
        Err(_) => network
            .parse::<std::net::IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| {
                format!(
                    "expected a network such as \"10.0.0.0/8\" (prefix length 0-32, or 0-128 \
                     for IPv6), found {network:?}"
                )
            }),
    }
}

/// One `passive_networks` entry: clients in `network` are told `address` in 227 replies.
/// The network stays a spanned string until `file::load` checks it, so an error can point at
/// it as `passive_networks.network` (serde's own path stops at the array).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetEntry {
    network: Spanned<String>,
    address: std::net::IpAddr,
}

impl NetEntry {
    /// The resolved entry (checked by `file::load`; an entry built otherwise may fail).
    pub fn to_passive_net(&self) -> Result<PassiveNet, String> {
        Ok(PassiveNet {
            net: parse_network(self.network.get_ref())?,
            address: self.address,
        })
    }

    /// Where the network is written in the file (bytes).
    pub fn network_span(&self) -> std::ops::Range<usize> {
        self.network.span()
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
        let net = parse_network(network)?;
        Ok(PassiveNet { net, address })
    }

    /// Whether `ip` is inside this network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.net.contains(&ip.to_canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert_eq!(parse_rate("500k"), Ok(500_000));
        assert_eq!(parse_rate("2M"), Ok(2_000_000));
        assert_eq!(parse_rate("1Gi"), Ok(1 << 30));
        assert_eq!(parse_rate("64KiB"), Ok(64 << 10));
        assert_eq!(parse_rate("3MB/s"), Ok(3_000_000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("1T").is_err());
        assert!(parse_rate("99999999999999999999G").is_err());
    }

    #[test]
    fn modes_and_ranges() {
        assert_eq!("0640".parse(), Ok(Mode(0o640)));
        assert_eq!("0o755".parse(), Ok(Mode(0o755)));
        assert!("1777".parse::<Mode>().is_err());
        assert!("rw".parse::<Mode>().is_err());
        assert_eq!(Mode(0o640).to_string(), "0640");
        assert_eq!("30000-30099".parse(), Ok(PortRange(30000..=30099)));
        assert!("9-3".parse::<PortRange>().is_err());
        assert!("0-3".parse::<PortRange>().is_err());
    }

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

/// One place logins are checked (`--auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthSource {
    /// The users file (Argon2id).
    File,
    /// PAM and NSS: the machine's accounts.
    Pam,
}

/// Where logins are checked, in the order written: `file`, `pam`, `pam,file`, `file,pam`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSources(pub Vec<AuthSource>);

impl FromStr for AuthSources {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim) {
            let src = match part {
                "file" => AuthSource::File,
                "pam" => AuthSource::Pam,
                other => {
                    return Err(format!(
                        "unknown auth source {other:?} (expected file, pam, pam,file or file,pam)"
                    ))
                }
            };
            if out.contains(&src) {
                return Err(format!("auth source {part:?} given twice"));
            }
            out.push(src);
        }
        Ok(AuthSources(out))
    }
}
deserialize_from_str!(AuthSources);

/// An http:// or https:// URL with a host (`--event-webhook`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl(pub String);

impl FromStr for HttpUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let u = reqwest::Url::parse(s).map_err(|e| format!("{s:?}: {e}"))?;
        match u.scheme() {
            "http" | "https" if u.host().is_some() => Ok(HttpUrl(s.to_string())),
            _ => Err(format!("{s:?}: expected an http:// or https:// URL")),
        }
    }
}
deserialize_from_str!(HttpUrl);

/// For file keys that take one value or an array (`event_exec = "/a"` or `["/a", "/b"]`),
/// as the flag they mirror can be given once or repeated.
pub fn one_or_many<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(Some(match OneOrMany::deserialize(d)? {
        OneOrMany::One(v) => vec![v],
        OneOrMany::Many(v) => v,
    }))
}
