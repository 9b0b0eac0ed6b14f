//! Dropping root: started as root, kftpd binds its ports (21, 990) and reads its keys, then
//! becomes `--user NAME` for good: supplementary groups cleared to the user's primary
//! group (plus those of `keep` the user is a member of), then the group, then the user (in
//! that order: after setuid, setgid would fail). glibc applies each change to every thread
//! of the process.

use anyhow::{bail, Context, Result};
use nix::unistd::{getegid, geteuid, setgid, setgroups, setuid, Gid, Group, Uid, User};

/// Switches to `name`, keeping those groups of `keep` that list `name` as a member (e.g.
/// `shadow` for `--auth pam`, see SECURITY.md). Not root: succeeds only if `name` is who
/// we already are.
pub fn drop_to(name: &str, keep: &[&str]) -> Result<()> {
    let user = User::from_name(name)
        .with_context(|| format!("looking up user '{name}'"))?
        .with_context(|| format!("no such user '{name}'"))?;
    if !geteuid().is_root() {
        if geteuid() == user.uid {
            tracing::info!(user = name, "already running as --user");
            return Ok(());
        }
        bail!("--user {name}: not running as root, cannot switch users");
    }
    if user.uid.is_root() {
        bail!("--user {name}: refusing to 'drop' to uid 0");
    }
    let mut groups = vec![user.gid];
    groups.extend(kept_groups(name, user.gid, keep));
    setgroups(&groups).context("setgroups")?;
    setgid(user.gid).context("setgid")?;
    setuid(user.uid).context("setuid")?;
    // Paranoia: it must not be possible to get root back.
    if setuid(Uid::from_raw(0)).is_ok() || geteuid().is_root() {
        bail!("--user {name}: root privileges could be regained");
    }
    tracing::info!(
        user = name,
        uid = user.uid.as_raw(),
        gid = getegid().as_raw(),
        "dropped privileges"
    );
    Ok(())
}

/// The gids of the groups named in `keep` that `name` belongs to (as a listed member or
/// as its primary group); each one not kept is logged, with what it costs.
fn kept_groups(name: &str, primary: Gid, keep: &[&str]) -> Vec<Gid> {
    let mut out = Vec::new();
    for g in keep {
        match Group::from_name(g) {
            Ok(Some(grp)) if grp.gid == primary => {}
            Ok(Some(grp)) if grp.mem.iter().any(|m| m == name) => {
                tracing::info!(user = name, group = g, "kept supplementary group");
                out.push(grp.gid);
            }
            _ => tracing::warn!(
                user = name,
                group = g,
                "--user is not in group {g}: pam_unix cannot check local passwords (`adduser {name} {g}`); PAM modules that ask a daemon (pam_sss, pam_ldap) are unaffected"
            ),
        }
    }
    out
}
