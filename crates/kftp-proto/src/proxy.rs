//! The PROXY protocol (HAProxy, versions 1 and 2) header, as bytes: [`decode`] is one pure
//! function that says how many more bytes it needs rather than reading them, so a reader
//! (kftpd's `proxy.rs`) takes exactly the header and nothing after it. It is the parser of
//! bytes that arrive before any FTP command, so it lives here, beside the others, and is
//! fuzzed (`fuzz/fuzz_targets/proxy_header.rs`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature.
pub const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
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
