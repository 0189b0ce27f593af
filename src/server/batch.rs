//! A session's answers held back: the `done`s of eager uploads whose files
//! wait to be made durable together (a batch), and any answer that must
//! follow them. [`Batch::flush`] makes the files durable and puts them in
//! place (storage's `commit_small`: one sync for the batch, a rename each,
//! each directory synced once), records their digests in the hash cache,
//! releases their targets, then queues the answers in request order.

use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::WebSocketStream;

use super::context::Context;
use super::frames::DataSocket;
use super::refusal::Refusal;
use super::session::feed;
use super::writers::WriterGuard;
use crate::chain::hex;
use crate::protocol::{ErrorCode, Message};
use crate::storage::StagedFile;

/// A batch is flushed at this many files...
const MAX_FILES: usize = 256;
/// ... or this many bytes.
const MAX_BYTES: u64 = 32 << 20;

/// One staged file and what it holds until it is in place.
struct Held {
    staged: StagedFile,
    digest: [u8; 32],
    key: String,
    _guard: WriterGuard,
}

/// Files waiting to be made durable and answers held back, in request
/// order.
#[derive(Default)]
pub struct Batch {
    files: Vec<Held>,
    bytes: u64,
    answers: Vec<Message>,
}

impl Batch {
    /// Nothing held back.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty() && self.files.is_empty()
    }

    /// Whether a staged file of the batch is the target `key`.
    pub fn holds(&self, key: &str) -> bool {
        self.files.iter().any(|f| f.key == key)
    }

    /// Add a staged file of `size` bytes (its target `key` held by `guard`);
    /// its `done` is held back until the batch is flushed. True when the
    /// batch is full.
    pub fn add(
        &mut self,
        staged: StagedFile,
        size: u64,
        digest: [u8; 32],
        key: String,
        guard: WriterGuard,
    ) -> bool {
        self.files.push(Held {
            staged,
            digest,
            key,
            _guard: guard,
        });
        self.bytes += size;
        self.answers.push(Message::Done {
            sha256: hex(&digest),
            skipped: false,
        });
        self.files.len() >= MAX_FILES || self.bytes >= MAX_BYTES
    }

    /// Answer a request: queued behind the held-back answers, or at once
    /// (unflushed) when there are none.
    pub async fn answer<S: DataSocket>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        message: Message,
        limit: Duration,
    ) -> Result<(), Refusal> {
        if self.is_empty() {
            feed(ws, &message, limit).await
        } else {
            self.answers.push(message);
            Ok(())
        }
    }

    /// Make the batch's files durable and in place, then queue every
    /// held-back answer. A storage failure answers nothing: the client
    /// sends those files again.
    pub async fn flush<S: DataSocket>(
        &mut self,
        ctx: &Arc<Context>,
        ws: &mut WebSocketStream<S>,
    ) -> Result<(), Refusal> {
        if !self.files.is_empty() {
            let files = std::mem::take(&mut self.files);
            self.bytes = 0;
            let committed = commit(ctx, files).await;
            if committed.is_err() {
                self.answers.clear();
            }
            committed?;
        }
        for message in std::mem::take(&mut self.answers) {
            feed(ws, &message, ctx.limits.idle_timeout).await?;
        }
        Ok(())
    }
}

/// Commit `files` on the blocking pool, record their digests under the
/// etags they have in place, then let go of their targets.
async fn commit(ctx: &Arc<Context>, files: Vec<Held>) -> Result<(), Refusal> {
    let storage = ctx.storage.clone();
    let (files, committed) = tokio::task::spawn_blocking(move || {
        let staged: Vec<&StagedFile> = files.iter().map(|f| &f.staged).collect();
        let committed = storage.commit_small(&staged);
        (files, committed)
    })
    .await
    .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
    let metas = committed.map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
    for (held, meta) in files.iter().zip(&metas) {
        ctx.hashes
            .insert_small_digest(&crate::storage::etag(meta), held.digest);
    }
    Ok(())
}
