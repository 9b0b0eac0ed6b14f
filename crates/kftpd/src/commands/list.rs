//! LIST, NLST, MLSD (over the data connection), MLST and STAT path (over control).

use super::{start_transfer, storage, Answer, OrReply, Replied};
use crate::session::Session;
use crate::storage::EntryStream;
use crate::transfer::{Job, ListingBody};
use futures::{StreamExt, TryStreamExt};
use kftp_proto::listing::{
    format_list_line, format_selected_facts, is_hidden, push_name, Entry, Facts, Kind, Perms,
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

/// The longest glob pattern (the last path component of a listing argument) accepted: a
/// file name is at most 255 bytes (NAME_MAX) anyway.
pub const MAX_GLOB_LEN: usize = 255;
/// The most `*` a glob pattern may hold.
pub const MAX_GLOB_STARS: usize = 16;

/// `*` and `?` matching for `NLST *.txt` style arguments, on bytes.
///
/// The classic greedy matcher with one saved star position: on a mismatch it returns to
/// the last `*` and lets it swallow one more byte. Earlier stars never need revisiting
/// (whatever they matched, the last one can absorb instead), so the cost is at most
/// `pat.len() * s.len()` steps, never exponential as naive recursion over `*` is.
fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    // (pattern index just after the last `*`, byte of `s` that star has reached).
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pat.get(p) {
            Some(b'*') => {
                star = Some((p + 1, i));
                p += 1;
            }
            Some(&c) if c == b'?' || c == s[i] => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((after, from)) => {
                    star = Some((after, from + 1));
                    p = after;
                    i = from + 1;
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// Whether a glob pattern is within the caps (the 501 reply otherwise).
fn check_glob(pat: &str) -> Result<(), Reply> {
    if pat.len() > MAX_GLOB_LEN {
        return Err(Reply::new(
            501,
            format!("Pattern too long: at most {MAX_GLOB_LEN} bytes."),
        ));
    }
    if pat.bytes().filter(|&b| b == b'*').count() > MAX_GLOB_STARS {
        return Err(Reply::new(
            501,
            format!("Pattern has too many '*': at most {MAX_GLOB_STARS}."),
        ));
    }
    Ok(())
}

/// The entries a listing command shows (read lazily: a prefix of 500,000 objects is never
/// held in memory), and whether the target was a directory.
async fn entries(s: &Session, arg: Option<&str>) -> Result<(VPath, EntryStream, bool), Reply> {
    let fs = storage(s)?;
    let p = s.resolve(arg.unwrap_or("."))?;
    let name = p.file_name().to_string();
    if name.contains(['*', '?']) {
        if let Some((parent, _)) = p.split_last() {
            check_glob(&name)?;
            let list = fs.list(&parent).await.or_reply(&parent)?;
            // Filtering can go through many entries without one match, each ready at once:
            // spend the task's cooperative budget per entry so that such a run yields to
            // the other sessions on this worker instead of holding it.
            let hits = list.try_filter(move |e| {
                let hit = glob_match(name.as_bytes(), e.name.as_bytes());
                async move {
                    tokio::task::coop::consume_budget().await;
                    hit
                }
            });
            return Ok((parent, Box::pin(hits), true));
        }
    }
    let st = fs.stat(&p).await.or_reply(arg.unwrap_or("."))?;
    if st.kind == Kind::Dir {
        let list = fs.list(&p).await.or_reply(&p)?;
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
                Format::Names => push_name(out, &e.name),
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
pub async fn list(s: &mut Session, arg: Option<&str>, all: bool, format: Format) -> Replied {
    // REST applies to the transfer command that follows it; a listing consumes it.
    s.rest = Default::default();
    // In MODE E a listing may go over the streams kept from the last transfer, as a RETR
    // does (globus-url-copy -fast lists that way).
    if s.data.is_none() && !crate::modee::has_cached(s) {
        return Err(Reply::new(425, "Use PORT, EPRT, PASV or EPSV first."));
    }
    let (dir, list, is_dir) = entries(s, arg).await?;
    if format == Format::Facts && !is_dir {
        return Err(Reply::new(
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
pub async fn mlst(s: &Session, arg: Option<&str>) -> Answer {
    let fs = storage(s)?;
    let p = s.resolve(arg.unwrap_or("."))?;
    let mut e = fs.stat(&p).await.or_reply(arg.unwrap_or("."))?;
    e.name = p.to_string();
    let perms = s.login().map(|l| l.perms.facts()).unwrap_or_default();
    let mut facts = String::new();
    format_selected_facts(&e, perms, s.mlst_facts, &mut facts);
    Ok(Reply::multi(
        250,
        vec![format!("Listing {p}"), format!(" {facts}"), "End".into()],
    ))
}

/// STAT path: an `ls -l` listing over the control connection (213 for a file, 212 for a
/// directory).
pub async fn stat_path(s: &Session, arg: &str) -> Answer {
    let (dir, list, is_dir) = entries(s, Some(arg)).await?;
    // Over the control connection, so it is bounded: the first entries, and a note.
    const MAX: usize = 10_000;
    let mut list = list.take(MAX + 1);
    let mut got = Vec::new();
    while let Some(e) = list.next().await {
        got.push(e.or_reply(&dir)?);
        // Entries may all be ready at once (one batch of a local directory): yield now and
        // then, as every long loop on a worker must.
        tokio::task::coop::consume_budget().await;
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
    Ok(Reply::multi(if is_dir { 212 } else { 213 }, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*.txt", b"a.txt"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"*.txt", b"a.bin"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"", b""));
        assert!(!glob_match(b"", b"a"));
        assert!(!glob_match(b"?", b""));
        assert!(glob_match(b"a*b*c", b"aXbYbZc"));
        assert!(!glob_match(b"a*b*c", b"aXbYbZ"));
        assert!(glob_match(b"*a*", b"bab"));
        assert!(glob_match(b"**x", b"x"));
        assert!(glob_match(b"a*", b"a"));
        assert!(!glob_match(b"a*b", b"ab_"));
        assert!(glob_match(b"*ab*ab", b"xabyabab"));
        assert!(glob_match(b"?*?", b"ab"));
        assert!(!glob_match(b"?*?", b"a"));
    }

    /// Against a plain recursive reference on every short pattern and name.
    #[test]
    fn globs_agree_with_the_reference() {
        fn reference(p: &[u8], s: &[u8]) -> bool {
            match (p.first(), s.first()) {
                (None, None) => true,
                (Some(b'*'), _) => {
                    reference(&p[1..], s) || (!s.is_empty() && reference(p, &s[1..]))
                }
                (Some(b'?'), Some(_)) => reference(&p[1..], &s[1..]),
                (Some(a), Some(b)) if a == b => reference(&p[1..], &s[1..]),
                _ => false,
            }
        }
        fn all(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
            let mut out = vec![vec![]];
            let mut last = vec![vec![]];
            for _ in 0..max {
                let mut next = Vec::new();
                for w in &last {
                    for &c in alphabet {
                        let mut w = w.clone();
                        w.push(c);
                        next.push(w);
                    }
                }
                out.extend(next.iter().cloned());
                last = next;
            }
            out
        }
        for p in all(b"ab*?", 5) {
            for s in all(b"ab", 6) {
                assert_eq!(glob_match(&p, &s), reference(&p, &s), "{p:?} {s:?}");
            }
        }
    }

    #[test]
    fn pathological_glob_is_fast() {
        let pat = [&[b'*'; 16][..], b"Z"].concat();
        let name = [b'a'; 255];
        let t = std::time::Instant::now();
        for _ in 0..1000 {
            assert!(!glob_match(&pat, &name));
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn glob_caps() {
        assert!(check_glob(&"*".repeat(MAX_GLOB_STARS)).is_ok());
        assert_eq!(
            check_glob(&"*".repeat(MAX_GLOB_STARS + 1))
                .unwrap_err()
                .code,
            501
        );
        assert_eq!(
            check_glob(&"a".repeat(MAX_GLOB_LEN + 1)).unwrap_err().code,
            501
        );
    }
}
