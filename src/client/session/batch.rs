//! Durability for small downloaded files, a batch at a time
//! (`partial::small`): each file, verified in memory, is written to
//! `NAME.wsresume-part` (a stale state of an old large partial removed
//! first) with its time and mode; then one `syncfs(2)` (or `fdatasync` of
//! each part if it fails), then every part is renamed onto its target,
//! then each distinct parent directory is fsynced once. Only then are the
//! files reported. A kill at any instant
//! leaves a target absent, old, or complete and verified.

use std::fs;
use std::path::{Path, PathBuf};

use crate::attrs::FileAttrs;
use crate::error::Result;
use crate::partial::small;

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
    /// id, SHA-256 and result, in the batch's order (`partial::small`).
    /// `remember` keeps each placed file's digest.
    pub fn flush(
        self,
        remember: impl Fn(&Path, &fs::Metadata, &str),
    ) -> Vec<(usize, String, Result<()>)> {
        let mut staged = Vec::with_capacity(self.files.len());
        let mut results = Vec::with_capacity(self.files.len());
        for file in self.files {
            match small::stage(&file.target, &file.data, file.attrs) {
                Ok(part) => staged.push((file.id, file.sha256, part)),
                Err(e) => results.push((file.id, file.sha256, Err(e))),
            }
        }
        let parts: Vec<&small::StagedFile> = staged.iter().map(|(_, _, part)| part).collect();
        let placed = small::commit(&parts);
        for ((id, sha256, part), placed) in staged.iter().zip(placed) {
            let placed = placed.map(|meta| remember(part.target(), &meta, sha256));
            results.push((*id, sha256.clone(), placed));
        }
        results
    }
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
