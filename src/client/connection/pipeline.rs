//! Pipelining on a session connection (`wsresume.v2`): frames queued to be
//! sent go out while the answers are read, so requests (and eager data)
//! never wait for a round trip and the socket is never read elsewhere.
//! On a compressing session, data frames are packed as they are queued
//! (paced by the answers: see [`Packer::pack_paced`]) and received ones
//! are unpacked.

use std::collections::VecDeque;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::{Connection, Frame, classify_answer, ws_message};
use crate::error::{Error, Result};
#[cfg(doc)]
use crate::transfer::codec::Packer;

/// Frames waiting to be sent on a connection.
#[derive(Default)]
pub(super) struct Outgoing {
    frames: VecDeque<WsMessage>,
    /// Frames were handed to the sink and may still sit in its buffer.
    unflushed: bool,
}

impl Outgoing {
    /// Whether anything is left to send or flush.
    fn pending(&self) -> bool {
        !self.frames.is_empty() || self.unflushed
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Whether the server picked `wsresume.v2`: many requests may go over
    /// this connection, pipelined.
    pub fn is_session(&self) -> bool {
        self.session
    }

    /// Queue `frame`; it is sent while [`Connection::read_answer`] or
    /// [`Connection::flush_queue`] runs.
    pub fn queue(&mut self, frame: Frame) {
        self.outgoing.frames.push_back(ws_message(frame));
    }

    /// Queue a data frame of the raw bytes `raw` (read and hashed in
    /// `produce`), packed on a compressing connection.
    pub fn queue_data(&mut self, raw: bytes::Bytes, produce: Duration) {
        let frame = match &mut self.compress {
            None => raw,
            Some(codec) => codec.packer.pack_paced(&raw, produce),
        };
        self.outgoing.frames.push_back(WsMessage::Binary(frame));
    }

    /// What the session's packer did, for the log (None: it packed nothing).
    pub fn packed_summary(&self) -> Option<String> {
        let codec = self.compress.as_ref()?;
        (codec.packer.frames() > 0).then(|| codec.packer.summary())
    }

    /// The next frame of a session's answers, sending queued frames
    /// meanwhile. An `error` message answers one request and comes back as
    /// a control message; closes and the end of the stream are errors.
    /// Pings while waiting; the server's silence for `--timeout` is fatal.
    pub async fn read_answer(&mut self) -> Result<Frame> {
        loop {
            let sending = self.outgoing.pending();
            tokio::select! {
                biased;
                frame = futures_util::StreamExt::next(&mut self.stream) => {
                    self.live.heard();
                    if let Some(frame) = classify_answer(frame)? {
                        return self.unpacked(frame);
                    }
                }
                sent = std::future::poll_fn(|cx| send_queued(&mut self.sink, &mut self.outgoing, cx)), if sending => sent?,
                tick = self.live.tick() => {
                    tick?;
                    self.ping().await;
                }
            }
        }
    }

    /// Send everything queued (within `--timeout`).
    pub async fn flush_queue(&mut self) -> Result<()> {
        let sending =
            std::future::poll_fn(|cx| send_queued(&mut self.sink, &mut self.outgoing, cx));
        tokio::time::timeout(self.timeout, sending)
            .await
            .map_err(|_| {
                Error::Network("the server stopped reading; the connection is dead".into())
            })?
    }
}

/// Hand queued frames to `sink` as it has room, then flush it. Cancel-safe:
/// a frame leaves the queue only when the sink took it.
fn send_queued<S: AsyncRead + AsyncWrite + Unpin>(
    sink: &mut SplitSink<WebSocketStream<S>, WsMessage>,
    outgoing: &mut Outgoing,
    cx: &mut Context<'_>,
) -> Poll<Result<()>> {
    let lost = |_| Error::Network("connection lost while sending".into());
    while !outgoing.frames.is_empty() {
        ready!(sink.poll_ready_unpin(cx)).map_err(lost)?;
        if let Some(frame) = outgoing.frames.pop_front() {
            sink.start_send_unpin(frame).map_err(lost)?;
            outgoing.unflushed = true;
        }
    }
    ready!(sink.poll_flush_unpin(cx)).map_err(lost)?;
    outgoing.unflushed = false;
    Poll::Ready(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorCode, Message};
    use futures_util::StreamExt;
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::protocol::Role;

    #[tokio::test]
    async fn queued_frames_go_out_while_answers_are_read_and_errors_are_answers() {
        // A pipe far smaller than what is queued: sending must progress
        // while reading, or both ends would wait for each other.
        let (client, server) = tokio::io::duplex(4096);
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let mut server = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        let mut conn = Connection::new(client, Duration::from_secs(30));
        for _ in 0..8 {
            conn.queue(Frame::Data(vec![1; 64 * 1024].into()));
        }
        let serving = tokio::spawn(async move {
            let mut got = 0;
            while got < 8 * 64 * 1024 {
                match server.next().await {
                    Some(Ok(WsMessage::Binary(data))) => got += data.len(),
                    other => panic!("{other:?}"),
                }
                if got == 64 * 1024 {
                    let refusal = Message::Error {
                        code: ErrorCode::NotFound,
                        message: "gone".into(),
                    };
                    server
                        .send(WsMessage::text(refusal.encode()))
                        .await
                        .unwrap();
                }
            }
            server
                .send(WsMessage::text(Message::Ack { offset: 9 }.encode()))
                .await
                .unwrap();
            server
        });
        let first = conn.read_answer().await.unwrap();
        assert!(matches!(
            first,
            Frame::Control(Message::Error {
                code: ErrorCode::NotFound,
                ..
            })
        ));
        let second = conn.read_answer().await.unwrap();
        assert_eq!(second, Frame::Control(Message::Ack { offset: 9 }));
        assert!(!conn.outgoing.pending());
        serving.await.unwrap();
    }
}
