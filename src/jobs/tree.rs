//! `send -r DIR URL` and `get -r URL [DEST]`: the files under DIR (or
//! under URL/) mirrored under `URL/DIR/` (or `DEST/NAME/`), each file an
//! ordinary resumable transfer. A file already on the other side with the
//! same size and SHA-256 is skipped, the way a single `get`/`send` skips it
//! (the local digest from the digest cache, or read once when the sizes
//! match; the server compares); a summary ends the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{Direction, FileJob, Job, Ran, Reporter, dest, files, run};
use crate::client::ClientOptions;
use crate::client::connect::RemoteUrl;
use crate::client::get::Dest;
use crate::client::list::{ListRequest, list};
use crate::error::{Error, Result};
use crate::paths;
use crate::progress::FileProgress;
use crate::protocol::EntryKind;
use crate::walk::{Event, Walk};

mod same;

/// Most files one tree transfer takes on (what one listing can show).
const MAX_FILES: usize = crate::protocol::MAX_LIST_ENTRIES;

/// `send -r DIR URL`: the files under DIR go to `URL/NAME/`, NAME being
/// DIR's name (as `scp -r DIR host:URL` does when URL is a directory); a
/// DIR of `.` or ending in `/.` sends its contents straight into URL/.
pub async fn send_tree(
    dir: &Path,
    url: &RemoteUrl,
    opts: &ClientOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!("{}: -r needs a directory", dir.display())).into());
    }
    let url = match tree_name(dir)? {
        Some(name) => url.as_dir()?.join(&name)?.as_dir()?,
        None => url.as_dir()?,
    };
    let mut known = same::Known::new();
    let remote = match remote_sizes(opts, &url, &mut known).await {
        Ok(sizes) => sizes,
        // Nothing there yet: every file goes. Anything else (forbidden,
        // busy, a listing too long to trust) is an error, not "empty".
        Err(Error::NotFound(_)) => BTreeMap::new(),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("listing {url}"))),
    };
    let mut files = Vec::new();
    for (rel, local, size) in local_files(dir)? {
        files.push(FileJob {
            remote: join_path(&url, &rel)?,
            there: remote.get(&rel).copied(),
            label: rel,
            local: Dest::File(local),
            size,
            into_dir: false,
            identical: None,
        });
    }
    let index = load_index(dir).await;
    same::mark_identical(opts, &url, &index, &mut files, known).await;
    run_tree(Direction::Send, files, index, opts, reporter).await
}

/// `get -r URL [DEST]`: the files under URL go to `DEST/NAME/`
/// ([`dest::tree_target`]); a URL naming a file is downloaded as
/// `get URL DEST` would.
pub async fn get_tree(
    url: &RemoteUrl,
    dest: Option<&Path>,
    create_dirs: bool,
    opts: &ClientOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    let dir_url = url.as_dir()?;
    let mut known = same::Known::new();
    let remote = remote_sizes(opts, &dir_url, &mut known)
        .await
        .with_context(|| format!("listing {dir_url}"))?;
    if lists_only_itself(&remote, url) {
        // A file is listed as one entry of its own name; so is a directory
        // holding nothing but a file of its own name. A download of the
        // URL tells the two apart (the server answers a directory with
        // `is_directory`).
        let file_url = url.as_file()?;
        let target = dest::file_target(dest, &file_url, create_dirs)?;
        let job = Job {
            direction: Direction::Get,
            files: vec![files::get_job(&file_url, Dest::File(target))],
            tree: false,
            probe: true,
            digests: None,
        };
        if run(job, opts, reporter).await? == Ran::Done {
            return Ok(());
        }
    }
    let top = dest::tree_target(dest, url, create_dirs)?;
    dest::create_tree_dir(&top)?;
    // One lock for the whole tree (`TOP.wsresume-lock`): small files of
    // its sessions take none of their own.
    let _lock = crate::client::get::lock_target(&top, opts, &FileProgress::hidden()).await?;
    let url = dir_url;
    let mut files = Vec::new();
    for (rel, size) in remote {
        let local = local_path(&top, &rel)?;
        let there = std::fs::metadata(&local)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        files.push(FileJob {
            remote: join_path(&url, &rel)?,
            label: rel,
            local: Dest::File(local),
            size,
            there,
            into_dir: false,
            identical: None,
        });
    }
    let index = load_index(&top).await;
    same::mark_identical(opts, &url, &index, &mut files, known).await;
    run_tree(Direction::Get, files, index, opts, reporter).await
}

/// Transfer every file (identical ones are skipped on the way).
async fn run_tree(
    direction: Direction,
    files: Vec<FileJob>,
    index: crate::client::session::Index,
    opts: &ClientOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    let job = Job {
        direction,
        files,
        tree: true,
        probe: false,
        digests: Some(index),
    };
    run(job, opts, reporter).await.map(drop)
}

/// The digest index of the tree at `top` (read on a blocking thread).
async fn load_index(top: &Path) -> crate::client::session::Index {
    let top = top.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || crate::digests::TreeDigests::load(&top)).await;
    std::sync::Arc::new(std::sync::Mutex::new(loaded.unwrap_or_default()))
}

/// Files under `url` (recursive listing) and their sizes; the digests
/// the server knows without reading (a server with sessions) go to `known`.
async fn remote_sizes(
    opts: &ClientOptions,
    url: &RemoteUrl,
    known: &mut same::Known,
) -> Result<BTreeMap<String, u64>> {
    let mut sizes = BTreeMap::new();
    let request = ListRequest {
        recursive: true,
        sha256: false,
        cached: true,
    };
    let mut take = |entry: crate::protocol::ListEntry| {
        if entry.kind == EntryKind::File {
            if let Some(sha256) = entry.sha256 {
                known.insert(entry.path.clone(), (sha256, entry.modified));
            }
            sizes.insert(entry.path, entry.size.unwrap_or(0));
        }
    };
    let listed = list(opts, url, request, &FileProgress::hidden(), &mut take).await?;
    if listed.truncated {
        return Err(Error::Refused(format!(
            "{url}: too many files for one tree transfer"
        )));
    }
    Ok(sizes)
}

/// Whether a listing of `url` holds just one file, named like `url`'s
/// last segment (what listing a file gives).
fn lists_only_itself(remote: &BTreeMap<String, u64>, url: &RemoteUrl) -> bool {
    remote.len() == 1
        && url
            .dir_name()
            .is_some_and(|name| remote.contains_key(&name))
}

/// The name a local directory's copy gets: its own name, or `None` for `.`,
/// `..`, `/` or a path ending in `/.` (their contents go straight in).
fn tree_name(dir: &Path) -> Result<Option<String>> {
    let bytes = dir.as_os_str().as_encoded_bytes();
    if matches!(bytes, b"." | b"..") || bytes.ends_with(b"/.") || bytes.ends_with(b"/..") {
        return Ok(None);
    }
    let Some(name) = dir.file_name() else {
        return Ok(None);
    };
    name.to_str()
        .map(|n| Some(n.to_string()))
        .ok_or_else(|| Error::Usage(format!("{}: the name is not UTF-8", dir.display())))
}

/// `rel` (a `/`-separated relative path) checked segment by segment like a
/// server path: a hostile listing cannot name `..`, absolute paths or
/// reserved names.
fn checked(rel: &str) -> Result<paths::RelPath> {
    let encoded: Vec<String> = rel
        .split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, crate::PATH_SEGMENT).to_string())
        .collect();
    paths::parse_request_path(&format!("/{}", encoded.join("/")))
        .map_err(|e| Error::Protocol(format!("the server listed an unusable path {rel:?}: {e}")))
}

/// The URL of `rel` under the directory `url`.
fn join_path(url: &RemoteUrl, rel: &str) -> Result<RemoteUrl> {
    let rel = checked(rel)?;
    let encoded: Vec<String> = rel
        .segments()
        .iter()
        .map(|seg| percent_encoding::utf8_percent_encode(seg, crate::PATH_SEGMENT).to_string())
        .collect();
    RemoteUrl::parse(&format!("{url}{}", encoded.join("/")))
}

/// Where `rel` goes under `dest`.
fn local_path(dest: &Path, rel: &str) -> Result<PathBuf> {
    Ok(dest.join(checked(rel)?.to_path_buf()))
}

/// Regular files under `dir` (symbolic links to files followed, to
/// directories not; partial files of downloads left out), sorted. The walk
/// is the one bounded walker of [`crate::walk`].
fn local_files(dir: &Path) -> Result<Vec<(String, PathBuf, u64)>> {
    let mut files = Vec::new();
    let mut walk = Walk::new(dir);
    while let Some(event) = walk.next() {
        let child = match event {
            Event::Child(child) => child,
            Event::Unreadable { dir, error, .. } => {
                return Err(Error::local_io(format!("reading {}", dir.display()), error));
            }
        };
        let (Some(name), Some(rel)) = (child.name(), child.rel_str()) else {
            let path = child.path.display();
            eprintln!("wsresume: {path}: skipped (the name is not UTF-8)");
            continue;
        };
        if paths::reserved_suffix(name) {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&child.path) else {
            continue;
        };
        if meta.is_dir() && !child.file_type.is_symlink() {
            walk.descend(&child);
        } else if meta.is_file() {
            files.push((rel.to_string(), child.path.clone(), meta.len()));
        }
        if files.len() > MAX_FILES {
            let dir = dir.display();
            return Err(Error::Usage(format!("{dir}: more than {MAX_FILES} files")));
        }
    }
    if walk.cut_short() {
        let dir = dir.display();
        return Err(Error::Usage(format!("{dir}: too many directories to walk")));
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_listed_paths_are_refused() {
        let dest = Path::new("/tmp/dest");
        assert_eq!(
            local_path(dest, "a/b c.bin").unwrap(),
            dest.join("a/b c.bin")
        );
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "",
            "a\\b",
            "x.wsresume-part",
            "a/\u{1}",
        ] {
            assert!(local_path(dest, bad).is_err(), "{bad:?}");
        }
        let url = RemoteUrl::parse("ws://h:1/d/").unwrap();
        assert_eq!(
            join_path(&url, "a b/c%.bin").unwrap().to_string(),
            "ws://h:1/d/a%20b/c%25.bin"
        );
    }
}
