//! How the client reaches a host: the proxies (and the hosts that bypass
//! them), `--resolve HOST:PORT:ADDR` overrides of name resolution, and
//! `--connect-timeout`. Plain values built once per command
//! (`jobs::setup`); [`super::dial`] follows them. `--resolve` entries are
//! parsed here (pure).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::proxy::Proxies;

/// The network settings of a command.
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// Proxies by URL scheme, and `--noproxy`.
    pub proxies: Proxies,
    /// `--resolve` entries.
    pub resolve: Vec<Resolve>,
    /// `--connect-timeout`: bounds resolution, the TCP connection and the
    /// proxy's handshake.
    pub connect_timeout: Option<Duration>,
}

impl Route {
    /// The addresses `--resolve` gives `host:port`, if an entry matches.
    pub fn overridden(&self, host: &str, port: u16) -> Option<Vec<SocketAddr>> {
        let host = bare(host);
        self.resolve
            .iter()
            .find(|r| r.port == port && r.host.eq_ignore_ascii_case(host))
            .map(|r| {
                r.addrs
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, port))
                    .collect()
            })
    }
}

/// One `--resolve HOST:PORT:ADDR[,ADDR...]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    /// Host name (an IPv6 address without brackets).
    pub host: String,
    /// Port the entry applies to.
    pub port: u16,
    /// Addresses to connect to instead, in order.
    pub addrs: Vec<IpAddr>,
}

impl Resolve {
    /// Read `HOST:PORT:ADDR[,ADDR...]`, IPv6 addresses in brackets or not
    /// (`files.example:443:[::1]`, `files.example:443:::1`).
    pub fn parse(text: &str) -> std::result::Result<Resolve, String> {
        let bad =
            || format!("{text:?} is not HOST:PORT:ADDR (example: files.example:443:127.0.0.1)");
        let (host, rest) = match text.strip_prefix('[') {
            Some(v6) => {
                let (host, rest) = v6.split_once(']').ok_or_else(bad)?;
                (host, rest.strip_prefix(':').ok_or_else(bad)?)
            }
            None => text.split_once(':').ok_or_else(bad)?,
        };
        let (port, addrs) = rest.split_once(':').ok_or_else(bad)?;
        let port = port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?;
        let addrs = addrs
            .split(',')
            .map(|a| bare(a.trim()).parse::<IpAddr>().map_err(|_| bad()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Resolve {
            host: host.to_string(),
            port,
            addrs,
        })
    }
}

/// A host without the brackets of an IPv6 literal.
fn bare(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries_parse_like_curl() {
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        type Parsed<'a> = Option<(&'a str, u16, Vec<IpAddr>)>;
        let cases: &[(&str, Parsed)] = &[
            ("h:443:127.0.0.1", Some(("h", 443, vec![ip("127.0.0.1")]))),
            ("h:1:[::1]", Some(("h", 1, vec![ip("::1")]))),
            ("h:1:::1", Some(("h", 1, vec![ip("::1")]))),
            (
                "h:1:10.0.0.1,[::1]",
                Some(("h", 1, vec![ip("10.0.0.1"), ip("::1")])),
            ),
            ("[::2]:1:10.0.0.1", Some(("::2", 1, vec![ip("10.0.0.1")]))),
            ("h:443", None),
            ("h:x:127.0.0.1", None),
            ("h:0:127.0.0.1", None),
            ("h:1:name", None),
            (":1:127.0.0.1", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = Resolve::parse(text)
                .ok()
                .map(|r| (r.host.clone(), r.port, r.addrs));
            let want = want.clone().map(|(h, p, a)| (h.to_string(), p, a));
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn entries_apply_to_their_host_and_port_only() {
        let route = Route {
            resolve: vec![
                Resolve::parse("Files.Example:443:10.0.0.1").unwrap(),
                Resolve::parse("[::2]:80:10.0.0.2").unwrap(),
            ],
            ..Route::default()
        };
        let addr = |t: &str| vec![t.parse::<SocketAddr>().unwrap()];
        assert_eq!(
            route.overridden("files.example", 443),
            Some(addr("10.0.0.1:443"))
        );
        assert_eq!(route.overridden("files.example", 80), None);
        assert_eq!(route.overridden("other.example", 443), None);
        assert_eq!(route.overridden("[::2]", 80), Some(addr("10.0.0.2:80")));
    }
}
