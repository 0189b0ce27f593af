//! `list`: ask the server what is at a directory URL and hand each entry to
//! the caller as it arrives. Retried like a transfer until the first entry
//! arrived (after that a retry would repeat entries).

use super::ClientOptions;
use super::connect::RemoteUrl;
use super::connection::{Connection, Frame};
use super::retry::{self, Attempts, Recovery};
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
    /// Ask for the SHA-256 of files whose digest the server knows without
    /// reading them (sent only to a server that speaks sessions).
    pub cached: bool,
}

/// List `url`, calling `on_entry` for each entry in path order.
pub async fn list(
    opts: &ClientOptions,
    url: &RemoteUrl,
    request: ListRequest,
    progress: &FileProgress,
    on_entry: &mut dyn FnMut(ListEntry),
) -> Result<Listed> {
    let mut listing = Listing {
        opts,
        url,
        request,
        count: 0,
        on_entry,
    };
    retry::run(opts, progress, &mut listing).await.result
}

/// One listing across its attempts.
struct Listing<'a> {
    opts: &'a ClientOptions,
    url: &'a RemoteUrl,
    request: ListRequest,
    /// Entries handed to `on_entry` by the current attempt.
    count: u64,
    on_entry: &'a mut dyn FnMut(ListEntry),
}

impl Attempts for Listing<'_> {
    type Output = Listed;

    async fn attempt(&mut self) -> Result<Listed> {
        self.count = 0;
        let mut conn = Connection::connect(self.url, self.opts).await?;
        conn.send_request(&Message::List {
            path: self.url.path().to_string(),
            recursive: self.request.recursive,
            sha256: self.request.sha256,
            cached: self.request.cached && conn.is_session(),
        })
        .await?;
        let listed = loop {
            match conn.read_frame().await? {
                Frame::Control(Message::Entries { entries }) => {
                    self.count += entries.len() as u64;
                    if self.count > MAX_ENTRIES {
                        return Err(Error::Protocol(format!("more than {MAX_ENTRIES} entries")));
                    }
                    entries.into_iter().for_each(&mut *self.on_entry);
                }
                Frame::Control(Message::Listed { count, truncated }) if count == self.count => {
                    break Listed { count, truncated };
                }
                Frame::Control(other) => {
                    return Err(Error::Protocol(format!(
                        "unexpected {} message in a listing",
                        other.kind()
                    )));
                }
                Frame::Data(_) => return Err(Error::Protocol("data in a listing".into())),
            }
        };
        conn.close().await;
        Ok(listed)
    }

    /// Entries already handed on would come again: only a listing that
    /// delivered none is retried.
    async fn after_failure(&mut self, error: Error) -> Recovery<Listed> {
        match self.count {
            0 => Recovery::Retry(error),
            _ => Recovery::Finished(Err(error)),
        }
    }
}
