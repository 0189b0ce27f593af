//! `get URL -`: a sink that holds each chunk until it is verified, then
//! writes it to standard output, so stdout only ever sees verified bytes.

use std::io::Write;

use crate::chain::ChainState;
use crate::error::{Error, Result};
use crate::transfer::receiver::ChunkSink;

/// Verified bytes to stdout; at most one chunk is held in memory.
#[derive(Default)]
pub struct StdoutSink {
    held: Vec<u8>,
    written: u64,
}

impl ChunkSink for StdoutSink {
    fn write_at(&mut self, offset: u64, data: bytes::Bytes) -> Result<()> {
        if offset == self.written {
            self.held.clear();
        }
        if offset != self.written + self.held.len() as u64 {
            return Err(Error::Protocol(format!(
                "out-of-order data at offset {offset}"
            )));
        }
        self.held.extend_from_slice(&data);
        Ok(())
    }

    fn chunk_verified(&mut self, _state: ChainState) -> Result<()> {
        self.write_held()
    }

    fn commit(&mut self) -> Result<()> {
        std::io::stdout()
            .flush()
            .map_err(|e| Error::local_io("writing to standard output", e))
    }

    fn finish(&mut self) -> Result<()> {
        self.write_held()?;
        self.commit()
    }
}

impl StdoutSink {
    /// The held bytes are verified: write them out.
    fn write_held(&mut self) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(&self.held)
            .map_err(|e| Error::local_io("writing to standard output", e))?;
        self.written += self.held.len() as u64;
        self.held.clear();
        Ok(())
    }
}
