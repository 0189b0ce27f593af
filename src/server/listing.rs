//! Serving `list`: walk a directory under ROOT (confined by `paths`, never
//! showing partial or state files, nor names a URL could not address),
//! then send the entries in batches that fit a control message.
//!
//! The walk runs on a blocking thread; while it runs (hashing can take a
//! while) the server pings the client so its silence time-out holds off.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::Sink;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::session::{Context, Refusal, send_frame, send_message};
use super::translog::Moved;
use crate::paths::{self, PathError, RelPath};
use crate::protocol::{EntryKind, ErrorCode, ListEntry, Message};
use crate::storage::StorageError;

/// Most entries one listing returns (memory bound); more: `truncated`.
const MAX_ENTRIES: usize = crate::protocol::MAX_LIST_ENTRIES;
/// Deepest directory a recursive listing enters.
const MAX_DEPTH: usize = 64;
/// Encoded size of one `entries` message, well under the control limit.
const BATCH_BYTES: usize = 12 * 1024;
/// How often the client is pinged while the walk runs.
const PING_EVERY: Duration = Duration::from_secs(5);

/// What a listing asks for.
#[derive(Debug, Clone, Copy)]
pub struct ListOptions {
    /// Walk subdirectories (files only).
    pub recursive: bool,
    /// Hash every file.
    pub sha256: bool,
}

/// A finished walk.
#[derive(Debug, Default)]
pub struct Listing {
    /// Entries sorted by path.
    pub entries: Vec<ListEntry>,
    /// Whether entries were left out at [`MAX_ENTRIES`].
    pub truncated: bool,
}

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
    raw_path: &str,
    options: ListOptions,
) -> Result<Moved, Refusal>
where
    K: Sink<WsMessage> + Unpin,
{
    let rel =
        parse_list_path(raw_path).map_err(|e| Refusal::new(ErrorCode::Forbidden, e.to_string()))?;
    let storage = ctx.storage.clone();
    let walk_rel = rel.clone();
    let mut walk = tokio::task::spawn_blocking(move || storage.list(&walk_rel, options));
    let listing = loop {
        tokio::select! {
            done = &mut walk => {
                break done.map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
            }
            () = tokio::time::sleep(PING_EVERY) => {
                send_frame(sink, WsMessage::Ping(bytes::Bytes::new()), ctx.idle_timeout).await?;
            }
        }
    };
    let count = listing.entries.len();
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    for entry in listing.entries {
        let len = serde_json::to_string(&entry).map_or(0, |t| t.len()) + 1;
        if batch_bytes + len > BATCH_BYTES && !batch.is_empty() {
            let entries = std::mem::take(&mut batch);
            send_message(sink, &Message::Entries { entries }, ctx.idle_timeout).await?;
            batch_bytes = 0;
        }
        batch_bytes += len;
        batch.push(entry);
    }
    if !batch.is_empty() {
        send_message(sink, &Message::Entries { entries: batch }, ctx.idle_timeout).await?;
    }
    let listed = Message::Listed {
        count: count as u64,
        truncated: listing.truncated,
    };
    send_message(sink, &listed, ctx.idle_timeout).await?;
    Ok(Moved {
        path: format!("/{rel}"),
        size: 0,
        offset: 0,
        sha256: None,
        entries: Some(count),
        skipped: false,
    })
}

/// Walk `rel` under the canonical `root`.
pub fn walk(root: &Path, rel: &RelPath, options: ListOptions) -> Result<Listing, StorageError> {
    let dir = paths::resolve_existing(root, rel)?;
    let meta = fs::metadata(&dir).map_err(|e| io_error(rel, e))?;
    let mut listing = Listing::default();
    if !meta.is_dir() {
        let name = rel.file_name().unwrap_or_default().to_string();
        listing.entries.push(entry(name, &dir, &meta, options)?);
        return Ok(listing);
    }
    let mut pending = vec![(dir, String::new(), 0usize)];
    'walk: while let Some((dir, prefix, depth)) = pending.pop() {
        let children = match read_children(root, &dir, rel) {
            Ok(children) => children,
            // A subdirectory that cannot be read (or vanished) is left out;
            // only the directory asked for must be readable.
            Err(e) if depth > 0 => {
                tracing::warn!("listing {}: skipped {prefix}: {e}", rel);
                continue;
            }
            Err(e) => return Err(e),
        };
        for (name, path, meta, through_link) in children {
            if listing.entries.len() >= MAX_ENTRIES {
                listing.truncated = true;
                break 'walk;
            }
            let shown = format!("{prefix}{name}");
            if meta.is_dir() && options.recursive {
                if !through_link && depth < MAX_DEPTH {
                    pending.push((path, format!("{shown}/"), depth + 1));
                }
                continue;
            }
            listing.entries.push(entry(shown, &path, &meta, options)?);
        }
    }
    listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

/// The addressable children of `dir`: (name, path, metadata, via a
/// symbolic link). Reserved names, names no URL can name, links leading
/// outside ROOT or to nothing, and anything neither file nor directory are
/// left out.
fn read_children(
    root: &Path,
    dir: &Path,
    rel: &RelPath,
) -> Result<Vec<(String, PathBuf, fs::Metadata, bool)>, StorageError> {
    let mut children = Vec::new();
    for item in fs::read_dir(dir).map_err(|e| io_error(rel, e))? {
        let Ok(item) = item else { continue };
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        let encoded = percent_encoding::utf8_percent_encode(&name, crate::PATH_SEGMENT);
        if paths::parse_request_path(&format!("/{encoded}")).is_err() {
            continue;
        }
        let path = item.path();
        let Ok(kind) = item.file_type() else {
            continue;
        };
        let through_link = kind.is_symlink();
        // A link is shown only where a download through it would be
        // allowed: inside ROOT, and not onto a partial or state file.
        if through_link {
            let allowed = fs::canonicalize(&path).is_ok_and(|c| {
                c.starts_with(root)
                    && !c
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(paths::reserved_suffix)
            });
            if !allowed {
                continue;
            }
        }
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() || meta.is_dir() {
            children.push((name, path, meta, through_link));
        }
    }
    Ok(children)
}

fn entry(
    path: String,
    file: &Path,
    meta: &fs::Metadata,
    options: ListOptions,
) -> Result<ListEntry, StorageError> {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    let is_file = meta.is_file();
    let sha256 = if is_file && options.sha256 {
        Some(crate::chain::sha256_file(file).map_err(|e| {
            StorageError::Io(crate::error::Error::local_io(format!("hashing {path}"), e))
        })?)
    } else {
        None
    };
    Ok(ListEntry {
        path,
        kind: if is_file {
            EntryKind::File
        } else {
            EntryKind::Dir
        },
        size: is_file.then_some(meta.len()),
        modified,
        sha256,
    })
}

fn io_error(rel: &RelPath, e: std::io::Error) -> StorageError {
    match e.kind() {
        std::io::ErrorKind::NotFound => StorageError::NotFound(rel.to_string()),
        std::io::ErrorKind::PermissionDenied => {
            StorageError::Forbidden(format!("{rel}: permission denied"))
        }
        _ => StorageError::Io(crate::error::Error::local_io(format!("listing /{rel}"), e)),
    }
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

    #[test]
    fn walk_hides_partials_and_escapes() {
        let top = tempfile::TempDir::new().unwrap();
        let root = top.path().join("root");
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::write(root.join("a.bin"), b"abc").unwrap();
        fs::write(root.join("sub/deeper/c.bin"), b"c").unwrap();
        fs::write(root.join("b.bin.wsresume-part"), b"x").unwrap();
        fs::write(top.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(top.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("a.bin"), root.join("in")).unwrap();
        let root = fs::canonicalize(&root).unwrap();
        let flat = ListOptions {
            recursive: false,
            sha256: true,
        };
        let listing = walk(&root, &RelPath::default(), flat).unwrap();
        let names: Vec<_> = listing.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["a.bin", "in", "sub"]);
        assert_eq!(listing.entries[0].size, Some(3));
        assert_eq!(
            listing.entries[0].sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(listing.entries[2].kind, EntryKind::Dir);
        let deep = ListOptions {
            recursive: true,
            sha256: false,
        };
        let listing = walk(&root, &RelPath::default(), deep).unwrap();
        let names: Vec<_> = listing.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["a.bin", "in", "sub/deeper/c.bin"]);
    }
}
