//! `get` and `send` of single files and of several files to a directory
//! URL: one progress display per command, one report per file (a `--json`
//! line and/or a summary), and the exit code when several files failed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use super::output::Output;
use crate::cli::{GetArgs, SendArgs};
use crate::client::ClientOptions;
use crate::client::connect::RemoteUrl;
use crate::client::get::Dest;
use crate::config::ClientSettings;
use crate::error::{Error, exit_code_of};
use crate::progress::{FileProgress, Progress};
use crate::report::{Outcome, json_line, summary};
use crate::{client, config};

/// One transfer's names, for its report.
pub struct Names<'a> {
    /// `get` or `send`.
    pub op: &'a str,
    /// Where the bytes come from.
    pub source: &'a str,
    /// Where they go.
    pub target: &'a str,
}

/// `wsresume get URL [DEST]`.
pub async fn get(args: GetArgs, settings: &ClientSettings, out: &Output) -> anyhow::Result<()> {
    let mut opts = config::client_options(settings, args.client.quiet)?;
    opts.wait_lock = args.wait;
    opts.preserve = args.preserve;
    let url = config::remote_url(&args.url, settings)?;
    opts.tls = config::client_tls(&args.client, &url)?;
    let dest = args.dest.as_deref();
    let to_stdout = dest.is_some_and(|d| d.as_os_str() == "-");
    if args.recursive {
        if to_stdout {
            return Err(Error::Usage("get -r cannot write to standard output".into()).into());
        }
        return super::tree::get_tree(&url, dest, args.create_dirs, &opts, out).await;
    }
    if url.is_dir() {
        return Err(Error::IsDirectory(format!("{url} is a directory: use -r")).into());
    }
    let dest = match dest {
        Some(_) if to_stdout && out.json() => {
            return Err(Error::Usage(
                "--json cannot be used with DEST '-': standard output carries the file \
                 (give a file DEST for the JSON line, or check the exit code)"
                    .into(),
            )
            .into());
        }
        Some(_) if to_stdout => Dest::Stdout,
        d => Dest::File(super::dest::file_target(d, &url, args.create_dirs)?),
    };
    get_one(&url, dest, &opts, out, false).await.map(|_| ())
}

/// Download `url` to `dest` and report it. With `probe` (`get -r` of a URL
/// that may name a file), a URL that turns out to be a directory is
/// neither reported nor an error: the result is `false`.
pub async fn get_one(
    url: &RemoteUrl,
    dest: Dest,
    opts: &ClientOptions,
    out: &Output,
    probe: bool,
) -> anyhow::Result<bool> {
    let target = match &dest {
        Dest::Stdout => "-".to_string(),
        Dest::File(p) => p.display().to_string(),
    };
    let progress = Progress::new(opts.progress, !opts.quiet, 1, 0);
    let label = url.file_name().unwrap_or_else(|| url.to_string());
    let file = progress.file(&label);
    let started = Instant::now();
    let result = client::get::get(opts, url, dest, &file).await;
    progress.finish();
    let result = match result {
        Err(Error::IsDirectory(_)) if probe => return Ok(false),
        Err(e @ Error::IsDirectory(_)) => Err(anyhow::Error::new(e)),
        other => other.with_context(|| format!("downloading {url} to {target}")),
    };
    let names = Names {
        op: "get",
        source: &url.to_string(),
        target: &target,
    };
    report(out, &progress, opts, &names, started, result).map(|_| true)
}

/// `wsresume send FILE... URL`.
pub async fn send(args: SendArgs, settings: &ClientSettings, out: &Output) -> anyhow::Result<()> {
    let mut opts = config::client_options(settings, args.client.quiet)?;
    opts.preserve = args.preserve;
    let url = config::remote_url(&args.url, settings)?;
    opts.tls = config::client_tls(&args.client, &url)?;
    if args.recursive {
        let [dir] = args.files.as_slice() else {
            return Err(Error::Usage("send -r takes one directory".into()).into());
        };
        // `send -r FILE URL` sends the file, as `scp -r` does.
        if !std::fs::metadata(dir).is_ok_and(|m| m.is_file()) {
            return super::tree::send_tree(dir, &url, &opts, out).await;
        }
    }
    if let Some(dir) = args.files.iter().find(|f| f.is_dir()) {
        return Err(Error::Usage(format!("{} is a directory: use -r", dir.display())).into());
    }
    let files: Vec<PathBuf> = args
        .files
        .iter()
        .map(|f| stdin_as_file(f))
        .collect::<Result<_, _>>()?;
    let to_dir = url.is_dir() || files.len() > 1;
    if files.len() > 1 && !url.is_dir() {
        return Err(Error::Usage(format!(
            "{url}: several files go to a directory URL ending in '/'"
        ))
        .into());
    }
    let jobs = files
        .iter()
        .map(|file| {
            let target = if to_dir {
                url.join(&file_name(file)?)?
            } else {
                url.clone()
            };
            Ok(SendJob {
                label: file_name(file)?,
                file: file.clone(),
                target,
                // Standard input has no name to go by inside a directory.
                into_dir: !to_dir && file.as_os_str() != "/dev/stdin",
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    send_files(&jobs, &opts, out).await
}

/// One file to upload.
pub struct SendJob {
    /// The local file.
    pub file: PathBuf,
    /// Where it goes.
    pub target: RemoteUrl,
    /// Its name in progress output.
    pub label: String,
    /// When `target` turns out to be a directory on the server, send the
    /// file into it under its own name (as `cp` and `scp` do).
    pub into_dir: bool,
}

/// Upload each job's file; a failure is reported and the others are still
/// sent.
pub async fn send_files(
    jobs: &[SendJob],
    opts: &ClientOptions,
    out: &Output,
) -> anyhow::Result<()> {
    let total = jobs
        .iter()
        .map(|job| std::fs::metadata(&job.file).map_or(0, |m| m.len()))
        .sum();
    let progress = Progress::new(opts.progress, !opts.quiet, jobs.len(), total);
    let mut failures = Vec::new();
    for (done, job) in jobs.iter().enumerate() {
        let file_progress = progress.file(&job.label);
        let result = send_one(opts, job, &file_progress, out, &progress).await;
        progress.file_done(done + 1, jobs.len());
        if let Err(e) = result {
            if jobs.len() > 1 {
                progress.println(&format!("wsresume: {e:#}"));
            }
            failures.push(e);
        }
    }
    progress.finish();
    several_failed(failures, jobs.len())
}

async fn send_one(
    opts: &ClientOptions,
    job: &SendJob,
    file_progress: &FileProgress,
    out: &Output,
    progress: &Progress,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let file = &job.file;
    let source = file.display().to_string();
    let sent = client::send::send_or_into(opts, file, &job.target, job.into_dir, file_progress);
    let (result, target) = match sent.await {
        Ok((outcome, target)) => (Ok(outcome), target),
        Err(e) => (Err(e), job.target.clone()),
    };
    let result = result.with_context(|| format!("sending {source} to {target}"));
    let names = Names {
        op: "send",
        source: &source,
        target: &target.to_string(),
    };
    report(out, progress, opts, &names, started, result).map(drop)
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

/// The file name a file gets in a directory URL.
fn file_name(file: &Path) -> Result<String, Error> {
    file.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| Error::Usage(format!("{}: no usable file name", file.display())))
}

/// Print the result of one transfer (JSON line and/or summary).
pub fn report(
    out: &Output,
    progress: &Progress,
    opts: &ClientOptions,
    names: &Names<'_>,
    started: Instant,
    result: anyhow::Result<Outcome>,
) -> anyhow::Result<Outcome> {
    let elapsed = started.elapsed();
    let line = json_line(names.op, names.source, names.target, elapsed, &result);
    out.json_line(Some(progress), &line);
    let outcome = result?;
    if !opts.quiet && !out.json() {
        progress.println(&summary(names.target, &outcome, elapsed));
    }
    Ok(outcome)
}

/// The result of several transfers: Ok, the only failure, or a summary
/// error carrying the first failure's exit code.
pub fn several_failed(mut failures: Vec<anyhow::Error>, count: usize) -> anyhow::Result<()> {
    match failures.len() {
        0 => Ok(()),
        _ if count == 1 => Err(failures.remove(0)),
        failed => Err(Error::Several {
            failed,
            count,
            first: exit_code_of(&failures[0]),
        }
        .into()),
    }
}
