//! MODE E streams under `PROT P` kept between transfers (issue #17 item 3), on both sides:
//! a TLS stream lives on after EOD like a plain one, so a run of small files costs no TCP
//! or TLS handshake per file. What this module owns:
//!
//! - [`Kept`]: a sending stream ([`Sink`]: plain, kTLS or rustls) and the records its keys
//!   have sent. The kernel never updates kTLS keys, so a kept stream is retired before its
//!   AES-GCM key's record limit ([`Kept::room_for`]); the count is from above (every
//!   header and EOD a record of its own, data in records of [`ASSUMED_MIN_RECORD`]).
//! - [`idle`]: whether a kept *receiving* stream may serve the next transfer: the peer has
//!   sent nothing since (checked without consuming: a peek at the socket, and rustls holds
//!   no unread plaintext and has seen no `close_notify`). A reader stops right after EOD,
//!   so bytes of the next transfer that rustls already decrypted stay in the stream object
//!   it returns; the check only runs while no transfer is asked for, when anything there
//!   means the peer is closing.
//! - [`close`]: the end of a kept stream's life: `close_notify`, FIN and a bounded drain
//!   (the kernel's `close_notify` on a kTLS stream), then close.
//!
//! No ticket is ever sent on a kept stream: a server sends TLS 1.3 tickets right after a
//! handshake only (none at all on upload streams), which a reused stream never repeats.

use crate::ktls::{TlsOverTcp, AES_GCM_RECORD_BUDGET, ASSUMED_MIN_RECORD};
use crate::stream::MaybeTls;
use kftp_datapath::modee::{Sink, BLOCK};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Records a kept TLS stream may send in all, with the same margin as a single transfer's
/// check in [`crate::ktls::try_ktls_tx`].
const RECORD_LIMIT: u64 = AES_GCM_RECORD_BUDGET - 1024;

/// A MODE E sending stream kept for the next transfer in the same direction.
pub struct Kept<W> {
    /// The stream.
    pub sink: Sink<W>,
    /// Records its keys have sent so far (an upper bound; 0 for a plain stream).
    records: u64,
}

impl<W> Kept<W> {
    /// A stream that has sent nothing yet.
    pub fn new(sink: Sink<W>) -> Self {
        Kept { sink, records: 0 }
    }

    /// Whether the stream is encrypted (kTLS or rustls).
    pub fn is_tls(&self) -> bool {
        !matches!(self.sink, Sink::Tcp(_))
    }

    /// Whether its keys may still carry a transfer of `bytes` in `pieces` ranges.
    pub fn room_for(&self, bytes: u64, pieces: usize) -> bool {
        !self.is_tls() || self.records.saturating_add(records(bytes, pieces)) <= RECORD_LIMIT
    }

    /// Notes a transfer of `bytes` in `pieces` ranges sent (or possibly sent) on it.
    pub fn carried(&mut self, bytes: u64, pieces: usize) {
        if self.is_tls() {
            self.records = self.records.saturating_add(records(bytes, pieces));
        }
    }
}

impl<T: TlsOverTcp> Kept<MaybeTls<T>> {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match &self.sink {
            Sink::Tcp(t) => t,
            Sink::Ktls(k) => k.tcp(),
            Sink::Stream(s) => s.tcp(),
        }
    }
}

/// Records one transfer may make a stream send, at most: all its bytes in records of
/// [`ASSUMED_MIN_RECORD`], and per block a header record and a short last record, plus
/// EOD/EOF. A stream may take every block of a transfer.
fn records(bytes: u64, pieces: usize) -> u64 {
    let blocks = (bytes / BLOCK)
        .saturating_add(pieces as u64)
        .saturating_add(1);
    (bytes / ASSUMED_MIN_RECORD)
        .saturating_add(blocks.saturating_mul(2))
        .saturating_add(2)
}

/// Splits kept streams into the sinks a transfer sends on and their counts.
pub fn split<W>(kept: Vec<Kept<W>>) -> (Vec<Sink<W>>, Vec<u64>) {
    kept.into_iter().map(|k| (k.sink, k.records)).unzip()
}

/// Puts the sinks a transfer of `bytes` in `pieces` ranges returned (in the order it was
/// given them) back together with their counts, the transfer added.
pub fn rejoin<W>(sinks: Vec<Sink<W>>, counts: Vec<u64>, bytes: u64, pieces: usize) -> Vec<Kept<W>> {
    sinks
        .into_iter()
        .zip(counts.into_iter().chain(std::iter::repeat(0)))
        .map(|(sink, records)| {
            let mut k = Kept { sink, records };
            k.carried(bytes, pieces);
            k
        })
        .collect()
}

/// Whether the peer has sent nothing on `tcp` and not closed it, without consuming a byte.
pub fn quiet(tcp: &TcpStream) -> bool {
    use rustix::net::RecvFlags;
    let mut b = [0u8; 1];
    matches!(
        rustix::net::recv(tcp, &mut b[..], RecvFlags::PEEK | RecvFlags::DONTWAIT),
        Err(rustix::io::Errno::AGAIN)
    )
}

/// rustls' side of [`idle`]: no unread plaintext, no `close_notify` seen.
pub trait TlsIdle {
    /// Whether rustls holds nothing unread and the peer has not closed.
    fn tls_idle(&mut self) -> bool;
}

macro_rules! tls_idle {
    ($t:ty) => {
        impl TlsIdle for $t {
            fn tls_idle(&mut self) -> bool {
                match self.get_mut().1.process_new_packets() {
                    Ok(s) => s.plaintext_bytes_to_read() == 0 && !s.peer_has_closed(),
                    Err(_) => false,
                }
            }
        }
    };
}
tls_idle!(tokio_rustls::server::TlsStream<TcpStream>);
tls_idle!(tokio_rustls::client::TlsStream<TcpStream>);

/// Whether a kept receiving stream may serve the next transfer (see the module docs).
pub fn idle<T: TlsOverTcp + TlsIdle>(s: &mut MaybeTls<T>) -> bool {
    let quiet = quiet(s.tcp());
    match s {
        MaybeTls::Plain(_) => quiet,
        MaybeTls::Tls(t) => quiet && t.tls_idle(),
    }
}

/// Ends a kept sending stream: nothing for a plain one (its close is its FIN), the kernel's
/// `close_notify` on a kTLS one, rustls' on the others, then close (errors are the peer's
/// having gone first, which changes nothing).
pub async fn close<W: AsyncRead + AsyncWrite + Unpin>(sink: Sink<W>) {
    match sink {
        Sink::Tcp(_) => {}
        Sink::Ktls(k) => {
            let _ = k.shutdown().await;
        }
        Sink::Stream(w) => {
            let _ = crate::close_data(w).await;
        }
    }
}

/// Ends every kept TLS stream of a cache that is dropped, off the caller's path (a cache
/// is dropped in synchronous code: MODE S, PROT, the end of a session), each on its own
/// task so that one slow peer's drain holds up nothing; plain streams just close. Without
/// a runtime (a process exiting) they close without `close_notify`.
pub fn close_later<W, R>(sending: Vec<Sink<W>>, receiving: Vec<MaybeTls<R>>)
where
    W: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for s in sending {
        if !matches!(s, Sink::Tcp(_)) {
            rt.spawn(close(s));
        }
    }
    for r in receiving {
        if let MaybeTls::Tls(t) = r {
            rt.spawn(async move {
                let _ = crate::close_data(t).await;
            });
        }
    }
}

/// Whether a kept sending stream may serve a transfer of `bytes` in `pieces` ranges: the
/// peer has sent nothing on it (a receiver never writes on a MODE E stream: anything there
/// is its `close_notify` or FIN) and its keys have room.
pub fn usable<T: TlsOverTcp>(k: &Kept<MaybeTls<T>>, bytes: u64, pieces: usize) -> bool {
    quiet(k.tcp()) && k.room_for(bytes, pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_tls_stream_retires_before_its_record_limit() {
        assert_eq!(records(0, 1), 6);
        assert_eq!(records(4096, 1), 7);
        let near: Kept<()> = Kept {
            sink: Sink::Stream(()),
            records: RECORD_LIMIT - 10,
        };
        assert!(near.room_for(4096, 1));
        assert!(!near.room_for(1 << 30, 1));
        let fresh: Kept<()> = Kept::new(Sink::Stream(()));
        assert!(fresh.room_for(60 << 30, 1));
        assert!(!fresh.room_for(70 << 30, 1));
        let (s, c) = split(vec![fresh]);
        let back = rejoin(s, c, 4096, 1);
        assert_eq!(back[0].records, 7);
    }

    /// What rustls decrypted past what a reader took (the next transfer's bytes, read
    /// ahead with the last EOD) makes the stream not idle and stays in it: the next read
    /// gets it. Once read, the stream is idle again; the peer's close_notify ends that.
    #[tokio::test]
    async fn a_kept_tls_stream_keeps_what_rustls_read_ahead() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let server = crate::ServerTls::load_or_generate(dir.path(), &["localhost".into()])
            .unwrap()
            .config();
        let client = crate::client_config(&crate::ClientTlsOptions {
            insecure: true,
            ..Default::default()
        })
        .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let (c, s) = tokio::join!(
            async {
                let t = TcpStream::connect(addr).await.unwrap();
                let c = tokio_rustls::TlsConnector::from(client);
                c.connect(name, t).await.unwrap()
            },
            async {
                let (t, _) = l.accept().await.unwrap();
                let a = tokio_rustls::TlsAcceptor::from(server);
                a.accept(t).await.unwrap()
            }
        );
        let (mut c, mut s) = (MaybeTls::Tls(Box::new(c)), MaybeTls::Tls(Box::new(s)));
        // One record: "first" is this transfer's end, "second" the next one's start.
        s.write_all(b"firstsecond").await.unwrap();
        s.flush().await.unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"first");
        assert!(!idle(&mut c), "rustls holds the next transfer's bytes");
        let mut next = [0u8; 6];
        c.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"second", "they stayed with the stream");
        assert!(idle(&mut c));
        assert!(idle(&mut s));
        s.shutdown().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!idle(&mut c), "the peer's close_notify");
    }

    #[tokio::test]
    async fn quiet_sees_bytes_and_close_without_taking_them() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut b, _) = l.accept().await.unwrap();
        assert!(quiet(&b));
        a.write_all(b"x").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!quiet(&b));
        let mut got = [0u8; 1];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"x", "the byte is still there");
        drop(a);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!quiet(&b), "a FIN");
    }
}
