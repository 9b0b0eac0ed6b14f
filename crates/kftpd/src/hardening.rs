//! Start-up refusals and warnings about the deployment itself (issue #14): kftpd's own
//! secrets must not be served, it must not serve as root by accident, its metrics must not
//! face the network by accident, and its state must not be readable by other local users.

use crate::config::Config;
use std::path::{Component, Path, PathBuf};

/// `p` made absolute and canonical; a path that does not exist yet is its nearest existing
/// ancestor, canonicalized, with the rest appended (symbolic links resolved where they are).
pub fn canonical_nearest(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = std::fs::canonicalize(cur) {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (cur.parent(), cur.components().next_back()) {
            (Some(parent), Some(Component::Normal(name))) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            (Some(parent), _) => cur = parent,
            (None, _) => return abs,
        }
    }
}

/// The local directories served to clients: the server's root and every account's root
/// (object-storage roots are not on this host's file system).
pub fn served_roots<'a>(
    root: &'a Path,
    users: &'a crate::auth::Users,
) -> impl Iterator<Item = &'a Path> + 'a {
    std::iter::once(root)
        .chain(users.roots())
        .filter(|r| crate::storage::Root::is_local(r))
}

/// kftpd's own files, which no client may read: (what, path).
fn private_paths(cfg: &Config) -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![
        ("the state directory", cfg.state_dir.clone()),
        ("the users file", cfg.users_file.clone()),
    ];
    if let Some(k) = &cfg.tls_key {
        v.push(("the TLS key", k.clone()));
    }
    if let Some(c) = &cfg.tls_cert {
        v.push(("the TLS certificate", c.clone()));
    }
    if let Some(x) = &cfg.ops.xferlog {
        v.push(("the transfer log", x.clone()));
    }
    v
}

/// Refuses a layout in which a client could download kftpd's own files: the state
/// directory (initial password, generated TLS key), the users file, the TLS key and
/// certificate or the transfer log inside a served root. Paths are compared canonical.
pub fn check_private_paths(cfg: &Config, users: &crate::auth::Users) -> Result<(), String> {
    let roots: Vec<(PathBuf, PathBuf)> = served_roots(&cfg.root, users)
        .map(|r| (r.to_path_buf(), canonical_nearest(r)))
        .collect();
    for (what, p) in private_paths(cfg) {
        let cp = canonical_nearest(&p);
        for (root, croot) in &roots {
            if cp.starts_with(croot) {
                return Err(format!(
                    "{what} {} ({}) is inside the served root {} ({}): clients could download \
                     it (passwords, keys). Keep kftpd's files outside every root, e.g. \
                     --state-dir /var/lib/kftpd (and --users, --tls-key, --xferlog there or \
                     under /etc/kftpd, /var/log/kftpd), or serve a directory that does not \
                     contain them",
                    p.display(),
                    cp.display(),
                    root.display(),
                    croot.display()
                ));
            }
        }
    }
    Ok(())
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Refuses to serve as root without `--user` unless `--allow-root`; with it, warns.
///
/// `embedded_default`: kftpd was started with no arguments at all (the README's first
/// command) and listens on loopback only. Then it serves as root with a loud warning instead
/// of refusing: only local users can reach it, and a newcomer's first try should work.
pub fn check_root(cfg: &Config, embedded_default: bool) -> anyhow::Result<()> {
    if !is_root() || cfg.ops.user.is_some() {
        return Ok(());
    }
    let loopback_only = cfg
        .listen
        .iter()
        .chain(&cfg.implicit_listen)
        .all(|a| a.ip().to_canonical().is_loopback());
    if embedded_default && loopback_only && !cfg.ops.allow_root {
        tracing::warn!(
            "started as root with no arguments: serving the embedded default on loopback only, \
             as root. For anything real add --user ftp (or another unprivileged account)"
        );
        return Ok(());
    }
    if !cfg.ops.allow_root {
        anyhow::bail!(
            "running as root without --user: every session would act as root on the file \
             system. Add --user ftp (any unprivileged account; kftpd binds its ports and \
             reads its keys first, then switches) or, if you really mean it, --allow-root \
             (config keys: user = \"ftp\" / allow_root = true)"
        );
    }
    tracing::warn!(
        "--allow-root: serving as root; every login acts as root on the file system (use --user)"
    );
    Ok(())
}

/// Refuses a metrics endpoint outside loopback unless `--metrics-public`; with it, warns.
pub fn check_metrics(cfg: &Config) -> anyhow::Result<()> {
    let Some(a) = cfg.ops.metrics_listen else {
        return Ok(());
    };
    if a.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    if !cfg.ops.metrics_public {
        anyhow::bail!(
            "--metrics-listen {a} is not a loopback address: the metrics endpoint has no \
             authentication and tells anyone who can reach it about users and traffic. Use \
             127.0.0.1:9120 (scrape through an SSH tunnel or a local agent), or add \
             --metrics-public and firewall the port to the Prometheus server"
        );
    }
    tracing::warn!(addr = %a, "--metrics-public: the unauthenticated metrics endpoint listens beyond loopback; firewall it");
    Ok(())
}

/// Warns when the state directory or the users file can be read by other local users,
/// and refuses when either can be written by anyone.
pub fn check_modes(cfg: &Config) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (what, p) in [
        ("state directory", &cfg.state_dir),
        ("users file", &cfg.users_file),
    ] {
        let Ok(m) = std::fs::metadata(p) else {
            continue;
        };
        let mode = m.permissions().mode() & 0o7777;
        if mode & 0o002 != 0 {
            anyhow::bail!(
                "the {what} {} is world-writable (mode {mode:04o}): anyone on this host could \
                 add accounts or replace keys. Fix it with chmod o-w (0700 for the directory, \
                 0600 for the file)",
                p.display()
            );
        }
        if mode & 0o044 != 0 {
            tracing::warn!(
                path = %p.display(),
                mode = format!("{mode:04o}"),
                "the {what} is readable by other local users (chmod go-rwx)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_existing_ancestor() {
        let d = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(d.path()).unwrap();
        assert_eq!(canonical_nearest(&d.path().join("a/b")), real.join("a/b"));
        std::fs::create_dir(d.path().join("x")).unwrap();
        std::os::unix::fs::symlink(d.path().join("x"), d.path().join("l")).unwrap();
        assert_eq!(
            canonical_nearest(&d.path().join("l/new")),
            real.join("x/new")
        );
    }

    #[test]
    fn state_inside_root_is_refused_siblings_are_not() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("public");
        std::fs::create_dir(&root).unwrap();
        let users = crate::auth::Users::default();
        let state = d.path().join(".kftpd-state");
        let ok = Config::new(root.clone(), state.join("users.toml"), state);
        check_private_paths(&ok, &users).unwrap();
        let inside = root.join(".kftpd-state");
        let bad = Config::new(root.clone(), inside.join("users.toml"), inside);
        let e = check_private_paths(&bad, &users).unwrap_err();
        assert!(
            e.contains("state directory") && e.contains("--state-dir"),
            "{e}"
        );
    }
}
