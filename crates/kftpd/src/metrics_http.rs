//! A minimal HTTP/1.1 responder for Prometheus: `GET /metrics` on its own port
//! (`--metrics-listen`, off by default). Requests are bounded (4 KiB, 5 s), at most 8 are
//! served at once, and every response closes its connection. Anything but `GET /metrics`
//! gets 404 or 405; this is not a general web server.

use crate::session::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

const MAX_REQUEST: usize = 4096;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Serves metrics on `listener` forever.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let busy = Arc::new(Semaphore::new(8));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = busy.clone().try_acquire_owned() else {
            continue; // Dropping the stream closes it.
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(TIMEOUT, answer(&shared, stream)).await;
            drop(permit);
        });
    }
}

async fn answer(shared: &Shared, mut s: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() >= MAX_REQUEST {
            return respond(&mut s, "431 Request Header Fields Too Large", "").await;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/metrics") => respond(&mut s, "200 OK", &shared.metrics.render()).await,
        (_, "/metrics") => respond(&mut s, "405 Method Not Allowed", "").await,
        _ => respond(&mut s, "404 Not Found", "see /metrics\n").await,
    }
}

async fn respond(s: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await?;
    s.write_all(body.as_bytes()).await?;
    s.shutdown().await
}
