//! The WebSocket upgrade: checks the subprotocol (protocol version) and the
//! bearer token before anything else happens, and sets the frame limits.

use std::time::Duration;

use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};

use super::session::Refusal;
use crate::protocol::{ErrorCode, SUBPROTOCOL};

/// Upgrade `stream`, refusing with an HTTP error when the client speaks
/// another protocol version (426) or presents no or the wrong token (401).
pub async fn accept<S>(
    stream: S,
    token: Option<&str>,
    limit: Duration,
    max_message: usize,
) -> Result<WebSocketStream<S>, Refusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let token = token.map(str::to_string);
    #[allow(clippy::result_large_err)]
    let callback =
        move |request: &Request, response: Response| check(request, response, token.as_deref());
    let config = crate::ws_config()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    match tokio::time::timeout(
        limit,
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)),
    )
    .await
    {
        Ok(Ok(ws)) => Ok(ws),
        Ok(Err(e)) => Err(Refusal::new(
            ErrorCode::BadRequest,
            format!("handshake failed: {e}"),
        )),
        Err(_) => Err(Refusal::new(ErrorCode::BadRequest, "handshake timed out")),
    }
}

// The error type is fixed by tungstenite's handshake callback.
#[allow(clippy::result_large_err)]
fn check(
    request: &Request,
    mut response: Response,
    token: Option<&str>,
) -> Result<Response, ErrorResponse> {
    let offered = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if !offered {
        return Err(reject(
            StatusCode::UPGRADE_REQUIRED,
            &format!("unsupported protocol version: this server speaks {SUBPROTOCOL}"),
        ));
    }
    if let Some(expected) = token {
        let presented = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            let message = if presented.is_empty() {
                "a token is required"
            } else {
                "the token is not valid"
            };
            return Err(reject(StatusCode::UNAUTHORIZED, message));
        }
    }
    response.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    Ok(response)
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
