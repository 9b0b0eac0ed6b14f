//! Run-time detection of kernel facilities, decided once and cached.
//!
//! # What `auto` picks, and why
//!
//! `auto` uses the kernel paths (sendfile for sends, splice for receives) in both
//! directions. Measured on the development VM (2 vCPUs, Linux 6.18, loopback, 1 GiB
//! page-cached file; `kftp-bench/examples/ceiling.rs`, full tables and caveats in crates/kftp-datapath/MEASUREMENTS.md):
//!
//! | loop (quietest runs, load ~2)   | GB/s      | CPU s/GiB   |
//! |---------------------------------|-----------|-------------|
//! | raw sendfile (download)         | 4.4-5.4   | 0.15-0.19   |
//! | raw read/write 1 MiB (download) | 3.2       | 0.33        |
//! | crate kernel = sendfile         | 5.6       | 0.19        |
//! | crate copy (download)           | 2.6       | 0.41        |
//! | raw splice (upload)             | 4.2-4.5   | 0.22        |
//! | raw read/write 1 MiB (upload)   | 2.5-2.9   | 0.37-0.42   |
//! | crate kernel = splice (upload)  | 3.8-4.3   | 0.23-0.27   |
//! | crate copy (upload)             | 3.0       | 0.36        |
//!
//! Under heavy load (load average 10-13, interleaved runs) every loop falls to ~0.6-1 GB/s
//! of wall clock, but the kernel paths still cost about half the CPU per GiB (download
//! 0.12 vs 0.27, upload 0.33 vs 0.45). The "read/write beats sendfile on loopback"
//! observation does not hold on this kernel. `KFTP_AUTO_PATH=kernel|copy` overrides the
//! choice for both directions (read once per process).
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

/// Parses a `KFTP_AUTO_PATH` value: 1 = no override, 2 = kernel, 3 = copy.
fn parse_override(v: Option<&str>) -> u8 {
    match v.map(str::trim) {
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
    }
}

/// `KFTP_AUTO_PATH`, read once: `Some(true)` for kernel, `Some(false)` for copy.
fn env_override() -> Option<bool> {
    let v = match OVERRIDE.load(Ordering::Relaxed) {
        0 => {
            let v = parse_override(std::env::var("KFTP_AUTO_PATH").ok().as_deref());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_values() {
        assert_eq!(parse_override(None), 1);
        assert_eq!(parse_override(Some("")), 1);
        assert_eq!(parse_override(Some("auto")), 1);
        assert_eq!(parse_override(Some("bogus")), 1);
        assert_eq!(parse_override(Some(" Kernel ")), 2);
        assert_eq!(parse_override(Some("COPY")), 3);
    }
}
