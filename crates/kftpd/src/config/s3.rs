//! How `s3://` roots reach their store (the resolved `--s3-*` settings).

use std::fmt;

/// S3 rejects multipart parts below this size (except the last).
pub const MIN_PART: u64 = 5 << 20;

/// How to reach the object store. Unset fields fall back to the standard AWS environment
/// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Clone, Default)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible endpoint; AWS when unset.
    pub endpoint: Option<String>,
    /// Region (Garage: `garage`); `us-east-1` when unset everywhere.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token, for temporary credentials.
    pub session_token: Option<String>,
    /// Address buckets as `bucket.host` instead of `host/bucket`.
    pub virtual_host_style: bool,
    /// Multipart part size and ranged-GET chunk size, bytes (default 8 MiB). Memory per
    /// transfer grows with part size x concurrency, never with the file size.
    pub part_size: usize,
    /// Parts uploaded, or chunks fetched, in parallel per transfer (default 4).
    pub concurrency: usize,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("virtual_host_style", &self.virtual_host_style)
            .field("part_size", &self.part_size)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl S3Settings {
    /// Defaults: everything from the environment, 8 MiB parts, 4 in flight.
    pub fn new() -> Self {
        S3Settings {
            part_size: 8 << 20,
            concurrency: 4,
            ..Default::default()
        }
    }

    /// These settings with the environment filled in and the sizes clamped.
    pub fn resolved(&self) -> S3Settings {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut s = self.clone();
        s.endpoint = s
            .endpoint
            .or_else(|| env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL")));
        s.region = s
            .region
            .or_else(|| env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")))
            .or(Some("us-east-1".into()));
        s.access_key_id = s.access_key_id.or_else(|| env("AWS_ACCESS_KEY_ID"));
        s.secret_access_key = s.secret_access_key.or_else(|| env("AWS_SECRET_ACCESS_KEY"));
        s.session_token = s.session_token.or_else(|| env("AWS_SESSION_TOKEN"));
        s.part_size = s.part_size.max(MIN_PART as usize);
        s.concurrency = s.concurrency.max(1);
        s
    }
}
