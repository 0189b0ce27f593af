//! Reaching the server: its name resolved, the TCP connection opened, and
//! the first bytes the server sends kept aside. Each failure gets its own
//! kind (an unknown host, a refused connection), and a failed handshake can
//! tell whether the server spoke TLS, so a `ws://`/`wss://` mix-up is named
//! instead of retried.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::connect::RemoteUrl;
use crate::error::{Error, Result};

/// How many of the server's first bytes are kept: enough for a TLS record
/// header and for `HTTP/`.
const HEAD_LEN: usize = 5;

/// Resolve `url`'s host and connect to the first of its addresses that
/// accepts. A name that does not resolve is [`Error::UnknownHost`]; when an
/// address refused the connection and none accepted,
/// [`Error::ConnectionRefused`].
pub async fn open(url: &RemoteUrl) -> Result<Recorded<TcpStream>> {
    let (host, port) = (url.host(), url.port());
    let addrs = tokio::net::lookup_host(format!("{host}:{port}"))
        .await
        .map_err(|e| unknown_host(host, &e))?;
    let mut refused = false;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(Recorded::new(stream));
            }
            Err(e) => {
                refused |= e.kind() == io::ErrorKind::ConnectionRefused;
                last = Some(e);
            }
        }
    }
    if refused {
        return Err(Error::ConnectionRefused(format!(
            "connection refused: is the server running on {host}:{port}?"
        )));
    }
    Err(match last {
        Some(e) => Error::Network(format!("{url}: {e}")),
        None => Error::UnknownHost(format!("cannot resolve host '{host}': it has no address")),
    })
}

fn unknown_host(host: &str, e: &io::Error) -> Error {
    let text = e.to_string();
    let why = text
        .strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text);
    Error::UnknownHost(format!(
        "cannot resolve host '{host}': check the name ({why})"
    ))
}

/// What the server's first bytes say about TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    /// Nothing arrived: no telling.
    Unknown,
    /// A TLS record (an alert or a handshake message).
    Tls,
    /// Something else, such as `HTTP/1.1 400`.
    Plain,
}

/// Classify the first bytes a server sent. A TLS record starts with its
/// content type (20 to 24) and the major version 3.
pub fn speaks(head: &[u8]) -> Speaks {
    match head {
        [] => Speaks::Unknown,
        [kind] if (20..=24).contains(kind) => Speaks::Tls,
        [kind, 3, ..] if (20..=24).contains(kind) => Speaks::Tls,
        _ => Speaks::Plain,
    }
}

/// The first bytes a [`Recorded`] stream received, readable after the
/// stream itself was handed on.
#[derive(Debug, Clone, Default)]
pub struct Head(Arc<Mutex<Vec<u8>>>);

impl Head {
    /// The bytes kept so far (at most [`HEAD_LEN`]).
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// A stream that keeps a copy of the first bytes it reads.
#[derive(Debug)]
pub struct Recorded<S> {
    inner: S,
    head: Head,
    /// Whether [`HEAD_LEN`] bytes are kept (then reads pass straight on).
    full: bool,
}

impl<S> Recorded<S> {
    fn new(inner: S) -> Recorded<S> {
        Recorded {
            inner,
            head: Head::default(),
            full: false,
        }
    }

    /// The handle on the first bytes read.
    pub fn head(&self) -> Head {
        self.head.clone()
    }

    fn keep(&mut self, read: &[u8]) {
        let Ok(mut head) = self.head.0.lock() else {
            self.full = true;
            return;
        };
        let room = HEAD_LEN.saturating_sub(head.len());
        head.extend_from_slice(&read[..room.min(read.len())]);
        self.full = head.len() >= HEAD_LEN;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if !self.full && matches!(polled, Poll::Ready(Ok(()))) {
            self.keep(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn first_bytes_tell_tls_from_plain() {
        let cases: &[(&[u8], Speaks)] = &[
            (b"", Speaks::Unknown),
            (b"\x15\x03\x03\x00\x02", Speaks::Tls),
            (b"\x16\x03\x01\x02\x00", Speaks::Tls),
            (b"\x15", Speaks::Tls),
            (b"HTTP/", Speaks::Plain),
            (b"SSH-2", Speaks::Plain),
            (b"\x15\x48", Speaks::Plain),
            (b"\x00\x03", Speaks::Plain),
        ];
        for &(head, want) in cases {
            assert_eq!(speaks(head), want, "{head:?}");
        }
    }

    #[tokio::test]
    async fn keeps_the_first_bytes_across_reads() {
        let (mut server, client) = tokio::io::duplex(64);
        let mut recorded = Recorded::new(client);
        let head = recorded.head();
        server.write_all(b"HT").await.unwrap();
        let mut buf = [0u8; 2];
        recorded.read_exact(&mut buf).await.unwrap();
        assert_eq!(head.bytes(), b"HT");
        server.write_all(b"TP/1.1 400").await.unwrap();
        let mut rest = [0u8; 10];
        recorded.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"TP/1.1 400");
        assert_eq!(head.bytes(), b"HTTP/");
    }
}
