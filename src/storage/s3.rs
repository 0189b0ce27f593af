//! Files in an S3-compatible bucket (`serve --store s3://BUCKET[/PREFIX]`),
//! through `object_store`: the bucket under PREFIX plays ROOT, and every
//! piece of transfer state lives in the bucket under the reserved prefix
//! `PREFIX/.wsresume/` (never listed, never served), so any instance on the
//! bucket continues any transfer. The layout is in PROTOCOL.md, "Object
//! storage".
//!
//! This file owns the connection (credentials, region and endpoint from
//! the AWS environment variables, the bucket checked at start) and the
//! mapping of paths to keys; `s3/upload.rs` (multipart uploads and their
//! upload records, which are also the leases), `s3/download.rs` (ranged
//! reads), `s3/listing.rs`, `s3/expiry.rs` and `s3/entries.rs` (the hash
//! cache's entries as objects) do the rest. Storage methods block: they run
//! the store's futures on the runtime handle taken at start.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;

mod download;
mod entries;
mod expiry;
mod lease;
mod listing;
mod part;
mod record;
mod spool;
mod upload;

use super::{Download, ListOptions, Listing, Storage, StorageError, Upload};
use crate::error::Error;
use crate::partial::SourceIdentity;
use crate::paths::RelPath;

/// The reserved prefix (under PREFIX) of every internal object.
pub const INTERNAL: &str = ".wsresume";

/// A bucket (and prefix) serving as ROOT.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub(crate) store: Arc<AmazonS3>,
    /// `s3://BUCKET[/PREFIX]` as given, for messages.
    pub(crate) url: String,
    /// The endpoint, for messages.
    pub(crate) endpoint: String,
    /// The prefix every key starts with (empty, or without slashes at the
    /// ends).
    pub(crate) prefix: String,
    /// The runtime the store's futures run on.
    pub(crate) handle: tokio::runtime::Handle,
    /// This process, as the holder of upload leases.
    pub(crate) instance: String,
    /// How long a lease holds without renewal.
    pub(crate) lease: Duration,
    /// An upload's part larger than this is spooled to a temporary file
    /// (`s3/spool.rs`; read once, at start).
    pub(crate) spool_above: u64,
}

/// `s3://BUCKET[/PREFIX]` split: the bucket and the prefix (no slashes at
/// its ends); `None` when the text is not such a URL.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/');
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let prefix_ok = prefix
        .split('/')
        .all(|part| prefix.is_empty() || (!part.is_empty() && part != "." && part != ".."));
    (bucket_ok && prefix_ok).then(|| (bucket.to_string(), prefix.to_string()))
}

impl S3Store {
    /// Connect to the bucket `url` names, with credentials, region and
    /// endpoint from the AWS environment variables, and check it is there
    /// and readable: a missing bucket, refused credentials or an
    /// unreachable endpoint is an error now, naming which.
    pub async fn connect(url: &str, lease: Duration) -> Result<S3Store, Error> {
        let (bucket, prefix) = parse_url(url).ok_or_else(|| {
            Error::Usage(format!(
                "--store {url}: expected s3://BUCKET[/PREFIX] (a bucket name of 3 to 63 lowercase letters, digits, dots and hyphens)"
            ))
        })?;
        // reqwest's TLS (an https:// endpoint) uses the process's default
        // provider: ring, as everywhere else (installed once; a second
        // call changes nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .unwrap_or_default();
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        let store = builder
            .build()
            .map_err(|e| Error::Usage(format!("--store {url}: {e}")))?;
        let store = S3Store {
            store: Arc::new(store),
            url: url.to_string(),
            endpoint: if endpoint.is_empty() {
                "AWS S3".into()
            } else {
                endpoint
            },
            prefix,
            handle: tokio::runtime::Handle::current(),
            instance: instance_id(),
            lease,
            spool_above: spool::spool_above_from_env(),
        };
        store.check().await?;
        Ok(store)
    }

    /// One listing request: the bucket exists and the credentials may read it.
    async fn check(&self) -> Result<(), Error> {
        let prefix = self.prefix_key();
        match self.store.list_with_delimiter(prefix.as_ref()).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.start_error(&e)),
        }
    }

    /// What a failed first request means, in words.
    fn start_error(&self, e: &object_store::Error) -> Error {
        let text = error_chain(e);
        let (bucket, endpoint) = (&self.url, &self.endpoint);
        match e {
            object_store::Error::NotFound { .. } => {
                Error::Refused(format!("{bucket}: no such bucket at {endpoint}"))
            }
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => Error::Auth(format!(
                "{endpoint} refused the credentials for {bucket} (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): {text}"
            )),
            _ if text.contains("NoSuchBucket") => {
                Error::Refused(format!("{bucket}: no such bucket at {endpoint}"))
            }
            _ if text.contains("InvalidAccessKeyId")
                || text.contains("SignatureDoesNotMatch")
                || text.contains("AccessDenied") =>
            {
                Error::Auth(format!(
                    "{endpoint} refused the credentials for {bucket} (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): {text}"
                ))
            }
            _ => Error::Network(format!("cannot reach {endpoint} for {bucket}: {text}")),
        }
    }

    /// The key of PREFIX itself (`None`: the bucket's root).
    pub(crate) fn prefix_key(&self) -> Option<Key> {
        (!self.prefix.is_empty()).then(|| raw_key(&self.prefix))
    }

    /// The key of an internal object: `PREFIX/.wsresume/NAME`.
    pub(crate) fn internal_key(&self, name: &str) -> Key {
        self.join(&format!("{INTERNAL}/{name}"))
    }

    /// The key of the file `rel`, refused when it names an internal object.
    pub(crate) fn key_of(&self, rel: &RelPath) -> Result<Key, StorageError> {
        let text = rel.to_string();
        let first = text.split('/').next().unwrap_or_default();
        if first == INTERNAL {
            return Err(StorageError::Forbidden(format!(
                "{text}: reserved for the server's own state"
            )));
        }
        if text.is_empty() {
            return Err(StorageError::IsDirectory("/".into()));
        }
        Ok(self.join(&text))
    }

    fn join(&self, rest: &str) -> Key {
        match self.prefix.is_empty() {
            true => raw_key(rest),
            false => raw_key(&format!("{}/{rest}", self.prefix)),
        }
    }

    /// Run a store future to completion from a blocking thread.
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }
}

/// The key that is `text` itself: `Key::from` would percent-encode `#`,
/// `%`, `~`, `[`... and so miss an object another tool named with them
/// (a request path's segments are never empty, `.`, `..` or control
/// characters, which `Key::parse` refuses).
fn raw_key(text: &str) -> Key {
    Key::parse(text).unwrap_or_else(|_| Key::from(text))
}

/// An error and its sources in one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A storage failure from an object store error (`what` says what was
/// being done).
pub(crate) fn store_error(what: &str, e: &object_store::Error) -> StorageError {
    let text = format!("{what}: {}", error_chain(e));
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound(what.to_string()),
        _ => StorageError::Io(Error::Network(text)),
    }
}

/// A random name for this process as a lease holder.
fn instance_id() -> String {
    let n: u64 = rand::random();
    format!("{}-{n:016x}", std::process::id())
}

impl Storage for S3Store {
    fn open_download(&self, rel: &RelPath) -> Result<Download, StorageError> {
        self.download(rel)
    }

    fn upload_key(&self, rel: &RelPath) -> Result<String, StorageError> {
        Ok(self.key_of(rel)?.to_string())
    }

    fn open_upload(
        &self,
        rel: &RelPath,
        source: &SourceIdentity,
        chunk_size: u64,
    ) -> Result<Upload, StorageError> {
        self.start_upload(rel, source, chunk_size)
    }

    fn drop_upload(&self, rel: &RelPath, source: &SourceIdentity) -> Result<(), StorageError> {
        self.block_on(self.drop_upload_of(rel, source))
    }

    fn sweep_expired(
        &self,
        max_age: Duration,
        hold: &mut dyn FnMut(&str) -> Option<Box<dyn Send>>,
    ) -> Result<crate::expiry::Swept, StorageError> {
        self.sweep(max_age, hold)
    }

    fn hash_entries(&self) -> Option<Arc<dyn super::EntryStore>> {
        Some(Arc::new(entries::BucketEntries::new(self.clone())))
    }

    fn list(&self, rel: &RelPath, options: ListOptions) -> Result<Listing, StorageError> {
        self.listing(rel, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_are_checked() {
        let cases: [(&str, Option<(&str, &str)>); 9] = [
            ("s3://bucket", Some(("bucket", ""))),
            ("s3://bucket/", Some(("bucket", ""))),
            ("s3://bucket/a/b/", Some(("bucket", "a/b"))),
            ("s3://my.bucket-1/x", Some(("my.bucket-1", "x"))),
            ("s3://ab", None),
            ("s3://Bucket", None),
            ("http://bucket", None),
            ("s3://bucket/a//b", None),
            ("s3://bucket/../b", None),
        ];
        for (url, want) in cases {
            let got = parse_url(url);
            let want = want.map(|(b, p)| (b.to_string(), p.to_string()));
            assert_eq!(got, want, "{url}");
        }
    }
}
