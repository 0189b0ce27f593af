//! Who really connected, when a reverse proxy stands in front: the client
//! address a trusted proxy (`serve --trusted-proxy`) names in `Forwarded`
//! (RFC 7239) or `X-Forwarded-For`. Pure: the caller decides whether the
//! peer is trusted ([`trusted_for`]) and passes the ranges only then, so
//! headers from any other peer are never read.
//!
//! Each header is a list of hops, the client first and the last proxy's
//! client last. Only the right end can be believed: every trusted proxy
//! appends the address it saw, and anything to the left of the first
//! untrusted address was written by a party we do not trust. So the client
//! is the right-most address that is not itself trusted (as nginx's realip
//! module with `real_ip_recursive on` picks it); when every address is
//! trusted, the left-most. An entry that is not an address (RFC 7239's
//! `unknown` or an obfuscated `_name`, garbage) stops the walk: who stands
//! behind it is not known, so no address is claimed. `Forwarded` wins over
//! `X-Forwarded-For` when it names anyone.

use std::net::{IpAddr, SocketAddr};

use tokio_tungstenite::tungstenite::http::HeaderMap;

use crate::cidr::Cidr;

/// `ranges` when `peer` lies in one of them, else nothing: a peer outside
/// them gets its headers ignored.
pub fn trusted_for(peer: Option<IpAddr>, ranges: &[Cidr]) -> &[Cidr] {
    match peer {
        Some(ip) if ranges.iter().any(|r| r.contains(ip)) => ranges,
        _ => &[],
    }
}

/// The client address the headers of a request from a trusted peer give,
/// `None` when `trusted` is empty (an untrusted peer) or the headers name
/// no address to believe.
pub fn client_address(headers: &HeaderMap, trusted: &[Cidr]) -> Option<IpAddr> {
    if trusted.is_empty() {
        return None;
    }
    let joined = |name: &str| {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let forwarded = joined("forwarded").map(|v| pick(forwarded_hops(&v), trusted));
    let xff = || joined("x-forwarded-for").map(|v| pick(xff_hops(&v), trusted));
    forwarded.flatten().or_else(|| xff().flatten())
}

/// The `for=` of each element of a `Forwarded` value, left to right (an
/// element without one is an unknown hop).
fn forwarded_hops(value: &str) -> Vec<Option<IpAddr>> {
    split_outside_quotes(value, ',')
        .into_iter()
        .map(|element| {
            split_outside_quotes(element, ';')
                .into_iter()
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, node)| node_address(unquote(node.trim())))
        })
        .collect()
}

/// The entries of an `X-Forwarded-For` value, left to right.
fn xff_hops(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .map(|entry| node_address(unquote(entry.trim())))
        .collect()
}

/// The right-most hop that is not trusted; the left-most when all are; none
/// when the walk meets an unknown hop first (or there are no hops).
fn pick(hops: Vec<Option<IpAddr>>, trusted: &[Cidr]) -> Option<IpAddr> {
    let mut last = None;
    for hop in hops.into_iter().rev() {
        let ip = hop?;
        if !trusted.iter().any(|r| r.contains(ip)) {
            return Some(ip);
        }
        last = Some(ip);
    }
    last
}

/// A node as `Forwarded` and `X-Forwarded-For` write it: `1.2.3.4`,
/// `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:5678` or a bare IPv6
/// address; `None` for `unknown`, obfuscated names and anything else.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let inner = node.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// A quoted-string's content (no escapes inside addresses), else `text`.
fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// `text` split at `sep` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    /// Header lines of a case.
    type Lines = &'static [(&'static str, &'static str)];

    fn ranges(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|r| Cidr::parse(r).unwrap()).collect()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_hop() {
        let proxies = ranges(&["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);
        // (headers, client)
        let cases: &[(Lines, Option<&str>)] = &[
            (&[("x-forwarded-for", "203.0.113.7")], Some("203.0.113.7")),
            (
                &[("x-forwarded-for", "203.0.113.7, 127.0.0.1")],
                Some("203.0.113.7"),
            ),
            // A forged left part is skipped: the right-most untrusted wins.
            (
                &[("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.1.2.3")],
                Some("203.0.113.7"),
            ),
            // All trusted: the left-most.
            (
                &[("x-forwarded-for", "10.0.0.9, 127.0.0.1")],
                Some("10.0.0.9"),
            ),
            (
                &[("x-forwarded-for", "203.0.113.7:4711")],
                Some("203.0.113.7"),
            ),
            (
                &[("x-forwarded-for", "[2001:db8::1]:4711")],
                Some("2001:db8::1"),
            ),
            (&[("x-forwarded-for", "2001:db8::1")], Some("2001:db8::1")),
            (
                &[("x-forwarded-for", "::ffff:203.0.113.7")],
                Some("203.0.113.7"),
            ),
            // Several header lines are one list.
            (
                &[
                    ("x-forwarded-for", "203.0.113.7"),
                    ("x-forwarded-for", "10.0.0.1"),
                ],
                Some("203.0.113.7"),
            ),
            // Garbage right of the trusted part: nobody is claimed.
            (&[("x-forwarded-for", "203.0.113.7, evil, 10.0.0.1")], None),
            (&[("x-forwarded-for", "")], None),
            (&[("x-forwarded-for", "unknown")], None),
            (
                &[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
                Some("192.0.2.60"),
            ),
            (
                &[("forwarded", "For=\"[2001:db8:cafe::17]:4711\"")],
                Some("2001:db8:cafe::17"),
            ),
            (
                &[("forwarded", "for=192.0.2.43, for=198.51.100.17")],
                Some("198.51.100.17"),
            ),
            (
                &[("forwarded", "for=192.0.2.43, for=\"[fd00::5]\"")],
                Some("192.0.2.43"),
            ),
            (
                &[("forwarded", "for=192.0.2.43;by=\"a;b,c\", for=10.0.0.2")],
                Some("192.0.2.43"),
            ),
            // Obfuscated or unknown: not an address, and the walk stops.
            (&[("forwarded", "for=_hidden")], None),
            (&[("forwarded", "for=unknown, for=10.0.0.2")], None),
            (
                &[("forwarded", "for=192.0.2.1, for=_gazonk, for=10.0.0.2")],
                None,
            ),
            (&[("forwarded", "proto=https")], None),
            // Forwarded wins when it names someone; else X-Forwarded-For.
            (
                &[
                    ("forwarded", "for=192.0.2.60"),
                    ("x-forwarded-for", "203.0.113.7"),
                ],
                Some("192.0.2.60"),
            ),
            (
                &[("forwarded", "for=_x"), ("x-forwarded-for", "203.0.113.7")],
                Some("203.0.113.7"),
            ),
            (&[], None),
        ];
        for (pairs, want) in cases {
            let want: Option<IpAddr> = want.map(|w| w.parse().unwrap());
            assert_eq!(client_address(&headers(pairs), &proxies), want, "{pairs:?}");
        }
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let proxies = ranges(&["10.0.0.0/8"]);
        let forged = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("forwarded", "for=192.0.2.1"),
        ]);
        // (peer, trusted)
        let cases = [
            (Some("10.9.8.7"), true),
            (Some("::ffff:10.9.8.7"), true),
            (Some("127.0.0.1"), false),
            (Some("fd00::1"), false),
            (None, false),
        ];
        for (peer, trusted) in cases {
            let peer = peer.map(|p| p.parse().unwrap());
            let ranges = trusted_for(peer, &proxies);
            assert_eq!(!ranges.is_empty(), trusted, "{peer:?}");
            assert_eq!(
                client_address(&forged, ranges).is_some(),
                trusted,
                "{peer:?}"
            );
        }
        assert_eq!(trusted_for(Some([10, 0, 0, 1].into()), &[]), &[]);
    }
}
