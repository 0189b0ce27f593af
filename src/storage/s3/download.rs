//! Downloads from the bucket: an object opened for download (`HEAD`, or
//! `IsDirectory` when objects lie under its name) and [`ObjectReader`],
//! the ranged reader that serves its bytes.
//!
//! The reader fetches blocks of [`BLOCK`] bytes with ranged GETs carrying
//! `If-Match` with the ETag the object had when it was opened: a replaced
//! object fails the read (never a mix of two versions), and the client's
//! next request sees the new etag and restarts. It keeps at most two
//! blocks in memory: the one being read and the next, fetched ahead on the
//! runtime while the current one is read, so a sequential read waits for
//! no round trip per block. A 0-byte object is never fetched.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::{S3Store, store_error};
use crate::paths::RelPath;
use crate::storage::{Download, StorageError};
use crate::transfer::body::{Body, RangedRead};

/// Bytes one ranged GET fetches.
pub(super) const BLOCK: u64 = 8 << 20;

/// The etag a download carries for an object version: `s3-`, the object's
/// ETag without quotes, `-`, its size in hex. A new version (new ETag or
/// size) gets a new etag, so the hash cache never meets an old entry.
pub(super) fn download_etag(e_tag: &str, size: u64) -> String {
    format!("s3-{}-{size:x}", e_tag.trim_matches('"'))
}

/// Modification time in ns since the epoch.
fn mtime_ns(meta: &ObjectMeta) -> i64 {
    meta.last_modified.timestamp_nanos_opt().unwrap_or(0)
}

impl S3Store {
    /// [`crate::storage::Storage::open_download`] for a bucket.
    pub(super) fn download(&self, rel: &RelPath) -> Result<Download, StorageError> {
        let key = self.key_of(rel)?;
        let meta = match self.block_on(self.store.head(&key)) {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Err(self.missing(rel, &key)),
            Err(e) => return Err(store_error(&format!("reading /{rel}"), &e)),
        };
        let e_tag = meta.e_tag.clone().ok_or_else(|| {
            StorageError::Forbidden(format!("{rel}: the store gave the object no ETag"))
        })?;
        let reader = ObjectReader {
            store: self.store.clone(),
            handle: self.handle.clone(),
            key,
            e_tag: e_tag.clone(),
            size: meta.size,
            block: BLOCK,
            blocks: Mutex::default(),
        };
        Ok(Download {
            file: Body::Ranged(Arc::new(reader)),
            path: format!("{}/{rel}", self.url.trim_end_matches('/')).into(),
            size: meta.size,
            etag: download_etag(&e_tag, meta.size),
            mtime_ns: mtime_ns(&meta),
            mode: 0o644,
        })
    }

    /// Why there is no object `key`: objects under `key/` make it a
    /// directory; otherwise it does not exist.
    fn missing(&self, rel: &RelPath, key: &Key) -> StorageError {
        match self.block_on(self.is_directory(key)) {
            Ok(true) => StorageError::IsDirectory(rel.to_string()),
            Ok(false) => StorageError::NotFound(rel.to_string()),
            Err(e) => store_error(&format!("reading /{rel}"), &e),
        }
    }

    /// Whether objects lie under `key/` (one listing of one key).
    pub(super) async fn is_directory(&self, key: &Key) -> object_store::Result<bool> {
        let options = PaginatedListOptions {
            max_keys: Some(1),
            ..Default::default()
        };
        let under = format!("{key}/");
        let page = self.store.list_paginated(Some(&under), options).await?;
        Ok(!page.result.objects.is_empty())
    }
}

/// Reads one version of an object by ranged GETs (see the module's doc).
pub(super) struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    handle: Handle,
    key: Key,
    /// The ETag as the store gave it (quoted), for `If-Match`.
    e_tag: String,
    size: u64,
    /// Bytes per GET ([`BLOCK`]).
    block: u64,
    blocks: Mutex<Blocks>,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("key", &self.key)
            .field("e_tag", &self.e_tag)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The block being read and the one being fetched ahead, by index.
#[derive(Default)]
struct Blocks {
    current: Option<(u64, Bytes)>,
    ahead: Option<(u64, JoinHandle<std::io::Result<Bytes>>)>,
}

impl Drop for Blocks {
    fn drop(&mut self) {
        if let Some((_, fetch)) = self.ahead.take() {
            fetch.abort();
        }
    }
}

impl ObjectReader {
    /// The byte range of block `index`.
    fn range(&self, index: u64) -> Range<u64> {
        let start = index * self.block;
        start..(start + self.block).min(self.size)
    }

    /// The GET of block `index`, as a future the runtime can run.
    fn fetch(&self, index: u64) -> impl Future<Output = std::io::Result<Bytes>> + use<> {
        let (store, key, e_tag) = (self.store.clone(), self.key.clone(), self.e_tag.clone());
        fetch_range(store, key, e_tag, self.range(index))
    }

    /// Make block `index` the current one: the block fetched ahead if it is
    /// that one, else fetched now (after the old one is let go, so at most
    /// two blocks are held). Then fetch the next one ahead.
    fn load(&self, blocks: &mut Blocks, index: u64) -> std::io::Result<()> {
        blocks.current = None;
        let data = match blocks.ahead.take() {
            Some((at, fetch)) if at == index => self
                .handle
                .block_on(fetch)
                .map_err(|e| std::io::Error::other(format!("reading {}: {e}", self.key)))??,
            other => {
                // A read ahead of the next block is still worth keeping.
                blocks.ahead = match other {
                    Some((at, fetch)) if at == index + 1 => Some((at, fetch)),
                    Some((_, fetch)) => {
                        fetch.abort();
                        None
                    }
                    None => None,
                };
                self.handle.block_on(self.fetch(index))?
            }
        };
        blocks.current = Some((index, data));
        let next = index + 1;
        if next * self.block < self.size && blocks.ahead.is_none() {
            blocks.ahead = Some((next, self.handle.spawn(self.fetch(next))));
        }
        Ok(())
    }
}

impl RangedRead for ObjectReader {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        if offset >= self.size || buf.is_empty() {
            return Ok(0);
        }
        let index = offset / self.block;
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if blocks.current.as_ref().is_none_or(|(at, _)| *at != index) {
            self.load(&mut blocks, index)?;
        }
        let Some((_, data)) = &blocks.current else {
            return Err(std::io::Error::other("no block loaded"));
        };
        let start = (offset - index * self.block) as usize;
        let n = buf.len().min(data.len().saturating_sub(start));
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
}

/// One ranged GET of `range` of `key`, only while its ETag is `e_tag`.
async fn fetch_range(
    store: Arc<dyn ObjectStore>,
    key: Key,
    e_tag: String,
    range: Range<u64>,
) -> std::io::Result<Bytes> {
    let want = range.end - range.start;
    let options = GetOptions {
        range: Some(GetRange::Bounded(range.clone())),
        if_match: Some(e_tag),
        ..Default::default()
    };
    let failed = |e: object_store::Error| read_error(&key, &e);
    let got = store.get_opts(&key, options).await.map_err(failed)?;
    let data = got.bytes().await.map_err(failed)?;
    if data.len() as u64 != want {
        return Err(std::io::Error::other(format!(
            "reading {key} at {}: {} bytes instead of {want}: the object changed",
            range.start,
            data.len()
        )));
    }
    Ok(data)
}

/// A failed GET as an I/O error; a changed or removed object says so.
fn read_error(key: &Key, e: &object_store::Error) -> std::io::Error {
    let what = match e {
        object_store::Error::Precondition { .. } => {
            "the object changed on the server while it was read".to_string()
        }
        object_store::Error::NotFound { .. } => {
            "the object was removed while it was read".to_string()
        }
        other => super::error_chain(other),
    };
    std::io::Error::other(format!("reading {key}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[test]
    fn download_etags_name_the_version() {
        let cases = [
            (
                "\"d41d8cd98f00b204e9800998ecf8427e\"",
                0,
                "s3-d41d8cd98f00b204e9800998ecf8427e-0",
            ),
            ("\"abc-3\"", 30 << 20, "s3-abc-3-1e00000"),
            ("abc", 255, "s3-abc-ff"),
        ];
        for (e_tag, size, want) in cases {
            assert_eq!(download_etag(e_tag, size), want, "{e_tag} {size}");
        }
    }

    /// A reader of `key` in `store` as it is now, with blocks of 10 bytes.
    fn reader(store: &Arc<InMemory>, runtime: &tokio::runtime::Runtime, key: &str) -> ObjectReader {
        let key = Key::from(key);
        let meta = runtime.block_on(store.head(&key)).unwrap();
        ObjectReader {
            store: store.clone(),
            handle: runtime.handle().clone(),
            key,
            e_tag: meta.e_tag.unwrap(),
            size: meta.size,
            block: 10,
            blocks: Mutex::default(),
        }
    }

    #[test]
    fn reads_cross_blocks_and_a_changed_object_fails() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let store = Arc::new(InMemory::new());
        let data: Vec<u8> = (0..35).collect();
        runtime
            .block_on(store.put(&Key::from("o"), data.clone().into()))
            .unwrap();
        let body = Body::Ranged(Arc::new(reader(&store, &runtime, "o")));
        // (offset, length): within a block, across blocks, backwards, the end.
        let cases: [(u64, usize); 6] = [(0, 7), (7, 10), (18, 17), (3, 30), (30, 5), (34, 1)];
        for (offset, len) in cases {
            let mut buf = vec![0; len];
            body.read_exact_at(&mut buf, offset).unwrap();
            assert_eq!(
                buf,
                data[offset as usize..offset as usize + len],
                "{offset}+{len}"
            );
        }
        assert_eq!(body.read_at(&mut [0; 4], 35).unwrap(), 0, "at the end");
        // Two blocks held at most: the current one and the next, fetched ahead.
        let ahead = reader(&store, &runtime, "o");
        ahead.read_at(&mut [0; 4], 12).unwrap();
        let blocks = ahead.blocks.lock().unwrap();
        assert_eq!(blocks.current.as_ref().map(|(at, _)| *at), Some(1));
        assert_eq!(blocks.ahead.as_ref().map(|(at, _)| *at), Some(2));
        drop(blocks);
        let stale = reader(&store, &runtime, "o");
        runtime
            .block_on(store.put(&Key::from("o"), vec![9u8; 35].into()))
            .unwrap();
        let err = stale.read_at(&mut [0; 4], 0).unwrap_err();
        assert!(err.to_string().contains("changed"), "{err}");
        // An empty object is never fetched (this one is gone).
        let empty = ObjectReader {
            size: 0,
            key: Key::from("gone"),
            ..reader(&store, &runtime, "o")
        };
        assert_eq!(empty.read_at(&mut [0; 4], 0).unwrap(), 0);
    }

    #[test]
    fn keys_are_the_names_themselves() {
        for name in ["a b#1~x.txt", "d/[x]%20y?.bin", "plain"] {
            assert_eq!(super::super::raw_key(name).as_ref(), name);
        }
    }
}
