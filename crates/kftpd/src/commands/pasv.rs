//! PASV and EPSV: passive data connections.

use super::Answer;
use crate::datachan::{BindError, DataSetup, Kept};
use crate::session::Session;
use kftp_proto::addr::{epsv_reply_text, format_port, pasv_reply_text};
use kftp_proto::command::EpsvArg;
use kftp_proto::Reply;
use std::net::{IpAddr, SocketAddr};

async fn bind(s: &mut Session) -> Result<SocketAddr, Reply> {
    let ip = s.local.ip();
    // One passive listener per session: the previous one closes (and frees its port and
    // its place in the account's share) before a new one is bound, unless it is kept.
    s.data = None;
    let kept = s.passive_kept.take().filter(|_| !s.modee.on);
    if let Some((listener, addr)) = kept.and_then(|k| k.reuse(ip)) {
        s.passive_kept = Some(Kept::new(&listener, addr));
        s.data = Some(DataSetup::Passive(listener, Default::default()));
        return Ok(addr);
    }
    let account = match s.login() {
        Some(l) if !l.anonymous => l.user.clone(),
        _ => format!("anonymous@{}", crate::limits::client_key(s.peer.ip())),
    };
    let ((listener, addr), slot) = s
        .shared
        .ports
        .bind(ip, &s.shared.config, &account)
        .await
        .map_err(|e| match e {
            BindError::AccountCap(cap) => Reply::new(
                425,
                format!(
                    "Too many passive ports in use by your account ({cap}); finish or abort \
                     a transfer in another session first."
                ),
            ),
            BindError::Io(e) => Reply::new(425, format!("Can't open passive listener: {e}.")),
        })?;
    let listener = std::sync::Arc::new(listener);
    // A port of a configured range stays counted only while a transfer wants it (see
    // `Kept`); MODE E keeps data connections of its own (crate::modee).
    if s.shared.config.passive_ports.is_none() && !s.modee.on {
        s.passive_kept = Some(Kept::new(&listener, addr));
    }
    s.data = Some(DataSetup::Passive(listener, slot));
    Ok(addr)
}

/// PASV: IPv4 only (its reply cannot carry an IPv6 address).
pub async fn pasv(s: &mut Session) -> Answer {
    let addr = pasv_addr(s).await?;
    match pasv_reply_text(&addr) {
        Some(text) => Ok(Reply::new(227, text)),
        None => Err(Reply::new(
            522,
            "PASV cannot describe an IPv6 address; use EPSV.",
        )),
    }
}

/// SPAS (GridFTP striped passive, GFD.20): kftpd is one stripe, so it is PASV with the
/// toolkit's multi-line reply listing one host-port. MODE E only, as the protocol says
/// (and like PASV there, it serves STOR: the sender connects).
pub async fn spas(s: &mut Session) -> Answer {
    if !s.modee.on {
        return Err(Reply::new(503, "SPAS needs MODE E; send MODE E first."));
    }
    let addr = pasv_addr(s).await?;
    let Some(host_port) = format_port(&addr) else {
        return Err(Reply::new(
            522,
            "SPAS cannot describe an IPv6 address; use EPSV.",
        ));
    };
    Ok(Reply::multi(
        229,
        vec![
            "Entering Striped Passive Mode.".to_string(),
            format!(" {host_port}"),
            "End".to_string(),
        ],
    ))
}

/// Binds the passive listener; the IPv4 address PASV and SPAS advertise for it.
async fn pasv_addr(s: &mut Session) -> Result<SocketAddr, Reply> {
    let advertised = match (
        s.shared
            .ops
            .passive_address_for(s.peer.ip(), s.shared.config.passive_address),
        s.local.ip(),
    ) {
        (Some(a), _) => a,
        (None, IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                return Err(Reply::new(
                    522,
                    "PASV cannot describe an IPv6 address; use EPSV (1) or (2).",
                ))
            }
        },
        (None, v4) => v4,
    };
    let addr = bind(s).await?;
    Ok(SocketAddr::new(advertised, addr.port()))
}

/// EPSV, EPSV 1|2, EPSV ALL (RFC 2428).
pub async fn epsv(s: &mut Session, arg: EpsvArg) -> Answer {
    match arg {
        EpsvArg::All => {
            s.epsv_all = true;
            return Ok(Reply::new(
                200,
                "EPSV ALL ok: only EPSV will be accepted from now on.",
            ));
        }
        EpsvArg::Proto(p) => {
            let ours = if s.local.is_ipv4() { 1 } else { 2 };
            if p != ours {
                return Err(Reply::new(
                    522,
                    format!("Network protocol not supported, use ({ours})"),
                ));
            }
        }
        EpsvArg::Any => {}
    }
    let addr = bind(s).await?;
    Ok(Reply::new(229, epsv_reply_text(addr.port())))
}
