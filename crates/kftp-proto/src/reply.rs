//! Replies: encoding (RFC 959 4.2, single- and multi-line), and an incremental
//! decoder for the client side.
//!
//! Codes are plain numbers at every call site, each next to the text that says what it
//! means (a table of names that nothing used was removed: a name beside a number that the
//! message already explains added nothing).

use std::fmt;

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
        // Written straight into `out`: a reply is encoded for every command, several per
        // small file, so no line is copied or formatted on the way.
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let last = i == n - 1;
            if i == 0 || last {
                push_code(out, self.code);
                out.push(if last { b' ' } else { b'-' });
            } else if line.as_bytes().first().is_some_and(u8::is_ascii_digit)
                || !line.starts_with(' ')
            {
                out.push(b' ');
            }
            push_escaped(out, line);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The reply code's digits.
fn push_code(out: &mut Vec<u8>, code: u16) {
    if (100..1000).contains(&code) {
        out.extend_from_slice(&[
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ]);
    } else {
        out.extend_from_slice(code.to_string().as_bytes());
    }
}

/// `line` with CR as CR NUL and LF as NUL (RFC 959's escape for pathnames).
fn push_escaped(out: &mut Vec<u8>, line: &str) {
    let bytes = line.as_bytes();
    if !bytes.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\r' => out.extend_from_slice(b"\r\0"),
            b'\n' => out.push(0),
            b => out.push(b),
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
        let r = Reply::multi(
            211,
            vec!["a\rb".into(), " kept".into(), "\nx".into(), "End".into()],
        );
        assert_eq!(r.encode(), b"211-a\r\0b\r\n kept\r\n \0x\r\n211 End\r\n");
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
