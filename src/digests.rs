//! The client's cache of whole-file SHA-256 digests: after a `get` (the
//! target) or a `send` (the source) finished, the file's digest is kept
//! with the file's identity, so a re-run can tell the server what it holds
//! without reading the file again.
//!
//! One small JSON file per local file, named by the SHA-256 of the file's
//! canonical path, under `WSRESUME_CACHE_DIR` or the platform cache dir
//! (`~/.cache/wsresume/sha256/` on Linux). An entry counts only while the
//! file's identity is unchanged: device, inode, size, modification time
//! and change time (ctime, which no user can set back), so a file rewritten
//! in place with its size and mtime restored is not taken for the old one.
//! A lookup is one small file read (memory does not grow with the number
//! of files); entries are replaced atomically (tmp + rename) and not synced:
//! a lost or torn entry only costs a re-read. Nothing here ever fails a
//! transfer; the cache directory may be removed at any time. A tree's
//! small files share one index instead ([`TreeDigests`]).

use std::fs::{self, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::attrs::{ctime_ns, mtime_ns};
use crate::chain::hex;

mod tree;
pub use tree::TreeDigests;

/// Environment variable naming the cache directory.
pub const CACHE_ENV: &str = "WSRESUME_CACHE_DIR";
/// Subdirectory holding the digest entries.
const SUBDIR: &str = "sha256";
/// Largest entry read (entries are a few hundred bytes).
const MAX_ENTRY: u64 = 8 * 1024;
const FORMAT: &str = "wsresume-digest";

/// What makes a file this version of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status change time, ns since the epoch.
    pub ctime_ns: i64,
}

impl Identity {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: mtime_ns(meta),
            ctime_ns: ctime_ns(meta),
        }
    }
}

/// One cache entry on disk.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    format: String,
    path: String,
    identity: Identity,
    sha256: String,
}

/// The directory the entries live in, if there is one.
pub fn cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os(CACHE_ENV) {
        Some(dir) if dir.is_empty() => return None,
        Some(dir) => PathBuf::from(dir),
        None => directories::ProjectDirs::from("", "", "wsresume")?
            .cache_dir()
            .to_path_buf(),
    };
    Some(base.join(SUBDIR))
}

/// The digest of the regular file at `path`, whose identity the caller
/// just took, when the cache holds one for the file as it is now.
pub fn lookup(path: &Path, identity: &Identity) -> Option<String> {
    let canonical = fs::canonicalize(path).ok()?;
    let entry_path = entry_path(&cache_dir()?, &canonical);
    let mut text = String::new();
    fs::File::open(&entry_path)
        .ok()?
        .take(MAX_ENTRY)
        .read_to_string(&mut text)
        .ok()?;
    let found = serde_json::from_str::<Entry>(&text)
        .ok()
        .filter(|e| e.format == FORMAT && e.path == canonical.to_string_lossy())
        .filter(|e| crate::chain::digest_from_hex(&e.sha256).is_some());
    match found {
        Some(entry) if entry.identity == *identity => Some(entry.sha256),
        _ => {
            // Stale (the file changed) or damaged: it will never match again.
            let _ = fs::remove_file(&entry_path);
            None
        }
    }
}

/// The digest of the regular file at `path`: from the cache, or by reading
/// the file once (and keeping the result when the file did not change
/// meanwhile). `None` when the file cannot be read.
pub fn ensure(path: &Path) -> Option<String> {
    let before = fs::metadata(path).ok().filter(Metadata::is_file)?;
    let identity = Identity::of(&before);
    if let Some(sha256) = lookup(path, &identity) {
        return Some(sha256);
    }
    let sha256 = crate::chain::sha256_file(path).ok()?;
    let after = fs::metadata(path).ok()?;
    if Identity::of(&after) == identity {
        record(path, &after, &sha256);
    }
    Some(sha256)
}

/// The SHA-256 of the file at `path`, read now, when it is at most `max`
/// bytes and still has `identity` after the read (a file being changed
/// gives `None`).
pub fn hash_small(path: &Path, identity: &Identity, max: u64) -> Option<String> {
    if identity.size > max {
        return None;
    }
    let sha256 = crate::chain::sha256_file(path).ok()?;
    let after = fs::metadata(path).ok()?;
    (Identity::of(&after) == *identity).then_some(sha256)
}

/// Remember that the file at `path`, as `meta` describes it (taken after
/// its last change: times and permissions set, renamed into place), has
/// the digest `sha256`.
pub fn record(path: &Path, meta: &Metadata, sha256: &str) {
    if let Err(e) = try_record(path, meta, sha256) {
        tracing::debug!("not caching the digest of {}: {e}", path.display());
    }
}

fn try_record(path: &Path, meta: &Metadata, sha256: &str) -> std::io::Result<()> {
    let Some(dir) = cache_dir() else {
        return Ok(());
    };
    let canonical = fs::canonicalize(path)?;
    let entry = Entry {
        format: FORMAT.into(),
        path: canonical.to_string_lossy().into_owned(),
        identity: Identity::of(meta),
        sha256: sha256.to_string(),
    };
    let text = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
    fs::create_dir_all(&dir)?;
    let dest = entry_path(&dir, &canonical);
    let mut tmp = dest.clone().into_os_string();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, text)?;
    fs::rename(&tmp, &dest).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Forget what the cache knows about `path` (it is being replaced).
pub fn forget(path: &Path) {
    if let (Some(dir), Ok(canonical)) = (cache_dir(), fs::canonicalize(path)) {
        let _ = fs::remove_file(entry_path(&dir, &canonical));
    }
}

/// The entry file of the file whose canonical path is `canonical`.
fn entry_path(dir: &Path, canonical: &Path) -> PathBuf {
    let name = hex(&Sha256::digest(canonical.as_os_str().as_encoded_bytes()));
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries under a temporary cache dir (tests in this module only run
    /// with it set; the variable is process-wide, so one test does it all).
    fn lookup_now(path: &Path) -> Option<String> {
        let meta = fs::metadata(path).ok().filter(Metadata::is_file)?;
        lookup(path, &Identity::of(&meta))
    }

    #[test]
    fn entries_count_only_for_the_same_version_of_the_file() {
        let cache = tempfile::tempdir().unwrap();
        // SAFETY: only this test in the library reads or sets the variable.
        unsafe { std::env::set_var(CACHE_ENV, cache.path()) };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.bin");
        fs::write(&file, b"one").unwrap();
        assert_eq!(lookup_now(&file), None, "nothing recorded yet");
        let sha = hex(&Sha256::digest(b"one"));
        record(&file, &fs::metadata(&file).unwrap(), &sha);
        assert_eq!(lookup_now(&file), Some(sha.clone()));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(lookup_now(&link), Some(sha.clone()), "same canonical file");
        // Rewritten in place, same size, mtime restored: ctime differs.
        let before = fs::metadata(&file).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&file, b"two").unwrap();
        let handle = fs::File::options().write(true).open(&file).unwrap();
        handle.set_modified(before.modified().unwrap()).unwrap();
        assert_eq!(mtime_ns(&fs::metadata(&file).unwrap()), mtime_ns(&before));
        assert_eq!(lookup_now(&file), None, "the change time tells");
        assert!(
            fs::read_dir(cache_dir().unwrap()).unwrap().next().is_none(),
            "a stale entry is removed"
        );
        record(&file, &fs::metadata(&file).unwrap(), "zz");
        assert_eq!(lookup_now(&file), None, "a damaged digest is ignored");
        record(&file, &fs::metadata(&file).unwrap(), &sha);
        forget(&file);
        assert_eq!(lookup_now(&file), None);
        assert_eq!(lookup_now(dir.path()), None, "directories are not files");
        fs::write(&file, b"three").unwrap();
        let three = hex(&Sha256::digest(b"three"));
        assert_eq!(ensure(&file), Some(three.clone()), "read once");
        assert_eq!(lookup_now(&file), Some(three), "and kept");
        assert_eq!(ensure(&dir.path().join("missing")), None);
    }
}
