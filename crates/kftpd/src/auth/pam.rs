//! System accounts through PAM (`--auth pam`): the machine's users (and, through the
//! site's NSS and PAM modules, LDAP or SSSD users) log in with their own passwords.
//!
//! A login runs the PAM service (`--pam-service`, default `kftpd`: `/etc/pam.d/kftpd`, which
//! the Debian package installs as `common-auth` + `common-account`) with
//! `pam_authenticate` and `pam_acct_mgmt`, so expired or locked accounts are refused by
//! PAM's own rules. The account is looked up through NSS (`getpwnam`) first: uid 0 and uids
//! below `--pam-min-uid` (daemon accounts) are refused without asking PAM, and the user is
//! jailed to their home directory, or to `--pam-root` (`{user}` in it is the login name).
//! Their permissions are `--pam-perms` (default all: read and write in their own home, as
//! vsftpd's `local_enable` + `write_enable`); per-user session limits, bans and the failed
//! login delay are the same as for users-file accounts (`commands::login`).
//!
//! PAM is blocking and slow by design (pam_unix sleeps about 2 s after a failure; an LDAP
//! module waits on the network), so every conversation runs on tokio's blocking pool, never
//! on an async worker, and at most [`MAX_CONCURRENT`] at once: a flood of logins waits for
//! a permit instead of taking every blocking thread. One client key (an IPv4 address or an
//! IPv6 /64, [`crate::limits::client_key`]) holds at most [`MAX_PER_KEY`] of them, so one
//! flooding address waits behind itself, not in front of everybody else.
//!
//! Successes are not put in the authentication cache (`auth::cache`): that cache trusts an
//! entry only while the account's password hash is unchanged, which kftpd can see for the
//! users file but not behind PAM (a password changed with `passwd`, an account locked by
//! faillock or expired in LDAP), so every PAM login asks PAM.
//!
//! What privileges PAM needs is a matter of the PAM stack; see SECURITY.md.

use super::{Perms, User};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// PAM conversations running at once, at most.
pub const MAX_CONCURRENT: usize = 16;

/// PAM conversations one client key may run at once.
pub const MAX_PER_KEY: usize = 2;

/// Longest login name handed to PAM (Linux allows 32; LDAP names can be longer).
const MAX_NAME: usize = 256;

/// How PAM logins are checked and jailed.
#[derive(Clone, Debug)]
pub struct PamSettings {
    /// The PAM service name (`/etc/pam.d/<service>`).
    pub service: String,
    /// A root for every PAM user instead of their home; `{user}` is the login name.
    pub root: Option<String>,
    /// What PAM users may do.
    pub perms: Perms,
    /// Accounts with a smaller uid (system and daemon accounts) are refused.
    pub min_uid: u32,
}

impl Default for PamSettings {
    fn default() -> Self {
        PamSettings {
            service: "kftpd".into(),
            root: None,
            perms: Perms::ALL,
            min_uid: 1000,
        }
    }
}

/// Where logins are checked (`--auth`), as the configuration says it.
pub use crate::config::AuthSource as Source;

/// Parses `--pam-perms`: the users file's permission names, comma-separated.
pub fn parse_perms(s: &str) -> Result<Perms, String> {
    let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).collect();
    Perms::from_names(&names).map_err(|e| e.to_string())
}

impl PamSettings {
    /// From the configuration; the permission names were checked at start
    /// ([`check_config`]).
    pub fn of(c: &crate::config::PamConfig) -> PamSettings {
        PamSettings {
            service: c.service.clone(),
            root: c.root.clone(),
            perms: parse_perms(&c.perms).unwrap_or(Perms::READ_ONLY),
            min_uid: c.min_uid,
        }
    }
}

/// Start-up checks for `--auth pam` (refusals and warnings).
pub fn check_config(cfg: &crate::config::Config) -> anyhow::Result<()> {
    if !cfg.auth.contains(&Source::Pam) {
        return Ok(());
    }
    let pam = &cfg.pam;
    parse_perms(&pam.perms).map_err(|e| anyhow::anyhow!("--pam-perms {}: {e}", pam.perms))?;
    anyhow::ensure!(
        cfg!(feature = "pam"),
        "--auth pam: this kftpd was built without the `pam` feature"
    );
    anyhow::ensure!(
        !cfg.ops.seccomp,
        "--auth pam loads PAM modules whose system calls (and helper programs) --seccomp's list does not allow: use one or the other"
    );
    anyhow::ensure!(
        plausible_name(&pam.service),
        "--pam-service {:?}: expected a name in /etc/pam.d",
        pam.service
    );
    if let Some(r) = &pam.root {
        anyhow::ensure!(
            r.starts_with('/'),
            "--pam-root {r}: expected an absolute path"
        );
    }
    if !std::path::Path::new("/etc/pam.d")
        .join(&pam.service)
        .exists()
    {
        tracing::warn!(service = %pam.service, "no /etc/pam.d/{}: PAM uses its `other` stack (usually: refuse everyone)", pam.service);
    }
    Ok(())
}

/// Supplementary groups the privilege drop keeps (when `--user` is a member): `shadow`,
/// which lets pam_unix read the password hashes of /etc/shadow itself. Its helper
/// unix_chkpwd checks only the calling user's own password, so without the group a kftpd
/// that dropped root could check no local account (SECURITY.md weighs this).
pub fn groups_to_keep(cfg: &crate::config::Config) -> &'static [&'static str] {
    if cfg.auth.contains(&Source::Pam) {
        &["shadow"]
    } else {
        &[]
    }
}

/// What the Landlock sandbox must leave open for PAM logins, as (read-write, read-only)
/// directories; `None` when it cannot be known before the first login: home directories
/// come from NSS one login at a time, so serving homes means no Landlock (`--pam-root`
/// keeps it). PAM reads its stacks, modules and the account databases under /etc, /usr and
/// /lib.
pub fn landlock_paths(cfg: &crate::config::Config) -> Option<(Vec<PathBuf>, Vec<PathBuf>)> {
    if !cfg.auth.contains(&Source::Pam) {
        return Some((Vec::new(), Vec::new()));
    }
    let template = cfg.pam.root.as_deref()?;
    // The part of the template before the first component that names the user.
    let base: PathBuf = std::path::Path::new(template)
        .components()
        .take_while(|c| !c.as_os_str().to_string_lossy().contains("{user}"))
        .collect();
    let ro = ["/etc", "/usr", "/lib", "/lib64", "/run"]
        .iter()
        .map(PathBuf::from)
        .collect();
    Some((vec![base], ro))
}

/// The PAM side of logins: settings and the concurrency bound.
#[derive(Debug)]
pub struct Pam {
    settings: PamSettings,
    permits: Arc<Semaphore>,
    per_key: Arc<PerKey>,
}

impl Pam {
    /// PAM logins with `settings`.
    pub fn new(settings: PamSettings) -> Pam {
        Pam {
            settings,
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT)),
            per_key: Arc::default(),
        }
    }

    /// Checks `name` and `password` from `peer` with PAM, then finds the account's root.
    /// `None` for any refusal (the reason is logged, never told to the client).
    pub async fn verify(&self, name: String, password: String, peer: IpAddr) -> Option<User> {
        if !plausible_name(&name) {
            return None;
        }
        // The semaphores are never closed, so acquiring fails only if one were.
        let mine = self
            .per_key
            .acquire(crate::limits::client_key(peer))
            .await?;
        let permit = (self.permits.clone().acquire_owned().await.ok()?, mine);
        let settings = self.settings.clone();
        let rhost = peer.to_canonical().to_string();
        let checked = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // The account is looked up first: a refused one (root, a daemon) never reaches
            // PAM, whose answer time (pam_unix sleeps only after a failure) would otherwise
            // tell a guesser when its password was right. An unknown name still goes
            // through PAM and costs what a wrong password costs.
            let found = account(&settings, &name);
            if let Err(why @ Refused::Policy(_)) = &found {
                return Err(why.to_string());
            }
            conversation(&settings.service, &name, &password, &rhost)?;
            found.map_err(|why| why.to_string())
        })
        .await;
        match checked {
            Ok(Ok(u)) => Some(u),
            Ok(Err(why)) => {
                tracing::info!(reason = %why, "PAM login refused");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "PAM conversation failed");
                None
            }
        }
    }
}

/// Conversations running per client key; a key's entry lives while someone holds or
/// waits for one of its permits.
#[derive(Debug, Default)]
struct PerKey {
    keys: std::sync::Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

/// One of a key's [`MAX_PER_KEY`] permits; dropping it forgets the key when unused.
struct KeyPermit {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    key: IpAddr,
    owner: Arc<PerKey>,
}

impl PerKey {
    async fn acquire(self: &Arc<Self>, key: IpAddr) -> Option<KeyPermit> {
        let sem = self
            .lock()
            .entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_PER_KEY)))
            .clone();
        // From here the guard forgets the key however this ends (also if cancelled).
        let mut guard = KeyPermit {
            permit: None,
            key,
            owner: self.clone(),
        };
        guard.permit = Some(sem.acquire_owned().await.ok()?);
        Some(guard)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Arc<Semaphore>>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for KeyPermit {
    fn drop(&mut self) {
        // The permit holds a clone of the semaphore: release it first.
        self.permit = None;
        let mut keys = self.owner.lock();
        // Only the map's own reference left: nobody holds or waits.
        if keys
            .get(&self.key)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            keys.remove(&self.key);
        }
    }
}

/// Names PAM is asked about: no separators that could leave a `{user}` root, no control
/// characters, bounded.
fn plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c.is_control())
}

/// `pam_authenticate` then `pam_acct_mgmt` for `name` (blocking).
#[cfg(feature = "pam")]
fn conversation(service: &str, name: &str, password: &str, rhost: &str) -> Result<(), String> {
    use pam_client::{conv_mock::Conversation, Context, Flag};
    let conv = Conversation::with_credentials(name, password);
    let mut ctx = Context::new(service, Some(name), conv)
        .map_err(|e| format!("PAM service {service}: {e}"))?;
    // Modules such as pam_faillock and pam_access see where the login comes from.
    ctx.set_rhost(Some(rhost))
        .map_err(|e| format!("PAM_RHOST: {e}"))?;
    ctx.authenticate(Flag::DISALLOW_NULL_AUTHTOK)
        .map_err(|e| format!("user {name}: {e}"))?;
    ctx.acct_mgmt(Flag::DISALLOW_NULL_AUTHTOK)
        .map_err(|e| format!("user {name}: account: {e}"))?;
    Ok(())
}

#[cfg(not(feature = "pam"))]
fn conversation(_: &str, _: &str, _: &str, _: &str) -> Result<(), String> {
    Err("kftpd was built without the pam feature".into())
}

/// Why an account is not served.
#[derive(Debug)]
enum Refused {
    /// NSS does not know the name (or could not be asked).
    Unknown(String),
    /// Known, but not to be served whatever its password: root, a uid below the floor, a
    /// root that is not absolute.
    Policy(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Unknown(s) | Refused::Policy(s) => f.write_str(s),
        }
    }
}

/// The account `name` from NSS, as kftpd would serve it (blocking).
fn account(settings: &PamSettings, name: &str) -> Result<User, Refused> {
    let pw = nix::unistd::User::from_name(name)
        .map_err(|e| Refused::Unknown(format!("user {name}: getpwnam: {e}")))?
        .ok_or_else(|| Refused::Unknown(format!("user {name}: unknown to NSS")))?;
    let uid = pw.uid.as_raw();
    if uid == 0 || uid < settings.min_uid {
        return Err(Refused::Policy(format!(
            "user {name}: uid {uid} is below --pam-min-uid {} (or root); PAM not asked",
            settings.min_uid
        )));
    }
    let root = match &settings.root {
        Some(t) => PathBuf::from(t.replace("{user}", name)),
        None => pw.dir,
    };
    if !root.is_absolute() {
        return Err(Refused::Policy(format!(
            "user {name}: root {} is not absolute",
            root.display()
        )));
    }
    Ok(User::system(name, root, settings.perms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_client_key_holds_at_most_its_share() {
        let k = Arc::new(PerKey::default());
        let (a, b): (IpAddr, IpAddr) = ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
        let a1 = k.acquire(a).await.unwrap();
        let a2 = k.acquire(a).await.unwrap();
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), k.acquire(a));
        assert!(third.await.is_err(), "a third for the same key waits");
        let b1 = k.acquire(b).await.unwrap();
        assert_eq!(k.len(), 2);
        drop((a1, b1));
        assert_eq!(k.len(), 1, "b is forgotten, a still held");
        let a3 = k.acquire(a).await.unwrap();
        drop((a2, a3));
        assert_eq!(k.len(), 0);
    }

    fn parse_sources(s: &str) -> Result<Vec<Source>, String> {
        s.parse::<crate::config::values::AuthSources>().map(|a| a.0)
    }

    #[test]
    fn sources_in_the_order_written() {
        assert_eq!(parse_sources("file").unwrap(), [Source::File]);
        assert_eq!(
            parse_sources("pam,file").unwrap(),
            [Source::Pam, Source::File]
        );
        assert_eq!(
            parse_sources("file, pam").unwrap(),
            [Source::File, Source::Pam]
        );
        assert!(parse_sources("pam,pam").is_err());
        assert!(parse_sources("ldap").is_err());
        assert!(parse_sources("").is_err());
    }

    #[test]
    fn names_that_could_leave_a_root_are_not_asked() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a\nb",
            "a\0b",
            &"x".repeat(300),
        ] {
            assert!(!plausible_name(bad), "{bad:?}");
        }
        assert!(plausible_name("alice") && plausible_name("j.doe@EXAMPLE.ORG"));
    }

    #[test]
    fn root_and_daemon_accounts_are_refused() {
        let s = PamSettings::default();
        assert!(account(&s, "root")
            .unwrap_err()
            .to_string()
            .contains("uid 0"));
        // "nobody" is 65534 on Debian; "daemon" is 1.
        assert!(account(&s, "daemon").is_err());
        let anyone = PamSettings {
            min_uid: 1,
            root: Some("/srv/ftp/{user}".into()),
            ..PamSettings::default()
        };
        let u = account(&anyone, "daemon").unwrap();
        assert_eq!(
            u.root.as_deref(),
            Some(std::path::Path::new("/srv/ftp/daemon"))
        );
    }
}
