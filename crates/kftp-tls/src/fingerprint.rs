//! SHA-256 certificate fingerprints: what the server prints and what a client pins.
use crate::TlsError;
use sha2::{Digest, Sha256};

/// The SHA-256 of a DER certificate, formatted `AA:BB:..` (95 characters), the way
/// `openssl x509 -fingerprint -sha256` and browsers show it.
pub fn fingerprint_of(cert_der: &[u8]) -> String {
    format_colon_hex(&Sha256::digest(cert_der))
}

/// Formats bytes as upper-case hex pairs joined by `:`.
pub(crate) fn format_colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// Parses a pin: 64 hex digits, either `AA:BB:..` (any case) or plain (`aabb..`).
/// Surrounding whitespace and an optional `sha256:`/`sha256/` prefix are ignored.
pub fn parse_fingerprint(pin: &str) -> Result<[u8; 32], TlsError> {
    let bad = || TlsError::BadPin(pin.to_string());
    let mut s = pin.trim();
    for prefix in ["sha256:", "sha256/", "SHA256:", "SHA256/"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    let digits: Vec<u8> = if s.contains(':') {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 32 || parts.iter().any(|p| p.len() != 2) {
            return Err(bad());
        }
        parts.concat().into_bytes()
    } else {
        s.as_bytes().to_vec()
    };
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0]).ok_or_else(bad)?;
        let lo = hex_val(pair[1]).ok_or_else(bad)?;
        out[i] = hi << 4 | lo;
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_both_forms() {
        let fp = fingerprint_of(b"not really a certificate");
        assert_eq!(fp.len(), 95);
        let raw = parse_fingerprint(&fp).expect("colon form");
        let plain: String = fp.replace(':', "").to_lowercase();
        assert_eq!(parse_fingerprint(&plain).expect("plain form"), raw);
        assert_eq!(
            parse_fingerprint(&format!("  sha256:{plain} ")).expect("prefixed"),
            raw
        );
        assert_eq!(format_colon_hex(&raw), fp);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "abc",
            &"g".repeat(64),
            &"a".repeat(63),
            "AA:BB",
            &"a".repeat(66),
        ] {
            assert!(parse_fingerprint(bad).is_err(), "{bad}");
        }
        // 32 groups but one of three digits.
        let mut groups = vec!["AA"; 31];
        groups.push("AAA");
        assert!(parse_fingerprint(&groups.join(":")).is_err());
    }
}
