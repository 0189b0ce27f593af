//! Reusing data-frame buffers. A frame's buffer is lent to the socket side
//! and taken back once every copy of it is gone, so reading a file does not
//! allocate, zero and fault in a fresh buffer for every frame. The pool holds
//! at most a fixed number of buffers; a buffer still in use when the pool is
//! full is simply forgotten (its holder frees it).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Buffers lent out, oldest first.
#[derive(Debug)]
pub struct BufferPool {
    lent: VecDeque<Bytes>,
    capacity: usize,
}

impl BufferPool {
    /// A pool that keeps track of at most `capacity` lent buffers.
    pub fn new(capacity: usize) -> BufferPool {
        BufferPool {
            lent: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// A buffer of `len` bytes (their contents are unspecified).
    pub fn take(&mut self, len: usize) -> BytesMut {
        if let Some(oldest) = self.lent.pop_front() {
            match oldest.try_into_mut() {
                Ok(mut buf) if buf.capacity() >= len => {
                    buf.resize(len, 0);
                    return buf;
                }
                Ok(_) => {}
                // Still in use: keep waiting for it unless the pool is full.
                Err(busy) if self.lent.len() + 1 < self.capacity => self.lent.push_front(busy),
                Err(_) => {}
            }
        }
        BytesMut::zeroed(len)
    }

    /// Lend `buf` out; it comes back to [`BufferPool::take`] once every copy
    /// of the returned `Bytes` is dropped.
    pub fn lend(&mut self, buf: BytesMut) -> Bytes {
        let bytes = buf.freeze();
        if self.lent.len() < self.capacity {
            self.lent.push_back(bytes.clone());
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_returned_buffer_is_reused_and_a_busy_one_is_not() {
        let mut pool = BufferPool::new(2);
        let buf = pool.take(1000);
        let first = pool.lend(buf);
        let first_ptr = first.as_ptr();
        // Still held: a new buffer.
        let buf = pool.take(1000);
        let second = pool.lend(buf);
        assert_ne!(second.as_ptr(), first_ptr);
        drop(first);
        // The oldest came back: same memory, resized.
        let again = pool.take(600);
        assert_eq!((again.as_ptr(), again.len()), (first_ptr, 600));
        drop(second);
    }

    #[test]
    fn the_pool_stays_bounded_while_everything_is_held() {
        let mut pool = BufferPool::new(3);
        let held: Vec<Bytes> = (0..50)
            .map(|_| {
                let buf = pool.take(64);
                pool.lend(buf)
            })
            .collect();
        assert!(pool.lent.len() <= 3);
        assert_eq!(held.len(), 50);
        // A larger request than any returned buffer gets a new one.
        drop(held);
        assert_eq!(pool.take(4096).len(), 4096);
    }
}
