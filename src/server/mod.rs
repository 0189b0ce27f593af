//! The server: an accept loop capped by a semaphore, one task per connection,
//! and a broadcast that drains every connection on shutdown.
//!
//! A connection is a WebSocket handshake (subprotocol and token checked), one
//! request message (`get` or `put`), then the transfer; whatever ends it is
//! logged in one place, [`Server::spawn_connection`].

mod busy;
mod cache;
mod download;
mod frames;
mod handshake;
mod identical;
mod listing;
mod session;
mod translog;
mod upload;
mod writers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::ProtocolError;

pub use cache::HashCache;
use frames::DataSocket;
pub use session::Context;
use session::{Refusal, close, refuse};
pub use writers::Writers;

use crate::protocol::{ErrorCode, Message};

/// Server settings beyond storage.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Connections served at once; more are refused.
    pub max_connections: usize,
    /// Largest upload accepted.
    pub max_file_size: Option<u64>,
    /// Largest WebSocket frame and message accepted.
    pub max_message: usize,
    /// Time allowed for the WebSocket upgrade and the request message.
    pub handshake_timeout: Duration,
    /// Drop a connection on which nothing arrives for this long.
    pub idle_timeout: Duration,
    /// Expire partial uploads untouched for this long.
    pub upload_expiry: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 4096,
            max_file_size: None,
            max_message: crate::protocol::MAX_MESSAGE,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            upload_expiry: Duration::from_secs(7 * 86_400),
        }
    }
}

/// Who may connect and how: the bearer token and the TLS acceptor.
#[derive(Clone, Default)]
pub struct Access {
    /// Require `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Serve `wss://`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

struct Server {
    listener: TcpListener,
    ctx: Arc<Context>,
    access: Access,
    limits: ServerLimits,
    permits: Arc<Semaphore>,
    notify_shutdown: broadcast::Sender<()>,
    drained: mpsc::Sender<()>,
}

/// Serve connections from `listener` until `shutdown` completes, then tell
/// every client the server is going away and wait for their sessions to
/// commit what they verified.
pub async fn run(
    listener: TcpListener,
    ctx: Context,
    access: Access,
    limits: ServerLimits,
    shutdown: impl Future,
) {
    let (notify_shutdown, _) = broadcast::channel(1);
    let (drained, mut all_drained) = mpsc::channel(1);
    let mut server = Server {
        listener,
        ctx: Arc::new(ctx),
        access,
        permits: Arc::new(Semaphore::new(limits.max_connections)),
        limits,
        notify_shutdown,
        drained,
    };
    let sweeper = tokio::spawn(expire_abandoned(
        server.ctx.clone(),
        server.limits.upload_expiry,
    ));
    tokio::select! {
        () = server.accept_loop() => {}
        _ = shutdown => tracing::info!("shutting down"),
    }
    sweeper.abort();
    let Server {
        notify_shutdown,
        drained,
        ..
    } = server;
    drop(notify_shutdown);
    drop(drained);
    let _ = all_drained.recv().await;
}

impl Server {
    async fn accept_loop(&mut self) {
        let bouncer = busy::Bouncer::default();
        loop {
            let stream = self.accept().await;
            self.ctx.writers.prune();
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => self.spawn_connection(stream, permit),
                Err(_) => {
                    tracing::warn!(
                        "refusing a connection: {} served",
                        self.limits.max_connections
                    );
                    bouncer.refuse(stream, self.limits.max_connections);
                }
            }
        }
    }

    /// Accept the next connection, backing off (up to 1 s) on errors such as
    /// running out of file descriptors instead of giving up.
    async fn accept(&mut self) -> TcpStream {
        let mut backoff = Duration::from_millis(5);
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => return stream,
                Err(e) => {
                    tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn spawn_connection(&self, mut stream: TcpStream, permit: tokio::sync::OwnedSemaphorePermit) {
        let ctx = self.ctx.clone();
        let access = self.access.clone();
        let limits = self.limits.clone();
        let mut shutdown = self.notify_shutdown.subscribe();
        let drained = self.drained.clone();
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let task = async move {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let _ = stream.set_nodelay(true);
            let token = access.token.as_deref();
            let mut log = translog::TransferLog::new(peer);
            let result = match &access.tls {
                None => match refuse_tls_hello(&mut stream, limits.handshake_timeout).await {
                    Ok(()) => {
                        let shutdown = &mut shutdown;
                        handle_connection(stream, &ctx, token, &limits, shutdown, &mut log).await
                    }
                    Err(refusal) => Err(refusal),
                },
                Some(tls) => match tls_accept(tls, stream, limits.handshake_timeout).await {
                    Ok(stream) => {
                        let shutdown = &mut shutdown;
                        handle_connection(stream, &ctx, token, &limits, shutdown, &mut log).await
                    }
                    Err(refusal) => Err(refusal),
                },
            };
            log.finish(&result);
            drop(permit);
            drop(drained);
        };
        tokio::spawn(tracing::Instrument::instrument(
            task,
            tracing::info_span!("conn", id),
        ));
    }
}

/// Connections the kernel queues before the accept loop takes them: a burst
/// of clients beyond the default 128 would otherwise have their first packet
/// dropped and retry after a second or more (the kernel caps this at
/// `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// Listen on `address` (`host:port`, the first address it resolves to).
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    let addr = tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the address resolves to nothing",
            )
        })?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Expire abandoned partial uploads now and then every quarter of the expiry
/// time (between 1 s and 1 h).
async fn expire_abandoned(ctx: Arc<Context>, max_age: Duration) {
    let every = (max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let ctx = ctx.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let writers = ctx.writers.clone();
            let mut hold = |target: &str| {
                writers
                    .try_hold(target)
                    .map(|g| Box::new(g) as Box<dyn Send>)
            };
            ctx.storage.sweep_expired(max_age, &mut hold)
        })
        .await;
        match swept {
            Ok(Ok(s)) if s.expired + s.markers_removed > 0 => tracing::info!(
                "expiry: {} abandoned uploads expired, {} old markers removed",
                s.expired,
                s.markers_removed
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("expiry sweep failed: {e}"),
            Err(e) => tracing::warn!("expiry sweep failed: {e}"),
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
/// upgrade. The client's first byte must come within `limit`.
async fn refuse_tls_hello(stream: &mut TcpStream, limit: Duration) -> Result<(), Refusal> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const TLS_HANDSHAKE_RECORD: u8 = 0x16;
    let mut first = [0u8; 1];
    match tokio::time::timeout(limit, stream.peek(&mut first)).await {
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
            let _ = tokio::time::timeout(limit, reply).await;
            Err(Refusal::new(
                ErrorCode::BadRequest,
                "a TLS handshake on a plain ws:// listener: the client should use ws://",
            ))
        }
        _ => Ok(()),
    }
}

/// The TLS handshake, within `limit`.
async fn tls_accept(
    tls: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    limit: Duration,
) -> Result<tokio_rustls::server::TlsStream<TcpStream>, Refusal> {
    match tokio::time::timeout(limit, tls.accept(stream)).await {
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

/// One connection from upgrade to close. Returns what it moved.
async fn handle_connection<S>(
    stream: S,
    ctx: &Arc<Context>,
    token: Option<&str>,
    limits: &ServerLimits,
    shutdown: &mut broadcast::Receiver<()>,
    log: &mut translog::TransferLog,
) -> Result<translog::Moved, Refusal>
where
    S: DataSocket,
{
    let secure = stream.plain_tcp().is_none();
    let (limit, max_message) = (limits.handshake_timeout, limits.max_message);
    let mut ws = handshake::accept(stream, token, limit, max_message, secure).await?;
    let first = tokio::time::timeout(limits.handshake_timeout, ws.next()).await;
    let request = first_request(first);
    if let Ok(message) = &request {
        log.request(message);
    }
    let result = match request {
        Ok(Message::Get {
            path,
            chunk_size,
            resume,
            have,
            attrs,
        }) => {
            let request = (path, chunk_size, resume);
            let options = download::GetOptions { have, attrs };
            download::serve(ctx, &mut ws, request, options, shutdown)
                .await
                .map(translog::Moved::from)
        }
        Ok(Message::List {
            path,
            recursive,
            sha256,
        }) => listing::serve(ctx, &mut ws, &path, crate::storage::ListOptions { recursive, sha256 }).await,
        Ok(Message::Put {
            path,
            size,
            chunk_size,
            source_id,
            sha256,
            mtime_ns,
            mode,
        }) => {
            let request = upload::PutRequest {
                path,
                size,
                chunk_size,
                source_id,
                sha256,
                mtime_ns,
                mode,
            };
            let (mut sink, mut stream) = StreamExt::split(&mut ws);
            upload::receive(ctx, &mut sink, &mut stream, request, shutdown)
                .await
                .map(translog::Moved::from)
        }
        Ok(other) => Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("expected get, put or list, got {}", other.kind()),
        )),
        Err(refusal) => Err(refusal),
    };
    match &result {
        Ok(_) => {
            close(&mut ws, 1000, "done", ctx.idle_timeout).await;
            tokio::select! {
                () = finish_close(&mut ws, ctx.idle_timeout) => {}
                _ = shutdown.recv() => {}
            }
        }
        // Nothing more can be framed after a half-written frame: just drop it.
        Err(refusal) if refusal.mid_frame => {}
        Err(refusal) => refuse(&mut ws, refusal, Duration::from_secs(2)).await,
    }
    result
}

/// After our close frame: read until the client's close (or the end), so
/// the socket is never dropped with unread bytes in it. That would reset
/// the connection and could destroy the last messages before the client
/// read them. Bounded by the idle time-out.
async fn finish_close<S: DataSocket>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    limit: Duration,
) {
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if matches!(frame, WsMessage::Close(_)) {
            return;
        }
    }
}

fn first_request(
    incoming: Result<Option<Result<WsMessage, WsError>>, tokio::time::error::Elapsed>,
) -> Result<Message, Refusal> {
    let incoming =
        incoming.map_err(|_| Refusal::new(ErrorCode::BadRequest, "no request arrived in time"))?;
    match received(incoming)? {
        WsMessage::Text(text) => Ok(Message::decode(&text)?),
        _ => Err(Refusal::new(
            ErrorCode::BadRequest,
            "expected a get or put message first",
        )),
    }
}

/// The next frame, or why the connection is over.
fn received(incoming: Option<Result<WsMessage, WsError>>) -> Result<WsMessage, Refusal> {
    match incoming {
        None | Some(Ok(WsMessage::Close(_))) => Err(Refusal::new(
            ErrorCode::GoingAway,
            "client closed the connection",
        )),
        Some(Err(e)) => Err(ws_refusal(e)),
        Some(Ok(frame)) => Ok(frame),
    }
}

/// During a download only pings and pongs may arrive.
fn expect_only_keepalive(incoming: Option<Result<WsMessage, WsError>>) -> Result<(), Refusal> {
    match received(incoming)? {
        WsMessage::Ping(_) | WsMessage::Pong(_) => Ok(()),
        _ => Err(Refusal::new(
            ErrorCode::BadRequest,
            "unexpected message during a download",
        )),
    }
}

fn ws_refusal(e: WsError) -> Refusal {
    match e {
        WsError::Capacity(e) => {
            Refusal::new(ErrorCode::BadRequest, format!("message too large: {e}"))
        }
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Refusal::new(ErrorCode::GoingAway, "the connection was cut")
        }
        WsError::Protocol(e) => Refusal::new(
            ErrorCode::BadRequest,
            format!("WebSocket protocol violation: {e}"),
        ),
        WsError::Utf8(e) => Refusal::new(
            ErrorCode::BadRequest,
            format!("invalid UTF-8 in a text frame: {e}"),
        ),
        other => Refusal::new(ErrorCode::GoingAway, format!("connection lost: {other}")),
    }
}
