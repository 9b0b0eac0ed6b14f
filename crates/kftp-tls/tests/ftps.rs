//! FTPS TLS behaviour over real loopback sockets: certificates, pinning, data-channel
//! session reuse (TLS 1.2 and 1.3), and the kTLS fallback.
use kftp_tls::ktls::{try_ktls_tx, Offload};
use kftp_tls::{
    accept_control, accept_data, client_config, ClientTlsOptions, DataAcceptError, Lineage,
    ServerTls, TlsVersions,
};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

fn server_tls(dir: &tempfile::TempDir) -> ServerTls {
    ServerTls::load_or_generate(dir.path(), &["localhost".to_string()]).expect("generate")
}

fn pinned(tls: &ServerTls, versions: TlsVersions) -> Arc<ClientConfig> {
    client_config(&ClientTlsOptions {
        pin_sha256: Some(tls.fingerprint_sha256()),
        versions,
        ..Default::default()
    })
    .expect("client config")
}

fn name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("valid name")
}

/// A miniature FTPS server: one control connection (greets once TLS is up, which also
/// delivers TLS 1.3 tickets), then any number of data connections on a second port, each
/// accepted with `accept_data(.., Some(lineage))`. Each data result is reported on the
/// channel; accepted ones get `payload` and a clean close.
struct MiniServer {
    control: std::net::SocketAddr,
    data: std::net::SocketAddr,
    results: mpsc::UnboundedReceiver<Result<(), DataAcceptError>>,
}

async fn mini_server(tls: ServerTls, payload: &'static [u8]) -> MiniServer {
    let control = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let data = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (control_addr, data_addr) = (
        control.local_addr().expect("addr"),
        data.local_addr().expect("addr"),
    );
    let (tx, results) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (tcp, _) = control.accept().await.expect("accept control");
        let lineage = Arc::new(Lineage::new(&tls).expect("lineage"));
        let mut ctl = accept_control(&lineage, tcp)
            .await
            .expect("control handshake");
        ctl.write_all(b"220 ready\r\n").await.expect("greet");
        ctl.flush().await.expect("flush");
        let keep = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while matches!(ctl.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        loop {
            let Ok((tcp, _)) = data.accept().await else {
                break;
            };
            let (tls, lineage, tx) = (tls.clone(), Arc::clone(&lineage), tx.clone());
            tokio::spawn(async move {
                match accept_data(&tls, tcp, Some(&lineage)).await {
                    Ok(mut s) => {
                        let _ = tx.send(Ok(()));
                        s.write_all(payload).await.expect("send");
                        s.shutdown().await.expect("close");
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        }
        keep.abort();
    });
    MiniServer {
        control: control_addr,
        data: data_addr,
        results,
    }
}

/// Opens the control connection and reads the greeting (so TLS 1.3 tickets are in).
async fn open_control(
    config: &Arc<ClientConfig>,
    addr: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let tls = TlsConnector::from(Arc::clone(config))
        .connect(name(), tcp)
        .await
        .expect("control handshake");
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    reader.read_line(&mut line).await.expect("greeting");
    assert_eq!(line, "220 ready\r\n");
    reader.into_inner()
}

/// One data connection: returns the bytes received, or the client-side error.
async fn open_data(
    config: &Arc<ClientConfig>,
    addr: std::net::SocketAddr,
) -> std::io::Result<Vec<u8>> {
    let tcp = TcpStream::connect(addr).await?;
    let mut tls = TlsConnector::from(Arc::clone(config))
        .connect(name(), tcp)
        .await?;
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await?;
    Ok(out)
}

async fn reuse_is_enforced(versions: TlsVersions) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = server_tls(&dir);
    let mut srv = mini_server(tls.clone(), b"file contents").await;
    let client = pinned(&tls, versions);
    let _control = open_control(&client, srv.control).await;

    // Many sequential data connections all resume (tickets are replenished).
    for i in 0..12 {
        let got = open_data(&client, srv.data).await;
        assert_eq!(
            got.expect("data transfer"),
            b"file contents",
            "data connection {i}"
        );
        srv.results.recv().await.expect("result").expect("accepted");
    }
    // A burst of parallel data connections.
    let burst: Vec<_> = (0..6)
        .map(|_| tokio::spawn(open_data_owned(Arc::clone(&client), srv.data)))
        .collect();
    for h in burst {
        assert_eq!(
            h.await.expect("join").expect("parallel data"),
            b"file contents"
        );
        srv.results.recv().await.expect("result").expect("accepted");
    }

    // A fresh client (no session at all) does a full handshake: refused, with the reason.
    let stranger = pinned(&tls, versions);
    let got = open_data(&stranger, srv.data).await;
    assert!(
        got.map_or(true, |b| b.is_empty()),
        "stranger must get no data"
    );
    let err = srv
        .results
        .recv()
        .await
        .expect("result")
        .expect_err("refused");
    assert!(
        matches!(err, DataAcceptError::NotResumed { .. }),
        "unexpected {err:?}"
    );
    assert_eq!(err.reply_code(), 522);
    assert!(err.is_reuse_refusal());
    let want = match versions {
        TlsVersions::Tls12Only => "full TLSv1.2 handshake",
        _ => "full TLSv1.3 handshake",
    };
    assert!(err.to_string().contains(want), "{err}");

    // A client holding a session of *another* control connection is refused too.
    let other = mini_server(tls.clone(), b"other").await;
    let intruder = pinned(&tls, versions);
    let _other_control = open_control(&intruder, other.control).await;
    let got = open_data(&intruder, srv.data).await;
    assert!(got.map_or(true, |b| b.is_empty()));
    let err = srv
        .results
        .recv()
        .await
        .expect("result")
        .expect_err("refused");
    assert!(err.is_reuse_refusal(), "unexpected {err:?}");
}

async fn open_data_owned(
    config: Arc<ClientConfig>,
    addr: std::net::SocketAddr,
) -> std::io::Result<Vec<u8>> {
    open_data(&config, addr).await
}

#[tokio::test]
async fn data_reuse_tls13() {
    reuse_is_enforced(TlsVersions::Tls13Only).await;
}

#[tokio::test]
async fn data_reuse_tls12() {
    reuse_is_enforced(TlsVersions::Tls12Only).await;
}

#[tokio::test]
async fn data_without_reuse_requirement_accepts_full_handshake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = server_tls(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server_tls = tls.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut s = accept_data(&server_tls, tcp, None).await.expect("accepted");
        s.write_all(b"ok").await.expect("write");
        s.shutdown().await.expect("close");
    });
    let got = open_data(&pinned(&tls, TlsVersions::Both), addr).await;
    assert_eq!(got.expect("data"), b"ok");
    server.await.expect("server");
}

#[tokio::test]
async fn generated_cert_persists_and_reloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = server_tls(&dir);
    assert!(first.is_generated());
    let fp = first.fingerprint_sha256();
    assert_eq!(fp.len(), 95, "{fp}");
    let key_mode = std::fs::metadata(dir.path().join("tls-key.pem"))
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    let second = server_tls(&dir);
    assert_eq!(
        second.fingerprint_sha256(),
        fp,
        "same cert on the next start"
    );
    second.reload().expect("reload");
    assert_eq!(second.fingerprint_sha256(), fp);

    // A session in progress survives a certificate change; new handshakes see the new cert.
    let mut srv = mini_server(second.clone(), b"x").await;
    let client = pinned(&second, TlsVersions::Both);
    let _control = open_control(&client, srv.control).await;

    let other_dir = tempfile::tempdir().expect("tempdir");
    let other = server_tls(&other_dir);
    assert_ne!(other.fingerprint_sha256(), fp);
    for f in ["tls-cert.pem", "tls-key.pem"] {
        std::fs::copy(other_dir.path().join(f), dir.path().join(f)).expect("copy");
    }
    second.reload().expect("reload new cert");
    assert_eq!(second.fingerprint_sha256(), other.fingerprint_sha256());

    // The data connection still resumes the old session (no certificate is sent on resumption).
    assert_eq!(open_data(&client, srv.data).await.expect("data"), b"x");
    srv.results.recv().await.expect("result").expect("accepted");
    // A new client pinned to the new certificate can connect.
    let fresh = pinned(&second, TlsVersions::Both);
    let srv2 = mini_server(second.clone(), b"y").await;
    let _c = open_control(&fresh, srv2.control).await;

    // A failed reload keeps the old pair.
    std::fs::write(dir.path().join("tls-cert.pem"), "garbage").expect("write");
    assert!(second.reload().is_err());
    assert_eq!(second.fingerprint_sha256(), other.fingerprint_sha256());
}

#[tokio::test]
async fn load_from_given_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = server_tls(&dir);
    let loaded = ServerTls::load(
        &dir.path().join("tls-cert.pem"),
        &dir.path().join("tls-key.pem"),
    )
    .expect("load");
    assert!(!loaded.is_generated());
    assert_eq!(loaded.fingerprint_sha256(), generated.fingerprint_sha256());
    assert!(ServerTls::load(
        &dir.path().join("missing.pem"),
        &dir.path().join("tls-key.pem")
    )
    .is_err());
}

#[tokio::test]
async fn pinning_accepts_right_and_rejects_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = server_tls(&dir);
    let srv = mini_server(tls.clone(), b"").await;
    // Lower-case hex without colons is accepted as a pin too.
    let plain_pin = tls.fingerprint_sha256().replace(':', "").to_lowercase();
    let right = client_config(&ClientTlsOptions {
        pin_sha256: Some(plain_pin),
        ..Default::default()
    })
    .expect("config");
    let _control = open_control(&right, srv.control).await;

    let srv = mini_server(tls.clone(), b"").await;
    let wrong = client_config(&ClientTlsOptions {
        pin_sha256: Some("AB:".repeat(31) + "AB"),
        ..Default::default()
    })
    .expect("config");
    let tcp = TcpStream::connect(srv.control).await.expect("connect");
    let err = TlsConnector::from(wrong)
        .connect(name(), tcp)
        .await
        .expect_err("wrong pin must fail");
    assert!(
        err.to_string().contains("does not match the pinned"),
        "{err}"
    );

    // Without a pin, a self-signed certificate is not trusted by the system roots.
    let srv = mini_server(tls.clone(), b"").await;
    let default = client_config(&ClientTlsOptions::default()).expect("config");
    let tcp = TcpStream::connect(srv.control).await.expect("connect");
    assert!(TlsConnector::from(default)
        .connect(name(), tcp)
        .await
        .is_err());

    // `insecure` accepts it.
    let srv = mini_server(tls.clone(), b"").await;
    let insecure = client_config(&ClientTlsOptions {
        insecure: true,
        ..Default::default()
    })
    .expect("config");
    let _c = open_control(&insecure, srv.control).await;

    assert!(client_config(&ClientTlsOptions {
        pin_sha256: Some("nope".into()),
        ..Default::default()
    })
    .is_err());
}

/// On a kernel without kTLS (this development machine) the hand-off falls back cleanly and
/// the data still flows through rustls; with kTLS (the VM) the kernel path is exercised by
/// `examples/ktls_selftest.rs`, which this test also runs through when available.
#[tokio::test]
async fn ktls_hand_off_or_clean_fallback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = server_tls(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();
    let server_tls = tls.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let s = accept_data(&server_tls, tcp, None)
            .await
            .expect("handshake");
        match try_ktls_tx(s, payload.len() as u64)
            .await
            .expect("hand-off")
        {
            Offload::Kernel(k) => {
                assert!(kftp_tls::ktls::available());
                let mut k = k;
                k.write_all(&payload).await.expect("write");
                k.shutdown().await.expect("close");
                "kernel"
            }
            Offload::User(mut s) => {
                s.write_all(&payload).await.expect("write");
                s.shutdown().await.expect("close");
                "user"
            }
        }
    });
    let got = open_data(&pinned(&tls, TlsVersions::Both), addr)
        .await
        .expect("data");
    let path = server.await.expect("server");
    assert_eq!(got, expected);
    assert_eq!(path == "kernel", kftp_tls::ktls::available());
    // The verdict is cached.
    assert_eq!(
        kftp_tls::ktls::available(),
        kftp_datapath::ktls::available()
    );
}

/// A MODE E stream under PROT P ([`kftp_tls::block_sink`]): the kernel's where it has kTLS
/// (the VM), rustls here; either way the peer decrypts the block header, the block's bytes
/// (sendfile'd on the kernel path) and the EOF/EOD header with the close bit, exactly, and
/// the stream ends with a close_notify it accepts (`read_to_end` would fail otherwise).
#[tokio::test]
async fn mode_e_block_sink_kernel_or_rustls_is_byte_exact() {
    use kftp_datapath::modee::{send_blocks, Sink};
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = server_tls(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let payload: Vec<u8> = (0..700_001u32).map(|i| (i % 241) as u8).collect();
    let src = dir.path().join("src.bin");
    std::fs::write(&src, &payload).expect("write");
    let len = payload.len() as u64;
    let server_tls = tls.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let s = accept_data(&server_tls, tcp, None)
            .await
            .expect("handshake");
        let sink = kftp_tls::block_sink(s, len, Box::new)
            .await
            .expect("hand-off");
        let kernel = matches!(sink, Sink::Ktls(_));
        let file = std::fs::File::open(&src).expect("open");
        let tuning = kftp_datapath::Tuning::default();
        let sent = std::sync::atomic::AtomicU64::new(0);
        let (sinks, out) = send_blocks(&file, 0, len, vec![sink], true, &tuning, &sent)
            .await
            .expect("blocks");
        for s in sinks {
            match s {
                Sink::Ktls(k) => k.shutdown().await.expect("close"),
                Sink::Stream(s) => kftp_tls::close_data(s).await.expect("close"),
                Sink::Tcp(_) => panic!("a TLS stream came back as plain TCP"),
            }
        }
        (kernel, out)
    });
    let got = open_data(&pinned(&tls, TlsVersions::Both), addr)
        .await
        .expect("data");
    let (kernel, out) = server.await.expect("server");
    assert_eq!(kernel, kftp_tls::ktls::available());
    assert_eq!(out.bytes, len);
    let n = payload.len();
    assert_eq!(got.len(), 17 + n + 17, "one block, then EOF");
    assert_eq!(got[0], 0, "a data block");
    assert_eq!(got[1..9], len.to_be_bytes(), "its count");
    assert_eq!(got[9..17], 0u64.to_be_bytes(), "its offset");
    assert!(got[17..17 + n] == payload[..], "the block's bytes");
    assert_eq!(got[17 + n] & 0x4c, 0x4c, "EOF, EOD and close");
    assert_eq!(got[17 + n + 9..], 1u64.to_be_bytes(), "one EOD in all");
}

/// Counts the TLS 1.3 tickets a client is handed (delegating storage to rustls' cache).
#[derive(Debug)]
struct TicketCounter {
    inner: rustls::client::ClientSessionMemoryCache,
    tickets: std::sync::atomic::AtomicUsize,
}

impl rustls::client::ClientSessionStore for TicketCounter {
    fn set_kx_hint(&self, n: ServerName<'static>, g: rustls::NamedGroup) {
        self.inner.set_kx_hint(n, g)
    }
    fn kx_hint(&self, n: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(n)
    }
    fn set_tls12_session(
        &self,
        n: ServerName<'static>,
        v: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(n, v)
    }
    fn tls12_session(&self, n: &ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(n)
    }
    fn remove_tls12_session(&self, n: &ServerName<'static>) {
        self.inner.remove_tls12_session(n)
    }
    fn insert_tls13_ticket(
        &self,
        n: ServerName<'static>,
        v: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.insert_tls13_ticket(n, v)
    }
    fn take_tls13_ticket(
        &self,
        n: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(n)
    }
}

/// Upload data connections never carry TLS 1.3 tickets, whether session reuse is required
/// or not, with or without a lineage: a client that only writes never reads them, and its
/// close then resets the connection and can destroy the end of the upload (rclone and Perl
/// Net::FTP lost uploads this way under --no-tls-reuse-required). Downloads do get them.
#[tokio::test]
async fn upload_data_connections_carry_no_tickets_on_any_path() {
    use kftp_tls::{accept_data_for, Reuse};
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = server_tls(&dir);
    let lineage = Arc::new(Lineage::new(&tls).expect("lineage"));
    for (with_lineage, upload) in [(true, true), (false, true), (true, false), (false, false)] {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (server_tls, lineage) = (tls.clone(), Arc::clone(&lineage));
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let reuse = Reuse::Optional(with_lineage.then_some(&*lineage));
            let mut s = accept_data_for(&server_tls, tcp, reuse, upload)
                .await
                .expect("accepted without reuse");
            let mut got = Vec::new();
            if upload {
                s.read_to_end(&mut got).await.expect("read upload");
            } else {
                s.write_all(b"download").await.expect("send");
            }
            kftp_tls::close_data(s).await.expect("close");
            got
        });
        let counter = Arc::new(TicketCounter {
            inner: rustls::client::ClientSessionMemoryCache::new(16),
            tickets: Default::default(),
        });
        let mut config = (*pinned(&tls, TlsVersions::Tls13Only)).clone();
        config.resumption = rustls::client::Resumption::store(counter.clone());
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let mut c = TlsConnector::from(Arc::new(config))
            .connect(name(), tcp)
            .await
            .expect("handshake");
        if upload {
            c.write_all(b"upload bytes").await.expect("write");
            c.shutdown().await.expect("close_notify");
        }
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest).await;
        drop(c);
        let got = server.await.expect("server task");
        let tickets = counter.tickets.load(std::sync::atomic::Ordering::Relaxed);
        if upload {
            assert_eq!(got, b"upload bytes");
            assert_eq!(
                tickets, 0,
                "upload (lineage: {with_lineage}) was sent tickets"
            );
        } else {
            assert_eq!(rest, b"download");
            assert!(
                tickets > 0,
                "download (lineage: {with_lineage}) got no tickets"
            );
        }
    }
}

/// The server picks AES-256-GCM when the client offers it, even listed after AES-128-GCM,
/// and still serves a client that offers only AES-128-GCM or only ChaCha20-Poly1305.
#[tokio::test]
async fn server_prefers_aes256_gcm_and_serves_the_others() {
    use rustls::CipherSuite as C;
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = server_tls(&dir);
    let cases = [
        (
            TlsVersions::Tls13Only,
            Some(vec![
                C::TLS13_AES_128_GCM_SHA256,
                C::TLS13_CHACHA20_POLY1305_SHA256,
                C::TLS13_AES_256_GCM_SHA384,
            ]),
            C::TLS13_AES_256_GCM_SHA384,
        ),
        (
            TlsVersions::Tls12Only,
            Some(vec![
                C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            ]),
            C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (TlsVersions::Tls13Only, None, C::TLS13_AES_256_GCM_SHA384),
        (
            TlsVersions::Tls13Only,
            Some(vec![C::TLS13_AES_128_GCM_SHA256]),
            C::TLS13_AES_128_GCM_SHA256,
        ),
        (
            TlsVersions::Tls13Only,
            Some(vec![C::TLS13_CHACHA20_POLY1305_SHA256]),
            C::TLS13_CHACHA20_POLY1305_SHA256,
        ),
    ];
    for (versions, only, want) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server_tls = tls.clone();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut s = accept_data(&server_tls, tcp, None).await.expect("accepted");
            let suite = s.get_ref().1.negotiated_cipher_suite().expect("suite");
            s.write_all(b"ok").await.expect("write");
            s.shutdown().await.expect("close");
            suite.suite()
        });
        let config = client_config(&ClientTlsOptions {
            pin_sha256: Some(tls.fingerprint_sha256()),
            versions,
            cipher_suites: only.clone(),
            ..Default::default()
        })
        .expect("client config");
        let got = open_data(&config, addr).await.expect("data");
        assert_eq!(got, b"ok");
        assert_eq!(server.await.expect("server"), want, "{versions:?} {only:?}");
    }
}
