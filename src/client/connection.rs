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
use crate::protocol::{CompressMode, Message, error_from_close};
use crate::transfer::codec::Codec;

mod pipeline;

/// One frame, either way: file bytes or a control message (a received
/// control message is never `error`: that is an `Err`).
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// File bytes. On a compressing connection, outgoing ones are packed
    /// already (by the file's sender), and received ones are unpacked here.
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
    /// The server picked `wsresume.v2`.
    session: bool,
    /// Frames queued for pipelining (sessions).
    outgoing: pipeline::Outgoing,
    /// Compressed data frames were agreed: the mode to send them with
    /// (a file's sender packs them; in a session, [`Connection::queue_data`]
    /// does), and the contexts packing and reading them.
    compress: Option<Codec>,
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
    /// Connect offering sessions (see [`connect::connect`]), logging how
    /// long it took: a listing, or a session of small files.
    pub async fn connect(url: &RemoteUrl, opts: &ClientOptions) -> Result<Connection> {
        Connection::connect_offering(url, opts, true).await
    }

    /// Connect, offering `wsresume.v2` too when `sessions`.
    async fn connect_offering(
        url: &RemoteUrl,
        opts: &ClientOptions,
        sessions: bool,
    ) -> Result<Connection> {
        let started = std::time::Instant::now();
        tracing::debug!("connecting to {url}");
        let result = connect::connect(url, opts, sessions).await;
        let ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok((_, session, compress)) => {
                tracing::info!(ms, session, compress, "connected to {url}")
            }
            Err(e) => tracing::info!(ms, "connecting to {url} failed: {e}"),
        }
        let (ws, session, compressing) = result?;
        let mut conn = Connection::new(ws, opts.timeout);
        conn.session = session;
        if compressing {
            conn.compress = Some(Codec::new(opts.compress)?);
        }
        Ok(conn)
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
            // One file per connection: `wsresume.v1` as ever.
            let mut conn = Connection::connect_offering(url, opts, false).await?;
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
            session: false,
            outgoing: pipeline::Outgoing::default(),
            compress: None,
        }
    }

    /// The mode to pack data frames with, when the server agreed to
    /// compressed frames (the file's sender then packs its data frames).
    pub fn compressing(&self) -> Option<CompressMode> {
        self.compress.as_ref().map(|codec| codec.mode)
    }

    /// A received frame, its data unpacked on a compressing connection.
    fn unpacked(&mut self, frame: Frame) -> Result<Frame> {
        match (frame, &mut self.compress) {
            (Frame::Data(data), Some(codec)) => Ok(Frame::Data(codec.unpacker.unpack(data)?)),
            (frame, _) => Ok(frame),
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
            // Biased: a frame already waiting (after a long stall of the
            // caller, say a slow disk) is heard before silence is judged.
            tokio::select! {
                biased;
                frame = self.stream.next() => {
                    self.live.heard();
                    if let Some(frame) = classify(frame)? {
                        return self.unpacked(frame);
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
    /// The work is done by now (the file is in place, or the server said
    /// `done`), so the server's close is not waited for: that would cost a
    /// round trip. What already arrived is read first, so that no unread
    /// byte (a pong, say) makes the kernel reset the connection under our
    /// close frame; the server's close then finds the socket gone, after it
    /// has read ours.
    pub async fn close(mut self) {
        use futures_util::FutureExt;
        let close = WsMessage::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        }));
        while let Some(Some(Ok(frame))) = self.stream.next().now_or_never() {
            if matches!(frame, WsMessage::Close(_)) {
                break;
            }
        }
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
    match classify_answer(frame)? {
        Some(Frame::Control(Message::Error { code, message })) => Err(code.into_error(message)),
        other => Ok(other),
    }
}

/// [`classify`], except that an `error` message is returned as a control
/// message (in a session it answers one request).
fn classify_answer(
    frame: Option<std::result::Result<WsMessage, WsError>>,
) -> Result<Option<Frame>> {
    match frame {
        None => Err(Error::Network("the server closed the connection".into())),
        Some(Err(e)) => Err(ws_error(e)),
        Some(Ok(WsMessage::Binary(data))) => Ok(Some(Frame::Data(data))),
        Some(Ok(WsMessage::Text(text))) => Ok(Some(Frame::Control(Message::decode(&text)?))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use tokio::io::DuplexStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    const TIMEOUT: Duration = Duration::from_secs(30);
    const SECOND: Duration = Duration::from_secs(1);

    /// A client connection and the server's end, over an in-memory pipe
    /// holding `buffer` bytes each way.
    async fn pair(buffer: usize) -> (Connection<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (client, server) = tokio::io::duplex(buffer);
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        (Connection::new(client, TIMEOUT), server)
    }

    /// The pings the server's end has received, read until it has been
    /// quiet for a second.
    async fn pings(server: &mut WebSocketStream<DuplexStream>) -> usize {
        let mut pings = 0;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(SECOND, server.next()).await {
            pings += usize::from(frame.is_ping());
        }
        pings
    }

    fn text(message: &Message) -> WsMessage {
        WsMessage::text(message.encode())
    }

    #[test]
    fn frames_are_classified() {
        let ack = Message::Ack { offset: 5 };
        let refusal = Message::Error {
            code: ErrorCode::NotFound,
            message: "gone".into(),
        };
        let close = |code: u16| {
            WsMessage::Close(Some(CloseFrame {
                code: code.into(),
                reason: "why".into(),
            }))
        };
        let cut = WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        let cases: Vec<(Option<std::result::Result<WsMessage, WsError>>, &str)> = vec![
            (Some(Ok(WsMessage::Binary(vec![1, 2].into()))), "data 2"),
            (Some(Ok(text(&ack))), "control ack"),
            (Some(Ok(WsMessage::Ping(bytes::Bytes::new()))), "keepalive"),
            (Some(Ok(WsMessage::Pong(bytes::Bytes::new()))), "keepalive"),
            (Some(Ok(text(&refusal))), "NotFound: gone"),
            (
                Some(Ok(close(4401))),
                "Auth: connection closed by peer: why (code 4401)",
            ),
            (
                Some(Ok(WsMessage::Close(None))),
                "Network: the server closed the connection",
            ),
            (None, "Network: the server closed the connection"),
            (Some(Err(cut)), "Network: the connection was cut"),
            (
                Some(Err(WsError::AlreadyClosed)),
                "Network: connection lost: Trying to work with closed connection",
            ),
        ];
        for (frame, want) in cases {
            let got = match classify(frame) {
                Ok(Some(Frame::Data(data))) => format!("data {}", data.len()),
                Ok(Some(Frame::Control(message))) => format!("control {}", message.kind()),
                Ok(None) => "keepalive".into(),
                Err(e) => {
                    let kind = format!("{e:?}");
                    let kind = kind.split('(').next().unwrap_or_default().to_string();
                    let text = e.to_string();
                    let text = text
                        .strip_prefix("authentication failed: ")
                        .unwrap_or(&text);
                    format!("{kind}: {text}")
                }
            };
            assert_eq!(got, want);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_server_is_pinged_then_given_up_after_the_timeout() {
        let (mut conn, mut server) = pair(1 << 16).await;
        let start = Instant::now();
        let err = conn.read_frame().await.expect_err("silence is fatal");
        assert_eq!(start.elapsed(), TIMEOUT);
        assert!(
            err.to_string().contains("no data from the server for 30s"),
            "{err}"
        );
        assert_eq!(
            pings(&mut server).await,
            2,
            "one every third of the timeout"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_pings_count_as_life() {
        let (mut conn, mut server) = pair(1 << 16).await;
        let serving = tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(SECOND * 20).await;
                server.send(WsMessage::Ping(bytes::Bytes::new())).await?;
            }
            server.send(text(&Message::Ack { offset: 1 })).await?;
            Ok::<_, WsError>(server)
        });
        let start = Instant::now();
        let frame = conn.read_frame().await.expect("alive");
        assert_eq!(frame, Frame::Control(Message::Ack { offset: 1 }));
        assert_eq!(start.elapsed(), SECOND * 100);
        assert!(serving.await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn reading_held_back_by_the_rate_limit_is_not_silence() {
        let (mut conn, mut server) = pair(1 << 16).await;
        let serving = tokio::spawn(async move {
            tokio::time::sleep(SECOND * 110).await;
            server.send(text(&Message::Ack { offset: 2 })).await?;
            Ok::<_, WsError>(server)
        });
        let start = Instant::now();
        let frame = conn.read_frame_after(Some(start + SECOND * 100)).await;
        assert_eq!(
            frame.expect("alive"),
            Frame::Control(Message::Ack { offset: 2 })
        );
        assert_eq!(start.elapsed(), SECOND * 110);
        let mut server = serving.await.expect("server").expect("sent");
        let pinged = pings(&mut server).await;
        assert!(pinged >= 10, "pings went on while not reading: {pinged}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_waiting_for_room_hears_the_server_meanwhile() {
        let (mut conn, mut server) = pair(1024).await;
        let serving = tokio::spawn(async move {
            for offset in 1..=5 {
                tokio::time::sleep(SECOND * 20).await;
                server.send(text(&Message::Ack { offset })).await?;
            }
            let frame = server.next().await;
            Ok::<_, WsError>(frame.map(|f| f.map(|f| f.len())))
        });
        let start = Instant::now();
        let mut acks = Vec::new();
        let data = Frame::Data(vec![7; 64 * 1024].into());
        let sent = conn
            .send_listening(data, |message| {
                acks.push(message);
                Ok(())
            })
            .await;
        assert!(sent.is_ok(), "{sent:?}");
        assert_eq!(start.elapsed(), SECOND * 100);
        assert_eq!(acks.len(), 5);
        let received = serving.await.expect("server").expect("read");
        assert_eq!(received.map(|r| r.ok()), Some(Some(64 * 1024)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_the_silent_server_never_takes_fails_after_the_timeout() {
        let (mut conn, _server) = pair(1024).await;
        let start = Instant::now();
        let data = Frame::Data(vec![7; 64 * 1024].into());
        let err = conn
            .send_listening(data, |_| Ok(()))
            .await
            .expect_err("dead");
        assert_eq!(start.elapsed(), TIMEOUT);
        assert!(err.to_string().contains("stopped reading"), "{err}");
    }
}
