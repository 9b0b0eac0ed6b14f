//! One control connection: read a line, parse it, apply policy, dispatch, reply.
//!
//! A session is one tokio task. It polls a running transfer ([`Running`], see
//! [`crate::transfer`]) beside the control connection so that ABOR, STAT and NOOP are
//! answered while bytes move; any other command that arrives during a transfer waits for
//! it to finish, preserving order. It is the control connection's only writer: a MODE E
//! transfer's `111`/`112` markers ([`crate::modee::markers`]) are written by it too,
//! between whole replies.

pub mod control;
mod dispatch;
pub mod policy;

use crate::auth::{Perms, Users};
use crate::config::Config;
use crate::datachan::{DataSetup, PortPool};
use crate::metrics::Metrics;
use crate::modee::markers::Markers;
use crate::storage::Storage;
use control::{Control, CtrlStream, Line};
use kftp_proto::command::{HashAlgo, Prot, TransferType};
use kftp_proto::path::VPath;
use kftp_proto::{parse_line, Command, Reply};
use kftp_tls::{accept_control, Lineage, ServerTls};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// State shared by every session of one server.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// Accounts; replaced whole on reload.
    pub users: RwLock<Arc<Users>>,
    /// Passive port allocation.
    pub ports: PortPool,
    /// Counters.
    pub metrics: Metrics,
    /// Session ids.
    pub next_id: AtomicU64,
    /// Certificates, when TLS is enabled.
    pub tls: Option<Arc<ServerTls>>,
    /// Failed-login bans, sessions per user, bandwidth limiters.
    pub abuse: crate::limits::Abuse,
    /// Shutdown stage, transfer log, reloadable passive addresses.
    pub ops: crate::opstate::OpsState,
    /// Per-user disk counts and daily transfer counters.
    pub quotas: Arc<crate::quota::Quotas>,
    /// `--event-exec` (off unless started in the runtime).
    pub events: crate::events::Events,
    /// Live sessions, for the admin API.
    pub sessions: crate::admin::registry::Registry,
    /// Recent successful logins (cleared on reload).
    pub auth_cache: crate::auth::cache::AuthCache,
    /// PAM logins (`--auth pam`).
    pub pam: crate::auth::pam::Pam,
}

impl Shared {
    /// Shared state for a configuration and its users.
    pub fn new(config: Config, users: Users) -> Self {
        Shared {
            abuse: crate::limits::Abuse::new(&config),
            ops: crate::opstate::OpsState::new(&config.ops),
            events: crate::events::Events::off(),
            quotas: Arc::new(crate::quota::Quotas::new(
                &config.state_dir,
                config.quota_rescan,
            )),
            auth_cache: crate::auth::cache::AuthCache::new(config.auth_cache_ttl),
            pam: crate::auth::pam::Pam::new(crate::auth::pam::PamSettings::of(&config.pam)),
            config,
            users: RwLock::new(Arc::new(users)),
            ports: PortPool::default(),
            metrics: Metrics::default(),
            next_id: AtomicU64::new(1),
            tls: None,
            sessions: Default::default(),
        }
    }

    /// The current users.
    pub fn users(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The login state: each phase holds only what it needs.
pub enum Phase {
    /// Greeted; waiting for USER.
    Greeted,
    /// USER received; waiting for PASS.
    NeedPass {
        /// The name given.
        user: String,
    },
    /// Logged in.
    Authed(Login),
}

/// A logged-in user's view of the server.
pub struct Login {
    /// Login name (`anonymous` for anonymous).
    pub user: String,
    /// The user's tree.
    pub storage: Arc<dyn Storage>,
    /// What the user may do.
    pub perms: Perms,
    /// Anonymous login.
    pub anonymous: bool,
    /// This login's session slot and bandwidth limits; dropped with the login.
    pub guard: crate::limits::LoginGuard,
    /// PROT P data connections must resume the control TLS session (the account's
    /// setting, the server's, and `tls_reuse_optional_from`, resolved at login).
    pub tls_reuse_required: bool,
    /// The account's quotas (all `None` for most accounts).
    pub quota_limits: crate::quota::Limits,
    /// The shared disk count, when the account has a quota.
    pub quota: Option<Arc<crate::quota::UserQuota>>,
}

/// The work of a transfer in flight, resolving to its final reply.
///
/// A transfer is polled by its session's own task (the `select!` in `next_line` and
/// `finish_transfer`), not spawned: a spawned task costs a wake-up of another runtime
/// worker per file and a cross-thread hand-off of the final reply, which measured as a
/// large part of a small file's cost (BENCHMARKS.md, "Small files: where a file's time
/// goes"). Work that should run beside the session on another worker (HASH's digest)
/// is spawned and awaited through [`Running::spawned`].
/// (`SyncFuture`: a `&Session` is held across awaits, so the session must be `Sync`; the
/// future is only ever polled through `&mut`.)
pub type Work =
    sync_wrapper::SyncFuture<std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send>>>;

/// Why a session ended when its client closed the control connection.
const CLIENT_CLOSED: &str = "client closed";

/// How long a download may take to end by itself after its client closed the control
/// connection ([`Running::ends_by_itself`]).
const FINISH_AFTER_CLOSE: Duration = Duration::from_secs(10);

/// A transfer in flight.
pub struct Running {
    /// Resolves to the final reply; a panic in it becomes `451` (see [`Running::work`]).
    pub handle: Work,
    /// Fires ABOR.
    pub abort: Option<oneshot::Sender<()>>,
    /// Bytes moved.
    pub progress: Arc<AtomicU64>,
    /// Verb and path, for STAT.
    pub what: String,
    /// Expected size, if known.
    pub total: Option<u64>,
    /// Start time.
    pub started: Instant,
    /// QUIT stops it at once (a digest: nothing is lost) instead of waiting for its end
    /// (a transfer, which RFC 959 lets finish).
    pub stop_on_quit: bool,
    /// A download: when the client closes the control connection, it gets
    /// `FINISH_AFTER_CLOSE` to end by itself before it is stopped. Its last bytes may be
    /// on their way (aria2 closes the control connection as soon as it has them, and the
    /// download was logged as failed); a client that is gone fails it at its next write.
    /// An upload of a client that vanished is not committed, so it stops at once.
    pub ends_by_itself: bool,
    /// A MODE E transfer's `111`/`112` markers, written by the session between polls of
    /// `handle` ([`crate::modee::markers`]).
    pub markers: Option<crate::modee::markers::Markers>,
}

impl Running {
    /// The work of a transfer polled by the session task; a panic inside it ends the
    /// transfer with `451`, not the session.
    pub fn work(f: impl std::future::Future<Output = Reply> + Send + 'static) -> Work {
        use futures::FutureExt;
        sync_wrapper::SyncFuture::new(Box::pin(
            std::panic::AssertUnwindSafe(f)
                .catch_unwind()
                .map(|r| r.unwrap_or_else(|_| internal_error())),
        ))
    }

    /// Work spawned on the runtime (another worker may run it), awaited as [`Work`].
    pub fn spawned(f: impl std::future::Future<Output = Reply> + Send + 'static) -> Work {
        let handle: JoinHandle<Reply> = tokio::spawn(f);
        sync_wrapper::SyncFuture::new(Box::pin(async move {
            handle.await.unwrap_or_else(|_| internal_error())
        }))
    }
}

fn internal_error() -> Reply {
    Reply::new(451, "Transfer failed: internal error.")
}

/// Per-connection state.
pub struct Session {
    /// Id carried through every log line.
    pub id: u64,
    /// Server-wide state.
    pub shared: Arc<Shared>,
    /// The client.
    pub peer: SocketAddr,
    /// Our end of the control connection.
    pub local: SocketAddr,
    /// Login phase.
    pub phase: Phase,
    /// Working directory.
    pub cwd: VPath,
    /// TYPE.
    pub ttype: TransferType,
    /// REST for the next transfer: an offset, or (MODE E) the ranges the client has.
    pub rest: kftp_proto::modee::Restart,
    /// RNFR source awaiting RNTO.
    pub rnfr: Option<VPath>,
    /// Data connection set up by PASV/EPSV/PORT/EPRT.
    pub data: Option<DataSetup>,
    /// The passive listener kept for the next PASV/EPSV (see [`crate::datachan::Kept`]).
    pub passive_kept: Option<crate::datachan::Kept>,
    /// EPSV ALL was sent: PORT, PASV and EPRT are refused from now on.
    pub epsv_all: bool,
    /// SBUF (or SITE BUFSIZE...): the data connections' socket buffers; None leaves them
    /// to the kernel's tuning ([`crate::datachan::set_buffers`]).
    pub tcp_buffer: Option<usize>,
    /// HASH algorithm (OPTS HASH).
    pub hash_algo: HashAlgo,
    /// RANG for the next HASH.
    pub rang: Option<(u64, u64)>,
    /// MLST/MLSD facts selected with OPTS MLST.
    pub mlst_facts: kftp_proto::listing::Facts,
    /// PROT level.
    pub prot: Prot,
    /// PBSZ was received (required before PROT).
    pub pbsz: bool,
    /// The transfer in flight.
    pub running: Option<Running>,
    /// MODE E settings and the streams cached between transfers (closed with the session).
    pub modee: crate::modee::state::State,
    /// Quota bookkeeping for the transfer about to start (taken by `start_transfer`).
    pub pending_quota: Option<crate::quota::TransferQuota>,
    /// Set by QUIT: close after the reply.
    pub quit: bool,
    /// The TLS session lineage of the control connection (after AUTH TLS or implicit
    /// FTPS); data connections must resume it.
    pub lineage: Option<Arc<Lineage>>,
    /// Until a login succeeds: when the session is closed for not logging in
    /// (`--login-timeout`; set afresh after REIN).
    login_deadline: Option<tokio::time::Instant>,
    /// Bans imposed anywhere; one on this session's client key closes it.
    bans: tokio::sync::watch::Receiver<u64>,
    /// This session in the admin registry (user, transfer, kick); removed on drop.
    admin: crate::admin::registry::Registration,
    control: Control,
}

impl Session {
    /// Serves one control connection to the end. `implicit`: the listener speaks TLS from
    /// the first byte.
    pub async fn run(
        shared: Arc<Shared>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        implicit: bool,
    ) {
        use tracing::Instrument;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        // Every line logged inside, transfers included, carries `session=N`.
        let span = tracing::info_span!("session", session = id);
        Self::run_as(id, shared, stream, peer, implicit)
            .instrument(span)
            .await
    }

    async fn run_as(
        id: u64,
        shared: Arc<Shared>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        implicit: bool,
    ) {
        let local = match stream.local_addr() {
            Ok(a) => a,
            Err(_) => return,
        };
        let _ = stream.set_nodelay(true);
        let (stream, lineage) = match Self::start_tls(&shared, stream, implicit).await {
            Ok(x) => x,
            Err(e) => {
                tracing::info!(session = id, peer = %peer, error = %e, "implicit TLS handshake failed");
                return;
            }
        };
        let bans = shared.abuse.ban_watch();
        let admin = shared.sessions.register(id, peer);
        let mut s = Session {
            id,
            shared,
            peer,
            local,
            phase: Phase::Greeted,
            cwd: VPath::root(),
            ttype: TransferType::Image,
            rest: Default::default(),
            rnfr: None,
            data: None,
            passive_kept: None,
            epsv_all: false,
            tcp_buffer: None,
            hash_algo: HashAlgo::Sha256,
            rang: None,
            mlst_facts: kftp_proto::listing::Facts::ALL,
            // A session that starts in TLS (implicit FTPS) protects its data connections
            // from the start, as if PBSZ 0 and PROT P had been sent: clients such as Perl's
            // Net::FTP (SSL => 1) never send them and expect TLS on data connections.
            prot: if lineage.is_some() {
                Prot::Private
            } else {
                Prot::Clear
            },
            pbsz: lineage.is_some(),
            running: None,
            modee: Default::default(),
            pending_quota: None,
            quit: false,
            lineage,
            login_deadline: None,
            bans,
            admin,
            control: Control::new(stream),
        };
        tracing::info!(session = id, peer = %peer, "session opened");
        let opened = Instant::now();
        let end = s.serve().await;
        if let Some(mut r) = s.running.take() {
            let on_its_own = match r.ends_by_itself && end == CLIENT_CLOSED {
                true => tokio::time::timeout(FINISH_AFTER_CLOSE, &mut r.handle)
                    .await
                    .is_ok(),
                false => false,
            };
            if !on_its_own {
                if let Some(a) = r.abort {
                    let _ = a.send(());
                }
                let _ = r.handle.await;
            }
        }
        if let Phase::Authed(l) = &s.phase {
            let mut ev = crate::events::Event::new("logout", id, &l.user, peer.ip());
            ev.duration_ms = Some(opened.elapsed().as_millis() as u64);
            s.shared.events.emit(ev);
        }
        tracing::info!(session = id, peer = %peer, reason = end, "session closed");
    }

    /// Implicit FTPS: on an implicit listener, or when the first bytes a client sends on a
    /// plain listener (within `tls_sniff`) are a TLS ClientHello.
    async fn start_tls(
        shared: &Shared,
        tcp: tokio::net::TcpStream,
        implicit: bool,
    ) -> std::io::Result<(CtrlStream, Option<Arc<Lineage>>)> {
        let Some(tls) = &shared.tls else {
            return Ok((CtrlStream::Plain(tcp), None));
        };
        let sniff = shared.config.tls_sniff;
        let hello = !implicit && !sniff.is_zero() && {
            let mut b = [0u8; 3];
            matches!(
                tokio::time::timeout(sniff, tcp.peek(&mut b)).await,
                Ok(Ok(n)) if n >= 1 && b[0] == 0x16
            )
        };
        if !(implicit || hello) {
            return Ok((CtrlStream::Plain(tcp), None));
        }
        let lineage = Lineage::new(tls).map_err(std::io::Error::other)?;
        let stream = accept_control(&lineage, tcp).await?;
        Ok((CtrlStream::Tls(Box::new(stream)), Some(Arc::new(lineage))))
    }

    async fn serve(&mut self) -> &'static str {
        let greeting = Reply::new(220, "kftpd ready.");
        if self.send(&greeting).await.is_err() {
            return "write error";
        }
        loop {
            let line = match self.next_line().await {
                Ok(Some(l)) => l,
                Ok(None) => return CLIENT_CLOSED,
                Err(why) => {
                    let (text, reason) = why.farewell(self.shared.config.login_timeout);
                    let _ = self.send(&Reply::new(421, text)).await;
                    return reason;
                }
            };
            let cmd = match line {
                Line::Eof => return CLIENT_CLOSED,
                Line::TooLong => {
                    if self
                        .send(&Reply::new(500, "Input line too long."))
                        .await
                        .is_err()
                    {
                        return "write error";
                    }
                    continue;
                }
                Line::Line(bytes) => parse_line(&bytes),
            };
            let reply = match cmd {
                Err(e) => Some(Reply::new(e.code(), e.to_string())),
                Ok(cmd) => {
                    tracing::debug!(session = self.id, cmd = %cmd.loggable(), "command");
                    self.handle(cmd).await
                }
            };
            self.admin_sync();
            if let Some(r) = reply {
                if self.send(&r).await.is_err() {
                    return "write error";
                }
            }
            if self.quit {
                return "quit";
            }
        }
    }

    /// Waits for the next line, delivering the final reply of a running transfer if it
    /// finishes first. `Err` on idle timeout or server shutdown (a drain lets the running
    /// transfer finish first); `Ok(None)` when the connection broke. A passive listener
    /// nobody used within `data_timeout` is closed, so abandoned PASVs do not hold ports.
    async fn next_line(&mut self) -> Result<Option<Line>, Interrupt> {
        use crate::shutdown::Stop;
        let mut stop = self.shared.ops.stop.subscribe();
        let mut idle_at = None;
        let mut data_at = None;
        let mut ban_woke = false;
        loop {
            let stage = *stop.borrow_and_update();
            if self.ban_seen(std::mem::take(&mut ban_woke)) {
                self.abort_running().await;
                return Err(Interrupt::Banned);
            }
            if self.admin.is_kicked() {
                self.abort_running().await;
                return Err(Interrupt::Kicked);
            }
            if let Some(run) = self.running.as_mut() {
                if stage == Stop::Now {
                    self.abort_running().await;
                    return Err(Interrupt::Shutdown);
                }
                tokio::select! {
                    line = self.control.read_line() => return Ok(line.ok()),
                    reply = &mut run.handle => {
                        self.running = None;
                        self.admin_sync();
                        if self.send(&reply).await.is_err() {
                            return Ok(None);
                        }
                    }
                    () = Markers::due(&run.markers) => {
                        let markers = run.markers.as_mut().map(Markers::take);
                        if self.send_all(markers.unwrap_or_default()).await.is_err() {
                            return Ok(None);
                        }
                    }
                    Ok(()) = stop.changed() => {}
                    Ok(()) = self.bans.changed() => ban_woke = true,
                    Ok(()) = self.admin.kicked.changed() => {}
                }
            } else {
                if stage != Stop::Run {
                    return Err(Interrupt::Shutdown);
                }
                let now = tokio::time::Instant::now();
                let idle = *idle_at.get_or_insert(now + self.shared.config.idle_timeout);
                let passive = matches!(self.data, Some(DataSetup::Passive(..)))
                    || self.passive_kept.is_some();
                let data = *data_at.get_or_insert(now + self.shared.config.data_timeout);
                // Not logged in: a deadline that no command moves (NOOP resets `idle`).
                let login = match self.phase {
                    Phase::Authed(_) => {
                        self.login_deadline = None;
                        None
                    }
                    _ => Some(
                        *self
                            .login_deadline
                            .get_or_insert(now + self.shared.config.login_timeout),
                    ),
                };
                if login.is_some_and(|l| now >= l) {
                    return Err(Interrupt::LoginTimeout);
                }
                let wake = if passive { idle.min(data) } else { idle };
                let wake = login.map_or(wake, |l| wake.min(l));
                tokio::select! {
                    r = self.control.read_line() => return Ok(r.ok()),
                    _ = tokio::time::sleep_until(wake) => {
                        if login == Some(wake) {
                            return Err(Interrupt::LoginTimeout);
                        }
                        if passive && wake < idle {
                            tracing::debug!(session = self.id, "unused passive listener closed");
                            self.close_data();
                            continue;
                        }
                        return Err(Interrupt::Idle);
                    }
                    Ok(()) = stop.changed() => {}
                    Ok(()) = self.bans.changed() => ban_woke = true,
                    Ok(()) = self.admin.kicked.changed() => {}
                }
            }
        }
    }

    /// Publishes the login and running transfer to the admin registry when they changed.
    fn admin_sync(&mut self) {
        let user = match &self.phase {
            Phase::Authed(l) => Some(l.user.as_str()),
            _ => None,
        };
        let transfer = self
            .running
            .as_ref()
            .map(|r| (r.what.as_str(), &r.progress, r.total, r.started));
        self.admin.sync(user, transfer);
    }

    /// Whether a ban was imposed since the last look (`woke`: the watch just said so), on
    /// this session's client key.
    fn ban_seen(&mut self, woke: bool) -> bool {
        if !woke && !self.bans.has_changed().unwrap_or(false) {
            return false;
        }
        self.bans.borrow_and_update();
        self.shared.abuse.banned(self.peer.ip()).is_some()
    }

    /// Handles one command. A running transfer is waited for first, unless the command is
    /// one answered beside it (ABOR, STAT, NOOP: [`policy::beside_transfer`], answered in `commands::info`); QUIT stops a
    /// HASH job rather than wait for it.
    async fn handle(&mut self, cmd: Command) -> Option<Reply> {
        if self.running.is_some() && !policy::beside_transfer(&cmd) {
            if matches!(cmd, Command::Quit) {
                if let Some(a) = self
                    .running
                    .as_mut()
                    .filter(|r| r.stop_on_quit)
                    .and_then(|r| r.abort.take())
                {
                    let _ = a.send(());
                }
            }
            self.finish_transfer().await;
        }
        let upload = matches!(
            cmd,
            Command::Stor(_) | Command::Appe(_) | Command::Stou(_) | Command::Esto { .. }
        );
        let reply = match policy::check(self, &cmd) {
            Err(r) => Some(r),
            Ok(()) => dispatch::dispatch(self, cmd).await,
        };
        if upload && self.running.is_none() {
            // A refused upload: its sender may have put the file's blocks on the kept MODE E
            // streams already (a third-party source sends when its RETR arrives, not after
            // our 150), and the next upload would read them as its own. Nothing of them is
            // kept (the sender reconnects).
            self.modee.drop_cache();
        }
        reply
    }

    /// Stops the running transfer, if any, and sends its final reply (`426` for one cut
    /// short). Whether there was one.
    pub(crate) async fn abort_running(&mut self) -> bool {
        let Some(mut run) = self.running.take() else {
            return false;
        };
        if let Some(a) = run.abort.take() {
            let _ = a.send(());
        }
        let reply = (&mut run.handle).await;
        let _ = self.send(&reply).await;
        true
    }

    async fn finish_transfer(&mut self) {
        if let Some(mut run) = self.running.take() {
            // An administrator's kick (admin API) aborts the transfer being waited for; the
            // session then ends at its next read.
            // Markers keep coming while a pipelined command waits for the final reply.
            let reply = loop {
                tokio::select! {
                    r = &mut run.handle => break r,
                    () = self.admin.wait_kicked() => {
                        if let Some(a) = run.abort.take() {
                            let _ = a.send(());
                        }
                        break (&mut run.handle).await;
                    }
                    () = Markers::due(&run.markers) => {
                        let markers = run.markers.as_mut().map(Markers::take);
                        let _ = self.send_all(markers.unwrap_or_default()).await;
                    }
                }
            };
            let _ = self.send(&reply).await;
        }
    }

    /// Sends one reply on the control connection.
    pub async fn send(&mut self, r: &Reply) -> std::io::Result<()> {
        self.shared.metrics.replies.count(r.code);
        self.control.send(r).await
    }

    /// Sends replies in order (a transfer's markers).
    async fn send_all(&mut self, replies: Vec<Reply>) -> std::io::Result<()> {
        for r in &replies {
            self.send(r).await?;
        }
        Ok(())
    }

    /// Forgets the data setup and closes the passive listener, kept one included.
    pub fn close_data(&mut self) {
        self.data = None;
        self.passive_kept = None;
    }

    /// The logged-in user, if any.
    pub fn login(&self) -> Option<&Login> {
        match &self.phase {
            Phase::Authed(l) => Some(l),
            _ => None,
        }
    }

    /// Resolves a client path against the working directory.
    pub fn resolve(&self, arg: &str) -> Result<VPath, Reply> {
        VPath::resolve(&self.cwd, arg).map_err(|e| Reply::new(553, format!("Bad path: {e}.")))
    }

    /// Whether the control connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.control.stream, Some(CtrlStream::Tls(_)))
    }

    /// Access to the control connection (AUTH TLS swaps its stream).
    pub fn control(&mut self) -> &mut Control {
        &mut self.control
    }
}

/// Why waiting for the next line stopped.
enum Interrupt {
    /// The idle timer fired.
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// Not logged in within `--login-timeout`.
    LoginTimeout,
    /// This session's client key was banned.
    Banned,
    /// An administrator ended the session (admin API).
    Kicked,
}

impl Interrupt {
    /// The text of the `421` that ends the session, and the reason the log gives.
    fn farewell(&self, login_timeout: std::time::Duration) -> (String, &'static str) {
        match self {
            Interrupt::Idle => (
                "Idle timeout: closing control connection.".into(),
                "idle timeout",
            ),
            Interrupt::Shutdown => (
                "Server shutting down: closing control connection.".into(),
                "server shutdown",
            ),
            Interrupt::LoginTimeout => (
                format!(
                    "Login timeout: not logged in within {} s; closing control connection.",
                    login_timeout.as_secs()
                ),
                "login timeout",
            ),
            Interrupt::Kicked => (
                "Session ended by the administrator; closing control connection.".into(),
                "ended by administrator",
            ),
            Interrupt::Banned => (
                "Your address has been banned after repeated failed logins; closing control \
                 connection."
                    .into(),
                "address banned",
            ),
        }
    }
}

impl Shared {
    /// Whether AUTH TLS can be offered.
    pub fn tls_available(&self) -> bool {
        self.tls.is_some()
    }
}
