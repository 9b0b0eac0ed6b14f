//! A session's MODE E state: whether it is on, the parallelism asked for, and the streams
//! kept between transfers. The session owns it; it imports nothing of the session's.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;

/// A session's MODE E settings and cached streams.
#[derive(Debug, Default)]
pub struct State {
    /// MODE E is selected.
    pub on: bool,
    /// Streams a RETR opens (`OPTS RETR Parallelism=`); 0: not set (one stream).
    pub parallelism: u32,
    /// Streams kept open after a transfer, for the next one.
    pub cache: Cache,
    /// The ranges a REST said the client has, for the RETR or STOR being admitted
    /// ([`super::restart`] sets it, [`super::admit`] takes it).
    pub restart: Option<kftp_proto::modee::Ranges>,
}

/// Streams kept after EOD, shared with the running transfer task, owned by the session.
pub type Cache = Arc<Mutex<Cached>>;

/// The streams one session keeps between transfers.
#[derive(Debug, Default)]
pub struct Cached {
    /// Streams kftpd opened to a PORT target for RETR, and that target.
    pub send: Option<(SocketAddr, Vec<TcpStream>)>,
    /// Streams the client opened for STOR.
    pub recv: Vec<TcpStream>,
}

impl State {
    /// Whether the next transfer can run on cached streams without a new PORT/PASV.
    pub fn has_cached(&self) -> bool {
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        self.on && (c.send.is_some() || !c.recv.is_empty())
    }

    /// Closes every cached stream.
    pub fn drop_cache(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Cached::default();
    }
}
