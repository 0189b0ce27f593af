//! What a `GET`/`HEAD` of a file answers, from its size and validators
//! and the request's `Range`, `If-Range` and `If-None-Match` (RFC 9110):
//! the whole file, one range of it, `304` or `416`. Pure. A request this
//! does not understand (several ranges, another unit, bad syntax) gets
//! the whole file: never wrong bytes.

/// The file's validators as the answer carries them.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The entity tag, quoted.
    pub etag: &'a str,
    /// The `Last-Modified` date, formatted.
    pub last_modified: &'a str,
}

/// The request's conditional and range headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// `Range`.
    pub range: Option<&'a str>,
    /// `If-Range`.
    pub if_range: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
}

/// What to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// `304 Not Modified`.
    NotModified,
    /// `200` with the whole file.
    Whole,
    /// `206` with bytes `start..=end`.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// `416` with `Content-Range: bytes */SIZE`.
    Unsatisfiable,
}

/// Decide the answer for a file of `size` bytes.
pub fn decide(c: Conditions<'_>, size: u64, v: Validators<'_>) -> Answer {
    if c.if_none_match
        .is_some_and(|inm| none_match_hits(inm, v.etag))
    {
        return Answer::NotModified;
    }
    let Some(range) = c.range else {
        return Answer::Whole;
    };
    if c.if_range.is_some_and(|ir| !if_range_holds(ir, v)) {
        return Answer::Whole;
    }
    match parse_range(range, size) {
        Spec::One(start, end) => Answer::Partial { start, end },
        Spec::Unsatisfiable => Answer::Unsatisfiable,
        Spec::Ignored => Answer::Whole,
    }
}

/// `If-None-Match` (weak comparison): `*` or a listed tag equal to ours.
fn none_match_hits(value: &str, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

/// `If-Range`: a strong tag equal to ours, or our exact `Last-Modified`.
fn if_range_holds(value: &str, v: Validators<'_>) -> bool {
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        value == v.etag && !v.etag.starts_with("W/")
    } else {
        value == v.last_modified
    }
}

/// A `Range` header as far as this server serves it.
#[derive(Debug, PartialEq, Eq)]
enum Spec {
    One(u64, u64),
    Unsatisfiable,
    Ignored,
}

fn parse_range(value: &str, size: u64) -> Spec {
    let Some((unit, set)) = value.trim().split_once('=') else {
        return Spec::Ignored;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return Spec::Ignored;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return Spec::Ignored;
    };
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().unwrap_or(u64::MAX))
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // bytes=-N: the last N bytes.
        (true, _, Some(n)) if n == 0 || size == 0 => Spec::Unsatisfiable,
        (true, _, Some(n)) => Spec::One(size - n.min(size), size - 1),
        (false, Some(start), None) if last.trim().is_empty() => one(start, u64::MAX, size),
        (false, Some(start), Some(end)) if end >= start => one(start, end, size),
        _ => Spec::Ignored,
    }
}

fn one(start: u64, end: u64, size: u64) -> Spec {
    if start >= size {
        Spec::Unsatisfiable
    } else {
        Spec::One(start, end.min(size - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: Validators = Validators {
        etag: "\"e1\"",
        last_modified: "Mon, 07 Dec 2026 09:52:31 GMT",
    };

    #[test]
    fn ranges_decide_200_206_or_416() {
        use Answer::*;
        // (Range, size, answer)
        let cases = [
            ("bytes=0-99", 1000, Partial { start: 0, end: 99 }),
            (
                "bytes=500-",
                1000,
                Partial {
                    start: 500,
                    end: 999,
                },
            ),
            (
                "bytes=500-5000",
                1000,
                Partial {
                    start: 500,
                    end: 999,
                },
            ),
            (
                "bytes=-100",
                1000,
                Partial {
                    start: 900,
                    end: 999,
                },
            ),
            ("bytes=-5000", 1000, Partial { start: 0, end: 999 }),
            ("BYTES = 1-1", 1000, Partial { start: 1, end: 1 }),
            (
                "bytes=999-999",
                1000,
                Partial {
                    start: 999,
                    end: 999,
                },
            ),
            ("bytes=1000-", 1000, Unsatisfiable),
            ("bytes=2000-3000", 1000, Unsatisfiable),
            ("bytes=-0", 1000, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-1", 0, Unsatisfiable),
            ("bytes=0-1,5-6", 1000, Whole),
            ("bytes=0-1, 2000-", 1000, Whole),
            ("bytes=5-3", 1000, Whole),
            ("bytes=a-b", 1000, Whole),
            ("bytes=-", 1000, Whole),
            ("bytes=+1-2", 1000, Whole),
            ("items=0-1", 1000, Whole),
            ("bytes 0-1", 1000, Whole),
            ("bytes=99999999999999999999999-", 1000, Unsatisfiable),
        ];
        for (range, size, want) in cases {
            let c = Conditions {
                range: Some(range),
                ..Conditions::default()
            };
            assert_eq!(decide(c, size, V), want, "{range} of {size}");
        }
    }

    #[test]
    fn validators_decide_304_and_whether_a_range_holds() {
        use Answer::*;
        let part = Partial {
            start: 10,
            end: 999,
        };
        // (If-None-Match, If-Range, answer) with Range bytes=10-
        let cases = [
            (None, None, part),
            (Some("\"e1\""), None, NotModified),
            (Some("W/\"e1\""), None, NotModified),
            (Some("\"x\", \"e1\""), None, NotModified),
            (Some("*"), None, NotModified),
            (Some("\"x\""), None, part),
            (None, Some("\"e1\""), part),
            (None, Some("\"stale\""), Whole),
            (None, Some("W/\"e1\""), Whole),
            (None, Some("Mon, 07 Dec 2026 09:52:31 GMT"), part),
            (None, Some("Sun, 06 Dec 2026 09:52:31 GMT"), Whole),
        ];
        for (inm, ir, want) in cases {
            let c = Conditions {
                range: Some("bytes=10-"),
                if_range: ir,
                if_none_match: inm,
            };
            assert_eq!(decide(c, 1000, V), want, "{inm:?} {ir:?}");
        }
        let no_range = Conditions {
            if_range: Some("\"e1\""),
            ..Conditions::default()
        };
        assert_eq!(decide(no_range, 1000, V), Whole);
    }
}
