//! TYPE, STRU, MODE, REST.

use super::Answer;
use crate::session::Session;
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

/// REST: the offset for the next RETR, STOR or APPE.
pub fn rest(s: &mut Session, n: u64) -> Answer {
    s.rest = n;
    Ok(Reply::new(
        350,
        format!("Restarting at {n}. Send RETR or STOR to resume."),
    ))
}
