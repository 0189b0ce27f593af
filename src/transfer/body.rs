//! What a file served for download is read from: a local file (which the
//! server can also hand to `sendfile`), or any reader of byte ranges (an
//! object in a bucket, read by ranged GETs). The sender and the server's
//! hashing read through [`Body::read_at`] and never care which.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Reads byte ranges of one fixed version of a file. Blocks: call it off
/// the async runtime.
pub trait RangedRead: Send + Sync + std::fmt::Debug {
    /// Read up to `buf.len()` bytes at `offset`; 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
}

/// The bytes of a file to send.
#[derive(Debug, Clone)]
pub enum Body {
    /// A local file.
    File(Arc<File>),
    /// Anything else that reads ranges.
    Ranged(Arc<dyn RangedRead>),
}

impl Body {
    /// A local file's body.
    pub fn file(file: File) -> Body {
        Body::File(Arc::new(file))
    }

    /// The local file, when the body is one (for `sendfile` and metadata).
    pub fn as_file(&self) -> Option<&File> {
        match self {
            Body::File(file) => Some(file),
            Body::Ranged(_) => None,
        }
    }

    /// Read up to `buf.len()` bytes at `offset`; 0 at the end.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        match self {
            Body::File(file) => file.read_at(buf, offset),
            Body::Ranged(ranged) => ranged.read_at(buf, offset),
        }
    }

    /// Fill `buf` from `offset`, or fail with `UnexpectedEof`.
    pub fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that hands out at most 3 bytes per read.
    #[derive(Debug)]
    struct Trickle(Vec<u8>);

    impl RangedRead for Trickle {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
            let start = (offset as usize).min(self.0.len());
            let n = buf.len().min(3).min(self.0.len() - start);
            buf[..n].copy_from_slice(&self.0[start..start + n]);
            Ok(n)
        }
    }

    #[test]
    fn read_exact_at_gathers_short_reads_and_reports_the_end() {
        let body = Body::Ranged(Arc::new(Trickle((0..20).collect())));
        let cases: [(u64, usize, bool); 4] =
            [(0, 20, true), (5, 10, true), (15, 6, false), (20, 0, true)];
        for (offset, len, ok) in cases {
            let mut buf = vec![0; len];
            let result = body.read_exact_at(&mut buf, offset);
            assert_eq!(result.is_ok(), ok, "{offset}+{len}");
            if ok {
                let want: Vec<u8> = (offset as u8..offset as u8 + len as u8).collect();
                assert_eq!(buf, want);
            }
        }
    }
}
