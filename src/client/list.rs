//! `list`: ask the server what is at a directory URL and hand each entry to
//! the caller as it arrives. Retried like a transfer until the first entry
//! arrived (after that a retry would repeat entries).

use futures_util::{SinkExt, StreamExt};
use tracing::Instrument;

use super::connect::RemoteUrl;
use super::retry::Retrier;
use super::{ClientOptions, Frame, Liveness, classify, ping, send_text};
use crate::error::{Error, Result};
use crate::progress::FileProgress;
use crate::protocol::{ListEntry, Message};

/// The most entries a client accepts from one listing.
const MAX_ENTRIES: u64 = crate::protocol::MAX_LIST_ENTRIES as u64;

/// How a listing ended.
#[derive(Debug, Clone, Copy)]
pub struct Listed {
    /// Entries received.
    pub count: u64,
    /// The server left entries out.
    pub truncated: bool,
}

/// What to list.
#[derive(Debug, Clone, Copy)]
pub struct ListRequest {
    /// Walk subdirectories (files only).
    pub recursive: bool,
    /// Ask for each file's SHA-256.
    pub sha256: bool,
}

/// List `url`, calling `on_entry` for each entry in path order.
pub async fn list(
    opts: &ClientOptions,
    url: &RemoteUrl,
    request: ListRequest,
    progress: &FileProgress,
    on_entry: &mut dyn FnMut(ListEntry),
) -> Result<Listed> {
    let mut retrier = Retrier::new(opts, progress.clone());
    loop {
        let mut count = 0;
        let span = tracing::info_span!("conn", n = retrier.attempts());
        let result = attempt(opts, url, request, &mut count, on_entry)
            .instrument(span)
            .await;
        match result {
            Ok(listed) => return Ok(listed),
            Err(e) if count > 0 => return Err(e),
            Err(e) => retrier.failed(e, false).await?,
        }
    }
}

async fn attempt(
    opts: &ClientOptions,
    url: &RemoteUrl,
    request: ListRequest,
    count: &mut u64,
    on_entry: &mut dyn FnMut(ListEntry),
) -> Result<Listed> {
    let ws = super::connect_logged(url, opts).await?;
    let (mut sink, mut stream) = ws.split();
    let message = Message::List {
        path: url.path().to_string(),
        recursive: request.recursive,
        sha256: request.sha256,
    };
    send_text(&mut sink, &message).await?;
    let mut live = Liveness::new(opts.timeout);
    let listed = loop {
        tokio::select! {
            frame = stream.next() => {
                live.heard();
                match classify(frame)? {
                    Frame::Control(Message::Entries { entries }) => {
                        *count += entries.len() as u64;
                        if *count > MAX_ENTRIES {
                            return Err(Error::Protocol(format!("more than {MAX_ENTRIES} entries")));
                        }
                        entries.into_iter().for_each(&mut *on_entry);
                    }
                    Frame::Control(Message::Listed { count: sent, truncated }) if sent == *count => {
                        break Listed { count: sent, truncated };
                    }
                    Frame::Control(other) => {
                        return Err(Error::Protocol(format!("unexpected {} message in a listing", other.kind())));
                    }
                    Frame::Data(_) => return Err(Error::Protocol("data in a listing".into())),
                    Frame::Keepalive => {}
                }
            }
            tick = live.tick() => {
                tick?;
                ping(&mut sink).await;
            }
        }
    };
    let _ = tokio::time::timeout(opts.timeout, sink.send(super::normal_close())).await;
    Ok(listed)
}
