//! kftpd integration tests: one binary, a real server per test, real clients.

mod abuse;
mod auth_cache;
mod auto_path;
mod curl;
mod ftplib;
mod ftps;
mod ftps_policy;
mod hardening_fs;
mod hardening_net;
mod harness;
mod hash_limits;
mod jail;
mod lftp;
mod ops;
mod session;
mod suppaftp;
mod transfers;
mod util;
