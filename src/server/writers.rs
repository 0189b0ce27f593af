//! One writer per upload target: a registry of active uploads. A second
//! client is refused; the same source reconnecting takes over at once from
//! its earlier, possibly half-open, connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, watch};

/// The holder name of the expiry sweep: claims wait for it instead of
/// being refused.
const SWEEPER: &str = "\0expiry";

/// How long a takeover waits for the earlier connection to commit and let go.
const TAKEOVER_WAIT: Duration = Duration::from_secs(10);

struct Slot {
    source_id: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    takeover: watch::Sender<u64>,
}

/// Active uploads by target.
#[derive(Default, Clone)]
pub struct Writers {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
}

/// The right to write one target; released on drop.
pub struct WriterGuard {
    _lock: OwnedMutexGuard<()>,
    /// Changes when a newer connection of the same source takes over.
    pub superseded: watch::Receiver<u64>,
}

/// Why a claim failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// A different source is uploading to the target.
    Busy,
    /// The earlier connection did not let go in time.
    Stuck,
}

impl Writers {
    /// Claim `target` for `source_id`, taking over from an earlier connection
    /// of the same source.
    pub async fn claim(&self, target: &str, source_id: &str) -> Result<WriterGuard, ClaimError> {
        let (lock, takeover) = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(target.to_string()).or_insert_with(|| Slot {
                source_id: source_id.to_string(),
                lock: Arc::new(tokio::sync::Mutex::new(())),
                takeover: watch::channel(0).0,
            });
            let held = slot.lock.try_lock().is_err();
            let sweeping = slot.source_id == SWEEPER;
            if held && !sweeping && slot.source_id != source_id {
                return Err(ClaimError::Busy);
            }
            slot.source_id = source_id.to_string();
            if held && !sweeping {
                slot.takeover.send_modify(|generation| *generation += 1);
            }
            (slot.lock.clone(), slot.takeover.clone())
        };
        let guard = tokio::time::timeout(TAKEOVER_WAIT, lock.lock_owned())
            .await
            .map_err(|_| ClaimError::Stuck)?;
        let mut superseded = takeover.subscribe();
        superseded.mark_unchanged();
        Ok(WriterGuard {
            _lock: guard,
            superseded,
        })
    }

    /// Claim `target` for `source_id` only if nobody holds it (no waiting,
    /// no takeover): for a session's small files, which fall back to
    /// [`Writers::claim`] when this fails.
    pub fn try_claim(&self, target: &str, source_id: &str) -> Option<WriterGuard> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots.entry(target.to_string()).or_insert_with(|| Slot {
            source_id: source_id.to_string(),
            lock: Arc::new(tokio::sync::Mutex::new(())),
            takeover: watch::channel(0).0,
        });
        let guard = slot.lock.clone().try_lock_owned().ok()?;
        slot.source_id = source_id.to_string();
        let mut superseded = slot.takeover.subscribe();
        superseded.mark_unchanged();
        Some(WriterGuard {
            _lock: guard,
            superseded,
        })
    }

    /// Hold `target` for the expiry sweep if nobody is writing it.
    pub fn try_hold(&self, target: &str) -> Option<OwnedMutexGuard<()>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots.entry(target.to_string()).or_insert_with(|| Slot {
            source_id: SWEEPER.to_string(),
            lock: Arc::new(tokio::sync::Mutex::new(())),
            takeover: watch::channel(0).0,
        });
        let guard = slot.lock.clone().try_lock_owned().ok()?;
        slot.source_id = SWEEPER.to_string();
        Some(guard)
    }

    /// Forget slots nobody holds (bounded memory).
    pub fn prune(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        // Kept while anyone holds the lock or is about to wait for it (a
        // claimer clones the `Arc` before locking); `try_lock` would drop
        // the slot of a claimer that has not locked yet.
        slots.retain(|_, slot| Arc::strong_count(&slot.lock) > 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_source_is_refused_and_the_same_source_takes_over() {
        let writers = Writers::default();
        let mut first = writers.claim("a", "s1").await.unwrap();
        assert_eq!(writers.claim("a", "s2").await.err(), Some(ClaimError::Busy));
        let w = writers.clone();
        let second = tokio::spawn(async move { w.claim("a", "s1").await.is_ok() });
        first.superseded.changed().await.unwrap();
        drop(first);
        assert!(second.await.unwrap());
        writers.prune();
        assert!(writers.claim("b", "s2").await.is_ok());
        let held = writers.try_claim("c", "s1").unwrap();
        assert!(
            writers.try_claim("c", "s1").is_none(),
            "held, even by the same source"
        );
        drop(held);
        assert!(writers.try_claim("c", "s2").is_some());
    }
}
