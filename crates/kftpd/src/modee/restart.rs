//! REST in MODE E (GridFTP restart, `globus_gridftp_protocol_extensions.dox`): REST takes
//! the byte ranges the receiver already has (`REST 0-1000,2000-3000`, what the `111`
//! range markers reported), and a plain `REST n` means the range `0-n`, as in the
//! toolkit's server.
//!
//! - RETR: kftpd sends only the parts of the file outside the ranges, as blocks at their
//!   absolute offsets ([`kftp_datapath::modee::send_ranges`]).
//! - STOR: the upload resumes into the file that holds the ranges, opened exactly as a
//!   MODE S `REST n` + `STOR` with `n` the end of the last range (an interrupted upload's
//!   part file first, else the existing file in place, never truncated on open; the file
//!   must be at least that long). The `111` markers then report the resumed ranges too.
//! - ERET P / ESTO A (issue #17, the toolkit's client restarting a partial transfer):
//!   the same, with the part as the file. An offset or ranges count from the part's start,
//!   as its block headers and `111` markers do ([`for_eret`], [`for_esto`]).
//! - APPE keeps a `504`: blocks carry absolute offsets, so "append" has no meaning (the
//!   protocol text lists APPE but gives it none in MODE E).
//!
//! A failed MODE E upload keeps only what is known to be whole: its file is cut back to
//! the longest gap-free prefix of written blocks (never below the length it had before),
//! so `SIZE` then `REST n` (MODE S or E) resumes byte-exact even though blocks arrived
//! out of order. A complete one ends at its furthest block.
//!
//! Bounds: the range list is parsed once, at most [`kftp_proto::modee::MAX_RANGES`]
//! ranges (a control line is at most 4096 bytes), sorted and merged on insert.

use crate::session::Session;
use crate::storage::Upload;
use kftp_datapath::modee::Written;
use kftp_proto::modee::{Ranges, Restart};
use kftp_proto::Reply;

/// Resolves the session's REST for a RETR of a `len`-byte file: the offset a MODE S
/// transfer starts at (in MODE E, the whole prefix the client has), and the bytes to send.
pub fn for_retr(s: &mut Session, restart: Restart, len: u64) -> Result<(u64, u64), Reply> {
    for_send(s, restart, len, "file")
}

/// Resolves the session's REST for an `ERET P` whose part is `part` bytes long: as for a
/// RETR of the part alone, so the offset (MODE S) or ranges (MODE E) count from the
/// part's start and the result is (offset into the part, bytes to send). The toolkit's
/// server does the same (`globus_gridftp_server_get_read_range` adds the part's offset to
/// the ranges REST left), and its client sends what it received of the part, the headers
/// and its own offsets counting from the part's start. Ranges past the part's end get
/// `554`, where the toolkit clips them: the client claims bytes the part does not have.
pub fn for_eret(s: &mut Session, restart: Restart, part: u64) -> Result<(u64, u64), Reply> {
    for_send(s, restart, part, "part")
}

fn for_send(s: &mut Session, restart: Restart, len: u64, what: &str) -> Result<(u64, u64), Reply> {
    s.modee.restart = None;
    if !s.modee.on {
        let offset = stream_offset(&restart)?;
        if offset > len {
            return Err(past_end(offset, len, what));
        }
        return Ok((offset, len - offset));
    }
    let have = restart.ranges();
    if have.end() > len {
        return Err(past_end(have.end(), len, what));
    }
    let sending = len - have.covered();
    let offset = have.prefix();
    s.modee.restart = Some(have);
    Ok((offset, sending))
}

/// Resolves the session's REST for a STOR (or an APPE, `append`): the offset the upload
/// opens at (the end of the ranges the client says are there).
pub fn for_stor(s: &mut Session, restart: Restart, append: bool) -> Result<u64, Reply> {
    s.modee.restart = None;
    if !s.modee.on {
        return stream_offset(&restart);
    }
    if append {
        return Err(Reply::new(
            504,
            "MODE E: APPE has no meaning (blocks carry absolute offsets); \
             resume with REST <ranges> and STOR.",
        ));
    }
    let have = restart.ranges();
    let at = have.end();
    if at > 0 {
        s.modee.restart = Some(have);
    }
    Ok(at)
}

/// Resolves the session's REST for an `ESTO A offset`: the file offset the adjusted store
/// opens at, `offset` plus what the client says the part has (MODE S: the REST offset, so
/// the stream lands after it, as in the toolkit's `get_write_range`; MODE E: the end of
/// the ranges, which then only says how long the file must already be, since blocks carry
/// their place in the part and the ranges seed the `111` markers). Opening there makes
/// the store layer refuse (`554`) a file shorter than what REST claims, so no restart
/// writes past a hole.
pub fn for_esto(s: &mut Session, restart: Restart, offset: u64) -> Result<u64, Reply> {
    let have = for_stor(s, restart, false)?;
    offset.checked_add(have).ok_or_else(|| {
        s.modee.restart = None;
        Reply::new(
            554,
            format!("Restart offset {have} past ESTO's {offset} passes the largest file offset."),
        )
    })
}

/// The parts of a `len`-byte file a MODE E send moves: outside the REST ranges, and for
/// an ERET part starting at `partial` (the handle ending where the part does) the part's
/// own bytes outside them, the ranges counting from its start.
pub fn missing(have: &Ranges, partial: Option<u64>, len: u64) -> Vec<(u64, u64)> {
    let Some(at) = partial else {
        return have.missing(len);
    };
    let part = len.saturating_sub(at);
    have.missing(part)
        .into_iter()
        .map(|(a, b)| (at + a, at + b))
        .collect()
}

/// What a MODE E upload starts with: the ranges REST said are there.
pub fn written_for(have: Option<Ranges>) -> Written {
    have.map(Written::resumed).unwrap_or_default()
}

/// The bytes past its start offset that a MODE E upload keeps (what commit is told was
/// written): up to its furthest block when complete; when not, up to the gap-free prefix
/// of whole blocks (never below `had`, the file's length before the transfer), and the
/// file is cut there so that nothing past it can be taken for data.
///
/// `partial` is an `ESTO A` part's offset: `written` then counts from it (the blocks'
/// own offsets), and a complete part never shortens the file either, since an adjusted
/// store writes into a file without truncating it (the toolkit's server opens it
/// without O_TRUNC: `globus_i_gfs_control.c`, "ESTO doesn't truncate the file").
pub fn keep(
    upload: &mut Upload,
    written: &Written,
    (had, partial): (u64, Option<u64>),
    complete: bool,
) -> u64 {
    let offset = upload.offset();
    let base = partial.unwrap_or(0);
    if complete {
        let end = base.saturating_add(written.end());
        let end = match partial {
            Some(_) => end.max(had),
            None => end,
        };
        return end.max(offset) - offset;
    }
    let whole = base.saturating_add(written.prefix()).max(had).max(offset);
    if let Upload::File(up) = upload {
        let grown = up.file.metadata().map_or(0, |m| m.len());
        if grown > whole {
            if let Err(e) = up.file.set_len(whole) {
                tracing::warn!(error = %e, "could not cut a failed MODE E upload back");
            }
        }
    }
    whole - offset
}

/// A restart MODE S can honour: an offset, or one range from 0.
fn stream_offset(restart: &Restart) -> Result<u64, Reply> {
    restart.offset().ok_or_else(|| {
        Reply::new(
            504,
            "REST with byte ranges needs MODE E; in MODE S send REST <offset>.",
        )
    })
}

fn past_end(at: u64, len: u64, what: &str) -> Reply {
    Reply::new(
        554,
        format!("Restart offset {at} is past the end of the {what} ({len} bytes)."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumed_uploads_start_with_the_claimed_ranges() {
        let w = written_for(Ranges::parse("0-10,20-30"));
        assert_eq!((w.prefix(), w.end(), w.bytes()), (10, 30, 0));
        let fresh = written_for(None);
        assert_eq!((fresh.prefix(), fresh.end()), (0, 0));
    }

    #[test]
    fn a_part_sends_what_lies_outside_the_ranges_counted_from_its_start() {
        let have = Ranges::parse("0-1000,2000-3000").unwrap();
        // ERET P 10000 5000 of a 100000-byte file: the handle ends at 15000.
        let got = missing(&have, Some(10_000), 15_000);
        assert_eq!(got, vec![(11_000, 12_000), (13_000, 15_000)]);
        assert_eq!(
            missing(&Ranges::new(), Some(10_000), 15_000),
            vec![(10_000, 15_000)]
        );
        // All of it there: nothing, not an empty range.
        let all = Ranges::parse("0-5000").unwrap();
        assert!(missing(&all, Some(10_000), 15_000).is_empty());
        // A part at the file's end.
        assert!(missing(&Ranges::new(), Some(7), 7).is_empty());
        // RETR: the file's own offsets.
        assert_eq!(missing(&have, None, 4000), vec![(1000, 2000), (3000, 4000)]);
    }
}
