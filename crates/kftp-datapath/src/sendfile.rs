//! File -> socket with sendfile(2). (Placeholder: the datapath work fills this in.)
use crate::Tuning;
use std::fs::File;
use std::io;
use std::sync::atomic::AtomicU64;
use tokio::net::TcpStream;

/// Sends `len` bytes from `offset` with sendfile(2).
pub async fn send(
    _file: &File,
    _offset: u64,
    _len: u64,
    _sock: &TcpStream,
    _tuning: &Tuning,
    _progress: &AtomicU64,
) -> io::Result<u64> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Whether an error means "sendfile cannot do this here" (fall back) rather than a real failure.
pub fn is_unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || matches!(e.raw_os_error(), Some(libc_enosys) if libc_enosys == rustix::io::Errno::NOSYS.raw_os_error()
            || libc_enosys == rustix::io::Errno::INVAL.raw_os_error()
            || libc_enosys == rustix::io::Errno::OPNOTSUPP.raw_os_error())
}
