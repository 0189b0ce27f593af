//! Where `get` writes, decided before any byte of a file moves: DEST for
//! one file (curl's and wget's rules, a DEST ending in `/` being a
//! directory) and for a tree (`-r`: the copy is `DEST/NAME/`), with
//! missing directories reported up front or created (`--create-dirs`).

use std::io;
use std::path::{Path, PathBuf};

use crate::client::connect::RemoteUrl;
use crate::error::{Error, Result};

/// The local file one download goes to:
/// - no DEST: the URL's file name in the current directory;
/// - DEST ending in `/`, or an existing directory: the file name inside it;
/// - anything else: that path.
///
/// The directory written into must exist, unless `create_dirs`.
pub fn file_target(dest: Option<&Path>, url: &RemoteUrl, create_dirs: bool) -> Result<PathBuf> {
    if url.is_dir() {
        return Err(Error::IsDirectory(format!("{url} is a directory: use -r")));
    }
    let name = || {
        url.file_name()
            .ok_or_else(|| Error::Usage(format!("{url} does not end in a file name; give DEST")))
    };
    match dest {
        None => Ok(PathBuf::from(name()?)),
        Some(dir) if names_dir(dir) || dir.is_dir() => {
            ensure_dir(dir, create_dirs)?;
            Ok(dir.join(name()?))
        }
        Some(file) => {
            if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
                ensure_dir(parent, create_dirs)?;
            }
            Ok(file.to_path_buf())
        }
    }
}

/// The local directory a tree download fills (created later, once the
/// listing succeeded): `DEST/NAME`, NAME being the remote directory's last
/// segment and DEST the current directory by default, as
/// `scp -r host:NAME DEST` does when DEST exists. DEST must exist, unless
/// `create_dirs`, so that running the same command again finds the same
/// copy. The server's root has no name: its files go into DEST itself,
/// which must then be given.
pub fn tree_target(dest: Option<&Path>, url: &RemoteUrl, create_dirs: bool) -> Result<PathBuf> {
    let name = url.dir_name();
    let Some(dest) = dest else {
        return name.map(PathBuf::from).ok_or_else(|| {
            Error::Usage(format!(
                "{url} is the server's root, which has no name: give DEST (its files go into DEST)"
            ))
        });
    };
    ensure_dir(dest, create_dirs)?;
    Ok(match name {
        Some(name) => dest.join(name),
        None => dest.to_path_buf(),
    })
}

/// Create the tree's top directory `dir` if missing (its parent exists).
pub fn create_tree_dir(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(Error::local_io(
            format!("creating the directory {}", dir.display()),
            e,
        )),
        _ => ensure_dir(dir, false),
    }
}

/// A DEST that says it is a directory: it ends in `/` (or is `.`/`..`).
fn names_dir(dest: &Path) -> bool {
    let bytes = dest.as_os_str().as_encoded_bytes();
    matches!(bytes, b"." | b"..")
        || bytes.ends_with(b"/")
        || bytes.ends_with(b"/.")
        || bytes.ends_with(b"/..")
}

/// `dir` exists as a directory, or is created (with its parents) when
/// `create`; otherwise a local error naming it.
fn ensure_dir(dir: &Path, create: bool) -> Result<()> {
    let shown = dir.display();
    let not_dir = || {
        Error::local_io(
            format!("{shown} is not a directory"),
            io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error()),
        )
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(not_dir()),
        // `file/` (or `file/sub`): a path through a regular file.
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(not_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => std::fs::create_dir_all(dir)
            .map_err(|e| Error::local_io(format!("creating the directory {shown}"), e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::local_io(
            format!("the directory {shown} does not exist (--create-dirs creates it)"),
            e,
        )),
        Err(e) => Err(Error::local_io(
            format!("checking the directory {shown}"),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitCode;

    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("wsresume-dest-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("there")).unwrap();
            std::fs::write(dir.join("plain"), b"x").unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A target, or the exit code of the error.
    type Want = std::result::Result<PathBuf, ExitCode>;

    fn url(text: &str) -> RemoteUrl {
        RemoteUrl::parse(text).unwrap()
    }

    #[test]
    fn file_targets_follow_curl_and_wget() {
        let tmp = Scratch::new("file");
        let d = |rel: &str| tmp.0.join(rel);
        let f = url("ws://h:1/a/f.bin");
        // (DEST, create_dirs, Ok(target) or Err(exit code))
        let cases: Vec<(Option<PathBuf>, bool, Want)> = vec![
            (None, false, Ok(PathBuf::from("f.bin"))),
            (Some(d("there")), false, Ok(d("there/f.bin"))),
            (Some(d("there/")), false, Ok(d("there/f.bin"))),
            (Some(d("there/g.bin")), false, Ok(d("there/g.bin"))),
            (
                Some(PathBuf::from("g.bin")),
                false,
                Ok(PathBuf::from("g.bin")),
            ),
            (Some(d("nodir/")), false, Err(ExitCode::LocalIo)),
            (Some(d("nodir/g.bin")), false, Err(ExitCode::LocalIo)),
            (Some(d("plain/g.bin")), false, Err(ExitCode::LocalIo)),
            (Some(d("plain/")), false, Err(ExitCode::LocalIo)),
            (Some(d("made/")), true, Ok(d("made/f.bin"))),
            (Some(d("deep/er/g.bin")), true, Ok(d("deep/er/g.bin"))),
        ];
        for (dest, create, want) in cases {
            let got = file_target(dest.as_deref(), &f, create).map_err(|e| e.exit_code());
            assert_eq!(got, want, "{dest:?} create={create}");
        }
        assert!(d("made").is_dir() && d("deep/er").is_dir());
        assert!(!d("nodir").exists());
        for dir_url in ["ws://h:1/a/", "ws://h:1/", "ws://h:1"] {
            let err = file_target(None, &url(dir_url), false).unwrap_err();
            assert!(matches!(err, Error::IsDirectory(_)), "{dir_url}: {err}");
            assert!(err.to_string().ends_with("is a directory: use -r"), "{err}");
        }
    }

    #[test]
    fn tree_targets_are_dest_slash_name() {
        let tmp = Scratch::new("tree");
        let d = |rel: &str| tmp.0.join(rel);
        let cases: Vec<(&str, Option<PathBuf>, bool, Want)> = vec![
            (
                "ws://h:1/a/photos/",
                None,
                false,
                Ok(PathBuf::from("photos")),
            ),
            (
                "ws://h:1/a/photos",
                None,
                false,
                Ok(PathBuf::from("photos")),
            ),
            (
                "ws://h:1/a/photos/",
                Some(d("there")),
                false,
                Ok(d("there/photos")),
            ),
            (
                "ws://h:1/a%20b/",
                Some(d("there")),
                false,
                Ok(d("there/a b")),
            ),
            (
                "ws://h:1/photos/",
                Some(d("nodir")),
                false,
                Err(ExitCode::LocalIo),
            ),
            (
                "ws://h:1/photos/",
                Some(d("plain")),
                false,
                Err(ExitCode::LocalIo),
            ),
            (
                "ws://h:1/photos/",
                Some(d("new/er")),
                true,
                Ok(d("new/er/photos")),
            ),
            ("ws://h:1/", None, false, Err(ExitCode::Usage)),
            ("ws://h:1/", Some(d("there")), false, Ok(d("there"))),
        ];
        for (text, dest, create, want) in cases {
            let got = tree_target(dest.as_deref(), &url(text), create).map_err(|e| e.exit_code());
            assert_eq!(got, want, "{text} {dest:?} create={create}");
        }
        create_tree_dir(&d("there/photos")).unwrap();
        create_tree_dir(&d("there/photos")).unwrap();
        assert!(create_tree_dir(&d("plain")).is_err());
    }

    #[test]
    fn url_names_and_forms() {
        // (URL, file_name, dir_name, as_dir, as_file)
        let cases = [
            (
                "ws://h:1/a/f.bin",
                Some("f.bin"),
                Some("f.bin"),
                "ws://h:1/a/f.bin/",
                "ws://h:1/a/f.bin",
            ),
            (
                "ws://h:1/a/photos/",
                None,
                Some("photos"),
                "ws://h:1/a/photos/",
                "ws://h:1/a/photos",
            ),
            (
                "ws://h:1/a%20b/",
                None,
                Some("a b"),
                "ws://h:1/a%20b/",
                "ws://h:1/a%20b",
            ),
            ("ws://h:1/", None, None, "ws://h:1/", "ws://h:1/"),
            ("ws://h:1/..", None, None, "ws://h:1/../", "ws://h:1/.."),
            (
                "ws://h:1/x%2fy/",
                None,
                None,
                "ws://h:1/x%2fy/",
                "ws://h:1/x%2fy",
            ),
        ];
        for (text, file, dir, as_dir, as_file) in cases {
            let u = url(text);
            assert_eq!(u.file_name().as_deref(), file, "{text}");
            assert_eq!(u.dir_name().as_deref(), dir, "{text}");
            assert_eq!(u.as_dir().unwrap().to_string(), as_dir, "{text}");
            assert_eq!(u.as_file().unwrap().to_string(), as_file, "{text}");
        }
    }
}
