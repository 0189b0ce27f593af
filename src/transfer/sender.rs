//! The sending half: reads a file from a verified offset, hashes it once and
//! emits data frames, chunk check values and the final digest.

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::codec::Packer;
use super::pool::BufferPool;
use super::{Item, frame_len};
use crate::chain::{ChainHasher, ChainState};
use crate::error::{Error, Result};
use crate::protocol::CompressMode;

/// Items buffered between the reading thread and the socket.
const QUEUE: usize = 16;

/// The chaining value at every chunk boundary of a file, and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    /// `states[i]`: the chaining value after chunk `i` (all but the last chunk).
    pub states: Vec<ChainState>,
    /// The whole file's SHA-256.
    pub digest: [u8; 32],
}

impl FileHashes {
    /// Bytes of memory per chunk state.
    pub const STATE_BYTES: usize = 32;

    /// Approximate memory held.
    pub fn memory(&self) -> usize {
        self.states.len() * Self::STATE_BYTES + 64
    }

    /// The chaining value after `offset` bytes (a chunk boundary below the end).
    pub fn state_at(&self, offset: u64, chunk_size: u64) -> Option<ChainState> {
        if offset == 0 {
            return Some(ChainState::INITIAL);
        }
        let index = usize::try_from(offset / chunk_size).ok()?.checked_sub(1)?;
        self.states.get(index).copied()
    }
}

/// Where the check values come from.
#[derive(Debug, Clone)]
pub enum Checks {
    /// Hash while reading; collect up to this many chunk states for a cache
    /// (0: do not collect).
    Compute {
        /// Largest number of states worth collecting.
        collect: usize,
    },
    /// Known already: read only.
    Known(std::sync::Arc<FileHashes>),
}

/// What to send and where to start.
#[derive(Debug)]
pub struct SendPlan {
    /// What the file is read from.
    pub file: super::body::Body,
    /// Its path, for messages.
    pub path: PathBuf,
    /// Its size when the transfer was negotiated.
    pub size: u64,
    /// Verification unit.
    pub chunk_size: u64,
    /// First byte to send (a multiple of `chunk_size`).
    pub offset: u64,
    /// Chaining value after `offset` bytes.
    pub state: ChainState,
    /// Hash while reading, or use known values.
    pub checks: Checks,
    /// The connection negotiated compressed frames: pack every data frame
    /// ([`Item::Packed`]) as this mode says.
    pub compress: Option<CompressMode>,
}

/// Start reading on a blocking thread; items arrive on the returned channel.
/// The thread stops early, without error, when the receiver is dropped. When
/// it hashed a whole file with collection on, it returns the file's hashes.
pub fn spawn(plan: SendPlan) -> (mpsc::Receiver<Item>, JoinHandle<Result<Option<FileHashes>>>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let handle = tokio::task::spawn_blocking(move || run(plan, &tx));
    (rx, handle)
}

/// Produces check values: by hashing, or from known hashes.
enum Checker {
    Hashing {
        hasher: ChainHasher,
        collected: Option<Vec<ChainState>>,
        limit: usize,
    },
    Known(std::sync::Arc<FileHashes>),
}

impl Checker {
    fn new(plan: &SendPlan) -> Result<Checker> {
        match &plan.checks {
            Checks::Known(hashes) => Ok(Checker::Known(hashes.clone())),
            Checks::Compute { collect } => Ok(Checker::Hashing {
                hasher: ChainHasher::resume(plan.state, plan.offset).map_err(|e| {
                    Error::Protocol(format!("cannot resume at offset {}: {e}", plan.offset))
                })?,
                collected: (plan.offset == 0 && *collect > 0).then(Vec::new),
                limit: *collect,
            }),
        }
    }

    fn update(&mut self, data: &[u8]) {
        if let Checker::Hashing { hasher, .. } = self {
            hasher.update(data);
        }
    }

    fn chunk_state(&mut self, pos: u64, chunk_size: u64) -> Result<ChainState> {
        let state = match self {
            Checker::Known(hashes) => hashes.state_at(pos, chunk_size),
            Checker::Hashing {
                hasher,
                collected,
                limit,
            } => {
                let state = hasher.state();
                if let (Some(list), Some(state)) = (collected.as_mut(), state) {
                    list.push(state);
                    if list.len() > *limit {
                        *collected = None;
                    }
                }
                state
            }
        };
        state.ok_or_else(|| Error::Protocol(format!("no chunk state at offset {pos}")))
    }

    fn finish(self) -> ([u8; 32], Option<FileHashes>) {
        match self {
            Checker::Known(hashes) => (hashes.digest, None),
            Checker::Hashing {
                hasher, collected, ..
            } => {
                let digest = hasher.finalize();
                (
                    digest,
                    collected.map(|states| FileHashes { states, digest }),
                )
            }
        }
    }
}

/// One step of sending a file from an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A data frame of `len` bytes at `offset`.
    Data {
        /// Where in the file.
        offset: u64,
        /// How many bytes.
        len: usize,
    },
    /// The check of chunk `index`, which ends at `end` (below the file's end).
    Check {
        /// The chunk's index.
        index: u64,
        /// The offset just after it.
        end: u64,
    },
    /// The whole file's digest.
    Eof,
}

/// The order of a file's items from a chunk boundary on: data frames that
/// never cross a chunk boundary, a check after every chunk but the last,
/// then the digest.
#[derive(Debug, Clone)]
pub struct Schedule {
    pos: u64,
    size: u64,
    chunk_size: u64,
    check_due: bool,
    done: bool,
}

impl Schedule {
    /// The steps of a `size`-byte file from `offset` on.
    pub fn new(offset: u64, size: u64, chunk_size: u64) -> Schedule {
        Schedule {
            pos: offset,
            size,
            chunk_size: chunk_size.max(1),
            check_due: false,
            done: false,
        }
    }
}

impl Iterator for Schedule {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        if self.done {
            return None;
        }
        if self.check_due {
            self.check_due = false;
            let index = self.pos / self.chunk_size - 1;
            return Some(Step::Check {
                index,
                end: self.pos,
            });
        }
        if self.pos >= self.size {
            self.done = true;
            return Some(Step::Eof);
        }
        let offset = self.pos;
        let len = frame_len(offset, self.size, self.chunk_size);
        self.pos += len;
        self.check_due = self.pos.is_multiple_of(self.chunk_size) && self.pos < self.size;
        Some(Step::Data {
            offset,
            len: len as usize,
        })
    }
}

fn run(plan: SendPlan, tx: &mpsc::Sender<Item>) -> Result<Option<FileHashes>> {
    let mut checker = Checker::new(&plan)?;
    let mut buffers = BufferPool::new(QUEUE + 4);
    let mut packer = plan.compress.map(Packer::new).transpose()?;
    for step in Schedule::new(plan.offset, plan.size, plan.chunk_size) {
        let item = match step {
            Step::Data { offset, len } => {
                let started = std::time::Instant::now();
                // Room for the marker byte of a packed frame.
                let head = usize::from(packer.is_some());
                let mut buf = buffers.take(head + len);
                read_exact(&plan, &mut buf[head..], offset)?;
                checker.update(&buf[head..]);
                match &mut packer {
                    None => Item::Data(buffers.lend(buf)),
                    Some(packer) => Item::Packed {
                        frame: packer.pack(buf, started.elapsed(), &mut buffers),
                        len,
                    },
                }
            }
            Step::Check { index, end } => Item::Chunk {
                index,
                state: checker.chunk_state(end, plan.chunk_size)?,
            },
            Step::Eof => break,
        };
        if !send(tx, item, packer.as_mut()) {
            return Ok(None);
        }
    }
    if let Some(packer) = &packer {
        tracing::debug!("{}: {}", plan.path.display(), packer.summary());
    }
    let (sha256, hashes) = checker.finish();
    let sent = tx.blocking_send(Item::Eof { sha256 }).is_ok();
    Ok(hashes.filter(|_| sent))
}

/// Queue `item`, telling the packer how long that waited (the link's pace);
/// false when the connection side is gone.
fn send(tx: &mpsc::Sender<Item>, item: Item, packer: Option<&mut Packer>) -> bool {
    let Some(packer) = packer else {
        return tx.blocking_send(item).is_ok();
    };
    // A check message: about 100 bytes on the wire.
    let wire = if matches!(item, Item::Packed { .. }) {
        0
    } else {
        100
    };
    let started = std::time::Instant::now();
    let sent = tx.blocking_send(item).is_ok();
    packer.waited(started.elapsed(), wire);
    sent
}

fn read_exact(plan: &SendPlan, buf: &mut [u8], pos: u64) -> Result<()> {
    plan.file.read_exact_at(buf, pos).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            std::io::Error::other("the file shrank while it was being sent")
        } else {
            e
        };
        Error::local_io(format!("reading {}", plan.path.display()), what)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_put_a_check_after_every_chunk_but_the_last() {
        use Step::{Check, Data, Eof};
        let k = 256 * 1024;
        // (offset, size, chunk size, expected steps)
        let cases: Vec<(u64, u64, u64, Vec<Step>)> = vec![
            (0, 0, 4096, vec![Eof]),
            (0, 10, 4096, vec![Data { offset: 0, len: 10 }, Eof]),
            (
                0,
                4096,
                4096,
                vec![
                    Data {
                        offset: 0,
                        len: 4096,
                    },
                    Eof,
                ],
            ),
            (
                0,
                4097,
                4096,
                vec![
                    Data {
                        offset: 0,
                        len: 4096,
                    },
                    Check {
                        index: 0,
                        end: 4096,
                    },
                    Data {
                        offset: 4096,
                        len: 1,
                    },
                    Eof,
                ],
            ),
            (
                4096,
                8192,
                4096,
                vec![
                    Data {
                        offset: 4096,
                        len: 4096,
                    },
                    Eof,
                ],
            ),
            (
                0,
                2 * k + 5,
                2 * k,
                vec![
                    Data {
                        offset: 0,
                        len: k as usize,
                    },
                    Data {
                        offset: k,
                        len: k as usize,
                    },
                    Check {
                        index: 0,
                        end: 2 * k,
                    },
                    Data {
                        offset: 2 * k,
                        len: 5,
                    },
                    Eof,
                ],
            ),
        ];
        for (offset, size, chunk, expected) in cases {
            let steps: Vec<Step> = Schedule::new(offset, size, chunk).collect();
            assert_eq!(steps, expected, "offset {offset} size {size} chunk {chunk}");
        }
    }
}
