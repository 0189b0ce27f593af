//! The hash cache's persisted half: one small file per file version in a
//! directory outside ROOT (never served), so hashes learnt before a restart
//! are not learnt again.
//!
//! An entry is named by the SHA-256 of its key (the file's etag: device,
//! inode, size, mtime, ctime) and holds the whole-file digest and, when
//! known, the chaining values at one chunk size. It is written to a
//! temporary name and renamed (never synced: a lost entry only costs a
//! re-read), and carries its length and a SHA-256 of its contents, so a
//! torn or damaged entry reads as a miss, never as wrong hashes. A file that
//! changes gets a new etag: its old entry is never looked up again and is
//! pruned in time.
//!
//! The directory is bounded in bytes (each entry charged at least one 4 KiB
//! block): an index in memory, filled by one scan at start-up (on its own
//! thread) and kept up to date by every write, says which entries exist and
//! which are oldest, so pruning never scans the directory. Nothing here
//! fails a transfer: a directory that cannot be made or written only turns
//! persistence off (one warning).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::chain::ChainState;
use crate::transfer::sender::FileHashes;

/// First bytes of every entry (format version 1).
const MAGIC: &[u8; 16] = b"wsresume-hash-1\n";
/// What an entry costs at least: the block it takes on disk.
const BLOCK: u64 = 4096;
/// Suffix of entries being written.
const TMP_SUFFIX: &str = ".tmp";

/// What one entry holds: the digest, and the chaining values at
/// `chunk_size` when it is not 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The chunk size of `hashes.states` (0: only the digest is known).
    pub chunk_size: u64,
    /// The digest and the chaining values.
    pub hashes: FileHashes,
}

/// The persisted entries under one directory.
pub struct DiskCache {
    dir: PathBuf,
    budget: u64,
    index: Mutex<Index>,
    /// A write failed and was reported: later failures go to the debug log.
    warned: AtomicBool,
    /// Distinguishes this process's temporary names.
    tmp_seq: AtomicU64,
}

/// Which entries exist, what they cost and in which order they were used.
#[derive(Default)]
struct Index {
    entries: HashMap<String, (u64, u64)>,
    order: BTreeMap<u64, String>,
    total: u64,
    next: u64,
    /// The start-up scan finished: the index knows every entry.
    complete: bool,
}

/// Sequence numbers of entries written or read by this process start here;
/// those found by the start-up scan are numbered below, oldest first.
const RUNTIME_SEQ: u64 = 1 << 40;

impl Index {
    /// Record `name` as used now, costing `charge`.
    fn touch(&mut self, name: &str, charge: u64) {
        self.next = self.next.max(RUNTIME_SEQ) + 1;
        self.place(name, charge, self.next);
    }

    fn place(&mut self, name: &str, charge: u64, seq: u64) {
        if let Some((old_charge, old_seq)) = self.entries.insert(name.to_string(), (charge, seq)) {
            self.order.remove(&old_seq);
            self.total -= old_charge;
        }
        self.order.insert(seq, name.to_string());
        self.total += charge;
    }

    fn forget(&mut self, name: &str) {
        if let Some((charge, seq)) = self.entries.remove(name) {
            self.order.remove(&seq);
            self.total -= charge;
        }
    }

    /// The oldest entries to remove to get within `budget`.
    fn over_budget(&mut self, budget: u64) -> Vec<String> {
        let mut victims = Vec::new();
        while self.complete && self.total > budget {
            let Some((_, name)) = self.order.pop_first() else {
                break;
            };
            if let Some((charge, _)) = self.entries.remove(&name) {
                self.total -= charge;
            }
            victims.push(name);
        }
        victims
    }
}

impl DiskCache {
    /// Use `dir` (made if missing), holding at most `budget` bytes; `None`
    /// (after one warning) when it cannot be made. The index is filled on
    /// a thread of its own.
    pub fn open(dir: &Path, budget: u64) -> Option<Arc<DiskCache>> {
        if let Err(e) = fs::create_dir_all(dir) {
            tracing::warn!(
                "hash cache {}: {e}; hashes will not outlive this process",
                dir.display()
            );
            return None;
        }
        let cache = Arc::new(DiskCache {
            dir: dir.to_path_buf(),
            budget,
            index: Mutex::new(Index::default()),
            warned: AtomicBool::new(false),
            tmp_seq: AtomicU64::new(0),
        });
        let scanning = cache.clone();
        let started = std::thread::Builder::new()
            .name("hash-cache-scan".into())
            .spawn(move || scanning.scan());
        if let Err(e) = started {
            tracing::warn!("hash cache: cannot scan {}: {e}", dir.display());
        }
        Some(cache)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry of `key`, if a sound one is stored. Blocks.
    pub fn read(&self, key: &str) -> Option<Entry> {
        if !self.may_hold(key) {
            return None;
        }
        let name = entry_name(key);
        let path = self.dir.join(&name);
        let mut bytes = Vec::new();
        let mut file = File::open(&path).ok()?;
        file.by_ref()
            .take(self.budget.max(BLOCK))
            .read_to_end(&mut bytes)
            .ok()?;
        match decode(&bytes, key) {
            Some(entry) => {
                let _ = file.set_modified(SystemTime::now());
                self.index().touch(&name, charge(bytes.len() as u64));
                Some(entry)
            }
            None => {
                tracing::debug!("hash cache: {} is damaged; removed", path.display());
                let _ = fs::remove_file(&path);
                self.index().forget(&name);
                None
            }
        }
    }

    /// Whether an entry of `key` may be stored: false only when the index
    /// knows every entry and not this one.
    pub fn may_hold(&self, key: &str) -> bool {
        let index = self.index();
        !index.complete || index.entries.contains_key(&entry_name(key))
    }

    /// Store `entry` under `key` unless an entry of `key` is stored
    /// already. Blocks; never fails.
    pub fn write_new(&self, key: &str, entry: &Entry) {
        let present = self.may_hold(key) && self.dir.join(entry_name(key)).exists();
        if !present {
            self.write(key, entry);
        }
    }

    /// Store `entry` under `key`, replacing what was there, then prune the
    /// oldest entries beyond the budget. Blocks; never fails.
    pub fn write(&self, key: &str, entry: &Entry) {
        let name = entry_name(key);
        let bytes = encode(key, entry);
        if bytes.len() as u64 > self.budget / 4 {
            return;
        }
        let written = self.write_file(&name, &bytes).or_else(|e| {
            // The directory went away (a cache cleaner): make it again.
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e);
            }
            fs::create_dir_all(&self.dir)?;
            self.write_file(&name, &bytes)
        });
        if let Err(e) = written {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!("hash cache {}: {e}", self.dir.display());
            } else {
                tracing::debug!("hash cache {}: {e}", self.dir.display());
            }
            return;
        }
        let victims = {
            let mut index = self.index();
            index.touch(&name, charge(bytes.len() as u64));
            index.over_budget(self.budget)
        };
        for victim in victims {
            let _ = fs::remove_file(self.dir.join(victim));
        }
    }

    fn write_file(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!("{name}.{}.{seq}{TMP_SUFFIX}", std::process::id()));
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, self.dir.join(name)).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    /// Learn what the directory holds (oldest first), remove what earlier
    /// processes left half-written, then prune to the budget.
    fn scan(&self) {
        let mut found = Vec::new();
        if let Ok(dir) = fs::read_dir(&self.dir) {
            for entry in dir.flatten() {
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let Ok(meta) = entry.metadata() else { continue };
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                if name.ends_with(TMP_SUFFIX) {
                    // Another server on the same directory may be writing
                    // it right now: only old ones are leftovers.
                    let age = SystemTime::now().duration_since(modified);
                    if age.is_ok_and(|a| a.as_secs() > 60) {
                        let _ = fs::remove_file(entry.path());
                    }
                    continue;
                }
                if meta.is_file() && is_entry_name(&name) {
                    found.push((modified, name, charge(meta.len())));
                }
            }
        }
        found.sort();
        let victims = {
            let mut index = self.index();
            for (seq, (_, name, charge)) in found.into_iter().enumerate() {
                if !index.entries.contains_key(&name) {
                    index.place(&name, charge, seq as u64);
                }
            }
            index.complete = true;
            index.over_budget(self.budget)
        };
        for victim in victims {
            let _ = fs::remove_file(self.dir.join(victim));
        }
    }

    /// Bytes charged to the entries the index knows.
    #[cfg(test)]
    fn total(&self) -> u64 {
        self.index().total
    }
}

/// What an entry of `len` bytes costs: whole blocks, at least one.
fn charge(len: u64) -> u64 {
    len.div_ceil(BLOCK).max(1) * BLOCK
}

/// The file name of `key`'s entry: 32 hex digits of its SHA-256.
fn entry_name(key: &str) -> String {
    crate::chain::hex(&Sha256::digest(key.as_bytes()))[..32].to_string()
}

fn is_entry_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `MAGIC`, key length (u16) and key, chunk size, state count (u64 each),
/// digest, states, then the SHA-256 of everything before it.
pub(super) fn encode(key: &str, entry: &Entry) -> Vec<u8> {
    let states = &entry.hashes.states;
    let mut out = Vec::with_capacity(MAGIC.len() + key.len() + 82 + 32 * states.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u16).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&entry.chunk_size.to_le_bytes());
    out.extend_from_slice(&(states.len() as u64).to_le_bytes());
    out.extend_from_slice(&entry.hashes.digest);
    for state in states {
        out.extend_from_slice(&state.0);
    }
    let check = Sha256::digest(&out);
    out.extend_from_slice(&check);
    out
}

/// The entry in `bytes` if it is whole, sound and for `key`.
pub(super) fn decode(bytes: &[u8], key: &str) -> Option<Entry> {
    let (body, check) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != check {
        return None;
    }
    let mut rest = body.strip_prefix(MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let key_len = u16::from_le_bytes(take(2)?.try_into().ok()?) as usize;
    if take(key_len)? != key.as_bytes() {
        return None;
    }
    let chunk_size = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let count = usize::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
    let digest: [u8; 32] = take(32)?.try_into().ok()?;
    if rest.len() != count.checked_mul(32)? || (chunk_size == 0 && count > 0) {
        return None;
    }
    let states = rest
        .chunks_exact(32)
        .map(|s| s.try_into().map(ChainState))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    Some(Entry {
        chunk_size,
        hashes: FileHashes { states, digest },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(chunk_size: u64, n: u8) -> Entry {
        Entry {
            chunk_size,
            hashes: FileHashes {
                states: (0..n).map(|i| ChainState([i; 32])).collect(),
                digest: [n; 32],
            },
        }
    }

    fn wait_scanned(cache: &DiskCache) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cache.index().complete {
            assert!(std::time::Instant::now() < deadline, "scan never finished");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn entries_round_trip_and_damage_reads_as_a_miss() {
        let key = "1-2-3-4-5";
        let cases = [entry(0, 0), entry(4096, 0), entry(4096, 3)];
        for case in &cases {
            let bytes = encode(key, case);
            assert_eq!(decode(&bytes, key).as_ref(), Some(case));
            assert_eq!(decode(&bytes, "1-2-3-4-6"), None, "another key");
            for cut in [0, 1, 31, 32, bytes.len() / 2, bytes.len() - 1] {
                assert_eq!(decode(&bytes[..cut], key), None, "torn at {cut}");
            }
            for flip in [0, 17, bytes.len() / 2, bytes.len() - 1] {
                let mut bad = bytes.clone();
                bad[flip] ^= 1;
                assert_eq!(decode(&bad, key), None, "bit flipped at {flip}");
            }
        }
    }

    #[test]
    fn entries_persist_damage_is_removed_and_the_budget_holds() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::open(dir.path(), 3 * BLOCK * 4).unwrap();
        wait_scanned(&cache);
        cache.write("a", &entry(4096, 2));
        assert_eq!(cache.read("a"), Some(entry(4096, 2)));
        assert_eq!(cache.read("b"), None);
        // Another process (a restart) finds it, and damage is a miss.
        drop(cache);
        let cache = DiskCache::open(dir.path(), 3 * BLOCK * 4).unwrap();
        wait_scanned(&cache);
        assert!(cache.may_hold("a"));
        assert!(!cache.may_hold("b"));
        assert_eq!(cache.read("a"), Some(entry(4096, 2)));
        let path = dir.path().join(entry_name("a"));
        let mut bytes = fs::read(&path).unwrap();
        bytes[20] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert_eq!(cache.read("a"), None);
        assert!(!path.exists(), "a damaged entry is removed");
        // Twelve blocks: the oldest go first.
        for i in 0..20 {
            cache.write(&format!("k{i}"), &entry(4096, 1));
        }
        assert_eq!(cache.total(), 12 * BLOCK);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 12);
        assert_eq!(cache.read("k7"), None);
        assert!(cache.read("k8").is_some());
        // Lost directory: made again on the next write.
        fs::remove_dir_all(dir.path()).unwrap();
        cache.write("again", &entry(0, 0));
        assert_eq!(cache.read("again"), Some(entry(0, 0)));
    }

    #[test]
    fn a_directory_that_cannot_be_made_turns_persistence_off() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(DiskCache::open(&file.join("sub"), 1 << 20).is_none());
    }
}
