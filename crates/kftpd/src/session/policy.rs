//! One place that decides whether a command may run now: before login, without TLS, or
//! without the user's permission. Handlers can assume it passed.

use super::{Phase, Session};
use crate::auth::Perm;
use crate::config::TlsPolicy;
use kftp_proto::command::Prot;
use kftp_proto::{Command, Reply};

/// Commands allowed before login (as vsftpd's prelogin.c).
fn allowed_before_login(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::User(_)
            | Command::Pass(_)
            | Command::Acct(_)
            | Command::Quit
            | Command::Feat
            | Command::Opts(..)
            | Command::Auth(_)
            | Command::Pbsz(_)
            | Command::Prot(_)
            | Command::Host(_)
            | Command::Syst
            | Command::Noop
            | Command::Help(_)
            | Command::Rein
            | Command::Abor
            | Command::Ccc
    )
}

/// Whether TLS must be in place before USER/PASS on this connection. Loopback is exempt
/// only when both ends are: behind a load balancer on the same host (PROXY protocol) the
/// listener is loopback but the client, `s.peer` as the trusted header named it, is not.
pub fn tls_required(s: &Session) -> bool {
    let loopback = |ip: std::net::IpAddr| ip.to_canonical().is_loopback();
    match s.shared.config.tls_policy {
        TlsPolicy::Always => true,
        TlsPolicy::Never => false,
        TlsPolicy::NonLoopback => !(loopback(s.local.ip()) && loopback(s.peer.ip())),
    }
}

/// The permission a command needs, if any.
fn needed_perm(cmd: &Command) -> Option<Perm> {
    Some(match cmd {
        Command::List { .. } | Command::Nlst { .. } | Command::Mlsd(_) | Command::Mlst(_) => {
            Perm::List
        }
        Command::Stat(Some(_)) | Command::Avbl(_) => Perm::List,
        Command::Retr(_)
        | Command::Eret { .. }
        | Command::Size(_)
        | Command::Mdtm(_)
        | Command::Hash(_)
        | Command::XHash(..)
        | Command::Cksm(..) => Perm::Read,
        Command::Stor(_) | Command::Stou(_) | Command::Esto { .. } => Perm::Write,
        Command::Appe(_) => Perm::Append,
        Command::Dele(_) | Command::Rmd(_) => Perm::Delete,
        Command::Rnfr(_) | Command::Rnto(_) | Command::Mfmt(..) => Perm::Rename,
        Command::Mkd(_) => Perm::Mkdir,
        Command::Site(t) if t.trim_start().to_ascii_uppercase().starts_with("CHMOD") => Perm::Chmod,
        _ => return None,
    })
}

/// Ok, or the reply that refuses the command.
pub fn check(s: &Session, cmd: &Command) -> Result<(), Reply> {
    let login = match &s.phase {
        Phase::Authed(l) => l,
        _ => {
            if !allowed_before_login(cmd) {
                return Err(Reply::new(530, "Please log in with USER and PASS first."));
            }
            if matches!(cmd, Command::User(_) | Command::Pass(_)) && tls_required(s) && !s.is_tls()
            {
                return Err(Reply::new(
                    530,
                    "TLS required: this server does not accept passwords in clear text. \
                     Send AUTH TLS first (curl --ssl-reqd, lftp set ftp:ssl-force true, \
                     Python FTP_TLS, kftp --tls).",
                ));
            }
            return Ok(());
        }
    };
    if s.epsv_all
        && matches!(
            cmd,
            Command::Port(_) | Command::Pasv | Command::Eprt(_) | Command::Spas | Command::Spor(_)
        )
    {
        return Err(Reply::new(
            503,
            "EPSV ALL in effect: only EPSV may set up data connections.",
        ));
    }
    if login.anonymous {
        crate::anon::check(s, cmd)?;
    }
    let moves_data = matches!(
        cmd,
        Command::Retr(_)
            | Command::Stor(_)
            | Command::Eret { .. }
            | Command::Esto { .. }
            | Command::Appe(_)
            | Command::Stou(_)
            | Command::List { .. }
            | Command::Nlst { .. }
            | Command::Mlsd(_)
    );
    if moves_data && s.prot == Prot::Clear && tls_required(s) {
        return Err(Reply::new(
            521,
            "Data connections must be protected here: send PBSZ 0 and PROT P.",
        ));
    }
    if let Some(perm) = needed_perm(cmd).filter(|p| !login.perms.allows(*p)) {
        return Err(Reply::new(
            550,
            format!(
                "Permission denied: user '{}' lacks the '{}' permission.",
                login.user,
                perm.name()
            ),
        ));
    }
    Ok(())
}

/// Whether `cmd` is answered while a transfer (or a HASH job) runs, instead of waiting for
/// it to end.
pub fn beside_transfer(cmd: &Command) -> bool {
    matches!(cmd, Command::Abor | Command::Stat(None) | Command::Noop)
}
