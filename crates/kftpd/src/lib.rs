//! kftpd: an FTP/FTPS server whose data path stays in the kernel where that wins.
//!
//! # Layout
//! - [`server`] — accept loop and connection limits; [`embed`] — the same server inside
//!   another program's runtime, from a command-line argument list (the test kit's).
//! - [`session`] — one control connection: line -> policy -> dispatch -> reply.
//! - [`commands`] — one handler module per verb (family); see its table.
//! - [`transfer`] and [`datachan`]: data connections and moving bytes via `kftp-datapath`.
//! - [`modee`] — MODE E (GridFTP extended block mode): parallel streams, cached streams.
//! - [`storage`] — the storage seam and the kernel-jailed local backend.
//! - [`auth`] — the users file and Argon2id, system accounts through PAM.
//! - [`config`] — every setting once (flags and TOML file), resolved into plain data;
//!   [`cli`] — the command line around it.
//! - [`metrics`] — counters.
//! - [`limits`] — login throttling and bans, sessions per user, bandwidth limits.
//! - [`quota`] — per-user disk and daily transfer quotas.
//! - [`events`] — JSON events for logins, transfers, changes: programs, webhooks, and the
//!   synchronous upload hook; [`http_tls`] — the TLS of outgoing HTTP clients.
//! - [`admin`] — the admin API (HTTP+JSON) and its session registry.
//! - [`anon`] — what anonymous sessions may do (read-only, upload-only drop folder).
//! - [`startup`] — from settings to a serving process: bind, transfer log, default user,
//!   privilege drop and confinement, banner; [`shutdown`] — the stop stage and the drain;
//!   [`opstate`] — what operating the server shares with sessions.
//! - Operating the server: [`xferlog`], [`metrics_http`], [`signals`] (stop, reload),
//!   [`privdrop`], [`sandbox`] (Landlock, seccomp), [`proxy`] (PROXY protocol),
//!   [`certwatch`] (certificate renewals).

pub mod admin;
pub mod anon;
pub mod auth;
pub mod certwatch;
pub mod cli;
pub mod commands;
pub mod config;
pub mod datachan;
pub mod embed;
pub mod events;
pub mod hardening;
pub mod http_tls;
pub mod limits;
pub mod metrics;
pub mod metrics_http;
pub mod modee;
pub mod opstate;
pub mod privdrop;
pub mod privfile;
pub mod proxy;
pub mod quota;
pub mod sandbox;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod signals;
pub mod startup;
pub mod storage;
pub mod transfer;
pub mod xferlog;
