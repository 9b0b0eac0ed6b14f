//! PROXY protocol v1/v2 headers (`kftpd::proxy::decode`): the one parser of bytes that
//! arrive before any FTP command. Total, bounded (never asks past `MAX_HEADER` bytes,
//! never claims more than it was given), and feeding the bytes as the server's reader does
//! (exactly as many as asked for) ends in the same header.
#![no_main]
use kftpd::proxy::{decode, Decoded, MAX_HEADER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = decode(data);
    match &whole {
        Ok(Decoded::Done(_, used)) => assert!(*used <= data.len() && *used <= MAX_HEADER),
        Ok(Decoded::More(n)) => assert!(*n > 0 && data.len() + n <= MAX_HEADER),
        Err(_) => {}
    }
    let mut got: Vec<u8> = Vec::new();
    loop {
        match decode(&got) {
            Ok(Decoded::More(n)) => {
                assert!(got.len() + n <= MAX_HEADER);
                if got.len() + n > data.len() {
                    return;
                }
                got.extend_from_slice(&data[got.len()..got.len() + n]);
            }
            Ok(Decoded::Done(h, used)) => {
                assert_eq!(used, got.len());
                match whole {
                    Ok(Decoded::Done(h2, u2)) => assert!(h2 == h && u2 == used),
                    other => panic!("incremental {h:?}, whole {other:?}"),
                }
                return;
            }
            Err(_) => return,
        }
    }
});
