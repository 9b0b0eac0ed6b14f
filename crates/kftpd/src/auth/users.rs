//! The users file: TOML, one `[[user]]` table per account, passwords only as Argon2id PHC
//! strings.
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! root = "/srv/ftp/alice"        # optional: defaults to the server's --root
//! perms = ["list", "read", "write", "append", "delete", "rename", "mkdir", "chmod"]  # optional: all
//! tls_reuse_required = false     # optional: the server's policy (see below)
//! quota_bytes = 10737418240      # optional quotas (see crate::quota): bytes and files
//! quota_files = 10000            #   under the root, bytes per UTC day up and down
//! quota_upload_bytes_per_day = 1073741824
//! quota_download_bytes_per_day = 5368709120
//! disabled = true                # optional: logins refused with 530 (admin API: disable)
//! ```
//!
//! `tls_reuse_required = false` lets this account's `PROT P` data connections skip resuming
//! the control connection's TLS session, for clients that cannot (Java's Commons Net
//! FTPSClient, Python's stock `ftplib.FTP_TLS`, GNOME gvfs...). It is per account because
//! the check is what stops a third party behind the same address from stealing a passive
//! data connection; `true` enforces it even where the server relaxes it.

use anyhow::{bail, Context, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One permission, spelled in the users file as its lowercase name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Perm {
    /// LIST, NLST, MLSD, MLST, STAT path, AVBL.
    List,
    /// RETR, SIZE, MDTM, HASH.
    Read,
    /// STOR, STOU (and overwrite).
    Write,
    /// APPE, REST+STOR.
    Append,
    /// DELE, RMD.
    Delete,
    /// RNFR/RNTO, MFMT.
    Rename,
    /// MKD.
    Mkdir,
    /// SITE CHMOD (permission bits only, never setuid/setgid/sticky or world-writable).
    Chmod,
}

impl Perm {
    /// Every permission, in the users file's order.
    pub const EVERY: [Perm; 8] = [
        Perm::List,
        Perm::Read,
        Perm::Write,
        Perm::Append,
        Perm::Delete,
        Perm::Rename,
        Perm::Mkdir,
        Perm::Chmod,
    ];

    /// The users file's spelling (the same as serde's, which a test checks).
    pub fn name(self) -> &'static str {
        match self {
            Perm::List => "list",
            Perm::Read => "read",
            Perm::Write => "write",
            Perm::Append => "append",
            Perm::Delete => "delete",
            Perm::Rename => "rename",
            Perm::Mkdir => "mkdir",
            Perm::Chmod => "chmod",
        }
    }
}

/// One entry of a users-file `perms` list: a permission, or `"all"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grant {
    /// Every permission.
    All,
    /// One permission.
    #[serde(untagged)]
    One(Perm),
}

impl std::str::FromStr for Grant {
    type Err = anyhow::Error;

    /// The command line's and the admin API's spelling, which is the users file's.
    fn from_str(s: &str) -> Result<Grant> {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            s.into_deserializer();
        Grant::deserialize(de).map_err(|_| {
            anyhow::anyhow!(
                "unknown permission '{s}' (expected list, read, write, append, delete, rename, mkdir, chmod or all)"
            )
        })
    }
}

/// What a user may do. Checked by the session policy before any handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    /// See [`Perm::List`].
    pub list: bool,
    /// See [`Perm::Read`].
    pub read: bool,
    /// See [`Perm::Write`].
    pub write: bool,
    /// See [`Perm::Append`].
    pub append: bool,
    /// See [`Perm::Delete`].
    pub delete: bool,
    /// See [`Perm::Rename`].
    pub rename: bool,
    /// See [`Perm::Mkdir`].
    pub mkdir: bool,
    /// See [`Perm::Chmod`].
    pub chmod: bool,
}

impl Perms {
    /// Nothing.
    pub const NONE: Perms = Perms {
        list: false,
        read: false,
        write: false,
        append: false,
        delete: false,
        rename: false,
        mkdir: false,
        chmod: false,
    };
    /// Everything.
    pub const ALL: Perms = Perms {
        list: true,
        read: true,
        write: true,
        append: true,
        delete: true,
        rename: true,
        mkdir: true,
        chmod: true,
    };
    /// List and download only (anonymous).
    pub const READ_ONLY: Perms = Perms {
        list: true,
        read: true,
        ..Perms::NONE
    };

    /// The flag that stores `p`.
    fn flag(&mut self, p: Perm) -> &mut bool {
        match p {
            Perm::List => &mut self.list,
            Perm::Read => &mut self.read,
            Perm::Write => &mut self.write,
            Perm::Append => &mut self.append,
            Perm::Delete => &mut self.delete,
            Perm::Rename => &mut self.rename,
            Perm::Mkdir => &mut self.mkdir,
            Perm::Chmod => &mut self.chmod,
        }
    }

    /// Whether `p` was granted.
    pub fn has(mut self, p: Perm) -> bool {
        *self.flag(p)
    }

    /// Whether a command needing `p` may run: as `has`, except that `write` also allows
    /// appending, since REST+STOR and APPE both extend an existing file.
    pub fn allows(self, p: Perm) -> bool {
        self.has(p) || (p == Perm::Append && self.write)
    }

    /// From the names the users file uses (`list`, `read`, ..., `all`), as `--pam-perms`
    /// writes them.
    pub fn from_names(names: &[String]) -> Result<Perms> {
        let grants = names
            .iter()
            .map(|n| n.parse())
            .collect::<Result<Vec<Grant>>>()?;
        Ok(Perms::from_grants(&grants))
    }

    fn from_grants(grants: &[Grant]) -> Perms {
        grants.iter().fold(Perms::NONE, |mut acc, g| match g {
            Grant::All => Perms::ALL,
            Grant::One(p) => {
                *acc.flag(*p) = true;
                acc
            }
        })
    }

    /// The permissions granted, in the users file's order.
    pub fn granted(self) -> impl Iterator<Item = Perm> {
        Perm::EVERY.into_iter().filter(move |p| self.has(*p))
    }

    /// The names of the permissions granted (as the users file spells them).
    pub fn names(self) -> Vec<&'static str> {
        self.granted().map(Perm::name).collect()
    }

    /// The MLSx `perm` view of these permissions.
    pub fn facts(self) -> kftp_proto::listing::Perms {
        kftp_proto::listing::Perms {
            read: self.read || self.list,
            write: self.write || self.mkdir,
            append: self.append,
            delete: self.delete,
            rename: self.rename,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRecord {
    name: String,
    password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    root: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    perms: Option<Vec<Grant>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_reuse_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota_files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota_upload_bytes_per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quota_download_bytes_per_day: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    disabled: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default, rename = "user")]
    users: Vec<UserRecord>,
}

/// One account, ready to check.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Argon2id PHC string.
    phc: String,
    /// Root directory, if not the server default.
    pub root: Option<PathBuf>,
    /// Permissions.
    pub perms: Perms,
    /// Whether PROT P data connections must resume the control TLS session; `None`: the
    /// server's policy.
    pub tls_reuse_required: Option<bool>,
    /// Disk and daily transfer quotas (see [`crate::quota`]).
    pub quota: crate::quota::Limits,
    /// `disabled = true`: logins are refused with 530 (the account stays in the file).
    pub disabled: bool,
}

impl User {
    /// A system account (PAM): no password hash here, the server's TLS policy, no quota.
    pub(crate) fn system(name: &str, root: PathBuf, perms: Perms) -> User {
        User {
            name: name.to_string(),
            phc: String::new(),
            root: Some(root),
            perms,
            tls_reuse_required: None,
            quota: crate::quota::Limits::default(),
            disabled: false,
        }
    }

    /// The Argon2id PHC string this account has now.
    pub(crate) fn phc(&self) -> &str {
        &self.phc
    }
}

/// All accounts, loaded from the users file.
#[derive(Debug, Default, Clone)]
pub struct Users {
    by_name: BTreeMap<String, User>,
}

/// A valid Argon2id hash of a random password, verified against when the user does not
/// exist, so that a failed login takes as long whether or not the name is known.
const DUMMY_PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$m9bz2Iw1VhtvdAaFFeeNWQXSCCMzbEIgJJ6A3BB7lJc";

impl Users {
    /// Loads a users file. A missing file is an empty user list.
    pub fn load(path: &Path) -> Result<Users> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Users::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let file: UsersFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let mut by_name = BTreeMap::new();
        for r in file.users {
            PasswordHash::new(&r.password).map_err(|e| {
                anyhow::anyhow!(
                    "{}: user '{}': bad password hash: {e}",
                    path.display(),
                    r.name
                )
            })?;
            if !r.password.starts_with("$argon2id$") {
                bail!(
                    "{}: user '{}': password must be an Argon2id PHC string",
                    path.display(),
                    r.name
                );
            }
            let perms = r.perms.as_deref().map_or(Perms::ALL, Perms::from_grants);
            by_name.insert(
                r.name.clone(),
                User {
                    name: r.name,
                    phc: r.password,
                    root: r.root,
                    perms,
                    tls_reuse_required: r.tls_reuse_required,
                    quota: crate::quota::Limits {
                        bytes: r.quota_bytes,
                        files: r.quota_files,
                        upload_per_day: r.quota_upload_bytes_per_day,
                        download_per_day: r.quota_download_bytes_per_day,
                    },
                    disabled: r.disabled,
                },
            );
        }
        Ok(Users { by_name })
    }

    /// The root directories that accounts name (the sandbox allows them).
    pub fn roots(&self) -> impl Iterator<Item = &Path> + '_ {
        self.by_name.values().filter_map(|u| u.root.as_deref())
    }

    /// Every account, by name.
    pub fn iter(&self) -> impl Iterator<Item = &User> + '_ {
        self.by_name.values()
    }

    /// The account `name`, unverified (the authentication cache checks its PHC).
    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Checks a password. Runs Argon2id: call from [`super::hasher::verify`], not from an
    /// async task.
    pub fn verify(&self, name: &str, password: &str) -> Option<User> {
        let (user, phc) = match self.by_name.get(name) {
            Some(u) => (Some(u), u.phc.as_str()),
            None => (None, DUMMY_PHC),
        };
        let ok = super::hasher::verify_phc(phc, password.as_bytes());
        match (ok, user) {
            (true, Some(u)) => Some(u.clone()),
            _ => None,
        }
    }
}

/// Hashes a password with Argon2id and the library's default (OWASP) parameters.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// `kftpd user add`: creates or updates an account, writing the file atomically (0600).
pub fn add_user(
    path: &Path,
    name: &str,
    password: &str,
    root: Option<PathBuf>,
    perms: Option<Vec<String>>,
) -> Result<bool> {
    if name.is_empty() || name.contains(char::is_whitespace) {
        bail!("user name must be non-empty and contain no spaces");
    }
    let perms = perms
        .map(|names| {
            names
                .iter()
                .map(|n| n.parse())
                .collect::<Result<Vec<Grant>>>()
        })
        .transpose()?;
    let mut file: UsersFile = match std::fs::read_to_string(path) {
        Ok(t) => toml::from_str(&t).with_context(|| format!("parsing {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => UsersFile::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let phc = hash_password(password)?;
    let existed = match file.users.iter_mut().find(|u| u.name == name) {
        Some(u) => {
            u.password = phc;
            if root.is_some() {
                u.root = root;
            }
            if perms.is_some() {
                u.perms = perms;
            }
            true
        }
        None => {
            file.users.push(UserRecord {
                name: name.to_string(),
                password: phc,
                root,
                perms,
                tls_reuse_required: None,
                quota_bytes: None,
                quota_files: None,
                quota_upload_bytes_per_day: None,
                quota_download_bytes_per_day: None,
                disabled: false,
            });
            false
        }
    };
    let text = toml::to_string_pretty(&file)?;
    write_private(path, text.as_bytes())?;
    Ok(existed)
}

/// Sets (or with `None` clears) an account's `tls_reuse_required`. The account must exist.
pub fn set_tls_reuse_required(path: &Path, name: &str, required: Option<bool>) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut file: UsersFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let Some(u) = file.users.iter_mut().find(|u| u.name == name) else {
        bail!("{}: no user '{name}'", path.display());
    };
    u.tls_reuse_required = required;
    write_private(path, toml::to_string_pretty(&file)?.as_bytes())
}

/// Sets the account's quotas that `limits` names (`Some`); the others stay as they are.
/// The account must exist.
pub fn set_quota(path: &Path, name: &str, limits: crate::quota::Limits) -> Result<()> {
    edit_user(path, name, |u| {
        u.quota_bytes = limits.bytes.or(u.quota_bytes);
        u.quota_files = limits.files.or(u.quota_files);
        u.quota_upload_bytes_per_day = limits.upload_per_day.or(u.quota_upload_bytes_per_day);
        u.quota_download_bytes_per_day = limits.download_per_day.or(u.quota_download_bytes_per_day);
    })
}

/// Sets an account's `disabled` flag (a disabled account's logins get 530). The account
/// must exist.
pub fn set_disabled(path: &Path, name: &str, disabled: bool) -> Result<()> {
    edit_user(path, name, |u| u.disabled = disabled)
}

/// Replaces an existing account's password (Argon2id). The account must exist.
pub fn set_password(path: &Path, name: &str, password: &str) -> Result<()> {
    let phc = hash_password(password)?;
    edit_user(path, name, |u| u.password = phc)
}

fn edit_user(path: &Path, name: &str, f: impl FnOnce(&mut UserRecord)) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut file: UsersFile =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let Some(u) = file.users.iter_mut().find(|u| u.name == name) else {
        bail!("{}: no user '{name}'", path.display());
    };
    f(u);
    write_private(path, toml::to_string_pretty(&file)?.as_bytes())
}

pub use crate::privfile::write_private;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_PHC).is_ok());
    }

    #[test]
    fn add_then_verify() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.toml");
        assert!(!add_user(
            &p,
            "alice",
            "s3cret",
            None,
            Some(vec!["read".into(), "list".into()])
        )
        .unwrap());
        assert!(add_user(&p, "alice", "n3w", None, None).unwrap());
        let users = Users::load(&p).unwrap();
        assert!(users.verify("alice", "s3cret").is_none());
        let u = users.verify("alice", "n3w").unwrap();
        assert_eq!(u.perms, Perms::READ_ONLY);
        assert!(users.verify("bob", "n3w").is_none());
        assert_eq!(u.tls_reuse_required, None);
        set_tls_reuse_required(&p, "alice", Some(false)).unwrap();
        let u = Users::load(&p).unwrap().verify("alice", "n3w").unwrap();
        assert_eq!(u.tls_reuse_required, Some(false));
        assert!(set_tls_reuse_required(&p, "nobody", Some(false)).is_err());
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("$argon2id$") && !text.contains("n3w"));
        assert!(!text.contains("disabled"));
        set_disabled(&p, "alice", true).unwrap();
        assert!(Users::load(&p).unwrap().get("alice").unwrap().disabled);
        set_password(&p, "alice", "third").unwrap();
        let u = Users::load(&p).unwrap().verify("alice", "third").unwrap();
        assert!(u.disabled && u.perms.names() == ["list", "read"]);
        set_disabled(&p, "alice", false).unwrap();
        assert!(!Users::load(&p).unwrap().get("alice").unwrap().disabled);
        assert!(set_password(&p, "nobody", "x").is_err());
    }

    #[test]
    fn write_private_follows_no_planted_link_and_is_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.toml");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        // The old, predictable temp names: a link planted there must not be written through.
        std::os::unix::fs::symlink(&victim, dir.path().join("users.tmp")).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".users.toml.tmp")).unwrap();
        add_user(&p, "alice", "pw", None, None).unwrap();
        add_user(&p, "bob", "pw", None, None).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(Users::load(&p).unwrap().len(), 2);
        // No temp file is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".users.toml.") && n != ".users.toml.tmp")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn rejects_unknown_keys_and_perms() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.toml");
        std::fs::write(&p, "[[user]]\nname='a'\npassword='x'\nshell='/bin/sh'\n").unwrap();
        assert!(Users::load(&p).is_err());
        assert!("fly".parse::<Grant>().is_err());
        std::fs::write(&p, "[[user]]\nname='a'\npassword='x'\nperms=['fly']\n").unwrap();
        assert!(Users::load(&p).is_err());
    }

    fn record(name: &str) -> UserRecord {
        UserRecord {
            name: name.into(),
            password: DUMMY_PHC.into(),
            root: None,
            perms: None,
            tls_reuse_required: None,
            quota_bytes: None,
            quota_files: None,
            quota_upload_bytes_per_day: None,
            quota_download_bytes_per_day: None,
            disabled: false,
        }
    }

    #[test]
    fn perm_spelling_is_serdes() {
        for p in Perm::EVERY {
            assert_eq!(p.name().parse::<Grant>().unwrap(), Grant::One(p));
            let toml = toml::to_string(&UsersFile {
                users: vec![UserRecord {
                    perms: Some(vec![Grant::One(p), Grant::All]),
                    ..record("a")
                }],
            })
            .unwrap();
            assert!(
                toml.contains(&format!("\"{}\", \"all\"", p.name())),
                "{toml}"
            );
        }
        let p = Perms::from_grants(&[Grant::One(Perm::Read), Grant::One(Perm::Chmod)]);
        assert_eq!(p.names(), ["read", "chmod"]);
        assert!(!p.allows(Perm::Append) && Perms::READ_ONLY.allows(Perm::List));
        assert!(Perms::from_grants(&[Grant::One(Perm::Write)]).allows(Perm::Append));
    }
}
