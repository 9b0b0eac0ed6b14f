//! kftpd against real S3: a Garage per test (see `garage.rs`; install it with
//! `scripts/install-garage.sh`). Without garage the tests print SKIP and pass, except
//! under CI, where they fail.

mod garage;
// The kftpd launcher and raw control client of the main suite.
#[path = "../it/harness.rs"]
mod harness;
mod serve;
#[path = "../it/util.rs"]
mod util;

use garage::Garage;

/// Every helper of the harness against the real Garage, so that tests built on them can
/// trust what they report.
#[test]
fn garage_harness_smoke() {
    let Some(g) = Garage::start() else { return };
    assert!(
        g.endpoint.starts_with("http://127.0.0.1:"),
        "{}",
        g.endpoint
    );
    let env = g.env();
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(
            env.iter().any(|(n, v)| n == name && !v.is_empty()),
            "{name} missing from {env:?}"
        );
    }

    // Put/get round trip, binary-safe; odd characters in keys survive the signing.
    let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    g.put_object("dir/a b+c&d=é.bin", &body);
    assert_eq!(
        g.get_object("dir/a b+c&d=é.bin").as_deref(),
        Some(&body[..])
    );
    g.put_object("empty", b"");
    assert_eq!(g.get_object("empty").as_deref(), Some(&b""[..]));
    assert_eq!(g.get_object("no/such/key"), None);

    // Listing: five keys at two per page takes three pages of continuation tokens.
    for i in 0..5 {
        g.put_object(&format!("list/k{i}"), format!("v{i}").as_bytes());
    }
    let want: Vec<String> = (0..5).map(|i| format!("list/k{i}")).collect();
    let first = g.request(
        "GET",
        "",
        &[("list-type", "2"), ("prefix", "list/"), ("max-keys", "2")],
        &[],
        None,
    );
    assert_eq!(first.status, 200, "{}", first.text());
    assert!(
        first.text().contains("<IsTruncated>true</IsTruncated>"),
        "max-keys=2 did not truncate: {}",
        first.text()
    );
    assert_eq!(g.list_keys_paged("list/", 2), want);
    assert_eq!(g.list_keys("list/"), want);
    assert_eq!(
        g.list_keys(""),
        [
            vec!["dir/a b+c&d=é.bin".to_string(), "empty".to_string()],
            want.clone()
        ]
        .concat()
    );

    // Delete: gone from GET and from the listing; deleting again is not an error.
    g.delete_object("list/k3");
    assert_eq!(g.get_object("list/k3"), None);
    g.delete_object("list/k3");
    assert_eq!(
        g.list_keys("list/"),
        ["list/k0", "list/k1", "list/k2", "list/k4"]
    );

    // Multipart: an upload in progress is listed (with its parts stored) until aborted.
    assert!(g.multipart_uploads().is_empty());
    let upload = g.create_multipart_upload("mp/orphan");
    g.upload_part("mp/orphan", &upload, 1, b"part one");
    assert_eq!(g.multipart_uploads(), ["mp/orphan"]);
    g.abort_multipart_upload("mp/orphan", &upload);
    assert!(g.multipart_uploads().is_empty());
    assert_eq!(g.get_object("mp/orphan"), None);

    // And a completed one is an object, not an upload.
    let upload = g.create_multipart_upload("mp/done");
    let part1 = vec![b'x'; 5 << 20];
    let e1 = g.upload_part("mp/done", &upload, 1, &part1);
    let e2 = g.upload_part("mp/done", &upload, 2, b"tail");
    let r = g.complete_multipart_upload("mp/done", &upload, &[(1, e1), (2, e2)]);
    assert!(
        r.status == 200 && r.text().contains("CompleteMultipartUploadResult"),
        "{} {}",
        r.status,
        r.text()
    );
    assert!(g.multipart_uploads().is_empty());
    let got = g.get_object("mp/done").expect("completed object");
    assert_eq!(got.len(), (5 << 20) + 4);
    assert!(got.ends_with(b"xtail"));
}
