//! TYPE, STRU, MODE, REST, SBUF.

use super::Answer;
use crate::session::Session;
use kftp_proto::modee::Restart;
use kftp_proto::{Reply, TransferType};

/// TYPE A or I.
pub fn type_(s: &mut Session, t: TransferType) -> Answer {
    s.ttype = t;
    Ok(match t {
        TransferType::Ascii => Reply::new(200, "Type set to A (line endings converted)."),
        TransferType::Image => Reply::new(200, "Type set to I (binary)."),
    })
}

/// STRU: file structure only.
pub fn stru(c: char) -> Answer {
    match c {
        'F' => Ok(Reply::new(200, "Structure set to F.")),
        _ => Err(Reply::new(
            504,
            format!("STRU {c} not implemented; only F (file) is supported."),
        )),
    }
}

/// MODE: stream, or GridFTP's extended block mode (see [`crate::modee`]).
pub fn mode(s: &mut Session, c: char) -> Answer {
    match c {
        'S' => {
            crate::modee::mode_s(s);
            Ok(Reply::new(200, "Mode set to S."))
        }
        'E' => Ok(crate::modee::mode_e(s)),
        _ => Err(Reply::new(
            504,
            format!("MODE {c} not implemented; S (stream) and E (extended block) are."),
        )),
    }
}

/// REST: the offset (or, for MODE E, the byte ranges) for the next RETR, STOR or APPE, or
/// the next ERET/ESTO, where it counts from the part's start ([`super::extended`]).
pub fn rest(s: &mut Session, r: Restart) -> Answer {
    let text = match &r {
        Restart::Offset(n) => format!("Restarting at {n}. Send RETR or STOR to resume."),
        // Whether a list with gaps can be honoured depends on the mode at RETR/STOR time
        // (MODE E only): crate::modee::restart decides there.
        Restart::Ranges(ranges) => format!(
            "Restart Marker OK: {} bytes in {} ranges. Send RETR or STOR to resume.",
            ranges.covered(),
            ranges.as_slice().len()
        ),
    };
    s.rest = r;
    Ok(Reply::new(350, text))
}

/// The smallest data socket buffer SBUF sets: below it a transfer costs the server many
/// more packets and system calls per byte than any client gains.
pub const MIN_TCP_BUFFER: u64 = 64 << 10;

/// The largest SBUF sets (the socket option is a C `int`, which the kernel doubles); the
/// kernel's `net.core.wmem_max` / `rmem_max` cap it well below in practice.
pub const MAX_TCP_BUFFER: u64 = 1 << 30;

/// SBUF n (GridFTP; `SITE BUFSIZE` and friends come here too): the send and receive
/// buffers of this session's data connections from the next one on, in bytes; 0 gives
/// them back to the kernel's autotuning (the default, and usually the better choice).
/// Kept within [`MIN_TCP_BUFFER`] and [`MAX_TCP_BUFFER`]; above the system's
/// `net.core.wmem_max` / `rmem_max` the kernel caps it.
pub fn sbuf(s: &mut Session, n: u64) -> Answer {
    if n == 0 {
        s.tcp_buffer = None;
        return Ok(Reply::new(
            200,
            "Data connection buffers left to the kernel's tuning.",
        ));
    }
    let size = n.clamp(MIN_TCP_BUFFER, MAX_TCP_BUFFER);
    s.tcp_buffer = Some(usize::try_from(size).unwrap_or(usize::MAX));
    Ok(Reply::new(
        200,
        format!("Data connection buffers set to {size} bytes (as the kernel allows)."),
    ))
}
