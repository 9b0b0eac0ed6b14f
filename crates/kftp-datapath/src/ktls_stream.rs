//! [`KtlsStream`]: a TCP connection whose transmit direction the kernel encrypts, for the
//! file sends that keep `sendfile(2)` under TLS (a MODE S download, a MODE E stream's
//! blocks, a client's upload).
//!
//! It lives here, beside the setsockopt calls, rather than in `kftp-tls`, so that
//! [`crate::modee::Sink`] can hold one: a stream only becomes a `KtlsStream` through
//! [`KtlsStream::install`], so whoever holds one knows the kernel has the keys, and the
//! rustls session they came from is gone (it can never write on the socket again). Its
//! only way to end is [`KtlsStream::shutdown`], whose `close_notify` the kernel encrypts.
use crate::ktls::{self, CryptoParams, Version};
use std::io;
use std::os::fd::AsFd;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// How long [`KtlsStream::shutdown`] waits for the peer to close after our `close_notify`.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Most bytes [`KtlsStream::shutdown`] reads and discards while waiting for the peer.
pub const DRAIN_MAX: usize = 1 << 20;

/// A TCP connection whose transmit direction the kernel encrypts.
///
/// Write to [`KtlsStream::tcp`] (or `sendfile` into it): each write becomes TLS
/// application-data records. Do not read from it except through [`KtlsStream::shutdown`]:
/// what arrives is the peer's raw, still-encrypted records.
#[derive(Debug)]
pub struct KtlsStream {
    tcp: TcpStream,
    version: Version,
    cipher: &'static str,
}

impl KtlsStream {
    /// Installs `params` as the transmit keys of `tcp` (whose `tls` ULP is attached,
    /// [`ktls::enable_ulp`]). On error the connection is unusable: its TLS session now
    /// lives nowhere.
    pub fn install(tcp: TcpStream, params: &CryptoParams) -> io::Result<KtlsStream> {
        ktls::install_tx(tcp.as_fd(), params)?;
        Ok(KtlsStream {
            tcp,
            version: params.version,
            cipher: params.cipher.name(),
        })
    }

    /// A stream over a socket without keys, for tests of the code around it (what is
    /// written goes out in clear).
    #[cfg(test)]
    pub(crate) fn unencrypted_for_test(tcp: TcpStream) -> KtlsStream {
        KtlsStream {
            tcp,
            version: Version::Tls13,
            cipher: "none",
        }
    }

    /// The socket, for `sendfile`/`write`.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The socket, mutably (for `AsyncWriteExt` methods; writes are encrypted by the kernel).
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// Writes all of `buf` as application data.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.tcp.write_all(buf).await
    }

    /// `TLSv1.2` or `TLSv1.3`, for logs.
    pub fn version(&self) -> &'static str {
        match self.version {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }

    /// The cipher name, for logs.
    pub fn cipher(&self) -> &'static str {
        self.cipher
    }

    /// Ends the connection cleanly: a `close_notify` alert record, a TCP FIN, then reads
    /// and discards what the peer still sends (its `close_notify`) until it closes or
    /// [`DRAIN_TIMEOUT`], so that closing never turns into a reset that could destroy data
    /// the peer has not read yet.
    pub async fn shutdown(mut self) -> io::Result<()> {
        let tcp = &self.tcp;
        tcp.async_io(Interest::WRITABLE, || ktls::send_close_notify(tcp.as_fd()))
            .await?;
        self.tcp.shutdown().await?;
        let drain = async {
            let mut buf = vec![0u8; 16 * 1024];
            let mut total = 0usize;
            while let Ok(n) = self.tcp.read(&mut buf).await {
                total += n;
                if n == 0 || total > DRAIN_MAX {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
        Ok(())
    }
}
