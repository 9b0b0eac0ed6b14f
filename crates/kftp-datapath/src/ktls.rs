//! Kernel TLS: handing a finished TLS session's keys to the kernel (`TCP_ULP "tls"`).
//!
//! After a TLS handshake done in user space (rustls), the record keys and sequence numbers
//! are installed on the TCP socket with `setsockopt(SOL_TLS, TLS_TX/TLS_RX)`. From then on
//! the kernel encrypts whatever is written to the socket, including by `sendfile(2)` and
//! `splice(2)`, so FTPS downloads keep the zero-copy path.
//!
//! This module knows nothing about rustls: it takes plain key material ([`CryptoParams`]).
//! `kftp-tls` converts rustls' extracted secrets into it, and decides when kTLS is safe
//! (record budget, TLS 1.3 key updates): see `kftp_tls::ktls`.
//!
//! # Run-time detection
//! [`available`] probes once per process: it opens a loopback TCP connection and tries to
//! attach the `tls` ULP. A kernel without `CONFIG_TLS` answers `ENOENT`; the verdict is
//! cached and logged once, and callers fall back to user-space TLS. `KFTP_KTLS=off`
//! ([`SWITCH_ENV`]) makes the answer no without asking the kernel.
//!
//! # Control records
//! With TX installed, a plain `write`/`sendfile` makes application-data records. Anything
//! else (the closing `close_notify` alert) needs `sendmsg` with a `TLS_SET_RECORD_TYPE`
//! control message: [`send_close_notify`]. With RX installed, a non-data record makes a plain
//! `read` fail with `EIO` (and `splice` with `EINVAL`); this module installs RX for
//! completeness but kftp only uses TX (see `kftp_tls::ktls`).
//!
//! All `unsafe` here is at the syscall boundary: `setsockopt` and `sendmsg` with structs
//! laid out as in `<linux/tls.h>`.
use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::OnceLock;

/// `SOL_TLS` from `<linux/socket.h>`.
const SOL_TLS: libc::c_int = 282;
/// `TCP_ULP` from `<linux/tcp.h>`.
const TCP_ULP: libc::c_int = 31;
/// `TLS_TX` / `TLS_RX` socket options (`<linux/tls.h>`).
const TLS_TX: libc::c_int = 1;
const TLS_RX: libc::c_int = 2;
/// Control-message type that sets the record type of one `sendmsg`.
const TLS_SET_RECORD_TYPE: libc::c_int = 1;
/// Record content type of an alert.
const RECORD_TYPE_ALERT: u8 = 21;

const TLS_1_2_VERSION: u16 = 0x0303;
const TLS_1_3_VERSION: u16 = 0x0304;
const TLS_CIPHER_AES_GCM_128: u16 = 51;
const TLS_CIPHER_AES_GCM_256: u16 = 52;
const TLS_CIPHER_CHACHA20_POLY1305: u16 = 54;

/// The TLS protocol version of the session whose keys are installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// TLS 1.2 (RFC 5246): explicit per-record nonce for AES-GCM.
    Tls12,
    /// TLS 1.3 (RFC 8446): nonce = iv XOR sequence number.
    Tls13,
}

/// Key material of one direction, in the kernel's split (salt/iv) form.
///
/// For AES-GCM the 12-byte rustls IV is `salt (4) || iv (8)`; for TLS 1.2 the 8-byte `iv`
/// is the first explicit nonce the kernel sends (it then counts up). ChaCha20-Poly1305
/// takes the whole 12-byte IV.
#[derive(Clone)]
pub enum Cipher {
    /// AES-128-GCM.
    Aes128Gcm {
        /// Record key.
        key: [u8; 16],
        /// Implicit nonce part.
        salt: [u8; 4],
        /// Explicit nonce part (TLS 1.2) or the rest of the IV (TLS 1.3).
        iv: [u8; 8],
    },
    /// AES-256-GCM.
    Aes256Gcm {
        /// Record key.
        key: [u8; 32],
        /// Implicit nonce part.
        salt: [u8; 4],
        /// Explicit nonce part (TLS 1.2) or the rest of the IV (TLS 1.3).
        iv: [u8; 8],
    },
    /// ChaCha20-Poly1305.
    Chacha20Poly1305 {
        /// Record key.
        key: [u8; 32],
        /// The whole IV.
        iv: [u8; 12],
    },
}

impl Cipher {
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Cipher::Aes128Gcm { .. } => "aes-128-gcm",
            Cipher::Aes256Gcm { .. } => "aes-256-gcm",
            Cipher::Chacha20Poly1305 { .. } => "chacha20-poly1305",
        }
    }
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never print.
        f.write_str(self.name())
    }
}

/// Everything the kernel needs for one direction of one connection.
#[derive(Clone, Debug)]
pub struct CryptoParams {
    /// Protocol version.
    pub version: Version,
    /// Cipher and keys.
    pub cipher: Cipher,
    /// Sequence number of the next record in this direction.
    pub seq: u64,
}

impl Drop for CryptoParams {
    fn drop(&mut self) {
        // Best effort: do not leave keys lying around in freed memory.
        match &mut self.cipher {
            Cipher::Aes128Gcm { key, salt, iv } => {
                key.fill(0);
                salt.fill(0);
                iv.fill(0);
            }
            Cipher::Aes256Gcm { key, salt, iv } => {
                key.fill(0);
                salt.fill(0);
                iv.fill(0);
            }
            Cipher::Chacha20Poly1305 { key, iv } => {
                key.fill(0);
                iv.fill(0);
            }
        }
    }
}

/// `struct tls_crypto_info` followed by a cipher-specific body, as in `<linux/tls.h>`.
#[repr(C)]
struct CryptoInfo<B> {
    version: u16,
    cipher_type: u16,
    body: B,
}

#[repr(C)]
struct AesGcm128Body {
    iv: [u8; 8],
    key: [u8; 16],
    salt: [u8; 4],
    rec_seq: [u8; 8],
}

#[repr(C)]
struct AesGcm256Body {
    iv: [u8; 8],
    key: [u8; 32],
    salt: [u8; 4],
    rec_seq: [u8; 8],
}

#[repr(C)]
struct Chacha20Body {
    iv: [u8; 12],
    key: [u8; 32],
    rec_seq: [u8; 8],
}

static AVAILABLE: OnceLock<bool> = OnceLock::new();

/// The environment variable that turns kernel TLS off for the process (`KFTP_KTLS=off`):
/// kftpd and kftp then behave as on a kernel without it (rustls for every TLS byte), to
/// compare the two on one kernel or to test the fallback where kTLS exists.
pub const SWITCH_ENV: &str = "KFTP_KTLS";

/// Whether this kernel offers kTLS (the `tls` ULP) and [`SWITCH_ENV`] does not turn it off.
/// Probed once, then cached.
pub fn available() -> bool {
    *AVAILABLE.get_or_init(|| {
        if std::env::var_os(SWITCH_ENV).is_some_and(|v| v == "off") {
            tracing::info!(
                "kernel TLS turned off by {SWITCH_ENV}=off; FTPS data stays in user-space TLS"
            );
            return false;
        }
        match probe() {
            Ok(()) => {
                tracing::info!("kernel TLS available: FTPS data connections can use sendfile");
                true
            }
            Err(e) => {
                tracing::info!(error = %e, "kernel TLS unavailable; FTPS data stays in user-space TLS");
                false
            }
        }
    })
}

/// Attaches the `tls` ULP to a fresh connected loopback socket.
fn probe() -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    let (_server, _) = listener.accept()?;
    enable_ulp(client.as_fd())
}

/// Attaches the `tls` upper-layer protocol to an established TCP socket.
///
/// This alone changes nothing on the wire; it must precede [`install_tx`]/[`install_rx`].
/// It fails with `ENOENT` when the kernel has no TLS module, and with `EEXIST` when
/// a ULP is already attached. Doing it first lets a caller fall back to user-space TLS
/// before it gives up the rustls connection.
#[allow(unsafe_code)]
pub fn enable_ulp(fd: BorrowedFd<'_>) -> io::Result<()> {
    const NAME: &[u8] = b"tls";
    // SAFETY: `NAME` is a valid buffer of the given length for the duration of the call;
    // the kernel copies it. `fd` is a borrowed, open descriptor.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_TCP,
            TCP_ULP,
            NAME.as_ptr().cast(),
            NAME.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether an upper-layer protocol (kernel TLS) is attached to a TCP socket. Such a socket
/// is not measured by `--data-path auto` (crate::chooser): its cost is the encryption.
#[allow(unsafe_code)]
pub fn has_ulp(fd: BorrowedFd<'_>) -> bool {
    let mut name = [0u8; 16];
    let mut len = name.len() as libc::socklen_t;
    // SAFETY: `name` is a writable buffer of `len` bytes and `len` a valid socklen_t, both
    // live for the call; the kernel writes at most `len` bytes and stores the length used.
    // `fd` is a borrowed, open descriptor.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_TCP,
            TCP_ULP,
            name.as_mut_ptr().cast(),
            &mut len,
        )
    };
    rc == 0 && len > 0 && name[0] != 0
}

/// Installs the transmit keys: from now on the kernel encrypts what is written.
pub fn install_tx(fd: BorrowedFd<'_>, params: &CryptoParams) -> io::Result<()> {
    install(fd, TLS_TX, params)
}

/// Installs the receive keys: from now on the kernel decrypts application-data records.
///
/// A non-data record (alert, TLS 1.3 KeyUpdate or NewSessionTicket) then makes `read`
/// fail with `EIO` unless `recvmsg` is given room for a `TLS_GET_RECORD_TYPE` control
/// message, and a 6.1 kernel cannot take new RX keys after a KeyUpdate.
pub fn install_rx(fd: BorrowedFd<'_>, params: &CryptoParams) -> io::Result<()> {
    install(fd, TLS_RX, params)
}

fn install(fd: BorrowedFd<'_>, direction: libc::c_int, p: &CryptoParams) -> io::Result<()> {
    let version = match p.version {
        Version::Tls12 => TLS_1_2_VERSION,
        Version::Tls13 => TLS_1_3_VERSION,
    };
    let rec_seq = p.seq.to_be_bytes();
    match &p.cipher {
        Cipher::Aes128Gcm { key, salt, iv } => set_crypto(
            fd,
            direction,
            &mut CryptoInfo {
                version,
                cipher_type: TLS_CIPHER_AES_GCM_128,
                body: AesGcm128Body {
                    iv: *iv,
                    key: *key,
                    salt: *salt,
                    rec_seq,
                },
            },
        ),
        Cipher::Aes256Gcm { key, salt, iv } => set_crypto(
            fd,
            direction,
            &mut CryptoInfo {
                version,
                cipher_type: TLS_CIPHER_AES_GCM_256,
                body: AesGcm256Body {
                    iv: *iv,
                    key: *key,
                    salt: *salt,
                    rec_seq,
                },
            },
        ),
        Cipher::Chacha20Poly1305 { key, iv } => set_crypto(
            fd,
            direction,
            &mut CryptoInfo {
                version,
                cipher_type: TLS_CIPHER_CHACHA20_POLY1305,
                body: Chacha20Body {
                    iv: *iv,
                    key: *key,
                    rec_seq,
                },
            },
        ),
    }
}

/// Passes one `CryptoInfo` to `setsockopt(SOL_TLS, direction)`, then wipes it.
#[allow(unsafe_code)]
fn set_crypto<B>(
    fd: BorrowedFd<'_>,
    direction: libc::c_int,
    info: &mut CryptoInfo<B>,
) -> io::Result<()> {
    let len = std::mem::size_of::<CryptoInfo<B>>();
    let ptr: *mut CryptoInfo<B> = info;
    // SAFETY: `info` is a live, initialised `#[repr(C)]` struct of `len` bytes laid out as
    // the kernel's `tls12_crypto_info_*` (u16, u16, then byte arrays: no padding). The
    // kernel only reads it during the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_TLS,
            direction,
            ptr.cast::<libc::c_void>().cast_const(),
            len as libc::socklen_t,
        )
    };
    let result = if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    };
    // SAFETY: `ptr` points to `len` writable bytes owned by `info`; every bit pattern is
    // valid for its integer and byte-array fields. Volatile so the wipe is not elided.
    unsafe {
        let bytes = ptr.cast::<u8>();
        for i in 0..len {
            std::ptr::write_volatile(bytes.add(i), 0);
        }
    }
    result
}

/// Sends a TLS `close_notify` alert through a kTLS-TX socket (a record of type 21).
///
/// Blocking in the sense that a full socket buffer returns `WouldBlock` on a non-blocking
/// socket; the 2-byte record practically always fits after a transfer has drained.
#[allow(unsafe_code)]
pub fn send_close_notify(fd: BorrowedFd<'_>) -> io::Result<()> {
    // Alert level warning (1), description close_notify (0).
    let mut payload = [1u8, 0u8];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // Room for one cmsghdr carrying one byte, aligned as the kernel expects.
    let mut cbuf = [0u64; 8];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(1) } as usize;
    debug_assert!(space <= std::mem::size_of_val(&cbuf));
    // SAFETY: an all-zero msghdr is a valid "empty" value; we fill the fields we use.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points to `cbuf`, which is large enough (checked above) and
    // 8-byte aligned, so CMSG_FIRSTHDR returns a valid pointer into it; CMSG_DATA points
    // inside it too. `payload`, `iov` and `cbuf` outlive the sendmsg call.
    let rc = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for a control message"));
        }
        (*cmsg).cmsg_level = SOL_TLS;
        (*cmsg).cmsg_type = TLS_SET_RECORD_TYPE;
        (*cmsg).cmsg_len = libc::CMSG_LEN(1) as _;
        *libc::CMSG_DATA(cmsg) = RECORD_TYPE_ALERT;
        libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layouts_match_linux_tls_h() {
        assert_eq!(std::mem::size_of::<CryptoInfo<AesGcm128Body>>(), 40);
        assert_eq!(std::mem::size_of::<CryptoInfo<AesGcm256Body>>(), 56);
        assert_eq!(std::mem::size_of::<CryptoInfo<Chacha20Body>>(), 56);
    }

    #[test]
    fn ulp_is_seen_only_once_attached() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, _) = listener.accept().unwrap();
        assert!(!has_ulp(client.as_fd()));
        if enable_ulp(client.as_fd()).is_ok() {
            assert!(has_ulp(client.as_fd()));
        }
    }

    #[test]
    fn probe_is_cached_and_consistent() {
        let first = available();
        assert_eq!(first, available());
    }
}
