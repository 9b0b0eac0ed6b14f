//! Client side of directory listings: MLSD/MLST fact lines (RFC 3659) and the free-form
//! LIST output real servers send (Unix `ls -l` and DOS/IIS styles).
//!
//! LIST has no standard format, so the Unix parser does not split on a fixed number of
//! columns: it looks for the date (`Mon dd HH:MM`, `Mon dd YYYY` or `YYYY-MM-DD HH:MM`)
//! and takes the number before it as the size and everything after it as the name. That
//! copes with missing group columns, device numbers and names with spaces.
//!
//! Every function is total: a line that does not parse gives `None`, never a panic.
//!
//! Names are untrusted: every parser applies [`crate::name::check_name`] and gives
//! `Some(Err(RefusedEntry))` for an entry whose name is not one safe path component
//! (`../x`, `/tmp/x`, `a\b`, control characters...), so that the caller can skip it
//! *and say so*. `.` and `..` listed as directories (as `ls -a` and some MLSD servers do)
//! are the listing's own bookkeeping and give `None`; a *file* called `..` is refused.

use crate::listing::Kind;
use crate::name::{check_name, quoted, UnsafeName};
use crate::time::{from_civil, month_from_abbrev, parse_mdtm};
use std::fmt;

/// How precise a parsed modification time is: LIST dates drop seconds, or the time of day
/// altogether for old files, so comparisons must truncate to the coarser side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    /// Exact to the second (MLSx `modify`, MDTM).
    Seconds,
    /// Hours and minutes (`Mon dd HH:MM`, DOS lines).
    Minutes,
    /// The day only (`Mon dd YYYY`).
    Days,
}

impl Precision {
    /// The length of one unit, in seconds.
    pub fn unit(self) -> i64 {
        match self {
            Precision::Seconds => 1,
            Precision::Minutes => 60,
            Precision::Days => 86400,
        }
    }
}

/// One entry of a listing, as far as the server told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteEntry {
    /// File name (one path component).
    pub name: String,
    /// What the entry is.
    pub kind: Kind,
    /// Size in bytes, when given.
    pub size: Option<u64>,
    /// Modification time (seconds since the epoch, UTC as far as the server's clock goes).
    pub mtime: Option<i64>,
    /// How precise `mtime` is.
    pub precision: Precision,
    /// The target of a symbolic link (`name -> target` or MLSx `OS.unix=slink:target`).
    pub link_target: Option<String>,
}

/// An entry of a listing whose name the client will not use (see [`crate::name`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedEntry {
    /// The name exactly as the server sent it.
    pub name: String,
    /// What the server said the entry is ([`Kind::Other`] for NLST, which does not say).
    pub kind: Kind,
    /// Why it is refused.
    pub why: UnsafeName,
}

impl fmt::Display for RefusedEntry {
    /// `"../x": it contains '/', a path separator`, with the name escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", quoted(&self.name), self.why)
    }
}

/// What one listing line gives: `None` when it is no entry (headers, blank lines,
/// garbage, `.`/`..` directories), else the entry or, for an unsafe name, its refusal.
pub type Parsed<T = RemoteEntry> = Option<Result<T, RefusedEntry>>;

/// Applies the name rule to a parsed entry.
fn checked(e: RemoteEntry) -> Parsed {
    if e.kind == Kind::Dir && (e.name == "." || e.name == "..") {
        return None;
    }
    match check_name(&e.name) {
        Ok(()) => Some(Ok(e)),
        Err(why) => Some(Err(RefusedEntry {
            name: e.name,
            kind: e.kind,
            why,
        })),
    }
}

/// Parses one MLSD/MLST line: `fact=value;fact=value; name`. `cdir`/`pdir` entries (the
/// directory itself and its parent) give `None`.
pub fn parse_mlsx_line(line: &str) -> Parsed {
    let line = line.trim_end_matches(['\r', '\n']);
    // MLST replies indent the line by one space and name the path that was asked for;
    // MLSD lines start with the facts and name one entry of the directory.
    let (mlst, line) = match line.strip_prefix(' ') {
        Some(l) => (true, l),
        None => (false, line),
    };
    let (facts, name) = line.split_once(' ')?;
    // A path (MLST) keeps only its last component, which the name rule then checks; an
    // MLSD name is checked whole, so `../x` is refused, not shortened to `x`.
    let name = if mlst {
        name.rsplit('/').find(|s| !s.is_empty()).unwrap_or(name)
    } else {
        name
    };
    let mut e = RemoteEntry {
        name: name.to_string(),
        kind: Kind::Other,
        size: None,
        mtime: None,
        precision: Precision::Seconds,
        link_target: None,
    };
    let mut saw_type = false;
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (k, v) = fact.split_once('=')?;
        match k.to_ascii_lowercase().as_str() {
            "type" => {
                saw_type = true;
                let lv = v.to_ascii_lowercase();
                e.kind = match lv.as_str() {
                    "file" => Kind::File,
                    "dir" => Kind::Dir,
                    "cdir" | "pdir" => return None,
                    "os.unix=symlink" => Kind::Symlink,
                    _ if lv.starts_with("os.unix=slink") => {
                        e.link_target = v.split_once(':').map(|(_, t)| t.to_string());
                        Kind::Symlink
                    }
                    _ => Kind::Other,
                };
            }
            "size" | "sizd" => e.size = v.parse().ok(),
            "modify" => e.mtime = parse_mdtm(v),
            _ => {}
        }
    }
    if !saw_type {
        return None;
    }
    checked(e)
}

/// Parses one LIST line in any format this module knows (Unix, then DOS). Headers such
/// as `total 12` and blank lines give `None`. `now` (seconds since the epoch) decides the
/// year of `Mon dd HH:MM` dates, which `ls` prints for the last six months.
pub fn parse_list_line(line: &str, now: i64) -> Parsed {
    let line = line.trim_end_matches(['\r', '\n']);
    checked(parse_unix_line(line, now).or_else(|| parse_dos_line(line))?)
}

/// Parses one NLST line of a listing of `dir` (as sent with NLST, `""` for none): a bare
/// name, or `dir/name`, as many servers answer `NLST dir`. Only that exact `dir/` prefix
/// is taken off; the rest is checked whole, so `../x` or `other/x` is refused, not
/// shortened. `.` and `..` give `None` (NLST does not say what an entry is, and `ls -a`
/// lists them).
pub fn parse_nlst_line(line: &str, dir: &str) -> Parsed<String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() {
        return None;
    }
    let name = if dir.is_empty() {
        line
    } else {
        line.strip_prefix(dir.trim_end_matches('/'))
            .and_then(|rest| rest.strip_prefix('/'))
            .map_or(line, |rest| rest.trim_start_matches('/'))
    };
    if name == "." || name == ".." {
        return None;
    }
    match check_name(name) {
        Ok(()) => Some(Ok(name.to_string())),
        Err(why) => Some(Err(RefusedEntry {
            name: line.to_string(),
            kind: Kind::Other,
            why,
        })),
    }
}

/// Whitespace-separated tokens with their byte offsets, so the name can be cut from the
/// original line with its inner spaces intact.
fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

/// The name after the token at `idx`: the rest of the line after the single separator
/// that follows it.
fn rest_after(line: &str, toks: &[(usize, &str)], idx: usize) -> Option<String> {
    let (start, _) = *toks.get(idx + 1)?;
    Some(line[start..].to_string())
}

fn parse_hhmm(s: &str) -> Option<(u32, u32)> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.get(..2)?.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

/// A Unix `ls -l` line.
fn parse_unix_line(line: &str, now: i64) -> Option<RemoteEntry> {
    let toks = tokens(line);
    let (_, perms) = *toks.first()?;
    let kind = match perms.chars().next()? {
        '-' => Kind::File,
        'd' => Kind::Dir,
        'l' => Kind::Symlink,
        'b' | 'c' | 'p' | 's' | 'D' => Kind::Other,
        _ => return None,
    };
    // The rest of a mode string is rwx-like; this rejects prose such as "total 12".
    let mode = perms.as_bytes();
    if mode.len() < 10
        || !mode[1..10].iter().all(|c| {
            matches!(
                c,
                b'r' | b'w' | b'x' | b'-' | b's' | b'S' | b't' | b'T' | b'l'
            )
        })
    {
        return None;
    }
    let (date_end, size_idx, mtime, precision) = find_unix_date(&toks, now)?;
    let size = toks.get(size_idx).and_then(|(_, s)| s.parse::<u64>().ok());
    let mut name = rest_after(line, &toks, date_end)?;
    let mut link_target = None;
    if kind == Kind::Symlink {
        if let Some((n, t)) = name.split_once(" -> ") {
            link_target = Some(t.to_string());
            name = n.to_string();
        }
    }
    Some(RemoteEntry {
        name,
        kind,
        size,
        mtime: Some(mtime),
        precision,
        link_target,
    })
}

/// Finds the date columns. Returns (index of the last date token, index of the size
/// token, mtime, precision).
fn find_unix_date(toks: &[(usize, &str)], now: i64) -> Option<(usize, usize, i64, Precision)> {
    // Start after the mode and link-count columns; the date needs a size before it.
    for i in 2..toks.len() {
        let t = toks[i].1;
        // `Mon dd HH:MM` / `Mon dd  YYYY`
        if let Some(month) = month_from_abbrev(t) {
            let day: u32 = match toks.get(i + 1).and_then(|(_, d)| d.parse().ok()) {
                Some(d) if (1..=31).contains(&d) => d,
                _ => continue,
            };
            let Some(&(_, third)) = toks.get(i + 2) else {
                continue;
            };
            if !toks[i - 1].1.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Some((h, m)) = parse_hhmm(third) {
                let this_year = crate::time::civil(now).year;
                let mut t = from_civil(this_year, month, day, h, m, 0);
                // `ls` shows a time for the past six months: a date "in the future" is
                // from last year (one day of slack for time zones).
                if t > now + 86400 {
                    t = from_civil(this_year - 1, month, day, h, m, 0);
                }
                return Some((i + 2, i - 1, t, Precision::Minutes));
            }
            if let Ok(year) = third.parse::<i64>() {
                if (1900..=9999).contains(&year) {
                    let t = from_civil(year, month, day, 0, 0, 0);
                    return Some((i + 2, i - 1, t, Precision::Days));
                }
            }
        }
        // `YYYY-MM-DD HH:MM` (ls --time-style=long-iso)
        if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') {
            if let Some((y, mo, d)) = parse_ymd(t) {
                if let Some((h, m)) = toks.get(i + 1).and_then(|(_, s)| parse_hhmm(s)) {
                    if toks[i - 1].1.bytes().all(|b| b.is_ascii_digit()) {
                        let t = from_civil(y, mo, d, h, m, 0);
                        return Some((i + 1, i - 1, t, Precision::Minutes));
                    }
                }
            }
        }
    }
    None
}

fn parse_ymd(s: &str) -> Option<(i64, u32, u32)> {
    let mut it = s.split('-');
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = it.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// A DOS/IIS line: `01-15-24  10:30AM  <DIR>  Name` or `01-15-2024  22:30  1234 name`.
fn parse_dos_line(line: &str) -> Option<RemoteEntry> {
    let toks = tokens(line);
    if toks.len() < 4 {
        return None;
    }
    let date = toks[0].1;
    let parts: Vec<&str> = date.split(['-', '/']).collect();
    if parts.len() != 3 {
        return None;
    }
    let (mo, d, y, year_digits): (u32, u32, i64, usize) = if parts[0].len() == 4 {
        // YYYY-MM-DD, as some IIS configurations print.
        let y = parts[0].parse().ok()?;
        (parts[1].parse().ok()?, parts[2].parse().ok()?, y, 4)
    } else {
        let y = parts[2].parse().ok()?;
        (
            parts[0].parse().ok()?,
            parts[1].parse().ok()?,
            y,
            parts[2].len(),
        )
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let year = match (year_digits, y) {
        (2, y) if y < 70 => 2000 + y,
        (2, y) => 1900 + y,
        _ => y,
    };
    // The time: `10:30AM`, `10:30 PM` or `22:30`.
    let mut idx = 1;
    let time = toks[idx].1;
    let (mut h, m) = parse_hhmm(time)?;
    let mut suffix = time.get(5..).unwrap_or("").to_ascii_uppercase();
    if suffix.is_empty() {
        if let Some(&(_, next)) = toks.get(2) {
            if next.eq_ignore_ascii_case("AM") || next.eq_ignore_ascii_case("PM") {
                suffix = next.to_ascii_uppercase();
                idx = 2;
            }
        }
    }
    match suffix.as_str() {
        "AM" if h == 12 => h = 0,
        "PM" if h < 12 => h += 12,
        "" | "AM" | "PM" => {}
        _ => return None,
    }
    let what = toks.get(idx + 1)?.1;
    let (kind, size) = if what.eq_ignore_ascii_case("<DIR>") {
        (Kind::Dir, None)
    } else if what.eq_ignore_ascii_case("<JUNCTION>") || what.eq_ignore_ascii_case("<SYMLINKD>") {
        (Kind::Symlink, None)
    } else {
        // Some servers group digits: 1,234,567.
        let digits: String = what.chars().filter(|c| *c != ',' && *c != '.').collect();
        (Kind::File, Some(digits.parse::<u64>().ok()?))
    };
    let mut name = rest_after(line, &toks, idx + 1)?;
    let mut link_target = None;
    if kind == Kind::Symlink {
        if let Some((n, t)) = name.split_once(" [") {
            link_target = Some(t.trim_end_matches(']').to_string());
            name = n.to_string();
        }
    }
    Some(RemoteEntry {
        name,
        kind,
        size,
        // A year out of range gives no time rather than an overflow (found by fuzzing).
        mtime: (1900..=9999)
            .contains(&year)
            .then(|| from_civil(year, mo, d, h, m, 0)),
        precision: Precision::Minutes,
        link_target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_mdtm;

    /// 2024-11-25 12:00:00 UTC.
    const NOW: i64 = 1_732_536_000;

    // The format tests below are about entries with ordinary names: these wrappers
    // shadow the parsers and fail the test on a refusal. `hostile_*` test refusals.
    fn parse_list_line(line: &str, now: i64) -> Option<RemoteEntry> {
        super::parse_list_line(line, now).map(|r| r.expect("an ordinary name"))
    }

    fn parse_mlsx_line(line: &str) -> Option<RemoteEntry> {
        super::parse_mlsx_line(line).map(|r| r.expect("an ordinary name"))
    }

    fn refused(p: Parsed) -> (String, Kind, UnsafeName) {
        match p {
            Some(Err(r)) => (r.name, r.kind, r.why),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn hostile_list_names_are_refused_not_shortened() {
        let line = |name: &str| format!("-rw-r--r-- 1 u g 5 Jan  1  2020 {name}");
        for (name, why) in [
            ("../escape", UnsafeName::Slash),
            ("/tmp/kftp-x/abs", UnsafeName::Slash),
            ("a/../../b", UnsafeName::Slash),
            ("..", UnsafeName::DotDot),
            (".", UnsafeName::Dot),
            ("..\\win", UnsafeName::Backslash),
            ("bad\u{1b}[2Jname", UnsafeName::Control('\u{1b}')),
            ("cr\rin the middle", UnsafeName::Control('\r')),
            ("nul\0", UnsafeName::Nul),
        ] {
            assert_eq!(
                refused(super::parse_list_line(&line(name), NOW)),
                (name.to_string(), Kind::File, why),
                "{name:?}"
            );
        }
        // A directory, and a symlink whose name (not target) is a path.
        let d = super::parse_list_line("drwxr-xr-x 2 u g 4096 Jan  1  2020 ../up", NOW);
        assert_eq!(refused(d), ("../up".into(), Kind::Dir, UnsafeName::Slash));
        let l = super::parse_list_line("lrwxrwxrwx 1 u g 3 Jan  1  2020 ../l -> x", NOW);
        assert_eq!(
            refused(l),
            ("../l".into(), Kind::Symlink, UnsafeName::Slash)
        );
        // A symlink's target may be anything: it is not used to build a path.
        let e = parse_list_line("lrwxrwxrwx 1 u g 3 Jan  1  2020 l -> ../../etc", NOW).unwrap();
        assert_eq!(e.link_target.as_deref(), Some("../../etc"));
        // `.` and `..` as directories are `ls -a` bookkeeping: no entry, no refusal.
        assert_eq!(
            super::parse_list_line("drwxr-xr-x 2 u g 4096 Jan  1  2020 ..", NOW),
            None
        );
        assert_eq!(
            super::parse_list_line("drwxr-xr-x 2 u g 4096 Jan  1  2020 .", NOW),
            None
        );
        // The trailing CR of a CRLF line is not part of the name.
        assert_eq!(
            parse_list_line(&format!("{}\r", line("ok.txt")), NOW)
                .unwrap()
                .name,
            "ok.txt"
        );
        // DOS lines follow the same rule.
        let e = super::parse_list_line("01-15-24  10:30AM   5 ..\\..\\boot.ini", NOW);
        assert_eq!(refused(e).2, UnsafeName::Backslash);
        let e = super::parse_list_line("01-15-24  10:30AM   <DIR>  C:/x", NOW);
        assert_eq!(refused(e), ("C:/x".into(), Kind::Dir, UnsafeName::Slash));
        assert_eq!(
            super::parse_list_line("01-15-24  10:30AM   <DIR>  ..", NOW),
            None
        );
    }

    #[test]
    fn hostile_mlsd_names_are_refused_not_shortened() {
        for (line, name, why) in [
            (
                "type=file;size=5; ../escape",
                "../escape",
                UnsafeName::Slash,
            ),
            (
                "type=file;size=5; /etc/cron.d/x",
                "/etc/cron.d/x",
                UnsafeName::Slash,
            ),
            ("type=file;size=5; ..", "..", UnsafeName::DotDot),
            ("type=dir; a/../../b", "a/../../b", UnsafeName::Slash),
            ("type=file; ", "", UnsafeName::Empty),
            ("type=file; a\\b", "a\\b", UnsafeName::Backslash),
        ] {
            let (n, _, w) = refused(super::parse_mlsx_line(line));
            assert_eq!((n.as_str(), w), (name, why), "{line:?}");
        }
        // `type=dir` named `.`/`..` (some servers) is skipped like cdir/pdir.
        assert_eq!(super::parse_mlsx_line("type=dir; .."), None);
        // MLST names the path it was asked about: the last component, checked.
        assert_eq!(parse_mlsx_line(" type=file; /pub/a").unwrap().name, "a");
        assert_eq!(
            refused(super::parse_mlsx_line(" type=file; /pub/..")).2,
            UnsafeName::DotDot
        );
    }

    #[test]
    fn nlst_names() {
        let ok = |line: &str, dir: &str| parse_nlst_line(line, dir).unwrap().unwrap();
        assert_eq!(ok("a.txt\r", ""), "a.txt");
        assert_eq!(ok("sub/a.txt", "sub"), "a.txt");
        assert_eq!(ok("sub/a.txt", "sub/"), "a.txt");
        assert_eq!(ok("/pub/sub//a", "/pub/sub"), "a");
        assert_eq!(ok("/a", "/"), "a");
        assert_eq!(ok("subway", "sub"), "subway");
        assert_eq!(parse_nlst_line("", ""), None);
        assert_eq!(parse_nlst_line("..", ""), None);
        assert_eq!(parse_nlst_line("sub/.", "sub"), None);
        for (line, dir, why) in [
            ("../escape", "", UnsafeName::Slash),
            ("/tmp/x/abs", "", UnsafeName::Slash),
            ("sub/../../b", "sub", UnsafeName::Slash),
            ("other/a", "sub", UnsafeName::Slash),
            ("/a", "", UnsafeName::Slash),
            ("a\\b", "", UnsafeName::Backslash),
            ("a\u{7}", "", UnsafeName::Control('\u{7}')),
        ] {
            match parse_nlst_line(line, dir) {
                Some(Err(r)) => assert_eq!((r.name.as_str(), r.why), (line, why)),
                other => panic!("{line:?} in {dir:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn refusal_message_escapes_the_name() {
        let r = refused(super::parse_mlsx_line("type=file; a/\u{1b}[2J"));
        let msg = RefusedEntry {
            name: r.0,
            kind: r.1,
            why: r.2,
        }
        .to_string();
        assert_eq!(msg, "\"a/\\u{1b}[2J\": it contains '/', a path separator");
    }

    fn ts(s: &str) -> i64 {
        parse_mdtm(s).unwrap()
    }

    #[test]
    fn vsftpd_lines() {
        // vsftpd 3.0.3 (numeric owners, `ls`-style dates).
        let e = parse_list_line(
            "-rw-r--r--    1 0        0               6 Nov 25 08:38 a.txt",
            NOW,
        )
        .unwrap();
        assert_eq!(e.name, "a.txt");
        assert_eq!(e.kind, Kind::File);
        assert_eq!(e.size, Some(6));
        assert_eq!(e.mtime, Some(ts("20241125083800")));
        assert_eq!(e.precision, Precision::Minutes);

        let e = parse_list_line(
            "lrwxrwxrwx    1 0        0               5 Nov 25 08:38 link -> a.txt",
            NOW,
        )
        .unwrap();
        assert_eq!((e.name.as_str(), e.kind), ("link", Kind::Symlink));
        assert_eq!(e.link_target.as_deref(), Some("a.txt"));

        let e = parse_list_line(
            "drwxr-xr-x    2 0        0            4096 Nov 25 08:38 sub dir",
            NOW,
        )
        .unwrap();
        assert_eq!((e.name.as_str(), e.kind), ("sub dir", Kind::Dir));
    }

    #[test]
    fn year_vs_time() {
        // Older than six months: the year, no time of day.
        let e = parse_list_line(
            "-rw-r--r--   1 ftp      ftp        104857 Mar 14  2019 old.tar.gz",
            NOW,
        )
        .unwrap();
        assert_eq!(e.mtime, Some(ts("20190314000000")));
        assert_eq!(e.precision, Precision::Days);
        // A time-of-day date later than now belongs to the previous year.
        let e = parse_list_line(
            "-rw-r--r--   1 ftp      ftp             1 Dec 30 23:59 late",
            NOW,
        )
        .unwrap();
        assert_eq!(e.mtime, Some(ts("20231230235900")));
    }

    #[test]
    fn proftpd_and_pureftpd_lines() {
        // ProFTPD: symbolic owners, two spaces before the year.
        let e = parse_list_line(
            "-rw-r--r--   1 alice    staff      2097152 Jan  3  2022 report 2021 final.pdf",
            NOW,
        )
        .unwrap();
        assert_eq!(e.name, "report 2021 final.pdf");
        assert_eq!(e.size, Some(2097152));
        // Pure-FTPd.
        let e = parse_list_line(
            "drwxr-xr-x    3 1000       1000             4096 Sep  9 14:02 .config",
            NOW,
        )
        .unwrap();
        assert_eq!((e.name.as_str(), e.kind), (".config", Kind::Dir));
        assert_eq!(e.mtime, Some(ts("20240909140200")));
        // ls --time-style=long-iso, as some embedded servers use.
        let e = parse_list_line(
            "-rw-r--r-- 1 root root 42 2024-02-29 07:05 iso name.txt",
            NOW,
        )
        .unwrap();
        assert_eq!(e.name, "iso name.txt");
        assert_eq!(e.mtime, Some(ts("20240229070500")));
    }

    #[test]
    fn filezilla_server_and_oddities() {
        // FileZilla Server: no link count padding, owner and group both "ftp".
        let e = parse_list_line(
            "-rw-r--r-- 1 ftp ftp          12345 Jun 01 09:15 Setup (x64).exe",
            NOW,
        )
        .unwrap();
        assert_eq!(e.name, "Setup (x64).exe");
        assert_eq!(e.size, Some(12345));
        // No group column (busybox, some NAS firmware).
        let e = parse_list_line("-rw-r--r--    1 admin     77 Oct  5 11:00 notes", NOW).unwrap();
        assert_eq!((e.name.as_str(), e.size), ("notes", Some(77)));
        // A file name that itself looks like a date.
        let e =
            parse_list_line("-rw-r--r--   1 ftp ftp 5 Feb  2 10:00 Mar 3 12:00 x", NOW).unwrap();
        assert_eq!(e.name, "Mar 3 12:00 x");
        // Headers and garbage.
        assert_eq!(parse_list_line("total 24", NOW), None);
        assert_eq!(parse_list_line("", NOW), None);
        assert_eq!(parse_list_line("hello world how are you", NOW), None);
        // Multi-byte characters where the mode string should be: no panic, no entry.
        assert_eq!(
            parse_list_line(
                "-rw\u{e9}\u{e9}\u{e9}\u{e9}\u{e9} 1 a b 1 Jan 1 2020 x",
                NOW
            ),
            None
        );
        assert_eq!(parse_list_line("\u{e9}-\u{e9} 1 Jan 1 10:00AM", NOW), None);
        // Non-ASCII names are kept whole.
        let e = parse_list_line(
            "-rw-r--r-- 1 a b 3 Jan  1  2020 caf\u{e9} \u{1f600}.txt",
            NOW,
        )
        .unwrap();
        assert_eq!(e.name, "caf\u{e9} \u{1f600}.txt");
        assert_eq!(
            parse_list_line("drwxr-xr-x 2 0 0 4096 Nov 25 08:38 .", NOW),
            None
        );
    }

    #[test]
    fn dos_lines() {
        // IIS with the MS-DOS listing style.
        let e =
            parse_list_line("01-15-24  10:30AM       <DIR>          Program Files", NOW).unwrap();
        assert_eq!((e.name.as_str(), e.kind), ("Program Files", Kind::Dir));
        assert_eq!(e.mtime, Some(ts("20240115103000")));
        let e = parse_list_line("11-02-98  12:05PM                 1024 readme.txt", NOW).unwrap();
        assert_eq!(e.size, Some(1024));
        assert_eq!(e.mtime, Some(ts("19981102120500")));
        let e = parse_list_line("02-29-2024  12:01AM            7 midnight.log", NOW).unwrap();
        assert_eq!(e.mtime, Some(ts("20240229000100")));
        // Windows `dir` style: 24-hour time, grouped digits.
        let e = parse_list_line("2023-07-04  18:22         1,048,576 big file.bin", NOW).unwrap();
        assert_eq!((e.name.as_str(), e.size), ("big file.bin", Some(1_048_576)));
        assert_eq!(e.mtime, Some(ts("20230704182200")));
        assert_eq!(parse_list_line("13-40-24 10:00AM 5 x", NOW), None);
    }

    #[test]
    fn mlsd_lines() {
        // ProFTPD.
        let e = parse_mlsx_line(
            "modify=20240102030405;perm=adfrw;size=1234;type=file;unique=FD00U1A2B;UNIX.group=1000;UNIX.mode=0644;UNIX.owner=1000; my file.txt",
        )
        .unwrap();
        assert_eq!(e.name, "my file.txt");
        assert_eq!(e.kind, Kind::File);
        assert_eq!(e.size, Some(1234));
        assert_eq!(e.mtime, Some(ts("20240102030405")));
        assert_eq!(e.precision, Precision::Seconds);
        // Pure-FTPd style with cdir/pdir entries, which are skipped.
        assert_eq!(
            parse_mlsx_line("type=cdir;sizd=4096;modify=20240101000000;UNIX.mode=0755; ."),
            None
        );
        assert_eq!(parse_mlsx_line("type=pdir;modify=20240101000000; .."), None);
        let e = parse_mlsx_line("Type=dir;Modify=20240101000000.123;Perm=el; sub").unwrap();
        assert_eq!(e.kind, Kind::Dir);
        assert_eq!(e.mtime, Some(ts("20240101000000")));
        // Symlinks as ProFTPD reports them.
        let e =
            parse_mlsx_line("type=OS.unix=slink:/etc/hosts;modify=20240101000000; hosts").unwrap();
        assert_eq!(e.kind, Kind::Symlink);
        assert_eq!(e.link_target.as_deref(), Some("/etc/hosts"));
        // kftpd's own format.
        let e = parse_mlsx_line(
            "type=file;size=1234;modify=20200101000000;perm=adfrw;unique=1gab;unix.mode=0644; report.txt",
        )
        .unwrap();
        assert_eq!((e.name.as_str(), e.size), ("report.txt", Some(1234)));
        // MLST's indented line with a path.
        let e = parse_mlsx_line(" type=file;size=3; /pub/x y").unwrap();
        assert_eq!(e.name, "x y");
        assert_eq!(parse_mlsx_line("garbage"), None);
        assert_eq!(parse_mlsx_line("size=3; nofacttype"), None);
    }

    #[test]
    fn round_trip_with_server_format() {
        use crate::listing::{format_facts, format_list_line, Entry, Perms};
        let e = Entry {
            name: "a b".into(),
            kind: Kind::File,
            size: 99,
            mtime: NOW - 3600,
            mode: 0o644,
            nlink: 1,
            dev: 1,
            ino: 2,
        };
        let mut s = String::new();
        format_list_line(&e, NOW, &mut s);
        let p = parse_list_line(&s, NOW).unwrap();
        assert_eq!(
            (p.name.as_str(), p.size, p.mtime),
            ("a b", Some(99), Some(NOW - 3600))
        );
        s.clear();
        format_facts(&e, Perms::default(), &mut s);
        let p = parse_mlsx_line(&s).unwrap();
        assert_eq!(
            (p.name.as_str(), p.size, p.mtime),
            ("a b", Some(99), Some(NOW - 3600))
        );
    }

    proptest::proptest! {
        /// Whatever a server sends, the parsers return instead of panicking.
        #[test]
        fn never_panics(line in "\\PC{0,80}", ls in "[-dlrwxsStT]{10} {1,3}[0-9]{1,3} [a-z]{0,5} {0,3}[0-9]{0,6} (Jan|Feb|xx) {1,2}[0-9]{1,2} {1,2}[0-9:]{1,5} \\PC{0,10}") {
            // Whatever comes back as an entry has a name that passes the rule.
            for p in [super::parse_list_line(&line, NOW), super::parse_mlsx_line(&line), super::parse_list_line(&ls, NOW)] {
                if let Some(Ok(e)) = p {
                    proptest::prop_assert!(check_name(&e.name).is_ok(), "{:?}", e.name);
                }
            }
            if let Some(Ok(n)) = parse_nlst_line(&line, "d") {
                proptest::prop_assert!(check_name(&n).is_ok(), "{:?}", n);
            }
        }
    }
}
