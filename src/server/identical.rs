//! Whether a client already holds the server's file: the check behind
//! `get`'s `have` and `put`'s `sha256`. The server's digest comes from its
//! hash cache or, the first time, from reading the file once on a blocking
//! thread (pinging the client meanwhile, as a listing does); what that
//! read learns (the digest, and the chaining values when they fit) goes
//! into the cache, so a download that follows does not hash again.

use crate::transfer::body::Body;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Sink;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::context::Context;
use super::refusal::{Refusal, send_frame};
use crate::attrs::FileAttrs;
use crate::chain::{ChainHasher, ChainState, digest_from_hex};
use crate::protocol::ErrorCode;
use crate::transfer::sender::FileHashes;

/// How often the client is pinged while the file is read: often enough for
/// any client silence time-out above a second or two.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Read size while hashing.
const READ_SIZE: u64 = 256 * 1024;

/// The file a client's digest is compared with.
pub struct Candidate<'a> {
    /// What the file is read from.
    pub file: &'a Body,
    /// Its etag when it was opened.
    pub etag: &'a str,
    /// Its size then.
    pub size: u64,
    /// The chunk size whose chaining values are worth collecting.
    pub chunk_size: u64,
}

impl<'a> Candidate<'a> {
    /// The file `download` opened, with the chunk size of the request.
    pub fn of(download: &'a crate::storage::Download, chunk_size: u64) -> Candidate<'a> {
        Candidate {
            file: &download.file,
            etag: &download.etag,
            size: download.size,
            chunk_size,
        }
    }
}

/// A client's digest, checked: 64 hex characters.
pub fn parse_digest(hex: &str) -> Result<[u8; 32], Refusal> {
    digest_from_hex(hex).ok_or_else(|| {
        Refusal::new(
            ErrorCode::BadRequest,
            "sha256 must be 64 hexadecimal digits",
        )
    })
}

/// Whether `file` holds exactly the `size` bytes whose SHA-256 is `digest`.
pub async fn holds<K>(
    ctx: &Arc<Context>,
    sink: &mut K,
    file: &Candidate<'_>,
    size: u64,
    digest: [u8; 32],
) -> Result<bool, Refusal>
where
    K: Sink<WsMessage> + Unpin,
{
    if size != file.size {
        return Ok(false);
    }
    Ok(server_digest(ctx, sink, file).await? == Some(digest))
}

/// The file's digest: cached, or read once. `None` when the file changed
/// while it was read (then nothing is cached). Concurrent checks (and
/// listings) of one file version share one read
/// ([`super::cache::HashCache::flight`]).
pub async fn server_digest<K>(
    ctx: &Arc<Context>,
    sink: &mut K,
    file: &Candidate<'_>,
) -> Result<Option<[u8; 32]>, Refusal>
where
    K: Sink<WsMessage> + Unpin,
{
    if let Some(digest) = ctx.hashes.digest(file.etag).await {
        return Ok(Some(digest));
    }
    let turn = ctx.hashes.flight(file.etag).lock_owned();
    let _turn = pinging(ctx, sink, turn).await?;
    let handle = file.file.clone();
    let (read_ctx, etag) = (ctx.clone(), file.etag.to_string());
    let (size, chunk_size) = (file.size, file.chunk_size);
    let read =
        tokio::task::spawn_blocking(move || learn(&read_ctx, &handle, &etag, size, chunk_size));
    pinging(ctx, sink, read)
        .await?
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
}

/// Await `work`, pinging the client meanwhile so its silence time-out
/// holds off.
async fn pinging<K, F>(ctx: &Context, sink: &mut K, work: F) -> Result<F::Output, Refusal>
where
    K: Sink<WsMessage> + Unpin,
    F: std::future::Future,
{
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            () = tokio::time::sleep(PING_EVERY) => {
                send_frame(sink, WsMessage::Ping(bytes::Bytes::new()), ctx.limits.idle_timeout).await?;
            }
        }
    }
}

/// With the file's turn held: the digest another pass just cached, or
/// else read the file once and cache what the read learnt (the digest,
/// and the chaining values when they fit) if the file did not change
/// meanwhile. Blocks.
fn learn(ctx: &Context, file: &Body, etag: &str, size: u64, chunk_size: u64) -> Option<[u8; 32]> {
    if let Some(digest) = ctx.hashes.digest_blocking(etag) {
        return Some(digest);
    }
    let read = hash_file(file, size, chunk_size, ctx.hashes.max_states())
        .and_then(|hashes| Ok((hashes, etag_now(file, etag)?)));
    let ((states, digest), etag_after) = match read {
        Ok(read) => read,
        // Shrunk or unreadable now: not the file the etag named.
        Err(e) => {
            tracing::debug!("hashing {etag} failed: {e}");
            return None;
        }
    };
    if etag_after != etag {
        return None;
    }
    match states {
        Some(states) => ctx
            .hashes
            .insert(etag, chunk_size, FileHashes { states, digest }),
        None => ctx.hashes.insert_digest(etag, digest),
    }
    Some(digest)
}

/// For a small file, on a blocking thread (no pings needed): whether the
/// target of `rel` holds exactly `size` bytes whose SHA-256 is `digest`
/// (cached, or read once and cached); if so it is given `attrs`.
pub fn holds_small(
    ctx: &Context,
    rel: &crate::paths::RelPath,
    size: u64,
    digest: [u8; 32],
    attrs: FileAttrs,
) -> bool {
    let Ok(target) = ctx.storage.open_download(rel) else {
        return false;
    };
    if target.size != size {
        return false;
    }
    let known = match ctx.hashes.digest_blocking(&target.etag) {
        Some(known) => known,
        None => match hash_file(&target.file, size, crate::protocol::MAX_CHUNK, 0) {
            Ok((_, read)) => {
                ctx.hashes.insert_small_digest(&target.etag, read);
                read
            }
            Err(_) => return false,
        },
    };
    if known != digest {
        return false;
    }
    settle(ctx, &target.file, &target.etag, attrs, digest);
    true
}

/// The etag of `file` now: a local file's from its metadata; a ranged
/// body reads one version only (its reads fail once it changed), so it
/// still has `etag`.
fn etag_now(file: &Body, etag: &str) -> std::io::Result<String> {
    match file.as_file() {
        Some(file) => Ok(crate::storage::etag(&file.metadata()?)),
        None => Ok(etag.to_string()),
    }
}

/// Read `size` bytes of `file` once: the digest, and the chaining value at
/// every chunk boundary below the end while there are at most `collect`.
fn hash_file(
    file: &Body,
    size: u64,
    chunk_size: u64,
    collect: usize,
) -> std::io::Result<(Option<Vec<ChainState>>, [u8; 32])> {
    let mut hasher = ChainHasher::default();
    let mut states = Some(Vec::new());
    let mut buf = vec![0u8; READ_SIZE as usize];
    let mut pos = 0;
    while pos < size {
        let boundary = (pos / chunk_size + 1) * chunk_size;
        let want = READ_SIZE.min(boundary - pos).min(size - pos) as usize;
        let got = file.read_at(&mut buf[..want], pos)?;
        if got == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&buf[..got]);
        pos += got as u64;
        if pos.is_multiple_of(chunk_size) && pos < size {
            states = states.filter(|s| s.len() < collect).map(|mut s| {
                s.extend(hasher.state());
                s
            });
        }
    }
    Ok((states, hasher.finalize()))
}

/// Give a file the server already holds the attributes an upload asked for
/// (only those that differ, since every change moves its ctime), and keep
/// its digest under the etag it has afterwards. A body that is not a
/// local file keeps its attributes and its `etag`.
pub fn settle(ctx: &Context, body: &Body, etag: &str, attrs: FileAttrs, digest: [u8; 32]) {
    let Some(file) = body.as_file() else {
        ctx.hashes.insert_digest(etag, digest);
        return;
    };
    let result = file.metadata().and_then(|meta| {
        if !attrs.matches(&meta) {
            attrs.apply(file)?;
        }
        file.metadata()
    });
    match result {
        Ok(meta) => ctx
            .hashes
            .insert_digest(&crate::storage::etag(&meta), digest),
        Err(e) => tracing::warn!("setting the time or mode of an identical upload: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_read_gives_the_digest_and_the_chunk_states() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|j| (j % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = Body::file(std::fs::File::open(&path).unwrap());
        // The worked example of PROTOCOL.md section 4.
        let (states, digest) = hash_file(&file, 10_000, 4096, 10).unwrap();
        let states: Vec<String> = states.unwrap().iter().map(ChainState::to_hex).collect();
        assert_eq!(
            states,
            [
                "5b452dad7f21081813415bae079c788733c0d18adea11f88ab661f62ddb3cb8b",
                "e50122aefe3deb94e484113dec78b7227eda71fdba2f8b5bae63aae0aa965f4e"
            ]
        );
        assert_eq!(
            crate::chain::hex(&digest),
            "0cd0bf930677960951dda8588edcb6b293c0c3b26ef3ba72cddff4ddfc6822c7"
        );
        let (states, again) = hash_file(&file, 10_000, 4096, 1).unwrap();
        assert_eq!((states, again), (None, digest), "too many states to keep");
        assert!(hash_file(&file, 20_000, 4096, 10).is_err(), "shorter file");
        let (states, empty) = hash_file(&file, 0, 4096, 10).unwrap();
        assert_eq!(states, Some(vec![]));
        assert_eq!(
            crate::chain::hex(&empty),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
