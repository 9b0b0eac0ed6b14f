//! kftpd integration tests: one binary, a real server per test, real clients.

mod harness;
mod session;
