//! A bounded, in-memory cache of the chaining values of files served whole,
//! keyed by the file's identity (etag) and chunk size. A file served again
//! unchanged is streamed without hashing, and a resuming client's claimed
//! state can be checked against the real one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::transfer::sender::FileHashes;

/// Cache key: the file's etag and the chunk size.
type Key = (String, u64);

/// Least-recently-used cache of [`FileHashes`], capped in bytes.
pub struct HashCache {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, (Arc<FileHashes>, u64)>,
    clock: u64,
    bytes: usize,
}

impl HashCache {
    /// A cache holding at most `budget` bytes of chaining values.
    pub fn new(budget: usize) -> HashCache {
        HashCache {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The largest single entry worth collecting, in chunk states.
    pub fn max_states(&self) -> usize {
        self.budget / 4 / FileHashes::STATE_BYTES
    }

    /// The hashes of `etag` at `chunk_size`, if cached.
    pub fn get(&self, etag: &str, chunk_size: u64) -> Option<Arc<FileHashes>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(&(etag.to_string(), chunk_size))?;
        entry.1 = now;
        Some(entry.0.clone())
    }

    /// Remember `hashes`, evicting the least recently used entries to fit.
    pub fn insert(&self, etag: &str, chunk_size: u64, hashes: FileHashes) {
        let size = hashes.memory();
        if size > self.budget {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while inner.bytes + size > self.budget {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((old, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= old.memory();
            }
        }
        inner.clock += 1;
        let now = inner.clock;
        if let Some((old, _)) = inner
            .entries
            .insert((etag.to_string(), chunk_size), (Arc::new(hashes), now))
        {
            inner.bytes -= old.memory();
        }
        inner.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainState;

    fn hashes(n: usize) -> FileHashes {
        FileHashes {
            states: vec![ChainState::INITIAL; n],
            digest: [0; 32],
        }
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let one = hashes(10).memory();
        let cache = HashCache::new(2 * one + 1);
        cache.insert("a", 64, hashes(10));
        cache.insert("b", 64, hashes(10));
        assert!(cache.get("a", 64).is_some());
        cache.insert("c", 64, hashes(10));
        assert!(cache.get("b", 64).is_none(), "b was least recently used");
        assert!(cache.get("a", 64).is_some());
        assert!(cache.get("c", 64).is_some());
        assert!(
            cache.get("a", 128).is_none(),
            "chunk size is part of the key"
        );
        cache.insert("huge", 64, hashes(100));
        assert!(cache.get("huge", 64).is_none(), "larger than the budget");
    }
}
