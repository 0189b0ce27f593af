//! Downloads in a session: the pipelined `get` (with `have` from the
//! digest cache, `attrs: true`), and its answer taken frame by frame:
//! `offer{identical}` (nothing to move), or `offer`, data, `chunk`s and
//! `eof`, verified in memory and handed to the batch; or an `error` that
//! fails this file only.

use std::path::Path;

use super::batch::Verified;
use super::{
    Finished, Index, Sent, Session, SmallFile, Wire, lookup_digest, record_digest, small_max,
};
use crate::chain::{ChainHasher, ChainState, digest_from_hex, hex};
use crate::client::ClientOptions;
use crate::client::connection::{Connection, Frame};
use crate::client::get::{held, offered_attrs, settle_identical};
use crate::error::{Error, Result};
use crate::protocol::{Get, Message, Offer};
use crate::report::Outcome;

pub use crate::client::get::Held;

/// A download being received.
pub struct Receiving {
    offer: Offer,
    data: Vec<u8>,
    hasher: ChainHasher,
    /// Why the data already failed a check (known at `eof`).
    bad: Option<String>,
}

/// Queue the `get` of `file`.
pub fn request(
    conn: &mut Connection,
    file: &SmallFile,
    opts: &ClientOptions,
    index: Option<&Index>,
) -> Sent {
    let held = held(&file.local, |path, identity| {
        lookup_digest(index, path, identity)
    });
    let get = Message::Get(Get {
        path: file.remote.path().to_string(),
        chunk_size: opts.chunk_size,
        resume: None,
        have: held.as_ref().map(|h| h.have.clone()),
        attrs: true,
    });
    conn.queue(Frame::Control(get));
    Sent { held, upload: None }
}

impl Session<'_> {
    /// One frame of the answer to the first unanswered `get`.
    pub(super) fn take_download(&mut self, frame: Frame, wire: &mut Wire) -> Result<()> {
        match (wire.receiving.take(), frame) {
            (None, Frame::Control(Message::Offer(offer))) => self.take_offer(offer, wire),
            (_, Frame::Control(Message::Error { code, message })) => {
                if let Some((file, _)) = self.answered(wire) {
                    self.report(file.id, Finished::Failed(code.into_error(message)));
                }
                Ok(())
            }
            (Some(mut receiving), Frame::Data(data)) => {
                if receiving.data.len() + data.len() > receiving.offer.size as usize {
                    return Err(Error::Protocol("more data than offered".into()));
                }
                receiving.hasher.update(&data);
                receiving.data.extend_from_slice(&data);
                self.progress.advance(data.len() as u64);
                wire.receiving = Some(receiving);
                Ok(())
            }
            (Some(mut receiving), Frame::Control(Message::Chunk { index, state })) => {
                receiving.check_chunk(index, state);
                wire.receiving = Some(receiving);
                Ok(())
            }
            (Some(receiving), Frame::Control(Message::Eof { sha256 })) => {
                self.take_eof(receiving, &sha256, wire);
                Ok(())
            }
            (_, Frame::Data(_)) => Err(Error::Protocol("data before an offer".into())),
            (_, Frame::Control(other)) => Err(Error::Protocol(format!(
                "unexpected {} message in a session",
                other.kind()
            ))),
        }
    }

    fn take_offer(&mut self, offer: Offer, wire: &mut Wire) -> Result<()> {
        if offer.identical {
            if let Some((file, sent)) = self.answered(wire) {
                let finished = self.identical(&file, sent.held.as_ref(), &offer);
                self.report(file.id, finished);
            }
            return Ok(());
        }
        if offer.size > small_max(self.opts) {
            // The file grew since it was listed: the session would have to
            // read it all; the per-file path resumes large files.
            if let Some((file, _)) = self.answered(wire) {
                self.report(file.id, Finished::PerFile);
            }
            self.restart = true;
            return Err(Error::Network("a file grew past a session's size".into()));
        }
        if offer.chunk_size != self.opts.chunk_size || offer.offset != 0 {
            return Err(Error::Protocol(format!(
                "server offered chunk size {} from offset {}",
                offer.chunk_size, offer.offset
            )));
        }
        wire.receiving = Some(Receiving {
            data: Vec::with_capacity(offer.size as usize),
            offer,
            hasher: ChainHasher::new(),
            bad: None,
        });
        Ok(())
    }

    /// The whole file arrived: verified, it joins the batch.
    fn take_eof(&mut self, receiving: Receiving, sha256: &str, wire: &mut Wire) {
        let Some((file, _)) = self.answered(wire) else {
            return;
        };
        let Receiving {
            offer,
            data,
            hasher,
            bad,
        } = receiving;
        let digest = hex(&hasher.finalize());
        let why = match bad {
            Some(why) => Some(why),
            None if data.len() as u64 != offer.size => {
                Some(format!("{} bytes of {}", data.len(), offer.size))
            }
            None if digest != sha256 => Some(format!("{}: SHA-256 mismatch", file.remote)),
            None => None,
        };
        if let Some(why) = why {
            self.strike(file, why);
            return;
        }
        let attrs = offered_attrs(&offer, self.opts.preserve);
        self.awaiting.insert(
            file.id,
            Outcome {
                bytes: offer.size,
                sha256: digest.clone(),
                resumed_from: 0,
                transferred: offer.size,
                attempts: self.attempt,
                skipped: false,
            },
        );
        self.batch.push(Verified {
            id: file.id,
            target: file.local,
            data,
            sha256: digest,
            attrs,
        });
    }

    /// The server's file is the one the target holds: the target gets the
    /// server's time (and mode with `-p`) and is reported skipped.
    fn identical(&self, file: &SmallFile, held: Option<&Held>, offer: &Offer) -> Finished {
        let Some(held) = held.filter(|h| h.have.size == offer.size) else {
            return Finished::Failed(Error::Protocol(
                "the server called identical a file this client did not describe".into(),
            ));
        };
        if digest_from_hex(&held.have.sha256).is_none() {
            return Finished::Failed(Error::Integrity(
                "the digest cache held a bad digest".into(),
            ));
        }
        let attrs = offered_attrs(offer, self.opts.preserve);
        let index = self.index.as_ref();
        let record = |path: &Path, meta: &std::fs::Metadata, sha256: &str| {
            record_digest(index, path, meta, sha256);
        };
        if let Err(e) = settle_identical(&file.local, held, attrs, record) {
            return Finished::Failed(e);
        }
        // Counted, but not in the rate: nothing moved.
        self.progress.skipped(offer.size);
        Finished::Done(Outcome {
            bytes: offer.size,
            sha256: held.have.sha256.clone(),
            resumed_from: offer.size,
            transferred: 0,
            attempts: self.attempt,
            skipped: true,
        })
    }
}

impl Receiving {
    /// A `chunk` check: the chaining value after `index + 1` chunks.
    fn check_chunk(&mut self, index: u64, state: ChainState) {
        let end = (index + 1).saturating_mul(self.offer.chunk_size);
        let ok = self.hasher.len() == end && self.hasher.state() == Some(state);
        if !ok && self.bad.is_none() {
            self.bad = Some(format!("chunk {index} failed its check"));
        }
    }
}
