//! Serving `list`: the storage walks the directory
//! ([`crate::storage::Storage::list`]), then the entries go out in batches
//! that fit a control message.
//!
//! The walk runs on a blocking thread; while it runs (hashing can take a
//! while) the server pings the client so its silence time-out holds off.
//! With `sha256`, digests come from the hash cache, and a file hashed here
//! fills it (once per file version, however many ask at once).

use std::sync::Arc;
use std::time::Duration;

use futures_util::Sink;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::context::Context;
use super::refusal::{Refusal, send_frame, send_message};
use super::request::ListRequest;
use super::shutdown::Shutdown;
use super::translog::Moved;
use crate::paths::{self, PathError, RelPath};
use crate::protocol::{EntryKind, ErrorCode, Message};
use crate::storage::{ListOptions, Listing, StorageError};

/// Encoded size of one `entries` message, well under the control limit.
const BATCH_BYTES: usize = 12 * 1024;
/// How often the client is pinged while the walk runs.
const PING_EVERY: Duration = Duration::from_secs(5);

/// The directory a `list` path names: `/` is ROOT, one trailing `/` is
/// allowed; otherwise the rules of [`paths::parse_request_path`].
pub fn parse_list_path(raw: &str) -> Result<RelPath, PathError> {
    match raw {
        "/" => Ok(RelPath::default()),
        _ => paths::parse_request_path(raw.strip_suffix('/').unwrap_or(raw)),
    }
}

/// Serve one `list` request.
pub async fn serve<K>(
    ctx: &Arc<Context>,
    sink: &mut K,
    request: ListRequest,
    shutdown: &mut Shutdown,
) -> Result<Moved, Refusal>
where
    K: Sink<WsMessage> + Unpin,
{
    let rel = parse_list_path(&request.path)
        .map_err(|e| Refusal::new(ErrorCode::Forbidden, e.to_string()))?;
    let (walk_ctx, walk_rel, options) = (ctx.clone(), rel.clone(), request.options);
    let mut walk = tokio::task::spawn_blocking(move || walk_cached(&walk_ctx, &walk_rel, options));
    let (mut listing, unhashed) = loop {
        tokio::select! {
            done = &mut walk => {
                break done.map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
            }
            () = tokio::time::sleep(PING_EVERY) => {
                send_frame(sink, WsMessage::Ping(bytes::Bytes::new()), ctx.limits.idle_timeout).await?;
            }
            // The walk finishes on its thread; the client hears 1001 now.
            refusal = shutdown.going_away() => return Err(refusal),
        }
    };
    for (index, file) in unhashed {
        let digest = tokio::select! {
            digest = hash_once(ctx, sink, &file) => digest?,
            refusal = shutdown.going_away() => return Err(refusal),
        };
        listing.entries[index].sha256 = Some(crate::chain::hex(&digest));
    }
    let count = listing.entries.len();
    send_entries(sink, listing.entries, ctx.limits.idle_timeout).await?;
    let listed = Message::Listed {
        count: count as u64,
        truncated: listing.truncated,
    };
    send_message(sink, &listed, ctx.limits.idle_timeout).await?;
    Ok(Moved {
        path: format!("/{rel}"),
        size: 0,
        offset: 0,
        sha256: None,
        entries: Some(count),
        skipped: false,
    })
}

/// The chunk size whose chaining values a listing's hashing keeps: the
/// clients' default `--chunk-size`, so that a `get` after `ls --sha256`
/// (or a tree download, which lists first) does not hash again.
const LISTING_CHUNK_SIZE: u64 = 1 << 20;

/// Walk `rel`; with `sha256`, each file's digest comes from the hash
/// cache when it is there: the files it is not for are returned (their
/// index in the listing and their path) for [`hash_once`]. Blocks.
fn walk_cached(
    ctx: &Context,
    rel: &RelPath,
    options: ListOptions,
) -> Result<(Listing, Vec<(usize, RelPath)>), StorageError> {
    // The walk notes each file's etag: the cache is asked by it, with no
    // file opened (on a bucket, no request per file).
    let walk = ListOptions {
        sha256: false,
        cached: options.cached || options.sha256,
        links_within: options.links_within,
        ..options
    };
    let mut listing = ctx.storage.list(rel, walk)?;
    let mut unhashed = Vec::new();
    add_known_digests(ctx, &mut listing);
    if !options.sha256 {
        return Ok((listing, unhashed));
    }
    // A listing of one file names it by its file name alone.
    let single = ctx.storage.open_download(rel).is_ok();
    for (index, entry) in listing.entries.iter_mut().enumerate() {
        if entry.kind == EntryKind::File && entry.sha256.is_none() {
            let file = match single {
                true => rel.clone(),
                false => rel.join(&entry.path),
            };
            unhashed.push((index, file));
        }
    }
    Ok((listing, unhashed))
}

/// `cached`: the digests the hash cache holds for the listed files, by the
/// etags the walk noted (nothing is opened or read). Blocks.
fn add_known_digests(ctx: &Context, listing: &mut Listing) {
    let etags = std::mem::take(&mut listing.etags);
    for entry in &mut listing.entries {
        if let Some(digest) = etags
            .get(&entry.path)
            .and_then(|etag| ctx.hashes.digest_blocking(etag))
        {
            entry.sha256 = Some(crate::chain::hex(&digest));
        }
    }
}

/// The digest of `file`, read once (sharing the read with whoever else
/// needs it now) and kept in the hash cache, with its chaining values at
/// [`LISTING_CHUNK_SIZE`].
async fn hash_once<K>(ctx: &Arc<Context>, sink: &mut K, file: &RelPath) -> Result<[u8; 32], Refusal>
where
    K: Sink<WsMessage> + Unpin,
{
    let (storage, open) = (ctx.storage.clone(), file.clone());
    let download = tokio::task::spawn_blocking(move || storage.open_download(&open))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    let candidate = super::identical::Candidate::of(&download, LISTING_CHUNK_SIZE);
    super::identical::server_digest(ctx, sink, &candidate)
        .await?
        .ok_or_else(|| {
            Refusal::new(
                ErrorCode::Internal,
                format!("hashing /{file}: the file changed while it was read"),
            )
        })
}

/// Send `entries` in `entries` messages of about [`BATCH_BYTES`] each.
async fn send_entries<K>(
    sink: &mut K,
    entries: Vec<crate::protocol::ListEntry>,
    limit: Duration,
) -> Result<(), Refusal>
where
    K: Sink<WsMessage> + Unpin,
{
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    for entry in entries {
        let len = serde_json::to_string(&entry).map_or(0, |t| t.len()) + 1;
        if batch_bytes + len > BATCH_BYTES && !batch.is_empty() {
            let entries = std::mem::take(&mut batch);
            send_message(sink, &Message::Entries { entries }, limit).await?;
            batch_bytes = 0;
        }
        batch_bytes += len;
        batch.push(entry);
    }
    if !batch.is_empty() {
        send_message(sink, &Message::Entries { entries: batch }, limit).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_paths_allow_the_root_and_one_trailing_slash() {
        assert_eq!(parse_list_path("/").unwrap(), RelPath::default());
        assert_eq!(parse_list_path("/a/b/").unwrap().to_string(), "a/b");
        assert_eq!(parse_list_path("/a").unwrap().to_string(), "a");
        for bad in [
            "",
            "a/",
            "//",
            "/a//",
            "/../",
            "/%2e%2e/",
            "/x.wsresume-part/",
        ] {
            assert!(parse_list_path(bad).is_err(), "{bad:?}");
        }
    }
}
