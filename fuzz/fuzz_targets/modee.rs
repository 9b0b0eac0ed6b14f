//! MODE E (GridFTP extended block mode): headers decode totally and round-trip; the EOD
//! counter, restart ranges, perf markers and `OPTS RETR` never panic on any input, and
//! what parses formats back to the same value.
#![no_main]
use kftp_proto::modee::{self, EodCounter, Header, PerfMarker, Ranges, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut eods = EodCounter::default();
    for chunk in data.chunks_exact(HEADER_LEN) {
        let mut b = [0u8; HEADER_LEN];
        b.copy_from_slice(chunk);
        let h = Header::decode(&b);
        assert_eq!(h.encode(), b);
        if let Ok(modee::Block::Data { offset, len }) = h.block() {
            assert!(offset.checked_add(len).is_some());
        }
        eods.note(&h);
    }
    let s = String::from_utf8_lossy(data);
    if let Some(r) = Ranges::parse(&s) {
        assert!(r.as_slice().len() <= modee::MAX_RANGES);
        assert_eq!(Ranges::parse(&r.format()), Some(r.clone()));
        let _ = r.missing(u64::MAX);
    }
    let _ = modee::parse_range_marker(&s);
    if let Some(m) = PerfMarker::parse(s.lines()) {
        assert_eq!(PerfMarker::parse(m.lines().iter().map(String::as_str)), Some(m));
    }
    if let Some(Some(p)) = modee::parse_retr_opts(&s) {
        assert!(p.start > 0);
    }
});
