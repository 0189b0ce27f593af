//! Serving one download: resolve, offer, then stream the file's items while
//! watching the client for pings, a close or a stall.
//!
//! A file whose hashes are known (the cache) goes out over plain TCP with
//! `sendfile(2)` and no reading thread; otherwise a thread reads (and hashes)
//! it. Data frames are written by [`super::frames`].

use std::fs::File;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::frames::{self, DataSocket};
use super::session::{Context, IdleWatch, Refusal, send_frame, send_message};
use crate::chain::ChainState;
use crate::paths;
use crate::protocol::{ErrorCode, Have, Message, ResumePoint};
use crate::transfer::sender::{FileHashes, Schedule, Step};
use crate::transfer::{Item, check_chunk_size, sender};

/// What a finished download moved.
pub struct Served {
    /// The path served.
    pub path: String,
    /// Where it started.
    pub offset: u64,
    /// The file's size.
    pub size: u64,
    /// The client already held it: nothing was sent.
    pub skipped: bool,
}

/// What a `get` asks for besides the file, chunk size and resume point.
#[derive(Debug, Default)]
pub struct GetOptions {
    /// The complete file the client's target holds.
    pub have: Option<Have>,
    /// Send the file's mtime and mode in the offer.
    pub attrs: bool,
}

/// Serve `path` from `resume` on; returns when the last item is sent.
pub async fn serve<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    request: (String, u64, Option<ResumePoint>),
    options: GetOptions,
    shutdown: &mut broadcast::Receiver<()>,
) -> Result<Served, Refusal> {
    let (raw_path, chunk_size, resume) = request;
    let chunk_size =
        check_chunk_size(chunk_size).map_err(|m| Refusal::new(ErrorCode::BadRequest, m))?;
    let rel = paths::parse_request_path(&raw_path)
        .map_err(|e| Refusal::new(ErrorCode::Forbidden, e.to_string()))?;
    let storage = ctx.storage.clone();
    let open_rel = rel.clone();
    let download = tokio::task::spawn_blocking(move || storage.open_download(&open_rel))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    let (mtime_ns, mode) = offered_attrs(&download, options.attrs);
    if let Some(have) = &options.have
        && identical(ctx, ws, &download, have, chunk_size).await?
    {
        return answer_identical(
            ctx,
            ws,
            &download,
            rel.to_string(),
            chunk_size,
            options.attrs,
            shutdown,
        )
        .await;
    }
    let known = ctx.hashes.get(&download.etag, chunk_size);
    let (offset, state, restarted) = resume_point(
        resume,
        &download.etag,
        download.size,
        chunk_size,
        known.as_deref(),
    );
    let offer = Message::Offer {
        size: download.size,
        etag: download.etag.clone(),
        chunk_size,
        offset,
        restarted,
        identical: false,
        mtime_ns,
        mode,
    };
    send_message(ws, &offer, ctx.idle_timeout).await?;
    let size = download.size;
    let plan = sender::SendPlan {
        file: download.file,
        path: download.path,
        size,
        chunk_size,
        offset,
        state,
        checks: match known {
            Some(hashes) => sender::Checks::Known(hashes),
            None => sender::Checks::Compute {
                collect: ctx.hashes.max_states(),
            },
        },
    };
    let source = Source::new(plan, ws.get_ref().plain_tcp().is_some());
    if let Some(hashes) = stream_items(ctx, ws, source, shutdown).await? {
        ctx.hashes.insert(&download.etag, chunk_size, hashes);
    }
    await_verdict(ctx, ws, shutdown).await?;
    Ok(Served {
        path: rel.to_string(),
        offset,
        size,
        skipped: false,
    })
}

/// The file's mtime and mode for the offer, when the client asked.
fn offered_attrs(download: &crate::storage::Download, asked: bool) -> (Option<i64>, Option<u32>) {
    match asked {
        true => (Some(download.mtime_ns), Some(download.mode)),
        false => (None, None),
    }
}

/// The client already holds the file: say so, send nothing, wait for its
/// close.
async fn answer_identical<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    download: &crate::storage::Download,
    path: String,
    chunk_size: u64,
    attrs: bool,
    shutdown: &mut broadcast::Receiver<()>,
) -> Result<Served, Refusal> {
    let (mtime_ns, mode) = offered_attrs(download, attrs);
    let offer = Message::Offer {
        size: download.size,
        etag: download.etag.clone(),
        chunk_size,
        offset: download.size,
        restarted: None,
        identical: true,
        mtime_ns,
        mode,
    };
    send_message(ws, &offer, ctx.idle_timeout).await?;
    await_verdict(ctx, ws, shutdown).await?;
    Ok(Served {
        path,
        offset: download.size,
        size: download.size,
        skipped: true,
    })
}

/// Whether the client's target already holds the file (`get.have`).
async fn identical<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    download: &crate::storage::Download,
    have: &Have,
    chunk_size: u64,
) -> Result<bool, Refusal> {
    let digest = super::identical::parse_digest(&have.sha256)?;
    let candidate = super::identical::Candidate {
        file: &download.file,
        etag: &download.etag,
        size: download.size,
        chunk_size,
    };
    super::identical::holds(ctx, ws, &candidate, have.size, digest).await
}

/// Honour a resume request only for the same source at a sane offset, and,
/// when the file's hashes are known, only for a matching state.
fn resume_point(
    resume: Option<ResumePoint>,
    etag: &str,
    size: u64,
    chunk_size: u64,
    known: Option<&FileHashes>,
) -> (u64, ChainState, Option<String>) {
    let Some(point) = resume else {
        return (0, ChainState::INITIAL, None);
    };
    if point.etag != etag {
        return (
            0,
            ChainState::INITIAL,
            Some("the file changed on the server".into()),
        );
    }
    if point.offset % chunk_size != 0 || point.offset >= size {
        return (
            0,
            ChainState::INITIAL,
            Some("the resume offset does not fit the file".into()),
        );
    }
    if known.is_some_and(|h| h.state_at(point.offset, chunk_size) != Some(point.state)) {
        let reason = "the partial download does not match the file on the server";
        return (0, ChainState::INITIAL, Some(reason.into()));
    }
    (point.offset, point.state, None)
}

/// After `eof` the client still reads what the link holds, verifies the
/// file, puts it in place and closes: that close is its verdict. Wait for
/// it as long as the client is alive (anything it sends, pings included,
/// pushes the idle time-out back), with no fixed grace period that a slow
/// link could outlast. A client that goes silent, or a shutdown, ends the
/// wait with a refusal; the client then resumes from what it verified.
async fn await_verdict<R>(
    ctx: &Arc<Context>,
    stream: &mut R,
    shutdown: &mut broadcast::Receiver<()>,
) -> Result<(), Refusal>
where
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let mut idle = IdleWatch::new(ctx.idle_timeout);
    loop {
        tokio::select! {
            incoming = stream.next() => {
                idle.heard();
                if let Some(Ok(WsMessage::Close(_))) = incoming {
                    return Ok(());
                }
                super::expect_only_keepalive(incoming)?;
            }
            refusal = idle.expired() => return Err(refusal),
            _ = shutdown.recv() => {
                return Err(Refusal::new(ErrorCode::GoingAway, "server shutting down"));
            }
        }
    }
}

/// How long a shutdown waits for the frame being written to finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What goes out next.
enum Outgoing {
    /// An item from the reading thread.
    Item(Item),
    /// A data frame straight from the file.
    Range { offset: u64, len: usize },
}

/// Where a download's items come from.
enum Source {
    /// A thread reading (and hashing, unless the hashes are known).
    Reader {
        items: mpsc::Receiver<Item>,
        reader: JoinHandle<crate::error::Result<Option<FileHashes>>>,
    },
    /// Known hashes and a plain TCP socket: data goes by `sendfile`.
    Known {
        file: File,
        hashes: Arc<FileHashes>,
        schedule: Schedule,
    },
}

impl Source {
    fn new(plan: sender::SendPlan, can_sendfile: bool) -> Source {
        match plan.checks {
            sender::Checks::Known(hashes) if can_sendfile => Source::Known {
                schedule: Schedule::new(plan.offset, plan.size, plan.chunk_size),
                file: plan.file,
                hashes,
            },
            _ => {
                let (items, reader) = sender::spawn(plan);
                Source::Reader { items, reader }
            }
        }
    }

    async fn next(&mut self) -> Result<Outgoing, Refusal> {
        match self {
            Source::Reader { items, reader } => match items.recv().await {
                Some(item) => Ok(Outgoing::Item(item)),
                None => {
                    let result = reader
                        .await
                        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
                    result?;
                    Err(Refusal::new(ErrorCode::Internal, "reader stopped early"))
                }
            },
            Source::Known {
                hashes, schedule, ..
            } => match schedule.next() {
                Some(Step::Data { offset, len }) => Ok(Outgoing::Range { offset, len }),
                Some(Step::Check { index, end }) => {
                    let state = usize::try_from(index)
                        .ok()
                        .and_then(|i| hashes.states.get(i).copied())
                        .ok_or_else(|| {
                            Refusal::new(ErrorCode::Internal, format!("no chunk state at {end}"))
                        })?;
                    Ok(Outgoing::Item(Item::Chunk { index, state }))
                }
                Some(Step::Eof) | None => Ok(Outgoing::Item(Item::Eof {
                    sha256: hashes.digest,
                })),
            },
        }
    }

    /// After the last item: the hashes the reader computed, if it did.
    async fn finish(self) -> Option<FileHashes> {
        match self {
            Source::Reader { items, reader } => {
                drop(items);
                reader.await.ok().and_then(Result::ok).flatten()
            }
            Source::Known { .. } => None,
        }
    }

    async fn send<S: DataSocket>(
        &self,
        ws: &mut WebSocketStream<S>,
        outgoing: Outgoing,
        limit: std::time::Duration,
    ) -> Result<(), Refusal> {
        match (outgoing, self) {
            (Outgoing::Item(Item::Data(data)), _) => frames::write_binary(ws, &data, limit).await,
            (Outgoing::Item(item), _) => match item.to_message() {
                Some(message) => send_frame(ws, WsMessage::text(message.encode()), limit).await,
                None => Ok(()),
            },
            (Outgoing::Range { offset, len }, Source::Known { file, .. }) => {
                frames::sendfile_binary(ws, file, offset, len, limit).await
            }
            (Outgoing::Range { .. }, Source::Reader { .. }) => Err(Refusal::new(
                ErrorCode::Internal,
                "a file range without the file",
            )),
        }
    }
}

async fn stream_items<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    mut source: Source,
    shutdown: &mut broadcast::Receiver<()>,
) -> Result<Option<FileHashes>, Refusal> {
    let mut idle = IdleWatch::new(ctx.idle_timeout);
    loop {
        // Biased: what the client sent is read before the idle time-out is
        // judged (a long frame write leaves its pings queued), and data
        // comes last so that it never starves a shutdown.
        let outgoing = tokio::select! {
            biased;
            _ = shutdown.recv() => {
                return Err(Refusal::new(ErrorCode::GoingAway, "server shutting down"));
            }
            incoming = ws.next() => {
                idle.heard();
                super::expect_only_keepalive(incoming)?;
                continue;
            }
            refusal = idle.expired() => return Err(refusal),
            outgoing = source.next() => outgoing?,
        };
        let last = matches!(outgoing, Outgoing::Item(Item::Eof { .. }));
        {
            let sending = source.send(ws, outgoing, ctx.idle_timeout);
            tokio::pin!(sending);
            tokio::select! {
                sent = &mut sending => sent?,
                // A client that stops reading must not hold up a shutdown; one
                // that reads gets the frame in hand finished, then the close.
                _ = shutdown.recv() => {
                    let going = Refusal::new(ErrorCode::GoingAway, "server shutting down");
                    return Err(match tokio::time::timeout(SHUTDOWN_GRACE, sending).await {
                        Ok(Ok(())) => going,
                        _ => going.mid_frame(),
                    });
                }
            }
        }
        if last {
            return Ok(source.finish().await);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_is_honoured_only_when_it_fits() {
        let good = ChainState([1; 32]);
        let bad = ChainState([2; 32]);
        let hashes = FileHashes {
            states: vec![good, good],
            digest: [0; 32],
        };
        let point = |etag: &str, offset, state| {
            Some(ResumePoint {
                etag: etag.into(),
                offset,
                state,
            })
        };
        // (resume, known hashes, expected offset, restarted?)
        let cases = [
            (None, None, 0, false),
            (point("e", 4096, good), None, 4096, false),
            (point("other", 4096, good), None, 0, true),
            (point("e", 100, good), None, 0, true),
            (point("e", 3 * 4096, good), None, 0, true),
            (point("e", 4096, good), Some(&hashes), 4096, false),
            (point("e", 4096, bad), Some(&hashes), 0, true),
        ];
        for (resume, known, offset, restarted) in cases {
            let got = resume_point(resume.clone(), "e", 3 * 4096 - 5, 4096, known);
            assert_eq!((got.0, got.2.is_some()), (offset, restarted), "{resume:?}");
        }
    }
}
