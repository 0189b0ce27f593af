//! A bounded, in-memory cache of the chaining values of files served whole,
//! keyed by the file's identity (etag) and chunk size. A file served again
//! unchanged is streamed without hashing, and a resuming client's claimed
//! state can be checked against the real one.
//!
//! Beside it, a bounded map of whole-file digests by etag (also for files
//! whose chaining values are too many to keep, and for files stored by
//! uploads), so a client that already holds a file is told so without the
//! server reading it again.
//!
//! Behind both, the persisted entries ([`persist`]): under the server's
//! cache directory ([`disk`]), or, when the storage is shared by several
//! servers (a bucket), in the storage itself, so what one instance learnt
//! the others do not hash again. What is learnt is written there (on a
//! blocking thread), and a miss in memory looks there before anyone
//! hashes. And
//! [`HashCache::flight`] gives one hashing pass per file version: whoever
//! is about to hash a file takes its turn first, and finds the hashes
//! cached when another pass just made them; concurrent downloads share
//! their hashing chunk by chunk ([`HashCache::chain`]).

mod disk;
mod persist;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::chains::{Chains, SharedChain};
use crate::transfer::receiver::PlacedFile;
use crate::transfer::sender::FileHashes;
use disk::DiskCache;
use persist::Persist;

/// Cache key: the file's etag and the chunk size.
type Key = (String, u64);
/// Most whole-file digests remembered (about 200 bytes each).
const MAX_DIGESTS: usize = 16 * 1024;

/// Least-recently-used cache of [`FileHashes`], capped in bytes.
pub struct HashCache {
    budget: usize,
    inner: Mutex<Inner>,
    persist: Option<Persist>,
    /// One turn per etag being hashed (see [`HashCache::flight`]).
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Chaining values being computed by downloads.
    chains: Chains,
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
            persist: None,
            flights: Mutex::default(),
            chains: Chains::default(),
        }
    }

    /// A cache holding at most `budget` bytes in memory, persisted under
    /// `dir` (at most `disk_budget` bytes there) when there is one. A
    /// directory that cannot be made only leaves the cache in memory.
    pub fn persisted(budget: usize, dir: Option<&Path>, disk_budget: u64) -> HashCache {
        HashCache {
            persist: dir
                .and_then(|dir| DiskCache::open(dir, disk_budget))
                .map(Persist::Disk),
            ..HashCache::new(budget)
        }
    }

    /// A cache holding at most `budget` bytes in memory, persisted in
    /// `entries` (the storage's, shared with the other servers on it).
    pub fn shared(budget: usize, entries: Arc<dyn crate::storage::EntryStore>) -> HashCache {
        HashCache {
            persist: Some(Persist::Shared(entries)),
            ..HashCache::new(budget)
        }
    }

    /// The chain of values that concurrent downloads of the file `etag`
    /// names (`size` bytes) at `chunk_size` compute together, or `None`
    /// when it would have more values than the cache keeps.
    pub fn chain(&self, etag: &str, size: u64, chunk_size: u64) -> Option<Arc<SharedChain>> {
        let states = usize::try_from(size / chunk_size).ok()?;
        (states <= self.max_states()).then(|| self.chains.join(etag, size, chunk_size))
    }

    /// The turn to hash the file `etag` names: whoever is about to read a
    /// file for its hashes locks this first, then looks in the cache again
    /// (another pass may just have filled it). Concurrent requests for one
    /// file version thus share one pass.
    pub fn flight(&self, etag: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        // Turns nobody holds or waits for any more.
        if flights.len() >= 64 {
            flights.retain(|_, turn| Arc::strong_count(turn) > 1);
        }
        flights.entry(etag.to_string()).or_default().clone()
    }

    /// The largest single entry worth collecting, in chunk states.
    pub fn max_states(&self) -> usize {
        self.budget / 4 / FileHashes::STATE_BYTES
    }

    /// The hashes of `etag` at `chunk_size`, if cached in memory.
    fn memory_get(&self, etag: &str, chunk_size: u64) -> Option<Arc<FileHashes>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.entries.get_mut(&(etag.to_string(), chunk_size))?;
        entry.1 = now;
        Some(entry.0.clone())
    }

    /// The whole-file SHA-256 of `etag`, if known in memory.
    fn memory_digest(&self, etag: &str) -> Option<[u8; 32]> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = inner.tick();
        let entry = inner.digests.get_mut(etag)?;
        entry.1 = now;
        Some(entry.0)
    }

    /// Keep `hashes` in memory, evicting the least recently used entries
    /// to fit.
    fn remember(&self, etag: &str, chunk_size: u64, hashes: Arc<FileHashes>) {
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
            .insert((etag.to_string(), chunk_size), (hashes, now))
        {
            inner.bytes -= old.memory();
        }
        inner.bytes += size;
    }

    /// The hashes of `etag` at `chunk_size`: from memory, or else from the
    /// persisted entries (read on a blocking thread).
    pub async fn get(&self, etag: &str, chunk_size: u64) -> Option<Arc<FileHashes>> {
        if let Some(found) = self.memory_get(etag, chunk_size) {
            return Some(found);
        }
        let entry = self.read_persisted(etag).await?;
        self.adopt(etag, entry, chunk_size)
    }

    /// The whole-file SHA-256 of `etag`: from memory, or else from the
    /// persisted entries (read on a blocking thread).
    pub async fn digest(&self, etag: &str) -> Option<[u8; 32]> {
        if let Some(found) = self.memory_digest(etag) {
            return Some(found);
        }
        let entry = self.read_persisted(etag).await?;
        let digest = entry.hashes.digest;
        self.adopt(etag, entry, 0);
        Some(digest)
    }

    /// [`HashCache::digest`] for a blocking thread.
    pub fn digest_blocking(&self, etag: &str) -> Option<[u8; 32]> {
        if let Some(found) = self.memory_digest(etag) {
            return Some(found);
        }
        let entry = self.persist.as_ref()?.read(etag)?;
        let digest = entry.hashes.digest;
        self.adopt(etag, entry, 0);
        Some(digest)
    }

    async fn read_persisted(&self, etag: &str) -> Option<disk::Entry> {
        let persist = self.persist.clone().filter(|p| p.may_hold(etag))?;
        let key = etag.to_string();
        tokio::task::spawn_blocking(move || persist.read(&key))
            .await
            .ok()
            .flatten()
    }

    /// Keep what the persisted entries held for `etag` in memory; its hashes
    /// when they are at `chunk_size`.
    fn adopt(&self, etag: &str, entry: disk::Entry, chunk_size: u64) -> Option<Arc<FileHashes>> {
        let hashes = Arc::new(entry.hashes);
        if entry.chunk_size == 0 || hashes.states.len() > self.max_states() {
            self.lock().remember_digest(etag, hashes.digest);
            return None;
        }
        self.remember(etag, entry.chunk_size, hashes.clone());
        (entry.chunk_size == chunk_size).then_some(hashes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remember the whole-file SHA-256 of `etag` (and persist it, unless
    /// the persisted entries hold one for `etag` already: one with
    /// chaining values is not replaced by a digest alone).
    pub fn insert_digest(&self, etag: &str, digest: [u8; 32]) {
        self.lock().remember_digest(etag, digest);
        let hashes = FileHashes {
            states: Vec::new(),
            digest,
        };
        self.persist(etag, 0, hashes, false);
    }

    /// Remember the SHA-256 of a small file (a session's, at most
    /// `SMALL_FILE_MAX`) in memory only: reading it again after a restart
    /// costs less than writing a cache entry for each of thousands of
    /// small files.
    pub fn insert_small_digest(&self, etag: &str, digest: [u8; 32]) {
        self.lock().remember_digest(etag, digest);
    }

    /// Remember `hashes` of `etag` at `chunk_size`, and persist them.
    pub fn insert(&self, etag: &str, chunk_size: u64, hashes: FileHashes) {
        let hashes = Arc::new(hashes);
        self.remember(etag, chunk_size, hashes.clone());
        self.persist(etag, chunk_size, Arc::unwrap_or_clone(hashes), true);
    }

    /// Remember what an upload learnt about the file it put in place: its
    /// digest, and its chaining values when the sink kept them.
    pub fn insert_placed(&self, placed: Option<&PlacedFile>, digest: [u8; 32]) {
        let Some(meta) = placed.and_then(PlacedFile::get) else {
            return;
        };
        let etag = crate::storage::etag(meta);
        match placed.and_then(PlacedFile::chain) {
            Some((chunk_size, states)) if states.len() <= self.max_states() => {
                let states = states.to_vec();
                self.insert(&etag, chunk_size, FileHashes { states, digest });
            }
            _ => self.insert_digest(&etag, digest),
        }
    }

    /// Persist an entry, off the async threads;
    /// without `replace`, only when there is none for `etag` yet.
    fn persist(&self, etag: &str, chunk_size: u64, hashes: FileHashes, replace: bool) {
        let Some(persist) = self.persist.clone() else {
            return;
        };
        let (key, entry) = (etag.to_string(), disk::Entry { chunk_size, hashes });
        let write = move || match replace {
            true => persist.write(&key, &entry),
            false => persist.write_new(&key, &entry),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(write)),
            Err(_) => write(),
        }
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
        assert!(cache.memory_get("a", 64).is_some());
        cache.insert("c", 64, hashes(10));
        assert!(
            cache.memory_get("b", 64).is_none(),
            "b was least recently used"
        );
        assert!(cache.memory_get("a", 64).is_some());
        assert!(cache.memory_get("c", 64).is_some());
        assert!(
            cache.memory_get("a", 128).is_none(),
            "chunk size is part of the key"
        );
        cache.insert("huge", 64, hashes(100));
        assert!(
            cache.memory_get("huge", 64).is_none(),
            "larger than the budget"
        );
        assert_eq!(
            cache.memory_digest("huge"),
            Some([0; 32]),
            "its digest is kept"
        );
    }

    #[test]
    fn digests_are_bounded_and_least_recently_used_go_first() {
        let cache = HashCache::new(1024);
        for i in 0..MAX_DIGESTS {
            cache.insert_digest(&format!("e{i}"), [1; 32]);
        }
        assert_eq!(cache.memory_digest("e0"), Some([1; 32]));
        cache.insert_digest("new", [2; 32]);
        assert_eq!(
            cache.memory_digest("e1"),
            None,
            "the least recently used went"
        );
        assert_eq!(cache.memory_digest("e0"), Some([1; 32]));
        assert_eq!(cache.memory_digest("new"), Some([2; 32]));
        assert_eq!(cache.memory_digest("unknown"), None);
    }

    #[test]
    fn what_is_learnt_outlives_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let one = HashCache::persisted(1 << 20, Some(dir.path()), 1 << 20);
        let mut known = hashes(3);
        known.digest = [7; 32];
        one.insert("e1", 64, known.clone());
        one.insert_digest("e2", [9; 32]);
        one.insert_digest("e1", [1; 32]);
        // A restart: a new cache on the same directory.
        let two = HashCache::persisted(1 << 20, Some(dir.path()), 1 << 20);
        assert_eq!(two.digest_blocking("e2"), Some([9; 32]));
        assert_eq!(
            two.digest_blocking("e1"),
            Some([7; 32]),
            "a digest does not replace the chaining values"
        );
        assert_eq!(two.memory_get("e1", 64).as_deref(), Some(&known));
        assert_eq!(two.memory_get("e1", 128), None);
        assert_eq!(two.digest_blocking("e3"), None);
        let off = HashCache::persisted(1 << 20, None, 1 << 20);
        off.insert_digest("e4", [4; 32]);
        assert_eq!(off.digest_blocking("e4"), Some([4; 32]));
    }

    #[test]
    fn what_one_server_learnt_another_on_the_same_storage_reads() {
        let blobs = Arc::new(persist::tests::Blobs::default());
        let one = HashCache::shared(1 << 20, blobs.clone());
        let two = HashCache::shared(1 << 20, blobs.clone());
        let mut known = hashes(3);
        known.digest = [7; 32];
        one.insert("s3-e1-10", 64, known.clone());
        one.insert_digest("s3-e2-10", [9; 32]);
        assert_eq!(blobs.0.lock().unwrap().len(), 2);
        assert_eq!(two.digest_blocking("s3-e1-10"), Some([7; 32]));
        assert_eq!(two.memory_get("s3-e1-10", 64).as_deref(), Some(&known));
        assert_eq!(two.digest_blocking("s3-e2-10"), Some([9; 32]));
        assert_eq!(two.digest_blocking("s3-e3-10"), None);
    }

    #[test]
    fn one_turn_per_file_version() {
        let cache = HashCache::new(1024);
        let a = cache.flight("a");
        assert!(Arc::ptr_eq(&a, &cache.flight("a")));
        assert!(!Arc::ptr_eq(&a, &cache.flight("b")));
        let held = a.try_lock().unwrap();
        assert!(cache.flight("a").try_lock().is_err(), "a pass is running");
        drop(held);
        assert!(cache.flight("a").try_lock().is_ok());
    }
}
