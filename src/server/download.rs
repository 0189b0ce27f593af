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
    let (offset, state, restarted) =
        resume_point(resume, &download.etag, download.size, chunk_size);
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
    };
    stream_items(ctx, sink, stream, plan, shutdown).await?;
    await_close(ctx, stream).await;
    Ok(Served {
        path: rel.to_string(),
        offset,
        size,
    })
}

/// Honour a resume request only for the same source at a sane offset.
fn resume_point(
    resume: Option<ResumePoint>,
    etag: &str,
    size: u64,
    chunk_size: u64,
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
    (point.offset, point.state, None)
}

/// After the last item the client verifies the file and closes; wait for
/// that (bounded) so the close handshake is the client's.
async fn await_close<R>(ctx: &Arc<Context>, stream: &mut R)
where
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + ctx.idle_timeout;
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
) -> Result<(), Refusal>
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
                send_frame(sink, frame, ctx.idle_timeout).await?;
                if last {
                    return Ok(());
                }
            }
            incoming = stream.next() => {
                idle.heard();
                super::expect_only_keepalive(Ok(incoming))?;
            }
            refusal = idle.expired() => return Err(refusal),
            _ = shutdown.recv() => {
                return Err(Refusal::new(ErrorCode::GoingAway, "server shutting down"));
            }
        }
    }
}
