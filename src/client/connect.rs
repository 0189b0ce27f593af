//! Opening a connection: the URL checked, the upgrade request with the
//! subprotocols (`wsresume.v2, wsresume.v1`) and token, which one the server
//! picked (v2: the connection is a session), and handshake failures mapped
//! to error kinds (with TLS on one side only named as such).

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use super::ClientOptions;
use super::dial::{self, Head, Recorded, Speaks};
use crate::error::{Error, Result};
use crate::protocol::{COMPRESS_HEADER, SUBPROTOCOL, SUBPROTOCOL_V2, compress_agreed};

/// The byte stream under a client's WebSocket.
pub type Socket = MaybeTlsStream<Recorded<TcpStream>>;

/// A client's WebSocket.
pub type Ws = WebSocketStream<Socket>;

/// Hidden test hook: `1` makes the client offer only `wsresume.v1` (an
/// old client).
const MAX_PROTOCOL_ENV: &str = "WSRESUME_MAX_PROTOCOL";

/// The subprotocols this client offers, best first: sessions only when
/// asked for (a listing, a session of small files; the per-file path keeps
/// `wsresume.v1`, whose server waits for the client's verdict).
fn offered(sessions: bool) -> &'static str {
    match std::env::var(MAX_PROTOCOL_ENV).as_deref() {
        Ok("1") => SUBPROTOCOL,
        _ if !sessions => SUBPROTOCOL,
        _ => "wsresume.v2, wsresume.v1",
    }
}

/// Whether the server's echo picked a session (`Some(true)`), plain v1
/// (`Some(false)`), or something this client did not offer (`None`).
fn picked(agreed: Option<&str>, offered: &str) -> Option<bool> {
    let offered = |p: &str| offered.split(", ").any(|o| o == p);
    match agreed {
        Some(p) if p == SUBPROTOCOL_V2 && offered(p) => Some(true),
        Some(p) if p == SUBPROTOCOL => Some(false),
        _ => None,
    }
}

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

    /// The port, 80 or 443 by default.
    pub fn port(&self) -> u16 {
        self.uri
            .port_u16()
            .unwrap_or(if self.is_secure() { 443 } else { 80 })
    }

    /// Whether the URL asks for TLS (`wss://`).
    pub fn is_secure(&self) -> bool {
        self.uri.scheme_str() == Some("wss")
    }

    /// The same URL with the other scheme (`ws://` for `wss://` and back).
    pub fn other_scheme(&self) -> String {
        let text = self.uri.to_string();
        match text.strip_prefix("wss") {
            Some(rest) => format!("ws{rest}"),
            None => format!("wss{}", text.strip_prefix("ws").unwrap_or(&text)),
        }
    }

    /// Whether the URL names a directory (ends in `/`).
    pub fn is_dir(&self) -> bool {
        self.path().ends_with('/')
    }

    /// The last path segment, percent-decoded (the default local name).
    pub fn file_name(&self) -> Option<String> {
        usable_name(self.path().rsplit('/').next()?)
    }

    /// The last segment of the path even when it ends in `/` (a directory's
    /// name: `photos` for `/a/photos/`); `None` for the root.
    pub fn dir_name(&self) -> Option<String> {
        let path = self.path();
        usable_name(path.strip_suffix('/').unwrap_or(path).rsplit('/').next()?)
    }

    /// The same URL ending in `/` (a directory URL).
    pub fn as_dir(&self) -> Result<RemoteUrl> {
        if self.is_dir() {
            return Ok(self.clone());
        }
        RemoteUrl::parse(&format!("{self}/"))
    }

    /// The same URL without its trailing `/` (the root keeps it).
    pub fn as_file(&self) -> Result<RemoteUrl> {
        match self.to_string().strip_suffix('/') {
            Some(text) if self.path() != "/" => RemoteUrl::parse(text),
            _ => Ok(self.clone()),
        }
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

/// A percent-encoded path segment decoded, if it can name a local file.
fn usable_name(segment: &str) -> Option<String> {
    let name = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?;
    (!name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']))
        .then(|| name.into_owned())
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

/// Connect (with TLS for `wss://`) and upgrade, within `opts.timeout`; a
/// success is recorded in `opts.contact`. With `sessions`, `wsresume.v2`
/// is offered too; the answer says whether the server picked it (the
/// connection is a session). Compressed data frames are asked for too
/// (unless `--compress off`), for a session as for one request; the last
/// value says whether the server agreed.
pub async fn connect(
    url: &RemoteUrl,
    opts: &ClientOptions,
    sessions: bool,
) -> Result<(Ws, bool, bool)> {
    let offered = offered(sessions);
    let mut request = upgrade_request(url, opts, offered)?;
    let compress = opts
        .compress
        .request_header()
        .and_then(|v| HeaderValue::from_str(&v).ok());
    let asked = compress.is_some();
    if let Some(value) = compress {
        request.headers_mut().insert(COMPRESS_HEADER, value);
    }
    let tls = match (url.is_secure(), &opts.tls) {
        (false, _) => None,
        (true, Some(config)) => Some(Connector::Rustls(config.clone())),
        (true, None) => return Err(Error::Tls(format!("{url}: TLS is not set up"))),
    };
    let connecting = async {
        let stream = dial::open(url, &opts.route).await?;
        let head = stream.head();
        let config = Some(crate::ws_config());
        tokio_tungstenite::client_async_tls_with_config(request, stream, config, tls)
            .await
            .map_err(|e| handshake_error(url, &head, e))
    };
    let (ws, response) = match tokio::time::timeout(opts.timeout, connecting).await {
        Err(_) => return Err(Error::Network(format!("{url}: connection timed out"))),
        Ok(result) => result?,
    };
    let agreed = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    let Some(session) = picked(agreed, offered) else {
        return Err(Error::Protocol(format!(
            "{url}: the server does not speak {SUBPROTOCOL}"
        )));
    };
    let values = response.headers().get_all(COMPRESS_HEADER);
    let compressing = asked && compress_agreed(values.iter().filter_map(|v| v.to_str().ok()));
    opts.contact.made();
    if sessions {
        // No session where one was wanted (an old server, or this client
        // held to v1): the run goes file by file.
        opts.contact.spoke(session);
    }
    Ok((ws, session, compressing))
}

/// The upgrade request: the URL, the subprotocol and the token.
fn upgrade_request(
    url: &RemoteUrl,
    opts: &ClientOptions,
    offered: &'static str,
) -> Result<Request> {
    let mut request = url
        .uri
        .clone()
        .into_client_request()
        .map_err(|e| Error::Usage(format!("{url}: {e}")))?;
    let headers = request.headers_mut();
    headers.insert("sec-websocket-protocol", HeaderValue::from_static(offered));
    if let Some(token) = &opts.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::Usage("the token contains characters not allowed in a header".into())
        })?;
        headers.insert("authorization", value);
    }
    Ok(request)
}

/// A failed upgrade: first TLS on one side only (told by the first bytes
/// the server sent), then the error itself.
fn handshake_error(url: &RemoteUrl, head: &Head, e: WsError) -> Error {
    match (url.is_secure(), dial::speaks(&head.bytes())) {
        (true, Speaks::Plain) => {
            return Error::Tls(format!(
                "{url}: the server does not speak TLS: try {}",
                url.other_scheme()
            ));
        }
        (false, Speaks::Tls) => {
            return Error::Tls(format!(
                "{url}: the server speaks TLS: try {}",
                url.other_scheme()
            ));
        }
        _ => {}
    }
    upgrade_error(url, e)
}

fn upgrade_error(url: &RemoteUrl, e: WsError) -> Error {
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
        // The connection ended before the server answered the upgrade (a
        // proxy whose server is down, a server stopping): a network failure.
        WsError::Protocol(ProtocolError::HandshakeIncomplete) => Error::Network(format!(
            "{url}: the connection closed before the server answered"
        )),
        WsError::Protocol(e) => Error::Protocol(format!("{url}: {e}")),
        WsError::Io(e) => match crate::tls::tls_failure(&e, url.host()) {
            Some(why) => Error::Tls(format!("{}: {why}", url.host())),
            None if url.is_secure() && e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Error::Network(format!(
                    "{url}: the server closed the connection during the TLS handshake \
                     (if it serves plain ws://, try {})",
                    url.other_scheme()
                ))
            }
            None => Error::Network(format!("{url}: {e}")),
        },
        other => Error::Network(format!("{url}: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_echo_is_accepted_and_tells_a_session() {
        let both = "wsresume.v2, wsresume.v1";
        let cases = [
            (Some("wsresume.v2"), both, Some(true)),
            (Some("wsresume.v1"), both, Some(false)),
            (Some("wsresume.v1"), "wsresume.v1", Some(false)),
            (Some("wsresume.v2"), "wsresume.v1", None),
            (Some("wsresume.v3"), both, None),
            (None, both, None),
        ];
        for (agreed, offered, want) in cases {
            assert_eq!(picked(agreed, offered), want, "{agreed:?} to {offered}");
        }
    }

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
