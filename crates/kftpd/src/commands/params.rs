//! TYPE, STRU, MODE, REST.

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

/// REST: the offset (or, for MODE E, the byte ranges) for the next RETR, STOR or APPE.
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
