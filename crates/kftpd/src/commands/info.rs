//! FEAT, OPTS, HELP, STAT.

use crate::session::{Phase, Session};
use kftp_proto::command::HashAlgo;
use kftp_proto::Reply;

/// FEAT (RFC 2389): one feature per line, each line starting with a space.
pub fn feat(s: &Session) -> Reply {
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
    lines.push(format!("MLST {}", s.mlst_facts.feat()));
    lines.push(format!("HASH {}", hashes.join(";")));
    lines.push("End".into());
    Reply::multi(211, lines)
}

/// OPTS UTF8, OPTS MLST, OPTS HASH.
pub fn opts(s: &mut Session, name: &str, arg: Option<&str>) -> Reply {
    match name {
        "UTF8" | "UTF-8" => match arg.map(str::to_ascii_uppercase).as_deref() {
            Some("ON") | None => Reply::new(200, "UTF8 mode is always on."),
            Some("OFF") => Reply::new(504, "UTF8 cannot be turned off: names are UTF-8."),
            Some(_) => Reply::new(501, "OPTS UTF8: expected ON or OFF."),
        },
        "MLST" => {
            s.mlst_facts = kftp_proto::listing::Facts::parse(arg.unwrap_or(""));
            Reply::new(200, format!("MLST OPTS {}", s.mlst_facts.selected()))
        }
        "HASH" => match arg {
            None => Reply::new(200, s.hash_algo.name()),
            Some(a) => match HashAlgo::from_name(a) {
                Some(algo) => {
                    s.hash_algo = algo;
                    Reply::new(200, algo.name())
                }
                None => Reply::new(
                    501,
                    "Unknown algorithm; supported: SHA-256, SHA-512, SHA-1, MD5, CRC32.",
                ),
            },
        },
        "RETR" => crate::modee::opts_retr(s, arg),
        _ => Reply::new(501, format!("OPTS {name}: option not recognised.")),
    }
}

const VERBS: &[&str] = &[
    "ABOR", "ACCT", "ALLO", "APPE", "AUTH", "CCC", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT",
    "HASH", "HELP", "HOST", "LIST", "MDTM", "MFMT", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP",
    "OPTS", "PASS", "PASV", "PBSZ", "PORT", "PROT", "PWD", "QUIT", "RANG", "REIN", "REST", "RETR",
    "RMD", "RNFR", "RNTO", "SITE", "SIZE", "SMNT", "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE",
    "USER", "XCRC", "XCUP", "XCWD", "XMD5", "XMKD", "XPWD", "XRMD", "XSHA1", "XSHA256", "XSHA512",
];

/// HELP [verb].
pub fn help(verb: Option<&str>) -> Reply {
    match verb {
        Some(v) => {
            let v = v.trim().to_ascii_uppercase();
            if VERBS.contains(&v.as_str()) {
                Reply::new(
                    214,
                    format!("{v} is supported; see RFC 959 and its extensions."),
                )
            } else {
                Reply::new(502, format!("Unknown command '{v}'."))
            }
        }
        None => {
            let mut lines = vec!["The following commands are recognized:".to_string()];
            for chunk in VERBS.chunks(10) {
                lines.push(chunk.join(" "));
            }
            lines.push("Help OK.".into());
            Reply::multi(214, lines)
        }
    }
}

/// STAT without argument and no transfer: the session's status.
pub fn stat(s: &Session) -> Reply {
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
