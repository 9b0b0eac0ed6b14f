//! Handing a finished rustls session to kernel TLS, so `PROT P` downloads (server) and
//! uploads (client) still go through `sendfile(2)`, in MODE S and on each MODE E stream.
//!
//! [`try_ktls_tx`] takes a tokio-rustls stream (server or client side) right after the
//! handshake and returns either [`Offload::Kernel`] (a [`KtlsStream`]: the socket, whose
//! writes the kernel encrypts) or, when kTLS cannot be used, [`Offload::User`] with the
//! stream untouched.
//!
//! # What is offloaded, and why only TX
//! Only the transmit direction goes to the kernel. The receive direction stays raw TCP and
//! is never decrypted: on a download the peer sends nothing but its final `close_notify`
//! (and, in TLS 1.3, perhaps a KeyUpdate), which we read and discard while closing. RX
//! offload would make every non-data record (alerts, TLS 1.3 NewSessionTicket/KeyUpdate)
//! fail `read`/`splice` with `EIO`/`EINVAL`, and a 6.1 kernel cannot re-key RX after a
//! peer's KeyUpdate, so uploads to the server stay in user-space rustls for now.
//!
//! # Record limits and key updates
//! The kernel (6.1) never updates TX keys. AES-GCM must not encrypt more than about 2^24.5
//! records under one key (RFC 8446 §5.5; rustls itself re-keys or closes before that).
//! So for AES-GCM kTLS is used only when the caller's expected transfer size fits
//! [`AES_GCM_RECORD_BUDGET`] records of at least [`ASSUMED_MIN_RECORD`] bytes (64 GiB);
//! larger transfers stay in rustls, which re-keys TLS 1.3 by itself. A transfer of unknown
//! size should pass `u64::MAX` (and so stays in rustls unless ChaCha20 was negotiated).
//! ChaCha20-Poly1305 has no practical limit. A KeyUpdate *from the peer* that asks us to
//! update is not answered; RFC 8446 lets the peer go on receiving under our old keys.
//!
//! # TLS 1.2 AES-GCM nonces
//! rustls builds TLS 1.2 GCM explicit nonces as `iv XOR seq`; the kernel sends its `iv`
//! field as the explicit nonce and counts it up by one per record. Handing over rustls' iv
//! unchanged would make the kernel's first record reuse the nonce of rustls' `Finished`
//! (a GCM key-recovery hazard). So the kernel's starting nonce is put just above the block
//! of nonces rustls could have used (`(iv | (2^k - 1)) + 1` with `2^k >= seq`), which keeps
//! every nonce under the key distinct.
//!
//! # Detection and fallback
//! `kftp_datapath::ktls::available()` probes once per process (a kernel without
//! `CONFIG_TLS` says `ENOENT`); a cipher the kernel refuses is remembered too, so later
//! connections skip straight to user space. The fallback decision is taken before rustls
//! gives up its keys, so it never costs the connection.
use kftp_datapath::ktls::{self as kernel, Cipher, CryptoParams, Version};
pub use kftp_datapath::ktls_stream::KtlsStream;
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion, SupportedCipherSuite};
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// AES-GCM records we let the kernel send under one key: 2^24, under the 2^24.5 limit.
pub const AES_GCM_RECORD_BUDGET: u64 = 1 << 24;

/// The smallest average record size assumed when budgeting: the kernel fills 16 KiB
/// records from `sendfile` and large writes, so 4 KiB leaves a wide margin.
pub const ASSUMED_MIN_RECORD: u64 = 4096;

/// Ciphers the kernel refused (bit per cipher): not tried again in this process.
static REFUSED: AtomicU8 = AtomicU8::new(0);

/// Where the records of a data connection get encrypted.
#[derive(Debug)]
pub enum Offload<S> {
    /// The kernel encrypts: use `sendfile`/`write` on the socket.
    Kernel(KtlsStream),
    /// rustls in user space (kTLS unavailable, refused, or over budget): the stream as given.
    User(S),
}

/// A finished tokio-rustls stream over TCP (server or client side).
pub trait TlsOverTcp: AsyncRead + AsyncWrite + Unpin + Sized {
    /// The TCP socket beneath.
    fn tcp(&self) -> &TcpStream;
    /// Negotiated version and suite.
    fn negotiated(&self) -> (Option<ProtocolVersion>, Option<SupportedCipherSuite>);
    /// Gives up the rustls session for its secrets.
    fn extract(self) -> (TcpStream, Result<ExtractedSecrets, rustls::Error>);
    /// Lets rustls hold up to `bytes` of encrypted records before a write waits for the
    /// socket (its default is 64 KiB), so one large write becomes one `writev` of many
    /// records ([`crate::send`]).
    fn set_send_buffer(&mut self, bytes: usize);
}

impl TlsOverTcp for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
    fn negotiated(&self) -> (Option<ProtocolVersion>, Option<SupportedCipherSuite>) {
        let c = self.get_ref().1;
        (c.protocol_version(), c.negotiated_cipher_suite())
    }
    fn extract(self) -> (TcpStream, Result<ExtractedSecrets, rustls::Error>) {
        let (tcp, conn) = self.into_inner();
        (tcp, conn.dangerous_extract_secrets())
    }
    fn set_send_buffer(&mut self, bytes: usize) {
        self.get_mut().1.set_buffer_limit(Some(bytes));
    }
}

impl TlsOverTcp for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
    fn negotiated(&self) -> (Option<ProtocolVersion>, Option<SupportedCipherSuite>) {
        let c = self.get_ref().1;
        (c.protocol_version(), c.negotiated_cipher_suite())
    }
    fn extract(self) -> (TcpStream, Result<ExtractedSecrets, rustls::Error>) {
        let (tcp, conn) = self.into_inner();
        (tcp, conn.dangerous_extract_secrets())
    }
    fn set_send_buffer(&mut self, bytes: usize) {
        self.get_mut().1.set_buffer_limit(Some(bytes));
    }
}

/// Whether this process can offload TLS to the kernel at all (cached probe).
pub fn available() -> bool {
    kernel::available()
}

/// Moves the transmit direction of `stream` into the kernel when possible.
///
/// `expected_bytes` is how much will be sent (the file size for RETR; `u64::MAX` if
/// unknown), checked against the record budget. Returns `Ok(User(stream))` whenever kTLS
/// is not used, with the stream intact. `Err` means the connection was lost after
/// rustls gave up its keys (the kernel refused them: rare, and remembered).
///
/// The stream's config must have `enable_secret_extraction = true` (all kftp-tls configs do).
pub async fn try_ktls_tx<S: TlsOverTcp>(
    mut stream: S,
    expected_bytes: u64,
) -> io::Result<Offload<S>> {
    if !kernel::available() {
        return Ok(Offload::User(stream));
    }
    let (version, suite) = stream.negotiated();
    let version = match version {
        Some(ProtocolVersion::TLSv1_3) => Version::Tls13,
        Some(ProtocolVersion::TLSv1_2) => Version::Tls12,
        _ => return Ok(Offload::User(stream)),
    };
    let Some(suite) = suite else {
        return Ok(Offload::User(stream));
    };
    let Some(bit) = cipher_bit(suite) else {
        tracing::debug!(suite = ?suite.suite(), "no kTLS for this cipher suite");
        return Ok(Offload::User(stream));
    };
    if REFUSED.load(Ordering::Relaxed) & bit != 0 {
        return Ok(Offload::User(stream));
    }
    if bit != CHACHA_BIT && expected_bytes / ASSUMED_MIN_RECORD >= AES_GCM_RECORD_BUDGET - 1024 {
        tracing::debug!(
            expected_bytes,
            "transfer too large for one AES-GCM key in kTLS"
        );
        return Ok(Offload::User(stream));
    }
    // Everything rustls still holds for the wire (TLS 1.3 tickets) must go out first.
    stream.flush().await?;
    if let Err(e) = kernel::enable_ulp(stream.tcp().as_fd()) {
        tracing::debug!(error = %e, "TCP_ULP tls refused; staying in user space");
        return Ok(Offload::User(stream));
    }
    // Past this point the rustls session is gone: failures lose the connection.
    let (tcp, secrets) = stream.extract();
    let secrets = secrets.map_err(|e| io::Error::other(format!("extracting TLS secrets: {e}")))?;
    let (seq, traffic) = secrets.tx;
    let params = to_kernel(version, seq, traffic)?;
    let cipher = params.cipher.name();
    match KtlsStream::install(tcp, &params) {
        Ok(k) => Ok(Offload::Kernel(k)),
        Err(e) => {
            REFUSED.fetch_or(bit, Ordering::Relaxed);
            tracing::warn!(error = %e, cipher, "kernel refused TLS keys; not trying this cipher again");
            Err(e)
        }
    }
}

const AES128_BIT: u8 = 1;
const AES256_BIT: u8 = 2;
const CHACHA_BIT: u8 = 4;

fn cipher_bit(suite: SupportedCipherSuite) -> Option<u8> {
    use rustls::CipherSuite as C;
    match suite.suite() {
        C::TLS13_AES_128_GCM_SHA256
        | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => Some(AES128_BIT),
        C::TLS13_AES_256_GCM_SHA384
        | C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => Some(AES256_BIT),
        C::TLS13_CHACHA20_POLY1305_SHA256
        | C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => Some(CHACHA_BIT),
        _ => None,
    }
}

/// Converts rustls' secrets for one direction into the kernel's form.
pub fn to_kernel(
    version: Version,
    seq: u64,
    secrets: ConnectionTrafficSecrets,
) -> io::Result<CryptoParams> {
    let bad = || io::Error::other("unexpected TLS key or IV length");
    let split_gcm_iv = |iv: &[u8]| -> io::Result<([u8; 4], [u8; 8])> {
        let salt: [u8; 4] = iv
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        let rest: [u8; 8] = iv
            .get(4..12)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        let rest = match version {
            Version::Tls13 => rest,
            Version::Tls12 => {
                tls12_kernel_explicit_nonce(u64::from_be_bytes(rest), seq).to_be_bytes()
            }
        };
        Ok((salt, rest))
    };
    let cipher = match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => {
            let (salt, iv) = split_gcm_iv(iv.as_ref())?;
            Cipher::Aes128Gcm {
                key: key.as_ref().try_into().map_err(|_| bad())?,
                salt,
                iv,
            }
        }
        ConnectionTrafficSecrets::Aes256Gcm { key, iv } => {
            let (salt, iv) = split_gcm_iv(iv.as_ref())?;
            Cipher::Aes256Gcm {
                key: key.as_ref().try_into().map_err(|_| bad())?,
                salt,
                iv,
            }
        }
        ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => Cipher::Chacha20Poly1305 {
            key: key.as_ref().try_into().map_err(|_| bad())?,
            iv: iv.as_ref().try_into().map_err(|_| bad())?,
        },
        _ => return Err(io::Error::other("cipher not supported by kTLS")),
    };
    Ok(CryptoParams {
        version,
        cipher,
        seq,
    })
}

/// The first TLS 1.2 GCM explicit nonce for the kernel: above every `iv ^ k` (k < seq) that
/// rustls may have used, so the kernel's counting-up nonces never repeat one (module docs).
fn tls12_kernel_explicit_nonce(iv: u64, seq: u64) -> u64 {
    let mask = seq.checked_next_power_of_two().map_or(u64::MAX, |p| p - 1);
    (iv | mask).wrapping_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls12_nonce_start_avoids_used_nonces() {
        for iv in [
            0u64,
            1,
            2,
            3,
            0x1234_5678_9abc_def0,
            0x1234_5678_9abc_def1,
            u64::MAX - 3,
        ] {
            for seq in 0..20u64 {
                let start = tls12_kernel_explicit_nonce(iv, seq);
                for k in 0..seq {
                    let used = iv ^ k;
                    // The kernel sends start, start+1, ... (up to far fewer than 2^62).
                    for n in 0..100u64 {
                        assert_ne!(
                            start.wrapping_add(n),
                            used,
                            "iv={iv:x} seq={seq} k={k} n={n}"
                        );
                    }
                }
            }
        }
    }
}
