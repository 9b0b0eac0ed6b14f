//! Flags and config-file keys for the object-store backend. A user whose root is
//! `s3://bucket/prefix` (in the users file, or the server's `--root`) is served from the
//! store these settings reach.

use super::object::S3Settings;
use clap::Args;

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
