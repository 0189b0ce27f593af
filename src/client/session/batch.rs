//! Durability for small downloaded files, a batch at a time: each file,
//! verified in memory, is written to `NAME.wsresume-part` (a stale state of
//! an old large partial removed first) with its time and mode; then one
//! `syncfs(2)` (or `fdatasync` of each part if it fails), then every part
//! is renamed onto its target, then each distinct parent directory is
//! fsynced once. Only then are the files reported. A kill at any instant
//! leaves a target absent, old, or complete and verified.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::attrs::FileAttrs;
use crate::error::{Error, Result};
use crate::partial::PartialPaths;

/// Files in a batch before it is flushed.
pub const MAX_FILES: usize = 256;
/// Bytes in a batch before it is flushed.
pub const MAX_BYTES: u64 = 32 << 20;

/// One verified file waiting to be made durable.
pub struct Verified {
    /// The caller's id of the file.
    pub id: usize,
    /// Where it goes.
    pub target: PathBuf,
    /// Its bytes, verified.
    pub data: Vec<u8>,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// Time and mode to apply.
    pub attrs: FileAttrs,
}

/// A group of verified files.
#[derive(Default)]
pub struct Batch {
    /// The files, in the order they were verified.
    pub files: Vec<Verified>,
    bytes: u64,
}

impl Batch {
    /// Add a verified file.
    pub fn push(&mut self, file: Verified) {
        self.bytes += file.data.len() as u64;
        self.files.push(file);
    }

    /// Whether the batch must be flushed before more is taken.
    pub fn full(&self) -> bool {
        self.files.len() >= MAX_FILES || self.bytes >= MAX_BYTES
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Make every file durable and put it in place (blocking): each file's
    /// id, SHA-256 and result, in the batch's order.
    /// `remember` keeps each placed file's digest.
    pub fn flush(
        self,
        remember: impl Fn(&Path, &fs::Metadata, &str),
    ) -> Vec<(usize, String, Result<()>)> {
        let mut written = Vec::with_capacity(self.files.len());
        let mut results = Vec::with_capacity(self.files.len());
        for file in self.files {
            let paths = PartialPaths::for_target(&file.target);
            match write_part(&paths, &file) {
                Ok(handle) => written.push((file.id, file.sha256, paths, handle)),
                Err(e) => results.push((file.id, file.sha256, Err(e))),
            }
        }
        let synced = sync_all(&written);
        let mut dirs = BTreeSet::new();
        for ((id, sha256, paths, _), synced) in written.into_iter().zip(synced) {
            let placed = synced.and_then(|()| place(&paths, &sha256, &remember));
            if placed.is_ok()
                && let Some(dir) = paths.target.parent()
            {
                dirs.insert(dir.to_path_buf());
            }
            results.push((id, sha256, placed));
        }
        for dir in dirs {
            if let Err(e) = sync_dir(&dir) {
                tracing::warn!("syncing {}: {e}", dir.display());
            }
        }
        results
    }
}

/// Write one file's part (created or truncated) with its attributes.
fn write_part(paths: &PartialPaths, file: &Verified) -> Result<File> {
    for stale in [&paths.state, &paths.chunks] {
        match fs::remove_file(stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::local_io(format!("removing {}", stale.display()), e));
            }
            _ => {}
        }
    }
    let io = |e| Error::local_io(format!("writing {}", paths.part.display()), e);
    let mut handle = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&paths.part)
        .map_err(io)?;
    handle.write_all(&file.data).map_err(io)?;
    if let Err(e) = file.attrs.apply(&handle) {
        tracing::debug!(
            "could not set the time or mode of {}: {e}",
            paths.part.display()
        );
    }
    Ok(handle)
}

/// Make the written parts durable: one `syncfs` of their filesystem when
/// it works, else `fdatasync` of each.
fn sync_all(written: &[(usize, String, PartialPaths, File)]) -> Vec<Result<()>> {
    let Some((_, _, _, first)) = written.first() else {
        return Vec::new();
    };
    if let Ok(()) = rustix::fs::syncfs(first) {
        return written.iter().map(|_| Ok(())).collect();
    }
    written
        .iter()
        .map(|(_, _, paths, handle)| {
            handle
                .sync_data()
                .map_err(|e| Error::local_io(format!("syncing {}", paths.part.display()), e))
        })
        .collect()
}

/// Rename the part onto the target and remember the digest.
fn place(
    paths: &PartialPaths,
    sha256: &str,
    remember: &impl Fn(&Path, &fs::Metadata, &str),
) -> Result<()> {
    fs::rename(&paths.part, &paths.target)
        .map_err(|e| Error::local_io(format!("renaming onto {}", paths.target.display()), e))?;
    if let Ok(meta) = fs::metadata(&paths.target) {
        remember(&paths.target, &meta, sha256);
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_lands_every_file_and_fails_only_the_unwritable_one() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("a.bin");
        fs::write(dir.path().join("a.bin.wsresume-state"), b"stale").unwrap();
        let blocked = dir.path().join("missing-dir").join("b.bin");
        let mut batch = Batch::default();
        for (id, target) in [(1, ok.clone()), (2, blocked.clone())] {
            batch.push(Verified {
                id,
                target,
                data: vec![id as u8; 10],
                sha256: "00".repeat(32),
                attrs: FileAttrs {
                    mtime_ns: Some(1_000_000_000),
                    mode: None,
                },
            });
        }
        let results = batch.flush(|_, _, _| {});
        let outcome: Vec<(usize, bool)> =
            results.iter().map(|(id, _, r)| (*id, r.is_ok())).collect();
        assert_eq!(outcome, [(2, false), (1, true)]);
        assert_eq!(fs::read(&ok).unwrap(), vec![1; 10]);
        assert!(!dir.path().join("a.bin.wsresume-part").exists());
        assert!(!dir.path().join("a.bin.wsresume-state").exists());
        let mtime = crate::attrs::mtime_ns(&fs::metadata(&ok).unwrap());
        assert_eq!(mtime, 1_000_000_000);
    }
}
