//! The command line, defined once with clap's derive: each flag's help sits with it.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const EXIT_CODES: &str = "\
Locations:
  ftp://[user@]host[:port]/path     plain FTP (port 21); add --tls for explicit FTPS
  ftps://[user@]host[:port]/path    implicit FTPS (port 990)
  ftp://[::1]:2121/dir/             IPv6 literals go in brackets
  Paths are relative to the login directory; write %2F for an absolute path
  (ftp://host/%2Fpub/file). A trailing / names a directory.

Credentials, first found wins:
  the user in the URL, then KFTP_PASSWORD, then ~/.netrc (or --netrc FILE), then a
  prompt on the terminal. No user anywhere means anonymous login. A password in the
  URL works but is visible to other users; kftp warns about it.

Exit codes:
  0  success
  1  other failure (server refused an operation, protocol error, local file error)
  2  bad usage (unknown flag, missing argument, malformed URL)
  3  authentication failed (user or password refused)
  4  not found (remote or local file or directory)
  5  permission denied
  6  network failure (connection refused, timeout, connection lost)
  7  TLS failure (certificate verification, pin mismatch, TLS refused)
  8  integrity failure (--verify checksum or size mismatch)

Examples:
  kftp ls ftp://ftp.example.com/pub/
  kftp get -c ftp://alice@example.com/big.iso --segments 4 --verify
  kftp put report.pdf ftps://alice@example.com/inbox/
  kftp mirror ftp://example.com/site/ ./site --delete --parallel 4
  kftp copy --streams 4 ftp://a.example.org/run7.h5 ftp://b.example.org/in/
  kftp shell ftp://alice@example.com/";

/// A fast, secure-by-default FTP and FTPS client.
#[derive(Parser, Debug)]
#[command(version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KFTP_BUILD"), ")"))]
#[command(name = "kftp", after_long_help = EXIT_CODES, after_help = "See 'kftp --help' for locations, credentials, exit codes and examples.")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Options for every command.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Explicit FTPS: connect in the clear, then upgrade with AUTH TLS before logging in;
    /// data connections are encrypted too (PROT P). ftps:// URLs use implicit TLS instead.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Trust exactly the server certificate with this SHA-256 fingerprint (AA:BB:.. or
    /// hex), e.g. a self-signed one, instead of the system's CAs.
    #[arg(long, global = true, value_name = "FP")]
    pub pin_sha256: Option<String>,
    /// Accept any server certificate. Encrypts, but does not protect against an active
    /// attacker; prefer --pin-sha256.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file too (repeatable).
    #[arg(long, global = true, value_name = "PEM")]
    pub ca_file: Vec<PathBuf>,
    /// Active mode: the server connects back to us (EPRT, falling back to PORT) on the
    /// control connection's local address. The default is passive (EPSV, then PASV).
    #[arg(long, global = true)]
    pub active: bool,
    /// get and put over N streams in MODE E (GridFTP extended block mode) when the server
    /// offers it (FEAT PARALLEL); 1, or any other server, keeps MODE S. Unset: 4 streams
    /// when the control round trip is 10 ms or more (a distant server, where one TCP
    /// stream is held back by its window), else MODE S (faster near the server, and always
    /// on loopback). A mirror pipelines its files in MODE E whatever the distance.
    #[arg(long, global = true, value_name = "N")]
    pub streams: Option<u32>,
    /// ASCII transfers (TYPE A, line endings converted) instead of binary.
    #[arg(long, global = true)]
    pub ascii: bool,
    /// Read credentials from this netrc file instead of ~/.netrc.
    #[arg(long, global = true, value_name = "FILE")]
    pub netrc: Option<PathBuf>,
    /// Give up on connecting or on a silent server after this many seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// Show the control connection (-v) and more (-vv) on stderr. Passwords are masked.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars or summaries, only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// List a remote directory (MLSD when the server has it, else LIST).
    Ls {
        /// The directory, e.g. ftp://host/pub/
        url: String,
        /// Long format: type, size, modification time (UTC), name.
        #[arg(short, long)]
        long: bool,
    },
    /// Download a file. Bytes go to a temp file renamed over the target on success; where
    /// the connection drops on the way, the download goes on from where it stopped over a
    /// new login (up to 3 times).
    Get {
        /// The remote file.
        url: String,
        /// Where to write it: a file name or an existing directory (default: the
        /// remote name in the current directory).
        local: Option<PathBuf>,
        /// Continue a partial download (REST) instead of starting over.
        #[arg(short = 'c', long = "continue")]
        resume: bool,
        /// Download over N parallel connections, each fetching one range. Each costs a
        /// login and a data connection (about 10 round trips), so it pays for large files
        /// over a path where one TCP stream cannot fill the link; a few MiB go faster over
        /// one. A segment whose connection fails goes on from where it stopped over a new
        /// login (up to 3 times).
        #[arg(long, value_name = "N", default_value_t = 1)]
        segments: u32,
        /// Afterwards compare the server's checksum (HASH, XSHA256, ... XCRC) with ours.
        #[arg(long)]
        verify: bool,
    },
    /// Upload a file.
    Put {
        /// The local file.
        local: PathBuf,
        /// The remote file, or a directory ending in / to keep the local name.
        url: String,
        /// Continue a partial upload: ask SIZE, then send the rest (REST+STOR or APPE).
        #[arg(short = 'c', long = "continue")]
        resume: bool,
        /// Afterwards compare the server's checksum with ours.
        #[arg(long)]
        verify: bool,
    },
    /// Delete remote files.
    Rm {
        /// The files (the first is a URL; the others may be paths on the same server).
        #[arg(required = true)]
        urls: Vec<String>,
    },
    /// Create a remote directory.
    Mkdir {
        /// The directory.
        url: String,
        /// Create missing parents too, and do not fail if it exists.
        #[arg(short, long)]
        parents: bool,
    },
    /// Remove an empty remote directory.
    Rmdir {
        /// The directory.
        url: String,
    },
    /// Rename or move a remote file or directory.
    Mv {
        /// The current name.
        url: String,
        /// The new name (relative to the login directory, like URL paths).
        to: String,
    },
    /// Write a remote file to standard output.
    Cat {
        /// The file.
        url: String,
    },
    /// Print the server's checksum of a remote file (HASH, else GridFTP's CKSM, else
    /// XSHA256/XSHA1/XMD5/XCRC).
    Hash {
        /// The file.
        url: String,
        /// Preferred algorithm: sha256, sha512, sha1, md5 or crc32.
        #[arg(long, value_name = "ALGO")]
        algo: Option<String>,
    },
    /// Copy a file from one server to another, server to server: the data never passes
    /// through kftp (a third-party transfer, as GridFTP and FXP do it), over --streams N
    /// streams in MODE E where both servers offer it. Servers on two hosts must allow
    /// data to and from another host than their client (kftpd: allow_foreign_data_peer,
    /// on both). Plain FTP only: kftp
    /// cannot have two servers encrypt their data to each other.
    Copy {
        /// The source file, ftp://..
        src: String,
        /// The destination file, ftp://.., or a directory ending in / to keep the name.
        dst: String,
        /// Afterwards compare the two servers' checksums (HASH, CKSM or X*: SHA-256 where
        /// both have it).
        #[arg(long)]
        verify: bool,
    },
    /// Sync a directory tree: ftp://.. ./dir downloads, ./dir ftp://.. uploads, ftp://..
    /// ftp://.. copies server to server (as `copy`, plain FTP only). Copies files that are
    /// missing, differ in size, or are newer at the source.
    Mirror {
        /// Source: a URL or a local directory.
        src: String,
        /// Destination: a local directory or a URL.
        dst: String,
        /// Delete destination files and directories that the source does not have.
        #[arg(long)]
        delete: bool,
        /// Transfer up to N files at once, each over its own control connection (the
        /// default, 4, was the fastest measured near the server and far from it)
        #[arg(long, value_name = "N", default_value_t = kftp::mirror::AUTO_PARALLEL)]
        parallel: usize,
        /// Only print what would be done.
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
    /// Interactive session with the classic ftp verbs (type 'help' inside). Reading
    /// commands from a pipe or file, it exits with the code of the first that failed.
    Shell {
        /// Server to open right away.
        url: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_after_subcommand() {
        let c = Cli::try_parse_from(["kftp", "get", "ftp://h/f", "--tls", "-c", "--segments", "4"])
            .unwrap();
        assert!(c.global.tls);
        match c.cmd {
            Cmd::Get {
                resume, segments, ..
            } => assert!(resume && segments == 4),
            _ => panic!("wrong command"),
        }
        assert!(Cli::try_parse_from(["kftp", "get"]).is_err());
    }
}
