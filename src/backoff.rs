//! Reconnect delays and the retry budget.
//!
//! This module owns the client's retry arithmetic, free of I/O: [`Backoff`]
//! produces exponentially growing, fully jittered reconnect delays, and
//! [`RetryBudget`] decides whether `--retries N` still allows another attempt,
//! counting only consecutive attempts that made no progress.

use std::time::Duration;

use rand::RngExt;

/// Exponential backoff with full jitter: delay n is uniform in [0, min(cap, base * 2^n)].
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    /// Delays handed out since creation or the last [`Backoff::reset`].
    step: u32,
}

impl Backoff {
    /// A backoff whose first delay is at most `base` and no delay exceeds `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff { base, cap, step: 0 }
    }

    /// The next delay, drawn uniformly from `[0, ceiling]` with the thread RNG.
    pub fn next_delay(&mut self) -> Duration {
        let unit = rand::rng().random_range(0.0..1.0);
        self.next_delay_with(unit)
    }

    /// The next delay for a given uniform draw `unit` in `[0, 1)`: `unit`
    /// times the current ceiling. Out-of-range values are clamped (NaN is 0).
    /// This is the deterministic core of [`Backoff::next_delay`].
    pub fn next_delay_with(&mut self, unit: f64) -> Duration {
        let ceiling = self.ceiling();
        self.step = self.step.saturating_add(1);
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        Duration::try_from_secs_f64(ceiling.as_secs_f64() * unit)
            .map_or(ceiling, |d| d.min(ceiling))
    }

    /// The upper bound of the next delay: `min(cap, base * 2^step)`, saturating.
    pub fn ceiling(&self) -> Duration {
        2u32.checked_pow(self.step)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// Start again from the first (shortest) delay, e.g. after progress.
    pub fn reset(&mut self) {
        self.step = 0;
    }
}

/// `--retries N`: after the first attempt, up to N more consecutive attempts without progress.
#[derive(Clone, Debug)]
pub struct RetryBudget {
    max_retries: u32,
    /// Retries granted since the last attempt that made progress.
    without_progress: u32,
    /// Attempts started, counting the first.
    attempts: u32,
}

impl RetryBudget {
    /// A budget for one transfer whose first attempt is already under way.
    pub fn new(max_retries: u32) -> Self {
        RetryBudget {
            max_retries,
            without_progress: 0,
            attempts: 1,
        }
    }

    /// Record a failed attempt; `made_progress` = it verified at least one new chunk (resets the count).
    /// Returns true if another attempt is allowed (and counts it as started).
    pub fn allow_retry(&mut self, made_progress: bool) -> bool {
        if made_progress {
            self.without_progress = 0;
        }
        if self.without_progress >= self.max_retries {
            return false;
        }
        self.without_progress += 1;
        self.attempts = self.attempts.saturating_add(1);
        true
    }

    /// Total attempts started so far (the first plus every allowed retry), for reporting.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const ALMOST_ONE: f64 = 1.0 - f64::EPSILON;

    /// Ceilings hit with a draw just below 1, in order.
    fn top_delays(base: Duration, cap: Duration, n: usize) -> Vec<Duration> {
        let mut b = Backoff::new(base, cap);
        (0..n).map(|_| b.next_delay_with(ALMOST_ONE)).collect()
    }

    /// True when `got` is within 1µs below `want` (float rounding of the draw).
    fn near(got: Duration, want: Duration) -> bool {
        got <= want && want - got <= Duration::from_micros(1)
    }

    #[test]
    fn growth_and_cap() {
        let ms = |v: &[u64]| v.iter().map(|&m| MS * m as u32).collect::<Vec<_>>();
        let cases: &[(Duration, Duration, Vec<Duration>)] = &[
            (MS * 100, MS * 1000, ms(&[100, 200, 400, 800, 1000, 1000])),
            (MS * 250, MS * 250, ms(&[250, 250, 250])),
            (MS * 500, MS * 100, ms(&[100, 100])),
            (MS, MS * 10, ms(&[1, 2, 4, 8, 10, 10, 10])),
            (Duration::ZERO, MS * 10, ms(&[0, 0, 0])),
        ];
        for (base, cap, want) in cases {
            let got = top_delays(*base, *cap, want.len());
            for (g, w) in got.iter().zip(want) {
                assert!(
                    near(*g, *w),
                    "base {base:?} cap {cap:?}: {got:?} vs {want:?}"
                );
            }
        }
    }

    #[test]
    fn unit_is_clamped_and_scales() {
        let cases: &[(f64, Duration)] = &[
            (0.0, Duration::ZERO),
            (0.5, MS * 50),
            (-1.0, Duration::ZERO),
            (f64::NAN, Duration::ZERO),
            (7.0, MS * 100),
            (f64::INFINITY, MS * 100),
        ];
        for &(unit, want) in cases {
            let mut b = Backoff::new(MS * 100, Duration::from_secs(1));
            assert_eq!(b.next_delay_with(unit), want, "unit {unit}");
        }
    }

    #[test]
    fn saturates_for_large_steps() {
        let cases: &[(Duration, Duration)] = &[
            (MS, Duration::from_secs(60)),
            (Duration::from_secs(1 << 40), Duration::MAX),
            (Duration::MAX, Duration::MAX),
        ];
        for &(base, cap) in cases {
            let mut b = Backoff::new(base, cap);
            for _ in 0..200 {
                let d = b.next_delay_with(ALMOST_ONE);
                assert!(d <= cap);
            }
            assert_eq!(b.ceiling(), cap, "base {base:?}");
            assert!(near(b.next_delay_with(ALMOST_ONE), cap) || cap == Duration::MAX);
        }
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::new(MS * 10, MS * 500);
        let mut below_half = 0;
        for i in 0..2000 {
            if i % 20 == 0 {
                b.reset();
            }
            let ceiling = b.ceiling();
            let d = b.next_delay();
            assert!(d <= ceiling, "draw {i}: {d:?} > {ceiling:?}");
            below_half += usize::from(d < ceiling / 2);
        }
        // Full jitter: about half the draws fall in the lower half.
        assert!((700..1300).contains(&below_half), "{below_half}");
    }

    #[test]
    fn reset_restarts_growth() {
        let mut b = Backoff::new(MS * 100, Duration::from_secs(10));
        for _ in 0..5 {
            b.next_delay_with(0.0);
        }
        assert_eq!(b.ceiling(), MS * 3200);
        b.reset();
        assert_eq!(b.ceiling(), MS * 100);
        assert!(near(b.next_delay_with(ALMOST_ONE), MS * 100));
    }

    #[test]
    fn retry_budget_counts_consecutive_failures() {
        // (max retries, progress flag of each failed attempt, expected answers)
        let cases: &[(u32, &[bool], &[bool])] = &[
            (0, &[false], &[false]),
            (0, &[true], &[false]),
            (1, &[false, false], &[true, false]),
            (3, &[false, false, false, false], &[true, true, true, false]),
            (
                2,
                &[false, false, true, false, false],
                &[true, true, true, true, false],
            ),
            (1, &[true, true, true, false], &[true, true, true, false]),
        ];
        for &(max, progress, want) in cases {
            let mut budget = RetryBudget::new(max);
            assert_eq!(budget.attempts(), 1);
            let got: Vec<bool> = progress.iter().map(|&p| budget.allow_retry(p)).collect();
            assert_eq!(got, want, "retries {max}, progress {progress:?}");
            let granted = want.iter().filter(|&&w| w).count() as u32;
            assert_eq!(budget.attempts(), 1 + granted, "retries {max}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_loop_waits_within_bound() {
        let (base, cap, retries) = (MS * 100, MS * 1000, 6);
        let mut backoff = Backoff::new(base, cap);
        let mut budget = RetryBudget::new(retries);
        let bound: Duration = top_delays(base, cap, retries as usize).into_iter().sum();
        let mut slept = Duration::ZERO;
        let start = tokio::time::Instant::now();
        while budget.allow_retry(false) {
            let delay = backoff.next_delay();
            slept += delay;
            tokio::time::sleep(delay).await;
        }
        let elapsed = start.elapsed();
        assert_eq!(budget.attempts(), retries + 1);
        // Timers have millisecond granularity: allow 1ms of rounding per sleep.
        assert!(elapsed >= slept, "{elapsed:?} < {slept:?}");
        assert!(elapsed <= bound + MS * retries, "{elapsed:?} > {bound:?}");
        // 100 + 200 + 400 + 800 + 1000 + 1000 ms.
        assert!(near(bound, MS * 3500), "{bound:?}");
    }
}
