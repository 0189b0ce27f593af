//! The configuration file: where it is (`WSRESUME_CONFIG`, else
//! `config.toml` in the platform's config directory) and what it may say.
//! A missing file is no configuration; a malformed one is a usage error.

use std::path::PathBuf;

use serde::Deserialize;

use super::duration::DurationValue;
use crate::cli::ProgressMode;
use crate::error::{Error, Result};

/// The environment variable naming the config file.
const CONFIG_ENV: &str = "WSRESUME_CONFIG";

/// A size written as a number of bytes or as text with a suffix (`"10M"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeValue {
    /// Bytes.
    Bytes(u64),
    /// Text such as `"64K"`.
    Text(String),
}

impl SizeValue {
    /// The size in bytes.
    pub fn bytes(&self) -> std::result::Result<u64, String> {
        match self {
            SizeValue::Bytes(n) => Ok(*n),
            SizeValue::Text(text) => super::parse_size(text),
        }
    }
}

/// What a config file may set (every key optional).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Default server: URLs that are not `ws://`/`wss://` are paths on it.
    pub server: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// `--retries`.
    pub retries: Option<u32>,
    /// `--parallel`.
    pub parallel: Option<u32>,
    /// `--retry-max-delay`: seconds, or text (`"30s"`).
    pub retry_max_delay: Option<DurationValue>,
    /// `--timeout`: seconds, or text (`"1m"`).
    pub timeout: Option<DurationValue>,
    /// `--chunk-size`.
    pub chunk_size: Option<SizeValue>,
    /// `--limit-rate`.
    pub limit_rate: Option<SizeValue>,
    /// `--progress`.
    pub progress: Option<ProgressMode>,
    /// `--retry-connrefused`.
    pub retry_connrefused: Option<bool>,
    /// `--proxy` (for both `ws://` and `wss://`; `""`: none).
    pub proxy: Option<String>,
    /// `--noproxy`.
    pub noproxy: Option<String>,
    /// `--resolve` entries.
    pub resolve: Option<Vec<String>>,
    /// `--connect-timeout`: seconds, or text (`"10s"`).
    pub connect_timeout: Option<DurationValue>,
    /// `--compress`: `auto`, `on` or `off`.
    pub compress: Option<String>,
}

/// The config file as found (or not).
#[derive(Debug, Default, Clone)]
pub struct ConfigFile {
    /// Where it is looked for (None: no config directory, or
    /// `WSRESUME_CONFIG` is empty).
    pub path: Option<PathBuf>,
    /// Whether it exists.
    pub found: bool,
    /// What it says.
    pub settings: FileSettings,
}

impl ConfigFile {
    /// Find and read the config file.
    pub fn load() -> Result<ConfigFile> {
        let Some(path) = config_path() else {
            return Ok(ConfigFile::default());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile {
                    path: Some(path),
                    ..ConfigFile::default()
                });
            }
            Err(e) => {
                return Err(Error::local_io(
                    format!("reading config file {}", path.display()),
                    e,
                ));
            }
        };
        let settings = toml::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "config file {}: {}",
                path.display(),
                e.to_string().trim_end()
            ))
        })?;
        Ok(ConfigFile {
            path: Some(path),
            found: true,
            settings,
        })
    }

    /// The path for messages.
    pub fn display(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "(none)".to_string(), |p| p.display().to_string())
    }
}

/// `WSRESUME_CONFIG` (empty: none), else `config.toml` in the platform's
/// config directory (`~/.config/wsresume/` on Linux).
fn config_path() -> Option<PathBuf> {
    match std::env::var_os(CONFIG_ENV) {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => directories::ProjectDirs::from("", "", "wsresume")
            .map(|dirs| dirs.config_dir().join("config.toml")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses() {
        let text = r#"
            server = "ws://files.example:9001/"
            token = "t"
            retries = 3
            retry_max_delay = 2
            timeout = "1m"
            chunk_size = "64K"
            limit_rate = 1048576
            progress = "plain"
            retry_connrefused = true
            proxy = "http://u:p@proxy:3128"
            noproxy = "localhost,.internal"
            resolve = ["files.example:443:127.0.0.1"]
            connect_timeout = "5s"
        "#;
        let s: FileSettings = toml::from_str(text).unwrap();
        assert_eq!(s.retries, Some(3));
        let secs = |v: Option<DurationValue>| v.unwrap().duration().map(|d| d.as_secs_f64());
        assert_eq!(secs(s.retry_max_delay), Ok(2.0));
        assert_eq!(secs(s.timeout), Ok(60.0));
        assert_eq!(s.chunk_size.unwrap().bytes(), Ok(65536));
        assert_eq!(s.limit_rate.unwrap().bytes(), Ok(1 << 20));
        assert_eq!(s.progress, Some(ProgressMode::Plain));
        assert_eq!(s.retry_connrefused, Some(true));
        assert_eq!(s.proxy.as_deref(), Some("http://u:p@proxy:3128"));
        assert_eq!(s.noproxy.as_deref(), Some("localhost,.internal"));
        assert_eq!(s.resolve.unwrap(), ["files.example:443:127.0.0.1"]);
        assert_eq!(secs(s.connect_timeout), Ok(5.0));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileSettings>("retires = 3").is_err());
        assert!(toml::from_str::<FileSettings>("progress = \"fancy\"").is_err());
    }
}
