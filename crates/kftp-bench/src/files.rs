//! The bench root: the files every server serves, made once per run.
//!
//! ```text
//! ROOT/big.bin          --size bytes (single-stream rows, and the raw loops)
//! ROOT/big-wan.bin      --wan-size bytes, for the GridFTP rows on the emulated WAN,
//!                       when it differs from --size
//! ROOT/conc/fNN         one per concurrency slot, --conc-size bytes each ("different
//!                       files"; "same file" reads conc/f00)
//! ROOT/small/sNNNN      --small-files files of --small-size bytes
//! ROOT/up/              uploads land here, one name per server, deleted after the row
//! ```
//!
//! Contents are pseudo-random (incompressible, not zeros: some paths special-case holes),
//! and are written through the page cache, so they are cached when the rows run.
//! Directories are world-writable because pure-ftpd sessions run as `nobody`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Names of the bench files, relative to the served root.
pub const BIG: &str = "big.bin";
/// The GridFTP rows' big file on the WAN, when `--wan-size` is not `--size`.
pub const BIG_WAN: &str = "big-wan.bin";

/// The `i`-th concurrency file.
pub fn conc(i: usize) -> String {
    format!("conc/f{i:02}")
}

/// The `i`-th small file.
pub fn small(i: usize) -> String {
    format!("small/s{i:05}")
}

/// Upload name for one server and stream.
pub fn upload(server_key: &str, i: usize) -> String {
    format!("up/{server_key}-{i}")
}

/// Writes `len` pseudo-random bytes to `path` unless it already has that length.
fn fill(path: &Path, len: u64, seed: u64) -> io::Result<()> {
    if fs::metadata(path).map(|m| m.len() == len).unwrap_or(false) {
        return Ok(());
    }
    let mut f = File::create(path)?;
    let mut x = seed | 1;
    let mut buf = vec![0u8; (1 << 20).min(len.max(1) as usize)];
    let mut left = len;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            // xorshift64: fast and good enough to defeat compression.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        let n = buf.len().min(left as usize);
        f.write_all(&buf[..n])?;
        left -= n as u64;
    }
    f.set_permissions(fs::Permissions::from_mode(0o644))
}

fn world_dir(path: &Path) -> io::Result<()> {
    fs::create_dir_all(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o777))
}

/// What to create.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Size of big.bin.
    pub big: u64,
    /// Size of big-wan.bin, if one is made.
    pub wan_big: Option<u64>,
    /// Number of concurrency files.
    pub conc_files: usize,
    /// Size of each concurrency file.
    pub conc_size: u64,
    /// Number of small files.
    pub small_files: usize,
    /// Size of each small file.
    pub small_size: u64,
}

/// Creates (or reuses) the bench root under `work`; returns its path.
pub fn prepare(work: &Path, l: &Layout) -> io::Result<PathBuf> {
    // Every directory up to the root must be traversable by `nobody`.
    fs::set_permissions(work, fs::Permissions::from_mode(0o755))?;
    let root = work.join("root");
    world_dir(&root)?;
    world_dir(&root.join("conc"))?;
    world_dir(&root.join("small"))?;
    world_dir(&root.join("up"))?;
    fill(&root.join(BIG), l.big, 1)?;
    if let Some(len) = l.wan_big {
        fill(&root.join(BIG_WAN), len, 2)?;
    }
    for i in 0..l.conc_files {
        fill(&root.join(conc(i)), l.conc_size, 100 + i as u64)?;
    }
    for i in 0..l.small_files {
        fill(&root.join(small(i)), l.small_size, 10_000 + i as u64)?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_made_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout {
            big: 3 << 20 | 5,
            wan_big: Some(7),
            conc_files: 2,
            conc_size: 1000,
            small_files: 3,
            small_size: 10,
        };
        let root = prepare(dir.path(), &l).unwrap();
        assert_eq!(fs::metadata(root.join(BIG)).unwrap().len(), 3 << 20 | 5);
        assert_eq!(fs::metadata(root.join(BIG_WAN)).unwrap().len(), 7);
        assert_eq!(fs::metadata(root.join(conc(1))).unwrap().len(), 1000);
        assert_eq!(fs::read(root.join(small(2))).unwrap().len(), 10);
        assert_ne!(fs::read(root.join(small(0))).unwrap(), vec![0u8; 10]);
        prepare(dir.path(), &l).unwrap();
    }
}
