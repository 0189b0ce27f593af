//! Small files written whole, both ends (a session's downloads on the
//! client, its eager uploads on the server): a file verified in memory is
//! staged as `NAME.wsresume-part` (a stale `-state`/`-chunks`/`-tmp` of an
//! old large partial removed first, so the part is never taken for a
//! resumable one), given its mtime and mode, then a batch is made durable
//! and put in place together: one `syncfs(2)` per filesystem (or
//! `fdatasync` of each part where that fails), a `rename` each, one
//! `fsync` of each parent directory.
//!
//! A kill at any instant leaves each target absent, at its old version, or
//! complete and verified; a part left without state is overwritten by the
//! next transfer (`Partial::reopen` trusts no part without state).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::PartialPaths;
use crate::attrs::FileAttrs;
use crate::error::{Error, Result};

/// A small file written beside its target, not yet durable nor in place.
#[derive(Debug)]
pub struct StagedFile {
    part: PathBuf,
    target: PathBuf,
    file: File,
    dev: u64,
}

impl StagedFile {
    /// Where it goes.
    pub fn target(&self) -> &Path {
        &self.target
    }
}

/// Write `data` to the part file of `target` and give it `attrs` (a time
/// or mode the filesystem refuses is logged, not fatal).
pub fn stage(target: &Path, data: &[u8], attrs: FileAttrs) -> Result<StagedFile> {
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
    if let Err(e) = attrs.apply(&file) {
        let part = paths.part.display();
        tracing::debug!("could not set the time or mode of {part}: {e}");
    }
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
/// renames durable: each file's metadata afterwards (or why it failed), in
/// order. A file is in place and durable exactly when its result is `Ok`.
pub fn commit(staged: &[&StagedFile]) -> Vec<Result<Metadata>> {
    let mut results: Vec<Result<()>> = sync_data(staged);
    for (file, result) in staged.iter().zip(results.iter_mut()) {
        if result.is_ok() {
            *result = std::fs::rename(&file.part, &file.target)
                .map_err(|e| io_error("renaming", &file.part, e));
        }
    }
    let placed = || staged.iter().zip(results.iter()).filter(|(_, r)| r.is_ok());
    let dirs: BTreeSet<&Path> = placed().filter_map(|(f, _)| f.target.parent()).collect();
    let failed_dirs: BTreeMap<&Path, std::io::Error> = dirs
        .into_iter()
        .filter_map(|dir| sync_dir(dir).err().map(|e| (dir, e)))
        .collect();
    staged
        .iter()
        .zip(results)
        .map(|(f, result)| {
            result?;
            let dir = f.target.parent().unwrap_or(Path::new("."));
            if let Some(e) = failed_dirs.get(dir) {
                // Renamed, but the rename may not survive a power loss.
                let again = std::io::Error::new(e.kind(), e.to_string());
                return Err(io_error("syncing directory", dir, again));
            }
            f.file
                .metadata()
                .map_err(|e| io_error("reading", &f.target, e))
        })
        .collect()
}

/// One `syncfs` per filesystem the files are on; `fdatasync` of each file
/// on a filesystem where `syncfs` fails. Each file's result.
fn sync_data(staged: &[&StagedFile]) -> Vec<Result<()>> {
    let devices: BTreeSet<u64> = staged.iter().map(|f| f.dev).collect();
    let synced: BTreeSet<u64> = devices
        .into_iter()
        .filter(|dev| {
            staged.iter().find(|f| f.dev == *dev).is_some_and(|first| {
                // SAFETY: syncfs takes a file descriptor we own and keep open.
                unsafe { libc::syncfs(first.file.as_raw_fd()) == 0 }
            })
        })
        .collect();
    staged
        .iter()
        .map(|f| match synced.contains(&f.dev) {
            true => Ok(()),
            false => f
                .file
                .sync_data()
                .map_err(|e| io_error("syncing", &f.part, e)),
        })
        .collect()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Remove `path` if it exists. Looked up first: a lookup shares the
/// directory's lock, an `unlink` takes it alone even when nothing is there,
/// and almost always nothing is.
fn remove_if_there(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("removing", path, e)),
        _ => Ok(()),
    }
}

fn io_error(action: &str, path: &Path, e: std::io::Error) -> Error {
    Error::local_io(format!("{action} {}", path.display()), e)
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
        let metas = commit(&staged.iter().collect::<Vec<_>>());
        let metas: Vec<Metadata> = metas.into_iter().map(|m| m.unwrap()).collect();
        assert_eq!(std::fs::read(&a).unwrap(), b"new");
        assert_eq!(std::fs::read(&b).unwrap(), b"");
        assert_eq!(crate::attrs::mtime_ns(&metas[0]), 1_600_000_000_123_456_789);
        assert_eq!(metas[0].ino(), std::fs::metadata(&a).unwrap().ino());
        assert!(!stale.part.exists());
        assert!(!PartialPaths::for_target(&a).part.exists());
    }

    #[test]
    fn a_file_whose_rename_fails_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let staged = [
            stage(&a, b"a", FileAttrs::default()).unwrap(),
            stage(&b, b"b", FileAttrs::default()).unwrap(),
        ];
        // b's target became a non-empty directory: its rename fails.
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("x"), b"x").unwrap();
        let results = commit(&staged.iter().collect::<Vec<_>>());
        assert!(results[0].is_ok() && results[1].is_err(), "{results:?}");
        assert_eq!(std::fs::read(&a).unwrap(), b"a");
    }
}
