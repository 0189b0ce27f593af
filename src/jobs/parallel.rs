//! A tree's files moved in parallel: small files (at most
//! [`session::small_max`]) split among `--parallel` session connections,
//! large files (and any a session hands back: an old server, a file that
//! grew) through the per-file path with up to `--parallel` in flight, all
//! at once. Every file is reported to the [`Reporter`] as it finishes
//! (completion order), exactly as the one-by-one loop reports it.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Instant;

use anyhow::Context as _;
use futures_util::future::join_all;
use tokio::sync::{Mutex, mpsc};

use super::{Direction, FileJob, FileReport, Job, Reporter, Summary, know_local_digest, transfer};
use crate::client::ClientOptions;
use crate::client::get::Dest;
use crate::client::session::{self, Finished, SmallFile, Way};
use crate::error::Error;
use crate::progress::Progress;
use crate::report::Outcome;

/// What the reports so far add up to.
struct Tally {
    summary: Summary,
    failures: Vec<anyhow::Error>,
    done: usize,
}

/// One tree job's shared state while it runs.
struct Tree<'a> {
    job: &'a Job,
    opts: &'a ClientOptions,
    reporter: &'a dyn Reporter,
    progress: Progress,
    tally: RefCell<Tally>,
    started: Instant,
}

/// Move every file of the tree `job`; the summary and the failures.
pub async fn run(
    job: &Job,
    opts: &ClientOptions,
    reporter: &dyn Reporter,
    summary: Summary,
) -> (Summary, Vec<anyhow::Error>) {
    let count = job.files.len();
    let total = job.files.iter().map(|f| f.size).sum();
    let tree = Tree {
        job,
        opts,
        reporter,
        progress: Progress::new(opts.progress, !opts.quiet, count, total),
        tally: RefCell::new(Tally {
            summary,
            failures: Vec::new(),
            done: 0,
        }),
        started: Instant::now(),
    };
    let (small, large) = tree.split();
    let index = job.digests.clone();
    let parallel = opts.parallel.max(1);
    let (work_tx, work_rx) = mpsc::unbounded_channel();
    for index in large {
        let _ = work_tx.send(index);
    }
    let work_rx = Mutex::new(work_rx);
    let (session_tx, mut session_rx) = mpsc::unbounded_channel();
    let way = match job.direction {
        Direction::Get => Way::Get,
        Direction::Send => Way::Send,
    };
    let sessions = async {
        let runs = groups(small, parallel).into_iter().map(|group| {
            let reports = session_tx.clone();
            session::run(opts, way, group, &tree.progress, reports, index.clone())
        });
        join_all(runs).await;
        drop(session_tx);
    };
    let router = async {
        while let Some((index, finished)) = session_rx.recv().await {
            match finished {
                Finished::PerFile => {
                    let _ = work_tx.send(index);
                }
                Finished::Done(outcome) => tree.settle_session(index, Ok(outcome)),
                Finished::Failed(e) => tree.settle_session(index, Err(e)),
            }
        }
        drop(work_tx);
    };
    let workers = join_all((0..parallel).map(|_| tree.worker(&work_rx)));
    tokio::join!(sessions, router, workers);
    save_index(index).await;
    tree.progress.finish();
    let tally = tree.tally.into_inner();
    (tally.summary, tally.failures)
}

impl Tree<'_> {
    /// The files a session takes, and the indices of the others. A
    /// download's directories are made first (a failure fails the files
    /// that go there).
    fn split(&self) -> (Vec<SmallFile>, Vec<usize>) {
        let max = session::small_max(self.opts);
        let mut made = BTreeSet::new();
        let (mut small, mut large) = (Vec::new(), Vec::new());
        for (index, file) in self.job.files.iter().enumerate() {
            let Dest::File(local) = &file.local else {
                large.push(index);
                continue;
            };
            if self.job.direction == Direction::Get
                && let Some(parent) = local.parent().filter(|p| !p.as_os_str().is_empty())
                && made.insert(parent.to_path_buf())
                && let Err(e) = std::fs::create_dir_all(parent)
            {
                let what = format!("creating the directory of {}", local.display());
                made.remove(parent);
                self.settle_session(index, Err(Error::local_io(what, e)));
                continue;
            }
            if let Some(sha256) = &file.identical {
                let outcome = Outcome {
                    bytes: file.size,
                    sha256: sha256.clone(),
                    resumed_from: file.size,
                    transferred: 0,
                    attempts: 1,
                    skipped: true,
                };
                self.progress.advance(file.size);
                self.settle_session(index, Ok(outcome));
                continue;
            }
            // An old server (found by the listing's connection): file by file.
            if file.size > max || self.opts.contact.old_server() {
                large.push(index);
                continue;
            }
            small.push(SmallFile {
                id: index,
                remote: file.remote.clone(),
                local: local.clone(),
            });
        }
        (small, large)
    }

    /// Move files from the queue through the per-file path until it is
    /// closed.
    async fn worker(&self, work: &Mutex<mpsc::UnboundedReceiver<usize>>) {
        loop {
            let next = work.lock().await.recv().await;
            let Some(index) = next else {
                return;
            };
            let file = &self.job.files[index];
            know_local_digest(file).await;
            let started = Instant::now();
            let progress = self.progress.file(&file.label);
            let (source, target, result) =
                transfer(self.job.direction, self.opts, file, &progress).await;
            self.settle(file, &source, &target, started, result);
        }
    }

    /// Report a file a session finished, named and with the context the
    /// per-file path gives it.
    fn settle_session(&self, index: usize, result: crate::error::Result<Outcome>) {
        let file = &self.job.files[index];
        let local = match &file.local {
            Dest::File(path) => path.display().to_string(),
            Dest::Stdout => "-".to_string(),
        };
        let remote = file.remote.to_string();
        let (source, target, result) = match self.job.direction {
            Direction::Get => {
                let result = match result {
                    Err(e @ Error::IsDirectory(_)) => Err(e.into()),
                    other => other.with_context(|| format!("downloading {remote} to {local}")),
                };
                (remote, local, result)
            }
            Direction::Send => {
                let result = result.with_context(|| format!("sending {local} to {remote}"));
                (local, remote, result)
            }
        };
        self.settle(file, &source, &target, self.started, result);
    }

    /// Report one file and count it.
    fn settle(
        &self,
        file: &FileJob,
        source: &str,
        target: &str,
        started: Instant,
        result: anyhow::Result<Outcome>,
    ) {
        let count = self.job.files.len();
        let report = FileReport {
            op: self.job.direction.op(),
            source,
            target,
            elapsed: started.elapsed(),
            result: &result,
            files: count,
        };
        self.reporter.file(&self.progress, &report);
        let mut tally = self.tally.borrow_mut();
        match result {
            Ok(outcome) if outcome.skipped => tally.summary.skipped += 1,
            Ok(_) => tally.summary.moved += file.size,
            Err(e) => tally.failures.push(e),
        }
        tally.done += 1;
        self.progress.file_done(tally.done, count);
    }
}

/// Replace the index on disk (every session is over).
async fn save_index(index: Option<session::Index>) {
    let Some(index) = index else {
        return;
    };
    let taken = index.lock().map(|mut index| std::mem::take(&mut *index));
    if let Ok(taken) = taken {
        let _ = tokio::task::spawn_blocking(move || taken.save()).await;
    }
}

/// `files` dealt round robin into at most `n` non-empty groups.
fn groups(files: Vec<SmallFile>, n: usize) -> Vec<Vec<SmallFile>> {
    let mut groups: Vec<Vec<SmallFile>> = (0..n).map(|_| Vec::new()).collect();
    for (at, file) in files.into_iter().enumerate() {
        groups[at % n].push(file);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::connect::RemoteUrl;

    #[test]
    fn files_are_dealt_into_non_empty_groups() {
        let file = |id| SmallFile {
            id,
            remote: RemoteUrl::parse("ws://h:1/f").unwrap(),
            local: "f".into(),
        };
        let ids = |groups: Vec<Vec<SmallFile>>| -> Vec<Vec<usize>> {
            groups
                .into_iter()
                .map(|g| g.into_iter().map(|f| f.id).collect())
                .collect()
        };
        assert_eq!(
            ids(groups((0..5).map(file).collect(), 2)),
            [vec![0, 2, 4], vec![1, 3]]
        );
        assert_eq!(
            ids(groups((0..2).map(file).collect(), 4)),
            [vec![0], vec![1]]
        );
        assert!(groups(Vec::new(), 3).is_empty());
    }
}
