//! Client-side listing parsers (MLSD/MLST facts, Unix and DOS LIST lines, NLST): total.
#![no_main]
use kftp_proto::listing_parse::{parse_list_line, parse_mlsx_line, parse_nlst_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    for line in s.lines() {
        let _ = parse_mlsx_line(line);
        let _ = parse_list_line(line, 1_700_000_000);
        let _ = parse_nlst_line(line, "dir");
    }
});
