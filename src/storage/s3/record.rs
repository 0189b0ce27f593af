//! The upload record (pure part): one JSON object per upload target under
//! `PREFIX/.wsresume/uploads/`, which is both the cross-instance lease and
//! the whole state of the upload (the multipart upload's id, the parts
//! stored, the chaining value after each). This module owns its format
//! (encode, decode, checks), the part size, and the decision an instance
//! makes when it finds (or does not find) a record for a target it is asked
//! to upload. The reads and conditional writes are in `s3/lease.rs`.

use serde::{Deserialize, Serialize};

use crate::chain::ChainState;
use crate::partial::SourceIdentity;
use crate::protocol::check_chunk_size;

/// The record format this build writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// S3's smallest part (all parts but the last).
pub const MIN_PART: u64 = 5 << 20;

/// S3's largest number of parts in one multipart upload.
pub const MAX_PARTS: u64 = 10_000;

/// What a client is told when an earlier upload of another source, whose
/// holder stopped renewing its lease, was discarded.
pub const ABANDONED: &str = "an abandoned upload by another client was discarded";

/// What a client is told when this instance's own earlier upload of
/// another source was discarded (the same words as a local partial's).
pub const OTHER_SOURCE: &str = "the source differs from the partial upload's";

/// What a client is told for an expired record that carries no reason.
pub const EXPIRED: &str = "the partial upload was abandoned and was removed";

/// The upload record as stored (see PROTOCOL.md, "Object storage").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The request path the object goes to (REL, under PREFIX).
    pub target: String,
    /// What is being uploaded: the client's source id and size.
    pub source: SourceIdentity,
    /// The verification unit.
    pub chunk_size: u64,
    /// The part size: see [`part_size`].
    pub part_size: u64,
    /// The multipart upload's id; `None` when the file fits one part (one
    /// PUT at the end).
    pub upload_id: Option<String>,
    /// The ETag (`PartId.content_id`) of parts 1..=n, in order.
    pub parts: Vec<String>,
    /// The chaining value (hex) after each recorded part.
    pub states: Vec<String>,
    /// The instance that holds the lease.
    pub holder: String,
    /// Until when the lease holds without renewal (ms since the epoch).
    pub lease_until_ms: u64,
    /// When the upload last made progress (created, taken over, a part
    /// stored; for an expired record: when it expired), ms since the epoch.
    pub progress_ms: u64,
    /// The expiry sweep (or a writer that found its multipart upload gone)
    /// discarded this upload: the record is only a marker now.
    pub expired: bool,
    /// Why it was discarded, for the client that comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The part size for a file of `size` bytes verified in chunks of
/// `chunk_size`: a multiple of the chunk size, at least [`MIN_PART`], and
/// large enough that the file needs at most [`MAX_PARTS`] parts.
pub fn part_size(size: u64, chunk_size: u64) -> u64 {
    let chunk_size = chunk_size.max(1);
    let wanted = MIN_PART.max(size.div_ceil(MAX_PARTS));
    wanted.div_ceil(chunk_size).saturating_mul(chunk_size)
}

impl Record {
    /// A new record of `source` to `target`, held by `holder` until
    /// `lease_until_ms`.
    pub fn fresh(
        target: &str,
        source: &SourceIdentity,
        chunk_size: u64,
        upload_id: Option<String>,
        holder: &str,
        (now_ms, lease_until_ms): (u64, u64),
    ) -> Record {
        Record {
            version: RECORD_VERSION,
            target: target.to_string(),
            source: source.clone(),
            chunk_size,
            part_size: part_size(source.size, chunk_size),
            upload_id,
            parts: Vec::new(),
            states: Vec::new(),
            holder: holder.to_string(),
            lease_until_ms,
            progress_ms: now_ms,
            expired: false,
            why: None,
        }
    }

    /// Whether the file goes as one PUT (it fits one part).
    pub fn single_part(size: u64, chunk_size: u64) -> bool {
        size <= part_size(size, chunk_size)
    }

    /// The record as stored.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A stored record, or why it cannot be used.
    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("the upload record is damaged ({e})"))?;
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != u64::from(RECORD_VERSION) {
            return Err(format!(
                "the upload record has format version {version}, this wsresume reads version {RECORD_VERSION}"
            ));
        }
        let record: Record = serde_json::from_value(value)
            .map_err(|e| format!("the upload record is damaged ({e})"))?;
        match record.consistent() {
            true => Ok(record),
            false => Err("the upload record is inconsistent".into()),
        }
    }

    /// The sizes fit together and every chaining value parses; an expired
    /// record is only a marker and needs no more.
    fn consistent(&self) -> bool {
        if self.expired {
            return true;
        }
        let n = self.parts.len() as u64;
        check_chunk_size(self.chunk_size).is_ok()
            && self.part_size >= MIN_PART
            && self.part_size.is_multiple_of(self.chunk_size)
            && self.parts.len() == self.states.len()
            && (n == 0 || self.upload_id.is_some())
            // The last part is never recorded: it goes with the completion.
            && (n == 0 || n.saturating_mul(self.part_size) < self.source.size)
            && self.states.iter().all(|s| ChainState::from_hex(s).is_some())
    }

    /// Where the upload resumes: bytes stored durably and the chaining
    /// value there.
    pub fn resume_point(&self) -> (u64, ChainState) {
        let state = self
            .states
            .last()
            .and_then(|s| ChainState::from_hex(s))
            .unwrap_or(ChainState::INITIAL);
        (self.parts.len() as u64 * self.part_size, state)
    }

    /// Held by `holder` until `lease_until_ms` from now on.
    pub fn renewed(mut self, holder: &str, lease_until_ms: u64) -> Record {
        self.holder = holder.to_string();
        self.lease_until_ms = lease_until_ms;
        self
    }

    /// One more part stored, with the chaining value after it.
    pub fn with_part(mut self, e_tag: String, state: ChainState, now_ms: u64) -> Record {
        self.parts.push(e_tag);
        self.states.push(state.to_hex());
        self.progress_ms = now_ms;
        self
    }

    /// The record turned into an expiry marker: nothing is resumed from it.
    pub fn expired(mut self, why: &str, now_ms: u64) -> Record {
        self.expired = true;
        self.why = Some(why.to_string());
        self.progress_ms = now_ms;
        self.lease_until_ms = 0;
        self
    }
}

/// What to do with a target, given the record found for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No record: create one.
    Create,
    /// A record of the same source: take it over at once and resume.
    TakeOver,
    /// Another client's upload holds a live lease: refuse (code 8).
    Busy,
    /// Discard the record (and its multipart upload) and start afresh,
    /// telling the client why.
    Replace(String),
}

/// The decision for a target whose record is `found` (`None`: there is
/// none; `Some(Err(reason))`: it cannot be read), when `source` is to be
/// uploaded by the instance `instance` at `now_ms`.
pub fn decide(
    found: Option<&Result<Record, String>>,
    source: &SourceIdentity,
    instance: &str,
    now_ms: u64,
) -> Decision {
    let record = match found {
        None => return Decision::Create,
        Some(Err(reason)) => return Decision::Replace(reason.clone()),
        Some(Ok(record)) => record,
    };
    if record.expired {
        return Decision::Replace(record.why.clone().unwrap_or_else(|| EXPIRED.into()));
    }
    if record.source == *source {
        return Decision::TakeOver;
    }
    // Our own record: the in-process registry already made us the one
    // writer here, so its writer is gone.
    if record.holder == instance {
        return Decision::Replace(OTHER_SOURCE.into());
    }
    if record.lease_until_ms > now_ms {
        return Decision::Busy;
    }
    Decision::Replace(ABANDONED.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn part_sizes_are_chunk_multiples_of_at_least_5_mib_and_at_most_10000_parts() {
        let cases = [
            // (size, chunk size, part size)
            (0, 4 * MIB, 8 * MIB),
            (1, MIB, 5 * MIB),
            (5 * MIB, MIB, 5 * MIB),
            (5 * MIB, 4 * MIB, 8 * MIB),
            (5 * MIB, 3 * MIB, 6 * MIB),
            (50_000 * MIB, MIB, 5 * MIB),
            (50_001 * MIB, MIB, 6 * MIB),
            (100_000 * MIB, 4 * MIB, 12 * MIB),
            (1 << 40, 4096, (1 << 40) / 10_000 / 4096 * 4096 + 4096),
        ];
        for (size, chunk, want) in cases {
            let got = part_size(size, chunk);
            assert_eq!(got, want, "size {size} chunk {chunk}");
            assert!(got >= MIN_PART && got.is_multiple_of(chunk));
            assert!(size.div_ceil(got) <= MAX_PARTS);
        }
    }

    fn source(id: &str, size: u64) -> SourceIdentity {
        SourceIdentity {
            id: id.into(),
            size,
        }
    }

    fn record(id: &str, holder: &str, lease_until_ms: u64) -> Record {
        Record::fresh(
            "a/b.bin",
            &source(id, 20 * MIB),
            MIB,
            Some("up-1".into()),
            holder,
            (500, lease_until_ms),
        )
    }

    #[test]
    fn the_record_found_decides_what_an_instance_does() {
        let ours = source("s1", 20 * MIB);
        let expired = record("s2", "other", 2000).expired("gone after 1h", 900);
        let cases: Vec<(Option<Result<Record, String>>, Decision)> = vec![
            (None, Decision::Create),
            (
                Some(Err("damaged".into())),
                Decision::Replace("damaged".into()),
            ),
            (Some(Ok(record("s1", "other", 2000))), Decision::TakeOver),
            (Some(Ok(record("s1", "other", 10))), Decision::TakeOver),
            (Some(Ok(record("s1", "me", 2000))), Decision::TakeOver),
            (Some(Ok(record("s2", "other", 2000))), Decision::Busy),
            (
                Some(Ok(record("s2", "other", 1000))),
                Decision::Replace(ABANDONED.into()),
            ),
            (
                Some(Ok(record("s2", "me", 2000))),
                Decision::Replace(OTHER_SOURCE.into()),
            ),
            (Some(Ok(expired)), Decision::Replace("gone after 1h".into())),
            (
                Some(Ok(Record {
                    why: None,
                    ..record("s1", "other", 2000).expired("x", 1)
                })),
                Decision::Replace(EXPIRED.into()),
            ),
        ];
        for (found, want) in cases {
            assert_eq!(decide(found.as_ref(), &ours, "me", 1000), want, "{found:?}");
        }
    }

    #[test]
    fn records_round_trip_and_resume_after_their_last_part() {
        let state = ChainState([7; 32]);
        let r = record("s1", "me", 2000).with_part("\"e1\"".into(), state, 600);
        let back = Record::decode(&r.encode()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.resume_point(), (5 * MIB, state));
        assert_eq!(
            record("s1", "me", 1).resume_point(),
            (0, ChainState::INITIAL)
        );
        assert!(!r.encode().windows(3).any(|w| w == b"why"));
    }

    #[test]
    fn unusable_records_are_refused_with_a_reason() {
        let good = record("s1", "me", 2000);
        let with = |f: &dyn Fn(&mut Record)| {
            let mut r = good.clone();
            f(&mut r);
            r.encode()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"{not json".to_vec(), "damaged"),
            (with(&|r| r.version = 2), "format version 2"),
            (b"{\"version\":1}".to_vec(), "damaged"),
            (with(&|r| r.chunk_size = 1000), "inconsistent"),
            (with(&|r| r.part_size = MIB), "inconsistent"),
            (with(&|r| r.parts.push("\"e\"".into())), "inconsistent"),
            (
                with(&|r| {
                    r.parts.push("\"e\"".into());
                    r.states.push("zz".into());
                }),
                "inconsistent",
            ),
            (
                with(&|r| {
                    r.parts = vec!["\"e\"".into(); 4];
                    r.states = vec![ChainState([1; 32]).to_hex(); 4];
                }),
                "inconsistent",
            ),
            (
                with(&|r| {
                    r.upload_id = None;
                    r.parts.push("\"e\"".into());
                    r.states.push(ChainState([1; 32]).to_hex());
                }),
                "inconsistent",
            ),
        ];
        for (bytes, want) in cases {
            let err = Record::decode(&bytes).unwrap_err();
            assert!(err.contains(want), "{err} lacks {want}");
        }
        let three = with(&|r| {
            r.parts = vec!["\"e\"".into(); 3];
            r.states = vec![ChainState([1; 32]).to_hex(); 3];
        });
        assert!(Record::decode(&three).is_ok(), "3 × 5 MiB < 20 MiB");
    }
}
