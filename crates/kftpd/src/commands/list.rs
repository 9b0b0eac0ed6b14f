//! LIST, NLST, MLSD (over the data connection), MLST and STAT path (over control).

use super::{start_transfer, storage};
use crate::session::Session;
use crate::transfer::Job;
use kftp_proto::listing::{format_facts, format_list_line, is_hidden, Entry, Kind};
use kftp_proto::path::VPath;
use kftp_proto::Reply;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `ls -l` (LIST).
    Long,
    /// Names only (NLST).
    Names,
    /// RFC 3659 facts (MLSD).
    Facts,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `*` and `?` matching for `NLST *.txt` style arguments.
fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    match (pat.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&pat[1..], s) || (!s.is_empty() && glob_match(pat, &s[1..])),
        (Some(b'?'), Some(_)) => glob_match(&pat[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob_match(&pat[1..], &s[1..]),
        _ => false,
    }
}

/// The entries a listing command shows, and whether the target was a directory.
async fn entries(s: &Session, arg: Option<&str>) -> Result<(VPath, Vec<Entry>, bool), Reply> {
    let fs = storage(s)?;
    let p = s.resolve(arg.unwrap_or("."))?;
    let name = p.file_name().to_string();
    if name.contains(['*', '?']) {
        if let Some((parent, _)) = p.split_last() {
            let list = fs
                .list(&parent)
                .await
                .map_err(|e| Reply::new(e.code(), format!("{}: {e}.", parent)))?;
            let pat = name.as_bytes();
            let hits = list
                .into_iter()
                .filter(|e| glob_match(pat, e.name.as_bytes()))
                .collect();
            return Ok((parent, hits, true));
        }
    }
    let st = fs
        .stat(&p)
        .await
        .map_err(|e| Reply::new(e.code(), format!("{}: {e}.", arg.unwrap_or("."))))?;
    if st.kind == Kind::Dir {
        let list = fs
            .list(&p)
            .await
            .map_err(|e| Reply::new(e.code(), format!("{p}: {e}.")))?;
        Ok((p, list, true))
    } else {
        Ok((p, vec![st], false))
    }
}

fn render(s: &Session, list: &[Entry], format: Format, all: bool) -> Vec<u8> {
    let perms = s.login().map(|l| l.perms.facts()).unwrap_or_default();
    let now = now();
    let mut out = String::with_capacity(list.len() * 80);
    for e in list {
        if format != Format::Facts && !all && is_hidden(&e.name) {
            continue;
        }
        match format {
            Format::Long => format_list_line(e, now, &mut out),
            Format::Names => out.push_str(&e.name),
            Format::Facts => format_facts(e, perms, &mut out),
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// LIST, NLST, MLSD.
pub async fn list(s: &mut Session, arg: Option<&str>, all: bool, format: Format) -> Option<Reply> {
    // REST applies to the transfer command that follows it; a listing consumes it.
    s.rest = 0;
    if s.data.is_none() {
        return Some(Reply::new(425, "Use PORT, EPRT, PASV or EPSV first."));
    }
    let (dir, list, is_dir) = match entries(s, arg).await {
        Ok(x) => x,
        Err(r) => return Some(r),
    };
    if format == Format::Facts && !is_dir {
        return Some(Reply::new(
            501,
            "MLSD needs a directory; use MLST for a file.",
        ));
    }
    let bytes = render(s, &list, format, all);
    let verb = match format {
        Format::Long => "LIST",
        Format::Names => "NLST",
        Format::Facts => "MLSD",
    };
    let opening = format!("Here comes the listing of {dir}.");
    start_transfer(s, Job::Listing(bytes), verb, dir, None, opening).await
}

/// MLST: facts of one object, on the control connection.
pub async fn mlst(s: &Session, arg: Option<&str>) -> Reply {
    let fs = match storage(s) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let p = match s.resolve(arg.unwrap_or(".")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match fs.stat(&p).await {
        Ok(mut e) => {
            e.name = p.to_string();
            let perms = s.login().map(|l| l.perms.facts()).unwrap_or_default();
            let mut facts = String::new();
            format_facts(&e, perms, &mut facts);
            Reply::multi(
                250,
                vec![format!("Listing {p}"), format!(" {facts}"), "End".into()],
            )
        }
        Err(e) => Reply::new(e.code(), format!("{}: {e}.", arg.unwrap_or("."))),
    }
}

/// STAT path: an `ls -l` listing over the control connection (213 for a file, 212 for a
/// directory).
pub async fn stat_path(s: &Session, arg: &str) -> Reply {
    let (dir, list, is_dir) = match entries(s, Some(arg)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let text = String::from_utf8_lossy(&render(s, &list, Format::Long, true)).into_owned();
    let mut lines = vec![format!("Status of {dir}:")];
    lines.extend(text.lines().map(str::to_string));
    lines.push("End of status.".into());
    Reply::multi(if is_dir { 212 } else { 213 }, lines)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match(b"*.txt", b"a.txt"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"*.txt", b"a.bin"));
        assert!(glob_match(b"*", b""));
    }
}
