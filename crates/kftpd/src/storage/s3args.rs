//! Flags and config-file keys for the object-store backend. A user whose root is
//! `s3://bucket/prefix` (in the users file, or the server's `--root`) is served from the
//! store these settings reach.

use clap::Args;
use std::fmt;

/// Object storage: where the S3-compatible store is and how transfers use it.
#[derive(Args, Debug, Clone)]
pub struct S3Args {
    /// S3-compatible endpoint for s3:// roots, e.g. http://127.0.0.1:3900 (Garage) or
    /// https://minio.example:9000 (default: $AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, env = "KFTPD_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// Region of the store (default: $AWS_REGION, else us-east-1; Garage's default is
    /// "garage").
    #[arg(long, env = "KFTPD_S3_REGION")]
    pub s3_region: Option<String>,
    /// Address buckets as https://BUCKET.host/ instead of https://host/BUCKET/.
    #[arg(long)]
    pub s3_virtual_host_style: bool,
    /// Multipart part size and ranged-GET chunk, in MiB (at least 5). A transfer holds up
    /// to about 2 x part size x (concurrency + 1) (measured peak for 8 x 4: ~110 MB).
    #[arg(long, default_value_t = 8, value_name = "MIB")]
    pub s3_part_size: usize,
    /// Parts uploaded, or chunks fetched, in parallel per transfer.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub s3_concurrency: usize,
    /// Access key id (config file `s3_access_key_id`, or $AWS_ACCESS_KEY_ID; never a flag,
    /// so it does not show in `ps`).
    #[arg(skip)]
    pub s3_access_key_id: Option<String>,
    /// Secret key (config file `s3_secret_access_key`, or $AWS_SECRET_ACCESS_KEY).
    #[arg(skip)]
    pub s3_secret_access_key: Option<String>,
}

impl S3Args {
    /// The settings sessions open their stores with.
    pub fn to_settings(&self) -> S3Settings {
        S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.clone(),
            session_token: None,
            virtual_host_style: self.s3_virtual_host_style,
            part_size: self.s3_part_size.clamp(5, 5 * 1024) << 20,
            concurrency: self.s3_concurrency.clamp(1, 64),
        }
    }
}

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
