//! Token-bucket bandwidth limits.
//!
//! A transfer asks for a chunk's worth of tokens *before* moving the chunk (sendfile) or
//! right after (receives), and sleeps off any debt. The bucket holds at most a tenth of a
//! second's worth (and at least 16 KiB), so over `T` seconds a limiter of `N` bytes/s
//! passes about `N * T` bytes plus that small burst: a 1 s transfer runs ~10% over, a
//! 10 s one ~1%. Debt is allowed, so one large chunk is paid for by waiting, not refused.
//!
//! Time comes from `tokio::time::Instant`, which is the system clock except under
//! `tokio::time::pause()`, where tests drive it.
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The smallest bucket and chunk, so very low limits still move whole packets.
const MIN_BURST: u64 = 16 * 1024;

/// A token bucket of `rate` bytes per second.
#[derive(Debug)]
pub struct RateLimiter {
    rate: u64,
    /// Tokens available (negative: debt) and when they were last topped up.
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A limiter of `rate` bytes per second (0 means unlimited).
    pub fn new(rate: u64) -> Self {
        let limiter = RateLimiter {
            rate,
            state: Mutex::new((0.0, Instant::now())),
        };
        if let Ok(mut st) = limiter.state.lock() {
            st.0 = limiter.burst();
        }
        limiter
    }

    /// The configured rate in bytes per second (0: unlimited).
    pub fn rate(&self) -> u64 {
        self.rate
    }

    fn burst(&self) -> f64 {
        (self.rate / 10).max(MIN_BURST) as f64
    }

    /// The largest chunk worth moving between two waits: a tenth of a second's worth,
    /// so pacing stays smooth while zero-copy calls stay large.
    pub fn chunk_hint(&self) -> usize {
        if self.rate == 0 {
            usize::MAX
        } else {
            ((self.rate / 10) as usize).max(MIN_BURST as usize)
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
            let refill = now.duration_since(st.1).as_secs_f64() * self.rate as f64;
            st.0 = (st.0 + refill).min(self.burst());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Moves `total` bytes in `chunk`-sized acquisitions; returns the (virtual) seconds.
    async fn time_to_move(l: &RateLimiter, total: u64, chunk: u64) -> f64 {
        let start = Instant::now();
        let mut left = total;
        while left > 0 {
            let n = chunk.min(left);
            l.acquire(n).await;
            left -= n;
        }
        start.elapsed().as_secs_f64()
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_never_waits() {
        let l = RateLimiter::new(0);
        assert_eq!(l.chunk_hint(), usize::MAX);
        assert_eq!(time_to_move(&l, 1 << 40, 1 << 30).await, 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn yields_the_configured_rate() {
        for (rate, chunk) in [
            (1_000_000u64, 100_000u64),
            (10_000_000, 1 << 20),
            (50_000, 16_384),
        ] {
            let l = RateLimiter::new(rate);
            let total = rate * 10;
            let secs = time_to_move(&l, total, chunk).await;
            // Only the initial burst (a tenth of a second, at least 16 KiB) is free.
            let free = (rate / 10).max(MIN_BURST);
            let expect = (total - free) as f64 / rate as f64;
            assert!(
                (secs - expect).abs() < 0.01 * expect,
                "rate {rate}: {total} bytes took {secs:.3} s, expected {expect:.3}"
            );
            let achieved = total as f64 / secs;
            assert!(
                achieved / (rate as f64) < 1.04,
                "rate {rate}: {achieved:.0} B/s"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_does_not_bank_more_than_a_burst() {
        let l = RateLimiter::new(1_000_000);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let secs = time_to_move(&l, 2_000_000, 100_000).await;
        assert!(secs >= 1.85, "banked too much idle time: {secs}");
    }

    #[tokio::test(start_paused = true)]
    async fn shared_limit_splits_between_transfers() {
        let l = Arc::new(RateLimiter::new(1_000_000));
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move { time_to_move(&l, 1_000_000, 50_000).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        // 4 MB through a shared 1 MB/s limit takes ~4 s (less the initial burst).
        assert!((3.8..4.2).contains(&secs), "{secs}");
    }

    #[test]
    fn chunk_hint_is_a_tenth_of_a_second() {
        assert_eq!(RateLimiter::new(10_000_000).chunk_hint(), 1_000_000);
        assert_eq!(RateLimiter::new(1000).chunk_hint(), 16 * 1024);
        assert_eq!(RateLimiter::new(1000).rate(), 1000);
    }
}
