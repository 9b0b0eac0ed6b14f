//! Socket -> pipe -> file with splice(2). (Placeholder: the datapath work fills this in.)
use crate::Tuning;
use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;
use tokio::net::TcpStream;

/// Receives until EOF with splice(2).
pub async fn recv(
    _sock: &TcpStream,
    _file: &File,
    _offset: u64,
    _tuning: &Tuning,
    _progress: &AtomicU64,
) -> io::Result<u64> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Whether an error means "splice cannot do this here".
pub fn is_unsupported(e: &io::Error) -> bool {
    crate::sendfile::is_unsupported(e)
}
