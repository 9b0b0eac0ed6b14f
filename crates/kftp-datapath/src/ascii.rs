//! TYPE A: line endings converted on the fly, in chunks, correct across chunk boundaries.
//!
//! The file side uses the Unix convention (LF), the wire uses NVT-ASCII (CRLF), as RFC 959
//! asks. Sending turns every LF into CRLF and passes every other byte, bare CR included,
//! through unchanged (as vsftpd does). Receiving turns every CRLF into LF and keeps a CR
//! not followed by LF; a CR that ends one chunk is held until the next chunk (or EOF)
//! says what follows it. So `FromNetwork` undoes `ToNetwork` exactly, for any bytes.
//!
//! Both transfer functions count *file* bytes in `progress` and in their result.

use crate::copy::{pread, pwrite_all};
use crate::Tuning;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// LF -> CRLF, for sending. Stateless: an LF always becomes CRLF.
#[derive(Clone, Copy, Debug, Default)]
pub struct ToNetwork;

impl ToNetwork {
    /// Appends the converted form of `input` to `out`.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 16);
        let mut rest = input;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
    }
}

/// CRLF -> LF, for receiving; holds a trailing CR until it knows what follows.
#[derive(Clone, Copy, Debug, Default)]
pub struct FromNetwork {
    pending_cr: bool,
}

impl FromNetwork {
    /// Appends the converted form of `input` to `out`. A CR at the end of `input` is not
    /// written yet: the next call (or [`FromNetwork::finish`]) decides.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        let mut rest = input;
        if self.pending_cr {
            self.pending_cr = false;
            match rest.first() {
                None => {
                    self.pending_cr = true;
                    return;
                }
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
            }
        }
        while let Some(i) = rest.iter().position(|&b| b == b'\r') {
            out.extend_from_slice(&rest[..i]);
            match rest.get(i + 1) {
                None => {
                    self.pending_cr = true;
                    return;
                }
                Some(b'\n') => {
                    out.push(b'\n');
                    rest = &rest[i + 2..];
                }
                Some(_) => {
                    out.push(b'\r');
                    rest = &rest[i + 1..];
                }
            }
        }
        out.extend_from_slice(rest);
    }

    /// At end of input: writes a held CR, if any.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

fn chunk(tuning: &Tuning) -> usize {
    let mut c = tuning.buf_size.clamp(4096, 4 << 20);
    for l in &tuning.limits {
        c = c.min(l.chunk_hint());
    }
    c
}

/// Sends `file` from `offset` to EOF as TYPE A (LF -> CRLF). Returns the file bytes read.
/// Does not shut the writer down. Rate limits count the bytes on the wire.
pub async fn file_to_stream_ascii<W: AsyncWrite + Unpin>(
    file: &File,
    offset: u64,
    w: &mut W,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut buf = vec![0u8; chunk(tuning)];
    let mut out = Vec::with_capacity(buf.len() * 2);
    let mut conv = ToNetwork;
    let mut done = 0u64;
    loop {
        let n = pread(file, &mut buf, offset + done)?;
        if n == 0 {
            break;
        }
        out.clear();
        conv.convert(&buf[..n], &mut out);
        for l in &tuning.limits {
            l.acquire(out.len() as u64).await;
        }
        w.write_all(&out).await?;
        done += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    w.flush().await?;
    Ok(done)
}

/// Receives TYPE A data until EOF (CRLF -> LF) into `file` at `offset`. Returns the bytes
/// written to the file.
pub async fn stream_to_file_ascii<R: AsyncRead + Unpin>(
    r: &mut R,
    file: &File,
    offset: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<u64> {
    let mut buf = vec![0u8; chunk(tuning)];
    let mut out = Vec::with_capacity(buf.len() + 1);
    let mut conv = FromNetwork::default();
    let mut done = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        out.clear();
        if n == 0 {
            conv.finish(&mut out);
        } else {
            conv.convert(&buf[..n], &mut out);
        }
        crate::charge(tuning, out.len() as u64)?;
        pwrite_all(file, &out, offset + done)?;
        done += out.len() as u64;
        progress.fetch_add(out.len() as u64, Ordering::Relaxed);
        if n == 0 {
            return Ok(done);
        }
        for l in &tuning.limits {
            l.acquire(n as u64).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn to_net(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut c = ToNetwork;
        for ch in chunks {
            c.convert(ch, &mut out);
        }
        out
    }

    fn from_net(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut c = FromNetwork::default();
        for ch in chunks {
            c.convert(ch, &mut out);
        }
        c.finish(&mut out);
        out
    }

    #[test]
    fn lf_becomes_crlf() {
        assert_eq!(to_net(&[b"a\nb\n"]), b"a\r\nb\r\n");
        assert_eq!(to_net(&[b"\n\n"]), b"\r\n\r\n");
        assert_eq!(to_net(&[b"bare\rcr"]), b"bare\rcr");
        assert_eq!(to_net(&[b"x\r\n"]), b"x\r\r\n");
        assert_eq!(to_net(&[b""]), b"");
    }

    #[test]
    fn crlf_becomes_lf() {
        assert_eq!(from_net(&[b"a\r\nb\r\n"]), b"a\nb\n");
        assert_eq!(from_net(&[b"bare\rcr\n"]), b"bare\rcr\n");
        assert_eq!(from_net(&[b"\r\r\n"]), b"\r\n");
        assert_eq!(from_net(&[b"end\r"]), b"end\r");
    }

    #[test]
    fn cr_at_chunk_end() {
        assert_eq!(from_net(&[b"a\r", b"\nb"]), b"a\nb");
        assert_eq!(from_net(&[b"a\r", b"b"]), b"a\rb");
        assert_eq!(from_net(&[b"a\r", b"", b"\n"]), b"a\n");
        assert_eq!(from_net(&[b"a\r", b"\r", b"\n"]), b"a\r\n");
        assert_eq!(from_net(&[b"\r", b"\r"]), b"\r\r");
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..6),
        ) {
            let wire = to_net(&[&data]);
            // Any split of the wire bytes decodes to the original.
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts {
                chunks.push(&wire[at..c]);
                at = c;
            }
            chunks.push(&wire[at..]);
            prop_assert_eq!(from_net(&chunks), data.clone());
            // And splitting the input of the encoder changes nothing.
            let mid = data.len() / 2;
            prop_assert_eq!(to_net(&[&data[..mid], &data[mid..]]), wire);
        }
    }
}
