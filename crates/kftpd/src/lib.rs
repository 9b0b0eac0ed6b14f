//! kftpd: an FTP/FTPS server whose data path stays in the kernel where that wins.
//!
//! # Layout
//! - [`server`] — accept loop and connection limits.
//! - [`session`] — one control connection: line -> policy -> dispatch -> reply.
//! - [`commands`] — one handler module per verb (family); see its table.
//! - [`transfer`] and [`datachan`]: data connections and moving bytes via `kftp-datapath`.
//! - [`storage`] — the storage seam and the kernel-jailed local backend.
//! - [`auth`] — the users file and Argon2id.
//! - [`config`], [`cli`] — configuration from flags.
//! - [`metrics`] — counters.
//! - [`limits`] — login throttling and bans, sessions per user, bandwidth limits.
//! - [`anon`] — what anonymous sessions may do (read-only, upload-only drop folder).

pub mod anon;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod datachan;
pub mod limits;
pub mod metrics;
pub mod server;
pub mod session;
pub mod storage;
pub mod transfer;
