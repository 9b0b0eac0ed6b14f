//! Configuration, written once.
//!
//! - [`settings`]: [`Settings`], one flat struct that is both the server's flags (clap)
//!   and its TOML file (serde): every field an `Option`, the TOML key the long flag with
//!   `_`, the default a `const` beside the field.
//! - [`mod@file`]: reading the file, with errors that name file, line, column and key.
//! - [`values`]: value types that parse alike from a flag and from the file (port range,
//!   mode, byte rates, the enums).
//! - [`resolved`]: [`resolve()`], defaults < file < environment < flags, into [`Config`],
//!   plain data that sessions read (with [`s3`]).
//!
//! Nothing here imports a runtime module: the rest of the crate depends on `config`,
//! never the other way round.
//!
//! # Adding a setting: two edits
//! 1. A field in [`Settings`] (its doc comment is the `--help` text; `#[arg(long)]`, plus
//!    `env = "KFTPD_..."` if it should have a variable, plus
//!    `default_value = CONST.to_string()` with a `const` beside it if it has a default).
//!    That makes the flag and the TOML key.
//! 2. In [`resolved`]: its field in [`Config`] (or a sub-struct) and the line in
//!    [`resolve()`] that fills it, `get!(name).unwrap_or(CONST)` (the compiler points at
//!    the missing initializer).
//!
//! Then a line in `kftpd.example.toml` (a unit test parses it).

pub mod file;
pub mod resolved;
pub mod s3;
pub mod settings;
pub mod values;

pub use file::{check_cmd, load, ConfigError};
pub use resolved::resolve;
pub use resolved::{AbuseConfig, Config, HashLimits, OpsConfig, PamConfig};
pub use s3::{S3Settings, MIN_PART};
pub use settings::{flags_only, Settings};
pub use values::{AuthSource, DataPath, LogFormat, PassiveNet, TlsPolicy, TlsReuse};

#[cfg(test)]
mod tests;
