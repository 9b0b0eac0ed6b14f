//! Data connections: passive (EPSV, then PASV) or active (EPRT, then PORT), the
//! preliminary reply, the TLS wrap, and the final reply.
//!
//! Two rules from the server side apply here too (STYLE.md, "distrust the data
//! connection"): in passive mode the client connects to the control peer's address and
//! ignores the one in a 227 reply (a hostile server could otherwise aim the client at a
//! third host, and NAT'd servers often announce a private address anyway); in active mode
//! a connection from any address but the control peer's is refused.

use crate::client::{Client, DataMode};
use crate::control::timeout_error;
use crate::error::{Error, ErrorKind, Result};
use crate::settings::Setting;
use crate::stream::Stream;
use kftp_proto::addr::{parse_epsv_reply, parse_pasv_reply};
use kftp_proto::command::EpsvArg;
use kftp_proto::{Command, Reply};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// How long to wait for the final reply after the data connection has closed. A server
/// may still be flushing a large upload to disk, so this is generous.
const FINAL_REPLY_WAIT: Duration = Duration::from_secs(300);

/// Whether a reply code means "command not implemented / not understood".
pub(crate) fn unsupported(code: u16) -> bool {
    matches!(code, 500 | 501 | 502 | 504)
}

impl Client {
    pub(crate) fn peer(&self) -> Result<SocketAddr> {
        self.ctl
            .stream()
            .tcp()
            .peer_addr()
            .map_err(|e| Error::net("control connection", e))
    }

    /// Asks for a passive port and returns where to connect.
    pub(crate) async fn passive_addr(&mut self) -> Result<SocketAddr> {
        self.passive_addr_after(Vec::new()).await
    }

    /// [`Client::passive_addr`] after `settings`, sent with the EPSV where the server
    /// takes pipelined commands ([`crate::settings`]).
    pub(crate) async fn passive_addr_after(
        &mut self,
        settings: Vec<Setting>,
    ) -> Result<SocketAddr> {
        let peer = self.peer()?;
        if self.no_epsv {
            self.settle(settings).await?;
        } else {
            let epsv = Command::Epsv(EpsvArg::Any);
            let r = self.settle_then(settings, &epsv).await?;
            if r.code == 229 {
                return self.passive_target(&r);
            }
            if !unsupported(r.code) {
                return Err(Error::reply("EPSV", r));
            }
            self.no_epsv = true;
        }
        if peer.is_ipv6() && peer.ip().to_canonical().is_ipv6() {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the server refused EPSV, and PASV cannot work over IPv6",
            ));
        }
        let r = self.ctl.cmd_ok(&Command::Pasv, "PASV").await?;
        self.passive_target(&r)
    }

    /// The passive command this session uses once it knows (EPSV, or PASV after a
    /// refusal), for a pipelined transfer that sends it without waiting.
    pub(crate) fn passive_command(&self) -> Command {
        if self.no_epsv {
            Command::Pasv
        } else {
            Command::Epsv(EpsvArg::Any)
        }
    }

    /// Where a 229 (EPSV) or 227 (PASV) reply says to connect: always the control peer's
    /// address, with the port the reply names.
    pub(crate) fn passive_target(&self, r: &Reply) -> Result<SocketAddr> {
        let peer = self.peer()?;
        let port = match r.code {
            229 => parse_epsv_reply(&r.text()),
            227 => parse_pasv_reply(&r.text()).map(|announced| {
                if announced.ip() != peer.ip() {
                    tracing::debug!(%announced, %peer, "PASV names another address; using the control peer's");
                }
                announced.port()
            }),
            _ => return Err(Error::reply("EPSV/PASV", r.clone())),
        };
        let port = port.ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("unreadable passive reply: {r}"),
            )
        })?;
        Ok(SocketAddr::new(peer.ip(), port))
    }

    /// The active command (EPRT, or PORT after a refusal) naming `addr`, for a pipelined
    /// transfer that sends it without waiting.
    pub(crate) fn active_command(&self, addr: SocketAddr) -> Command {
        if self.no_eprt {
            Command::Port(addr)
        } else {
            Command::Eprt(addr)
        }
    }

    /// A listener on the control connection's local address, and its address.
    pub(crate) async fn bind_active(&self) -> Result<(TcpListener, SocketAddr)> {
        let local = self
            .ctl
            .stream()
            .tcp()
            .local_addr()
            .map_err(|e| Error::net("control connection", e))?;
        let listener = TcpListener::bind(SocketAddr::new(local.ip(), 0))
            .await
            .map_err(|e| Error::local("listening for the active data connection", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::local("listening for the active data connection", e))?;
        Ok((listener, addr))
    }

    /// Sends EPRT (or PORT) for a listener on the control connection's local address.
    pub(crate) async fn active_listener(&mut self) -> Result<TcpListener> {
        self.active_listener_after(Vec::new()).await
    }

    /// [`Client::active_listener`] after `settings`, sent with the EPRT where the server
    /// takes pipelined commands ([`crate::settings`]).
    pub(crate) async fn active_listener_after(
        &mut self,
        settings: Vec<Setting>,
    ) -> Result<TcpListener> {
        let (listener, addr) = self.bind_active().await?;
        self.point_to(addr, settings).await?;
        Ok(listener)
    }

    /// Tells the server to connect its next data connection to `addr` (ours, or another
    /// server's for a third-party copy): EPRT, or PORT once the server has refused EPRT;
    /// after `settings`, sent with the EPRT where the server takes that.
    pub(crate) async fn point_to(
        &mut self,
        addr: SocketAddr,
        settings: Vec<Setting>,
    ) -> Result<()> {
        if self.no_eprt {
            self.settle(settings).await?;
        } else {
            let eprt = Command::Eprt(addr);
            let r = self.settle_then(settings, &eprt).await?;
            if r.is_success() {
                return Ok(());
            }
            if !unsupported(r.code) {
                return Err(Error::reply("EPRT", r));
            }
            self.no_eprt = true;
        }
        if kftp_proto::addr::format_port(&addr).is_none() {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the server refused EPRT, and PORT cannot work over IPv6",
            ));
        }
        self.ctl.cmd_ok(&Command::Port(addr), "PORT").await?;
        Ok(())
    }

    /// Opens a data connection for `cmd` (RETR, STOR, LIST...): sets it up, sends the
    /// command, waits for 1yz, and wraps TLS when PROT P is on. `what` names the
    /// operation in errors. A low-level door for programs that move the bytes themselves
    /// (the benchmark does); end it with [`Client::finish_data`].
    pub async fn open_data(&mut self, cmd: Command, what: &str) -> Result<Stream> {
        let upload = matches!(cmd, Command::Stor(_) | Command::Appe(_) | Command::Stou(_));
        if upload
            && self.data_tls
            && self
                .opts
                .tls
                .as_ref()
                .and_then(|t| t.tickets.as_ref())
                .is_some_and(|t| t.low())
        {
            self.refill_tickets().await;
        }
        if self.mode_e {
            self.stream_mode().await?;
        }
        let timeout = self.ctl.timeout();
        let tcp = match self.opts.mode {
            DataMode::Passive => {
                let addr = self.passive_addr().await?;
                let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                    Ok(r) => r.map_err(|e| Error::net(format!("data connection to {addr}"), e))?,
                    Err(_) => return Err(timeout_error("opening the data connection")),
                };
                self.expect_preliminary(&cmd, what).await?;
                tcp
            }
            DataMode::Active => {
                let listener = self.active_listener().await?;
                self.expect_preliminary(&cmd, what).await?;
                let peer = self.peer()?;
                let (tcp, from) = match tokio::time::timeout(timeout, listener.accept()).await {
                    Ok(r) => r.map_err(|e| Error::net("accepting the data connection", e))?,
                    Err(_) => {
                        return Err(timeout_error("waiting for the server's data connection"))
                    }
                };
                if from.ip().to_canonical() != peer.ip().to_canonical() {
                    return Err(Error::new(
                        ErrorKind::Network,
                        format!("refused a data connection from {from}, not the server {peer}"),
                    ));
                }
                tcp
            }
        };
        if !self.data_tls {
            return Ok(Stream::Plain(tcp));
        }
        let Some(tls) = self.opts.tls.clone() else {
            return Err(Error::usage("PROT P without a TLS configuration"));
        };
        match tokio::time::timeout(timeout, tls.connect(tcp)).await {
            Ok(r) => r.map_err(|e| Error::net("TLS handshake on the data connection", e)),
            Err(_) => Err(timeout_error("TLS handshake on the data connection")),
        }
    }

    /// Tops up the TLS 1.3 tickets with an empty listing (its data connection brings new
    /// ones): rustls uses each ticket once, and kftpd sends none on upload connections,
    /// so a run of uploads would otherwise leave nothing to resume the control session
    /// with. Best effort: a server that refuses the listing costs one round trip.
    pub(crate) async fn refill_tickets(&mut self) {
        let cmd = Command::Nlst {
            path: Some(".kftp-ticket-refill-*".into()),
            all: false,
        };
        if let Ok(mut s) = Box::pin(self.open_data(cmd, "ticket refill")).await {
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut s, &mut sink).await;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut s).await;
            let _ = self.finish_data("ticket refill").await;
        }
    }

    pub(crate) async fn expect_preliminary(&mut self, cmd: &Command, what: &str) -> Result<()> {
        let r = self.ctl.cmd(cmd).await?;
        if r.is_preliminary() {
            Ok(())
        } else {
            Err(Error::reply(what.to_string(), r))
        }
    }

    /// Reads the reply that ends a transfer (226/250 normally).
    pub async fn finish_data(&mut self, what: &str) -> Result<Reply> {
        let r = self.ctl.read_reply_within(FINAL_REPLY_WAIT).await?;
        if r.is_success() {
            Ok(r)
        } else {
            Err(Error::reply(what.to_string(), r))
        }
    }
}
