//! The client: `get`, `send` and `list`, each a job of attempts that
//! [`retry::run`] drives, each attempt over one [`connection::Connection`].
//! This module holds what they share: options and the run's first-contact
//! state.

pub mod connect;
pub mod connection;
pub mod dial;
pub mod get;
pub mod list;
pub mod proxy;
mod retry;
pub mod route;
pub mod send;
pub mod session;
mod stdout;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Validated client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Bearer token.
    pub token: Option<String>,
    /// `--retries`.
    pub retries: u32,
    /// `--parallel`: session connections of a tree, and large files in
    /// flight at once.
    pub parallel: usize,
    /// `--retry-max-delay`.
    pub retry_max_delay: Duration,
    /// `--timeout`: silence after which a connection is dead.
    pub timeout: Duration,
    /// `--chunk-size`.
    pub chunk_size: u64,
    /// `-q`.
    pub quiet: bool,
    /// TLS settings for `wss://` URLs (system roots plus `--cacert`).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// `--progress`.
    pub progress: crate::progress::ProgressMode,
    /// `--limit-rate`: bytes per second per transfer.
    pub limit_rate: Option<u64>,
    /// `get --wait`: wait for another run's lock on the target instead of
    /// failing.
    pub wait_lock: bool,
    /// `--retry-connrefused`: retry refused connections patiently even
    /// before the first connection succeeded.
    pub retry_connrefused: bool,
    /// Whether a connection of this run has succeeded (shared by clones).
    pub contact: Contact,
    /// `-p/--preserve`: carry permission bits too (times always travel).
    pub preserve: bool,
    /// Proxies, `--resolve`, `--connect-timeout`.
    pub route: Arc<route::Route>,
    /// `--compress`: compressed data frames, when the server agrees.
    pub compress: crate::protocol::CompressMode,
}

/// Whether any connection of a run has completed its upgrade, and how many
/// quick retries of a refused first contact the run has used. Clones share
/// the state, so every transfer of one command sees the same answer.
#[derive(Debug, Clone, Default)]
pub struct Contact(Arc<ContactState>);

#[derive(Debug, Default)]
struct ContactState {
    made: AtomicBool,
    refused_retries: AtomicUsize,
    /// A connection found the server speaking only `wsresume.v1`.
    old_server: AtomicBool,
}

impl Contact {
    /// A connection completed its upgrade.
    pub fn made(&self) {
        self.0.made.store(true, Ordering::Relaxed);
    }

    /// Whether any connection completed its upgrade so far.
    pub fn was_made(&self) -> bool {
        self.0.made.load(Ordering::Relaxed)
    }

    /// A connection's upgrade told whether the server speaks sessions.
    pub fn spoke(&self, session: bool) {
        self.0.old_server.store(!session, Ordering::Relaxed);
    }

    /// Whether the last connection found a server without sessions (an
    /// old one): a tree then goes file by file without trying.
    pub fn old_server(&self) -> bool {
        self.0.old_server.load(Ordering::Relaxed)
    }

    /// Take the next quick retry of a refused first contact: how many the
    /// run took before this one.
    pub fn take_refused_retry(&self) -> usize {
        self.0.refused_retries.fetch_add(1, Ordering::Relaxed)
    }
}
