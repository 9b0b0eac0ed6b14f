//! The PROXY protocol (HAProxy, versions 1 and 2) on control connections, for kftpd behind a
//! TCP load balancer: the balancer sends one header before any FTP byte, naming the real
//! client, and that address is then used for limits, bans, logs, TLS-required and the
//! data-peer check. So only the balancers named by `--proxy-trusted` may send one: a
//! connection from any other peer is closed before a byte is read ([`spawn_handshake`]),
//! and kftpd does not start with `--proxy-protocol` and no trusted list.
//!
//! Reading is bounded: at most 107 bytes for v1 (the spec's maximum line), at most
//! [`MAX_V2_LEN`] bytes of v2 address block, all within a deadline. Nothing past the header
//! is consumed, so the FTP (or TLS) stream starts exactly where it should. The parsing is
//! one pure function over bytes, [`decode`], which the reader drives and `fuzz/` fuzzes.

use crate::limits::WarnGate;
use crate::session::Shared;
use ipnet::IpNet;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

pub use kftp_proto::proxy::{
    decode, encode_v2, parse_v1, parse_v2, Decoded, Header, MAX_HEADER, MAX_V2_LEN, V2_SIG,
};

/// Reads one PROXY header (v1 or v2) from `r` within `timeout`, and not a byte more.
pub async fn read_header<R: AsyncRead + Unpin>(r: &mut R, timeout: Duration) -> io::Result<Header> {
    tokio::time::timeout(timeout, read_inner(r))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "PROXY header: timed out"))?
}

async fn read_inner<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Header> {
    let mut buf = Vec::with_capacity(64);
    loop {
        match decode(&buf)? {
            Decoded::Done(h, _) => return Ok(h),
            Decoded::More(n) => {
                let at = buf.len();
                buf.resize(at + n, 0);
                r.read_exact(&mut buf[at..]).await?;
            }
        }
    }
}

/// How long a load balancer may take to send the header.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections waiting for their header at once; more are closed at once.
const MAX_PENDING: usize = 1024;
static PENDING: AtomicUsize = AtomicUsize::new(0);

struct Pending;

impl Drop for Pending {
    fn drop(&mut self) {
        PENDING.fetch_sub(1, Ordering::Relaxed);
    }
}

static UNTRUSTED_WARN: WarnGate = WarnGate::new("proxy_untrusted_peer");
static BAD_HEADER_WARN: WarnGate = WarnGate::new("proxy_bad_header");
static PENDING_WARN: WarnGate = WarnGate::new("proxy_pending_full");

/// Whether a connection from `peer` may carry a PROXY header: only load balancers in
/// `--proxy-trusted` may say who the client is (IPv4-mapped IPv6 counts as IPv4).
pub fn trusted(nets: &[IpNet], peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    nets.iter().any(|n| n.contains(&peer))
}

/// Reads the PROXY header of a fresh connection in its own task, then hands the stream
/// and the real client address to `done` (the accept loop). A connection from a peer
/// outside `--proxy-trusted`, or without a valid header within [`HEADER_TIMEOUT`], is
/// closed without a word (counted as refused, with a rate-limited WARN line).
pub fn spawn_handshake(
    mut stream: TcpStream,
    from: SocketAddr,
    shared: &Arc<Shared>,
    done: mpsc::Sender<(TcpStream, SocketAddr)>,
) {
    let refused = |shared: &Shared| {
        shared
            .metrics
            .sessions_refused
            .fetch_add(1, Ordering::Relaxed);
    };
    if !trusted(&shared.config.ops.proxy_trusted, from.ip()) {
        refused(shared);
        // Whatever it would claim, a peer that is not a trusted balancer must not choose
        // the address used for the bounce check, limits, bans and logs.
        if UNTRUSTED_WARN.pass() {
            tracing::warn!(from = %from, "connection closed: PROXY protocol from a peer outside --proxy-trusted");
        }
        return;
    }
    if PENDING.fetch_add(1, Ordering::Relaxed) >= MAX_PENDING {
        PENDING.fetch_sub(1, Ordering::Relaxed);
        refused(shared);
        if PENDING_WARN.pass() {
            tracing::warn!(from = %from, "too many connections waiting for a PROXY header: closed");
        }
        return;
    }
    let guard = Pending;
    let shared = shared.clone();
    tokio::spawn(async move {
        let header = read_header(&mut stream, HEADER_TIMEOUT).await;
        drop(guard);
        let client = match header {
            Ok(Header::Proxied(a)) => a,
            Ok(Header::Local) => from,
            Err(e) => {
                refused(&shared);
                if BAD_HEADER_WARN.pass() {
                    tracing::warn!(from = %from, error = %e, "connection closed: bad PROXY header");
                }
                return;
            }
        };
        tracing::debug!(from = %from, client = %client, "PROXY header read");
        let _ = done.send((stream, client)).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> io::Result<(Header, Vec<u8>)> {
        let mut r = bytes;
        let h = read_header(&mut r, Duration::from_secs(1)).await?;
        Ok((h, r.to_vec()))
    }

    #[tokio::test]
    async fn v1_and_v2_leave_the_stream_intact() {
        let (h, rest) = read(b"PROXY TCP4 192.0.2.7 10.0.0.1 5555 21\r\nUSER x\r\n")
            .await
            .unwrap();
        assert_eq!(h, Header::Proxied("192.0.2.7:5555".parse().unwrap()));
        assert_eq!(rest, b"USER x\r\n");
        let (h, _) = read(b"PROXY TCP6 2001:db8::1 ::1 7 21\r\n").await.unwrap();
        assert_eq!(h, Header::Proxied("[2001:db8::1]:7".parse().unwrap()));
        assert_eq!(read(b"PROXY UNKNOWN\r\n").await.unwrap().0, Header::Local);

        let mut v2 = encode_v2(
            "198.51.100.9:4000".parse().unwrap(),
            "10.0.0.1:21".parse().unwrap(),
        );
        v2.extend_from_slice(b"\x16\x03\x01");
        let (h, rest) = read(&v2).await.unwrap();
        assert_eq!(h, Header::Proxied("198.51.100.9:4000".parse().unwrap()));
        assert_eq!(rest, b"\x16\x03\x01");
        let v2 = encode_v2(
            "[2001:db8::9]:4000".parse().unwrap(),
            "[::1]:21".parse().unwrap(),
        );
        assert_eq!(
            read(&v2).await.unwrap().0,
            Header::Proxied("[2001:db8::9]:4000".parse().unwrap())
        );
    }

    #[tokio::test]
    async fn garbage_is_refused_without_reading_far() {
        for bad in [
            &b"USER alice\r\n"[..],
            b"PROXY TCP4 1.2.3.4\r\n",
            b"PROXY TCP4 ::1 ::1 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 21\r\n",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff",
            b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x04abcd",
            b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x00",
        ] {
            assert!(read(bad).await.is_err(), "{bad:?}");
        }
        let long = [b"PROXY ".as_slice(), &[b'1'; 200]].concat();
        assert!(read(&long).await.is_err());
        // A client that sends nothing is cut off by the deadline.
        let (mut a, _b) = tokio::io::duplex(64);
        let e = read_header(&mut a, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    /// What the fuzz target checks, over a few thousand random, truncated and mutated
    /// headers (cargo-fuzz needs nightly; this runs everywhere): no panic, a request for
    /// more never beyond [`MAX_HEADER`], a header never longer than the bytes given, and
    /// feeding the bytes as the async reader does agrees with decoding them at once.
    #[test]
    fn decode_survives_random_and_mutated_headers() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let seeds: Vec<Vec<u8>> = vec![
            b"PROXY TCP4 192.0.2.7 10.0.0.1 5555 21\r\n".to_vec(),
            b"PROXY TCP6 2001:db8::1 ::1 7 21\r\n".to_vec(),
            b"PROXY UNKNOWN\r\n".to_vec(),
            encode_v2(
                "198.51.100.9:4000".parse().unwrap(),
                "10.0.0.1:21".parse().unwrap(),
            ),
            encode_v2(
                "[2001:db8::9]:4000".parse().unwrap(),
                "[::1]:21".parse().unwrap(),
            ),
            [&V2_SIG[..], &[0x20, 0x00, 0x00, 0x00]].concat(),
        ];
        for i in 0..5000u32 {
            let mut b = seeds[i as usize % seeds.len()].clone();
            match rnd() % 4 {
                // Truncated.
                0 => b.truncate((rnd() as usize) % (b.len() + 1)),
                // Bytes flipped.
                1 => {
                    for _ in 0..=rnd() % 4 {
                        let at = (rnd() as usize) % b.len();
                        b[at] = rnd() as u8;
                    }
                }
                // Random tail (and lengths) after the signature.
                2 => {
                    let keep = (rnd() as usize) % (b.len() + 1);
                    b.truncate(keep);
                    b.extend((0..rnd() % 1200).map(|_| rnd() as u8));
                }
                // Pure noise.
                _ => b = (0..rnd() % 300).map(|_| rnd() as u8).collect(),
            }
            let whole = decode(&b);
            match &whole {
                Ok(Decoded::Done(_, used)) => assert!(*used <= b.len() && *used <= MAX_HEADER),
                Ok(Decoded::More(n)) => assert!(*n > 0 && b.len() + n <= MAX_HEADER, "{b:?}"),
                Err(_) => {}
            }
            // Incrementally, as read_inner does.
            let mut got = Vec::new();
            let step = loop {
                match decode(&got) {
                    Ok(Decoded::More(n)) => {
                        assert!(got.len() + n <= MAX_HEADER);
                        if got.len() + n > b.len() {
                            break None;
                        }
                        got.extend_from_slice(&b[got.len()..got.len() + n]);
                    }
                    other => break Some(other),
                }
            };
            if let Some(Ok(Decoded::Done(h, used))) = step {
                assert_eq!(used, got.len(), "the reader takes exactly the header");
                assert!(
                    matches!(&whole, Ok(Decoded::Done(h2, u2)) if *h2 == h && *u2 == used),
                    "{b:?}"
                );
            }
        }
    }
}
