//! The digest cache of a tree's small files: ONE file per tree top (under
//! the cache dir, `trees/`, named by the SHA-256 of the top's canonical
//! path) instead of one per file, read once when a tree job starts and
//! replaced once when it ends, so that a tree of thousands of files costs
//! two file operations instead of thousands. Entries are keyed by the
//! path below the top and count only for the same identity (device,
//! inode, size, mtime, ctime), like the per-file entries. Entries of
//! files the job did not see are dropped at the save. Never synced: a
//! lost index only costs hashing again.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Identity, cache_dir};
use crate::chain::hex;

/// Largest index read (100,000 files of about 300 bytes).
const MAX_INDEX: u64 = 64 << 20;
const FORMAT: &str = "wsresume-tree-digests";

/// The digests of one tree's files.
#[derive(Debug, Default)]
pub struct TreeDigests {
    /// The top as the job names it (local paths start with it).
    top: PathBuf,
    /// Where the index lives (None: no cache dir).
    file: Option<PathBuf>,
    entries: HashMap<String, (Identity, String)>,
    /// Keys looked up or recorded in this run (kept at the save).
    seen: HashSet<String>,
    changed: bool,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    format: String,
    top: String,
    entries: HashMap<String, (Identity, String)>,
}

impl TreeDigests {
    /// Read the index of the tree at `top` (empty when there is none).
    pub fn load(top: &Path) -> TreeDigests {
        let mut index = TreeDigests {
            top: top.to_path_buf(),
            ..TreeDigests::default()
        };
        let (Some(dir), Ok(canonical)) = (cache_dir(), fs::canonicalize(top)) else {
            return index;
        };
        let name = hex(&Sha256::digest(canonical.as_os_str().as_encoded_bytes()));
        let file = dir.with_file_name("trees").join(name);
        let mut text = String::new();
        let read = fs::File::open(&file).and_then(|f| f.take(MAX_INDEX).read_to_string(&mut text));
        if read.is_ok()
            && let Ok(disk) = serde_json::from_str::<OnDisk>(&text)
            && disk.format == FORMAT
            && disk.top == canonical.to_string_lossy()
        {
            index.entries = disk.entries;
        }
        index.file = Some(file);
        index
    }

    /// The key of `path` (a file under the top).
    fn key(&self, path: &Path) -> Option<String> {
        Some(path.strip_prefix(&self.top).ok()?.to_str()?.to_string())
    }

    /// The digest of the file at `path`, whose identity the caller just
    /// took, when the index holds one for the file as it is now.
    pub fn lookup(&mut self, path: &Path, identity: &Identity) -> Option<String> {
        let key = self.key(path)?;
        let found = self.entries.get(&key).filter(|(id, _)| id == identity);
        let sha256 = found.map(|(_, sha256)| sha256.clone());
        self.seen.insert(key);
        sha256
    }

    /// Remember that the file at `path`, with `identity`, holds `sha256`.
    pub fn record(&mut self, path: &Path, identity: Identity, sha256: &str) {
        let Some(key) = self.key(path) else {
            return;
        };
        self.entries
            .insert(key.clone(), (identity, sha256.to_string()));
        self.seen.insert(key);
        self.changed = true;
    }

    /// Replace the index on disk (tmp + rename, not synced), keeping the
    /// entries of files this run saw.
    pub fn save(mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        let before = self.entries.len();
        let seen = std::mem::take(&mut self.seen);
        self.entries.retain(|key, _| seen.contains(key));
        if !self.changed && self.entries.len() == before {
            return;
        }
        if let Err(e) = self.write(&file) {
            tracing::debug!("not saving the tree's digests: {e}");
        }
    }

    fn write(self, file: &Path) -> std::io::Result<()> {
        let top = fs::canonicalize(&self.top)?;
        let disk = OnDisk {
            format: FORMAT.into(),
            top: top.to_string_lossy().into_owned(),
            entries: self.entries,
        };
        let text = serde_json::to_string(&disk).map_err(std::io::Error::other)?;
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut tmp = file.as_os_str().to_owned();
        tmp.push(format!(".{}.tmp", std::process::id()));
        fs::write(&tmp, text)?;
        fs::rename(&tmp, file).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_count_for_the_same_identity_and_unseen_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("top");
        fs::create_dir_all(top.join("sub")).unwrap();
        let (a, b) = (top.join("sub/a"), top.join("b"));
        fs::write(&a, b"a").unwrap();
        fs::write(&b, b"b").unwrap();
        let id = |p: &Path| Identity::of(&fs::metadata(p).unwrap());
        let mut index = TreeDigests {
            top: top.clone(),
            file: Some(dir.path().join("trees/x")),
            ..TreeDigests::default()
        };
        index.record(&a, id(&a), "aa");
        index.record(&b, id(&b), "bb");
        assert_eq!(index.lookup(&a, &id(&a)).as_deref(), Some("aa"));
        let mut other = id(&a);
        other.ctime_ns += 1;
        assert_eq!(index.lookup(&a, &other), None, "another version");
        assert_eq!(index.lookup(Path::new("/elsewhere/a"), &id(&a)), None);
        index.seen.remove("b");
        let file = index.file.clone().unwrap();
        index.save();
        let text = fs::read_to_string(&file).unwrap();
        assert!(text.contains("sub/a") && !text.contains("\"b\""), "{text}");
    }
}
