//! The reconnect policy: which failures are retried, how long to wait, and
//! when to give up (`--retries` consecutive attempts without progress).

use std::time::Duration;

use crate::backoff::{Backoff, RetryBudget};
use crate::error::{Error, Result};
use crate::progress::FileProgress;

/// First reconnect delay before jitter.
const BASE_DELAY: Duration = Duration::from_millis(250);

/// Tracks attempts of one transfer.
pub struct Retrier {
    backoff: Backoff,
    budget: RetryBudget,
    progress: FileProgress,
}

impl Retrier {
    /// Allow `retries` attempts without progress, waiting at most `max_delay`.
    /// Reconnects are reported to `progress`.
    pub fn new(retries: u32, max_delay: Duration, progress: FileProgress) -> Retrier {
        Retrier {
            backoff: Backoff::new(BASE_DELAY.min(max_delay), max_delay),
            budget: RetryBudget::new(retries),
            progress,
        }
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.budget.attempts()
    }

    /// An attempt failed: return the error if it is final, else wait and
    /// return Ok so the caller tries again.
    pub async fn failed(&mut self, error: Error, made_progress: bool) -> Result<()> {
        if !error.is_transient() {
            return Err(error);
        }
        if made_progress {
            self.backoff.reset();
        }
        if !self.budget.allow_retry(made_progress) {
            return Err(Error::RetriesExhausted {
                attempts: self.attempts(),
                last: Box::new(error),
            });
        }
        let delay = self.backoff.next_delay();
        tracing::info!(
            attempt = self.attempts(),
            delay_s = delay.as_secs_f64(),
            progressed = made_progress,
            "attempt failed: {error}; reconnecting"
        );
        self.progress.reconnecting(&error.to_string(), delay);
        tokio::time::sleep(delay).await;
        Ok(())
    }
}
