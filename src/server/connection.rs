//! One connection from the TCP accept to the close: the handshake (TLS, or
//! the check for a TLS hello on a plain listener; the WebSocket upgrade;
//! the first request) within ONE `--handshake-timeout` budget counted from
//! the accept; a plain HTTP request answered by [`super::http`]; then a v1 connection's one request dispatched to its
//! handler and the close, or a session ([`super::session`]). A shutdown
//! ends every stage: before the upgrade by dropping the connection, after
//! it with close 1001.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::context::Context;
use super::download::Ending;
use super::frames::DataSocket;
use super::refusal::{Refusal, close, refuse};
use super::request::Request;
use super::shutdown::Shutdown;
use super::translog::{Moved, TransferLog};
use super::{Access, forwarded, handshake, http, scope, session};
use crate::protocol::ErrorCode;

/// How long a refusal's error message and close frame may take.
const REFUSAL_LIMIT: Duration = Duration::from_secs(2);

/// Serve one accepted connection. Returns what it moved.
pub async fn serve(
    mut stream: TcpStream,
    ctx: &Arc<Context>,
    access: &Access,
    shutdown: &mut Shutdown,
    log: &mut TransferLog,
) -> Result<Moved, Refusal> {
    let deadline = Instant::now() + ctx.limits.handshake_timeout;
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    let trusted = forwarded::trusted_for(peer, &access.trusted_proxies);
    let admit = Admit {
        tokens: access.tokens.as_deref(),
        trusted,
    };
    match &access.tls {
        None => {
            tokio::select! {
                checked = refuse_tls_hello(&mut stream, deadline) => checked?,
                refusal = shutdown.going_away() => return Err(refusal),
            }
            handle(stream, ctx, admit, deadline, shutdown, log).await
        }
        Some(tls) => {
            let stream = tokio::select! {
                accepted = tls_accept(tls, stream, deadline) => accepted?,
                refusal = shutdown.going_away() => return Err(refusal),
            };
            handle(stream, ctx, admit, deadline, shutdown, log).await
        }
    }
}

/// What the upgrade checks and believes of this connection: the tokens
/// accepted, and the trusted proxy ranges when the peer is one of them
/// (else none).
#[derive(Clone, Copy)]
struct Admit<'a> {
    tokens: Option<&'a crate::auth::Tokens>,
    trusted: &'a [crate::cidr::Cidr],
}

/// From the upgrade to the close: the rest of the handshake budget for the
/// upgrade and the request, then the handler, then the close.
async fn handle<S: DataSocket>(
    stream: S,
    ctx: &Arc<Context>,
    admit: Admit<'_>,
    deadline: Instant,
    shutdown: &mut Shutdown,
    log: &mut TransferLog,
) -> Result<Moved, Refusal> {
    let terms = handshake::Terms {
        tokens: admit.tokens,
        trusted: admit.trusted,
        sessions: ctx.limits.sessions,
    };
    let max_message = ctx.limits.max_message;
    let accepted = tokio::select! {
        accepted = handshake::accept(stream, terms, deadline, max_message) => accepted?,
        refusal = shutdown.going_away() => return Err(refusal),
    };
    let upgraded = match accepted {
        handshake::Accepted::Upgraded(upgraded) => *upgraded,
        handshake::Accepted::Plain { stream, head } => {
            let terms = http::Terms {
                tokens: admit.tokens,
                trusted: admit.trusted,
            };
            return http::serve(stream, &head, ctx, terms, shutdown, log).await;
        }
    };
    let (mut ws, grant) = (upgraded.ws, upgraded.grant);
    if upgraded.session {
        let compress = upgraded.compress;
        return session::run(ctx, &mut ws, &grant, (deadline, compress), shutdown, log).await;
    }
    let request = tokio::select! {
        request = Request::read(&mut ws, deadline) => request,
        refusal = shutdown.going_away() => Err(refusal),
    };
    let result = match request {
        Ok(mut request) => {
            log.request(&request);
            let ending = Ending::Verdict;
            let compress = upgraded.compress;
            match scope::authorize(ctx, &grant, &mut request).await {
                Ok(()) => {
                    session::serve_request(ctx, &mut ws, request, None, ending, compress, shutdown)
                        .await
                }
                Err(refusal) => Err(refusal),
            }
        }
        Err(refusal) => Err(refusal),
    };
    end(&mut ws, &result, ctx, shutdown).await;
    result
}

/// Close as `result` says: 1000 and wait for the client's close; an error
/// and its close code; nothing after a half-written frame (the peer could
/// not parse another frame).
async fn end<S: DataSocket>(
    ws: &mut WebSocketStream<S>,
    result: &Result<Moved, Refusal>,
    ctx: &Context,
    shutdown: &mut Shutdown,
) {
    let idle = ctx.limits.idle_timeout;
    match result {
        Ok(_) => {
            close(ws, 1000, "done", idle).await;
            tokio::select! {
                () = finish_close(ws, idle) => {}
                () = shutdown.recv() => {}
            }
        }
        Err(refusal) if refusal.mid_frame => {}
        Err(refusal) => refuse(ws, refusal, REFUSAL_LIMIT).await,
    }
}

/// After our close frame: read until the client's close (or the end), so
/// the socket is never dropped with unread bytes in it. That would reset
/// the connection and could destroy the last messages before the client
/// read them. Bounded by the idle time-out.
pub(super) async fn finish_close<S: DataSocket>(ws: &mut WebSocketStream<S>, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if matches!(frame, WsMessage::Close(_)) {
            return;
        }
    }
}

/// What a plain listener answers to a TLS handshake: plain HTTP, which a
/// TLS client can tell from TLS (and a person can read).
const NOT_TLS_REPLY: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain\r\nContent-Length: 54\r\nConnection: close\r\n\r\n\
this server does not speak TLS: use ws://, not wss://\n";

/// A client that opens with a TLS handshake (a `wss://` URL) on this plain
/// listener gets [`NOT_TLS_REPLY`] and is refused; others go on to the
/// upgrade. The client's first byte must come by `deadline`.
async fn refuse_tls_hello(stream: &mut TcpStream, deadline: Instant) -> Result<(), Refusal> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const TLS_HANDSHAKE_RECORD: u8 = 0x16;
    let mut first = [0u8; 1];
    match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
        Err(_) => Err(Refusal::new(ErrorCode::BadRequest, "handshake timed out")),
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {
            // Reply, then read what the client sent until it hangs up:
            // closing with its hello unread would reset the connection and
            // could destroy the reply before the client reads it.
            let reply = async {
                stream.write_all(NOT_TLS_REPLY).await?;
                let mut unread = [0u8; 4096];
                while stream.read(&mut unread).await? > 0 {}
                std::io::Result::Ok(())
            };
            let _ = tokio::time::timeout_at(deadline, reply).await;
            Err(Refusal::new(
                ErrorCode::BadRequest,
                "a TLS handshake on a plain ws:// listener: the client should use ws://",
            ))
        }
        _ => Ok(()),
    }
}

/// The TLS handshake, by `deadline`.
async fn tls_accept(
    tls: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    deadline: Instant,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, Refusal> {
    match tokio::time::timeout_at(deadline, tls.accept(stream)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("TLS handshake failed: {e}"),
        )),
        Err(_) => Err(Refusal::new(
            ErrorCode::BadRequest,
            "TLS handshake timed out",
        )),
    }
}
