//! Dropping root: started as root, kftpd binds its ports (21, 990) and reads its keys, then
//! becomes `--user NAME` for good: supplementary groups cleared to the user's primary
//! group, then the group, then the user (in that order: after setuid, setgid would fail).
//! glibc applies each change to every thread of the process.

use anyhow::{bail, Context, Result};
use nix::unistd::{getegid, geteuid, setgid, setgroups, setuid, Uid, User};

/// Switches to `name`. Not root: succeeds only if `name` is who we already are.
pub fn drop_to(name: &str) -> Result<()> {
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
    setgroups(&[user.gid]).context("setgroups")?;
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
