//! `--data-path auto` (the default) measures: the first large uploads alternate splice and
//! the copy loop, then it logs its choice. The speeds are not asserted, only the order of
//! the paths (named in the 226 replies) and that a choice was logged.

use crate::harness::*;
use crate::util::plain_log;
use std::io::Write;

#[test]
fn auto_probes_both_paths_on_large_uploads_then_chooses() {
    let srv = Server::start(&[]);
    let data = random_bytes(4 << 20, 7);
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut paths = Vec::new();
    for i in 0..6 {
        let mut d = c.epsv();
        c.expect(&format!("STOR f{i}.bin"), 150);
        d.write_all(&data).unwrap();
        drop(d);
        let r = c.read();
        assert_eq!(r.code, 226, "{r}");
        paths.push(r.text().rsplit(' ').next().unwrap_or("").to_string());
        assert_eq!(std::fs::read(srv.path(&format!("f{i}.bin"))).unwrap(), data);
    }
    assert_eq!(
        paths,
        ["splice.", "copy.", "splice.", "copy.", "splice.", "copy."],
        "kernel path first, then in turn"
    );
    let log = plain_log(&srv);
    assert!(log.contains("data-path auto: measured, choosing"), "{log}");
    // A small upload afterwards takes the chosen path, whichever it is.
    let mut d = c.epsv();
    c.expect("STOR small.txt", 150);
    d.write_all(b"hello\n").unwrap();
    drop(d);
    let r = c.read();
    assert_eq!(r.code, 226, "{r}");
}
