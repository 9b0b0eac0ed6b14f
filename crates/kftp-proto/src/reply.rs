//! Replies: named codes, encoding (RFC 959 4.2, single- and multi-line), and an incremental
//! decoder for the client side.

use std::fmt;

/// Reply codes kftp sends, by name (as vsftpd's `ftpcodes.h`). A raw `u16` is still
/// accepted everywhere; the names exist so that call sites read as what they mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyCode;

#[allow(missing_docs)]
impl ReplyCode {
    pub const RESTART_MARKER: u16 = 110;
    pub const DATA_OPEN_STARTING: u16 = 125;
    pub const FILE_OK_OPENING: u16 = 150;
    pub const OK: u16 = 200;
    pub const NOT_NEEDED: u16 = 202;
    pub const STATUS: u16 = 211;
    pub const DIR_STATUS: u16 = 212;
    pub const FILE_STATUS: u16 = 213;
    pub const HELP: u16 = 214;
    pub const SYSTEM: u16 = 215;
    pub const READY: u16 = 220;
    pub const CLOSING: u16 = 221;
    pub const DATA_CLOSING: u16 = 226;
    pub const PASSIVE: u16 = 227;
    pub const EXT_PASSIVE: u16 = 229;
    pub const LOGGED_IN: u16 = 230;
    pub const AUTH_OK: u16 = 234;
    pub const FILE_ACTION_OK: u16 = 250;
    pub const PATH_CREATED: u16 = 257;
    pub const NEED_PASSWORD: u16 = 331;
    pub const NEED_ACCOUNT: u16 = 332;
    pub const PENDING_FURTHER: u16 = 350;
    pub const NOT_AVAILABLE: u16 = 421;
    pub const CANT_OPEN_DATA: u16 = 425;
    pub const TRANSFER_ABORTED: u16 = 426;
    pub const FILE_BUSY: u16 = 450;
    pub const LOCAL_ERROR: u16 = 451;
    pub const NO_SPACE: u16 = 452;
    pub const UNKNOWN_COMMAND: u16 = 500;
    pub const SYNTAX_ARGS: u16 = 501;
    pub const NOT_IMPLEMENTED: u16 = 502;
    pub const BAD_SEQUENCE: u16 = 503;
    pub const PARAM_NOT_IMPLEMENTED: u16 = 504;
    pub const NOT_LOGGED_IN: u16 = 530;
    pub const NEED_ACCOUNT_STORE: u16 = 532;
    pub const POLICY_DENIED: u16 = 534;
    pub const FILE_UNAVAILABLE: u16 = 550;
    pub const PAGE_TYPE_UNKNOWN: u16 = 551;
    pub const QUOTA_EXCEEDED: u16 = 552;
    pub const BAD_FILENAME: u16 = 553;
    pub const BAD_PROTOCOL: u16 = 522;
}

/// One reply: a code and one or more lines of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text lines; at least one. A multi-line reply has more than one.
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply: first line, body lines, last line.
    pub fn multi(code: u16, lines: Vec<String>) -> Self {
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply { code, lines }
    }

    /// The text of all lines joined by newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// 1yz: a preliminary reply; another reply follows.
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }

    /// 2yz.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3yz: more input expected.
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// Wire form. Multi-line replies follow RFC 959 4.2: `ccc-first`, body lines, `ccc last`.
    /// A body line that itself starts with digits is indented by one space, so a client can
    /// never mistake it for the last line. CR or LF inside a line (e.g. from a file name)
    /// is escaped as RFC 959 requires for pathnames: CR becomes CR NUL, LF becomes NUL.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let line = line.replace('\r', "\r\0").replace('\n', "\0");
            if n == 1 {
                out.extend_from_slice(format!("{} {}\r\n", self.code, line).as_bytes());
            } else if i == 0 {
                out.extend_from_slice(format!("{}-{}\r\n", self.code, line).as_bytes());
            } else if i == n - 1 {
                out.extend_from_slice(format!("{} {}\r\n", self.code, line).as_bytes());
            } else if line.as_bytes().first().is_some_and(u8::is_ascii_digit)
                || !line.starts_with(' ')
            {
                out.extend_from_slice(format!(" {line}\r\n").as_bytes());
            } else {
                out.extend_from_slice(format!("{line}\r\n").as_bytes());
            }
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// Decodes replies from a byte stream, one line at a time (client side).
#[derive(Debug, Default)]
pub struct ReplyDecoder {
    pending: Option<(u16, Vec<String>)>,
}

/// A line that is not a valid reply line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReply(pub String);

impl fmt::Display for BadReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed reply line: {:?}", self.0)
    }
}

impl std::error::Error for BadReply {}

impl ReplyDecoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line (without CRLF). Returns a complete reply when this line ends one.
    pub fn feed_line(&mut self, line: &str) -> Result<Option<Reply>, BadReply> {
        let line = line.trim_end_matches(['\r', '\n']);
        let head = parse_code(line);
        match (&mut self.pending, head) {
            (None, Some((code, sep))) => {
                let text = line.get(4..).unwrap_or("").to_string();
                if sep == b'-' {
                    self.pending = Some((code, vec![text]));
                    Ok(None)
                } else {
                    Ok(Some(Reply::new(code, text)))
                }
            }
            (None, None) => Err(BadReply(line.to_string())),
            (Some((code, lines)), Some((c, b' '))) if c == *code => {
                lines.push(line.get(4..).unwrap_or("").to_string());
                let (code, lines) = self.pending.take().unwrap_or_default();
                Ok(Some(Reply::multi(code, lines)))
            }
            (Some((_, lines)), _) => {
                lines.push(line.strip_prefix(' ').unwrap_or(line).to_string());
                Ok(None)
            }
        }
    }
}

fn parse_code(line: &str) -> Option<(u16, u8)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Reply codes start with 1-5 (RFC 959), 6 for protected replies (RFC 2228); "023"
    // is not a reply (found by fuzzing).
    if !(b'1'..=b'6').contains(&b[0]) {
        return None;
    }
    let sep = *b.get(3).unwrap_or(&b' ');
    if sep != b' ' && sep != b'-' {
        return None;
    }
    let code = line[..3].parse().ok()?;
    Some((code, sep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi() {
        assert_eq!(Reply::new(200, "OK").encode(), b"200 OK\r\n");
        let r = Reply::multi(
            211,
            vec![
                "Features:".into(),
                "UTF8".into(),
                "123 x".into(),
                "End".into(),
            ],
        );
        assert_eq!(
            r.encode(),
            b"211-Features:\r\n UTF8\r\n 123 x\r\n211 End\r\n"
        );
        let mut d = ReplyDecoder::new();
        let mut got = None;
        for l in String::from_utf8(r.encode())
            .unwrap()
            .split("\r\n")
            .filter(|l| !l.is_empty())
        {
            got = d.feed_line(l).unwrap();
        }
        let got = got.unwrap();
        assert_eq!(got.code, 211);
        assert_eq!(got.lines, vec!["Features:", "UTF8", "123 x", "End"]);
    }

    #[test]
    fn newline_in_name_is_escaped() {
        assert_eq!(
            Reply::new(257, "\"/a\nb\" created").encode(),
            b"257 \"/a\0b\" created\r\n"
        );
    }

    #[test]
    fn decoder_rejects_garbage() {
        assert!(ReplyDecoder::new().feed_line("hello").is_err());
        assert_eq!(
            ReplyDecoder::new().feed_line("220").unwrap().unwrap().code,
            220
        );
    }
}
