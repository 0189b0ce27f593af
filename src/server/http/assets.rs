//! The browser page's own files (web/: the upload script, its style sheet
//! and the vendored `@noble/hashes` SHA-256), embedded in the binary and
//! served at a reserved path, `/.well-known/wsresume/VERSION/NAME`
//! (RFC 8615), before the token check: they are the same for everyone and
//! name nothing under ROOT. VERSION is a digest of all of them, so each
//! answer may be cached as `immutable` and a new binary's page asks for
//! new URLs. Also the page's Content-Security-Policy. Pure but for the
//! write of the answer.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};

use super::super::refusal::Refusal;
use super::super::translog::Moved;
use super::request::PlainRequest;
use super::send::{self, Head};

/// Where the assets live (RFC 8615 well-known URIs: not a name people
/// give their files).
pub const PREFIX: &str = "/.well-known/wsresume/";

/// The index page's policy: its own scripts, styles and WebSocket only.
/// (`connect-src 'self'` covers `ws:`/`wss:` to the page's own host and
/// port, CSP level 3.)
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One embedded file.
pub struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("../../../web/", $name)),
        }
    };
}

static ASSETS: &[Asset] = &[
    asset!("upload.js", JS),
    asset!("transfer.js", JS),
    asset!("chain.js", JS),
    asset!("page.css", "text/css; charset=utf-8"),
    asset!("vendor/noble-hashes/sha2.js", JS),
    asset!("vendor/noble-hashes/_md.js", JS),
    asset!("vendor/noble-hashes/_u64.js", JS),
    asset!("vendor/noble-hashes/utils.js", JS),
    asset!("vendor/noble-hashes/LICENSE", "text/plain; charset=utf-8"),
];

/// The first 16 hex characters of the SHA-256 of every asset's name and
/// bytes: the version in the URLs, and every asset's ETag.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for asset in ASSETS {
        hash.update(asset.name.as_bytes());
        hash.update([0]);
        hash.update((asset.bytes.len() as u64).to_be_bytes());
        hash.update(asset.bytes);
    }
    crate::chain::hex(&hash.finalize()[..8])
});

/// The URL path the assets are under, ending in `/`.
pub fn base() -> String {
    format!("{PREFIX}{}/", *VERSION)
}

/// Whether a request path is for the assets (whatever follows).
pub fn is_asset(path: &str) -> bool {
    path.starts_with(PREFIX)
}

/// An answer: status, reason, headers and body.
struct Reply {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    body: &'static [u8],
}

impl Reply {
    fn new(status: u16, reason: &'static str) -> Reply {
        Reply {
            status,
            reason,
            headers: Vec::new(),
            body: b"",
        }
    }

    fn header(mut self, name: &'static str, value: impl ToString) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }

    fn head(&self) -> Head {
        let head = Head::new(self.status, self.reason);
        self.headers
            .iter()
            .fold(head, |head, (name, value)| head.header(name, value))
    }
}

/// The answer to a request under [`PREFIX`].
fn answer(request: &PlainRequest) -> Reply {
    if !matches!(request.method.as_str(), "GET" | "HEAD") {
        return Reply::new(405, "Method Not Allowed")
            .header("Allow", "GET, HEAD")
            .header("Content-Length", 0);
    }
    let found = request
        .path
        .strip_prefix(&base())
        .and_then(|name| ASSETS.iter().find(|a| a.name == name));
    let Some(asset) = found else {
        return Reply::new(404, "Not Found")
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("Content-Length", 0);
    };
    let etag = format!("\"{}\"", *VERSION);
    let cached = request
        .header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut reply = match cached {
        true => Reply::new(304, "Not Modified"),
        false => Reply::new(200, "OK")
            .header("Content-Type", asset.content_type)
            .header("Content-Length", asset.bytes.len()),
    };
    reply = reply
        .header("ETag", &etag)
        .header("Cache-Control", "public, max-age=31536000, immutable")
        .header("X-Content-Type-Options", "nosniff")
        .header("Cross-Origin-Resource-Policy", "same-origin");
    if !cached && request.method == "GET" {
        reply.body = asset.bytes;
    }
    reply
}

/// Answer a request for an asset ([`is_asset`]), then close.
pub async fn serve<S>(
    stream: &mut S,
    request: &PlainRequest,
    limit: std::time::Duration,
) -> Result<Moved, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let reply = answer(request);
    send::answer(stream, reply.head(), reply.body, limit).await?;
    Ok(Moved {
        path: request.path.clone(),
        size: reply.body.len() as u64,
        offset: 0,
        sha256: None,
        entries: None,
        skipped: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(method: &str, path: &str, if_none_match: Option<&str>) -> String {
        let request = PlainRequest {
            method: method.into(),
            path: path.into(),
            headers: if_none_match
                .map(|v| vec![("if-none-match".to_string(), v.to_string())])
                .unwrap_or_default(),
            ..PlainRequest::default()
        };
        let reply = answer(&request);
        let headers: Vec<String> = reply
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}\r\n"))
            .collect();
        let status = format!("HTTP/1.1 {} {}\r\n", reply.status, reply.reason);
        format!("{status}{}{}", headers.concat(), reply.body.len())
    }

    #[test]
    fn assets_are_served_by_name_under_the_version() {
        let v = base();
        let etag = format!("\"{}\"", *VERSION);
        // (method, path, If-None-Match, status line start, text the head holds)
        let cases = [
            (
                "GET",
                format!("{v}upload.js"),
                None,
                "HTTP/1.1 200",
                "text/javascript",
            ),
            (
                "GET",
                format!("{v}page.css"),
                None,
                "HTTP/1.1 200",
                "text/css",
            ),
            (
                "HEAD",
                format!("{v}chain.js"),
                None,
                "HTTP/1.1 200",
                "immutable",
            ),
            (
                "GET",
                format!("{v}vendor/noble-hashes/sha2.js"),
                None,
                "HTTP/1.1 200",
                "nosniff",
            ),
            (
                "GET",
                format!("{v}upload.js"),
                Some(etag.clone()),
                "HTTP/1.1 304",
                "ETag",
            ),
            (
                "GET",
                format!("{v}upload.js"),
                Some("\"old\"".into()),
                "HTTP/1.1 200",
                "ETag",
            ),
            (
                "GET",
                format!("{PREFIX}0000000000000000/upload.js"),
                None,
                "HTTP/1.1 404",
                "",
            ),
            ("GET", format!("{v}../upload.js"), None, "HTTP/1.1 404", ""),
            ("GET", format!("{v}nothing.js"), None, "HTTP/1.1 404", ""),
            (
                "PUT",
                format!("{v}upload.js"),
                None,
                "HTTP/1.1 405",
                "Allow: GET, HEAD",
            ),
        ];
        for (method, path, inm, status, holds) in cases {
            let text = get(method, &path, inm.as_deref());
            assert!(text.starts_with(status), "{method} {path}: {text}");
            assert!(text.contains(holds), "{method} {path}: {text}");
        }
        assert!(get("HEAD", &format!("{v}upload.js"), None).ends_with("\r\n0"));
        assert!(is_asset(&format!("{v}x")) && !is_asset("/.well-known/other"));
    }

    #[test]
    fn every_asset_is_there_and_the_version_is_stable() {
        assert_eq!(VERSION.len(), 16);
        for asset in ASSETS {
            assert!(!asset.bytes.is_empty(), "{}", asset.name);
        }
    }
}
