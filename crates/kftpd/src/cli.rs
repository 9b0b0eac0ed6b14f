//! Command-line interface: `kftpd` (serve) and `kftpd user add`.

use crate::config::{Settings, TlsReuse};
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

/// kftpd: a fast, secure-by-default FTP server.
///
/// With no arguments it serves ./public on 127.0.0.1:2121, keeps its state in
/// ./.kftpd-state, and prints how to log in.
#[derive(Parser, Debug)]
#[command(name = "kftpd", about, long_about)]
#[command(version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KFTP_BUILD"), ")"))]
pub struct Cli {
    /// Subcommand; without one, run the server.
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// Server options (also the keys of the configuration file).
    #[command(flatten)]
    pub serve: Settings,
}

/// The command line parser: as derived, with the server options' defaults moved into
/// their help text (see [`crate::config::flags_only`]).
pub fn command() -> clap::Command {
    crate::config::flags_only(Cli::command())
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Sub {
    /// Manage accounts in the users file.
    #[command(subcommand)]
    User(UserCmd),
    /// Validate a configuration file (default: --config) and report the first error with
    /// its file, line, key and what was expected.
    CheckConfig {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Talk to a running server's admin API (--admin-listen): list or end sessions, list
    /// users, reload.
    Admin(crate::admin::client::AdminCli),
}

/// `kftpd user ...`
#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create or update an account (password from a prompt, or stdin with --password-stdin).
    ///
    /// Example: printf 'secret\n' | kftpd user add alice --users users.toml --root /srv/alice --password-stdin
    Add {
        /// Login name.
        name: String,
        /// Users file to edit (created if missing).
        #[arg(long, default_value = ".kftpd-state/users.toml", env = "KFTPD_USERS")]
        users: PathBuf,
        /// The user's root directory (default: the server's --root).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Permissions, comma-separated: list,read,write,append,delete,rename,mkdir,chmod or
        /// all (chmod: SITE CHMOD, permission bits only).
        #[arg(long, value_delimiter = ',')]
        perms: Option<Vec<String>>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Whether this account's PROT P data connections must resume the control
        /// connection's TLS session: `optional` for clients that cannot (Java's Commons Net
        /// FTPSClient, Python's ftplib.FTP_TLS, gvfs), `required` to enforce it even where
        /// the server relaxes it, `default` for the server's policy.
        #[arg(long, value_enum)]
        tls_reuse: Option<TlsReuse>,
        /// Disk quota: bytes under the account's root (uploads past it get 552).
        #[arg(long, value_name = "N")]
        quota_bytes: Option<u64>,
        /// Disk quota: files under the account's root.
        #[arg(long, value_name = "N")]
        quota_files: Option<u64>,
        /// Bytes the account may upload per UTC day.
        #[arg(long, value_name = "N")]
        quota_upload_per_day: Option<u64>,
        /// Bytes the account may download per UTC day.
        #[arg(long, value_name = "N")]
        quota_download_per_day: Option<u64>,
    },
}
