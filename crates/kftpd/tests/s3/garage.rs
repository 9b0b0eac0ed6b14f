//! A real single-node Garage (https://garagehq.deuxfleurs.fr/, the S3-compatible store) on
//! ephemeral loopback ports, all state in a temp directory, killed on drop; and S3 helpers
//! that talk to it with the real `curl` (`--aws-sigv4`), so that what the tests check does
//! not depend on the S3 client under test.
//!
//! Install the binary with `scripts/install-garage.sh`. `GARAGE_BIN` overrides where it is
//! looked for (default: `garage` on PATH). Without it the tests print `SKIP` and pass,
//! except under CI (`CI` set), where they fail. (To try that: `GARAGE_BIN=/none cargo test`;
//! hiding ~/.cargo/bin from PATH does not work under cargo, as rustup puts it back.)
#![allow(dead_code)] // Shared by test modules; not every module uses every helper.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long Garage may take to boot, and each later wait.
const WAIT: Duration = Duration::from_secs(30);
/// The bucket every instance has.
pub const BUCKET: &str = "kftp";
/// Garage's `s3_region`, which requests must be signed for.
pub const REGION: &str = "garage";

/// A running Garage. Killed (and reaped) on drop; its temp directory goes with it.
pub struct Garage {
    /// `http://127.0.0.1:PORT`, the S3 API; path-style (`{endpoint}/{bucket}/{key}`).
    pub endpoint: String,
    /// The region to sign for.
    pub region: String,
    /// A bucket the key below owns and may read and write.
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
    /// `http://127.0.0.1:PORT` of the admin API (`GET /health`, `GET /metrics` with the token).
    pub admin_endpoint: String,
    pub admin_token: String,
    child: Child,
    bin: PathBuf,
    config: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
}

/// An S3 response.
pub struct Response {
    pub status: u16,
    /// Raw response header block (status line and `name: value` lines).
    pub headers: String,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The policy for a missing garage: the workspace's one skip rule (a failure under CI).
fn unavailable(reason: &str) -> Option<Garage> {
    kftp_testkit::skip(&format!(
        "garage 2.x is unavailable ({reason}); scripts/install-garage.sh installs it into ~/.cargo/bin, which must be on PATH"
    ));
    None
}

/// `GARAGE_BIN`, or `garage` found on PATH.
fn find_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("GARAGE_BIN") {
        let p = PathBuf::from(p);
        return match p.is_file() {
            true => Ok(p),
            false => Err(format!("GARAGE_BIN={} is not a file", p.display())),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("garage"))
        .find(|p| p.is_file())
        .ok_or_else(|| "no `garage` on PATH".to_string())
}

/// Distinct free loopback ports: all bound at once, then released.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The last `n` lines of a file, for panic messages.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/` if `keep_slash`),
/// as SigV4's canonical form wants: the request then carries exactly the canonical bytes.
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Text of every `<tag>...</tag>` in `xml`, entity-decoded. Enough for S3's list responses,
/// whose elements of interest hold text only.
fn xml_all(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        out.push(xml_unescape(&rest[..j]));
        rest = &rest[j + close.len()..];
    }
    out
}

fn xml_one(xml: &str, tag: &str) -> Option<String> {
    xml_all(xml, tag).into_iter().next()
}

fn xml_unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| ent.strip_prefix('#').map(|d| d.parse()))
                .and_then(|r| r.ok())
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value after `label` on the line of CLI table output that starts with it
/// (`Key ID:              GK...`).
fn cli_field(output: &str, label: &str) -> Option<String> {
    output.lines().find_map(|l| {
        let v = l.trim_start().strip_prefix(label)?;
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_string())
    })
}

impl Garage {
    /// Starts Garage with a bucket [`BUCKET`] and a key that owns it, or returns `None`
    /// (after a `SKIP`) when garage 2.x is not installed. Under CI a missing
    /// garage panics instead. Once the server process runs, any failure panics with the tail
    /// of Garage's log.
    pub fn start() -> Option<Garage> {
        let bin = match find_binary() {
            Ok(b) => b,
            Err(e) => return unavailable(&e),
        };
        let version = match Command::new(&bin).arg("--version").output() {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            Err(e) => return unavailable(&format!("cannot run {}: {e}", bin.display())),
        };
        // "garage v2.5.0 [features: ...]" (release builds), "garage cargo:2.5.0 [...]" (cargo
        // install builds).
        let is_v2 = version.split_whitespace().nth(1).is_some_and(|v| {
            let v = v.rsplit(':').next().unwrap_or(v);
            v.trim_start_matches('v').starts_with("2.")
        });
        if !is_v2 {
            return unavailable(&format!(
                "{} reports {version:?}, need garage 2.x",
                bin.display()
            ));
        }
        // Another process may grab a port between our probe and Garage's bind; then Garage
        // exits at once, and a second set of ports is tried.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Garage::launch(&bin) {
                Ok(g) => return Some(g),
                Err(e) if attempt < 3 && e.contains("Address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn launch(bin: &Path) -> Result<Garage, String> {
        let t0 = Instant::now();
        let dir = tempfile::tempdir().expect("tempdir");
        let [s3_port, rpc_port, admin_port] = free_ports::<3>();
        let admin_token = random_hex(16);
        let config = dir.path().join("garage.toml");
        let log = dir.path().join("garage.log");
        let meta = dir.path().join("meta");
        let data = dir.path().join("data");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{meta}"
data_dir = "{data}"
db_engine = "sqlite"
metadata_fsync = false
data_fsync = false
replication_factor = 1
compression_level = "none"

rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"

[admin]
api_bind_addr = "127.0.0.1:{admin_port}"
admin_token = "{admin_token}"
"#,
                meta = meta.display(),
                data = data.display(),
                rpc_secret = random_hex(32),
            ),
        )
        .expect("write garage.toml");
        let log_file = std::fs::File::create(&log).expect("create garage.log");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&config)
            .arg("server")
            .env("RUST_LOG", "garage=info,garage_api_s3=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("dup garage.log"))
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut g = Garage {
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            region: REGION.to_string(),
            bucket: BUCKET.to_string(),
            key_id: String::new(),
            secret: String::new(),
            admin_endpoint: format!("http://127.0.0.1:{admin_port}"),
            admin_token,
            child,
            bin: bin.to_path_buf(),
            config,
            log,
            dir,
        };

        // Booted once the RPC port accepts (the CLI talks RPC) and the node key exists.
        g.wait_until("the RPC port to accept", |_| {
            Ok(TcpStream::connect(("127.0.0.1", rpc_port)).is_ok())
        })?;
        let id = g.cli(&["node", "id", "-q"])?;
        // "<64 hex>@127.0.0.1:PORT"
        let node_id = id.trim().split('@').next().unwrap_or_default().to_string();
        if node_id.len() != 64 || !node_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(g.fail(&format!("unexpected `garage node id` output: {id:?}")));
        }
        g.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node_id])?;
        g.cli(&["layout", "apply", "--version", "1"])?;
        g.cli(&["bucket", "create", BUCKET])?;
        let key = g.cli(&["key", "create", "kftp-test"])?;
        match (cli_field(&key, "Key ID:"), cli_field(&key, "Secret key:")) {
            (Some(id), Some(secret)) if id.starts_with("GK") && secret.len() == 64 => {
                g.key_id = id;
                g.secret = secret;
            }
            _ => {
                return Err(g.fail(&format!(
                    "cannot find `Key ID:` and `Secret key:` in `garage key create` output:\n{key}"
                )))
            }
        }
        g.cli(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", &g.key_id,
        ])?;
        // Ready when a signed request to the bucket succeeds (layout and grants in effect).
        // Retried while it cannot connect or answers 5xx; any other answer is final.
        g.wait_until("the bucket to answer a signed ListObjectsV2", |g| {
            match g.try_request("GET", "", &[("list-type", "2")], &[], None) {
                Ok(r) if r.status == 200 => Ok(true),
                Ok(r) if r.status < 500 => Err(format!(
                    "signed ListObjectsV2 answered {}: {}",
                    r.status,
                    r.text()
                )),
                _ => Ok(false),
            }
        })?;
        if std::env::var_os("GARAGE_TEST_TIMING").is_some() {
            let _ = writeln!(
                std::io::stderr(),
                "garage: started and configured in {:?}",
                t0.elapsed()
            );
        }
        Ok(g)
    }

    /// An error message with the tail of Garage's log.
    fn fail(&self, what: &str) -> String {
        format!(
            "garage: {what}\n--- {} (tail) ---\n{}",
            self.log.display(),
            tail(&self.log, 40)
        )
    }

    /// Polls `ready` every 20 ms for up to [`WAIT`]; fails early if Garage exits or `ready`
    /// returns an error.
    fn wait_until(
        &mut self,
        what: &str,
        mut ready: impl FnMut(&Garage) -> Result<bool, String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            match ready(self) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(self.fail(&format!("waiting for {what}: {e}"))),
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.fail(&format!("exited ({status}) while waiting for {what}")));
            }
            if Instant::now() > deadline {
                return Err(self.fail(&format!("timed out after {WAIT:?} waiting for {what}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `garage -c <config> args...`, returns its stdout, or an error with its output and
    /// the server's log.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = run_bounded(
            Command::new(&self.bin)
                .env("NO_COLOR", "1")
                .arg("-c")
                .arg(&self.config)
                .args(args),
            None,
        )
        .map_err(|e| self.fail(&format!("`garage {}`: {e}", args.join(" "))))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(self.fail(&format!(
                "`garage {}` failed ({}):\n{stdout}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(stdout)
    }

    /// Environment for a child process (kftpd) that should use this Garage through the
    /// standard AWS variables.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_ACCESS_KEY_ID".into(), self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret.clone()),
        ]
    }

    /// A signed S3 request on the bucket with curl: `key` is the object key ("" for the
    /// bucket itself), `query` name/value pairs (a value of "" gives `name=`, as for
    /// `uploads`), extra `headers`, and an optional body. Panics if curl cannot run.
    ///
    /// curl 7.x signs headers sorted as whole `name:value` lines, so two headers of which
    /// one name is a prefix of the other (`x-amz-copy-source` with
    /// `x-amz-copy-source-range`) get a signature Garage rejects (403); curl 8 is fine.
    pub fn request(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        self.try_request(method, key, query, headers, body)
            .unwrap_or_else(|e| panic!("{}", self.fail(&e)))
    }

    fn try_request(
        &self,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, String> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let header_file = self
            .dir
            .path()
            .join(format!("curl-{}.hdr", SEQ.fetch_add(1, Ordering::Relaxed)));
        let mut url = format!("{}/{}", self.endpoint, self.bucket);
        if !key.is_empty() {
            url.push('/');
            url.push_str(&encode(key, true));
        }
        // curl 7.x signs the query string as given, so give it in canonical form: sorted by
        // name, strictly encoded, `name=` for empty values.
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(n, v)| (encode(n, false), encode(v, false)))
            .collect();
        q.sort();
        for (i, (n, v)) in q.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            let _ = write!(url, "{n}={v}");
        }
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--globoff", "--max-time", "30", "-X", method])
            .arg("--aws-sigv4")
            .arg(format!("aws:amz:{}:s3", self.region))
            .arg("--user")
            .arg(format!("{}:{}", self.key_id, self.secret))
            .arg("-D")
            .arg(&header_file)
            .args(["-o", "-", "-w", "\n%{http_code}"]);
        let has_content_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        for (n, v) in headers {
            cmd.arg("-H").arg(format!("{n}: {v}"));
        }
        // Garage wants it and curl 7.x does not send it (curl 8 does, unless given).
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
        {
            cmd.args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]);
        }
        if body.is_some() {
            if !has_content_type {
                cmd.args(["-H", "Content-Type: application/octet-stream"]);
            }
            cmd.args(["--data-binary", "@-"]);
        }
        cmd.arg(&url);
        let out = run_bounded(&mut cmd, body).map_err(|e| format!("curl {method} {url}: {e}"))?;
        let headers = std::fs::read_to_string(&header_file).unwrap_or_default();
        let _ = std::fs::remove_file(&header_file);
        if !out.status.success() {
            return Err(format!(
                "curl {method} {url} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut body = out.stdout;
        let nl = body
            .iter()
            .rposition(|&b| b == b'\n')
            .ok_or_else(|| format!("curl {method} {url}: no status in output"))?;
        let status = std::str::from_utf8(&body[nl + 1..])
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| format!("curl {method} {url}: bad status in output"))?;
        body.truncate(nl);
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Like [`Garage::request`], but panics unless the status is `expect`.
    fn expect(
        &self,
        expect: u16,
        method: &str,
        key: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let r = self.request(method, key, query, &[], body);
        if r.status != expect {
            panic!(
                "{}",
                self.fail(&format!(
                    "{method} {key:?} {query:?}: status {} (expected {expect}): {}",
                    r.status,
                    r.text()
                ))
            );
        }
        r
    }

    /// PutObject.
    pub fn put_object(&self, key: &str, body: &[u8]) {
        self.expect(200, "PUT", key, &[], Some(body));
    }

    /// GetObject: the bytes, or `None` if there is no such key.
    pub fn get_object(&self, key: &str) -> Option<Vec<u8>> {
        let r = self.request("GET", key, &[], &[], None);
        match r.status {
            200 => Some(r.body),
            404 => None,
            s => panic!(
                "{}",
                self.fail(&format!("GET {key:?}: status {s}: {}", r.text()))
            ),
        }
    }

    /// DeleteObject (S3 answers 204 whether or not the key existed).
    pub fn delete_object(&self, key: &str) {
        self.expect(204, "DELETE", key, &[], None);
    }

    /// Every key under `prefix`, in S3 order (ListObjectsV2, following continuation tokens).
    pub fn list_keys(&self, prefix: &str) -> Vec<String> {
        self.list_keys_paged(prefix, 1000)
    }

    /// [`Garage::list_keys`] asking for `max_keys` per page.
    pub fn list_keys_paged(&self, prefix: &str, max_keys: u32) -> Vec<String> {
        let max_keys = max_keys.to_string();
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![
                ("list-type", "2"),
                ("prefix", prefix),
                ("max-keys", max_keys.as_str()),
            ];
            if let Some(t) = &token {
                q.push(("continuation-token", t));
            }
            let xml = self.expect(200, "GET", "", &q, None).text();
            keys.extend(
                xml_all(&xml, "Contents")
                    .iter()
                    .filter_map(|c| xml_one(c, "Key")),
            );
            if xml_one(&xml, "IsTruncated").as_deref() != Some("true") {
                return keys;
            }
            token = Some(xml_one(&xml, "NextContinuationToken").unwrap_or_else(|| {
                panic!("truncated ListObjectsV2 without NextContinuationToken: {xml}")
            }));
        }
    }

    /// Keys with a multipart upload in progress (ListMultipartUploads, all pages), one
    /// entry per upload. Empty means no orphaned parts.
    pub fn multipart_uploads(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut q = vec![("uploads", "")];
            if let Some((k, u)) = &markers {
                q.push(("key-marker", k));
                q.push(("upload-id-marker", u));
            }
            let xml = self.expect(200, "GET", "", &q, None).text();
            keys.extend(
                xml_all(&xml, "Upload")
                    .iter()
                    .filter_map(|u| xml_one(u, "Key")),
            );
            if xml_one(&xml, "IsTruncated").as_deref() != Some("true") {
                return keys;
            }
            markers = Some((
                xml_one(&xml, "NextKeyMarker").unwrap_or_default(),
                xml_one(&xml, "NextUploadIdMarker").unwrap_or_default(),
            ));
        }
    }

    /// CreateMultipartUpload: the upload id.
    pub fn create_multipart_upload(&self, key: &str) -> String {
        let xml = self
            .expect(200, "POST", key, &[("uploads", "")], None)
            .text();
        xml_one(&xml, "UploadId")
            .unwrap_or_else(|| panic!("no UploadId in CreateMultipartUpload answer: {xml}"))
    }

    /// UploadPart: the part's ETag.
    pub fn upload_part(&self, key: &str, upload_id: &str, part: u32, body: &[u8]) -> String {
        let part = part.to_string();
        let r = self.expect(
            200,
            "PUT",
            key,
            &[("partNumber", &part), ("uploadId", upload_id)],
            Some(body),
        );
        r.header("etag")
            .unwrap_or_else(|| panic!("no ETag on UploadPart answer:\n{}", r.headers))
            .to_string()
    }

    /// CompleteMultipartUpload with `(part number, etag)` pairs; returns the response
    /// (S3 can answer 200 with an error document, so check the body too).
    pub fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Response {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            let _ = write!(
                xml,
                "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            );
        }
        xml.push_str("</CompleteMultipartUpload>");
        self.request(
            "POST",
            key,
            &[("uploadId", upload_id)],
            &[("Content-Type", "application/xml")],
            Some(xml.as_bytes()),
        )
    }

    /// AbortMultipartUpload.
    pub fn abort_multipart_upload(&self, key: &str, upload_id: &str) {
        self.expect(204, "DELETE", key, &[("uploadId", upload_id)], None);
    }
}

/// Runs `cmd` with `stdin` fed (or closed), killing it after [`WAIT`].
fn run_bounded(cmd: &mut Command, stdin: Option<&[u8]>) -> Result<Output, String> {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run: {e}"))?;
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(WAIT).is_err() {
            // Timed out (or the caller panicked): make the wait below return.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    });
    let feeder = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let t0 = Instant::now();
    let out = child.wait_with_output();
    let _ = done_tx.send(());
    let _ = watchdog.join();
    if let Some(f) = feeder {
        let _ = f.join();
    }
    let out = out.map_err(|e| format!("wait: {e}"))?;
    if t0.elapsed() >= WAIT {
        return Err(format!("killed after {WAIT:?}"));
    }
    Ok(out)
}

impl Drop for Garage {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
