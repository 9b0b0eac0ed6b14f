//! Checksums: the server's (HASH, or XSHA256/XSHA1/XMD5/XCRC) and the same over a local
//! file, for `kftp hash` and `--verify`.

use crate::client::Client;
use crate::data::unsupported;
use crate::error::{Error, ErrorKind, Result};
use kftp_proto::command::ByteRange;
use kftp_proto::{Command, HashAlgo};
use std::path::Path;

/// The order in which X* commands are tried when FEAT lists none of them: strongest first.
const X_ORDER: [HashAlgo; 4] = [
    HashAlgo::Sha256,
    HashAlgo::Sha1,
    HashAlgo::Md5,
    HashAlgo::Crc32,
];

/// Length of the hex form of each digest.
fn hex_len(a: HashAlgo) -> usize {
    match a {
        HashAlgo::Sha256 => 64,
        HashAlgo::Sha512 => 128,
        HashAlgo::Sha1 => 40,
        HashAlgo::Md5 => 32,
        HashAlgo::Crc32 => 8,
    }
}

/// Normalises a hex digest for comparison: lower case, CRCs zero-padded to 8 digits
/// (some servers drop leading zeros).
pub fn normalize(algo: HashAlgo, hex: &str) -> String {
    let h = hex.trim().to_ascii_lowercase();
    if algo == HashAlgo::Crc32 && h.len() < 8 {
        format!("{h:0>8}")
    } else {
        h
    }
}

/// Finds the digest in a reply text: the token of hex digits of the expected length
/// (HASH replies are `algo range digest name`; X* replies are just the digest, sometimes
/// followed by the name).
fn find_digest(algo: HashAlgo, text: &str) -> Option<String> {
    let want = hex_len(algo);
    text.split_whitespace()
        .find(|t| {
            let ok_len = t.len() == want || (algo == HashAlgo::Crc32 && (1..=8).contains(&t.len()));
            ok_len && t.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(|t| normalize(algo, t))
}

/// The `algo` digest a successful HASH, CKSM or X* reply carries; a protocol error
/// naming `verb` when there is none.
fn read_digest(
    algo: HashAlgo,
    r: &kftp_proto::Reply,
    what: &str,
    verb: &str,
) -> Result<(HashAlgo, String)> {
    find_digest(algo, &r.text())
        .map(|d| (algo, d))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("{what}: unreadable {verb} reply: {r}"),
            )
        })
}

impl Client {
    /// The server's checksum of `path`: with HASH if offered (selecting `prefer` with
    /// OPTS HASH when given and available), else GridFTP's CKSM if offered (`prefer`
    /// where listed), else the first X* command that works.
    pub async fn remote_hash(
        &mut self,
        path: &str,
        prefer: Option<HashAlgo>,
    ) -> Result<(HashAlgo, String)> {
        let what = format!("hash {path}");
        if !self.features.hash.is_empty() {
            let mut algo = self.features.hash[0];
            if let Some(p) = prefer {
                if p != algo && self.features.hash.contains(&p) {
                    let r = self
                        .ctl
                        .cmd(&Command::Opts("HASH".into(), Some(p.name().into())))
                        .await?;
                    if r.is_success() {
                        algo = p;
                        if let Some(i) = self.features.hash.iter().position(|a| *a == p) {
                            self.features.hash.swap(0, i);
                        }
                    }
                }
            }
            let r = self.ctl.cmd(&Command::Hash(path.into())).await?;
            if r.is_success() {
                // `213 SHA-256 0-1234 <hex> name`: the algorithm is named in the reply.
                let named = r
                    .text()
                    .split_whitespace()
                    .next()
                    .and_then(HashAlgo::from_name)
                    .unwrap_or(algo);
                return read_digest(named, &r, &what, "HASH");
            }
            if !unsupported(r.code) {
                return Err(Error::reply(what, r));
            }
        }
        if !self.features.cksm.is_empty() {
            let algo = prefer
                .filter(|p| self.features.cksm.contains(p))
                .unwrap_or(self.features.cksm[0]);
            let whole = ByteRange {
                start: 0,
                end: None,
            };
            let r = self
                .ctl
                .cmd(&Command::Cksm(algo, whole, path.into()))
                .await?;
            if r.code == 213 {
                // `213 <hex>`: the digest alone.
                return read_digest(algo, &r, &what, "CKSM");
            }
            if !unsupported(r.code) {
                return Err(Error::reply(what, r));
            }
        }
        let candidates: Vec<HashAlgo> = if self.features.xhash.is_empty() {
            let mut v: Vec<HashAlgo> = prefer.into_iter().collect();
            v.extend(X_ORDER.iter().filter(|a| Some(**a) != prefer));
            v
        } else {
            let mut v = self.features.xhash.clone();
            if let Some(p) = prefer {
                if let Some(i) = v.iter().position(|a| *a == p) {
                    v.swap(0, i);
                }
            }
            v
        };
        for algo in candidates {
            let cmd = Command::XHash(
                algo,
                path.into(),
                ByteRange {
                    start: 0,
                    end: None,
                },
            );
            let r = self.ctl.cmd(&cmd).await?;
            if r.is_success() {
                return read_digest(algo, &r, &what, cmd.verb());
            }
            if !unsupported(r.code) {
                return Err(Error::reply(what, r));
            }
        }
        Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "{what}: the server offers no checksum command (HASH, CKSM, XSHA256, XSHA1, XMD5, XCRC)"
            ),
        ))
    }

    /// Compares the server's checksum of `remote` with the local file's; an
    /// [`ErrorKind::Integrity`] error on mismatch.
    pub async fn verify(&mut self, local: &Path, remote: &str) -> Result<(HashAlgo, String)> {
        let (algo, theirs) = self.remote_hash(remote, Some(HashAlgo::Sha256)).await?;
        let ours = local_hash(local, algo).await?;
        if ours != theirs {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "verify {remote}: {} mismatch: local {ours}, server {theirs}",
                    algo.name()
                ),
            ));
        }
        Ok((algo, ours))
    }
}

/// The checksum of a local file, as lower-case hex (on a blocking thread).
pub async fn local_hash(path: &Path, algo: HashAlgo) -> Result<String> {
    let p = path.to_path_buf();
    let what = format!("hashing {}", path.display());
    tokio::task::spawn_blocking(move || hash_file(&p, algo))
        .await
        .map_err(|e| Error::new(ErrorKind::Local, format!("{what}: {e}")))?
        .map_err(|e| Error::local(what, e))
}

fn hash_file(path: &Path, algo: HashAlgo) -> std::io::Result<String> {
    let f = std::fs::File::open(path)?;
    kftp_datapath::digest::digest_range(&f, algo, 0, u64::MAX)
}

pub use kftp_datapath::digest::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_replies() {
        let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(
            find_digest(HashAlgo::Sha256, &format!("SHA-256 0-4 {sha} test.txt")).as_deref(),
            Some(sha)
        );
        assert_eq!(
            find_digest(HashAlgo::Md5, "098F6BCD4621D373CADE4E832627B4F6").as_deref(),
            Some("098f6bcd4621d373cade4e832627b4f6")
        );
        assert_eq!(
            find_digest(HashAlgo::Crc32, "D87F7E0C").as_deref(),
            Some("d87f7e0c")
        );
        assert_eq!(
            find_digest(HashAlgo::Crc32, "c").as_deref(),
            Some("0000000c")
        );
        assert_eq!(find_digest(HashAlgo::Sha1, "no digest here"), None);
    }

    #[test]
    fn local_digests() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, b"test").unwrap();
        let h = |a| hash_file(&p, a).unwrap();
        assert_eq!(
            h(HashAlgo::Sha256),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        assert_eq!(h(HashAlgo::Md5), "098f6bcd4621d373cade4e832627b4f6");
        assert_eq!(
            h(HashAlgo::Sha1),
            "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
        );
        assert_eq!(h(HashAlgo::Crc32), "d87f7e0c");
    }
}
