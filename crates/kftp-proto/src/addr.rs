//! Data-connection addresses: PORT and 227 (RFC 959), EPRT and 229 (RFC 2428).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

/// Parses `h1,h2,h3,h4,p1,p2` (the PORT argument and the numbers in a 227 reply).
pub fn parse_port(s: &str) -> Option<SocketAddr> {
    let nums: Vec<u8> = s
        .trim()
        .split(',')
        .map(|n| n.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .ok()?;
    if nums.len() != 6 {
        return None;
    }
    let ip = Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]);
    let port = u16::from(nums[4]) << 8 | u16::from(nums[5]);
    Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
}

/// Formats an IPv4 address as `h1,h2,h3,h4,p1,p2`; `None` for IPv6 (use EPRT/EPSV).
pub fn format_port(a: &SocketAddr) -> Option<String> {
    let ip = match a.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(ip) => ip.to_ipv4_mapped()?,
    };
    let [a1, a2, a3, a4] = ip.octets();
    let p = a.port();
    Some(format!("{a1},{a2},{a3},{a4},{},{}", p >> 8, p & 0xff))
}

/// Parses `<d>proto<d>addr<d>port<d>` (EPRT), where `<d>` is any printable delimiter.
pub fn parse_eprt(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    let d = s.chars().next()?;
    if !(33..=126).contains(&(d as u32)) {
        return None;
    }
    let parts: Vec<&str> = s.split(d).collect();
    // "", proto, addr, port, ""
    if parts.len() != 5 || !parts[0].is_empty() || !parts[4].is_empty() {
        return None;
    }
    let port: u16 = parts[3].parse().ok()?;
    let ip: IpAddr = match parts[1] {
        "1" => IpAddr::V4(parts[2].parse().ok()?),
        "2" => IpAddr::V6(parts[2].parse().ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Formats an EPRT argument.
pub fn format_eprt(a: &SocketAddr) -> String {
    let proto = if a.is_ipv4() { 1 } else { 2 };
    format!("|{proto}|{}|{}|", a.ip(), a.port())
}

/// The text of a 227 reply for a passive listener.
pub fn pasv_reply_text(a: &SocketAddr) -> Option<String> {
    Some(format!("Entering Passive Mode ({}).", format_port(a)?))
}

/// The text of a 229 reply.
pub fn epsv_reply_text(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Client side: finds `h1,h2,h3,h4,p1,p2` in a 227 reply text (servers vary in wrapping).
pub fn parse_pasv_reply(text: &str) -> Option<SocketAddr> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == ','))
        .unwrap_or(rest.len());
    parse_port(&rest[..end])
}

/// Client side: the port in a 229 reply, `(|||port|)`.
pub fn parse_epsv_reply(text: &str) -> Option<u16> {
    let open = text.find('(')?;
    let close = text[open..].find(')')? + open;
    let inner = &text[open + 1..close];
    let d = inner.chars().next()?;
    let parts: Vec<&str> = inner.split(d).collect();
    if parts.len() != 5 {
        return None;
    }
    parts[3].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_round_trip() {
        let a = parse_port("127,0,0,1,4,1").unwrap();
        assert_eq!(a, "127.0.0.1:1025".parse().unwrap());
        assert_eq!(format_port(&a).unwrap(), "127,0,0,1,4,1");
        assert!(parse_port("256,0,0,1,4,1").is_none());
        assert!(parse_port("1,2,3,4,5").is_none());
    }

    #[test]
    fn eprt() {
        assert_eq!(
            parse_eprt("|2|::1|5282|").unwrap(),
            "[::1]:5282".parse().unwrap()
        );
        assert_eq!(
            parse_eprt("!1!10.0.0.1!21!").unwrap(),
            "10.0.0.1:21".parse().unwrap()
        );
        assert!(parse_eprt("|1|::1|5282|").is_none());
        assert!(parse_eprt("|3|x|1|").is_none());
        let a: SocketAddr = "[::1]:99".parse().unwrap();
        assert_eq!(parse_eprt(&format_eprt(&a)), Some(a));
    }

    #[test]
    fn replies() {
        assert_eq!(
            parse_pasv_reply("Entering Passive Mode (127,0,0,1,200,10)."),
            Some("127.0.0.1:51210".parse().unwrap())
        );
        assert_eq!(
            parse_pasv_reply("=127,0,0,1,1,1"),
            Some("127.0.0.1:257".parse().unwrap())
        );
        assert_eq!(parse_epsv_reply(&epsv_reply_text(50000)), Some(50000));
    }
}
