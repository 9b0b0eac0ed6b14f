//! One control line -> [`Command`].
//!
//! The caller hands over one line with its CRLF (or bare LF) already removed; the line cap
//! ([`MAX_LINE`]) is enforced by whoever buffers the bytes, before they are buffered.
//! Every failure maps to the reply code RFC 959 prescribes, via [`ParseError::code`].

use crate::command::{ByteRange, Command, EpsvArg, HashAlgo, Password, Prot, TransferType};
use std::fmt;
use std::net::SocketAddr;

/// The longest control line accepted, in bytes, without its line ending. Longer lines get
/// `500` (as vsftpd's `VSFTP_MAX_COMMAND_LINE`).
pub const MAX_LINE: usize = 4096;

/// Why a line did not parse. Each kind names the reply code it becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// 500: empty line.
    Empty,
    /// 500: the line is longer than [`MAX_LINE`].
    TooLong,
    /// 500: the verb is not one we know.
    UnknownCommand(String),
    /// 501: the verb is known, but its argument is missing or malformed.
    BadArgument {
        /// The verb.
        verb: &'static str,
        /// What was wrong, for the reply text.
        why: &'static str,
    },
    /// 504: the verb is known and well-formed, but that parameter is not implemented.
    UnsupportedParameter {
        /// The verb.
        verb: &'static str,
        /// The parameter as sent.
        param: String,
    },
    /// 501: the line is not valid UTF-8 (RFC 2640 requires UTF-8 pathnames).
    NotUtf8,
}

impl ParseError {
    /// The reply code this error is answered with.
    pub fn code(&self) -> u16 {
        match self {
            ParseError::Empty | ParseError::TooLong | ParseError::UnknownCommand(_) => 500,
            ParseError::BadArgument { .. } | ParseError::NotUtf8 => 501,
            ParseError::UnsupportedParameter { .. } => 504,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => write!(f, "Empty command line."),
            ParseError::TooLong => write!(f, "Input line too long (limit {MAX_LINE} bytes)."),
            ParseError::UnknownCommand(v) => write!(f, "Unknown command '{v}'."),
            ParseError::BadArgument { verb, why } => write!(f, "{verb}: {why}."),
            ParseError::UnsupportedParameter { verb, param } => {
                write!(f, "{verb} {param}: parameter not implemented.")
            }
            ParseError::NotUtf8 => write!(f, "Command line is not valid UTF-8 (RFC 2640)."),
        }
    }
}

impl std::error::Error for ParseError {}

fn bad(verb: &'static str, why: &'static str) -> ParseError {
    ParseError::BadArgument { verb, why }
}

/// Parses one control line (without its line ending).
///
/// Verbs are case-insensitive. The argument is everything after the first space, kept
/// exactly (file names may contain spaces, even trailing ones).
pub fn parse_line(line: &[u8]) -> Result<Command, ParseError> {
    if line.len() > MAX_LINE {
        return Err(ParseError::TooLong);
    }
    // Telnet IAC sequences (Interrupt Process, Data Mark) are sent by some clients before
    // ABOR; they never belong to the command itself.
    let line = strip_telnet(line);
    let line = std::str::from_utf8(&line).map_err(|_| ParseError::NotUtf8)?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (verb, arg) = match line.find(' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    if verb.is_empty() {
        return Err(ParseError::Empty);
    }
    if verb.len() > 8 {
        return Err(ParseError::UnknownCommand(truncate(verb)));
    }
    let upper = verb.to_ascii_uppercase();
    // An argument made only of spaces counts as absent for the optional-argument verbs.
    let opt = arg.filter(|a| !a.trim().is_empty()).map(str::to_string);
    macro_rules! need {
        ($v:literal) => {
            match arg {
                Some(a) if !a.is_empty() => a.to_string(),
                _ => return Err(bad($v, "argument required")),
            }
        };
    }
    macro_rules! none {
        ($v:literal, $c:expr) => {
            match opt {
                None => $c,
                Some(_) => return Err(bad($v, "takes no argument")),
            }
        };
    }
    let cmd = match upper.as_str() {
        "USER" => Command::User(need!("USER")),
        "PASS" => Command::Pass(Password::new(arg.unwrap_or(""))),
        "ACCT" => Command::Acct(need!("ACCT")),
        "CWD" | "XCWD" => Command::Cwd(need!("CWD")),
        "CDUP" | "XCUP" => Command::Cdup,
        "SMNT" => Command::Smnt(need!("SMNT")),
        "REIN" => none!("REIN", Command::Rein),
        "QUIT" => Command::Quit,
        "PORT" => Command::Port(
            crate::addr::parse_port(&need!("PORT"))
                .ok_or(bad("PORT", "expected h1,h2,h3,h4,p1,p2"))?,
        ),
        "PASV" => Command::Pasv,
        "SPAS" => none!("SPAS", Command::Spas),
        "SPOR" => Command::Spor(parse_spor(&need!("SPOR"))?),
        "TYPE" => Command::Type(parse_type(&need!("TYPE"))?),
        "STRU" => Command::Stru(single_char("STRU", &need!("STRU"), "FRP")?),
        "MODE" => Command::Mode(single_char("MODE", &need!("MODE"), "SBCE")?),
        "RETR" => Command::Retr(need!("RETR")),
        "STOR" => Command::Stor(need!("STOR")),
        "STOU" => Command::Stou(opt),
        "APPE" => Command::Appe(need!("APPE")),
        "ERET" => parse_eret(&need!("ERET"))?,
        "ESTO" => parse_esto(&need!("ESTO"))?,
        "ALLO" => Command::Allo(parse_allo(&need!("ALLO"))?),
        "SBUF" => Command::Sbuf(
            need!("SBUF")
                .trim()
                .parse()
                .map_err(|_| bad("SBUF", "expected a size in bytes"))?,
        ),
        "REST" => Command::Rest(
            crate::modee::Restart::parse(&need!("REST"))
                .ok_or(bad("REST", "expected a byte offset or byte ranges a-b,c-d"))?,
        ),
        "RNFR" => Command::Rnfr(need!("RNFR")),
        "RNTO" => Command::Rnto(need!("RNTO")),
        "ABOR" => Command::Abor,
        "DELE" => Command::Dele(need!("DELE")),
        "RMD" | "XRMD" => Command::Rmd(need!("RMD")),
        "MKD" | "XMKD" => Command::Mkd(need!("MKD")),
        "PWD" | "XPWD" => Command::Pwd,
        "LIST" => {
            let (path, all) = strip_ls_options(arg);
            Command::List { path, all }
        }
        "NLST" => {
            let (path, all) = strip_ls_options(arg);
            Command::Nlst { path, all }
        }
        "SITE" => Command::Site(need!("SITE")),
        "SYST" => Command::Syst,
        "STAT" => Command::Stat(opt),
        "HELP" => Command::Help(opt),
        "NOOP" => Command::Noop,
        "FEAT" => Command::Feat,
        "OPTS" => {
            let a = need!("OPTS");
            let a = a.trim();
            match a.find(' ') {
                Some(i) => Command::Opts(
                    a[..i].to_ascii_uppercase(),
                    Some(a[i + 1..].trim().to_string()),
                ),
                None => Command::Opts(a.to_ascii_uppercase(), None),
            }
        }
        "EPRT" => Command::Eprt(
            crate::addr::parse_eprt(&need!("EPRT"))
                .ok_or(bad("EPRT", "expected |proto|address|port|"))?,
        ),
        "EPSV" => Command::Epsv(match opt.as_deref().map(str::trim) {
            None => EpsvArg::Any,
            Some(a) if a.eq_ignore_ascii_case("ALL") => EpsvArg::All,
            Some("1") => EpsvArg::Proto(1),
            Some("2") => EpsvArg::Proto(2),
            Some(_) => {
                // RFC 2428: an unknown network protocol gets 522, but a malformed one 501.
                return Err(bad("EPSV", "expected 1, 2 or ALL"));
            }
        }),
        "SIZE" => Command::Size(need!("SIZE")),
        "MDTM" => Command::Mdtm(need!("MDTM")),
        "MFMT" => {
            let a = need!("MFMT");
            let (ts, path) = a
                .split_once(' ')
                .ok_or(bad("MFMT", "expected YYYYMMDDHHMMSS and a path"))?;
            let t = crate::time::parse_mdtm(ts)
                .ok_or(bad("MFMT", "timestamp must be YYYYMMDDHHMMSS"))?;
            if path.is_empty() {
                return Err(bad("MFMT", "path required"));
            }
            Command::Mfmt(t, path.to_string())
        }
        "MLST" => Command::Mlst(opt),
        "MLSD" => Command::Mlsd(opt),
        "AVBL" => Command::Avbl(opt),
        "HOST" => Command::Host(need!("HOST").trim().to_string()),
        "HASH" => Command::Hash(need!("HASH")),
        "RANG" => {
            let a = need!("RANG");
            let mut it = a.split_whitespace().map(str::parse::<u64>);
            match (it.next(), it.next(), it.next()) {
                (Some(Ok(s)), Some(Ok(e)), None) => Command::Rang(s, e),
                _ => return Err(bad("RANG", "expected start and end byte")),
            }
        }
        "CKSM" => parse_cksm(&need!("CKSM"))?,
        "XCRC" => parse_xhash(HashAlgo::Crc32, "XCRC", arg)?,
        "XMD5" => parse_xhash(HashAlgo::Md5, "XMD5", arg)?,
        "XSHA" | "XSHA1" => parse_xhash(HashAlgo::Sha1, "XSHA1", arg)?,
        "XSHA256" => parse_xhash(HashAlgo::Sha256, "XSHA256", arg)?,
        "XSHA512" => parse_xhash(HashAlgo::Sha512, "XSHA512", arg)?,
        "AUTH" => Command::Auth(need!("AUTH").trim().to_ascii_uppercase()),
        "PBSZ" => Command::Pbsz(
            need!("PBSZ")
                .trim()
                .parse()
                .map_err(|_| bad("PBSZ", "expected a decimal number"))?,
        ),
        "PROT" => match need!("PROT").trim().to_ascii_uppercase().as_str() {
            "C" => Command::Prot(Prot::Clear),
            "P" => Command::Prot(Prot::Private),
            p @ ("S" | "E") => {
                return Err(ParseError::UnsupportedParameter {
                    verb: "PROT",
                    param: p.to_string(),
                })
            }
            _ => return Err(bad("PROT", "expected C or P")),
        },
        "CCC" => Command::Ccc,
        _ => return Err(ParseError::UnknownCommand(truncate(verb))),
    };
    Ok(cmd)
}

fn truncate(s: &str) -> String {
    s.chars().take(16).collect()
}

/// Removes Telnet IAC sequences (RFC 854) that some clients send around ABOR.
fn strip_telnet(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !line.contains(&0xFF) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == 0xFF {
            match line.get(i + 1) {
                Some(0xFF) => {
                    out.push(0xFF);
                    i += 2;
                }
                // WILL/WONT/DO/DONT take an option byte.
                Some(251..=254) => i += 3,
                Some(_) => i += 2,
                None => i += 1,
            }
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    std::borrow::Cow::Owned(out)
}

fn parse_type(a: &str) -> Result<TransferType, ParseError> {
    let parts: Vec<String> = a
        .split_whitespace()
        .map(|p| p.to_ascii_uppercase())
        .collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["A"] | ["A", "N"] => Ok(TransferType::Ascii),
        ["I"] | ["L", "8"] | ["L8"] => Ok(TransferType::Image),
        ["A", _] | ["E"] | ["E", _] | ["L", _] => Err(ParseError::UnsupportedParameter {
            verb: "TYPE",
            param: a.to_string(),
        }),
        _ => Err(bad("TYPE", "expected A, I or L 8")),
    }
}

fn single_char(verb: &'static str, a: &str, known: &str) -> Result<char, ParseError> {
    let a = a.trim();
    let mut chars = a.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if known.contains(c.to_ascii_uppercase()) => Ok(c.to_ascii_uppercase()),
        (Some(_), None) => Err(ParseError::UnsupportedParameter {
            verb,
            param: a.to_string(),
        }),
        _ => Err(bad(verb, "expected a single letter")),
    }
}

fn parse_allo(a: &str) -> Result<u64, ParseError> {
    let mut it = a.split_whitespace();
    let n = it
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or(bad("ALLO", "expected a size in bytes"))?;
    match (it.next(), it.next(), it.next()) {
        (None, ..) => Ok(n),
        (Some("R" | "r"), Some(r), None) if r.parse::<u64>().is_ok() => Ok(n),
        _ => Err(bad("ALLO", "expected 'n' or 'n R m'")),
    }
}

/// Clients send `LIST -la /dir` although LIST takes only a path; strip leading option
/// words (as every deployed server does) and remember `-a`.
fn strip_ls_options(arg: Option<&str>) -> (Option<String>, bool) {
    let Some(mut rest) = arg else {
        return (None, false);
    };
    let mut all = false;
    loop {
        let trimmed = rest.trim_start();
        if !trimmed.starts_with('-') || trimmed.len() < 2 {
            break;
        }
        let end = trimmed.find(' ').unwrap_or(trimmed.len());
        let word = &trimmed[1..end];
        if !word.chars().all(|c| c.is_ascii_alphabetic()) {
            break;
        }
        all |= word.contains('a') || word.contains('A');
        rest = &trimmed[end..];
    }
    let rest = rest.trim_start();
    ((!rest.is_empty()).then(|| rest.to_string()), all)
}

/// `XCRC "path with spaces" 0 100` or `XCRC path` (ranges are optional trailing numbers).
fn parse_xhash(
    algo: HashAlgo,
    verb: &'static str,
    arg: Option<&str>,
) -> Result<Command, ParseError> {
    let a = match arg {
        Some(a) if !a.trim().is_empty() => a,
        _ => return Err(bad(verb, "path required")),
    };
    let (path, nums) = if let Some(rest) = a.strip_prefix('"') {
        let end = rest
            .find('"')
            .ok_or(bad(verb, "unterminated quoted path"))?;
        (rest[..end].to_string(), rest[end + 1..].trim().to_string())
    } else {
        // Trailing numeric words are the range; everything before is the path.
        let words: Vec<&str> = a.split(' ').collect();
        let mut k = words.len();
        while k > 1 && words.len() - k < 2 && words[k - 1].parse::<u64>().is_ok() {
            k -= 1;
        }
        (words[..k].join(" "), words[k..].join(" "))
    };
    let nums: Vec<u64> = nums
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad(verb, "range must be decimal byte offsets"))?;
    let range = match nums.as_slice() {
        [] => ByteRange {
            start: 0,
            end: None,
        },
        [s] => ByteRange {
            start: *s,
            end: None,
        },
        [s, e] if s <= e => ByteRange {
            start: *s,
            end: Some(*e),
        },
        _ => return Err(bad(verb, "expected [start [end]] with start <= end")),
    };
    Ok(Command::XHash(algo, path, range))
}

/// `CKSM <algorithm> <offset> <length> <path>` (GridFTP; the toolkit's server reads it so):
/// `length` -1 means to the end of the file; an algorithm kftp has no digest for is an
/// unsupported parameter (`504`), as ADLER32 is.
fn parse_cksm(a: &str) -> Result<Command, ParseError> {
    let malformed = || {
        bad(
            "CKSM",
            "expected an algorithm, an offset, a length (-1: to the end) and a path",
        )
    };
    let mut it = a.splitn(4, ' ');
    let name = it.next().unwrap_or("");
    let algo = HashAlgo::from_cksm_name(name).ok_or_else(|| ParseError::UnsupportedParameter {
        verb: "CKSM",
        param: name.to_string(),
    })?;
    let start: u64 = it
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(malformed)?;
    let end = match it.next().ok_or_else(malformed)? {
        "-1" => None,
        n => Some(
            n.parse::<u64>()
                .ok()
                .and_then(|len| start.checked_add(len))
                .ok_or_else(malformed)?,
        ),
    };
    let path = it.next().filter(|p| !p.is_empty()).ok_or_else(malformed)?;
    Ok(Command::Cksm(
        algo,
        ByteRange { start, end },
        path.to_string(),
    ))
}

/// Most host-ports SPOR takes (one per stripe of the receiver); more is refused, not
/// buffered.
pub const MAX_STRIPES: usize = 16;

/// `ERET P <offset> <size> <path>` (GFD.20): only the partial-retrieve mode `P` exists.
fn parse_eret(a: &str) -> Result<Command, ParseError> {
    let expected = "expected P, an offset, a size and a path";
    let ([offset, size], path) = mode_numbers_path("ERET", a, "P", expected)?;
    Ok(Command::Eret { offset, size, path })
}

/// `ESTO A <offset> <path>` (GFD.20): only the adjusted-store mode `A` exists.
fn parse_esto(a: &str) -> Result<Command, ParseError> {
    let expected = "expected A, an offset and a path";
    let ([offset], path) = mode_numbers_path("ESTO", a, "A", expected)?;
    Ok(Command::Esto { offset, path })
}

/// ERET's and ESTO's shape, `<mode> <n1> .. <nN> <path>`: the one mode letter the verb
/// takes (another is an unsupported parameter), N decimal numbers, and a path (the rest of
/// the line, spaces included).
fn mode_numbers_path<const N: usize>(
    verb: &'static str,
    a: &str,
    mode: &str,
    expected: &'static str,
) -> Result<([u64; N], String), ParseError> {
    let mut it = a.splitn(N + 2, ' ');
    let given = it.next().unwrap_or("");
    if !given.eq_ignore_ascii_case(mode) {
        return Err(ParseError::UnsupportedParameter {
            verb,
            param: given.to_string(),
        });
    }
    let malformed = || bad(verb, expected);
    let mut numbers = [0u64; N];
    for n in &mut numbers {
        *n = it
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(malformed)?;
    }
    let path = it.next().filter(|p| !p.is_empty()).ok_or_else(malformed)?;
    Ok((numbers, path.to_string()))
}

/// SPOR's argument: one to [`MAX_STRIPES`] `h1,h2,h3,h4,p1,p2`, separated by spaces.
fn parse_spor(arg: &str) -> Result<Vec<SocketAddr>, ParseError> {
    let mut out = Vec::new();
    for part in arg.split_whitespace() {
        if out.len() == MAX_STRIPES {
            return Err(bad("SPOR", "too many host-ports"));
        }
        out.push(
            crate::addr::parse_port(part).ok_or(bad("SPOR", "expected h1,h2,h3,h4,p1,p2 ..."))?,
        );
    }
    if out.is_empty() {
        return Err(bad("SPOR", "expected h1,h2,h3,h4,p1,p2 ..."));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modee::{Ranges, Restart};

    fn p(s: &str) -> Result<Command, ParseError> {
        parse_line(s.as_bytes())
    }

    #[test]
    fn table() {
        let ok: &[(&str, Command)] = &[
            ("USER alice", Command::User("alice".into())),
            ("user alice", Command::User("alice".into())),
            ("PASS", Command::Pass(Password::new(""))),
            ("XCWD /a b", Command::Cwd("/a b".into())),
            ("CWD name ", Command::Cwd("name ".into())),
            ("XCUP", Command::Cdup),
            ("TYPE a", Command::Type(TransferType::Ascii)),
            ("TYPE A N", Command::Type(TransferType::Ascii)),
            ("TYPE L 8", Command::Type(TransferType::Image)),
            ("STRU f", Command::Stru('F')),
            ("MODE B", Command::Mode('B')),
            ("MODE E", Command::Mode('E')),
            ("REST 100", Command::Rest(Restart::Offset(100))),
            (
                "ERET P 10 20 a b.bin",
                Command::Eret {
                    offset: 10,
                    size: 20,
                    path: "a b.bin".into(),
                },
            ),
            (
                "esto a 1000000 /up.bin",
                Command::Esto {
                    offset: 1_000_000,
                    path: "/up.bin".into(),
                },
            ),
            (
                "REST 0-10,20-30",
                Command::Rest(Restart::Ranges(Ranges::parse("0-10,20-30").unwrap())),
            ),
            (
                "CKSM md5 0 -1 a b.bin",
                Command::Cksm(
                    HashAlgo::Md5,
                    ByteRange {
                        start: 0,
                        end: None,
                    },
                    "a b.bin".into(),
                ),
            ),
            (
                "CKSM SHA256 10 20 /f",
                Command::Cksm(
                    HashAlgo::Sha256,
                    ByteRange {
                        start: 10,
                        end: Some(30),
                    },
                    "/f".into(),
                ),
            ),
            ("ALLO 5 R 6", Command::Allo(5)),
            ("SBUF 1048576", Command::Sbuf(1 << 20)),
            (
                "LIST -la",
                Command::List {
                    path: None,
                    all: true,
                },
            ),
            (
                "LIST -l dir",
                Command::List {
                    path: Some("dir".into()),
                    all: false,
                },
            ),
            (
                "LIST -weird-name",
                Command::List {
                    path: Some("-weird-name".into()),
                    all: false,
                },
            ),
            (
                "NLST",
                Command::Nlst {
                    path: None,
                    all: false,
                },
            ),
            ("EPSV ALL", Command::Epsv(EpsvArg::All)),
            ("EPSV 2", Command::Epsv(EpsvArg::Proto(2))),
            (
                "OPTS utf8 on",
                Command::Opts("UTF8".into(), Some("on".into())),
            ),
            (
                "OPTS HASH SHA-1",
                Command::Opts("HASH".into(), Some("SHA-1".into())),
            ),
            ("MFMT 19700101000100 f", Command::Mfmt(60, "f".into())),
            (
                "XCRC f 1 2",
                Command::XHash(
                    HashAlgo::Crc32,
                    "f".into(),
                    ByteRange {
                        start: 1,
                        end: Some(2),
                    },
                ),
            ),
            (
                "XSHA256 \"a b\"",
                Command::XHash(
                    HashAlgo::Sha256,
                    "a b".into(),
                    ByteRange {
                        start: 0,
                        end: None,
                    },
                ),
            ),
            (
                "XMD5 my file",
                Command::XHash(
                    HashAlgo::Md5,
                    "my file".into(),
                    ByteRange {
                        start: 0,
                        end: None,
                    },
                ),
            ),
            ("PROT P", Command::Prot(Prot::Private)),
            ("AUTH tls", Command::Auth("TLS".into())),
            ("\u{ff}\u{f4}ABOR", Command::Abor),
        ];
        for (line, want) in ok {
            let bytes: Vec<u8> = if line.starts_with('\u{ff}') {
                let mut v = vec![0xFF, 0xF4];
                v.extend_from_slice(b"ABOR");
                v
            } else {
                line.as_bytes().to_vec()
            };
            assert_eq!(parse_line(&bytes).as_ref(), Ok(want), "{line}");
        }
    }

    #[test]
    fn errors_have_rfc_codes() {
        let cases = [
            ("", 500),
            ("FROB x", 500),
            ("RETR", 501),
            ("PORT 1,2,3", 501),
            ("TYPE E", 504),
            ("TYPE X", 501),
            ("STRU R", 0),
            ("MODE Z", 504),
            ("PROT S", 504),
            ("REST -1", 501),
            ("SPAS 2", 501),
            ("SPOR", 501),
            ("SPOR 1,2,3", 501),
            ("REST 10-5", 501),
            ("REST 0-1,,2-3", 501),
            ("REIN now", 501),
            ("EPSV 7", 501),
            ("CKSM ADLER32 0 -1 f", 504),
            ("SBUF", 501),
            ("SBUF -1", 501),
            ("SBUF 1M", 501),
            ("CKSM MD5 0 -2 f", 501),
            ("CKSM MD5 x -1 f", 501),
            ("CKSM MD5 0 -1", 501),
            ("CKSM MD5 18446744073709551615 1 f", 501),
        ];
        for (line, code) in cases {
            match p(line) {
                Ok(_) if code == 0 => {}
                Ok(c) => panic!("{line:?} parsed as {c:?}"),
                Err(e) => assert_eq!(e.code(), code, "{line:?}: {e}"),
            }
        }
        assert_eq!(parse_line(&[b'A'; MAX_LINE + 1]).unwrap_err().code(), 500);
        assert_eq!(
            parse_line(b"RETR \xc3\x28").unwrap_err(),
            ParseError::NotUtf8
        );
    }

    proptest::proptest! {
        /// Any bytes at all: a command or an error with an RFC code, never a panic.
        #[test]
        fn never_panics(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            match parse_line(&line) {
                Ok(_) => {}
                Err(e) => proptest::prop_assert!(matches!(e.code(), 500 | 501 | 504)),
            }
        }

        /// Whatever parses re-encodes to a line that parses to the same command.
        #[test]
        fn reencodes(verb in "(RETR|STOR|CWD|MKD|DELE|SIZE|LIST|NLST|REST|TYPE|EPRT|PORT|MFMT|XCRC|OPTS|HASH)",
                     arg in "[ -~]{0,40}") {
            let line = format!("{verb} {arg}");
            if let Ok(c) = parse_line(line.as_bytes()) {
                proptest::prop_assert_eq!(parse_line(c.to_line().as_bytes()), Ok(c));
            }
        }
    }

    #[test]
    fn to_line_round_trips() {
        for line in [
            "USER a",
            "CWD /x y",
            "TYPE I",
            "REST 7",
            "REST 0-7,9-12",
            "SPAS",
            "SPOR 127,0,0,1,4,1 127,0,0,1,4,2",
            "EPRT |2|::1|5282|",
            "PORT 127,0,0,1,4,1",
            "LIST -a d",
            "MLSD",
            "XCRC f 1 2",
            "CKSM SHA1 5 100 d/f g",
            "CKSM MD5 0 -1 f",
            "SBUF 0",
            "MFMT 20200102030405 f",
            "OPTS UTF8 ON",
        ] {
            let c = p(line).unwrap();
            assert_eq!(p(&c.to_line()).unwrap(), c, "{line}");
        }
        assert_eq!(p("PASS hunter2").unwrap().loggable(), "PASS <password>");
        assert_eq!(
            format!("{:?}", p("PASS hunter2").unwrap()),
            "Pass(<password>)"
        );
    }
}
