//! The upload record's I/O: where a target's record lives, reading it with
//! the version to write against, and the conditional writes that make it a
//! lease: create with `If-None-Match: *` ([`PutMode::Create`]), change with
//! `If-Match` on the ETag of the last read or write ([`PutMode::Update`]).
//! A lost condition is not an error here but `None`: another instance took
//! the target, and the caller decides what that means. Also the abort of a
//! multipart upload that may already be gone. The format and the decisions
//! are in `s3/record.rs`.

use object_store::multipart::MultipartStore;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use sha2::{Digest, Sha256};

use super::record::Record;
use super::{S3Store, store_error};
use crate::error::Error;
use crate::storage::StorageError;

/// A record as read: usable, or why not; and the version to update.
pub(super) type Found = (Result<Record, String>, UpdateVersion);

/// Milliseconds since the epoch, now.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl S3Store {
    /// The key of the upload record of the target `rel` (its request path):
    /// `PREFIX/.wsresume/uploads/<hex SHA-256 of rel>.json`.
    pub(super) fn record_key(&self, rel: &str) -> Key {
        let name = crate::chain::hex(&Sha256::digest(rel.as_bytes()));
        self.internal_key(&format!("uploads/{name}.json"))
    }

    /// When the lease taken or renewed now runs out (ms since the epoch).
    pub(super) fn lease_until(&self, now_ms: u64) -> u64 {
        now_ms.saturating_add(self.lease.as_millis() as u64)
    }

    /// The record at `key`, if there is one.
    pub(super) async fn read_record(&self, key: &Key) -> Result<Option<Found>, StorageError> {
        let got = match self.store.get(key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(&format!("reading {key}"), &e)),
        };
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        if version.e_tag.is_none() {
            return Err(StorageError::Io(Error::Network(format!(
                "reading {key}: the object store gave no ETag (conditional writes are needed)"
            ))));
        }
        let bytes = match got.bytes().await {
            Ok(bytes) => bytes,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error(&format!("reading {key}"), &e)),
        };
        Ok(Some((Record::decode(&bytes), version)))
    }

    /// Create the record at `key` if none is there: its version, or `None`
    /// when one was there.
    pub(super) async fn create_record(
        &self,
        key: &Key,
        record: &Record,
    ) -> Result<Option<UpdateVersion>, StorageError> {
        self.put_record(key, record, PutMode::Create).await
    }

    /// Replace the record at `key` if it is still at `version`: its new
    /// version, or `None` when another instance changed (or removed) it.
    pub(super) async fn update_record(
        &self,
        key: &Key,
        record: &Record,
        version: &UpdateVersion,
    ) -> Result<Option<UpdateVersion>, StorageError> {
        self.put_record(key, record, PutMode::Update(version.clone()))
            .await
    }

    async fn put_record(
        &self,
        key: &Key,
        record: &Record,
        mode: PutMode,
    ) -> Result<Option<UpdateVersion>, StorageError> {
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(key, record.encode().into(), options)
            .await
        {
            Ok(result) => Ok(Some(result.into())),
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. }
                | object_store::Error::NotFound { .. },
            ) => Ok(None),
            Err(e) => Err(store_error(&format!("writing {key}"), &e)),
        }
    }

    /// Remove the record at `key` (unconditionally: S3 has no conditional
    /// delete; see PROTOCOL.md for when this is safe).
    pub(super) async fn delete_record(&self, key: &Key) -> Result<(), StorageError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(&format!("removing {key}"), &e)),
        }
    }

    /// Abort the multipart upload `id` of the object `key`; one already
    /// gone (completed or aborted) is fine.
    pub(super) async fn abort_upload(&self, key: &Key, id: &str) -> Result<(), StorageError> {
        match self.store.abort_multipart(key, &id.to_string()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(
                &format!("aborting the multipart upload of {key}"),
                &e,
            )),
        }
    }

    /// [`crate::storage::Storage::drop_upload`] for a bucket: the target
    /// `rel` holds what `source` set out to upload, so that source's
    /// upload (its record, not an expiry marker, and its multipart upload)
    /// goes; another source's stays.
    pub(super) async fn drop_upload_of(
        &self,
        rel: &crate::paths::RelPath,
        source: &crate::partial::SourceIdentity,
    ) -> Result<(), StorageError> {
        let key = self.key_of(rel)?;
        let record_key = self.record_key(&rel.to_string());
        let Some((Ok(record), version)) = self.read_record(&record_key).await? else {
            return Ok(());
        };
        if record.expired || record.source != *source {
            return Ok(());
        }
        if self.delete_unchanged(&record_key, &version).await? {
            self.abort_quietly(&key, record.upload_id.as_deref()).await;
        }
        Ok(())
    }

    /// Remove the record at `key` if it is still at `version` when read
    /// again just before (S3 has no conditional delete: this narrows the
    /// window in which an upload that replaces it meanwhile loses its new
    /// record to one request). Whether it was removed.
    pub(super) async fn delete_unchanged(
        &self,
        key: &Key,
        version: &UpdateVersion,
    ) -> Result<bool, StorageError> {
        match self.read_record(key).await? {
            Some((_, now)) if now.e_tag == version.e_tag => {
                self.delete_record(key).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// [`S3Store::abort_upload`], where a failure only costs storage until
    /// the bucket's own clean-up: logged, not returned.
    pub(super) async fn abort_quietly(&self, key: &Key, id: Option<&str>) {
        if let Some(id) = id
            && let Err(e) = self.abort_upload(key, id).await
        {
            tracing::warn!("{e}");
        }
    }
}
