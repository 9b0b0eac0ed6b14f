//! curl against the real server: listings, byte-exact transfers, both resume directions,
//! quote commands, active mode, IPv6, TYPE A and the passive-mode variants.

use crate::harness::*;
use crate::util::*;
use std::path::Path;
use std::process::Command;

/// Runs curl with a time limit, silent but showing errors.
fn curl(args: &[&str]) -> (bool, String, String) {
    run_limited(
        Command::new("curl")
            .args(["-sS", "--max-time", "30"])
            .args(args),
        40,
    )
}

/// Runs curl and panics with its stderr (and the server log) unless it succeeded.
fn curl_ok(srv: &Server, args: &[&str]) -> String {
    let (ok, out, err) = curl(args);
    assert!(
        ok,
        "curl {args:?} failed: {err}\n--- server log ---\n{}",
        plain_log(srv)
    );
    out
}

fn sha_of(p: &Path) -> String {
    sha256(&std::fs::read(p).unwrap())
}

#[test]
fn curl_list_download_upload() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes(5 << 20, 11);
    std::fs::write(srv.path("big.bin"), &data).unwrap();
    std::fs::create_dir(srv.path("sub")).unwrap();
    std::fs::write(srv.path("sub/inner.txt"), b"inner\n").unwrap();
    let url = srv.url();

    let list = curl_ok(&srv, &[&format!("{url}/")]);
    let big = list
        .lines()
        .find(|l| l.ends_with(" big.bin"))
        .unwrap_or_else(|| panic!("LIST lacks big.bin: {list}"));
    assert!(big.starts_with('-') && big.contains(" 5242880 "), "{big}");
    assert!(
        list.lines()
            .any(|l| l.starts_with('d') && l.ends_with(" sub")),
        "{list}"
    );
    let names = curl_ok(&srv, &["--list-only", &format!("{url}/")]);
    // curl lists names in TYPE A and turns the CRLF line ends into LF.
    assert_eq!(names, "big.bin\nsub\n");
    let names = curl_ok(&srv, &["--list-only", &format!("{url}/sub/")]);
    assert_eq!(names, "inner.txt\n");

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("big.bin");
    curl_ok(
        &srv,
        &["-o", out.to_str().unwrap(), &format!("{url}/big.bin")],
    );
    assert_eq!(sha_of(&out), sha256(&data), "download is byte-exact");
    let inner = curl_ok(&srv, &[&format!("{url}/sub/inner.txt")]);
    assert_eq!(inner, "inner\n");

    let up = random_bytes((3 << 20) + 17, 12);
    let src = tmp.path().join("up.bin");
    std::fs::write(&src, &up).unwrap();
    curl_ok(
        &srv,
        &["-T", src.to_str().unwrap(), &format!("{url}/up.bin")],
    );
    assert_eq!(
        sha_of(&srv.path("up.bin")),
        sha256(&up),
        "upload is byte-exact"
    );
    curl_ok(
        &srv,
        &[
            "--ftp-create-dirs",
            "-T",
            src.to_str().unwrap(),
            &format!("{url}/new/deeper/up.bin"),
        ],
    );
    assert_eq!(sha_of(&srv.path("new/deeper/up.bin")), sha256(&up));
    assert!(
        !part_path(&srv, "up.bin").exists(),
        "no part file left behind"
    );

    // A missing file is an error (SIZE/RETR 550: CURLE_REMOTE_FILE_NOT_FOUND).
    let (ok, _, err) = curl(&[&format!("{url}/nope.bin")]);
    assert!(!ok && err.contains("(78)"), "{err}");
}

#[test]
fn curl_resume_download() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes(4 << 20, 21);
    std::fs::write(srv.path("r.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r.bin");
    let prefix = 1_234_567;
    std::fs::write(&out, &data[..prefix]).unwrap();
    curl_ok(
        &srv,
        &[
            "-C",
            "-",
            "-o",
            out.to_str().unwrap(),
            &format!("{}/r.bin", srv.url()),
        ],
    );
    assert_eq!(
        sha_of(&out),
        sha256(&data),
        "resumed download is byte-exact"
    );
    let cmds = commands(&srv);
    assert!(
        cmds.iter().any(|c| c == &format!("REST {prefix}")),
        "curl -C - sends REST: {cmds:?}"
    );
}

#[test]
fn curl_resume_upload_of_existing_file() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes((2 << 20) + 5, 31);
    std::fs::write(srv.path("u.bin"), &data[..700_001]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("u.bin");
    std::fs::write(&src, &data).unwrap();
    curl_ok(
        &srv,
        &[
            "-C",
            "-",
            "-T",
            src.to_str().unwrap(),
            &format!("{}/u.bin", srv.url()),
        ],
    );
    assert_eq!(sha_of(&srv.path("u.bin")), sha256(&data));
    let cmds = commands(&srv);
    assert!(
        cmds.iter().any(|c| c == "SIZE u.bin") && cmds.iter().any(|c| c == "APPE u.bin"),
        "curl -C - -T uses SIZE and APPE: {cmds:?}"
    );
}

#[test]
fn curl_resume_upload_after_interrupted_stor() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes(3 << 20, 32);
    let mut c = interrupted_upload(&srv, "part.bin", &data[..1_000_000]);
    assert_eq!(c.expect("SIZE part.bin", 213).text(), "1000000");
    c.expect("QUIT", 221);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("part.bin");
    std::fs::write(&src, &data).unwrap();
    curl_ok(
        &srv,
        &[
            "-C",
            "-",
            "-T",
            src.to_str().unwrap(),
            &format!("{}/part.bin", srv.url()),
        ],
    );
    assert_eq!(sha_of(&srv.path("part.bin")), sha256(&data));
    assert!(!part_path(&srv, "part.bin").exists());
}

#[test]
fn curl_quote_commands() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    std::fs::write(srv.path("a.txt"), b"a").unwrap();
    std::fs::write(srv.path("gone.txt"), b"g").unwrap();
    let url = srv.url();
    curl_ok(
        &srv,
        &[
            "-Q",
            "MKD made",
            "-Q",
            "RNFR a.txt",
            "-Q",
            "RNTO made/b.txt",
            "-Q",
            "DELE gone.txt",
            "--list-only",
            &format!("{url}/"),
        ],
    );
    assert!(srv.path("made").is_dir());
    assert_eq!(std::fs::read(srv.path("made/b.txt")).unwrap(), b"a");
    assert!(!srv.path("a.txt").exists() && !srv.path("gone.txt").exists());
    // A refused quote command fails the whole curl run.
    let (ok, _, err) = curl(&["-Q", "DELE nope.txt", &format!("{url}/")]);
    assert!(!ok && err.contains("550"), "{err}");
    // Post-transfer quote ("-" prefix) runs after the listing.
    curl_ok(
        &srv,
        &[
            "-Q",
            "-RMD emptydir",
            "-Q",
            "MKD emptydir",
            &format!("{url}/"),
        ],
    );
    assert!(!srv.path("emptydir").exists());
}

#[test]
fn curl_active_mode() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes(2 << 20, 41);
    std::fs::write(srv.path("a.bin"), &data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let url = srv.url();
    // EPRT first (curl's default), then PORT with --disable-eprt.
    for (n, extra) in [(0, None), (1, Some("--disable-eprt"))] {
        let out = tmp.path().join(format!("a{n}.bin"));
        let mut args = vec!["-P", "127.0.0.1"];
        args.extend(extra);
        let o = out.to_str().unwrap().to_string();
        let u = format!("{url}/a.bin");
        args.extend(["-o", &o, &u]);
        curl_ok(&srv, &args);
        assert_eq!(sha_of(&out), sha256(&data), "active download {extra:?}");
        let dest = format!("{url}/b{n}.bin");
        let mut args = vec!["-P", "127.0.0.1"];
        args.extend(extra);
        args.extend(["-T", &o, &dest]);
        curl_ok(&srv, &args);
        assert_eq!(sha_of(&srv.path(&format!("b{n}.bin"))), sha256(&data));
        let list = curl_ok(
            &srv,
            &["-P", "127.0.0.1", "--list-only", &format!("{url}/")],
        );
        assert!(list.contains("a.bin\n"), "{list}");
    }
    let cmds = commands(&srv);
    assert!(
        cmds.iter().any(|c| c.starts_with("EPRT |1|127.0.0.1|")),
        "{cmds:?}"
    );
    assert!(
        cmds.iter().any(|c| c.starts_with("PORT 127,0,0,1,")),
        "{cmds:?}"
    );
    assert!(!cmds.iter().any(|c| c == "EPSV" || c == "PASV"), "{cmds:?}");
}

#[test]
fn curl_ipv6_epsv() {
    if !need("curl") {
        return;
    }
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        skip("cannot bind ::1");
        return;
    }
    let srv = Server::start_on("[::1]:0", &[]);
    assert!(srv.addr.is_ipv6());
    let data = random_bytes(1 << 20, 51);
    std::fs::write(srv.path("v6.bin"), &data).unwrap();
    let url = srv.url();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("v6.bin");
    curl_ok(
        &srv,
        &["-g", "-o", out.to_str().unwrap(), &format!("{url}/v6.bin")],
    );
    assert_eq!(sha_of(&out), sha256(&data));
    curl_ok(
        &srv,
        &[
            "-g",
            "-T",
            out.to_str().unwrap(),
            &format!("{url}/back.bin"),
        ],
    );
    assert_eq!(sha_of(&srv.path("back.bin")), sha256(&data));
    // Active mode over IPv6 is EPRT |2|.
    let out2 = tmp.path().join("v6b.bin");
    curl_ok(
        &srv,
        &[
            "-g",
            "-P",
            "::1",
            "-o",
            out2.to_str().unwrap(),
            &format!("{url}/v6.bin"),
        ],
    );
    assert_eq!(sha_of(&out2), sha256(&data));
    let cmds = commands(&srv);
    assert!(cmds.iter().any(|c| c == "EPSV"), "{cmds:?}");
    assert!(
        cmds.iter().any(|c| c.starts_with("EPRT |2|::1|")),
        "{cmds:?}"
    );
    // PASV cannot describe ::1; curl must not fall back to it (EPSV worked).
    assert!(!cmds.iter().any(|c| c == "PASV"), "{cmds:?}");
    let mut c = srv.login();
    c.expect("PASV", 522);
    c.expect("EPSV 1", 522);
    c.expect("EPSV 2", 229);
}

/// Data bytes of one direction from a `curl --trace` file ("=> Send data" or
/// "<= Recv data").
fn traced(trace: &str, dir: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut on = false;
    for line in trace.lines() {
        if line.starts_with("=>") || line.starts_with("<=") || line.starts_with("==") {
            on = line.starts_with(dir);
            continue;
        }
        if !on {
            continue;
        }
        // "0000: 61 0d 0a ...   text"
        let Some((_, rest)) = line.split_once(": ") else {
            continue;
        };
        for tok in rest.split(' ').take_while(|t| !t.is_empty()).take(16) {
            if let Ok(b) = u8::from_str_radix(tok, 16) {
                out.push(b);
            }
        }
    }
    out
}

#[test]
fn curl_ascii_both_ways() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    let text = b"line one\nline two\n\nlast line\n".to_vec();
    let crlf = b"line one\r\nline two\r\n\r\nlast line\r\n".to_vec();
    std::fs::write(srv.path("t.txt"), &text).unwrap();
    let url = srv.url();
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace");
    let tr = trace.to_str().unwrap();

    // Download, `;type=A`: the wire carries CRLF; curl turns it back into LF.
    let got = curl_ok(&srv, &["--trace", tr, &format!("{url}/t.txt;type=A")]);
    let wire = traced(&std::fs::read_to_string(&trace).unwrap(), "<= Recv data");
    assert_eq!(wire, crlf, "TYPE A sends CRLF on the wire");
    assert_eq!(got.as_bytes(), text, "curl converts CRLF back to LF");
    // Binary download of the same file: LF untouched.
    let got = curl_ok(&srv, &["--trace", tr, &format!("{url}/t.txt")]);
    assert_eq!(got.as_bytes(), text);
    let wire = traced(&std::fs::read_to_string(&trace).unwrap(), "<= Recv data");
    assert_eq!(wire, text, "TYPE I sends the bytes as stored");

    // Upload, --use-ascii: curl sends CRLF; the server stores LF.
    let src = tmp.path().join("up.txt");
    std::fs::write(&src, &text).unwrap();
    curl_ok(
        &srv,
        &[
            "--use-ascii",
            "--trace",
            tr,
            "-T",
            src.to_str().unwrap(),
            &format!("{url}/up.txt"),
        ],
    );
    let wire = traced(&std::fs::read_to_string(&trace).unwrap(), "=> Send data");
    assert_eq!(wire, crlf, "curl sends CRLF in ASCII mode");
    assert_eq!(
        std::fs::read(srv.path("up.txt")).unwrap(),
        text,
        "stored with LF"
    );
    // A binary upload of CRLF text is stored as is.
    std::fs::write(&src, &crlf).unwrap();
    curl_ok(
        &srv,
        &["-T", src.to_str().unwrap(), &format!("{url}/crlf.txt")],
    );
    assert_eq!(std::fs::read(srv.path("crlf.txt")).unwrap(), crlf);
    let cmds = commands(&srv);
    assert!(cmds.iter().any(|c| c == "TYPE A"), "{cmds:?}");
}

#[test]
fn curl_pasv_and_epsv_variants() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    let data = random_bytes(1 << 20, 61);
    std::fs::write(srv.path("p.bin"), &data).unwrap();
    let url = format!("{}/p.bin", srv.url());
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p.bin");
    let o = out.to_str().unwrap();

    curl_ok(&srv, &["--ftp-pasv", "-o", o, &url]);
    assert_eq!(sha_of(&out), sha256(&data));
    let cmds = commands(&srv);
    assert!(
        cmds.iter().any(|c| c == "EPSV") && !cmds.iter().any(|c| c == "PASV"),
        "--ftp-pasv tries EPSV first: {cmds:?}"
    );

    std::fs::remove_file(&out).unwrap();
    let before = commands(&srv).len();
    curl_ok(&srv, &["--ftp-pasv", "--disable-epsv", "-o", o, &url]);
    assert_eq!(sha_of(&out), sha256(&data));
    let cmds = commands(&srv).split_off(before);
    assert!(
        cmds.iter().any(|c| c == "PASV") && !cmds.iter().any(|c| c == "EPSV"),
        "--disable-epsv forces PASV: {cmds:?}"
    );
    // And with PASV the server-advertised address is honoured (no --ftp-skip-pasv-ip).
    curl_ok(
        &srv,
        &["--disable-epsv", "-T", o, &format!("{}/q.bin", srv.url())],
    );
    assert_eq!(sha_of(&srv.path("q.bin")), sha256(&data));
}

#[test]
fn curl_resume_upload_of_interrupted_replacement() {
    if !need("curl") {
        return;
    }
    let srv = Server::start(&[]);
    std::fs::write(srv.path("doc.bin"), b"the old version of the document\n").unwrap();
    let data = random_bytes((2 << 20) + 9, 33);
    let mut c = interrupted_upload(&srv, "doc.bin", &data[..800_000]);
    c.expect("QUIT", 221);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("doc.bin");
    std::fs::write(&src, &data).unwrap();
    curl_ok(
        &srv,
        &[
            "-C",
            "-",
            "-T",
            src.to_str().unwrap(),
            &format!("{}/doc.bin", srv.url()),
        ],
    );
    assert_eq!(sha_of(&srv.path("doc.bin")), sha256(&data));
    assert!(!part_path(&srv, "doc.bin").exists());
}
