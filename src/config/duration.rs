//! The one duration syntax of every duration flag, environment variable and
//! config key: a plain number of seconds (`90`, `1.5`), or a number with
//! humantime's units (`90s`, `30m`, `12h`, `7d`, `250ms`, `1h 30m`, `1.5s`).

use std::time::Duration;

use serde::Deserialize;

/// What the accepted forms look like, for messages and `--help`.
const DURATION_FORMS: &str = "90, 1.5 (seconds), 90s, 30m, 12h, 7d";

/// Longest duration accepted, in seconds (far beyond any useful timeout,
/// short enough that adding it to a clock cannot overflow).
const MAX_SECS: f64 = 1e10;

/// Parse a duration: seconds when there is no unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("{text:?} is not a duration (examples: {DURATION_FORMS})");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let duration = if unit.is_empty() {
        seconds(number.parse().map_err(|_| bad())?).ok_or_else(bad)?
    } else if number.contains('.') {
        // humantime takes whole numbers only: scale its unit.
        let one = humantime::parse_duration(&format!("1{unit}")).map_err(|_| bad())?;
        let value: f64 = number.parse().map_err(|_| bad())?;
        seconds(one.as_secs_f64() * value).ok_or_else(bad)?
    } else {
        humantime::parse_duration(t).map_err(|_| bad())?
    };
    if duration.as_secs_f64() >= MAX_SECS {
        return Err(format!("{text:?} is too long"));
    }
    Ok(duration)
}

fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && (0.0..MAX_SECS).contains(&value)).then(|| Duration::from_secs_f64(value))
}

/// A duration in the config file: a number of seconds or text (`"30s"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    /// Seconds.
    Seconds(f64),
    /// Text such as `"30m"`.
    Text(String),
}

impl DurationValue {
    /// The duration.
    pub fn duration(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Seconds(secs) => {
                seconds(*secs).ok_or_else(|| format!("{secs} is not a duration in seconds"))
            }
            DurationValue::Text(text) => parse_duration(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_seconds_or_humantime() {
        let cases = [
            ("90", Some(90_000)),
            ("90s", Some(90_000)),
            ("1.5", Some(1_500)),
            (" 0.5 ", Some(500)),
            ("1.5s", Some(1_500)),
            ("250ms", Some(250)),
            ("30m", Some(1_800_000)),
            ("12h", Some(43_200_000)),
            ("7d", Some(604_800_000)),
            ("1h 30m", Some(5_400_000)),
            ("0", Some(0)),
            ("0s", Some(0)),
            ("", None),
            ("s", None),
            ("-1", None),
            ("1.2.3", None),
            ("12q", None),
            ("1.5q", None),
            ("ninety", None),
            ("1e3", None),
            ("NaN", None),
            ("99999999999", None),
            ("999999999999d", None),
        ];
        for (text, want) in cases {
            let got = parse_duration(text).ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn config_values_take_numbers_and_text() {
        let cases: [(&str, Option<u64>); 4] = [
            ("t = 7", Some(7_000)),
            ("t = 1.5", Some(1_500)),
            ("t = \"30m\"", Some(1_800_000)),
            ("t = -2", None),
        ];
        #[derive(Deserialize)]
        struct Key {
            t: DurationValue,
        }
        for (text, want) in cases {
            let key: Key = toml::from_str(text).unwrap();
            let got = key.t.duration().ok().map(|d| d.as_millis() as u64);
            assert_eq!(got, want, "{text}");
        }
    }
}
