//! An eager `put` in a session: a small file (at most one chunk and
//! [`SMALL_FILE_MAX`]) whose data and `eof` follow the request without
//! waiting. [`arrive`]: admitted as any upload (the token's grant, read-only,
//! `--max-file-size`, the path), its data read into memory (a refused
//! file's is discarded). [`prepare`], on the blocking pool for a whole
//! group: its digest verified, an identical target found (`put.sha256`),
//! else its target held (one writer; not a directory; free space) and the
//! file written as `NAME.wsresume-part`. [`conclude`], in request order:
//! the file joins the session's [`Batch`] (its one answer, `done`, comes
//! once the batch is durable and in place), or `done{skipped}`, or its
//! `error`; the session goes on.

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
use super::writers::WriterGuard;
use crate::chain::{ChainHasher, hex};
use crate::paths::RelPath;
use crate::protocol::{ErrorCode, Message, SMALL_FILE_MAX};
use crate::storage::StagedFile;
use crate::transfer::check_chunk_size;
use crate::transfer::codec::Unpacker;

/// An eager `put` read in full: the request, whether it is admitted, its
/// data (when admitted) and its `eof` digest.
pub struct Arrived {
    /// The request.
    pub put: PutRequest,
    admitted: Result<RelPath, Refusal>,
    data: Vec<u8>,
    eof: String,
}

/// What the blocking pass ([`prepare`]) made of an arrived upload.
pub enum Prepared {
    /// Written beside its target, which is held.
    Staged {
        staged: StagedFile,
        digest: [u8; 32],
        key: String,
        guard: WriterGuard,
    },
    /// The target already holds this content.
    Skipped { digest: [u8; 32] },
    /// The target is held by another upload (or this session's batch):
    /// claimed the slow way.
    Held { digest: [u8; 32] },
    /// Refused: its answer.
    Refused(Refusal),
}

/// Read the body (data and `eof`) of the eager upload `put`, checking only
/// what needs no disk: an error here ends the session. On a compressing
/// session, `unpacker` reads its data frames.
pub async fn arrive<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    (put, unpacker): (PutRequest, Option<&mut Unpacker>),
    grant: &crate::auth::Grant,
    shutdown: &mut Shutdown,
) -> Result<Arrived, Refusal> {
    check_eager(&put)?;
    let admitted = match super::scope::authorize_put(ctx, grant, &put).await {
        Ok(()) => upload::admit(ctx, &put).map(|(rel, _)| rel),
        Err(refusal) => Err(refusal),
    };
    let body = Body {
        size: put.size,
        keep: admitted.is_ok(),
        unpacker,
    };
    let (data, eof) = read_body(ctx, ws, body, shutdown).await?;
    Ok(Arrived {
        put,
        admitted,
        data,
        eof,
    })
}

/// Verify an arrived upload, skip it when its target already holds it,
/// else hold its target (if free) and write it beside it. Blocks: one call
/// on the blocking pool prepares a whole group.
pub fn prepare(ctx: &Context, arrived: &Arrived) -> Prepared {
    let rel = match &arrived.admitted {
        Ok(rel) => rel,
        Err(refusal) => return Prepared::Refused(refusal.clone()),
    };
    let digest = match verify(rel, &arrived.data, &arrived.eof) {
        Ok(digest) => digest,
        Err(refusal) => return Prepared::Refused(refusal),
    };
    let put = &arrived.put;
    if put.sha256.as_deref() == Some(hex(&digest).as_str())
        && super::identical::holds_small(ctx, rel, put.size, digest, put.attrs())
    {
        return Prepared::Skipped { digest };
    }
    let mut held = None;
    let mut hold = |key: &str| {
        held = ctx
            .writers
            .try_claim(key, &put.source_id)
            .map(|guard| (key.to_string(), guard));
        held.is_some()
    };
    match ctx
        .storage
        .stage_small(rel, &arrived.data, put.attrs(), &mut hold)
    {
        Err(e) => Prepared::Refused(e.into()),
        Ok(None) => Prepared::Held { digest },
        Ok(Some(staged)) => match held {
            Some((key, guard)) => Prepared::Staged {
                staged,
                digest,
                key,
                guard,
            },
            None => Prepared::Refused(Refusal::new(ErrorCode::Internal, "staged unheld")),
        },
    }
}

/// Finish a prepared upload in request order: a staged file joins the
/// batch (its `done` held back), an identical one is answered
/// `done{skipped}`, a held target is claimed (waiting for this session's
/// batch or taking over from the same source) and written now.
pub async fn conclude<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    arrived: Arrived,
    prepared: Prepared,
    batch: &mut Batch,
) -> Result<Stored, Refusal> {
    let size = arrived.put.size;
    let path = arrived.admitted.as_ref().map(ToString::to_string);
    let path = path.unwrap_or_default();
    let stored = |digest: &[u8; 32], skipped| Stored {
        path: path.clone(),
        offset: if skipped { size } else { 0 },
        size,
        sha256: hex(digest),
        skipped,
    };
    let (staged, digest, key, guard) = match prepared {
        Prepared::Refused(refusal) => return Err(refusal),
        Prepared::Skipped { digest } => {
            let done = Message::Done {
                sha256: hex(&digest),
                skipped: true,
            };
            batch.answer(ws, done, ctx.limits.idle_timeout).await?;
            return Ok(stored(&digest, true));
        }
        Prepared::Held { digest } => {
            let (staged, key, guard) = claim_and_stage(ctx, ws, arrived, batch).await?;
            (staged, digest, key, guard)
        }
        Prepared::Staged {
            staged,
            digest,
            key,
            guard,
        } => (staged, digest, key, guard),
    };
    if batch.add(staged, size, digest, key, guard) {
        batch.flush(ctx, ws).await?;
    }
    Ok(stored(&digest, false))
}

/// The slow way for a held target: its key, the batch flushed if it holds
/// the target, the claim (which may wait), then the file written.
async fn claim_and_stage<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    arrived: Arrived,
    batch: &mut Batch,
) -> Result<(StagedFile, String, WriterGuard), Refusal> {
    let rel = arrived.admitted?;
    let (storage, key_rel) = (ctx.storage.clone(), rel.clone());
    let key = tokio::task::spawn_blocking(move || storage.upload_key(&key_rel))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    if batch.holds(&key) {
        // The same target twice: the first must be in place first.
        batch.flush(ctx, ws).await?;
    }
    let guard = upload::claim_key(ctx, &rel, &key, &arrived.put.source_id).await?;
    let storage = ctx.storage.clone();
    let (data, attrs) = (arrived.data, arrived.put.attrs());
    let staged =
        tokio::task::spawn_blocking(move || storage.stage_small(&rel, &data, attrs, &mut |_| true))
            .await
            .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    let staged =
        staged.ok_or_else(|| Refusal::new(ErrorCode::Internal, "the target was not held"))?;
    Ok((staged, key, guard))
}

/// The SHA-256 of `data`, which must be the `eof` digest.
fn verify(rel: &RelPath, data: &[u8], eof: &str) -> Result<[u8; 32], Refusal> {
    let claimed = super::identical::parse_digest(eof)?;
    let mut hasher = ChainHasher::default();
    hasher.update(data);
    let digest = hasher.finalize();
    if digest != claimed {
        return Err(Refusal::new(
            ErrorCode::Integrity,
            format!("{rel}: the data does not match its eof digest"),
        ));
    }
    Ok(digest)
}

/// An eager `put` must name a valid chunk size and fit one chunk and
/// [`SMALL_FILE_MAX`] (else the client broke the protocol).
fn check_eager(put: &PutRequest) -> Result<(), Refusal> {
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
    Ok(())
}

/// What follows an eager `put`: `size` bytes of data (kept when `keep`),
/// in frames `unpacker` reads on a compressing session.
struct Body<'a> {
    size: u64,
    keep: bool,
    unpacker: Option<&'a mut Unpacker>,
}

/// Read the data frames and the `eof` that follow an eager `put` (the data
/// kept or discarded as `body` says): the data and the eof digest.
/// Anything else, more or fewer bytes, is a broken session.
async fn read_body<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    body: Body<'_>,
    shutdown: &mut Shutdown,
) -> Result<(Vec<u8>, String), Refusal> {
    let Body {
        size,
        keep,
        mut unpacker,
    } = body;
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
            WsMessage::Binary(frame) => {
                let bytes = match unpacker.as_deref_mut() {
                    Some(unpacker) => unpacker.unpack(frame)?,
                    None => frame,
                };
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
