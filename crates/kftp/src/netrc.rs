//! `~/.netrc`: where FTP credentials have lived since the 1980s.
//!
//! Tokens are separated by whitespace; `machine NAME` starts an entry, `default` is the
//! entry for any other host, `login`/`password`/`account` fill it, and `macdef NAME`
//! defines a macro that runs to the next blank line (skipped here). Quoted tokens
//! (`password "a b"`) are accepted as GNU inetutils and curl do.

use kftp_proto::Password;

/// One `machine` (or `default`) entry.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NetrcEntry {
    /// Login name.
    pub login: Option<String>,
    /// Password.
    pub password: Option<Password>,
}

/// A parsed netrc file.
#[derive(Clone, Debug, Default)]
pub struct Netrc {
    machines: Vec<(String, NetrcEntry)>,
    default: Option<NetrcEntry>,
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let mut chars = line.chars().peekable();
        let mut line_tokens = Vec::new();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&c) = chars.peek() else { break };
            if c == '#' && line_tokens.is_empty() {
                break;
            }
            let mut tok = String::new();
            if c == '"' {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => tok.extend(chars.next()),
                        c => tok.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    tok.push(c);
                }
            }
            line_tokens.push(tok);
        }
        let is_macdef = line_tokens.first().is_some_and(|t| t == "macdef");
        out.extend(line_tokens);
        if is_macdef {
            // The macro body runs to the next empty line.
            for body in lines.by_ref() {
                if body.trim().is_empty() {
                    break;
                }
            }
        }
    }
    out
}

impl Netrc {
    /// Parses netrc text. Unknown tokens are skipped rather than rejected, so a file
    /// written for another client still yields its credentials.
    pub fn parse(text: &str) -> Netrc {
        let mut n = Netrc::default();
        let toks = tokenize(text);
        let mut cur: Option<(Option<String>, NetrcEntry)> = None;
        let finish = |cur: Option<(Option<String>, NetrcEntry)>, n: &mut Netrc| match cur {
            Some((Some(m), e)) => n.machines.push((m, e)),
            Some((None, e)) => n.default = Some(e),
            None => {}
        };
        let mut i = 0;
        while i < toks.len() {
            let arg = toks.get(i + 1).cloned();
            match toks[i].as_str() {
                "machine" => {
                    finish(cur.take(), &mut n);
                    cur = Some((Some(arg.unwrap_or_default()), NetrcEntry::default()));
                    i += 2;
                }
                "default" => {
                    finish(cur.take(), &mut n);
                    cur = Some((None, NetrcEntry::default()));
                    i += 1;
                }
                "login" | "user" => {
                    if let Some((_, e)) = cur.as_mut() {
                        e.login = arg;
                    }
                    i += 2;
                }
                "password" | "passwd" => {
                    if let Some((_, e)) = cur.as_mut() {
                        e.password = arg.map(Password::new);
                    }
                    i += 2;
                }
                "account" | "macdef" => i += 2,
                _ => i += 1,
            }
        }
        finish(cur, &mut n);
        n
    }

    /// The entry for `host`; with `login` given, only an entry for that login matches.
    /// Falls back to `default`.
    pub fn lookup(&self, host: &str, login: Option<&str>) -> Option<&NetrcEntry> {
        let fits = |e: &NetrcEntry| login.is_none() || e.login.as_deref() == login;
        self.machines
            .iter()
            .find(|(m, e)| m.eq_ignore_ascii_case(host) && fits(e))
            .map(|(_, e)| e)
            .or(self.default.as_ref().filter(|e| fits(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# comment line
machine ftp.example.com login alice password s3cret
machine other.example.com
    login bob
    password \"two words\"
macdef init
cd /pub
binary

machine ftp.example.com login carol password c
default login anonymous password guest@
";

    #[test]
    fn lookups() {
        let n = Netrc::parse(SAMPLE);
        let e = n.lookup("ftp.example.com", None).unwrap();
        assert_eq!(e.login.as_deref(), Some("alice"));
        assert_eq!(e.password.as_ref().unwrap().expose(), "s3cret");
        let e = n.lookup("FTP.example.com", Some("carol")).unwrap();
        assert_eq!(e.password.as_ref().unwrap().expose(), "c");
        let e = n.lookup("other.example.com", None).unwrap();
        assert_eq!(e.password.as_ref().unwrap().expose(), "two words");
        let e = n.lookup("unknown", None).unwrap();
        assert_eq!(e.login.as_deref(), Some("anonymous"));
        assert!(n.lookup("unknown", Some("zed")).is_none());
    }

    #[test]
    fn one_line_and_empty() {
        let n = Netrc::parse("machine h login u password p");
        assert_eq!(n.lookup("h", None).unwrap().login.as_deref(), Some("u"));
        assert!(Netrc::parse("").lookup("h", None).is_none());
        assert!(Netrc::parse("machine").lookup("h", None).is_none());
    }
}
