//! One error type for the client, sorted into the kinds a user (and a script) can act on.
//!
//! Each [`ErrorKind`] maps to a distinct process exit code ([`ErrorKind::exit_code`]), so a
//! shell script can tell "wrong password" from "no such file" from "network down" without
//! parsing messages. The message is `<what we were doing>: <cause>`.

use kftp_proto::Reply;
use std::fmt;
use std::io;

/// What went wrong, at the level a caller decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The command line or an argument is wrong (exit 2).
    Usage,
    /// The server refused the login (530 after USER/PASS), exit 3.
    Auth,
    /// The remote or local file or directory does not exist (exit 4).
    NotFound,
    /// The server or the local system refused access (exit 5).
    PermissionDenied,
    /// The connection failed, timed out or was cut (exit 6).
    Network,
    /// The TLS handshake failed, most often certificate verification (exit 7).
    Tls,
    /// A transferred file does not match the server's checksum or size (exit 8).
    Integrity,
    /// The server answered something unexpected or refused an operation (exit 1).
    Protocol,
    /// A local file operation failed (exit 1).
    Local,
}

impl ErrorKind {
    /// The process exit code for this kind, as documented in `kftp --help`.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Protocol | ErrorKind::Local => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Auth => 3,
            ErrorKind::NotFound => 4,
            ErrorKind::PermissionDenied => 5,
            ErrorKind::Network => 6,
            ErrorKind::Tls => 7,
            ErrorKind::Integrity => 8,
        }
    }
}

/// Why, below the message.
#[derive(Debug)]
enum Cause {
    Reply(Reply),
    Io(io::Error),
    None,
}

/// A client error: a kind, what was being done, and the cause.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    what: String,
    cause: Cause,
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with a message and no further cause.
    pub fn new(kind: ErrorKind, what: impl Into<String>) -> Self {
        Error {
            kind,
            what: what.into(),
            cause: Cause::None,
        }
    }

    /// Bad usage (exit 2).
    pub fn usage(what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, what)
    }

    /// A server reply that means failure; the kind is read from the code and text.
    pub fn reply(what: impl Into<String>, reply: Reply) -> Self {
        Error {
            kind: kind_of_reply(&reply),
            what: what.into(),
            cause: Cause::Reply(reply),
        }
    }

    /// A failed login.
    pub fn auth(reply: Reply) -> Self {
        Error {
            kind: ErrorKind::Auth,
            what: "login refused".into(),
            cause: Cause::Reply(reply),
        }
    }

    /// An I/O error on the network (connections, control and data channels). TLS
    /// failures inside it are recognised and reported as [`ErrorKind::Tls`].
    pub fn net(what: impl Into<String>, e: io::Error) -> Self {
        let kind = if is_tls_error(&e) {
            ErrorKind::Tls
        } else {
            ErrorKind::Network
        };
        Error {
            kind,
            what: what.into(),
            cause: Cause::Io(e),
        }
    }

    /// An I/O error on a local file.
    pub fn local(what: impl Into<String>, e: io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            _ => ErrorKind::Local,
        };
        Error {
            kind,
            what: what.into(),
            cause: Cause::Io(e),
        }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The server reply behind this error, if any.
    pub fn server_reply(&self) -> Option<&Reply> {
        match &self.cause {
            Cause::Reply(r) => Some(r),
            _ => None,
        }
    }

    /// Whether this error may mean the session's control connection is gone: a network
    /// failure with no reply behind it (closed, reset, timed out: out of step either way;
    /// a data connection's failure looks the same), or `421`, after which the server
    /// closes it. A run of transfers over several sessions takes no more work on such a
    /// session: left to the others, nothing is lost if the guess was wrong.
    pub fn session_gone(&self) -> bool {
        match self.server_reply() {
            Some(r) => r.code == 421,
            None => self.kind == ErrorKind::Network,
        }
    }

    /// Replaces what was being done, keeping the kind and cause.
    pub fn with_what(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }

    /// Prefixes the message with more context: `ctx: what: cause`.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.what = if self.what.is_empty() {
            ctx.to_string()
        } else {
            format!("{ctx}: {}", self.what)
        };
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        match &self.cause {
            Cause::Reply(r) => write!(f, ": {} {}", r.code, r.lines.join(" ").trim()),
            Cause::Io(e) => write!(f, ": {}", io_message(e)),
            Cause::None => Ok(()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// The message of an I/O error, with the wrapped error's text for custom errors (rustls
/// puts its alert there).
fn io_message(e: &io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

/// Whether an I/O error carries a rustls error (handshake or certificate failure).
fn is_tls_error(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

/// Sorts a failure reply. 550 is used by servers both for "no such file" and "permission
/// denied", so its text decides; 530 after login means a permission problem.
fn kind_of_reply(r: &Reply) -> ErrorKind {
    let text = r.text().to_ascii_lowercase();
    let denied = [
        "permission",
        "denied",
        "not allowed",
        "access",
        "forbidden",
        "refused",
    ]
    .iter()
    .any(|w| text.contains(w));
    match r.code {
        530 | 532 | 553 => ErrorKind::PermissionDenied,
        534 | 522 => ErrorKind::Tls,
        550 | 450 | 451 if denied => ErrorKind::PermissionDenied,
        550 => ErrorKind::NotFound,
        421 | 425 | 426 => ErrorKind::Network,
        _ => ErrorKind::Protocol,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_kinds() {
        let k = |code, t: &str| Error::reply("x", Reply::new(code, t)).kind();
        assert_eq!(k(550, "Failed to open file."), ErrorKind::NotFound);
        assert_eq!(k(550, "Permission denied."), ErrorKind::PermissionDenied);
        assert_eq!(
            k(553, "Could not create file."),
            ErrorKind::PermissionDenied
        );
        assert_eq!(k(425, "Can't open data connection."), ErrorKind::Network);
        assert_eq!(k(500, "Unknown command."), ErrorKind::Protocol);
    }

    #[test]
    fn message_and_codes() {
        let e = Error::reply("get a.txt", Reply::new(550, "Failed to open file.")).context("x");
        assert_eq!(e.to_string(), "x: get a.txt: 550 Failed to open file.");
        assert_eq!(e.kind().exit_code(), 4);
        let codes: Vec<u8> = [
            ErrorKind::Usage,
            ErrorKind::Auth,
            ErrorKind::NotFound,
            ErrorKind::PermissionDenied,
            ErrorKind::Network,
            ErrorKind::Tls,
            ErrorKind::Integrity,
        ]
        .iter()
        .map(|k| k.exit_code())
        .collect();
        assert_eq!(codes, vec![2, 3, 4, 5, 6, 7, 8]);
    }
}
