//! Small files written whole (a session's eager upload): staged as
//! `NAME.wsresume-part` once their digest was verified (a stale
//! `-state`/`-chunks` of an old large partial removed first), given their
//! mtime and mode, then made durable and put in place a batch at a time:
//! one `syncfs(2)` per filesystem (or `fdatasync` of each part when that
//! fails), a `rename` each, one `fsync` of each parent directory.
//!
//! A kill at any instant leaves each target absent, at its old version, or
//! complete and verified; a part left without state is overwritten by the
//! next upload (`Partial::reopen` trusts no part without state).

use std::collections::BTreeSet;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::StorageError;
use crate::attrs::FileAttrs;
use crate::error::Error;
use crate::partial::{PartialPaths, is_disk_full};

/// A small file written beside its target, not yet durable nor in place.
#[derive(Debug)]
pub struct StagedFile {
    part: PathBuf,
    target: PathBuf,
    file: File,
    dev: u64,
}

/// Write `data` to the part file of `target` and give it `attrs`.
pub(super) fn stage(
    target: &Path,
    data: &[u8],
    attrs: FileAttrs,
) -> Result<StagedFile, StorageError> {
    let paths = PartialPaths::for_target(target);
    // The state first: without it, whatever the part holds is not trusted.
    for stale in [&paths.state, &paths.chunks, &paths.tmp] {
        remove_if_there(stale)?;
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&paths.part)
        .map_err(|e| io_error("creating", &paths.part, e))?;
    file.write_all(data)
        .map_err(|e| io_error("writing", &paths.part, e))?;
    attrs
        .apply(&file)
        .map_err(|e| io_error("setting the time or mode of", &paths.part, e))?;
    let dev = file
        .metadata()
        .map_err(|e| io_error("reading", &paths.part, e))?
        .dev();
    Ok(StagedFile {
        part: paths.part,
        target: paths.target,
        file,
        dev,
    })
}

/// Make every staged file durable, then put each in place and make the
/// renames durable: the files' metadata afterwards, in order.
pub(super) fn commit(staged: &[&StagedFile]) -> Result<Vec<Metadata>, StorageError> {
    sync_data(staged)?;
    for file in staged {
        std::fs::rename(&file.part, &file.target)
            .map_err(|e| io_error("renaming", &file.part, e))?;
    }
    let dirs: BTreeSet<&Path> = staged.iter().filter_map(|f| f.target.parent()).collect();
    for dir in dirs {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("syncing directory", dir, e))?;
    }
    staged
        .iter()
        .map(|f| {
            f.file
                .metadata()
                .map_err(|e| io_error("reading", &f.target, e))
        })
        .collect()
}

/// One `syncfs` per filesystem the files are on; `fdatasync` of each file
/// on a filesystem where `syncfs` fails.
fn sync_data(staged: &[&StagedFile]) -> Result<(), StorageError> {
    let devices: BTreeSet<u64> = staged.iter().map(|f| f.dev).collect();
    for dev in devices {
        let on_dev = || staged.iter().filter(move |f| f.dev == dev);
        let Some(first) = on_dev().next() else {
            continue;
        };
        // SAFETY: syncfs takes a file descriptor we own and keep open.
        if unsafe { libc::syncfs(first.file.as_raw_fd()) } == 0 {
            continue;
        }
        for file in on_dev() {
            file.file
                .sync_data()
                .map_err(|e| io_error("syncing", &file.part, e))?;
        }
    }
    Ok(())
}

/// Remove `path` if it exists. Looked up first: a lookup shares the
/// directory's lock, an `unlink` takes it alone even when nothing is there,
/// and almost always nothing is.
fn remove_if_there(path: &Path) -> Result<(), StorageError> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("removing", path, e)),
        _ => Ok(()),
    }
}

/// A failed file operation: a full disk is `NoSpace` (the upload is
/// refused, the session goes on), anything else a storage failure.
fn io_error(action: &str, path: &Path, e: std::io::Error) -> StorageError {
    let error = Error::local_io(format!("{action} {}", path.display()), e);
    if is_disk_full(&error) {
        StorageError::NoSpace(error.to_string())
    } else {
        StorageError::Io(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_appear_only_when_committed_and_replace_stale_partials() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("sub").join("b");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let stale = PartialPaths::for_target(&b);
        std::fs::write(&stale.state, "old").unwrap();
        std::fs::write(&stale.chunks, "old").unwrap();
        std::fs::write(&stale.part, vec![7u8; 10_000]).unwrap();
        std::fs::write(&a, "old version").unwrap();
        let attrs = FileAttrs {
            mtime_ns: Some(1_600_000_000_123_456_789),
            mode: None,
        };
        let staged = [
            stage(&a, b"new", attrs).unwrap(),
            stage(&b, b"", FileAttrs::default()).unwrap(),
        ];
        assert_eq!(std::fs::read(&a).unwrap(), b"old version");
        assert!(!b.exists());
        assert!(!stale.state.exists() && !stale.chunks.exists());
        let metas = commit(&staged.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        assert_eq!(std::fs::read(&b).unwrap(), b"");
        assert_eq!(crate::attrs::mtime_ns(&metas[0]), 1_600_000_000_123_456_789);
        assert_eq!(metas[0].ino(), std::fs::metadata(&a).unwrap().ino());
        assert!(!stale.part.exists());
        assert!(!PartialPaths::for_target(&a).part.exists());
    }
}
