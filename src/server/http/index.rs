//! A directory over plain HTTP: the HTML index page (name, size, date;
//! sorted by `?sort=name|size|date`; every name HTML-escaped and its link
//! percent-encoded), with the upload panel the browser script (web/,
//! served from [`super::assets`]) drives when the server takes uploads, or
//! the page a browser gets when a token is wanted (the panel asks for it);
//! or the JSON listing; and the dates HTTP carries (`Last-Modified`). Pure.

use crate::protocol::{EntryKind, ListEntry};

/// How the index is sorted (directories first in every order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By name, A to Z (the default).
    Name,
    /// Largest first.
    Size,
    /// Newest first.
    Date,
}

impl Sort {
    /// The order a `sort` query parameter names; the default otherwise.
    pub fn from_query(value: Option<&str>) -> Sort {
        match value {
            Some("size") => Sort::Size,
            Some("date") => Sort::Date,
            _ => Sort::Name,
        }
    }
}

/// Sort `entries` in place.
pub fn sort(entries: &mut [ListEntry], by: Sort) {
    entries.sort_by(|a, b| {
        let dirs_first = (a.kind != EntryKind::Dir).cmp(&(b.kind != EntryKind::Dir));
        let within = match by {
            Sort::Name => a.path.cmp(&b.path),
            Sort::Size => b.size.cmp(&a.size).then(a.path.cmp(&b.path)),
            Sort::Date => b.modified.cmp(&a.modified).then(a.path.cmp(&b.path)),
        };
        dirs_first.then(within)
    });
}

/// Where a directory is: its path shown (decoded), its URL path
/// (percent-encoded, ending in `/`) and its parent's, if it has one; and
/// what the page offers.
pub struct Place<'a> {
    /// `/a b/`.
    pub shown: &'a str,
    /// `/a%20b/`.
    pub base: &'a str,
    /// `/`, or `None` at the root.
    pub parent: Option<&'a str>,
    /// The upload panel, if any.
    pub panel: Panel,
}

/// The upload panel of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// None: a read-only server's listing.
    None,
    /// Uploads to this directory.
    Uploads,
    /// A token is wanted first (the page came as a `401`); then uploads,
    /// unless the server is read-only.
    Token {
        /// The server takes uploads.
        uploads: bool,
    },
}

/// The page's head, its title and the upload panel.
fn top(place: &Place<'_>) -> String {
    let title = escape(place.shown);
    let assets = super::assets::base();
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Index of {title}</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"{assets}page.css\"></head>\n<body>\n\
         <h1>Index of {title}</h1>\n"
    );
    let (auth, uploads) = match place.panel {
        Panel::None => return page,
        Panel::Uploads => ("", true),
        Panel::Token { uploads } => (" data-auth=\"required\"", uploads),
    };
    let base = escape(place.base);
    let drop = if uploads { "" } else { " hidden" };
    page.push_str(&format!(
        "<section id=\"wsr-upload\" data-base=\"{base}\"{auth} hidden>\n\
         <form id=\"wsr-token-form\" hidden><p id=\"wsr-token-message\"></p>\
         <label>Token <input id=\"wsr-token\" type=\"password\" autocomplete=\"off\"></label> \
         <button type=\"submit\">Use it</button></form>\n\
         <div id=\"wsr-drop\"{drop}><p>Drop files or folders here to upload them to {title}, or</p>\
         <label>pick files <input id=\"wsr-pick-files\" type=\"file\" multiple></label>\
         <label>pick a folder <input id=\"wsr-pick-folder\" type=\"file\" webkitdirectory></label>\
         </div>\n<div id=\"wsr-progress\"{drop}><div id=\"wsr-overall-line\"><span>All uploads</span>\
         <progress id=\"wsr-overall\" max=\"1\" value=\"0\"></progress>\
         <span id=\"wsr-overall-text\"></span></div>\n<ul id=\"wsr-files\"></ul></div>\n\
         </section>\n<script type=\"module\" src=\"{assets}upload.js\"></script>\n",
        title = escape(place.shown),
    ));
    page
}

/// The HTML page listing `entries` of the directory at `place`.
pub fn html(place: &Place<'_>, entries: &[ListEntry], truncated: bool) -> String {
    let base = place.base;
    let mut page = top(place);
    page.push_str(
        "<table id=\"wsr-listing\">\n<thead><tr><th><a href=\"?sort=name\">Name</a></th>\
         <th><a href=\"?sort=size\">Size</a></th>\
         <th><a href=\"?sort=date\">Modified (UTC)</a></th></tr></thead>\n<tbody>\n",
    );
    if let Some(parent) = place.parent {
        let parent = escape(parent);
        page.push_str(&format!(
            "<tr><td><a href=\"{parent}\">../</a></td><td></td><td></td></tr>\n"
        ));
    }
    for entry in entries {
        page.push_str(&row(base, entry));
    }
    page.push_str("</tbody>\n</table>\n");
    if truncated {
        page.push_str("<p>(listing truncated)</p>\n");
    }
    page.push_str("</body></html>\n");
    page
}

fn row(base: &str, entry: &ListEntry) -> String {
    let slash = if entry.kind == EntryKind::Dir {
        "/"
    } else {
        ""
    };
    let encoded = percent_encoding::utf8_percent_encode(&entry.path, crate::PATH_SEGMENT);
    let href = escape(&format!("{base}{encoded}{slash}"));
    let name = escape(&entry.path);
    let size = entry.size.map(|s| s.to_string()).unwrap_or_default();
    let date = entry.modified.map(iso_date).unwrap_or_default();
    format!(
        "<tr><td><a href=\"{href}\">{name}{slash}</a></td><td>{size}</td><td>{date}</td></tr>\n"
    )
}

/// The JSON listing: the directory's path, its entries, whether truncated.
pub fn json(shown: &str, entries: &[ListEntry], truncated: bool) -> String {
    serde_json::json!({ "path": shown, "entries": entries, "truncated": truncated }).to_string()
}

/// `text` safe inside HTML text and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Calendar fields of a time: year, month, day, hour, minute, second, and
/// the weekday (0 = Sunday).
struct Civil {
    y: i64,
    m: u32,
    d: u32,
    hh: i64,
    mm: i64,
    ss: i64,
    weekday: usize,
}

/// `secs` since the epoch in UTC (H. Hinnant's days-to-civil).
fn civil(secs: i64) -> Civil {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Civil {
        y: yoe + era * 400 + i64::from(m <= 2),
        m,
        d,
        hh: rem / 3600,
        mm: rem % 3600 / 60,
        ss: rem % 60,
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

/// An HTTP date (IMF-fixdate): `Mon, 07 Dec 2026 09:52:31 GMT`.
pub fn http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(secs);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday],
        c.d,
        MONTHS[(c.m as usize).saturating_sub(1) % 12],
        c.y,
        c.hh,
        c.mm,
        c.ss
    )
}

/// `2026-12-07 09:52`, for the index page.
fn iso_date(secs: i64) -> String {
    let c = civil(secs);
    format!("{:04}-{:02}-{:02} {:02}:{:02}", c.y, c.m, c.d, c.hh, c.mm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64, modified: i64) -> ListEntry {
        ListEntry {
            path: path.to_string(),
            kind: EntryKind::File,
            size: Some(size),
            modified: Some(modified),
            sha256: None,
        }
    }

    #[test]
    fn dates_are_http_dates() {
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_796_637_151, "Mon, 07 Dec 2026 09:52:31 GMT"),
            (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
        ];
        for (secs, want) in cases {
            assert_eq!(http_date(secs), want, "{secs}");
        }
        assert_eq!(iso_date(1_796_637_151), "2026-12-07 09:52");
    }

    #[test]
    fn names_are_escaped_and_links_encoded() {
        let evil = file("<img src=x onerror=alert(1)>.txt", 3, 0);
        let quote = file("a\"b' &c.bin", 1, 0);
        let place = Place {
            shown: "/d<x>/",
            base: "/d%3Cx%3E/",
            parent: Some("/"),
            panel: Panel::None,
        };
        let page = html(&place, &[evil, quote], false);
        assert!(!page.contains("wsr-upload"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt;.txt</a>"),
            "{page}"
        );
        assert!(
            page.contains("href=\"/d%3Cx%3E/%3Cimg%20src=x%20onerror=alert(1)%3E.txt\""),
            "{page}"
        );
        assert!(
            page.contains("href=\"/d%3Cx%3E/a%22b&#39;%20&amp;c.bin\""),
            "{page}"
        );
        assert!(
            page.contains("<title>Index of /d&lt;x&gt;/</title>"),
            "{page}"
        );
        assert!(page.contains("<a href=\"/\">../</a>"), "{page}");
        let root = Place {
            shown: "/",
            base: "/",
            parent: None,
            panel: Panel::None,
        };
        assert!(!html(&root, &[], false).contains("../"));
    }

    #[test]
    fn the_panel_follows_what_the_server_offers() {
        let assets = super::super::assets::base();
        let script = format!("<script type=\"module\" src=\"{assets}upload.js\">");
        // (panel, the page holds, the page does not hold)
        let cases = [
            (Panel::None, vec!["page.css"], vec!["wsr-upload", "<script"]),
            (
                Panel::Uploads,
                vec![
                    "<section id=\"wsr-upload\" data-base=\"/a%22b/\" hidden>",
                    "<div id=\"wsr-drop\">",
                    "webkitdirectory",
                    &script,
                ],
                vec!["data-auth", "<div id=\"wsr-drop\" hidden>"],
            ),
            (
                Panel::Token { uploads: true },
                vec!["data-auth=\"required\"", "<div id=\"wsr-drop\">", &script],
                vec![],
            ),
            (
                Panel::Token { uploads: false },
                vec!["data-auth=\"required\"", "<div id=\"wsr-drop\" hidden>"],
                vec![],
            ),
        ];
        for (panel, holds, lacks) in cases {
            let place = Place {
                shown: "/a\"b/",
                base: "/a%22b/",
                parent: Some("/"),
                panel,
            };
            let page = html(&place, &[], false);
            for text in holds {
                assert!(page.contains(text), "{panel:?} lacks {text}: {page}");
            }
            for text in lacks {
                assert!(!page.contains(text), "{panel:?} holds {text}: {page}");
            }
        }
    }

    #[test]
    fn sorting_keeps_directories_first() {
        let dir = ListEntry {
            path: "z".into(),
            kind: EntryKind::Dir,
            size: None,
            modified: Some(5),
            sha256: None,
        };
        let mut entries = vec![file("b", 1, 30), dir, file("a", 2, 10), file("c", 3, 20)];
        let names = |e: &[ListEntry]| e.iter().map(|e| e.path.clone()).collect::<Vec<_>>();
        // (sort, order)
        let cases = [
            (Sort::Name, ["z", "a", "b", "c"]),
            (Sort::Size, ["z", "c", "a", "b"]),
            (Sort::Date, ["z", "b", "c", "a"]),
        ];
        for (by, want) in cases {
            sort(&mut entries, by);
            assert_eq!(names(&entries), want, "{by:?}");
        }
        assert_eq!(Sort::from_query(Some("size")), Sort::Size);
        assert_eq!(Sort::from_query(Some("<x>")), Sort::Name);
        assert_eq!(Sort::from_query(None), Sort::Name);
    }
}
