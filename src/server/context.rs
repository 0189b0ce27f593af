//! What every connection of a running server shares: the storage, the
//! writer registry, the hash cache, and the limits it runs with.

use std::sync::Arc;
use std::time::Duration;

use super::cache::HashCache;
use super::writers::Writers;
use crate::storage::Storage;

/// Settings and shared services of a running server.
pub struct Context {
    /// Where files live.
    pub storage: Arc<dyn Storage>,
    /// Active uploads.
    pub writers: Writers,
    /// Chaining values of files served whole.
    pub hashes: HashCache,
    /// Refuse uploads.
    pub read_only: bool,
    /// Connections, sizes and time-outs.
    pub limits: ServerLimits,
}

/// What the server allows: connections, sizes and time-outs.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Connections served at once; more are refused.
    pub max_connections: usize,
    /// Largest upload accepted.
    pub max_file_size: Option<u64>,
    /// Largest WebSocket frame and message accepted.
    pub max_message: usize,
    /// Time allowed from the TCP accept to the request message: TLS, the
    /// WebSocket upgrade and the request together.
    pub handshake_timeout: Duration,
    /// Drop a connection on which nothing arrives for this long.
    pub idle_timeout: Duration,
    /// Expire partial uploads untouched for this long.
    pub upload_expiry: Duration,
    /// Offer sessions (wsresume.v2) to clients that ask for them.
    pub sessions: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 4096,
            max_file_size: None,
            max_message: crate::protocol::MAX_MESSAGE,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            upload_expiry: Duration::from_secs(7 * 86_400),
            sessions: true,
        }
    }
}
