//! Serving one download: resolve, offer, then stream the file's items while
//! watching the client for pings, a close or a stall.
//!
//! A file whose hashes are known (the cache) goes out over plain TCP with
//! `sendfile(2)` and no reading thread; otherwise a thread reads (and hashes)
//! it. Data frames are written by [`super::frames`].

use std::fs::File;

use crate::transfer::body::Body;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message as WsMessage;

mod mode;

use super::chains::{ChainSource, SharedStep};
use super::context::Context;
use super::frames::{self, DataSocket};
use super::idle::IdleWatch;
use super::refusal::{Refusal, expect_only_keepalive, send_frame, send_message};
use super::request::GetRequest;
use super::shutdown::Shutdown;
use super::small;
use crate::chain::ChainState;
use crate::paths;
use crate::protocol::{CompressMode, ErrorCode, FRAME_RAW, Have, Message, ResumePoint};
use crate::storage::Download;
use crate::transfer::codec::{Packer, Unpacker};
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

/// How a download ends, and what is read from the client meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// One request per connection (v1): pings are read while sending, and
    /// after `eof` the client's close is its verdict.
    Verdict,
    /// A session: nothing is read while sending (the next requests wait in
    /// the socket), and the request is over after `eof`; a small file is
    /// read whole on the blocking pool, with no thread of its own.
    Session,
}

/// How a download's data frames are packed: the mode the connection agreed
/// on (None: no compressed frames), and on a session its packer, for the
/// small files sent from memory (one `auto` policy across them).
#[derive(Debug, Default)]
pub struct Packing<'a> {
    /// The mode agreed at the upgrade.
    pub mode: Option<CompressMode>,
    /// A session's packer.
    pub packer: Option<&'a mut Packer>,
    /// A session's unpacker (for a plain upload in it).
    pub unpacker: Option<&'a mut Unpacker>,
}

impl From<Option<CompressMode>> for Packing<'_> {
    fn from(mode: Option<CompressMode>) -> Self {
        Packing {
            mode,
            packer: None,
            unpacker: None,
        }
    }
}

/// Serve the file `request` names from where it resumes; returns when the
/// client has the file (its close after `eof`), or in a session once `eof`
/// is written.
pub async fn serve<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    request: GetRequest,
    shutdown: &mut Shutdown,
    ending: Ending,
    compress: Packing<'_>,
) -> Result<Served, Refusal> {
    let (open_ctx, open_request) = (ctx.clone(), request.clone());
    let opened = tokio::task::spawn_blocking(move || open(&open_ctx, &open_request, ending))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))??;
    serve_opened(ctx, ws, request, opened, shutdown, ending, compress).await
}

/// A `get`'s file, opened (in a session a small one read whole).
pub struct Opened {
    /// The path under ROOT.
    path: String,
    chunk_size: u64,
    loaded: small::Loaded,
}

impl Opened {
    /// Bytes read into memory (a small file read whole).
    pub fn whole_bytes(&self) -> u64 {
        match &self.loaded {
            small::Loaded::Whole(file) => file.len(),
            small::Loaded::Open(_) => 0,
        }
    }
}

/// Check `request` and open the file it names (in a session, a small one
/// is read whole). Blocks: call it on the blocking pool.
pub fn open(ctx: &Context, request: &GetRequest, ending: Ending) -> Result<Opened, Refusal> {
    let chunk_size =
        check_chunk_size(request.chunk_size).map_err(|m| Refusal::new(ErrorCode::BadRequest, m))?;
    let rel = paths::parse_request_path(&request.path)
        .map_err(|e| Refusal::new(ErrorCode::Forbidden, e.to_string()))?;
    let whole = ending == Ending::Session;
    let loaded = small::load(ctx, &rel, chunk_size, whole)?;
    Ok(Opened {
        path: rel.to_string(),
        chunk_size,
        loaded,
    })
}

/// [`serve`] the file `opened` holds; `compress`: the connection agreed to
/// compressed data frames (packed by a reading thread, or for a small file
/// read whole by the session's packer).
pub async fn serve_opened<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    request: GetRequest,
    opened: Opened,
    shutdown: &mut Shutdown,
    ending: Ending,
    compress: Packing<'_>,
) -> Result<Served, Refusal> {
    let Opened {
        path,
        chunk_size,
        loaded,
    } = opened;
    let download = match loaded {
        small::Loaded::Whole(file) => {
            let packer = compress.packer.filter(|_| compress.mode.is_some());
            return small::serve(ctx, ws, &request, (file, path), packer).await;
        }
        small::Loaded::Open(download) => download,
    };
    let compress = compress.mode;
    let identical = match &request.have {
        Some(have) => identical(ctx, ws, &download, have, chunk_size).await?,
        None => false,
    };
    let known = known_hashes(ctx, &download.etag, chunk_size, &path).await;
    let start = start_of(
        request.resume,
        identical,
        &download,
        chunk_size,
        known.as_deref(),
    );
    let offer = offer(
        &download,
        chunk_size,
        start.clone(),
        identical,
        request.attrs,
    );
    send_message(ws, &offer, ctx.limits.idle_timeout).await?;
    let (etag, size, offset) = (download.etag.clone(), download.size, start.offset);
    if !identical {
        let plan = send_plan(ctx, download, chunk_size, start, known);
        let reading = ending == Ending::Verdict;
        send_file(ctx, ws, (plan, etag.clone()), (shutdown, reading), compress).await?;
    }
    if ending == Ending::Verdict {
        await_verdict(ctx, ws, shutdown).await?;
    }
    Ok(Served {
        path,
        offset,
        size,
        skipped: identical,
    })
}

/// Send the file `plan` reads (`etag` names its version; `reading`: read
/// pings meanwhile), its
/// frames compressed when the connection agreed and it pays; keep the
/// hashes computed on the way.
async fn send_file<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    (mut plan, etag): (sender::SendPlan, String),
    (shutdown, reading): (&mut Shutdown, bool),
    compress: Option<CompressMode>,
) -> Result<(), Refusal> {
    let (watch, chunk_size) = (plan.file.clone(), plan.chunk_size);
    let can_sendfile = ws.get_ref().plain_tcp().is_some();
    plan.compress = mode::settle(&plan, compress, can_sendfile).await;
    let marker = plan.compress.map(|_| FRAME_RAW);
    let source = Source::new(ctx, plan, can_sendfile, &etag);
    let streamed = stream_items(ctx, ws, (source, marker), shutdown, reading).await?;
    if let Some(hashes) = streamed {
        keep_hashes(ctx, watch, etag, chunk_size, hashes).await;
    }
    Ok(())
}

/// Where the download of `download` starts: at the end when the client
/// holds the file (`identical`), else where it resumes.
fn start_of(
    resume: Option<ResumePoint>,
    identical: bool,
    download: &Download,
    chunk_size: u64,
    known: Option<&FileHashes>,
) -> Start {
    match identical {
        true => Start::at_end(download.size),
        false => resume_point(resume, &download.etag, download.size, chunk_size, known),
    }
}

/// The chaining values of `etag` at `chunk_size`, if the hash cache has
/// them (logged: the tests tell a restarted server's cache by it).
async fn known_hashes(
    ctx: &Context,
    etag: &str,
    chunk_size: u64,
    path: &str,
) -> Option<Arc<FileHashes>> {
    let known = ctx.hashes.get(etag, chunk_size).await;
    let how = match known {
        Some(_) => "chaining values from the hash cache",
        None => "hashing while sending",
    };
    tracing::debug!("get /{path}: {how}");
    known
}

/// Cache the hashes a download computed while it read the file, if the
/// file (`watch`, another handle on it) still has the etag it had when
/// it was opened: one changed in place meanwhile may have been read
/// half old, half new.
async fn keep_hashes(
    ctx: &Arc<Context>,
    watch: Body,
    etag: String,
    chunk_size: u64,
    hashes: FileHashes,
) {
    let ctx = ctx.clone();
    let _ = tokio::task::spawn_blocking(move || {
        // A ranged body's reads fail once it changed: it read one version.
        let unchanged = watch.as_file().is_none_or(|file| {
            file.metadata()
                .is_ok_and(|meta| crate::storage::etag(&meta) == etag)
        });
        if unchanged {
            ctx.hashes.insert(&etag, chunk_size, hashes);
        }
    })
    .await;
}

/// Where a download starts: at `offset`, after `state` (0 and the initial
/// state for a fresh start), with why an asked-for resume was refused.
#[derive(Debug, Clone, PartialEq)]
struct Start {
    offset: u64,
    state: ChainState,
    restarted: Option<String>,
}

impl Start {
    /// Nothing to send: the client holds the whole file.
    fn at_end(size: u64) -> Start {
        Start {
            offset: size,
            state: ChainState::INITIAL,
            restarted: None,
        }
    }

    fn fresh(restarted: Option<&str>) -> Start {
        Start {
            offset: 0,
            state: ChainState::INITIAL,
            restarted: restarted.map(str::to_string),
        }
    }
}

/// The `offer` for `download` from `start` (at the end, with `identical`,
/// when the client holds the file); with the file's mtime and mode when
/// the client asked (`attrs`).
fn offer(
    download: &Download,
    chunk_size: u64,
    start: Start,
    identical: bool,
    attrs: bool,
) -> Message {
    Message::Offer(crate::protocol::Offer {
        size: download.size,
        etag: download.etag.clone(),
        chunk_size,
        offset: start.offset,
        restarted: start.restarted,
        identical,
        mtime_ns: attrs.then_some(download.mtime_ns),
        mode: attrs.then_some(download.mode),
    })
}

/// What the sending side reads from where, and how it checks.
fn send_plan(
    ctx: &Context,
    download: Download,
    chunk_size: u64,
    start: Start,
    known: Option<Arc<FileHashes>>,
) -> sender::SendPlan {
    sender::SendPlan {
        file: download.file,
        path: download.path,
        size: download.size,
        chunk_size,
        offset: start.offset,
        state: start.state,
        checks: match known {
            Some(hashes) => sender::Checks::Known(hashes),
            None => sender::Checks::Compute {
                collect: ctx.hashes.max_states(),
            },
        },
        compress: None,
    }
}

/// Whether the client's target already holds the file (`get.have`).
async fn identical<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    download: &Download,
    have: &Have,
    chunk_size: u64,
) -> Result<bool, Refusal> {
    let digest = super::identical::parse_digest(&have.sha256)?;
    let candidate = super::identical::Candidate::of(download, chunk_size);
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
) -> Start {
    let Some(point) = resume else {
        return Start::fresh(None);
    };
    if point.etag != etag {
        return Start::fresh(Some("the file changed on the server"));
    }
    if point.offset % chunk_size != 0 || point.offset >= size {
        return Start::fresh(Some("the resume offset does not fit the file"));
    }
    if known.is_some_and(|h| h.state_at(point.offset, chunk_size) != Some(point.state)) {
        return Start::fresh(Some(
            "the partial download does not match the file on the server",
        ));
    }
    Start {
        offset: point.offset,
        state: point.state,
        restarted: None,
    }
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
    shutdown: &mut Shutdown,
) -> Result<(), Refusal>
where
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let mut idle = IdleWatch::new(ctx.limits.idle_timeout);
    loop {
        tokio::select! {
            incoming = stream.next() => {
                idle.heard();
                if let Some(Ok(WsMessage::Close(_))) = incoming {
                    return Ok(());
                }
                expect_only_keepalive(incoming)?;
            }
            refusal = idle.expired() => return Err(refusal),
            refusal = shutdown.going_away() => return Err(refusal),
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
        file: Arc<File>,
        hashes: Arc<FileHashes>,
        schedule: Schedule,
    },
    /// Hashes computed chunk by chunk with concurrent downloads of the same
    /// file, on a plain TCP socket: data goes by `sendfile`.
    Shared(ChainSource),
}

impl Source {
    /// Cached hashes on plain TCP: `sendfile`; a whole file on plain TCP:
    /// `sendfile` on the file's shared chain; otherwise a reading thread.
    fn new(ctx: &Context, plan: sender::SendPlan, can_sendfile: bool, etag: &str) -> Source {
        let file = match &plan.file {
            // Compressed frames come from the reading thread.
            Body::File(file)
                if can_sendfile && plan.compress.is_none_or(|m| m == CompressMode::Off) =>
            {
                Some(file.clone())
            }
            _ => None,
        };
        let shared = match &plan.checks {
            sender::Checks::Compute { .. } if file.is_some() && plan.offset == 0 => {
                ctx.hashes.chain(etag, plan.size, plan.chunk_size)
            }
            _ => None,
        };
        match (&plan.checks, shared, file) {
            (sender::Checks::Known(hashes), _, Some(file)) => Source::Known {
                schedule: Schedule::new(plan.offset, plan.size, plan.chunk_size),
                hashes: hashes.clone(),
                file,
            },
            (sender::Checks::Compute { .. }, Some(chain), Some(file)) => {
                Source::Shared(ChainSource::new(file, chain))
            }
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
            Source::Shared(source) => match source.next().await {
                Ok(SharedStep::Range { offset, len }) => Ok(Outgoing::Range { offset, len }),
                Ok(SharedStep::Chunk { index, state }) => {
                    Ok(Outgoing::Item(Item::Chunk { index, state }))
                }
                Ok(SharedStep::Eof(sha256)) => Ok(Outgoing::Item(Item::Eof { sha256 })),
                Err(e) => Err(Refusal::new(
                    ErrorCode::Internal,
                    format!("reading the file: {e}"),
                )),
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
            Source::Shared(source) => source.hashes(),
        }
    }

    /// Send `outgoing`; a range goes by `sendfile` after the `marker` byte
    /// of a compressing connection's raw frames.
    async fn send<S: DataSocket>(
        &self,
        ws: &mut WebSocketStream<S>,
        outgoing: Outgoing,
        marker: Option<u8>,
        limit: std::time::Duration,
    ) -> Result<(), Refusal> {
        match (outgoing, self) {
            (Outgoing::Item(Item::Data(data) | Item::Packed { frame: data, .. }), _) => {
                frames::write_binary(ws, &data, limit).await
            }
            (Outgoing::Item(item), _) => match item.to_message() {
                Some(message) => send_frame(ws, WsMessage::text(message.encode()), limit).await,
                None => Ok(()),
            },
            (Outgoing::Range { offset, len }, Source::Known { file, .. }) => {
                frames::sendfile_binary(ws, (file, marker), offset, len, limit).await
            }
            (Outgoing::Range { offset, len }, Source::Shared(source)) => {
                frames::sendfile_binary(ws, (source.file(), marker), offset, len, limit).await
            }
            (Outgoing::Range { .. }, Source::Reader { .. }) => Err(Refusal::new(
                ErrorCode::Internal,
                "a file range without the file",
            )),
        }
    }
}

/// Send the source's items; `reading`: read pings meanwhile, and judge the
/// client's silence (in a session the next requests wait unread).
async fn stream_items<S: DataSocket>(
    ctx: &Arc<Context>,
    ws: &mut WebSocketStream<S>,
    (mut source, marker): (Source, Option<u8>),
    shutdown: &mut Shutdown,
    reading: bool,
) -> Result<Option<FileHashes>, Refusal> {
    let mut idle = IdleWatch::new(ctx.limits.idle_timeout);
    loop {
        // Biased: what the client sent is read before the idle time-out is
        // judged (a long frame write leaves its pings queued), and data
        // comes last so that it never starves a shutdown.
        let outgoing = tokio::select! {
            biased;
            refusal = shutdown.going_away() => return Err(refusal),
            incoming = ws.next(), if reading => {
                idle.heard();
                expect_only_keepalive(incoming)?;
                continue;
            }
            refusal = idle.expired(), if reading => return Err(refusal),
            outgoing = source.next() => outgoing?,
        };
        let last = matches!(outgoing, Outgoing::Item(Item::Eof { .. }));
        {
            let sending = source.send(ws, outgoing, marker, ctx.limits.idle_timeout);
            tokio::pin!(sending);
            tokio::select! {
                sent = &mut sending => sent?,
                // A client that stops reading must not hold up a shutdown; one
                // that reads gets the frame in hand finished, then the close.
                going = shutdown.going_away() => {
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
            assert_eq!(
                (got.offset, got.restarted.is_some()),
                (offset, restarted),
                "{resume:?}"
            );
        }
    }
}
