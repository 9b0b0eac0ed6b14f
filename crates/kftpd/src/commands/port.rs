//! PORT and EPRT: active data connections, with FTP bounce protection.

use super::Answer;
use crate::datachan::{check_active_target, DataSetup};
use crate::session::Session;
use kftp_proto::Reply;
use std::net::SocketAddr;

/// PORT/EPRT: only to the control peer's address, never to a privileged port.
pub fn port(s: &mut Session, target: SocketAddr) -> Answer {
    check_active_target(target, s.peer.ip(), &s.shared.config).inspect_err(|_| {
        tracing::warn!(session = s.id, peer = %s.peer, target = %target, "refused active data target");
    })?;
    s.close_data();
    s.data = Some(DataSetup::Active(target));
    Ok(Reply::new(
        200,
        format!("Data connection will go to {target}. Consider EPSV."),
    ))
}

/// SPOR (GridFTP striped port, GFD.20): kftpd is one stripe and sends to one receiver, so
/// SPOR takes one host-port (a striped receiver with several would wait for an EOF on each)
/// and is PORT after that, bounce check included. MODE E only, as the protocol says.
pub fn spor(s: &mut Session, targets: &[SocketAddr]) -> Answer {
    if !s.modee.on {
        return Err(Reply::new(503, "SPOR needs MODE E; send MODE E first."));
    }
    match targets {
        [one] => port(s, *one),
        _ => Err(Reply::new(
            504,
            format!(
                "SPOR: kftpd is one stripe and sends to one host-port, not {}.",
                targets.len()
            ),
        )),
    }
}
