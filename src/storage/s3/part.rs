//! The part being received of an upload into a bucket (pure): the bytes
//! from the last stored part boundary on, in memory (at most one part),
//! and the verified offset, which says when the part is complete.

use bytes::Bytes;

/// One part's bytes as they arrive, and how far they are verified.
#[derive(Debug)]
pub struct PartBuffer {
    /// Where the part starts in the file (a multiple of the part size).
    start: u64,
    bytes: Vec<u8>,
    part_size: u64,
    chunk_size: u64,
    /// The file's size.
    size: u64,
    /// Bytes of the file verified.
    verified: u64,
}

impl PartBuffer {
    /// An empty part at `start` (also the verified offset) of a `size`-byte
    /// file in parts of `part_size` and chunks of `chunk_size`.
    pub fn new(start: u64, part_size: u64, chunk_size: u64, size: u64) -> PartBuffer {
        PartBuffer {
            start,
            bytes: Vec::new(),
            part_size,
            chunk_size,
            size,
            verified: start,
        }
    }

    /// Take `data` received at `offset`: right after what is buffered, or
    /// (after a rewind) at a verified offset within the part, which drops
    /// the unverified bytes after it. The part never grows past its size.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), String> {
        let end = self.start + self.bytes.len() as u64;
        if offset < end && offset >= self.verified {
            self.bytes.truncate((offset - self.start) as usize);
        }
        let end = self.start + self.bytes.len() as u64;
        let room = self.part_size - self.bytes.len() as u64;
        if offset != end || data.len() as u64 > room {
            return Err(format!(
                "{} bytes at offset {offset} do not follow the part buffered up to {end}",
                data.len()
            ));
        }
        if self.bytes.capacity() == 0 {
            let expected = self.size.saturating_sub(self.start).min(self.part_size);
            self.bytes.reserve_exact(expected as usize);
        }
        self.bytes.extend_from_slice(data);
        Ok(())
    }

    /// The next chunk verified: whether that completes a part which is not
    /// the file's last (to be stored now; the last goes with the end).
    pub fn chunk_verified(&mut self) -> bool {
        self.verified = (self.verified + self.chunk_size).min(self.size);
        let boundary = self.start + self.part_size;
        self.verified == boundary && boundary < self.size
    }

    /// The buffered bytes, taken; the next part starts after them.
    pub fn take(&mut self) -> Bytes {
        self.start += self.bytes.len() as u64;
        Bytes::from(std::mem::take(&mut self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step of a part's life and what it must give.
    enum Step {
        Write(u64, usize, bool),
        Verified(bool),
        Take(usize),
    }

    #[test]
    fn parts_fill_in_order_rewind_to_verified_bytes_and_end_at_boundaries() {
        use Step::*;
        // Parts of 8 bytes, chunks of 4, a file of 20 bytes.
        let steps = [
            Write(0, 4, true),
            Write(0, 4, true),  // a rewind to 0 before anything verified
            Write(8, 4, false), // a gap
            Verified(false),    // 4 verified: inside the part
            Write(4, 2, true),
            Write(6, 2, true),
            Write(8, 1, false), // past the part
            Write(2, 1, false), // before the verified offset
            Write(4, 4, true),  // a rewind to the verified offset 4
            Verified(true),     // 8 verified: part 1 complete
            Take(8),
            Write(8, 4, true),
            Verified(false),
            Write(12, 4, true),
            Verified(true), // 16: part 2 complete
            Take(8),
            Write(16, 4, true),
            Verified(false), // 20 = the end: the last part waits for the end
            Take(4),
        ];
        let mut part = PartBuffer::new(0, 8, 4, 20);
        for (i, step) in steps.into_iter().enumerate() {
            match step {
                Write(offset, len, ok) => {
                    let got = part.write(offset, &vec![1; len]);
                    assert_eq!(got.is_ok(), ok, "step {i}: {got:?}");
                }
                Verified(complete) => assert_eq!(part.chunk_verified(), complete, "step {i}"),
                Take(len) => assert_eq!(part.take().len(), len, "step {i}"),
            }
        }
    }

    #[test]
    fn a_resumed_part_starts_at_its_boundary_and_one_part_files_never_complete_early() {
        let mut resumed = PartBuffer::new(16, 8, 4, 40);
        assert!(resumed.write(0, b"x").is_err());
        assert!(resumed.write(16, b"abcd").is_ok());
        assert!(!resumed.chunk_verified());
        assert!(resumed.write(20, b"efgh").is_ok());
        assert!(resumed.chunk_verified());
        assert_eq!(&resumed.take()[..], b"abcdefgh");
        // A file of exactly one part: its one boundary is the end.
        let mut one = PartBuffer::new(0, 8, 4, 8);
        assert!(one.write(0, b"abcd").is_ok());
        assert!(!one.chunk_verified());
        assert!(one.write(4, b"efgh").is_ok());
        assert!(!one.chunk_verified());
        assert_eq!(one.take().len(), 8);
        let mut empty = PartBuffer::new(0, 8, 4, 0);
        assert!(empty.take().is_empty());
    }
}
