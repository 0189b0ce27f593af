//! Reaching the server: its name resolved (or taken from `--resolve`),
//! the TCP connection opened, directly or as a tunnel through a proxy
//! (`proxy`), within `--connect-timeout`, and the first bytes the server
//! sends kept aside. Each failure gets its own kind (an unknown host, a
//! refused connection, a proxy's refusal), and a failed handshake can tell
//! whether the server spoke TLS, so a `ws://`/`wss://` mix-up is named
//! instead of retried.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::connect::RemoteUrl;
use super::proxy::{self, ProxyUrl};
use super::route::Route;
use crate::error::{Error, Result};

/// How many of the server's first bytes are kept: enough for a TLS record
/// header and for `HTTP/`.
const HEAD_LEN: usize = 5;

/// Reach `url`'s host and port as `route` says: through its proxy for the
/// URL, or directly; within its connect timeout (a time-out is a network
/// failure).
pub async fn open(url: &RemoteUrl, route: &Route) -> Result<Recorded<TcpStream>> {
    let reaching = async {
        match route.proxies.for_url(url) {
            Some(proxy) => through(url, proxy, route).await,
            None => direct((url.host(), url.port()), "server", route).await,
        }
    };
    let stream = match route.connect_timeout {
        None => reaching.await?,
        Some(limit) => tokio::time::timeout(limit, reaching).await.map_err(|_| {
            Error::Network(format!(
                "{url}: no connection within {}s (--connect-timeout)",
                limit.as_secs_f64()
            ))
        })??,
    };
    let _ = stream.set_nodelay(true);
    Ok(Recorded::new(stream))
}

/// A tunnel to `url` through `proxy`. A proxy that cannot be reached is a
/// network failure (retried): the proxy, not the server, is named.
async fn through(url: &RemoteUrl, proxy: &ProxyUrl, route: &Route) -> Result<TcpStream> {
    tracing::debug!(%proxy, "connecting through a proxy");
    let mut stream = direct((&proxy.host, proxy.port), "proxy", route)
        .await
        .map_err(|e| match e {
            Error::ConnectionRefused(_) | Error::Network(_) => {
                Error::Network(format!("proxy {proxy}: cannot connect to the proxy: {e}"))
            }
            Error::UnknownHost(m) => Error::UnknownHost(format!("proxy {proxy}: {m}")),
            other => other,
        })?;
    let local = || async {
        let addrs = addresses(url.host(), url.port(), route).await?;
        addrs
            .first()
            .copied()
            .ok_or_else(|| Error::UnknownHost(format!("cannot resolve host '{}'", url.host())))
    };
    proxy::tunnel(&mut stream, proxy, url, local).await?;
    Ok(stream)
}

/// The addresses of `host:port`: `--resolve`'s, else the resolver's (at
/// least one). A name that does not resolve is [`Error::UnknownHost`].
async fn addresses(host: &str, port: u16, route: &Route) -> Result<Vec<SocketAddr>> {
    if let Some(addrs) = route.overridden(host, port) {
        return Ok(addrs);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(format!("{host}:{port}"))
        .await
        .map_err(|e| unknown_host(host, &e))?
        .collect();
    if addrs.is_empty() {
        return Err(Error::UnknownHost(format!(
            "cannot resolve host '{host}': it has no address"
        )));
    }
    Ok(addrs)
}

/// Resolve `host` and connect to the first of its addresses that accepts.
/// When an address refused the connection and none accepted,
/// [`Error::ConnectionRefused`], naming what should be listening (`role`:
/// the server, or the proxy).
async fn direct((host, port): (&str, u16), role: &str, route: &Route) -> Result<TcpStream> {
    let mut refused = false;
    let mut last = None;
    for addr in addresses(host, port, route).await? {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                refused |= e.kind() == io::ErrorKind::ConnectionRefused;
                last = Some(e);
            }
        }
    }
    if refused {
        return Err(Error::ConnectionRefused(format!(
            "connection refused: is the {role} running on {host}:{port}?"
        )));
    }
    Err(Error::Network(match last {
        Some(e) => format!("{host}:{port}: {e}"),
        None => format!("{host}:{port}: no address to connect to"),
    }))
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
