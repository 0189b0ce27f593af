//! `wsresume ls [URL]`: what is in a remote directory, one line per entry
//! (size, modified time, name; directories end in `/`) or, with `--json`,
//! one object per entry with exact sizes.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::output::Output;
use crate::cli::LsArgs;
use crate::client::list::{ListRequest, list};
use crate::config::{self, ClientSettings};
use crate::progress::Progress;
use crate::protocol::{EntryKind, ListEntry};
use crate::report::human_bytes;

/// List `args.url` (default: the default server's root).
pub async fn ls(args: LsArgs, settings: &ClientSettings, out: &Output) -> anyhow::Result<()> {
    let mut opts = config::client_options(settings, args.client.quiet)?;
    let text = args.url.as_deref().unwrap_or("/");
    let url = config::remote_url(text, settings)?;
    opts.tls = config::client_tls(&args.client, &url)?;
    let progress = Progress::new(crate::progress::ProgressMode::None, !opts.quiet, 1, 0);
    let request = ListRequest {
        recursive: args.recursive,
        sha256: args.sha256,
    };
    let mut stdout = std::io::stdout().lock();
    let mut failed = None;
    let mut print = |entry: ListEntry| {
        let line = if out.json() {
            json_entry(&entry).to_string()
        } else {
            human_entry(&entry)
        };
        if let Err(e) = writeln!(stdout, "{line}")
            && failed.is_none()
        {
            failed = Some(e);
        }
    };
    let listed = list(&opts, &url, request, &progress.file(""), &mut print)
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("listing {url}")))?;
    if let Some(e) = failed {
        return Err(crate::error::Error::local_io("writing to standard output", e).into());
    }
    stdout.flush()?;
    if listed.truncated {
        eprintln!(
            "wsresume: {url}: the server listed only the first {} entries",
            listed.count
        );
    }
    Ok(())
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

fn json_entry(entry: &ListEntry) -> serde_json::Value {
    let mut value = json!({
        "path": entry.path,
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
