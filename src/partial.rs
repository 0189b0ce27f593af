//! Partial files and their durable state: the one place that decides what is
//! verified on disk and how a transfer resumes from it.
//!
//! A transfer into `dir/name` keeps three files next to the target (and a
//! download holds `name.wsresume-lock` while it runs: [`lock`]):
//! - `name.wsresume-part`: the data, written at its final offsets;
//! - `name.wsresume-chunks`: an append-only log of 32-byte SHA-256 chaining
//!   values, one per verified chunk;
//! - `name.wsresume-state`: a small JSON record, replaced atomically (write
//!   `name.wsresume-tmp`, fsync, rename), naming the source, the chunk size
//!   and how many chunks of the log are committed.
//!
//! Commit order is data fsync → log append + fsync → state rename, so the state
//! never counts a chunk whose bytes and hash are not already durable. While
//! data flows, writeback of what was written starts every few MiB, the data
//! fsync runs in the background ([`syncer`]) and the chunks it covers are
//! recorded once it has returned; verified data waits to be recorded at most
//! about [`COMMIT_INTERVAL`] and [`MAX_UNRECORDED_BYTES`].
//! A partial whose size and mtime still match the state is trusted after
//! re-hashing its last chunk only; otherwise every chunk is re-verified against
//! the log and the partial is cut back to the first chunk that fails
//! ([`check`]). The state file's format is [`state`]'s. The partial is the
//! transfer engine's [`ChunkSink`] for files.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

mod check;
mod lock;
pub mod small;
mod state;
mod syncer;
#[cfg(test)]
mod tests;
pub use lock::{Held, TargetLock, lock_path};
use state::StateRecord;
pub use state::{expire, is_expiry_marker, write_atomically};
use syncer::Syncer;

use crate::chain::ChainState;
use crate::error::{Error, Result};
use crate::transfer::receiver::ChunkSink;
pub use crate::transfer::receiver::Placed;

/// Suffixes of the files kept next to a target: the one list in `paths`.
use crate::paths::{CHUNKS_SUFFIX, PART_SUFFIX, STATE_SUFFIX, TMP_SUFFIX};
/// Commit verified chunks at least this often while data flows.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(100);
/// ... and whenever this many chunks are waiting.
const MAX_PENDING: usize = 256;
/// ... or this much verified data (a background sync starts then).
const SYNC_AT_BYTES: u64 = 8 << 20;
/// Verified data waiting to be recorded never exceeds this (or one chunk):
/// past it, with a background sync still running, the next chunk waits for
/// that sync and records what it covered.
pub const MAX_UNRECORDED_BYTES: u64 = 2 * SYNC_AT_BYTES;
/// With a background sync still running, wait for it at this many chunks.
const MAX_PENDING_WHILE_SYNCING: usize = 4 * MAX_PENDING;
/// Start writeback of written data every this many bytes, so that the data
/// sync of a commit finds little left to write.
const WRITEBACK_BYTES: u64 = 2 << 20;
/// Up to this much verified data is committed in line: syncing it is quick,
/// and a slow transfer then records each chunk at once rather than one
/// chunk later, when a background sync has returned.
const INLINE_COMMIT_BYTES: u64 = 4 << 20;
const STATE_LEN: u64 = 32;
/// Most chaining values a finished partial hands on (4 MiB of them).
const MAX_PLACED_STATES: usize = 1 << 17;

/// The files a transfer into `target` keeps next to it.
#[derive(Debug, Clone)]
pub struct PartialPaths {
    /// The final file.
    pub target: PathBuf,
    /// Data being received.
    pub part: PathBuf,
    /// The state record.
    pub state: PathBuf,
    /// The log of chunk chaining values.
    pub chunks: PathBuf,
    /// Scratch name for atomic state updates.
    pub tmp: PathBuf,
}

impl PartialPaths {
    /// The partial files for `target`: its file name plus a suffix, beside it.
    pub fn for_target(target: &Path) -> PartialPaths {
        let with = |suffix: &str| {
            let mut name = target.file_name().unwrap_or_default().to_os_string();
            name.push(suffix);
            target.with_file_name(name)
        };
        PartialPaths {
            target: target.to_path_buf(),
            part: with(PART_SUFFIX),
            state: with(STATE_SUFFIX),
            chunks: with(CHUNKS_SUFFIX),
            tmp: with(TMP_SUFFIX),
        }
    }

    /// Remove the partial files when they are an upload of `source`, whose
    /// file the target already holds; another source's partial is kept.
    /// Whether they were removed.
    pub fn remove_if_from(&self, source: &SourceIdentity) -> Result<bool> {
        match self.read_record()? {
            Some(Ok(record)) if record.source == *source => self.remove_all().map(|()| true),
            _ => Ok(false),
        }
    }

    /// The state record: none, unusable (why), or as stored.
    fn read_record(&self) -> Result<Option<std::result::Result<StateRecord, String>>> {
        match fs::read_to_string(&self.state) {
            Ok(text) => Ok(Some(StateRecord::parse(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &self.state, e)),
        }
    }

    /// Remove every partial file (not the target), ignoring ones not there.
    pub fn remove_all(&self) -> Result<()> {
        for path in [&self.part, &self.state, &self.chunks, &self.tmp] {
            match fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_err("removing", path, e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What the data in a partial was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceIdentity {
    /// Server etag (downloads) or the client's source id (uploads).
    pub id: String,
    /// The source's size in bytes.
    pub size: u64,
}

/// A partial file open for writing, with its verified prefix.
#[derive(Debug)]
pub struct Partial {
    paths: PartialPaths,
    source: SourceIdentity,
    chunk_size: u64,
    part: File,
    chunks: File,
    committed_chunks: u64,
    pending: Vec<ChainState>,
    verified_state: ChainState,
    last_commit: Instant,
    finished: bool,
    /// The disk filled up and the part file was cut back: no more writes.
    cut_short: bool,
    /// A data sync failed. The kernel reports a writeback error once per
    /// open file, so a later sync could return Ok for data that never
    /// reached the disk: nothing more is recorded, and every commit fails.
    sync_failed: bool,
    /// The part file's (length, mtime) as last written to the state.
    recorded: (u64, u64),
    /// Background data syncs while data flows; started on first use.
    syncer: Option<Syncer>,
    /// Written bytes not yet handed to writeback: the range they span.
    unflushed: Option<(u64, u64)>,
    /// Applied to the part file just before the rename.
    attrs: crate::attrs::FileAttrs,
    /// Filled after the rename.
    placed: Placed,
    /// The target's lock, released when the partial is dropped (after its
    /// last commit), shared with the run that took it.
    lock: Option<Arc<TargetLock>>,
}

/// The outcome of opening an existing partial.
#[derive(Debug)]
pub struct Reopened {
    /// The partial, cut back to its verified prefix.
    pub partial: Partial,
    /// Something the user should be told (a touched or damaged partial).
    pub note: Option<String>,
}

impl Partial {
    /// Start a new, empty partial for `paths`, discarding any earlier one.
    pub fn create(paths: PartialPaths, source: SourceIdentity, chunk_size: u64) -> Result<Partial> {
        paths.remove_all()?;
        let mut partial = Partial::open(paths, source, chunk_size, 0, true)?;
        partial.write_state(ChainState::INITIAL)?;
        sync_parent(&partial.paths.target)?;
        Ok(partial)
    }

    /// Reopen the partial for `paths` if one is there. A state file that is
    /// damaged or from another format, or a partial of another source than
    /// `expected` (checked before any data is re-read), yields `Err(reason)`
    /// in the inner result, so the caller can tell the user and start again.
    pub fn reopen(
        paths: PartialPaths,
        expected: Option<&SourceIdentity>,
    ) -> Result<Option<std::result::Result<Reopened, String>>> {
        let record = match paths.read_record()? {
            None => return Ok(None),
            Some(Ok(record)) => record,
            Some(Err(reason)) => return Ok(Some(Err(reason))),
        };
        if expected.is_some_and(|source| *source != record.source) {
            return Ok(Some(Err(
                "the source differs from the partial upload's".into()
            )));
        }
        if !paths.part.exists() || !paths.chunks.exists() {
            return Ok(Some(Err("partial data is missing".into())));
        }
        let source = record.source.clone();
        let mut partial = Partial::open(
            paths,
            source,
            record.chunk_size,
            record.verified_chunks,
            false,
        )?;
        let note = partial.validate(&record)?;
        Ok(Some(Ok(Reopened { partial, note })))
    }

    /// Open (or create, truncating) the part file and chunk log with
    /// `committed` chunks recorded; the chaining value is set by the caller.
    fn open(
        paths: PartialPaths,
        source: SourceIdentity,
        chunk_size: u64,
        committed: u64,
        truncate: bool,
    ) -> Result<Partial> {
        Ok(Partial {
            part: open_rw(&paths.part, truncate)?,
            chunks: open_rw(&paths.chunks, truncate)?,
            paths,
            source,
            chunk_size,
            committed_chunks: committed,
            pending: Vec::new(),
            verified_state: ChainState::INITIAL,
            last_commit: Instant::now(),
            finished: false,
            cut_short: false,
            sync_failed: false,
            recorded: (0, 0),
            syncer: None,
            unflushed: None,
            attrs: crate::attrs::FileAttrs::default(),
            placed: Placed::default(),
            lock: None,
        })
    }

    /// Hold the target's `lock` until this partial is dropped, after its
    /// last commit (on the writer's thread), even when the run ended first.
    pub fn holding(mut self, lock: Option<Arc<TargetLock>>) -> Partial {
        self.lock = lock;
        self
    }

    /// Give the finished file these attributes (mtime, mode) before the
    /// rename.
    pub fn set_attrs(&mut self, attrs: crate::attrs::FileAttrs) {
        self.attrs = attrs;
    }

    /// Where the finished file's metadata appears after the rename.
    pub fn placed(&self) -> Placed {
        self.placed.clone()
    }

    /// What the data was taken from.
    pub fn source(&self) -> &SourceIdentity {
        &self.source
    }

    /// The verification unit of this partial.
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Bytes verified (committed or waiting to be) and the chaining value there.
    pub fn verified(&self) -> (u64, ChainState) {
        let chunks = self.committed_chunks + self.pending.len() as u64;
        (chunks * self.chunk_size, self.verified_state)
    }

    /// Write received (not yet verified) bytes at `offset`.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        if self.cut_short {
            return Err(Error::local_io(
                format!("writing {}", self.paths.part.display()),
                std::io::ErrorKind::StorageFull.into(),
            ));
        }
        self.part
            .write_all_at(data, offset)
            .map_err(|e| io_err("writing", &self.paths.part, e))?;
        self.start_writeback(offset, offset + data.len() as u64);
        self.record_synced()
    }

    /// Add `start..end` to the written range; once it spans
    /// [`WRITEBACK_BYTES`], start its writeback without waiting for it.
    fn start_writeback(&mut self, start: u64, end: u64) {
        let (from, to) = match self.unflushed {
            Some((from, to)) => (from.min(start), to.max(end)),
            None => (start, end),
        };
        if to - from < WRITEBACK_BYTES {
            self.unflushed = Some((from, to));
            return;
        }
        self.unflushed = None;
        if let Err(e) = syncer::start_writeback(&self.part, from, to - from) {
            tracing::debug!("starting writeback of {}: {e}", self.paths.part.display());
        }
    }

    /// Count the chunk ending at the verified offset plus one chunk as
    /// verified; it becomes durable once a data sync that started after it
    /// was written has returned (in the background), or at the next commit.
    pub fn chunk_verified(&mut self, state: ChainState) -> Result<()> {
        self.pending.push(state);
        self.verified_state = state;
        self.record_synced()?;
        let due = self.pending.len() >= MAX_PENDING
            || self.pending_bytes() >= SYNC_AT_BYTES
            || self.last_commit.elapsed() >= COMMIT_INTERVAL;
        if !due {
            return Ok(());
        }
        if self.syncer.as_ref().is_some_and(Syncer::busy) {
            let over = self.pending.len() >= MAX_PENDING_WHILE_SYNCING
                || self.pending_bytes() > MAX_UNRECORDED_BYTES.max(self.chunk_size);
            if !over {
                return Ok(());
            }
            // Wait for the running sync and record what it covered; the
            // chunks verified since then are synced below.
            let finished = self.syncer.as_mut().and_then(Syncer::wait);
            self.take_sync(finished)?;
        }
        if self.pending_bytes() <= INLINE_COMMIT_BYTES {
            return self.commit();
        }
        if self.syncer.is_none() {
            self.syncer = Syncer::spawn(&self.part).ok();
        }
        let covered = self.pending.len();
        let started = self.syncer.as_mut().is_some_and(|s| s.start(covered));
        if started { Ok(()) } else { self.commit() }
    }

    fn pending_bytes(&self) -> u64 {
        self.pending.len() as u64 * self.chunk_size
    }

    /// Record the chunks a finished background sync made durable; after a
    /// failed one, commit in line (which handles a full disk). Called on
    /// every write and verified chunk, and by the writer thread when no work
    /// arrives for a commit interval, so a finished sync is recorded within
    /// one frame or one interval.
    pub fn record_synced(&mut self) -> Result<()> {
        let finished = self.syncer.as_mut().and_then(Syncer::poll);
        self.take_sync(finished)
    }

    /// Record the chunks a background sync covered, if it `finished` well;
    /// after a failed one, commit in line.
    fn take_sync(&mut self, finished: Option<(usize, std::io::Result<()>)>) -> Result<()> {
        match finished {
            Some((covered, Ok(()))) => self.record(covered),
            Some((_, Err(e))) => Err(self.fail_sync(e)),
            None => Ok(()),
        }
    }

    /// Refuse to record or finish anything once a data sync failed.
    fn no_failed_sync(&self) -> Result<()> {
        if !self.sync_failed {
            return Ok(());
        }
        let why = "an earlier sync failed, so nothing more is recorded";
        Err(io_err(
            "syncing",
            &self.paths.part,
            std::io::Error::other(why),
        ))
    }

    /// A data sync failed: record nothing more (see `sync_failed`).
    fn fail_sync(&mut self, e: std::io::Error) -> Error {
        self.sync_failed = true;
        io_err("syncing", &self.paths.part, e)
    }

    /// Wait for a background sync; its chunks are synced again by the
    /// caller, unless it failed.
    fn stop_syncing(&mut self) -> Result<()> {
        match self.syncer.as_mut().and_then(Syncer::wait) {
            Some((_, Err(e))) => Err(self.fail_sync(e)),
            _ => Ok(()),
        }
    }

    /// Make every verified chunk durable: data, then log, then state.
    ///
    /// When the disk is full, the unverified tail of the part file (and if
    /// that is not enough, the last pending chunk) is given back so what is
    /// verified can still be recorded; the partial then takes no more
    /// writes, and the error is returned.
    pub fn commit(&mut self) -> Result<()> {
        if !self.finished {
            self.stop_syncing()?;
        }
        match self.commit_pending() {
            Err(e) if is_disk_full(&e) && !self.finished => {
                self.record_on_full_disk();
                Err(e)
            }
            other => other,
        }
    }

    /// The transfer ends here, unfinished: commit what is verified. A
    /// partial with nothing verified holds nothing worth resuming and is
    /// removed instead, so a late request of a client long gone (delivered
    /// after the file was finished by its next run) leaves nothing beside
    /// the target.
    pub fn close(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        if self.committed_chunks == 0 && self.pending.is_empty() {
            // Its syncs no longer matter: the data goes.
            let _ = self.stop_syncing();
            return self.paths.remove_all();
        }
        self.commit()
    }

    fn record_on_full_disk(&mut self) {
        self.cut_short = true;
        for _ in 0..2 {
            let (verified, _) = self.verified();
            if self.part.set_len(verified).is_ok() && self.commit_pending().is_ok() {
                return;
            }
            if self.pending.pop().is_none() {
                return;
            }
            self.verified_state = match self.pending.last() {
                Some(state) => *state,
                None => match self.logged_state(self.committed_chunks) {
                    Ok(state) => state,
                    Err(_) => return,
                },
            };
        }
    }

    fn commit_pending(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.no_failed_sync()?;
        if self.pending.is_empty() {
            // Unverified bytes may have been written since the last record:
            // record the file as it is, so the next run finds it untouched.
            let meta = self.part_metadata()?;
            if (meta.len(), mtime_ns(&meta)) != self.recorded {
                self.write_state(self.verified_state)?;
            }
            return Ok(());
        }
        if let Err(e) = self.part.sync_data() {
            return Err(self.fail_sync(e));
        }
        self.record(self.pending.len())
    }

    /// The data of the first `covered` pending chunks is durable: append
    /// their chaining values to the log, sync it, and replace the state.
    fn record(&mut self, covered: usize) -> Result<()> {
        let Some(&state) = covered.checked_sub(1).and_then(|i| self.pending.get(i)) else {
            return Ok(());
        };
        let bytes: Vec<u8> = self.pending[..covered].iter().flat_map(|s| s.0).collect();
        self.chunks
            .write_all_at(&bytes, self.committed_chunks * STATE_LEN)
            .and_then(|()| self.chunks.sync_data())
            .map_err(|e| io_err("writing", &self.paths.chunks, e))?;
        self.committed_chunks += covered as u64;
        self.pending.drain(..covered);
        self.write_state(state)?;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// The whole file is verified: cut it to size, sync it, rename it onto
    /// the target and remove the state.
    ///
    /// Until the rename succeeds the partial stays as it was, so a failure
    /// here still lets `commit` record what is verified.
    pub fn finish(&mut self) -> Result<()> {
        self.stop_syncing()?;
        self.no_failed_sync()?;
        let size = self.source.size;
        self.part
            .set_len(size)
            .map_err(|e| io_err("syncing", &self.paths.part, e))?;
        // After the truncation, which would move the mtime again.
        self.attrs.apply(&self.part).map_err(|e| {
            io_err(
                "setting the modification time or mode of",
                &self.paths.part,
                e,
            )
        })?;
        self.part
            .sync_all()
            .map_err(|e| io_err("syncing", &self.paths.part, e))?;
        fs::rename(&self.paths.part, &self.paths.target).map_err(|e| {
            io_err(
                &format!("renaming onto {} from", self.paths.target.display()),
                &self.paths.part,
                e,
            )
        })?;
        if let Ok(meta) = self.part.metadata() {
            self.placed.set(meta);
        }
        if let Some(states) = self.chain_states(MAX_PLACED_STATES) {
            self.placed.set_chain(self.chunk_size, states);
        }
        self.finished = true;
        self.pending.clear();
        // The verified file is in place: a failure to tidy up after it is
        // reported, not an error (the part file now names the target).
        let tidied = sync_parent(&self.paths.target)
            .and_then(|()| self.paths.remove_all())
            .and_then(|()| sync_parent(&self.paths.target));
        if let Err(e) = tidied {
            tracing::warn!("{} is in place, but: {e}", self.paths.target.display());
        }
        Ok(())
    }

    fn part_metadata(&self) -> Result<fs::Metadata> {
        self.part
            .metadata()
            .map_err(|e| io_err("reading metadata of", &self.paths.part, e))
    }

    /// Replace the state: `committed_chunks` chunks ending at `state`.
    fn write_state(&mut self, state: ChainState) -> Result<()> {
        let meta = self.part_metadata()?;
        self.recorded = (meta.len(), mtime_ns(&meta));
        let record = StateRecord::new(
            self.source.clone(),
            self.chunk_size,
            self.committed_chunks,
            state,
            self.recorded,
        );
        record.store(&self.paths)
    }
}

/// The transfer engine writes files through this.
impl ChunkSink for Partial {
    fn write_at(&mut self, offset: u64, data: Bytes) -> Result<()> {
        Partial::write_at(self, offset, &data)
    }
    fn chunk_verified(&mut self, state: ChainState) -> Result<()> {
        Partial::chunk_verified(self, state)
    }
    fn commit(&mut self) -> Result<()> {
        Partial::commit(self)
    }
    fn finish(&mut self) -> Result<()> {
        Partial::finish(self)
    }
    fn close(&mut self) -> Result<()> {
        Partial::close(self)
    }
    fn idle(&mut self) -> Result<()> {
        self.record_synced()
    }
    fn set_attrs(&mut self, attrs: crate::attrs::FileAttrs) {
        Partial::set_attrs(self, attrs);
    }
    fn placed(&self) -> Option<Placed> {
        Some(Partial::placed(self))
    }
}

fn open_rw(path: &Path, truncate: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .open(path)
        .map_err(|e| io_err("opening", path, e))
}

/// fsync the directory holding `path`, so a rename in it is durable.
pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("syncing directory", dir, e))
}

/// The modification time in nanoseconds since the epoch (0 if unknown).
pub fn mtime_ns(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Whether `e` says the disk (or the quota, or the file size limit) is full.
pub fn is_disk_full(e: &Error) -> bool {
    use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
    match e {
        Error::LocalIo { source, .. } => {
            matches!(source.kind(), StorageFull | QuotaExceeded | FileTooLarge)
        }
        _ => false,
    }
}

fn io_err(action: &str, path: &Path, e: std::io::Error) -> Error {
    Error::local_io(format!("{action} {}", path.display()), e)
}
