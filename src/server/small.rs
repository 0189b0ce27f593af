//! A small file downloaded in a session: opened, read whole (at most
//! [`SMALL_FILE_MAX`] bytes and one chunk) and hashed in ONE call on
//! tokio's blocking pool, with no thread of its own; then `offer`, its data
//! frames and `eof` are queued on the socket, which the session flushes
//! once no further request is waiting. `get.have` is compared with the
//! digest just computed (no second read). On a compressing session the
//! frames are packed by the session's one packer, paced by the requests
//! ([`Packer::pack_paced`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::context::Context;
use super::download::Served;
use super::frames::DataSocket;
use super::refusal::{Refusal, feed_frame};
use super::request::GetRequest;
use crate::chain::{ChainHasher, hex};
use crate::error::Error;
use crate::paths::RelPath;
use crate::protocol::{MAX_DATA_FRAME, Message, Offer, SMALL_FILE_MAX};
use crate::storage::{Download, StorageError};
use crate::transfer::codec::Packer;

/// A file opened for download: read whole, or left to the streaming path.
pub enum Loaded {
    /// Small: its bytes and digest.
    Whole(WholeFile),
    /// Large (or not a session): streamed as in v1.
    Open(Download),
}

/// A small file's bytes, read at once.
pub struct WholeFile {
    download: Download,
    data: Bytes,
    digest: [u8; 32],
    /// Reading and hashing it took this long.
    read: Duration,
}

impl WholeFile {
    /// Its size.
    pub fn len(&self) -> u64 {
        self.download.size
    }
}

/// Open `rel`; when `whole` and the file is small (at most one chunk of
/// `chunk_size` and [`SMALL_FILE_MAX`]), read and hash it too. Blocks.
pub fn load(
    ctx: &Context,
    rel: &RelPath,
    chunk_size: u64,
    whole: bool,
) -> Result<Loaded, StorageError> {
    let download = ctx.storage.open_download(rel)?;
    if !whole || download.size > SMALL_FILE_MAX || download.size > chunk_size {
        return Ok(Loaded::Open(download));
    }
    let started = Instant::now();
    let mut data = vec![0u8; download.size as usize];
    let mut pos = 0;
    while pos < data.len() {
        match download.file.read_at(&mut data[pos..], pos as u64) {
            Ok(0) => {
                let e = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                return Err(StorageError::Io(Error::local_io(
                    format!("reading {rel}: it shrank"),
                    e,
                )));
            }
            Ok(n) => pos += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(StorageError::Io(Error::local_io(
                    format!("reading {rel}"),
                    e,
                )));
            }
        }
    }
    let mut hasher = ChainHasher::default();
    hasher.update(&data);
    let digest = hasher.finalize();
    // One chunk: no chaining values to keep, only the digest.
    ctx.hashes.insert_small_digest(&download.etag, digest);
    Ok(Loaded::Whole(WholeFile {
        download,
        data: Bytes::from(data),
        digest,
        read: started.elapsed(),
    }))
}

/// Answer `request` with the whole `file` (at `path`): `offer{identical}`
/// when the client's `have` is this file, else `offer`, data frames and
/// `eof`, all queued (not flushed); the frames packed by `packer` on a
/// compressing session.
pub async fn serve<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    request: &GetRequest,
    (file, path): (WholeFile, String),
    mut packer: Option<&mut Packer>,
) -> Result<Served, Refusal> {
    let size = file.download.size;
    let identical = match &request.have {
        Some(have) => {
            have.size == size && super::identical::parse_digest(&have.sha256)? == file.digest
        }
        None => false,
    };
    let offer = offer(request, &file.download, identical);
    let limit = ctx.limits.idle_timeout;
    feed_frame(ws, WsMessage::text(offer.encode()), limit).await?;
    if !identical {
        let mut pos = 0;
        while pos < file.data.len() {
            let end = (pos + MAX_DATA_FRAME).min(file.data.len());
            let mut frame = file.data.slice(pos..end);
            if let Some(packer) = packer.as_deref_mut() {
                let read = file
                    .read
                    .mul_f64(frame.len() as f64 / file.data.len() as f64);
                frame = packer.pack_paced(&frame, read);
            }
            feed_frame(ws, WsMessage::Binary(frame), limit).await?;
            pos = end;
        }
        let eof = Message::Eof {
            sha256: hex(&file.digest),
        };
        feed_frame(ws, WsMessage::text(eof.encode()), limit).await?;
    }
    Ok(Served {
        path,
        offset: if identical { size } else { 0 },
        size,
        skipped: identical,
    })
}

/// The `offer` of a small file: from 0 (a resume inside one chunk starts
/// over), or at the end when `identical`.
fn offer(request: &GetRequest, download: &Download, identical: bool) -> Message {
    let restarted = request.resume.as_ref().and_then(|r| {
        if r.etag != download.etag {
            Some("the file changed on the server".to_string())
        } else {
            (r.offset != 0).then(|| "the resume offset does not fit the file".to_string())
        }
    });
    Message::Offer(Offer {
        size: download.size,
        etag: download.etag.clone(),
        chunk_size: request.chunk_size,
        offset: if identical { download.size } else { 0 },
        restarted: restarted.filter(|_| !identical),
        identical,
        mtime_ns: request.attrs.then_some(download.mtime_ns),
        mode: request.attrs.then_some(download.mode),
    })
}
