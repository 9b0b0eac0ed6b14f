//! HASH with OPTS HASH and RANG (draft-bryan-ftpext-hash), and the older XCRC, XMD5,
//! XSHA1, XSHA256, XSHA512 forms.

use super::storage;
use crate::session::Session;
use crate::storage::ReadHandle;
use kftp_proto::command::{ByteRange, HashAlgo};
use kftp_proto::Reply;
use std::fs::File;
use std::io;

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

    /// The digest in lower-case hex.
    pub fn hex(self) -> String {
        use sha2::Digest;
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        match self {
            Hasher::S256(x) => hex(&x.finalize()),
            Hasher::S512(x) => hex(&x.finalize()),
            Hasher::S1(x) => hex(&x.finalize()),
            Hasher::M5(x) => hex(&x.finalize()),
            Hasher::C(x) => format!("{:08x}", x.finalize()),
        }
    }
}

/// Digest of bytes `[start, end)` of `file`. Runs on a blocking thread.
pub fn digest(file: &File, algo: HashAlgo, start: u64, end: u64) -> io::Result<String> {
    let mut h = Hasher::new(algo);
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = start;
    while pos < end {
        let want = buf.len().min((end - pos) as usize);
        let n = kftp_datapath::copy::pread(file, &mut buf[..want], pos)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(h.hex())
}

/// Digest of bytes `[start, end)` of an object. A whole-object MD5 comes from the ETag
/// when the store computed one (single-part uploads); everything else is read.
async fn object_digest(
    o: &crate::storage::object::ObjectRead,
    algo: HashAlgo,
    start: u64,
    end: u64,
) -> io::Result<String> {
    use futures::StreamExt;
    if algo == HashAlgo::Md5 && start == 0 && end == o.size() {
        if let Some(md5) = o.content_md5() {
            return Ok(md5);
        }
    }
    let mut h = Hasher::new(algo);
    let mut s = o.stream(start, end).await?;
    while let Some(b) = s.next().await {
        h.update(&b?);
    }
    Ok(h.hex())
}

async fn compute(
    s: &Session,
    arg: &str,
    algo: HashAlgo,
    range: ByteRange,
) -> Result<(String, u64, u64), Reply> {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let handle = fs
        .open_read(&p)
        .await
        .map_err(|e| Reply::new(e.code(), format!("{arg}: {e}.")))?;
    let len = handle.size();
    let end = range.end.unwrap_or(len).min(len);
    if range.start > end {
        return Err(Reply::new(
            501,
            format!("Range starts past the end of the file ({len} bytes)."),
        ));
    }
    let start = range.start;
    let hex = match handle {
        ReadHandle::File { file, .. } => {
            tokio::task::spawn_blocking(move || digest(&file, algo, start, end))
                .await
                .map_err(|_| Reply::new(451, "Hashing failed."))?
        }
        ReadHandle::Object(o) => object_digest(&o, algo, start, end).await,
    }
    .map_err(|e| Reply::new(451, format!("Hashing failed: {e}.")))?;
    Ok((hex, start, end))
}

/// HASH path: `213 <algo> <start>-<end> <hex> <path>`, end inclusive as the draft shows.
pub async fn hash(s: &mut Session, arg: &str) -> Reply {
    let algo = s.hash_algo;
    let range = match s.rang.take() {
        Some((a, b)) => ByteRange {
            start: a,
            end: Some(b.saturating_add(1)),
        },
        None => ByteRange {
            start: 0,
            end: None,
        },
    };
    match compute(s, arg, algo, range).await {
        Ok((hex, start, end)) => Reply::new(
            213,
            format!(
                "{} {start}-{} {hex} {arg}",
                algo.name(),
                end.saturating_sub(1).max(start)
            ),
        ),
        Err(r) => r,
    }
}

/// RANG start end: limits the next HASH; `RANG 1 0` resets.
pub fn rang(s: &mut Session, a: u64, b: u64) -> Reply {
    if a == 1 && b == 0 {
        s.rang = None;
        return Reply::new(350, "Range reset.");
    }
    if a > b {
        return Reply::new(501, "RANG start must not exceed end.");
    }
    s.rang = Some((a, b));
    Reply::new(350, format!("Range set to {a}-{b}; send HASH."))
}

/// XCRC/XMD5/XSHA*: `250 <hex>`, range end exclusive.
pub async fn xhash(s: &mut Session, algo: HashAlgo, arg: &str, range: ByteRange) -> Reply {
    match compute(s, arg, algo, range).await {
        Ok((hex, ..)) => Reply::new(250, hex),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn known_digests() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"abc").unwrap();
        assert_eq!(
            digest(&f, HashAlgo::Sha256, 0, 3).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            digest(&f, HashAlgo::Md5, 0, 3).unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(
            digest(&f, HashAlgo::Sha1, 0, 3).unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(digest(&f, HashAlgo::Crc32, 0, 3).unwrap(), "352441c2");
        assert_eq!(digest(&f, HashAlgo::Md5, 1, 2).unwrap(), {
            use sha2::Digest;
            format!("{:x}", md5::Md5::digest(b"b"))
        });
    }
}
