//! `NO_PROXY`/`no_proxy`/`--noproxy`: which hosts bypass the proxy, as curl
//! reads the list. Comma- (or space-) separated entries: `*` (every host),
//! a host name (`example.com`, also matching its subdomains; a leading dot,
//! `.example.com`, means the same), an IP address or a CIDR range (matching
//! IP literals in URLs only; names are not resolved to test them). Case is
//! ignored, and so are ports on entries (`example.com:8080`). Pure.

use std::net::IpAddr;

use crate::cidr::Cidr;

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// `*`: every host.
    All,
    /// An address or a range of them.
    Range(Cidr),
    /// A host name (lower case, no leading or trailing dot).
    Name(String),
}

/// A parsed `NO_PROXY` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    entries: Vec<Entry>,
}

impl NoProxy {
    /// Read a list; entries that are empty are skipped (nothing in a list
    /// is an error, as with curl).
    pub fn parse(list: &str) -> NoProxy {
        let entries = list
            .split([',', ' ', '\t'])
            .filter_map(|raw| entry(raw.trim()))
            .collect();
        NoProxy { entries }
    }

    /// Whether `host` (as a URL has it: `[::1]` with brackets, a name, an
    /// IPv4 address) goes direct.
    pub fn matches(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip: Option<IpAddr> = host.parse().ok();
        self.entries.iter().any(|entry| match (entry, ip) {
            (Entry::All, _) => true,
            (Entry::Range(range), Some(ip)) => range.contains(ip),
            (Entry::Range(_), None) => false,
            (Entry::Name(name), _) => {
                host == *name
                    || host
                        .strip_suffix(name.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
        })
    }
}

/// One entry, its port dropped.
fn entry(raw: &str) -> Option<Entry> {
    if raw.is_empty() {
        return None;
    }
    if raw == "*" {
        return Some(Entry::All);
    }
    let text = without_port(raw);
    if let Some(range) = Cidr::parse(text) {
        return Some(Entry::Range(range));
    }
    let name = text
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!name.is_empty()).then_some(Entry::Name(name))
}

/// `[v6]:port` → `v6`, `name:port` → `name`; an IPv6 address or range
/// (several colons) stays whole.
fn without_port(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((inside, after)) => match after.split_once('/') {
                // `[fd00::]/8`: keep the prefix length.
                Some(_) => text,
                None => inside,
            },
            None => rest,
        };
    }
    match text.split_once(':') {
        Some((name, port)) if !port.contains(':') => name,
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_like_curl() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "example.com", false),
            ("*", "example.com", true),
            ("*", "[::1]", true),
            ("example.com", "example.com", true),
            ("example.com", "EXAMPLE.com.", true),
            ("example.com", "www.example.com", true),
            ("example.com", "a.b.example.com", true),
            ("example.com", "badexample.com", false),
            ("example.com", "example.com.evil", false),
            (".example.com", "example.com", true),
            (".example.com", "www.example.com", true),
            (".Example.COM", "www.example.com", true),
            ("example.com:8080", "example.com", true),
            ("other.org, example.com", "www.example.com", true),
            ("other.org,,example.com", "example.com", true),
            ("other.org example.com", "example.com", true),
            ("other.org", "example.com", false),
            ("localhost", "localhost", true),
            ("localhost", "127.0.0.1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("127.0.0.1:9001", "127.0.0.1", true),
            ("10.0.0.0/8", "10.1.2.3", true),
            ("10.0.0.0/8", "11.1.2.3", false),
            ("10.0.0.0/8", "ten.example", false),
            ("::1", "[::1]", true),
            ("[::1]", "[::1]", true),
            ("[::1]:443", "[::1]", true),
            ("fd00::/8", "[fd12::1]", true),
            ("fd00::/8", "[fe80::1]", false),
            ("[fd00::]/8", "[fd12::1]", true),
            ("127.0.0.0/8", "[::ffff:127.0.0.1]", true),
            ("*.example.com", "www.example.com", false),
        ];
        for &(list, host, want) in cases {
            assert_eq!(NoProxy::parse(list).matches(host), want, "{list:?} {host}");
        }
    }
}
