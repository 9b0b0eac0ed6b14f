//! The `kftpd` binary: parse flags, set up logging, bind, serve until a signal.

use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches};
use kftpd::auth::{users, Users};
use kftpd::cli::{Cli, Sub, UserCmd};
use kftpd::session::Shared;
use kftpd::storage::Root;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

#[path = "../../../dist/generate.rs"]
mod generate;

fn main() -> ExitCode {
    if let Some(code) = generate::requested(Cli::command, "8") {
        return code;
    }
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The config file sits under the flags and the environment.
    let file = match &cli.command {
        None => kftpd::config_file::merge(&mut cli.serve, &matches),
        Some(_) => Ok(None),
    };
    let result = match (&cli.command, file) {
        (_, Err(e)) => Err(e.into()),
        (Some(Sub::User(cmd)), _) => user_cmd(cmd),
        (Some(Sub::Admin(a)), _) => kftpd::admin::client::run(a),
        (Some(Sub::CheckConfig { file }), _) => {
            kftpd::config_file::check_cmd(file.as_deref().or(cli.serve.ops.config.as_deref()))
        }
        (None, Ok(file)) => serve(&cli, file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kftpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn user_cmd(cmd: &UserCmd) -> Result<()> {
    let UserCmd::Add {
        name,
        users: path,
        root,
        perms,
        password_stdin,
        tls_reuse,
        quota_bytes,
        quota_files,
        quota_upload_per_day,
        quota_download_per_day,
    } = cmd;
    let password = if *password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let p = rpassword::prompt_password(format!("Password for {name}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(p == again, "passwords differ");
        p
    };
    anyhow::ensure!(!password.is_empty(), "empty password");
    let root = match root {
        Some(r) if !Root::is_local(r) => {
            Root::parse(r).map_err(anyhow::Error::msg)?;
            Some(r.clone())
        }
        Some(r) => Some(std::fs::canonicalize(r).with_context(|| format!("root {}", r.display()))?),
        None => None,
    };
    let existed = users::add_user(path, name, &password, root, perms.clone())?;
    if let Some(reuse) = tls_reuse {
        let required = match reuse.as_str() {
            "required" => Some(true),
            "optional" => Some(false),
            _ => None,
        };
        users::set_tls_reuse_required(path, name, required)?;
    }
    let quota = kftpd::quota::Limits {
        bytes: *quota_bytes,
        files: *quota_files,
        upload_per_day: *quota_upload_per_day,
        download_per_day: *quota_download_per_day,
    };
    if quota.any() {
        users::set_quota(path, name, quota)?;
    }
    println!(
        "{} user '{name}' in {}",
        if existed { "updated" } else { "added" },
        path.display()
    );
    Ok(())
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// First start with no users file: create one account and remember its password in the
/// state directory, so that the embedded default works without any setup. Returns the
/// password only when it was just created (it is printed once; later starts say where it
/// is), and whether an initial-password file exists.
fn ensure_default_user(
    cfg: &kftpd::config::Config,
    explicit: bool,
) -> Result<(Option<String>, bool)> {
    let pw_file = cfg.state_dir.join("initial-password");
    if explicit {
        return Ok((None, false));
    }
    if !cfg.users_file.exists() {
        let pw = random_password();
        users::add_user(&cfg.users_file, "kftp", &pw, None, None)?;
        users::write_private(&pw_file, format!("{pw}\n").as_bytes())?;
        return Ok((Some(pw), true));
    }
    Ok((None, pw_file.exists()))
}

fn serve(cli: &Cli, file: Option<kftpd::config_file::FileConfig>) -> Result<()> {
    let args = &cli.serve;
    let mut cfg = args.to_config();
    if let Some(f) = &file {
        f.apply_to_config(&mut cfg);
    }
    cfg.ops.validate()?;
    anyhow::ensure!(
        cfg.event_exec.is_empty() || !cfg.ops.seccomp,
        "--event-exec runs a program (execve), which --seccomp forbids: use one or the other"
    );
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
    if args.log_format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        // Colours only on a terminal: files and journald get plain text.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    }
    // No arguments and no KFTPD_* settings from the environment (KFTPD_LOG is only the log
    // level): the embedded default.
    let embedded_default = std::env::args_os().len() == 1
        && file.is_none()
        && !std::env::vars_os().any(|(k, _)| {
            let k = k.to_string_lossy();
            k.starts_with("KFTPD_") && k != "KFTPD_LOG"
        });
    // After the log is set up: it warns as well as refuses.
    kftpd::auth::pam::check_config(&cfg)?;
    kftpd::hardening::check_root(&cfg, embedded_default)?;
    kftpd::hardening::check_metrics(&cfg)?;
    let cfg = if Root::is_local(&cfg.root) {
        std::fs::create_dir_all(&cfg.root)
            .with_context(|| format!("creating root {}", cfg.root.display()))?;
        kftpd::config::Config {
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
    kftpd::hardening::check_private_paths(&cfg, &known).map_err(anyhow::Error::msg)?;
    {
        use std::os::unix::fs::DirBuilderExt;
        // Owner only: it holds the initial password and the generated TLS key.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.state_dir)
            .with_context(|| format!("creating state dir {}", cfg.state_dir.display()))?;
    }
    kftpd::hardening::check_modes(&cfg)?;
    kftpd::storage::local::set_upload_mode(cfg.upload_mode);
    // No generated `kftp` account when the users file is not asked (`--auth pam`).
    let file_auth = cfg.auth.contains(&kftpd::auth::pam::Source::File);
    let (initial, has_initial) = ensure_default_user(&cfg, args.users.is_some() || !file_auth)?;
    let users = Users::load(&cfg.users_file)?;
    if users.is_empty() && !cfg.anonymous && file_auth {
        tracing::warn!(users = %cfg.users_file.display(), "no accounts: nobody can log in (add one with `kftpd user add`)");
    }
    if cfg.tls_policy == kftpd::config::TlsPolicy::Never {
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
    // Thousands of sessions need thousands of descriptors: lift the soft limit.
    match kftpd::limits::raise_nofile() {
        Ok((old, new)) => tracing::debug!(?old, ?new, "RLIMIT_NOFILE soft limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE"),
    }
    // Bind (ports below 1024 need root), open the transfer log, then drop privileges and
    // confine the process while it is still single-threaded.
    let mut pre = kftpd::ops::bind_all(&cfg)?;
    let xferlog = kftpd::ops::open_xferlog(&cfg)?;
    let admin = kftpd::admin::prepare(&cfg)?;
    // The event hooks' thread starts outside the sandbox (see Events::start).
    let events = kftpd::events::Events::start(&kftpd::events::Hooks::of(&cfg))?;
    kftpd::ops::confine(&cfg, &users, tls.as_deref())?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        kftpd::limits::catch_sigxfsz();
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
            if let Some(pw) = &initial {
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
            } else if has_initial {
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
        if let Some(t) = &tls {
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
        drop(out);
        let mut shared = Shared::new(cfg, users);
        shared.events = events;
        shared.tls = tls;
        shared.ops.xferlog = xferlog;
        let shared = Arc::new(shared);
        kftpd::ops::start(&shared, &mut pre)?;
        kftpd::admin::start(&shared, admin)?;
        let drain = shared.config.ops.drain_timeout;
        kftpd::server::run(shared, listeners, kftpd::signals::stop_requested(), drain).await;
        Ok::<_, anyhow::Error>(())
    })
}
