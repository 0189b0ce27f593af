//! Client settings from four layers, first found wins: command-line flag,
//! environment variable, config file, built-in default. Each value keeps
//! where it came from, for `wsresume config`.

use std::fmt;
use std::time::Duration;

use super::duration::{DurationValue, parse_duration};
use super::file::{ConfigFile, SizeValue};
use crate::cli::{ClientArgs, ProgressMode};
use crate::error::{Error, Result};
use crate::protocol::CompressMode;

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// The config file.
    File,
    /// The built-in default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "env {var}"),
            Source::File => f.write_str("config file"),
            Source::Default => f.write_str("default"),
        }
    }
}

/// A value and its source.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    /// The value in force.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

/// The client's settings before validation, each with its source.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Default server (None: URLs must be complete).
    pub server: Setting<Option<String>>,
    /// Bearer token.
    pub token: Setting<Option<String>>,
    /// `--retries`.
    pub retries: Setting<u32>,
    /// `--parallel`.
    pub parallel: Setting<u32>,
    /// `--retry-max-delay`.
    pub retry_max_delay: Setting<Duration>,
    /// `--timeout`.
    pub timeout: Setting<Duration>,
    /// `--chunk-size` in bytes.
    pub chunk_size: Setting<u64>,
    /// `--limit-rate` in bytes per second (None: unlimited).
    pub limit_rate: Setting<Option<u64>>,
    /// `--progress` (None: chosen from the terminal and `-q`).
    pub progress: Setting<Option<ProgressMode>>,
    /// `--retry-connrefused`.
    pub retry_connrefused: Setting<bool>,
    /// Proxies, `--resolve`, `--connect-timeout`.
    pub net: NetSettings,
    /// `--compress`.
    pub compress: Setting<CompressMode>,
}

/// How the client reaches servers, each setting with its source.
#[derive(Debug, Clone)]
pub struct NetSettings {
    /// The proxy for `wss://` URLs, as written (None: no proxy).
    pub proxy_wss: Setting<Option<String>>,
    /// The proxy for `ws://` URLs, as written (None: no proxy).
    pub proxy_ws: Setting<Option<String>>,
    /// `--noproxy`/`NO_PROXY`, as written.
    pub noproxy: Setting<Option<String>>,
    /// `--resolve` entries, as written.
    pub resolve: Setting<Vec<String>>,
    /// `--connect-timeout` (zero: no limit of its own).
    pub connect_timeout: Setting<Duration>,
}

/// The proxy variables for `wss://` URLs, first found wins (lower case
/// first, as curl reads them).
pub const WSS_PROXY_ENV: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
/// The proxy variables for `ws://` URLs. curl ignores `HTTP_PROXY` (a CGI
/// program gets it from a request header); wsresume is no CGI program and
/// reads it after `http_proxy`.
pub const WS_PROXY_ENV: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];
/// The variables listing hosts that bypass the proxy.
pub const NO_PROXY_ENV: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// Defaults of the client settings.
pub const DEFAULT_RETRIES: u32 = 10;
/// Default `--parallel` (measured: see BENCHMARKS.md).
pub const DEFAULT_PARALLEL: u32 = 2;
/// Largest `--parallel`.
pub const MAX_PARALLEL: u32 = 64;
/// Default `--retry-max-delay`.
pub const DEFAULT_RETRY_MAX_DELAY: Duration = Duration::from_secs(30);
/// Default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `--chunk-size`.
pub const DEFAULT_CHUNK_SIZE: u64 = 1 << 20;

/// One layered setting: flag, then `env`, then the file, then `default`.
/// `parse` reads the environment's text.
fn layer<T, F>(
    flag: (&'static str, Option<T>),
    env: &'static str,
    file: Option<T>,
    default: T,
    parse: F,
) -> Result<Setting<T>>
where
    F: Fn(&str) -> std::result::Result<T, String>,
{
    if let Some(value) = flag.1 {
        return Ok(Setting {
            value,
            source: Source::Flag(flag.0),
        });
    }
    if let Some(text) = std::env::var(env).ok().filter(|t| !t.is_empty()) {
        let value = parse(&text).map_err(|m| Error::Usage(format!("{env}: {m}")))?;
        return Ok(Setting {
            value,
            source: Source::Env(env),
        });
    }
    Ok(match file {
        Some(value) => Setting {
            value,
            source: Source::File,
        },
        None => Setting {
            value: default,
            source: Source::Default,
        },
    })
}

fn flag_size(flag: &'static str, text: Option<&String>) -> Result<Option<u64>> {
    text.map(|t| super::parse_size(t).map_err(|m| Error::Usage(format!("{flag}: {m}"))))
        .transpose()
}

fn file_size(key: &str, value: Option<&SizeValue>) -> Result<Option<u64>> {
    value
        .map(|v| {
            v.bytes()
                .map_err(|m| Error::Usage(format!("config file: {key}: {m}")))
        })
        .transpose()
}

fn number<T: std::str::FromStr>(text: &str) -> std::result::Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

/// A yes/no value: 1/0, true/false, yes/no, on/off.
fn boolean(text: &str) -> std::result::Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{text:?} is not one of 1, 0, true, false, yes, no")),
    }
}

fn progress_mode(text: &str) -> std::result::Result<ProgressMode, String> {
    <ProgressMode as clap::ValueEnum>::from_str(text.trim(), true)
        .map_err(|_| format!("{text:?} is not one of none, bar, plain"))
}

/// A text setting (no default).
fn text_layer(
    flag: (&'static str, Option<&String>),
    env: &'static str,
    file: Option<&String>,
) -> Result<Setting<Option<String>>> {
    let flag = (flag.0, flag.1.cloned().map(Some));
    layer(flag, env, file.cloned().map(Some), None, |t| {
        Ok(Some(t.to_string()))
    })
}

/// A size setting (None: not set anywhere).
fn size_layer(
    flag: (&'static str, Option<&String>),
    env: &'static str,
    key: &str,
    file: Option<&SizeValue>,
) -> Result<Setting<Option<u64>>> {
    let flag = (flag.0, flag_size(flag.0, flag.1)?.map(Some));
    let file = file_size(key, file)?.map(Some);
    layer(flag, env, file, None, |t| super::parse_size(t).map(Some))
}

/// A duration setting ([`parse_duration`]'s forms everywhere).
fn duration_layer(
    flag: (&'static str, Option<&String>),
    env: &'static str,
    key: &str,
    file: Option<&DurationValue>,
    default: Duration,
) -> Result<Setting<Duration>> {
    let from_flag = flag
        .1
        .map(|t| parse_duration(t).map_err(|m| Error::Usage(format!("{}: {m}", flag.0))))
        .transpose()?;
    let from_file = file
        .map(|v| {
            v.duration()
                .map_err(|m| Error::Usage(format!("config file: {key}: {m}")))
        })
        .transpose()?;
    layer((flag.0, from_flag), env, from_file, default, parse_duration)
}

/// A text setting read from the first set variable of `envs` (empty ones
/// are unset, as with curl). Empty text from anywhere is `None`.
fn texts_layer(
    flag: (&'static str, Option<&String>),
    envs: &[&'static str],
    file: Option<&String>,
) -> Setting<Option<String>> {
    let value = |text: &str| Some(text.trim().to_string()).filter(|t| !t.is_empty());
    if let Some(text) = flag.1 {
        return Setting {
            value: value(text),
            source: Source::Flag(flag.0),
        };
    }
    let found = envs
        .iter()
        .find_map(|env| Some((*env, std::env::var(env).ok().filter(|t| !t.is_empty())?)));
    if let Some((env, text)) = found {
        return Setting {
            value: value(&text),
            source: Source::Env(env),
        };
    }
    match file {
        Some(text) => Setting {
            value: value(text),
            source: Source::File,
        },
        None => Setting {
            value: None,
            source: Source::Default,
        },
    }
}

/// `--resolve` (repeatable), `WSRESUME_RESOLVE` (entries separated by
/// spaces), the file's list.
fn resolve_layer(args: &ClientArgs, file: &ConfigFile) -> Result<Setting<Vec<String>>> {
    let flag = (
        "--resolve",
        Some(args.resolve.clone()).filter(|r| !r.is_empty()),
    );
    let entries = |t: &str| Ok(t.split_whitespace().map(str::to_string).collect());
    let key = file.settings.resolve.clone();
    layer(flag, "WSRESUME_RESOLVE", key, Vec::new(), entries)
}

/// `--parallel`, [`DEFAULT_PARALLEL`] when not set anywhere.
fn parallel_layer(args: &ClientArgs, file: &ConfigFile) -> Result<Setting<u32>> {
    let flag = ("--parallel", args.parallel);
    let key = file.settings.parallel;
    layer(flag, "WSRESUME_PARALLEL", key, DEFAULT_PARALLEL, number)
}

/// `--chunk-size`, [`DEFAULT_CHUNK_SIZE`] when not set anywhere.
fn chunk_size_layer(args: &ClientArgs, file: &ConfigFile) -> Result<Setting<u64>> {
    let chunk = size_layer(
        ("--chunk-size", args.chunk_size.as_ref()),
        "WSRESUME_CHUNK_SIZE",
        "chunk_size",
        file.settings.chunk_size.as_ref(),
    )?;
    Ok(Setting {
        value: chunk.value.unwrap_or(DEFAULT_CHUNK_SIZE),
        source: chunk.source,
    })
}

/// `--compress`, `auto` when not set anywhere.
fn compress_layer(args: &ClientArgs, file: &ConfigFile) -> Result<Setting<CompressMode>> {
    let checked = |place: &str, text: &String| {
        CompressMode::parse(text).map_err(|m| Error::Usage(format!("{place}: {m}")))
    };
    let flag = args
        .compress
        .as_ref()
        .map(|t| checked("--compress", t))
        .transpose()?;
    let from_file = file
        .settings
        .compress
        .as_ref()
        .map(|t| checked("config file: compress", t))
        .transpose()?;
    layer(
        ("--compress", flag),
        "WSRESUME_COMPRESS",
        from_file,
        CompressMode::Auto,
        CompressMode::parse,
    )
}

impl ClientSettings {
    /// Find and read the config file, then resolve every setting.
    pub fn load(args: &ClientArgs) -> Result<ClientSettings> {
        ClientSettings::resolve(args, &ConfigFile::load()?)
    }

    /// Resolve every setting from `args`, the environment and `file`.
    pub fn resolve(args: &ClientArgs, file: &ConfigFile) -> Result<ClientSettings> {
        let f = &file.settings;
        let rate = ("--limit-rate", args.limit_rate.as_ref());
        Ok(ClientSettings {
            server: text_layer(("--server", None), "WSRESUME_SERVER", f.server.as_ref())?,
            token: text_layer(
                ("--token", args.token.as_ref()),
                "WSRESUME_TOKEN",
                f.token.as_ref(),
            )?,
            retries: layer(
                ("--retries", args.retries),
                "WSRESUME_RETRIES",
                f.retries,
                DEFAULT_RETRIES,
                number,
            )?,
            parallel: parallel_layer(args, file)?,
            retry_max_delay: duration_layer(
                ("--retry-max-delay", args.retry_max_delay.as_ref()),
                "WSRESUME_RETRY_MAX_DELAY",
                "retry_max_delay",
                f.retry_max_delay.as_ref(),
                DEFAULT_RETRY_MAX_DELAY,
            )?,
            timeout: duration_layer(
                ("--timeout", args.timeout.as_ref()),
                "WSRESUME_TIMEOUT",
                "timeout",
                f.timeout.as_ref(),
                DEFAULT_TIMEOUT,
            )?,
            chunk_size: chunk_size_layer(args, file)?,
            limit_rate: size_layer(
                rate,
                "WSRESUME_LIMIT_RATE",
                "limit_rate",
                f.limit_rate.as_ref(),
            )?,
            progress: layer(
                ("--progress", args.progress.map(Some)),
                "WSRESUME_PROGRESS",
                f.progress.map(Some),
                None,
                |t| progress_mode(t).map(Some),
            )?,
            retry_connrefused: layer(
                (
                    "--retry-connrefused",
                    args.retry_connrefused.then_some(true),
                ),
                "WSRESUME_RETRY_CONNREFUSED",
                f.retry_connrefused,
                false,
                boolean,
            )?,
            net: NetSettings::resolve(args, file)?,
            compress: compress_layer(args, file)?,
        })
    }
}

impl NetSettings {
    /// Resolve the network settings from `args`, the environment and `file`.
    fn resolve(args: &ClientArgs, file: &ConfigFile) -> Result<NetSettings> {
        let f = &file.settings;
        Ok(NetSettings {
            proxy_wss: texts_layer(
                ("--proxy", args.proxy.as_ref()),
                &WSS_PROXY_ENV,
                f.proxy.as_ref(),
            ),
            proxy_ws: texts_layer(
                ("--proxy", args.proxy.as_ref()),
                &WS_PROXY_ENV,
                f.proxy.as_ref(),
            ),
            noproxy: texts_layer(
                ("--noproxy", args.noproxy.as_ref()),
                &NO_PROXY_ENV,
                f.noproxy.as_ref(),
            ),
            resolve: resolve_layer(args, file)?,
            connect_timeout: duration_layer(
                ("--connect-timeout", args.connect_timeout.as_ref()),
                "WSRESUME_CONNECT_TIMEOUT",
                "connect_timeout",
                f.connect_timeout.as_ref(),
                Duration::ZERO,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_like_shell_switches() {
        let cases = [
            ("1", Some(true)),
            ("true", Some(true)),
            (" YES ", Some(true)),
            ("on", Some(true)),
            ("0", Some(false)),
            ("False", Some(false)),
            ("no", Some(false)),
            ("off", Some(false)),
            ("", None),
            ("2", None),
            ("maybe", None),
        ];
        for (text, want) in cases {
            assert_eq!(boolean(text).ok(), want, "{text:?}");
        }
    }
}
