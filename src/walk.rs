//! The one bounded directory walk: depth first from a top directory, at
//! most [`MAX_DEPTH`] directories deep and [`MAX_DIRS`] directories read.
//!
//! The walk yields every child of every directory it reads, without
//! following anything: the caller decides what a child is worth (it may
//! `stat` through a link) and which directories to enter
//! ([`Walk::descend`]), and what an unreadable directory means. It imports
//! nothing of the server or the commands, so the server's listing, the
//! expiry sweep and a client-side tree walk can all use it.

use std::ffi::OsString;
use std::fs::{self, FileType, ReadDir};
use std::io;
use std::path::{Path, PathBuf};

/// Deepest directory entered: children of the top are at depth 1.
pub const MAX_DEPTH: usize = 64;
/// Directories read per walk at most (bounds the work on huge trees).
pub const MAX_DIRS: usize = 100_000;

/// One child of a directory read.
#[derive(Debug)]
pub struct Child {
    /// Its name.
    pub name: OsString,
    /// Its path (the top joined with `rel`).
    pub path: PathBuf,
    /// Its path relative to the top.
    pub rel: PathBuf,
    /// Its type, not following a symbolic link.
    pub file_type: FileType,
    /// How deep it is: 1 for children of the top.
    pub depth: usize,
}

impl Child {
    /// Its name, when it is UTF-8.
    pub fn name(&self) -> Option<&str> {
        self.name.to_str()
    }

    /// Its relative path with `/` between names, when it is UTF-8.
    pub fn rel_str(&self) -> Option<&str> {
        self.rel.to_str()
    }
}

/// What the walk found next.
#[derive(Debug)]
pub enum Event {
    /// A child of a directory read.
    Child(Child),
    /// A directory that could not be read (the top at depth 0).
    Unreadable {
        /// The directory.
        dir: PathBuf,
        /// Its depth.
        depth: usize,
        /// Why.
        error: io::Error,
    },
}

/// A walk in progress: an iterator of [`Event`]s.
#[derive(Debug)]
pub struct Walk {
    /// Directories to read: (path, relative path, depth).
    pending: Vec<(PathBuf, PathBuf, usize)>,
    /// The directory being read: (entries, relative path, depth).
    current: Option<(ReadDir, PathBuf, usize)>,
    dirs_read: usize,
    cut_short: bool,
}

impl Walk {
    /// A walk of `top` (which is read first, at depth 0).
    pub fn new(top: &Path) -> Walk {
        Walk {
            pending: vec![(top.to_path_buf(), PathBuf::new(), 0)],
            current: None,
            dirs_read: 0,
            cut_short: false,
        }
    }

    /// Enter `child` (a directory) later, unless it is deeper than
    /// [`MAX_DEPTH`]; whether it will be entered.
    pub fn descend(&mut self, child: &Child) -> bool {
        if child.depth > MAX_DEPTH {
            return false;
        }
        let entry = (child.path.clone(), child.rel.clone(), child.depth);
        self.pending.push(entry);
        true
    }

    /// Whether the walk stopped at [`MAX_DIRS`] with directories left.
    pub fn cut_short(&self) -> bool {
        self.cut_short
    }

    /// The next directory to read, or None when done (or at the bound).
    fn open_next(&mut self) -> Option<Event> {
        let (dir, rel, depth) = self.pending.pop()?;
        if self.dirs_read >= MAX_DIRS {
            self.cut_short = true;
            self.pending.clear();
            return None;
        }
        self.dirs_read += 1;
        match fs::read_dir(&dir) {
            Ok(entries) => {
                self.current = Some((entries, rel, depth));
                self.next()
            }
            Err(error) => Some(Event::Unreadable { dir, depth, error }),
        }
    }
}

impl Iterator for Walk {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        while let Some((entries, rel, depth)) = &mut self.current {
            match entries.next() {
                // An entry that vanished or cannot be typed is left out.
                Some(Err(_)) => {}
                Some(Ok(item)) => {
                    let Ok(file_type) = item.file_type() else {
                        continue;
                    };
                    let name = item.file_name();
                    return Some(Event::Child(Child {
                        rel: rel.join(&name),
                        path: item.path(),
                        name,
                        file_type,
                        depth: *depth + 1,
                    }));
                }
                None => self.current = None,
            }
        }
        self.open_next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every child's relative path, entering every real directory.
    fn all(top: &Path) -> (Vec<String>, bool) {
        let mut walk = Walk::new(top);
        let mut seen = Vec::new();
        while let Some(event) = walk.next() {
            if let Event::Child(child) = event {
                if child.file_type.is_dir() {
                    walk.descend(&child);
                }
                seen.push(child.rel_str().unwrap().to_string());
            }
        }
        seen.sort();
        (seen, walk.cut_short())
    }

    #[test]
    fn walks_depth_first_without_following_links_and_stops_at_max_depth() {
        let top = tempfile::TempDir::new().unwrap();
        fs::create_dir_all(top.path().join("a/b")).unwrap();
        fs::write(top.path().join("a/b/f"), b"x").unwrap();
        fs::write(top.path().join("g"), b"x").unwrap();
        std::os::unix::fs::symlink(top.path().join("a"), top.path().join("link")).unwrap();
        let (seen, cut) = all(top.path());
        assert_eq!(seen, ["a", "a/b", "a/b/f", "g", "link"]);
        assert!(!cut);
        let mut deep = top.path().join("deep");
        for _ in 0..MAX_DEPTH + 3 {
            deep = deep.join("d");
        }
        fs::create_dir_all(&deep).unwrap();
        let (seen, _) = all(top.path());
        let deepest = seen
            .iter()
            .filter(|p| p.starts_with("deep"))
            .map(|p| p.split('/').count())
            .max();
        // Directories at MAX_DEPTH are entered: their children are listed.
        assert_eq!(deepest, Some(MAX_DEPTH + 1));
    }

    #[test]
    fn an_unreadable_top_is_reported() {
        let top = tempfile::TempDir::new().unwrap();
        let mut walk = Walk::new(&top.path().join("missing"));
        match walk.next() {
            Some(Event::Unreadable {
                depth: 0, error, ..
            }) => {
                assert_eq!(error.kind(), io::ErrorKind::NotFound)
            }
            other => panic!("{other:?}"),
        }
        assert!(walk.next().is_none());
    }
}
