//! The FTP protocol, without I/O: shared by the `kftpd` server and the `kftp` client.
//!
//! # Layout
//! - [`command`]: [`Command`], one variant per verb with typed arguments.
//! - [`parse`]: bytes of one control line -> [`Command`], with the line cap and verb folding.
//! - [`reply`]: [`Reply`]; encoding and incremental decoding.
//! - [`addr`]: PORT/PASV (RFC 959) and EPRT/EPSV (RFC 2428) address formats.
//! - [`path`]: virtual path normalisation relative to a session root.
//! - [`modee`]: MODE E (GridFTP extended block mode): block headers, EOD/EOF accounting,
//!   restart ranges, `112` perf markers, `OPTS RETR Parallelism`.
//! - [`listing`]: `ls -l` lines and MLSx facts (RFC 3659) for the server; parsers for the client.
//! - [`name`]: the rule for a name from a server (one path component, nothing hostile).
//! - [`time`]: the `YYYYMMDDHHMMSS` timestamps of MDTM/MFMT/MLSx, and `ls` dates.
//!
//! Nothing here touches a socket or a file, so every function is a plain function of its
//! input: easy to unit test, property test and fuzz.
#![forbid(unsafe_code)]

pub mod addr;
pub mod command;
pub mod listing;
pub mod listing_parse;
pub mod modee;
pub mod name;
pub mod parse;
pub mod path;
pub mod proxy;
pub mod reply;
pub mod time;

pub use command::{Command, HashAlgo, Password, Prot, TransferType};
pub use parse::{parse_line, ParseError, MAX_LINE};
pub use reply::{Reply, ReplyDecoder};
