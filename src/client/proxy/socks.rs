//! A SOCKS5 proxy's tunnel (RFC 1928) with username/password
//! authentication (RFC 1929): the greeting, the authentication, the
//! `CONNECT` request to an address (`socks5://`) or a name (`socks5h://`),
//! and the replies mapped to error kinds. Messages are built and replies
//! read by pure functions.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Handshake, ProxyUrl, Target};
use crate::error::Error;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASSWORD: u8 = 2;
const NO_METHOD: u8 = 0xff;

/// The server's address as the request carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Address {
    /// Resolved by the client.
    Ip(SocketAddr),
    /// Resolved by the proxy.
    Name(String, u16),
}

impl Address {
    /// The target as `socks5h://` sends it: an IP literal as an address,
    /// a name as a name.
    pub(super) fn of(target: &Target) -> Address {
        let bare = target.host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => Address::Ip(SocketAddr::new(ip, target.port)),
            Err(_) => Address::Name(target.host.clone(), target.port),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Ip(addr) => write!(f, "{addr}"),
            Address::Name(name, port) => write!(f, "{name}:{port}"),
        }
    }
}

/// Open a tunnel to `target` through `proxy` (connected as `stream`).
pub(super) async fn connect(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    target: &Address,
) -> Result<(), Handshake> {
    stream
        .write_all(&greeting(proxy.credentials.is_some()))
        .await?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await?;
    if method(choice, proxy)? == USER_PASSWORD {
        let Some((user, password)) = &proxy.credentials else {
            return Err(Handshake::Failed(not_socks(proxy)));
        };
        stream.write_all(&login(user, password, proxy)?).await?;
        let mut status = [0u8; 2];
        stream.read_exact(&mut status).await?;
        login_status(status, proxy)?;
    }
    stream.write_all(&request(target, proxy)?).await?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await?;
    let mut rest = reply(head, proxy, target)?;
    if rest == 1 {
        // A name: its length byte comes first, then the name and the port.
        let mut len = [0u8; 1];
        stream.read_exact(&mut len).await?;
        rest = usize::from(len[0]) + 2;
    }
    let mut bound = vec![0u8; rest];
    stream.read_exact(&mut bound).await?;
    Ok(())
}

/// The methods offered: none, and username/password when there are
/// credentials.
fn greeting(credentials: bool) -> Vec<u8> {
    match credentials {
        true => vec![VERSION, 2, NO_AUTH, USER_PASSWORD],
        false => vec![VERSION, 1, NO_AUTH],
    }
}

fn not_socks(proxy: &ProxyUrl) -> Error {
    Error::Protocol(format!(
        "proxy {proxy}: not a SOCKS5 proxy (is it an HTTP proxy? then write http://)"
    ))
}

/// The method the proxy chose.
fn method(choice: [u8; 2], proxy: &ProxyUrl) -> Result<u8, Error> {
    let with = proxy.credentials.is_some();
    match choice {
        [VERSION, NO_AUTH] => Ok(NO_AUTH),
        [VERSION, USER_PASSWORD] if with => Ok(USER_PASSWORD),
        [VERSION, NO_METHOD] if !with => Err(Error::Auth(format!(
            "proxy {proxy} requires authentication: put USER:PASSWORD@ in the proxy URL"
        ))),
        [VERSION, _] => Err(Error::Auth(format!(
            "proxy {proxy} accepts none of the authentication methods offered"
        ))),
        _ => Err(not_socks(proxy)),
    }
}

/// The username/password request (RFC 1929).
fn login(user: &str, password: &str, proxy: &ProxyUrl) -> Result<Vec<u8>, Error> {
    let too_long = || {
        Error::Usage(format!(
            "proxy {proxy}: SOCKS5 user names and passwords are at most 255 bytes"
        ))
    };
    let user_len = u8::try_from(user.len()).map_err(|_| too_long())?;
    let password_len = u8::try_from(password.len()).map_err(|_| too_long())?;
    let mut message = vec![1, user_len];
    message.extend_from_slice(user.as_bytes());
    message.push(password_len);
    message.extend_from_slice(password.as_bytes());
    Ok(message)
}

fn login_status(status: [u8; 2], proxy: &ProxyUrl) -> Result<(), Error> {
    match status {
        [1, 0] => Ok(()),
        [1, _] => Err(Error::Auth(format!(
            "proxy {proxy} refused the user and password"
        ))),
        _ => Err(not_socks(proxy)),
    }
}

/// The `CONNECT` request.
fn request(target: &Address, proxy: &ProxyUrl) -> Result<Vec<u8>, Error> {
    let mut message = vec![VERSION, 1, 0];
    let port = match target {
        Address::Ip(addr) => {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    message.push(1);
                    message.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    message.push(4);
                    message.extend_from_slice(&ip.octets());
                }
            }
            addr.port()
        }
        Address::Name(name, port) => {
            let len = u8::try_from(name.len()).map_err(|_| {
                Error::Usage(format!(
                    "proxy {proxy}: the host name is too long for SOCKS5"
                ))
            })?;
            message.extend_from_slice(&[3, len]);
            message.extend_from_slice(name.as_bytes());
            *port
        }
    };
    message.extend_from_slice(&port.to_be_bytes());
    Ok(message)
}

/// Check the reply's first four bytes; how many bytes of it follow (1 for
/// a name: its length byte, then that many and the port).
fn reply(head: [u8; 4], proxy: &ProxyUrl, target: &Address) -> Result<usize, Error> {
    let [VERSION, code, _, kind] = head else {
        return Err(not_socks(proxy));
    };
    let why = match code {
        0 => {
            return match kind {
                1 => Ok(4 + 2),
                4 => Ok(16 + 2),
                3 => Ok(1),
                _ => Err(not_socks(proxy)),
            };
        }
        2 => {
            return Err(Error::Refused(format!(
                "proxy {proxy} refused to connect to {target} (not allowed by its rules)"
            )));
        }
        5 => {
            return Err(Error::ConnectionRefused(format!(
                "proxy {proxy}: connection refused by {target}: is the server running?"
            )));
        }
        7 | 8 => {
            return Err(Error::Protocol(format!(
                "proxy {proxy}: the request for {target} is not supported (code {code})"
            )));
        }
        1 => "general failure",
        3 => "network unreachable",
        4 => "host unreachable",
        6 => "TTL expired",
        _ => "unknown error",
    };
    Err(Error::Network(format!(
        "proxy {proxy} could not reach the server {target} ({why})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitCode;

    fn proxy(text: &str) -> ProxyUrl {
        ProxyUrl::parse(text).unwrap()
    }

    #[test]
    fn messages_are_encoded_per_rfc_1928_and_1929() {
        assert_eq!(greeting(false), [5, 1, 0]);
        assert_eq!(greeting(true), [5, 2, 0, 2]);
        let p = proxy("socks5://u:p@h");
        assert_eq!(login("us", "pwd", &p).unwrap(), b"\x01\x02us\x03pwd");
        assert_eq!(
            login(&"x".repeat(256), "", &p).unwrap_err().exit_code(),
            ExitCode::Usage
        );
        let v4 = Address::Ip("10.1.2.3:443".parse().unwrap());
        assert_eq!(request(&v4, &p).unwrap(), [5, 1, 0, 1, 10, 1, 2, 3, 1, 187]);
        let v6 = Address::Ip("[::1]:80".parse().unwrap());
        let mut want = vec![5, 1, 0, 4];
        want.extend_from_slice(&[0; 15]);
        want.extend_from_slice(&[1, 0, 80]);
        assert_eq!(request(&v6, &p).unwrap(), want);
        let name = Address::Name("ab.c".into(), 9001);
        assert_eq!(
            request(&name, &p).unwrap(),
            b"\x05\x01\x00\x03\x04ab.c\x23\x29"
        );
    }

    #[test]
    fn socks5h_sends_names_and_literal_addresses_as_addresses() {
        let of = |host: &str| {
            Address::of(&Target {
                host: host.into(),
                port: 7,
            })
        };
        assert_eq!(
            of("files.example"),
            Address::Name("files.example".into(), 7)
        );
        assert_eq!(of("127.0.0.1"), Address::Ip("127.0.0.1:7".parse().unwrap()));
        assert_eq!(of("[::1]"), Address::Ip("[::1]:7".parse().unwrap()));
    }

    #[test]
    fn method_choices_and_login_answers_map_to_exit_codes() {
        let with = proxy("socks5://u:secret@h:1");
        let without = proxy("socks5://h:1");
        let code = |r: Result<u8, Error>| r.map_err(|e| e.exit_code());
        assert_eq!(code(method([5, 0], &with)), Ok(NO_AUTH));
        assert_eq!(code(method([5, 2], &with)), Ok(USER_PASSWORD));
        assert_eq!(code(method([5, 0xff], &with)), Err(ExitCode::Auth));
        assert_eq!(code(method([5, 0xff], &without)), Err(ExitCode::Auth));
        assert_eq!(code(method([5, 2], &without)), Err(ExitCode::Auth));
        assert_eq!(code(method([b'H', b'T'], &with)), Err(ExitCode::Protocol));
        assert!(login_status([1, 0], &with).is_ok());
        let refused = login_status([1, 1], &with).unwrap_err();
        assert_eq!(refused.exit_code(), ExitCode::Auth);
        assert!(
            refused.to_string().contains("proxy socks5://u:****@h:1"),
            "{refused}"
        );
        assert!(!refused.to_string().contains("secret"));
    }

    #[test]
    fn replies_map_to_lengths_and_exit_codes() {
        let p = proxy("socks5h://h:1");
        let t = Address::Name("files.example".into(), 443);
        let cases: &[([u8; 4], Result<usize, ExitCode>)] = &[
            ([5, 0, 0, 1], Ok(6)),
            ([5, 0, 0, 4], Ok(18)),
            ([5, 0, 0, 3], Ok(1)),
            ([5, 0, 0, 9], Err(ExitCode::Protocol)),
            ([5, 1, 0, 1], Err(ExitCode::Network)),
            ([5, 2, 0, 1], Err(ExitCode::Refused)),
            ([5, 3, 0, 1], Err(ExitCode::Network)),
            ([5, 4, 0, 1], Err(ExitCode::Network)),
            ([5, 5, 0, 1], Err(ExitCode::Network)),
            ([5, 6, 0, 1], Err(ExitCode::Network)),
            ([5, 7, 0, 1], Err(ExitCode::Protocol)),
            ([5, 8, 0, 1], Err(ExitCode::Protocol)),
            ([4, 0, 0, 1], Err(ExitCode::Protocol)),
        ];
        for (head, want) in cases {
            let got = reply(*head, &p, &t);
            if let Err(e) = &got {
                assert!(e.to_string().contains("proxy socks5h://h:1"), "{e}");
            }
            assert_eq!(&got.map_err(|e| e.exit_code()), want, "{head:?}");
        }
    }
}
