//! A tree re-run (`send -r`, `get -r`) that makes no request per file:
//! the tree's listing carries the digests the server knows without reading
//! (its hash cache, `list.cached`); when it has none for the files both
//! sides hold with the same size, one listing with digests is asked for
//! instead. A file counts as identical when the server's SHA-256 equals
//! the local file's as it is now (the digest cache's for its identity,
//! ctime included, or read once when a killed run did not keep it) and
//! the modification times agree to the second; such a file is reported
//! skipped without any request. Anything unsure goes the normal way (an
//! eager `put` with its digest, or a `get` with `have`, which the server
//! answers without payload too).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{FileJob, FileProgress, ListRequest, RemoteUrl, list};
use crate::client::ClientOptions;
use crate::client::session::{Index, small_max};
use crate::digests::{self, Identity, TreeDigests};
use crate::error::Result;
use crate::protocol::EntryKind;

/// Fewest same-size small files worth a listing with digests (one round
/// trip, and no payload for any file found identical).
const MIN_CANDIDATES: usize = 1;
/// Most bytes of large files on the server for that listing (it hashes
/// every file, and large ones are compared file by file anyway).
const MAX_LARGE_BYTES: u64 = 256 << 20;

/// Digests (and modification times, whole seconds) of remote files, by
/// their path in the tree.
pub type Known = BTreeMap<String, (String, Option<i64>)>;

/// Mark the files of a tree that both sides hold identical. `known`: the
/// digests the tree's listing brought (those the server had cached); when
/// it has none of the candidates, one listing with digests is asked for.
pub async fn mark_identical(
    opts: &ClientOptions,
    url: &RemoteUrl,
    index: &Index,
    files: &mut [FileJob],
    known: Known,
) {
    let max = small_max(opts);
    let candidates: Vec<(usize, PathBuf)> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.size <= max && f.there == Some(f.size))
        .filter_map(|(i, f)| match &f.local {
            crate::client::get::Dest::File(path) => Some((i, path.clone())),
            crate::client::get::Dest::Stdout => None,
        })
        .collect();
    let large: u64 = files
        .iter()
        .filter(|f| f.size > max)
        .filter_map(|f| f.there)
        .sum();
    let covered = candidates
        .iter()
        .any(|(i, _)| known.contains_key(&files[*i].label));
    let remote = if covered {
        known
    } else if candidates.len() < MIN_CANDIDATES || large > MAX_LARGE_BYTES {
        return;
    } else {
        match remote_digests(opts, url).await {
            Ok(remote) => remote,
            Err(e) => {
                tracing::info!("listing {url} with digests: {e}; sending with digests instead");
                return;
            }
        }
    };
    let index = index.clone();
    let local = tokio::task::spawn_blocking(move || {
        let Ok(mut index) = index.lock() else {
            return Vec::new();
        };
        candidates
            .into_iter()
            .filter_map(|(i, path)| local_digest(&mut index, &path).map(|d| (i, d)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    for (i, (sha256, mtime_s)) in local {
        let file = &mut files[i];
        if remote.get(&file.label) == Some(&(sha256.clone(), Some(mtime_s))) {
            file.identical = Some(sha256);
        }
    }
}

/// SHA-256 and modification time (whole seconds) of every file under `url`.
async fn remote_digests(opts: &ClientOptions, url: &RemoteUrl) -> Result<Known> {
    let mut found = BTreeMap::new();
    let request = ListRequest {
        recursive: true,
        sha256: true,
        cached: false,
    };
    let mut take = |entry: crate::protocol::ListEntry| {
        if let (EntryKind::File, Some(sha256)) = (entry.kind, entry.sha256) {
            found.insert(entry.path, (sha256, entry.modified));
        }
    };
    list(opts, url, request, &FileProgress::hidden(), &mut take).await?;
    Ok(found)
}

/// The SHA-256 of the file at `path` as it is now (the digest cache's, or
/// read once when it has none), and its modification time in whole seconds.
fn local_digest(index: &mut TreeDigests, path: &Path) -> Option<(String, i64)> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let identity = Identity::of(&meta);
    let sha256 = match index
        .lookup(path, &identity)
        .or_else(|| digests::lookup(path, &identity))
    {
        Some(sha256) => sha256,
        // Not kept (a killed run): a small file is read once.
        None => {
            let sha256 = digests::hash_small(path, &identity, crate::protocol::SMALL_FILE_MAX)?;
            index.record(path, identity, &sha256);
            sha256
        }
    };
    Some((sha256, identity.mtime_ns.div_euclid(1_000_000_000)))
}
