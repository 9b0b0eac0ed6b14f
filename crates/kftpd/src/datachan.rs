//! Data connections: passive listeners from the configured port range, active connects,
//! and the check that a data connection really comes from (or goes to) the control peer.

use crate::config::Config;
use kftp_proto::Reply;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Foreign hosts knocking on passive ports: logged, but at a bounded rate.
static FOREIGN_WARN: crate::limits::WarnGate =
    crate::limits::WarnGate::new("foreign_data_connection");

/// How the next data connection will be made.
#[derive(Debug)]
pub enum DataSetup {
    /// PASV/EPSV: we listen, the client connects. The slot counts the port against its
    /// account until the listener is dropped. Shared with the session's [`Kept`] copy.
    Passive(Arc<TcpListener>, PassiveSlot),
    /// PORT/EPRT: we connect to the client.
    Active(SocketAddr),
}

/// Hands out passive ports round-robin from the configured range, so that a client that
/// opens many data connections (directory browsing) does not keep hitting ports still in
/// TIME_WAIT.
///
/// With a configured range, one account (a user name; anonymous sessions by client key)
/// may hold at most [`PortPool::per_account_cap`] of its ports at once, so that one user's
/// sessions cannot take the whole pool from everyone else.
#[derive(Debug, Default)]
pub struct PortPool {
    cursor: AtomicU32,
    held: Held,
}

/// Passive ports held, per account.
type Held = Arc<Mutex<HashMap<String, usize>>>;

/// One passive port counted against an account; released on drop.
#[derive(Debug, Default)]
pub struct PassiveSlot {
    held: Option<(Held, String)>,
}

impl Drop for PassiveSlot {
    fn drop(&mut self) {
        if let Some((held, key)) = self.held.take() {
            let mut m = held.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = m.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&key);
                }
            }
        }
    }
}

/// Why no passive listener was opened.
#[derive(Debug)]
pub enum BindError {
    /// The account holds its share of the pool already.
    AccountCap(usize),
    /// The system refused (or the range is exhausted).
    Io(io::Error),
}

impl PortPool {
    /// How many ports of a pool of `pool` one account may hold: max(4, pool / 8).
    pub fn per_account_cap(pool: usize) -> usize {
        (pool / 8).max(4)
    }

    /// Binds a passive listener on `ip` for `account`, from the range if one is configured;
    /// returns it with its address.
    pub async fn bind(
        &self,
        ip: IpAddr,
        cfg: &Config,
        account: &str,
    ) -> Result<(Bound, PassiveSlot), BindError> {
        let Some(range) = &cfg.passive_ports else {
            return listen_ephemeral(ip)
                .map(|l| (l, PassiveSlot::default()))
                .map_err(BindError::Io);
        };
        let pool = usize::from(*range.end() - *range.start()) + 1;
        let cap = Self::per_account_cap(pool);
        let slot = {
            let mut m = self.held.lock().unwrap_or_else(|p| p.into_inner());
            let n = m.entry(account.to_string()).or_insert(0);
            if *n >= cap {
                return Err(BindError::AccountCap(cap));
            }
            *n += 1;
            PassiveSlot {
                held: Some((self.held.clone(), account.to_string())),
            }
        };
        self.bind_range(ip, range)
            .map(|l| (l, slot))
            .map_err(BindError::Io)
    }

    fn bind_range(&self, ip: IpAddr, range: &std::ops::RangeInclusive<u16>) -> io::Result<Bound> {
        let (lo, hi) = (u32::from(*range.start()), u32::from(*range.end()));
        let n = hi - lo + 1;
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut last = io::Error::new(io::ErrorKind::AddrInUse, "passive port range exhausted");
        for i in 0..n {
            let port = lo + (start.wrapping_add(i)) % n;
            match listen(SocketAddr::new(ip, port as u16)) {
                Ok(l) => return Ok(l),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// Explicit ports tried before asking the kernel for one.
const EPHEMERAL_TRIES: usize = 8;

/// A passive listener on a port of the kernel's ephemeral range (used when no
/// `--passive-ports` range is configured), chosen here at random rather than by bind(2)
/// to port 0.
///
/// bind to port 0 makes the kernel search the range for a port no socket is bound to,
/// checking the bind conflicts of every port it passes; after a few thousand data
/// connections the range is full of TIME_WAIT sockets and one bind scanned for
/// milliseconds of system time (`inet_csk_get_port` was 80% of kftpd's CPU in a 2,000-file
/// mirror; BENCHMARKS.md, "Small files"). A port named explicitly is one hash lookup, and
/// SO_REUSEADDR lets a listener take a port whose earlier connections wait in TIME_WAIT.
/// vsftpd and pure-ftpd pick passive ports the same way. Ports the administrator reserved
/// (`ip_local_reserved_ports`) are skipped; after [`EPHEMERAL_TRIES`] taken ports the
/// kernel chooses after all.
fn listen_ephemeral(ip: IpAddr) -> io::Result<Bound> {
    let range = ephemeral_ports();
    for _ in 0..EPHEMERAL_TRIES {
        let port = rand::Rng::gen_range(&mut rand::thread_rng(), range.ports.clone());
        if range.reserved.iter().any(|r| r.contains(&port)) {
            continue;
        }
        if let Ok(l) = listen(SocketAddr::new(ip, port)) {
            return Ok(l);
        }
    }
    listen(SocketAddr::new(ip, 0))
}

/// The kernel's ephemeral port range and the ports reserved in it, read once.
struct EphemeralPorts {
    ports: std::ops::RangeInclusive<u16>,
    reserved: Vec<std::ops::RangeInclusive<u16>>,
}

fn ephemeral_ports() -> &'static EphemeralPorts {
    static PORTS: std::sync::OnceLock<EphemeralPorts> = std::sync::OnceLock::new();
    PORTS.get_or_init(|| {
        let read = |f: &str| std::fs::read_to_string(format!("/proc/sys/net/ipv4/{f}"));
        parse_ephemeral(
            &read("ip_local_port_range").unwrap_or_default(),
            &read("ip_local_reserved_ports").unwrap_or_default(),
        )
    })
}

/// `ip_local_port_range` ("32768\t60999") and `ip_local_reserved_ports` ("8080,9000-9100");
/// Linux's default range when the first does not parse.
fn parse_ephemeral(range: &str, reserved: &str) -> EphemeralPorts {
    let mut it = range.split_whitespace().map(str::parse::<u16>);
    let ports = match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if 1024 <= lo && lo <= hi => lo..=hi,
        _ => 32768..=60999,
    };
    let reserved = reserved
        .trim()
        .split(',')
        .filter_map(|r| {
            let (lo, hi) = r.split_once('-').unwrap_or((r, r));
            Some(lo.trim().parse().ok()?..=hi.trim().parse().ok()?)
        })
        .collect();
    EphemeralPorts { ports, reserved }
}

/// A passive listener and the address it listens on.
pub type Bound = (TcpListener, SocketAddr);

/// Listens on `addr`. The address is known unless the port was 0 (then getsockname asks
/// the kernel): one system call less per PASV, which lftp sends for every file.
fn listen(addr: SocketAddr) -> io::Result<Bound> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Rebinding a port whose previous connection sits in TIME_WAIT must work.
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    // Room for MODE E's parallel streams arriving together (a backlog of 1 would drop
    // their SYNs and cost each a retransmission second).
    let l = sock.listen(16)?;
    let at = if addr.port() == 0 {
        l.local_addr()?
    } else {
        addr
    };
    Ok((l, at))
}

/// Connections a kept listener may find waiting in its backlog before it is given up.
const STALE_MAX: usize = 16;

/// A session's passive listener, kept open after its transfer for the next PASV/EPSV.
///
/// `lftp mirror` (and most clients) send PASV before every file; binding a new listener
/// each time costs socket, setsockopt, bind, listen, two epoll_ctl and a close, a fifth
/// of the system calls of a small download (BENCHMARKS.md, "Small files, session 7").
/// Only a listener outside a `--passive-ports` range is kept: a kept port counts against
/// no account's share, and an idle session must not hold one that another session of the
/// same account needs. The session drops it with its data setup (PORT, ABOR, REIN, the
/// `data_timeout` of an unused listener), so it lives no longer than an unused PASV's.
#[derive(Debug)]
pub struct Kept {
    listener: Arc<TcpListener>,
    at: SocketAddr,
}

impl Kept {
    /// Keeps a copy of a listener just bound (outside a port range) and its address.
    pub fn new(listener: &Arc<TcpListener>, at: SocketAddr) -> Self {
        Kept {
            listener: listener.clone(),
            at,
        }
    }

    /// The listener and its address for the next passive transfer, on `ip`; `None` when a
    /// transfer still holds it (MODE E's streams), it listens elsewhere, or its backlog
    /// keeps yielding connections. Connections waiting there were made for an earlier
    /// PASV and never used (a STOR refused after the client connected): they are closed,
    /// as closing the listener would have, so none can become the next transfer's.
    pub fn reuse(self, ip: IpAddr) -> Option<(Arc<TcpListener>, SocketAddr)> {
        if self.at.ip() != ip || Arc::strong_count(&self.listener) != 1 {
            return None;
        }
        // Asked of the kernel, not of tokio's readiness (which may not have seen a
        // connection that arrived just now): one accept4 that says EAGAIN when all is well.
        let flags = rustix::net::SocketFlags::NONBLOCK | rustix::net::SocketFlags::CLOEXEC;
        for _ in 0..STALE_MAX {
            match rustix::net::accept_with(&*self.listener, flags) {
                Err(rustix::io::Errno::AGAIN) => return Some((self.listener, self.at)),
                Ok(stale) => drop(stale),
                Err(_) => return None,
            }
        }
        None
    }
}

/// Opens the data connection. Passive: waits for the client, dropping (and logging)
/// connections from any other host unless configured otherwise. Active: connects from the
/// control connection's local address.
pub async fn open(
    setup: DataSetup,
    peer_ip: IpAddr,
    local_ip: IpAddr,
    cfg: &Config,
    session: u64,
) -> Result<TcpStream, Reply> {
    match setup {
        DataSetup::Passive(listener, _slot) => {
            let deadline = tokio::time::Instant::now() + cfg.data_timeout;
            accept_peer(&listener, peer_ip, cfg, session, deadline).await
        }
        DataSetup::Active(target) => connect(target, local_ip, cfg).await,
    }
}

fn open_failed(why: String) -> Reply {
    Reply::new(425, format!("Can't open data connection: {why}."))
}

/// Accepts the next connection on a passive listener that comes from the control peer
/// (others are dropped and logged, unless configured otherwise), until `deadline`.
pub async fn accept_peer(
    listener: &TcpListener,
    peer_ip: IpAddr,
    cfg: &Config,
    session: u64,
    deadline: tokio::time::Instant,
) -> Result<TcpStream, Reply> {
    let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
    loop {
        let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
        let (s, from) = match accepted {
            Err(_) => {
                return Err(open_failed(format!(
                    "no connection within {}s",
                    wait.as_secs_f64().round()
                )))
            }
            Ok(Err(e)) => return Err(open_failed(e.to_string())),
            Ok(Ok(x)) => x,
        };
        if same_host(from.ip(), peer_ip) || cfg.allow_foreign_data_peer {
            let _ = s.set_nodelay(true);
            return Ok(s);
        }
        if FOREIGN_WARN.pass() {
            tracing::warn!(
                session,
                from = %from,
                control_peer = %peer_ip,
                "refused passive data connection from a host other than the control peer"
            );
        }
    }
}

/// Connects to an active (PORT/EPRT) target from the control connection's local address.
pub async fn connect(
    target: SocketAddr,
    local_ip: IpAddr,
    cfg: &Config,
) -> Result<TcpStream, Reply> {
    let sock = match target {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| open_failed(e.to_string()))?;
    if local_ip.is_ipv4() == target.is_ipv4() {
        sock.bind(SocketAddr::new(local_ip, 0))
            .map_err(|e| open_failed(e.to_string()))?;
    }
    let stream = match tokio::time::timeout(cfg.data_timeout, sock.connect(target)).await {
        Err(_) => return Err(open_failed(format!("connecting to {target} timed out"))),
        Ok(Err(e)) => return Err(open_failed(format!("connecting to {target}: {e}"))),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Sets a data connection's send and receive buffers to what the session asked with SBUF
/// (nothing when it asked for none: the kernel's autotuning stays on). Set after the
/// handshake, the receive buffer still bounds the window: the scale the kernel offered
/// in the SYN covers its `tcp_rmem` maximum. A refusal is logged, not fatal.
pub fn set_buffers(s: &TcpStream, size: Option<usize>) {
    let Some(size) = size else { return };
    let fd = rustix::fd::AsFd::as_fd(s);
    let set = rustix::net::sockopt::set_socket_send_buffer_size(fd, size)
        .and_then(|()| rustix::net::sockopt::set_socket_recv_buffer_size(fd, size));
    match set {
        Ok(()) => tracing::debug!(
            asked = size,
            sndbuf = rustix::net::sockopt::socket_send_buffer_size(fd).unwrap_or(0),
            rcvbuf = rustix::net::sockopt::socket_recv_buffer_size(fd).unwrap_or(0),
            "data connection buffers set"
        ),
        Err(e) => tracing::debug!(asked = size, error = %e, "data connection buffers not set"),
    }
}

/// Whether two addresses are the same host, treating IPv4-mapped IPv6 as IPv4.
pub fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// PORT/EPRT target check (FTP bounce protection): the control peer only, and never a
/// privileged port.
pub fn check_active_target(target: SocketAddr, peer_ip: IpAddr, cfg: &Config) -> Result<(), Reply> {
    if !cfg.allow_foreign_data_peer && !same_host(target.ip(), peer_ip) {
        return Err(Reply::new(
            501,
            format!(
                "Refused: data connection to {} is not your address (FTP bounce protection).",
                target.ip()
            ),
        ));
    }
    if target.port() < 1024 {
        return Err(Reply::new(
            501,
            format!(
                "Refused: data connection to privileged port {} (FTP bounce protection).",
                target.port()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ephemeral_range_and_reserved_ports_parse() {
        let e = parse_ephemeral("32768\t60999\n", "8080,50000-50010\n");
        assert_eq!(e.ports, 32768..=60999);
        assert_eq!(e.reserved, vec![8080..=8080, 50000..=50010]);
        let e = parse_ephemeral("40000 40010", "\n");
        assert_eq!((e.ports, e.reserved), (40000..=40010, vec![]));
        // Unreadable or nonsense: Linux's default range, nothing reserved.
        for bad in ["", "60999 32768", "80 90", "x y"] {
            assert_eq!(parse_ephemeral(bad, "").ports, 32768..=60999, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn passive_listeners_take_ports_of_the_ephemeral_range() {
        let range = &ephemeral_ports().ports;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let (l, at) = listen_ephemeral("127.0.0.1".parse().unwrap()).unwrap();
            // The address it reports without asking the kernel is the one it has.
            assert_eq!(l.local_addr().unwrap(), at);
            let port = at.port();
            assert!(range.contains(&port), "{port} outside {range:?}");
            seen.insert(port);
        }
        // Chosen at random, not one after another from a predictable start.
        assert!(seen.len() > 1);
    }

    #[tokio::test]
    async fn a_taken_port_is_not_shared() {
        // Two listeners never share a port, whoever picked it first.
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let (_a, at) = listen_ephemeral(ip).unwrap();
        let port = at.port();
        assert!(listen(SocketAddr::new(ip, port)).is_err());
    }
}
