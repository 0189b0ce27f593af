//! Serving one download: resolve, offer, then stream the file's items while
//! watching the client for pings, a close or a stall.

use std::sync::Arc;

use futures_util::{Sink, Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::session::{Context, IdleWatch, Refusal, send_frame, send_message};
use crate::chain::ChainState;
use crate::paths;
use crate::protocol::{ErrorCode, Message, ResumePoint};
use crate::transfer::sender::FileHashes;
use crate::transfer::{Item, check_chunk_size, sender};

/// What a finished download moved.
pub struct Served {
    /// The path served.
    pub path: String,
    /// Where it started.
    pub offset: u64,
    /// The file's size.
    pub size: u64,
}

/// Serve `path` from `resume` on; returns when the last item is sent.
pub async fn serve<K, R>(
    ctx: &Arc<Context>,
    sink: &mut K,
    stream: &mut R,
    request: (String, u64, Option<ResumePoint>),
    shutdown: &mut broadcast::Receiver<()>,
) -> Result<Served, Refusal>
where
    K: Sink<WsMessage> + Unpin,
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let (raw_path, chunk_size, resume) = request;
    let chunk_size =
        check_chunk_size(chunk_size).map_err(|m| Refusal::new(ErrorCode::BadRequest, m))?;
    let rel = paths::parse_request_path(&raw_path)
        .map_err(|e| Refusal::new(ErrorCode::Forbidden, e.to_string()))?;
    let storage = ctx.storage.clone();
    let open_rel = rel.clone();
    let download = tokio::task::spawn_blocking(move || storage.open_download(&open_rel))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    let known = ctx.hashes.get(&download.etag, chunk_size);
    let (offset, state, restarted) = resume_point(
        resume,
        &download.etag,
        download.size,
        chunk_size,
        known.as_deref(),
    );
    let offer = Message::Offer {
        size: download.size,
        etag: download.etag.clone(),
        chunk_size,
        offset,
        restarted,
    };
    send_message(sink, &offer, ctx.idle_timeout).await?;
    let size = download.size;
    let plan = sender::SendPlan {
        file: download.file,
        path: download.path,
        size,
        chunk_size,
        offset,
        state,
        checks: match known {
            Some(hashes) => sender::Checks::Known(hashes),
            None => sender::Checks::Compute {
                collect: ctx.hashes.max_states(),
            },
        },
    };
    if let Some(hashes) = stream_items(ctx, sink, stream, plan, shutdown).await? {
        ctx.hashes.insert(&download.etag, chunk_size, hashes);
    }
    await_close(ctx, stream).await;
    Ok(Served {
        path: rel.to_string(),
        offset,
        size,
    })
}

/// Honour a resume request only for the same source at a sane offset, and,
/// when the file's hashes are known, only for a matching state.
fn resume_point(
    resume: Option<ResumePoint>,
    etag: &str,
    size: u64,
    chunk_size: u64,
    known: Option<&FileHashes>,
) -> (u64, ChainState, Option<String>) {
    let Some(point) = resume else {
        return (0, ChainState::INITIAL, None);
    };
    if point.etag != etag {
        return (
            0,
            ChainState::INITIAL,
            Some("the file changed on the server".into()),
        );
    }
    if point.offset % chunk_size != 0 || point.offset >= size {
        return (
            0,
            ChainState::INITIAL,
            Some("the resume offset does not fit the file".into()),
        );
    }
    if known.is_some_and(|h| h.state_at(point.offset, chunk_size) != Some(point.state)) {
        let reason = "the partial download does not match the file on the server";
        return (0, ChainState::INITIAL, Some(reason.into()));
    }
    (point.offset, point.state, None)
}

/// After the last item the client verifies the file and closes; wait for
/// that (bounded) so the close handshake is the client's.
async fn await_close<R>(ctx: &Arc<Context>, stream: &mut R)
where
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let limit = ctx.idle_timeout.min(std::time::Duration::from_secs(5));
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, stream.next()).await {
        if matches!(frame, WsMessage::Close(_)) {
            return;
        }
    }
}

async fn stream_items<K, R>(
    ctx: &Arc<Context>,
    sink: &mut K,
    stream: &mut R,
    plan: sender::SendPlan,
    shutdown: &mut broadcast::Receiver<()>,
) -> Result<Option<FileHashes>, Refusal>
where
    K: Sink<WsMessage> + Unpin,
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let (mut items, reader) = sender::spawn(plan);
    let mut idle = IdleWatch::new(ctx.idle_timeout);
    loop {
        tokio::select! {
            item = items.recv() => {
                let Some(item) = item else {
                    let result = reader.await.map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
                    result?;
                    return Err(Refusal::new(ErrorCode::Internal, "reader stopped early"));
                };
                let last = matches!(item, Item::Eof { .. });
                let frame = match item.to_message() {
                    Some(message) => WsMessage::text(message.encode()),
                    None => match item { Item::Data(data) => WsMessage::Binary(data), _ => continue },
                };
                // A client that stops reading must not hold up a shutdown.
                tokio::select! {
                    sent = send_frame(sink, frame, ctx.idle_timeout) => sent?,
                    _ = shutdown.recv() => {
                        return Err(Refusal::new(ErrorCode::GoingAway, "server shutting down"));
                    }
                }
                if last {
                    drop(items);
                    return Ok(reader.await.ok().and_then(Result::ok).flatten());
                }
            }
            incoming = stream.next() => {
                idle.heard();
                super::expect_only_keepalive(incoming)?;
            }
            refusal = idle.expired() => return Err(refusal),
            _ = shutdown.recv() => {
                return Err(Refusal::new(ErrorCode::GoingAway, "server shutting down"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_is_honoured_only_when_it_fits() {
        let good = ChainState([1; 32]);
        let bad = ChainState([2; 32]);
        let hashes = FileHashes {
            states: vec![good, good],
            digest: [0; 32],
        };
        let point = |etag: &str, offset, state| {
            Some(ResumePoint {
                etag: etag.into(),
                offset,
                state,
            })
        };
        // (resume, known hashes, expected offset, restarted?)
        let cases = [
            (None, None, 0, false),
            (point("e", 4096, good), None, 4096, false),
            (point("other", 4096, good), None, 0, true),
            (point("e", 100, good), None, 0, true),
            (point("e", 3 * 4096, good), None, 0, true),
            (point("e", 4096, good), Some(&hashes), 4096, false),
            (point("e", 4096, bad), Some(&hashes), 0, true),
        ];
        for (resume, known, offset, restarted) in cases {
            let got = resume_point(resume.clone(), "e", 3 * 4096 - 5, 4096, known);
            assert_eq!((got.0, got.2.is_some()), (offset, restarted), "{resume:?}");
        }
    }
}
