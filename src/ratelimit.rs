//! `--limit-rate`: a token bucket for one transfer's payload bytes. Bytes
//! are taken after they moved (so a frame larger than the bucket still
//! goes, and the next waits until the debt is paid); waiting is a separate
//! future so a transfer loop keeps answering pings while it waits.

use std::time::Duration;

use tokio::time::Instant;

/// Smallest burst, so low rates still move whole frames smoothly.
const MIN_BURST: f64 = 16.0 * 1024.0;

/// Bytes per second, averaged; bursts up to a tenth of a second's worth.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// A limit of `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64) -> RateLimit {
        let rate = bytes_per_sec.max(1) as f64;
        let burst = (rate / 10.0).max(MIN_BURST);
        RateLimit {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = (now - self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
    }

    /// `n` bytes moved.
    pub fn consume(&mut self, n: u64) {
        self.refill();
        self.tokens -= n as f64;
    }

    /// None when more bytes may move now, else when they may.
    pub fn wait_until(&mut self) -> Option<Instant> {
        self.refill();
        (self.tokens < 0.0).then(|| self.last + Duration::from_secs_f64(-self.tokens / self.rate))
    }
}

/// When `limit` (if any) lets bytes move again; None: now.
pub fn blocked_until(limit: &mut Option<RateLimit>) -> Option<Instant> {
    limit.as_mut().and_then(RateLimit::wait_until)
}

/// Sleep until `when` (forever for None: use behind `if when.is_some()`).
pub async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moves `total` bytes in `frame`-sized steps, waiting as told.
    async fn move_bytes(limit: &mut RateLimit, total: u64, frame: u64) -> Duration {
        let start = Instant::now();
        let mut moved = 0;
        while moved < total {
            while let Some(when) = limit.wait_until() {
                tokio::time::sleep_until(when).await;
            }
            limit.consume(frame);
            moved += frame;
        }
        Instant::now() - start
    }

    #[tokio::test(start_paused = true)]
    async fn average_rate_holds_for_large_and_small_frames() {
        for frame in [4096, 65536, 262_144] {
            let mut limit = RateLimit::new(256 * 1024);
            let took = move_bytes(&mut limit, 4 << 20, frame).await;
            // 4 MiB at 256 KiB/s is 16 s, less the burst and the last frame.
            let secs = took.as_secs_f64();
            assert!((14.5..=16.0).contains(&secs), "frame {frame}: {secs}s");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_earns_at_most_one_burst() {
        let mut limit = RateLimit::new(100_000);
        tokio::time::sleep(Duration::from_secs(60)).await;
        limit.consume(MIN_BURST as u64);
        assert!(limit.wait_until().is_none());
        limit.consume(100_000);
        assert!(
            limit.wait_until().is_some(),
            "idling must not bank a minute of bytes"
        );
    }
}
