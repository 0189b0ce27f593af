//! Making a part file's data durable in the background.
//!
//! An `fdatasync` of what arrived in the last commit interval takes tens of
//! milliseconds; done in line it stops the writes, and through them the
//! hashing and the socket. A [`Syncer`] runs it on a thread of its own while
//! writing goes on. It covers the chunks that were written before it started;
//! only when it has returned are they recorded as verified (see
//! `Partial::chunk_verified`), so the commit order stays data → log → state.
//!
//! So that the sync finds little left to write, [`start_writeback`] hands
//! each few MiB to the kernel's writeback as soon as they are written
//! (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, which does not wait and makes
//! nothing durable by itself).

use std::fs::File;
use std::io;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

/// A background `fdatasync` of one file, at most one at a time.
#[derive(Debug)]
pub struct Syncer {
    requests: Option<SyncSender<()>>,
    results: Receiver<io::Result<()>>,
    thread: Option<JoinHandle<()>>,
    /// Pending chunks the running sync covers, if one runs.
    in_flight: Option<usize>,
}

impl Syncer {
    /// A syncer for `file` (its own handle on the same open file).
    pub fn spawn(file: &File) -> io::Result<Syncer> {
        let file = file.try_clone()?;
        let (requests, wanted) = sync_channel::<()>(1);
        let (done, results) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("wsresume-sync".into())
            .spawn(move || {
                while wanted.recv().is_ok() {
                    if done.send(file.sync_data()).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Syncer {
            requests: Some(requests),
            results,
            thread: Some(thread),
            in_flight: None,
        })
    }

    /// Whether a sync is running.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Start a sync covering the first `covered` pending chunks; false when
    /// one is already running or the thread is gone.
    pub fn start(&mut self, covered: usize) -> bool {
        if self.busy() {
            return false;
        }
        let sent = self.requests.as_ref().is_some_and(|r| r.send(()).is_ok());
        if sent {
            self.in_flight = Some(covered);
        }
        sent
    }

    /// The finished sync, if one finished: the chunks it covers and its result.
    pub fn poll(&mut self) -> Option<(usize, io::Result<()>)> {
        let covered = self.in_flight?;
        let result = match self.results.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(gone()),
        };
        self.in_flight = None;
        Some((covered, result))
    }

    /// Wait for the running sync, if any, and return what [`Syncer::poll`] would.
    pub fn wait(&mut self) -> Option<(usize, io::Result<()>)> {
        let covered = self.in_flight.take()?;
        Some((covered, self.results.recv().unwrap_or_else(|_| Err(gone()))))
    }
}

/// Start writing `len` bytes of `file` at `offset` back to the disk, without
/// waiting for them (a no-op where the system has no `sync_file_range`).
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Ok(());
    };
    // SAFETY: the descriptor is open for as long as `file` is borrowed, and
    // sync_file_range reads no memory of ours.
    let rc = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// See the Linux version: elsewhere the data sync does all the writing.
#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    Ok(())
}

fn gone() -> io::Error {
    io::Error::other("the background sync thread stopped")
}

impl Drop for Syncer {
    fn drop(&mut self) {
        drop(self.requests.take());
        let _ = self.wait();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn one_sync_at_a_time_and_each_reports_what_it_covers() -> io::Result<()> {
        let mut file = tempfile::tempfile()?;
        let mut syncer = Syncer::spawn(&file)?;
        assert!(syncer.poll().is_none() && syncer.wait().is_none());
        file.write_all(b"data")?;
        assert!(syncer.start(3));
        assert!(!syncer.start(5), "a second sync started while one ran");
        let (covered, result) = syncer.wait().ok_or_else(gone)?;
        assert_eq!(covered, 3);
        result?;
        assert!(!syncer.busy());
        assert!(syncer.start(1));
        let bounded = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let finished = loop {
            if let Some(finished) = syncer.poll() {
                break finished;
            }
            assert!(std::time::Instant::now() < bounded, "sync never finished");
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert_eq!(finished.0, 1);
        finished.1
    }

    #[test]
    fn writeback_of_written_data_starts_and_the_data_stays() -> io::Result<()> {
        use std::io::{Read, Seek};
        let mut file = tempfile::tempfile()?;
        file.write_all(&[7u8; 64 * 1024])?;
        start_writeback(&file, 0, 64 * 1024)?;
        file.sync_data()?;
        let mut back = Vec::new();
        file.rewind()?;
        file.read_to_end(&mut back)?;
        assert_eq!(back, vec![7u8; 64 * 1024]);
        Ok(())
    }
}
