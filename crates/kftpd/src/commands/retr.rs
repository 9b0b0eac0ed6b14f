//! RETR.

use super::{mode_name, start_transfer, storage, OrReply, Replied};
use crate::session::Session;
use crate::transfer::Job;
use kftp_proto::{Reply, TransferType};

/// RETR: open the file, answer 150, and send it from the REST offset.
pub async fn retr(s: &mut Session, arg: &str) -> Replied {
    let offset = std::mem::take(&mut s.rest);
    let fs = storage(s)?;
    let p = s.resolve(arg)?;
    let handle = fs.open_read(&p).await.or_reply(arg)?;
    let len = handle.size();
    if offset > len {
        return Err(Reply::new(
            554,
            format!("Restart offset {offset} is past the end of the file ({len} bytes)."),
        ));
    }
    s.pending_quota = super::quota::for_download(s, len - offset)?;
    let ascii = s.ttype == TransferType::Ascii;
    let opening = format!(
        "Opening {} mode data connection for {} ({} bytes).",
        mode_name(s),
        p,
        len - offset
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
        Some(len - offset),
        opening,
    )
    .await
}
