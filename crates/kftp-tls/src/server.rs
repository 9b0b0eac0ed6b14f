//! The server side: certificates, per-control-connection lineages, and accepting control
//! and data connections.
use crate::fingerprint::fingerprint_of;
use crate::TlsError;
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::{HandshakeKind, ProtocolVersion, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// TLS 1.3 tickets sent after every full or resumed handshake. rustls and OpenSSL clients
/// use a ticket once, and each data connection needs one: eight cover a burst of
/// parallel data connections before the data connections' own tickets arrive.
pub const TLS13_TICKETS_PER_HANDSHAKE: usize = 8;

/// How long a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// TLS 1.2 session-ID cache entries per lineage. One control session plus its data
/// connections (a resumed TLS 1.2 session keeps its ID) need only a few.
const LINEAGE_SESSION_CACHE: usize = 32;

/// Session-ID cache of the shared config (used when reuse is not required).
const SHARED_SESSION_CACHE: usize = 4096;

/// File names of a generated certificate inside the state directory.
const GENERATED_CERT: &str = "tls-cert.pem";
const GENERATED_KEY: &str = "tls-key.pem";

/// The server's TLS identity and base configuration. Cheap to clone (shared inside).
///
/// Certificates are served through a resolver behind an `RwLock`, so [`ServerTls::reload`]
/// swaps them for new handshakes without a restart while sessions in progress go on.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Inner>,
}

struct Inner {
    resolver: Arc<Resolver>,
    cert_path: PathBuf,
    key_path: PathBuf,
    generated: bool,
    fingerprint: RwLock<String>,
    /// TLS 1.2 + 1.3, shared session cache and ticket key: for connections that need no
    /// lineage (data connections when reuse is off).
    shared: Arc<ServerConfig>,
    /// The shared config without TLS 1.3 tickets, for upload data connections that have
    /// no lineage (see `Lineage::upload_config` for why uploads get none).
    shared_upload: Arc<ServerConfig>,
}

/// The current certificate chain and key, swappable.
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock still holds a valid key: a panic elsewhere cannot corrupt an Arc swap.
        let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
        Some(Arc::clone(&guard))
    }
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert", &self.inner.cert_path)
            .field("generated", &self.inner.generated)
            .field("fingerprint", &self.fingerprint_sha256())
            .finish()
    }
}

impl ServerTls {
    /// Loads a PEM certificate chain (end-entity first) and a PEM private key (PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn load(cert_pem: &Path, key_pem: &Path) -> Result<ServerTls, TlsError> {
        Self::from_files(cert_pem.to_path_buf(), key_pem.to_path_buf(), false)
    }

    /// Loads the self-signed certificate kept in `state_dir`, generating it first if there is
    /// none. The key file is created with mode 0600 and the directory with 0700 if missing.
    ///
    /// `hostnames` become the subject alternative names (DNS names or IP addresses);
    /// empty means `localhost`. Clients should pin [`ServerTls::fingerprint_sha256`].
    pub fn load_or_generate(state_dir: &Path, hostnames: &[String]) -> Result<ServerTls, TlsError> {
        let cert_path = state_dir.join(GENERATED_CERT);
        let key_path = state_dir.join(GENERATED_KEY);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => {}
            (false, false) => generate(state_dir, &cert_path, &key_path, hostnames)?,
            _ => {
                return Err(TlsError::Pem {
                    path: state_dir.to_path_buf(),
                    what: format!(
                        "only one of {GENERATED_CERT} and {GENERATED_KEY} exists; \
                         remove it to generate a new pair"
                    ),
                })
            }
        }
        if let Ok(meta) = fs::metadata(&key_path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %key_path.display(), "TLS key file is readable by others");
            }
        }
        Self::from_files(cert_path, key_path, true)
    }

    fn from_files(
        cert_path: PathBuf,
        key_path: PathBuf,
        generated: bool,
    ) -> Result<Self, TlsError> {
        let (key, fingerprint) = read_certified_key(&cert_path, &key_path)?;
        let resolver = Arc::new(Resolver {
            current: RwLock::new(Arc::new(key)),
        });
        let mut shared = base_config(Arc::clone(&resolver))?;
        shared.session_storage = ServerSessionMemoryCache::new(SHARED_SESSION_CACHE);
        shared.ticketer = rustls::crypto::ring::Ticketer::new()?;
        let mut shared_upload = shared.clone();
        shared_upload.send_tls13_tickets = 0;
        Ok(ServerTls {
            inner: Arc::new(Inner {
                resolver,
                cert_path,
                key_path,
                generated,
                fingerprint: RwLock::new(fingerprint),
                shared: Arc::new(shared),
                shared_upload: Arc::new(shared_upload),
            }),
        })
    }

    /// SHA-256 of the current end-entity certificate, `AA:BB:..`.
    pub fn fingerprint_sha256(&self) -> String {
        self.inner
            .fingerprint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the certificate was generated (self-signed) rather than given.
    pub fn is_generated(&self) -> bool {
        self.inner.generated
    }

    /// Path of the certificate chain in use (given, or generated in the state directory).
    pub fn cert_path(&self) -> &Path {
        &self.inner.cert_path
    }

    /// Re-reads the certificate and key files. New handshakes use them at once; sessions in
    /// progress and their resumption are not affected. On error the old pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (key, fingerprint) = read_certified_key(&self.inner.cert_path, &self.inner.key_path)?;
        *self
            .inner
            .resolver
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        *self
            .inner
            .fingerprint
            .write()
            .unwrap_or_else(|p| p.into_inner()) = fingerprint.clone();
        tracing::info!(%fingerprint, "TLS certificate reloaded");
        Ok(())
    }

    /// The shared config (TLS 1.2 + 1.3, tickets, session cache, secret extraction on).
    /// Control connections should use [`Lineage::new`] + [`accept_control`] instead, so that
    /// their data connections can be tied to them.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.inner.shared)
    }
}

/// The settings every kftp server config shares.
fn base_config(resolver: Arc<Resolver>) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(crate::server_provider())
        .with_protocol_versions(crate::VERSIONS)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.send_tls13_tickets = TLS13_TICKETS_PER_HANDSHAKE;
    // The server's suite order (AES-256-GCM first), not the client's: see server_provider.
    config.ignore_client_order = true;
    // kTLS needs the traffic secrets after the handshake.
    config.enable_secret_extraction = true;
    Ok(config)
}

fn read_certified_key(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(CertifiedKey, String), TlsError> {
    let pem_err = |path: &Path, e: rustls_pki_types::pem::Error| match e {
        rustls_pki_types::pem::Error::Io(source) => TlsError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => TlsError::Pem {
            path: path.to_path_buf(),
            what: other.to_string(),
        },
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| pem_err(cert_path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_err(cert_path, e))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::Pem {
            path: cert_path.to_path_buf(),
            what: "no CERTIFICATE block".into(),
        });
    };
    let fingerprint = fingerprint_of(leaf);
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| pem_err(key_path, e))?;
    let certified = CertifiedKey::from_der(chain, key, &crate::provider())?;
    Ok((certified, fingerprint))
}

/// Generates a self-signed ECDSA P-256 certificate into `state_dir`.
fn generate(
    state_dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    hostnames: &[String],
) -> Result<(), TlsError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(io_err(state_dir))?;
    let names = if hostnames.is_empty() {
        vec!["localhost".to_string()]
    } else {
        hostnames.to_vec()
    };
    let generated = rcgen::generate_simple_self_signed(names)?;
    // Key first, then cert: a crash in between leaves "only one exists", which we report.
    write_new(
        key_path,
        generated.key_pair.serialize_pem().as_bytes(),
        0o600,
    )
    .map_err(io_err(key_path))?;
    write_new(cert_path, generated.cert.pem().as_bytes(), 0o644).map_err(io_err(cert_path))?;
    tracing::info!(path = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok(())
}

/// Writes a new file with `mode` from the start (never briefly world-readable), via a
/// temporary name and a rename so a reader never sees half a file.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// The TLS session family of one control connection.
///
/// It owns a `ServerConfig` whose session cache and ticket key belong to this control
/// connection alone, plus a random token embedded in every session it issues. Sessions
/// issued on the control connection *and* on its data connections belong to it, so a client
/// may resume with any of them. Create one per control connection before its TLS handshake
/// and keep it for the session's life.
pub struct Lineage {
    token: [u8; 32],
    config: Arc<ServerConfig>,
    /// The same session cache and ticket key, but fewer TLS 1.3 tickets per handshake:
    /// a data connection consumes one and hands back [`DATA_TLS13_TICKETS`], which keeps
    /// a single-use client's supply up without piling unread bytes on uploads.
    data_config: Arc<ServerConfig>,
    /// For uploads: no TLS 1.3 tickets at all. A client that only writes never reads them,
    /// and closing a socket with unread bytes makes Linux send a reset that can destroy
    /// the end of the upload (seen with suppaftp).
    upload_config: Arc<ServerConfig>,
}

/// TLS 1.3 tickets sent on each data connection of a lineage.
pub const DATA_TLS13_TICKETS: usize = 6;

impl std::fmt::Debug for Lineage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lineage").field("id", &self.id()).finish()
    }
}

impl Lineage {
    /// A fresh lineage over `tls`'s certificates.
    pub fn new(tls: &ServerTls) -> Result<Lineage, TlsError> {
        let mut token = [0u8; 32];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut token)
            .map_err(rustls::Error::from)?;
        let mut config = (*tls.inner.shared).clone();
        config.session_storage = ServerSessionMemoryCache::new(LINEAGE_SESSION_CACHE);
        config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        let mut data_config = config.clone();
        data_config.send_tls13_tickets = DATA_TLS13_TICKETS;
        let mut upload_config = config.clone();
        upload_config.send_tls13_tickets = 0;
        Ok(Lineage {
            token,
            config: Arc::new(config),
            data_config: Arc::new(data_config),
            upload_config: Arc::new(upload_config),
        })
    }

    /// A short public identifier for logs (not the token itself).
    pub fn id(&self) -> String {
        crate::fingerprint::format_colon_hex(&self.token[..4]).replace(':', "")
    }

    /// This lineage's config, for callers that drive the handshake themselves: they must
    /// also call `set_resumption_data(lineage.token())` before the handshake.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// The token embedded in this lineage's TLS 1.3 tickets.
    pub fn token(&self) -> &[u8] {
        &self.token
    }
}

/// Runs the TLS handshake on a control connection (after `AUTH TLS`, or at once for
/// implicit FTPS) within [`HANDSHAKE_TIMEOUT`]. Sessions it issues belong to `lineage`.
pub async fn accept_control<IO>(lineage: &Lineage, io: IO) -> io::Result<TlsStream<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = TlsAcceptor::from(Arc::clone(&lineage.config));
    let handshake = acceptor.accept_with(io, |conn| conn.set_resumption_data(&lineage.token));
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// Why a `PROT P` data connection was refused. Every variant becomes a `522` reply whose
/// text is the `Display` form, e.g. `522 SSL connection failed: ...`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataAcceptError {
    /// The handshake failed (bad record, alert, reset).
    #[error("TLS handshake on the data connection failed: {0}")]
    Handshake(#[source] io::Error),
    /// The handshake did not finish within [`HANDSHAKE_TIMEOUT`].
    #[error("TLS handshake on the data connection timed out")]
    Timeout,
    /// The client did a full handshake instead of resuming the control session.
    #[error(
        "data connection did not resume the control connection's TLS session \
         (full {version} handshake); session reuse is required"
    )]
    NotResumed {
        /// `TLSv1.2` or `TLSv1.3`.
        version: &'static str,
    },
    /// The client resumed a session, but not one of this control connection's.
    #[error("data connection resumed a TLS session of a different control connection")]
    DifferentSession,
}

impl DataAcceptError {
    /// The FTP reply code for this refusal (RFC 4217 uses 522 for data-channel TLS failure).
    pub fn reply_code(&self) -> u16 {
        522
    }

    /// Whether the client's TLS worked but it did not reuse the session (a client
    /// configuration issue worth a hint in logs), as opposed to a broken handshake.
    pub fn is_reuse_refusal(&self) -> bool {
        matches!(
            self,
            DataAcceptError::NotResumed { .. } | DataAcceptError::DifferentSession
        )
    }
}

/// Runs the TLS handshake on a `PROT P` data connection.
///
/// With `require_reuse_of: Some(lineage)` (the default policy) the connection must resume a
/// session of that lineage, else it is closed (with a `close_notify`) and the error says
/// why. With `None` any handshake is accepted, with the shared config.
pub async fn accept_data<IO>(
    tls: &ServerTls,
    io: IO,
    require_reuse_of: Option<&Lineage>,
) -> Result<TlsStream<IO>, DataAcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let reuse = match require_reuse_of {
        Some(l) => Reuse::Required(l),
        None => Reuse::Optional(None),
    };
    accept_data_for(tls, io, reuse, false).await
}

/// Whether a `PROT P` data connection must resume its control connection's TLS session.
#[derive(Clone, Copy, Debug)]
pub enum Reuse<'a> {
    /// It must resume a session of this lineage (the default policy).
    Required(&'a Lineage),
    /// Any handshake is accepted. With the control connection's lineage, a client that can
    /// resume still does (its tickets come from that lineage), and nothing is checked.
    Optional(Option<&'a Lineage>),
}

/// [`accept_data`] for a transfer whose direction is known. On `upload` connections no TLS
/// 1.3 tickets are sent, on any path: a client that only writes never reads them, and its
/// close then becomes a TCP reset that can destroy the end of the upload.
pub async fn accept_data_for<IO>(
    tls: &ServerTls,
    io: IO,
    reuse: Reuse<'_>,
    upload: bool,
) -> Result<TlsStream<IO>, DataAcceptError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let lineage = match reuse {
        Reuse::Required(l) | Reuse::Optional(Some(l)) => l,
        Reuse::Optional(None) => {
            let config = if upload {
                &tls.inner.shared_upload
            } else {
                &tls.inner.shared
            };
            let handshake = TlsAcceptor::from(Arc::clone(config)).accept(io);
            return match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(DataAcceptError::Handshake(e)),
                Err(_) => Err(DataAcceptError::Timeout),
            };
        }
    };
    let config = if upload {
        &lineage.upload_config
    } else {
        &lineage.data_config
    };
    let acceptor = TlsAcceptor::from(Arc::clone(config));
    let handshake = acceptor.accept_with(io, |conn| conn.set_resumption_data(&lineage.token));
    let mut stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(DataAcceptError::Handshake(e)),
        Err(_) => return Err(DataAcceptError::Timeout),
    };
    let verdict = check_lineage(stream.get_ref().1, lineage);
    match (verdict, reuse) {
        (Ok(()), _) => {}
        (Err(why), Reuse::Optional(_)) => {
            tracing::debug!(lineage = %lineage.id(), reason = %why, "FTPS data connection without session reuse, accepted (reuse not required)");
        }
        (Err(refusal), Reuse::Required(_)) => {
            tracing::info!(lineage = %lineage.id(), reason = %refusal, "refused FTPS data connection");
            // Best effort: tell the client we are closing rather than just resetting.
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.shutdown()).await;
            return Err(refusal);
        }
    }
    Ok(stream)
}

/// The reuse rule (see the crate docs): resumed, and for TLS 1.3 carrying our token.
fn check_lineage(
    conn: &rustls::ServerConnection,
    lineage: &Lineage,
) -> Result<(), DataAcceptError> {
    let version = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
        _ => "TLSv1.2",
    };
    if conn.handshake_kind() != Some(HandshakeKind::Resumed) {
        return Err(DataAcceptError::NotResumed { version });
    }
    match conn.received_resumption_data() {
        Some(data) if data == lineage.token => Ok(()),
        // The lineage's own ticket key and cache are the proof, but a mismatching token
        // means something is badly wrong: refuse.
        Some(_) => Err(DataAcceptError::DifferentSession),
        // rustls reports no resumption data for TLS 1.2: the per-lineage session cache and
        // ticket key already guarantee the session is ours.
        None if version == "TLSv1.2" => Ok(()),
        None => Err(DataAcceptError::DifferentSession),
    }
}
