//! kftpd's start-up lines on standard output, read in this one place: the address of each
//! listener and the certificate pin. Every launcher (the builder, and tests that spawn the
//! binary themselves to look at its start-up) goes through [`read_banner`].

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;

/// What a freshly started kftpd printed.
#[derive(Clone, Debug)]
pub struct Banner {
    /// The first control listener.
    pub addr: SocketAddr,
    /// The first implicit FTPS listener, if one was asked for.
    pub implicit_addr: Option<SocketAddr>,
    /// SHA-256 fingerprint of the server certificate, when TLS is on.
    pub fingerprint: Option<String>,
}

/// The address in `kftpd <version> listening on <addr>, serving <root>`, or in
/// `kftpd implicit FTPS listening on <addr>` (with whether it is the implicit one).
fn listener(line: &str) -> Option<(SocketAddr, bool)> {
    let rest = line.split_once("listening on ")?.1;
    let addr = rest.split([',', ' ', '\n']).next()?.parse().ok()?;
    Some((addr, line.contains("implicit FTPS")))
}

/// The pin in `  TLS certificate <path> SHA-256 <hex> ...`, the last start-up line.
fn pin(line: &str) -> Option<String> {
    let rest = line.split_once("SHA-256 ")?.1;
    rest.split_whitespace().next().map(str::to_string)
}

/// Reads `child`'s piped standard output up to the end of its start-up lines (the
/// certificate line with `tls`, else the first listener), then keeps draining it on a
/// thread so that the server never blocks writing. Panics with the log at `log` if kftpd
/// exited or printed no address.
pub fn read_banner(child: &mut Child, tls: bool, log: &Path) -> Banner {
    let mut out = BufReader::new(child.stdout.take().expect("kftpd's stdout piped"));
    let (mut addr, mut implicit_addr, mut fingerprint) = (None, None, None);
    loop {
        let mut l = String::new();
        if out.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        match listener(&l) {
            Some((a, true)) => implicit_addr = implicit_addr.or(Some(a)),
            Some((a, false)) => addr = addr.or(Some(a)),
            None => fingerprint = fingerprint.or_else(|| pin(&l)),
        }
        if fingerprint.is_some() || (!tls && addr.is_some()) {
            break;
        }
    }
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "kftpd did not start:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        )
    };
    Banner {
        addr,
        implicit_addr,
        fingerprint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let a = listener("kftpd 0.1.0 listening on 127.0.0.1:2121, serving /srv\n").unwrap();
        assert_eq!(a, ("127.0.0.1:2121".parse().unwrap(), false));
        let i = listener("kftpd implicit FTPS listening on [::1]:990\n").unwrap();
        assert_eq!(i, ("[::1]:990".parse().unwrap(), true));
        assert_eq!(listener("  log in as kftp / pw"), None);
        let p = pin("  TLS certificate /s/cert.pem SHA-256 ab:cd (self-signed: ...)").unwrap();
        assert_eq!(p, "ab:cd");
    }
}
