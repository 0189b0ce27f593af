//! A [`ChunkSink`] that hands its work to a thread of its own, so the
//! receiver's hashing and the disk writes (and fsyncs) overlap. The queue
//! between them is bounded; a failed write is reported on the next call.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;

use super::receiver::ChunkSink;
use crate::chain::ChainState;
use crate::error::{Error, Result};

/// Writes queued between the hashing and the writing thread.
const QUEUE: usize = 16;
/// With no work for this long, the sink catches up (records a finished
/// background sync).
const IDLE_TICK: std::time::Duration = std::time::Duration::from_millis(100);

enum Op {
    Write(u64, Bytes),
    Verified(ChainState),
    Commit(SyncSender<Result<()>>),
    Finish(SyncSender<Result<()>>),
}

/// The first error the writing thread met, waiting to be reported.
type ErrorSlot = Arc<Mutex<Option<Error>>>;

/// Runs another sink on a dedicated thread.
pub struct ThreadedSink {
    ops: Option<SyncSender<Op>>,
    failed: ErrorSlot,
    thread: Option<JoinHandle<()>>,
}

impl ThreadedSink {
    /// Move `sink` onto its own thread.
    pub fn spawn(sink: Box<dyn ChunkSink>) -> ThreadedSink {
        let (ops, rx) = sync_channel(QUEUE);
        let failed = ErrorSlot::default();
        let slot = failed.clone();
        let thread = std::thread::Builder::new()
            .name("wsresume-writer".into())
            .spawn(move || work(sink, &rx, &slot))
            .ok();
        ThreadedSink {
            ops: Some(ops),
            failed,
            thread,
        }
    }

    fn send(&self, op: Op) -> Result<()> {
        if let Some(e) = self.failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(e);
        }
        self.ops
            .as_ref()
            .and_then(|ops| ops.send(op).ok())
            .ok_or_else(stopped)
    }

    fn call(&self, make: impl FnOnce(SyncSender<Result<()>>) -> Op) -> Result<()> {
        let (tx, rx) = sync_channel(1);
        self.send(make(tx))?;
        rx.recv().unwrap_or_else(|_| Err(stopped()))
    }
}

impl ChunkSink for ThreadedSink {
    fn write_at(&mut self, offset: u64, data: Bytes) -> Result<()> {
        self.send(Op::Write(offset, data))
    }
    fn chunk_verified(&mut self, state: ChainState) -> Result<()> {
        self.send(Op::Verified(state))
    }
    fn commit(&mut self) -> Result<()> {
        self.call(Op::Commit)
    }
    fn finish(&mut self) -> Result<()> {
        self.call(Op::Finish)
    }
}

impl Drop for ThreadedSink {
    fn drop(&mut self) {
        drop(self.ops.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The error for work the writing thread can no longer do.
fn stopped() -> Error {
    Error::local_io(
        "writing the partial file",
        std::io::Error::other("an earlier write failed; the writing thread stopped"),
    )
}

fn work(mut sink: Box<dyn ChunkSink>, ops: &Receiver<Op>, failed: &ErrorSlot) {
    let mut broken = false;
    loop {
        let op = match ops.recv_timeout(IDLE_TICK) {
            Ok(op) => Some(op),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let result = match op {
            None if broken => Ok(()),
            None => sink.idle(),
            Some(op) => apply(sink.as_mut(), op, broken),
        };
        if let Err(e) = result {
            broken = true;
            *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    }
}

/// Carry out one queued operation (after a failed write, only replies).
fn apply(sink: &mut dyn ChunkSink, op: Op, broken: bool) -> Result<()> {
    match op {
        Op::Write(_, _) | Op::Verified(_) if broken => Ok(()),
        Op::Write(offset, data) => sink.write_at(offset, data),
        Op::Verified(state) => sink.chunk_verified(state),
        // After a failed write the file has a hole: record what is
        // verified (commit keeps to the verified prefix), never finish.
        Op::Commit(reply) => {
            let _ = reply.send(
                sink.commit()
                    .and(if broken { Err(stopped()) } else { Ok(()) }),
            );
            Ok(())
        }
        Op::Finish(reply) if broken => {
            let _ = reply.send(Err(stopped()));
            Ok(())
        }
        Op::Finish(reply) => {
            let _ = reply.send(sink.finish());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Fails its first write; records whether `finish` was reached.
    struct FailingSink {
        finished: Arc<AtomicBool>,
    }

    impl ChunkSink for FailingSink {
        fn write_at(&mut self, _: u64, _: Bytes) -> Result<()> {
            Err(Error::local_io(
                "writing",
                std::io::ErrorKind::StorageFull.into(),
            ))
        }
        fn chunk_verified(&mut self, _: ChainState) -> Result<()> {
            Ok(())
        }
        fn commit(&mut self) -> Result<()> {
            Ok(())
        }
        fn finish(&mut self) -> Result<()> {
            self.finished.store(true, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_never_followed_by_finish() {
        let finished = Arc::new(AtomicBool::new(false));
        let mut sink = ThreadedSink::spawn(Box::new(FailingSink {
            finished: finished.clone(),
        }));
        // Queued before the thread reports the failure: both calls must fail.
        let _ = sink.write_at(0, Bytes::from_static(b"data"));
        assert!(sink.finish().is_err() || sink.finish().is_err());
        assert!(
            !finished.load(Ordering::SeqCst),
            "finish ran after a failed write"
        );
        let err = sink.commit().unwrap_err();
        assert_eq!(err.exit_code(), crate::error::ExitCode::LocalIo);
    }
}
