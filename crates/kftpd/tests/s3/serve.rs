//! kftpd serving a bucket of a real Garage: directory behaviour, streamed transfers,
//! resume on immutable objects, aborted uploads, rename, two nodes on one store, and a
//! listing that spans several ListObjectsV2 pages. Clients: curl, Python ftplib and raw
//! control connections.

use crate::garage::Garage;
use crate::harness::*;
use crate::util::*;
use std::io::Write;
use std::process::Command;

const MIB: usize = 1 << 20;

/// kftpd with `--root s3://kftp/<prefix>` against `g`, 5 MiB parts, 2 at a time (unless
/// `extra` sets `--s3-concurrency`).
fn serve(g: &Garage, prefix: &str, extra: &[&str]) -> Server {
    let root = format!("s3://{}/{prefix}", g.bucket);
    let mut args = vec!["--s3-part-size", "5"];
    if !extra.contains(&"--s3-concurrency") {
        args.extend(["--s3-concurrency", "2"]);
    }
    args.extend_from_slice(extra);
    Server::start_full("127.0.0.1:0", Some(&root), &args, &g.env())
}

fn curl(srv: &Server, args: &[&str]) -> String {
    let (ok, out, err) = run_limited(
        Command::new("curl")
            .args(["-sS", "--max-time", "60"])
            .args(args),
        70,
    );
    assert!(
        ok,
        "curl {args:?} failed: {err}\n--- server log ---\n{}",
        plain_log(srv)
    );
    out
}

fn write_tmp(data: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(data).unwrap();
    f
}

/// The final reply of a transfer must be 226.
fn done(c: &mut Ctl) {
    let r = c.read();
    assert_eq!(r.code, 226, "{r}");
}

fn retr(c: &mut Ctl, path: &str) -> Vec<u8> {
    c.expect("TYPE I", 200);
    let d = c.epsv();
    c.expect(&format!("RETR {path}"), 150);
    let got = read_all(d);
    done(c);
    got
}

#[test]
fn transfers_stream_resume_and_hash() {
    let Some(g) = Garage::start() else { return };
    let srv = serve(&g, "t1", &[]);
    let url = srv.url();

    // 13 MiB: three multipart parts of 5 MiB, streamed up and down.
    let data = random_bytes(13 * MIB, 1);
    let f = write_tmp(&data);
    curl(
        &srv,
        &["-T", f.path().to_str().unwrap(), &format!("{url}/big.bin")],
    );
    assert_eq!(g.get_object("t1/big.bin").as_deref(), Some(&data[..]));
    let out = tempfile::NamedTempFile::new().unwrap();
    let outp = out.path().to_str().unwrap();
    curl(&srv, &["-o", outp, &format!("{url}/big.bin")]);
    assert_eq!(sha256(&std::fs::read(outp).unwrap()), sha256(&data));
    assert!(
        plain_log(&srv).contains("data_path=\"object-stream\""),
        "transfers name their path"
    );

    // Facts from object metadata.
    let mut c = srv.login();
    let r = c.expect("SIZE big.bin", 213);
    assert_eq!(r.text(), (13 * MIB).to_string());
    let r = c.expect("MDTM big.bin", 213);
    assert!(r.text().starts_with("20"), "{r}");
    let r = c.expect("MLST big.bin", 250);
    assert!(r.to_string().contains(&format!("size={}", 13 * MIB)), "{r}");
    assert!(r.to_string().contains("type=file"), "{r}");

    // REST: a ranged GET from the middle.
    c.expect("REST 7340033", 350);
    assert_eq!(retr(&mut c, "big.bin"), &data[7340033..]);
    c.expect("REST 99999999", 350);
    c.expect("TYPE I", 200);
    let _d = c.epsv();
    let r = c.expect("RETR big.bin", 554);
    assert!(r.text().contains("past the end"), "{r}");

    // HASH is read from the object; XMD5 of a single-part object comes from its ETag.
    let r = c.expect("HASH big.bin", 213);
    assert!(r.text().contains(&sha256(&data)), "{r}");
    let small = b"hello object store\n".to_vec();
    let f2 = write_tmp(&small);
    curl(
        &srv,
        &[
            "-T",
            f2.path().to_str().unwrap(),
            &format!("{url}/small.txt"),
        ],
    );
    let r = c.expect("XMD5 small.txt", 250);
    assert_eq!(r.text(), md5_hex(&small));

    // APPE (small prefix: re-sent through kftpd) builds a new object.
    let tail = b"appended\n".to_vec();
    let f3 = write_tmp(&tail);
    curl(
        &srv,
        &[
            "-T",
            f3.path().to_str().unwrap(),
            "--append",
            &format!("{url}/small.txt"),
        ],
    );
    let mut want = small.clone();
    want.extend_from_slice(&tail);
    assert_eq!(g.get_object("t1/small.txt"), Some(want));

    // REST n + STOR past 5 MiB: the prefix is copied inside the store (UploadPartCopy).
    let new_tail = random_bytes(2 * MIB + 17, 2);
    c.expect("TYPE I", 200);
    let mut d = c.epsv();
    c.expect(&format!("REST {}", 6 * MIB), 350);
    c.expect("STOR big.bin", 150);
    d.write_all(&new_tail).unwrap();
    drop(d);
    done(&mut c);
    let mut want = data[..6 * MIB].to_vec();
    want.extend_from_slice(&new_tail);
    assert_eq!(
        sha256(&g.get_object("t1/big.bin").unwrap()),
        sha256(&want),
        "resume = first 6 MiB of the old object + the new bytes"
    );
    assert!(g.multipart_uploads().is_empty());

    // The same over FTPS (PROT P on the data connection).
    let out2 = tempfile::NamedTempFile::new().unwrap();
    let out2p = out2.path().to_str().unwrap();
    curl(
        &srv,
        &["--ssl-reqd", "-k", "-o", out2p, &format!("{url}/big.bin")],
    );
    assert_eq!(sha256(&std::fs::read(out2p).unwrap()), sha256(&want));
    curl(
        &srv,
        &[
            "--ssl-reqd",
            "-k",
            "-T",
            f.path().to_str().unwrap(),
            &format!("{url}/tls.bin"),
        ],
    );
    assert_eq!(
        g.get_object("t1/tls.bin").map(|b| sha256(&b)),
        Some(sha256(&data))
    );
}

/// Writes `n` one-byte objects `dir/f00000`... straight to the store, 32 at a time.
fn put_many(g: &Garage, dir: &str, n: usize) {
    use futures::{StreamExt, TryStreamExt};
    kftpd::storage::object::prepare();
    let op = opendal::Operator::new(
        opendal::services::S3::default()
            .endpoint(&g.endpoint)
            .region(&g.region)
            .bucket(&g.bucket)
            .access_key_id(&g.key_id)
            .secret_access_key(&g.secret)
            .disable_config_load(),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        futures::stream::iter(0..n)
            .map(|i| {
                let op = op.clone();
                async move { op.write(&format!("{dir}/f{i:05}"), vec![b'x']).await }
            })
            .buffer_unordered(32)
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
    });
}

fn md5_hex(b: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn directories_behave_like_directories() {
    let Some(g) = Garage::start() else { return };
    // Objects written by something else, with no directory markers at all.
    g.put_object("t2/a/b/c.txt", b"deep\n");
    g.put_object("t2/top.txt", b"top\n");
    // Beside the root, sharing its first letters: never reachable from it.
    g.put_object("t2-other/secret.txt", b"secret\n");
    let srv = serve(&g, "t2", &[]);
    let mut c = srv.login();
    c.expect("CWD a", 250);
    c.expect("CWD b", 250);
    let r = c.expect("PWD", 257);
    assert!(r.text().contains("\"/a/b\""), "{r}");
    c.expect("CWD /nope", 550);
    c.expect("CWD /top.txt", 550);
    c.expect("CWD /", 250);

    c.expect("TYPE A", 200);
    let d = c.epsv();
    c.expect("NLST", 150);
    let names = String::from_utf8(read_all(d)).unwrap();
    done(&mut c);
    assert_eq!(names, "a\r\ntop.txt\r\n");
    c.expect("SIZE ../t2-other/secret.txt", 550);
    c.expect("CWD ../t2-other", 550);
    c.expect("SIZE /../../t2-other/secret.txt", 550);

    let d = c.epsv();
    c.expect("MLSD a", 150);
    let facts = String::from_utf8(read_all(d)).unwrap();
    done(&mut c);
    assert!(
        facts.contains("type=dir") && facts.ends_with(" b\r\n"),
        "{facts}"
    );

    // MKD makes a marker; it lists, can be entered, and RMD removes it.
    let r = c.expect("MKD new", 257);
    assert!(r.text().contains("\"/new\""), "{r}");
    assert!(g.list_keys("t2/").contains(&"t2/new/".to_string()));
    c.expect("MKD new", 550);
    c.expect("CWD new", 250);
    c.expect("CWD /", 250);
    let _d = c.epsv();
    let r = c.expect("STOR /missing/x.txt", 550);
    assert!(r.text().contains("No such file"), "{r}");
    let r = c.expect("RMD a", 550);
    assert!(r.text().contains("not empty"), "{r}");
    c.expect("RMD new", 250);
    c.expect("CWD new", 550);

    // Deleting the last file of a marker-less directory keeps the directory.
    c.expect("DELE a/b/c.txt", 250);
    c.expect("CWD a/b", 250);
    c.expect("CWD /", 250);
    c.expect("RMD a/b", 250);
    c.expect("RMD a", 250);
    c.expect("CWD a", 550);

    // What objects lack is refused with a reason, not faked.
    let r = c.expect("MFMT 20200101000000 top.txt", 504);
    assert!(r.text().contains("object storage"), "{r}");

    // Python's ftplib walks the same tree.
    if need("python3") {
        let script = format!(
            r#"
import ftplib, io
f = ftplib.FTP()
f.connect("127.0.0.1", {port})
f.login("{USER}", "{PASS}")
f.mkd("docs")
f.storbinary("STOR docs/readme.txt", io.BytesIO(b"read me\n"))
f.cwd("docs")
assert f.nlst() == ["readme.txt"], f.nlst()
buf = io.BytesIO()
f.retrbinary("RETR readme.txt", buf.write)
assert buf.getvalue() == b"read me\n"
assert f.size("readme.txt") == 8
facts = dict(f.mlsd("/"))
assert facts["docs"]["type"] == "dir", facts
f.quit()
print("ok")
"#,
            port = srv.addr.port()
        );
        let (ok, out, err) = run_limited(Command::new("python3").args(["-c", &script]), 60);
        assert!(
            ok && out.trim() == "ok",
            "ftplib: {out}{err}\n{}",
            plain_log(&srv)
        );
        assert_eq!(
            g.get_object("t2/docs/readme.txt").as_deref(),
            Some(&b"read me\n"[..])
        );
    }
}

#[test]
fn aborted_upload_leaves_nothing() {
    let Some(g) = Garage::start() else { return };
    g.put_object("t3/keep.bin", b"old version\n");
    let srv = serve(&g, "t3", &[]);
    let mut c = srv.login();
    for name in ["new.bin", "keep.bin"] {
        c.expect("TYPE I", 200);
        let mut d = c.epsv();
        c.expect(&format!("STOR {name}"), 150);
        // 12 MiB: at least two parts reach the store before the connection breaks.
        d.write_all(&random_bytes(12 * MIB, 3)).unwrap();
        d.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        reset(d);
        let r = c.read();
        assert_eq!(r.code, 426, "{r}");
    }
    assert_eq!(
        g.get_object("t3/new.bin"),
        None,
        "nothing under the new name"
    );
    assert_eq!(
        g.get_object("t3/keep.bin").as_deref(),
        Some(&b"old version\n"[..]),
        "the old object is untouched"
    );
    assert!(
        wait_until(10, || g.multipart_uploads().is_empty()),
        "orphaned multipart uploads: {:?}",
        g.multipart_uploads()
    );
    // Failed uploads keep no partial object, so SIZE names only complete objects.
    c.expect("SIZE new.bin", 550);
    c.expect("SIZE keep.bin", 213);
}

#[test]
fn rename_is_copy_then_delete_and_directories_are_refused() {
    let Some(g) = Garage::start() else { return };
    let data = random_bytes(3 * MIB, 4);
    g.put_object("t4/from.bin", &data);
    g.put_object("t4/dir/inner.txt", b"x");
    let srv = serve(&g, "t4", &[]);
    let mut c = srv.login();
    c.expect("RNFR from.bin", 350);
    c.expect("RNTO to.bin", 250);
    assert_eq!(g.get_object("t4/from.bin"), None);
    assert_eq!(
        g.get_object("t4/to.bin").map(|b| sha256(&b)),
        Some(sha256(&data))
    );
    c.expect("RNFR dir", 350);
    let r = c.expect("RNTO dir2", 504);
    assert!(r.text().contains("directory"), "{r}");
    assert_eq!(g.get_object("t4/dir/inner.txt").as_deref(), Some(&b"x"[..]));
    c.expect("RNFR nothing", 550);
}

#[test]
fn two_nodes_share_one_store() {
    let Some(g) = Garage::start() else { return };
    let a = serve(&g, "shared", &[]);
    let b = serve(&g, "shared", &[]);
    let data = random_bytes(6 * MIB + 5, 5);
    let f = write_tmp(&data);
    curl(
        &a,
        &[
            "-T",
            f.path().to_str().unwrap(),
            &format!("{}/via-a.bin", a.url()),
        ],
    );
    let names = curl(&b, &["--list-only", &format!("{}/", b.url())]);
    assert!(names.lines().any(|l| l == "via-a.bin"), "{names}");
    let out = tempfile::NamedTempFile::new().unwrap();
    let outp = out.path().to_str().unwrap();
    curl(&b, &["-o", outp, &format!("{}/via-a.bin", b.url())]);
    assert_eq!(sha256(&std::fs::read(outp).unwrap()), sha256(&data));
    let mut ca = a.login();
    ca.expect("DELE via-a.bin", 250);
    let mut cb = b.login();
    cb.expect("SIZE via-a.bin", 550);

    // Both nodes upload different files to one name at once: the object ends up as
    // exactly one of them (the last to complete), never a mix. The store may also fail
    // the other upload outright (Garage drops a multipart upload of a key whose newer
    // version completed: `NoSuchUpload`); that upload then gets an error reply, and the
    // object is the one that succeeded.
    let (da, db) = (random_bytes(11 * MIB, 51), random_bytes(11 * MIB, 52));
    let (fa, fb) = (write_tmp(&da), write_tmp(&db));
    let ok: Vec<bool> = std::thread::scope(|s| {
        let runs: Vec<_> = [(&a, &fa), (&b, &fb)]
            .into_iter()
            .map(|(srv, f)| {
                s.spawn(move || {
                    let (ok, _, err) = run_limited(
                        Command::new("curl").args([
                            "-sS",
                            "--max-time",
                            "60",
                            "-T",
                            f.path().to_str().unwrap(),
                            &format!("{}/same.bin", srv.url()),
                        ]),
                        70,
                    );
                    // A failure is an FTP error reply (curl: "got 550", "upload: 451").
                    let replied = err
                        .split(|c: char| !c.is_ascii_digit())
                        .any(|w| w.len() == 3 && (w.starts_with('4') || w.starts_with('5')));
                    assert!(ok || replied, "not a clean failure: {err}");
                    ok
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(ok.contains(&true), "neither upload succeeded");
    let got = sha256(&g.get_object("shared/same.bin").unwrap());
    let fits = |i: usize, d: &[u8]| ok[i] && got == sha256(d);
    assert!(
        fits(0, &da) || fits(1, &db),
        "a mix of both uploads, or a failed one"
    );
    assert!(g.multipart_uploads().is_empty());
}

#[test]
fn listing_spans_pages_in_order() {
    let Some(g) = Garage::start() else { return };
    const N: usize = 2500;
    put_many(&g, "t6/many", N);
    let srv = serve(&g, "t6", &[]);
    let mut c = srv.login();
    c.expect("TYPE A", 200);
    let d = c.epsv();
    c.expect("NLST many", 150);
    let names = String::from_utf8(read_all(d)).unwrap();
    done(&mut c);
    let names: Vec<&str> = names.lines().collect();
    assert_eq!(names.len(), N, "every object of three ListObjectsV2 pages");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "in key order");
    let d = c.epsv();
    c.expect("LIST many", 150);
    let long = String::from_utf8(read_all(d)).unwrap();
    done(&mut c);
    assert_eq!(long.lines().count(), N);
}

#[test]
fn a_replaced_object_fails_the_download_instead_of_mixing_versions() {
    let Some(g) = Garage::start() else { return };
    let old = random_bytes(24 * MIB, 7);
    g.put_object("t7/moving.bin", &old);
    // 4 MB/s and one ranged GET at a time: the 5 MiB chunks are asked for about 1.3 s
    // apart, so an object replaced once the first MiB has arrived is seen by a later
    // chunk's If-Match even when the replacing PUT takes seconds on a loaded machine.
    let srv = serve(
        &g,
        "t7",
        &["--rate-session", "4000000", "--s3-concurrency", "1"],
    );
    let mut c = srv.login();
    c.expect("TYPE I", 200);
    let mut d = c.epsv();
    c.expect("RETR moving.bin", 150);
    let (tx, started) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match d.read(&mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.len() >= MIB {
                let _ = tx.send(());
            }
        }
    });
    started
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the first MiB of the download");
    g.put_object("t7/moving.bin", &random_bytes(24 * MIB, 8));
    let r = c.read();
    let got = reader.join().unwrap();
    assert_eq!(r.code, 451, "{r}");
    assert!(r.text().contains("replaced"), "{r}");
    assert!(got.len() < old.len(), "the client did not get a whole file");
    assert_eq!(
        &got[..],
        &old[..got.len()],
        "what arrived is the old version only"
    );
}

#[test]
fn lftp_mirrors_a_tree_up_and_back() {
    if !need("lftp") {
        return;
    }
    let Some(g) = Garage::start() else { return };
    let srv = serve(&g, "t8", &[]);
    let up = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(up.path().join("site/a/b")).unwrap();
    std::fs::write(up.path().join("site/index.html"), b"<h1>hi</h1>\n").unwrap();
    std::fs::write(
        up.path().join("site/a/b/data.bin"),
        random_bytes(7 * MIB, 9),
    )
    .unwrap();
    std::fs::write(up.path().join("site/a/note.txt"), b"note\n").unwrap();
    let down = tempfile::tempdir().unwrap();
    let script = format!(
        "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; \
         open -u {USER},{PASS} ftp://{}; mirror -R {} /site; mirror /site {}",
        srv.host_port(),
        up.path().join("site").display(),
        down.path().join("site").display()
    );
    let (ok, out, err) = run_limited(Command::new("lftp").arg("-c").arg(&script), 90);
    assert!(ok, "lftp: {out}{err}\n{}", plain_log(&srv));
    for f in ["index.html", "a/note.txt", "a/b/data.bin"] {
        assert_eq!(
            sha256(&std::fs::read(down.path().join("site").join(f)).unwrap()),
            sha256(&std::fs::read(up.path().join("site").join(f)).unwrap()),
            "{f}"
        );
        assert!(
            g.get_object(&format!("t8/site/{f}")).is_some(),
            "{f} is an object"
        );
    }
}
