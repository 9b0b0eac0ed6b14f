//! HASH with OPTS HASH and RANG (draft-bryan-ftpext-hash), and the older XCRC, XMD5,
//! XSHA1, XSHA256, XSHA512 forms.

use super::storage;
use crate::session::Session;
use crate::storage::ReadHandle;
use kftp_proto::command::{ByteRange, HashAlgo};
use kftp_proto::Reply;
use std::fs::File;
use std::io;

/// Digest of bytes `[start, end)` of `file`. Runs on a blocking thread.
pub fn digest(file: &File, algo: HashAlgo, start: u64, end: u64) -> io::Result<String> {
    use sha2::Digest;
    enum H {
        S256(sha2::Sha256),
        S512(sha2::Sha512),
        S1(sha1::Sha1),
        M5(md5::Md5),
        C(crc32fast::Hasher),
    }
    let mut h = match algo {
        HashAlgo::Sha256 => H::S256(sha2::Sha256::new()),
        HashAlgo::Sha512 => H::S512(sha2::Sha512::new()),
        HashAlgo::Sha1 => H::S1(sha1::Sha1::new()),
        HashAlgo::Md5 => H::M5(md5::Md5::new()),
        HashAlgo::Crc32 => H::C(crc32fast::Hasher::new()),
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = start;
    while pos < end {
        let want = buf.len().min((end - pos) as usize);
        let n = kftp_datapath::copy::pread(file, &mut buf[..want], pos)?;
        if n == 0 {
            break;
        }
        let b = &buf[..n];
        match &mut h {
            H::S256(x) => x.update(b),
            H::S512(x) => x.update(b),
            H::S1(x) => x.update(b),
            H::M5(x) => x.update(b),
            H::C(x) => x.update(b),
        }
        pos += n as u64;
    }
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    Ok(match h {
        H::S256(x) => hex(&x.finalize()),
        H::S512(x) => hex(&x.finalize()),
        H::S1(x) => hex(&x.finalize()),
        H::M5(x) => hex(&x.finalize()),
        H::C(x) => format!("{:08x}", x.finalize()),
    })
}

async fn compute(
    s: &Session,
    arg: &str,
    algo: HashAlgo,
    range: ByteRange,
) -> Result<(String, u64, u64), Reply> {
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let ReadHandle::File { file, len } = fs
        .open_read(&p)
        .await
        .map_err(|e| Reply::new(e.code(), format!("{arg}: {e}.")))?;
    let end = range.end.unwrap_or(len).min(len);
    if range.start > end {
        return Err(Reply::new(
            501,
            format!("Range starts past the end of the file ({len} bytes)."),
        ));
    }
    let start = range.start;
    let hex = tokio::task::spawn_blocking(move || digest(&file, algo, start, end))
        .await
        .map_err(|_| Reply::new(451, "Hashing failed."))?
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
