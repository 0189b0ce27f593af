//! A session (`wsresume.v2`): many requests on one connection, pipelined
//! by the client. Requests are read one after another and handled strictly
//! in order, each answered in order; the next one is read only when the
//! previous one is finished (TCP flow control bounds the backlog).
//!
//! Answers are queued, not flushed, while another request is already
//! waiting; when none is, the batch of eager uploads is made durable and
//! answered ([`Batch::flush`]) and the socket is flushed. A per-file
//! refusal answers its request with `error` and the session goes on; a
//! malformed message (`bad_request`), a server failure (`internal`), a
//! shutdown (`going_away`) or a broken upload end it as in v1. The
//! client's close ends it (answered); so does a silence of
//! `--idle-timeout` (close 1000).

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::batch::Batch;
use super::context::Context;
use super::download::{self, Ending};
use super::frames::DataSocket;
use super::refusal::{Refusal, close, feed_frame, flush_frames, received, refuse};
use super::request::Request;
use super::shutdown::Shutdown;
use super::translog::{Moved, TransferLog};
use super::{eager, listing, upload};
use crate::protocol::{ErrorCode, Message};

/// How long the last answers, an error or a close may take at the end.
const END_LIMIT: Duration = Duration::from_secs(2);

/// How the session's requests stopped coming.
enum Stop {
    /// The client closed the connection (its close is answered).
    Closed,
    /// Nothing arrived for the idle time-out.
    Idle,
}

/// Serve a session until the client closes it, it idles out, or a fatal
/// refusal ends it. The first request must come by `deadline`.
pub async fn run<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    deadline: Instant,
    shutdown: &mut Shutdown,
    log: &mut TransferLog,
) -> Result<Moved, Refusal> {
    log.begin_session();
    let mut batch = Batch::default();
    let mut first = Some(deadline);
    let ended = loop {
        let request = match next_request(ctx, ws, &mut batch, first.take(), shutdown).await {
            Ok(Ok(request)) => request,
            Ok(Err(stop)) => break Ok(stop),
            Err(refusal) => break Err(refusal),
        };
        log.request(&request);
        let plain_put = matches!(&request, Request::Put(p) if !p.eager);
        let result = dispatch(ctx, ws, request, &mut batch, shutdown).await;
        log.answered(&result);
        if let Err(refusal) = result {
            if ends_session(&refusal, plain_put) {
                break Err(refusal);
            }
            let error = Message::Error {
                code: refusal.code,
                message: refusal.message,
            };
            if let Err(refusal) = batch.answer(ws, error, ctx.limits.idle_timeout).await {
                break Err(refusal);
            }
        }
    };
    finish(ctx, ws, &mut batch, ended).await
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

/// Run one request's handler. Anything but an eager upload first makes the
/// batch durable and answers it, so answers stay in request order.
async fn dispatch<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    request: Request,
    batch: &mut Batch,
    shutdown: &mut Shutdown,
) -> Result<Moved, Refusal> {
    if !matches!(&request, Request::Put(put) if put.eager) {
        batch.flush(ctx, ws).await?;
    }
    match request {
        Request::Get(get) => download::serve(ctx, ws, get, shutdown, Ending::Session)
            .await
            .map(Moved::from),
        Request::Put(put) if put.eager => eager::receive(ctx, ws, put, batch, shutdown)
            .await
            .map(Moved::from),
        Request::Put(put) => {
            let (mut sink, mut stream) = StreamExt::split(ws);
            upload::receive(ctx, &mut sink, &mut stream, put, shutdown)
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
        if matches!(incoming, None | Some(Ok(WsMessage::Close(_)))) {
            return Ok(Err(Stop::Closed));
        }
        match received(incoming)? {
            WsMessage::Text(text) => {
                return Ok(Ok(Request::from_message(Message::decode(&text)?)?));
            }
            WsMessage::Ping(_) | WsMessage::Pong(_) => {}
            _ => {
                return Err(Refusal::new(
                    ErrorCode::BadRequest,
                    "expected a request (get, put or list)",
                ));
            }
        }
    }
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
