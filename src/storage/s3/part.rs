//! The part being received of an upload into a bucket (pure): where the
//! bytes from the last stored part boundary on go, and the verified
//! offset, which says when the part is complete. It keeps no bytes: the
//! sink keeps them in a [`super::spool::PartBytes`] (in memory, or spooled
//! to a temporary file for a large part) at the positions given here.

/// One part's bookkeeping as its bytes arrive, and how far they are
/// verified.
#[derive(Debug)]
pub struct PartCursor {
    /// Where the part starts in the file (a multiple of the part size).
    start: u64,
    /// Bytes of the part received so far.
    len: u64,
    part_size: u64,
    chunk_size: u64,
    /// The file's size.
    size: u64,
    /// Bytes of the file verified.
    verified: u64,
}

impl PartCursor {
    /// An empty part at `start` (also the verified offset) of a `size`-byte
    /// file in parts of `part_size` and chunks of `chunk_size`.
    pub fn new(start: u64, part_size: u64, chunk_size: u64, size: u64) -> PartCursor {
        PartCursor {
            start,
            len: 0,
            part_size,
            chunk_size,
            size,
            verified: start,
        }
    }

    /// Take `len` bytes received at `offset`: right after what the part
    /// holds, or (after a rewind) at a verified offset within the part,
    /// which drops the unverified bytes after it. The part never grows
    /// past its size. Gives where in the part they go: the bytes of the
    /// part to keep before them.
    pub fn write(&mut self, offset: u64, len: u64) -> Result<u64, String> {
        let end = self.start + self.len;
        if offset < end && offset >= self.verified {
            self.len = offset - self.start;
        }
        let end = self.start + self.len;
        let room = self.part_size - self.len;
        if offset != end || len > room {
            return Err(format!(
                "{len} bytes at offset {offset} do not follow the part buffered up to {end}"
            ));
        }
        let keep = self.len;
        self.len += len;
        Ok(keep)
    }

    /// The bytes the current part has once complete (the last part of the
    /// file may be short).
    pub fn expected(&self) -> u64 {
        self.size.saturating_sub(self.start).min(self.part_size)
    }

    /// The part's number (1-based, as S3 counts them).
    pub fn number(&self) -> u64 {
        self.start / self.part_size.max(1) + 1
    }

    /// The next chunk verified: whether that completes a part which is not
    /// the file's last (to be stored now; the last goes with the end).
    pub fn chunk_verified(&mut self) -> bool {
        self.verified = (self.verified + self.chunk_size).min(self.size);
        let boundary = self.start + self.part_size;
        self.verified == boundary && boundary < self.size
    }

    /// The part's bytes are taken (how many there are); the next part
    /// starts after them.
    pub fn take(&mut self) -> u64 {
        let len = std::mem::take(&mut self.len);
        self.start += len;
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step of a part's life and what it must give.
    enum Step {
        /// At offset, this many bytes: where they go (`None`: refused).
        Write(u64, u64, Option<u64>),
        Verified(bool),
        Take(u64),
    }

    #[test]
    fn parts_fill_in_order_rewind_to_verified_bytes_and_end_at_boundaries() {
        use Step::*;
        // Parts of 8 bytes, chunks of 4, a file of 20 bytes.
        let steps = [
            Write(0, 4, Some(0)),
            Write(0, 4, Some(0)), // a rewind to 0 before anything verified
            Write(8, 4, None),    // a gap
            Verified(false),      // 4 verified: inside the part
            Write(4, 2, Some(4)),
            Write(6, 2, Some(6)),
            Write(8, 1, None),    // past the part
            Write(2, 1, None),    // before the verified offset
            Write(4, 4, Some(4)), // a rewind to the verified offset 4
            Verified(true),       // 8 verified: part 1 complete
            Take(8),
            Write(8, 4, Some(0)),
            Verified(false),
            Write(12, 4, Some(4)),
            Verified(true), // 16: part 2 complete
            Take(8),
            Write(16, 4, Some(0)),
            Verified(false), // 20 = the end: the last part waits for the end
            Take(4),
        ];
        let mut part = PartCursor::new(0, 8, 4, 20);
        for (i, step) in steps.into_iter().enumerate() {
            match step {
                Write(offset, len, at) => {
                    let got = part.write(offset, len);
                    assert_eq!(got.clone().ok(), at, "step {i}: {got:?}");
                }
                Verified(complete) => assert_eq!(part.chunk_verified(), complete, "step {i}"),
                Take(len) => assert_eq!(part.take(), len, "step {i}"),
            }
        }
    }

    #[test]
    fn a_resumed_part_starts_at_its_boundary_and_one_part_files_never_complete_early() {
        let mut resumed = PartCursor::new(16, 8, 4, 40);
        assert_eq!((resumed.number(), resumed.expected()), (3, 8));
        assert!(resumed.write(0, 1).is_err());
        assert_eq!(resumed.write(16, 4), Ok(0));
        assert!(!resumed.chunk_verified());
        assert_eq!(resumed.write(20, 4), Ok(4));
        assert!(resumed.chunk_verified());
        assert_eq!(resumed.take(), 8);
        assert_eq!((resumed.number(), resumed.expected()), (4, 8));
        // A file of exactly one part: its one boundary is the end.
        let mut one = PartCursor::new(0, 8, 4, 8);
        assert_eq!(one.write(0, 4), Ok(0));
        assert!(!one.chunk_verified());
        assert_eq!(one.write(4, 4), Ok(4));
        assert!(!one.chunk_verified());
        assert_eq!(one.take(), 8);
        let mut empty = PartCursor::new(0, 8, 4, 0);
        assert_eq!((empty.expected(), empty.take()), (0, 0));
    }

    #[test]
    fn the_expected_length_of_each_part() {
        // (start, part size, file size) -> bytes of that part once complete
        let cases = [
            (0, 8, 20, 8),
            (16, 8, 20, 4),
            (16, 8, 24, 8),
            (0, 8, 3, 3),
            (0, 8, 0, 0),
        ];
        for (start, part_size, size, want) in cases {
            let part = PartCursor::new(start, part_size, 4, size);
            assert_eq!(part.expected(), want, "{start} {part_size} {size}");
        }
    }
}
