//! The real `kftpd` binary on an ephemeral loopback port, in a temp directory: the
//! [`Server`] builder and the [`Running`] server it starts.
//!
//! Every server gets one directory: `root/` (served unless `.root(..)` names another),
//! `state/`, `users.toml` (when `.user(..)` adds accounts) and `kftpd.log` (its standard
//! error, `KFTPD_LOG=debug`). The bound address comes from [`crate::read_banner`].

use crate::banner::{read_banner, Banner};
use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `kftpd` binary cargo built beside this test (`target/<profile>/kftpd`), for tests
/// outside the kftpd package (whose `CARGO_BIN_EXE_kftpd` is better). `cargo test
/// --workspace` builds it; `None` when it is not there.
pub fn kftpd_bin() -> Option<PathBuf> {
    beside_the_tests("kftpd")
}

/// The `kftp` client binary built beside the tests, for a test outside the kftp package
/// (inside it, `env!("CARGO_BIN_EXE_kftp")`).
pub fn kftp_bin() -> Option<PathBuf> {
    beside_the_tests("kftp")
}

fn beside_the_tests(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let p = exe.parent()?.parent()?.join(name);
    p.is_file().then_some(p)
}

/// How to start a kftpd. Flags the test does not name get the harness's choices:
/// `--listen 127.0.0.1:0`, the temp root and state directory, the root refusal's
/// [`crate::kftpd_root_args`].
#[derive(Debug)]
pub struct Server {
    bin: Option<PathBuf>,
    listen: String,
    root: Option<OsString>,
    users: Option<PathBuf>,
    accounts: Vec<(String, String)>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    dir: Option<tempfile::TempDir>,
    netns: Option<String>,
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl Server {
    /// A server run from [`kftpd_bin`] (or [`Server::bin`]).
    pub fn new() -> Server {
        Server {
            bin: None,
            listen: "127.0.0.1:0".into(),
            root: None,
            users: None,
            accounts: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            dir: None,
            netns: None,
        }
    }

    /// The kftpd binary to run: `env!("CARGO_BIN_EXE_kftpd")` inside the kftpd package.
    pub fn bin(mut self, path: impl Into<PathBuf>) -> Server {
        self.bin = Some(path.into());
        self
    }

    /// Runs inside network namespace `name` (`ip netns exec`, which execs: the pid is
    /// kftpd's), e.g. one end of `kftp_bench::wan`'s emulated WAN; `--listen` then names
    /// an address of that namespace.
    pub fn netns(mut self, name: &str) -> Server {
        self.netns = Some(name.into());
        self
    }

    /// `--listen` (default `127.0.0.1:0`).
    pub fn listen(mut self, listen: &str) -> Server {
        self.listen = listen.into();
        self
    }

    /// Serves `root` (a directory or `s3://bucket/prefix`) instead of the temp `root/`.
    pub fn root(mut self, root: impl AsRef<OsStr>) -> Server {
        self.root = Some(root.as_ref().to_owned());
        self
    }

    /// Uses this users file (shared, made by the test) instead of `users.toml`.
    pub fn users(mut self, file: impl Into<PathBuf>) -> Server {
        self.users = Some(file.into());
        self
    }

    /// Adds an account with all permissions to the server's own `users.toml`.
    pub fn user(mut self, name: &str, password: &str) -> Server {
        self.accounts.push((name.into(), password.into()));
        self
    }

    /// Runs in `dir` (a previous server's, see [`Running::stop`]) instead of a new one.
    pub fn dir(mut self, dir: tempfile::TempDir) -> Server {
        self.dir = Some(dir);
        self
    }

    /// One more flag or value.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Server {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More flags.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Server {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// An environment variable for the server (`KFTPD_*` settings, `KFTPD_LOG`).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Server {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    fn has(&self, flag: &str) -> bool {
        self.args.iter().any(|a| a == flag)
    }

    /// Makes the directory and the users file; the full argument list (without the
    /// program name) and the directory.
    fn prepare(&mut self) -> (Vec<OsString>, tempfile::TempDir, PathBuf) {
        let dir = self
            .dir
            .take()
            .unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let d = dir.path();
        let root = d.join("root");
        std::fs::create_dir_all(&root).expect("root dir");
        let users = self.users.clone().unwrap_or_else(|| d.join("users.toml"));
        for (name, password) in &self.accounts {
            kftpd::auth::users::add_user(&users, name, password, None, None)
                .expect("adding a test account");
        }
        let mut args: Vec<OsString> = vec!["--listen".into(), self.listen.clone().into()];
        args.push("--root".into());
        args.push(self.root.clone().unwrap_or_else(|| root.clone().into()));
        args.push("--users".into());
        args.push(users.into());
        args.push("--state-dir".into());
        args.push(d.join("state").into());
        args.extend(self.args.iter().cloned());
        args.extend(crate::kftpd_root_args().iter().map(Into::into));
        (args, dir, root)
    }

    /// Starts the binary and waits for its start-up lines; panics with its log if it
    /// does not start.
    pub fn start(mut self) -> Running {
        let bin = self.bin.clone().or_else(kftpd_bin).expect(
            "no kftpd binary beside the tests: build it (cargo build -p kftpd) or check \
             kftp_testkit::kftpd_bin() first",
        );
        let tls = !self.has("--no-tls");
        let (args, dir, root) = self.prepare();
        let log = dir.path().join("kftpd.log");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let mut child = cmd
            .args(&args)
            .env("KFTPD_LOG", "debug")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let Banner {
            addr,
            implicit_addr,
            fingerprint,
        } = read_banner(&mut child, tls, &log);
        Running {
            addr,
            implicit_addr,
            fingerprint,
            child,
            log,
            root,
            dir: Some(dir),
        }
    }

    /// Starts kftpd inside this test process, on the current tokio runtime (a
    /// `current_thread` one for `tokio::time::pause`), from the same flags as
    /// [`Server::start`] plus `--no-sandbox` (Landlock would confine the test process).
    pub async fn start_in_process(mut self) -> crate::InProcess {
        let (mut args, dir, root) = self.prepare();
        if !self.has("--no-sandbox") {
            args.push("--no-sandbox".into());
        }
        crate::in_process::start(args, dir, root).await
    }
}

/// A kftpd process started by [`Server::start`]. Killed on drop; its log goes to the
/// test's output when the test failed.
pub struct Running {
    /// The control address.
    pub addr: SocketAddr,
    /// The implicit FTPS address, with `--implicit-listen`.
    pub implicit_addr: Option<SocketAddr>,
    /// The certificate's SHA-256 fingerprint, unless `--no-tls`.
    pub fingerprint: Option<String>,
    child: Child,
    log: PathBuf,
    root: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Running {
    /// The temp root (served unless `.root(..)` named another).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path in the temp root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The server's directory (`root/`, `state/`, `users.toml`, `kftpd.log`).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("running").path()
    }

    /// The log file (standard error).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// What the server logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits up to 20 s until the log has `needle` `n` times; returns the log.
    #[track_caller]
    pub fn wait_log(&self, needle: &str, n: usize) -> String {
        let mut text = String::new();
        let seen = crate::wait_until(Duration::from_secs(20), || {
            text = self.log_text();
            text.matches(needle).count() >= n
        });
        assert!(seen, "no {n}x {needle:?} in the log:\n{text}");
        text
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process, for signals and waiting.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends `sig` (`-HUP`, `-TERM`, ...) with kill(1).
    #[track_caller]
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {}", self.pid());
    }

    /// Kills the server and hands back its directory, to start another in it.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.take().expect("running")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() && self.dir.is_some() {
            eprintln!(
                "--- kftpd log ({}) ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}
