//! The PROXY protocol (HAProxy, versions 1 and 2) on control connections, for kftpd behind a
//! TCP load balancer: the balancer sends one header before any FTP byte, naming the real
//! client, and that address is then used for limits, logs and the data-peer check.
//!
//! Reading is bounded: at most 107 bytes for v1 (the spec's maximum line), at most
//! [`MAX_V2_LEN`] bytes of v2 address block, all within a deadline. Nothing past the header
//! is consumed, so the FTP (or TLS) stream starts exactly where it should.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Reads one PROXY header (v1 or v2) from `r` within `timeout`.
pub async fn read_header<R: AsyncRead + Unpin>(r: &mut R, timeout: Duration) -> io::Result<Header> {
    tokio::time::timeout(timeout, read_inner(r))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "PROXY header: timed out"))?
}

async fn read_inner<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Header> {
    let mut head = [0u8; 6];
    r.read_exact(&mut head).await?;
    if &head == b"PROXY " {
        let mut line = head.to_vec();
        // One byte at a time: the header is short and nothing after it may be consumed.
        while !line.ends_with(b"\r\n") {
            if line.len() >= V1_MAX {
                return Err(bad("v1 line longer than 107 bytes"));
            }
            line.push(r.read_u8().await?);
        }
        return parse_v1(&line);
    }
    if head != V2_SIG[..6] {
        return Err(bad("missing (expected \"PROXY \" or the v2 signature)"));
    }
    let mut rest = [0u8; 10];
    r.read_exact(&mut rest).await?;
    if rest[..6] != V2_SIG[6..] {
        return Err(bad("bad v2 signature"));
    }
    let len = usize::from(u16::from_be_bytes([rest[8], rest[9]]));
    if len > MAX_V2_LEN {
        return Err(bad(format!("v2 address block of {len} bytes is too long")));
    }
    let mut block = vec![0u8; len];
    r.read_exact(&mut block).await?;
    parse_v2(rest[6], rest[7], &block)
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

/// Reads the PROXY header of a fresh connection in its own task, then hands the stream
/// and the real client address to `done` (the accept loop). A connection without a valid
/// header within [`HEADER_TIMEOUT`] is closed without a word.
pub fn spawn_handshake(
    mut stream: TcpStream,
    from: SocketAddr,
    done: mpsc::Sender<(TcpStream, SocketAddr)>,
) {
    if PENDING.fetch_add(1, Ordering::Relaxed) >= MAX_PENDING {
        PENDING.fetch_sub(1, Ordering::Relaxed);
        tracing::warn!(from = %from, "too many connections waiting for a PROXY header: closed");
        return;
    }
    let guard = Pending;
    tokio::spawn(async move {
        let header = read_header(&mut stream, HEADER_TIMEOUT).await;
        drop(guard);
        let client = match header {
            Ok(Header::Proxied(a)) => a,
            Ok(Header::Local) => from,
            Err(e) => {
                tracing::warn!(from = %from, error = %e, "connection closed: bad PROXY header");
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
}
