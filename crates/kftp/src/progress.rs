//! How transfers report progress without the library knowing about terminals: a
//! [`Progress`] hands out one byte counter per file; the CLI draws bars from them, a
//! library user can ignore them ([`Silent`]).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Receives the start and end of each file transfer.
pub trait Progress: Send + Sync {
    /// A transfer of `name` (`total` bytes, `done` of them already in place) begins.
    /// Returns the counter the transfer adds its bytes to.
    fn begin(&self, name: &str, total: Option<u64>, done: u64) -> Arc<AtomicU64>;
    /// The transfer of `name` ended; `error` is the message when it failed.
    fn end(&self, name: &str, error: Option<&str>);
    /// A line for the user (skipped symlinks, deletions).
    fn message(&self, msg: &str);
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: Option<u64>, _: u64) -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(0))
    }
    fn end(&self, _: &str, _: Option<&str>) {}
    fn message(&self, _: &str) {}
}
