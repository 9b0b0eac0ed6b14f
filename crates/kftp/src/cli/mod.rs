//! The `kftp` binary: arguments -> library objects -> output. No protocol logic here.
//!
//! - `args`: the clap definition (flags, help, exit-code table).
//! - `bars`: indicatif progress bars behind [`kftp::Progress`].
//! - `shell`: the interactive session.

pub mod args;
pub mod bars;
pub mod shell;

use args::{Cli, Cmd, Global};
use bars::Bars;
use kftp::{
    Client, ConnectOptions, DataMode, Error, ErrorKind, HashAlgo, MirrorOptions, Progress,
    Relogins, Result, Security, Target, TlsSetup, TransferOptions,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Builds the TLS client config from the flags.
pub fn tls_config(g: &Global) -> Result<Arc<rustls::ClientConfig>> {
    let opts = kftp_tls::ClientTlsOptions {
        pin_sha256: g.pin_sha256.clone(),
        insecure: g.insecure,
        extra_roots: g.ca_file.clone(),
        ..Default::default()
    };
    if g.insecure && g.pin_sha256.is_none() {
        eprintln!("kftp: warning: --insecure accepts any certificate; an active attacker can read this session");
    }
    kftp_tls::client_config(&opts).map_err(|e| {
        let kind = match e {
            kftp_tls::TlsError::BadPin(_) => ErrorKind::Usage,
            kftp_tls::TlsError::Io { .. } | kftp_tls::TlsError::Pem { .. } => ErrorKind::Local,
            _ => ErrorKind::Tls,
        };
        Error::new(kind, format!("TLS setup: {e}"))
    })
}

/// Connection options for `target` from the flags.
pub fn connect_options(target: &Target, g: &Global) -> Result<ConnectOptions> {
    let security = match (target.security, g.tls) {
        (Security::Implicit, _) => Security::Implicit,
        (_, true) => Security::Explicit,
        _ => Security::Plain,
    };
    if security == Security::Plain
        && (g.pin_sha256.is_some() || g.insecure || !g.ca_file.is_empty())
    {
        return Err(Error::usage(
            "--pin-sha256, --insecure and --ca-file need --tls or an ftps:// URL",
        ));
    }
    let tls = if security == Security::Plain {
        None
    } else {
        let config = tls_config(g)?;
        Some(TlsSetup::new(config, &target.host).map_err(|e| {
            Error::usage(format!(
                "'{}' cannot be a TLS server name: {e}",
                target.host
            ))
        })?)
    };
    let mut opts = ConnectOptions::new(target.host.clone(), target.port);
    opts.security = security;
    opts.tls = tls;
    opts.mode = if g.active {
        DataMode::Active
    } else {
        DataMode::Passive
    };
    opts.timeout = Duration::from_secs(g.timeout.max(1));
    Ok(opts)
}

/// Who to log in as, from the URL, the environment, netrc, or a prompt.
pub fn credentials(target: &Target, g: &Global) -> Result<kftp::Credentials> {
    if target.password.is_some() {
        eprintln!(
            "kftp: warning: a password in the URL is visible to other users (ps, shell history); prefer ~/.netrc or {}",
            kftp::creds::PASSWORD_ENV
        );
    }
    let path = g.netrc.clone().or_else(kftp::creds::default_netrc_path);
    let netrc = match &path {
        Some(p) => kftp::creds::load_netrc(p)
            .map_err(|e| Error::local(format!("reading {}", p.display()), e))?,
        None => kftp::netrc::Netrc::default(),
    };
    let env = std::env::var(kftp::creds::PASSWORD_ENV).ok();
    let host = target.host.clone();
    Ok(kftp::creds::resolve(target, &netrc, env, |user| {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        rpassword::prompt_password(format!("Password for {user}@{host}: "))
            .ok()
            .map(kftp::Password::new)
    }))
}

/// Connects and logs in to `target`.
pub async fn connect(target: &Target, g: &Global) -> Result<Client> {
    connect_asking(target, g, None).await
}

/// [`connect`] for a get of `mlst`: its MLST goes out with the login's settings
/// ([`kftp::client::Greeted::login_asking`]), one round trip fewer before the download.
pub async fn connect_asking(target: &Target, g: &Global, mlst: Option<&str>) -> Result<Client> {
    let opts = connect_options(target, g)?;
    let creds = credentials(target, g)?;
    let mut c = Client::connect_asking(opts, creds, mlst)
        .await
        .map_err(|e| e.context(target.authority()))?;
    // get, put, mirror and the shell use MODE E by themselves where the server offers it
    // and is far enough away for streams to pay (`Client::set_streams_auto`).
    match g.streams {
        Some(n) => c.set_streams(n),
        None => {
            c.set_streams_auto()
                .await
                .map_err(|e| e.context(target.authority()))?;
        }
    }
    Ok(c)
}

fn basename(path: &str) -> &str {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
}

/// The local file a download of `remote` writes when the user gave no file name: the
/// remote file's name, in `dir` (`""` for the current directory). A name that is not one
/// plain component (`..`, a trailing `/`) cannot be used.
pub fn default_local(dir: &Path, remote: &str) -> Result<PathBuf> {
    kftp::localname::child(dir, basename(remote)).map_err(|e| {
        Error::usage(format!(
            "get {remote}: no usable local file name ({e}); give one"
        ))
    })
}

/// Tells the user, on stderr, about each entry of the listing of `dir` refused for its
/// name.
pub fn warn_refused(verb: &str, dir: &str, refused: &[kftp::RefusedEntry]) {
    for r in refused {
        eprintln!("{verb}: {}", kftp::localname::refusal_message(dir, r));
    }
}

fn file_path(t: &Target, what: &str) -> Result<String> {
    if t.is_dir_like() {
        return Err(Error::usage(format!(
            "{what} needs a file path in the URL, not a directory"
        )));
    }
    Ok(t.path.clone())
}

fn human(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

fn summary(quiet: bool, verb: &str, name: &str, r: &kftp::TransferReport) {
    if quiet || !std::io::stderr().is_terminal() {
        return;
    }
    let secs = r.elapsed.as_secs_f64().max(1e-6);
    eprintln!(
        "{verb} {name}: {} in {:.2} s ({}/s, {})",
        human(r.bytes),
        secs,
        human((r.bytes as f64 / secs) as u64),
        r.path.name()
    );
}

fn parse_algo(s: &str) -> Result<HashAlgo> {
    let norm = s.to_ascii_lowercase().replace('-', "");
    Ok(match norm.as_str() {
        "sha256" => HashAlgo::Sha256,
        "sha512" => HashAlgo::Sha512,
        "sha1" => HashAlgo::Sha1,
        "md5" => HashAlgo::Md5,
        "crc" | "crc32" => HashAlgo::Crc32,
        _ => {
            return Err(Error::usage(format!(
                "unknown hash algorithm '{s}' (sha256, sha512, sha1, md5, crc32)"
            )))
        }
    })
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let g = cli.global;
    let bars = Bars::new(g.quiet);
    let topts = |resume| TransferOptions {
        resume,
        ascii: g.ascii,
        preserve_mtime: true,
        ..Default::default()
    };
    match cli.cmd {
        Cmd::Ls { url, long } => {
            let t = Target::parse(&url)?;
            let mut c = connect(&t, &g).await?;
            let listing = c.list(&t.path).await?;
            warn_refused("ls", &t.path, &listing.refused);
            let mut out = String::new();
            for e in listing.entries {
                let slash = if e.kind == kftp::Kind::Dir { "/" } else { "" };
                if long {
                    let kind = match e.kind {
                        kftp::Kind::Dir => 'd',
                        kftp::Kind::Symlink => 'l',
                        kftp::Kind::File => '-',
                        kftp::Kind::Other => '?',
                    };
                    let size = e.size.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
                    let when = e.mtime.map(format_time).unwrap_or_else(|| "-".into());
                    let link = e
                        .link_target
                        .as_deref()
                        .map(|t| format!(" -> {t}"))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "{kind} {size:>12} {when} {}{slash}{link}\n",
                        e.name
                    ));
                } else {
                    out.push_str(&format!("{}{slash}\n", e.name));
                }
            }
            write_stdout(out.as_bytes())?;
            c.quit().await;
        }
        Cmd::Get {
            url,
            local,
            resume,
            segments,
            verify,
        } => {
            let t = Target::parse(&url)?;
            let remote = file_path(&t, "get")?;
            let local = match local {
                Some(p) if p.is_dir() => default_local(&p, &remote)?,
                Some(p) => p,
                None => default_local(Path::new(""), &remote)?,
            };
            let segmented = segments > 1 && !resume && !g.ascii;
            // The whole-file get asks MLST first: it goes out with the login's settings.
            let ask = (!segmented).then_some(remote.as_str());
            let mut c = connect_asking(&t, &g, ask).await?;
            let r = if segmented {
                let size = c.size(&remote).await.ok().flatten();
                let counter = bars.begin(&remote, size, 0);
                let r = c
                    .get_segmented(&remote, &local, segments, size, counter)
                    .await;
                bars.end(&remote, r.as_ref().err().map(|e| e.to_string()).as_deref());
                r?
            } else {
                // Size and time in one round trip (MLST), handed to the get so that it asks
                // neither again.
                let (size, mtime) = c.size_and_mtime(&remote).await.unwrap_or_default();
                let done = if resume {
                    std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0)
                } else {
                    0
                };
                let counter = bars.begin(&remote, size, done);
                let opts = TransferOptions {
                    size,
                    mtime,
                    ..topts(resume)
                };
                // An empty file has nothing to go on with (and resuming it would skip
                // setting its time).
                let plain = resume || g.ascii || size == Some(0);
                let r = match plain || c.mode_e_applies(c.streams(), g.ascii) {
                    true => c.get(&remote, &local, &opts, &counter).await,
                    false => get_going_on(&mut c, &remote, &local, &opts, &counter).await,
                };
                bars.end(&remote, r.as_ref().err().map(|e| e.to_string()).as_deref());
                r?
            };
            summary(g.quiet, "got", &remote, &r);
            if verify {
                let (algo, h) = c.verify(&local, &remote).await?;
                if !g.quiet {
                    eprintln!("verified {remote}: {} {h}", algo.name());
                }
            }
            c.quit().await;
        }
        Cmd::Put {
            local,
            url,
            resume,
            verify,
        } => {
            let t = Target::parse(&url)?;
            let name = local.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                Error::usage(format!("{} has no usable file name", local.display()))
            })?;
            let remote = if t.is_dir_like() {
                format!("{}{name}", t.path)
            } else {
                t.path.clone()
            };
            let size = std::fs::metadata(&local)
                .map_err(|e| Error::local(format!("put {}", local.display()), e))?
                .len();
            let mut c = connect(&t, &g).await?;
            let counter = bars.begin(&remote, Some(size), 0);
            let r = c.put(&local, &remote, &topts(resume), &counter).await;
            bars.end(&remote, r.as_ref().err().map(|e| e.to_string()).as_deref());
            let r = r?;
            summary(g.quiet, "put", &remote, &r);
            if verify {
                let (algo, h) = c.verify(&local, &remote).await?;
                if !g.quiet {
                    eprintln!("verified {remote}: {} {h}", algo.name());
                }
            }
            c.quit().await;
        }
        Cmd::Rm { urls } => {
            let t = Target::parse(&urls[0])?;
            let mut c = connect(&t, &g).await?;
            c.delete(&file_path(&t, "rm")?).await?;
            for extra in &urls[1..] {
                let p = if kftp::target::is_url(extra) {
                    Target::parse(extra)?.path
                } else {
                    extra.clone()
                };
                c.delete(&p).await?;
            }
            c.quit().await;
        }
        Cmd::Mkdir { url, parents } => {
            let t = Target::parse(&url)?;
            let path = t.path.trim_end_matches('/').to_string();
            if path.is_empty() {
                return Err(Error::usage("mkdir needs a directory path in the URL"));
            }
            let mut c = connect(&t, &g).await?;
            if parents {
                let mut prefix = String::new();
                for part in path.split('/') {
                    if !prefix.is_empty() || path.starts_with('/') {
                        prefix.push('/');
                    }
                    prefix.push_str(part);
                    if part.is_empty() {
                        continue;
                    }
                    if let Err(e) = c.mkdir(&prefix).await {
                        // Exists already? Then CWD into it works.
                        let pwd = c.pwd().await?;
                        if c.cwd(&prefix).await.is_err() {
                            return Err(e);
                        }
                        c.cwd(&pwd).await?;
                    }
                }
            } else {
                c.mkdir(&path).await?;
            }
            c.quit().await;
        }
        Cmd::Rmdir { url } => {
            let t = Target::parse(&url)?;
            let mut c = connect(&t, &g).await?;
            c.rmdir(t.path.trim_end_matches('/')).await?;
            c.quit().await;
        }
        Cmd::Mv { url, to } => {
            let t = Target::parse(&url)?;
            let mut c = connect(&t, &g).await?;
            c.rename(t.path.trim_end_matches('/'), &to).await?;
            c.quit().await;
        }
        Cmd::Cat { url } => {
            let t = Target::parse(&url)?;
            let path = file_path(&t, "cat")?;
            let mut c = connect(&t, &g).await?;
            let mut out = tokio::io::stdout();
            match c.cat(&path, &mut out).await {
                Err(e) if is_broken_pipe(&e) => return Ok(()),
                r => r?,
            };
            c.quit().await;
        }
        Cmd::Hash { url, algo } => {
            let t = Target::parse(&url)?;
            let path = file_path(&t, "hash")?;
            let prefer = algo.as_deref().map(parse_algo).transpose()?;
            let mut c = connect(&t, &g).await?;
            let (algo, hex) = c.remote_hash(&path, prefer).await?;
            write_stdout(format!("{} ({path}) = {hex}\n", algo.name()).as_bytes())?;
            c.quit().await;
        }
        Cmd::Copy { src, dst, verify } => {
            let (from, to) = (Target::parse(&src)?, Target::parse(&dst)?);
            plain_only(&g, &from, &to, "copy")?;
            let src_path = file_path(&from, "copy")?;
            let dst_path = if to.is_dir_like() {
                format!("{}{}", to.path, basename(&src_path))
            } else {
                to.path.clone()
            };
            let mut a = connect(&from, &g).await?;
            let mut b = connect(&to, &g).await?;
            let mut r = kftp::copy::copy(&mut a, &src_path, &mut b, &dst_path).await;
            let mut checked = None;
            if verify && r.is_ok() {
                match kftp::copy::verify(&mut a, &src_path, &mut b, &dst_path).await {
                    Ok(v) => checked = Some(v),
                    Err(e) => r = Err(e),
                }
            }
            a.quit().await;
            b.quit().await;
            let r = r?;
            if let (Some((algo, h)), false) = (checked, g.quiet) {
                eprintln!("verified {dst_path}: {} {h}", algo.name());
            }
            if !g.quiet && std::io::stderr().is_terminal() {
                let secs = r.elapsed.as_secs_f64().max(1e-6);
                let size = r.bytes.map_or("?".into(), human);
                let rate = r
                    .bytes
                    .map_or("?".into(), |b| human((b as f64 / secs) as u64));
                eprintln!(
                    "copied {src_path} to {}: {size} in {secs:.2} s ({rate}/s, server to server, {} stream{})",
                    to.authority(),
                    r.streams,
                    if r.streams == 1 { "" } else { "s" }
                );
            }
        }
        Cmd::Mirror {
            src,
            dst,
            delete,
            parallel,
            dry_run,
        } => {
            let opts = MirrorOptions {
                delete,
                parallel: parallel.max(1),
                dry_run,
            };
            let progress: Arc<dyn Progress> = bars.clone();
            let report = match (kftp::target::is_url(&src), kftp::target::is_url(&dst)) {
                (true, false) => {
                    let t = Target::parse(&src)?;
                    let mut c = connect(&t, &g).await?;
                    let r = kftp::mirror_down(&mut c, &t.path, Path::new(&dst), &opts, progress).await;
                    c.quit().await;
                    r?
                }
                (false, true) => {
                    let t = Target::parse(&dst)?;
                    let local = Path::new(&src);
                    if !local.is_dir() {
                        return Err(Error::new(ErrorKind::NotFound, format!("{src} is not a local directory")));
                    }
                    let mut c = connect(&t, &g).await?;
                    let r = kftp::mirror_up(&mut c, local, t.path.trim_end_matches('/'), &opts, progress).await;
                    c.quit().await;
                    r?
                }
                (true, true) => {
                    let (from, to) = (Target::parse(&src)?, Target::parse(&dst)?);
                    plain_only(&g, &from, &to, "mirror between two servers")?;
                    let mut a = connect(&from, &g).await?;
                    let mut b = connect(&to, &g).await?;
                    let r = kftp::mirror_across(&mut a, from.path.trim_end_matches('/'), &mut b, to.path.trim_end_matches('/'), &opts, progress).await;
                    a.quit().await;
                    b.quit().await;
                    r?
                }
                _ => return Err(Error::usage("mirror needs a URL: 'mirror URL DIR' downloads, 'mirror DIR URL' uploads, 'mirror URL URL' copies server to server")),
            };
            // A run with failures or refusals ends above, with the counts in its error.
            if !g.quiet {
                bars.println(&format!(
                    "mirror: {} transferred ({}), {} up to date, {} deleted, {} directories created",
                    report.transferred,
                    human(report.bytes),
                    report.up_to_date,
                    report.deleted,
                    report.dirs_created
                ));
            }
        }
        Cmd::Shell { url } => shell::run(g, url).await?,
    }
    Ok(())
}

/// A binary MODE S get that goes on where its connection drops (reset, closed, stalled,
/// `421`, `426`), as lftp's does: into the temporary file beside `local`, from what it holds
/// (REST), over a new login each time ([`Relogins`]), then renamed into place. The temporary file goes
/// when the get fails for good, as [`Client::get`]'s own does; `-c` keeps a partial file.
async fn get_going_on(
    c: &mut Client,
    remote: &str,
    local: &Path,
    opts: &TransferOptions,
    counter: &std::sync::atomic::AtomicU64,
) -> Result<kftp::TransferReport> {
    let tmp = kftp::transfer::temp_path(local);
    // Made here, empty, so that every try resumes into it (O_EXCL: nothing planted there
    // is followed or taken over).
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::local(format!("creating {}", tmp.display()), e))?;
    let opts = TransferOptions {
        resume: true,
        ..opts.clone()
    };
    let mut relogins = Relogins::default();
    let r = loop {
        match c.get(remote, &tmp, &opts, counter).await {
            // 426: the server saw the data connection close (or closed it) mid-file.
            Err(e)
                if relogins.left()
                    && (e.session_gone() || e.server_reply().is_some_and(|r| r.code == 426)) =>
            {
                let n = relogins.pause().await;
                let at = std::fs::metadata(&tmp).map_or(0, |m| m.len());
                tracing::info!(
                    "get {remote}: {e}; going on from byte {at} over a new login \
                     ({n} of {})",
                    Relogins::MAX
                );
                match c.reconnect().await {
                    Ok(fresh) => *c = fresh,
                    Err(e) => break Err(e),
                }
            }
            r => break r,
        }
    };
    let renamed = r.and_then(|report| {
        std::fs::rename(&tmp, local)
            .map(|()| report)
            .map_err(|e| Error::local(format!("renaming into {}", local.display()), e))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

/// A server-to-server transfer moves the data between the servers in the clear (kftp
/// cannot have them encrypt it to each other: that takes SSCN), so TLS is refused
/// up front rather than dropped.
fn plain_only(g: &Global, from: &Target, to: &Target, what: &str) -> Result<()> {
    if g.tls || from.security != Security::Plain || to.security != Security::Plain {
        return Err(Error::usage(format!(
            "{what} moves the data between the servers in the clear (kftp cannot have them \
             encrypt it to each other): give plain ftp:// URLs without --tls, or use get \
             and put"
        )));
    }
    Ok(())
}

fn is_broken_pipe(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Writes to stdout; a closed pipe (`kftp ls | head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::local("writing output", e))
        }
        _ => Ok(()),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_time(t: i64) -> String {
    let c = kftp_proto::time::civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}
