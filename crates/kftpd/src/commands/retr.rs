//! RETR.

use super::{mode_name, start_transfer, storage};
use crate::session::Session;
use crate::transfer::Job;
use kftp_proto::{Reply, TransferType};

/// RETR: open the file, answer 150, and send it from the REST offset.
pub async fn retr(s: &mut Session, arg: &str) -> Option<Reply> {
    let offset = std::mem::take(&mut s.rest);
    let fs = match storage(s) {
        Ok(f) => f,
        Err(r) => return Some(r),
    };
    let p = match s.resolve(arg) {
        Ok(p) => p,
        Err(r) => return Some(r),
    };
    let handle = match fs.open_read(&p).await {
        Ok(h) => h,
        Err(e) => return Some(Reply::new(e.code(), format!("{arg}: {e}."))),
    };
    let len = handle.size();
    if offset > len {
        return Some(Reply::new(
            554,
            format!("Restart offset {offset} is past the end of the file ({len} bytes)."),
        ));
    }
    s.pending_quota = match super::quota::for_download(s, len - offset) {
        Ok(q) => q,
        Err(r) => return Some(r),
    };
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
