//! The upgrade's `Origin` check: a browser names the page's origin, and a
//! page from another site must not open a WebSocket here with the user's
//! browser (cross-site WebSocket hijacking). The origin's `host[:port]`
//! must be the `Host` the request was sent to (or the `X-Forwarded-Host` a
//! trusted proxy passes on); a request without `Origin` (a CLI client) is
//! fine. Pure: the caller passes the headers.

/// Whether a request with these headers may upgrade; else why not.
/// `forwarded_host`: the first `X-Forwarded-Host`, only from a trusted proxy.
pub fn check(
    origin: Option<&str>,
    host: Option<&str>,
    forwarded_host: Option<&str>,
) -> Result<(), String> {
    let Some(origin) = origin.map(str::trim) else {
        return Ok(());
    };
    let refused = |why: &str| {
        Err(format!(
            "cross-origin request refused: Origin {origin} {why}"
        ))
    };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return refused("is not a scheme://host[:port] origin");
    };
    let scheme = scheme.to_ascii_lowercase();
    let Some(from) = normalize(&scheme, authority) else {
        return refused("is not a scheme://host[:port] origin");
    };
    let same = |host: Option<&str>| {
        host.and_then(|h| normalize(&scheme, h.trim()))
            .is_some_and(|h| h == from)
    };
    if same(host) || same(forwarded_host) {
        return Ok(());
    }
    refused(&format!(
        "does not match the Host {}",
        forwarded_host.or(host).unwrap_or("(none)")
    ))
}

/// `host[:port]` lowercased, without the port when it is the scheme's
/// default one; `None` for an empty host or a path or user part.
fn normalize(scheme: &str, authority: &str) -> Option<String> {
    if authority.is_empty() || authority.contains(['/', '@', '?', '#', ' ']) {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    // The port follows the last ':' outside an IPv6 literal's brackets.
    let (host, port) = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => {
            (&authority[..at], Some(&authority[at + 1..]))
        }
        _ => (authority.as_str(), None),
    };
    if host.is_empty() {
        return None;
    }
    let default = match scheme {
        "http" | "ws" => Some("80"),
        "https" | "wss" => Some("443"),
        _ => None,
    };
    Some(match port {
        None | Some("") => host.to_string(),
        Some(p) if Some(p) == default => host.to_string(),
        Some(p) => format!("{host}:{p}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_must_be_the_host_it_asks() {
        // (Origin, Host, X-Forwarded-Host from a trusted proxy, allowed)
        let cases = [
            (None, Some("example.com"), None, true),
            (None, None, None, true),
            (
                Some("http://example.com:9001"),
                Some("example.com:9001"),
                None,
                true,
            ),
            (
                Some("http://EXAMPLE.com:9001"),
                Some("example.COM:9001"),
                None,
                true,
            ),
            (
                Some("http://example.com"),
                Some("example.com:80"),
                None,
                true,
            ),
            (Some("https://example.com"), Some("example.com"), None, true),
            (
                Some("https://example.com"),
                Some("example.com:443"),
                None,
                true,
            ),
            (
                Some("https://example.com"),
                Some("example.com:80"),
                None,
                false,
            ),
            (
                Some("http://example.com:9001"),
                Some("example.com:9002"),
                None,
                false,
            ),
            (
                Some("http://evil.com:9001"),
                Some("example.com:9001"),
                None,
                false,
            ),
            (
                Some("http://example.com.evil.com"),
                Some("example.com"),
                None,
                false,
            ),
            (Some("http://[::1]:9001"), Some("[::1]:9001"), None, true),
            (Some("http://[::1]"), Some("[::1]:9001"), None, false),
            (Some("http://[::1]"), Some("[::1]"), None, true),
            (Some("null"), Some("example.com"), None, false),
            (Some(""), Some("example.com"), None, false),
            (Some("http://"), Some(""), None, false),
            (
                Some("http://a@example.com"),
                Some("example.com"),
                None,
                false,
            ),
            (Some("http://example.com"), None, None, false),
            // Behind a trusted proxy: the host the browser asked for.
            (
                Some("https://files.example.com"),
                Some("127.0.0.1:9001"),
                Some("files.example.com"),
                true,
            ),
            (
                Some("https://evil.com"),
                Some("127.0.0.1:9001"),
                Some("files.example.com"),
                false,
            ),
        ];
        for (origin, host, forwarded, allowed) in cases {
            let got = check(origin, host, forwarded);
            assert_eq!(
                got.is_ok(),
                allowed,
                "{origin:?} {host:?} {forwarded:?}: {got:?}"
            );
        }
    }
}
