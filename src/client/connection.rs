//! One client connection after its upgrade: the only code of the client
//! that touches WebSocket messages. It sends requests, control messages and
//! data frames, reads and classifies what the server sends (an `error`
//! message or a close becomes an [`Error`]), keeps the connection alive
//! (pings while waiting, the server's frames and pings count as life, a
//! silence of `--timeout` is a dead connection), maps tungstenite's errors
//! to error kinds, and closes with the normal close.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::ClientOptions;
use super::connect::{self, RemoteUrl, Socket};
use crate::error::{Error, Result};
use crate::protocol::{Message, error_from_close};

/// One frame, either way: file bytes or a control message (a received
/// control message is never `error`: that is an `Err`).
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// File bytes.
    Data(bytes::Bytes),
    /// A control message.
    Control(Message),
}

/// An open connection (over `S`, a client's socket unless in tests).
pub struct Connection<S = Socket> {
    sink: SplitSink<WebSocketStream<S>, WsMessage>,
    stream: SplitStream<WebSocketStream<S>>,
    live: Liveness,
    timeout: Duration,
}

/// A connection after its request: the server's first answer.
pub struct Opened {
    /// The connection.
    pub conn: Connection,
    /// The server's first control message.
    pub reply: Message,
    /// The server predates the request's optional fields: `plain` was sent.
    pub plain: bool,
}

impl Connection {
    /// Connect (see [`connect::connect`]), logging how long it took.
    pub async fn connect(url: &RemoteUrl, opts: &ClientOptions) -> Result<Connection> {
        let started = std::time::Instant::now();
        tracing::debug!("connecting to {url}");
        let result = connect::connect(url, opts).await;
        let ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(_) => tracing::info!(ms, "connected to {url}"),
            Err(e) => tracing::info!(ms, "connecting to {url} failed: {e}"),
        }
        Ok(Connection::new(result?, opts.timeout))
    }

    /// Connect, send `request` and read the answer. A server that predates
    /// an optional field of `request` refuses it as an unknown field
    /// (`bad_request`); then `plain` (the request without them), if given,
    /// is sent on a new connection at once.
    pub async fn open(
        url: &RemoteUrl,
        opts: &ClientOptions,
        request: &Message,
        plain: Option<&Message>,
    ) -> Result<Opened> {
        let mut sent_plain = false;
        let mut request = request;
        loop {
            let mut conn = Connection::connect(url, opts).await?;
            conn.send_request(request).await?;
            match conn.answer().await {
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
                        conn,
                        reply: reply?,
                        plain: sent_plain,
                    });
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Take over an upgraded WebSocket; silence is fatal after `timeout`.
    pub fn new(ws: WebSocketStream<S>, timeout: Duration) -> Connection<S> {
        let (sink, stream) = ws.split();
        Connection {
            sink,
            stream,
            live: Liveness::new(timeout),
            timeout,
        }
    }

    /// Send a request (a control message before any answer).
    pub async fn send_request(&mut self, message: &Message) -> Result<()> {
        self.sink
            .send(WsMessage::text(message.encode()))
            .await
            .map_err(|_| Error::Network("connection lost while sending a request".into()))
    }

    /// Wait for the server's answer to the request, within `--timeout` of
    /// silence (a server that reads a file to compare digests pings
    /// meanwhile). The liveness watch starts afresh once it arrived.
    pub async fn answer(&mut self) -> Result<Message> {
        loop {
            let frame = tokio::time::timeout(self.timeout, self.stream.next())
                .await
                .map_err(|_| Error::Network("the server did not answer in time".into()))?;
            match classify(frame)? {
                Some(Frame::Control(message)) => {
                    self.live = Liveness::new(self.timeout);
                    return Ok(message);
                }
                Some(Frame::Data(_)) => {
                    return Err(Error::Protocol("data before the server's answer".into()));
                }
                None => {}
            }
        }
    }

    /// The next data or control frame, pinging while waiting; fails when
    /// the server has been silent for `--timeout`. Cancel-safe: no frame
    /// read is lost when another branch of a `select!` wins.
    pub async fn read_frame(&mut self) -> Result<Frame> {
        loop {
            tokio::select! {
                frame = self.stream.next() => {
                    self.live.heard();
                    if let Some(frame) = classify(frame)? {
                        return Ok(frame);
                    }
                }
                tick = self.live.tick() => {
                    tick?;
                    self.ping().await;
                }
            }
        }
    }

    /// [`Connection::read_frame`], but not before `not_before` (rate
    /// limiting): until then nothing is read on purpose, so the silence is
    /// not the server's fault, and pings go on.
    pub async fn read_frame_after(&mut self, not_before: Option<Instant>) -> Result<Frame> {
        if let Some(when) = not_before {
            loop {
                self.live.heard();
                tokio::select! {
                    () = tokio::time::sleep_until(when) => break,
                    tick = self.live.tick() => {
                        tick?;
                        self.ping().await;
                    }
                }
            }
        }
        self.read_frame().await
    }

    /// Send one frame while still listening to the server: on a slow link a
    /// frame waits for room in the socket for a long time, and what the
    /// server sends meanwhile (acks, its pings) shows the link works; its
    /// control messages go to `on_control`. The wait fails only when the
    /// server goes silent for `--timeout`.
    pub async fn send_listening(
        &mut self,
        frame: Frame,
        mut on_control: impl FnMut(Message) -> Result<()>,
    ) -> Result<()> {
        let sending = self.sink.send(ws_message(frame));
        tokio::pin!(sending);
        loop {
            tokio::select! {
                sent = &mut sending => {
                    return sent.map_err(|_| Error::Network("connection lost while sending".into()));
                }
                frame = self.stream.next() => {
                    self.live.heard();
                    if let Some(Frame::Control(message)) = classify(frame)? {
                        on_control(message)?;
                    }
                }
                tick = self.live.tick() => tick.map_err(|_| {
                    Error::Network("the server stopped reading; the connection is dead".into())
                })?,
            }
        }
    }

    /// Close with the normal close, waiting at most `--timeout` for room.
    pub async fn close(mut self) {
        let close = WsMessage::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        }));
        let _ = tokio::time::timeout(self.timeout, self.sink.send(close)).await;
    }

    /// Send a ping (a failure shows up on the read side).
    async fn ping(&mut self) {
        let _ = self.sink.send(WsMessage::Ping(bytes::Bytes::new())).await;
    }
}

/// The WebSocket message that carries `frame`.
fn ws_message(frame: Frame) -> WsMessage {
    match frame {
        Frame::Data(data) => WsMessage::Binary(data),
        Frame::Control(message) => WsMessage::text(message.encode()),
    }
}

/// Classify a received frame: None for pings and pongs; `error` messages,
/// closes and the end of the stream become errors.
fn classify(frame: Option<std::result::Result<WsMessage, WsError>>) -> Result<Option<Frame>> {
    match frame {
        None => Err(Error::Network("the server closed the connection".into())),
        Some(Err(e)) => Err(ws_error(e)),
        Some(Ok(WsMessage::Binary(data))) => Ok(Some(Frame::Data(data))),
        Some(Ok(WsMessage::Text(text))) => match Message::decode(&text)? {
            Message::Error { code, message } => Err(code.into_error(message)),
            message => Ok(Some(Frame::Control(message))),
        },
        Some(Ok(WsMessage::Close(frame))) => Err(match frame {
            Some(f) => error_from_close(f.code.into(), &f.reason),
            None => Error::Network("the server closed the connection".into()),
        }),
        Some(Ok(_)) => Ok(None),
    }
}

/// A failure of an open connection as an error kind.
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

/// Watches a connection for silence and says when to ping.
struct Liveness {
    timeout: Duration,
    last_heard: Instant,
    next_ping: Instant,
}

impl Liveness {
    /// Start watching now.
    fn new(timeout: Duration) -> Liveness {
        let now = Instant::now();
        Liveness {
            timeout,
            last_heard: now,
            next_ping: now + timeout / 3,
        }
    }

    /// Something arrived.
    fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// Wait until a ping is due (Ok) or the peer has been silent too long (Err).
    async fn tick(&mut self) -> Result<()> {
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
