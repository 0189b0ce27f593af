//! What a listing is, and the confined walk that makes one under a local
//! ROOT: partial and state files are never shown, nor names a URL could
//! not address, nor links leading outside ROOT. The walk itself is the
//! crate's one bounded walker, [`crate::walk`].

use std::fs;
use std::path::Path;
use std::time::UNIX_EPOCH;

use super::StorageError;
use crate::paths::{self, RelPath};
use crate::protocol::{EntryKind, ListEntry};
use crate::walk::{Child, Event, Walk};

/// Most entries one listing returns (memory bound); more: `truncated`.
const MAX_ENTRIES: usize = crate::protocol::MAX_LIST_ENTRIES;

/// What a listing asks for.
#[derive(Debug, Clone, Copy)]
pub struct ListOptions {
    /// Walk subdirectories (files only).
    pub recursive: bool,
    /// Hash every file.
    pub sha256: bool,
    /// Note each file's etag ([`Listing::etags`]), from the walk's own
    /// metadata, for the caller's cache of digests.
    pub cached: bool,
    /// Show a link only when it leads inside the listed directory (for a
    /// token limited to some paths), not just inside ROOT.
    pub links_within: bool,
}

/// A finished walk.
#[derive(Debug, Default)]
pub struct Listing {
    /// Entries sorted by path.
    pub entries: Vec<ListEntry>,
    /// Whether entries were left out at [`MAX_ENTRIES`] (or the walk's
    /// bound on directories).
    pub truncated: bool,
    /// With [`ListOptions::cached`]: each file entry's etag, by its path.
    pub etags: std::collections::HashMap<String, String>,
}

impl Listing {
    /// Keep the etag of the file `path` when the options ask for it.
    fn note_etag(&mut self, path: &str, meta: &fs::Metadata, options: ListOptions) {
        if options.cached && meta.is_file() {
            self.etags.insert(path.to_string(), super::etag(meta));
        }
    }
}

/// Walk `rel` under the canonical `root`.
pub fn walk(root: &Path, rel: &RelPath, options: ListOptions) -> Result<Listing, StorageError> {
    let dir = paths::resolve_existing(root, rel)?;
    let meta = fs::metadata(&dir).map_err(|e| io_error(rel, e))?;
    let mut listing = Listing::default();
    if !meta.is_dir() {
        let name = rel.file_name().unwrap_or_default().to_string();
        listing.note_etag(&name, &meta, options);
        listing.entries.push(entry(name, &dir, &meta, options)?);
        return Ok(listing);
    }
    // Where a link may lead to be shown.
    let confine = if options.links_within { &dir } else { root };
    let mut walk = Walk::new(&dir);
    while let Some(event) = walk.next() {
        let child = match event {
            Event::Child(child) => child,
            // Only the directory asked for must be readable; a
            // subdirectory that cannot be read (or vanished) is left out.
            Event::Unreadable {
                depth: 0, error, ..
            } => return Err(io_error(rel, error)),
            Event::Unreadable { dir, error, .. } => {
                tracing::warn!("listing {rel}: skipped {}: {error}", dir.display());
                continue;
            }
        };
        let Some((shown, meta)) = addressable(confine, &child) else {
            continue;
        };
        if listing.entries.len() >= MAX_ENTRIES {
            listing.truncated = true;
            break;
        }
        if meta.is_dir() && options.recursive {
            if !child.file_type.is_symlink() {
                walk.descend(&child);
            }
            continue;
        }
        listing.note_etag(&shown, &meta, options);
        listing
            .entries
            .push(entry(shown, &child.path, &meta, options)?);
    }
    listing.truncated |= walk.cut_short();
    listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

/// Where `rel` really is under the canonical `root`: its existing part
/// canonicalized (links followed), the rest as written; `None` when that
/// is `rel` itself.
pub fn real_path(root: &Path, rel: &RelPath) -> Result<Option<RelPath>, StorageError> {
    let segments = rel.segments();
    for known in (0..=segments.len()).rev() {
        let path = segments[..known]
            .iter()
            .fold(root.to_path_buf(), |p, s| p.join(s));
        let canon = match fs::canonicalize(&path) {
            Ok(canon) => canon,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(rel, e)),
        };
        let outside = || StorageError::Forbidden(format!("{rel}: leads outside the served tree"));
        let inside = canon.strip_prefix(root).map_err(|_| outside())?;
        let mut real = Vec::new();
        for part in inside.iter() {
            real.push(part.to_str().ok_or_else(outside)?.to_string());
        }
        real.extend(segments[known..].iter().cloned());
        if real == segments {
            return Ok(None);
        }
        return RelPath::from_segments(real)
            .map(Some)
            .map_err(|_| outside());
    }
    Ok(None)
}

/// The path shown for `child` and its metadata (through a link), when it is
/// addressable: a UTF-8 name a URL can name, not reserved, a link only
/// when it leads inside `root` (ROOT, or the listed directory) and not
/// onto a partial or state file, and a file or a directory.
fn addressable(root: &Path, child: &Child) -> Option<(String, fs::Metadata)> {
    let name = child.name()?;
    let encoded = percent_encoding::utf8_percent_encode(name, crate::PATH_SEGMENT);
    paths::parse_request_path(&format!("/{encoded}")).ok()?;
    if child.file_type.is_symlink() {
        let allowed = fs::canonicalize(&child.path).is_ok_and(|c| {
            c.starts_with(root)
                && !c
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(paths::reserved_suffix)
        });
        if !allowed {
            return None;
        }
    }
    let meta = fs::metadata(&child.path).ok()?;
    let shown = child.rel_str()?.to_string();
    (meta.is_file() || meta.is_dir()).then_some((shown, meta))
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
            cached: false,
            links_within: false,
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
            cached: true,
            links_within: false,
        };
        let listing = walk(&root, &RelPath::default(), deep).unwrap();
        let names: Vec<_> = listing.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["a.bin", "in", "sub/deeper/c.bin"]);
    }
}
