//! One run per download target: `NAME.wsresume-lock` next to the target,
//! held with `flock(2)` for the whole run (across reconnects) and taken
//! before the partial is reopened.
//!
//! The lock file is created when missing and removed by its holder, while
//! still holding it, when the run ends. A run that acquires the lock checks
//! that the path still names the file it locked (a holder may have removed
//! it meanwhile) and starts over if not. A run killed with SIGKILL leaves
//! the file behind, but the kernel released its lock: the next run takes it
//! over and removes it when done.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Suffix of the lock file next to a download target.
use crate::paths::LOCK_SUFFIX;
/// Attempts to lock a file that a finishing holder keeps removing.
const MAX_RACES: u32 = 100;

/// The lock of one download target; released (and its file removed) on drop.
#[derive(Debug)]
pub struct TargetLock {
    path: PathBuf,
    /// `None` on a filesystem without `flock` (the run goes on unlocked).
    file: Option<File>,
}

/// The lock is held by another run.
#[derive(Debug)]
pub struct Held {
    /// The holder's process id, when it wrote one.
    pub pid: Option<u32>,
}

/// The lock file's path for `target`: its file name plus [`LOCK_SUFFIX`].
pub fn lock_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(LOCK_SUFFIX);
    target.with_file_name(name)
}

impl TargetLock {
    /// Take the lock of `target` if no other run holds it.
    pub fn try_acquire(target: &Path) -> Result<std::result::Result<TargetLock, Held>> {
        let path = lock_path(target);
        for _ in 0..MAX_RACES {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(&path)
                .map_err(|e| lock_err("creating the lock file", &path, e))?;
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => {
                    let pid = holder_pid(&mut file);
                    return Ok(Err(Held { pid }));
                }
                Err(Errno::NOLCK | Errno::OPNOTSUPP | Errno::NOSYS) => {
                    tracing::warn!("{}: locking is not supported here", path.display());
                    return Ok(Ok(TargetLock { path, file: None }));
                }
                Err(e) => return Err(lock_err("locking", &path, e.into())),
            }
            if still_named(&file, &path)? {
                write_pid(&mut file);
                return Ok(Ok(TargetLock {
                    path,
                    file: Some(file),
                }));
            }
            // The holder removed the file between our open and our lock:
            // this lock guards nothing; lock the file now at the path.
        }
        Err(lock_err(
            "locking",
            &path,
            std::io::Error::other("the lock file keeps being replaced"),
        ))
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TargetLock {
    fn drop(&mut self) {
        // Removed while still held: a run waiting on this file notices that
        // the path no longer names it, and locks a fresh one.
        if self.file.is_some()
            && let Err(e) = fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing {}: {e}", self.path.display());
        }
        drop(self.file.take());
    }
}

/// Whether `path` still names the open `file` (same device and inode).
fn still_named(file: &File, path: &Path) -> Result<bool> {
    let held = file
        .metadata()
        .map_err(|e| lock_err("reading the lock file", path, e))?;
    match fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(lock_err("reading the lock file", path, e)),
    }
}

/// Record this process in the lock file, for the message a second run
/// prints. Best effort: the lock is the `flock`, not the content.
fn write_pid(file: &mut File) {
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all(std::process::id().to_string().as_bytes()));
}

/// The pid the holder wrote, if it did.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn lock_err(action: &str, path: &Path, e: std::io::Error) -> Error {
    Error::local_io(format!("{action} {}", path.display()), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_target(name: &str) -> (PathBuf, PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("wsresume-lock-test-{}-{name}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("same.bin");
        (dir, target)
    }

    #[test]
    fn one_holder_at_a_time_and_no_file_left() {
        let (dir, target) = temp_target("one");
        let first = TargetLock::try_acquire(&target).unwrap().unwrap();
        assert_eq!(first.path(), dir.join("same.bin.wsresume-lock"));
        match TargetLock::try_acquire(&target).unwrap() {
            Err(Held { pid }) => assert_eq!(pid, Some(std::process::id())),
            Ok(_) => panic!("locked twice"),
        }
        drop(first);
        assert!(!lock_path(&target).exists(), "lock file left behind");
        let again = TargetLock::try_acquire(&target).unwrap().unwrap();
        drop(again);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_stale_lock_file_is_taken_over_and_removed() {
        let (dir, target) = temp_target("stale");
        fs::write(lock_path(&target), b"999999999").unwrap();
        let lock = TargetLock::try_acquire(&target).unwrap().unwrap();
        drop(lock);
        assert!(!lock_path(&target).exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_lock_whose_file_was_removed_guards_nothing() {
        let (dir, target) = temp_target("replaced");
        let path = lock_path(&target);
        let stale = File::create(&path).unwrap();
        fs::remove_file(&path).unwrap();
        assert!(!still_named(&stale, &path).unwrap());
        File::create(&path).unwrap();
        assert!(!still_named(&stale, &path).unwrap());
        fs::remove_dir_all(dir).unwrap();
    }
}
