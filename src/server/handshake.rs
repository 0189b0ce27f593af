//! The WebSocket upgrade: reads the request head itself (bounded, by the
//! connection's handshake deadline), hands a plain HTTP request (curl, a
//! browser) back with its head for [`super::http`] to answer, checks
//! the subprotocol (protocol version: `wsresume.v2`, a session, when the
//! client offers it and sessions are on; else `wsresume.v1`), the `Origin`
//! ([`super::origin`]) and the bearer token (`Authorization: Bearer`, or a
//! browser's `wsresume.bearer.TOKEN` subprotocol) before anything else
//! happens, and sets the frame limits. The token's [`Grant`] goes with the
//! connection.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::machine::TryParse;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request, Response, create_response, write_response,
};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::refusal::Refusal;
use super::{forwarded, origin, translog};
use crate::auth::{AuthError, Grant, Tokens};
use crate::protocol::{
    COMPRESS_HEADER, CompressMode, ErrorCode, SUBPROTOCOL, SUBPROTOCOL_V2, compress_requested,
};

/// A browser, which cannot set `Authorization` on a WebSocket, offers its
/// token as the subprotocol `wsresume.bearer.TOKEN` (never answered back).
pub const BEARER_PROTOCOL: &str = "wsresume.bearer.";

/// Largest request head read before giving up on a client.
const MAX_HEAD: usize = 16 * 1024;
/// How long, and for how many bytes, a refused client may go on sending
/// (a request body) after the answer, so closing does not reset the
/// connection and lose the answer.
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 64 * 1024;

/// What the upgrade agreed on.
pub struct Upgraded<S> {
    /// The WebSocket.
    pub ws: WebSocketStream<S>,
    /// `wsresume.v2`: a session of many requests; else one request.
    pub session: bool,
    /// Compressed data frames were agreed (`Wsresume-Compress`), in this
    /// mode: on a session too, for every file it carries.
    pub compress: Option<CompressMode>,
    /// What the client's token may do.
    pub grant: Grant,
}

/// What the handshake made of a connection: a WebSocket, or a plain HTTP
/// request (its head, and any bytes after it) still to be answered.
pub enum Accepted<S> {
    /// The upgrade was answered `101`.
    Upgraded(Box<Upgraded<S>>),
    /// No upgrade asked for: [`super::http`] answers.
    Plain {
        /// The connection, nothing written yet.
        stream: S,
        /// The request head as read.
        head: Vec<u8>,
    },
}

/// How a connection may be upgraded: the tokens it may present, whether
/// sessions are offered.
#[derive(Clone, Copy)]
pub struct Terms<'a> {
    /// The tokens accepted (one of them required), if any.
    pub tokens: Option<&'a Tokens>,
    /// Pick `wsresume.v2` when the client offers it.
    pub sessions: bool,
    /// Proxy ranges whose forwarding headers are believed: empty unless
    /// the peer is in them ([`forwarded::trusted_for`]).
    pub trusted: &'a [crate::cidr::Cidr],
}

/// Upgrade `stream` by `deadline`, refusing with an HTTP error when the
/// client speaks another protocol version (426), comes from a page of
/// another origin (403) or presents no or the wrong token (401); a plain HTTP request comes back as
/// [`Accepted::Plain`].
pub async fn accept<S>(
    stream: S,
    terms: Terms<'_>,
    deadline: tokio::time::Instant,
    max_message: usize,
) -> Result<Accepted<S>, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = crate::ws_config()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    match tokio::time::timeout_at(deadline, upgrade(stream, terms, config)).await {
        Ok(result) => result,
        Err(_) => Err(Refusal::new(ErrorCode::BadRequest, "handshake timed out")),
    }
}

async fn upgrade<S>(
    mut stream: S,
    terms: Terms<'_>,
    config: WebSocketConfig,
) -> Result<Accepted<S>, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (request, head, tail) = match read_head(&mut stream).await? {
        Head::Get(request, head, tail) => (request, head, tail),
        Head::Plain { head } => return Ok(Accepted::Plain { stream, head }),
    };
    if !asks_for_websocket(&request) {
        // `http::serve` records the client a trusted proxy names.
        return Ok(Accepted::Plain { stream, head });
    }
    if let Some(client) = forwarded::client_address(request.headers(), terms.trusted) {
        tracing::Span::current().record("client", tracing::field::display(client));
    }
    let checked = match create_response(&request) {
        Err(e) => Err(reject(
            StatusCode::BAD_REQUEST,
            &format!("bad upgrade request: {e}"),
        )),
        Ok(_) if !tail.is_empty() => Err(reject(
            StatusCode::BAD_REQUEST,
            "data arrived before the upgrade was answered",
        )),
        Ok(response) => check(&request, response, terms),
    };
    match checked {
        Ok((mut response, session, grant)) => {
            translog::record_token(&grant);
            let compress = agree_compression(&request, &mut response);
            let mut head = Vec::new();
            write_response(&mut head, &response).map_err(handshake_failed)?;
            stream.write_all(&head).await.map_err(io_failed)?;
            stream.flush().await.map_err(io_failed)?;
            let ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(config)).await;
            Ok(Accepted::Upgraded(Box::new(Upgraded {
                ws,
                session,
                compress,
                grant,
            })))
        }
        Err(response) => {
            let status = response.status();
            finish_refused(&mut stream, &error_bytes(response)?).await;
            Err(Refusal::new(
                ErrorCode::BadRequest,
                format!("handshake failed: HTTP error: {status}"),
            ))
        }
    }
}

/// A request head as read: a `GET` (its head's bytes, then any bytes
/// after the head), or another method or HTTP version no WebSocket
/// client sends (all bytes read).
enum Head {
    Get(Box<Request>, Vec<u8>, Vec<u8>),
    Plain { head: Vec<u8> },
}

/// Read until the request head is complete (at most [`MAX_HEAD`] bytes).
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Head, Refusal> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await.map_err(io_failed)?;
        if n == 0 {
            return Err(Refusal::new(
                ErrorCode::GoingAway,
                "the client closed the connection during the handshake",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        match Request::try_parse(&buf) {
            Ok(Some((size, request))) => {
                let tail = buf.split_off(size);
                return Ok(Head::Get(Box::new(request), buf, tail));
            }
            Ok(None) if buf.len() < MAX_HEAD => {}
            Ok(None) => {
                return Err(Refusal::new(
                    ErrorCode::BadRequest,
                    "request head too large",
                ));
            }
            // Only a complete head is checked for these.
            Err(WsError::Protocol(
                ProtocolError::WrongHttpMethod | ProtocolError::WrongHttpVersion,
            )) => return Ok(Head::Plain { head: buf }),
            Err(e) => return Err(handshake_failed(e)),
        }
    }
}

/// Whether the request asks to become a WebSocket (`Upgrade: websocket`).
fn asks_for_websocket(request: &Request) -> bool {
    request
        .headers()
        .get_all("upgrade")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
}

/// An error response as bytes: head (with its length) and body.
fn error_bytes(mut response: ErrorResponse) -> Result<Vec<u8>, Refusal> {
    let body = response.body().clone().unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("content-length", HeaderValue::from(body.len()));
    headers.insert("connection", HeaderValue::from_static("close"));
    let mut bytes = Vec::new();
    write_response(&mut bytes, &response).map_err(handshake_failed)?;
    bytes.extend_from_slice(body.as_bytes());
    Ok(bytes)
}

/// Send `answer`, stop writing, and read what the client still sends (a
/// request body) for a short while, so the answer is not lost to a reset.
async fn finish_refused<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, answer: &[u8]) {
    let sent = async {
        stream.write_all(answer).await?;
        stream.shutdown().await
    };
    if sent.await.is_err() {
        return;
    }
    drain(stream).await;
}

/// After our side of `stream` is shut down, read what the client still
/// sends for a moment (bounded in time and bytes), so that the answer is
/// not lost to a reset.
pub(super) async fn drain<S: AsyncRead + Unpin>(stream: &mut S) {
    let read = async {
        let mut buf = [0u8; 4096];
        let mut left = DRAIN_BYTES;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// What the request's credentials may do: with `tokens`, the grant of the
/// token in `Authorization: Bearer TOKEN`, or (only without that header)
/// the one `offered` as a `wsresume.bearer.TOKEN` subprotocol; without
/// tokens, everything. For the upgrade and for plain HTTP alike.
pub(super) fn authenticate(
    tokens: Option<&Tokens>,
    authorization: Option<&str>,
    offered: Option<&str>,
) -> Result<Grant, AuthError> {
    let Some(tokens) = tokens else {
        return Ok(Grant::everything());
    };
    let presented = match authorization {
        Some(value) => value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, token)| token.trim()),
        None => offered.unwrap_or(""),
    };
    tokens.authenticate(presented)
}

/// The token a browser offers as a `wsresume.bearer.TOKEN` subprotocol.
fn offered_token(request: &Request) -> Option<&str> {
    offered_protocols(request).find_map(|p| p.trim().strip_prefix(BEARER_PROTOCOL))
}

/// The subprotocols the request offers, as written.
fn offered_protocols(request: &Request) -> impl Iterator<Item = &str> {
    request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
}

/// Refuse a request from a page of another origin than the host it asks.
#[allow(clippy::result_large_err)]
fn check_origin(request: &Request, trusted: &[crate::cidr::Cidr]) -> Result<(), ErrorResponse> {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    let forwarded_host = match trusted.is_empty() {
        true => None,
        false => header("x-forwarded-host").and_then(|v| v.split(',').next()),
    };
    origin::check(header("origin"), header("host"), forwarded_host)
        .map_err(|why| reject(StatusCode::FORBIDDEN, &why))
}

fn handshake_failed(e: WsError) -> Refusal {
    Refusal::new(ErrorCode::BadRequest, format!("handshake failed: {e}"))
}

fn io_failed(e: std::io::Error) -> Refusal {
    Refusal::new(ErrorCode::GoingAway, format!("handshake failed: {e}"))
}

/// The subprotocol to answer among those `offered`: v2 when offered and
/// `sessions` are on, else v1 when offered, else none.
fn pick_protocol<'a>(
    offered: impl Iterator<Item = &'a str>,
    sessions: bool,
) -> Option<&'static str> {
    let mut best = None;
    for p in offered.map(str::trim) {
        if p == SUBPROTOCOL_V2 && sessions {
            return Some(SUBPROTOCOL_V2);
        }
        if p == SUBPROTOCOL {
            best = Some(SUBPROTOCOL);
        }
    }
    best
}

/// Check the request's subprotocol, origin and token: the response,
/// whether the connection is a session, and what its token may do.
// The error type is tungstenite's error response.
#[allow(clippy::result_large_err)]
fn check(
    request: &Request,
    mut response: Response,
    terms: Terms<'_>,
) -> Result<(Response, bool, Grant), ErrorResponse> {
    let Some(protocol) = pick_protocol(offered_protocols(request), terms.sessions) else {
        let speaks = if terms.sessions {
            format!("{SUBPROTOCOL_V2}, {SUBPROTOCOL}")
        } else {
            SUBPROTOCOL.to_string()
        };
        return Err(reject(
            StatusCode::UPGRADE_REQUIRED,
            &format!("unsupported protocol version: this server speaks {speaks}"),
        ));
    };
    check_origin(request, terms.trusted)?;
    // A header that is not text still counts as one (and as no token).
    let authorization = (request.headers().get("authorization")).map(|v| v.to_str().unwrap_or(""));
    let grant = authenticate(terms.tokens, authorization, offered_token(request))
        .map_err(|why| reject(StatusCode::UNAUTHORIZED, &why.to_string()))?;
    response
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    Ok((response, protocol == SUBPROTOCOL_V2, grant))
}

/// Answer a client's `Wsresume-Compress: zstd` in kind, on a one-request
/// connection or a session alike (PROTOCOL.md section 2.1); the mode the
/// client asked for.
fn agree_compression(request: &Request, response: &mut Response) -> Option<CompressMode> {
    let asked = request.headers().get_all(COMPRESS_HEADER);
    let mode = compress_requested(asked.iter().filter_map(|v| v.to_str().ok()))?;
    response
        .headers_mut()
        .insert(COMPRESS_HEADER, HeaderValue::from_static("zstd"));
    Some(mode)
}

fn reject(status: StatusCode, message: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(message.to_string()));
    *response.status_mut() = status;
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_comes_from_authorization_or_else_a_bearer_subprotocol() {
        let tokens = Tokens::single("s3cret");
        let upgrade = |authorization: Option<&str>, protocols: &str| {
            let mut builder = Request::builder().uri("/");
            if let Some(value) = authorization {
                builder = builder.header("authorization", value);
            }
            let request = builder
                .header("sec-websocket-protocol", protocols)
                .body(())
                .unwrap();
            let offered = offered_token(&request).map(str::to_string);
            authenticate(Some(&tokens), authorization, offered.as_deref())
        };
        // (Authorization, Sec-WebSocket-Protocol, result)
        let cases = [
            (Some("Bearer s3cret"), "wsresume.v1", Ok(())),
            (None, "wsresume.v1, wsresume.bearer.s3cret", Ok(())),
            (None, "wsresume.bearer.s3cret,wsresume.v2", Ok(())),
            (None, "wsresume.v1", Err(AuthError::Missing)),
            (
                None,
                "wsresume.v1, wsresume.bearer.wrong",
                Err(AuthError::Invalid),
            ),
            (
                None,
                "wsresume.v1, wsresume.bearer.",
                Err(AuthError::Missing),
            ),
            // The header wins: a subprotocol never overrides it.
            (
                Some("Bearer wrong"),
                "wsresume.bearer.s3cret",
                Err(AuthError::Invalid),
            ),
            (
                Some("Basic x"),
                "wsresume.bearer.s3cret",
                Err(AuthError::Missing),
            ),
        ];
        for (authorization, protocols, want) in cases {
            let got = upgrade(authorization, protocols).map(|_| ());
            assert_eq!(got, want, "{authorization:?} {protocols}");
        }
        assert_eq!(authenticate(None, None, None), Ok(Grant::everything()));
    }

    #[test]
    fn v2_is_picked_when_offered_and_sessions_are_on() {
        // (offered, sessions on, answer)
        let cases = [
            ("wsresume.v2, wsresume.v1", true, Some(SUBPROTOCOL_V2)),
            ("wsresume.v1, wsresume.v2", true, Some(SUBPROTOCOL_V2)),
            ("wsresume.v2", true, Some(SUBPROTOCOL_V2)),
            ("wsresume.v1", true, Some(SUBPROTOCOL)),
            ("wsresume.v2, wsresume.v1", false, Some(SUBPROTOCOL)),
            ("wsresume.v2", false, None),
            ("wsresume.v3, chat", true, None),
            ("", true, None),
        ];
        for (offered, sessions, want) in cases {
            assert_eq!(
                pick_protocol(offered.split(','), sessions),
                want,
                "{offered} {sessions}"
            );
        }
    }
}
