//! PORT and EPRT: active data connections, with FTP bounce protection.

use crate::datachan::{check_active_target, DataSetup};
use crate::session::Session;
use kftp_proto::Reply;
use std::net::SocketAddr;

/// PORT/EPRT: only to the control peer's address, never to a privileged port.
pub fn port(s: &mut Session, target: SocketAddr) -> Reply {
    if let Err(r) = check_active_target(target, s.peer.ip(), &s.shared.config) {
        tracing::warn!(session = s.id, peer = %s.peer, target = %target, "refused active data target");
        return r;
    }
    s.data = Some(DataSetup::Active(target));
    Reply::new(
        200,
        format!("Data connection will go to {target}. Consider EPSV."),
    )
}
