//! LIST, NLST, MLSD (over the data connection), MLST and STAT path (over control).

use super::{start_transfer, storage};
use crate::session::Session;
use crate::storage::EntryStream;
use crate::transfer::{Job, ListingBody};
use futures::{StreamExt, TryStreamExt};
use kftp_proto::listing::{
    format_list_line, format_selected_facts, is_hidden, Entry, Facts, Kind, Perms,
};
use kftp_proto::path::VPath;
use kftp_proto::Reply;
use std::io;

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

/// The entries a listing command shows (read lazily: a prefix of 500,000 objects is never
/// held in memory), and whether the target was a directory.
async fn entries(s: &Session, arg: Option<&str>) -> Result<(VPath, EntryStream, bool), Reply> {
    let fs = storage(s)?;
    let p = s.resolve(arg.unwrap_or("."))?;
    let name = p.file_name().to_string();
    if name.contains(['*', '?']) {
        if let Some((parent, _)) = p.split_last() {
            let list = fs
                .list(&parent)
                .await
                .map_err(|e| Reply::new(e.code(), format!("{}: {e}.", parent)))?;
            let hits = list.try_filter(move |e| {
                futures::future::ready(glob_match(name.as_bytes(), e.name.as_bytes()))
            });
            return Ok((parent, Box::pin(hits), true));
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
        Ok((p, Box::pin(futures::stream::iter([Ok(st)])), false))
    }
}

/// How lines are rendered: fixed when the listing starts.
#[derive(Clone, Copy)]
struct Style {
    format: Format,
    all: bool,
    perms: Perms,
    facts: Facts,
    now: i64,
}

impl Style {
    fn of(s: &Session, format: Format, all: bool) -> Style {
        Style {
            format,
            all,
            perms: s.login().map(|l| l.perms.facts()).unwrap_or_default(),
            facts: s.mlst_facts,
            now: now(),
        }
    }

    fn render(&self, list: &[Entry], out: &mut String) {
        for e in list {
            if self.format != Format::Facts && !self.all && is_hidden(&e.name) {
                continue;
            }
            match self.format {
                Format::Long => format_list_line(e, self.now, out),
                Format::Names => out.push_str(&e.name),
                Format::Facts => format_selected_facts(e, self.perms, self.facts, out),
            }
            out.push_str("\r\n");
        }
    }

    /// The listing as chunks of lines, rendered as entries arrive.
    fn stream(self, list: EntryStream) -> ListingBody {
        Box::pin(list.ready_chunks(256).map(move |batch| {
            let mut ok = Vec::with_capacity(batch.len());
            for e in batch {
                ok.push(e.map_err(|e| io::Error::other(format!("listing failed: {e}")))?);
            }
            let mut out = String::with_capacity(ok.len() * 80);
            self.render(&ok, &mut out);
            Ok(out.into_bytes())
        }))
    }
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
    let body = Style::of(s, format, all).stream(list);
    let verb = match format {
        Format::Long => "LIST",
        Format::Names => "NLST",
        Format::Facts => "MLSD",
    };
    let opening = format!("Here comes the listing of {dir}.");
    start_transfer(s, Job::Listing(body), verb, dir, None, opening).await
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
            format_selected_facts(&e, perms, s.mlst_facts, &mut facts);
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
    // Over the control connection, so it is bounded: the first entries, and a note.
    const MAX: usize = 10_000;
    let mut list = list.take(MAX + 1);
    let mut got = Vec::new();
    while let Some(e) = list.next().await {
        match e {
            Ok(e) => got.push(e),
            Err(e) => return Reply::new(e.code(), format!("{dir}: {e}.")),
        }
    }
    let more = got.len() > MAX;
    got.truncate(MAX);
    let mut text = String::new();
    Style::of(s, Format::Long, true).render(&got, &mut text);
    if more {
        text.push_str(&format!(
            "(only the first {MAX} entries; use LIST for all)\r\n"
        ));
    }
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
