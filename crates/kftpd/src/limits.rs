//! Abuse resistance: login throttling and bans, sessions per user, bandwidth limits, and
//! the process limits kftpd raises for itself.
//!
//! # What is limited, and where
//! - Sessions in total and per source address: [`crate::server`], at accept.
//! - "Address" means client key ([`client_key`]): an IPv4 address, or an IPv6 /64.
//! - Banned addresses: refused at accept with 421 ([`Abuse::banned`]); sessions already
//!   open from a newly banned key are told 421 and closed ([`Abuse::ban_watch`]).
//! - Failed logins ([`Abuse::login_failed`]): each failure from an address doubles the
//!   delay before its `530` (from `--login-delay-ms` to `--login-delay-max-ms`); the
//!   `--ban-after`th failure within `--ban-window` seconds bans the address for
//!   `--ban-time` seconds. Counting is per address, not per connection, so opening many
//!   connections in parallel does not escape it. A successful login clears the record.
//! - Sessions per user ([`Abuse::admit_user`], at PASS): `--max-per-user`, and
//!   `--anonymous-max-sessions` for anonymous. The [`LoginGuard`] held by the login
//!   releases the slot however the session ends (QUIT, REIN, a dropped connection).
//! - Bandwidth ([`LoginGuard::limits`]): token buckets per session, per user (shared by
//!   all sessions of that user; for anonymous, `--anonymous-rate` shared by all anonymous
//!   sessions) and global. The data path paces its sendfile/splice calls in chunks, so
//!   zero-copy survives a limit.
//!
//! Memory is bounded: the per-address table holds at most [`MAX_TRACKED`] addresses and
//! forgets expired entries first.

use crate::config::{AbuseConfig, Config};
use crate::metrics::Metrics;
use kftp_datapath::RateLimiter;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
// tokio's clock (std's outside a runtime): tests can pause it and let a ban expire.
use tokio::time::Instant;

/// Addresses tracked for failed logins and bans at most.
pub const MAX_TRACKED: usize = 65_536;

/// Failed logins of one address.
#[derive(Debug, Default)]
struct Failures {
    /// Failure times within the window, oldest first.
    recent: VecDeque<Instant>,
    /// Consecutive failures, for the growing delay.
    streak: u32,
    /// Banned until then.
    banned_until: Option<Instant>,
}

impl Failures {
    fn live(&self, now: Instant, window: Duration) -> bool {
        self.banned_until.is_some_and(|t| t > now)
            || self
                .recent
                .back()
                .is_some_and(|t| now.duration_since(*t) < window)
    }
}

/// Sessions of one user, and the limiter they share.
#[derive(Debug)]
struct UserEntry {
    sessions: usize,
    limiter: Option<Arc<RateLimiter>>,
}

#[derive(Debug)]
struct Inner {
    cfg: AbuseConfig,
    base_delay: Duration,
    max_per_user: usize,
    addrs: Mutex<HashMap<IpAddr, Failures>>,
    users: Mutex<HashMap<String, UserEntry>>,
    global: Option<Arc<RateLimiter>>,
    /// Bumped on every new ban, so that open sessions from the banned key close.
    bans: tokio::sync::watch::Sender<u64>,
}

/// The server-wide abuse state (in [`crate::session::Shared`]).
#[derive(Debug)]
pub struct Abuse(Arc<Inner>);

/// What a failed login leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Wait this long before answering.
    pub delay: Duration,
    /// This failure banned the address: answer 421 and close.
    pub banned: bool,
}

/// The key under which a client is counted, throttled and banned: an IPv4 address (IPv4-
/// mapped IPv6 included) is itself; any other IPv6 address stands for its /64, the
/// smallest block a site is normally given, so one host cannot escape per-address caps
/// and bans by hopping through the 2^64 addresses of its own subnet.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// A client key for logs: `192.0.2.1`, or `2001:db8:1:2::/64`.
pub fn key_display(key: IpAddr) -> String {
    match key {
        IpAddr::V6(v6) => format!("{v6}/64"),
        v4 => v4.to_string(),
    }
}

fn limiter(rate: u64) -> Option<Arc<RateLimiter>> {
    (rate > 0).then(|| Arc::new(RateLimiter::new(rate)))
}

impl Abuse {
    /// The state for a configuration.
    pub fn new(config: &Config) -> Self {
        Abuse(Arc::new(Inner {
            cfg: config.abuse.clone(),
            base_delay: config.login_fail_delay,
            max_per_user: config.max_per_user,
            addrs: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            global: limiter(config.abuse.rate_global),
            bans: tokio::sync::watch::channel(0).0,
        }))
    }

    /// Changes whenever an address is banned: sessions watch it and close (421) when
    /// their own client key is the one banned.
    pub fn ban_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.bans.subscribe()
    }

    /// How long `ip` remains banned, if it is.
    pub fn banned(&self, ip: IpAddr) -> Option<Duration> {
        let map = self.0.addrs.lock().unwrap_or_else(|p| p.into_inner());
        let until = map.get(&client_key(ip))?.banned_until?;
        until.checked_duration_since(Instant::now())
    }

    /// Records a failed login from `ip`: returns the delay to impose and whether the
    /// address is now banned (logged and counted in `metrics.bans`).
    pub fn login_failed(&self, ip: IpAddr, metrics: &Metrics) -> Verdict {
        let ip = client_key(ip);
        let cfg = &self.0.cfg;
        let now = Instant::now();
        let mut map = self.0.addrs.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, f| f.live(now, cfg.ban_window));
            if map.len() >= MAX_TRACKED {
                // Full of live entries: still delay, but do not grow the table.
                return Verdict {
                    delay: self.0.base_delay,
                    banned: false,
                };
            }
        }
        let f = map.entry(ip).or_default();
        while f
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= cfg.ban_window)
        {
            f.recent.pop_front();
        }
        f.recent.push_back(now);
        f.streak = f.streak.saturating_add(1);
        let shift = (f.streak - 1).min(16);
        let delay = self
            .0
            .base_delay
            .saturating_mul(1u32 << shift)
            .min(cfg.login_delay_max.max(self.0.base_delay));
        let banned = cfg.ban_after > 0 && f.recent.len() >= cfg.ban_after as usize;
        if banned {
            f.banned_until = Some(now + cfg.ban_time);
            f.recent.clear();
            f.streak = 0;
            metrics.bans.fetch_add(1, Ordering::Relaxed);
            self.0.bans.send_modify(|n| *n = n.wrapping_add(1));
            tracing::warn!(
                peer = %key_display(ip),
                failures = cfg.ban_after,
                window_secs = cfg.ban_window.as_secs(),
                ban_secs = cfg.ban_time.as_secs(),
                "address banned after repeated failed logins"
            );
        }
        Verdict { delay, banned }
    }

    /// A successful login from `ip` clears its failure record (not a ban in force).
    pub fn login_ok(&self, ip: IpAddr) {
        let ip = client_key(ip);
        let mut map = self.0.addrs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = map.get_mut(&ip) {
            if f.banned_until.is_some_and(|t| t > Instant::now()) {
                f.recent.clear();
                f.streak = 0;
            } else {
                map.remove(&ip);
            }
        }
    }

    /// Admits one more session of `user` (all anonymous sessions count as one user), or
    /// says why not.
    pub fn admit_user(&self, user: &str, anonymous: bool) -> Result<LoginGuard, String> {
        let cfg = &self.0.cfg;
        let (cap, rate) = if anonymous {
            let rate = if cfg.anonymous_rate > 0 {
                cfg.anonymous_rate
            } else {
                cfg.rate_user
            };
            (cfg.anonymous_max_sessions, rate)
        } else {
            (self.0.max_per_user, cfg.rate_user)
        };
        let key = if anonymous { "anonymous" } else { user };
        let mut users = self.0.users.lock().unwrap_or_else(|p| p.into_inner());
        let e = users.entry(key.to_string()).or_insert_with(|| UserEntry {
            sessions: 0,
            limiter: limiter(rate),
        });
        if e.sessions >= cap {
            return Err(if anonymous {
                format!("Too many anonymous sessions (limit {cap})")
            } else {
                format!("Too many sessions for user '{user}' (limit {cap})")
            });
        }
        e.sessions += 1;
        let mut limits: Vec<Arc<RateLimiter>> = Vec::new();
        limits.extend(limiter(cfg.rate_session));
        limits.extend(e.limiter.clone());
        limits.extend(self.0.global.clone());
        Ok(LoginGuard {
            inner: self.0.clone(),
            key: key.to_string(),
            limits,
        })
    }

    /// Sessions currently counted for `user` (tests, STAT).
    pub fn user_sessions(&self, user: &str) -> usize {
        let users = self.0.users.lock().unwrap_or_else(|p| p.into_inner());
        users.get(user).map_or(0, |e| e.sessions)
    }
}

/// One admitted login: holds the user's session slot and the bandwidth limits that apply
/// to its transfers. Dropping it (QUIT, REIN, disconnect) releases the slot.
#[derive(Debug)]
pub struct LoginGuard {
    inner: Arc<Inner>,
    key: String,
    limits: Vec<Arc<RateLimiter>>,
}

impl LoginGuard {
    /// The limiters a transfer of this login honours: session, user, global.
    pub fn limits(&self) -> Vec<Arc<RateLimiter>> {
        self.limits.clone()
    }
}

impl Drop for LoginGuard {
    fn drop(&mut self) {
        let mut users = self.inner.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = users.get_mut(&self.key) {
            e.sessions = e.sessions.saturating_sub(1);
            if e.sessions == 0 {
                users.remove(&self.key);
            }
        }
    }
}

/// A rate limit on one kind of WARN line (refused connections, bad PROXY headers, foreign
/// data connections): anyone can cause those, and a flood of them must not flood the log.
/// At most [`WarnGate::PER_MINUTE`] lines a minute pass; the first one held back says so,
/// and the first one let through after that says how many were held back.
#[derive(Debug)]
pub struct WarnGate {
    kind: &'static str,
    state: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    window: Option<Instant>,
    passed: u32,
    suppressed: u64,
}

impl WarnGate {
    /// Lines of one kind logged per minute at most.
    pub const PER_MINUTE: u32 = 10;
    const WINDOW: Duration = Duration::from_secs(60);

    /// A gate for the lines of `kind` (named in the summary lines).
    pub const fn new(kind: &'static str) -> WarnGate {
        WarnGate {
            kind,
            state: Mutex::new(GateState {
                window: None,
                passed: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether to log this line.
    pub fn pass(&self) -> bool {
        let now = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st
            .window
            .is_none_or(|w| now.duration_since(w) >= Self::WINDOW)
        {
            if st.suppressed > 0 {
                tracing::warn!(
                    kind = self.kind,
                    suppressed = st.suppressed,
                    "warnings of this kind were suppressed in the last minute"
                );
            }
            *st = GateState {
                window: Some(now),
                passed: 0,
                suppressed: 0,
            };
        }
        if st.passed < Self::PER_MINUTE {
            st.passed += 1;
            return true;
        }
        if st.suppressed == 0 {
            tracing::warn!(
                kind = self.kind,
                per_minute = Self::PER_MINUTE,
                "more warnings of this kind this minute are suppressed (counted in the next one)"
            );
        }
        st.suppressed += 1;
        false
    }
}

/// Raises the soft limit on open files to the hard limit, so thousands of sessions do not
/// hit EMFILE at a default soft limit of 1024. Returns (old, new) soft limits.
pub fn raise_nofile() -> std::io::Result<(Option<u64>, Option<u64>)> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    if cur.current == cur.maximum {
        return Ok((cur.current, cur.current));
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: cur.maximum,
            maximum: cur.maximum,
        },
    )?;
    Ok((cur.current, cur.maximum))
}

/// Catches SIGXFSZ, so that exceeding RLIMIT_FSIZE fails a write with EFBIG (552 to the
/// client) instead of killing the server. Needs a tokio runtime. The handler stays
/// installed for the life of the process.
pub fn catch_sigxfsz() {
    use tokio::signal::unix::{signal, SignalKind};
    let raw = rustix::process::Signal::XFSZ.as_raw();
    if let Err(e) = signal(SignalKind::from_raw(raw)) {
        tracing::warn!(error = %e, "cannot catch SIGXFSZ; a file size limit would kill kftpd");
    }
}

/// A duplicate of the control connection's socket, so a transfer task can tell whether the
/// client is still there (see [`control_closed`]).
pub fn control_probe(stream: &crate::session::control::CtrlStream) -> Option<rustix::fd::OwnedFd> {
    use crate::session::control::CtrlStream;
    let tcp = match stream {
        CtrlStream::Plain(t) => t,
        CtrlStream::Tls(t) => t.get_ref().0,
    };
    rustix::io::fcntl_dupfd_cloexec(tcp, 0).ok()
}

/// Whether the client closed (or reset) the control connection: a non-blocking peek that
/// sees end of file.
///
/// In stream mode an upload ends with the data connection's FIN, which a client that dies
/// mid-upload also sends (the kernel closes its sockets). Its control connection closes in
/// the same instant, so before renaming an upload into place the transfer checks this:
/// a client that is gone never confirmed its upload, and the part file stays for resume
/// instead of a truncated file appearing under the final name.
pub fn control_closed(fd: &rustix::fd::OwnedFd) -> bool {
    use rustix::io::Errno;
    use rustix::net::RecvFlags;
    let mut b = [0u8; 1];
    match rustix::net::recv(fd, &mut b[..], RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Ok((0, _)) => true,
        Ok(_) => false,
        Err(Errno::AGAIN) | Err(Errno::INTR) => false,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abuse(cfg: AbuseConfig, base_ms: u64) -> Abuse {
        let mut c = Config::new("/".into(), "/u".into(), "/s".into());
        c.login_fail_delay = Duration::from_millis(base_ms);
        c.max_per_user = 2;
        c.abuse = cfg;
        Abuse::new(&c)
    }

    #[test]
    fn delay_doubles_to_cap_then_ban() {
        let a = abuse(
            AbuseConfig {
                ban_after: 5,
                login_delay_max: Duration::from_millis(300),
                ..AbuseConfig::default()
            },
            100,
        );
        let m = Metrics::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let d: Vec<_> = (0..4).map(|_| a.login_failed(ip, &m)).collect();
        assert_eq!(d[0].delay, Duration::from_millis(100));
        assert_eq!(d[1].delay, Duration::from_millis(200));
        assert_eq!(d[2].delay, Duration::from_millis(300));
        assert!(d.iter().all(|v| !v.banned));
        assert!(a.banned(ip).is_none());
        assert!(a.login_failed(ip, &m).banned);
        assert!(a.banned(ip).is_some());
        assert_eq!(m.bans.load(Ordering::Relaxed), 1);
        // Another address is unaffected.
        assert!(a.banned(IpAddr::from([192, 0, 2, 2])).is_none());
    }

    #[test]
    fn client_keys_group_ipv6_by_64() {
        let k = |s: &str| client_key(s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        assert_eq!(k("192.0.2.7"), k("::ffff:192.0.2.7"));
        assert_ne!(k("192.0.2.7"), k("192.0.2.8"));
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2::"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(key_display(k("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        // A ban recorded for one address of a /64 holds for its neighbours.
        let a = abuse(
            AbuseConfig {
                ban_after: 1,
                ..AbuseConfig::default()
            },
            0,
        );
        let m = Metrics::default();
        assert!(a.login_failed(k("2001:db8::1"), &m).banned);
        assert!(a
            .banned("2001:db8::2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])))
            .is_some());
    }

    #[test]
    fn warn_gate_passes_a_few_a_minute() {
        let g = WarnGate::new("test");
        let passed = (0..100).filter(|_| g.pass()).count();
        assert_eq!(passed, WarnGate::PER_MINUTE as usize);
    }

    #[test]
    fn success_clears_streak() {
        let a = abuse(AbuseConfig::default(), 100);
        let m = Metrics::default();
        let ip = IpAddr::from([192, 0, 2, 9]);
        a.login_failed(ip, &m);
        a.login_failed(ip, &m);
        a.login_ok(ip);
        assert_eq!(a.login_failed(ip, &m).delay, Duration::from_millis(100));
    }

    #[test]
    fn user_slots_release_on_drop() {
        let a = abuse(AbuseConfig::default(), 1);
        let g1 = a.admit_user("bob", false);
        let g2 = a.admit_user("bob", false);
        assert!(g1.is_ok() && g2.is_ok());
        assert!(a.admit_user("bob", false).is_err());
        assert!(a.admit_user("carol", false).is_ok());
        drop(g1);
        assert_eq!(a.user_sessions("bob"), 1);
        assert!(a.admit_user("bob", false).is_ok());
    }

    #[test]
    fn limiters_per_session_user_global() {
        let a = abuse(
            AbuseConfig {
                rate_session: 1000,
                rate_user: 2000,
                rate_global: 3000,
                ..AbuseConfig::default()
            },
            1,
        );
        let g1 = a
            .admit_user("bob", false)
            .map(|g| g.limits())
            .unwrap_or_default();
        let g2 = a
            .admit_user("bob", false)
            .map(|g| g.limits())
            .unwrap_or_default();
        assert_eq!(g1.len(), 3);
        assert!(
            !Arc::ptr_eq(&g1[0], &g2[0]),
            "session limiters are per session"
        );
        assert_eq!(g1[2].rate(), 3000);
    }
}
