//! Run-time detection of kernel facilities, decided once and cached.
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

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
/// What `auto` picks for sends: set from measurements (see BENCHMARKS.md).
pub fn auto_prefers_kernel_send() -> bool {
    true
}
/// What `auto` picks for receives.
pub fn auto_prefers_kernel_recv() -> bool {
    true
}
