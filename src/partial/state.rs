//! The state file: its JSON record (source, chunk size, chunks committed,
//! the part file's length and mtime when recorded), how it is read back and
//! judged, the expiry marker that replaces an abandoned partial, and the
//! atomic replacement (write a scratch file, fsync, rename) every update uses.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{PartialPaths, SourceIdentity, io_err};
use crate::chain::ChainState;
use crate::error::Result;
use crate::protocol::check_chunk_size;

const STATE_FORMAT: &str = "wsresume-state";
const STATE_VERSION: u32 = 1;

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
pub(super) struct StateRecord {
    format: String,
    version: u32,
    pub(super) source: SourceIdentity,
    pub(super) chunk_size: u64,
    pub(super) verified_chunks: u64,
    state: String,
    pub(super) part_len: u64,
    pub(super) part_mtime_ns: u64,
}

impl StateRecord {
    /// `verified_chunks` chunks of `chunk_size` ending at `state`, with the
    /// part file's `(length, mtime)` as it is now.
    pub(super) fn new(
        source: SourceIdentity,
        chunk_size: u64,
        verified_chunks: u64,
        state: ChainState,
        part: (u64, u64),
    ) -> StateRecord {
        StateRecord {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            source,
            chunk_size,
            verified_chunks,
            state: state.to_hex(),
            part_len: part.0,
            part_mtime_ns: part.1,
        }
    }

    /// Replace the state file at `paths` with this record.
    pub(super) fn store(&self, paths: &PartialPaths) -> Result<()> {
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        write_atomically(&paths.tmp, &paths.state, text.as_bytes())
    }

    /// Read a state file's text: the record, or why it cannot be used (not
    /// ours, another version, an expiry marker, damaged or inconsistent).
    pub(super) fn parse(text: &str) -> std::result::Result<StateRecord, String> {
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
        let valid_chunk = check_chunk_size(record.chunk_size).is_ok();
        let fits = record.verified_chunks.saturating_mul(record.chunk_size) <= record.source.size;
        if !valid_chunk || !fits || ChainState::from_hex(&record.state).is_none() {
            return Err("state file is inconsistent".into());
        }
        Ok(record)
    }
}

/// Replace `dest` with `bytes` atomically: write `tmp`, fsync, rename.
pub fn write_atomically(tmp: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = File::create(tmp).map_err(|e| io_err("creating", tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err("writing", tmp, e))?;
    fs::rename(tmp, dest).map_err(|e| io_err("renaming onto", dest, e))
}
