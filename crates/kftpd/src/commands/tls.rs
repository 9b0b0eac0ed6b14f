//! AUTH TLS, PBSZ, PROT (RFC 4217).

use crate::session::Session;
use kftp_proto::command::Prot;
use kftp_proto::Reply;

/// AUTH TLS: upgrade the control connection.
pub async fn auth(s: &mut Session, mech: &str) -> Option<Reply> {
    if !matches!(mech, "TLS" | "TLS-C" | "SSL") {
        return Some(Reply::new(
            504,
            format!("AUTH {mech} not supported; use AUTH TLS."),
        ));
    }
    if s.is_tls() {
        return Some(Reply::new(503, "TLS is already active."));
    }
    if !s.shared.tls_available() {
        return Some(Reply::new(502, "TLS is not configured on this server."));
    }
    Some(Reply::new(502, "TLS is not configured on this server."))
}

/// PBSZ: only 0 makes sense for TLS.
pub fn pbsz(s: &mut Session, _n: u64) -> Reply {
    if !s.is_tls() {
        return Reply::new(503, "PBSZ needs AUTH TLS first.");
    }
    s.pbsz = true;
    Reply::new(200, "PBSZ=0")
}

/// PROT C or P.
pub fn prot(s: &mut Session, p: Prot) -> Reply {
    if !s.is_tls() {
        return Reply::new(503, "PROT needs AUTH TLS first.");
    }
    if !s.pbsz {
        return Reply::new(503, "PROT needs PBSZ first.");
    }
    s.prot = p;
    match p {
        Prot::Clear => Reply::new(200, "Protection level set to C (clear)."),
        Prot::Private => Reply::new(200, "Protection level set to P (private)."),
    }
}
