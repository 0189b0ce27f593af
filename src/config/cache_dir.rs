//! Where `serve` keeps its hash cache: `--cache-dir`, or by default
//! `serve/<first 16 hex digits of the SHA-256 of the canonical ROOT>/`
//! under the cache base (`WSRESUME_CACHE_DIR`, else the platform cache dir,
//! `~/.cache/wsresume` on Linux). Never inside ROOT, where it would be
//! served: an explicit one there is a usage error, a default one there is
//! not used (one warning).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The variable naming the cache base (the client's digest cache shares it).
const CACHE_ENV: &str = "WSRESUME_CACHE_DIR";

/// The hash cache directory of a server on the canonical `root`, or `None`
/// when there is none (an empty `--cache-dir` or `WSRESUME_CACHE_DIR`, no
/// home directory, or a default inside ROOT).
pub fn serve_cache_dir(flag: Option<&Path>, root: &Path) -> Result<Option<PathBuf>> {
    if let Some(dir) = flag {
        if dir.as_os_str().is_empty() {
            return Ok(None);
        }
        if inside(dir, root) {
            return Err(Error::Usage(format!(
                "--cache-dir {}: inside the served directory {}, where it would be served; \
                 pick a directory outside it",
                dir.display(),
                root.display()
            )));
        }
        return Ok(Some(dir.to_path_buf()));
    }
    let base = match std::env::var_os(CACHE_ENV) {
        Some(dir) if dir.is_empty() => return Ok(None),
        Some(dir) => PathBuf::from(dir),
        None => match directories::ProjectDirs::from("", "", "wsresume") {
            Some(dirs) => dirs.cache_dir().to_path_buf(),
            None => return Ok(None),
        },
    };
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let dir = base.join("serve").join(name);
    if inside(&dir, root) {
        tracing::warn!(
            "not keeping hashes in {}: it is inside the served directory (set --cache-dir)",
            dir.display()
        );
        return Ok(None);
    }
    Ok(Some(dir))
}

/// Whether `dir` (which need not exist yet) is `root` or below it: its
/// deepest existing ancestor is resolved, links included.
fn inside(dir: &Path, root: &Path) -> bool {
    let Ok(absolute) = std::path::absolute(dir) else {
        return false;
    };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let full = rest.iter().rev().fold(real, |path, part| path.join(part));
            return full.starts_with(root);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_never_inside_root() {
        let top = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(top.path()).unwrap().join("root");
        std::fs::create_dir(&root).unwrap();
        let elsewhere = top.path().join("cache/deep");
        let cases = [
            (root.join("c"), true),
            (root.join("new/deeper"), true),
            (root.join("../root/x"), true),
            (root.clone(), true),
            (elsewhere.clone(), false),
            (top.path().join("rootless"), false),
        ];
        for (dir, want) in cases {
            assert_eq!(inside(&dir, &root), want, "{}", dir.display());
        }
        assert_eq!(
            serve_cache_dir(Some(&elsewhere), &root).unwrap(),
            Some(elsewhere)
        );
        assert_eq!(serve_cache_dir(Some(Path::new("")), &root).unwrap(), None);
        assert!(matches!(
            serve_cache_dir(Some(&root.join("c")), &root),
            Err(Error::Usage(_))
        ));
    }
}
