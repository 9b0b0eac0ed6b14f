//! TYPE A transfers: NVT-ASCII on the wire (CRLF line ends), local line ends on disk.
//!
//! Downloads drop the CR of each CRLF (a lone CR is kept); uploads turn each bare LF into
//! CRLF. A CR at the end of one read buffer is held back until the next byte is known.

use kftp_datapath::copy::{pread, pwrite_all};
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const BUF: usize = 256 * 1024;

/// CRLF -> LF, streaming: converts `input`, with `pending_cr` carrying a trailing CR
/// between calls.
pub fn crlf_to_lf(input: &[u8], pending_cr: &mut bool, out: &mut Vec<u8>) {
    for &b in input {
        if *pending_cr {
            *pending_cr = false;
            if b != b'\n' {
                out.push(b'\r');
            }
        }
        if b == b'\r' {
            *pending_cr = true;
        } else {
            out.push(b);
        }
    }
}

/// LF -> CRLF, leaving existing CRLF pairs alone. `last` is the previous byte seen.
pub fn lf_to_crlf(input: &[u8], last: &mut u8, out: &mut Vec<u8>) {
    for &b in input {
        if b == b'\n' && *last != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        *last = b;
    }
}

/// Receives an ASCII stream into `file` (from its start). Returns the bytes received.
pub async fn recv_ascii<R: AsyncRead + Unpin>(
    r: &mut R,
    file: &File,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::with_capacity(BUF);
    let mut pending = false;
    let (mut received, mut written) = (0u64, 0u64);
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        out.clear();
        crlf_to_lf(&buf[..n], &mut pending, &mut out);
        pwrite_all(file, &out, written)?;
        written += out.len() as u64;
        received += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    if pending {
        pwrite_all(file, b"\r", written)?;
    }
    Ok(received)
}

/// Sends `file` as ASCII. Returns the bytes of the file read.
pub async fn send_ascii<W: AsyncWrite + Unpin>(
    file: &File,
    w: &mut W,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::with_capacity(BUF * 2);
    let mut last = 0u8;
    let mut offset = 0u64;
    loop {
        let n = pread(file, &mut buf, offset)?;
        if n == 0 {
            break;
        }
        out.clear();
        lf_to_crlf(&buf[..n], &mut last, &mut out);
        w.write_all(&out).await?;
        offset += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    w.flush().await?;
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let mut out = Vec::new();
        let mut p = false;
        crlf_to_lf(b"a\r", &mut p, &mut out);
        crlf_to_lf(b"\nb\rc\r\n", &mut p, &mut out);
        assert_eq!(out, b"a\nb\rc\n");
        let mut out = Vec::new();
        let mut last = 0;
        lf_to_crlf(b"a\nb\r", &mut last, &mut out);
        lf_to_crlf(b"\nc\n", &mut last, &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
    }
}
