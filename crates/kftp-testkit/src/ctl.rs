//! An async raw control connection that asserts exact replies, for servers on the test's
//! own runtime ([`crate::InProcess`]).

use kftp_proto::{Reply, ReplyDecoder};
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A control connection.
pub struct AsyncCtl {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    dec: ReplyDecoder,
}

impl AsyncCtl {
    /// Connects and asserts the `220` greeting.
    pub async fn connect(addr: SocketAddr) -> AsyncCtl {
        let (r, w) = TcpStream::connect(addr)
            .await
            .expect("connect")
            .into_split();
        let mut c = AsyncCtl {
            reader: BufReader::new(r),
            writer: w,
            dec: ReplyDecoder::new(),
        };
        let greet = c.read().await;
        assert_eq!(greet.code, 220, "{greet}");
        c
    }

    /// Connects and logs in.
    pub async fn login(addr: SocketAddr, user: &str, password: &str) -> AsyncCtl {
        let mut c = AsyncCtl::connect(addr).await;
        c.expect(&format!("USER {user}"), 331).await;
        c.expect(&format!("PASS {password}"), 230).await;
        c
    }

    /// The next reply, or `None` once the server closed the connection.
    pub async fn try_read(&mut self) -> Option<Reply> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            if let Some(r) = self.dec.feed_line(&line).expect("a well-formed reply") {
                return Some(r);
            }
        }
    }

    /// The next reply; panics if the connection closed.
    pub async fn read(&mut self) -> Reply {
        self.try_read()
            .await
            .expect("server closed the control connection")
    }

    /// Sends `line` with CRLF and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("send");
        self.read().await
    }

    /// Sends `line` and asserts the reply code.
    #[track_caller]
    pub fn expect<'a>(
        &'a mut self,
        line: &'a str,
        code: u16,
    ) -> impl std::future::Future<Output = Reply> + 'a {
        let at = std::panic::Location::caller();
        async move {
            let r = self.cmd(line).await;
            assert_eq!(r.code, code, "{line} -> {r} (at {at})");
            r
        }
    }

    /// The passive data address of an `EPSV` (asserting `229`).
    pub async fn epsv(&mut self) -> SocketAddr {
        let r = self.expect("EPSV", 229).await;
        let port = kftp_proto::addr::parse_epsv_reply(&r.text()).expect("EPSV reply");
        let ip = self.writer.peer_addr().expect("peer").ip();
        SocketAddr::new(ip, port)
    }
}
