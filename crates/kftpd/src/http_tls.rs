//! The TLS settings of kftpd's outgoing HTTP clients (the S3 store, event webhooks): rustls
//! with the ring provider (the one the rest of kftp uses; reqwest is built without a
//! provider of its own, so ring must be the process default too) and the system's and
//! webpki's roots. Build it before the sandbox closes the file system.

/// A client config trusting the system's CA certificates and webpki's.
pub fn client_config() -> rustls::ClientConfig {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}
