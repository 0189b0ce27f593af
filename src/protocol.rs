//! The wsresume wire protocol (v1, and v2 sessions) as plain data: message types, their JSON
//! encoding, close codes and how each refusal maps to an exit code.
//!
//! Control messages are WebSocket text frames holding one JSON object with a
//! `type` field; file bytes travel as binary frames, in order, never crossing
//! a chunk boundary. See PROTOCOL.md for the conversation itself.

use serde::{Deserialize, Serialize};

use crate::chain::ChainState;
use crate::error::Error;

/// The WebSocket subprotocol naming this protocol version.
pub const SUBPROTOCOL: &str = "wsresume.v1";
/// The subprotocol of sessions: many requests per connection, pipelined
/// (PROTOCOL.md section 13).
pub const SUBPROTOCOL_V2: &str = "wsresume.v2";
/// Largest file that goes through a session as one piece (an eager `put`,
/// a download read whole): no per-chunk state, written, verified, synced
/// in a batch and renamed.
pub const SMALL_FILE_MAX: u64 = 1 << 20;
/// Most entries in one listing, on both sides (memory bound).
pub const MAX_LIST_ENTRIES: usize = 100_000;
/// Largest binary frame a sender produces.
pub const MAX_DATA_FRAME: usize = 256 * 1024;
/// Largest message either side accepts (a data frame plus slack).
pub const MAX_MESSAGE: usize = MAX_DATA_FRAME + 64 * 1024;
/// Largest control (text) message either side accepts.
pub const MAX_CONTROL_MESSAGE: usize = 16 * 1024;

mod compress;
pub use compress::{
    COMPRESS_HEADER, CompressMode, FRAME_RAW, FRAME_ZSTD, compress_agreed, compress_requested,
};

/// Smallest and largest chunk sizes accepted from users and peers.
pub const MIN_CHUNK: u64 = 4 * 1024;
/// See [`MIN_CHUNK`].
pub const MAX_CHUNK: u64 = 1024 * 1024 * 1024;

/// Check a chunk size: within bounds and a multiple of 4 KiB.
pub fn check_chunk_size(size: u64) -> std::result::Result<u64, String> {
    if !(MIN_CHUNK..=MAX_CHUNK).contains(&size) || !size.is_multiple_of(MIN_CHUNK) {
        return Err(format!(
            "chunk size {size} must be a multiple of 4K between 4K and 1G"
        ));
    }
    Ok(size)
}

/// Where a download resumes: what the client already holds verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumePoint {
    /// The source's identity when the partial was started (from `offer`).
    pub etag: String,
    /// Verified bytes; a multiple of the chunk size.
    pub offset: u64,
    /// The SHA-256 chaining value after `offset` bytes.
    #[serde(with = "state_hex")]
    pub state: ChainState,
}

/// What a downloading client already holds at its target: a file of this
/// size and digest (known from its digest cache, not re-read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Have {
    /// The local file's size.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// `get`: download `path`, optionally resuming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Get {
    /// URL path as sent (percent-encoded).
    pub path: String,
    /// Verification unit in bytes.
    pub chunk_size: u64,
    /// What the client already holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumePoint>,
    /// The complete file the target already holds: if it is the
    /// server's, nothing is sent (`offer` with `identical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub have: Option<Have>,
    /// The client understands `mtime_ns` and `mode` in the `offer`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub attrs: bool,
}

/// `put`: upload `size` bytes to `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Put {
    /// URL path as sent (percent-encoded).
    pub path: String,
    /// The file's size in bytes.
    pub size: u64,
    /// Proposed verification unit (the server may keep its partial's).
    pub chunk_size: u64,
    /// Identity of the source version; the same command sends the same id.
    pub source_id: String,
    /// The source's SHA-256, when the client knows it without reading
    /// the file: a target already holding it is not sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The source's modification time (ns since the epoch), for the
    /// stored file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<i64>,
    /// The source's permission bits (`-p`); the server applies
    /// `mode & 0o777`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// Sessions only: the data and `eof` follow at once, without waiting
    /// for `accept`; the one answer is `done` or `error`. The file is one
    /// chunk of at most [`SMALL_FILE_MAX`] bytes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub eager: bool,
}

/// `offer`: what the server will send for a `get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// The source's size.
    pub size: u64,
    /// The source's identity, to present when resuming.
    pub etag: String,
    /// Verification unit.
    pub chunk_size: u64,
    /// First byte that will be sent (0 or the requested resume offset).
    pub offset: u64,
    /// Why a requested resume was not honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted: Option<String>,
    /// The client's `have` is this file: nothing follows.
    #[serde(default, skip_serializing_if = "is_false")]
    pub identical: bool,
    /// The file's modification time, ns since the epoch (`attrs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<i64>,
    /// The file's permission bits, `mode & 0o7777` (`attrs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// One control message, in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Message {
    /// Client: download `path`, optionally resuming.
    Get(Get),
    /// Client: upload `size` bytes to `path`.
    Put(Put),
    /// Server → downloader: what will be sent.
    Offer(Offer),
    /// Server → uploader: send from `offset`.
    Accept {
        /// Bytes the server already holds verified.
        offset: u64,
        /// Verification unit.
        chunk_size: u64,
        /// The chaining value after `offset` bytes.
        #[serde(with = "state_hex")]
        state: ChainState,
        /// Why an earlier partial upload was dropped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restarted: Option<String>,
    },
    /// Sender: the chunk that just ended has this chaining value.
    Chunk {
        /// Zero-based chunk index.
        index: u64,
        /// Chaining value after the chunk.
        #[serde(with = "state_hex")]
        state: ChainState,
    },
    /// Sender: all bytes sent; the whole file's SHA-256.
    Eof {
        /// Lowercase hex digest.
        sha256: String,
    },
    /// Server → uploader: bytes verified and recorded so far.
    Ack {
        /// Verified bytes.
        offset: u64,
    },
    /// Server → uploader: the file is in place.
    Done {
        /// Lowercase hex digest of the stored file.
        sha256: String,
        /// The target already held this file (`put` with `sha256`):
        /// nothing was sent.
        #[serde(default, skip_serializing_if = "is_false")]
        skipped: bool,
    },
    /// Client: list the directory (or file) at `path`.
    List {
        /// URL path as sent (percent-encoded); `/` or a trailing `/` for
        /// a directory.
        path: String,
        /// Walk subdirectories too (files only, paths relative to `path`).
        #[serde(default, skip_serializing_if = "is_false")]
        recursive: bool,
        /// Include each file's SHA-256 (the server reads every file).
        #[serde(default, skip_serializing_if = "is_false")]
        sha256: bool,
        /// Include the SHA-256 of the files whose digest the server
        /// already knows (its hash cache), reading none (sessions only).
        #[serde(default, skip_serializing_if = "is_false")]
        cached: bool,
    },
    /// Server → lister: some entries, sorted by path (one or more messages).
    Entries {
        /// The entries of this batch.
        entries: Vec<ListEntry>,
    },
    /// Server → lister: the listing is complete.
    Listed {
        /// Entries sent in all.
        count: u64,
        /// More entries exist than the server lists.
        truncated: bool,
    },
    /// Either side: the request failed; a close frame follows.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
}

impl Message {
    /// Encode as the text of one WebSocket text frame.
    pub fn encode(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decode a text frame.
    pub fn decode(text: &str) -> Result<Message, Error> {
        if text.len() > MAX_CONTROL_MESSAGE {
            return Err(Error::Protocol("control message too large".into()));
        }
        serde_json::from_str(text)
            .map_err(|e| Error::Protocol(format!("malformed control message: {e}")))
    }

    /// The message's `type`, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Get(_) => "get",
            Message::Put(_) => "put",
            Message::Offer(_) => "offer",
            Message::Accept { .. } => "accept",
            Message::Chunk { .. } => "chunk",
            Message::Eof { .. } => "eof",
            Message::Ack { .. } => "ack",
            Message::Done { .. } => "done",
            Message::List { .. } => "list",
            Message::Entries { .. } => "entries",
            Message::Listed { .. } => "listed",
            Message::Error { .. } => "error",
        }
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    /// Path relative to the listed directory, `/`-separated, not encoded.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Size in bytes (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Last modification, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<i64>,
    /// SHA-256, lowercase hex (files, when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What a listed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

fn is_false(value: &bool) -> bool {
    !value
}

/// Why a request failed, as sent in `error` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed, unknown or out-of-order message.
    BadRequest,
    /// The path leaves ROOT or names a reserved file.
    Forbidden,
    /// Nothing to download at that path.
    NotFound,
    /// The path names a directory: nothing to download, nothing an upload
    /// can replace (a client may retry with the file's name inside it).
    IsDirectory,
    /// The server only serves downloads.
    ReadOnly,
    /// The upload is larger than the server accepts.
    TooLarge,
    /// Another client is uploading to the same target.
    Busy,
    /// The same client's newer connection took over this upload.
    Superseded,
    /// A chunk or the file failed its check; reconnect to resume.
    Integrity,
    /// The server failed; try again later.
    Internal,
    /// The server is shutting down; reconnect later.
    GoingAway,
}

impl ErrorCode {
    /// The WebSocket close code sent with this error.
    pub fn close_code(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 4400,
            ErrorCode::Forbidden | ErrorCode::ReadOnly | ErrorCode::IsDirectory => 4403,
            ErrorCode::NotFound => 4404,
            ErrorCode::Busy | ErrorCode::Superseded => 4409,
            ErrorCode::TooLarge => 4413,
            ErrorCode::Integrity => 4422,
            ErrorCode::Internal => 4500,
            ErrorCode::GoingAway => 1001,
        }
    }

    /// The client-side error this refusal becomes.
    pub fn into_error(self, message: String) -> Error {
        match self {
            ErrorCode::BadRequest => Error::Protocol(message),
            ErrorCode::NotFound => Error::NotFound(message),
            ErrorCode::IsDirectory => Error::IsDirectory(message),
            ErrorCode::Forbidden
            | ErrorCode::ReadOnly
            | ErrorCode::TooLarge
            | ErrorCode::Busy
            | ErrorCode::Superseded => Error::Refused(message),
            ErrorCode::Integrity => Error::Integrity(message),
            ErrorCode::Internal | ErrorCode::GoingAway => Error::Network(message),
        }
    }
}

/// How a close frame without a preceding `error` message is understood.
pub fn error_from_close(code: u16, reason: &str) -> Error {
    let message = if reason.is_empty() {
        format!("connection closed by peer (code {code})")
    } else {
        format!("connection closed by peer: {reason} (code {code})")
    };
    match code {
        1002 | 1003 | 1007 | 1009 | 4400 => Error::Protocol(message),
        4401 => Error::Auth(message),
        4404 => Error::NotFound(message),
        4403 | 4409 | 4413 => Error::Refused(message),
        4422 => Error::Integrity(message),
        _ => Error::Network(message),
    }
}

/// Serde adapter writing a [`ChainState`] as 64 hex characters.
mod state_hex {
    use super::ChainState;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(state: &ChainState, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&state.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ChainState, D::Error> {
        let text = <&str>::deserialize(d)?;
        ChainState::from_hex(text).ok_or_else(|| de::Error::custom("state must be 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ChainState {
        ChainState([0xab; 32])
    }

    #[test]
    fn messages_round_trip_through_their_json() {
        let hex = "ab".repeat(32);
        let cases = vec![
            (
                Message::Get(crate::protocol::Get {
                    path: "/a%20b".into(),
                    chunk_size: 1024,
                    resume: None,
                    have: None,
                    attrs: false,
                }),
                r#"{"type":"get","path":"/a%20b","chunk_size":1024}"#.to_string(),
            ),
            (
                Message::Get(crate::protocol::Get {
                    path: "/h".into(),
                    chunk_size: 4096,
                    resume: None,
                    have: Some(Have {
                        size: 3,
                        sha256: "ab".into(),
                    }),
                    attrs: true,
                }),
                r#"{"type":"get","path":"/h","chunk_size":4096,"have":{"size":3,"sha256":"ab"},"attrs":true}"#
                    .to_string(),
            ),
            (
                Message::Get(crate::protocol::Get {
                    path: "/x".into(),
                    chunk_size: 64,
                    resume: Some(ResumePoint {
                        etag: "e1".into(),
                        offset: 128,
                        state: state(),
                    }),
                    have: None,
                    attrs: false,
                }),
                format!(
                    r#"{{"type":"get","path":"/x","chunk_size":64,"resume":{{"etag":"e1","offset":128,"state":"{hex}"}}}}"#
                ),
            ),
            (
                Message::Put(crate::protocol::Put {
                    path: "/u".into(),
                    size: 5,
                    chunk_size: 64,
                    source_id: "s".into(),
                    sha256: None,
                    mtime_ns: None,
                    mode: None,
                    eager: false,
                }),
                r#"{"type":"put","path":"/u","size":5,"chunk_size":64,"source_id":"s"}"#.into(),
            ),
            (
                Message::Put(crate::protocol::Put {
                    path: "/u".into(),
                    size: 5,
                    chunk_size: 64,
                    source_id: "s".into(),
                    sha256: Some("cd".into()),
                    mtime_ns: Some(-1_500_000_000),
                    mode: Some(0o640),
                    eager: false,
                }),
                r#"{"type":"put","path":"/u","size":5,"chunk_size":64,"source_id":"s","sha256":"cd","mtime_ns":-1500000000,"mode":416}"#.into(),
            ),
            (
                Message::Put(crate::protocol::Put {
                    path: "/e".into(),
                    size: 3,
                    chunk_size: 4096,
                    source_id: "s".into(),
                    sha256: None,
                    mtime_ns: None,
                    mode: None,
                    eager: true,
                }),
                r#"{"type":"put","path":"/e","size":3,"chunk_size":4096,"source_id":"s","eager":true}"#.into(),
            ),
            (
                Message::Offer(crate::protocol::Offer {
                    size: 9,
                    etag: "e".into(),
                    chunk_size: 64,
                    offset: 0,
                    restarted: None,
                    identical: false,
                    mtime_ns: None,
                    mode: None,
                }),
                r#"{"type":"offer","size":9,"etag":"e","chunk_size":64,"offset":0}"#.into(),
            ),
            (
                Message::Offer(crate::protocol::Offer {
                    size: 9,
                    etag: "e".into(),
                    chunk_size: 64,
                    offset: 9,
                    restarted: None,
                    identical: true,
                    mtime_ns: Some(1_700_000_000_000_000_001),
                    mode: Some(0o755),
                }),
                r#"{"type":"offer","size":9,"etag":"e","chunk_size":64,"offset":9,"identical":true,"mtime_ns":1700000000000000001,"mode":493}"#.into(),
            ),
            (
                Message::Accept {
                    offset: 64,
                    chunk_size: 64,
                    state: state(),
                    restarted: Some("r".into()),
                },
                format!(
                    r#"{{"type":"accept","offset":64,"chunk_size":64,"state":"{hex}","restarted":"r"}}"#
                ),
            ),
            (
                Message::Chunk {
                    index: 3,
                    state: state(),
                },
                format!(r#"{{"type":"chunk","index":3,"state":"{hex}"}}"#),
            ),
            (
                Message::Eof {
                    sha256: "00".into(),
                },
                r#"{"type":"eof","sha256":"00"}"#.into(),
            ),
            (
                Message::Ack { offset: 7 },
                r#"{"type":"ack","offset":7}"#.into(),
            ),
            (
                Message::Done {
                    sha256: "ff".into(),
                    skipped: false,
                },
                r#"{"type":"done","sha256":"ff"}"#.into(),
            ),
            (
                Message::Done {
                    sha256: "ff".into(),
                    skipped: true,
                },
                r#"{"type":"done","sha256":"ff","skipped":true}"#.into(),
            ),
            (
                Message::List {
                    path: "/d/".into(),
                    recursive: true,
                    sha256: false,
                    cached: false,
                },
                r#"{"type":"list","path":"/d/","recursive":true}"#.into(),
            ),
            (
                Message::List {
                    path: "/d/".into(),
                    recursive: true,
                    sha256: false,
                    cached: true,
                },
                r#"{"type":"list","path":"/d/","recursive":true,"cached":true}"#.into(),
            ),
            (
                Message::Entries {
                    entries: vec![ListEntry {
                        path: "a b".into(),
                        kind: EntryKind::File,
                        size: Some(3),
                        modified: Some(-1),
                        sha256: None,
                    }],
                },
                r#"{"type":"entries","entries":[{"path":"a b","kind":"file","size":3,"modified":-1}]}"#
                    .into(),
            ),
            (
                Message::Listed {
                    count: 1,
                    truncated: false,
                },
                r#"{"type":"listed","count":1,"truncated":false}"#.into(),
            ),
            (
                Message::Error {
                    code: ErrorCode::NotFound,
                    message: "no".into(),
                },
                r#"{"type":"error","code":"not_found","message":"no"}"#.into(),
            ),
        ];
        for (message, json) in cases {
            assert_eq!(message.encode(), json);
            assert_eq!(Message::decode(&json).unwrap(), message);
        }
    }

    #[test]
    fn malformed_messages_are_protocol_errors() {
        let long = format!(
            r#"{{"type":"eof","sha256":"{}"}}"#,
            "a".repeat(MAX_CONTROL_MESSAGE)
        );
        let cases = [
            "",
            "not json",
            "{}",
            r#"{"type":"nope"}"#,
            r#"{"type":"ack"}"#,
            r#"{"type":"ack","offset":-1}"#,
            r#"{"type":"ack","offset":1,"extra":true}"#,
            r#"{"type":"chunk","index":0,"state":"zz"}"#,
            r#"{"type":"get","path":"/x","chunk_size":64,"have":{"size":1}}"#,
            r#"{"type":"get","path":"/x","chunk_size":64,"have":{"size":1,"sha256":"ab","x":1}}"#,
            r#"{"type":"put","path":"/u","size":5,"chunk_size":64,"source_id":"s","mode":-1}"#,
            long.as_str(),
        ];
        for text in cases {
            let err = Message::decode(text).unwrap_err();
            assert!(matches!(err, Error::Protocol(_)), "{text}: {err}");
        }
    }

    #[test]
    fn refusals_map_to_exit_codes() {
        let cases = [
            (ErrorCode::BadRequest, 4400, 7),
            (ErrorCode::Forbidden, 4403, 8),
            (ErrorCode::NotFound, 4404, 8),
            (ErrorCode::ReadOnly, 4403, 8),
            (ErrorCode::TooLarge, 4413, 8),
            (ErrorCode::Busy, 4409, 8),
            (ErrorCode::Superseded, 4409, 8),
            (ErrorCode::Integrity, 4422, 9),
            (ErrorCode::Internal, 4500, 4),
            (ErrorCode::GoingAway, 1001, 4),
        ];
        // Only the error message tells a directory apart; its close code
        // alone reads as a refusal.
        let is_dir = ErrorCode::IsDirectory;
        assert_eq!(is_dir.close_code(), 4403);
        assert_eq!(is_dir.into_error("m".into()).exit_code().code(), 2);
        for (code, close, exit) in cases {
            assert_eq!(code.close_code(), close, "{code:?}");
            assert_eq!(
                code.into_error("m".into()).exit_code().code(),
                exit,
                "{code:?}"
            );
            let from_close = error_from_close(close, "");
            assert_eq!(from_close.exit_code().code(), exit, "close {close}");
        }
    }
}
