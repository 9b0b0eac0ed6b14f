//! The client side: one `ClientConfig` per server, shared by the control connection and
//! every data connection so that data connections resume the control session.
//!
//! Use the same `Arc<ClientConfig>` **and the same `ServerName`** for the control and the
//! data connections: rustls keys its session store by server name. For TLS 1.3 the tickets
//! arrive after the handshake, so the control connection must have read something (any
//! reply after `AUTH TLS`, e.g. the `USER` reply) before the first data connection; by
//! `PASV`/`EPSV` time that is always so.
use crate::fingerprint::{format_colon_hex, parse_fingerprint};
use crate::TlsError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// Sessions the client remembers (per config; TLS 1.3 keeps up to 8 tickets per server).
const CLIENT_SESSION_CACHE: usize = 256;

/// Which protocol versions the client offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.3 and 1.2 (the default).
    #[default]
    Both,
    /// TLS 1.2 only (for old servers, and for tests).
    Tls12Only,
    /// TLS 1.3 only.
    Tls13Only,
}

/// How the client authenticates the server.
#[derive(Clone, Debug, Default)]
pub struct ClientTlsOptions {
    /// Accept exactly the certificate whose SHA-256 matches (`AA:BB:..` or plain hex),
    /// whatever its name, issuer or dates: for a server with a self-signed certificate.
    pub pin_sha256: Option<String>,
    /// Accept any certificate. Only the handshake's signatures are still checked, so this
    /// stops passive eavesdroppers, not an active attacker. Ignored if a pin is given.
    pub insecure: bool,
    /// PEM files of extra trusted CA certificates, added to the system roots.
    pub extra_roots: Vec<PathBuf>,
    /// Protocol versions to offer.
    pub versions: TlsVersions,
    /// Restrict the cipher suites offered, in this order (interop checks, tests); `None`
    /// offers all of the provider's modern suites in its order.
    pub cipher_suites: Option<Vec<rustls::CipherSuite>>,
}

/// Builds the client config for one server.
///
/// Verification: `pin_sha256` if set, else `insecure` if set, else the system's root
/// certificates (rustls-native-certs; the bundled Mozilla roots if the system has none)
/// plus `extra_roots`. Session resumption is on (TLS 1.3 tickets, TLS 1.2 session IDs and
/// tickets), and secret extraction is enabled for kTLS.
pub fn client_config(opts: &ClientTlsOptions) -> Result<Arc<ClientConfig>, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(wanted) = &opts.cipher_suites {
        let all = std::mem::take(&mut provider.cipher_suites);
        provider.cipher_suites = wanted
            .iter()
            .filter_map(|w| all.iter().find(|s| s.suite() == *w).copied())
            .collect();
    }
    let provider = Arc::new(provider);
    let versions: &[&rustls::SupportedProtocolVersion] = match opts.versions {
        TlsVersions::Both => crate::VERSIONS,
        TlsVersions::Tls12Only => &[&rustls::version::TLS12],
        TlsVersions::Tls13Only => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)?;
    let algorithms = provider.signature_verification_algorithms;
    let mut config = if let Some(pin) = &opts.pin_sha256 {
        let verifier = Arc::new(AnyCertVerifier {
            pin: Some(parse_fingerprint(pin)?),
            algorithms,
        });
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth()
    } else if opts.insecure {
        let verifier = Arc::new(AnyCertVerifier {
            pin: None,
            algorithms,
        });
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(&opts.extra_roots)?)
            .with_no_client_auth()
    };
    config.resumption = Resumption::in_memory_sessions(CLIENT_SESSION_CACHE);
    config.enable_secret_extraction = true;
    Ok(Arc::new(config))
}

/// System roots (or the bundled Mozilla set if none load) plus extra PEM files.
fn roots(extra: &[PathBuf]) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "loading a system root certificate");
    }
    let (added, _ignored) = store.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::debug!("no system root certificates; using the bundled Mozilla roots");
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in extra {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect())
            .map_err(|e| TlsError::Pem {
                path: path.clone(),
                what: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TlsError::Pem {
                path: path.clone(),
                what: "no CERTIFICATE block".into(),
            });
        }
        for cert in certs {
            store.add(cert)?;
        }
    }
    Ok(store)
}

/// Accepts the server certificate by pin (or any, when `pin` is `None`), ignoring names,
/// issuers and dates; still verifies the handshake signatures with the certificate's key,
/// so the peer must hold the private key.
#[derive(Debug)]
struct AnyCertVerifier {
    pin: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pin) = &self.pin else {
            return Ok(ServerCertVerified::assertion());
        };
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if &got == pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server certificate SHA-256 {} does not match the pinned {}",
                format_colon_hex(&got),
                format_colon_hex(pin)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client session store that counts the TLS 1.3 tickets it holds.
///
/// rustls uses each TLS 1.3 ticket once. An FTPS client whose server issues no tickets on
/// upload data connections (kftpd does not: clients that never read them get their uploads
/// reset) runs dry after a run of uploads, and its next data connection can no longer
/// resume the control session. A client that sees [`TicketCountingStore::low`] can top the
/// supply up with a cheap listing first.
#[derive(Debug)]
pub struct TicketCountingStore {
    inner: rustls::client::ClientSessionMemoryCache,
    tls13: std::sync::atomic::AtomicUsize,
    tls12: std::sync::atomic::AtomicBool,
}

/// rustls keeps at most this many TLS 1.3 tickets per server.
const TICKETS_KEPT: usize = 8;

impl TicketCountingStore {
    /// A store for `size` servers.
    pub fn new(size: usize) -> Arc<Self> {
        Arc::new(TicketCountingStore {
            inner: rustls::client::ClientSessionMemoryCache::new(size),
            tls13: std::sync::atomic::AtomicUsize::new(0),
            tls12: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// TLS 1.3 tickets held (an upper bound).
    pub fn tickets(&self) -> usize {
        self.tls13.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the next connection could not resume: no TLS 1.2 session and at most one
    /// TLS 1.3 ticket left.
    pub fn low(&self) -> bool {
        !self.tls12.load(std::sync::atomic::Ordering::Relaxed) && self.tickets() <= 1
    }
}

impl rustls::client::ClientSessionStore for TicketCountingStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(server_name, group)
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.tls12.store(true, std::sync::atomic::Ordering::Relaxed);
        self.inner.set_tls12_session(server_name, value)
    }
    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.tls12
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.inner.remove_tls12_session(server_name)
    }
    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        let _ = self.tls13.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| Some((n + 1).min(TICKETS_KEPT)),
        );
        self.inner.insert_tls13_ticket(server_name, value)
    }
    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        let t = self.inner.take_tls13_ticket(server_name);
        if t.is_some() {
            let _ = self.tls13.fetch_update(
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
                |n| Some(n.saturating_sub(1)),
            );
        } else {
            self.tls13.store(0, std::sync::atomic::Ordering::Relaxed);
        }
        t
    }
}
