//! `wsresume get`: download into a partial next to the target (or to stdout),
//! reconnecting and resuming from the last verified chunk until the whole
//! file checks out. One run at a time owns a target (its lock file).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::ClientOptions;
use super::connect::RemoteUrl;
use super::connection::{Connection, Frame};
use super::retry::{self, Attempts, Recovery};
use super::stdout::StdoutSink;
use crate::attrs::{CLIENT_MODE_BITS, FileAttrs};
use crate::chain::ChainState;
use crate::digests::{self, Identity};
use crate::error::{Error, Result};
use crate::partial::{
    Held as LockHeld, Partial, PartialPaths, Placed, SourceIdentity, TargetLock, lock_path,
};
use crate::progress::FileProgress;
use crate::protocol::{Have, Message, Offer, ResumePoint};
use crate::ratelimit::{self, RateLimit};
use crate::report::Outcome;
use crate::transfer::receiver::{ChunkSink, Receiver, ReceiverTask};
use crate::transfer::{Item, check_chunk_size};

/// How often `--wait` tries the lock again.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// Where a download goes.
#[derive(Debug, Clone)]
pub enum Dest {
    /// A file (the partial files sit beside it).
    File(PathBuf),
    /// Standard output.
    Stdout,
}

/// The server's answer to a `get` (anything else is a protocol error).
fn offer_of(reply: Message) -> Result<Offer> {
    match reply {
        Message::Offer(offer) => Ok(offer),
        other => Err(Error::Protocol(format!(
            "expected offer, got {}",
            other.kind()
        ))),
    }
}

/// What the target already holds, from the digest cache.
pub struct Held {
    /// Sent in `get`.
    pub have: Have,
    /// The target's identity when it was looked up.
    pub identity: Identity,
}

/// One download across all its attempts.
struct Download<'a> {
    opts: &'a ClientOptions,
    url: &'a RemoteUrl,
    dest: Dest,
    chunk_size: u64,
    waiting: Option<Partial>,
    resume: Option<ResumePoint>,
    task: Option<ReceiverTask>,
    resumed_from: Option<u64>,
    size: u64,
    transferred: u64,
    progress: FileProgress,
    limit: Option<RateLimit>,
    /// The target's lock, shared with the partial being written so that
    /// it is released only after the partial's last commit.
    lock: Option<Arc<TargetLock>>,
    /// The target already holds this file, as far as the cache knows.
    held: Option<Held>,
    /// The server predates `have` and `attrs`.
    plain: bool,
    /// The finished file's metadata, once it is in place.
    placed: Option<Placed>,
    /// The server said the target already holds its file.
    skipped: bool,
}

/// Download `url` to `dest`, reporting to `progress`.
pub async fn get(
    opts: &ClientOptions,
    url: &RemoteUrl,
    dest: Dest,
    progress: &FileProgress,
) -> Result<Outcome> {
    let lock = match &dest {
        Dest::File(target) => Some(Arc::new(lock_target(target, opts, progress).await?)),
        Dest::Stdout => None,
    };
    let mut download = Download::new(opts, url, dest, progress.clone(), lock)?;
    let ran = retry::run(opts, progress, &mut download).await;
    download.progress.finish();
    if let Some(task) = download.task.take() {
        let _ = task.close().await;
    }
    let digest = ran.result?;
    let sha256 = crate::chain::hex(&digest);
    download.remember(&sha256);
    Ok(Outcome {
        bytes: download.size,
        sha256,
        resumed_from: download.resumed_from.unwrap_or(0),
        transferred: download.transferred,
        attempts: ran.attempts,
        skipped: download.skipped,
    })
}

impl Attempts for Download<'_> {
    type Output = [u8; 32];

    async fn attempt(&mut self) -> Result<[u8; 32]> {
        let request = self.request(self.plain);
        let plain = Some(self.request(true)).filter(|plain| *plain != request);
        let opened = Connection::open(self.url, self.opts, &request, plain.as_ref()).await?;
        self.plain |= opened.plain;
        let mut conn = opened.conn;
        let offer = offer_of(opened.reply)?;
        if offer.identical {
            let digest = self.take_identical(&offer).await?;
            conn.close().await;
            return Ok(digest);
        }
        self.take_offer(offer).await?;
        self.progress.connected();
        let digest = self.pump(&mut conn).await?;
        conn.close().await;
        Ok(digest)
    }

    /// Bytes verified so far.
    fn progress_mark(&self) -> u64 {
        self.task.as_ref().map_or(0, |t| *t.verified().borrow())
    }

    /// Resume from what is verified; a file that checked out and was put
    /// in place before the connection failed is a success.
    async fn after_failure(&mut self, error: Error) -> Recovery<[u8; 32]> {
        if let Error::IsDirectory(_) = error {
            let refusal = format!("{} is a directory: use -r", self.url);
            return Recovery::Finished(Err(Error::IsDirectory(refusal)));
        }
        if let Err(e) = self.rewind().await {
            return Recovery::Finished(Err(e));
        }
        match self.finished() {
            Some(digest) => Recovery::Finished(Ok(digest)),
            None => Recovery::Retry(error),
        }
    }
}

/// Take the lock of `target` (a file, or a tree's top directory): at once,
/// or with `--wait` once the other run let go; without `--wait` a held lock
/// fails the run at once.
pub async fn lock_target(
    target: &Path,
    opts: &ClientOptions,
    progress: &FileProgress,
) -> Result<TargetLock> {
    let mut told = false;
    loop {
        let LockHeld { pid } = match TargetLock::try_acquire(target)? {
            Ok(lock) => return Ok(lock),
            Err(held) => held,
        };
        let who = match pid {
            Some(pid) => format!("another wsresume (pid {pid})"),
            None => "another wsresume".to_string(),
        };
        let (target, lock) = (target.display(), lock_path(target));
        if !opts.wait_lock {
            return Err(Error::Locked(format!(
                "{who} is downloading to {target} (lock {}): wait for it or use --wait",
                lock.display()
            )));
        }
        if !told {
            told = true;
            progress.note(&format!(
                "waiting for {who}, which is downloading to {target} (lock {})",
                lock.display()
            ));
        }
        tokio::time::sleep(LOCK_POLL).await;
    }
}

impl<'a> Download<'a> {
    /// Reopen an existing partial (checking it) before connecting; the
    /// caller holds the target's lock.
    fn new(
        opts: &'a ClientOptions,
        url: &'a RemoteUrl,
        dest: Dest,
        progress: FileProgress,
        lock: Option<Arc<TargetLock>>,
    ) -> Result<Download<'a>> {
        let mut download = Download {
            opts,
            url,
            dest,
            chunk_size: opts.chunk_size,
            waiting: None,
            resume: None,
            task: None,
            resumed_from: None,
            size: 0,
            transferred: 0,
            progress,
            limit: opts.limit_rate.map(RateLimit::new),
            lock,
            held: None,
            plain: false,
            placed: None,
            skipped: false,
        };
        if let Dest::File(target) = &download.dest {
            download.held = held(target, digests::lookup);
            match Partial::reopen(PartialPaths::for_target(target), None)? {
                Some(Ok(reopened)) => {
                    download.note(reopened.note.as_deref());
                    let partial = reopened.partial;
                    let (offset, state) = partial.verified();
                    download.chunk_size = partial.chunk_size();
                    download.resume = Some(ResumePoint {
                        etag: partial.source().id.clone(),
                        offset,
                        state,
                    });
                    download.waiting = Some(partial);
                }
                Some(Err(reason)) => download.note(Some(&format!("starting over: {reason}"))),
                None => {}
            }
        }
        Ok(download)
    }

    fn note(&self, note: Option<&str>) {
        if let Some(note) = note {
            self.progress.note(note);
        }
    }

    /// The digest of a file that finished during an attempt that failed.
    fn finished(&mut self) -> Option<[u8; 32]> {
        self.task.as_mut().and_then(ReceiverTask::take_finished)
    }

    /// After a failed attempt: commit, and resume from what is verified.
    async fn rewind(&mut self) -> Result<()> {
        let Some(task) = &mut self.task else {
            return Ok(());
        };
        let (offset, state) = task.rewind().await?;
        if let Some(resume) = &mut self.resume {
            resume.offset = offset;
            resume.state = state;
        }
        self.progress.set_position(offset);
        Ok(())
    }
}

/// Setting up the receiver from the server's offer.
impl Download<'_> {
    async fn take_offer(&mut self, offer: Offer) -> Result<()> {
        tracing::debug!(
            size = offer.size,
            offset = offer.offset,
            chunk_size = offer.chunk_size,
            etag = offer.etag,
            restarted = offer.restarted,
            "offer"
        );
        if offer.chunk_size != self.chunk_size || check_chunk_size(offer.chunk_size).is_err() {
            return Err(Error::Protocol(format!(
                "server offered chunk size {}",
                offer.chunk_size
            )));
        }
        let requested = self.resume.as_ref().map_or(0, |r| r.offset);
        if offer.offset != 0 && offer.offset != requested {
            return Err(Error::Protocol(format!(
                "server offered offset {}, not {requested}",
                offer.offset
            )));
        }
        let same_source = self.resume.as_ref().is_some_and(|r| r.etag == offer.etag);
        if offer.offset == requested && self.task.is_some() && same_source {
            return Ok(());
        }
        if requested > 0 && offer.offset == 0 {
            let reason = offer
                .restarted
                .as_deref()
                .unwrap_or("the server did not resume");
            self.note(Some(&format!("starting over from byte 0: {reason}")));
        }
        self.start_receiver(&offer).await
    }

    async fn start_receiver(&mut self, offer: &Offer) -> Result<()> {
        if let Some(task) = self.task.take() {
            task.close().await?;
        }
        let identity = SourceIdentity {
            id: offer.etag.clone(),
            size: offer.size,
        };
        let lock = self.lock.clone();
        let mut sink: Box<dyn ChunkSink> = match (&self.dest, self.waiting.take()) {
            (Dest::File(_), Some(partial)) if offer.offset > 0 && *partial.source() == identity => {
                Box::new(partial.holding(lock))
            }
            (Dest::File(target), _) => Box::new(
                Partial::create(PartialPaths::for_target(target), identity, offer.chunk_size)?
                    .holding(lock),
            ),
            (Dest::Stdout, _) if self.resume.as_ref().is_some_and(|r| r.offset > 0) => {
                return Err(Error::Unrepairable(
                    "the file changed on the server after part of it was written to standard output"
                        .into(),
                ));
            }
            (Dest::Stdout, _) => Box::new(StdoutSink::default()),
        };
        sink.set_attrs(self.attrs(offer));
        self.placed = sink.placed();
        let verified = match &self.resume {
            Some(r) if offer.offset > 0 => (r.offset, r.state),
            _ => (0, ChainState::INITIAL),
        };
        let receiver = Receiver::new(sink, offer.chunk_size, offer.size, verified)?;
        self.task = Some(ReceiverTask::spawn(receiver));
        self.resume = Some(ResumePoint {
            etag: offer.etag.clone(),
            offset: verified.0,
            state: verified.1,
        });
        self.resumed_from.get_or_insert(verified.0);
        self.size = offer.size;
        self.progress.start(offer.size, verified.0);
        Ok(())
    }

    /// Feed frames to the receiver until the file checks out or the
    /// connection fails.
    async fn pump(&mut self, conn: &mut Connection) -> Result<[u8; 32]> {
        let task = self
            .task
            .as_mut()
            .ok_or_else(|| Error::Protocol("no receiver".into()))?;
        loop {
            let blocked = ratelimit::blocked_until(&mut self.limit);
            tokio::select! {
                frame = conn.read_frame_after(blocked) => match frame? {
                    Frame::Data(data) => {
                        if let Some(limit) = &mut self.limit {
                            limit.consume(data.len() as u64);
                        }
                        self.transferred += data.len() as u64;
                        self.progress.inc(data.len() as u64);
                        task.push(Item::Data(data)).await?;
                    }
                    Frame::Control(message) => match Item::from_message(&message)? {
                        // The last item: the verdict is the receiver's
                        // alone (verify, sync, rename); whatever the
                        // connection does now cannot change it.
                        Some(item @ Item::Eof { .. }) => {
                            task.push(item).await?;
                            return task.outcome().await;
                        }
                        Some(item) => task.push(item).await?,
                        None => {
                            let kind = message.kind();
                            return Err(Error::Protocol(format!("unexpected {kind} message")));
                        }
                    },
                },
                outcome = task.outcome() => return outcome,
            }
        }
    }
}

/// What the regular file at `target` holds, as `lookup` (a digest cache)
/// knows it for the file's identity now.
pub fn held(
    target: &Path,
    lookup: impl FnOnce(&Path, &Identity) -> Option<String>,
) -> Option<Held> {
    let meta = std::fs::metadata(target).ok().filter(|m| m.is_file())?;
    let identity = Identity::of(&meta);
    let sha256 = lookup(target, &identity)?;
    Some(Held {
        have: Have {
            size: meta.len(),
            sha256,
        },
        identity,
    })
}

/// What a downloaded file gets from `offer`: the server's mtime, and with
/// `-p` (`preserve`) its permission bits.
pub fn offered_attrs(offer: &Offer, preserve: bool) -> FileAttrs {
    FileAttrs {
        mtime_ns: offer.mtime_ns,
        mode: offer
            .mode
            .filter(|_| preserve)
            .map(|mode| mode & CLIENT_MODE_BITS),
    }
}

/// The server called the file at `target` identical to `held`: check that
/// the target is still the file compared, then give it `attrs` (when they
/// differ; `record` keeps its digest under the new identity). A time or
/// mode that could not be set is returned, for a note.
pub fn settle_identical(
    target: &Path,
    held: &Held,
    attrs: FileAttrs,
    record: impl FnOnce(&Path, &std::fs::Metadata, &str),
) -> Result<Option<std::io::Error>> {
    let now = std::fs::metadata(target)
        .map_err(|e| Error::local_io(format!("reading {}", target.display()), e))?;
    if Identity::of(&now) != held.identity {
        return Err(Error::Integrity(format!(
            "{} changed while it was compared with the server's file",
            target.display()
        )));
    }
    if attrs.matches(&now) {
        return Ok(None);
    }
    let applied = std::fs::File::open(target)
        .and_then(|file| attrs.apply(&file).and_then(|()| file.metadata()));
    match applied {
        Ok(meta) => {
            record(target, &meta, &held.have.sha256);
            Ok(None)
        }
        Err(e) => Ok(Some(e)),
    }
}

/// Skipping what the target already holds; times and modes.
impl Download<'_> {
    /// The `get` request; `plain` leaves out what older servers refuse.
    fn request(&self, plain: bool) -> Message {
        let to_file = matches!(self.dest, Dest::File(_));
        Message::Get(crate::protocol::Get {
            path: self.url.path().to_string(),
            chunk_size: self.chunk_size,
            resume: self.resume.clone(),
            have: self
                .held
                .as_ref()
                .filter(|_| !plain)
                .map(|held| held.have.clone()),
            attrs: to_file && !plain,
        })
    }

    /// What the finished file gets: the server's mtime, and with `-p` its
    /// permission bits.
    fn attrs(&self, offer: &Offer) -> FileAttrs {
        offered_attrs(offer, self.opts.preserve)
    }

    /// The server's file is the one the target holds: nothing to download.
    /// The target gets the server's mtime (and mode with `-p`); a stale
    /// partial beside it goes.
    async fn take_identical(&mut self, offer: &Offer) -> Result<[u8; 32]> {
        let (Dest::File(target), Some(held)) = (&self.dest, &self.held) else {
            return Err(Error::Protocol(
                "the server called identical a file this client did not describe".into(),
            ));
        };
        let digest = crate::chain::digest_from_hex(&held.have.sha256)
            .filter(|_| offer.size == held.have.size)
            .ok_or_else(|| Error::Protocol(format!("identical offer of {} bytes", offer.size)))?;
        let target = target.clone();
        match settle_identical(&target, held, self.attrs(offer), digests::record) {
            Err(e) => {
                self.held = None;
                return Err(e);
            }
            Ok(Some(e)) => self.note(Some(&format!(
                "could not set the modification time or mode: {e}"
            ))),
            Ok(None) => {}
        }
        if let Some(task) = self.task.take() {
            task.close().await?;
        }
        drop(self.waiting.take());
        PartialPaths::for_target(&target).remove_all()?;
        self.skipped = true;
        self.size = offer.size;
        self.resumed_from = Some(offer.size);
        self.progress.skipped(offer.size);
        Ok(digest)
    }

    /// Keep the finished file's digest for the next run.
    fn remember(&self, sha256: &str) {
        let Dest::File(target) = &self.dest else {
            return;
        };
        if let Some(meta) = self.placed.as_ref().and_then(|p| p.get()) {
            digests::record(target, meta, sha256);
        }
    }
}
