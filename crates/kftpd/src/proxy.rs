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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The v2 signature.
const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// v1's longest line, CRLF included.
const V1_MAX: usize = 107;
/// Largest v2 address block accepted (addresses plus TLVs).
pub const MAX_V2_LEN: usize = 1024;

/// What the header said.
#[derive(Debug, PartialEq, Eq)]
pub enum Header {
    /// A proxied connection from this client.
    Proxied(SocketAddr),
    /// `UNKNOWN` (v1) or `LOCAL` (v2, e.g. the balancer's health check): use the socket's
    /// own peer address.
    Local,
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("PROXY header: {}", why.into()),
    )
}

/// What [`decode`] made of the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A complete header, `used` bytes long (never more than the bytes given).
    Done(Header, usize),
    /// The header goes on: read exactly this many more bytes and call again with them
    /// appended. Never asks past [`MAX_HEADER`] bytes in total.
    More(usize),
}

/// The longest header [`decode`] accepts: a v2 signature and fixed part plus
/// [`MAX_V2_LEN`] bytes of address block (v1 lines are shorter).
pub const MAX_HEADER: usize = 16 + MAX_V2_LEN;

/// Decodes a PROXY header (v1 or v2) from the start of `buf`: a pure function over bytes
/// (fuzzed by `fuzz/fuzz_targets/proxy_header.rs`), that says how many more bytes it needs
/// rather than reading them, so a reader can take exactly the header and nothing after it.
pub fn decode(buf: &[u8]) -> io::Result<Decoded> {
    const HEAD: usize = 6;
    if buf.len() < HEAD {
        return Ok(Decoded::More(HEAD - buf.len()));
    }
    if &buf[..HEAD] == b"PROXY " {
        // v1: one byte at a time up to CRLF, within V1_MAX.
        let line = &buf[..buf.len().min(V1_MAX)];
        if let Some(i) = line.windows(2).position(|w| w == b"\r\n") {
            return parse_v1(&buf[..i + 2]).map(|h| Decoded::Done(h, i + 2));
        }
        if buf.len() >= V1_MAX {
            return Err(bad("v1 line longer than 107 bytes"));
        }
        return Ok(Decoded::More(1));
    }
    if buf[..HEAD] != V2_SIG[..HEAD] {
        return Err(bad("missing (expected \"PROXY \" or the v2 signature)"));
    }
    if buf.len() < 16 {
        return Ok(Decoded::More(16 - buf.len()));
    }
    if buf[HEAD..12] != V2_SIG[HEAD..] {
        return Err(bad("bad v2 signature"));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > MAX_V2_LEN {
        return Err(bad(format!("v2 address block of {len} bytes is too long")));
    }
    if buf.len() < 16 + len {
        return Ok(Decoded::More(16 + len - buf.len()));
    }
    parse_v2(buf[12], buf[13], &buf[16..16 + len]).map(|h| Decoded::Done(h, 16 + len))
}

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

/// Parses a v1 line (`PROXY TCP4 1.2.3.4 5.6.7.8 1111 21\r\n`).
pub fn parse_v1(line: &[u8]) -> io::Result<Header> {
    let text = std::str::from_utf8(line).map_err(|_| bad("v1 line is not ASCII"))?;
    let text = text
        .strip_suffix("\r\n")
        .ok_or_else(|| bad("v1 line without CRLF"))?;
    let f: Vec<&str> = text.split(' ').collect();
    match f.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Header::Local),
        ["PROXY", proto @ ("TCP4" | "TCP6"), src, _dst, sport, _dport] => {
            let ip: IpAddr = src.parse().map_err(|_| bad("bad v1 source address"))?;
            if ip.is_ipv4() != (*proto == "TCP4") {
                return Err(bad("v1 source address does not match the protocol"));
            }
            let port: u16 = sport.parse().map_err(|_| bad("bad v1 source port"))?;
            Ok(Header::Proxied(SocketAddr::new(ip, port)))
        }
        _ => Err(bad("malformed v1 line")),
    }
}

/// Parses the v2 fields after the signature: version/command, family/protocol, address
/// block.
pub fn parse_v2(ver_cmd: u8, fam: u8, block: &[u8]) -> io::Result<Header> {
    if ver_cmd >> 4 != 2 {
        return Err(bad("v2 version is not 2"));
    }
    match ver_cmd & 0x0f {
        0 => return Ok(Header::Local),
        1 => {}
        _ => return Err(bad("unknown v2 command")),
    }
    match fam {
        // TCP over IPv4: src(4) dst(4) sport(2) dport(2)
        0x11 if block.len() >= 12 => {
            let ip = Ipv4Addr::new(block[0], block[1], block[2], block[3]);
            let port = u16::from_be_bytes([block[8], block[9]]);
            Ok(Header::Proxied(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        // TCP over IPv6: src(16) dst(16) sport(2) dport(2)
        0x21 if block.len() >= 36 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&block[..16]);
            let port = u16::from_be_bytes([block[32], block[33]]);
            Ok(Header::Proxied(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(a)),
                port,
            )))
        }
        // Unspecified family (or UDP/UNIX): keep the socket's address.
        0x00 => Ok(Header::Local),
        0x11 | 0x21 => Err(bad("v2 address block too short")),
        _ => Err(bad("unsupported v2 address family")),
    }
}

/// A v2 header for `src` -> `dst` (tests, and clients that want to speak it).
pub fn encode_v2(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let mut v = V2_SIG.to_vec();
    v.push(0x21);
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            v.push(0x11);
            v.extend_from_slice(&12u16.to_be_bytes());
            v.extend_from_slice(&s.ip().octets());
            v.extend_from_slice(&d.ip().octets());
            v.extend_from_slice(&s.port().to_be_bytes());
            v.extend_from_slice(&d.port().to_be_bytes());
        }
        _ => {
            let six = |a: SocketAddr| match a.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            v.push(0x21);
            v.extend_from_slice(&36u16.to_be_bytes());
            v.extend_from_slice(&six(src).octets());
            v.extend_from_slice(&six(dst).octets());
            v.extend_from_slice(&src.port().to_be_bytes());
            v.extend_from_slice(&dst.port().to_be_bytes());
        }
    }
    v
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
