//! kftpd inside another program's tokio runtime, started from the same argument list as the
//! command line. The test kit uses it so that timer tests can run the real server on a
//! paused clock (`tokio::time::pause`) instead of sleeping.
//!
//! It runs the binary's own start-up (`startup::prepare`, then
//! `startup::launch` inside the runtime). What stays with the binary
//! (`startup::run`): logging set-up, raising `RLIMIT_NOFILE`, SIGXFSZ, privilege drop and
//! confinement; and the users file is always the caller's (no first-start account in it).
//! Landlock and seccomp
//! confine the whole process, so an embedded server refuses to start unless given
//! `--no-sandbox` (and without `--seccomp`/`--user`): tests of those run the binary.

use crate::cli::Cli;
use crate::config::Config;
use crate::session::Shared;
use clap::FromArgMatches;
use std::ffi::OsString;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// A server bound to its listeners, not yet serving.
pub struct Embedded {
    shared: Arc<Shared>,
    listeners: crate::server::Listeners,
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
    let cfg = resolve(args.into_iter().map(Into::into).collect())?;
    anyhow::ensure!(
        !cfg.ops.sandbox && !cfg.ops.seccomp && cfg.ops.user.is_none(),
        "an embedded server cannot confine or switch users (that would apply to the whole \
         process): pass --no-sandbox, and run the binary to test --seccomp or --user"
    );
    // The binary's own sequence, less what belongs to a process (see the module comment).
    // The users file is the caller's: no default account is made in it.
    let ready = crate::startup::prepare(cfg, false, true)?;
    let (shared, listeners) = crate::startup::launch(ready)?;
    let (mut addrs, mut implicit_addrs) = (Vec::new(), Vec::new());
    for (l, implicit) in &listeners {
        let at = l.local_addr()?;
        if *implicit {
            implicit_addrs.push(at);
        } else {
            addrs.push(at);
        }
    }
    let fingerprint = shared.tls.as_ref().map(|t| t.fingerprint_sha256());
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
