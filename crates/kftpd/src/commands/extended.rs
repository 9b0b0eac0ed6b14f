//! ERET and ESTO, GridFTP's extended retrieve and store (GFD.20; the toolkit's
//! `globus_gridftp_protocol_extensions.dox`), in MODE S. `globus-url-copy -partial-offset N
//! -partial-length L` downloads with `ERET P N L`, and `-partial-offset N` uploads with
//! `ESTO A N`.
//!
//! - `ERET P offset size path`: the bytes `[offset, offset + size)` of the file (fewer
//!   when it ends first) sent as a file of their own: a RETR from `offset` that stops at
//!   `offset + size`. An offset past the end gets `554`, as REST does.
//! - `ESTO A offset path`: the data is written from `offset` on: exactly `REST offset` and
//!   `STOR` (the part file first, else the existing file in place, which must be at least
//!   `offset` long; [`super::stor`]).
//!
//! In MODE E both get `504`: GFD.20 has their blocks carry offsets counted from the part's
//! start, which kftpd's block mover does not shift; REST ranges with RETR/STOR do the
//! same there. A REST before either gets `503` (the command's offset says where to
//! start), TYPE A `504` (a byte range of a converted file has no meaning).

use super::stor::{stor, Kind};
use super::{mode_name, start_transfer, storage, OrReply, Replied};
use crate::session::Session;
use crate::storage::ReadHandle;
use crate::transfer::Job;
use kftp_proto::modee::Restart;
use kftp_proto::{Reply, TransferType};

/// Refuses what neither command supports here (see the module docs).
fn refuse(s: &mut Session, verb: &str) -> Result<(), Reply> {
    if !std::mem::take(&mut s.rest).is_none() {
        return Err(Reply::new(
            503,
            format!("{verb} takes no REST: its offset says where to start."),
        ));
    }
    if s.modee.on {
        return Err(Reply::new(
            504,
            format!("{verb} is implemented in MODE S only; in MODE E use REST ranges."),
        ));
    }
    if s.ttype == TransferType::Ascii {
        return Err(Reply::new(504, format!("{verb} needs TYPE I.")));
    }
    Ok(())
}

/// ERET P offset size path.
pub async fn eret(s: &mut Session, offset: u64, size: u64, arg: &str) -> Replied {
    refuse(s, "ERET")?;
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let handle = fs.open_read(&p).await.or_reply(arg)?;
    // A match, not let-else: without the `s3` feature the object arm is uninhabited.
    #[allow(unreachable_patterns)]
    let (file, len) = match handle {
        ReadHandle::File { file, len } => (file, len),
        ReadHandle::Object(_) => {
            return Err(Reply::new(
                504,
                "ERET needs a local file system root; use REST and RETR.",
            ))
        }
    };
    if offset > len {
        return Err(Reply::new(
            554,
            format!("ERET offset {offset} is past the end of the file ({len} bytes)."),
        ));
    }
    // The transfer sends the handle's length, so the part ends there.
    let end = offset.saturating_add(size).min(len);
    let sending = end - offset;
    s.pending_quota = super::quota::for_download(s, sending)?;
    let opening = format!(
        "Opening {} mode data connection for {} ({} bytes from {}).",
        mode_name(s),
        p,
        sending,
        offset
    );
    let handle = ReadHandle::File { file, len: end };
    let job = Job::Send {
        handle,
        offset,
        ascii: false,
    };
    // A retrieve for the logs, metrics and events (their direction goes by the verb).
    start_transfer(s, job, "RETR", p, Some(sending), opening).await
}

/// ESTO A offset path.
pub async fn esto(s: &mut Session, offset: u64, arg: &str) -> Replied {
    refuse(s, "ESTO")?;
    s.rest = Restart::Offset(offset);
    stor(s, arg, Kind::Stor).await
}
