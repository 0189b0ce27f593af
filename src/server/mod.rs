//! The server: an accept loop capped by a semaphore, one task per connection,
//! and a broadcast that drains every connection on shutdown (each holds a
//! [`shutdown::Shutdown`]).
//!
//! A connection ([`connection`]) is a WebSocket handshake (subprotocol,
//! origin and token checked: the token's grant, [`crate::auth`], goes with
//! the connection and [`scope`] checks each request against it), then one
//! request ([`request::Request`]: `get`, `put` or
//! `list`) and its handler (`wsresume.v1`), or a session of many
//! ([`session`], `wsresume.v2`); whatever ends it is logged in one place,
//! [`Server::spawn_connection`].

mod batch;
mod busy;
mod cache;
mod chains;
mod connection;
mod context;
mod download;
mod eager;
mod forwarded;
mod frames;
mod handshake;
mod http;
mod identical;
mod idle;
mod listing;
mod origin;
mod refusal;
mod request;
mod scope;
mod session;
mod shutdown;
mod small;
mod translog;
mod upload;
mod writers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc};

pub use cache::HashCache;
pub use context::{Context, ServerLimits};
use shutdown::Shutdown;
pub use writers::Writers;

/// Who may connect and how: the bearer tokens and what each may do, the
/// TLS acceptor, and the reverse proxies whose word on the client's
/// address is taken.
#[derive(Clone, Default)]
pub struct Access {
    /// Require `Authorization: Bearer TOKEN` with one of these tokens
    /// (`--token`: one with every right; `--tokens FILE`: each with its
    /// rights and paths).
    pub tokens: Option<Arc<crate::auth::Tokens>>,
    /// Serve `wss://`.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Peers in these ranges are proxies: the client address their
    /// `Forwarded`/`X-Forwarded-For` names goes into the connection's log
    /// lines (`client=`); other peers' headers are ignored.
    pub trusted_proxies: Vec<crate::cidr::Cidr>,
}

struct Server {
    listener: TcpListener,
    ctx: Arc<Context>,
    access: Access,
    permits: Arc<Semaphore>,
    notify_shutdown: broadcast::Sender<()>,
    drained: mpsc::Sender<()>,
}

/// Serve connections from `listener` until `shutdown` completes, then tell
/// every client the server is going away and wait for their sessions to
/// commit what they verified.
pub async fn run(listener: TcpListener, ctx: Context, access: Access, shutdown: impl Future) {
    let (notify_shutdown, _) = broadcast::channel(1);
    let (drained, mut all_drained) = mpsc::channel(1);
    let mut server = Server {
        listener,
        permits: Arc::new(Semaphore::new(ctx.limits.max_connections)),
        ctx: Arc::new(ctx),
        access,
        notify_shutdown,
        drained,
    };
    let sweeper = tokio::spawn(expire_abandoned(
        server.ctx.clone(),
        server.ctx.limits.upload_expiry,
    ));
    tokio::select! {
        () = server.accept_loop() => {}
        _ = shutdown => tracing::info!("shutting down"),
    }
    sweeper.abort();
    let Server {
        notify_shutdown,
        drained,
        ..
    } = server;
    drop(notify_shutdown);
    drop(drained);
    let _ = all_drained.recv().await;
}

impl Server {
    async fn accept_loop(&mut self) {
        let bouncer = busy::Bouncer::default();
        loop {
            let stream = self.accept().await;
            self.ctx.writers.prune();
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => self.spawn_connection(stream, permit),
                Err(_) => {
                    let max = self.ctx.limits.max_connections;
                    tracing::warn!("refusing a connection: {max} served");
                    bouncer.refuse(stream, max);
                }
            }
        }
    }

    /// Accept the next connection, backing off (up to 1 s) on errors such as
    /// running out of file descriptors instead of giving up.
    async fn accept(&mut self) -> TcpStream {
        let mut backoff = Duration::from_millis(5);
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => return stream,
                Err(e) => {
                    tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    fn spawn_connection(&self, stream: TcpStream, permit: tokio::sync::OwnedSemaphorePermit) {
        let ctx = self.ctx.clone();
        let access = self.access.clone();
        let mut shutdown = Shutdown::new(self.notify_shutdown.subscribe());
        let drained = self.drained.clone();
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let task = async move {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let _ = stream.set_nodelay(true);
            let mut log = translog::TransferLog::new(peer);
            let result = connection::serve(stream, &ctx, &access, &mut shutdown, &mut log).await;
            log.finish(&result);
            drop(permit);
            drop(drained);
        };
        tokio::spawn(tracing::Instrument::instrument(
            task,
            // `client`: recorded by the upgrade when a trusted proxy names
            // one; `token`: the name of the token presented.
            tracing::info_span!(
                "conn",
                id,
                client = tracing::field::Empty,
                token = tracing::field::Empty
            ),
        ));
    }
}

/// Connections the kernel queues before the accept loop takes them: a burst
/// of clients beyond the default 128 would otherwise have their first packet
/// dropped and retry after a second or more (the kernel caps this at
/// `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

/// Listen on `address` (`host:port`, the first address it resolves to).
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    let addr = tokio::net::lookup_host(address)
        .await?
        .next()
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the address resolves to nothing",
            )
        })?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Expire abandoned partial uploads now and then every quarter of the expiry
/// time (between 1 s and 1 h).
async fn expire_abandoned(ctx: Arc<Context>, max_age: Duration) {
    let every = (max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let ctx = ctx.clone();
        let swept = tokio::task::spawn_blocking(move || {
            let writers = ctx.writers.clone();
            let mut hold = |target: &str| {
                writers
                    .try_hold(target)
                    .map(|g| Box::new(g) as Box<dyn Send>)
            };
            ctx.storage.sweep_expired(max_age, &mut hold)
        })
        .await;
        match swept {
            Ok(Ok(s)) if s.expired + s.markers_removed > 0 => tracing::info!(
                "expiry: {} abandoned uploads expired, {} old markers removed",
                s.expired,
                s.markers_removed
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("expiry sweep failed: {e}"),
            Err(e) => tracing::warn!("expiry sweep failed: {e}"),
        }
    }
}
