//! `wsresume ls [URL]`: what is in a remote directory, one line per entry
//! (size, modified time, name; directories end in `/`) or, with `--json`,
//! one object per entry with exact sizes and the entry's URL.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::output::Output;
use crate::cli::LsArgs;
use crate::client::connect::RemoteUrl;
use crate::client::list::{ListRequest, list};
use crate::jobs::{CommandFlags, client_job};
use crate::progress::{Progress, ProgressMode};
use crate::protocol::{EntryKind, ListEntry};
use crate::report::human_bytes;

/// List `args.url` (default: the default server's root).
pub async fn ls(args: LsArgs, out: &Output) -> anyhow::Result<()> {
    let text = args.url.as_deref().unwrap_or("/");
    let (opts, url) = client_job(&args.client, text, CommandFlags::default())?;
    let progress = Progress::new(ProgressMode::None, !opts.quiet, 1, 0);
    let request = ListRequest {
        recursive: args.recursive,
        sha256: args.sha256,
        cached: false,
    };
    let mut printer = Printer {
        stdout: std::io::stdout().lock(),
        json: out.json(),
        url: &url,
        failed: None,
    };
    // An entry that may be the listed file itself waits until the next
    // entry (then the URL named a directory) or the end (then the file).
    let mut held = None;
    let mut seen = 0u64;
    let mut take = |entry: ListEntry| {
        seen += 1;
        if seen == 1 && names_listed_file(&url, &entry) {
            held = Some(entry);
            return;
        }
        if let Some(first) = held.take() {
            printer.print(&first, false);
        }
        printer.print(&entry, false);
    };
    let listed = list(&opts, &url, request, &progress.file(""), &mut take).await;
    if let Some(only) = held.take() {
        printer.print(&only, true);
    }
    let listed = listed.map_err(|e| anyhow::Error::new(e).context(format!("listing {url}")))?;
    if let Some(e) = printer.failed {
        return Err(crate::error::Error::local_io("writing to standard output", e).into());
    }
    printer.stdout.flush()?;
    if listed.truncated {
        eprintln!(
            "wsresume: {url}: the server listed only the first {} entries",
            listed.count
        );
    }
    Ok(())
}

/// Prints entries, keeping the first write error.
struct Printer<'a> {
    stdout: std::io::StdoutLock<'static>,
    json: bool,
    url: &'a RemoteUrl,
    failed: Option<std::io::Error>,
}

impl Printer<'_> {
    /// Print `entry`; `itself` when the listed URL names that very file.
    fn print(&mut self, entry: &ListEntry, itself: bool) {
        let line = if self.json {
            let url = match itself {
                true => Some(self.url.to_string()),
                false => entry_url(self.url, &entry.path, entry.kind).map(|u| u.to_string()),
            };
            json_entry(entry, url).to_string()
        } else {
            human_entry(entry)
        };
        if let Err(e) = writeln!(self.stdout, "{line}")
            && self.failed.is_none()
        {
            self.failed = Some(e);
        }
    }
}

/// Whether `entry` may be the file `url` names (a server lists a file URL
/// as one entry named like the file); a URL ending in `/` is a directory.
fn names_listed_file(url: &RemoteUrl, entry: &ListEntry) -> bool {
    entry.kind == EntryKind::File
        && !url.is_dir()
        && url.file_name().as_deref() == Some(&entry.path)
}

/// The URL of `rel` (`/`-separated, not encoded) under the directory `url`;
/// a directory's ends in `/`.
fn entry_url(url: &RemoteUrl, rel: &str, kind: EntryKind) -> Option<RemoteUrl> {
    let encoded: Vec<String> = rel
        .split('/')
        .map(|seg| percent_encoding::utf8_percent_encode(seg, crate::PATH_SEGMENT).to_string())
        .collect();
    let base = url.to_string();
    let slash = if base.ends_with('/') { "" } else { "/" };
    let dir = if kind == EntryKind::Dir { "/" } else { "" };
    RemoteUrl::parse(&format!("{base}{slash}{}{dir}", encoded.join("/"))).ok()
}

fn modified_text(entry: &ListEntry) -> Option<String> {
    let secs = u64::try_from(entry.modified?).ok()?;
    let time = UNIX_EPOCH.checked_add(Duration::from_secs(secs))?;
    Some(humantime::format_rfc3339_seconds(time).to_string())
}

/// `  1.5 MiB  2024-05-01T12:00:00Z  name` (directories: `-` and `name/`).
fn human_entry(entry: &ListEntry) -> String {
    let modified = modified_text(entry).unwrap_or_else(|| "-".into());
    let (size, suffix) = match entry.kind {
        EntryKind::File => (human_bytes(entry.size.unwrap_or(0)), ""),
        EntryKind::Dir => ("-".to_string(), "/"),
    };
    let sha = entry
        .sha256
        .as_deref()
        .map(|s| format!("  {s}"))
        .unwrap_or_default();
    format!("{size:>10}  {modified:<20}  {}{suffix}{sha}", entry.path)
}

fn json_entry(entry: &ListEntry, url: Option<String>) -> serde_json::Value {
    let mut value = json!({
        "path": entry.path,
        "url": url,
        "kind": entry.kind,
        "size": entry.size,
        "modified": modified_text(entry),
        "mtime": entry.modified,
    });
    if let Some(sha) = &entry.sha256 {
        value["sha256"] = json!(sha);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: EntryKind) -> ListEntry {
        ListEntry {
            path: path.into(),
            kind,
            size: None,
            modified: None,
            sha256: None,
        }
    }

    #[test]
    fn entry_urls_are_percent_encoded_under_the_directory() {
        let file = EntryKind::File;
        let cases = [
            ("ws://h:1/", "a b.txt", file, "ws://h:1/a%20b.txt"),
            (
                "ws://h:1/d",
                "x/50%#1.bin",
                file,
                "ws://h:1/d/x/50%25%231.bin",
            ),
            ("ws://h:1/d/", "caf\u{e9}", file, "ws://h:1/d/caf%C3%A9"),
            (
                "ws://h:1/d/",
                "sub dir",
                EntryKind::Dir,
                "ws://h:1/d/sub%20dir/",
            ),
        ];
        for (listed, rel, kind, expected) in cases {
            let url = RemoteUrl::parse(listed).unwrap();
            assert_eq!(entry_url(&url, rel, kind).unwrap().to_string(), expected);
        }
    }

    #[test]
    fn only_a_file_named_like_a_url_without_slash_may_be_the_url_itself() {
        let cases = [
            ("ws://h:1/d/a.txt", entry("a.txt", EntryKind::File), true),
            ("ws://h:1/d/a%20b", entry("a b", EntryKind::File), true),
            ("ws://h:1/d/a.txt/", entry("a.txt", EntryKind::File), false),
            ("ws://h:1/d/x", entry("x", EntryKind::Dir), false),
            ("ws://h:1/d/x", entry("y", EntryKind::File), false),
        ];
        for (listed, entry, expected) in cases {
            let url = RemoteUrl::parse(listed).unwrap();
            assert_eq!(names_listed_file(&url, &entry), expected, "{listed}");
        }
    }
}
