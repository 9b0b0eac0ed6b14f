//! Data-connection address formats (RFC 959 PORT/PASV, RFC 2428 EPRT/EPSV): total
//! parsers, and what parses formats back to the same address.
#![no_main]
use kftp_proto::addr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Some(a) = addr::parse_eprt(&s) {
        assert_eq!(addr::parse_eprt(&addr::format_eprt(&a)), Some(a));
    }
    if let Some(a) = addr::parse_port(&s) {
        let f = addr::format_port(&a).expect("PORT address is IPv4");
        assert_eq!(addr::parse_port(&f), Some(a));
    }
    let _ = addr::parse_pasv_reply(&s);
    let _ = addr::parse_epsv_reply(&s);
});
