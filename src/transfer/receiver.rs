//! The receiving half: checks every item against its own running hash and
//! hands verified data to a [`ChunkSink`] (a partial file, or stdout); the
//! engine knows the sink only by this trait.
//!
//! [`Receiver`] is the pure state machine; [`ReceiverTask`] runs it on a
//! blocking thread that outlives single connections, so a reconnect resumes
//! from what the same process already verified.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::Item;
use crate::chain::{ChainHasher, ChainState, hex};
use crate::error::{Error, Result};

/// Where verified bytes go.
pub trait ChunkSink: Send {
    /// Store received, not yet verified, bytes at `offset`.
    fn write_at(&mut self, offset: u64, data: Bytes) -> Result<()>;
    /// The next chunk checked out; `state` is the chaining value after it.
    fn chunk_verified(&mut self, state: ChainState) -> Result<()>;
    /// Make every verified chunk durable.
    fn commit(&mut self) -> Result<()>;
    /// The whole file is verified: put it in place.
    fn finish(&mut self) -> Result<()>;
    /// The transfer ends here, unfinished: keep what is verified.
    fn close(&mut self) -> Result<()> {
        self.commit()
    }
    /// Nothing arrived for a while: catch up on background work.
    fn idle(&mut self) -> Result<()> {
        Ok(())
    }
    /// Give the finished file these attributes before it is put in place.
    fn set_attrs(&mut self, attrs: crate::attrs::FileAttrs) {
        let _ = attrs;
    }
    /// Where the finished file's metadata appears once it is in place
    /// (for sinks that put a file in place).
    fn placed(&self) -> Option<Placed> {
        None
    }
}

/// The finished file's metadata, taken through the open file right after
/// the rename (so it describes the file now at the target, with the times
/// the rename gave it), and the chaining values the sink verified.
pub type Placed = std::sync::Arc<PlacedFile>;

/// What a sink tells about the file it put in place (see [`Placed`]).
#[derive(Debug, Default)]
pub struct PlacedFile {
    meta: std::sync::OnceLock<std::fs::Metadata>,
    chain: std::sync::OnceLock<(u64, Vec<ChainState>)>,
}

impl PlacedFile {
    /// The placed file's metadata, once it is in place.
    pub fn get(&self) -> Option<&std::fs::Metadata> {
        self.meta.get()
    }

    /// Set the metadata (once; later calls change nothing).
    pub fn set(&self, meta: std::fs::Metadata) {
        let _ = self.meta.set(meta);
    }

    /// The chunk size and the chaining value after every chunk but the
    /// last, when the sink kept them.
    pub fn chain(&self) -> Option<(u64, &[ChainState])> {
        self.chain
            .get()
            .map(|(size, states)| (*size, states.as_slice()))
    }

    /// Set the chaining values (once).
    pub fn set_chain(&self, chunk_size: u64, states: Vec<ChainState>) {
        let _ = self.chain.set((chunk_size, states));
    }
}

/// What accepting an item led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More data expected.
    Continue,
    /// A chunk checked out; this many bytes are verified.
    Verified(u64),
    /// The whole file checked out and is in place.
    Finished([u8; 32]),
}

/// Verifies one file's items in order.
pub struct Receiver {
    sink: Box<dyn ChunkSink>,
    hasher: ChainHasher,
    chunk_size: u64,
    size: u64,
    pos: u64,
    verified: (u64, ChainState),
}

impl Receiver {
    /// Receive a `size`-byte file whose first `offset` bytes are verified.
    pub fn new(
        sink: Box<dyn ChunkSink>,
        chunk_size: u64,
        size: u64,
        verified: (u64, ChainState),
    ) -> Result<Receiver> {
        let hasher = ChainHasher::resume(verified.1, verified.0)
            .map_err(|e| Error::Protocol(format!("cannot resume at {}: {e}", verified.0)))?;
        Ok(Receiver {
            sink: Box::new(super::writer::ThreadedSink::spawn(sink)),
            hasher,
            chunk_size,
            size,
            pos: verified.0,
            verified,
        })
    }

    /// Bytes verified so far and the chaining value there.
    pub fn verified(&self) -> (u64, ChainState) {
        self.verified
    }

    /// Check and store one item.
    pub fn accept(&mut self, item: Item) -> Result<Progress> {
        match item {
            Item::Data(data) => self.accept_data(data),
            // Unpacked by the connection before it gets here.
            Item::Packed { .. } => Err(Error::Protocol(
                "a packed frame reached the receiver".into(),
            )),
            Item::Chunk { index, state } => self.accept_chunk(index, state),
            Item::Eof { sha256 } => self.accept_eof(sha256),
        }
    }

    /// Forget unverified bytes, make verified ones durable, and return where
    /// the next connection starts.
    pub fn rewind(&mut self) -> Result<(u64, ChainState)> {
        if self.complete() {
            return Ok(self.verified);
        }
        self.sink.commit()?;
        self.pos = self.verified.0;
        self.hasher = ChainHasher::resume(self.verified.1, self.verified.0)
            .map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(self.verified)
    }

    /// The transfer ends here: keep what is verified of an unfinished file.
    pub fn close(&mut self) -> Result<()> {
        if self.complete() {
            return Ok(());
        }
        self.sink.close()
    }

    /// Every byte arrived and verified: the file is in place.
    fn complete(&self) -> bool {
        self.verified.0 == self.size && self.pos == self.size
    }

    fn accept_data(&mut self, data: Bytes) -> Result<Progress> {
        if self.pos > self.verified.0 && self.pos.is_multiple_of(self.chunk_size) {
            return Err(Error::Protocol(format!(
                "data at offset {} before the check of the chunk ending there",
                self.pos
            )));
        }
        let boundary = (self.pos / self.chunk_size + 1) * self.chunk_size;
        let end = self.pos + data.len() as u64;
        if data.is_empty() || end > boundary.min(self.size) {
            return Err(Error::Protocol(format!(
                "data frame of {} bytes at offset {} crosses a chunk boundary or the end of the file",
                data.len(),
                self.pos
            )));
        }
        self.hasher.update(&data);
        self.sink.write_at(self.pos, data)?;
        self.pos = end;
        Ok(Progress::Continue)
    }

    fn accept_chunk(&mut self, index: u64, state: ChainState) -> Result<Progress> {
        let end = index.saturating_add(1).saturating_mul(self.chunk_size);
        if end != self.pos || end >= self.size || end <= self.verified.0 {
            return Err(Error::Protocol(format!(
                "chunk {index} check arrived at offset {} out of order",
                self.pos
            )));
        }
        if self.hasher.state() != Some(state) {
            return Err(Error::Integrity(format!(
                "chunk {index} (bytes {}..{end}) does not match the sender's SHA-256",
                self.verified.0
            )));
        }
        self.sink.chunk_verified(state)?;
        self.verified = (end, state);
        Ok(Progress::Verified(end))
    }

    fn accept_eof(&mut self, sha256: [u8; 32]) -> Result<Progress> {
        if self.pos != self.size {
            return Err(Error::Protocol(format!(
                "eof after {} of {} bytes",
                self.pos, self.size
            )));
        }
        let digest = self.hasher.clone().finalize();
        if digest != sha256 {
            return Err(Error::Integrity(format!(
                "the last chunk (bytes {}..{}) does not match: SHA-256 {} expected, {} received",
                self.verified.0,
                self.size,
                hex(&sha256),
                hex(&digest)
            )));
        }
        self.sink.finish()?;
        self.verified = (self.size, self.verified.1);
        Ok(Progress::Finished(digest))
    }
}

enum Command {
    Item(Item),
    Rewind(oneshot::Sender<Result<(u64, ChainState)>>),
}

/// A [`Receiver`] running on its own blocking thread.
pub struct ReceiverTask {
    commands: mpsc::Sender<Command>,
    outcomes: mpsc::Receiver<Result<[u8; 32]>>,
    verified: watch::Receiver<u64>,
    handle: JoinHandle<()>,
    /// The file finished during an attempt that failed anyway.
    finished: Option<[u8; 32]>,
}

/// Items buffered between the socket and the receiving thread.
const QUEUE: usize = 16;

impl ReceiverTask {
    /// Start the thread.
    pub fn spawn(receiver: Receiver) -> ReceiverTask {
        let (commands, rx) = mpsc::channel(QUEUE);
        let (outcome_tx, outcomes) = mpsc::channel(1);
        let (verified_tx, verified) = watch::channel(receiver.verified().0);
        let handle =
            tokio::task::spawn_blocking(move || work(receiver, rx, &outcome_tx, &verified_tx));
        ReceiverTask {
            commands,
            outcomes,
            verified,
            handle,
            finished: None,
        }
    }

    /// Queue an item; waits while the thread is behind.
    pub async fn push(&self, item: Item) -> Result<()> {
        self.commands
            .send(Command::Item(item))
            .await
            .map_err(|_| Error::Protocol("receiver stopped".into()))
    }

    /// The next outcome: the file finished (its digest) or the item stream
    /// failed. After a failure, call [`ReceiverTask::rewind`].
    pub async fn outcome(&mut self) -> Result<[u8; 32]> {
        if let Some(digest) = self.finished.take() {
            return Ok(digest);
        }
        match self.outcomes.recv().await {
            Some(outcome) => outcome,
            None => Err(Error::Protocol("receiver stopped".into())),
        }
    }

    /// The digest of a file that finished during an attempt that failed
    /// anyway (kept by [`ReceiverTask::rewind`]), taken.
    pub fn take_finished(&mut self) -> Option<[u8; 32]> {
        self.finished.take()
    }

    /// Bytes verified, updated as chunks check out.
    pub fn verified(&self) -> watch::Receiver<u64> {
        self.verified.clone()
    }

    /// Drop unverified bytes, commit, and say where to resume. A failure of
    /// the attempt being abandoned (the thread answers in order, so it is
    /// queued by now) is dropped, so the next attempt does not see it; a
    /// finished file is kept for the next [`ReceiverTask::outcome`].
    pub async fn rewind(&mut self) -> Result<(u64, ChainState)> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Rewind(tx))
            .await
            .map_err(|_| Error::Protocol("receiver stopped".into()))?;
        let rewound = rx
            .await
            .map_err(|_| Error::Protocol("receiver stopped".into()))?;
        while let Ok(outcome) = self.outcomes.try_recv() {
            if let Ok(digest) = outcome {
                self.finished = Some(digest);
            }
        }
        rewound
    }

    /// Stop the thread after committing what is verified.
    pub async fn close(mut self) -> Result<(u64, ChainState)> {
        let result = self.rewind().await;
        drop(self.commands);
        let _ = self.handle.await;
        result
    }
}

fn work(
    mut receiver: Receiver,
    mut commands: mpsc::Receiver<Command>,
    outcomes: &mpsc::Sender<Result<[u8; 32]>>,
    verified: &watch::Sender<u64>,
) {
    let mut failed = false;
    while let Some(command) = commands.blocking_recv() {
        match command {
            Command::Rewind(reply) => {
                failed = false;
                let _ = reply.send(receiver.rewind());
            }
            Command::Item(_) if failed => {}
            Command::Item(item) => match receiver.accept(item) {
                Ok(Progress::Continue) => {}
                Ok(Progress::Verified(offset)) => {
                    verified.send_replace(offset);
                }
                Ok(Progress::Finished(digest)) => {
                    verified.send_replace(receiver.verified().0);
                    let _ = outcomes.blocking_send(Ok(digest));
                }
                Err(e) => {
                    failed = true;
                    let _ = outcomes.blocking_send(Err(e));
                }
            },
        }
    }
    // The connection side is gone (finished, failed or interrupted): keep
    // what is verified.
    if let Err(e) = receiver.close() {
        tracing::warn!("committing verified chunks failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A sink that keeps everything in memory.
    #[derive(Clone, Default)]
    struct MemorySink(Arc<Mutex<(Vec<u8>, usize, bool)>>);

    impl ChunkSink for MemorySink {
        fn write_at(&mut self, offset: u64, data: Bytes) -> Result<()> {
            let mut inner = self.0.lock().unwrap();
            let end = offset as usize + data.len();
            let len = inner.0.len().max(end);
            inner.0.resize(len, 0);
            inner.0[offset as usize..end].copy_from_slice(&data);
            Ok(())
        }
        fn chunk_verified(&mut self, _: ChainState) -> Result<()> {
            self.0.lock().unwrap().1 += 1;
            Ok(())
        }
        fn commit(&mut self) -> Result<()> {
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.0.lock().unwrap().2 = true;
            Ok(())
        }
    }

    const C: u64 = 4096;

    /// The items a correct sender produces for `file`.
    fn items(file: &[u8]) -> Vec<Item> {
        let mut hasher = ChainHasher::new();
        let mut out = Vec::new();
        for (i, chunk) in file.chunks(C as usize).enumerate() {
            hasher.update(chunk);
            out.push(Item::Data(Bytes::copy_from_slice(chunk)));
            if (i as u64 + 1) * C < file.len() as u64 {
                let state = hasher.state().unwrap();
                out.push(Item::Chunk {
                    index: i as u64,
                    state,
                });
            }
        }
        out.push(Item::Eof {
            sha256: hasher.finalize(),
        });
        out
    }

    fn run(file: &[u8], items: Vec<Item>) -> (Result<Progress>, MemorySink) {
        let sink = MemorySink::default();
        let mut receiver = Receiver::new(
            Box::new(sink.clone()),
            C,
            file.len() as u64,
            (0, ChainState::INITIAL),
        )
        .unwrap();
        let mut last = Ok(Progress::Continue);
        for item in items {
            last = receiver.accept(item);
            if last.is_err() {
                break;
            }
        }
        drop(receiver);
        (last, sink)
    }

    /// A failure left queued when an attempt is abandoned does not end the
    /// next attempt; the file then finishes normally.
    #[tokio::test]
    async fn a_stale_failure_is_dropped_at_rewind() {
        let file: Vec<u8> = (0..3 * 4096 + 5).map(|i| (i % 251) as u8).collect();
        let sink = MemorySink::default();
        let receiver = Receiver::new(
            Box::new(sink.clone()),
            C,
            file.len() as u64,
            (0, ChainState::INITIAL),
        )
        .unwrap();
        let mut task = ReceiverTask::spawn(receiver);
        let good = items(&file);
        task.push(good[0].clone()).await.unwrap();
        // A wrong check for chunk 0: the thread queues an integrity failure.
        let wrong = Item::Chunk {
            index: 0,
            state: ChainState([7; 32]),
        };
        task.push(wrong).await.unwrap();
        assert_eq!(task.rewind().await.unwrap().0, 0);
        for item in good {
            task.push(item).await.unwrap();
        }
        let outcome =
            tokio::time::timeout(std::time::Duration::from_secs(10), task.outcome()).await;
        assert!(matches!(outcome, Ok(Ok(_))), "{outcome:?}");
        task.close().await.unwrap();
        assert_eq!(sink.0.lock().unwrap().0, file);
    }

    #[test]
    fn a_correct_stream_is_verified_and_finished() {
        for len in [0, 1, 4095, 4096, 4097, 3 * 4096 + 5] {
            let file: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (last, sink) = run(&file, items(&file));
            assert!(
                matches!(last, Ok(Progress::Finished(_))),
                "len {len}: {last:?}"
            );
            let inner = sink.0.lock().unwrap();
            assert_eq!(inner.0, file);
            assert!(inner.2, "finished");
        }
    }

    #[test]
    fn broken_streams_are_refused() {
        let file: Vec<u8> = (0..3 * 4096 + 5).map(|i| (i % 251) as u8).collect();
        let good = items(&file);
        let corrupt = |mut v: Vec<Item>| {
            v[0] = Item::Data(Bytes::from(vec![0u8; 4096]));
            v
        };
        let without = |index: usize| {
            let mut v = good.clone();
            v.remove(index);
            v
        };
        let cases: Vec<(&str, Vec<Item>, bool)> = vec![
            ("corrupt data", corrupt(good.clone()), true),
            ("missing chunk message", without(1), false),
            ("missing data", without(0), false),
            ("early eof", vec![good[0].clone(), good[6].clone()], false),
            (
                "frame crossing a boundary",
                vec![Item::Data(Bytes::from(vec![0u8; 4097]))],
                false,
            ),
            ("empty frame", vec![Item::Data(Bytes::new())], false),
            (
                "chunk out of order",
                vec![good[0].clone(), good[3].clone()],
                false,
            ),
        ];
        for (name, items, integrity) in cases {
            let (last, sink) = run(&file, items);
            let err = last.expect_err(name);
            let kind_ok = if integrity {
                matches!(err, Error::Integrity(_))
            } else {
                matches!(err, Error::Protocol(_))
            };
            assert!(kind_ok, "{name}: {err}");
            assert!(!sink.0.lock().unwrap().2, "{name}: must not finish");
        }
    }
}
