//! Abandoned uploads in a bucket: the expiry sweep over the upload
//! records. A record without progress for longer than the expiry time and
//! whose lease ran out is turned into an expiry marker with a conditional
//! write (so of several instances sweeping at once, one wins and the
//! others skip it), then its multipart upload is aborted. The marker tells
//! a client that comes back why it starts again (as a local partial's
//! marker does) and is removed once it is itself older than the expiry
//! time.

use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore};

use super::S3Store;
use super::lease::now_ms;
use super::record::Record;
use crate::expiry::{Swept, human_duration};
use crate::storage::StorageError;

/// What the sweep did with one record.
enum Outcome {
    Kept,
    Expired,
    MarkerRemoved,
}

impl S3Store {
    /// [`crate::storage::Storage::sweep_expired`] for a bucket.
    pub(super) fn sweep(
        &self,
        max_age: Duration,
        hold: &mut dyn FnMut(&str) -> Option<Box<dyn Send>>,
    ) -> Result<Swept, StorageError> {
        let prefix = self.internal_key("uploads");
        let records: Vec<ObjectMeta> = self
            .block_on(self.store.list(Some(&prefix)).try_collect())
            .map_err(|e| super::store_error(&format!("listing {prefix}"), &e))?;
        let max_ms = max_age.as_millis() as u64;
        let mut swept = Swept::default();
        for meta in records {
            match self.block_on(self.sweep_one(&meta, max_ms, max_age, hold)) {
                Ok(Outcome::Expired) => swept.expired += 1,
                Ok(Outcome::MarkerRemoved) => swept.markers_removed += 1,
                Ok(Outcome::Kept) => {}
                // One failure must not stop expiry elsewhere.
                Err(e) => tracing::warn!("expiry: skipped {}: {e}", meta.location),
            }
        }
        Ok(swept)
    }

    async fn sweep_one(
        &self,
        meta: &ObjectMeta,
        max_ms: u64,
        max_age: Duration,
        hold: &mut dyn FnMut(&str) -> Option<Box<dyn Send>>,
    ) -> Result<Outcome, StorageError> {
        let now = now_ms();
        let old = |since_ms: u64| now.saturating_sub(since_ms) > max_ms;
        let Some((found, version)) = self.read_record(&meta.location).await? else {
            return Ok(Outcome::Kept);
        };
        let record = match found {
            Ok(record) => record,
            // Unreadable: removed once old (an upload replaces it anyway).
            Err(_) if old(meta.last_modified.timestamp_millis().max(0) as u64) => {
                return self.remove_unchanged(&meta.location, &version).await;
            }
            Err(_) => return Ok(Outcome::Kept),
        };
        let live = record.lease_until_ms > now;
        if !old(record.progress_ms) || live {
            return Ok(Outcome::Kept);
        }
        let key = self.join(&record.target);
        // This instance's writers stay off the target meanwhile.
        let Some(_guard) = hold(key.as_ref()) else {
            return Ok(Outcome::Kept);
        };
        if record.expired {
            // Again, in case the sweep that expired it stopped half-way.
            if let Some(id) = &record.upload_id {
                self.abort_upload(&key, id).await?;
            }
            return self.remove_unchanged(&meta.location, &version).await;
        }
        self.expire(&meta.location, &key, record, &version, max_age)
            .await
    }

    /// [`S3Store::delete_unchanged`], as the sweep's outcome.
    async fn remove_unchanged(
        &self,
        record_key: &object_store::path::Path,
        version: &object_store::UpdateVersion,
    ) -> Result<Outcome, StorageError> {
        Ok(match self.delete_unchanged(record_key, version).await? {
            true => Outcome::MarkerRemoved,
            false => Outcome::Kept,
        })
    }

    /// Turn `record` into an expiry marker (if no other instance changed it
    /// since it was read), then abort its multipart upload.
    async fn expire(
        &self,
        record_key: &object_store::path::Path,
        key: &object_store::path::Path,
        record: Record,
        version: &object_store::UpdateVersion,
        max_age: Duration,
    ) -> Result<Outcome, StorageError> {
        let why = format!(
            "the partial upload was abandoned for more than {} and was removed",
            human_duration(max_age)
        );
        let idle = Duration::from_millis(now_ms().saturating_sub(record.progress_ms));
        let target = record.target.clone();
        let upload_id = record.upload_id.clone();
        let marker = record.expired(&why, now_ms());
        if self
            .update_record(record_key, &marker, version)
            .await?
            .is_none()
        {
            return Ok(Outcome::Kept);
        }
        if let Some(id) = upload_id {
            self.abort_upload(key, &id).await?;
        }
        tracing::info!(
            "expired the partial upload of {target} (idle {})",
            human_duration(idle)
        );
        Ok(Outcome::Expired)
    }
}
