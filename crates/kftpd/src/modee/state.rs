//! A session's MODE E state: whether it is on, the parallelism asked for, and the streams
//! kept between transfers. The session owns it; it imports nothing of the session's.

use kftp_tls::kept::Kept;
use kftp_tls::ServerStream;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A stream a RETR sends on: plain TCP, or under PROT P kTLS or rustls.
pub type SendStream = kftp_datapath::modee::Sink<ServerStream>;

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
    /// The file offset of an `ERET P` / `ESTO A` part, for the transfer being admitted
    /// (`commands/extended.rs` sets it, [`super::admit`] takes it): its blocks count
    /// from there.
    pub partial: Option<u64>,
}

/// Streams kept after EOD, shared with the running transfer task, owned by the session.
pub type Cache = Arc<Mutex<Cached>>;

/// The streams one session keeps between transfers: all plain or all TLS, as the PROT
/// they were made under (a change of PROT drops them, [`State::drop_cache`]). Dropping it
/// ends each TLS stream with `close_notify` ([`kftp_tls::kept::close_later`]).
#[derive(Default)]
pub struct Cached {
    /// Streams kftpd opened to a PORT target for RETR, and that target.
    pub send: Option<(SocketAddr, Vec<Kept<ServerStream>>)>,
    /// Streams the client opened for STOR (rustls keeps what it read past the last EOD).
    pub recv: Vec<ServerStream>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("send", &self.send.as_ref().map(|(t, v)| (t, v.len())))
            .field("recv", &self.recv.len())
            .finish()
    }
}

impl Drop for Cached {
    fn drop(&mut self) {
        let send = self.send.take().map(|(_, v)| v).unwrap_or_default();
        let sinks = kftp_tls::kept::split(send).0;
        kftp_tls::kept::close_later(sinks, std::mem::take(&mut self.recv));
    }
}

impl State {
    /// Whether the next transfer can run on cached streams without a new PORT/PASV: there
    /// are some, made under the same PROT (`tls`).
    pub fn has_cached(&self, tls: bool) -> bool {
        let c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let send = c
            .send
            .as_ref()
            .is_some_and(|(_, v)| v.iter().any(|k| k.is_tls() == tls));
        let recv = c.recv.iter().any(|s| s.is_tls() == tls);
        self.on && (send || recv)
    }

    /// Closes every cached stream.
    pub fn drop_cache(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Cached::default();
    }
}
