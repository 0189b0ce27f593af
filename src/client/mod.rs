//! The client: `get`, `send` and `list`, each a retry loop around single attempts
//! over one connection. This module holds what both share: options, the
//! connection's liveness watch and reading control messages.

pub mod connect;
pub mod dial;
pub mod get;
pub mod list;
mod retry;
pub mod send;
mod stdout;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::ProtocolError;

use crate::error::{Error, Result};
use crate::protocol::{Message, error_from_close};

/// Validated client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Bearer token.
    pub token: Option<String>,
    /// `--retries`.
    pub retries: u32,
    /// `--retry-max-delay`.
    pub retry_max_delay: Duration,
    /// `--timeout`: silence after which a connection is dead.
    pub timeout: Duration,
    /// `--chunk-size`.
    pub chunk_size: u64,
    /// `-q`.
    pub quiet: bool,
    /// TLS settings for `wss://` URLs (system roots plus `--cacert`).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `--progress`.
    pub progress: crate::progress::ProgressMode,
    /// `--limit-rate`: bytes per second per transfer.
    pub limit_rate: Option<u64>,
    /// `get --wait`: wait for another run's lock on the target instead of
    /// failing.
    pub wait_lock: bool,
    /// `--retry-connrefused`: retry refused connections patiently even
    /// before the first connection succeeded.
    pub retry_connrefused: bool,
    /// Whether a connection of this run has succeeded (shared by clones).
    pub contact: Contact,
    /// `-p/--preserve`: carry permission bits too (times always travel).
    pub preserve: bool,
}

/// Whether any connection of a run has completed its upgrade, and how many
/// quick retries of a refused first contact the run has used. Clones share
/// the state, so every transfer of one command sees the same answer.
#[derive(Debug, Clone, Default)]
pub struct Contact(Arc<ContactState>);

#[derive(Debug, Default)]
struct ContactState {
    made: AtomicBool,
    refused_retries: AtomicUsize,
}

impl Contact {
    /// A connection completed its upgrade.
    pub fn made(&self) {
        self.0.made.store(true, Ordering::Relaxed);
    }

    /// Whether any connection completed its upgrade so far.
    pub fn was_made(&self) -> bool {
        self.0.made.load(Ordering::Relaxed)
    }

    /// Take the next quick retry of a refused first contact: how many the
    /// run took before this one.
    pub fn take_refused_retry(&self) -> usize {
        self.0.refused_retries.fetch_add(1, Ordering::Relaxed)
    }
}

/// One received frame, already classified.
pub enum Frame {
    /// File bytes.
    Data(bytes::Bytes),
    /// A control message (never `error`: that becomes `Err`).
    Control(Message),
    /// Ping or pong.
    Keepalive,
}

/// Watches a connection for silence and keeps it alive with pings.
pub struct Liveness {
    timeout: Duration,
    last_heard: Instant,
    next_ping: Instant,
}

impl Liveness {
    /// Start watching now.
    pub fn new(timeout: Duration) -> Liveness {
        let now = Instant::now();
        Liveness {
            timeout,
            last_heard: now,
            next_ping: now + timeout / 3,
        }
    }

    /// Something arrived.
    pub fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// Wait until a ping is due (Ok) or the peer has been silent too long (Err).
    pub async fn tick(&mut self) -> Result<()> {
        let deadline = self.last_heard + self.timeout;
        let wake = self.next_ping.min(deadline);
        tokio::time::sleep_until(wake).await;
        if Instant::now() >= deadline {
            return Err(Error::Network(format!(
                "no data from the server for {}s; the connection is dead",
                self.timeout.as_secs_f64()
            )));
        }
        self.next_ping = Instant::now() + self.timeout / 3;
        Ok(())
    }
}

/// Connect (see [`connect::connect`]), logging how long it took.
pub async fn connect_logged(url: &connect::RemoteUrl, opts: &ClientOptions) -> Result<connect::Ws> {
    let started = std::time::Instant::now();
    tracing::debug!("connecting to {url}");
    let result = connect::connect(url, opts).await;
    let ms = started.elapsed().as_millis() as u64;
    match &result {
        Ok(_) => tracing::info!(ms, "connected to {url}"),
        Err(e) => tracing::info!(ms, "connecting to {url} failed: {e}"),
    }
    result
}

/// The close frame a client sends when it is done.
pub fn normal_close() -> WsMessage {
    WsMessage::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "done".into(),
    }))
}

/// Send a ping (a failure shows up on the read side).
pub async fn ping<S>(sink: &mut S)
where
    S: futures_util::Sink<WsMessage> + Unpin,
{
    let _ = sink.send(WsMessage::Ping(bytes::Bytes::new())).await;
}

/// Send one control message.
pub async fn send_text<K>(sink: &mut K, message: &Message) -> Result<()>
where
    K: futures_util::Sink<WsMessage> + Unpin,
{
    sink.send(WsMessage::text(message.encode()))
        .await
        .map_err(|_| Error::Network("connection lost while sending a request".into()))
}

/// Classify the next frame; `error` messages and closes become errors.
pub fn classify(frame: Option<std::result::Result<WsMessage, WsError>>) -> Result<Frame> {
    match frame {
        None => Err(Error::Network("the server closed the connection".into())),
        Some(Err(e)) => Err(ws_error(e)),
        Some(Ok(WsMessage::Binary(data))) => Ok(Frame::Data(data)),
        Some(Ok(WsMessage::Text(text))) => match Message::decode(&text)? {
            Message::Error { code, message } => Err(code.into_error(message)),
            message => Ok(Frame::Control(message)),
        },
        Some(Ok(WsMessage::Close(frame))) => Err(match frame {
            Some(f) => error_from_close(f.code.into(), &f.reason),
            None => Error::Network("the server closed the connection".into()),
        }),
        Some(Ok(_)) => Ok(Frame::Keepalive),
    }
}

/// Wait for the next control message, within `limit` of silence (a server
/// that reads a file to compare digests pings meanwhile).
pub async fn next_control<R>(stream: &mut R, limit: Duration) -> Result<Message>
where
    R: Stream<Item = std::result::Result<WsMessage, WsError>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(limit, stream.next())
            .await
            .map_err(|_| Error::Network("the server did not answer in time".into()))?;
        match classify(frame)? {
            Frame::Control(message) => return Ok(message),
            Frame::Keepalive => {}
            Frame::Data(_) => {
                return Err(Error::Protocol("data before the server's answer".into()));
            }
        }
    }
}

/// An open connection after its request: both halves and the first answer.
pub struct Opened {
    /// Where frames go.
    pub sink: futures_util::stream::SplitSink<connect::Ws, WsMessage>,
    /// Where frames come from.
    pub stream: futures_util::stream::SplitStream<connect::Ws>,
    /// The server's first control message.
    pub reply: Message,
    /// The server predates the request's optional fields: `plain` was sent.
    pub plain: bool,
}

/// Connect, send `request` and read the answer. A server that predates an
/// optional field of `request` refuses it as an unknown field
/// (`bad_request`); then `plain` (the request without them), if given, is
/// sent on a new connection at once.
pub async fn open(
    url: &connect::RemoteUrl,
    opts: &ClientOptions,
    request: &Message,
    plain: Option<&Message>,
) -> Result<Opened> {
    let mut sent_plain = false;
    let mut request = request;
    loop {
        let ws = connect_logged(url, opts).await?;
        let (mut sink, mut stream) = ws.split();
        send_text(&mut sink, request).await?;
        match next_control(&mut stream, opts.timeout).await {
            Err(Error::Protocol(m)) if m.contains("unknown field") && !sent_plain => {
                let Some(plain) = plain else {
                    return Err(Error::Protocol(m));
                };
                tracing::info!(
                    "the server predates this client's request fields ({m}); asking without them"
                );
                (request, sent_plain) = (plain, true);
            }
            reply => {
                return Ok(Opened {
                    sink,
                    stream,
                    reply: reply?,
                    plain: sent_plain,
                });
            }
        }
    }
}

fn ws_error(e: WsError) -> Error {
    match e {
        WsError::Capacity(e) => Error::Protocol(format!("message too large: {e}")),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Error::Network("the connection was cut".into())
        }
        WsError::Protocol(e) => Error::Protocol(format!("WebSocket protocol violation: {e}")),
        WsError::Utf8(e) => Error::Protocol(format!("invalid UTF-8 in a text frame: {e}")),
        other => Error::Network(format!("connection lost: {other}")),
    }
}
