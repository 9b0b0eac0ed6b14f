//! kftp: an async FTP/FTPS client library, and the `kftp` command line on top of it.
//!
//! ```no_run
//! # async fn demo() -> kftp::Result<()> {
//! use kftp::{Client, ConnectOptions, Credentials, TransferOptions};
//! use std::sync::atomic::AtomicU64;
//! let mut c = Client::connect(ConnectOptions::new("127.0.0.1", 21), Credentials::anonymous()).await?;
//! for e in c.list("pub").await?.entries {
//!     println!("{} {:?}", e.name, e.size);
//! }
//! let progress = AtomicU64::new(0);
//! c.get("pub/file.iso", "file.iso".as_ref(), &TransferOptions::default(), &progress).await?;
//! c.quit().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`target`]: `ftp://` / `ftps://` URLs ([`Target`]), IPv6 literals, path rules.
//! - [`netrc`], [`creds`]: credentials from the URL, `KFTP_PASSWORD`, `~/.netrc`, a prompt.
//! - [`stream`]: [`Stream`], plain TCP or rustls, for control and data connections alike.
//! - [`control`]: one command line out, one bounded reply in, with timeouts.
//! - [`client`]: [`Greeted`] -> [`Client`] (login is a state change), FEAT, and the commands
//!   without data connections (cd, mkdir, rm, rename, SIZE, MDTM...).
//! - `data`: passive/active data connections, the TLS wrap, preliminary and final replies.
//! - [`transfer`]: listings ([`Listing`]), `get`/`put`/`cat` with resume and
//!   temp-file-then-rename.
//! - [`localname`]: remote names are untrusted; the one place they become local (or
//!   remote) paths, one checked component at a time, never through a symbolic link.
//! - [`ascii`]: TYPE A line-ending conversion.
//! - [`segmented`]: one file over N connections.
//! - [`modee`]: one file over N streams of one session, in GridFTP's MODE E, when the
//!   server offers it (FEAT `PARALLEL`).
//! - [`pipeline`]: runs of files in MODE E with up to 8 files' commands outstanding
//!   (`mirror` uses it), each reply matched to its file by position.
//! - [`hash`]: server checksums (HASH, X*) and local ones; `--verify`.
//! - [`progress`]: the [`Progress`] trait through which transfers report bytes moved.
//! - [`copy`]: a file from one server to another, server to server (third party), in
//!   MODE S or over MODE E streams.
//! - [`mirror`]: recursive sync either way, by size and mtime, with `--delete` and
//!   parallel sessions.
//! - [`error`]: [`Error`] and [`ErrorKind`], each kind with its exit code.
//!
//! The binary (`src/main.rs`, `src/cli/`) only parses arguments, builds these objects and
//! prints; everything a program needs is here.
//!
//! # Choices worth knowing
//! - Passive mode connects to the control peer's address, never to the one in a 227
//!   reply; active mode refuses a data connection from any other address.
//! - Each control connection gets its own TLS session store; its data connections resume
//!   its session (servers such as vsftpd and kftpd require that), and parallel sessions do
//!   not take each other's tickets.
//! - Downloads go to `.<name>.<pid>.kftp-part` beside the target and are renamed on
//!   success; a failed or cancelled download removes it. `resume` writes in place.
//! - A transfer that moves no byte for the session timeout fails with a network error.
//! - Names in listings are the server's word, not the user's: `mirror` and `mget` refuse
//!   (and report) any that is not one plain path component, and never write through a
//!   symbolic link below their target ([`localname`]).
#![forbid(unsafe_code)]

pub mod ascii;
pub mod client;
pub mod control;
pub mod copy;
pub mod copy_run;
pub mod creds;
mod data;
pub mod error;
pub mod hash;
pub mod localname;
pub mod mirror;
pub mod modee;
pub mod netrc;
pub mod pipeline;
pub mod progress;
pub mod segmented;
mod settings;
pub mod stream;
pub mod target;
pub mod transfer;

pub use client::{Client, ConnectOptions, Credentials, DataMode, Features, Greeted, Relogins};
pub use error::{Error, ErrorKind, Result};
pub use kftp_proto::listing::Kind;
pub use kftp_proto::listing_parse::{RefusedEntry, RemoteEntry};
pub use kftp_proto::{HashAlgo, Password};
pub use mirror::{mirror_across, mirror_down, mirror_up, MirrorOptions, MirrorReport};
pub use progress::{Progress, Silent};
pub use stream::{Stream, TlsSetup};
pub use target::{Security, Target};
pub use transfer::{Listing, TransferOptions, TransferReport};
