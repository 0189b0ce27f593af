//! Receiving one upload: admit it (read-only, size limit, chunk size, path),
//! claim the target (one writer), open or resume its partial (free space),
//! tell the client where to start, then pump: verify and store what
//! arrives.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, Stream, StreamExt};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::context::Context;
use super::idle::IdleWatch;
use super::refusal::{Refusal, received, send_frame, send_message};
use super::request::PutRequest;
use super::shutdown::Shutdown;
use super::writers::{ClaimError, WriterGuard};
use crate::chain::hex;
use crate::paths::{self, RelPath};
use crate::protocol::{ErrorCode, Message};
use crate::storage::Upload;
use crate::transfer::codec::Unpacker;
use crate::transfer::receiver::{Receiver, ReceiverTask};
use crate::transfer::{Item, check_chunk_size};

/// What a finished upload stored.
pub struct Stored {
    /// The path written.
    pub path: String,
    /// Bytes the server already held.
    pub offset: u64,
    /// The file's size.
    pub size: u64,
    /// Its SHA-256.
    pub sha256: String,
    /// The target already held it: nothing was sent.
    pub skipped: bool,
}

/// How often the server pings an uploader: well within a client's
/// `--timeout` (default 30 s).
const UPLOADER_PING: Duration = Duration::from_secs(5);

/// Receive the upload described by `request`: admit it, claim its target,
/// open its partial, tell the client where to start, then pump.
pub async fn receive<K, R>(
    ctx: &Arc<Context>,
    sink: &mut K,
    stream: &mut R,
    request: PutRequest,
    unpacker: Option<&mut Unpacker>,
    shutdown: &mut Shutdown,
) -> Result<Stored, Refusal>
where
    K: Sink<WsMessage> + Unpin,
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let (rel, chunk_size) = admit(ctx, &request)?;
    let mut guard = claim(ctx, &rel, &request.source_id).await?;
    if let Some(stored) = already_stored(ctx, sink, &rel, &request, chunk_size).await? {
        return Ok(stored);
    }
    let upload = open(ctx, &rel, &request, chunk_size).await?;
    let placed = upload.sink.placed();
    let (offset, state) = upload.verified;
    let accept = Message::Accept {
        offset,
        chunk_size: upload.chunk_size,
        state,
        restarted: upload.restarted,
    };
    send_message(sink, &accept, ctx.limits.idle_timeout).await?;
    let receiver = Receiver::new(
        upload.sink,
        upload.chunk_size,
        request.size,
        upload.verified,
    )?;
    let mut task = ReceiverTask::spawn(receiver);
    // Compressed frames agreed at the upgrade: the context to read them.
    let frames = (stream, unpacker);
    let result = pump(ctx, sink, frames, &mut task, &mut guard, shutdown).await;
    let _ = task.close().await;
    let digest = result?;
    // The stored file's hashes, for a client that sends or gets it again.
    ctx.hashes.insert_placed(placed.as_deref(), digest);
    Ok(Stored {
        path: rel.to_string(),
        offset,
        size: request.size,
        sha256: hex(&digest),
        skipped: false,
    })
}

/// Whether this server takes the upload at all (not read-only, not over
/// `--max-file-size`, a chunk size and a path it accepts): the path under
/// ROOT and the chunk size. Touches nothing; whether the rest fits on the
/// disk is checked when the partial is opened ([`open`]), once what it
/// already holds is known.
pub(super) fn admit(ctx: &Context, request: &PutRequest) -> Result<(RelPath, u64), Refusal> {
    if ctx.read_only {
        return Err(Refusal::new(
            ErrorCode::ReadOnly,
            "this server is read-only",
        ));
    }
    if let Some(max) = ctx.limits.max_file_size.filter(|max| request.size > *max) {
        return Err(Refusal::new(
            ErrorCode::TooLarge,
            format!(
                "{}: {} bytes is more than this server accepts ({max} bytes)",
                request.path, request.size
            ),
        ));
    }
    let chunk_size =
        check_chunk_size(request.chunk_size).map_err(|m| Refusal::new(ErrorCode::BadRequest, m))?;
    let rel = paths::parse_request_path(&request.path)
        .map_err(|e| Refusal::new(ErrorCode::Forbidden, e.to_string()))?;
    Ok((rel, chunk_size))
}

/// Become the one writer of the file `rel` resolves to (the same source
/// reconnecting takes over from its older connection).
async fn claim(ctx: &Context, rel: &RelPath, source_id: &str) -> Result<WriterGuard, Refusal> {
    let storage = ctx.storage.clone();
    let key_rel = rel.clone();
    let key = tokio::task::spawn_blocking(move || storage.upload_key(&key_rel))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    claim_key(ctx, rel, &key, source_id).await
}

/// [`claim`] with the target's key (`Storage::upload_key`) known.
pub(super) async fn claim_key(
    ctx: &Context,
    rel: &RelPath,
    key: &str,
    source_id: &str,
) -> Result<WriterGuard, Refusal> {
    ctx.writers
        .claim(key, source_id)
        .await
        .map_err(|e| match e {
            ClaimError::Busy => Refusal::new(
                ErrorCode::Busy,
                format!("{rel} is being uploaded by another client"),
            ),
            // The earlier connection is still finishing (a sync, a rename):
            // worth another attempt, unlike a second writer.
            ClaimError::Stuck => Refusal::new(
                ErrorCode::GoingAway,
                format!("{rel}: the earlier upload did not let go yet"),
            ),
        })
}

/// Open (or resume) the partial upload, with the attributes the stored file
/// gets; storage refuses it when the rest does not fit on the disk.
async fn open(
    ctx: &Context,
    rel: &RelPath,
    request: &PutRequest,
    chunk_size: u64,
) -> Result<Upload, Refusal> {
    let source = request.source();
    let storage = ctx.storage.clone();
    let open_rel = rel.clone();
    let mut upload =
        tokio::task::spawn_blocking(move || storage.open_upload(&open_rel, &source, chunk_size))
            .await
            .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    upload.sink.set_attrs(request.attrs());
    tracing::debug!(
        "put {rel}: resuming at {}{}",
        upload.verified.0,
        upload
            .restarted
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    Ok(upload)
}

/// When the client sent its digest and the target already holds that file:
/// give it the requested attributes and answer `done` with `skipped`, with
/// no partial made and no byte sent.
async fn already_stored<K>(
    ctx: &Arc<Context>,
    sink: &mut K,
    rel: &RelPath,
    request: &PutRequest,
    chunk_size: u64,
) -> Result<Option<Stored>, Refusal>
where
    K: Sink<WsMessage> + Unpin,
{
    let Some(sha256) = &request.sha256 else {
        return Ok(None);
    };
    let digest = super::identical::parse_digest(sha256)?;
    if !target_holds(ctx, sink, rel, request, digest, chunk_size).await? {
        return Ok(None);
    }
    drop_partial(ctx, rel, request).await;
    let done = Message::Done {
        sha256: hex(&digest),
        skipped: true,
    };
    send_message(sink, &done, ctx.limits.idle_timeout).await?;
    Ok(Some(Stored {
        path: rel.to_string(),
        offset: request.size,
        size: request.size,
        sha256: hex(&digest),
        skipped: true,
    }))
}

/// The target holds what the client set out to send: its partial upload
/// of it (an earlier run cut after the target was finished by another) is
/// no longer needed. Best effort: a partial left expires.
async fn drop_partial(ctx: &Context, rel: &RelPath, request: &PutRequest) {
    let source = request.source();
    let (storage, drop_rel) = (ctx.storage.clone(), rel.clone());
    let dropped =
        tokio::task::spawn_blocking(move || storage.drop_upload(&drop_rel, &source)).await;
    if let Ok(Err(e)) = dropped {
        tracing::warn!("{rel}: the partial upload of a file already there stays: {e}");
    }
}

/// Whether the target of `rel` already holds the `request.size` bytes whose
/// SHA-256 is `digest`; if so it is given the requested attributes.
pub(super) async fn target_holds<K>(
    ctx: &Arc<Context>,
    sink: &mut K,
    rel: &RelPath,
    request: &PutRequest,
    digest: [u8; 32],
    chunk_size: u64,
) -> Result<bool, Refusal>
where
    K: Sink<WsMessage> + Unpin,
{
    let storage = ctx.storage.clone();
    let open_rel = rel.clone();
    // Anything but an existing regular file: upload as usual.
    let Ok(Ok(target)) =
        tokio::task::spawn_blocking(move || storage.open_download(&open_rel)).await
    else {
        return Ok(false);
    };
    let candidate = super::identical::Candidate::of(&target, chunk_size);
    if !super::identical::holds(ctx, sink, &candidate, request.size, digest).await? {
        return Ok(false);
    }
    let (settle_ctx, attrs) = (ctx.clone(), request.attrs());
    tokio::task::spawn_blocking(move || {
        super::identical::settle(&settle_ctx, &target.file, &target.etag, attrs, digest);
    })
    .await
    .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
    Ok(true)
}

/// Move items from the socket to the receiver until the file checks out.
async fn pump<K, R>(
    ctx: &Arc<Context>,
    sink: &mut K,
    (stream, mut unpacker): (&mut R, Option<&mut Unpacker>),
    task: &mut ReceiverTask,
    guard: &mut WriterGuard,
    shutdown: &mut Shutdown,
) -> Result<[u8; 32], Refusal>
where
    K: Sink<WsMessage> + Unpin,
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let mut verified = task.verified();
    let mut idle = IdleWatch::new(ctx.limits.idle_timeout);
    // After `eof` nothing more of this upload comes: in a session what
    // follows is the next request, read once this one is answered.
    let mut ended = false;
    let mut pings =
        tokio::time::interval_at(tokio::time::Instant::now() + UPLOADER_PING, UPLOADER_PING);
    loop {
        tokio::select! {
            refusal = idle.expired(), if !ended => return Err(refusal),
            _ = pings.tick() => ping_uploader(ctx, sink).await,
            incoming = stream.next(), if !ended => {
                idle.heard();
                if let Some(item) = item_from(incoming, unpacker.as_deref_mut())? {
                    ended = matches!(item, Item::Eof { .. });
                    // A disk behind (a full queue, a sync to wait for) must
                    // not silence the pings.
                    let pushing = task.push(item);
                    tokio::pin!(pushing);
                    loop {
                        tokio::select! {
                            pushed = &mut pushing => break pushed?,
                            _ = pings.tick() => ping_uploader(ctx, sink).await,
                        }
                    }
                }
            }
            outcome = task.outcome() => {
                let digest = outcome?;
                let done = Message::Done { sha256: hex(&digest), skipped: false };
                send_message(sink, &done, ctx.limits.idle_timeout).await?;
                return Ok(digest);
            }
            Ok(()) = verified.changed() => {
                // Best effort: if the connection is gone, the read side
                // still takes in what already arrived before it ends.
                let offset = *verified.borrow_and_update();
                let _ = send_message(sink, &Message::Ack { offset }, ctx.limits.idle_timeout).await;
            }
            _ = guard.superseded.changed() => {
                drain(stream, unpacker, task).await;
                return Err(Refusal::new(
                    ErrorCode::Superseded,
                    "a newer connection of the same upload took over",
                ));
            }
            refusal = shutdown.going_away() => return Err(refusal),
        }
    }
}

/// The uploader's own pings wait behind its data on a slow link; this
/// tells it the connection works. Best effort.
async fn ping_uploader<K>(ctx: &Arc<Context>, sink: &mut K)
where
    K: Sink<WsMessage> + Unpin,
{
    let ping = WsMessage::Ping(Default::default());
    let _ = send_frame(sink, ping, ctx.limits.idle_timeout).await;
}

/// Before handing over to a newer connection, take in what already arrived
/// on this one (a cut connection ends at once; a half-open one goes quiet),
/// so those bytes are not sent twice. Bounded in time.
async fn drain<R>(stream: &mut R, mut unpacker: Option<&mut Unpacker>, task: &ReceiverTask)
where
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        let quiet = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        let Ok(Some(Ok(frame))) = quiet else { return };
        match item_from(Some(Ok(frame)), unpacker.as_deref_mut()) {
            Ok(Some(item)) => {
                if task.push(item).await.is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// Turn one received frame into an item (None for keepalive frames); on a
/// compressing connection, data frames are unpacked.
fn item_from(
    incoming: Option<Result<WsMessage, WsError>>,
    unpacker: Option<&mut Unpacker>,
) -> Result<Option<Item>, Refusal> {
    match received(incoming)? {
        WsMessage::Binary(data) => match unpacker {
            Some(unpacker) => Ok(Some(Item::Data(unpacker.unpack(data)?))),
            None => Ok(Some(Item::Data(data))),
        },
        WsMessage::Text(text) => {
            let message = Message::decode(&text)?;
            Item::from_message(&message)?.map(Some).ok_or_else(|| {
                Refusal::new(
                    ErrorCode::BadRequest,
                    format!("unexpected {} message during an upload", message.kind()),
                )
            })
        }
        _ => Ok(None),
    }
}
