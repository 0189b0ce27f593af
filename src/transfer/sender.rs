//! The sending half: reads a file from a verified offset, hashes it once and
//! emits data frames, chunk check values and the final digest.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bytes::BytesMut;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Item, frame_len};
use crate::chain::{ChainHasher, ChainState};
use crate::error::{Error, Result};

/// Items buffered between the reading thread and the socket.
const QUEUE: usize = 16;

/// What to send and where to start.
#[derive(Debug)]
pub struct SendPlan {
    /// The open source file.
    pub file: File,
    /// Its path, for messages.
    pub path: PathBuf,
    /// Its size when the transfer was negotiated.
    pub size: u64,
    /// Verification unit.
    pub chunk_size: u64,
    /// First byte to send (a multiple of `chunk_size`).
    pub offset: u64,
    /// Chaining value after `offset` bytes.
    pub state: ChainState,
}

/// Start reading on a blocking thread; items arrive on the returned channel.
/// The thread stops early, without error, when the receiver is dropped.
pub fn spawn(plan: SendPlan) -> (mpsc::Receiver<Item>, JoinHandle<Result<()>>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = tokio::task::spawn_blocking(move || run(plan, &tx));
    (rx, handle)
}

fn run(plan: SendPlan, tx: &mpsc::Sender<Item>) -> Result<()> {
    let mut hasher = ChainHasher::resume(plan.state, plan.offset)
        .map_err(|e| Error::Protocol(format!("cannot resume at offset {}: {e}", plan.offset)))?;
    let mut pos = plan.offset;
    while pos < plan.size {
        let len = frame_len(pos, plan.size, plan.chunk_size) as usize;
        let mut buf = BytesMut::zeroed(len);
        read_exact(&plan, &mut buf, pos)?;
        hasher.update(&buf);
        pos += len as u64;
        if tx.blocking_send(Item::Data(buf.freeze())).is_err() {
            return Ok(());
        }
        if pos.is_multiple_of(plan.chunk_size) && pos < plan.size {
            let state = hasher
                .state()
                .ok_or_else(|| Error::Protocol("chunk boundary is not 64-byte aligned".into()))?;
            let index = pos / plan.chunk_size - 1;
            if tx.blocking_send(Item::Chunk { index, state }).is_err() {
                return Ok(());
            }
        }
    }
    let _ = tx.blocking_send(Item::Eof {
        sha256: hasher.finalize(),
    });
    Ok(())
}

fn read_exact(plan: &SendPlan, buf: &mut [u8], pos: u64) -> Result<()> {
    plan.file.read_exact_at(buf, pos).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            std::io::Error::other("the file shrank while it was being sent")
        } else {
            e
        };
        Error::local_io(format!("reading {}", plan.path.display()), what)
    })
}
