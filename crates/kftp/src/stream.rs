//! TLS setup for the client's connections, and [`Stream`]: plain TCP or TLS over TCP, for
//! control and data channels alike.

use std::io;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// What a TLS connection needs: the client config (shared by the control and all data
/// connections, so rustls resumes the control session on data channels, which servers
/// such as vsftpd with `require_ssl_reuse` insist on) and the server name to verify.
#[derive(Clone, Debug)]
pub struct TlsSetup {
    /// The rustls client configuration.
    pub config: Arc<rustls::ClientConfig>,
    /// The name the certificate must carry (the host of the URL).
    pub server_name: rustls::pki_types::ServerName<'static>,
    /// This session's ticket store, when it has its own (see [`TlsSetup::with_own_sessions`]).
    pub tickets: Option<Arc<kftp_tls::client::TicketCountingStore>>,
}

impl TlsSetup {
    /// A setup for `host` (a DNS name or an IP address literal).
    pub fn new(config: Arc<rustls::ClientConfig>, host: &str) -> io::Result<TlsSetup> {
        let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(TlsSetup {
            config,
            server_name,
            tickets: None,
        })
    }

    /// The same settings with an empty session store of its own: one per control
    /// connection. The control connection and its data connections then share one
    /// store, while parallel sessions do not take each other's tickets: servers that tie
    /// a data connection to *its* control session (kftpd) refuse a ticket from another.
    pub fn with_own_sessions(&self) -> TlsSetup {
        let mut config = (*self.config).clone();
        let store = kftp_tls::client::TicketCountingStore::new(64);
        config.resumption = rustls::client::Resumption::store(store.clone());
        TlsSetup {
            config: Arc::new(config),
            server_name: self.server_name.clone(),
            tickets: Some(store),
        }
    }

    /// Runs the client handshake over `tcp`.
    pub async fn connect(&self, tcp: TcpStream) -> io::Result<Stream> {
        let c = TlsConnector::from(self.config.clone());
        let tls = c.connect(self.server_name.clone(), tcp).await?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// A plain or TLS stream (see [`kftp_tls::MaybeTls`], shared with the server).
pub type Stream = kftp_tls::ClientStream;
