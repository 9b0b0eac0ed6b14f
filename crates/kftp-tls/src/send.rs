//! Sending a file over a TLS data connection, for the server's RETR and the client's
//! upload alike: kTLS with sendfile when the kernel takes the keys, rustls in user space
//! otherwise, and a clean close either way.

use crate::ktls::{try_ktls_tx, Offload, TlsOverTcp};
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
