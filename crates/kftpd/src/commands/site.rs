//! SITE HELP, SITE CHMOD, SITE QUOTA, the TCP buffer forms clients send for GridFTP's
//! SBUF (globus-url-copy -tcp-bs tries SITE RETRBUFSIZE, RBUFSZ, RBUFSIZ, BUFSIZE in turn),
//! and SITE CLIENTINFO, with which GridFTP clients name themselves.

use super::{storage, Answer, OrReply};
use crate::session::Session;
use kftp_proto::Reply;

/// The bits SITE CHMOD may set: permission bits, except world-write (setuid, setgid and
/// sticky are refused before this).
const ALLOWED: u32 = 0o775;

/// SITE subcommands.
pub async fn site(s: &mut Session, args: &str) -> Answer {
    let mut words = args.splitn(3, ' ');
    let sub = words.next().unwrap_or("").to_ascii_uppercase();
    match sub.as_str() {
        "HELP" => Ok(Reply::multi(
            214,
            vec![
                "SITE commands:".into(),
                "CHMOD <octal-mode> <path>".into(),
                "QUOTA".into(),
                "BUFSIZE <bytes> (also RETRBUFSIZE, STORBUFSIZE, RBUFSZ, SBUFSZ)".into(),
                "CLIENTINFO <text> (GridFTP clients name themselves; logged at debug)".into(),
                "HELP".into(),
                "End.".into(),
            ],
        )),
        "QUOTA" => super::quota::site_quota(s).await,
        // One size for both directions, as SBUF: a session's data connections carry
        // either.
        "BUFSIZE" | "RETRBUFSIZE" | "STORBUFSIZE" | "RBUFSZ" | "RBUFSIZ" | "SBUFSZ" | "SBUFSIZ" => {
            match words.next().map(str::trim).map(str::parse::<u64>) {
                Some(Ok(n)) => super::params::sbuf(s, n),
                _ => Err(Reply::new(501, format!("Usage: SITE {sub} <bytes>."))),
            }
        }
        // globus-url-copy sends `SITE CLIENTINFO appname=...;appver=...;schema=...;` after
        // login; globus-gridftp-server answers 250 and keeps it for its log. It changes
        // nothing here either: logged at debug (escaped), answered as the toolkit does.
        "CLIENTINFO" => {
            let info = args.get(sub.len()..).unwrap_or("").trim();
            tracing::debug!(info = ?info, "client names itself");
            Ok(Reply::new(250, "OK."))
        }
        "CHMOD" => {
            let (Some(mode), Some(path)) = (words.next(), words.next()) else {
                return Err(Reply::new(501, "Usage: SITE CHMOD <octal-mode> <path>."));
            };
            let Ok(mode) = u32::from_str_radix(mode, 8) else {
                return Err(Reply::new(501, "SITE CHMOD: mode must be octal, e.g. 644."));
            };
            if mode > 0o777 {
                return Err(Reply::new(
                    501,
                    "SITE CHMOD: only permission bits (at most 777) may be set; setuid, \
                     setgid and sticky never.",
                ));
            }
            // The session policy checked it too; this handler must not depend on that.
            if !s
                .login()
                .is_some_and(|l| l.perms.has(crate::auth::Perm::Chmod))
            {
                return Err(Reply::new(
                    550,
                    "Permission denied: SITE CHMOD needs the 'chmod' permission.",
                ));
            }
            // Nothing a client uploads may become writable by every local user.
            let asked = mode;
            let mode = asked & ALLOWED;
            let fs = storage(s)?;
            let p = s.resolve(path)?;
            fs.chmod(&p, mode).await.or_reply(path)?;
            Ok(if mode != asked {
                Reply::new(
                    200,
                    format!(
                        "Mode of {p} set to {mode:o}, not {asked:o}: the world-write bit is \
                         never set."
                    ),
                )
            } else {
                Reply::new(200, format!("Mode of {p} set to {mode:o}."))
            })
        }
        _ => Err(Reply::new(
            500,
            format!("Unknown SITE command '{sub}'; try SITE HELP."),
        )),
    }
}
