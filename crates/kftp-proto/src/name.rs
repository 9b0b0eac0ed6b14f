//! The one rule for a name a server sends in a listing (LIST, MLSD, NLST): before a
//! client uses it to build a path, local or remote, it must be exactly one path component.
//!
//! A server is not trusted with the client's file system: a listing that names
//! `../x`, `/tmp/x` or `a/../../b` would, joined onto a local target directory, write
//! beside it or anywhere the user can write (`Path::join` with an absolute name replaces
//! the whole path), and joined onto a remote directory it would steer later RETRs into
//! other remote directories. wget and curl both had CVEs of exactly this shape. So a name
//! is refused when it is empty, `.` or `..`, or contains `/`, `\` (a separator to Windows
//! and to some servers), NUL, or any control character (CR/LF and escapes, which also
//! end up in file names and on terminals).
//!
//! Listing parsers ([`crate::listing_parse`]) apply this to every entry; the client
//! applies it again wherever a name becomes a path.

use std::fmt;

/// Why a name is not one safe path component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsafeName {
    /// The empty string.
    Empty,
    /// `.`: the directory itself.
    Dot,
    /// `..`: the parent directory.
    DotDot,
    /// Contains `/`.
    Slash,
    /// Contains `\`.
    Backslash,
    /// Contains a NUL byte.
    Nul,
    /// Contains a control character (C0, DEL or C1), such as CR, LF or ESC.
    Control(char),
}

impl fmt::Display for UnsafeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsafeName::Empty => f.write_str("the name is empty"),
            UnsafeName::Dot => f.write_str("'.' names the directory itself"),
            UnsafeName::DotDot => f.write_str("'..' names the parent directory"),
            UnsafeName::Slash => f.write_str("it contains '/', a path separator"),
            UnsafeName::Backslash => f.write_str("it contains '\\', a path separator"),
            UnsafeName::Nul => f.write_str("it contains a NUL byte"),
            UnsafeName::Control(c) => {
                write!(f, "it contains the control character U+{:04X}", *c as u32)
            }
        }
    }
}

impl std::error::Error for UnsafeName {}

/// Checks that `name` is exactly one path component that is safe to create: not empty,
/// `.` or `..`, and free of `/`, `\`, NUL and control characters.
pub fn check_name(name: &str) -> Result<(), UnsafeName> {
    match name {
        "" => return Err(UnsafeName::Empty),
        "." => return Err(UnsafeName::Dot),
        ".." => return Err(UnsafeName::DotDot),
        _ => {}
    }
    for c in name.chars() {
        match c {
            '/' => return Err(UnsafeName::Slash),
            '\\' => return Err(UnsafeName::Backslash),
            '\0' => return Err(UnsafeName::Nul),
            c if c.is_control() => return Err(UnsafeName::Control(c)),
            _ => {}
        }
    }
    Ok(())
}

/// `name` quoted and escaped for a message: control characters and quotes come out as
/// `\r`, `\u{1b}`, `\"`, so a hostile name cannot rewrite the user's terminal.
pub fn quoted(name: &str) -> String {
    format!("{name:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in [
            "a",
            "ok.txt",
            "...",
            "..a",
            "a..",
            ".hidden",
            "with space",
            " lead and trail ",
            "caf\u{e9} \u{1f600}",
            "a:b",
            "C:",
            "~",
            "-rf",
        ] {
            assert_eq!(check_name(n), Ok(()), "{n:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_one_component() {
        let cases: &[(&str, UnsafeName)] = &[
            ("", UnsafeName::Empty),
            (".", UnsafeName::Dot),
            ("..", UnsafeName::DotDot),
            ("../escape", UnsafeName::Slash),
            ("/tmp/x/abs", UnsafeName::Slash),
            ("a/../../b", UnsafeName::Slash),
            ("a/", UnsafeName::Slash),
            ("/", UnsafeName::Slash),
            ("..\\win", UnsafeName::Backslash),
            ("C:\\x", UnsafeName::Backslash),
            ("nul\0byte", UnsafeName::Nul),
            ("cr\rname", UnsafeName::Control('\r')),
            ("lf\nname", UnsafeName::Control('\n')),
            ("tab\tname", UnsafeName::Control('\t')),
            ("esc\u{1b}[31m", UnsafeName::Control('\u{1b}')),
            ("del\u{7f}", UnsafeName::Control('\u{7f}')),
            ("c1\u{9b}", UnsafeName::Control('\u{9b}')),
        ];
        for (n, why) in cases {
            assert_eq!(check_name(n), Err(*why), "{n:?}");
        }
    }

    #[test]
    fn messages_escape_the_name() {
        assert_eq!(quoted("a\u{1b}[2Jb\r\"c"), "\"a\\u{1b}[2Jb\\r\\\"c\"");
        assert_eq!(
            UnsafeName::Control('\r').to_string(),
            "it contains the control character U+000D"
        );
    }

    proptest::proptest! {
        /// Whatever passes is one normal component: `Path` sees exactly itself.
        #[test]
        fn accepted_names_are_one_normal_component(name in "\\PC{0,12}|[./\\\\a]{0,6}") {
            if check_name(&name).is_ok() {
                let p = std::path::Path::new(&name);
                let comps: Vec<_> = p.components().collect();
                proptest::prop_assert_eq!(comps.len(), 1);
                proptest::prop_assert!(matches!(comps[0], std::path::Component::Normal(c) if c == name.as_str()));
                let joined = std::path::Path::new("/target").join(&name);
                proptest::prop_assert_eq!(joined.parent(), Some(std::path::Path::new("/target")));
            }
        }
    }
}
