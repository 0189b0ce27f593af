//! Listening for the server's shutdown: each connection holds a
//! [`Shutdown`] that completes once the server stops (the broadcast's
//! sender is dropped), and stays complete.

use tokio::sync::broadcast;

use super::refusal::Refusal;
use crate::protocol::ErrorCode;

/// One connection's view of the server's shutdown.
#[derive(Debug)]
pub struct Shutdown {
    /// The shutdown was seen.
    is_shutdown: bool,
    /// Completes when the server drops (or sends on) the sender.
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    /// Listen on `notify`.
    pub fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown {
            is_shutdown: false,
            notify,
        }
    }

    /// Completes when the server shuts down (at once if it already did).
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // A value, a lag or the sender dropped: each means shutting down.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }

    /// Completes when the server shuts down, with the refusal that ends
    /// the session: close 1001, going away.
    pub async fn going_away(&mut self) -> Refusal {
        self.recv().await;
        Refusal::new(ErrorCode::GoingAway, "server shutting down")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completes_when_the_sender_is_dropped_and_stays_complete() {
        let (notify, receiver) = broadcast::channel::<()>(1);
        let mut shutdown = Shutdown::new(receiver);
        let pending = tokio::time::timeout(std::time::Duration::from_millis(20), shutdown.recv());
        assert!(pending.await.is_err(), "completed before the shutdown");
        drop(notify);
        shutdown.recv().await;
        assert!(shutdown.is_shutdown);
        assert_eq!(shutdown.going_away().await.code, ErrorCode::GoingAway);
    }
}
