//! Uploads into the bucket: opening one (create, take over or replace the
//! target's upload record, which is the cross-instance lease, by the rules
//! of `record::decide`), and [`BucketSink`], the engine's `ChunkSink` for a
//! bucket: one part held (in memory, or spooled to an unlinked temporary
//! file when it is large: `s3/spool.rs`), stored with `put_part` once the
//! chunk ending at the part boundary is verified and then recorded, the
//! last part and the completion (or one PUT) at the end, the lease renewed
//! while the upload runs. A lost condition ends the writer.

use std::time::Instant;

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::{ObjectStoreExt, PutPayload, UpdateVersion};

use super::S3Store;
use super::lease::now_ms;
use super::part::PartCursor;
use super::record::{Decision, Record, decide};
use super::spool::PartBytes;
use crate::chain::ChainState;
use crate::error::{Error, Result};
use crate::partial::SourceIdentity;
use crate::paths::RelPath;
use crate::storage::{StorageError, Upload};
use crate::transfer::receiver::ChunkSink;

/// One target's names: the object, its record, and REL for messages.
#[derive(Debug, Clone)]
struct Target {
    key: Key,
    record_key: Key,
    rel: String,
}

impl S3Store {
    /// [`crate::storage::Storage::open_upload`] for a bucket.
    pub(super) fn start_upload(
        &self,
        rel: &RelPath,
        source: &SourceIdentity,
        chunk_size: u64,
    ) -> Result<Upload, StorageError> {
        let key = self.key_of(rel)?;
        let rel = rel.to_string();
        let target = Target {
            record_key: self.record_key(&rel),
            key,
            rel,
        };
        self.block_on(self.start_upload_async(&target, source, chunk_size))
    }

    async fn start_upload_async(
        &self,
        target: &Target,
        source: &SourceIdentity,
        chunk_size: u64,
    ) -> Result<Upload, StorageError> {
        self.refuse_directory(target).await?;
        // A lost race is read again and decided once more.
        for _ in 0..2 {
            let found = self.read_record(&target.record_key).await?;
            let decision = decide(
                found.as_ref().map(|(r, _)| r),
                source,
                &self.instance,
                now_ms(),
            );
            let (old, version) = match found {
                Some((record, version)) => (record.ok(), Some(version)),
                None => (None, None),
            };
            let opened = match (decision, old, version) {
                (Decision::Busy, ..) => {
                    return Err(StorageError::Busy(format!(
                        "{} is being uploaded by another client",
                        target.rel
                    )));
                }
                (Decision::TakeOver, Some(old), Some(version)) => {
                    self.take_over(target, old, &version).await?
                }
                (Decision::Create, ..) => self.begin(target, source, chunk_size, None).await?,
                (Decision::Replace(note), old, Some(version)) => {
                    self.begin(target, source, chunk_size, Some((note, old, version)))
                        .await?
                }
                // A decision without the record it needs cannot come.
                _ => None,
            };
            if let Some(upload) = opened {
                return Ok(upload);
            }
        }
        Err(StorageError::Io(Error::Network(format!(
            "{}: another server is starting an upload to the same target",
            target.rel
        ))))
    }

    /// Refuse a target that names a directory (objects lie under
    /// `key/`), as on a disk: the file would hide them from listings.
    async fn refuse_directory(&self, target: &Target) -> Result<(), StorageError> {
        match self.is_directory(&target.key).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(StorageError::IsDirectory(target.rel.clone())),
            Err(e) => Err(super::store_error(
                &format!("checking whether {} is a directory", target.rel),
                &e,
            )),
        }
    }

    /// Take over the record of the same source: resume where it stopped.
    async fn take_over(
        &self,
        target: &Target,
        old: Record,
        version: &UpdateVersion,
    ) -> Result<Option<Upload>, StorageError> {
        let record = old.renewed(&self.instance, self.lease_until(now_ms()));
        let Some(version) = self
            .update_record(&target.record_key, &record, version)
            .await?
        else {
            return Ok(None);
        };
        tracing::debug!(
            "{}: took over the upload record ({} parts)",
            target.rel,
            record.parts.len()
        );
        Ok(Some(BucketSink::upload(
            self, target, record, version, None,
        )))
    }

    /// Start afresh: a new multipart upload (unless the file fits one
    /// part) and a new record, created, or in place of `replacing` (the
    /// note for the client, the old record if readable, its version); the
    /// old multipart upload is aborted once the record is ours.
    async fn begin(
        &self,
        target: &Target,
        source: &SourceIdentity,
        chunk_size: u64,
        replacing: Option<(String, Option<Record>, UpdateVersion)>,
    ) -> Result<Option<Upload>, StorageError> {
        let upload_id = match Record::single_part(source.size, chunk_size) {
            true => None,
            false => Some(
                self.store
                    .create_multipart(&target.key)
                    .await
                    .map_err(|e| {
                        super::store_error(&format!("starting the upload of {}", target.rel), &e)
                    })?,
            ),
        };
        let now = now_ms();
        let record = Record::fresh(
            &target.rel,
            source,
            chunk_size,
            upload_id.clone(),
            &self.instance,
            (now, self.lease_until(now)),
        );
        let written = match &replacing {
            None => self.create_record(&target.record_key, &record).await,
            Some((_, _, version)) => {
                self.update_record(&target.record_key, &record, version)
                    .await
            }
        };
        let version = match written {
            Ok(Some(version)) => version,
            lost_or_failed => {
                self.abort_quietly(&target.key, upload_id.as_deref()).await;
                return lost_or_failed.map(|_| None);
            }
        };
        let note = replacing.map(|(note, old, _)| {
            let old_id = old.and_then(|r| r.upload_id);
            (note, old_id)
        });
        let restarted = match note {
            Some((note, old_id)) => {
                self.abort_quietly(&target.key, old_id.as_deref()).await;
                tracing::info!("{}: {note}", target.rel);
                Some(note)
            }
            None => None,
        };
        Ok(Some(BucketSink::upload(
            self, target, record, version, restarted,
        )))
    }
}

/// Where a bucket upload's verified bytes go (see the module's doc).
pub(super) struct BucketSink {
    store: S3Store,
    target: Target,
    /// The record as last written, and its version.
    record: Record,
    version: UpdateVersion,
    /// When the record was last written (the lease renewed).
    renewed: Instant,
    /// The part being received: where its bytes go, and the bytes.
    part: PartCursor,
    bytes: PartBytes,
    /// The object is in place and the record gone.
    finished: bool,
}

impl BucketSink {
    /// The [`Upload`] of `record` (at `version`), resuming after its last
    /// recorded part.
    fn upload(
        store: &S3Store,
        target: &Target,
        record: Record,
        version: UpdateVersion,
        restarted: Option<String>,
    ) -> Upload {
        let verified = record.resume_point();
        let part = PartCursor::new(
            verified.0,
            record.part_size,
            record.chunk_size,
            record.source.size,
        );
        let bytes = PartBytes::new(store.spool_above, std::env::temp_dir());
        let sink = BucketSink {
            store: store.clone(),
            target: target.clone(),
            version,
            renewed: Instant::now(),
            part,
            bytes,
            record,
            finished: false,
        };
        Upload {
            chunk_size: sink.record.chunk_size,
            verified,
            sink: Box::new(sink),
            restarted,
        }
    }

    /// Write `record` in place of ours, if ours is still the current one.
    fn write_record(&mut self, record: Record) -> Result<()> {
        let written = self.store.block_on(self.store.update_record(
            &self.target.record_key,
            &record,
            &self.version,
        ));
        match written.map_err(storage_to_error)? {
            Some(version) => {
                self.record = record;
                self.version = version;
                self.renewed = Instant::now();
                Ok(())
            }
            None => Err(Error::Network(format!(
                "{}: another server took over this upload",
                self.target.rel
            ))),
        }
    }

    /// Renew the lease (and check we still hold it).
    fn renew(&mut self) -> Result<()> {
        let record = self
            .record
            .clone()
            .renewed(&self.store.instance, self.store.lease_until(now_ms()));
        self.write_record(record)
    }

    /// Renew the lease once half of it has passed since the last write.
    fn renew_if_due(&mut self) -> Result<()> {
        match self.renewed.elapsed() >= self.store.lease / 2 {
            true => self.renew(),
            false => Ok(()),
        }
    }

    /// Store the buffer as the next part and record it with the chaining
    /// value after it.
    fn store_part(&mut self, state: ChainState) -> Result<()> {
        let part = self.put_part()?;
        let now = now_ms();
        let record = self
            .record
            .clone()
            .with_part(part.content_id, state, now)
            .renewed(&self.store.instance, self.store.lease_until(now));
        self.write_record(record)
    }

    /// `put_part` of the buffer as part `parts.len()` (0-based), emptying it.
    fn put_part(&mut self) -> Result<PartId> {
        let Some(id) = self.record.upload_id.clone() else {
            return Err(Error::Network(format!(
                "{}: a part of an upload without a multipart upload",
                self.target.rel
            )));
        };
        let payload = self.take_part()?;
        let index = self.record.parts.len();
        let put = self
            .store
            .store
            .put_part(&self.target.key, &id, index, payload);
        match self.store.block_on(put) {
            Ok(part) => Ok(part),
            Err(e) => Err(self.gone_or(e, &format!("storing part {}", index + 1))),
        }
    }

    /// Take in `data`, received at `offset`.
    fn write_part(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let keep = self
            .part
            .write(offset, data.len() as u64)
            .map_err(|e| Error::Protocol(format!("{}: {e}", self.target.rel)))?;
        let expected = self.part.expected();
        match self.bytes.write(keep, data, expected) {
            Ok(false) => Ok(()),
            Ok(true) => {
                tracing::debug!(
                    "{}: part {} ({expected} B) spooled to a temporary file in {}",
                    self.target.rel,
                    self.part.number(),
                    self.bytes.dir().display()
                );
                Ok(())
            }
            Err(e) => Err(self.spool_error(e)),
        }
    }

    /// The part's bytes, taken, to store; the next part starts after them.
    fn take_part(&mut self) -> Result<PutPayload> {
        let bytes = self.bytes.take().map_err(|e| self.spool_error(e))?;
        self.part.take();
        Ok(PutPayload::from(bytes))
    }

    /// A failure of the part's temporary file (a full or missing `$TMPDIR`).
    fn spool_error(&self, e: std::io::Error) -> Error {
        Error::local_io(
            format!(
                "{}: keeping part {} in a temporary file in {}: {e}",
                self.target.rel,
                self.part.number(),
                self.bytes.dir().display()
            ),
            e,
        )
    }

    /// The error for a failed request. When the multipart upload is gone
    /// (aborted by an expiry sweep, or completed), the record is marked
    /// expired so the client's next attempt starts afresh.
    fn gone_or(&mut self, e: object_store::Error, what: &str) -> Error {
        let text = format!("{}: {what}: {}", self.target.rel, super::error_chain(&e));
        if matches!(e, object_store::Error::NotFound { .. }) {
            let why = "the multipart upload of the partial upload was gone; it starts again";
            let record = self.record.clone().expired(why, now_ms());
            if let Err(e) = self.write_record(record) {
                tracing::debug!("{e}");
            }
        }
        Error::Network(text)
    }

    /// Put the whole file in place: the last part and the completion, or
    /// the one PUT; then the record goes.
    fn complete(&mut self) -> Result<()> {
        let key = self.target.key.clone();
        let Some(id) = self.record.upload_id.clone() else {
            // Still ours? (A different client replaces us only once our
            // lease ran out; this renews it.)
            self.renew()?;
            let payload = self.take_part()?;
            return match self.store.block_on(self.store.store.put(&key, payload)) {
                Ok(_) => Ok(()),
                Err(e) => Err(Error::Network(format!(
                    "{}: storing the file: {}",
                    self.target.rel,
                    super::error_chain(&e)
                ))),
            };
        };
        let last = self.put_part()?;
        self.renew()?;
        let mut parts: Vec<PartId> = (self.record.parts.iter())
            .map(|content_id| PartId {
                content_id: content_id.clone(),
            })
            .collect();
        parts.push(last);
        let done = self.store.store.complete_multipart(&key, &id, parts);
        match self.store.block_on(done) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.gone_or(e, "completing the upload")),
        }
    }
}

impl ChunkSink for BucketSink {
    fn write_at(&mut self, offset: u64, data: Bytes) -> Result<()> {
        self.write_part(offset, &data)?;
        self.renew_if_due()
    }

    fn chunk_verified(&mut self, state: ChainState) -> Result<()> {
        match self.part.chunk_verified() {
            true => self.store_part(state),
            false => Ok(()),
        }
    }

    /// Verified bytes short of a part boundary are not stored anywhere
    /// durable: a cut loses at most one part.
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.complete()?;
        let removed = self
            .store
            .block_on(self.store.delete_record(&self.target.record_key));
        if let Err(e) = removed {
            tracing::warn!("{}: the upload is complete, but {e}", self.target.rel);
        }
        self.finished = true;
        Ok(())
    }

    fn idle(&mut self) -> Result<()> {
        self.renew_if_due()
    }
}

impl Drop for BucketSink {
    /// The connection ended before the file was complete: let go of the
    /// lease now (the parts stay recorded), as a local writer lets go of
    /// its target, so that neither the same client through another
    /// instance nor, after expiry, the sweep waits out the lease. Done on
    /// the runtime (a drop may happen on any thread); a lost condition
    /// means another instance holds the record already.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let store = self.store.clone();
        let (key, version, rel) = (
            self.target.record_key.clone(),
            self.version.clone(),
            self.target.rel.clone(),
        );
        let record = self.record.clone().renewed(&store.instance, now_ms());
        self.store.handle.spawn(async move {
            match store.update_record(&key, &record, &version).await {
                Ok(Some(_)) => tracing::debug!("{rel}: upload lease released"),
                Ok(None) => {}
                Err(e) => tracing::debug!("{rel}: releasing the upload lease: {e}"),
            }
        });
    }
}

/// A storage failure as the engine's error.
fn storage_to_error(e: StorageError) -> Error {
    match e {
        StorageError::Io(e) => e,
        other => Error::Network(other.to_string()),
    }
}
