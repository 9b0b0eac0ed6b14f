//! Starting the server, in order: resolve the settings, set up logging, check the
//! deployment (root, private paths, modes), create the default account on a first start,
//! load TLS, bind (ports below 1024 need root), open the transfer log, drop privileges and
//! confine the process while it is single-threaded, then print the banner and serve until
//! [`crate::signals::stop_requested`], draining on the way out ([`crate::shutdown`]).

use crate::auth::{users, Users};
use crate::config::{Config, LogFormat, Settings, TlsPolicy};
use crate::session::Shared;
use crate::storage::Root;
use crate::xferlog::Xferlog;
use anyhow::{Context, Result};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `kftpd` without a subcommand: `flags` are the command line and the `KFTPD_*` variables;
/// the file they name (`--config`) goes under them.
pub fn serve(flags: Settings) -> Result<()> {
    let file = flags
        .config
        .as_deref()
        .map(crate::config::load)
        .transpose()?;
    // No arguments and no KFTPD_* settings from the environment (KFTPD_LOG is only the log
    // level): the embedded default.
    let embedded_default = std::env::args_os().len() == 1
        && file.is_none()
        && !std::env::vars_os().any(|(k, _)| {
            let k = k.to_string_lossy();
            k.starts_with("KFTPD_") && k != "KFTPD_LOG"
        });
    // A users file somebody named is theirs to fill; only the default one gets an account.
    let users_named = flags.users.is_some() || file.as_ref().is_some_and(|f| f.users.is_some());
    let cfg = crate::config::resolve(flags, file.unwrap_or_default())?;
    init_logging(cfg.ops.log_format);
    run(cfg, embedded_default, users_named)
}

/// Logs go to stderr, as text (coloured on a terminal) or JSON.
fn init_logging(format: LogFormat) {
    // Libraries speak only of errors unless KFTPD_LOG names them: rustls warns about every
    // client that sends an IP address as SNI (lftp, gvfs, Net::FTP do), which is harmless and
    // drowned real warnings. `KFTPD_LOG=debug` is kftpd's debug; `debug,rustls=debug` adds
    // rustls's.
    const QUIET_LIBRARIES: &[&str] =
        &["rustls=error", "opendal=warn", "reqwest=warn", "hyper=warn"];
    let asked = std::env::var("KFTPD_LOG").unwrap_or_else(|_| "info".into());
    let mut spec = asked.clone();
    for quiet in QUIET_LIBRARIES {
        let target = quiet.split('=').next().unwrap_or(quiet);
        if !asked.contains(target) {
            spec = format!("{spec},{quiet}");
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&spec)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rustls=error"));
    match format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        // Colours only on a terminal: files and journald get plain text.
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init(),
    }
}

/// Everything after the settings and logging, up to the end of the drain.
fn run(cfg: Config, embedded_default: bool, users_named: bool) -> Result<()> {
    let ready = prepare(cfg, embedded_default, users_named)?;
    // Thousands of sessions need thousands of descriptors: lift the soft limit.
    match crate::limits::raise_nofile() {
        Ok((old, new)) => tracing::debug!(?old, ?new, "RLIMIT_NOFILE soft limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE"),
    }
    // Drop privileges and confine the process while it is still single-threaded.
    confine(&ready.cfg, &ready.users, ready.tls.as_deref())?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        crate::limits::catch_sigxfsz();
        let (shared, listeners) = launch(ready)?;
        let drain = shared.config.ops.drain_timeout;
        crate::server::run(shared, listeners, crate::signals::stop_requested(), drain).await;
        Ok::<_, anyhow::Error>(())
    })
}

/// What start-up has made ready before the runtime exists: checked settings, the accounts,
/// TLS, the bound sockets, the transfer log, the admin listener and the event hooks. The
/// binary confines the process next; it and [`crate::embed`] then [`launch`] it.
pub(crate) struct Ready {
    cfg: Config,
    users: Users,
    tls: Option<Arc<kftp_tls::ServerTls>>,
    bound: Bound,
    xferlog: Option<Xferlog>,
    admin: Option<crate::admin::Prepared>,
    events: crate::events::Events,
    first: FirstLogin,
}

/// The start-up checks and everything bound or opened before the runtime (ports below 1024
/// need root, the transfer log's descriptor must stay writable after the privilege drop).
/// `embedded_default`: started with no settings at all; `users_named`: the users file is
/// the operator's, so no default account is made in it.
pub(crate) fn prepare(cfg: Config, embedded_default: bool, users_named: bool) -> Result<Ready> {
    // After the log is set up: it warns as well as refuses.
    crate::auth::pam::check_config(&cfg)?;
    crate::hardening::check_root(&cfg, embedded_default)?;
    crate::hardening::check_metrics(&cfg)?;
    let cfg = if Root::is_local(&cfg.root) {
        std::fs::create_dir_all(&cfg.root)
            .with_context(|| format!("creating root {}", cfg.root.display()))?;
        Config {
            root: std::fs::canonicalize(&cfg.root)?,
            ..cfg
        }
    } else {
        Root::parse(&cfg.root).map_err(anyhow::Error::msg)?;
        cfg
    };
    // kftpd's own files (state, users, keys, logs) must not be downloadable: check the
    // layout before anything is written into the state directory.
    let known = Users::load(&cfg.users_file).unwrap_or_default();
    crate::hardening::check_private_paths(&cfg, &known).map_err(anyhow::Error::msg)?;
    {
        use std::os::unix::fs::DirBuilderExt;
        // Owner only: it holds the initial password and the generated TLS key.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.state_dir)
            .with_context(|| format!("creating state dir {}", cfg.state_dir.display()))?;
    }
    crate::hardening::check_modes(&cfg)?;
    crate::storage::local::set_upload_mode(cfg.upload_mode);
    // No generated `kftp` account when the users file is not asked (`--auth pam`).
    let file_auth = cfg.auth.contains(&crate::config::AuthSource::File);
    let first = ensure_default_user(&cfg, users_named || !file_auth)?;
    let users = Users::load(&cfg.users_file)
        .with_context(|| format!("users file {}", cfg.users_file.display()))?;
    if users.is_empty() && !cfg.anonymous && file_auth {
        tracing::warn!(users = %cfg.users_file.display(), "no accounts: nobody can log in (add one with `kftpd user add`)");
    }
    if cfg.tls_policy == TlsPolicy::Never {
        tracing::warn!("--no-tls-required: passwords may cross the network in clear text");
    }
    let tls = if cfg.tls_enabled {
        let t = match (&cfg.tls_cert, &cfg.tls_key) {
            (Some(c), Some(k)) => kftp_tls::ServerTls::load(c, k)?,
            _ => kftp_tls::ServerTls::load_or_generate(
                &cfg.state_dir,
                &["localhost".into(), "127.0.0.1".into(), "::1".into()],
            )?,
        };
        Some(Arc::new(t))
    } else {
        None
    };
    let bound = bind_all(&cfg)?;
    let xferlog = open_xferlog(&cfg)?;
    let admin = crate::admin::prepare(&cfg)?;
    // The event hooks' thread starts outside the sandbox (see Events::start).
    let events = crate::events::Events::start(&crate::events::Hooks::of(&cfg))?;
    Ok(Ready {
        cfg,
        users,
        tls,
        bound,
        xferlog,
        admin,
        events,
        first,
    })
}

/// Inside the runtime: takes the listeners (announcing them on stdout), builds the state
/// every session shares and starts the services beside the sessions (metrics, SIGHUP
/// reload, quota writer, certificate watch, admin API). Returns them for
/// [`crate::server::run`].
pub(crate) fn launch(mut r: Ready) -> Result<(Arc<Shared>, crate::server::Listeners)> {
    let listeners = take_and_announce(&r.cfg, &mut r.bound, &r.first, r.tls.as_deref())?;
    let mut shared = Shared::new(r.cfg, r.users);
    shared.events = r.events;
    shared.tls = r.tls;
    shared.ops.xferlog = r.xferlog;
    let shared = Arc::new(shared);
    start_services(&shared, &mut r.bound)?;
    crate::admin::start(&shared, r.admin)?;
    Ok((shared, listeners))
}

/// Takes the bound control listeners into the runtime and says on stdout where kftpd
/// listens, how to log in the first time and which certificate it presents (tests and
/// scripts read these lines). Returns each listener with whether it is implicit FTPS.
fn take_and_announce(
    cfg: &Config,
    pre: &mut Bound,
    first: &FirstLogin,
    tls: Option<&kftp_tls::ServerTls>,
) -> Result<crate::server::Listeners> {
    let mut listeners = Vec::new();
    let mut out = std::io::stdout().lock();
    for addr in &cfg.listen {
        let l = pre.take(addr)?;
        let bound = l.local_addr()?;
        writeln!(
            out,
            "kftpd {} listening on {bound}, serving {}",
            env!("CARGO_PKG_VERSION"),
            cfg.root.display()
        )?;
        if let Some(pw) = &first.password {
            let host = match bound {
                std::net::SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
                a => a.to_string(),
            };
            writeln!(
                out,
                "  log in as kftp / {pw}   (from {}; change with `kftpd user add kftp`)",
                cfg.state_dir.join("initial-password").display()
            )?;
            writeln!(out, "  try: curl -u kftp:{pw} ftp://{host}/")?;
        } else if first.password_file {
            writeln!(
                out,
                "  log in as kftp with the password in {} (shown only on the first start)",
                cfg.state_dir.join("initial-password").display()
            )?;
        }
        listeners.push((l, false));
    }
    for addr in &cfg.implicit_listen {
        let l = pre.take(addr)?;
        writeln!(out, "kftpd implicit FTPS listening on {}", l.local_addr()?)?;
        listeners.push((l, true));
    }
    if let Some(t) = tls {
        writeln!(
            out,
            "  TLS certificate {} SHA-256 {}{}",
            t.cert_path().display(),
            t.fingerprint_sha256(),
            if t.is_generated() {
                " (self-signed: pin it with kftp --pin-sha256)"
            } else {
                ""
            }
        )?;
    }
    out.flush()?;
    Ok(listeners)
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The default account's password, as far as the banner may tell.
#[derive(Debug, Default)]
struct FirstLogin {
    /// Just created: printed once.
    password: Option<String>,
    /// An initial-password file exists (later starts say where it is).
    password_file: bool,
}

/// First start with no users file: create one account and remember its password in the
/// state directory, so that the embedded default works without any setup. Not when the
/// users file was named (`explicit`): that one is the operator's to fill.
fn ensure_default_user(cfg: &Config, explicit: bool) -> Result<FirstLogin> {
    let pw_file = cfg.state_dir.join("initial-password");
    if explicit {
        return Ok(FirstLogin::default());
    }
    if !cfg.users_file.exists() {
        let pw = random_password();
        users::add_user(&cfg.users_file, "kftp", &pw, None, None)?;
        users::write_private(&pw_file, format!("{pw}\n").as_bytes())?;
        return Ok(FirstLogin {
            password: Some(pw),
            password_file: true,
        });
    }
    Ok(FirstLogin {
        password: None,
        password_file: pw_file.exists(),
    })
}

/// Sockets bound before the runtime starts (while still root, before the sandbox).
#[derive(Debug, Default)]
pub struct Bound {
    control: Vec<(SocketAddr, std::net::TcpListener)>,
    metrics: Option<std::net::TcpListener>,
}

impl Bound {
    /// The listener bound for `addr`, for the runtime (call inside it).
    pub fn take(&mut self, addr: &SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
        let i = self
            .control
            .iter()
            .position(|(a, _)| a == addr)
            .ok_or_else(|| std::io::Error::other(format!("{addr} was not bound")))?;
        let (_, l) = self.control.remove(i);
        tokio::net::TcpListener::from_std(l)
    }
}

fn bind_std(addr: &SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    use anyhow::Context;
    let l = std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Binds every listener: control, implicit FTPS and metrics.
pub fn bind_all(cfg: &Config) -> anyhow::Result<Bound> {
    let mut b = Bound::default();
    for a in cfg.listen.iter().chain(&cfg.implicit_listen) {
        b.control.push((*a, bind_std(a)?));
    }
    if let Some(a) = &cfg.ops.metrics_listen {
        b.metrics = Some(bind_std(a)?);
    }
    Ok(b)
}

/// Opens the transfer log (before dropping privileges: the descriptor stays writable).
pub fn open_xferlog(cfg: &Config) -> anyhow::Result<Option<Xferlog>> {
    use anyhow::Context;
    cfg.ops
        .xferlog
        .as_deref()
        .map(|p| Xferlog::open(p).with_context(|| format!("opening xferlog {}", p.display())))
        .transpose()
}

fn parent(p: &std::path::Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Drops privileges (`--user`), then applies Landlock (`--sandbox`) and seccomp
/// (`--seccomp`). Call while the process is single-threaded, after binding and loading keys.
pub fn confine(
    cfg: &Config,
    users: &crate::auth::Users,
    tls: Option<&kftp_tls::ServerTls>,
) -> anyhow::Result<()> {
    if let Some(u) = &cfg.ops.user {
        crate::privdrop::drop_to(u, crate::auth::pam::groups_to_keep(cfg))?;
    }
    let pam = crate::auth::pam::landlock_paths(cfg);
    if cfg.ops.sandbox && pam.is_none() {
        tracing::warn!("Landlock not applied: --auth pam serves home directories, which are known only at login (set --pam-root to keep the sandbox)");
    }
    if let (true, Some((pam_rw, pam_ro))) = (cfg.ops.sandbox, pam) {
        let mut rw = vec![cfg.root.clone(), cfg.state_dir.clone()];
        rw.extend(users.roots().map(|p| p.to_path_buf()));
        rw.extend(pam_rw);
        let object_roots = rw.iter().any(|p| !crate::storage::Root::is_local(p));
        rw.retain(|p| crate::storage::Root::is_local(p));
        rw.extend(cfg.ops.xferlog.as_deref().map(parent));
        let mut ro = vec![parent(&cfg.users_file)];
        ro.extend(pam_ro);
        if cfg.admin_listen.is_some() {
            rw.push(parent(&cfg.users_file)); // the admin API edits the users file
        }
        if object_roots {
            // The S3 client resolves names and verifies certificates: load its roots now
            // and leave /etc (resolv.conf, hosts, ssl) readable.
            crate::storage::object::prepare();
            ro.push("/etc".into());
        }
        ro.extend(cfg.ops.config_file.as_deref().map(parent));
        if let Some(t) = tls {
            ro.push(parent(t.cert_path()));
        }
        ro.extend(cfg.tls_key.as_deref().map(parent));
        // certbot's live/ names are symlinks into archive/: renewals land beside the targets.
        for p in cfg.tls_cert.iter().chain(&cfg.tls_key) {
            ro.extend(std::fs::canonicalize(p).ok().as_deref().map(parent));
        }
        // A directory that does not exist (yet) cannot be a Landlock rule; leave it out
        // rather than refuse to start (its users cannot log in until a restart).
        let exists = |p: &PathBuf| {
            let ok = p.exists();
            if !ok {
                tracing::warn!(path = %p.display(), "not in the Landlock sandbox: it does not exist; accounts under it cannot log in until kftpd restarts");
            }
            ok
        };
        rw.retain(exists);
        ro.retain(exists);
        crate::sandbox::apply_landlock(&rw, &ro)?;
    } else if !cfg.ops.sandbox {
        tracing::info!("Landlock not applied (--no-sandbox)");
    }
    if cfg.ops.seccomp {
        crate::sandbox::apply_seccomp()?;
    }
    Ok(())
}

/// Starts the metrics endpoint and the SIGHUP reloader (inside the runtime).
fn start_services(shared: &Arc<Shared>, bound: &mut Bound) -> anyhow::Result<()> {
    if let Some(l) = bound.metrics.take() {
        let l = tokio::net::TcpListener::from_std(l)?;
        let addr = l.local_addr()?;
        tracing::info!(addr = %addr, "metrics endpoint listening (GET /metrics)");
        println!("kftpd metrics on http://{addr}/metrics");
        tokio::spawn(crate::metrics_http::serve(shared.clone(), l));
    }
    crate::signals::spawn_reloader(shared.clone());
    shared.quotas.spawn_writer();
    if let (Some(tls), Some(key)) = (&shared.tls, &shared.config.tls_key) {
        crate::certwatch::spawn(tls.clone(), key.clone(), shared.config.tls_reload_interval);
    }
    Ok(())
}
