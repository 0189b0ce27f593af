//! Plain HTTP on the WebSocket port: a request without the upgrade (curl,
//! wget, a browser) gets HTTP/1.1, one answer per connection
//! (`Connection: close`). `GET`/`HEAD` of a file: `200`, or `206` for one
//! byte range, `416` out of range, `304` for a matching `If-None-Match`,
//! with `ETag`, `Last-Modified`, `Accept-Ranges` and `Repr-Digest` when the
//! hash cache knows the file's SHA-256 (never computed here). A directory:
//! the HTML index or, with `Accept: application/json`, the JSON listing.
//! Other methods: `405`. The paths are the protocol's (partial and state
//! files never served, nothing outside ROOT), the tokens the upgrade's
//! (`Authorization: Bearer`; `401` without a valid one): a file needs the
//! token's `read` right on it, an index its `list` right (`403` without).
//!
//! The request head was read by the handshake within its deadline; the
//! answer is written with every write bounded by the idle time-out
//! ([`send`]), and a shutdown drops the connection.

mod assets;
mod index;
mod ranges;
mod request;
mod send;

use std::sync::Arc;

use base64::Engine;
use tokio::io::{AsyncRead, AsyncWrite};

use super::context::Context;
use super::refusal::Refusal;
use super::shutdown::Shutdown;
use super::translog::{Moved, TransferLog};
use crate::auth::{Grant, Right, Tokens};
use crate::paths::{PathError, RelPath};
use crate::protocol::ErrorCode;
use crate::storage::{Download, ListOptions, StorageError};
use request::PlainRequest;
use send::Head;

/// A refused request: its status, reason phrase and the line of text sent.
struct Failure {
    status: u16,
    reason: &'static str,
    message: String,
}

impl Failure {
    fn new(status: u16, reason: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            reason,
            message: message.into(),
        }
    }
}

/// Who may ask: the bearer tokens accepted, if any, and the proxy ranges
/// whose forwarding headers are believed (empty unless the peer is in
/// them).
#[derive(Clone, Copy)]
pub struct Terms<'a> {
    /// `Authorization: Bearer TOKEN` required, with one of these.
    pub tokens: Option<&'a Tokens>,
    /// Trusted proxies, for the client's address in the logs.
    pub trusted: &'a [crate::cidr::Cidr],
}

/// Answer the plain HTTP request whose head (and whatever followed it) is
/// `head`, then close.
pub async fn serve<S>(
    mut stream: S,
    head: &[u8],
    ctx: &Arc<Context>,
    terms: Terms<'_>,
    shutdown: &mut Shutdown,
    log: &mut TransferLog,
) -> Result<Moved, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limit = ctx.limits.idle_timeout;
    let Some(request) = PlainRequest::parse(head) else {
        let failure = Failure::new(400, "Bad Request", "not an HTTP request");
        return fail(&mut stream, &failure, limit).await;
    };
    record_client(&request, terms.trusted);
    log.plain_http(format!("{} {} (http)", request.method, request.path));
    let tokens = terms.tokens;
    tokio::select! {
        result = respond(&mut stream, &request, ctx, tokens) => result,
        refusal = shutdown.going_away() => Err(refusal),
    }
}

async fn respond<S>(
    stream: &mut S,
    request: &PlainRequest,
    ctx: &Arc<Context>,
    tokens: Option<&Tokens>,
) -> Result<Moved, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limit = ctx.limits.idle_timeout;
    if assets::is_asset(&request.path) {
        return assets::serve(stream, request, limit).await;
    }
    let target = authorize(request, tokens).and_then(|grant| {
        allowed_method(request)?;
        let (rel, dir_form) = parse_target(&request.path)?;
        permit(&grant, &[Right::Read, Right::List], &rel)?;
        Ok((grant, rel, dir_form))
    });
    let (grant, rel, dir_form) = match target {
        Ok(target) => target,
        Err(f) if f.status == 401 && wants_page(request) => {
            return token_page(stream, request, ctx, &f).await;
        }
        Err(failure) => return fail(stream, &failure, limit).await,
    };
    // Rights hold on the path as written and where it leads.
    let allowed = match super::scope::real_path(ctx, &grant, &rel).await {
        Ok(real) => Allowed { grant, rel, real },
        Err(refusal) => {
            let failure = Failure::new(403, "Forbidden", refusal.message);
            return fail(stream, &failure, limit).await;
        }
    };
    let rel = &allowed.rel;
    // A directory's index needs `list` there.
    let links_within = !allowed.grant.unscoped();
    let index = async |stream: &mut S| match allowed.permit(&[Right::List]) {
        Ok(()) => serve_index(stream, request, ctx, (rel, links_within)).await,
        Err(failure) => fail(stream, &failure, limit).await,
    };
    match open_file(ctx, rel).await? {
        Ok(download) => match allowed.permit(&[Right::Read]) {
            Ok(()) => serve_file(stream, request, ctx, rel, download).await,
            Err(failure) => fail(stream, &failure, limit).await,
        },
        Err(StorageError::IsDirectory(_)) => index(stream).await,
        Err(StorageError::NotFound(_)) if dir_form => index(stream).await,
        Err(e) => fail(stream, &storage_failure(rel, e), limit).await,
    }
}

/// What a request's token may do, on its path as written and, for a token
/// limited to some paths, where that path really leads.
struct Allowed {
    grant: Grant,
    rel: RelPath,
    real: Option<RelPath>,
}

impl Allowed {
    /// `403` unless the grant has one of `rights` on both paths.
    fn permit(&self, rights: &[Right]) -> Result<(), Failure> {
        permit(&self.grant, rights, &self.rel)?;
        match &self.real {
            Some(real) => permit(&self.grant, rights, real),
            None => Ok(()),
        }
    }
}

/// Open `rel` as a file (the root is a directory).
async fn open_file(
    ctx: &Arc<Context>,
    rel: &RelPath,
) -> Result<Result<Download, StorageError>, Refusal> {
    if rel.segments().is_empty() {
        return Ok(Err(StorageError::IsDirectory(String::new())));
    }
    let (storage, open) = (ctx.storage.clone(), rel.clone());
    tokio::task::spawn_blocking(move || storage.open_download(&open))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))
}

/// The client a trusted proxy names, on the connection's span (`client`).
fn record_client(request: &PlainRequest, trusted: &[crate::cidr::Cidr]) {
    use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderName, HeaderValue};
    if trusted.is_empty() {
        return;
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &request.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    if let Some(client) = super::forwarded::client_address(&headers, trusted) {
        tracing::Span::current().record("client", tracing::field::display(client));
    }
}

/// With tokens, the request must carry `Authorization: Bearer TOKEN`:
/// what that token may do.
fn authorize(request: &PlainRequest, tokens: Option<&Tokens>) -> Result<Grant, Failure> {
    let grant = super::handshake::authenticate(tokens, request.header("authorization"), None)
        .map_err(|why| Failure::new(401, "Unauthorized", why.to_string()))?;
    super::translog::record_token(&grant);
    Ok(grant)
}

/// `403` unless `grant` has one of `rights` on `rel`.
fn permit(grant: &Grant, rights: &[Right], rel: &RelPath) -> Result<(), Failure> {
    if rights.iter().any(|r| grant.allows(*r, rel)) {
        return Ok(());
    }
    // Name a right the token has, so the answer says where it may use it.
    let right = (rights.iter().copied())
        .find(|r| grant.has(*r))
        .unwrap_or(Right::Read);
    let why = super::scope::refused(grant, right, &format!("/{rel}"));
    Err(Failure::new(403, "Forbidden", why))
}

fn allowed_method(request: &PlainRequest) -> Result<(), Failure> {
    match request.method.as_str() {
        "GET" | "HEAD" => Ok(()),
        _ => Err(Failure::new(
            405,
            "Method Not Allowed",
            "this server answers GET and HEAD over plain HTTP; \
             uploads go through `wsresume send`",
        )),
    }
}

/// The path a request names and whether it ends in `/` (a directory):
/// the protocol's rules; a reserved name is not found, other refused
/// paths are forbidden.
fn parse_target(path: &str) -> Result<(RelPath, bool), Failure> {
    let dir_form = path.ends_with('/');
    let parsed = match dir_form {
        true => super::listing::parse_list_path(path),
        false => crate::paths::parse_request_path(path),
    };
    match parsed {
        Ok(rel) => Ok((rel, dir_form)),
        Err(PathError::Reserved(_)) => Err(Failure::new(404, "Not Found", "no such file")),
        Err(e) => Err(Failure::new(403, "Forbidden", e.to_string())),
    }
}

fn storage_failure(rel: &RelPath, e: StorageError) -> Failure {
    match e {
        StorageError::NotFound(_) => {
            Failure::new(404, "Not Found", format!("/{rel}: no such file"))
        }
        StorageError::Forbidden(message) => Failure::new(403, "Forbidden", message),
        other => {
            tracing::warn!("http: /{rel}: {other}");
            Failure::new(500, "Internal Server Error", "the server could not read it")
        }
    }
}

/// Answer `failure` as one line of text; the refusal logged.
async fn fail<S>(
    stream: &mut S,
    failure: &Failure,
    limit: std::time::Duration,
) -> Result<Moved, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let body = format!("{}\n", failure.message);
    let mut head = Head::new(failure.status, failure.reason)
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("Content-Length", body.len())
        .header("X-Content-Type-Options", "nosniff");
    match failure.status {
        401 => head = head.header("WWW-Authenticate", "Bearer"),
        405 => head = head.header("Allow", "GET, HEAD"),
        _ => {}
    }
    send::answer(stream, head, body.as_bytes(), limit).await?;
    let code = match failure.status {
        401 | 403 | 405 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        500 => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    Err(Refusal::new(
        code,
        format!(
            "HTTP {} {}: {}",
            failure.status, failure.reason, failure.message
        ),
    ))
}

/// `GET`/`HEAD` of a file: the whole of it, one range, `304` or `416`.
async fn serve_file<S>(
    stream: &mut S,
    request: &PlainRequest,
    ctx: &Arc<Context>,
    rel: &RelPath,
    download: Download,
) -> Result<Moved, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let size = download.size;
    let etag = quoted_etag(&download.etag);
    let last_modified = index::http_date(download.mtime_ns.div_euclid(1_000_000_000));
    let conditions = ranges::Conditions {
        range: request.header("range"),
        if_range: request.header("if-range"),
        if_none_match: request.header("if-none-match"),
    };
    let validators = ranges::Validators {
        etag: &etag,
        last_modified: &last_modified,
    };
    let answer = ranges::decide(conditions, size, validators);
    let (mut head, start, len) = status_of(answer, size);
    head = head
        .header("ETag", &etag)
        .header("Last-Modified", &last_modified)
        .header("Accept-Ranges", "bytes")
        // A stored file is data: never sniffed into a script or a page,
        // never run with the server's origin if opened as one.
        .header("X-Content-Type-Options", "nosniff")
        .header("Content-Security-Policy", "sandbox");
    if let Some(digest) = repr_digest(ctx, answer, &download.etag).await {
        head = head.header("Repr-Digest", digest);
    }
    if !matches!(answer, ranges::Answer::NotModified) {
        head = head.header("Content-Type", "application/octet-stream");
    }
    let len = if request.method == "HEAD" { 0 } else { len };
    send::file(
        stream,
        head,
        download.file,
        start,
        len,
        ctx.limits.idle_timeout,
    )
    .await?;
    Ok(Moved {
        path: format!("/{rel}"),
        size: start + len,
        offset: start,
        sha256: None,
        entries: None,
        skipped: false,
    })
}

/// `Repr-Digest` for an answer that carries the file's bytes, when the
/// hash cache knows the file's SHA-256 (nothing is hashed here; the
/// lookup may read the cache's entry, so other answers skip it).
async fn repr_digest(ctx: &Context, answer: ranges::Answer, etag: &str) -> Option<String> {
    if !matches!(
        answer,
        ranges::Answer::Whole | ranges::Answer::Partial { .. }
    ) {
        return None;
    }
    let digest = ctx.hashes.digest(etag).await?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    Some(format!("sha-256=:{b64}:"))
}

/// The head's status and range headers for `answer`, and the bytes the
/// body carries (start and length).
fn status_of(answer: ranges::Answer, size: u64) -> (Head, u64, u64) {
    match answer {
        ranges::Answer::NotModified => (Head::new(304, "Not Modified"), 0, 0),
        ranges::Answer::Unsatisfiable => (
            Head::new(416, "Range Not Satisfiable")
                .header("Content-Range", format!("bytes */{size}"))
                .header("Content-Length", 0),
            0,
            0,
        ),
        ranges::Answer::Whole => (Head::new(200, "OK").header("Content-Length", size), 0, size),
        ranges::Answer::Partial { start, end } => (
            Head::new(206, "Partial Content")
                .header("Content-Range", format!("bytes {start}-{end}/{size}"))
                .header("Content-Length", end - start + 1),
            start,
            end - start + 1,
        ),
    }
}

/// The download's etag as an HTTP entity tag: quoted, only the characters
/// an entity tag may hold.
fn quoted_etag(etag: &str) -> String {
    let clean: String = etag
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"')
        .collect();
    format!("\"{clean}\"")
}

/// A directory: the HTML index, or JSON when asked for.
async fn serve_index<S>(
    stream: &mut S,
    request: &PlainRequest,
    ctx: &Arc<Context>,
    (rel, links_within): (&RelPath, bool),
) -> Result<Moved, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limit = ctx.limits.idle_timeout;
    let options = ListOptions {
        recursive: false,
        sha256: false,
        cached: false,
        links_within,
    };
    let (storage, walk) = (ctx.storage.clone(), rel.clone());
    let listed = tokio::task::spawn_blocking(move || storage.list(&walk, options))
        .await
        .map_err(|e| Refusal::new(ErrorCode::Internal, e.to_string()))?;
    let mut listing = match listed {
        Ok(listing) => listing,
        Err(e) => return fail(stream, &storage_failure(rel, e), limit).await,
    };
    let sort = index::Sort::from_query(request.query_param("sort"));
    index::sort(&mut listing.entries, sort);
    let shown = match rel.segments().is_empty() {
        true => "/".to_string(),
        false => format!("/{rel}/"),
    };
    let panel = match ctx.read_only {
        true => index::Panel::None,
        false => index::Panel::Uploads,
    };
    let (body, content_type) = index_body(request, rel, &shown, &listing, panel);
    let head = Head::new(200, "OK")
        .header("Content-Type", content_type)
        .header("Content-Length", body.len())
        .header("Content-Security-Policy", assets::PAGE_CSP)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header("Cache-Control", "no-cache")
        .header("Vary", "Accept");
    let body = if request.method == "HEAD" { "" } else { &body };
    send::answer(stream, head, body.as_bytes(), limit).await?;
    Ok(Moved {
        path: shown,
        size: 0,
        offset: 0,
        sha256: None,
        entries: Some(listing.entries.len()),
        skipped: false,
    })
}

/// The index of `rel` (shown as `shown`): JSON when asked for, else HTML;
/// and its content type.
fn index_body(
    request: &PlainRequest,
    rel: &RelPath,
    shown: &str,
    listing: &crate::storage::Listing,
    panel: index::Panel,
) -> (String, &'static str) {
    if request.wants_json() {
        let body = index::json(shown, &listing.entries, listing.truncated);
        return (body, "application/json");
    }
    let (base, parent) = bases(rel);
    let place = index::Place {
        shown,
        base: &base,
        parent: parent.as_deref(),
        panel,
    };
    let body = index::html(&place, &listing.entries, listing.truncated);
    (body, "text/html; charset=utf-8")
}

/// A browser asking for a page (not JSON, not a download manager).
fn wants_page(request: &PlainRequest) -> bool {
    request.method == "GET"
        && !request.wants_json()
        && request
            .header("accept")
            .is_some_and(|a| a.contains("text/html"))
}

/// A `401` to a browser: the page without its entries, whose panel asks
/// for the token (kept in the tab) and then lists the directory as JSON
/// and uploads with it.
async fn token_page<S>(
    stream: &mut S,
    request: &PlainRequest,
    ctx: &Arc<Context>,
    failure: &Failure,
) -> Result<Moved, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let rel = parse_target(&request.path).map_or_else(|_| RelPath::default(), |(rel, _)| rel);
    let (base, parent) = bases(&rel);
    let shown = percent_encoding::percent_decode_str(&base).decode_utf8_lossy();
    let place = index::Place {
        shown: &shown,
        base: &base,
        parent: parent.as_deref(),
        panel: index::Panel::Token {
            uploads: !ctx.read_only,
        },
    };
    let body = index::html(&place, &[], false);
    let head = Head::new(401, "Unauthorized")
        .header("WWW-Authenticate", "Bearer")
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Content-Length", body.len())
        .header("Content-Security-Policy", assets::PAGE_CSP)
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "no-referrer")
        .header("Cache-Control", "no-store");
    send::answer(stream, head, body.as_bytes(), ctx.limits.idle_timeout).await?;
    Err(Refusal::new(
        ErrorCode::Forbidden,
        format!(
            "HTTP 401 Unauthorized: {} (the token page)",
            failure.message
        ),
    ))
}

/// The URL path of the directory `rel` (percent-encoded, ending in `/`)
/// and its parent's (`None` at the root).
fn bases(rel: &RelPath) -> (String, Option<String>) {
    let encode = |s: &String| {
        percent_encoding::utf8_percent_encode(s, crate::PATH_SEGMENT).to_string() + "/"
    };
    let segments: Vec<String> = rel.segments().iter().map(encode).collect();
    let base = format!("/{}", segments.concat());
    let parent = segments
        .split_last()
        .map(|(_, up)| format!("/{}", up.concat()));
    (base, parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_the_protocol_path_rules() {
        // (path, status or 0 when accepted, directory form)
        let cases = [
            ("/", 0, true),
            ("/a/b.bin", 0, false),
            ("/a/", 0, true),
            ("/a%20b", 0, false),
            ("/../etc/passwd", 403, false),
            ("/a/%2e%2e/x", 403, false),
            ("/a%2fb", 403, false),
            ("/f.bin.wsresume-part", 404, false),
            ("/f.bin.wsresume-state", 404, false),
            ("/d.wsresume-lock/", 404, true),
            ("//", 403, true),
            ("relative", 403, false),
        ];
        for (path, status, dir) in cases {
            match parse_target(path) {
                Ok((_, dir_form)) => assert_eq!((0, dir_form), (status, dir), "{path}"),
                Err(f) => assert_eq!(f.status, status, "{path}"),
            }
        }
    }

    #[test]
    fn bearer_tokens_are_required_when_set() {
        let with = |auth: &str| PlainRequest {
            method: "GET".into(),
            headers: vec![("authorization".into(), auth.into())],
            ..PlainRequest::default()
        };
        let tokens = Tokens::single("s3cret");
        assert!(authorize(&with(""), None).is_ok());
        assert!(authorize(&with("Bearer s3cret"), Some(&tokens)).is_ok());
        assert!(authorize(&with("bearer s3cret"), Some(&tokens)).is_ok());
        for bad in ["", "Bearer", "Bearer wrong", "Basic s3cret", "s3cret"] {
            let refused = authorize(&with(bad), Some(&tokens)).unwrap_err();
            assert_eq!(refused.status, 401, "{bad}");
        }
    }

    #[test]
    fn etags_and_directory_links() {
        assert_eq!(quoted_etag("1-2-3"), "\"1-2-3\"");
        assert_eq!(quoted_etag("s3-\"ab\" c"), "\"s3-abc\"");
        let rel = crate::paths::parse_request_path("/a%20b/c").unwrap();
        assert_eq!(bases(&rel), ("/a%20b/c/".into(), Some("/a%20b/".into())));
        assert_eq!(bases(&RelPath::default()), ("/".into(), None));
    }
}
