//! The control-line parser must never panic, and must refuse lines over MAX_LINE.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = kftp_proto::parse_line(data) {
        // Whatever parsed must render for the log without panicking.
        let _ = cmd.loggable().to_string();
        let _ = cmd.verb();
        assert!(
            data.len() <= kftp_proto::MAX_LINE + 2,
            "over-long line accepted"
        );
    }
});
