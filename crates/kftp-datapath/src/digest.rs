//! The HASH/X* digests of a file or a byte range of it, for the server's HASH command and
//! the client's `kftp hash` and `--verify`: one algorithm table and one read loop, so both
//! ends compute the same thing.

use kftp_proto::HashAlgo;
use std::fs::File;
use std::io;

/// Bytes read and hashed per step: between steps a job can be cancelled and rate-limited.
pub const CHUNK: usize = 1 << 20;

/// An incremental digest of one of the HASH algorithms.
pub enum Hasher {
    /// SHA-256.
    S256(sha2::Sha256),
    /// SHA-512.
    S512(sha2::Sha512),
    /// SHA-1.
    S1(sha1::Sha1),
    /// MD5.
    M5(md5::Md5),
    /// CRC-32.
    C(crc32fast::Hasher),
}

impl Hasher {
    /// A fresh digest.
    pub fn new(algo: HashAlgo) -> Hasher {
        use sha2::Digest;
        match algo {
            HashAlgo::Sha256 => Hasher::S256(sha2::Sha256::new()),
            HashAlgo::Sha512 => Hasher::S512(sha2::Sha512::new()),
            HashAlgo::Sha1 => Hasher::S1(sha1::Sha1::new()),
            HashAlgo::Md5 => Hasher::M5(md5::Md5::new()),
            HashAlgo::Crc32 => Hasher::C(crc32fast::Hasher::new()),
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, b: &[u8]) {
        use sha2::Digest;
        match self {
            Hasher::S256(x) => x.update(b),
            Hasher::S512(x) => x.update(b),
            Hasher::S1(x) => x.update(b),
            Hasher::M5(x) => x.update(b),
            Hasher::C(x) => x.update(b),
        }
    }

    /// The digest in lower-case hex (CRC-32 as 8 digits).
    pub fn hex(self) -> String {
        use sha2::Digest;
        match self {
            Hasher::S256(x) => hex(&x.finalize()),
            Hasher::S512(x) => hex(&x.finalize()),
            Hasher::S1(x) => hex(&x.finalize()),
            Hasher::M5(x) => hex(&x.finalize()),
            Hasher::C(x) => format!("{:08x}", x.finalize()),
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Reads and hashes the next chunk of `file` at `pos` (at most `buf.len()` bytes, and not
/// past `end`); the bytes hashed, 0 at the end of the file.
pub fn hash_chunk(
    file: &File,
    h: &mut Hasher,
    buf: &mut [u8],
    pos: u64,
    end: u64,
) -> io::Result<usize> {
    let want = (buf.len() as u64).min(end.saturating_sub(pos)) as usize;
    let n = crate::copy::pread(file, &mut buf[..want], pos)?;
    h.update(&buf[..n]);
    Ok(n)
}

/// Digest of bytes `[start, end)` of `file` (to its end if shorter; `u64::MAX` for the
/// whole file). Blocking: run it on a blocking thread.
pub fn digest_range(file: &File, algo: HashAlgo, start: u64, end: u64) -> io::Result<String> {
    let mut h = Hasher::new(algo);
    let mut buf = vec![0u8; CHUNK];
    let mut pos = start;
    while pos < end {
        let n = hash_chunk(file, &mut h, &mut buf, pos, end)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
    }
    Ok(h.hex())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn known_digests() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"abc").unwrap();
        let d = |algo, start, end| digest_range(&f, algo, start, end).unwrap();
        assert_eq!(
            d(HashAlgo::Sha256, 0, 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d(HashAlgo::Md5, 0, 3), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            d(HashAlgo::Sha1, 0, u64::MAX),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(d(HashAlgo::Crc32, 0, 3), "352441c2");
        // Bytes [1, 2): "b".
        assert_eq!(d(HashAlgo::Md5, 1, 2), "92eb5ffee6ae2fec3ad71c777531578f");
        assert!(d(HashAlgo::Sha512, 0, 3).starts_with("ddaf35a193617aba"));
    }
}
