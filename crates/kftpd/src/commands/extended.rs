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
//! REST before either (issue #17): the toolkit's client restarts a partial transfer
//! that way (`globus_ftp_client_state.c`: REST is "the last thing done on the control
//! connection before sending the RETR, STOR, ERET, or ESTO command"). Its offset (MODE S)
//! or ranges (MODE E) say what the client already has *of the part*, counting from the
//! part's start as the headers and `111` markers do; so kftpd answers as the toolkit's
//! server does (`get_read_range` / `get_write_range`, and on the wire, a raw client
//! against globus-gridftp-server, `ERET P 10000 5000` of a 100000-byte file):
//!
//! - ERET, MODE S, `REST n`: the part's bytes from `n`, i.e. the file's
//!   `[offset + n, offset + size)` (REST 1000 brought 4000 bytes, the file's from 11000);
//!   `REST size` an empty part.
//! - ERET, MODE E, `REST ranges`: the part minus the ranges, headers still counting from
//!   the part's start (`REST 0-1000,2000-3000` brought blocks 1000+1000 and 3000+2000,
//!   the file's bytes from 11000 and 13000).
//! - ESTO, MODE S, `REST n`: the stream is written from `offset + n` (REST 1000, ESTO A
//!   10000: 2000 bytes landed at 11000).
//! - ESTO, MODE E, `REST ranges`: blocks land at `offset +` their own offset as without
//!   REST; the ranges start the `111` markers and what a failed store keeps.
//!
//! Where the toolkit clips or pads, kftpd says no: REST (offset or range end) past the
//! part's end gets `554` (the toolkit sends an empty or clipped part, a client asking for
//! bytes the part lacks is told so), and an ESTO whose REST claims bytes the file does not
//! have (`offset` + REST past its end) `554`, where the toolkit writes past a hole. A
//! range list with gaps in MODE S is `504`, as before RETR; the REST is used up either way
//! ([`crate::modee::restart`] holds the rules shared with RETR and STOR). TYPE A gets
//! `504` (a byte range of a converted file has no meaning).

use super::stor::{need_append, open_and_start};
use super::{mode_name, start_transfer, storage, OrReply, Replied};
use crate::modee::restart;
use crate::session::Session;
use crate::storage::{ReadHandle, WriteMode};
use crate::transfer::Job;
use kftp_proto::modee::Restart;
use kftp_proto::path::VPath;
use kftp_proto::{Reply, TransferType};

/// Takes the session's REST (a refusal uses it up too, as RETR's does) and refuses what
/// neither command supports here (see the module docs).
fn take_rest(s: &mut Session, verb: &str) -> Result<Restart, Reply> {
    let restart = std::mem::take(&mut s.rest);
    if s.ttype == TransferType::Ascii {
        return Err(Reply::new(504, format!("{verb} needs TYPE I.")));
    }
    Ok(restart)
}

/// ERET P offset size path.
pub async fn eret(s: &mut Session, offset: u64, size: u64, arg: &str) -> Replied {
    let restart = take_rest(s, "ERET")?;
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
    // MODE E: sets the ranges the send leaves out, which admit() takes with the offset.
    let (skip, sending) = restart::for_eret(s, restart, end - offset)?;
    let r = send_part(s, (file, offset, end), skip, sending, p).await;
    // Cleared whatever happened, so that a refusal before admit() leaves nothing behind.
    s.modee.partial = None;
    s.modee.restart = None;
    r
}

/// Sends the part `[offset, end)` of `file` from `skip` bytes into it (MODE S; MODE E
/// sends what the REST ranges leave out): `sending` bytes in all.
async fn send_part(
    s: &mut Session,
    (file, offset, end): (std::fs::File, u64, u64),
    skip: u64,
    sending: u64,
    p: VPath,
) -> Replied {
    s.pending_quota = super::quota::for_download(s, sending)?;
    let from = match skip {
        0 => format!("from {offset}"),
        n => format!("from {offset}, restarting {n} bytes into the part"),
    };
    let opening = format!(
        "Opening {} mode data connection for {} ({} bytes {}).",
        mode_name(s),
        p,
        sending,
        from
    );
    let handle = ReadHandle::File { file, len: end };
    let job = Job::Send {
        handle,
        offset: offset + skip,
        ascii: false,
    };
    // In MODE E the blocks count from the part's start; admit() takes this at once.
    s.modee.partial = s.modee.on.then_some(offset);
    // A retrieve for the logs, metrics and events (their direction goes by the verb).
    start_transfer(s, job, "RETR", p, Some(sending), opening).await
}

/// ESTO A offset path.
pub async fn esto(s: &mut Session, offset: u64, arg: &str) -> Replied {
    let restart = take_rest(s, "ESTO")?;
    need_append(s, "ESTO writes into a file and needs")?;
    // MODE S: where the stream starts; MODE E: how long the file must be (the blocks say
    // where they go). Sets the REST ranges for admit() in MODE E.
    let at = restart::for_esto(s, restart, offset)?;
    // In MODE E blocks land at offset + their own offset; set for admit(), and cleared
    // whatever happened, so that a refusal before the transfer leaves nothing for the next.
    s.modee.partial = s.modee.on.then_some(offset);
    let r = open_and_start(s, arg, WriteMode::Adjust(at), "STOR", None).await;
    s.modee.partial = None;
    s.modee.restart = None;
    r
}
