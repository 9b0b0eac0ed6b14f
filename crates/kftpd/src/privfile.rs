//! Files only their owner may read (the users file, the quota ledger, the admin token),
//! written so that a crash or a planted link cannot expose or redirect them.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes a file readable only by its owner, atomically: a new temp file with a random
/// name beside it (`create_new` and `O_NOFOLLOW`, so neither a planted file nor a symbolic
/// link at that name is ever written through), mode 0600, synced, renamed over `path`, and
/// the directory synced so the rename survives a crash.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use rand::Rng;
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.to_path_buf()
        }
        None => PathBuf::from("."),
    };
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (tmp, mut f) = {
        let mut tries = 0;
        loop {
            let tag: u64 = rand::rngs::OsRng.gen();
            let tmp = dir.join(format!(".{base}.{tag:016x}.tmp"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)
            {
                Ok(f) => break (tmp, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 8 => {
                    tries += 1;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", tmp.display()));
                }
            }
        }
    };
    let written = (|| -> Result<()> {
        // The umask may have narrowed 0600 further, never widened it; make it exact.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))?;
    Ok(())
}
