//! kftpd integration tests: one binary, a real server per test, real clients.

mod abuse;
mod admin;
mod auth_cache;
mod auto_path;
mod certwatch;
mod curl;
mod events;
mod ftplib;
mod ftps;
mod ftps_policy;
mod ftps_resume;
mod hardening_fs;
mod hardening_net;
mod hardening_ops;
mod harness;
mod hash_limits;
mod jail;
mod lftp;
mod modee;
mod ops;
mod pam;
mod quota;
mod session;
mod suppaftp;
mod transfers;
mod util;
