//! `wsresume send`: upload one file. The server says where to start (it is
//! the authority on what it holds verified); the client streams from there
//! and reconnects until the server reports the whole file in place.

use std::fs::File;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::ClientOptions;
use super::connect::RemoteUrl;
use super::connection::{Connection, Frame};
use super::retry::{self, Attempts, Recovery};
use crate::chain::{ChainState, hex};
use crate::digests::{self, Identity};
use crate::error::{Error, Result};
use crate::progress::FileProgress;
use crate::protocol::Message;
use crate::ratelimit::{self, RateLimit};
use crate::report::Outcome;
use crate::transfer::{Item, check_chunk_size, sender};

/// The local file being sent.
struct Source<'a> {
    path: &'a Path,
    size: u64,
    id: String,
    /// Device, inode, size, mtime and ctime when it was opened.
    identity: Identity,
    /// Its permission bits.
    mode: u32,
    /// Its SHA-256, when the digest cache knows it for this identity.
    sha256: Option<String>,
}

/// One upload across all its attempts.
struct Upload<'a> {
    opts: &'a ClientOptions,
    url: RemoteUrl,
    source: Source<'a>,
    acked: u64,
    resumed_from: Option<u64>,
    transferred: u64,
    progress: FileProgress,
    limit: Option<RateLimit>,
    /// The server predates `sha256`, `mtime_ns` and `mode` in `put`.
    plain: bool,
    /// The server already held this file.
    skipped: bool,
    /// A directory target was entered (or is not to be).
    entered: bool,
}

/// Upload `path` to `url`, reporting to `progress`.
pub async fn send(
    opts: &ClientOptions,
    path: &Path,
    url: &RemoteUrl,
    progress: &FileProgress,
) -> Result<Outcome> {
    send_or_into(opts, path, url, false, progress)
        .await
        .map(|(outcome, _)| outcome)
}

/// Upload `path` to `url`; with `into_dir`, a `url` the server says is a
/// directory gets the file inside it, under its own name (as `cp` and `scp`
/// do). That costs nothing when `url` is not a directory: the server's
/// `is_directory` refusal is the signal. Returns the URL the file went to.
pub async fn send_or_into(
    opts: &ClientOptions,
    path: &Path,
    url: &RemoteUrl,
    into_dir: bool,
    progress: &FileProgress,
) -> Result<(Outcome, RemoteUrl)> {
    let mut upload = Upload {
        opts,
        url: url.clone(),
        progress: progress.clone(),
        limit: opts.limit_rate.map(RateLimit::new),
        source: Source::open(path)?,
        acked: 0,
        resumed_from: None,
        transferred: 0,
        plain: false,
        skipped: false,
        entered: !into_dir,
    };
    let ran = retry::run(opts, progress, &mut upload).await;
    upload.progress.finish();
    let sha256 = ran.result?;
    if !upload.skipped {
        upload.source.remember(&sha256);
    }
    let outcome = Outcome {
        bytes: upload.source.size,
        sha256,
        resumed_from: upload.resumed_from.unwrap_or(0),
        transferred: upload.transferred,
        attempts: ran.attempts,
        skipped: upload.skipped,
    };
    Ok((outcome, upload.url))
}

impl Attempts for Upload<'_> {
    type Output = String;

    async fn attempt(&mut self) -> Result<String> {
        // The file read is the file identified: a source changed between
        // attempts gets a new id, so the server starts over instead of
        // appending new bytes to a verified prefix of the old version.
        let file = File::open(self.source.path)
            .map_err(|e| Error::local_io(format!("opening {}", self.source.path.display()), e))?;
        if let Some(now) = self.source.changed(&file)? {
            self.progress.note(
                "the file changed since this upload started; sending it again from the start",
            );
            self.source = now.with_known_digest();
            self.resumed_from = None;
            self.acked = 0;
        }
        let request = self.request(self.plain);
        let plain = Some(self.request(true)).filter(|plain| *plain != request);
        let opened = Connection::open(&self.url, self.opts, &request, plain.as_ref()).await?;
        self.plain |= opened.plain;
        let mut conn = opened.conn;
        if let Some(sha256) = self.take_skipped(&opened.reply)? {
            conn.close().await;
            return Ok(sha256);
        }
        let (offset, chunk_size, state) = self.take_accept(opened.reply)?;
        let plan = sender::SendPlan {
            file: crate::transfer::body::Body::file(file),
            path: self.source.path.to_path_buf(),
            size: self.source.size,
            chunk_size,
            offset,
            state,
            checks: sender::Checks::Compute { collect: 0 },
            compress: conn.compressing(),
        };
        let sha256 = self.pump(&mut conn, plan).await?;
        conn.close().await;
        Ok(sha256)
    }

    fn progress_mark(&self) -> u64 {
        self.acked
    }

    /// A target that is a directory gets the file inside it, once, when
    /// asked to (`into_dir`); else a file cannot replace it.
    async fn after_failure(&mut self, error: Error) -> Recovery<String> {
        if !matches!(error, Error::IsDirectory(_)) {
            return Recovery::Retry(error);
        }
        if self.entered {
            return Recovery::Finished(Err(Error::Refused(format!(
                "{} is a directory on the server: a file cannot replace it",
                self.url
            ))));
        }
        self.entered = true;
        let inside = file_name(self.source.path).and_then(|name| self.url.as_dir()?.join(&name));
        match inside {
            Ok(url) => self.url = url,
            Err(e) => return Recovery::Finished(Err(e)),
        }
        tracing::info!("the target is a directory; sending into it: {}", self.url);
        Recovery::Again
    }
}

/// The id of this version of the file at `path`: its canonical path and
/// identity, hashed.
pub fn source_id(path: &Path, identity: &Identity) -> String {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut hasher = Sha256::new();
    hasher.update(b"wsresume-source-v1\n");
    hasher.update(canonical.as_os_str().as_encoded_bytes());
    // The change time too: a file rewritten in place with its size and
    // mtime restored is another version (contract guarantee 4).
    let Identity {
        dev,
        ino,
        size,
        mtime_ns,
        ctime_ns,
    } = identity;
    hasher.update(format!("\n{size}\n{mtime_ns}\n{dev}\n{ino}\n{ctime_ns}").as_bytes());
    hex(&hasher.finalize())[..32].to_string()
}

/// The name a file gets inside a directory.
pub fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| Error::Usage(format!("{}: no usable file name", path.display())))
}

impl<'a> Source<'a> {
    fn open(path: &'a Path) -> Result<Source<'a>> {
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::local_io(format!("reading {}", path.display()), e))?;
        Ok(Source::from_metadata(path, &meta)?.with_known_digest())
    }

    /// The digest the cache holds for this version of the file, if any.
    fn with_known_digest(mut self) -> Self {
        self.sha256 = digests::lookup(self.path, &self.identity);
        self
    }

    /// After a finished upload: keep the digest for the next run, if the
    /// file is still the version that was opened (ctime included).
    fn remember(&self, sha256: &str) {
        if let Ok(meta) = std::fs::metadata(self.path)
            && Identity::of(&meta) == self.identity
        {
            digests::record(self.path, &meta, sha256);
        }
    }

    fn from_metadata(path: &'a Path, meta: &std::fs::Metadata) -> Result<Source<'a>> {
        if !meta.is_file() {
            return Err(Error::Usage(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let identity = Identity::of(meta);
        let id = source_id(path, &identity);
        Ok(Source {
            path,
            size: meta.len(),
            id,
            identity,
            mode: crate::attrs::mode_bits(meta),
            sha256: None,
        })
    }

    /// The source as `file` (just opened at the same path) is now, if it
    /// changed since this one was made.
    fn changed(&self, file: &File) -> Result<Option<Source<'a>>> {
        let meta = file
            .metadata()
            .map_err(|e| Error::local_io(format!("reading {}", self.path.display()), e))?;
        if Identity::of(&meta) == self.identity {
            return Ok(None);
        }
        Source::from_metadata(self.path, &meta).map(Some)
    }
}

impl Upload<'_> {
    /// The `put` request; `plain` leaves out what older servers refuse.
    fn request(&self, plain: bool) -> Message {
        Message::Put(crate::protocol::Put {
            path: self.url.path().to_string(),
            size: self.source.size,
            chunk_size: self.opts.chunk_size,
            source_id: self.source.id.clone(),
            sha256: self.source.sha256.clone().filter(|_| !plain),
            mtime_ns: Some(self.source.identity.mtime_ns).filter(|_| !plain),
            mode: Some(self.source.mode).filter(|_| self.opts.preserve && !plain),
            eager: false,
        })
    }

    /// A `done` with `skipped` in answer to the `put`: the server already
    /// held the file whose digest was sent.
    fn take_skipped(&mut self, reply: &Message) -> Result<Option<String>> {
        let Message::Done {
            sha256,
            skipped: true,
        } = reply
        else {
            return Ok(None);
        };
        if self.source.sha256.as_deref() != Some(sha256.as_str()) {
            return Err(Error::Protocol(format!(
                "server reported SHA-256 {sha256} as already stored, which is not the one sent"
            )));
        }
        tracing::debug!("the server already holds {sha256}");
        // Skipped when this run sent nothing; else an earlier attempt's
        // file was put in place and only its `done` was lost.
        self.skipped = self.transferred == 0;
        self.resumed_from.get_or_insert(self.source.size);
        self.progress.skipped(self.source.size);
        Ok(Some(sha256.clone()))
    }

    /// Check the server's `accept` and note where this run resumed.
    fn take_accept(&mut self, message: Message) -> Result<(u64, u64, ChainState)> {
        let Message::Accept {
            offset,
            chunk_size,
            state,
            restarted,
        } = message
        else {
            return Err(Error::Protocol(format!(
                "expected accept, got {}",
                message.kind()
            )));
        };
        tracing::debug!(offset, chunk_size, restarted, "accept");
        check_chunk_size(chunk_size).map_err(Error::Protocol)?;
        if offset % chunk_size != 0 || (offset > 0 && offset >= self.source.size) {
            return Err(Error::Protocol(format!(
                "server accepted at impossible offset {offset}"
            )));
        }
        if let Some(reason) = restarted {
            self.progress
                .note(&format!("the server started this upload over: {reason}"));
        }
        if self.resumed_from.is_none() {
            self.resumed_from = Some(offset);
            self.progress.start(self.source.size, offset);
        }
        self.acked = self.acked.max(offset);
        self.progress.set_position(offset);
        self.progress.connected();
        Ok((offset, chunk_size, state))
    }

    /// Stream items while reading acks, until the server says done.
    async fn pump(&mut self, conn: &mut Connection, plan: sender::SendPlan) -> Result<String> {
        let (mut items, reader) = sender::spawn(plan);
        let mut sent_digest: Option<String> = None;
        loop {
            let blocked = ratelimit::blocked_until(&mut self.limit);
            tokio::select! {
                () = ratelimit::sleep_until(blocked), if blocked.is_some() => {}
                item = items.recv(), if sent_digest.is_none() && blocked.is_none() => {
                    let Some(item) = item else {
                        reader.await.map_err(|e| Error::Protocol(e.to_string()))??;
                        return Err(Error::Protocol("the file reader stopped early".into()));
                    };
                    if let Item::Eof { sha256 } = &item {
                        self.unchanged_since_start()?;
                        sent_digest = Some(hex(sha256));
                        // Should `done` be lost, the next attempt's `put`
                        // names the file, and a server that already put it
                        // in place answers `done` instead of starting over.
                        self.source.sha256.clone_from(&sent_digest);
                    }
                    if let Some(frame) = self.frame_of(item) {
                        conn.send_listening(frame, |message| self.reply_while_sending(message))
                            .await?;
                    }
                }
                frame = conn.read_frame() => {
                    if let Frame::Control(message) = frame?
                        && let Some(done) = self.take_reply(message, sent_digest.as_deref())?
                    {
                        return Ok(done);
                    }
                }
            }
        }
    }

    /// Before the digest goes out: the file must still be the version whose
    /// bytes were sent (else the attempt fails and the next one starts over).
    fn unchanged_since_start(&self) -> Result<()> {
        let file = File::open(self.source.path)
            .map_err(|e| Error::local_io(format!("opening {}", self.source.path.display()), e))?;
        match self.source.changed(&file)? {
            None => Ok(()),
            Some(_) => Err(Error::Integrity(format!(
                "{} changed while it was being sent",
                self.source.path.display()
            ))),
        }
    }

    /// The frame that carries `item` (None for items not sent).
    fn frame_of(&mut self, item: Item) -> Option<Frame> {
        match item {
            Item::Data(data) => {
                self.transferred += data.len() as u64;
                if let Some(limit) = &mut self.limit {
                    limit.consume(data.len() as u64);
                }
                Some(Frame::Data(data))
            }
            // The rate limit is on the wire's bytes; `transferred` counts
            // the file's.
            Item::Packed { frame, len } => {
                self.transferred += len as u64;
                if let Some(limit) = &mut self.limit {
                    limit.consume(frame.len() as u64);
                }
                Some(Frame::Data(frame))
            }
            other => other.to_message().map(Frame::Control),
        }
    }

    /// A reply that arrives while a frame waits for room in the socket:
    /// acks are welcome, `done` is early.
    fn reply_while_sending(&mut self, message: Message) -> Result<()> {
        match self.take_reply(message, None)? {
            Some(_) => Err(Error::Protocol("done before the file was sent".into())),
            None => Ok(()),
        }
    }

    /// Handle `ack` and `done`; returns the digest once done.
    fn take_reply(&mut self, message: Message, sent: Option<&str>) -> Result<Option<String>> {
        match message {
            Message::Ack { offset } => {
                self.acked = self.acked.max(offset);
                self.progress.set_position(offset);
                Ok(None)
            }
            Message::Done { sha256, .. } if sent == Some(sha256.as_str()) => Ok(Some(sha256)),
            Message::Done { sha256, .. } => Err(Error::Protocol(format!(
                "server reported SHA-256 {sha256}, which is not the one sent"
            ))),
            other => Err(Error::Protocol(format!(
                "unexpected {} message",
                other.kind()
            ))),
        }
    }
}
