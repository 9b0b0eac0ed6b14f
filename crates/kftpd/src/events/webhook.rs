//! `--event-webhook URL`: each event POSTed as JSON, in order, each attempt limited to
//! `--event-timeout`, retried with backoff ([`TRIES`] attempts) on a network error, a
//! timeout, a 5xx, 408 or 429; other answers are final. And `--event-webhook-sync URL`:
//! asked before an upload is committed ([`Gate`]).

use super::Event;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Attempts per event, at most.
pub const TRIES: u32 = 3;

/// The wait before the second attempt; doubled before each next one.
const BACKOFF: Duration = Duration::from_secs(1);

/// Longest refusal reason passed on to the client, in bytes.
const MAX_REASON: usize = 200;

/// Largest answer body read from the upload hook.
const MAX_BODY: usize = 64 << 10;

/// `url` as logs may show it: no user, password or query (where tokens tend to be).
pub fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(bad URL)".into(),
    }
}

/// One HTTP client for the hooks ([`crate::http_tls`]), each request limited to `timeout`.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    let tls = crate::http_tls::client_config();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .user_agent(concat!("kftpd/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// POSTs each event of `rx` to `url`.
pub async fn worker(client: reqwest::Client, url: String, mut rx: mpsc::Receiver<Arc<Event>>) {
    let shown = shown(&url);
    while let Some(ev) = rx.recv().await {
        let Some(body) = ev.json_line() else { continue };
        let mut wait = BACKOFF;
        for attempt in 1..=TRIES {
            let why = match post(&client, &url, body.clone()).await {
                Ok(st) if st.is_success() => break,
                Ok(st) if !retryable(st) => {
                    tracing::warn!(event = ev.event, url = %shown, status = %st, "event webhook refused the event");
                    break;
                }
                Ok(st) => st.to_string(),
                Err(e) => e.without_url().to_string(),
            };
            if attempt == TRIES {
                tracing::warn!(event = ev.event, url = %shown, tries = TRIES, error = %why, "event webhook failed: event dropped");
            } else {
                tracing::debug!(event = ev.event, url = %shown, attempt, error = %why, "event webhook failed: retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> reqwest::Result<reqwest::StatusCode> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await?;
    Ok(resp.status())
}

fn retryable(st: reqwest::StatusCode) -> bool {
    st.is_server_error()
        || st == reqwest::StatusCode::REQUEST_TIMEOUT
        || st == reqwest::StatusCode::TOO_MANY_REQUESTS
}

/// The synchronous upload hook: asked once per completed upload, before its part file is
/// renamed into place. Its own client, used from the server's runtime.
#[derive(Debug)]
pub struct Gate {
    client: reqwest::Client,
    url: String,
}

impl Gate {
    /// A gate asking `url`, each question limited to `timeout`.
    pub fn new(url: String, timeout: Duration) -> reqwest::Result<Gate> {
        Ok(Gate {
            client: client(timeout)?,
            url,
        })
    }

    /// `Ok` when the hook answers 2xx; otherwise the reason to give the client: the first
    /// line of the hook's answer (printable ASCII, bounded), or what went wrong.
    pub async fn ask(&self, ev: &Event) -> Result<(), String> {
        let Some(body) = ev.json_line() else {
            return Err("the upload could not be described to the upload hook".into());
        };
        let sent = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_timeout() {
                    "the upload hook did not answer in time"
                } else {
                    "the upload hook is unavailable"
                };
                tracing::warn!(url = %shown(&self.url), error = %e.without_url(), "upload hook unreachable: upload refused");
                return Err(why.into());
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = read_bounded(resp).await;
        let reason = first_line(&text);
        tracing::info!(url = %shown(&self.url), status = %status, reason = %reason, path = ev.path.as_deref().unwrap_or(""), "upload hook refused the upload");
        Err(if reason.is_empty() {
            format!("refused by the upload hook ({status})")
        } else {
            reason
        })
    }
}

/// Where an upload's bytes are on the server (its part file, or the file itself for an
/// append), from the open descriptor; `None` for an object-store upload, which is not
/// readable before it completes.
pub fn local_path(up: &crate::storage::Upload) -> Option<std::path::PathBuf> {
    use std::os::fd::AsRawFd;
    match up {
        crate::storage::Upload::File(f) => {
            std::fs::read_link(format!("/proc/self/fd/{}", f.file.as_raw_fd())).ok()
        }
        _ => None,
    }
}

async fn read_bounded(mut resp: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = MAX_BODY - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= MAX_BODY {
            break;
        }
    }
    out
}

/// The first line of `body` as it may go into an FTP reply: printable ASCII only (so no
/// CR/LF can start a forged reply line), trimmed, at most [`MAX_REASON`] bytes.
fn first_line(body: &[u8]) -> String {
    let line = body.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let clean: String = String::from_utf8_lossy(line)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_REASON)
        .collect();
    clean.trim().trim_end_matches('?').trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_printable_bounded_line() {
        assert_eq!(first_line(b"EICAR found\r\nsecond line"), "EICAR found");
        assert_eq!(first_line(b"  bad\x1b[31m \xff file"), "bad?[31m ? file");
        assert_eq!(first_line(&[b'x'; 1000]).len(), MAX_REASON);
        assert_eq!(first_line(b""), "");
    }

    fn parse_url(s: &str) -> Result<crate::config::values::HttpUrl, String> {
        s.parse()
    }

    #[test]
    fn only_http_urls() {
        assert!(parse_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(parse_url("https://scan.example/v1").is_ok());
        assert_eq!(
            shown("https://u:tok@scan.example:8443/v1?key=s3cret"),
            "https://scan.example:8443/v1"
        );
        for bad in ["ftp://x/", "file:///etc/passwd", "not a url", "http://"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
