//! The server's storage behind a narrow interface: open a file to serve, open
//! (or resume) a partial upload, write a small file whole and commit a
//! batch of them durably ([`StagedFile`], `storage/small.rs`), list a
//! directory ([`ListOptions`], [`Listing`]), expire abandoned uploads. [`LocalFs`] keeps everything
//! under ROOT on the local filesystem; [`s3::S3Store`] keeps them in an
//! S3-compatible bucket. Nothing here knows the server.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::chain::ChainState;
use crate::error::Error;
use crate::partial::{Partial, PartialPaths, SourceIdentity};
use crate::paths::{self, PathError, RelPath};
use crate::transfer::receiver::ChunkSink;

mod listing;
pub mod s3;
mod small;

pub use crate::partial::small::StagedFile;
pub use listing::{ListOptions, Listing};

/// Why storage could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Nothing at that path.
    #[error("{0}: no such file")]
    NotFound(String),
    /// The path is not allowed (outside ROOT, reserved, not a regular file).
    #[error("{0}")]
    Forbidden(String),
    /// The path names a directory (to download, or to replace by an upload).
    #[error("{0}: is a directory")]
    IsDirectory(String),
    /// Not enough free space for the rest of an upload.
    #[error("{0}")]
    NoSpace(String),
    /// Another client is uploading to the target (through another server
    /// on the same storage).
    #[error("{0}")]
    Busy(String),
    /// The storage failed.
    #[error(transparent)]
    Io(#[from] Error),
}

impl From<PathError> for StorageError {
    fn from(e: PathError) -> Self {
        match e {
            PathError::NotFound(p) => StorageError::NotFound(p),
            PathError::IsADirectory(p) => StorageError::IsDirectory(p),
            other => StorageError::Forbidden(other.to_string()),
        }
    }
}

/// A file opened for download.
#[derive(Debug)]
pub struct Download {
    /// What the file is read from.
    pub file: crate::transfer::body::Body,
    /// Where it is, for messages.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Its identity: changes when the file is replaced or modified.
    pub etag: String,
    /// Its modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Its permission bits (`mode & 0o7777`).
    pub mode: u32,
}

/// A partial upload opened for writing.
pub struct Upload {
    /// Where verified bytes go.
    pub sink: Box<dyn ChunkSink>,
    /// The verification unit in force (an existing partial's wins).
    pub chunk_size: u64,
    /// Bytes already verified and the chaining value there.
    pub verified: (u64, ChainState),
    /// Why an earlier partial was dropped, for the client.
    pub restarted: Option<String>,
}

/// What the server stores files in. Methods block; call them off the runtime.
pub trait Storage: Send + Sync + 'static {
    /// Open the file at `rel` for download.
    fn open_download(&self, rel: &RelPath) -> Result<Download, StorageError>;
    /// The key that names the file `rel` resolves to, for the one-writer
    /// registry: two spellings of one file (through a symbolic link) give
    /// the same key.
    fn upload_key(&self, rel: &RelPath) -> Result<String, StorageError>;
    /// Open the partial upload of `source` to `rel`, resuming it when it is
    /// from the same source, starting it afresh otherwise.
    fn open_upload(
        &self,
        rel: &RelPath,
        source: &SourceIdentity,
        chunk_size: u64,
    ) -> Result<Upload, StorageError>;
    /// Where `rel` really is under the root, its symbolic links followed
    /// as far as it exists (the rest as written); `None` when it is where
    /// it is written (always, in a store without links).
    fn real_path(&self, rel: &RelPath) -> Result<Option<RelPath>, StorageError> {
        let _ = rel;
        Ok(None)
    }
    /// The target `rel` already holds the file `source` set out to upload
    /// (its digest said so): drop that source's partial upload of it, if
    /// any, once the caller holds the target. Another source's is kept.
    fn drop_upload(&self, rel: &RelPath, source: &SourceIdentity) -> Result<(), StorageError> {
        let _ = (rel, source);
        Ok(())
    }
    /// Expire partial uploads untouched for longer than `max_age`; `hold`
    /// keeps writers off a target (relative path) while it is expired, or
    /// returns `None` when the target is in use.
    fn sweep_expired(
        &self,
        max_age: std::time::Duration,
        hold: &mut dyn FnMut(&str) -> Option<Box<dyn Send>>,
    ) -> Result<crate::expiry::Swept, StorageError>;
    /// Whether the store writes a session's small files in batches
    /// ([`Storage::stage_small`], [`Storage::commit_small`]); a server on
    /// one that does not offers no sessions (`wsresume.v2`), so small
    /// files come one by one.
    fn stages_small_files(&self) -> bool {
        false
    }
    /// Write a small file (its digest verified) whole beside the target
    /// `rel` resolves to, with `attrs`, once `hold` took the target's key
    /// (as [`Storage::upload_key`] names it; `None` when it could not) and
    /// the file fits on the disk: not yet durable, not yet in place
    /// ([`Storage::commit_small`]).
    fn stage_small(
        &self,
        rel: &RelPath,
        data: &[u8],
        attrs: crate::attrs::FileAttrs,
        hold: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Option<StagedFile>, StorageError> {
        let _ = (data, attrs, hold);
        Err(StorageError::Forbidden(format!(
            "{rel}: this store takes no small files in a session"
        )))
    }
    /// Make `staged` files durable together, then put each in place: their
    /// metadata afterwards, in order.
    fn commit_small(&self, staged: &[&StagedFile]) -> Result<Vec<std::fs::Metadata>, StorageError> {
        let _ = staged;
        Err(StorageError::Forbidden(
            "this store takes no small files in a session".into(),
        ))
    }
    /// Where the hash cache keeps its entries when the storage is shared
    /// by several servers (a bucket); `None`: the server's own cache
    /// directory.
    fn hash_entries(&self) -> Option<std::sync::Arc<dyn EntryStore>> {
        None
    }
    /// List the directory (or file) at `rel`.
    fn list(&self, rel: &RelPath, options: ListOptions) -> Result<Listing, StorageError> {
        let _ = (rel, options);
        Err(StorageError::Forbidden("this server cannot list".into()))
    }
}

/// Small named blobs kept beside the files (the hash cache's entries).
/// Blocks; never fails: a failed read is a miss, a failed write is logged.
pub trait EntryStore: Send + Sync {
    /// The blob `name`, if stored.
    fn read(&self, name: &str) -> Option<Vec<u8>>;
    /// Store `bytes` as `name`, replacing what was there.
    fn write(&self, name: &str, bytes: &[u8]);
    /// Store `bytes` as `name` unless something is stored there already.
    fn write_new(&self, name: &str, bytes: &[u8]) {
        if self.read(name).is_none() {
            self.write(name, bytes);
        }
    }
}

/// Files under a local directory.
#[derive(Debug, Clone)]
pub struct LocalFs {
    root: PathBuf,
}

impl LocalFs {
    /// Serve `root`, which must exist.
    pub fn new(root: &std::path::Path) -> Result<LocalFs, Error> {
        let root = std::fs::canonicalize(root)
            .map_err(|e| Error::local_io(format!("opening root {}", root.display()), e))?;
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "{} is not a directory",
                root.display()
            )));
        }
        Ok(LocalFs { root })
    }
}

impl LocalFs {
    /// The one-writer key of a resolved upload target.
    fn key_of(&self, target: &std::path::Path) -> String {
        target
            .strip_prefix(&self.root)
            .unwrap_or(target)
            .to_string_lossy()
            .into_owned()
    }
}

impl Storage for LocalFs {
    fn list(&self, rel: &RelPath, options: ListOptions) -> Result<Listing, StorageError> {
        listing::walk(&self.root, rel, options)
    }

    fn open_download(&self, rel: &RelPath) -> Result<Download, StorageError> {
        let path = paths::resolve_existing(&self.root, rel)?;
        let file = File::open(&path).map_err(|e| open_error(rel, e))?;
        let meta = file.metadata().map_err(|e| open_error(rel, e))?;
        if meta.is_dir() {
            return Err(StorageError::IsDirectory(rel.to_string()));
        }
        if !meta.is_file() {
            return Err(StorageError::Forbidden(format!(
                "{rel}: not a regular file"
            )));
        }
        Ok(Download {
            file: crate::transfer::body::Body::file(file),
            path,
            size: meta.len(),
            etag: etag(&meta),
            mtime_ns: crate::attrs::mtime_ns(&meta),
            mode: crate::attrs::mode_bits(&meta),
        })
    }

    fn upload_key(&self, rel: &RelPath) -> Result<String, StorageError> {
        let target = paths::resolve_for_create(&self.root, rel)?;
        Ok(self.key_of(&target))
    }

    fn open_upload(
        &self,
        rel: &RelPath,
        source: &SourceIdentity,
        chunk_size: u64,
    ) -> Result<Upload, StorageError> {
        let target = paths::resolve_for_create(&self.root, rel)?;
        let paths = PartialPaths::for_target(&target);
        let mut restarted = None;
        if let Some(reopened) = Partial::reopen(paths.clone(), Some(source))? {
            match reopened {
                Ok(r) => {
                    let partial = r.partial;
                    ensure_space(
                        &target,
                        rel,
                        source.size.saturating_sub(partial.verified().0),
                    )?;
                    return Ok(Upload {
                        chunk_size: partial.chunk_size(),
                        verified: partial.verified(),
                        sink: Box::new(partial),
                        restarted: r.note,
                    });
                }
                Err(reason) => restarted = Some(reason),
            }
        }
        if restarted.is_some() {
            // Free the old partial's space before checking what is free.
            paths.remove_all()?;
        }
        ensure_space(&target, rel, source.size)?;
        let partial = Partial::create(paths, source.clone(), chunk_size)?;
        Ok(Upload {
            chunk_size,
            verified: partial.verified(),
            sink: Box::new(partial),
            restarted,
        })
    }

    fn real_path(&self, rel: &RelPath) -> Result<Option<RelPath>, StorageError> {
        listing::real_path(&self.root, rel)
    }

    fn drop_upload(&self, rel: &RelPath, source: &SourceIdentity) -> Result<(), StorageError> {
        let target = paths::resolve_for_create(&self.root, rel)?;
        let dropped = PartialPaths::for_target(&target).remove_if_from(source)?;
        if dropped {
            tracing::debug!("{rel}: the partial upload of a file the target holds is dropped");
        }
        Ok(())
    }

    fn sweep_expired(
        &self,
        max_age: std::time::Duration,
        hold: &mut dyn FnMut(&str) -> Option<Box<dyn Send>>,
    ) -> Result<crate::expiry::Swept, StorageError> {
        Ok(crate::expiry::sweep(&self.root, max_age, hold)?)
    }

    fn stages_small_files(&self) -> bool {
        true
    }

    fn stage_small(
        &self,
        rel: &RelPath,
        data: &[u8],
        attrs: crate::attrs::FileAttrs,
        hold: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Option<StagedFile>, StorageError> {
        let target = paths::resolve_for_create(&self.root, rel)?;
        if !hold(&self.key_of(&target)) {
            return Ok(None);
        }
        ensure_space(&target, rel, data.len() as u64)?;
        small::stage(&target, data, attrs).map(Some)
    }

    fn commit_small(&self, staged: &[&StagedFile]) -> Result<Vec<std::fs::Metadata>, StorageError> {
        small::commit(staged)
    }
}

/// The identity of a local file as `offer` carries it: device, inode,
/// size, mtime and ctime in hex.
pub fn etag(meta: &std::fs::Metadata) -> String {
    format!(
        "{:x}-{:x}-{:x}-{:x}-{:x}",
        meta.dev(),
        meta.ino(),
        meta.len(),
        crate::partial::mtime_ns(meta),
        // ctime cannot be set by users: a rewrite that restores the
        // mtime still changes the etag (and so misses the hash cache).
        meta.ctime()
            .wrapping_mul(1_000_000_000)
            .wrapping_add(meta.ctime_nsec()) as u64
    )
}

/// Space kept free on the server's disk beyond an upload's bytes.
const SPACE_RESERVE: u64 = 16 << 20;

/// Refuse an upload whose remaining `needed` bytes do not fit on the
/// filesystem of `target` (less a small reserve for state files and others).
fn ensure_space(target: &std::path::Path, rel: &RelPath, needed: u64) -> Result<(), StorageError> {
    let dir = target.parent().unwrap_or(target);
    let stat = rustix::fs::statvfs(dir).map_err(|e| {
        StorageError::Io(Error::local_io(
            format!("checking free space for {rel}"),
            e.into(),
        ))
    })?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if needed.saturating_add(SPACE_RESERVE) > free {
        return Err(StorageError::NoSpace(format!(
            "{rel}: not enough free space on the server ({needed} bytes needed, {free} free)"
        )));
    }
    Ok(())
}

fn open_error(rel: &RelPath, e: std::io::Error) -> StorageError {
    match e.kind() {
        std::io::ErrorKind::NotFound => StorageError::NotFound(rel.to_string()),
        std::io::ErrorKind::PermissionDenied => {
            StorageError::Forbidden(format!("{rel}: permission denied"))
        }
        _ => StorageError::Io(Error::local_io(format!("opening {rel}"), e)),
    }
}
