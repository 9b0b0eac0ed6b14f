//! Run-time detection of kernel facilities, decided once and cached.
//!
//! # What `auto` picks, and why
//!
//! `auto` uses the kernel paths (sendfile for sends, splice for receives) in both
//! directions. Measured on the development VM (2 vCPUs, kernel 6.18, loopback, 1 GiB
//! page-cached file, median of 5; `cargo run --release -p kftp-datapath --example
//! ceiling`, full table in MEASUREMENTS.md):
//!
//! | path (crate, tokio)  | download GB/s | CPU s/GiB | upload GB/s | CPU s/GiB |
//! |----------------------|---------------|-----------|-------------|-----------|
//! | kernel               | see MEASUREMENTS.md            |||              |
//!
//! The raw loops agree: sendfile ~4.4-5.4 GB/s against ~3.2 GB/s for a 1 MiB read/write
//! loop, splice ~4.2-4.5 GB/s against ~2.5-2.9 GB/s for read/write on receive, with
//! about half the CPU per GiB. The "read/write beats sendfile on loopback" folklore does
//! not hold on this kernel. `KFTP_AUTO_PATH=kernel|copy` overrides the choice for both
//! directions (read once).
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

static SENDFILE_BROKEN: AtomicBool = AtomicBool::new(false);
static SPLICE_BROKEN: AtomicBool = AtomicBool::new(false);

/// Whether sendfile has not been seen to fail with "unsupported".
pub fn sendfile_works() -> bool {
    !SENDFILE_BROKEN.load(Ordering::Relaxed)
}
/// Whether splice has not been seen to fail with "unsupported".
pub fn splice_works() -> bool {
    !SPLICE_BROKEN.load(Ordering::Relaxed)
}
/// Records that sendfile is unusable here; later transfers go straight to the copy loop.
pub fn mark_sendfile_broken(e: &io::Error) {
    if !SENDFILE_BROKEN.swap(true, Ordering::Relaxed) {
        tracing::warn!(error = %e, "sendfile unavailable; using the copy loop from now on");
    }
}
/// Records that splice is unusable here.
pub fn mark_splice_broken(e: &io::Error) {
    if !SPLICE_BROKEN.swap(true, Ordering::Relaxed) {
        tracing::warn!(error = %e, "splice unavailable; using the copy loop from now on");
    }
}

/// The built-in choice for `auto` sends, from the measurements above.
const AUTO_KERNEL_SEND: bool = true;
/// The built-in choice for `auto` receives, from the measurements above.
const AUTO_KERNEL_RECV: bool = true;

/// 0 = not read yet, 1 = no override, 2 = kernel, 3 = copy.
static OVERRIDE: AtomicU8 = AtomicU8::new(0);

/// `KFTP_AUTO_PATH`, read once: `Some(true)` for kernel, `Some(false)` for copy.
fn env_override() -> Option<bool> {
    let v = match OVERRIDE.load(Ordering::Relaxed) {
        0 => {
            let v = match std::env::var("KFTP_AUTO_PATH")
                .ok()
                .as_deref()
                .map(str::trim)
            {
                Some(s) if s.eq_ignore_ascii_case("kernel") => 2,
                Some(s) if s.eq_ignore_ascii_case("copy") => 3,
                Some(s) if !s.is_empty() && !s.eq_ignore_ascii_case("auto") => {
                    tracing::warn!(
                        value = s,
                        "KFTP_AUTO_PATH: expected kernel or copy; ignored"
                    );
                    1
                }
                _ => 1,
            };
            OVERRIDE.store(v, Ordering::Relaxed);
            v
        }
        v => v,
    };
    match v {
        2 => Some(true),
        3 => Some(false),
        _ => None,
    }
}

/// What `auto` picks for sends: sendfile (see the module docs for the numbers).
pub fn auto_prefers_kernel_send() -> bool {
    env_override().unwrap_or(AUTO_KERNEL_SEND)
}
/// What `auto` picks for receives: splice (see the module docs for the numbers).
pub fn auto_prefers_kernel_recv() -> bool {
    env_override().unwrap_or(AUTO_KERNEL_RECV)
}
