//! One hashing pass per file version for concurrent downloads: the chaining
//! values of a file whose hashes are not cached yet, computed chunk by
//! chunk by whichever download needs the next one first and shared with
//! every other download of the same version (etag and chunk size).
//!
//! No download waits for another's client: the one at the front hashes the
//! next chunk from the file itself (one chunk's read, on a blocking
//! thread), and the others, behind it, find the values computed. The data
//! goes out with `sendfile(2)` like that of a cached file. When the last
//! chunk is hashed the file's [`FileHashes`] are complete, for the cache.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, Weak};

use crate::chain::{ChainHasher, ChainState};
use crate::transfer::sender::{FileHashes, Schedule, Step};

/// Read size while hashing a chunk.
const READ_SIZE: usize = 256 * 1024;

/// The chaining values of one file version as far as they are computed.
pub struct SharedChain {
    size: u64,
    chunk_size: u64,
    /// Held while a chunk is hashed (on blocking threads only).
    hashing: Mutex<()>,
    progress: Mutex<Progress>,
    /// Chunks hashed so far (each exactly once).
    hashed: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Progress {
    /// `states[i]`: after chunk `i`, for every chunk below the end.
    states: Vec<ChainState>,
    digest: Option<[u8; 32]>,
}

impl SharedChain {
    fn new(size: u64, chunk_size: u64) -> SharedChain {
        SharedChain {
            size,
            chunk_size,
            hashing: Mutex::new(()),
            progress: Mutex::default(),
            hashed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Chunks in the file (the last may be short); an empty file has one,
    /// of no bytes, whose hash is the digest.
    fn chunks(&self) -> u64 {
        self.size.div_ceil(self.chunk_size).max(1)
    }

    /// Whether chunk `index` is hashed (for the last chunk: the digest).
    pub fn has(&self, index: u64) -> bool {
        let progress = self.progress();
        match index + 1 >= self.chunks() {
            true => progress.digest.is_some(),
            false => (progress.states.len() as u64) > index,
        }
    }

    /// The chaining value after chunk `index` (below the last), if hashed.
    pub fn state(&self, index: u64) -> Option<ChainState> {
        let index = usize::try_from(index).ok()?;
        self.progress().states.get(index).copied()
    }

    /// The whole file's SHA-256, once the last chunk is hashed.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.progress().digest
    }

    /// Every value, once all are hashed.
    pub fn hashes(&self) -> Option<FileHashes> {
        let progress = self.progress();
        Some(FileHashes {
            states: progress.states.clone(),
            digest: progress.digest?,
        })
    }

    /// Hash chunks of `file` until chunk `index` is hashed (normally just
    /// that one: whoever needed the ones before hashed them). Blocks.
    pub fn ensure(&self, file: &File, index: u64) -> std::io::Result<()> {
        let _turn = self.hashing.lock().unwrap_or_else(|p| p.into_inner());
        let last = self.chunks() - 1;
        loop {
            let (next, state) = {
                let progress = self.progress();
                if progress.digest.is_some() {
                    return Ok(());
                }
                let next = progress.states.len() as u64;
                let state = progress.states.last().copied();
                (next, state.unwrap_or(ChainState::INITIAL))
            };
            if next > index.min(last) {
                return Ok(());
            }
            let hasher = self.hash_chunk(file, next, state)?;
            self.hashed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut progress = self.progress();
            match next == last {
                true => progress.digest = Some(hasher.finalize()),
                false => progress
                    .states
                    .push(hasher.state().ok_or_else(|| bad("no chunk state"))?),
            }
        }
    }

    /// Hash chunk `index` of `file`, which starts after `state`.
    fn hash_chunk(
        &self,
        file: &File,
        index: u64,
        state: ChainState,
    ) -> std::io::Result<ChainHasher> {
        let start = index * self.chunk_size;
        let end = (start + self.chunk_size).min(self.size);
        let mut hasher = ChainHasher::resume(state, start).map_err(|e| bad(&e.to_string()))?;
        let mut buf = vec![0u8; READ_SIZE.min((end - start) as usize)];
        let mut pos = start;
        while pos < end {
            let want = buf.len().min((end - pos) as usize);
            let got = file.read_at(&mut buf[..want], pos)?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            hasher.update(&buf[..got]);
            pos += got as u64;
        }
        Ok(hasher)
    }
}

fn bad(why: &str) -> std::io::Error {
    std::io::Error::other(why.to_string())
}

/// The chains being computed, by etag and chunk size.
#[derive(Default)]
pub struct Chains {
    live: Mutex<HashMap<(String, u64), Weak<SharedChain>>>,
}

impl Chains {
    /// The chain of the file `etag` names (`size` bytes) at `chunk_size`,
    /// shared with every download of it that is still running.
    pub fn join(&self, etag: &str, size: u64, chunk_size: u64) -> Arc<SharedChain> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.len() >= 64 {
            live.retain(|_, chain| chain.strong_count() > 0);
        }
        let key = (etag.to_string(), chunk_size);
        if let Some(chain) = live.get(&key).and_then(Weak::upgrade) {
            return chain;
        }
        let chain = Arc::new(SharedChain::new(size, chunk_size));
        live.insert(key, Arc::downgrade(&chain));
        chain
    }
}

/// What a download on a shared chain sends next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedStep {
    /// A data frame straight from the file.
    Range {
        /// Where in the file.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
    /// The check after chunk `index`.
    Chunk {
        /// The chunk.
        index: u64,
        /// Its chaining value.
        state: ChainState,
    },
    /// The whole file's digest.
    Eof([u8; 32]),
}

/// A whole-file download's steps on a shared chain: the chunk whose data
/// goes out is hashed meanwhile (unless someone did), and its check waits
/// for that. Cancel-safe: a step is only consumed when it is returned.
pub struct ChainSource {
    file: Arc<File>,
    chain: Arc<SharedChain>,
    schedule: Schedule,
    step: Option<Step>,
    hashing: Option<(u64, tokio::task::JoinHandle<std::io::Result<()>>)>,
}

impl ChainSource {
    /// Send `file` (the version `chain` is of) from its start.
    pub fn new(file: Arc<File>, chain: Arc<SharedChain>) -> ChainSource {
        ChainSource {
            schedule: Schedule::new(0, chain.size, chain.chunk_size),
            file,
            chain,
            step: None,
            hashing: None,
        }
    }

    /// The open file, for `sendfile`.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The chain's values, once every chunk is hashed.
    pub fn hashes(&self) -> Option<FileHashes> {
        self.chain.hashes()
    }

    /// The next step.
    pub async fn next(&mut self) -> std::io::Result<SharedStep> {
        let step = *self
            .step
            .get_or_insert_with(|| self.schedule.next().unwrap_or(Step::Eof));
        let next = match step {
            Step::Data { offset, len } => {
                let index = offset / self.chain.chunk_size;
                if self.hashing.is_none() && !self.chain.has(index) {
                    self.hashing = Some((index, self.spawn(index)));
                }
                SharedStep::Range { offset, len }
            }
            Step::Check { index, .. } => {
                self.hashed(index).await?;
                let state = self
                    .chain
                    .state(index)
                    .ok_or_else(|| bad("no chunk state"))?;
                SharedStep::Chunk { index, state }
            }
            Step::Eof => {
                self.hashed(self.chain.chunks() - 1).await?;
                SharedStep::Eof(self.chain.digest().ok_or_else(|| bad("no digest"))?)
            }
        };
        self.step = None;
        Ok(next)
    }

    fn spawn(&self, index: u64) -> tokio::task::JoinHandle<std::io::Result<()>> {
        let (file, chain) = (self.file.clone(), self.chain.clone());
        tokio::task::spawn_blocking(move || chain.ensure(&file, index))
    }

    /// Wait until chunk `index` is hashed, hashing it if nobody is.
    async fn hashed(&mut self, index: u64) -> std::io::Result<()> {
        loop {
            if let Some((_, hashing)) = &mut self.hashing {
                let done = hashing.await.map_err(|e| bad(&e.to_string()));
                self.hashing = None;
                done??;
            }
            if self.chain.has(index) {
                return Ok(());
            }
            self.hashing = Some((index, self.spawn(index)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hashed_by_anyone_are_hashed_once_and_match_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // (size, chunk size): several chunks with a short last one, exact
        // chunks, one chunk, empty.
        for (size, chunk) in [(10_000u64, 4096u64), (8192, 4096), (100, 4096), (0, 4096)] {
            let data: Vec<u8> = (0..size).map(|j| (j % 251) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            let file = File::open(&path).unwrap();
            let chains = Chains::default();
            let chain = chains.join("e", size, chunk);
            assert!(Arc::ptr_eq(&chain, &chains.join("e", size, chunk)));
            assert!(!Arc::ptr_eq(&chain, &chains.join("e", size, 2 * chunk)));
            let last = size.div_ceil(chunk).max(1) - 1;
            assert!(chain.hashes().is_none());
            chain.ensure(&file, last).unwrap();
            assert!((0..=last).all(|i| chain.has(i)));
            let mut hasher = ChainHasher::default();
            let mut states = Vec::new();
            for (i, piece) in data.chunks(chunk as usize).enumerate() {
                hasher.update(piece);
                if (i as u64) < last {
                    states.extend(hasher.state());
                }
            }
            let want = FileHashes {
                states,
                digest: hasher.finalize(),
            };
            assert_eq!(chain.hashes(), Some(want), "{size} bytes");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_downloads_hash_each_chunk_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let (size, chunk) = (64 * 4096 + 10, 4096);
        let data: Vec<u8> = (0..size).map(|j| (j % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let chains = Chains::default();
        let chain = chains.join("e", size, chunk);
        let runs = (0..4).map(|_| {
            let file = File::open(&path).unwrap();
            let mut source = ChainSource::new(Arc::new(file), chains.join("e", size, chunk));
            tokio::spawn(async move {
                let (mut sent, mut checks) = (0u64, 0);
                loop {
                    match source.next().await.unwrap() {
                        SharedStep::Range { offset, len } => {
                            assert_eq!(offset, sent);
                            sent += len as u64;
                        }
                        SharedStep::Chunk { .. } => checks += 1,
                        SharedStep::Eof(digest) => return (sent, checks, digest),
                    }
                }
            })
        });
        let want = crate::chain::sha256_file(&path).unwrap();
        for run in runs.collect::<Vec<_>>() {
            let (sent, checks, digest) = run.await.unwrap();
            assert_eq!((sent, checks), (size, 64));
            assert_eq!(crate::chain::hex(&digest), want);
        }
        let hashed = chain.hashed.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(hashed, 65, "every chunk hashed once for four downloads");
    }
}
