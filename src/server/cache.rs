//! A bounded, in-memory cache of the chaining values of files served whole,
//! keyed by the file's identity (etag) and chunk size. A file served again
//! unchanged is streamed without hashing, and a resuming client's claimed
//! state can be checked against the real one.
//!
//! Beside it, a bounded map of whole-file digests by etag (also for files
//! whose chaining values are too many to keep, and for files stored by
//! uploads), so a client that already holds a file is told so without the
//! server reading it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::transfer::sender::FileHashes;

/// Cache key: the file's etag and the chunk size.
type Key = (String, u64);
/// Most whole-file digests remembered (about 200 bytes each).
const MAX_DIGESTS: usize = 16 * 1024;

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
    digests: HashMap<String, ([u8; 32], u64)>,
}

impl Inner {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn remember_digest(&mut self, etag: &str, digest: [u8; 32]) {
        let now = self.tick();
        if self.digests.len() >= MAX_DIGESTS && !self.digests.contains_key(etag) {
            let oldest = self
                .digests
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.digests.remove(&oldest);
            }
        }
        self.digests.insert(etag.to_string(), (digest, now));
    }
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

    /// The whole-file SHA-256 of `etag`, if known.
    pub fn digest(&self, etag: &str) -> Option<[u8; 32]> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = inner.tick();
        let entry = inner.digests.get_mut(etag)?;
        entry.1 = now;
        Some(entry.0)
    }

    /// Remember the whole-file SHA-256 of `etag`.
    pub fn insert_digest(&self, etag: &str, digest: [u8; 32]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.remember_digest(etag, digest);
    }

    /// Remember `hashes`, evicting the least recently used entries to fit.
    pub fn insert(&self, etag: &str, chunk_size: u64, hashes: FileHashes) {
        let size = hashes.memory();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.remember_digest(etag, hashes.digest);
        if size > self.budget {
            return;
        }
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
        assert_eq!(cache.digest("huge"), Some([0; 32]), "its digest is kept");
    }

    #[test]
    fn digests_are_bounded_and_least_recently_used_go_first() {
        let cache = HashCache::new(1024);
        for i in 0..MAX_DIGESTS {
            cache.insert_digest(&format!("e{i}"), [1; 32]);
        }
        assert_eq!(cache.digest("e0"), Some([1; 32]));
        cache.insert_digest("new", [2; 32]);
        assert_eq!(cache.digest("e1"), None, "the least recently used went");
        assert_eq!(cache.digest("e0"), Some([1; 32]));
        assert_eq!(cache.digest("new"), Some([2; 32]));
        assert_eq!(cache.digest("unknown"), None);
    }
}
