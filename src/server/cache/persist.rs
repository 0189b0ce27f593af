//! Where the hash cache's entries persist: the server's own cache
//! directory ([`DiskCache`]), or the storage's shared [`EntryStore`] (a
//! bucket's, so that every instance on it reads what any one learnt). Both
//! hold the same bytes ([`disk::encode`]: length and SHA-256 checked, so a
//! torn entry is a miss). Blocks; never fails.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::disk::{self, DiskCache, Entry};
use crate::storage::EntryStore;

/// The persisted half of the hash cache.
#[derive(Clone)]
pub enum Persist {
    /// Files under the cache directory, bounded in bytes.
    Disk(Arc<DiskCache>),
    /// Blobs kept by the storage.
    Shared(Arc<dyn EntryStore>),
}

/// The name of `key`'s entry in a shared store: the hex SHA-256 of the key.
fn shared_name(key: &str) -> String {
    crate::chain::hex(&Sha256::digest(key.as_bytes()))
}

impl Persist {
    /// Whether an entry of `key` may be stored (a shared store: always).
    pub fn may_hold(&self, key: &str) -> bool {
        match self {
            Persist::Disk(disk) => disk.may_hold(key),
            Persist::Shared(_) => true,
        }
    }

    /// The entry of `key`, if a sound one is stored.
    pub fn read(&self, key: &str) -> Option<Entry> {
        match self {
            Persist::Disk(disk) => disk.read(key),
            Persist::Shared(store) => {
                let bytes = store.read(&shared_name(key))?;
                let entry = disk::decode(&bytes, key);
                if entry.is_none() {
                    tracing::debug!("hash cache: the entry of {key} is damaged");
                }
                entry
            }
        }
    }

    /// Store `entry` under `key`, replacing what was there.
    pub fn write(&self, key: &str, entry: &Entry) {
        match self {
            Persist::Disk(disk) => disk.write(key, entry),
            Persist::Shared(store) => store.write(&shared_name(key), &disk::encode(key, entry)),
        }
    }

    /// Store `entry` under `key` unless a sound entry of `key` is there.
    pub fn write_new(&self, key: &str, entry: &Entry) {
        match self {
            Persist::Disk(disk) => disk.write_new(key, entry),
            Persist::Shared(store) => store.write_new(&shared_name(key), &disk::encode(key, entry)),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::transfer::sender::FileHashes;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A shared store in memory.
    #[derive(Default)]
    pub struct Blobs(pub Mutex<HashMap<String, Vec<u8>>>);

    impl EntryStore for Blobs {
        fn read(&self, name: &str) -> Option<Vec<u8>> {
            self.0.lock().unwrap().get(name).cloned()
        }
        fn write(&self, name: &str, bytes: &[u8]) {
            self.0.lock().unwrap().insert(name.into(), bytes.to_vec());
        }
    }

    fn entry(chunk_size: u64, digest: u8) -> Entry {
        Entry {
            chunk_size,
            hashes: FileHashes {
                states: vec![crate::chain::ChainState([digest; 32]); (chunk_size > 0) as usize],
                digest: [digest; 32],
            },
        }
    }

    #[test]
    fn shared_entries_round_trip_and_damage_is_a_miss() {
        let blobs = Arc::new(Blobs::default());
        let persist = Persist::Shared(blobs.clone());
        assert!(persist.may_hold("k"));
        assert_eq!(persist.read("k"), None);
        persist.write("k", &entry(4096, 1));
        assert_eq!(persist.read("k"), Some(entry(4096, 1)));
        assert_eq!(persist.read("other"), None);
        persist.write_new("k", &entry(0, 2));
        assert_eq!(persist.read("k"), Some(entry(4096, 1)), "kept");
        let name = shared_name("k");
        assert_eq!(name.len(), 64);
        blobs.0.lock().unwrap().get_mut(&name).unwrap().truncate(40);
        assert_eq!(persist.read("k"), None, "torn");
        // A shared store's write_new is one conditional put: what is there
        // stays (a miss); a write replaces it.
        persist.write_new("k", &entry(0, 2));
        assert_eq!(persist.read("k"), None, "kept, still a miss");
        persist.write("k", &entry(0, 2));
        assert_eq!(persist.read("k"), Some(entry(0, 2)), "replaced");
    }
}
