//! Data connections: passive listeners from the configured port range, active connects,
//! and the check that a data connection really comes from (or goes to) the control peer.

use crate::config::Config;
use kftp_proto::Reply;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Foreign hosts knocking on passive ports: logged, but at a bounded rate.
static FOREIGN_WARN: crate::limits::WarnGate =
    crate::limits::WarnGate::new("foreign_data_connection");

/// How the next data connection will be made.
#[derive(Debug)]
pub enum DataSetup {
    /// PASV/EPSV: we listen, the client connects.
    Passive(TcpListener),
    /// PORT/EPRT: we connect to the client.
    Active(SocketAddr),
}

/// Hands out passive ports round-robin from the configured range, so that a client that
/// opens many data connections (directory browsing) does not keep hitting ports still in
/// TIME_WAIT.
#[derive(Debug, Default)]
pub struct PortPool {
    cursor: AtomicU32,
}

impl PortPool {
    /// Binds a passive listener on `ip`, from the range if one is configured.
    pub async fn bind(&self, ip: IpAddr, cfg: &Config) -> io::Result<TcpListener> {
        let Some(range) = &cfg.passive_ports else {
            return listen(SocketAddr::new(ip, 0));
        };
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

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Rebinding a port whose previous connection sits in TIME_WAIT must work.
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1)
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
    let fail = |why: String| Reply::new(425, format!("Can't open data connection: {why}."));
    let stream = match setup {
        DataSetup::Passive(listener) => {
            let deadline = tokio::time::Instant::now() + cfg.data_timeout;
            loop {
                let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
                let (s, from) = match accepted {
                    Err(_) => {
                        return Err(fail(format!("no connection within {:?}", cfg.data_timeout)))
                    }
                    Ok(Err(e)) => return Err(fail(e.to_string())),
                    Ok(Ok(x)) => x,
                };
                if same_host(from.ip(), peer_ip) || cfg.allow_foreign_data_peer {
                    break s;
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
        DataSetup::Active(target) => {
            let sock = match target {
                SocketAddr::V4(_) => TcpSocket::new_v4(),
                SocketAddr::V6(_) => TcpSocket::new_v6(),
            }
            .map_err(|e| fail(e.to_string()))?;
            if local_ip.is_ipv4() == target.is_ipv4() {
                sock.bind(SocketAddr::new(local_ip, 0))
                    .map_err(|e| fail(e.to_string()))?;
            }
            match tokio::time::timeout(cfg.data_timeout, sock.connect(target)).await {
                Err(_) => return Err(fail(format!("connecting to {target} timed out"))),
                Ok(Err(e)) => return Err(fail(format!("connecting to {target}: {e}"))),
                Ok(Ok(s)) => s,
            }
        }
    };
    let _ = stream.set_nodelay(true);
    Ok(stream)
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
