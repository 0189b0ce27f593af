//! An HTTP proxy's tunnel: `CONNECT host:port` with Basic authentication
//! from the proxy URL's user and password, and the proxy's answer mapped to
//! an error kind (407, or tinyproxy's 401: authentication; 403: a refusal;
//! 5xx: the proxy could not reach the server). The request and the parsing of the
//! answer are pure.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Handshake, ProxyUrl, Target};
use crate::error::Error;

/// Longest answer head read from a proxy.
const MAX_HEAD: usize = 16 * 1024;

/// Ask `proxy` (connected as `stream`) for a tunnel to `target`.
pub(super) async fn connect(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    target: &Target,
) -> Result<(), Handshake> {
    stream.write_all(request(proxy, target).as_bytes()).await?;
    let head = read_head(stream).await?;
    check_answer(&head, proxy, target)?;
    Ok(())
}

/// The `CONNECT` request.
fn request(proxy: &ProxyUrl, target: &Target) -> String {
    let authority = format!("{}:{}", target.host, target.port);
    let mut request = format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: wsresume/{}\r\n",
        crate::VERSION
    );
    if let Some((user, password)) = &proxy.credentials {
        let token = STANDARD.encode(format!("{user}:{password}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// Read the answer's head, up to and including the blank line, and not a
/// byte more (what follows belongs to the tunnel).
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Handshake> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= MAX_HEAD {
            return Err(Handshake::Io(std::io::Error::other(
                "the proxy's answer is too long",
            )));
        }
        if stream.read(&mut byte).await? == 0 {
            return Err(Handshake::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// The status line's code and reason, `None` when it is not HTTP.
fn status(head: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next()?;
    let mut parts = line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?.trim().parse().ok()?;
    let reason = parts.next().unwrap_or("").trim().to_string();
    Some((code, reason))
}

/// `Ok` for a 2xx answer, else the error it means.
fn check_answer(head: &[u8], proxy: &ProxyUrl, target: &Target) -> Result<(), Error> {
    let Some((code, reason)) = status(head) else {
        return Err(Error::Protocol(format!(
            "proxy {proxy}: the answer to CONNECT is not HTTP (is it a SOCKS proxy? then \
             write socks5://)"
        )));
    };
    let to = format!("{}:{}", target.host, target.port);
    let said = format!("{code} {reason}").trim_end().to_string();
    Err(match code {
        200..=299 => return Ok(()),
        401 | 407 if proxy.credentials.is_none() => Error::Auth(format!(
            "proxy {proxy} requires authentication ({said}): put USER:PASSWORD@ in the \
             proxy URL"
        )),
        401 | 407 => Error::Auth(format!(
            "proxy {proxy} refused the user and password ({said})"
        )),
        403 => Error::Refused(format!("proxy {proxy} refused to connect to {to} ({said})")),
        500..=599 => Error::Network(format!(
            "proxy {proxy} could not reach the server {to} ({said})"
        )),
        _ => Error::Network(format!("proxy {proxy}: CONNECT to {to} failed ({said})")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitCode;

    fn target() -> Target {
        Target {
            host: "files.example".into(),
            port: 443,
        }
    }

    #[test]
    fn the_request_carries_the_target_and_decoded_credentials() {
        let proxy = ProxyUrl::parse("http://us%40r:p%3Ass@p:3128").unwrap();
        let text = request(&proxy, &target());
        assert!(
            text.starts_with("CONNECT files.example:443 HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nHost: files.example:443\r\n"), "{text}");
        // base64("us@r:p:ss")
        assert!(
            text.contains("Proxy-Authorization: Basic dXNAcjpwOnNz\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\n\r\n"));
        let anonymous = request(&ProxyUrl::parse("p:1").unwrap(), &target());
        assert!(!anonymous.contains("Proxy-Authorization"), "{anonymous}");
        let v6 = Target {
            host: "[::1]".into(),
            port: 9,
        };
        assert!(request(&proxy, &v6).starts_with("CONNECT [::1]:9 HTTP/1.1\r\n"));
    }

    #[test]
    fn answers_map_to_exit_codes() {
        let with = ProxyUrl::parse("http://u:secret@p:1").unwrap();
        let without = ProxyUrl::parse("http://p:1").unwrap();
        let cases: &[(&str, &ProxyUrl, Option<ExitCode>, &str)] = &[
            (
                "HTTP/1.1 200 Connection established\r\n\r\n",
                &with,
                None,
                "",
            ),
            ("HTTP/1.0 200 OK\r\nProxy-agent: x\r\n\r\n", &with, None, ""),
            (
                "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
                &with,
                Some(ExitCode::Auth),
                "refused the user",
            ),
            (
                "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
                &without,
                Some(ExitCode::Auth),
                "requires authentication",
            ),
            (
                "HTTP/1.1 403 Forbidden\r\n\r\n",
                &with,
                Some(ExitCode::Refused),
                "refused to connect to files.example:443",
            ),
            (
                "HTTP/1.1 502 Bad Gateway\r\n\r\n",
                &with,
                Some(ExitCode::Network),
                "could not reach the server",
            ),
            (
                "HTTP/1.1 503 Service Unavailable\r\n\r\n",
                &with,
                Some(ExitCode::Network),
                "could not reach",
            ),
            (
                "HTTP/1.1 504 Gateway Timeout\r\n\r\n",
                &with,
                Some(ExitCode::Network),
                "could not reach",
            ),
            (
                "HTTP/1.1 500 Unable to connect\r\n\r\n",
                &with,
                Some(ExitCode::Network),
                "could not reach the server files.example:443 (500 Unable to connect)",
            ),
            (
                "HTTP/1.1 400 Bad Request\r\n\r\n",
                &with,
                Some(ExitCode::Network),
                "CONNECT to files.example:443 failed (400 Bad Request)",
            ),
            ("\x05\x00", &with, Some(ExitCode::Protocol), "not HTTP"),
        ];
        for (head, proxy, want, part) in cases {
            match (check_answer(head.as_bytes(), proxy, &target()), want) {
                (Ok(()), None) => {}
                (Err(e), Some(code)) => {
                    let text = e.to_string();
                    assert_eq!(e.exit_code(), *code, "{head}");
                    assert!(text.contains(part), "{head}: {text}");
                    assert!(text.contains("proxy http://"), "{text}");
                    assert!(!text.contains("secret"), "{text}");
                }
                (other, _) => panic!("{head}: {other:?}"),
            }
        }
    }
}
