//! End-to-end kTLS check, meant to run in the kTLS VM (`ci/ktls-vm-test.sh`).
//!
//! For each protocol version and cipher: a control connection with a lineage, a `PROT P`
//! data connection that must resume it, then the sender hands its TX keys to the kernel
//! ([`try_ktls_tx`]) and `sendfile`s a file into the socket; the receiver decrypts with
//! rustls in user space and compares every byte. Both directions are checked: server TX
//! (download, RETR) and client TX (upload, STOR).
//!
//! Usage: `ktls_selftest [--require-ktls] [--size BYTES]`. Exits 0 when every case
//! transferred the exact bytes (and, with `--require-ktls`, through the kernel), 1 otherwise.
use kftp_tls::ktls::{try_ktls_tx, KtlsStream, Offload, TlsOverTcp};
use kftp_tls::{
    accept_control, accept_data, client_config, ClientTlsOptions, Lineage, ServerTls, TlsVersions,
};
use rustls::CipherSuite;
use rustls_pki_types::ServerName;
use std::error::Error;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Interest};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

type BoxError = Box<dyn Error + Send + Sync>;

const CASES: &[(TlsVersions, CipherSuite)] = &[
    (
        TlsVersions::Tls13Only,
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        TlsVersions::Tls13Only,
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        TlsVersions::Tls13Only,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        TlsVersions::Tls12Only,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        TlsVersions::Tls12Only,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        TlsVersions::Tls12Only,
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let require = args.iter().any(|a| a == "--require-ktls");
    let size = args
        .iter()
        .position(|a| a == "--size")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(4 * 1024 * 1024 + 12345u64);
    println!("ktls available: {}", kftp_tls::ktls::available());
    match run(require, size).await {
        Ok(()) => {
            println!("KTLS_SELFTEST OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("KTLS_SELFTEST FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(require: bool, size: u64) -> Result<(), BoxError> {
    let dir = std::env::temp_dir().join(format!("ktls-selftest-{}", std::process::id()));
    let tls = ServerTls::load_or_generate(&dir, &["localhost".to_string()])?;
    let file_path = dir.join("payload.bin");
    let expected = write_payload(&file_path, size)?;
    let mut failures = 0;
    for &(versions, suite) in CASES {
        for upload in [false, true] {
            let label = format!(
                "{:?} {:?} {}",
                versions,
                suite,
                if upload { "client-tx" } else { "server-tx" }
            );
            let started = Instant::now();
            match one_case(&tls, versions, suite, upload, &file_path, &expected).await {
                Ok(kernel) => {
                    let ms = started.elapsed().as_millis();
                    let path = if kernel { "ktls" } else { "userspace" };
                    if require && !kernel {
                        failures += 1;
                        println!("FAIL {label}: went through {path}, kTLS required");
                    } else {
                        println!("ok   {label}: {size} bytes via {path} in {ms} ms");
                    }
                }
                Err(e) => {
                    failures += 1;
                    println!("FAIL {label}: {e}");
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failures > 0 {
        return Err(format!("{failures} case(s) failed").into());
    }
    Ok(())
}

fn write_payload(path: &Path, size: u64) -> Result<Vec<u8>, BoxError> {
    // A pattern that is not periodic in record-sized blocks, so misordered records show.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    File::create(path)?.write_all(&bytes)?;
    Ok(bytes)
}

/// Runs one transfer; returns whether the sender used kTLS.
async fn one_case(
    tls: &ServerTls,
    versions: TlsVersions,
    suite: CipherSuite,
    upload: bool,
    file_path: &Path,
    expected: &[u8],
) -> Result<bool, BoxError> {
    let client = client_config(&ClientTlsOptions {
        pin_sha256: Some(tls.fingerprint_sha256()),
        versions,
        cipher_suites: Some(vec![suite]),
        ..Default::default()
    })?;
    let control_l = TcpListener::bind("127.0.0.1:0").await?;
    let data_l = TcpListener::bind("127.0.0.1:0").await?;
    let (control_addr, data_addr) = (control_l.local_addr()?, data_l.local_addr()?);
    let len = expected.len() as u64;

    let server_tls = tls.clone();
    let server_file = file_path.to_path_buf();
    let server = tokio::spawn(async move {
        let (tcp, _) = control_l.accept().await?;
        let lineage = Lineage::new(&server_tls)?;
        let mut control = accept_control(&lineage, tcp).await?;
        control.write_all(b"220 ready\r\n").await?;
        control.flush().await?;
        let (tcp, _) = data_l.accept().await?;
        let data = accept_data(&server_tls, tcp, Some(&lineage)).await?;
        let outcome: Result<(bool, Vec<u8>), BoxError> = if upload {
            Ok((false, read_all(data).await?))
        } else {
            Ok((send_file(data, &server_file, len).await?, Vec::new()))
        };
        drop(control);
        outcome
    });

    let name = ServerName::try_from("localhost")?;
    let tcp = TcpStream::connect(control_addr).await?;
    let control = TlsConnector::from(Arc::clone(&client))
        .connect(name.clone(), tcp)
        .await?;
    let mut control = BufReader::new(control);
    let mut line = String::new();
    control.read_line(&mut line).await?;
    let tcp = TcpStream::connect(data_addr).await?;
    let data = TlsConnector::from(Arc::clone(&client))
        .connect(name, tcp)
        .await?;
    let (kernel, received) = if upload {
        (send_file(data, file_path, len).await?, Vec::new())
    } else {
        (false, read_all(data).await?)
    };
    let (server_kernel, server_received) = server.await??;
    let (kernel, received) = if upload {
        (kernel, server_received)
    } else {
        (server_kernel, received)
    };
    if received.len() != expected.len() {
        return Err(format!("received {} of {} bytes", received.len(), expected.len()).into());
    }
    if let Some(at) = received.iter().zip(expected).position(|(a, b)| a != b) {
        return Err(format!("bytes differ from offset {at}").into());
    }
    Ok(kernel)
}

/// Reads a rustls stream to its `close_notify`.
async fn read_all<S: tokio::io::AsyncRead + Unpin>(mut s: S) -> Result<Vec<u8>, BoxError> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(out)
}

/// Sends the file: through the kernel with sendfile if it takes the keys, else via rustls.
async fn send_file<S: TlsOverTcp>(stream: S, path: &Path, len: u64) -> Result<bool, BoxError> {
    match try_ktls_tx(stream, len).await? {
        Offload::Kernel(k) => {
            sendfile_all(&k, &File::open(path)?, len).await?;
            k.shutdown().await?;
            Ok(true)
        }
        Offload::User(mut s) => {
            s.write_all(&std::fs::read(path)?).await?;
            kftp_tls::close_data(s).await?;
            Ok(false)
        }
    }
}

async fn sendfile_all(k: &KtlsStream, file: &File, len: u64) -> Result<(), BoxError> {
    let tcp = k.tcp();
    let mut offset = 0u64;
    while offset < len {
        let chunk = usize::try_from(len - offset)
            .unwrap_or(usize::MAX)
            .min(1 << 20);
        let n = tcp
            .async_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(tcp.as_fd(), file, Some(&mut offset), chunk)
                    .map_err(std::io::Error::from)
            })
            .await?;
        if n == 0 {
            return Err("file ended early".into());
        }
    }
    Ok(())
}
