//! The idle time-out: a deadline pushed back whenever a frame arrives,
//! which ends a session with a refusal when nothing came for too long.

use std::time::Duration;

use super::refusal::Refusal;
use crate::protocol::ErrorCode;

/// The idle time-out: a deadline pushed back whenever a frame arrives.
pub struct IdleWatch {
    limit: Duration,
    deadline: tokio::time::Instant,
}

impl IdleWatch {
    /// Start the clock now.
    pub fn new(limit: Duration) -> IdleWatch {
        IdleWatch {
            limit,
            deadline: tokio::time::Instant::now() + limit,
        }
    }

    /// A frame arrived.
    pub fn heard(&mut self) {
        self.deadline = tokio::time::Instant::now() + self.limit;
    }

    /// Completes when nothing has arrived for the limit.
    pub async fn expired(&self) -> Refusal {
        tokio::time::sleep_until(self.deadline).await;
        Refusal::new(ErrorCode::GoingAway, "idle time-out: nothing received")
    }
}
