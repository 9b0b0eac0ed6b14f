//! kftp against real servers. One test binary (STYLE.md): `vsftpd` starts Debian's
//! vsftpd; `library` drives the client API; `cli` runs the `kftp` binary itself;
//! `hostile` runs it against a small lying server of its own; `session` checks the
//! round trips a session costs (settings sent together, QUIT not waited for); `recovery`
//! breaks or idles out one session of a parallel run.

mod cli;
mod copy;
mod hostile;
mod kftpd;
mod library;
mod markers;
mod modee;
mod modee_tls;
mod pipeline;
mod recovery;
mod session;
mod suite;
mod vsftpd;

use sha2::Digest;
use std::path::Path;

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 of a file, hex.
pub fn sha256_file(p: &Path) -> String {
    let data = std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
    kftp::hash::hex(&sha2::Sha256::digest(&data))
}

/// Every file under `root` with its SHA-256, by relative path.
pub fn tree_hashes(root: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, sha256_file(&p));
            }
        }
    }
    out
}
