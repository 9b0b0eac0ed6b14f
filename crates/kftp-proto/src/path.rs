//! Virtual paths: what a client names, normalised against the working directory.
//!
//! A session sees a tree rooted at `/` (its jail). [`VPath`] is always absolute and
//! normalised; `..` at the root stays at the root, as in a chroot. This is the string side
//! of the jail only: the kernel side (openat2 with `RESOLVE_BENEATH`) is what makes symlinks
//! safe, in the server's `jail` module.

use std::fmt;

/// An absolute, normalised virtual path: `/`, `/a`, `/a/b`. No `.`/`..`/empty components,
/// no NUL byte.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VPath(String);

/// Why a client path was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path contains a NUL byte (no file system name can).
    Nul,
    /// The path is longer than [`MAX_PATH`].
    TooLong,
}

/// Longest virtual path accepted, in bytes (Linux's PATH_MAX).
pub const MAX_PATH: usize = 4096;

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Nul => f.write_str("path contains a NUL byte"),
            PathError::TooLong => f.write_str("path too long"),
        }
    }
}

impl std::error::Error for PathError {}

impl VPath {
    /// The root, `/`.
    pub fn root() -> Self {
        VPath("/".to_string())
    }

    /// Resolves `arg` (absolute, or relative to `cwd`) to a normalised path.
    pub fn resolve(cwd: &VPath, arg: &str) -> Result<VPath, PathError> {
        if arg.contains('\0') {
            return Err(PathError::Nul);
        }
        // One string, built in place: `..` truncates it back to the previous `/`.
        let mut s = String::with_capacity(cwd.0.len() + arg.len() + 1);
        let base = match arg.starts_with('/') {
            true => "",
            false => cwd.0.as_str(),
        };
        for c in base.split('/').chain(arg.split('/')) {
            match c {
                "" | "." => {}
                ".." => s.truncate(s.rfind('/').unwrap_or(0)),
                c => {
                    s.push('/');
                    s.push_str(c);
                }
            }
        }
        if s.is_empty() {
            s.push('/');
        }
        if s.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        Ok(VPath(s))
    }

    /// The path as a string, starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path relative to the root: `.` for the root, else `a/b`. This is what gets
    /// handed to openat2 beneath the root directory.
    pub fn relative(&self) -> &str {
        if self.0 == "/" {
            "."
        } else {
            &self.0[1..]
        }
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The components, in order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The parent directory and the last component; `None` for the root.
    pub fn split_last(&self) -> Option<(VPath, &str)> {
        if self.is_root() {
            return None;
        }
        let i = self.0.rfind('/')?;
        let parent = if i == 0 {
            "/".to_string()
        } else {
            self.0[..i].to_string()
        };
        Some((VPath(parent), &self.0[i + 1..]))
    }

    /// The last component; `/` for the root.
    pub fn file_name(&self) -> &str {
        self.split_last().map(|(_, n)| n).unwrap_or("/")
    }

    /// A child of this directory. `name` must be one component (no `/`).
    pub fn join(&self, name: &str) -> VPath {
        if self.is_root() {
            VPath(format!("/{name}"))
        } else {
            VPath(format!("{}/{name}", self.0))
        }
    }

    /// The path quoted for a 257 reply: embedded `"` doubled (RFC 959 appendix II).
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(cwd: &str, a: &str) -> String {
        let cwd = VPath::resolve(&VPath::root(), cwd).unwrap();
        VPath::resolve(&cwd, a).unwrap().0
    }

    #[test]
    fn normalises() {
        assert_eq!(r("/", "a/b/../c"), "/a/c");
        assert_eq!(r("/x/y", ".."), "/x");
        assert_eq!(r("/x", "../../../etc/passwd"), "/etc/passwd");
        assert_eq!(r("/x", "/"), "/");
        assert_eq!(r("/x", "//a///b/."), "/a/b");
        assert_eq!(r("/", "%2e%2e"), "/%2e%2e");
        assert_eq!(VPath::resolve(&VPath::root(), "a\0b"), Err(PathError::Nul));
        assert_eq!(VPath::root().relative(), ".");
        assert_eq!(
            VPath::resolve(&VPath::root(), "/a/b").unwrap().relative(),
            "a/b"
        );
        assert_eq!(
            VPath::resolve(&VPath::root(), "/a\"b").unwrap().quoted(),
            "\"/a\"\"b\""
        );
    }

    proptest! {
        #[test]
        fn never_escapes(cwd in "(/[a-z.]{0,4}){0,4}", arg in "[a-z./]{0,40}") {
            let cwd = VPath::resolve(&VPath::root(), &cwd).unwrap();
            let p = VPath::resolve(&cwd, &arg).unwrap();
            prop_assert!(p.as_str().starts_with('/'));
            prop_assert!(p.components().all(|c| c != ".." && c != "." && !c.is_empty()));
            // Normalising twice changes nothing.
            prop_assert_eq!(VPath::resolve(&VPath::root(), p.as_str()).unwrap(), p.clone());
            if !p.is_root() {
                prop_assert!(!p.relative().starts_with('/'));
            }
        }
    }
}
