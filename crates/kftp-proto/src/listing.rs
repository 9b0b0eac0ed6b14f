//! Directory listings as the server writes them: `ls -l` lines (LIST), bare names (NLST),
//! and RFC 3659 facts (MLST, MLSD).
//!
//! The server fills an [`Entry`] from `stat`; formatting is pure so it can be benchmarked
//! and tested without a file system.
//!
//! # Names with control characters
//! A file name may hold any byte but `/` and NUL, including CR and LF. Written raw, the
//! name `a\r\n-rw-r--r-- ... ../../x` would add a fake entry to a listing (and in a STAT
//! reply, a fake line on the control connection). Every name is therefore written with
//! [`push_name`]: each control character (C0, DEL and C1) becomes `?`, as `ls -q` shows
//! them. RFC 959's alternative, CR as CR NUL, is not used: client listing parsers do not
//! undo it, and LF or other control bytes would remain. The displayed name is not the real
//! one, but a client could not send such a name in a command line anyway.

use crate::time::{format_ls_date, format_mdtm};
use std::fmt::Write;

/// What kind of object an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (shown as such; never followed out of the jail).
    Symlink,
    /// Anything else (fifo, socket, device).
    Other,
}

/// One directory entry, as stat saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// File name (one component).
    pub name: String,
    /// Type.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Permission bits (the low 12 bits of st_mode).
    pub mode: u32,
    /// Hard links.
    pub nlink: u64,
    /// Device and inode, for the MLSx `unique` fact.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

/// What the session may do, for the MLSx `perm` fact (RFC 3659 7.5.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perms {
    /// RETR, LIST.
    pub read: bool,
    /// STOR, MKD.
    pub write: bool,
    /// APPE.
    pub append: bool,
    /// DELE, RMD.
    pub delete: bool,
    /// RNFR/RNTO.
    pub rename: bool,
}

fn mode_string(e: &Entry) -> String {
    let t = match e.kind {
        Kind::Dir => 'd',
        Kind::Symlink => 'l',
        Kind::File => '-',
        Kind::Other => 'p',
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    for shift in [6u32, 3, 0] {
        let bits = (e.mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// One `ls -l` line, without CRLF: the format every FTP client's LIST parser understands.
/// Owner and group are shown as `ftp` (names of the host's users are not the client's
/// business).
pub fn format_list_line(e: &Entry, now: i64, out: &mut String) {
    let _ = write!(
        out,
        "{} {:>3} ftp      ftp      {:>12} {} ",
        mode_string(e),
        e.nlink.max(1),
        e.size,
        format_ls_date(e.mtime, now),
    );
    push_name(out, &e.name);
}

/// Appends a file name as listings show it: control characters (CR, LF, the rest of C0,
/// DEL, C1) replaced by `?`, so a name can never break a listing line or a reply.
pub fn push_name(out: &mut String, name: &str) {
    if name.chars().any(char::is_control) {
        out.extend(name.chars().map(|c| if c.is_control() { '?' } else { c }));
    } else {
        out.push_str(name);
    }
}

/// Which MLSx facts a session asked for with `OPTS MLST` (RFC 3659 7.9); all by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts(u8);

impl Facts {
    /// Every fact this server offers, in FEAT order, with its bit.
    const NAMES: [(&'static str, u8); 6] = [
        ("type", 1),
        ("size", 2),
        ("modify", 4),
        ("perm", 8),
        ("unique", 16),
        ("unix.mode", 32),
    ];
    /// All facts (the default before any `OPTS MLST`).
    pub const ALL: Facts = Facts(63);

    /// Parses the argument of `OPTS MLST`: fact names each followed by `;`, any case.
    /// Unknown names are ignored, as the RFC asks; an empty argument selects none.
    pub fn parse(arg: &str) -> Facts {
        let mut bits = 0;
        for name in arg.split(';').map(str::trim).filter(|n| !n.is_empty()) {
            if let Some((_, b)) = Self::NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                bits |= b;
            }
        }
        Facts(bits)
    }

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// The selected facts as `OPTS MLST` answers them: `type;size;`.
    pub fn selected(self) -> String {
        Self::NAMES
            .iter()
            .filter(|(_, b)| self.has(*b))
            .map(|(n, _)| format!("{n};"))
            .collect()
    }

    /// Every offered fact for FEAT, the selected ones marked `*`: `type*;size;...`.
    pub fn feat(self) -> String {
        Self::NAMES
            .iter()
            .map(|(n, b)| format!("{n}{};", if self.has(*b) { "*" } else { "" }))
            .collect()
    }
}

impl Default for Facts {
    fn default() -> Self {
        Facts::ALL
    }
}

/// The MLSx facts of one entry, followed by a space and the name (RFC 3659 7.2).
/// `cdir`/`pdir` entries are not produced; clients do not need them.
pub fn format_facts(e: &Entry, perms: Perms, out: &mut String) {
    format_selected_facts(e, perms, Facts::ALL, out)
}

/// [`format_facts`] with only the facts in `facts`.
pub fn format_selected_facts(e: &Entry, perms: Perms, facts: Facts, out: &mut String) {
    if facts.has(1) {
        let ty = match e.kind {
            Kind::Dir => "dir",
            Kind::File => "file",
            Kind::Symlink => "OS.unix=symlink",
            Kind::Other => "OS.unix=special",
        };
        let _ = write!(out, "type={ty};");
    }
    if facts.has(2) && e.kind != Kind::Dir {
        let _ = write!(out, "size={};", e.size);
    }
    if facts.has(4) {
        let _ = write!(out, "modify={};", format_mdtm(e.mtime));
    }
    if facts.has(8) {
        out.push_str("perm=");
        match e.kind {
            Kind::Dir => {
                if perms.write {
                    out.push_str("cm");
                }
                if perms.delete {
                    out.push('d');
                }
                if perms.read {
                    out.push_str("el");
                }
                if perms.delete {
                    out.push('p');
                }
            }
            _ => {
                if perms.append {
                    out.push('a');
                }
                if perms.delete {
                    out.push('d');
                }
                if perms.rename {
                    out.push('f');
                }
                if perms.read {
                    out.push('r');
                }
                if perms.write {
                    out.push('w');
                }
            }
        }
        out.push(';');
    }
    if facts.has(16) {
        let _ = write!(out, "unique={:x}g{:x};", e.dev, e.ino);
    }
    if facts.has(32) {
        let _ = write!(out, "unix.mode=0{:o};", e.mode & 0o7777);
    }
    out.push(' ');
    push_name(out, &e.name);
}

/// Whether a name is hidden from plain LIST/NLST (dot files, as `ls` does).
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Entry {
        Entry {
            name: "report.txt".into(),
            kind: Kind::File,
            size: 1234,
            mtime: 1577836800,
            mode: 0o644,
            nlink: 1,
            dev: 1,
            ino: 0xab,
        }
    }

    #[test]
    fn selected_facts() {
        let f = Facts::parse("Type;size;bogus;");
        assert_eq!(f.selected(), "type;size;");
        assert_eq!(f.feat(), "type*;size*;modify;perm;unique;unix.mode;");
        let mut s = String::new();
        format_selected_facts(&file(), Perms::default(), f, &mut s);
        assert_eq!(s, "type=file;size=1234; report.txt");
        let mut all = String::new();
        format_facts(&file(), Perms::default(), &mut all);
        assert!(
            all.starts_with(
                "type=file;size=1234;modify=20200101000000;perm=;unique=1gab;unix.mode=0644; "
            ),
            "{all}"
        );
        let mut none = String::new();
        format_selected_facts(&file(), Perms::default(), Facts::parse(""), &mut none);
        assert_eq!(none, " report.txt");
    }

    #[test]
    fn ls_line() {
        let mut s = String::new();
        format_list_line(&file(), 1577836800, &mut s);
        assert_eq!(
            s,
            "-rw-r--r--   1 ftp      ftp              1234 Jan  1 00:00 report.txt"
        );
    }

    #[test]
    fn control_characters_never_reach_a_line() {
        let mut e = file();
        e.name = "a\r\n226 fake\t\u{7f}\u{85}é".into();
        let mut s = String::new();
        format_list_line(&e, 1577836800, &mut s);
        assert!(s.ends_with(" a??226 fake???é"), "{s}");
        s.clear();
        format_facts(&e, Perms::default(), &mut s);
        assert!(s.ends_with("; a??226 fake???é"), "{s}");
        s.clear();
        push_name(&mut s, "plain name.txt");
        assert_eq!(s, "plain name.txt");
    }

    #[test]
    fn facts() {
        let mut s = String::new();
        let all = Perms {
            read: true,
            write: true,
            append: true,
            delete: true,
            rename: true,
        };
        format_facts(&file(), all, &mut s);
        assert_eq!(
            s,
            "type=file;size=1234;modify=20200101000000;perm=adfrw;unique=1gab;unix.mode=0644; report.txt"
        );
        let mut d = file();
        d.kind = Kind::Dir;
        d.mode = 0o755;
        s.clear();
        format_facts(
            &d,
            Perms {
                read: true,
                ..Default::default()
            },
            &mut s,
        );
        assert!(
            s.starts_with("type=dir;modify=20200101000000;perm=el;"),
            "{s}"
        );
    }
}
