//! The server's log of transfers: one `info` line per request (who, what,
//! bytes, where it resumed, how it ended, how long; a v1 connection makes
//! one request, a session many, and ends with a line of its own), and a
//! connection id on every line logged while serving it, with the name of
//! the token it presented (`token="ci"`; never the token itself).

use std::time::{Duration, Instant};

use super::refusal::Refusal;
use super::request::Request;
use crate::auth::Grant;
use crate::report::human_bytes;

/// Name the connection's token (from a tokens file) on its span, so
/// every line logged while serving it says `token="NAME"`.
pub fn record_token(grant: &Grant) {
    if let Some(name) = &grant.name {
        tracing::Span::current().record("token", name.as_str());
    }
}

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

impl Moved {
    /// A session's result: what it moved was logged request by request.
    pub fn session() -> Moved {
        Moved {
            path: String::new(),
            size: 0,
            offset: 0,
            sha256: None,
            entries: None,
            skipped: false,
        }
    }
}

/// One connection's record, logged when it ends.
pub struct TransferLog {
    peer: String,
    started: Instant,
    what: Option<String>,
    /// The current request's start.
    request_started: Instant,
    /// A session's requests so far, and how many were refused.
    session: Option<(u64, u64)>,
}

impl TransferLog {
    /// A connection from `peer` begins.
    pub fn new(peer: String) -> TransferLog {
        TransferLog {
            peer,
            started: Instant::now(),
            what: None,
            request_started: Instant::now(),
            session: None,
        }
    }

    /// The connection is a session: each request is logged as it ends.
    pub fn begin_session(&mut self) {
        self.session = Some((0, 0));
    }

    /// A session's request ended: log it as a connection's is.
    pub fn answered(&mut self, result: &Result<Moved, Refusal>) {
        self.line(result, self.request_started.elapsed());
        if let Some((requests, refused)) = &mut self.session {
            *requests += 1;
            *refused += u64::from(result.is_err());
        }
        self.what = None;
    }

    /// The request arrived.
    pub fn request(&mut self, request: &Request) {
        self.request_started = Instant::now();
        self.what = Some(match request {
            Request::Get(get) => match &get.resume {
                Some(r) => format!("get {} (resume at {})", get.path, r.offset),
                None => format!("get {}", get.path),
            },
            Request::Put(put) => format!("put {} ({})", put.path, human_bytes(put.size)),
            Request::List(list) => format!("list {}", list.path),
        });
    }

    /// A plain HTTP request arrived (`what`: method and path).
    pub fn plain_http(&mut self, what: String) {
        self.request_started = Instant::now();
        self.what = Some(what);
    }

    /// Log how the connection ended.
    pub fn finish(&self, result: &Result<Moved, Refusal>) {
        let Some((requests, refused)) = self.session else {
            return self.line(result, self.started.elapsed());
        };
        let took = secs(self.started.elapsed());
        let peer = &self.peer;
        let how = match result {
            Ok(_) => "closed".to_string(),
            Err(refusal) => format!("ended by {:?}: {}", refusal.code, refusal.message),
        };
        tracing::info!(
            peer,
            "session: {requests} requests ({refused} refused), {how}, after {took}"
        );
    }

    /// The line of one request (or a connection that made none).
    fn line(&self, result: &Result<Moved, Refusal>, took: Duration) {
        let what = self.what.as_deref().unwrap_or("connection");
        let took = secs(took);
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
