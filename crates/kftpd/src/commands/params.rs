//! TYPE, STRU, MODE, REST.

use crate::session::Session;
use kftp_proto::{Reply, TransferType};

/// TYPE A or I.
pub fn type_(s: &mut Session, t: TransferType) -> Reply {
    s.ttype = t;
    match t {
        TransferType::Ascii => Reply::new(200, "Type set to A (line endings converted)."),
        TransferType::Image => Reply::new(200, "Type set to I (binary)."),
    }
}

/// STRU: file structure only.
pub fn stru(c: char) -> Reply {
    match c {
        'F' => Reply::new(200, "Structure set to F."),
        _ => Reply::new(
            504,
            format!("STRU {c} not implemented; only F (file) is supported."),
        ),
    }
}

/// MODE: stream, or GridFTP's extended block mode (see [`crate::modee`]).
pub fn mode(s: &mut Session, c: char) -> Reply {
    match c {
        'S' => {
            crate::modee::mode_s(s);
            Reply::new(200, "Mode set to S.")
        }
        'E' => crate::modee::mode_e(s),
        _ => Reply::new(
            504,
            format!("MODE {c} not implemented; S (stream) and E (extended block) are."),
        ),
    }
}

/// REST: the offset for the next RETR, STOR or APPE.
pub fn rest(s: &mut Session, n: u64) -> Reply {
    s.rest = n;
    Reply::new(
        350,
        format!("Restarting at {n}. Send RETR or STOR to resume."),
    )
}
