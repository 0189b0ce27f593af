//! An eager `put` in a session: a small file (at most one chunk and
//! [`SMALL_FILE_MAX`]) whose data and `eof` follow the request without
//! waiting. Admitted as any upload (read-only, `--max-file-size`, the path
//! under ROOT, not a directory, free space), its data read into memory and
//! its digest verified, its target claimed (one writer), then written as
//! `NAME.wsresume-part` and added to the session's [`Batch`]: its one
//! answer, `done`, comes once the batch is durable and in place. A refused
//! file's data is read and discarded, and its `error` is its answer; the
//! session goes on. `put.sha256` naming what the target already holds is
//! answered `done{skipped}`.

use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::batch::Batch;
use super::context::Context;
use super::frames::DataSocket;
use super::idle::IdleWatch;
use super::refusal::{Refusal, flush_frames, received};
use super::request::PutRequest;
use super::shutdown::Shutdown;
use super::upload::{self, Stored};
use crate::chain::{ChainHasher, hex};
use crate::paths::RelPath;
use crate::protocol::{ErrorCode, Message, SMALL_FILE_MAX};
use crate::transfer::check_chunk_size;

/// Receive the eager upload `put`: `Ok` once it is staged in `batch` (or
/// found identical); a refusal is its answer (or ends the session).
pub async fn receive<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    put: PutRequest,
    batch: &mut Batch,
    shutdown: &mut Shutdown,
) -> Result<Stored, Refusal> {
    let chunk_size = eager_chunk_size(&put)?;
    let admitted = upload::admit(ctx, &put);
    let (data, eof) = read_body(ctx, ws, put.size, admitted.is_ok(), shutdown).await?;
    let (rel, _) = admitted?;
    let claimed = super::identical::parse_digest(&eof)?;
    let (data, digest, key) = verify(ctx, &rel, data).await?;
    if digest != claimed {
        return Err(Refusal::new(
            ErrorCode::Integrity,
            format!("{rel}: the data does not match its eof digest"),
        ));
    }
    if batch.holds(&key) {
        // The same target twice: the first must be in place first.
        batch.flush(ctx, ws).await?;
    }
    let guard = upload::claim_key(ctx, &rel, &key, &put.source_id).await?;
    let stored = Stored {
        path: rel.to_string(),
        offset: 0,
        size: put.size,
        sha256: hex(&digest),
        skipped: false,
    };
    if put.sha256.as_deref() == Some(stored.sha256.as_str())
        && upload::target_holds(ctx, ws, &rel, &put, digest, chunk_size).await?
    {
        let done = Message::Done {
            sha256: stored.sha256.clone(),
            skipped: true,
        };
        batch.answer(ws, done, ctx.limits.idle_timeout).await?;
        let (offset, skipped) = (put.size, true);
        return Ok(Stored {
            offset,
            skipped,
            ..stored
        });
    }
    let storage = ctx.storage.clone();
    let attrs = put.attrs();
    let staged = tokio::task::spawn_blocking(move || storage.stage_small(&rel, &data, attrs))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    if batch.add(staged, put.size, digest, key, guard) {
        batch.flush(ctx, ws).await?;
    }
    Ok(stored)
}

/// The chunk size of an eager `put`, which must fit one chunk and
/// [`SMALL_FILE_MAX`] (else the client broke the protocol).
fn eager_chunk_size(put: &PutRequest) -> Result<u64, Refusal> {
    let chunk_size =
        check_chunk_size(put.chunk_size).map_err(|m| Refusal::new(ErrorCode::BadRequest, m))?;
    if put.size > SMALL_FILE_MAX || put.size > chunk_size {
        return Err(Refusal::new(
            ErrorCode::BadRequest,
            format!(
                "an eager put holds at most one chunk and {SMALL_FILE_MAX} bytes, not {}",
                put.size
            ),
        ));
    }
    Ok(chunk_size)
}

/// The digest of `data` and the key of `rel`'s target, in one call on the
/// blocking pool.
async fn verify(
    ctx: &Arc<Context>,
    rel: &RelPath,
    data: Vec<u8>,
) -> Result<(Vec<u8>, [u8; 32], String), Refusal> {
    let storage = ctx.storage.clone();
    let key_rel = rel.clone();
    let (data, digest, key) = tokio::task::spawn_blocking(move || {
        let mut hasher = ChainHasher::default();
        hasher.update(&data);
        let key = storage.upload_key(&key_rel);
        (data, hasher.finalize(), key)
    })
    .await
    .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
    Ok((data, digest, key?))
}

/// Read the `size` bytes of data frames and the `eof` that follow an eager
/// `put` (kept when `keep`, else discarded): the data and the eof digest.
/// Anything else, more or fewer bytes, is a broken session.
async fn read_body<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    size: u64,
    keep: bool,
    shutdown: &mut Shutdown,
) -> Result<(Vec<u8>, String), Refusal> {
    let mut data = Vec::with_capacity(if keep { size as usize } else { 0 });
    let mut got = 0u64;
    let mut idle = IdleWatch::new(ctx.limits.idle_timeout);
    loop {
        let incoming = match ws.next().now_or_never() {
            Some(incoming) => incoming,
            None => {
                // Answers already queued go out while the data comes.
                flush_frames(ws, ctx.limits.idle_timeout).await?;
                tokio::select! {
                    incoming = ws.next() => incoming,
                    refusal = idle.expired() => return Err(refusal),
                    refusal = shutdown.going_away() => return Err(refusal),
                }
            }
        };
        idle.heard();
        match received(incoming)? {
            WsMessage::Binary(bytes) => {
                got += bytes.len() as u64;
                if got > size {
                    return Err(bad(format!("more than the put's {size} bytes")));
                }
                if keep {
                    data.extend_from_slice(&bytes);
                }
            }
            WsMessage::Text(text) => match Message::decode(&text)? {
                Message::Eof { sha256 } if got == size => return Ok((data, sha256)),
                Message::Eof { .. } => return Err(bad(format!("eof after {got} of {size} bytes"))),
                other => return Err(bad(format!("unexpected {} in an eager put", other.kind()))),
            },
            WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            _ => return Err(bad("unexpected frame in an eager put".into())),
        }
    }
}

fn bad(message: String) -> Refusal {
    Refusal::new(ErrorCode::BadRequest, message)
}
