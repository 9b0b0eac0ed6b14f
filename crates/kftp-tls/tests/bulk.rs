//! `BulkRead` over real loopback TLS: every byte of a multi-MiB upload arrives in order,
//! whatever sizes the sender writes in; a clean end (close_notify), a bare FIN and a
//! forged record end the stream exactly as tokio-rustls reports them; and the stream
//! still closes cleanly afterwards.
use kftp_tls::{accept_data_for, client_config, BulkRead, ClientTlsOptions, Reuse, ServerTls};
use kftp_tls::{EofWatch, TlsVersions};
use rustls_pki_types::ServerName;
use std::io::ErrorKind;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

/// How the client ends its upload.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    CloseNotify,
    BareFin,
    /// A well-formed application-data record header with bytes no key produced.
    Forged,
}

fn data(len: usize) -> Vec<u8> {
    // A sequence that shows reordering or loss (not a repeating block).
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Uploads `payload` through TLS `versions`, in writes of varying size, and returns what the
/// server's `BulkRead` (under `EofWatch`) gave: the bytes, the error if any, and whether
/// the end was a bare FIN.
async fn upload(
    versions: TlsVersions,
    payload: Arc<Vec<u8>>,
    end: End,
) -> (Vec<u8>, Option<std::io::Error>, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = ServerTls::load_or_generate(dir.path(), &["localhost".to_string()]).expect("tls");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server_tls = tls.clone();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut s = accept_data_for(&server_tls, tcp, Reuse::Optional(None), true)
            .await
            .expect("handshake");
        let mut got = Vec::new();
        let (err, truncated) = {
            let (tcp, conn) = s.get_mut();
            let mut bulk = BulkRead::new(tcp, conn);
            let mut watch = EofWatch::new(&mut bulk);
            // Odd-sized reads, as a caller's buffer may be.
            let mut buf = vec![0u8; 100_003];
            let err = loop {
                match watch.read(&mut buf).await {
                    Ok(0) => break None,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => break Some(e),
                }
            };
            (err, watch.truncated())
        };
        // The stream is usable for the close afterwards.
        let _ = kftp_tls::close_data(s).await;
        (got, err, truncated)
    });
    let config = client_config(&ClientTlsOptions {
        pin_sha256: Some(tls.fingerprint_sha256()),
        versions,
        ..Default::default()
    })
    .expect("client config");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut c = TlsConnector::from(Arc::clone(&config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("client handshake");
    let mut at = 0;
    let mut step = 1usize;
    while at < payload.len() {
        let n = step.min(payload.len() - at);
        c.write_all(&payload[at..at + n]).await.expect("write");
        at += n;
        step = step * 7 % 300_007 + 1;
    }
    c.flush().await.expect("flush");
    match end {
        End::CloseNotify => c.shutdown().await.expect("close_notify"),
        End::BareFin => c.get_mut().0.shutdown().await.expect("fin"),
        End::Forged => {
            let tcp = c.get_mut().0;
            let mut rec = vec![0x17, 0x03, 0x03, 0x00, 0x40];
            rec.extend_from_slice(&[0x5a; 0x40]);
            tcp.write_all(&rec).await.expect("forged record");
            tcp.shutdown().await.expect("fin");
        }
    }
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest).await;
    server.await.expect("server task")
}

#[tokio::test]
async fn bulk_read_delivers_every_byte_and_reports_the_end() {
    let payload = Arc::new(data((5 << 20) + 4099));
    for versions in [TlsVersions::Tls13Only, TlsVersions::Tls12Only] {
        let (got, err, truncated) = upload(versions, Arc::clone(&payload), End::CloseNotify).await;
        assert!(err.is_none(), "{versions:?}: {err:?}");
        assert!(!truncated, "{versions:?}: close_notify seen as a bare FIN");
        assert!(
            got == *payload,
            "{versions:?}: {} of {} bytes, or different",
            got.len(),
            payload.len()
        );

        let (got, err, truncated) = upload(versions, Arc::clone(&payload), End::BareFin).await;
        assert!(err.is_none(), "{versions:?}: {err:?}");
        assert!(truncated, "{versions:?}: a bare FIN must be reported");
        assert!(got == *payload, "{versions:?}: bytes before the FIN");

        let (got, err, _) = upload(versions, Arc::clone(&payload), End::Forged).await;
        let err = err.expect("a forged record is an error");
        assert_eq!(err.kind(), ErrorKind::InvalidData, "{versions:?}: {err}");
        assert!(
            got == *payload,
            "{versions:?}: bytes before the forged record"
        );
    }
}
