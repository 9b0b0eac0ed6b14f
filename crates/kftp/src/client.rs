//! Connecting and logging in ([`Greeted`] -> [`Client`]), server features, and the
//! commands that need no data connection.

use crate::control::{timeout_error, Control};
use crate::error::{Error, ErrorKind, Result};
use crate::settings::{Effect, Setting};
use crate::stream::{Stream, TlsSetup};
use crate::target::Security;
use kftp_datapath::Tuning;
use kftp_proto::{Command, HashAlgo, Password, Prot, Reply, TransferType};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// How long [`Client::quit`] may take to hand the QUIT and the close to the kernel (a
/// full send buffer to a server that stopped reading: the session is dropped anyway).
const QUIT_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How data connections are set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataMode {
    /// The client connects to the server (EPSV, falling back to PASV). Works through
    /// client-side NAT and firewalls; the default.
    #[default]
    Passive,
    /// The server connects to the client (EPRT, falling back to PORT).
    Active,
}

/// Everything needed to open a session (and, for parallel transfers, more sessions).
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Host name or address.
    pub host: String,
    /// Control port.
    pub port: u16,
    /// Plain, explicit (AUTH TLS) or implicit TLS.
    pub security: Security,
    /// TLS configuration; required unless `security` is [`Security::Plain`].
    pub tls: Option<TlsSetup>,
    /// Passive or active data connections.
    pub mode: DataMode,
    /// Limit for connecting and for each wait on the server.
    pub timeout: Duration,
    /// Data-path knobs (sendfile/splice vs copy, buffer size, rate limits).
    pub tuning: Tuning,
}

impl ConnectOptions {
    /// Plain FTP to `host:port`, passive, 30 s timeout.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ConnectOptions {
            host: host.into(),
            port,
            security: Security::Plain,
            tls: None,
            mode: DataMode::Passive,
            timeout: Duration::from_secs(30),
            tuning: Tuning::default(),
        }
    }
}

/// Who to log in as.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// User name (`anonymous` for anonymous FTP).
    pub user: String,
    /// Password, if known; a server that asks for one without it gets an auth error.
    pub password: Option<Password>,
}

impl Credentials {
    /// Anonymous login, with the conventional e-mail-like password.
    pub fn anonymous() -> Self {
        Credentials {
            user: "anonymous".into(),
            password: Some(Password::new("kftp@")),
        }
    }
}

/// What the server announced in FEAT (RFC 2389), reduced to what the client uses.
#[derive(Clone, Debug, Default)]
pub struct Features {
    /// MLST/MLSD (RFC 3659).
    pub mlst: bool,
    /// EPSV/EPRT (RFC 2428).
    pub epsv: bool,
    /// REST STREAM: REST before STOR as well as RETR.
    pub rest_stream: bool,
    /// SIZE.
    pub size: bool,
    /// MDTM.
    pub mdtm: bool,
    /// MFMT: set a file's modification time.
    pub mfmt: bool,
    /// UTF8 (RFC 2640).
    pub utf8: bool,
    /// PARALLEL (GridFTP): MODE E with `OPTS RETR Parallelism`.
    pub parallel: bool,
    /// HASH algorithms, with the one currently selected first.
    pub hash: Vec<HashAlgo>,
    /// XSHA256, XSHA1, XMD5, XCRC... as listed.
    pub xhash: Vec<HashAlgo>,
    /// CKSM algorithms (GridFTP: `CKSM MD5:10;ADLER32:10;SHA1:10;...`) kftp can compute
    /// too, as listed.
    pub cksm: Vec<HashAlgo>,
    /// Whether FEAT itself worked (servers without it may still have the commands).
    pub answered: bool,
}

impl Features {
    /// Reads a FEAT reply.
    pub fn parse(r: &Reply) -> Features {
        let mut f = Features {
            answered: r.code == 211,
            ..Features::default()
        };
        for line in r.lines.iter().skip(1) {
            let line = line.trim();
            let (name, arg) = line.split_once(' ').unwrap_or((line, ""));
            match name.to_ascii_uppercase().as_str() {
                "MLST" | "MLSD" => f.mlst = true,
                "EPSV" | "EPRT" => f.epsv = true,
                "REST" if arg.eq_ignore_ascii_case("STREAM") => f.rest_stream = true,
                "SIZE" => f.size = true,
                "MDTM" => f.mdtm = true,
                "MFMT" => f.mfmt = true,
                "UTF8" => f.utf8 = true,
                "PARALLEL" => f.parallel = true,
                "HASH" => {
                    let mut algos: Vec<(bool, HashAlgo)> = arg
                        .split(';')
                        .filter_map(|a| {
                            let sel = a.ends_with('*');
                            HashAlgo::from_name(a.trim_end_matches('*')).map(|h| (sel, h))
                        })
                        .collect();
                    algos.sort_by_key(|(sel, _)| !sel);
                    f.hash = algos.into_iter().map(|(_, h)| h).collect();
                }
                "CKSM" => {
                    f.cksm = arg
                        .split(';')
                        .filter_map(|a| HashAlgo::from_cksm_name(a.split(':').next()?))
                        .collect();
                }
                "XSHA256" => f.xhash.push(HashAlgo::Sha256),
                "XSHA512" => f.xhash.push(HashAlgo::Sha512),
                "XSHA1" | "XSHA" => f.xhash.push(HashAlgo::Sha1),
                "XMD5" => f.xhash.push(HashAlgo::Md5),
                "XCRC" => f.xhash.push(HashAlgo::Crc32),
                _ => {}
            }
        }
        f
    }
}

/// A connected, greeted session that has not logged in yet.
#[derive(Debug)]
pub struct Greeted {
    ctl: Control,
    opts: Arc<ConnectOptions>,
    /// The server's 220 greeting.
    pub greeting: Reply,
}

/// A logged-in session: one control connection, data connections opened per transfer.
#[derive(Debug)]
pub struct Client {
    pub(crate) ctl: Control,
    pub(crate) opts: Arc<ConnectOptions>,
    pub(crate) creds: Credentials,
    pub(crate) features: Features,
    pub(crate) ty: TransferType,
    /// The server refused EPSV once: use PASV from now on.
    pub(crate) no_epsv: bool,
    /// The server refused EPRT once: use PORT from now on.
    pub(crate) no_eprt: bool,
    /// Data connections are TLS (PROT P).
    pub(crate) data_tls: bool,
    /// The server is in MODE E (see [`crate::modee`]); MODE S data connections switch back.
    pub(crate) mode_e: bool,
    /// Plain MODE E streams kept after EOD for the next transfer (see [`crate::modee`]).
    pub(crate) mode_e_cache: crate::modee::Cache,
    /// What the server's MODE E markers said ([`Client::markers`]).
    pub(crate) mode_e_markers: crate::modee::Markers,
    /// Streams for get and put in MODE E ([`Client::set_streams`]; 1: MODE S).
    pub(crate) streams: u32,
    /// `--streams` was left to kftp: runs of files pipeline in MODE E (one stream) even
    /// where single files keep MODE S ([`crate::pipeline`]).
    pub(crate) pipeline_auto: bool,
    /// The shorter of the login's USER and FEAT round trips ([`Client::round_trip`]).
    pub(crate) login_rtt: Duration,
    /// An MLST sent with the login's settings ([`Greeted::login_asking`]): its path and
    /// reply, for the [`Client::size_and_mtime`] that asks it.
    pub(crate) mlst_ahead: Option<(String, Reply)>,
}

impl Greeted {
    /// Connects, runs implicit or explicit TLS as configured, and reads the greeting.
    pub async fn connect(mut opts: ConnectOptions) -> Result<Greeted> {
        opts.tls = opts.tls.as_ref().map(TlsSetup::with_own_sessions);
        let opts = Arc::new(opts);
        let addr = format!("{}:{}", bracket(&opts.host), opts.port);
        let tcp = match tokio::time::timeout(
            opts.timeout,
            TcpStream::connect((opts.host.as_str(), opts.port)),
        )
        .await
        {
            Ok(r) => r.map_err(|e| Error::net(format!("connecting to {addr}"), e))?,
            Err(_) => return Err(timeout_error(&format!("connecting to {addr}"))),
        };
        let _ = tcp.set_nodelay(true);
        let tls = || {
            opts.tls
                .as_ref()
                .ok_or_else(|| Error::usage("TLS requested but no TLS configuration was given"))
        };
        let stream = if opts.security == Security::Implicit {
            let t = tls()?;
            match tokio::time::timeout(opts.timeout, t.connect(tcp)).await {
                Ok(r) => r.map_err(|e| Error::net(format!("TLS handshake with {addr}"), e))?,
                Err(_) => return Err(timeout_error("TLS handshake")),
            }
        } else {
            Stream::Plain(tcp)
        };
        let mut ctl = Control::new(stream, opts.timeout);
        let mut greeting = ctl.read_reply().await?;
        // 120: "service ready in n minutes"; the 220 follows.
        while greeting.code == 120 {
            greeting = ctl.read_reply().await?;
        }
        if greeting.code != 220 {
            return Err(Error::reply(format!("connecting to {addr}"), greeting));
        }
        if opts.security == Security::Explicit {
            let r = ctl.cmd(&Command::Auth("TLS".into())).await?;
            if r.code != 234 && r.code != 334 {
                let mut e = Error::reply("the server refused AUTH TLS", r);
                if e.kind() == ErrorKind::Protocol {
                    e = Error::new(ErrorKind::Tls, e.to_string());
                }
                return Err(e);
            }
            ctl = ctl.upgrade(tls()?).await?;
        }
        Ok(Greeted {
            ctl,
            opts,
            greeting,
        })
    }

    /// Logs in and prepares the session: FEAT, then PBSZ/PROT for TLS, UTF-8 and binary
    /// type, sent together where the server takes pipelined commands (`settings.rs`).
    pub async fn login(self, creds: Credentials) -> Result<Client> {
        self.login_asking(creds, None).await
    }

    /// [`Greeted::login`] for a session that will ask `mlst`'s size and time first (a
    /// get): where the server offers MLST, it goes out after the settings, in the same
    /// write where the server pipelines them, and [`Client::size_and_mtime`] takes its
    /// reply: one round trip fewer before a download from a distant server.
    pub async fn login_asking(mut self, creds: Credentials, mlst: Option<&str>) -> Result<Client> {
        let ctl = &mut self.ctl;
        // USER and FEAT are answered at once by servers (PASS may wait on a password hash):
        // their round trips are what `round_trip` would otherwise time with NOOPs.
        let sent = Instant::now();
        let r = ctl.cmd(&Command::User(creds.user.clone())).await?;
        let mut login_rtt = sent.elapsed();
        let r = match r.code {
            230 | 202 => r,
            331 | 332 => {
                let Some(pw) = creds.password.clone() else {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        format!(
                            "login refused: the server wants a password for '{}' and none was given",
                            creds.user
                        ),
                    ));
                };
                ctl.cmd(&Command::Pass(pw)).await?
            }
            _ => return Err(Error::auth(r)),
        };
        if !matches!(r.code, 230 | 202) {
            return Err(Error::auth(r));
        }
        let sent = Instant::now();
        let feat = ctl.cmd(&Command::Feat).await?;
        login_rtt = login_rtt.min(sent.elapsed());
        let features = Features::parse(&feat);
        let secure = ctl.stream().is_tls();
        let mut c = Client {
            ctl: self.ctl,
            opts: self.opts,
            creds,
            features,
            // The server's until TYPE I below (RFC 959's default is ASCII).
            ty: TransferType::Ascii,
            no_epsv: false,
            no_eprt: false,
            data_tls: secure,
            mode_e: false,
            mode_e_cache: Default::default(),
            streams: 1,
            pipeline_auto: false,
            mode_e_markers: Default::default(),
            login_rtt,
            mlst_ahead: None,
        };
        let mut settings = Vec::new();
        if secure {
            settings.push(Setting::required(Command::Pbsz(0), "PBSZ 0", Effect::None));
            settings.push(Setting::tls(Command::Prot(Prot::Private), "PROT P"));
        }
        if c.features.utf8 {
            settings.push(Setting::ignored(Command::Opts(
                "UTF8".into(),
                Some("ON".into()),
            )));
        }
        let image = TransferType::Image;
        settings.push(Setting::required(
            Command::Type(image),
            "TYPE I",
            Effect::Type(image),
        ));
        match mlst {
            Some(path) if c.features.mlst => {
                let ask = Command::Mlst(Some(path.into()));
                let r = c.settle_then(settings, &ask).await?;
                c.mlst_ahead = Some((path.to_string(), r));
            }
            _ => c.settle(settings).await?,
        }
        Ok(c)
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Reads the path out of a 257 reply: `257 "/a ""quoted"" dir" created`.
pub fn parse_257(text: &str) -> Option<String> {
    let start = text.find('"')? + 1;
    let mut out = String::new();
    let mut chars = text[start..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

impl Client {
    /// Connects and logs in, in one step.
    pub async fn connect(opts: ConnectOptions, creds: Credentials) -> Result<Client> {
        Client::connect_asking(opts, creds, None).await
    }

    /// [`Client::connect`] for a session that asks `mlst`'s size and time first
    /// ([`Greeted::login_asking`]).
    pub async fn connect_asking(
        opts: ConnectOptions,
        creds: Credentials,
        mlst: Option<&str>,
    ) -> Result<Client> {
        Greeted::connect(opts)
            .await?
            .login_asking(creds, mlst)
            .await
    }

    /// Another session to the same server as the same user, in the same directory: for
    /// parallel and segmented transfers.
    pub async fn fork(&mut self) -> Result<Client> {
        let cwd = self.pwd().await?;
        self.fork_in(&cwd).await
    }

    /// `n` sessions like [`Client::fork`]'s, opened at once (a login costs round trips and,
    /// on the server, a password check: opened one after the other they added up).
    pub async fn forks(&mut self, n: usize) -> Vec<Result<Client>> {
        if n == 0 {
            return Vec::new();
        }
        let cwd = match self.pwd().await {
            Ok(cwd) => cwd,
            Err(e) => return vec![Err(e)],
        };
        let me = &*self;
        futures::future::join_all((0..n).map(|_| me.fork_in(&cwd))).await
    }

    /// Checks with NOOP a session that sat idle while others worked (the user's own during
    /// a parallel mirror) or may have broken, and logs in again, in `cwd`, where it is
    /// gone: an idle timeout (vsftpd's is 5 minutes, kftpd's too) would otherwise fail
    /// what the run does last on it (`--delete`, the copies others left).
    pub(crate) async fn revive(&mut self, cwd: &str) -> Result<()> {
        match self.ctl.cmd(&Command::Noop).await {
            Ok(r) if r.code != 421 => return Ok(()),
            Ok(_) => {}
            Err(e) if e.session_gone() => {}
            Err(e) => return Err(e),
        }
        tracing::info!("the session was closed; logging in again");
        *self = self.fork_in(cwd).await?;
        Ok(())
    }

    /// A new session as this one's user, in the login directory, with this one's
    /// transfer type and streams (this one need not be alive): to go on after the server
    /// closed or lost it.
    pub async fn reconnect(&self) -> Result<Client> {
        let mut c = Client::connect((*self.opts).clone(), self.creds.clone()).await?;
        self.pass_on(&mut c).await?;
        Ok(c)
    }

    /// Gives a new session of this one's ([`Client::reconnect`], [`Client::fork`]) its
    /// transfer type and streams.
    async fn pass_on(&self, c: &mut Client) -> Result<()> {
        if c.ty != self.ty {
            c.set_type(self.ty).await?;
        }
        c.streams = self.streams;
        c.pipeline_auto = self.pipeline_auto;
        Ok(())
    }

    /// A new session as this one's user, moved to `cwd` (this one need not be alive).
    pub(crate) async fn fork_in(&self, cwd: &str) -> Result<Client> {
        let mut c = Client::connect((*self.opts).clone(), self.creds.clone()).await?;
        // A login directory that cannot be entered (globus-gridftp-server's anonymous
        // `nobody` at /nonexistent) refuses a CWD into itself: that is no failure when the
        // new session is there already (parallel sessions failed on it).
        if let Err(e) = c.cwd(cwd).await {
            if c.pwd().await? != cwd {
                return Err(e);
            }
        }
        self.pass_on(&mut c).await?;
        Ok(c)
    }

    /// The server's features.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The options this session was opened with.
    pub fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    /// Whether data connections are encrypted.
    pub fn data_tls(&self) -> bool {
        self.data_tls
    }

    /// Sends any command and returns the reply (for the shell's `quote`).
    pub async fn raw(&mut self, line: &str) -> Result<Reply> {
        self.ctl.send_raw(line).await?;
        self.ctl.read_reply().await
    }

    /// Sends a command and requires success.
    pub async fn command(&mut self, cmd: &Command, what: &str) -> Result<Reply> {
        self.ctl.cmd_ok(cmd, what).await
    }

    /// The working directory.
    pub async fn pwd(&mut self) -> Result<String> {
        let r = self.ctl.cmd_ok(&Command::Pwd, "PWD").await?;
        parse_257(&r.text())
            .ok_or_else(|| Error::new(ErrorKind::Protocol, format!("unreadable PWD reply: {r}")))
    }

    /// Changes the working directory.
    pub async fn cwd(&mut self, path: &str) -> Result<()> {
        let cmd = if path == ".." {
            Command::Cdup
        } else {
            Command::Cwd(path.into())
        };
        self.ctl.cmd_ok(&cmd, &format!("cd {path}")).await.map(drop)
    }

    /// Creates a directory.
    pub async fn mkdir(&mut self, path: &str) -> Result<()> {
        let r = self.ctl.cmd(&Command::Mkd(path.into())).await?;
        if r.is_success() {
            Ok(())
        } else {
            Err(Error::reply(format!("mkdir {path}"), r))
        }
    }

    /// Removes an empty directory.
    pub async fn rmdir(&mut self, path: &str) -> Result<()> {
        let what = format!("rmdir {path}");
        self.ctl
            .cmd_ok(&Command::Rmd(path.into()), &what)
            .await
            .map(drop)
    }

    /// Deletes a file.
    pub async fn delete(&mut self, path: &str) -> Result<()> {
        let what = format!("rm {path}");
        self.ctl
            .cmd_ok(&Command::Dele(path.into()), &what)
            .await
            .map(drop)
    }

    /// Renames (moves) a file or directory.
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        let what = format!("mv {from} {to}");
        let r = self.ctl.cmd(&Command::Rnfr(from.into())).await?;
        if r.code != 350 {
            return Err(Error::reply(what, r));
        }
        self.ctl
            .cmd_ok(&Command::Rnto(to.into()), &what)
            .await
            .map(drop)
    }

    /// SIZE. `Ok(None)` when the server does not implement SIZE.
    pub async fn size(&mut self, path: &str) -> Result<Option<u64>> {
        let r = self.ctl.cmd(&Command::Size(path.into())).await?;
        Self::size_of(path, r)
    }

    /// What a SIZE reply about `path` says ([`Client::size`]).
    pub(crate) fn size_of(path: &str, r: Reply) -> Result<Option<u64>> {
        match r.code {
            213 => r.text().trim().parse().map(Some).map_err(|_| {
                Error::new(ErrorKind::Protocol, format!("unreadable SIZE reply: {r}"))
            }),
            500 | 502 | 504 => Ok(None),
            _ => Err(Error::reply(format!("size of {path}"), r)),
        }
    }

    /// The size a download of `path` goes by: the caller's (`known`), else SIZE's.
    pub(crate) async fn known_size(
        &mut self,
        path: &str,
        known: Option<u64>,
        what: &str,
    ) -> Result<Option<u64>> {
        match known {
            Some(n) => Ok(Some(n)),
            None => self.size(path).await.map_err(|e| e.with_what(what)),
        }
    }

    /// A file's size and modification time in one round trip: MLST where the server offers
    /// it, else SIZE alone (`None` for what the server does not say). A download given
    /// both ([`crate::TransferOptions`]) asks neither SIZE nor, afterwards, MDTM: two round
    /// trips of a long fat network saved (BENCHMARKS.md, HPC run 8).
    pub async fn size_and_mtime(&mut self, path: &str) -> Result<(Option<u64>, Option<i64>)> {
        if self.features.mlst {
            let r = match self.mlst_ahead.take() {
                Some((asked, r)) if asked == path => r,
                _ => self.ctl.cmd(&Command::Mlst(Some(path.into()))).await?,
            };
            let entry = r
                .lines
                .iter()
                // The reply decoder strips the one space that starts a continuation line,
                // and that space is what marks an MLST entry (RFC 3659 7.2; it names a
                // path, not a bare name): without it the entry is read as an MLSD line,
                // its `/big.bin` refused as a name, and SIZE and MDTM went out anyway.
                .filter_map(|l| kftp_proto::listing_parse::parse_mlsx_line(&format!(" {l}")))
                .find_map(|e| e.ok());
            if let (true, Some(e)) = (r.is_success(), entry) {
                if e.kind == kftp_proto::listing::Kind::File && e.size.is_some() {
                    return Ok((e.size, e.mtime));
                }
            }
            // A path MLST refused (550: no such file) is not asked again here: the
            // transfer's own SIZE or RETR reports it, once.
            if r.code == 550 {
                return Ok((None, None));
            }
        }
        Ok((self.size(path).await?, None))
    }

    /// The modification time a download keeps: `known` (from a listing) when given, else
    /// MDTM's where the server has it; `None` when neither says.
    pub(crate) async fn remote_mtime(&mut self, path: &str, known: Option<i64>) -> Option<i64> {
        match known {
            Some(t) => Some(t),
            None if self.features.mdtm => self.mdtm(path).await.ok().flatten(),
            None => None,
        }
    }

    /// MDTM: modification time in seconds since the epoch; `Ok(None)` if unsupported.
    pub async fn mdtm(&mut self, path: &str) -> Result<Option<i64>> {
        let r = self.ctl.cmd(&Command::Mdtm(path.into())).await?;
        match r.code {
            213 => Ok(kftp_proto::time::parse_mdtm(&r.text())),
            500 | 502 | 504 => Ok(None),
            _ => Err(Error::reply(format!("time of {path}"), r)),
        }
    }

    /// MFMT: sets a remote file's modification time; `Ok(false)` if unsupported.
    pub async fn set_mtime(&mut self, path: &str, mtime: i64) -> Result<bool> {
        if !self.features.mfmt {
            return Ok(false);
        }
        let r = self.ctl.cmd(&Command::Mfmt(mtime, path.into())).await?;
        Ok(r.is_success())
    }

    /// Switches between binary (`TYPE I`) and ASCII (`TYPE A`).
    pub async fn set_type(&mut self, ty: TransferType) -> Result<()> {
        if self.ty != ty {
            self.ctl.cmd_ok(&Command::Type(ty), "TYPE").await?;
            self.ty = ty;
        }
        Ok(())
    }

    /// The current transfer type.
    pub fn transfer_type(&self) -> TransferType {
        self.ty
    }

    /// Changes passive/active for later transfers.
    pub fn set_mode(&mut self, mode: DataMode) {
        Arc::make_mut(&mut self.opts).mode = mode;
    }

    /// Ends the session: sends QUIT and closes (over TLS with close_notify) without
    /// waiting for the server's 221. Nothing the caller needs comes after the last
    /// transfer's reply, and waiting for the 221 cost a whole round trip at the end of
    /// every CLI run (BENCHMARKS.md, HPC run 9). The server still reads a QUIT, so it ends
    /// the session as a normal QUIT (kftpd logs `reason="quit"`), not as a broken
    /// connection. Errors are ignored: the connection closes anyway.
    pub async fn quit(mut self) {
        let _ = self.ctl.send(&Command::Quit).await;
        self.ctl.close(QUIT_CLOSE_WAIT).await;
    }
}

/// How often a transfer whose connection dropped goes on over a new login
/// ([`Client::reconnect`]), and how long it waits first: at most [`Relogins::MAX`] times,
/// the first after half a second, then twice as long each time (a server that restarts
/// gets a moment; one that is gone costs 3.5 s).
#[derive(Debug)]
pub struct Relogins {
    done: u32,
    pause: Duration,
}

impl Default for Relogins {
    fn default() -> Self {
        Relogins {
            done: 0,
            pause: Duration::from_millis(500),
        }
    }
}

impl Relogins {
    /// The logins a transfer gets after its first try.
    pub const MAX: u32 = 3;

    /// Whether another is left.
    pub fn left(&self) -> bool {
        self.done < Self::MAX
    }

    /// Waits before the next one and counts it; says which it is (from 1).
    pub async fn pause(&mut self) -> u32 {
        tokio::time::sleep(self.pause).await;
        self.pause *= 2;
        self.done += 1;
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwd_reply() {
        assert_eq!(
            parse_257("\"/home/a\" is the current directory").as_deref(),
            Some("/home/a")
        );
        assert_eq!(
            parse_257("\"/x \"\"y\"\"\" created").as_deref(),
            Some("/x \"y\"")
        );
        assert_eq!(parse_257("no quotes"), None);
        assert_eq!(parse_257("\"unterminated"), None);
    }

    #[test]
    fn feat() {
        let r = Reply::multi(
            211,
            vec![
                "Features:".into(),
                "MLST type*;size*;modify*;".into(),
                "EPSV".into(),
                "REST STREAM".into(),
                "HASH SHA-1;SHA-256*;MD5".into(),
                "XCRC".into(),
                "End".into(),
            ],
        );
        let f = Features::parse(&r);
        assert!(f.mlst && f.epsv && f.rest_stream && f.answered);
        assert!(f.cksm.is_empty());
        let grid = Features::parse(&Reply::multi(
            211,
            vec![
                "Extensions supported".into(),
                "CKSM MD5:10;ADLER32:10;SHA1:10;SHA256:11;SHA512:12;".into(),
                "End".into(),
            ],
        ));
        assert_eq!(
            grid.cksm,
            vec![
                HashAlgo::Md5,
                HashAlgo::Sha1,
                HashAlgo::Sha256,
                HashAlgo::Sha512
            ]
        );
        assert_eq!(
            f.hash,
            vec![HashAlgo::Sha256, HashAlgo::Sha1, HashAlgo::Md5]
        );
        assert_eq!(f.xhash, vec![HashAlgo::Crc32]);
        assert!(!f.mfmt);
    }
}
