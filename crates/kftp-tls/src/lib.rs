//! FTPS for kftp: rustls configurations, certificates, data-channel session reuse and the
//! hand-off to kernel TLS.
//!
//! # Layout
//! - [`server`]: [`ServerTls`] (certificate chain and key from files, or a self-signed
//!   certificate generated once into the state directory; hot [`ServerTls::reload`]),
//!   [`Lineage`] (one per control connection), [`accept_control`] and [`accept_data`], which
//!   enforces that a `PROT P` data connection resumes its control connection's TLS session.
//! - [`client`]: [`ClientTlsOptions`] -> [`client_config`]: system roots, SHA-256 pinning,
//!   or explicit `insecure`; one shared `Arc<ClientConfig>` whose session store lets data
//!   connections resume the control session.
//! - [`bulk`]: [`BulkRead`], an upload's plaintext from large socket reads (rustls alone
//!   reads 4 KiB per syscall).
//! - [`kept`]: MODE E streams under `PROT P` kept between transfers: liveness without
//!   consuming, the record budget of a reused kTLS key, the clean end.
//! - [`fingerprint`]: SHA-256 certificate fingerprints, printed `AA:BB:..`, parsed from that
//!   form or plain hex.
//! - [`ktls`]: turning a finished rustls stream into a kTLS socket (TX) when the kernel can,
//!   so `PROT P` downloads still go through `sendfile(2)`.
//! - [`send`]: [`send_file`], the one kTLS -> sendfile -> rustls fallback sequence, used by
//!   the server's RETR and the client's uploads; [`block_sink`], the same choice for a
//!   MODE E stream's blocks.
//! - [`stream`]: [`MaybeTls`], plain or TLS, for control and data connections on both
//!   sides ([`ServerStream`], [`ClientStream`]).
//! - [`looks_like_client_hello`]: tells implicit FTPS from plain FTP on one port.
//!
//! # Data-channel session reuse (the `require_ssl_reuse` of vsftpd)
//! Someone who races the client to a passive port could otherwise steal or inject a
//! transfer: a TLS handshake alone proves nothing about *who* connects. So the server
//! requires the data connection to *resume* the TLS session of the control connection,
//! which only the holder of the control session's secrets can do.
//!
//! Each control connection gets a [`Lineage`]: a random 32-byte token **and its own
//! `ServerConfig`**, with a session cache and a ticket key that no other control connection
//! shares. Every session issued on the control connection or on one of its data
//! connections belongs to that lineage; a data connection is accepted with the lineage's
//! config and must come out `HandshakeKind::Resumed`:
//! - TLS 1.3: resumption is by PSK ticket. The server sends
//!   [`TLS13_TICKETS_PER_HANDSHAKE`] tickets per handshake (control and data), so a client
//!   that uses each ticket once (rustls, OpenSSL) has enough for parallel data connections,
//!   and tickets from data connections keep the supply up. Tickets are stateless (sealed
//!   with the lineage's key), so a client that reuses one ticket many times also works.
//!   Any ticket of the lineage is accepted. In addition the lineage token is embedded
//!   with `ServerConnection::set_resumption_data` and checked on the data connection.
//! - TLS 1.2: resumption by session ID (the lineage's stateful cache) or by session ticket
//!   (the lineage's ticket key). rustls 0.23 does not report `received_resumption_data`
//!   for TLS 1.2, so here the per-lineage cache and key *are* the check: a session from
//!   anywhere else cannot be found or decrypted and the handshake becomes a full one.
//!
//! A refusal says why ([`DataAcceptError`]), for a `522` reply.
//!
//! # Kernel TLS
//! See [`ktls`]: TX only, with a record budget, and a clean fallback (cached) when the kernel
//! has no TLS support.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bulk;
pub mod client;
pub mod fingerprint;
pub mod kept;
pub mod ktls;
pub mod send;
pub mod server;
pub mod stream;

pub use bulk::BulkRead;
pub use client::{client_config, ClientTlsOptions, TlsVersions};
pub use fingerprint::{fingerprint_of, parse_fingerprint};
pub use send::{block_sink, send_file};
pub use server::{
    accept_control, accept_data, accept_data_for, DataAcceptError, Lineage, Reuse, ServerTls,
    TLS13_TICKETS_PER_HANDSHAKE,
};
pub use stream::{ClientStream, MaybeTls, ServerStream};

/// Errors setting up TLS (certificates, keys, configs). Never caused by a peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file held nothing usable.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        what: String,
    },
    /// rustls refused the key, chain or settings.
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    /// Generating the self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A pin is not a SHA-256 fingerprint.
    #[error("bad certificate pin '{0}': expected 64 hex digits, optionally as AA:BB:..")]
    BadPin(String),
}

/// Whether the first bytes of a connection are a TLS ClientHello record header.
///
/// A TLS handshake record starts `0x16` (handshake), then the record-layer version `0x03
/// 0x01..=0x04`. Plain FTP clients wait for the `220` greeting and send nothing first, and
/// no FTP command starts with byte `0x16`, so a server on one port can peek at the first
/// bytes (with a short timeout) and choose implicit FTPS or plain/explicit FTP. Fewer than
/// three bytes is `false`: peek again or time out.
pub fn looks_like_client_hello(first_bytes: &[u8]) -> bool {
    matches!(first_bytes, [0x16, 0x03, 0x01..=0x04, ..])
}

/// Ends a TLS data connection cleanly: `close_notify` + FIN, then reads and discards what
/// the peer still sends until it closes (at most 5 s and 1 MiB).
///
/// Use it for both uploads and downloads, on both sides. The draining matters: a TLS 1.3
/// server sends session tickets right after the handshake, and a peer that closes a socket
/// with such unread bytes makes Linux send a reset that **discards its own unsent data**:
/// an upload whose sender just drops the socket can lose its tail. (For a kTLS socket use
/// [`ktls::KtlsStream::shutdown`], which does the same.)
pub async fn close_data<S>(mut stream: S) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.shutdown().await?;
    let drain = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut total = 0usize;
        while let Ok(n) = stream.read(&mut buf).await {
            total += n;
            if n == 0 || total > (1 << 20) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain).await;
    Ok(())
}

/// A reader over an upload's TLS stream that takes a TCP FIN without `close_notify` as the
/// end of the stream and remembers it ([`EofWatch::truncated`]).
///
/// rustls reports such an end as `UnexpectedEof`, since an attacker on the path could have
/// cut the stream short with a forged FIN. Many clients close that way all the same (vsftpd
/// accepts it unless `strict_ssl_read_eof` is set, "because so few clients get it right"),
/// so the caller decides: every byte read before it came in whole, authenticated records.
pub struct EofWatch<'a, S> {
    inner: &'a mut S,
    truncated: bool,
}

impl<'a, S> EofWatch<'a, S> {
    /// Watches `inner`.
    pub fn new(inner: &'a mut S) -> Self {
        EofWatch {
            inner,
            truncated: false,
        }
    }

    /// Whether the stream ended with a bare FIN instead of a `close_notify`.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for EofWatch<'_, S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        match std::pin::Pin::new(&mut *this.inner).poll_read(cx, buf) {
            std::task::Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                this.truncated = true;
                std::task::Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// The crypto provider every kftp config uses: ring, with its default suites, which are
/// all ECDHE + AEAD (AES-GCM, ChaCha20-Poly1305): no CBC, RSA key exchange or SHA-1 MACs.
pub(crate) fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// The servers' provider: [`provider`] with the AES-256-GCM suites first (TLS 1.3 and 1.2
/// alike), a preference the server configs apply whatever order the client lists
/// (`ignore_client_order`). Measured, not assumed: with curl (OpenSSL 3.0) uploading over
/// loopback, AES-256-GCM cost both ends less CPU than AES-128-GCM in 9 of 9 alternated
/// pairs (curl 1.05-1.39 against 1.38-1.99 s/GiB, kftpd 0.94-1.34 against 1.12-1.74) and
/// downloads were level, though `openssl speed` rates AES-128-GCM 6 % faster
/// (BENCHMARKS.md, session 6; SECURITY.md, "Cipher suite order").
pub(crate) fn server_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    // A stable sort: the rest keeps ring's order (AES-128-GCM, then ChaCha20-Poly1305).
    p.cipher_suites.sort_by_key(|s| !is_aes256_gcm(s.suite()));
    std::sync::Arc::new(p)
}

fn is_aes256_gcm(suite: rustls::CipherSuite) -> bool {
    use rustls::CipherSuite as C;
    matches!(
        suite,
        C::TLS13_AES_256_GCM_SHA384
            | C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    )
}

/// TLS 1.3 and 1.2, nothing older.
pub(crate) static VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_detection() {
        assert!(looks_like_client_hello(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(looks_like_client_hello(&[0x16, 0x03, 0x03]));
        assert!(looks_like_client_hello(&[0x16, 0x03, 0x04]));
        assert!(!looks_like_client_hello(&[0x16, 0x03, 0x00]));
        assert!(!looks_like_client_hello(&[0x16, 0x03, 0x05]));
        assert!(!looks_like_client_hello(&[0x16, 0x03]));
        assert!(!looks_like_client_hello(b""));
        assert!(!looks_like_client_hello(b"USER anonymous\r\n"));
        assert!(!looks_like_client_hello(b"AUTH TLS\r\n"));
    }
}
