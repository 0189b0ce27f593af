//! Opening a connection: the URL checked, the upgrade request with the
//! subprotocol and token, and handshake failures mapped to error kinds.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::ClientOptions;
use crate::error::{Error, Result};
use crate::protocol::SUBPROTOCOL;

/// A client's WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A checked `ws://` or `wss://` URL.
#[derive(Debug, Clone)]
pub struct RemoteUrl {
    uri: Uri,
}

impl RemoteUrl {
    /// Check `text` is a ws:// or wss:// URL with a host.
    pub fn parse(text: &str) -> Result<RemoteUrl> {
        let uri: Uri = text.parse().map_err(|e| match unencoded_char(text) {
            Some(c) => Error::Usage(format!(
                "{text}: the URL contains {}: write it as {}",
                char_name(c),
                percent_encoding::utf8_percent_encode(c.encode_utf8(&mut [0; 4]), URL_CHAR)
            )),
            None => Error::Usage(format!("{text}: not a valid URL ({e})")),
        })?;
        match uri.scheme_str() {
            Some("ws") | Some("wss") => {}
            _ => {
                return Err(Error::Usage(format!(
                    "{text}: the URL must start with ws:// or wss://"
                )));
            }
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(Error::Usage(format!("{text}: the URL has no host")));
        }
        Ok(RemoteUrl { uri })
    }

    /// The host name or address.
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    /// The path as given (percent-encoded), `/` when empty.
    pub fn path(&self) -> &str {
        match self.uri.path() {
            "" => "/",
            p => p,
        }
    }

    /// Whether the URL asks for TLS (`wss://`).
    pub fn is_secure(&self) -> bool {
        self.uri.scheme_str() == Some("wss")
    }

    /// Whether the URL names a directory (ends in `/`).
    pub fn is_dir(&self) -> bool {
        self.path().ends_with('/')
    }

    /// The last path segment, percent-decoded (the default local name).
    pub fn file_name(&self) -> Option<String> {
        let last = self.path().rsplit('/').next().filter(|s| !s.is_empty())?;
        let name = percent_encoding::percent_decode_str(last)
            .decode_utf8()
            .ok()?;
        (name != "." && name != ".." && !name.contains(['/', '\\', '\0']))
            .then(|| name.into_owned())
    }

    /// This directory URL with `name` appended (percent-encoded).
    pub fn join(&self, name: &str) -> Result<RemoteUrl> {
        let encoded = percent_encoding::utf8_percent_encode(name, crate::PATH_SEGMENT).to_string();
        let text = format!(
            "{}{encoded}",
            self.uri.to_string().trim_end_matches(|c| c != '/')
        );
        RemoteUrl::parse(&text)
    }
}

/// Characters a URL must carry percent-encoded (those `http::Uri` refuses
/// in a path).
const URL_CHAR: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'<')
    .add(b'>')
    .add(b'`');

/// The first character of `text` that a URL must carry percent-encoded (a
/// space, a control character, `<`, `>` or a backtick), to explain why the
/// URL was refused.
fn unencoded_char(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        c.is_ascii()
            && percent_encoding::utf8_percent_encode(c.encode_utf8(&mut [0; 4]), URL_CHAR)
                .next()
                .is_some_and(|part| part.starts_with('%'))
    })
}

/// How an error message names `c`.
fn char_name(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        c if c.is_control() => format!("a control character ({c:?})"),
        c => format!("'{c}'"),
    }
}

impl std::fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.uri)
    }
}

/// Connect (with TLS for `wss://`) and upgrade, within `opts.timeout`.
pub async fn connect(url: &RemoteUrl, opts: &ClientOptions) -> Result<Ws> {
    let mut request = url
        .uri
        .clone()
        .into_client_request()
        .map_err(|e| Error::Usage(format!("{url}: {e}")))?;
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    if let Some(token) = &opts.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::Usage("the token contains characters not allowed in a header".into())
        })?;
        headers.insert("authorization", value);
    }
    let tls = match (url.is_secure(), &opts.tls) {
        (false, _) => None,
        (true, Some(config)) => Some(Connector::Rustls(config.clone())),
        (true, None) => return Err(Error::Tls(format!("{url}: TLS is not set up"))),
    };
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(crate::ws_config()),
        true,
        tls,
    );
    let (ws, response) = match tokio::time::timeout(opts.timeout, connecting).await {
        Err(_) => return Err(Error::Network(format!("{url}: connection timed out"))),
        Ok(Err(e)) => return Err(handshake_error(url, e)),
        Ok(Ok(pair)) => pair,
    };
    let agreed = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    if agreed != Some(SUBPROTOCOL) {
        return Err(Error::Protocol(format!(
            "{url}: the server does not speak {SUBPROTOCOL}"
        )));
    }
    Ok(ws)
}

fn handshake_error(url: &RemoteUrl, e: WsError) -> Error {
    match e {
        WsError::Http(response) => {
            let status = response.status();
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| status.to_string());
            match status.as_u16() {
                401 | 403 => Error::Auth(format!("{url}: {body}")),
                400 | 426 => Error::Protocol(format!("{url}: {body}")),
                404 => Error::Refused(format!("{url}: {body}")),
                _ => Error::Network(format!("{url}: server answered {status}: {body}")),
            }
        }
        WsError::Url(e) => Error::Usage(format!("{url}: {e}")),
        WsError::Tls(e) => Error::Tls(format!("{url}: {e}")),
        WsError::Protocol(e) => Error::Protocol(format!("{url}: {e}")),
        WsError::Io(e) => match crate::tls::tls_failure(&e) {
            Some(why) => Error::Tls(format!("{}: {why}", url.host())),
            None => Error::Network(format!("{url}: {e}")),
        },
        other => Error::Network(format!("{url}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_a_url_must_encode_are_named_with_their_encoding() {
        let cases = [
            (
                "ws://h:1/a b.txt",
                Some("contains a space: write it as %20"),
            ),
            ("ws://h:1/a\tb", Some("contains a tab: write it as %09")),
            ("ws://h:1/a<b>", Some("contains '<': write it as %3C")),
            ("ws://h:1/a`b", Some("contains '`': write it as %60")),
            ("ws://h:1/a%20b.txt", None),
        ];
        for (text, expected) in cases {
            match (RemoteUrl::parse(text), expected) {
                (Err(Error::Usage(message)), Some(part)) => {
                    assert!(message.contains(part), "{text}: {message}");
                }
                (Ok(url), None) => assert_eq!(url.file_name().as_deref(), Some("a b.txt")),
                (other, _) => panic!("{text}: {other:?}"),
            }
        }
    }
}
