//! Why a session ends early and how the client is told: the [`Refusal`]
//! (from storage errors, library errors and WebSocket errors), control
//! messages and close frames sent with a time limit, and incoming frames
//! read as "a frame, or why the connection is over".

use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::protocol::{ErrorCode, Message};
use crate::storage::StorageError;

/// A request the server turns down, sent to the client as `error` + close.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Machine-readable reason.
    pub code: ErrorCode,
    /// What to tell the user.
    pub message: String,
    /// A data frame was left half-written: the peer cannot parse another
    /// frame, so the connection is dropped without the error and close.
    pub mid_frame: bool,
}

impl Refusal {
    /// A refusal with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            mid_frame: false,
        }
    }

    /// The same refusal, raised with a data frame half-written.
    pub fn mid_frame(mut self) -> Refusal {
        self.mid_frame = true;
        self
    }
}

impl From<StorageError> for Refusal {
    fn from(e: StorageError) -> Self {
        let code = match &e {
            StorageError::NotFound(_) => ErrorCode::NotFound,
            StorageError::Forbidden(_) => ErrorCode::Forbidden,
            StorageError::IsDirectory(_) => ErrorCode::IsDirectory,
            StorageError::NoSpace(_) => ErrorCode::TooLarge,
            StorageError::Busy(_) => ErrorCode::Busy,
            StorageError::Io(_) => ErrorCode::Internal,
        };
        Refusal::new(code, e.to_string())
    }
}

impl From<crate::error::Error> for Refusal {
    fn from(e: crate::error::Error) -> Self {
        use crate::error::Error;
        let code = match &e {
            Error::Protocol(_) => ErrorCode::BadRequest,
            Error::Integrity(_) => ErrorCode::Integrity,
            _ => ErrorCode::Internal,
        };
        Refusal::new(code, e.to_string())
    }
}

/// Send one control message, giving up after `limit`.
pub async fn send_message<S>(
    sink: &mut S,
    message: &Message,
    limit: Duration,
) -> Result<(), Refusal>
where
    S: Sink<WsMessage> + Unpin,
{
    send_frame(sink, WsMessage::text(message.encode()), limit).await
}

/// Send one frame, giving up after `limit` (a stalled peer).
pub async fn send_frame<S>(sink: &mut S, frame: WsMessage, limit: Duration) -> Result<(), Refusal>
where
    S: Sink<WsMessage> + Unpin,
{
    match tokio::time::timeout(limit, sink.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Refusal::new(ErrorCode::GoingAway, "connection lost")),
        Err(_) => Err(Refusal::new(ErrorCode::GoingAway, "peer stopped reading")),
    }
}

/// Queue one frame without flushing it (a session flushes when no request
/// is waiting), giving up after `limit` when the queue is full and the
/// peer does not read.
pub async fn feed_frame<S>(sink: &mut S, frame: WsMessage, limit: Duration) -> Result<(), Refusal>
where
    S: Sink<WsMessage> + Unpin,
{
    match tokio::time::timeout(limit, sink.feed(frame)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Refusal::new(ErrorCode::GoingAway, "connection lost")),
        Err(_) => Err(Refusal::new(ErrorCode::GoingAway, "peer stopped reading")),
    }
}

/// Flush what was queued, giving up after `limit`.
pub async fn flush_frames<S>(sink: &mut S, limit: Duration) -> Result<(), Refusal>
where
    S: Sink<WsMessage> + Unpin,
{
    match tokio::time::timeout(limit, sink.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Refusal::new(ErrorCode::GoingAway, "connection lost")),
        Err(_) => Err(Refusal::new(ErrorCode::GoingAway, "peer stopped reading")),
    }
}

/// Tell the client why, then close with the matching close code.
pub async fn refuse<S>(sink: &mut S, refusal: &Refusal, limit: Duration)
where
    S: Sink<WsMessage> + Unpin,
{
    let message = Message::Error {
        code: refusal.code,
        message: refusal.message.clone(),
    };
    if send_message(sink, &message, limit).await.is_ok() {
        close(sink, refusal.code.close_code(), &refusal.message, limit).await;
    }
}

/// Send a close frame (reason cut to fit a control frame).
pub async fn close<S>(sink: &mut S, code: u16, reason: &str, limit: Duration)
where
    S: Sink<WsMessage> + Unpin,
{
    let mut reason = reason.to_string();
    while reason.len() > 120 {
        reason.pop();
    }
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(limit, sink.send(WsMessage::Close(Some(frame)))).await;
}

/// The next frame, or why the connection is over.
pub fn received(incoming: Option<Result<WsMessage, WsError>>) -> Result<WsMessage, Refusal> {
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
pub fn expect_only_keepalive(incoming: Option<Result<WsMessage, WsError>>) -> Result<(), Refusal> {
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
