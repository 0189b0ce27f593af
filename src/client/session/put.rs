//! Uploads in a session: an eager `put` (the file read whole, at most
//! [`super::small_max`] bytes), its data frames and `eof` queued at once;
//! the answer is one `done` (the file is durable on the server) or one
//! `error` (this file only; `integrity` asks again once).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Finished, Sent, Session, SmallFile, Wire, record_digest, small_max};
use crate::chain::hex;
use crate::client::ClientOptions;
use crate::client::connection::{Connection, Frame};
use crate::client::send::source_id;
use crate::digests::Identity;
use crate::error::{Error, Result};
use crate::protocol::{ErrorCode, MAX_DATA_FRAME, Message, Put};
use crate::report::Outcome;

/// How often a file that changes while it is read is read again.
const READS: usize = 3;

/// An upload as it was read and sent.
pub struct Prepared {
    /// Its size.
    pub size: u64,
    sha256: String,
    identity: Identity,
    path: PathBuf,
}

/// Read `file` and queue its eager `put`, data and `eof`; a file that
/// cannot be sent this way is answered at once (a local error, or the
/// per-file path for a file that grew).
pub async fn request(
    conn: &mut Connection,
    file: &SmallFile,
    opts: &ClientOptions,
    eager_bytes: &mut u64,
) -> std::result::Result<Sent, Finished> {
    let started = std::time::Instant::now();
    let (data, meta) = match read_whole(&file.local, small_max(opts)) {
        Ok(Some(read)) => read,
        Ok(None) => return Err(Finished::PerFile),
        Err(e) => return Err(Finished::Failed(e)),
    };
    let identity = Identity::of(&meta);
    let sha256 = hex(&<sha2::Sha256 as sha2::Digest>::digest(&data));
    // Reading and hashing, shared out over its frames (the `auto` policy's
    // measure of the sender's own speed).
    let produced = started.elapsed();
    let put = Message::Put(Put {
        path: file.remote.path().to_string(),
        size: data.len() as u64,
        chunk_size: opts.chunk_size,
        source_id: source_id(&file.local, &identity),
        sha256: Some(sha256.clone()),
        mtime_ns: Some(identity.mtime_ns),
        mode: Some(crate::attrs::mode_bits(&meta)).filter(|_| opts.preserve),
        eager: true,
    });
    conn.queue(Frame::Control(put));
    let data = bytes::Bytes::from(data);
    let mut at = 0;
    while at < data.len() {
        let end = (at + MAX_DATA_FRAME).min(data.len());
        let share = produced.mul_f64((end - at) as f64 / data.len() as f64);
        conn.queue_data(data.slice(at..end), share);
        at = end;
    }
    conn.queue(Frame::Control(Message::Eof {
        sha256: sha256.clone(),
    }));
    *eager_bytes += data.len() as u64;
    Ok(Sent {
        held: None,
        upload: Some(Prepared {
            size: data.len() as u64,
            sha256,
            identity,
            path: file.local.clone(),
        }),
    })
}

/// The whole regular file at `path` and its metadata, read as one version
/// (its identity the same before and after); `None` when it is larger
/// than `max`.
fn read_whole(path: &Path, max: u64) -> Result<Option<(Vec<u8>, std::fs::Metadata)>> {
    let io = |e| Error::local_io(format!("reading {}", path.display()), e);
    for _ in 0..READS {
        let mut handle = std::fs::File::open(path).map_err(io)?;
        let before = handle.metadata().map_err(io)?;
        if !before.is_file() {
            return Err(Error::Usage(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        if before.len() > max {
            return Ok(None);
        }
        let mut data = Vec::with_capacity(before.len() as usize);
        (&mut handle)
            .take(max + 1)
            .read_to_end(&mut data)
            .map_err(io)?;
        let after = handle.metadata().map_err(io)?;
        if Identity::of(&after) == Identity::of(&before) && data.len() as u64 == after.len() {
            return Ok(Some((data, after)));
        }
    }
    Err(Error::local_io(
        format!("reading {}", path.display()),
        std::io::Error::other("the file keeps changing while it is read"),
    ))
}

impl Session<'_> {
    /// The answer to the first unanswered eager `put`.
    pub(super) fn take_upload(&mut self, frame: Frame, wire: &mut Wire) -> Result<()> {
        let message = match frame {
            Frame::Control(message @ (Message::Done { .. } | Message::Error { .. })) => message,
            Frame::Control(other) => {
                return Err(Error::Protocol(format!(
                    "unexpected {} message in a session",
                    other.kind()
                )));
            }
            Frame::Data(_) => return Err(Error::Protocol("data in answer to a put".into())),
        };
        let Some((file, sent)) = self.answered(wire) else {
            return Err(Error::Protocol("an answer to no request".into()));
        };
        let Some(upload) = sent.upload else {
            return Err(Error::Protocol("an answer to no put".into()));
        };
        let finished = match message {
            Message::Done { sha256, skipped } if sha256 == upload.sha256 => {
                self.uploaded(&upload, skipped)
            }
            Message::Done { sha256, .. } => Finished::Failed(Error::Integrity(format!(
                "the server stored SHA-256 {sha256}, not {}",
                upload.sha256
            ))),
            Message::Error {
                code: ErrorCode::Integrity,
                message,
            } => {
                self.strike(file, message);
                return Ok(());
            }
            Message::Error {
                code: ErrorCode::IsDirectory,
                ..
            } => Finished::Failed(Error::Refused(format!(
                "{} is a directory on the server: a file cannot replace it",
                file.remote
            ))),
            Message::Error { code, message } => Finished::Failed(code.into_error(message)),
            _ => return Err(Error::Protocol("unexpected answer".into())),
        };
        self.report(file.id, finished);
        Ok(())
    }

    /// `done`: the file is in place on the server. Its digest is kept for
    /// the next run if the file is still the version that was read.
    fn uploaded(&self, upload: &Prepared, skipped: bool) -> Finished {
        if !skipped
            && let Ok(meta) = std::fs::metadata(&upload.path)
            && Identity::of(&meta) == upload.identity
        {
            record_digest(self.index.as_ref(), &upload.path, &meta, &upload.sha256);
        }
        self.progress.advance(upload.size);
        Finished::Done(Outcome {
            bytes: upload.size,
            sha256: upload.sha256.clone(),
            resumed_from: if skipped { upload.size } else { 0 },
            transferred: if skipped { 0 } else { upload.size },
            attempts: self.attempt,
            skipped,
        })
    }
}
