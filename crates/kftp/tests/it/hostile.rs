//! The `kftp` binary against a hostile server: a small FTP server in this file (std
//! sockets on 127.0.0.1, canned replies; without MLSD in FEAT, so that LIST is parsed,
//! and once with it) whose listings name `../escape`, an absolute path, `a/../../b`, `..` and friends beside an
//! honest `ok.txt`. `mirror` and the shell's `mget` must fetch the honest files, create
//! nothing outside their target, name every refused entry on stderr and exit non-zero.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every RETR sends, and every listing says each file holds.
const BODY: &[u8] = b"hello";

/// One entry of a canned listing: `'-'` (file) or `'d'` (directory), and its name.
type Entry = (char, String);

/// The server: canned listings by directory, and a record of what the client asked for.
struct Hostile {
    port: u16,
    /// `LIST <arg>` and `RETR <arg>` lines received, in order, over all sessions.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    /// Serves `listings` (directory as the client names it, without a trailing `/`,
    /// `""` for the login directory -> its entries) until the test process ends, with
    /// MLSD announced in FEAT if `mlsd`.
    fn start(listings: HashMap<String, Vec<Entry>>, mlsd: bool) -> Hostile {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listings = Arc::new(listings);
        let s = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                let (s, listings) = (s.clone(), listings.clone());
                std::thread::spawn(move || {
                    let _ = session(c, &listings, mlsd, &s);
                });
            }
        });
        Hostile { port, seen }
    }

    fn url(&self) -> String {
        format!("ftp://127.0.0.1:{}/", self.port)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn session(
    ctl: TcpStream,
    listings: &HashMap<String, Vec<Entry>>,
    mlsd: bool,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    ctl.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(ctl.try_clone()?);
    let mut w = ctl;
    let mut pasv: Option<TcpListener> = None;
    w.write_all(b"220 hostile test server\r\n")?;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let verb = verb.to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "USER" => "331 any password will do\r\n".into(),
            "PASS" => "230 logged in\r\n".into(),
            // Without MLST the client must parse LIST.
            "FEAT" => format!(
                "211-Features:\r\n EPSV\r\n PASV\r\n SIZE\r\n MDTM\r\n{}211 End\r\n",
                if mlsd {
                    " MLST type*;size*;modify*;\r\n"
                } else {
                    ""
                }
            ),
            "PWD" => "257 \"/\" is the current directory\r\n".into(),
            "CWD" | "CDUP" => "250 ok\r\n".into(),
            "TYPE" | "OPTS" | "NOOP" => "200 ok\r\n".into(),
            "SIZE" => format!("213 {}\r\n", BODY.len()),
            "MDTM" => "213 20200101000000\r\n".into(),
            "EPSV" | "PASV" => {
                let l = TcpListener::bind("127.0.0.1:0")?;
                let p = l.local_addr()?.port();
                pasv = Some(l);
                if verb == "EPSV" {
                    format!("229 Entering Extended Passive Mode (|||{p}|)\r\n")
                } else {
                    format!(
                        "227 Entering Passive Mode (127,0,0,1,{},{})\r\n",
                        p >> 8,
                        p & 0xff
                    )
                }
            }
            "LIST" | "NLST" | "MLSD" | "RETR" => {
                seen.lock().unwrap().push(format!("{verb} {arg}"));
                let body = if verb == "RETR" {
                    BODY.to_vec()
                } else {
                    let key = arg.trim_start_matches('/').trim_end_matches('/');
                    let entries = listings.get(key).cloned().unwrap_or_default();
                    let mut out = String::new();
                    if verb == "MLSD" {
                        out.push_str("type=cdir;modify=20200101000000; .\r\n");
                    }
                    for (kind, name) in &entries {
                        let line = match verb.as_str() {
                            "NLST" => name.clone(),
                            "MLSD" => mlsd_line(*kind, name),
                            _ => ls(*kind, name),
                        };
                        out.push_str(&line);
                        out.push_str("\r\n");
                    }
                    out.into_bytes()
                };
                let Some(l) = pasv.take() else {
                    w.write_all(b"425 use PASV or EPSV first\r\n")?;
                    continue;
                };
                w.write_all(b"150 here it comes\r\n")?;
                let mut d = accept_within(&l, Duration::from_secs(20))?;
                d.write_all(&body)?;
                drop(d);
                "226 done\r\n".into()
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => "502 not here\r\n".into(),
        };
        w.write_all(reply.as_bytes())?;
    }
}

fn accept_within(l: &TcpListener, limit: Duration) -> std::io::Result<TcpStream> {
    l.set_nonblocking(true)?;
    let end = Instant::now() + limit;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// An `ls -l` line for a file (`-`) or directory (`d`) called `name`.
fn ls(kind: char, name: &str) -> String {
    let (mode, size) = if kind == 'd' {
        ("drwxr-xr-x", 4096)
    } else {
        ("-rw-r--r--", BODY.len())
    };
    format!("{mode} 1 u g {size} Jan  1  2020 {name}")
}

/// An MLSD line for a file (`-`) or directory (`d`) called `name`.
fn mlsd_line(kind: char, name: &str) -> String {
    let ty = if kind == 'd' { "dir" } else { "file" };
    format!(
        "type={ty};size={};modify=20200101000000; {name}",
        BODY.len()
    )
}

/// The names the hostile listings use, and the directory outside the target that the
/// absolute one points into.
struct Scene {
    _tmp: tempfile::TempDir,
    /// Everything the test may touch: `work/` (the client's current directory, with
    /// `dst/` the mirror target) and `abs-dir/` (where the absolute name points).
    top: PathBuf,
    work: PathBuf,
    abs: String,
    server: Hostile,
}

/// The refused names of the login directory's listing, and how stderr shows each one.
fn root_refused(abs: &str) -> Vec<(String, String)> {
    let names = [
        "../escape".to_string(),
        abs.to_string(),
        "a/../../b".to_string(),
        "..".to_string(),
        "..\\win".to_string(),
        "esc\u{1b}[2Jape".to_string(),
    ];
    names.into_iter().map(|n| (format!("{n:?}"), n)).collect()
}

impl Scene {
    fn new() -> Scene {
        Scene::serving(false)
    }

    /// The scene, with the server announcing MLSD if `mlsd`.
    fn serving(mlsd: bool) -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().canonicalize().unwrap();
        let work = top.join("work");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(top.join("abs-dir")).unwrap();
        let abs = top.join("abs-dir/abs").to_str().unwrap().to_string();
        let mut root: Vec<Entry> = root_refused(&abs)
            .into_iter()
            .map(|(_, n)| ('-', n))
            .collect();
        for (kind, name) in [
            ('d', "."),
            ('d', ".."),
            ('d', "../updir"),
            ('d', "sub"),
            ('-', "ok.txt"),
        ] {
            root.push((kind, name.to_string()));
        }
        let sub = vec![
            ('-', "inner.txt".to_string()),
            ('-', "../../sub-escape".to_string()),
        ];
        let server = Hostile::start(
            HashMap::from([(String::new(), root), ("sub".to_string(), sub)]),
            mlsd,
        );
        Scene {
            _tmp: tmp,
            top,
            work,
            abs,
            server,
        }
    }

    /// Runs kftp in `work/` with `stdin` as its input.
    fn kftp(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kftp"))
            .args(args)
            .arg("--netrc")
            .arg(self.top.join("no-netrc"))
            .args(["--timeout", "20"])
            .current_dir(&self.work)
            .env_remove("KFTP_PASSWORD")
            .env("HOME", &self.top)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kftp");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().expect("kftp output")
    }

    /// Every path under `top` (relative, `/`-separated; symlinks not followed), apart
    /// from the shell's history file.
    fn tree(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![self.top.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let rel = e
                    .path()
                    .strip_prefix(&self.top)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                if rel.ends_with(".kftp_history") {
                    continue;
                }
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
                out.insert(rel);
            }
        }
        out
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_names_refused(stderr: &str, names: &[String]) {
    for n in names {
        assert!(
            stderr.contains(&format!("refusing the server's entry {n}")),
            "stderr does not name {n}:\n{stderr}"
        );
    }
    assert!(
        !stderr.contains('\u{1b}'),
        "a raw escape from the server reached the terminal:\n{stderr}"
    );
}

#[test]
fn mirror_refuses_names_that_leave_the_target() {
    mirror_refuses(false);
}

#[test]
fn mirror_over_mlsd_refuses_the_same_names() {
    mirror_refuses(true);
}

fn mirror_refuses(mlsd: bool) {
    let s = Scene::serving(mlsd);
    let o = s.kftp(&["mirror", &s.server.url(), "dst"], "");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr:\n{stderr}");
    // Exactly the honest files, inside the target; nothing beside it or elsewhere.
    assert_eq!(
        s.tree(),
        set(&[
            "abs-dir",
            "work",
            "work/dst",
            "work/dst/ok.txt",
            "work/dst/sub",
            "work/dst/sub/inner.txt",
        ]),
        "stderr:\n{stderr}"
    );
    assert_eq!(std::fs::read(s.work.join("dst/ok.txt")).unwrap(), BODY);
    assert!(!Path::new(&s.abs).exists());
    let mut refused: Vec<String> = root_refused(&s.abs).into_iter().map(|(q, _)| q).collect();
    refused.extend([
        "\"../updir\"".to_string(),
        "\"../../sub-escape\"".to_string(),
    ]);
    assert_names_refused(&stderr, &refused);
    // The summary counts them as refused, not transferred.
    assert!(
        stderr.contains("mirror: 2 transferred, 8 refused, 0 failed"),
        "{stderr}"
    );
    // The remote side too: nothing was listed or fetched outside the listed directories.
    // (The mirror's sessions fetch in parallel, so the two RETRs come in either order.)
    let list = if mlsd { "MLSD" } else { "LIST" };
    let mut seen = s.server.seen();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            format!("{list} "),
            format!("{list} sub"),
            "RETR ok.txt".to_string(),
            "RETR sub/inner.txt".into()
        ]
    );
}

#[test]
fn shell_mget_refuses_names_that_leave_the_directory() {
    let s = Scene::new();
    let o = s.kftp(&["shell", &s.server.url()], "mget *\nmget sub/*\nbye\n");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert_eq!(
        s.tree(),
        set(&["abs-dir", "work", "work/ok.txt", "work/inner.txt"]),
        "stderr:\n{stderr}"
    );
    assert_eq!(std::fs::read(s.work.join("ok.txt")).unwrap(), BODY);
    let mut refused: Vec<String> = root_refused(&s.abs).into_iter().map(|(q, _)| q).collect();
    refused.push("\"../../sub-escape\"".to_string());
    assert_names_refused(&stderr, &refused);
    assert!(
        stderr.contains("mget: refused 6 of the server's entries"),
        "{stderr}"
    );
    assert!(
        stderr.contains("mget: refused 1 of the server's entries"),
        "{stderr}"
    );
    assert_eq!(
        s.server.seen(),
        vec!["LIST ", "RETR ok.txt", "LIST sub/", "RETR sub/inner.txt"]
    );
}

#[test]
fn mirror_does_not_write_through_planted_symlinks() {
    let s = Scene::new();
    let outside = s.top.join("outside");
    let dst = s.work.join("dst");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    // A directory the server lists, and a file it lists, both links out of the target.
    std::os::unix::fs::symlink(&outside, dst.join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), dst.join("ok.txt")).unwrap();
    let o = s.kftp(&["mirror", &s.server.url(), "dst"], "");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "wrote through a link; stderr:\n{stderr}"
    );
    for link in ["sub", "ok.txt"] {
        assert!(
            stderr.contains(&format!(
                "refusing to write through the symbolic link {}",
                Path::new("dst").join(link).display()
            )),
            "{link}: {stderr}"
        );
        assert!(dst.join(link).symlink_metadata().unwrap().is_symlink());
    }
    // sub (the directory), sub/inner.txt, ok.txt, and the 8 hostile names.
    assert!(
        stderr.contains("mirror: 0 transferred, 11 refused, 0 failed"),
        "{stderr}"
    );
}
