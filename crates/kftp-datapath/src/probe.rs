//! Run-time detection of kernel facilities, decided once and cached.
//!
//! # What `auto` picks
//!
//! `auto` measures: [`crate::chooser`] tries the kernel path and the copy loop in turn on
//! the first large transfers of each direction and then keeps the faster, re-probing now
//! and then. The kernel path (sendfile, splice) is what it uses before it has measured,
//! and for transfers too small to measure. On the development VM (2 vCPUs, Linux 6.18,
//! loopback, 1 GiB page-cached file; `kftp-bench/examples/ceiling.rs`, crates/kftp-datapath/MEASUREMENTS.md) the kernel
//! paths won both directions in the raw loops:
//!
//! | loop (quietest runs, load ~2)   | GB/s      | CPU s/GiB   |
//! |---------------------------------|-----------|-------------|
//! | raw sendfile (download)         | 4.4-5.4   | 0.15-0.19   |
//! | raw read/write 1 MiB (download) | 3.2       | 0.33        |
//! | raw splice (upload)             | 4.2-4.5   | 0.22        |
//! | raw read/write 1 MiB (upload)   | 2.5-2.9   | 0.37-0.42   |
//!
//! but through a real client the copy loop can win socket -> file (`curl -T` into kftpd:
//! BENCHMARKS.md, "auto path choice"), which is why the choice is no longer a constant.
//! `KFTP_AUTO_PATH=kernel|copy` pins the choice for both directions (read once per process).
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
pub fn auto_override() -> Option<bool> {
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

/// What `auto` would pick for the next large send now: `true` for sendfile.
pub fn auto_prefers_kernel_send() -> bool {
    auto_override().unwrap_or_else(|| crate::chooser::pick(crate::chooser::Direction::Send))
}
/// What `auto` would pick for the next receive now: `true` for splice.
pub fn auto_prefers_kernel_recv() -> bool {
    auto_override().unwrap_or_else(|| crate::chooser::pick(crate::chooser::Direction::Recv))
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
