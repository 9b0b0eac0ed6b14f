//! ERET and ESTO, GridFTP's extended retrieve and store (GFD.20; the toolkit's
//! `globus_gridftp_protocol_extensions.dox`), in MODE S and MODE E. `globus-url-copy
//! -partial-offset N -partial-length L` downloads with `ERET P N L`, and `-partial-offset
//! N` uploads with `ESTO A N` (with `-p n`, in MODE E).
//!
//! - `ERET P offset size path`: the bytes `[offset, offset + size)` of the file (fewer
//!   when it ends first) sent as a file of their own: a RETR from `offset` that stops at
//!   `offset + size`. An offset past the end gets `554`, as REST does.
//! - `ESTO A offset path`: the data is written into the file itself from `offset` on
//!   ([`WriteMode::Adjust`]): the file must be at least `offset` long (or absent, for 0),
//!   is never shortened (a stretch in the middle may be refilled, as the toolkit's server
//!   does), never goes through a part file an interrupted upload left (that one is
//!   another transfer's), and a failed or refused one cuts back only what it added past
//!   the old end. So it needs `append`, as a resume does (`write` grants it), even at 0.
//!
//! MODE E (issue #17): both are a file of their own on the wire, "with offset of 0 meaning
//! the beginning of the section" (GFD.20; the toolkit's server subtracts the part's
//! offset from every block it sends and adds it to every block it writes,
//! `globus_gridftp_server_get_read_range` / `get_write_range`, and its `111` ranges count
//! from the part too). So ERET's blocks carry `file offset - offset` and ESTO writes each
//! block at `offset + its offset` ([`crate::modee::Plan::partial`]); a failed one keeps the
//! gap-free blocks from `offset` and never cuts below the file's old length
//! ([`crate::modee::restart::keep`]). Which side connects is MODE E's
//! rule: ERET needs PORT, ESTO PASV (`425` otherwise, before anything is opened for
//! writing).
//!
//! A REST before either gets `503` (the command's offset says where to start), TYPE A
//! `504` (a byte range of a converted file has no meaning).

use super::stor::{need_append, open_and_start};
use super::{mode_name, start_transfer, storage, OrReply, Replied};
use crate::session::Session;
use crate::storage::{ReadHandle, WriteMode};
use crate::transfer::Job;
use kftp_proto::{Reply, TransferType};

/// Refuses what neither command supports here (see the module docs).
fn refuse(s: &mut Session, verb: &str) -> Result<(), Reply> {
    if !std::mem::take(&mut s.rest).is_none() {
        return Err(Reply::new(
            503,
            format!("{verb} takes no REST: its offset says where to start."),
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
    // In MODE E the blocks count from the part's start; admit() takes this at once.
    s.modee.partial = s.modee.on.then_some(offset);
    // A retrieve for the logs, metrics and events (their direction goes by the verb).
    let r = start_transfer(s, job, "RETR", p, Some(sending), opening).await;
    s.modee.partial = None;
    r
}

/// ESTO A offset path.
pub async fn esto(s: &mut Session, offset: u64, arg: &str) -> Replied {
    refuse(s, "ESTO")?;
    need_append(s, "ESTO writes into a file and needs")?;
    // In MODE E blocks land at offset + their own offset; set for admit(), and cleared
    // whatever happened, so that a refusal before the transfer leaves nothing for the next.
    s.modee.partial = s.modee.on.then_some(offset);
    let r = open_and_start(s, arg, WriteMode::Adjust(offset), "STOR", None).await;
    s.modee.partial = None;
    r
}
