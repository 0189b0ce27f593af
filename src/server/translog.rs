//! The server's log of transfers: one `info` line per connection that made
//! a request (who, what, bytes, where it resumed, how it ended, how long),
//! and a connection id on every line logged while serving it.

use std::time::{Duration, Instant};

use super::refusal::Refusal;
use super::request::Request;
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
    pub fn request(&mut self, request: &Request) {
        self.what = Some(match request {
            Request::Get(get) => match &get.resume {
                Some(r) => format!("get {} (resume at {})", get.path, r.offset),
                None => format!("get {}", get.path),
            },
            Request::Put(put) => format!("put {} ({})", put.path, human_bytes(put.size)),
            Request::List(list) => format!("list {}", list.path),
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
