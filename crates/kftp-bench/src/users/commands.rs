//! The client command lines, as a user types them: curl for single transfers, FTPS
//! (`--ssl-reqd -k`), simultaneous transfers and logins; lftp for mirrors and `pget`; the
//! `kftp` CLI for the client comparison. Each is built for one server under test; every
//! one talks to 127.0.0.1 in passive mode with the server's bench account.

use crate::servers::Server;
use std::path::Path;
use std::process::Command;

/// What curl prints at its end (`-w`): bytes down and up, parsed by [`curl_bytes`].
const CURL_TAG: &str = "kftp-bench-bytes";

/// Password for anonymous logins (vsftpd takes any).
const ANON_PASSWORD: &str = "bench@";

/// Login of `s` as (user, password).
pub fn login(s: &Server) -> (String, String) {
    let pass = s
        .creds
        .password
        .as_ref()
        .map(|p| p.expose().to_string())
        .unwrap_or_else(|| ANON_PASSWORD.into());
    (s.creds.user.clone(), pass)
}

fn curl_base(s: &Server, tls: bool) -> Command {
    let (user, pass) = login(s);
    let mut c = Command::new("curl");
    c.args(["-sS", "--user", &format!("{user}:{pass}")]);
    if tls {
        // Explicit FTPS (AUTH TLS) with PROT P for data; the certificates are self-signed.
        c.args(["--ssl-reqd", "-k"]);
    }
    c.args([
        "-w",
        &format!("{CURL_TAG} %{{size_download}} %{{size_upload}}\\n"),
    ]);
    c
}

fn url(s: &Server, path: &str) -> String {
    format!("ftp://{}:{}/{}{path}", s.host, s.port, s.dir)
}

/// `curl -o out URL` (`out` may be `/dev/null`).
pub fn curl_get(s: &Server, tls: bool, path: &str, out: &Path) -> Command {
    let mut c = curl_base(s, tls);
    c.arg("-o").arg(out).arg(url(s, path));
    c
}

/// `curl -T local URL`.
pub fn curl_put(s: &Server, tls: bool, local: &Path, path: &str) -> Command {
    let mut c = curl_base(s, tls);
    c.arg("-T").arg(local).arg(url(s, path));
    c
}

/// `n` logins one after another, each a new curl process (log in, PWD, QUIT: `-I` on the
/// root asks for no transfer), as a script that logs in once per file does.
pub fn curl_logins(s: &Server, n: usize) -> Command {
    let (user, pass) = login(s);
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(
            "i=0; while [ $i -lt \"$1\" ]; do \
             curl -sS -I -o /dev/null --ftp-method nocwd --user \"$2\" \"$3\" || exit 1; \
             i=$((i+1)); done",
        )
        .arg("sh")
        .arg(n.to_string())
        .arg(format!("{user}:{pass}"))
        .arg(url(s, ""));
    c
}

/// Bytes (down, up) a curl run reported in `log`.
pub fn curl_bytes(log: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(log).ok()?;
    let line = text.lines().rev().find_map(|l| l.strip_prefix(CURL_TAG))?;
    let mut it = line.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((it.next()?? as u64, it.next()?? as u64))
}

/// `lftp -c` running `script` after logging in to `s` (plain FTP: lftp would otherwise
/// upgrade to TLS by itself wherever AUTH TLS is offered, and refuse the self-signed
/// certificate).
pub fn lftp(s: &Server, script: &str) -> Command {
    let (user, pass) = login(s);
    let mut c = Command::new("lftp");
    c.arg("-c").arg(format!(
        "set net:max-retries 1; set ftp:ssl-allow no; set xfer:clobber on; \
         open -u {user},{pass} -p {} {}; {}{script}",
        s.port,
        s.host,
        if s.dir.is_empty() {
            String::new()
        } else {
            format!("cd {}; ", s.dir)
        }
    ));
    c
}

/// The `kftp` CLI at `bin`: `args`, then the URL of `path` on `s` (the password from the
/// environment, as kftp reads it).
pub fn kftp(bin: &Path, s: &Server, args: &[&str], path: &str) -> Command {
    let (user, pass) = login(s);
    let mut c = Command::new(bin);
    c.args(args)
        .arg(format!(
            "ftp://{user}@{}:{}/{}{path}",
            s.host, s.port, s.dir
        ))
        .env(kftp::creds::PASSWORD_ENV, pass);
    c
}
