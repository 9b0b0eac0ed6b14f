//! The client's reply decoder: any sequence of lines gives replies or errors, never a
//! panic; a completed reply has a 3-digit code.
#![no_main]
use kftp_proto::ReplyDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut dec = ReplyDecoder::new();
    for line in text.split('\n') {
        match dec.feed_line(line) {
            Ok(Some(r)) => {
                assert!((100..=999).contains(&r.code), "code {}", r.code);
                let _ = r.text();
                let _ = r.encode();
            }
            Ok(None) => {}
            Err(_) => dec = ReplyDecoder::new(),
        }
    }
});
