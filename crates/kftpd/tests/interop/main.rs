//! kftpd against FTP clients we did not write (issue #13): each module drives one real
//! client program or library against a real kftpd on loopback, in plain FTP, explicit FTPS
//! (AUTH TLS + PROT P) and implicit FTPS wherever the client has the mode, and checks
//! listings, byte-exact downloads and uploads (SHA-256), resume and a small nested tree.
//!
//! Programs come from Debian, libraries from npm and PyPI: `scripts/install-test-deps.sh`
//! installs all of them (npm and PyPI packages under `target/test-deps`). A missing one is
//! a SKIP here and a failure under CI.

mod aria2;
mod common;
mod commons_net;
mod gridftp;
mod gridftp_rest;
// The kftpd launcher and raw control client of the main suite.
#[path = "../it/harness.rs"]
mod harness;
mod node_basic_ftp;
mod perl_net_ftp;
mod python_aioftp;
mod rclone;
#[path = "../it/util.rs"]
mod util;
mod wget;
