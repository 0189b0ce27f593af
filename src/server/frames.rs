//! Writing a download's data frames without tungstenite's write buffer.
//!
//! tungstenite copies every payload into its output buffer and shifts that
//! buffer after each partial write. A download's data frames are written
//! here instead, straight to the socket under the WebSocket: a header, then
//! the payload from memory, or from the file with `sendfile(2)` when the
//! socket is plain TCP (no TLS) and nothing needs hashing. The WebSocket's
//! own buffer (control messages, pongs) is flushed first, so frames never
//! interleave.

use std::fs::File;
use std::io;
use std::time::Duration;

use bytes::Buf;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;

use super::refusal::Refusal;
use crate::protocol::ErrorCode;

/// A connection's byte stream: plain TCP, which can `sendfile`, or TLS.
pub trait DataSocket: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP socket to `sendfile` into, when bytes go to it unchanged.
    fn plain_tcp(&self) -> Option<&TcpStream>;
}

impl DataSocket for TcpStream {
    fn plain_tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl DataSocket for tokio_rustls::server::TlsStream<TcpStream> {
    fn plain_tcp(&self) -> Option<&TcpStream> {
        None
    }
}

/// The header of an unmasked, final binary frame of `len` bytes
/// (RFC 6455 section 5.2): the bytes and how many of them are used.
pub fn binary_header(len: u64) -> ([u8; 10], usize) {
    let mut header = [0u8; 10];
    header[0] = 0x82; // FIN + opcode 2 (binary)
    let used = match len {
        0..=125 => {
            header[1] = len as u8;
            2
        }
        126..=0xFFFF => {
            header[1] = 126;
            header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            header[1] = 127;
            header[2..10].copy_from_slice(&len.to_be_bytes());
            10
        }
    };
    (header, used)
}

/// Send `payload` as one binary frame, giving up when the socket takes no
/// bytes for `limit`.
pub async fn write_binary<S: DataSocket>(
    ws: &mut WebSocketStream<S>,
    payload: &[u8],
    limit: Duration,
) -> Result<(), Refusal> {
    within(async {
        let raw = progressing(limit, flushed(ws)).await?;
        let (header, used) = binary_header(payload.len() as u64);
        // Vectored writes: no separate segment (or TLS record) for the header.
        let mut frame = header[..used].chain(payload);
        while frame.has_remaining() {
            if progressing(limit, raw.write_buf(&mut frame)).await? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        progressing(limit, raw.flush()).await
    })
    .await
}

/// Send `len` bytes of `file` at `offset` as one binary frame with
/// `sendfile(2)`, after a `marker` byte when there is one (a raw frame of a
/// compressing connection), giving up when the socket takes no bytes for
/// `limit`. The socket must be plain TCP.
pub async fn sendfile_binary<S: DataSocket>(
    ws: &mut WebSocketStream<S>,
    (file, marker): (&File, Option<u8>),
    offset: u64,
    len: usize,
    limit: Duration,
) -> Result<(), Refusal> {
    within(async {
        let raw = progressing(limit, flushed(ws)).await?;
        let marked = usize::from(marker.is_some());
        let (header, used) = binary_header((len + marked) as u64);
        let mut head = [0u8; 11];
        head[..used].copy_from_slice(&header[..used]);
        if let Some(marker) = marker {
            head[used] = marker;
        }
        progressing(limit, raw.write_all(&head[..used + marked])).await?;
        let tcp = raw
            .plain_tcp()
            .ok_or_else(|| io::Error::other("sendfile needs a plain TCP socket"))?;
        sendfile_all(tcp, file, offset, len, limit).await
    })
    .await
}

/// The socket under `ws`, after everything the WebSocket buffered is written.
async fn flushed<S: DataSocket>(ws: &mut WebSocketStream<S>) -> io::Result<&mut S> {
    ws.flush()
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e))?;
    Ok(ws.get_mut())
}

async fn sendfile_all(
    tcp: &TcpStream,
    file: &File,
    mut offset: u64,
    mut left: usize,
    limit: Duration,
) -> io::Result<()> {
    while left > 0 {
        progressing(limit, tcp.writable()).await?;
        let sent = tcp.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(tcp, file, Some(&mut offset), left).map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, SHRANK)),
            Ok(n) => left -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

const SHRANK: &str = "the file shrank while it was being sent";

/// One step of a frame write, which fails if the socket takes no bytes for
/// `limit`: a slow reader is fine, however slow, as long as it reads.
async fn progressing<T>(
    limit: Duration,
    step: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(limit, step)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, STOPPED_READING)))
}

const STOPPED_READING: &str = "peer stopped reading";

/// Run a raw frame write. Any failure may leave the frame half-written, so
/// every refusal from here is marked [`Refusal::mid_frame`]. A file that
/// shrank or could not be read is the server's fault (internal); anything
/// else is the connection's.
async fn within(write: impl Future<Output = io::Result<()>>) -> Result<(), Refusal> {
    let refusal = match write.await {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            Refusal::new(ErrorCode::GoingAway, STOPPED_READING)
        }
        Err(e) if is_connection_error(&e) => Refusal::new(ErrorCode::GoingAway, "connection lost"),
        Err(e) => Refusal::new(ErrorCode::Internal, format!("sending the file: {e}")),
    };
    Err(refusal.mid_frame())
}

fn is_connection_error(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | NotConnected | WriteZero | TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_shortest_length_encoding() {
        // (payload length, expected header bytes)
        let cases: [(u64, &[u8]); 6] = [
            (0, &[0x82, 0]),
            (125, &[0x82, 125]),
            (126, &[0x82, 126, 0, 126]),
            (65535, &[0x82, 126, 0xFF, 0xFF]),
            (65536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
            (262_144, &[0x82, 127, 0, 0, 0, 0, 0, 4, 0, 0]),
        ];
        for (len, expected) in cases {
            let (header, used) = binary_header(len);
            assert_eq!(&header[..used], expected, "length {len}");
        }
    }
}
