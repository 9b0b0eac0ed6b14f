//! A connection that is plain TCP or TLS over TCP, for control and data channels alike.
//!
//! An enum rather than `Box<dyn AsyncRead>` so the data path can see the plain
//! [`TcpStream`] and hand it to sendfile/splice (`kftp_datapath`), and so AUTH TLS can
//! take the plain stream back out and wrap it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
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
}

impl TlsSetup {
    /// A setup for `host` (a DNS name or an IP address literal).
    pub fn new(config: Arc<rustls::ClientConfig>, host: &str) -> io::Result<TlsSetup> {
        let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(TlsSetup {
            config,
            server_name,
        })
    }

    /// The same settings with an empty session store of its own: one per control
    /// connection. The control connection and its data connections then share one
    /// store, while parallel sessions do not take each other's tickets: servers that tie
    /// a data connection to *its* control session (kftpd) refuse a ticket from another.
    pub fn with_own_sessions(&self) -> TlsSetup {
        let mut config = (*self.config).clone();
        config.resumption = rustls::client::Resumption::in_memory_sessions(64);
        TlsSetup {
            config: Arc::new(config),
            server_name: self.server_name.clone(),
        }
    }

    /// Runs the client handshake over `tcp`.
    pub async fn connect(&self, tcp: TcpStream) -> io::Result<Stream> {
        let c = TlsConnector::from(self.config.clone());
        let tls = c.connect(self.server_name.clone(), tcp).await?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// A plain or TLS stream.
#[derive(Debug)]
pub enum Stream {
    /// Clear text.
    Plain(TcpStream),
    /// rustls in user space (boxed: the TLS state is large).
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
