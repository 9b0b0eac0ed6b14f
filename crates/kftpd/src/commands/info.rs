//! FEAT, OPTS, HELP, and the commands answered while a transfer runs: STAT, NOOP, ABOR.
//!
//! Those three are the only ones the session lets through beside a running transfer
//! ([`crate::session::policy::beside_transfer`]); every other command waits for it to end.

use super::Answer;
use crate::session::{Phase, Session};
use kftp_proto::command::HashAlgo;
use kftp_proto::Reply;
use std::sync::atomic::Ordering;

/// FEAT (RFC 2389): one feature per line, each line starting with a space.
pub fn feat(s: &Session) -> Answer {
    let hashes: Vec<String> = HashAlgo::ALL
        .iter()
        .map(|a| {
            if *a == s.hash_algo {
                format!("{}*", a.name())
            } else {
                a.name().to_string()
            }
        })
        .collect();
    let mut lines = vec!["Features:".to_string()];
    if s.shared.tls_available() {
        lines.extend(["AUTH TLS".into(), "PBSZ".into(), "PROT".into()]);
    }
    lines.extend(
        [
            "UTF8",
            "EPRT",
            "EPSV",
            "HOST",
            "MDTM",
            "MFMT",
            "SIZE",
            "AVBL",
            "REST STREAM",
            "TVFS",
            "RANG STREAM",
            "XCRC",
            "XMD5",
            "XSHA1",
            "XSHA256",
            "XSHA512",
        ]
        .map(String::from),
    );
    if s.shared.config.max_streams > 0 {
        // GridFTP clients look for PARALLEL before using MODE E with several streams.
        lines.push("PARALLEL".into());
    }
    // GridFTP's partial retrieve and adjusted store (MODE S and E; commands/extended.rs).
    lines.push("ERET".into());
    lines.push("ESTO".into());
    lines.push(format!("MLST {}", s.mlst_facts.feat()));
    lines.push(format!("HASH {}", hashes.join(";")));
    // GridFTP's checksum command, in the toolkit's form (name:priority; ADLER32 is not
    // offered). globus-url-copy -verify-checksum and -sync-level 3 ask it.
    lines.push("CKSM MD5:10;SHA1:10;SHA256:11;SHA512:12;CRC32:13;".into());
    lines.push("End".into());
    Ok(Reply::multi(211, lines))
}

/// OPTS UTF8, OPTS MLST, OPTS HASH.
pub fn opts(s: &mut Session, name: &str, arg: Option<&str>) -> Answer {
    match name {
        "UTF8" | "UTF-8" => match arg.map(str::to_ascii_uppercase).as_deref() {
            Some("ON") | None => Ok(Reply::new(200, "UTF8 mode is always on.")),
            Some("OFF") => Err(Reply::new(
                504,
                "UTF8 cannot be turned off: names are UTF-8.",
            )),
            Some(_) => Err(Reply::new(501, "OPTS UTF8: expected ON or OFF.")),
        },
        "MLST" => {
            s.mlst_facts = kftp_proto::listing::Facts::parse(arg.unwrap_or(""));
            Ok(Reply::new(
                200,
                format!("MLST OPTS {}", s.mlst_facts.selected()),
            ))
        }
        "HASH" => {
            let Some(a) = arg else {
                return Ok(Reply::new(200, s.hash_algo.name()));
            };
            let algo = HashAlgo::from_name(a).ok_or_else(|| {
                Reply::new(
                    501,
                    "Unknown algorithm; supported: SHA-256, SHA-512, SHA-1, MD5, CRC32.",
                )
            })?;
            s.hash_algo = algo;
            Ok(Reply::new(200, algo.name()))
        }
        "RETR" => Ok(crate::modee::opts_retr(s, arg)),
        _ => Err(Reply::new(
            501,
            format!("OPTS {name}: option not recognised."),
        )),
    }
}

const VERBS: &[&str] = &[
    "ABOR", "ACCT", "ALLO", "APPE", "AUTH", "CCC", "CDUP", "CKSM", "CWD", "DELE", "EPRT", "EPSV",
    "ERET", "ESTO", "FEAT", "HASH", "HELP", "HOST", "LIST", "MDTM", "MFMT", "MKD", "MLSD", "MLST",
    "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV", "PBSZ", "PORT", "PROT", "PWD", "QUIT", "RANG",
    "REIN", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE", "SMNT", "SPAS", "SPOR", "STAT",
    "STOR", "STOU", "STRU", "SYST", "TYPE", "USER", "XCRC", "XCUP", "XCWD", "XMD5", "XMKD", "XPWD",
    "XRMD", "XSHA1", "XSHA256", "XSHA512",
];

/// `HELP [verb]`.
pub fn help(verb: Option<&str>) -> Answer {
    match verb {
        Some(v) => {
            let v = v.trim().to_ascii_uppercase();
            if VERBS.contains(&v.as_str()) {
                Ok(Reply::new(
                    214,
                    format!("{v} is supported; see RFC 959 and its extensions."),
                ))
            } else {
                Err(Reply::new(502, format!("Unknown command '{v}'.")))
            }
        }
        None => {
            let mut lines = vec!["The following commands are recognized:".to_string()];
            for chunk in VERBS.chunks(10) {
                lines.push(chunk.join(" "));
            }
            lines.push("Help OK.".into());
            Ok(Reply::multi(214, lines))
        }
    }
}

/// NOOP.
pub fn noop(s: &Session) -> Answer {
    Ok(match s.running {
        Some(_) => Reply::new(200, "NOOP ok (transfer in progress)."),
        None => Reply::new(200, "NOOP ok."),
    })
}

/// ABOR: with a transfer running, its final reply (426 for one cut short) and then 226;
/// without, a prepared data connection is closed (RFC 959 4.1.3).
pub async fn abor(s: &mut Session) -> Answer {
    if s.abort_running().await {
        return Ok(Reply::new(226, "ABOR command successful."));
    }
    s.close_data();
    Ok(Reply::new(226, "No transfer to abort."))
}

/// STAT without argument: the running transfer's progress, or the session's status.
pub fn stat(s: &Session) -> Answer {
    let Some(run) = &s.running else {
        return Ok(session_status(s));
    };
    let done = run.progress.load(Ordering::Relaxed);
    let secs = run.started.elapsed().as_secs_f64();
    let total = run.total.map(|t| format!(" of {t}")).unwrap_or_default();
    Ok(Reply::multi(
        213,
        vec![
            "Status of transfer:".to_string(),
            format!("{}: {done}{total} bytes in {secs:.1} s", run.what),
            format!("Data path: {}", s.shared.config.data_path),
            "End of status.".to_string(),
        ],
    ))
}

fn session_status(s: &Session) -> Reply {
    let who = match &s.phase {
        Phase::Authed(l) => format!("Logged in as {}", l.user),
        _ => "Not logged in".to_string(),
    };
    Reply::multi(
        211,
        vec![
            "kftpd status:".into(),
            format!("Connected from {}", s.peer),
            who,
            format!("TYPE: {:?}, STRUcture: File, MODE: Stream", s.ttype),
            format!(
                "Control connection: {}",
                if s.is_tls() { "TLS" } else { "plain" }
            ),
            format!("Data path: {}", s.shared.config.data_path),
            "No data connection".into(),
            "End of status.".into(),
        ],
    )
}
