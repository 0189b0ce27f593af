//! wsresume: move files over WebSocket and never lose progress.
//!
//! # Layout
//! - [`cli`] parses the command line; [`config`] validates it into settings.
//! - [`commands`] runs each subcommand: the edge where arguments are
//!   parsed, results printed and errors get their exit code.
//! - [`jobs`] turns settings into client options once and runs one file,
//!   several files or a tree, either way, calling the [`client`].
//! - [`client`] (`get`, `send`) and [`server`] speak the [`protocol`].
//! - [`transfer`] is the engine both use: a sender that hashes each byte once
//!   and a receiver that verifies chunks against its own running hash.
//! - [`chain`] is the resumable SHA-256 whose chaining values are the
//!   per-chunk check values; [`partial`] keeps verified chunks durable.
//! - [`storage`] is the server's narrow storage interface; [`paths`] keeps
//!   every request under ROOT.
//! - [`error`] holds the error kinds and the one mapping to exit codes.
//! - [`tls`] sets up rustls for both ends; [`expiry`] removes abandoned
//!   partial uploads.
//! - [`digests`] is the client's cache of file digests (re-runs skip what
//!   the other side already holds); [`attrs`] carries mtimes and modes.
//! - [`walk`] is the one bounded directory walker.
//! - [`backoff`], [`color`], [`progress`], [`ratelimit`] and [`report`] are
//!   small helpers.

pub mod attrs;
pub mod auth;
pub mod backoff;
pub mod chain;
pub mod cidr;
pub mod cli;
pub mod client;
pub mod color;
pub mod commands;
pub mod config;
pub mod digests;
pub mod error;
pub mod expiry;
pub mod jobs;
pub mod partial;
pub mod paths;
pub mod progress;
pub mod protocol;
pub mod ratelimit;
pub mod report;
pub mod server;
pub mod storage;
pub mod tls;
pub mod transfer;
pub mod walk;

use percent_encoding::{AsciiSet, CONTROLS};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// `--version`: the crate version and the protocol it speaks.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (protocol wsresume.v2, wsresume.v1)"
);

/// Characters percent-encoded when a file name becomes a URL path segment.
pub const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// WebSocket limits for both sides: frames and messages capped, write
/// buffer bounded.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(protocol::MAX_MESSAGE))
        .max_frame_size(Some(protocol::MAX_MESSAGE))
        .max_write_buffer_size(4 * protocol::MAX_MESSAGE)
}
