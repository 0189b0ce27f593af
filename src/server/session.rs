//! A session (`wsresume.v2`): many requests on one connection, pipelined
//! by the client. Requests are handled strictly one after another, each
//! answered in order; only requests already waiting are taken a little
//! ahead (a group of `get`s opened together, a group of eager `put`s
//! written together), the rest wait in the socket (TCP flow control bounds
//! the backlog).
//!
//! Answers are queued, not flushed, while another request is already
//! waiting; when none is, the batch of eager uploads is made durable and
//! answered ([`Batch::flush`]) and the socket is flushed. A per-file
//! refusal answers its request with `error` and the session goes on; a
//! malformed message (`bad_request`), a server failure (`internal`), a
//! shutdown (`going_away`) or a broken upload end it as in v1. The
//! client's close ends it (answered); so does a silence of
//! `--idle-timeout` (close 1000). Every request is checked against the
//! connection's token ([`scope::authorize`] in [`dispatch`]; an eager
//! upload when it arrives) and refused `forbidden` like any other file.
//! A session that agreed to compressed frames holds one [`Codec`] for all
//! of its small files (large ones are packed by their reading thread, or
//! unpacked by their upload, as in v1).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::batch::Batch;
use super::context::Context;
use super::download::{self, Ending, Opened, Packing};
use super::frames::DataSocket;
use super::refusal::{Refusal, close, feed_frame, flush_frames, received, refuse};
use super::request::{GetRequest, PutRequest, Request};
use super::shutdown::Shutdown;
use super::translog::{Moved, TransferLog};
use super::{eager, listing, scope, upload};
use crate::auth::Grant;
use crate::protocol::{CompressMode, ErrorCode, Message};
use crate::transfer::codec::{Codec, Unpacker};

/// How long the last answers, an error or a close may take at the end.
const END_LIMIT: Duration = Duration::from_secs(2);
/// Most `get`s already waiting that are opened together, in one call on
/// the blocking pool...
const READ_AHEAD: usize = 32;
/// ... reading at most this many bytes of small files.
const READ_AHEAD_BYTES: u64 = 8 << 20;

/// What the next frame brings: a request, the end, or a refusal.
type Next = Result<Result<Request, Stop>, Refusal>;

/// How the session's requests stopped coming.
enum Stop {
    /// The client closed the connection (its close is answered).
    Closed,
    /// Nothing arrived for the idle time-out.
    Idle,
}

/// Serve a session until the client closes it, it idles out, or a fatal
/// refusal ends it. The first request must come by `deadline`; `compress`:
/// the mode of the compressed frames agreed at the upgrade.
pub async fn run<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    grant: &Grant,
    (deadline, compress): (Instant, Option<CompressMode>),
    shutdown: &mut Shutdown,
    log: &mut TransferLog,
) -> Result<Moved, Refusal> {
    log.begin_session();
    let mut codec = compress.map(Codec::new).transpose()?;
    let mut batch = Batch::default();
    let mut ahead = VecDeque::new();
    let mut first = Some(deadline);
    let ended = loop {
        let next = match ahead.pop_front() {
            Some(next) => next,
            None => next_request(ctx, ws, &mut batch, first.take(), shutdown).await,
        };
        let request = match next {
            Ok(Ok(request)) => request,
            Ok(Err(stop)) => break Ok(stop),
            Err(refusal) => break Err(refusal),
        };
        let mut session = Session {
            ctx,
            grant,
            batch: &mut batch,
            shutdown: &mut *shutdown,
            log: &mut *log,
            codec: &mut codec,
        };
        let handled = match request {
            Request::Get(get) => session.gets(ws, get, &mut ahead).await,
            Request::Put(put) if put.eager => session.eager_puts(ws, put, &mut ahead).await,
            request => session.handle(ws, request, None).await,
        };
        if let Err(refusal) = handled {
            break Err(refusal);
        }
    };
    if let Some(codec) = codec.as_ref().filter(|c| c.packer.frames() > 0) {
        tracing::debug!("session: {}", codec.packer.summary());
    }
    finish(ctx, ws, &mut batch, ended).await
}

/// What handling a request needs besides the socket.
struct Session<'a> {
    ctx: &'a Arc<Context>,
    grant: &'a Grant,
    batch: &'a mut Batch,
    shutdown: &'a mut Shutdown,
    log: &'a mut TransferLog,
    /// The compression contexts, when the session agreed to them.
    codec: &'a mut Option<Codec>,
}

impl Session<'_> {
    /// One request (its file already `opened`, for a read-ahead `get`):
    /// logged, handled, a per-file refusal answered. An error ends the
    /// session.
    async fn handle<S: DataSocket>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        request: Request,
        opened: Option<Result<Opened, Refusal>>,
    ) -> Result<(), Refusal> {
        self.log.request(&request);
        let plain_put = matches!(&request, Request::Put(p) if !p.eager);
        let (mode, codec) = (
            self.codec.as_ref().map(|codec| codec.mode),
            self.codec.as_mut(),
        );
        let (packer, unpacker) = match codec {
            Some(codec) => (Some(&mut codec.packer), Some(&mut codec.unpacker)),
            None => (None, None),
        };
        let packing = Packing {
            mode,
            packer,
            unpacker,
        };
        let result = dispatch(
            self.ctx,
            ws,
            self.grant,
            (request, opened),
            packing,
            self.batch,
            self.shutdown,
        )
        .await;
        self.conclude(ws, result, plain_put).await
    }

    /// A request's result: logged, and a per-file refusal answered. An
    /// error ends the session.
    async fn conclude<S: DataSocket>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        result: Result<Moved, Refusal>,
        plain_put: bool,
    ) -> Result<(), Refusal> {
        self.log.answered(&result);
        let Err(refusal) = result else {
            return Ok(());
        };
        if ends_session(&refusal, plain_put) {
            return Err(refusal);
        }
        let error = Message::Error {
            code: refusal.code,
            message: refusal.message,
        };
        self.batch
            .answer(ws, error, self.ctx.limits.idle_timeout)
            .await
    }

    /// A `get` and the `get`s already waiting behind it (at most
    /// [`READ_AHEAD`]): once the batch is in place, their files are opened
    /// (small ones read whole, up to [`READ_AHEAD_BYTES`]) in ONE call on
    /// the blocking pool, then each is answered in order. The request that
    /// stopped the read-ahead waits in `ahead`.
    async fn gets<S: DataSocket>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        first: GetRequest,
        ahead: &mut VecDeque<Next>,
    ) -> Result<(), Refusal> {
        let mut gets = vec![first];
        while gets.len() < READ_AHEAD {
            let Some(incoming) = ws.next().now_or_never() else {
                break;
            };
            match classify(incoming) {
                None => {}
                Some(Ok(Ok(Request::Get(get)))) => gets.push(get),
                Some(other) => {
                    ahead.push_back(other);
                    break;
                }
            }
        }
        self.batch.flush(self.ctx, ws).await?;
        let (ctx, requests, grant) = (self.ctx.clone(), gets.clone(), self.grant.clone());
        let opened = tokio::task::spawn_blocking(move || open_all(&ctx, &grant, &requests))
            .await
            .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
        for (get, opened) in gets.into_iter().zip(opened) {
            self.handle(ws, Request::Get(get), opened).await?;
        }
        Ok(())
    }
}

impl Session<'_> {
    /// An eager upload and those already waiting behind it (at most
    /// [`READ_AHEAD`] files, [`READ_AHEAD_BYTES`]): their bodies read, then
    /// ONE call on the blocking pool verifies, holds and writes them all
    /// ([`eager::prepare`]), then each is concluded in order (the batch,
    /// an answer). What stopped the group waits in `ahead`.
    async fn eager_puts<S: DataSocket>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        first: PutRequest,
        ahead: &mut VecDeque<Next>,
    ) -> Result<(), Refusal> {
        let mut group = Vec::new();
        let (mut next, mut bytes) = (Some(first), 0);
        while let Some(put) = next.take() {
            bytes += put.size;
            let unpacker = self.codec.as_mut().map(|codec| &mut codec.unpacker);
            let arrival = (put, unpacker);
            match eager::arrive(self.ctx, ws, arrival, self.grant, self.shutdown).await {
                Ok(arrived) => group.push(arrived),
                Err(refusal) => ahead.push_back(Err(refusal)),
            }
            if group.len() < READ_AHEAD && bytes < READ_AHEAD_BYTES && ahead.is_empty() {
                next = waiting_eager_put(ws, ahead);
            }
        }
        let ctx = self.ctx.clone();
        let (group, prepared) = tokio::task::spawn_blocking(move || {
            let prepared: Vec<_> = group.iter().map(|a| eager::prepare(&ctx, a)).collect();
            (group, prepared)
        })
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
        for (arrived, prepared) in group.into_iter().zip(prepared) {
            self.log.request(&Request::Put(arrived.put.clone()));
            let result = eager::conclude(self.ctx, ws, arrived, prepared, self.batch).await;
            self.conclude(ws, result.map(Moved::from), false).await?;
        }
        Ok(())
    }
}

/// The eager upload waiting next on the socket, if that is what waits; any
/// other request (or the end) goes to `ahead`.
fn waiting_eager_put<S: DataSocket>(
    ws: &mut WebSocketStream<S>,
    ahead: &mut VecDeque<Next>,
) -> Option<PutRequest> {
    loop {
        let incoming = ws.next().now_or_never()?;
        match classify(incoming) {
            None => {}
            Some(Ok(Ok(Request::Put(put)))) if put.eager => return Some(put),
            Some(other) => {
                ahead.push_back(other);
                return None;
            }
        }
    }
}

/// Open the files of `gets` in order while the small files read stay
/// within [`READ_AHEAD_BYTES`]; the rest are opened when served, and those
/// the token may not read never (their refusal comes from [`dispatch`]).
/// Blocks.
fn open_all(
    ctx: &Context,
    grant: &Grant,
    gets: &[GetRequest],
) -> Vec<Option<Result<Opened, Refusal>>> {
    let mut read = 0;
    gets.iter()
        .map(|get| {
            if read > READ_AHEAD_BYTES || !scope::may_read(ctx, grant, &get.path) {
                return None;
            }
            let opened = download::open(ctx, get, Ending::Session);
            read += opened.as_ref().map_or(0, Opened::whole_bytes);
            Some(opened)
        })
        .collect()
}

/// Whether `refusal` ends the session rather than one request: malformed
/// or out-of-order messages, server failures, a shutdown, a half-written
/// frame; and for a plain `put`, whatever failed once its data was flowing
/// (the client's frames in flight cannot be told from requests).
fn ends_session(refusal: &Refusal, plain_put: bool) -> bool {
    refusal.mid_frame
        || match refusal.code {
            ErrorCode::BadRequest | ErrorCode::Internal | ErrorCode::GoingAway => true,
            ErrorCode::Superseded | ErrorCode::Integrity => plain_put,
            _ => false,
        }
}

/// Run one request's handler, if the connection's token allows the
/// request. Anything but an eager upload first makes the batch durable and
/// answers it, so answers stay in request order.
async fn dispatch<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    grant: &Grant,
    (mut request, opened): (Request, Option<Result<Opened, Refusal>>),
    packing: Packing<'_>,
    batch: &mut Batch,
    shutdown: &mut Shutdown,
) -> Result<Moved, Refusal> {
    if !matches!(&request, Request::Put(put) if put.eager) {
        batch.flush(ctx, ws).await?;
    }
    // A `get` opened ahead was checked when it was opened (`may_read`).
    if opened.is_none() {
        scope::authorize(ctx, grant, &mut request).await?;
    }
    serve_request(ctx, ws, request, opened, Ending::Session, packing, shutdown).await
}

/// Run one request's handler, in a session or (`Ending::Verdict`) as a
/// v1 connection's one request; `opened`: a download already opened ahead;
/// `compress`: the compressed frames agreed (a mode, or a session's
/// [`Packing`]).
pub(super) async fn serve_request<'a, S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    request: Request,
    opened: Option<Result<Opened, Refusal>>,
    ending: Ending,
    compress: impl Into<Packing<'a>>,
    shutdown: &mut Shutdown,
) -> Result<Moved, Refusal> {
    let compress = compress.into();
    match request {
        Request::Get(get) => match opened {
            Some(opened) => {
                download::serve_opened(ctx, ws, get, opened?, shutdown, ending, compress)
                    .await
                    .map(Moved::from)
            }
            None => download::serve(ctx, ws, get, shutdown, ending, compress)
                .await
                .map(Moved::from),
        },
        // A session takes eager uploads in groups (`eager_puts`).
        Request::Put(put) if put.eager => Err(match ending {
            Ending::Verdict => Refusal::new(
                ErrorCode::BadRequest,
                "an eager put needs a session (wsresume.v2)",
            ),
            Ending::Session => Refusal::new(ErrorCode::Internal, "an eager put outside its group"),
        }),
        Request::Put(put) => {
            // The session's one decompression context, or a v1
            // connection's own.
            let needs_own = compress.unpacker.is_none() && compress.mode.is_some();
            let mut own = needs_own.then(Unpacker::new).transpose()?;
            let unpacker = compress.unpacker.or(own.as_mut());
            let (mut sink, mut stream) = StreamExt::split(ws);
            upload::receive(ctx, &mut sink, &mut stream, put, unpacker, shutdown)
                .await
                .map(Moved::from)
        }
        Request::List(list) => listing::serve(ctx, ws, list, shutdown).await,
    }
}

/// The next request; or why none comes. A request already waiting is taken
/// at once; otherwise the batch is made durable and answered, the socket
/// flushed, and the wait begins: by `first` (the handshake deadline) for
/// the first request, else for the idle time-out.
async fn next_request<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    batch: &mut Batch,
    first: Option<Instant>,
    shutdown: &mut Shutdown,
) -> Result<Result<Request, Stop>, Refusal> {
    loop {
        let incoming = match ws.next().now_or_never() {
            Some(incoming) => incoming,
            None => {
                batch.flush(ctx, ws).await?;
                flush_frames(ws, ctx.limits.idle_timeout).await?;
                let deadline = first.unwrap_or_else(|| Instant::now() + ctx.limits.idle_timeout);
                tokio::select! {
                    incoming = tokio::time::timeout_at(deadline, ws.next()) => match incoming {
                        Ok(incoming) => incoming,
                        Err(_) if first.is_some() => {
                            return Err(Refusal::new(ErrorCode::BadRequest, "no request arrived in time"));
                        }
                        Err(_) => return Ok(Err(Stop::Idle)),
                    },
                    refusal = shutdown.going_away() => return Err(refusal),
                }
            }
        };
        if let Some(next) = classify(incoming) {
            return next;
        }
    }
}

/// What a frame read between requests means; None for pings and pongs.
fn classify(incoming: Option<Result<WsMessage, WsError>>) -> Option<Next> {
    if matches!(incoming, None | Some(Ok(WsMessage::Close(_)))) {
        return Some(Ok(Err(Stop::Closed)));
    }
    let request = match received(incoming) {
        Err(refusal) => Err(refusal),
        Ok(WsMessage::Text(text)) => Message::decode(&text)
            .map_err(Refusal::from)
            .and_then(Request::from_message),
        Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => return None,
        Ok(_) => Err(Refusal::new(
            ErrorCode::BadRequest,
            "expected a request (get, put or list)",
        )),
    };
    Some(request.map(Ok))
}

/// End the session: make the batch durable (answering it when the
/// connection still works), then answer the client's close, close an idle
/// session with 1000, or send the refusal that ended it.
async fn finish<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    batch: &mut Batch,
    ended: Result<Stop, Refusal>,
) -> Result<Moved, Refusal> {
    let flushed = batch.flush(ctx, ws).await;
    let ended = match (ended, flushed) {
        // After its close the client reads no answers; the files are in
        // place all the same, unless the flush failed.
        (Ok(Stop::Closed), Err(refusal)) if refusal.code != ErrorCode::Internal => Ok(Stop::Closed),
        (Ok(_), Err(refusal)) => Err(refusal),
        (ended, _) => ended,
    };
    match ended {
        Ok(Stop::Closed) => {
            // Sends the answer to the client's close, queued on reading it.
            let _ = flush_frames(ws, END_LIMIT).await;
            Ok(Moved::session())
        }
        Ok(Stop::Idle) => {
            close(ws, 1000, "idle time-out", END_LIMIT).await;
            super::connection::finish_close(ws, END_LIMIT).await;
            Ok(Moved::session())
        }
        Err(refusal) => {
            if !refusal.mid_frame {
                refuse(ws, &refusal, END_LIMIT).await;
            }
            Err(refusal)
        }
    }
}

/// Queue `message` (an answer) without flushing.
pub async fn feed<S: DataSocket>(
    ws: &mut WebSocketStream<S>,
    message: &Message,
    limit: Duration,
) -> Result<(), Refusal> {
    feed_frame(ws, WsMessage::text(message.encode()), limit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_broken_sessions_end_on_a_refusal() {
        use ErrorCode::*;
        // (code, plain put, half-written frame, ends the session)
        let cases = [
            (NotFound, false, false, false),
            (Forbidden, false, false, false),
            (IsDirectory, true, false, false),
            (ReadOnly, true, false, false),
            (TooLarge, false, false, false),
            (Busy, true, false, false),
            (Integrity, false, false, false),
            (Integrity, true, false, true),
            (Superseded, true, false, true),
            (BadRequest, false, false, true),
            (Internal, false, false, true),
            (GoingAway, false, false, true),
            (NotFound, false, true, true),
        ];
        for (code, plain_put, mid_frame, ends) in cases {
            let mut refusal = Refusal::new(code, "m");
            if mid_frame {
                refusal = refusal.mid_frame();
            }
            assert_eq!(
                ends_session(&refusal, plain_put),
                ends,
                "{code:?} {plain_put}"
            );
        }
    }

    #[test]
    fn frames_between_requests_are_requests_pings_or_the_end() {
        let get = r#"{"type":"get","path":"/a","chunk_size":4096}"#;
        let kind = |incoming| match classify(incoming) {
            None => "ping",
            Some(Ok(Ok(_))) => "request",
            Some(Ok(Err(Stop::Closed))) => "closed",
            Some(Ok(Err(Stop::Idle))) => "idle",
            Some(Err(refusal)) if refusal.code == ErrorCode::BadRequest => "bad",
            Some(Err(_)) => "error",
        };
        let cases = [
            (Some(Ok(WsMessage::text(get))), "request"),
            (Some(Ok(WsMessage::Ping(Default::default()))), "ping"),
            (Some(Ok(WsMessage::Pong(Default::default()))), "ping"),
            (Some(Ok(WsMessage::Close(None))), "closed"),
            (None, "closed"),
            (Some(Ok(WsMessage::Binary(vec![1u8].into()))), "bad"),
            (
                Some(Ok(WsMessage::text(r#"{"type":"ack","offset":0}"#))),
                "bad",
            ),
            (Some(Ok(WsMessage::text("not json"))), "bad"),
        ];
        for (incoming, want) in cases {
            let shown = format!("{incoming:?}");
            assert_eq!(kind(incoming), want, "{shown}");
        }
    }
}
