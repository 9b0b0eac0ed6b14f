//! kftpd inside another program's tokio runtime, started from the same argument list as the
//! command line. The test kit uses it so that timer tests can run the real server on a
//! paused clock (`tokio::time::pause`) instead of sleeping.
//!
//! What stays with the binary (`main.rs`): logging set-up, the first-start default account,
//! raising `RLIMIT_NOFILE`, SIGXFSZ, privilege drop and confinement. Landlock and seccomp
//! confine the whole process, so an embedded server refuses to start unless given
//! `--no-sandbox` (and without `--seccomp`/`--user`): tests of those run the binary.

use crate::cli::Cli;
use crate::config::Config;
use crate::session::Shared;
use anyhow::Context;
use clap::FromArgMatches;
use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// A server bound to its listeners, not yet serving.
pub struct Embedded {
    shared: Arc<Shared>,
    listeners: Vec<(tokio::net::TcpListener, bool)>,
    /// The control listeners' bound addresses, in `--listen` order.
    pub addrs: Vec<SocketAddr>,
    /// The implicit FTPS listeners' bound addresses, in `--implicit-listen` order.
    pub implicit_addrs: Vec<SocketAddr>,
    /// SHA-256 fingerprint of the certificate, when TLS is on.
    pub fingerprint: Option<String>,
}

/// Flags (without the program name) to configuration, as the binary resolves them:
/// defaults < config file < environment < flags. The one place to follow when that changes.
fn resolve(args: Vec<OsString>) -> anyhow::Result<Config> {
    let argv = std::iter::once(OsString::from("kftpd")).chain(args);
    let matches = crate::cli::command().try_get_matches_from(argv)?;
    let cli = Cli::from_arg_matches(&matches)?;
    anyhow::ensure!(
        cli.command.is_none(),
        "an embedded server takes serving flags, not a subcommand"
    );
    let flags = cli.serve;
    let file = flags
        .config
        .as_deref()
        .map(crate::config::load)
        .transpose()?;
    Ok(crate::config::resolve(flags, file.unwrap_or_default())?)
}

/// Parses `args` like the command line, runs the same start-up refusals, and binds. Call
/// inside a tokio runtime; then [`Embedded::serve`].
pub async fn bind_with_args<I, T>(args: I) -> anyhow::Result<Embedded>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut cfg = resolve(args.into_iter().map(Into::into).collect())?;
    anyhow::ensure!(
        !cfg.ops.sandbox && !cfg.ops.seccomp && cfg.ops.user.is_none(),
        "an embedded server cannot confine or switch users (that would apply to the whole \
         process): pass --no-sandbox, and run the binary to test --seccomp or --user"
    );
    crate::hardening::check_root(&cfg, false)?;
    crate::hardening::check_metrics(&cfg)?;
    if crate::storage::Root::is_local(&cfg.root) {
        std::fs::create_dir_all(&cfg.root)?;
        cfg.root = std::fs::canonicalize(&cfg.root)?;
    }
    let users = crate::auth::Users::load(&cfg.users_file)
        .with_context(|| format!("users file {}", cfg.users_file.display()))?;
    crate::hardening::check_private_paths(&cfg, &users).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&cfg.state_dir)?;
    let tls = match (cfg.tls_enabled, &cfg.tls_cert, &cfg.tls_key) {
        (false, ..) => None,
        (true, Some(c), Some(k)) => Some(kftp_tls::ServerTls::load(c, k)?),
        (true, ..) => Some(kftp_tls::ServerTls::load_or_generate(
            &cfg.state_dir,
            &["localhost".into(), "127.0.0.1".into(), "::1".into()],
        )?),
    }
    .map(Arc::new);
    let mut bound = crate::startup::bind_all(&cfg)?;
    let xferlog = crate::startup::open_xferlog(&cfg)?;
    let admin = crate::admin::prepare(&cfg)?;
    let mut listeners = Vec::new();
    let (mut addrs, mut implicit_addrs) = (Vec::new(), Vec::new());
    for (list, implicit) in [(&cfg.listen, false), (&cfg.implicit_listen, true)] {
        for a in list {
            let l = bound.take(a)?;
            let at = l.local_addr()?;
            if implicit {
                implicit_addrs.push(at);
            } else {
                addrs.push(at);
            }
            listeners.push((l, implicit));
        }
    }
    let fingerprint = tls.as_ref().map(|t| t.fingerprint_sha256());
    let mut shared = Shared::new(cfg, users);
    shared.events = crate::events::Events::start(&crate::events::Hooks::of(&shared.config))?;
    shared.tls = tls;
    shared.ops.xferlog = xferlog;
    let shared = Arc::new(shared);
    crate::startup::start_services(&shared, &mut bound)?;
    crate::admin::start(&shared, admin)?;
    Ok(Embedded {
        shared,
        listeners,
        addrs,
        implicit_addrs,
        fingerprint,
    })
}

impl Embedded {
    /// Serves until `shutdown` resolves, then drains like SIGTERM does.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let drain = self.shared.config.ops.drain_timeout;
        crate::server::run(self.shared, self.listeners, shutdown, drain).await;
    }
}
