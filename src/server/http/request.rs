//! A plain HTTP request head as the handshake read it: method, path,
//! query and the few headers the answer depends on. Pure.

/// Most headers a request head may carry (as many as the upgrade takes).
const MAX_HEADERS: usize = 124;

/// A parsed request head.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PlainRequest {
    /// `GET`, `HEAD`, ... as sent.
    pub method: String,
    /// The path of the request target, still percent-encoded.
    pub path: String,
    /// The query, without its `?` (empty when there is none).
    pub query: String,
    /// Headers by lowercase name, in the order sent.
    pub headers: Vec<(String, String)>,
}

impl PlainRequest {
    /// Parse a complete request head at the start of `bytes`; `None` when
    /// it is not one.
    pub fn parse(bytes: &[u8]) -> Option<PlainRequest> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return None,
        }
        let target = origin_form(request.path?);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let headers = request
            .headers
            .iter()
            .filter_map(|h| {
                let value = std::str::from_utf8(h.value).ok()?;
                Some((h.name.to_ascii_lowercase(), value.trim().to_string()))
            })
            .collect();
        Some(PlainRequest {
            method: request.method?.to_string(),
            path: path.split('#').next().unwrap_or_default().to_string(),
            query: query.to_string(),
            headers,
        })
    }

    /// The first value of the header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the query parameter `name`, if present.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The client asks for JSON (`Accept: application/json`).
    pub fn wants_json(&self) -> bool {
        self.header("accept")
            .is_some_and(|a| a.to_ascii_lowercase().contains("application/json"))
    }
}

/// The origin form of a request target: `http://host/p?q` becomes `/p?q`.
fn origin_form(target: &str) -> &str {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let rest = if lower.starts_with("http://") {
        &target[7..]
    } else if lower.starts_with("https://") {
        &target[8..]
    } else {
        return target;
    };
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_into_path_query_and_headers() {
        // (head, method, path, query)
        let cases = [
            (
                "GET /a%20b?sort=size HTTP/1.1\r\nHost: x\r\n\r\n",
                "GET",
                "/a%20b",
                "sort=size",
            ),
            ("HEAD / HTTP/1.0\r\n\r\n", "HEAD", "/", ""),
            (
                "GET http://h:1/d/?x=1 HTTP/1.1\r\n\r\n",
                "GET",
                "/d/",
                "x=1",
            ),
            ("GET https://h HTTP/1.1\r\n\r\n", "GET", "/", ""),
            ("DELETE /f#frag HTTP/1.1\r\n\r\n", "DELETE", "/f", ""),
        ];
        for (head, method, path, query) in cases {
            let r = PlainRequest::parse(head.as_bytes()).unwrap();
            assert_eq!(
                (r.method.as_str(), r.path.as_str()),
                (method, path),
                "{head}"
            );
            assert_eq!(r.query, query, "{head}");
        }
        let r = PlainRequest::parse(
            b"GET /?sort=date&x HTTP/1.1\r\nRange:  bytes=1-2 \r\nACCEPT: application/json\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.header("range"), Some("bytes=1-2"));
        assert_eq!(r.query_param("sort"), Some("date"));
        assert_eq!(r.query_param("x"), None);
        assert!(r.wants_json());
        assert!(PlainRequest::parse(b"GET / HTTP/1.1\r\n").is_none());
        assert!(PlainRequest::parse(b"\x16\x03\x01").is_none());
    }
}
