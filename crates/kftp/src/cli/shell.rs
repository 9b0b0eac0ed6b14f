//! `kftp shell`: the classic interactive ftp session, with line editing, history
//! (`~/.kftp_history`) and TAB completion of verbs, local names and remote names.
//!
//! Remote completion lists the directory being typed on the live session. That works
//! because the line editor runs on a blocking thread while the session sits idle behind
//! its mutex; the completer locks it and drives the listing with `Handle::block_on`.

use super::args::Global;
use super::bars::Bars;
use super::{connect, default_local, format_time, warn_refused, write_stdout};
use kftp::{Client, DataMode, Error, ErrorKind, Progress, Result, Target, TransferOptions};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::runtime::Handle;

type Session = Arc<tokio::sync::Mutex<Option<Client>>>;

const VERBS: &[(&str, &str)] = &[
    ("open", "open URL|HOST[:PORT]    connect and log in"),
    (
        "close",
        "close                   log out, stay in the shell",
    ),
    ("cd", "cd DIR                  change remote directory"),
    ("cdup", "cdup                    go to the parent directory"),
    ("pwd", "pwd                     print remote directory"),
    (
        "lcd",
        "lcd [DIR]               change local directory (default: home)",
    ),
    ("lpwd", "lpwd                    print local directory"),
    (
        "ls",
        "ls [-l] [PATH]          list remote directory (also: dir)",
    ),
    ("dir", "dir [PATH]              long listing"),
    ("get", "get [-c] REMOTE [LOCAL] download (-c resumes)"),
    ("put", "put [-c] LOCAL [REMOTE] upload (-c resumes)"),
    (
        "mget",
        "mget PATTERN...         download matching files (* and ?)",
    ),
    (
        "mput",
        "mput PATTERN...         upload matching local files",
    ),
    (
        "rm",
        "rm FILE...              delete remote files (also: delete)",
    ),
    ("mkdir", "mkdir DIR               create remote directory"),
    ("rmdir", "rmdir DIR               remove remote directory"),
    (
        "rename",
        "rename FROM TO          rename remote file (also: mv)",
    ),
    ("cat", "cat FILE                print remote file"),
    ("hash", "hash FILE               server checksum of a file"),
    ("size", "size FILE               remote file size"),
    (
        "binary",
        "binary                  binary transfers (default)",
    ),
    ("ascii", "ascii                   ASCII transfers"),
    (
        "passive",
        "passive                 toggle passive/active data connections",
    ),
    ("quote", "quote LINE              send a raw command"),
    ("help", "help                    this list (also: ?)"),
    ("bye", "bye                     quit (also: quit, exit)"),
];

/// Splits a line into words; double quotes group words and `\` escapes.
pub fn split_args(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.extend(chars.next());
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// `*` and `?` matching, as mget/mput expand patterns.
pub fn wildmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

struct ShellHelper {
    session: Session,
    handle: Handle,
    files: FilenameCompleter,
    /// Listings fetched during this prompt, by directory.
    cache: Mutex<HashMap<String, Vec<(String, bool)>>>,
}

impl ShellHelper {
    fn remote_names(&self, dir: &str) -> Vec<(String, bool)> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(dir) {
            return v.clone();
        }
        let session = self.session.clone();
        let d = dir.to_string();
        let names = self.handle.block_on(async move {
            let mut guard = session.lock().await;
            match guard.as_mut() {
                // Refused names are left out of completion (and reported by ls and mget).
                Some(c) => c
                    .list(&d)
                    .await
                    .map(|v| {
                        v.entries
                            .into_iter()
                            .map(|e| (e.name, e.kind == kftp::Kind::Dir))
                            .collect()
                    })
                    .unwrap_or_default(),
                None => Vec::new(),
            }
        });
        cache.insert(dir.to_string(), names.clone());
        names
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .rfind(char::is_whitespace)
            .map(|i| i + 1)
            .unwrap_or(0);
        let word = &before[start..];
        let words = split_args(&before[..start]);
        let Some(verb) = words.first() else {
            let v = VERBS
                .iter()
                .filter(|(v, _)| v.starts_with(word))
                .map(|(v, _)| Pair {
                    display: v.to_string(),
                    replacement: format!("{v} "),
                })
                .collect();
            return Ok((start, v));
        };
        let local = matches!(verb.as_str(), "lcd" | "mput")
            || (verb == "put" && words.len() == 1)
            || (verb == "get" && words.len() == 2);
        if local {
            return self.files.complete(line, pos, ctx);
        }
        let (dir, prefix) = match word.rfind('/') {
            Some(i) => (&word[..=i], &word[i + 1..]),
            None => ("", word),
        };
        let names = self.remote_names(dir);
        let v = names
            .into_iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, is_dir)| {
                let esc = n.replace(' ', "\\ ");
                Pair {
                    display: if is_dir { format!("{n}/") } else { n.clone() },
                    replacement: format!("{dir}{esc}{}", if is_dir { "/" } else { " " }),
                }
            })
            .collect();
        Ok((start, v))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kftp_history"))
}

struct Shell {
    g: Global,
    session: Session,
    bars: Arc<Bars>,
    ascii: bool,
}

/// Runs the shell until `bye` or end of input.
pub async fn run(g: Global, url: Option<String>) -> Result<()> {
    let bars = Bars::new(g.quiet);
    let mut sh = Shell {
        ascii: g.ascii,
        g,
        session: Arc::new(tokio::sync::Mutex::new(None)),
        bars,
    };
    // Fed by a script rather than a person, the shell exits with the code of the first
    // command that failed, so that a failure (say, an mget that refused names) is seen.
    let scripted = !std::io::stdin().is_terminal();
    let mut failures: Option<(ErrorKind, usize)> = None;
    let mut failed = |e: &Error| {
        eprintln!("kftp: {e}");
        let f = failures.get_or_insert((e.kind(), 0));
        f.1 += 1;
    };
    if let Some(u) = url {
        if let Err(e) = sh.exec(&["open".to_string(), u]).await {
            failed(&e);
        }
    }
    let helper = ShellHelper {
        session: sh.session.clone(),
        handle: Handle::current(),
        files: FilenameCompleter::new(),
        cache: Mutex::new(HashMap::new()),
    };
    let mut ed: Editor<ShellHelper, DefaultHistory> =
        Editor::new().map_err(|e| Error::new(ErrorKind::Local, format!("line editor: {e}")))?;
    ed.set_helper(Some(helper));
    if let Some(h) = history_path() {
        let _ = ed.load_history(&h);
    }
    loop {
        if let Some(h) = ed.helper_mut() {
            h.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        let (back, line) = tokio::task::spawn_blocking(move || {
            let line = ed.readline("kftp> ");
            (ed, line)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Local, format!("line editor: {e}")))?;
        ed = back;
        let line = match line {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::new(ErrorKind::Local, format!("reading input: {e}"))),
        };
        let words = split_args(&line);
        if words.is_empty() {
            continue;
        }
        let _ = ed.add_history_entry(line.as_str());
        if matches!(words[0].as_str(), "bye" | "quit" | "exit") {
            break;
        }
        if let Err(e) = sh.exec(&words).await {
            failed(&e);
        }
    }
    if let Some(h) = history_path() {
        let _ = ed.save_history(&h);
    }
    if let Some(c) = sh.session.lock().await.take() {
        c.quit().await;
    }
    match failures {
        Some((kind, n)) if scripted => Err(Error::new(
            kind,
            format!("shell: {n} command(s) failed; the exit code is the first one's"),
        )),
        _ => Ok(()),
    }
}

fn need(words: &[String], n: usize, usage: &str) -> Result<()> {
    if words.len() < n + 1 {
        return Err(Error::usage(format!("usage: {usage}")));
    }
    Ok(())
}

impl Shell {
    async fn exec(&mut self, words: &[String]) -> Result<()> {
        let verb = words[0].as_str();
        let args = &words[1..];
        match verb {
            "help" | "?" => {
                let text: String = VERBS.iter().map(|(_, h)| format!("  {h}\n")).collect();
                return write_stdout(text.as_bytes());
            }
            "open" => {
                need(words, 1, "open URL|HOST[:PORT]")?;
                let t = Target::parse(&args[0])?;
                let mut c = connect(&t, &self.g).await?;
                if !t.path.is_empty() {
                    c.cwd(t.path.trim_end_matches('/')).await?;
                }
                if let Some(old) = self.session.lock().await.replace(c) {
                    old.quit().await;
                }
                println!("Connected to {}.", t.authority());
                return Ok(());
            }
            "lcd" => {
                let dir = match args.first() {
                    Some(d) => PathBuf::from(d),
                    None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()),
                };
                std::env::set_current_dir(&dir)
                    .map_err(|e| Error::local(format!("lcd {}", dir.display()), e))?;
                let d = std::env::current_dir().map_err(|e| Error::local("lcd", e))?;
                println!("Local directory now {}", d.display());
                return Ok(());
            }
            "lpwd" => {
                let d = std::env::current_dir().map_err(|e| Error::local("lpwd", e))?;
                println!("{}", d.display());
                return Ok(());
            }
            "binary" | "bin" => {
                self.ascii = false;
                return Ok(());
            }
            "ascii" => {
                self.ascii = true;
                return Ok(());
            }
            _ => {}
        }
        let mut guard = self.session.lock().await;
        if verb == "close" || verb == "disconnect" {
            if let Some(c) = guard.take() {
                c.quit().await;
            }
            return Ok(());
        }
        let Some(c) = guard.as_mut() else {
            return Err(Error::usage(format!("{verb}: not connected (use open)")));
        };
        let opts = |resume| TransferOptions {
            resume,
            ascii: self.ascii,
            preserve_mtime: true,
            ..Default::default()
        };
        match verb {
            "cd" | "cwd" => {
                need(words, 1, "cd DIR")?;
                c.cwd(&args[0]).await?;
            }
            "cdup" => c.cwd("..").await?,
            "pwd" => println!("{}", c.pwd().await?),
            "ls" | "dir" => {
                let long = verb == "dir" || args.first().is_some_and(|a| a == "-l");
                let path = args
                    .iter()
                    .find(|a| !a.starts_with('-'))
                    .cloned()
                    .unwrap_or_default();
                let listing = c.list(&path).await?;
                warn_refused(verb, &path, &listing.refused);
                let mut out = String::new();
                for e in listing.entries {
                    let slash = if e.kind == kftp::Kind::Dir { "/" } else { "" };
                    if long {
                        let size = e.size.map(|s| s.to_string()).unwrap_or_default();
                        let when = e.mtime.map(format_time).unwrap_or_default();
                        out.push_str(&format!("{size:>12} {when} {}{slash}\n", e.name));
                    } else {
                        out.push_str(&format!("{}{slash}\n", e.name));
                    }
                }
                write_stdout(out.as_bytes())?;
            }
            "get" | "reget" => {
                let resume = verb == "reget" || args.first().is_some_and(|a| a == "-c");
                let a: Vec<&String> = args.iter().filter(|a| *a != "-c").collect();
                need(words, 1, "get [-c] REMOTE [LOCAL]")?;
                let remote = a.first().map(|s| s.as_str()).unwrap_or_default();
                let local = match a.get(1) {
                    Some(l) => PathBuf::from(l),
                    None => default_local(Path::new(""), remote)?,
                };
                transfer_get(c, &self.bars, remote, &local, &opts(resume)).await?;
            }
            "put" | "reput" => {
                let resume = verb == "reput" || args.first().is_some_and(|a| a == "-c");
                let a: Vec<&String> = args.iter().filter(|a| *a != "-c").collect();
                need(words, 1, "put [-c] LOCAL [REMOTE]")?;
                let local = PathBuf::from(a.first().map(|s| s.as_str()).unwrap_or_default());
                let remote = match a.get(1) {
                    Some(r) => r.to_string(),
                    None => local
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                };
                transfer_put(c, &self.bars, &local, &remote, &opts(resume)).await?;
            }
            "mget" => {
                need(words, 1, "mget PATTERN...")?;
                // Names in the listing are the server's: one that is not a plain file
                // name (`../x`, `/tmp/x`) is refused, reported and makes mget fail, after
                // the others are fetched. Files land in the current local directory.
                let mut refused = 0;
                let mut files = Vec::new();
                for pattern in args {
                    let (dir, pat) = match pattern.rfind('/') {
                        Some(i) => (&pattern[..=i], &pattern[i + 1..]),
                        None => ("", pattern.as_str()),
                    };
                    let listing = c.list(dir).await?;
                    let bad: Vec<_> = listing
                        .refused
                        .into_iter()
                        .filter(|r| r.kind != kftp::Kind::Dir && wildmatch(pat, &r.name))
                        .collect();
                    warn_refused("mget", dir, &bad);
                    refused += bad.len();
                    let found: Vec<kftp::RemoteEntry> = listing
                        .entries
                        .into_iter()
                        .filter(|e| e.kind == kftp::Kind::File && wildmatch(pat, &e.name))
                        .collect();
                    if found.is_empty() && bad.is_empty() {
                        eprintln!("mget: nothing matches {pattern}");
                    }
                    for e in found {
                        let n = &e.name;
                        let paths = kftp::localname::child(Path::new(""), n)
                            .and_then(|l| Ok((l, kftp::localname::remote_child(dir, n)?)));
                        let (local, remote) = match paths {
                            Ok(p) => p,
                            Err(e) => {
                                eprintln!("mget: {e}; skipped");
                                refused += 1;
                                continue;
                            }
                        };
                        let exact = e.precision == kftp_proto::listing_parse::Precision::Seconds;
                        files.push(kftp::pipeline::GetFile {
                            remote,
                            local,
                            size: e.size,
                            mtime: e.mtime.filter(|_| exact),
                        });
                    }
                }
                if !self.ascii && c.pipelines() {
                    let mut queue = files.into_iter();
                    let mut first = None;
                    let run = kftp::pipeline::Run {
                        next: &mut || queue.next(),
                        done: &mut |f: kftp::pipeline::GetFile, r| {
                            if let Err(e) = r {
                                eprintln!("mget: {}: {e}", f.remote);
                                first.get_or_insert(e);
                            }
                        },
                        progress: self.bars.as_ref(),
                    };
                    c.get_pipelined(run).await?;
                    if let Some(e) = first {
                        return Err(e);
                    }
                } else {
                    for f in files {
                        transfer_get(c, &self.bars, &f.remote, &f.local, &opts(false)).await?;
                    }
                }
                if refused > 0 {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("mget: refused {refused} of the server's entries (unsafe names)"),
                    ));
                }
            }
            "mput" => {
                need(words, 1, "mput PATTERN...")?;
                let mut files = Vec::new();
                for pattern in args {
                    let p = Path::new(pattern);
                    let dir = p
                        .parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(Path::new("."));
                    let pat = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let rd = std::fs::read_dir(dir)
                        .map_err(|e| Error::local(format!("mput {pattern}"), e))?;
                    let mut names: Vec<String> = rd
                        .filter_map(|e| e.ok())
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| wildmatch(&pat, n))
                        .collect();
                    names.sort();
                    if names.is_empty() {
                        eprintln!("mput: nothing matches {pattern}");
                    }
                    files.extend(names.into_iter().map(|n| kftp::pipeline::PutFile {
                        local: dir.join(&n),
                        remote: n,
                        preserve_mtime: true,
                    }));
                }
                if !self.ascii && c.pipelines() {
                    let mut queue = files.into_iter();
                    let mut first = None;
                    let run = kftp::pipeline::Run {
                        next: &mut || queue.next(),
                        done: &mut |f: kftp::pipeline::PutFile, r| {
                            if let Err(e) = r {
                                eprintln!("mput: {}: {e}", f.local.display());
                                first.get_or_insert(e);
                            }
                        },
                        progress: self.bars.as_ref(),
                    };
                    c.put_pipelined(run).await?;
                    if let Some(e) = first {
                        return Err(e);
                    }
                } else {
                    for f in files {
                        transfer_put(c, &self.bars, &f.local, &f.remote, &opts(false)).await?;
                    }
                }
            }
            "rm" | "delete" | "del" | "mdelete" => {
                need(words, 1, "rm FILE...")?;
                for a in args {
                    c.delete(a).await?;
                }
            }
            "mkdir" => {
                need(words, 1, "mkdir DIR")?;
                c.mkdir(&args[0]).await?;
            }
            "rmdir" => {
                need(words, 1, "rmdir DIR")?;
                c.rmdir(&args[0]).await?;
            }
            "rename" | "mv" => {
                need(words, 2, "rename FROM TO")?;
                c.rename(&args[0], &args[1]).await?;
            }
            "cat" => {
                need(words, 1, "cat FILE")?;
                let mut out = tokio::io::stdout();
                c.cat(&args[0], &mut out).await?;
            }
            "hash" => {
                need(words, 1, "hash FILE")?;
                let (algo, hex) = c.remote_hash(&args[0], None).await?;
                println!("{} ({}) = {hex}", algo.name(), args[0]);
            }
            "size" => {
                need(words, 1, "size FILE")?;
                match c.size(&args[0]).await? {
                    Some(n) => println!("{n}"),
                    None => println!("the server has no SIZE command"),
                }
            }
            "passive" => {
                let mode = if c.options().mode == DataMode::Passive {
                    DataMode::Active
                } else {
                    DataMode::Passive
                };
                c.set_mode(mode);
                println!(
                    "{} mode.",
                    if mode == DataMode::Passive {
                        "Passive"
                    } else {
                        "Active"
                    }
                );
            }
            "quote" | "raw" | "literal" => {
                need(words, 1, "quote LINE")?;
                let r = c.raw(&args.join(" ")).await?;
                for (i, l) in r.lines.iter().enumerate() {
                    let sep = if i + 1 == r.lines.len() { ' ' } else { '-' };
                    println!("{}{sep}{l}", r.code);
                }
            }
            other => {
                return Err(Error::usage(format!(
                    "unknown command '{other}' (try help)"
                )))
            }
        }
        Ok(())
    }
}

async fn transfer_get(
    c: &mut Client,
    bars: &Bars,
    remote: &str,
    local: &Path,
    o: &TransferOptions,
) -> Result<()> {
    let size = c.size(remote).await.ok().flatten();
    let counter = bars.begin(remote, size, 0);
    let r = c.get(remote, local, o, &counter).await;
    bars.end(remote, r.as_ref().err().map(|e| e.to_string()).as_deref());
    r.map(drop)
}

async fn transfer_put(
    c: &mut Client,
    bars: &Bars,
    local: &Path,
    remote: &str,
    o: &TransferOptions,
) -> Result<()> {
    let size = std::fs::metadata(local).ok().map(|m| m.len());
    let counter = bars.begin(remote, size, 0);
    let r = c.put(local, remote, o, &counter).await;
    bars.end(remote, r.as_ref().err().map(|e| e.to_string()).as_deref());
    r.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            split_args(r#"get "a b.txt" c\ d"#),
            vec!["get", "a b.txt", "c d"]
        );
        assert_eq!(split_args("  ls   "), vec!["ls"]);
        assert_eq!(split_args(r#"put """#), vec!["put", ""]);
    }

    #[test]
    fn globs() {
        assert!(wildmatch("*.txt", "a.txt"));
        assert!(!wildmatch("*.txt", "a.txt.gz"));
        assert!(wildmatch("a?c*", "abcdef"));
        assert!(wildmatch("*", ""));
        assert!(!wildmatch("?", ""));
    }
}
