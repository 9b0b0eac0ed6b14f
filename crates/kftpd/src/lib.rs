//! kftpd: an FTP/FTPS server whose data path stays in the kernel where that wins.
//!
//! # Layout
//! - [`server`] — accept loop and connection limits.
//! - [`session`] — one control connection: line -> policy -> dispatch -> reply.
//! - [`commands`] — one handler module per verb (family); see its table.
//! - [`transfer`] and [`datachan`]: data connections and moving bytes via `kftp-datapath`.
//! - [`modee`] — MODE E (GridFTP extended block mode): parallel streams, cached streams.
//! - [`storage`] — the storage seam and the kernel-jailed local backend.
//! - [`auth`] — the users file and Argon2id.
//! - [`config`], [`cli`] — configuration from flags.
//! - [`metrics`] — counters.
//! - [`limits`] — login throttling and bans, sessions per user, bandwidth limits.
//! - [`quota`] — per-user disk and daily transfer quotas.
//! - [`events`] — `--event-exec`: a program run with JSON for logins, transfers, changes.
//! - [`admin`] — the admin API (HTTP+JSON) and its session registry.
//! - [`anon`] — what anonymous sessions may do (read-only, upload-only drop folder).
//! - [`ops`] — operating the server: [`config_file`] (`--config`, `check-config`),
//!   [`xferlog`], [`metrics_http`], [`signals`] (drain, reload), [`privdrop`], [`sandbox`]
//!   (Landlock, seccomp), [`proxy`] (PROXY protocol), [`certwatch`] (certificate renewals).

pub mod admin;
pub mod anon;
pub mod auth;
pub mod certwatch;
pub mod cli;
pub mod commands;
pub mod config;
pub mod config_file;
pub mod datachan;
pub mod events;
pub mod hardening;
pub mod limits;
pub mod metrics;
pub mod metrics_http;
pub mod modee;
pub mod ops;
pub mod privdrop;
pub mod proxy;
pub mod quota;
pub mod sandbox;
pub mod server;
pub mod session;
pub mod signals;
pub mod storage;
pub mod transfer;
pub mod xferlog;
