//! RETR.

use super::{mode_name, start_transfer, storage, OrReply, Replied};
use crate::session::Session;
use crate::transfer::Job;
use kftp_proto::TransferType;

/// RETR: open the file, answer 150, and send it from the REST offset (in MODE E: the
/// parts outside the REST ranges, [`crate::modee::restart`]).
pub async fn retr(s: &mut Session, arg: &str) -> Replied {
    let restart = std::mem::take(&mut s.rest);
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let handle = fs.open_read(&p).await.or_reply(arg)?;
    let len = handle.size();
    let (offset, sending) = crate::modee::restart::for_retr(s, restart, len)?;
    s.pending_quota = super::quota::for_download(s, sending)?;
    let ascii = s.ttype == TransferType::Ascii;
    let opening = format!(
        "Opening {} mode data connection for {} ({} bytes).",
        mode_name(s),
        p,
        sending
    );
    start_transfer(
        s,
        Job::Send {
            handle,
            offset,
            ascii,
        },
        "RETR",
        p,
        Some(sending),
        opening,
    )
    .await
}
