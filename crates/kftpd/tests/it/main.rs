//! kftpd integration tests: one binary, a real server per test, real clients.

mod abuse;
mod curl;
mod ftplib;
mod ftps;
mod hardening_fs;
mod harness;
mod jail;
mod lftp;
mod ops;
mod session;
mod suppaftp;
mod transfers;
mod util;
