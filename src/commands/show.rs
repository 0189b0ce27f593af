//! `wsresume config`: the effective client settings, where each came from,
//! and which config file was read. The token is never shown, only whether
//! one is set; a proxy's password is masked.

use std::io::Write;

use serde_json::{Value, json};

use super::output::Output;
use crate::cli::ClientArgs;
use crate::config::{ClientSettings, ConfigFile, Setting};
use crate::progress::ProgressMode;
use crate::report::human_bytes;

/// What stands for a token that is set.
const MASK: &str = "********";

/// One printed setting: name, text, JSON value, source.
type Row = (&'static str, String, Value, String);

/// Print the settings as a table (or one JSON object with `--json`).
pub fn print(
    file: &ConfigFile,
    settings: &ClientSettings,
    args: &ClientArgs,
    out: &Output,
) -> anyhow::Result<()> {
    let config = settings.validate(args.quiet)?;
    let progress = config
        .progress
        .unwrap_or_else(|| ProgressMode::default_for(args.quiet));
    let mut rows = rows(settings, progress);
    rows.extend(route_rows(settings)?);
    if out.json() {
        let settings: serde_json::Map<String, Value> = rows
            .into_iter()
            .map(|(name, _, value, source)| {
                (name.to_string(), json!({"value": value, "source": source}))
            })
            .collect();
        let report = json!({
            "op": "config",
            "status": "ok",
            "config_file": file.path.as_ref().map(|p| p.display().to_string()),
            "config_file_found": file.found,
            "settings": settings,
        });
        out.json_line(None, &report.to_string());
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    let found = if file.found { "" } else { " (not found)" };
    writeln!(stdout, "config file: {}{found}", file.display())?;
    for (name, text, _, source) in rows {
        writeln!(stdout, "{name:<18} {text:<28} {source}")?;
    }
    Ok(())
}

fn rows(settings: &ClientSettings, progress: ProgressMode) -> Vec<Row> {
    let progress_source = match settings.progress.value {
        Some(_) => settings.progress.source.to_string(),
        None => "default (bar on a terminal, plain otherwise, none with -q)".into(),
    };
    let server = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    let token = |v: &Option<String>| json!(v.as_ref().map(|_| MASK));
    vec![
        row("server", &settings.server, server, |v| json!(v)),
        row("token", &settings.token, |v| mask(v.as_deref()), token),
        row("retries", &settings.retries, u32::to_string, |v| json!(v)),
        row("parallel", &settings.parallel, u32::to_string, |v| json!(v)),
        row(
            "retry_max_delay",
            &settings.retry_max_delay,
            seconds_text,
            |v| json!(v.as_secs_f64()),
        ),
        row("timeout", &settings.timeout, seconds_text, |v| {
            json!(v.as_secs_f64())
        }),
        row(
            "chunk_size",
            &settings.chunk_size,
            |v| format!("{v} ({})", human_bytes(*v)),
            |v| json!(v),
        ),
        row("limit_rate", &settings.limit_rate, rate_text, |v| json!(v)),
        row(
            "retry_connrefused",
            &settings.retry_connrefused,
            bool::to_string,
            |v| json!(v),
        ),
        row(
            "compress",
            &settings.compress,
            |v| v.as_str().to_string(),
            |v| json!(v.as_str()),
        ),
        (
            "progress",
            progress.name().to_string(),
            json!(progress.name()),
            progress_source,
        ),
    ]
}

/// One row: name, text, JSON value, source.
fn row<T>(
    name: &'static str,
    setting: &Setting<T>,
    text: impl Fn(&T) -> String,
    value: impl Fn(&T) -> Value,
) -> Row {
    (
        name,
        text(&setting.value),
        value(&setting.value),
        setting.source.to_string(),
    )
}

/// The proxies (for `wss://` and for `ws://`, passwords masked), the
/// hosts that bypass them, `--resolve` and `--connect-timeout`.
fn route_rows(settings: &ClientSettings) -> crate::error::Result<Vec<Row>> {
    // Parsed as a transfer parses them (a bad proxy URL or --resolve entry
    // is refused here too); proxies shown with their passwords masked.
    let route = crate::jobs::setup::route(&settings.net)?;
    let proxy_row = |name,
                     parsed: &Option<crate::client::proxy::ProxyUrl>,
                     setting: &Setting<Option<String>>| {
        let shown = parsed.as_ref().map(|p| p.to_string());
        let text = shown.clone().unwrap_or_else(|| "(none)".into());
        (name, text, json!(shown), setting.source.to_string())
    };
    let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
    Ok(vec![
        proxy_row("proxy_wss", &route.proxies.wss, &settings.net.proxy_wss),
        proxy_row("proxy_ws", &route.proxies.ws, &settings.net.proxy_ws),
        row("noproxy", &settings.net.noproxy, none, |v| json!(v)),
        row(
            "resolve",
            &settings.net.resolve,
            |v| resolve_text(v),
            |v| json!(v),
        ),
        row(
            "connect_timeout",
            &settings.net.connect_timeout,
            |v| match v.is_zero() {
                true => "none".into(),
                false => seconds_text(v),
            },
            |v| json!(v.as_secs_f64()),
        ),
    ])
}

fn seconds_text(duration: &std::time::Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

fn mask(token: Option<&str>) -> String {
    match token {
        Some(_) => MASK.to_string(),
        None => "(none)".to_string(),
    }
}

fn rate_text(rate: &Option<u64>) -> String {
    match rate {
        Some(r) => format!("{r} ({}/s)", human_bytes(*r)),
        None => "unlimited".to_string(),
    }
}

fn resolve_text(entries: &[String]) -> String {
    match entries.is_empty() {
        true => "(none)".to_string(),
        false => entries.join(" "),
    }
}
