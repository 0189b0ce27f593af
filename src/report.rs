//! What a finished (or failed) transfer reports: the `--json` line and the
//! short human summary.

use std::time::Duration;

use serde::Serialize;

use crate::error::exit_code_of;

/// What one successful transfer did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The file's size.
    pub bytes: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// Bytes already verified when this run started.
    pub resumed_from: u64,
    /// Payload bytes moved in this run.
    pub transferred: u64,
    /// Connection attempts made.
    pub attempts: u32,
    /// The other side already held the same file: nothing was moved.
    pub skipped: bool,
}

/// One `--json` line.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    op: &'a str,
    source: &'a str,
    target: &'a str,
    bytes: Option<u64>,
    sha256: Option<&'a str>,
    resumed_from: Option<u64>,
    transferred: Option<u64>,
    attempts: Option<u32>,
    elapsed_s: f64,
    status: &'a str,
    /// The other side already held the same file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    skipped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JsonError>,
}

#[derive(Debug, Serialize)]
struct JsonError {
    code: i32,
    message: String,
}

/// Build the JSON line for a transfer's result.
pub fn json_line(
    op: &str,
    source: &str,
    target: &str,
    elapsed: Duration,
    result: &Result<Outcome, anyhow::Error>,
) -> String {
    let ok = result.as_ref().ok();
    let report = JsonReport {
        op,
        source,
        target,
        bytes: ok.map(|o| o.bytes),
        sha256: ok.map(|o| o.sha256.as_str()),
        resumed_from: ok.map(|o| o.resumed_from),
        transferred: ok.map(|o| o.transferred),
        attempts: ok.map(|o| o.attempts),
        elapsed_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        status: if ok.is_some() { "ok" } else { "error" },
        skipped: ok.is_some_and(|o| o.skipped),
        error: result.as_ref().err().map(|e| JsonError {
            code: exit_code_of(e).code(),
            message: format!("{e:#}"),
        }),
    };
    serde_json::to_string(&report).unwrap_or_default()
}

/// The JSON line of a command that failed before (or outside) any
/// transfer: `op` (when known), the contract's fields as null, the error.
pub fn error_json(op: Option<&str>, err: &anyhow::Error) -> String {
    let report = serde_json::json!({
        "op": op,
        "source": null,
        "target": null,
        "bytes": null,
        "sha256": null,
        "resumed_from": null,
        "transferred": null,
        "attempts": null,
        "elapsed_s": null,
        "status": "error",
        "error": {"code": exit_code_of(err).code(), "message": format!("{err:#}")},
    });
    report.to_string()
}

/// The one-line human summary printed to stderr after a transfer.
pub fn summary(target: &str, outcome: &Outcome, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    if outcome.skipped {
        return format!(
            "{target}: {} already there, identical: nothing sent, sha256 {}",
            human_bytes(outcome.bytes),
            outcome.sha256
        );
    }
    let rate = outcome.transferred as f64 / secs;
    let resumed = if outcome.resumed_from > 0 {
        format!(", resumed at {}", human_bytes(outcome.resumed_from))
    } else {
        String::new()
    };
    format!(
        "{target}: {} in {secs:.2}s ({}/s{resumed}), sha256 {}",
        human_bytes(outcome.bytes),
        human_bytes(rate as u64),
        outcome.sha256
    )
}

/// Bytes in binary units, e.g. `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_picks_units() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536 * 1024, "1.5 MiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(human_bytes(bytes), text);
        }
    }

    #[test]
    fn json_has_the_contract_fields() {
        let outcome = Outcome {
            bytes: 3,
            sha256: "ab".into(),
            resumed_from: 1,
            transferred: 2,
            attempts: 1,
            skipped: false,
        };
        let line = json_line(
            "get",
            "ws://h/f",
            "f",
            Duration::from_millis(1500),
            &Ok(outcome),
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        for field in [
            "op",
            "source",
            "target",
            "bytes",
            "sha256",
            "resumed_from",
            "transferred",
            "attempts",
            "elapsed_s",
            "status",
        ] {
            assert!(value.get(field).is_some(), "{field} missing in {line}");
        }
        assert!(value.get("skipped").is_none(), "only skips say so: {line}");
        let skipped = Outcome {
            bytes: 3,
            sha256: "ab".into(),
            resumed_from: 3,
            transferred: 0,
            attempts: 1,
            skipped: true,
        };
        let line = json_line(
            "send",
            "f",
            "ws://h/f",
            Duration::ZERO,
            &Ok(skipped.clone()),
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["skipped"], true, "{line}");
        assert_eq!(value["transferred"], 0, "{line}");
        let human = summary("f", &skipped, Duration::ZERO);
        assert!(human.contains("identical"), "{human}");
        let err = anyhow::Error::new(crate::error::Error::Refused("no".into()));
        let line = json_line("send", "f", "ws://h/f", Duration::ZERO, &Err(err));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["status"], "error");
        assert_eq!(value["error"]["code"], 8);
    }
}
