//! The hash cache's entries kept in the bucket, so that every instance on
//! it shares what any of them learnt: one object per entry,
//! `PREFIX/.wsresume/hashes/<name>` (the cache names an entry by the
//! SHA-256 of its key, the object version's download etag). The bytes are
//! the cache's own (checksummed: a torn entry reads as a miss). Nothing
//! here fails: an error is logged at debug and reads as a miss.

use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};

use super::{S3Store, error_chain};
use crate::storage::EntryStore;

/// Where the entries live, under the internal prefix.
const DIR: &str = "hashes";
/// The largest entry read (a defence against a stray huge object).
const MAX_ENTRY_BYTES: u64 = 64 << 20;

/// A name safe to use as one key segment: letters, digits, `-`, `_`, `.`
/// (not only dots).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.bytes().all(|b| b == b'.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The hash cache's entries as objects in the bucket.
#[derive(Debug, Clone)]
pub(super) struct BucketEntries {
    store: S3Store,
}

impl BucketEntries {
    pub(super) fn new(store: S3Store) -> BucketEntries {
        BucketEntries { store }
    }

    fn fetch(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let key = self.store.internal_key(&format!("{DIR}/{name}"));
        let got = match self.store.block_on(self.store.store.get(&key)) {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(error_chain(&e)),
        };
        if got.meta.size > MAX_ENTRY_BYTES {
            return Err(format!("{key}: {} bytes, too large", got.meta.size));
        }
        let bytes = self
            .store
            .block_on(got.bytes())
            .map_err(|e| error_chain(&e))?;
        Ok(Some(bytes.to_vec()))
    }
}

impl BucketEntries {
    fn put(&self, name: &str, bytes: &[u8], mode: PutMode) {
        if !valid_name(name) {
            tracing::debug!("hash cache entry {name:?}: not a valid name");
            return;
        }
        let key = self.store.internal_key(&format!("{DIR}/{name}"));
        let payload = PutPayload::from(bytes.to_vec());
        let put = self.store.store.put_opts(&key, payload, mode.into());
        match self.store.block_on(put) {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => tracing::debug!("hash cache entry {key}: {}", error_chain(&e)),
        }
    }
}

impl EntryStore for BucketEntries {
    fn read(&self, name: &str) -> Option<Vec<u8>> {
        if !valid_name(name) {
            tracing::debug!("hash cache entry {name:?}: not a valid name");
            return None;
        }
        self.fetch(name).unwrap_or_else(|e| {
            tracing::debug!("hash cache entry {name}: {e}");
            None
        })
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        self.put(name, bytes, PutMode::Overwrite);
    }

    /// One conditional PUT (`If-None-Match: *`) instead of a GET and a PUT:
    /// an entry already there (another instance wrote it) is kept.
    fn write_new(&self, name: &str, bytes: &[u8]) {
        self.put(name, bytes, PutMode::Create);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_single_safe_segments() {
        let cases = [
            ("0123abcdef", true),
            ("s3-abc-3-ff", true),
            ("", false),
            (".", false),
            ("..", false),
            ("a/b", false),
            ("a b", false),
            ("a%2fb", false),
        ];
        for (name, want) in cases {
            assert_eq!(valid_name(name), want, "{name:?}");
        }
        assert!(!valid_name(&"a".repeat(201)));
    }
}
