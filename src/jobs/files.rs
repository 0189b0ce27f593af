//! The files a command line names: `get URL [DEST]` (one file, to a file
//! or standard output) and `send FILE... URL` (one file, several into a
//! directory URL, or with `-r` a tree), made into a [`Job`] and run.

use std::path::{Path, PathBuf};

use super::{Direction, FileJob, Job, Reporter, run};
use crate::client::ClientOptions;
use crate::client::connect::RemoteUrl;
use crate::client::get::Dest;
use crate::error::Error;

/// `get URL DEST`: download `url` to `dest` (chosen by [`super::dest`],
/// or standard output) and report it.
pub async fn get_file(
    url: &RemoteUrl,
    dest: Dest,
    opts: &ClientOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    let job = Job {
        direction: Direction::Get,
        files: vec![get_job(url, dest)],
        tree: false,
        probe: false,
        digests: None,
    };
    run(job, opts, reporter).await.map(drop)
}

/// The one file of a download.
pub(super) fn get_job(url: &RemoteUrl, dest: Dest) -> FileJob {
    FileJob {
        label: url.file_name().unwrap_or_else(|| url.to_string()),
        local: dest,
        remote: url.clone(),
        size: 0,
        there: None,
        into_dir: false,
        identical: None,
    }
}

/// `send FILE... URL`: each file to `url` (a directory URL, or for one
/// file the target, or a directory the server has); `recursive` sends the
/// one directory given as a tree (a file given to `-r` is sent as a file,
/// as `scp -r` does).
pub async fn send(
    files: &[PathBuf],
    recursive: bool,
    url: &RemoteUrl,
    opts: &ClientOptions,
    reporter: &dyn Reporter,
) -> anyhow::Result<()> {
    if recursive {
        let [dir] = files else {
            return Err(Error::Usage("send -r takes one directory".into()).into());
        };
        if !std::fs::metadata(dir).is_ok_and(|m| m.is_file()) {
            return super::tree::send_tree(dir, url, opts, reporter).await;
        }
    }
    if let Some(dir) = files.iter().find(|f| f.is_dir()) {
        return Err(Error::Usage(format!("{} is a directory: use -r", dir.display())).into());
    }
    let job = Job {
        direction: Direction::Send,
        files: send_jobs(files, url)?,
        tree: false,
        probe: false,
        digests: None,
    };
    run(job, opts, reporter).await.map(drop)
}

/// The uploads of `send FILE... URL`.
fn send_jobs(files: &[PathBuf], url: &RemoteUrl) -> Result<Vec<FileJob>, Error> {
    let files: Vec<PathBuf> = files
        .iter()
        .map(|f| stdin_as_file(f))
        .collect::<Result<_, _>>()?;
    let to_dir = url.is_dir() || files.len() > 1;
    if files.len() > 1 && !url.is_dir() {
        return Err(Error::Usage(format!(
            "{url}: several files go to a directory URL ending in '/'"
        )));
    }
    files
        .into_iter()
        .map(|file| {
            let name = crate::client::send::file_name(&file)?;
            Ok(FileJob {
                remote: if to_dir {
                    url.join(&name)?
                } else {
                    url.clone()
                },
                label: name,
                size: std::fs::metadata(&file).map_or(0, |m| m.len()),
                there: None,
                // Standard input has no name to go by inside a directory.
                into_dir: !to_dir && file.as_os_str() != "/dev/stdin",
                identical: None,
                local: Dest::File(file),
            })
        })
        .collect()
}

/// `-` is standard input, when it is a regular file (`< FILE`): a pipe has
/// no size to announce and cannot be read again to resume.
fn stdin_as_file(file: &Path) -> Result<PathBuf, Error> {
    if file.as_os_str() != "-" {
        return Ok(file.to_path_buf());
    }
    let stdin = PathBuf::from("/dev/stdin");
    match std::fs::metadata(&stdin) {
        Ok(meta) if meta.is_file() => Ok(stdin),
        _ => Err(Error::Usage(
            "send -: standard input must be a regular file (send - URL < FILE); \
             a pipe cannot be resumed"
                .into(),
        )),
    }
}
