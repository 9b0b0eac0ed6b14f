//! AUTH TLS, PBSZ, PROT (RFC 4217).

use super::{Answer, Replied};
use crate::session::control::CtrlStream;
use crate::session::Session;
use kftp_proto::command::Prot;
use kftp_proto::Reply;
use kftp_tls::{accept_control, Lineage};
use std::sync::Arc;

/// AUTH TLS: upgrade the control connection.
pub async fn auth(s: &mut Session, mech: &str) -> Replied {
    if !matches!(mech, "TLS" | "TLS-C" | "SSL") {
        return Err(Reply::new(
            504,
            format!("AUTH {mech} not supported; use AUTH TLS."),
        ));
    }
    if s.is_tls() {
        return Err(Reply::new(503, "TLS is already active."));
    }
    let Some(tls) = s.shared.tls.clone() else {
        return Err(Reply::new(502, "TLS is not configured on this server."));
    };
    let lineage = match Lineage::new(&tls) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(session = s.id, error = %e, "cannot set up TLS");
            return Err(Reply::new(431, "TLS is unavailable right now."));
        }
    };
    if s.send(&Reply::new(234, "AUTH TLS ok; start the TLS handshake."))
        .await
        .is_err()
    {
        s.quit = true;
        return Ok(());
    }
    let ctl = s.control();
    if ctl.discard_buffered() {
        tracing::warn!(
            session = s.id,
            "discarded plaintext sent after AUTH TLS before the handshake"
        );
    }
    let Some(CtrlStream::Plain(tcp)) = s.control().stream.take() else {
        s.quit = true;
        return Ok(());
    };
    match accept_control(&lineage, tcp).await {
        Ok(stream) => {
            s.control().stream = Some(CtrlStream::Tls(Box::new(stream)));
            s.lineage = Some(Arc::new(lineage));
            tracing::info!(session = s.id, "control connection upgraded to TLS");
        }
        Err(e) => {
            tracing::info!(session = s.id, error = %e, "TLS handshake on the control connection failed");
            s.quit = true;
        }
    }
    Ok(())
}

/// PBSZ: only 0 makes sense for TLS.
pub fn pbsz(s: &mut Session, _n: u64) -> Answer {
    if !s.is_tls() {
        return Err(Reply::new(503, "PBSZ needs AUTH TLS first."));
    }
    s.pbsz = true;
    Ok(Reply::new(200, "PBSZ=0"))
}

/// PROT C or P.
pub fn prot(s: &mut Session, p: Prot) -> Answer {
    if !s.is_tls() {
        return Err(Reply::new(503, "PROT needs AUTH TLS first."));
    }
    if !s.pbsz {
        return Err(Reply::new(503, "PROT needs PBSZ first."));
    }
    if s.prot != p {
        // A kept stream serves only transfers under the PROT it was made under.
        s.modee.drop_cache();
    }
    s.prot = p;
    Ok(match p {
        Prot::Clear => Reply::new(200, "Protection level set to C (clear)."),
        Prot::Private => Reply::new(200, "Protection level set to P (private)."),
    })
}
