//! kftpd integration tests: one binary, a real server per test, real clients.

mod curl;
mod ftplib;
mod ftps;
mod harness;
mod lftp;
mod session;
mod util;
