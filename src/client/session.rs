//! Sessions (`wsresume.v2`): many small files over one connection, the
//! requests pipelined (at most [`MAX_OUTSTANDING`] unanswered, and
//! [`MAX_EAGER_BYTES`] of eager upload data), the answers taken in order.
//!
//! A download is verified in memory (whole-file digest, and each `chunk`
//! check if any), then made durable with others in a [`batch::Batch`]
//! before it is reported. An upload is an eager `put` (its data and `eof`
//! follow at once); its `done` means the server holds it durably.
//! [`retry::run`] drives the attempts: a cut connection sends again what is
//! still unanswered; a file once answered is never sent again. A per-file
//! refusal fails that file only. An old server (v1 echo) takes nothing:
//! every file goes back to the caller for the per-file path, as does a
//! file that grew past what a session carries.

mod batch;
mod get;
mod put;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::ClientOptions;
use super::connect::RemoteUrl;
use super::connection::{Connection, Frame};
use super::retry::{self, Attempts, Recovery};
use crate::digests::{self, Identity, TreeDigests};
use crate::error::{Error, Result};
use crate::progress::{FileProgress, Progress};
use crate::protocol::{ErrorCode, Message, SMALL_FILE_MAX};
use crate::report::Outcome;

/// Most requests unanswered on one connection.
pub const MAX_OUTSTANDING: usize = 64;
/// Most bytes of eager `put` data unanswered on one connection.
pub const MAX_EAGER_BYTES: u64 = 16 << 20;

/// Largest file a session takes with these options (one chunk at most).
pub fn small_max(opts: &ClientOptions) -> u64 {
    SMALL_FILE_MAX.min(opts.chunk_size)
}

/// One small file of a session.
#[derive(Debug, Clone)]
pub struct SmallFile {
    /// The caller's id, given back with the file's result.
    pub id: usize,
    /// The remote side.
    pub remote: RemoteUrl,
    /// The local side: the file sent, or where the download goes.
    pub local: PathBuf,
}

/// How a file of a session ended.
#[derive(Debug)]
pub enum Finished {
    /// In place (and durable) on the receiving side, or skipped.
    Done(Outcome),
    /// Failed; other files go on.
    Failed(Error),
    /// Not for a session (an old server, or the file grew): the caller
    /// moves it with the per-file path.
    PerFile,
}

/// Which way a session moves its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Downloads.
    Get,
    /// Uploads.
    Send,
}

/// Where a session sends each file's result, as soon as it is final.
pub type Reports = tokio::sync::mpsc::UnboundedSender<(usize, Finished)>;

/// A batch's results: each file's id, SHA-256 and whether it is in place.
type Flushed = Vec<(usize, String, Result<()>)>;
/// A batch being made durable on a blocking thread.
type Flush = tokio::task::JoinHandle<Flushed>;

/// A tree's digest index, shared by its sessions and their batches.
pub type Index = Arc<Mutex<TreeDigests>>;

/// The digest of the local file at `path` (with `identity`): from the
/// tree's index, else from its own cache entry, else (a small file only,
/// whose digest a killed run did not get to keep) read once and kept in
/// the index.
fn lookup_digest(index: Option<&Index>, path: &Path, identity: &Identity) -> Option<String> {
    if let Some(index) = index
        && let Ok(mut index) = index.lock()
        && let Some(sha256) = index.lookup(path, identity)
    {
        return Some(sha256);
    }
    if let Some(sha256) = digests::lookup(path, identity) {
        return Some(sha256);
    }
    let index = index?;
    let sha256 = digests::hash_small(path, identity, crate::protocol::SMALL_FILE_MAX)?;
    if let Ok(mut index) = index.lock() {
        index.record(path, *identity, &sha256);
    }
    Some(sha256)
}

/// Keep the digest of the local file at `path` (as `meta` describes it):
/// in the tree's index when there is one (one file for the whole tree),
/// else in its own cache entry.
fn record_digest(index: Option<&Index>, path: &Path, meta: &std::fs::Metadata, sha256: &str) {
    match index.and_then(|index| index.lock().ok()) {
        Some(mut index) => index.record(path, Identity::of(meta), sha256),
        None => digests::record(path, meta, sha256),
    }
}

/// Move `files` over one session connection (reconnecting as needed),
/// sending each file's result to `reports`; bytes moved count on
/// `progress`'s overall bar; digests are kept in `index` when given.
pub async fn run(
    opts: &ClientOptions,
    way: Way,
    files: Vec<SmallFile>,
    progress: &Progress,
    reports: Reports,
    index: Option<Index>,
) {
    if files.is_empty() {
        return;
    }
    let mut session = Session {
        opts,
        way,
        pending: files.into(),
        batch: batch::Batch::default(),
        flushing: None,
        awaiting: HashMap::new(),
        strikes: HashMap::new(),
        answered: 0,
        attempt: 0,
        restart: false,
        progress,
        reports,
        index,
    };
    let ran = retry::run(opts, &FileProgress::hidden(), &mut session).await;
    // Whatever was verified is kept, even when the session gave up.
    session.flush_everything().await;
    let pending = std::mem::take(&mut session.pending);
    for file in pending {
        let finished = match &ran.result {
            Ok(End::Done) => Finished::Failed(Error::Protocol("the session ended early".into())),
            Ok(End::OldServer) => Finished::PerFile,
            Err(e) => Finished::Failed(copy_error(e)),
        };
        session.report(file.id, finished);
    }
}

/// How a session's attempts ended.
#[derive(Debug)]
enum End {
    /// Every file was answered.
    Done,
    /// The server does not speak sessions: nothing was sent.
    OldServer,
}

/// A session across its attempts.
struct Session<'a> {
    opts: &'a ClientOptions,
    way: Way,
    /// Files not yet answered, in request order.
    pending: VecDeque<SmallFile>,
    /// Verified downloads waiting to be made durable.
    batch: batch::Batch,
    /// The batch being made durable, on a blocking thread.
    flushing: Option<Flush>,
    /// Downloads verified, reported once their batch is durable.
    awaiting: HashMap<usize, Outcome>,
    /// Files whose data failed its check once (the second time fails them).
    strikes: HashMap<usize, u32>,
    /// Files answered so far (the retry runner's progress mark).
    answered: u64,
    /// Attempts started.
    attempt: u32,
    /// The connection was dropped on purpose: reconnect at once.
    restart: bool,
    progress: &'a Progress,
    reports: Reports,
    /// The tree's digest index.
    index: Option<Index>,
}

/// What one connection of a session has outstanding.
#[derive(Default)]
struct Wire {
    /// What was sent for each of the first files of `pending`.
    sent: VecDeque<Sent>,
    /// Eager upload bytes unanswered.
    eager_bytes: u64,
    /// The download being received (the first of `sent`).
    receiving: Option<get::Receiving>,
}

/// What was sent for one file.
#[derive(Default)]
struct Sent {
    /// Download: what the target held, as `have` told the server.
    held: Option<get::Held>,
    /// Upload: what was read and sent.
    upload: Option<put::Prepared>,
}

impl Attempts for Session<'_> {
    type Output = End;

    async fn attempt(&mut self) -> Result<End> {
        self.attempt += 1;
        let Some(first) = self.pending.front() else {
            return Ok(End::Done);
        };
        let url = first.remote.clone();
        let mut conn = Connection::connect(&url, self.opts).await?;
        if !conn.is_session() {
            tracing::info!("{url}: the server does not speak sessions; file by file");
            conn.close().await;
            return Ok(End::OldServer);
        }
        let mut wire = Wire::default();
        loop {
            self.fill(&mut conn, &mut wire).await;
            if wire.sent.is_empty() {
                break;
            }
            let hold = self.batch.full() && self.flushing.is_some();
            tokio::select! {
                frame = conn.read_answer(), if !hold => self.take(frame?, &mut wire)?,
                flushed = flush_done(&mut self.flushing), if self.flushing.is_some() => {
                    self.flushing = None;
                    self.report_flushed(flushed);
                }
            }
            self.start_flush();
        }
        if let Some(packed) = conn.packed_summary() {
            tracing::debug!("session to {url}: {packed}");
        }
        conn.close().await;
        Ok(End::Done)
    }

    fn progress_mark(&self) -> u64 {
        self.answered
    }

    async fn after_failure(&mut self, error: Error) -> Recovery<End> {
        if std::mem::take(&mut self.restart) {
            return Recovery::Again;
        }
        Recovery::Retry(error)
    }
}

impl Session<'_> {
    /// Send requests until the limits are reached or every file is asked
    /// for.
    async fn fill(&mut self, conn: &mut Connection, wire: &mut Wire) {
        while wire.sent.len() < MAX_OUTSTANDING && wire.sent.len() < self.pending.len() {
            if self.way == Way::Send && wire.eager_bytes >= MAX_EAGER_BYTES {
                break;
            }
            let at = wire.sent.len();
            let file = &self.pending[at];
            let sent = match self.way {
                Way::Get => Ok(get::request(conn, file, self.opts, self.index.as_ref())),
                Way::Send => put::request(conn, file, self.opts, &mut wire.eager_bytes).await,
            };
            match sent {
                Ok(sent) => wire.sent.push_back(sent),
                Err(finished) => {
                    if let Some(file) = self.pending.remove(at) {
                        self.report(file.id, finished);
                    }
                }
            }
        }
    }

    /// One frame of the answer to the first unanswered request.
    fn take(&mut self, frame: Frame, wire: &mut Wire) -> Result<()> {
        if let Frame::Control(Message::Error { code, message }) = &frame
            && ends_connection(*code)
        {
            return Err(code.into_error(message.clone()));
        }
        match self.way {
            Way::Get => self.take_download(frame, wire),
            Way::Send => self.take_upload(frame, wire),
        }
    }

    /// The first unanswered file is answered: it leaves `pending`.
    fn answered(&mut self, wire: &mut Wire) -> Option<(SmallFile, Sent)> {
        let file = self.pending.pop_front()?;
        let sent = wire.sent.pop_front().unwrap_or_default();
        if let Some(upload) = &sent.upload {
            wire.eager_bytes = wire.eager_bytes.saturating_sub(upload.size);
        }
        self.answered += 1;
        Some((file, sent))
    }

    /// The first unanswered file's data failed its check: ask again once
    /// (at the end of the queue), then fail it.
    fn strike(&mut self, file: SmallFile, why: String) {
        let strikes = self.strikes.entry(file.id).or_default();
        *strikes += 1;
        if *strikes >= 2 {
            self.report(file.id, Finished::Failed(Error::Unrepairable(why)));
        } else {
            tracing::info!("{}: {why}; asking again", file.remote);
            self.pending.push_back(file);
        }
    }

    fn report(&self, id: usize, finished: Finished) {
        let _ = self.reports.send((id, finished));
    }

    /// Start making the batch durable, unless a flush is running.
    fn start_flush(&mut self) {
        if self.flushing.is_some() || self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let index = self.index.clone();
        self.flushing = Some(tokio::task::spawn_blocking(move || {
            batch.flush(|path, meta, sha256| record_digest(index.as_ref(), path, meta, sha256))
        }));
    }

    /// Report the files of a finished flush.
    fn report_flushed(&mut self, flushed: std::result::Result<Flushed, tokio::task::JoinError>) {
        let results = match flushed {
            Ok(results) => results,
            Err(e) => {
                let ids: Vec<usize> = self.awaiting.keys().copied().collect();
                for id in ids {
                    let e = Error::local_io("writing files", std::io::Error::other(e.to_string()));
                    self.awaiting.remove(&id);
                    self.report(id, Finished::Failed(e));
                }
                return;
            }
        };
        for (id, _, result) in results {
            let Some(outcome) = self.awaiting.remove(&id) else {
                continue;
            };
            match result {
                Ok(()) => self.report(id, Finished::Done(outcome)),
                Err(e) => self.report(id, Finished::Failed(e)),
            }
        }
    }

    /// Wait for the running flush and flush what is left.
    async fn flush_everything(&mut self) {
        loop {
            if let Some(flushing) = self.flushing.take() {
                let flushed = flushing.await;
                self.report_flushed(flushed);
            }
            if self.batch.is_empty() {
                return;
            }
            self.start_flush();
        }
    }
}

/// The running flush's result (pending forever without one).
async fn flush_done(
    flushing: &mut Option<Flush>,
) -> std::result::Result<Flushed, tokio::task::JoinError> {
    match flushing {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}

/// Error codes that end the connection (the others answer one request).
fn ends_connection(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::BadRequest | ErrorCode::Internal | ErrorCode::GoingAway
    )
}

/// A session's final error, once for each file it leaves unanswered.
fn copy_error(e: &Error) -> Error {
    match e {
        Error::Usage(m) => Error::Usage(m.clone()),
        Error::LocalIo { context, source } => Error::local_io(
            context.clone(),
            std::io::Error::new(source.kind(), source.to_string()),
        ),
        Error::Network(m) => Error::Network(m.clone()),
        Error::UnknownHost(m) => Error::UnknownHost(m.clone()),
        Error::ConnectionRefused(m) => Error::ConnectionRefused(m.clone()),
        Error::Tls(m) => Error::Tls(m.clone()),
        Error::Auth(m) => Error::Auth(m.clone()),
        Error::Protocol(m) => Error::Protocol(m.clone()),
        Error::Refused(m) => Error::Refused(m.clone()),
        Error::NotFound(m) => Error::NotFound(m.clone()),
        Error::IsDirectory(m) => Error::IsDirectory(m.clone()),
        Error::Locked(m) => Error::Locked(m.clone()),
        Error::Integrity(m) => Error::Integrity(m.clone()),
        Error::Unrepairable(m) => Error::Unrepairable(m.clone()),
        Error::Interrupted => Error::Interrupted,
        Error::RetriesExhausted { attempts, last } => Error::RetriesExhausted {
            attempts: *attempts,
            last: Box::new(copy_error(last)),
        },
        Error::Several {
            failed,
            count,
            first,
        } => Error::Several {
            failed: *failed,
            count: *count,
            first: *first,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_error_is_copied_with_its_exit_code() {
        let cases = [
            Error::Network("cut".into()),
            Error::Auth("token".into()),
            Error::Tls("cert".into()),
            Error::RetriesExhausted {
                attempts: 3,
                last: Box::new(Error::Integrity("bad".into())),
            },
            Error::local_io("writing x", std::io::Error::other("full")),
        ];
        for e in cases {
            let copy = copy_error(&e);
            assert_eq!(copy.to_string(), e.to_string());
            assert_eq!(copy.exit_code(), e.exit_code());
        }
        assert!(ends_connection(ErrorCode::GoingAway));
        assert!(!ends_connection(ErrorCode::NotFound));
    }
}
