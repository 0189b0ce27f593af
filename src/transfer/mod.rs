//! The transfer engine shared by both directions: a sender that reads a file,
//! hashes each byte once and emits [`Item`]s, and a receiver that verifies
//! items against its own hash and writes them to a [`ChunkSink`].
//!
//! Each runs on its own blocking thread joined to the connection task by
//! bounded channels, so disk I/O, hashing and the socket overlap.

pub mod body;
pub mod codec;
pub mod compress;
mod pool;
pub mod receiver;
pub mod sender;
mod trial;
pub mod writer;

use bytes::Bytes;

use crate::chain::ChainState;
use crate::error::{Error, Result};
use crate::protocol::{MAX_DATA_FRAME, Message};

/// One step of a file on the wire, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// The next bytes of the file (a binary frame).
    Data(Bytes),
    /// The next data frame of a compressing connection, as it goes on the
    /// wire ([`codec`]); `len` raw bytes of the file.
    Packed {
        /// The frame: marker byte, then raw or compressed bytes.
        frame: Bytes,
        /// The file bytes it carries.
        len: usize,
    },
    /// The chunk that just ended has this chaining value.
    Chunk {
        /// Zero-based chunk index.
        index: u64,
        /// Chaining value after the chunk.
        state: ChainState,
    },
    /// End of file: the whole file's SHA-256.
    Eof {
        /// The digest.
        sha256: [u8; 32],
    },
}

impl Item {
    /// The control message for a check item (None for data).
    pub fn to_message(&self) -> Option<Message> {
        match self {
            Item::Data(_) | Item::Packed { .. } => None,
            Item::Chunk { index, state } => Some(Message::Chunk {
                index: *index,
                state: *state,
            }),
            Item::Eof { sha256 } => Some(Message::Eof {
                sha256: crate::chain::hex(sha256),
            }),
        }
    }

    /// The item a received check message stands for, if it is one.
    pub fn from_message(message: &Message) -> Result<Option<Item>> {
        Ok(match message {
            Message::Chunk { index, state } => Some(Item::Chunk {
                index: *index,
                state: *state,
            }),
            Message::Eof { sha256 } => Some(Item::Eof {
                sha256: crate::chain::digest_from_hex(sha256)
                    .ok_or_else(|| Error::Protocol("eof sha256 must be 64 hex digits".into()))?,
            }),
            _ => None,
        })
    }
}

/// Chunk sizes are part of the protocol (the partial files check them too).
pub use crate::protocol::check_chunk_size;

/// The length of the next data frame at `pos`: up to the frame limit, never
/// crossing a chunk boundary or the end of the file.
pub fn frame_len(pos: u64, size: u64, chunk_size: u64) -> u64 {
    let boundary = ((pos / chunk_size) + 1) * chunk_size;
    (boundary.min(size) - pos).min(MAX_DATA_FRAME as u64)
}
