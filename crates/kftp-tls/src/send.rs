//! Sending a file over a TLS data connection, for the server's RETR and the client's
//! upload alike: kTLS with sendfile when the kernel takes the keys, rustls in user space
//! otherwise, and a clean close either way. [`block_sink`] makes the same choice for one
//! MODE E stream.

use crate::ktls::{try_ktls_tx, Offload, TlsOverTcp};
use kftp_datapath::modee::Sink;
use kftp_datapath::{copy, Outcome, PathUsed, Tuning};
use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;

/// rustls' own default: never hold less than this in encrypted records.
const MIN_SEND_BUFFER: usize = 64 * 1024;

/// Sends `len` bytes of `file` from `offset` over `tls`, then ends the connection
/// (close_notify, FIN, and a drain of what the peer still sends, so that closing never
/// resets data it has not read). The path used says whether the kernel encrypted
/// ([`PathUsed::KtlsSendfile`], or [`PathUsed::TlsCopy`] when sendfile fell back to the
/// copy loop on the kTLS socket) or rustls did ([`PathUsed::TlsCopy`]).
pub async fn send_file<S: TlsOverTcp>(
    tls: S,
    file: &File,
    offset: u64,
    len: u64,
    tuning: &Tuning,
    progress: &AtomicU64,
) -> io::Result<Outcome> {
    match try_ktls_tx(tls, len).await? {
        Offload::Kernel(k) => {
            let o =
                kftp_datapath::file_to_socket(file, offset, len, k.tcp(), tuning, progress).await?;
            k.shutdown().await?;
            let path = if o.path == PathUsed::Sendfile {
                PathUsed::KtlsSendfile
            } else {
                PathUsed::TlsCopy
            };
            Ok(Outcome {
                bytes: o.bytes,
                path,
            })
        }
        Offload::User(mut tls) => {
            // One file chunk's records in one `writev`, not 64 KiB at a time.
            tls.set_send_buffer(tuning.buf_size.max(MIN_SEND_BUFFER));
            let bytes = copy::file_to_stream(file, offset, len, &mut tls, tuning, progress).await?;
            crate::close_data(tls).await?;
            Ok(Outcome {
                bytes,
                path: PathUsed::TlsCopy,
            })
        }
    }
}

/// A MODE E stream under `PROT P`, right after its handshake, as a sink for
/// [`kftp_datapath::modee::send_blocks`]: [`Sink::Ktls`] when the kernel takes the keys
/// (block headers written and bytes sendfile'd through it), else the rustls stream as
/// `user` wraps it (the copy loop). `expected_bytes` bounds what the stream may carry (the
/// whole range: a stream may take every block), for the AES-GCM record budget. The choice
/// is [`try_ktls_tx`]'s, per stream, remembered as for MODE S; `Err` means the kernel
/// refused keys rustls had already given up (the stream is lost; later ones skip kTLS).
pub async fn block_sink<S: TlsOverTcp, W>(
    tls: S,
    expected_bytes: u64,
    user: impl FnOnce(S) -> W,
) -> io::Result<Sink<W>> {
    Ok(match try_ktls_tx(tls, expected_bytes).await? {
        Offload::Kernel(k) => Sink::Ktls(k),
        Offload::User(tls) => Sink::Stream(user(tls)),
    })
}
