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
//! data flows, the data fsync runs in the background ([`syncer`]) and the
//! chunks it covers are recorded once it has returned.
//! A partial whose size and mtime still match the state is trusted after
//! re-hashing its last chunk only; otherwise every chunk is re-verified against
//! the log and the partial is cut back to the first chunk that fails.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod lock;
mod syncer;
pub use lock::{Held, TargetLock, lock_path};
use syncer::Syncer;

use crate::chain::{ChainHasher, ChainState};
use crate::error::{Error, Result};

/// Suffixes of the files kept next to a target: the one list in `paths`.
use crate::paths::{CHUNKS_SUFFIX, PART_SUFFIX, STATE_SUFFIX, TMP_SUFFIX};
const STATE_FORMAT: &str = "wsresume-state";
const STATE_VERSION: u32 = 1;
/// Commit verified chunks at least this often while data flows.
const COMMIT_INTERVAL: Duration = Duration::from_millis(100);
/// ... and whenever this many chunks are waiting.
const MAX_PENDING: usize = 256;
/// With a background sync still running, wait for it at this many.
const MAX_PENDING_WHILE_SYNCING: usize = 4 * MAX_PENDING;
/// Up to this much verified data is committed in line: syncing it is quick,
/// and a slow transfer then records each chunk at once rather than one
/// chunk later, when a background sync has returned.
const INLINE_COMMIT_BYTES: u64 = 4 << 20;
const STATE_LEN: u64 = 32;

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

/// Replace the partial at `paths` with a small marker that tells the next
/// client to resume it why it starts again; the data is removed.
pub fn expire(paths: &PartialPaths, why: &str) -> Result<()> {
    paths.remove_all()?;
    let marker = serde_json::json!({
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "expired": why,
    });
    write_atomically(&paths.tmp, &paths.state, marker.to_string().as_bytes())
}

/// Whether the state file text is an expiry marker.
pub fn is_expiry_marker(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v.get("expired").is_some_and(|e| e.is_string()))
}

/// The committed state, as stored in the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StateRecord {
    format: String,
    version: u32,
    source: SourceIdentity,
    chunk_size: u64,
    verified_chunks: u64,
    state: String,
    part_len: u64,
    part_mtime_ns: u64,
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
    /// The part file's (length, mtime) as last written to the state.
    recorded: (u64, u64),
    /// Background data syncs while data flows; started on first use.
    syncer: Option<Syncer>,
    /// Applied to the part file just before the rename.
    attrs: crate::attrs::FileAttrs,
    /// Filled after the rename.
    placed: Placed,
}

/// The finished file's metadata, taken through the open file right after
/// the rename (so it describes the file now at the target, with the times
/// the rename gave it).
pub type Placed = std::sync::Arc<std::sync::OnceLock<fs::Metadata>>;

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
        let text = match fs::read_to_string(&paths.state) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("reading", &paths.state, e)),
        };
        let record = match parse_record(&text) {
            Ok(record) => record,
            Err(reason) => return Ok(Some(Err(reason))),
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
            recorded: (0, 0),
            syncer: None,
            attrs: crate::attrs::FileAttrs::default(),
            placed: Placed::default(),
        })
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
        self.record_synced()
    }

    /// Count the chunk ending at the verified offset plus one chunk as
    /// verified; it becomes durable once a data sync that started after it
    /// was written has returned (in the background), or at the next commit.
    pub fn chunk_verified(&mut self, state: ChainState) -> Result<()> {
        self.pending.push(state);
        self.verified_state = state;
        self.record_synced()?;
        let due =
            self.pending.len() >= MAX_PENDING || self.last_commit.elapsed() >= COMMIT_INTERVAL;
        if !due {
            return Ok(());
        }
        if self.syncer.as_ref().is_some_and(Syncer::busy) {
            if self.pending.len() >= MAX_PENDING_WHILE_SYNCING {
                return self.commit();
            }
            return Ok(());
        }
        if self.pending.len() as u64 * self.chunk_size <= INLINE_COMMIT_BYTES {
            return self.commit();
        }
        if self.syncer.is_none() {
            self.syncer = Syncer::spawn(&self.part).ok();
        }
        let covered = self.pending.len();
        let started = self.syncer.as_mut().is_some_and(|s| s.start(covered));
        if started { Ok(()) } else { self.commit() }
    }

    /// Record the chunks a finished background sync made durable; after a
    /// failed one, commit in line (which handles a full disk). Called on
    /// every write and verified chunk, and by the writer thread when no work
    /// arrives for a commit interval, so a finished sync is recorded within
    /// one frame or one interval.
    pub fn record_synced(&mut self) -> Result<()> {
        match self.syncer.as_mut().and_then(Syncer::poll) {
            Some((covered, Ok(()))) => self.record(covered),
            Some((_, Err(_))) => self.commit(),
            None => Ok(()),
        }
    }

    /// Wait for a background sync; its chunks are synced again by the caller.
    fn stop_syncing(&mut self) {
        if let Some(syncer) = &mut self.syncer {
            let _ = syncer.wait();
        }
    }

    /// Make every verified chunk durable: data, then log, then state.
    ///
    /// When the disk is full, the unverified tail of the part file (and if
    /// that is not enough, the last pending chunk) is given back so what is
    /// verified can still be recorded; the partial then takes no more
    /// writes, and the error is returned.
    pub fn commit(&mut self) -> Result<()> {
        self.stop_syncing();
        match self.commit_pending() {
            Err(e) if is_disk_full(&e) && !self.finished => {
                self.record_on_full_disk();
                Err(e)
            }
            other => other,
        }
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
        if self.pending.is_empty() {
            // Unverified bytes may have been written since the last record:
            // record the file as it is, so the next run finds it untouched.
            let meta = self.part_metadata()?;
            if (meta.len(), mtime_ns(&meta)) != self.recorded {
                self.write_state(self.verified_state)?;
            }
            return Ok(());
        }
        self.part
            .sync_data()
            .map_err(|e| io_err("syncing", &self.paths.part, e))?;
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
        self.stop_syncing();
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
            let _ = self.placed.set(meta);
        }
        self.finished = true;
        self.pending.clear();
        sync_parent(&self.paths.target)?;
        self.paths.remove_all()?;
        sync_parent(&self.paths.target)
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
        let record = StateRecord {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            source: self.source.clone(),
            chunk_size: self.chunk_size,
            verified_chunks: self.committed_chunks,
            state: state.to_hex(),
            part_len: meta.len(),
            part_mtime_ns: mtime_ns(&meta),
        };
        let text = serde_json::to_string_pretty(&record).unwrap_or_default();
        write_atomically(&self.paths.tmp, &self.paths.state, text.as_bytes())
    }
}

/// Checking a reopened partial against its record.
impl Partial {
    /// Trust an untouched partial after re-hashing its last chunk; re-verify a
    /// touched one. Returns a note for the user when something was dropped.
    fn validate(&mut self, record: &StateRecord) -> Result<Option<String>> {
        let logged = self.log_len()? / STATE_LEN;
        let recorded = record.verified_chunks;
        let meta = self.part_metadata()?;
        let untouched = meta.len() == record.part_len && mtime_ns(&meta) == record.part_mtime_ns;
        let good = if untouched && logged >= recorded && self.last_chunk_matches(recorded)? {
            recorded
        } else {
            // Re-verify what the log still covers, up to the first mismatch.
            self.count_good_chunks(recorded.min(logged))?
        };
        self.committed_chunks = good;
        self.verified_state = self.logged_state(good)?;
        let note = (good < recorded).then(|| {
            format!(
                "the partial file was changed or damaged since it was recorded: kept {good} of {recorded} verified chunks, fetching the rest again"
            )
        });
        if good < recorded {
            self.write_state(self.verified_state)?;
        }
        Ok(note)
    }

    /// Whether the last of `n` recorded chunks still matches (true for none).
    fn last_chunk_matches(&mut self, n: u64) -> Result<bool> {
        match n {
            0 => Ok(true),
            n => self.chunk_matches(n - 1),
        }
    }

    /// Chunks 0..n that still match the log, stopping at the first that fails.
    fn count_good_chunks(&mut self, n: u64) -> Result<u64> {
        for index in 0..n {
            if !self.chunk_matches(index)? {
                return Ok(index);
            }
        }
        Ok(n)
    }

    /// Re-hash chunk `index` of the partial and compare it with the log.
    fn chunk_matches(&mut self, index: u64) -> Result<bool> {
        let start = self.logged_state(index)?;
        let expected = self.logged_state(index + 1)?;
        let offset = index * self.chunk_size;
        let Ok(mut hasher) = ChainHasher::resume(start, offset) else {
            return Ok(false);
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut left = self.chunk_size;
        self.part
            .seek(SeekFrom::Start(offset))
            .map_err(|e| io_err("reading", &self.paths.part, e))?;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let got = self
                .part
                .read(&mut buf[..want])
                .map_err(|e| io_err("reading", &self.paths.part, e))?;
            if got == 0 {
                return Ok(false);
            }
            hasher.update(&buf[..got]);
            left -= got as u64;
        }
        Ok(hasher.state() == Some(expected))
    }

    /// The chaining value after `chunks` chunks, from the log.
    fn logged_state(&self, chunks: u64) -> Result<ChainState> {
        if chunks == 0 {
            return Ok(ChainState::INITIAL);
        }
        let mut state = [0u8; 32];
        self.chunks
            .read_exact_at(&mut state, (chunks - 1) * STATE_LEN)
            .map_err(|e| io_err("reading", &self.paths.chunks, e))?;
        Ok(ChainState(state))
    }

    fn log_len(&self) -> Result<u64> {
        self.chunks
            .metadata()
            .map(|m| m.len())
            .map_err(|e| io_err("reading metadata of", &self.paths.chunks, e))
    }
}

fn parse_record(text: &str) -> std::result::Result<StateRecord, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("state file is damaged ({e})"))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(STATE_FORMAT) {
        return Err("state file is not a wsresume state file".into());
    }
    if let Some(why) = value.get("expired").and_then(|e| e.as_str()) {
        return Err(why.to_string());
    }
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version != u64::from(STATE_VERSION) {
        return Err(format!(
            "state file has format version {version}, this wsresume reads version {STATE_VERSION}"
        ));
    }
    let record: StateRecord =
        serde_json::from_value(value).map_err(|e| format!("state file is damaged ({e})"))?;
    let valid_chunk = crate::transfer::check_chunk_size(record.chunk_size).is_ok();
    let fits = record.verified_chunks.saturating_mul(record.chunk_size) <= record.source.size;
    if !valid_chunk || !fits || ChainState::from_hex(&record.state).is_none() {
        return Err("state file is inconsistent".into());
    }
    Ok(record)
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

/// Replace `dest` with `bytes` atomically: write `tmp`, fsync, rename.
pub fn write_atomically(tmp: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(tmp).map_err(|e| io_err("creating", tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("writing", tmp, e))?;
    fs::rename(tmp, dest).map_err(|e| io_err("renaming onto", dest, e))
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
