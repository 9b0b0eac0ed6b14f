//! Every FTP verb kftp knows, as one enum with typed arguments.
//!
//! Aliases (XCWD, XMKD, XCRC, ...) parse to the same variant as their modern form, so the
//! server has one handler per behaviour and the client one encoder per verb.

use std::fmt;
use std::net::SocketAddr;

/// A password as received in PASS. `Debug` and `Display` never show it, so it cannot leak
/// into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }
    /// The secret itself; call sites are easy to audit by grepping for `expose`.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<password>")
    }
}

/// TYPE argument. Only the types that matter today are representable; `TYPE E` and
/// `TYPE L n` with n != 8 are answered 504 by the parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferType {
    /// `TYPE A` (optionally `A N`): NVT-ASCII, CRLF line endings on the wire.
    Ascii,
    /// `TYPE I` or `TYPE L 8`: bytes as they are.
    Image,
}

/// PROT argument (RFC 4217).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// Clear data channel.
    Clear,
    /// TLS-protected data channel.
    Private,
}

/// Checksum algorithms for HASH (draft-bryan-ftpext-hash) and the X* forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgo {
    /// SHA-256, the default.
    Sha256,
    /// SHA-512 (XSHA512).
    Sha512,
    /// SHA-1.
    Sha1,
    /// MD5.
    Md5,
    /// CRC-32 (IEEE).
    Crc32,
}

impl HashAlgo {
    /// All algorithms, in the order FEAT lists them.
    pub const ALL: [HashAlgo; 5] = [
        HashAlgo::Sha256,
        HashAlgo::Sha512,
        HashAlgo::Sha1,
        HashAlgo::Md5,
        HashAlgo::Crc32,
    ];

    /// The name used by HASH and OPTS HASH.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Sha256 => "SHA-256",
            HashAlgo::Sha512 => "SHA-512",
            HashAlgo::Sha1 => "SHA-1",
            HashAlgo::Md5 => "MD5",
            HashAlgo::Crc32 => "CRC32",
        }
    }

    /// Parses a name as OPTS HASH accepts it (case-insensitive).
    pub fn from_name(s: &str) -> Option<HashAlgo> {
        HashAlgo::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The name GridFTP's CKSM gives it (`MD5`, `SHA1`, `SHA256`, `SHA512`, `CRC32`).
    pub fn cksm_name(self) -> &'static str {
        match self {
            HashAlgo::Sha256 => "SHA256",
            HashAlgo::Sha512 => "SHA512",
            HashAlgo::Sha1 => "SHA1",
            HashAlgo::Md5 => "MD5",
            HashAlgo::Crc32 => "CRC32",
        }
    }

    /// Parses a CKSM algorithm name (case-insensitive).
    pub fn from_cksm_name(s: &str) -> Option<HashAlgo> {
        HashAlgo::ALL
            .into_iter()
            .find(|a| a.cksm_name().eq_ignore_ascii_case(s.trim()))
    }
}

/// The argument of EPSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpsvArg {
    /// Plain `EPSV`: same protocol as the control connection.
    Any,
    /// `EPSV 1` or `EPSV 2`: the client asks for IPv4 or IPv6.
    Proto(u8),
    /// `EPSV ALL`: from now on only EPSV may set up data connections.
    All,
}

/// A byte range for the X-checksum commands and HASH with RANG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte; `None` means to the end of the file.
    pub end: Option<u64>,
}

/// One parsed control command.
///
/// Pathname arguments are kept as the client sent them (UTF-8, RFC 2640); the server
/// resolves them against the session's working directory and root.
///
/// Not `#[non_exhaustive]`: the server's dispatch is one exhaustive `match`, so a new verb
/// does not compile until it has a handler (instead of silently answering 502).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    // --- access control (RFC 959 4.1.1)
    /// USER name
    User(String),
    /// PASS password
    Pass(Password),
    /// ACCT account
    Acct(String),
    /// CWD path (also XCWD)
    Cwd(String),
    /// CDUP (also XCUP)
    Cdup,
    /// SMNT path
    Smnt(String),
    /// REIN
    Rein,
    /// QUIT
    Quit,
    // --- transfer parameters (4.1.2)
    /// PORT h1,h2,h3,h4,p1,p2
    Port(SocketAddr),
    /// PASV
    Pasv,
    /// SPAS: striped passive (GridFTP, GFD.20), MODE E only
    Spas,
    /// SPOR host-port...: striped data port (GridFTP), one host-port per stripe
    Spor(Vec<SocketAddr>),
    /// TYPE
    Type(TransferType),
    /// STRU F|R|P (only F is supported; kept so the reply can be 504 rather than 501)
    Stru(char),
    /// MODE S|B|C|E (S, and E where the server speaks GridFTP extended block mode)
    Mode(char),
    // --- service commands (4.1.3)
    /// RETR path
    Retr(String),
    /// STOR path
    Stor(String),
    /// STOU [path-hint]
    Stou(Option<String>),
    /// APPE path
    Appe(String),
    /// ERET P offset size path: GridFTP's partial retrieve (GFD.20), the bytes
    /// `[offset, offset + size)` of the file sent as a file of their own
    Eret {
        /// First byte of the part.
        offset: u64,
        /// Bytes from there (fewer when the file ends first).
        size: u64,
        /// The file.
        path: String,
    },
    /// ESTO A offset path: GridFTP's adjusted store (GFD.20), the data written from
    /// `offset` on
    Esto {
        /// Where the data's first byte goes.
        offset: u64,
        /// The file.
        path: String,
    },
    /// ALLO n [R m]
    Allo(u64),
    /// SBUF n (GridFTP, GFD.20): the TCP buffer size for the data connections, in bytes
    /// (0: the system's own tuning). `globus-url-copy -tcp-bs n` asks it (as SITE
    /// RETRBUFSIZE / STORBUFSIZE / BUFSIZE, which kftpd reads as SBUF).
    Sbuf(u64),
    /// REST offset (REST STREAM, RFC 3659), or in MODE E a GridFTP range list
    Rest(crate::modee::Restart),
    /// RNFR path
    Rnfr(String),
    /// RNTO path
    Rnto(String),
    /// ABOR
    Abor,
    /// DELE path
    Dele(String),
    /// RMD path (also XRMD)
    Rmd(String),
    /// MKD path (also XMKD)
    Mkd(String),
    /// PWD (also XPWD)
    Pwd,
    /// `LIST [path]`; `ls`-style options such as `-la` are stripped, `-a` is remembered.
    List {
        /// The path, if any.
        path: Option<String>,
        /// `-a` was given: show dot files.
        all: bool,
    },
    /// `NLST [path]`
    Nlst {
        /// The path, if any.
        path: Option<String>,
        /// `-a` was given: show dot files.
        all: bool,
    },
    /// SITE text (the subcommand is interpreted by the server)
    Site(String),
    /// SYST
    Syst,
    /// `STAT [path]`
    Stat(Option<String>),
    /// `HELP [verb]`
    Help(Option<String>),
    /// NOOP
    Noop,
    // --- RFC 2389
    /// FEAT
    Feat,
    /// `OPTS name [args]`
    Opts(String, Option<String>),
    // --- RFC 2428
    /// EPRT |proto|addr|port|
    Eprt(SocketAddr),
    /// EPSV [proto|ALL]
    Epsv(EpsvArg),
    // --- RFC 3659 and friends
    /// SIZE path
    Size(String),
    /// MDTM path
    Mdtm(String),
    /// MFMT YYYYMMDDHHMMSS path: seconds since the Unix epoch, then the path.
    Mfmt(i64, String),
    /// `MLST [path]`
    Mlst(Option<String>),
    /// `MLSD [path]`
    Mlsd(Option<String>),
    /// `AVBL [path]` (draft-peterson-streamlined-ftp-command-extensions): bytes available.
    Avbl(Option<String>),
    // --- RFC 7151
    /// HOST name
    Host(String),
    // --- checksums
    /// HASH path (algorithm chosen by OPTS HASH; range by RANG)
    Hash(String),
    /// RANG start end (draft-bryan-ftp-range), used by HASH
    Rang(u64, u64),
    /// `XCRC/XMD5/XSHA1/XSHA256/XSHA512 path [start [end]]`
    XHash(HashAlgo, String, ByteRange),
    /// `CKSM algorithm offset length path` (GridFTP): the checksum of `length` bytes from
    /// `offset` (`-1`: to the end), answered `213 <hex>`.
    Cksm(HashAlgo, ByteRange, String),
    // --- RFC 2228 / 4217
    /// AUTH mechanism
    Auth(String),
    /// PBSZ n
    Pbsz(u64),
    /// PROT C|P (S and E parse to an error reply)
    Prot(Prot),
    /// CCC
    Ccc,
}

impl Command {
    /// The canonical verb, as sent by a client and as used in HELP and logs.
    pub fn verb(&self) -> &'static str {
        use Command::*;
        match self {
            User(_) => "USER",
            Pass(_) => "PASS",
            Acct(_) => "ACCT",
            Cwd(_) => "CWD",
            Cdup => "CDUP",
            Smnt(_) => "SMNT",
            Rein => "REIN",
            Quit => "QUIT",
            Port(_) => "PORT",
            Pasv => "PASV",
            Spas => "SPAS",
            Spor(_) => "SPOR",
            Type(_) => "TYPE",
            Stru(_) => "STRU",
            Mode(_) => "MODE",
            Retr(_) => "RETR",
            Stor(_) => "STOR",
            Stou(_) => "STOU",
            Appe(_) => "APPE",
            Eret { .. } => "ERET",
            Esto { .. } => "ESTO",
            Allo(_) => "ALLO",
            Sbuf(_) => "SBUF",
            Rest(_) => "REST",
            Rnfr(_) => "RNFR",
            Rnto(_) => "RNTO",
            Abor => "ABOR",
            Dele(_) => "DELE",
            Rmd(_) => "RMD",
            Mkd(_) => "MKD",
            Pwd => "PWD",
            List { .. } => "LIST",
            Nlst { .. } => "NLST",
            Site(_) => "SITE",
            Syst => "SYST",
            Stat(_) => "STAT",
            Help(_) => "HELP",
            Noop => "NOOP",
            Feat => "FEAT",
            Opts(..) => "OPTS",
            Eprt(_) => "EPRT",
            Epsv(_) => "EPSV",
            Size(_) => "SIZE",
            Mdtm(_) => "MDTM",
            Mfmt(..) => "MFMT",
            Mlst(_) => "MLST",
            Avbl(_) => "AVBL",
            Mlsd(_) => "MLSD",
            Host(_) => "HOST",
            Hash(_) => "HASH",
            Rang(..) => "RANG",
            XHash(a, ..) => match a {
                HashAlgo::Sha256 => "XSHA256",
                HashAlgo::Sha512 => "XSHA512",
                HashAlgo::Sha1 => "XSHA1",
                HashAlgo::Md5 => "XMD5",
                HashAlgo::Crc32 => "XCRC",
            },
            Cksm(..) => "CKSM",
            Auth(_) => "AUTH",
            Pbsz(_) => "PBSZ",
            Prot(_) => "PROT",
            Ccc => "CCC",
        }
    }

    /// The line a client sends for this command, without CRLF. Secrets are included:
    /// never log this for PASS; log [`Command::loggable`] instead.
    pub fn to_line(&self) -> String {
        use Command::*;
        let v = self.verb();
        let with = |arg: &str| format!("{v} {arg}");
        match self {
            User(s) | Acct(s) | Cwd(s) | Smnt(s) | Retr(s) | Stor(s) | Appe(s) | Rnfr(s)
            | Rnto(s) | Dele(s) | Rmd(s) | Mkd(s) | Site(s) | Size(s) | Mdtm(s) | Host(s)
            | Hash(s) | Auth(s) => with(s),
            Pass(p) => with(p.expose()),
            Stou(p) | Stat(p) | Help(p) | Mlst(p) | Mlsd(p) | Avbl(p) => match p {
                Some(p) => with(p),
                None => v.to_string(),
            },
            List { path, all } | Nlst { path, all } => {
                let mut s = v.to_string();
                if *all {
                    s.push_str(" -a");
                }
                if let Some(p) = path {
                    s.push(' ');
                    s.push_str(p);
                }
                s
            }
            Port(a) => with(&crate::addr::format_port(a).unwrap_or_default()),
            Eprt(a) => with(&crate::addr::format_eprt(a)),
            Epsv(EpsvArg::Any) => v.to_string(),
            Epsv(EpsvArg::All) => with("ALL"),
            Epsv(EpsvArg::Proto(p)) => with(&p.to_string()),
            Type(TransferType::Ascii) => with("A"),
            Type(TransferType::Image) => with("I"),
            Stru(c) | Mode(c) => with(&c.to_string()),
            Allo(n) | Pbsz(n) | Sbuf(n) => with(&n.to_string()),
            Rest(r) => with(&r.format()),
            Eret { offset, size, path } => format!("{v} P {offset} {size} {path}"),
            Esto { offset, path } => format!("{v} A {offset} {path}"),
            Mfmt(t, p) => format!("{v} {} {p}", crate::time::format_mdtm(*t)),
            Opts(name, arg) => match arg {
                Some(a) => format!("{v} {name} {a}"),
                None => with(name),
            },
            Rang(a, b) => format!("{v} {a} {b}"),
            XHash(_, p, r) => match r.end {
                Some(e) => format!("{v} {p} {} {e}", r.start),
                None if r.start > 0 => format!("{v} {p} {}", r.start),
                None => with(p),
            },
            Cksm(a, r, p) => match r.end {
                Some(e) => format!("{v} {} {} {} {p}", a.cksm_name(), r.start, e - r.start),
                None => format!("{v} {} {} -1 {p}", a.cksm_name(), r.start),
            },
            Prot(crate::command::Prot::Clear) => with("C"),
            Prot(crate::command::Prot::Private) => with("P"),
            Spor(targets) => {
                let parts: Vec<String> = targets
                    .iter()
                    .map(|a| crate::addr::format_port(a).unwrap_or_default())
                    .collect();
                with(&parts.join(" "))
            }
            Rein | Quit | Pasv | Spas | Abor | Pwd | Syst | Noop | Feat | Cdup | Ccc => {
                v.to_string()
            }
        }
    }

    /// A form of the command that is safe to log: the password of PASS is masked.
    pub fn loggable(&self) -> String {
        match self {
            Command::Pass(_) => "PASS <password>".to_string(),
            other => other.to_line(),
        }
    }
}
