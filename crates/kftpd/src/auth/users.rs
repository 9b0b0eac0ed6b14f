//! The users file: TOML, one `[[user]]` table per account, passwords only as Argon2id PHC
//! strings.
//!
//! ```toml
//! [[user]]
//! name = "alice"
//! password = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! root = "/srv/ftp/alice"        # optional: defaults to the server's --root
//! perms = ["list", "read", "write", "append", "delete", "rename", "mkdir"]  # optional: all
//! tls_reuse_required = false     # optional: the server's policy (see below)
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

/// What a user may do. Checked by the session policy before any handler runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    /// LIST, NLST, MLSD, MLST, STAT path.
    pub list: bool,
    /// RETR, SIZE, MDTM, HASH.
    pub read: bool,
    /// STOR, STOU (and overwrite).
    pub write: bool,
    /// APPE, REST+STOR.
    pub append: bool,
    /// DELE, RMD.
    pub delete: bool,
    /// RNFR/RNTO, MFMT, SITE CHMOD.
    pub rename: bool,
    /// MKD.
    pub mkdir: bool,
}

impl Perms {
    /// Everything.
    pub const ALL: Perms = Perms {
        list: true,
        read: true,
        write: true,
        append: true,
        delete: true,
        rename: true,
        mkdir: true,
    };
    /// List and download only (anonymous).
    pub const READ_ONLY: Perms = Perms {
        list: true,
        read: true,
        write: false,
        append: false,
        delete: false,
        rename: false,
        mkdir: false,
    };

    fn from_names(names: &[String]) -> Result<Perms> {
        let mut p = Perms {
            list: false,
            read: false,
            write: false,
            append: false,
            delete: false,
            rename: false,
            mkdir: false,
        };
        for n in names {
            match n.as_str() {
                "list" => p.list = true,
                "read" => p.read = true,
                "write" => p.write = true,
                "append" => p.append = true,
                "delete" => p.delete = true,
                "rename" => p.rename = true,
                "mkdir" => p.mkdir = true,
                "all" => p = Perms::ALL,
                other => bail!(
                    "unknown permission '{other}' (expected list, read, write, append, delete, rename, mkdir or all)"
                ),
            }
        }
        Ok(p)
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
    perms: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls_reuse_required: Option<bool>,
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
}

impl User {
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
            let perms = match &r.perms {
                Some(p) => Perms::from_names(p)
                    .with_context(|| format!("{}: user '{}'", path.display(), r.name))?,
                None => Perms::ALL,
            };
            by_name.insert(
                r.name.clone(),
                User {
                    name: r.name,
                    phc: r.password,
                    root: r.root,
                    perms,
                    tls_reuse_required: r.tls_reuse_required,
                },
            );
        }
        Ok(Users { by_name })
    }

    /// The root directories that accounts name (the sandbox allows them).
    pub fn roots(&self) -> impl Iterator<Item = &Path> + '_ {
        self.by_name.values().filter_map(|u| u.root.as_deref())
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The account named `name`, unverified (the authentication cache checks its PHC).
    pub(crate) fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
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
    if let Some(p) = &perms {
        Perms::from_names(p)?;
    }
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

/// Writes a file readable only by its owner, atomically (temp file + rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

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
    }

    #[test]
    fn rejects_unknown_keys_and_perms() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("u.toml");
        std::fs::write(&p, "[[user]]\nname='a'\npassword='x'\nshell='/bin/sh'\n").unwrap();
        assert!(Users::load(&p).is_err());
        assert!(Perms::from_names(&["fly".into()]).is_err());
    }
}
