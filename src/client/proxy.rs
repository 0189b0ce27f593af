//! Proxies on the way to the server: the proxy URL (`http://`, `socks5://`,
//! `socks5h://`, with a percent-encoded user and password), and the tunnel
//! through it, which the rest of the connection (TLS, the upgrade) runs
//! inside unchanged. `http` speaks `CONNECT`, `socks` SOCKS5; `noproxy`
//! says which hosts go direct. Which proxy applies comes from the settings
//! (`jobs::setup`); [`super::dial`] asks [`Proxies::for_url`].

mod http;
pub mod noproxy;
mod socks;

use std::fmt;

use tokio::net::TcpStream;

pub use noproxy::NoProxy;

use super::connect::RemoteUrl;
use crate::error::{Error, Result};

/// The port of a proxy URL without one (curl's default for every kind).
pub const DEFAULT_PORT: u16 = 1080;

/// How to talk to a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HTTP `CONNECT`.
    Http,
    /// SOCKS5, the client resolving the server's name.
    Socks5,
    /// SOCKS5, the proxy resolving the server's name.
    Socks5h,
}

impl Kind {
    fn scheme(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Socks5 => "socks5",
            Kind::Socks5h => "socks5h",
        }
    }
}

/// A proxy: its kind, address and credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// The protocol.
    pub kind: Kind,
    /// Host name or address (an IPv6 address in brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// User and password, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl ProxyUrl {
    /// Read `[SCHEME://][USER[:PASSWORD]@]HOST[:PORT][/]`; without a scheme
    /// the proxy is HTTP, as with curl.
    pub fn parse(text: &str) -> std::result::Result<ProxyUrl, String> {
        let text = text.trim();
        let (kind, rest) = match text.split_once("://") {
            None => (Kind::Http, text),
            Some((scheme, rest)) => (kind_of(scheme)?, rest),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(format!("{text:?}: a proxy URL has no path"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, rest),
        };
        let (host, port) = host_port(hostport).ok_or_else(|| {
            format!("{text:?} is not a proxy URL (example: http://user:password@proxy:3128)")
        })?;
        let credentials = userinfo.map(credentials).transpose()?;
        Ok(ProxyUrl {
            kind,
            host,
            port,
            credentials,
        })
    }
}

fn kind_of(scheme: &str) -> std::result::Result<Kind, String> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => Ok(Kind::Http),
        "socks5" => Ok(Kind::Socks5),
        "socks5h" => Ok(Kind::Socks5h),
        other => Err(format!(
            "{other}:// proxies are not supported (use http://, socks5:// or socks5h://)"
        )),
    }
}

/// `host[:port]`, `[v6][:port]`; `None` when the host is empty or the port
/// is not a number.
fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (format!("[{inside}]"), port)
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (text.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse().ok().filter(|p| *p != 0)?,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// `user[:password]`, both percent-decoded.
fn credentials(userinfo: &str) -> std::result::Result<(String, String), String> {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| "the proxy's user or password is not UTF-8 once decoded".to_string())
    };
    Ok((decode(user)?, decode(password)?))
}

/// The URL with the password masked: what messages and `wsresume config`
/// show.
impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.kind.scheme())?;
        if let Some((user, password)) = &self.credentials {
            let user = percent_encoding::utf8_percent_encode(user, USERINFO);
            match password.is_empty() {
                true => write!(f, "{user}@")?,
                false => write!(f, "{user}:****@")?,
            }
        }
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// Characters encoded in a user name shown back.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'@')
    .add(b':')
    .add(b'/')
    .add(b'%');

/// The proxies in force: one for `wss://`, one for `ws://`, and the hosts
/// that bypass them.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// For `wss://` URLs.
    pub wss: Option<ProxyUrl>,
    /// For `ws://` URLs.
    pub ws: Option<ProxyUrl>,
    /// Hosts reached directly.
    pub noproxy: NoProxy,
}

impl Proxies {
    /// The proxy to reach `url` through, if any.
    pub fn for_url(&self, url: &RemoteUrl) -> Option<&ProxyUrl> {
        let proxy = match url.is_secure() {
            true => self.wss.as_ref(),
            false => self.ws.as_ref(),
        };
        proxy.filter(|_| !self.noproxy.matches(url.host()))
    }
}

/// Turn `stream`, connected to `proxy`, into a tunnel to `url`'s host and
/// port. `local` resolves the server's name for `socks5://`.
pub async fn tunnel<F, Fut>(
    stream: &mut TcpStream,
    proxy: &ProxyUrl,
    url: &RemoteUrl,
    local: F,
) -> Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<std::net::SocketAddr>>,
{
    let target = Target {
        host: url.host().to_string(),
        port: url.port(),
    };
    let outcome = match proxy.kind {
        Kind::Http => http::connect(stream, proxy, &target).await,
        Kind::Socks5h => socks::connect(stream, proxy, &socks::Address::of(&target)).await,
        Kind::Socks5 => {
            let addr = local().await?;
            socks::connect(stream, proxy, &socks::Address::Ip(addr)).await
        }
    };
    outcome.map_err(|e| match e {
        Handshake::Io(e) => Error::Network(format!(
            "proxy {proxy}: the connection failed during the proxy's handshake: {e}"
        )),
        Handshake::Failed(error) => error,
    })
}

/// Where the tunnel leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host as the URL has it (`[::1]` in brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// Why a proxy handshake failed: the connection, or the proxy's answer.
#[derive(Debug)]
enum Handshake {
    Io(std::io::Error),
    Failed(Error),
}

impl From<std::io::Error> for Handshake {
    fn from(e: std::io::Error) -> Handshake {
        Handshake::Io(e)
    }
}

impl From<Error> for Handshake {
    fn from(e: Error) -> Handshake {
        Handshake::Failed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Credentials = Option<(String, String)>;

    fn creds(user: &str, password: &str) -> Credentials {
        Some((user.into(), password.into()))
    }

    #[test]
    fn proxy_urls_parse_like_curl() {
        let cases: &[(&str, Kind, &str, u16, Credentials)] = &[
            ("proxy", Kind::Http, "proxy", 1080, None),
            ("proxy:3128", Kind::Http, "proxy", 3128, None),
            ("http://Proxy:3128/", Kind::Http, "proxy", 3128, None),
            ("HTTP://proxy", Kind::Http, "proxy", 1080, None),
            ("socks5://127.0.0.1:9", Kind::Socks5, "127.0.0.1", 9, None),
            ("socks5h://[::1]:9", Kind::Socks5h, "[::1]", 9, None),
            ("http://[::1]", Kind::Http, "[::1]", 1080, None),
            ("http://u:p@h:1", Kind::Http, "h", 1, creds("u", "p")),
            ("http://u@h:1", Kind::Http, "h", 1, creds("u", "")),
            (
                "http://u%40x:p%3Aq%25@h:1",
                Kind::Http,
                "h",
                1,
                creds("u@x", "p:q%"),
            ),
            ("http://u:p@ss@h:1", Kind::Http, "h", 1, creds("u", "p@ss")),
        ];
        for (text, kind, host, port, credentials) in cases {
            let proxy = ProxyUrl::parse(text).unwrap();
            assert_eq!(proxy.kind, *kind, "{text}");
            assert_eq!(proxy.host, *host, "{text}");
            assert_eq!(proxy.port, *port, "{text}");
            assert_eq!(proxy.credentials, *credentials, "{text}");
        }
    }

    #[test]
    fn bad_proxy_urls_are_refused() {
        let cases = [
            ("https://proxy:3128", "not supported"),
            ("socks4://proxy", "not supported"),
            ("http://", "not a proxy URL"),
            ("http://proxy:port", "not a proxy URL"),
            ("http://proxy:0", "not a proxy URL"),
            ("http://proxy:99999", "not a proxy URL"),
            ("http://proxy:1/path", "no path"),
            ("http://[::1", "not a proxy URL"),
            ("http://u:%ff@h", "UTF-8"),
        ];
        for (text, why) in cases {
            let error = ProxyUrl::parse(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn the_password_is_masked_when_shown() {
        let cases = [
            ("http://u:secret@h:1", "http://u:****@h:1"),
            ("socks5h://u%40x:s@h", "socks5h://u%40x:****@h:1080"),
            ("socks5://u@h:2", "socks5://u@h:2"),
            ("h", "http://h:1080"),
        ];
        for (text, shown) in cases {
            assert_eq!(ProxyUrl::parse(text).unwrap().to_string(), shown);
            assert!(!format!("{:?}", ProxyUrl::parse(text).unwrap()).contains("secret"));
        }
    }

    #[test]
    fn the_scheme_picks_the_proxy_and_noproxy_bypasses_it() {
        let proxies = Proxies {
            wss: Some(ProxyUrl::parse("http://tls-proxy:1").unwrap()),
            ws: Some(ProxyUrl::parse("socks5://plain-proxy:2").unwrap()),
            noproxy: NoProxy::parse("internal.example"),
        };
        let host = |url: &str| {
            let url = RemoteUrl::parse(url).unwrap();
            proxies.for_url(&url).map(|p| p.host.clone())
        };
        assert_eq!(host("wss://a.example/x").as_deref(), Some("tls-proxy"));
        assert_eq!(host("ws://a.example/x").as_deref(), Some("plain-proxy"));
        assert_eq!(host("wss://files.internal.example/x"), None);
        assert_eq!(
            Proxies::default().for_url(&RemoteUrl::parse("ws://h/").unwrap()),
            None
        );
    }
}
