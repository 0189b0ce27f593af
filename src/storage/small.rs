//! Small files written whole (a session's eager upload), through
//! `partial::small` (stage as `NAME.wsresume-part`, then a batch made
//! durable and put in place together), with its errors as the storage's:
//! a full disk refuses the upload, the session goes on.

use std::fs::Metadata;
use std::path::Path;

use super::StorageError;
use crate::attrs::FileAttrs;
use crate::error::Error;
use crate::partial::is_disk_full;
use crate::partial::small::{self, StagedFile};

/// Write `data` to the part file of `target` and give it `attrs`.
pub(super) fn stage(
    target: &Path,
    data: &[u8],
    attrs: FileAttrs,
) -> Result<StagedFile, StorageError> {
    small::stage(target, data, attrs).map_err(storage_error)
}

/// Make every staged file durable, then put each in place and make the
/// renames durable: the files' metadata afterwards, in order, or the first
/// failure.
pub(super) fn commit(staged: &[&StagedFile]) -> Result<Vec<Metadata>, StorageError> {
    small::commit(staged)
        .into_iter()
        .map(|result| result.map_err(storage_error))
        .collect()
}

/// A full disk is `NoSpace` (the upload is refused, the session goes on),
/// anything else a storage failure.
fn storage_error(error: Error) -> StorageError {
    if is_disk_full(&error) {
        StorageError::NoSpace(error.to_string())
    } else {
        StorageError::Io(error)
    }
}
