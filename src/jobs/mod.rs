//! Jobs: what one `get` or `send` moves and the one runner that moves it.
//! A job is one file, several files or a tree, in either [`Direction`];
//! [`run`] calls the client file by file (`client::get::get`,
//! `client::send::send_or_into`), or for a tree moves small files in
//! sessions and large ones alongside ([`parallel`]), with one progress
//! display per job, keeps going past a failed file, and hands each file's
//! report and the job's summary to the caller's [`Reporter`] (the command
//! prints them).
//!
//! Building a job: the client's options from the settings ([`setup`]), the
//! files of a command line ([`files`]), of a tree ([`tree`]), and where a
//! download is written ([`dest`]).

pub mod dest;
pub mod files;
mod parallel;
pub mod setup;
pub mod tree;

pub use setup::{CommandFlags, client_job};

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::client::ClientOptions;
use crate::client::connect::RemoteUrl;
use crate::client::get::Dest;
use crate::error::{Error, exit_code_of};
use crate::progress::{FileProgress, Progress};
use crate::report::Outcome;
use crate::{client, digests};

/// Which way the bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Download: remote to local.
    Get,
    /// Upload: local to remote.
    Send,
}

impl Direction {
    /// The `op` of the reports.
    pub fn op(self) -> &'static str {
        match self {
            Direction::Get => "get",
            Direction::Send => "send",
        }
    }

    /// What happened to a file moved this way, for summaries.
    pub fn moved(self) -> &'static str {
        match self {
            Direction::Get => "downloaded",
            Direction::Send => "sent",
        }
    }
}

/// One file of a job.
#[derive(Debug, Clone)]
pub struct FileJob {
    /// Its name in progress output.
    pub label: String,
    /// The local side: the file sent, or where the download goes.
    pub local: Dest,
    /// The remote side.
    pub remote: RemoteUrl,
    /// Size on the sending side, when known (else 0): for the overall bar
    /// and the summary.
    pub size: u64,
    /// Size of what the receiving side holds already, when known.
    pub there: Option<u64>,
    /// Send only: when `remote` turns out to be a directory on the server,
    /// send the file into it under its own name (as `cp` and `scp` do).
    pub into_dir: bool,
    /// Both sides hold this SHA-256 (the digest cache against a listing
    /// with digests): reported skipped without a request.
    pub identical: Option<String>,
}

/// What to move.
#[derive(Debug)]
pub struct Job {
    /// Which way.
    pub direction: Direction,
    /// The files, in order.
    pub files: Vec<FileJob>,
    /// A tree (`-r`): the job ends with a [`Summary`] worth printing.
    pub tree: bool,
    /// A single download that may name a directory (`get -r` of a URL
    /// that lists only itself): then nothing is reported, and [`run`]
    /// answers [`Ran::IsDirectory`].
    pub probe: bool,
    /// A tree's digest index ([`crate::digests::TreeDigests`] of its local
    /// top directory), where its small files' digests are kept.
    pub digests: Option<crate::client::session::Index>,
}

/// One file's result, for the caller to print.
pub struct FileReport<'a> {
    /// `get` or `send`.
    pub op: &'static str,
    /// Where the bytes came from.
    pub source: &'a str,
    /// Where they went.
    pub target: &'a str,
    /// Time taken.
    pub elapsed: Duration,
    /// What happened (errors carry their context).
    pub result: &'a anyhow::Result<Outcome>,
    /// Files in the job: a failure among several is the caller's to print
    /// (the run goes on); the only file's failure ends the command.
    pub files: usize,
}

/// How a job ended.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Which way.
    pub direction: Direction,
    /// Whether the job was a tree.
    pub tree: bool,
    /// Files in the job.
    pub files: usize,
    /// Bytes of the files moved (not skipped, not failed).
    pub moved: u64,
    /// Files skipped: the other side held them identical.
    pub skipped: usize,
    /// Files that failed.
    pub failed: usize,
}

/// Where a job's reports go.
pub trait Reporter {
    /// One file is done (or failed); `progress` is the job's display, to
    /// print through without tearing bars.
    fn file(&self, progress: &Progress, report: &FileReport<'_>);
    /// The job is done.
    fn finished(&self, summary: &Summary);
}

/// What [`run`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// Every file was tried and reported.
    Done,
    /// A probing download named a directory: nothing was moved or reported.
    IsDirectory,
}

/// Move every file of `job` (one failure does not stop the others), report
/// each, and end with the first failure's error, or a summary error when
/// several files failed.
pub async fn run(job: Job, opts: &ClientOptions, reporter: &dyn Reporter) -> anyhow::Result<Ran> {
    let count = job.files.len();
    let summary = Summary {
        direction: job.direction,
        tree: job.tree,
        files: count,
        moved: 0,
        skipped: 0,
        failed: 0,
    };
    if job.tree && !job.probe {
        // Trees: small files in sessions, large ones alongside.
        let (mut summary, failures) = parallel::run(&job, opts, reporter, summary).await;
        summary.failed = failures.len();
        reporter.finished(&summary);
        return several_failed(failures, count).map(|()| Ran::Done);
    }
    let total = job.files.iter().map(|f| f.size).sum();
    let progress = Progress::new(opts.progress, !opts.quiet, count, total);
    let mut summary = summary;
    let mut failures = Vec::new();
    for (done, file) in job.files.iter().enumerate() {
        know_local_digest(file).await;
        let started = Instant::now();
        let (source, target, result) =
            transfer(job.direction, opts, file, &progress.file(&file.label)).await;
        if job.probe && is_directory(&result) {
            progress.finish();
            return Ok(Ran::IsDirectory);
        }
        let report = FileReport {
            op: job.direction.op(),
            source: &source,
            target: &target,
            elapsed: started.elapsed(),
            result: &result,
            files: count,
        };
        reporter.file(&progress, &report);
        match result {
            Ok(outcome) if outcome.skipped => summary.skipped += 1,
            Ok(_) => summary.moved += file.size,
            Err(e) => failures.push(e),
        }
        progress.file_done(done + 1, count);
    }
    progress.finish();
    summary.failed = failures.len();
    reporter.finished(&summary);
    several_failed(failures, count).map(|()| Ran::Done)
}

/// Move one file: (source, target, result), named as its report names
/// them (a send into a directory names the file's URL inside it).
async fn transfer(
    direction: Direction,
    opts: &ClientOptions,
    file: &FileJob,
    progress: &FileProgress,
) -> (String, String, anyhow::Result<Outcome>) {
    let local = match &file.local {
        Dest::File(path) => path.display().to_string(),
        Dest::Stdout => "-".to_string(),
    };
    let remote = file.remote.to_string();
    match (direction, &file.local) {
        (Direction::Send, Dest::Stdout) => {
            let e = Error::Usage("standard output cannot be sent".into());
            (local, remote, Err(e.into()))
        }
        (Direction::Send, Dest::File(path)) => {
            match client::send::send_or_into(opts, path, &file.remote, file.into_dir, progress)
                .await
            {
                Ok((outcome, target)) => (local, target.to_string(), Ok(outcome)),
                Err(e) => {
                    let context = format!("sending {local} to {remote}");
                    (local, remote, Err(anyhow::Error::new(e).context(context)))
                }
            }
        }
        (Direction::Get, dest) => {
            let result = get(opts, file, dest, progress).await;
            let result = match result {
                // The message says it all: `URL is a directory: use -r`.
                Err(e @ Error::IsDirectory(_)) => Err(e.into()),
                other => other.with_context(|| format!("downloading {remote} to {local}")),
            };
            (remote, local, result)
        }
    }
}

/// Download one file, creating the directories it goes into (a tree's).
async fn get(
    opts: &ClientOptions,
    file: &FileJob,
    dest: &Dest,
    progress: &FileProgress,
) -> crate::error::Result<Outcome> {
    if let Dest::File(path) = dest
        && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::local_io(format!("creating the directory of {}", path.display()), e)
        })?;
    }
    client::get::get(opts, &file.remote, dest.clone(), progress).await
}

fn is_directory(result: &anyhow::Result<Outcome>) -> bool {
    matches!(result, Err(e) if matches!(e.downcast_ref::<Error>(), Some(Error::IsDirectory(_))))
}

/// When the other side holds a file of the same size: make sure the digest
/// cache knows the local file's SHA-256 (reading it once if it does not),
/// so the transfer tells the server and is skipped if the server's file is
/// the same. A later run reads nothing.
async fn know_local_digest(file: &FileJob) {
    let Dest::File(local) = &file.local else {
        return;
    };
    if file.there != Some(file.size) {
        return;
    }
    let local = local.clone();
    let _ = tokio::task::spawn_blocking(move || digests::ensure(&local)).await;
}

/// The result of several transfers: Ok, the only failure, or a summary
/// error carrying the first failure's exit code.
fn several_failed(mut failures: Vec<anyhow::Error>, count: usize) -> anyhow::Result<()> {
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
