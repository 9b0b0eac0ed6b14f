//! Token-bucket bandwidth limits.
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket: `rate` bytes per second, bursts up to one second's worth.
#[derive(Debug)]
pub struct RateLimiter {
    rate: u64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A limiter of `rate` bytes per second (0 means unlimited).
    pub fn new(rate: u64) -> Self {
        RateLimiter {
            rate,
            state: Mutex::new((rate as f64, Instant::now())),
        }
    }

    /// The largest chunk worth moving between two waits: a tenth of a second's worth,
    /// so pacing stays smooth while zero-copy calls stay large.
    pub fn chunk_hint(&self) -> usize {
        if self.rate == 0 {
            usize::MAX
        } else {
            ((self.rate / 10) as usize).max(16 * 1024)
        }
    }

    /// Waits until `n` bytes may pass.
    pub async fn acquire(&self, n: u64) {
        if self.rate == 0 {
            return;
        }
        let wait = {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let burst = self.rate as f64;
            st.0 = (st.0 + now.duration_since(st.1).as_secs_f64() * self.rate as f64).min(burst);
            st.1 = now;
            st.0 -= n as f64;
            if st.0 >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-st.0 / self.rate as f64)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}
