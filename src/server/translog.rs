//! The server's log of transfers: one `info` line per connection that made
//! a request (who, what, bytes, where it resumed, how it ended, how long),
//! and a connection id on every line logged while serving it.

use std::time::{Duration, Instant};

use super::session::Refusal;
use crate::protocol::Message;
use crate::report::human_bytes;

/// What a finished request moved.
pub struct Moved {
    /// The path under ROOT.
    pub path: String,
    /// Bytes the file has.
    pub size: u64,
    /// Where this connection started (what was already there).
    pub offset: u64,
    /// The SHA-256, when known.
    pub sha256: Option<String>,
    /// Entries sent (a listing).
    pub entries: Option<usize>,
    /// The client already held the file: nothing moved.
    pub skipped: bool,
}

impl From<super::download::Served> for Moved {
    fn from(s: super::download::Served) -> Moved {
        Moved {
            path: s.path,
            size: s.size,
            offset: s.offset,
            sha256: None,
            entries: None,
            skipped: s.skipped,
        }
    }
}

impl From<super::upload::Stored> for Moved {
    fn from(s: super::upload::Stored) -> Moved {
        Moved {
            path: s.path,
            size: s.size,
            offset: s.offset,
            sha256: Some(s.sha256),
            entries: None,
            skipped: s.skipped,
        }
    }
}

/// One connection's record, logged when it ends.
pub struct TransferLog {
    peer: String,
    started: Instant,
    what: Option<String>,
}

impl TransferLog {
    /// A connection from `peer` begins.
    pub fn new(peer: String) -> TransferLog {
        TransferLog {
            peer,
            started: Instant::now(),
            what: None,
        }
    }

    /// The request arrived.
    pub fn request(&mut self, message: &Message) {
        self.what = Some(match message {
            Message::Get { path, resume, .. } => match resume {
                Some(r) => format!("get {path} (resume at {})", r.offset),
                None => format!("get {path}"),
            },
            Message::Put { path, size, .. } => format!("put {path} ({})", human_bytes(*size)),
            Message::List { path, .. } => format!("list {path}"),
            other => other.kind().to_string(),
        });
    }

    /// Log how the connection ended.
    pub fn finish(&self, result: &Result<Moved, Refusal>) {
        let what = self.what.as_deref().unwrap_or("connection");
        let took = secs(self.started.elapsed());
        let peer = &self.peer;
        match result {
            Ok(Moved {
                entries: Some(n), ..
            }) => tracing::info!(peer, "{what}: ok, {n} entries in {took}"),
            Ok(moved) => {
                let op = what.split(' ').next().unwrap_or(what);
                let path = &moved.path;
                let bytes = moved.size.saturating_sub(moved.offset);
                let resumed = match moved.offset {
                    _ if moved.skipped => ", identical: nothing to send".to_string(),
                    0 => String::new(),
                    o => format!(", resumed from {}", human_bytes(o)),
                };
                let sha = moved
                    .sha256
                    .as_deref()
                    .map(|s| format!(", sha256 {s}"))
                    .unwrap_or_default();
                tracing::info!(
                    peer,
                    bytes,
                    "{op} {path}: ok, {} of {}{resumed} in {took}{sha}",
                    human_bytes(bytes),
                    human_bytes(moved.size),
                );
            }
            Err(refusal) => tracing::warn!(
                peer,
                "{what}: {:?}: {} (after {took})",
                refusal.code,
                refusal.message
            ),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
