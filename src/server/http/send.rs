//! Writing a plain HTTP answer: the head, then a body from memory or a
//! file's bytes read on a blocking thread in bounded blocks; every write
//! must finish within the idle time-out (a client reading slower than one
//! block per time-out is dropped); then the close (`Connection: close`),
//! after reading for a moment what the client still sends so the answer
//! is not lost to a reset.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::super::refusal::Refusal;
use crate::protocol::ErrorCode;
use crate::transfer::body::Body;

/// Bytes read from the file and written at a time.
const BLOCK: usize = 256 * 1024;
/// Blocks read ahead of the socket.
const AHEAD: usize = 2;
/// An answer's head: status line and headers (`Connection: close` added).
pub struct Head {
    text: String,
}

impl Head {
    /// `HTTP/1.1 STATUS REASON`.
    pub fn new(status: u16, reason: &str) -> Head {
        Head {
            text: format!("HTTP/1.1 {status} {reason}\r\n"),
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Head {
        self.text.push_str(&format!("{name}: {value}\r\n"));
        self
    }

    /// The head as bytes.
    fn bytes(&self) -> Vec<u8> {
        format!("{}Connection: close\r\n\r\n", self.text).into_bytes()
    }
}

/// Write `data` within `limit`, or fail as an idle client.
async fn write_within<S: AsyncWrite + Unpin>(
    stream: &mut S,
    data: &[u8],
    limit: Duration,
) -> Result<(), Refusal> {
    match tokio::time::timeout(limit, stream.write_all(data)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Refusal::new(
            ErrorCode::GoingAway,
            format!("the client went away: {e}"),
        )),
        Err(_) => Err(Refusal::new(
            ErrorCode::GoingAway,
            format!("idle time-out: the client read nothing for {limit:?}"),
        )),
    }
}

/// Send `head` and `body` (none for `HEAD`), then close.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    head: Head,
    body: &[u8],
    limit: Duration,
) -> Result<(), Refusal> {
    let mut all = head.bytes();
    all.extend_from_slice(body);
    write_within(stream, &all, limit).await?;
    close(stream, limit).await;
    Ok(())
}

/// Send `head`, then `len` bytes of `file` from `start` (none when `len`
/// is 0), then close. A file that ends early ends the connection without
/// the rest: the client sees a short body, never other bytes.
pub async fn file<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    head: Head,
    file: Body,
    start: u64,
    len: u64,
    limit: Duration,
) -> Result<(), Refusal> {
    write_within(stream, &head.bytes(), limit).await?;
    if len > 0 {
        let (tx, mut rx) = tokio::sync::mpsc::channel(AHEAD);
        let reader = tokio::task::spawn_blocking(move || read_blocks(&file, start, len, &tx));
        while let Some(block) = rx.recv().await {
            let block = block.map_err(|e: std::io::Error| {
                Refusal::new(ErrorCode::Internal, format!("reading the file: {e}"))
            })?;
            write_within(stream, &block, limit).await?;
        }
        drop(rx);
        let _ = reader.await;
    }
    close(stream, limit).await;
    Ok(())
}

/// Read `len` bytes from `start` in blocks into `tx`; a short file is an
/// error. Stops when the receiver is gone. Blocks.
fn read_blocks(
    file: &Body,
    start: u64,
    len: u64,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
) {
    let mut offset = start;
    let end = start + len;
    while offset < end {
        let want = usize::try_from(end - offset).map_or(BLOCK, |left| left.min(BLOCK));
        let mut block = vec![0u8; want];
        let read = file.read_exact_at(&mut block, offset).map(|()| block);
        let failed = read.is_err();
        if tx.blocking_send(read).is_err() || failed {
            return;
        }
        offset += want as u64;
    }
}

/// Flush and shut down writing, then read what the client still sends
/// for a moment, bounded in time and bytes.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, limit: Duration) {
    if tokio::time::timeout(limit, stream.shutdown())
        .await
        .is_err()
    {
        return;
    }
    crate::server::handshake::drain(stream).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_range_goes_out_exactly_and_a_reader_that_stops_is_dropped() {
        let data: Vec<u8> = (0..BLOCK * 3).map(|i| (i % 251) as u8).collect();
        let path = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(path.path(), &data).unwrap();
        let body = Body::file(std::fs::File::open(path.path()).unwrap());
        // (start, len)
        for (start, len) in [(0, data.len()), (1, BLOCK), (BLOCK - 1, BLOCK + 2), (7, 0)] {
            let (mut ours, mut theirs) = tokio::io::duplex(64 * 1024);
            let head = Head::new(206, "Partial Content");
            let limit = Duration::from_secs(5);
            let sending = file(
                &mut ours,
                head,
                body.clone(),
                start as u64,
                len as u64,
                limit,
            );
            let mut got = Vec::new();
            let (sent, _) = tokio::join!(sending, theirs.read_to_end(&mut got));
            sent.unwrap();
            let want = b"HTTP/1.1 206 Partial Content\r\nConnection: close\r\n\r\n";
            assert_eq!(&got[..want.len()], want);
            assert_eq!(
                &got[want.len()..],
                &data[start..start + len],
                "{start}+{len}"
            );
        }
        let (mut ours, _theirs) = tokio::io::duplex(1024);
        let head = Head::new(200, "OK");
        let limit = Duration::from_millis(200);
        let len = data.len() as u64;
        let refused = file(&mut ours, head, body, 0, len, limit)
            .await
            .unwrap_err();
        assert!(
            refused.message.contains("idle time-out"),
            "{}",
            refused.message
        );
    }
}
