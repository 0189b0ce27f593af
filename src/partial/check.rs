//! Checking a reopened partial against its record: an untouched part file
//! (same length and mtime as recorded) is trusted after re-hashing its last
//! recorded chunk; a touched one is re-verified chunk by chunk against the
//! chunk log and cut back to the first chunk that fails.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use super::state::StateRecord;
use super::{Partial, STATE_LEN, io_err, mtime_ns};
use crate::chain::{ChainHasher, ChainState};
use crate::error::Result;

impl Partial {
    /// Trust an untouched partial after re-hashing its last chunk; re-verify a
    /// touched one. Returns a note for the user when something was dropped.
    pub(super) fn validate(&mut self, record: &StateRecord) -> Result<Option<String>> {
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
    pub(super) fn logged_state(&self, chunks: u64) -> Result<ChainState> {
        if chunks == 0 {
            return Ok(ChainState::INITIAL);
        }
        let mut state = [0u8; 32];
        self.chunks
            .read_exact_at(&mut state, (chunks - 1) * STATE_LEN)
            .map_err(|e| io_err("reading", &self.paths.chunks, e))?;
        Ok(ChainState(state))
    }

    /// The chaining value after every verified chunk (the log, then what
    /// waits to be logged), when that is every chunk below the file's end
    /// and there are at most `max` of them: what the finished file's
    /// [`super::Placed`] carries for a hash cache.
    pub(super) fn chain_states(&self, max: usize) -> Option<Vec<ChainState>> {
        let size = self.source.size;
        let below_end = size.saturating_sub(1) / self.chunk_size;
        let count = self.committed_chunks + self.pending.len() as u64;
        if count != below_end || usize::try_from(count).ok()? > max {
            return None;
        }
        let mut bytes = vec![0u8; usize::try_from(self.committed_chunks * STATE_LEN).ok()?];
        self.chunks.read_exact_at(&mut bytes, 0).ok()?;
        let mut states = Vec::with_capacity(count as usize);
        for state in bytes.chunks_exact(STATE_LEN as usize) {
            states.push(ChainState(state.try_into().ok()?));
        }
        states.extend_from_slice(&self.pending);
        Some(states)
    }

    fn log_len(&self) -> Result<u64> {
        self.chunks
            .metadata()
            .map(|m| m.len())
            .map_err(|e| io_err("reading metadata of", &self.paths.chunks, e))
    }
}
