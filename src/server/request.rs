//! What a connection asks for: its first protocol message, read by the
//! handshake deadline and turned into a typed [`Request`] in this one
//! place; each kind goes to its handler (`download`, `upload`, `listing`).

use futures_util::{Stream, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::refusal::{Refusal, received};
use crate::attrs::FileAttrs;
use crate::protocol::{ErrorCode, Message};
use crate::storage::ListOptions;

/// A connection's one request.
#[derive(Debug)]
pub enum Request {
    /// Download a file.
    Get(GetRequest),
    /// Upload a file.
    Put(PutRequest),
    /// List a directory.
    List(ListRequest),
}

/// What a download request asks for: the `get` message.
pub type GetRequest = crate::protocol::Get;

/// What an upload request asks for: the `put` message.
pub type PutRequest = crate::protocol::Put;

impl PutRequest {
    /// What the stored file gets: the source's mtime, and its mode without
    /// setuid, setgid or sticky bits (and readable by the server).
    pub fn attrs(&self) -> FileAttrs {
        FileAttrs {
            mtime_ns: self.mtime_ns,
            mode: self.mode.map(crate::attrs::server_mode),
        }
    }

    /// Who uploads: what a partial upload of it is recorded under.
    pub fn source(&self) -> crate::partial::SourceIdentity {
        crate::partial::SourceIdentity {
            id: self.source_id.clone(),
            size: self.size,
        }
    }
}

/// What a listing request asks for.
#[derive(Debug)]
pub struct ListRequest {
    /// URL path as sent (`/` or a trailing `/` for a directory).
    pub path: String,
    /// Recursive, with digests.
    pub options: ListOptions,
}

impl Request {
    /// Read the first message from `stream`, by `deadline`.
    pub async fn read<R>(stream: &mut R, deadline: Instant) -> Result<Request, Refusal>
    where
        R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
    {
        let incoming = tokio::time::timeout_at(deadline, stream.next())
            .await
            .map_err(|_| Refusal::new(ErrorCode::BadRequest, "no request arrived in time"))?;
        match received(incoming)? {
            WsMessage::Text(text) => Request::from_message(Message::decode(&text)?),
            _ => Err(Refusal::new(
                ErrorCode::BadRequest,
                "expected a get or put message first",
            )),
        }
    }

    /// The request a message makes, if it makes one.
    pub fn from_message(message: Message) -> Result<Request, Refusal> {
        Ok(match message {
            Message::Get(get) => Request::Get(get),
            Message::Put(put) => Request::Put(put),
            Message::List {
                path,
                recursive,
                sha256,
                cached,
            } => Request::List(ListRequest {
                path,
                options: ListOptions {
                    recursive,
                    sha256,
                    cached,
                    links_within: false,
                },
            }),
            other => {
                return Err(Refusal::new(
                    ErrorCode::BadRequest,
                    format!("expected get, put or list, got {}", other.kind()),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_put_and_list_are_requests() {
        // (message, the request kind it makes or None)
        let cases = [
            (
                r#"{"type":"get","path":"/a","chunk_size":4096}"#,
                Some("get"),
            ),
            (
                r#"{"type":"put","path":"/a","size":1,"chunk_size":4096,"source_id":"s"}"#,
                Some("put"),
            ),
            (
                r#"{"type":"list","path":"/","recursive":true}"#,
                Some("list"),
            ),
            (r#"{"type":"ack","offset":0}"#, None),
            (r#"{"type":"eof","sha256":"00"}"#, None),
        ];
        for (text, want) in cases {
            let Ok(message) = Message::decode(text) else {
                assert!(want.is_none(), "{text}");
                continue;
            };
            let got = Request::from_message(message).ok().map(|r| match r {
                Request::Get(_) => "get",
                Request::Put(_) => "put",
                Request::List(l) => {
                    assert!(l.options.recursive && !l.options.sha256);
                    "list"
                }
            });
            assert_eq!(got, want, "{text}");
        }
    }
}
