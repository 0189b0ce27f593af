//! Raw arguments turned into validated settings: sizes and durations parsed,
//! the token read, destinations resolved. Every problem is a usage error
//! that names the flag.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod file;
mod layers;

pub use file::{CONFIG_ENV, ConfigFile, FileSettings, config_path};
pub use layers::{ClientSettings, Setting, Source};

use crate::cli::ServeArgs;
use crate::client::ClientOptions;
use crate::client::connect::RemoteUrl;
use crate::error::{Error, Result};
use crate::server::ServerLimits;
use crate::transfer::check_chunk_size;

/// Parse a size: a whole number with an optional K, M, G or T suffix
/// (binary multiples, case-insensitive; `1M` = 1048576).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(split);
    let shift = match suffix.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => {
            return Err(format!(
                "{text:?} is not a size (examples: 65536, 64K, 1M, 2G)"
            ));
        }
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (examples: 65536, 64K, 1M, 2G)"))?;
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn seconds(flag: &str, value: f64, allow_zero: bool) -> Result<Duration> {
    let ok = value.is_finite() && (value > 0.0 || (allow_zero && value == 0.0)) && value < 1e9;
    if !ok {
        return Err(Error::Usage(format!(
            "{flag} {value}: expected a positive number of seconds"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Validate the client settings into options (`quiet` from `-q`).
pub fn client_options(settings: &ClientSettings, quiet: bool) -> Result<ClientOptions> {
    let chunk_size = check_chunk_size(settings.chunk_size.value)
        .map_err(|m| Error::Usage(format!("chunk size ({}): {m}", settings.chunk_size.source)))?;
    if settings.limit_rate.value == Some(0) {
        return Err(Error::Usage(format!(
            "limit rate ({}): must be more than 0",
            settings.limit_rate.source
        )));
    }
    let progress = match settings.progress.value {
        Some(mode) if !quiet || matches!(settings.progress.source, Source::Flag(_)) => mode,
        _ => crate::progress::ProgressMode::default_for(quiet),
    };
    Ok(ClientOptions {
        token: settings.token.value.clone().filter(|t| !t.is_empty()),
        retries: settings.retries.value,
        retry_max_delay: seconds("--retry-max-delay", settings.retry_max_delay.value, true)?,
        timeout: seconds("--timeout", settings.timeout.value, false)?,
        chunk_size,
        quiet,
        progress,
        limit_rate: settings.limit_rate.value,
        tls: None,
        preserve: false,
    })
}

/// The URL a command names: a `ws://`/`wss://` URL as given, anything else
/// a path on the default server.
pub fn remote_url(text: &str, settings: &ClientSettings) -> Result<RemoteUrl> {
    if text.starts_with("ws://") || text.starts_with("wss://") || text.contains("://") {
        return RemoteUrl::parse(text);
    }
    let Some(server) = &settings.server.value else {
        return Err(Error::Usage(format!(
            "{text}: not a ws:// or wss:// URL, and no default server is set \
             (`server` in the config file or WSRESUME_SERVER)"
        )));
    };
    let base = server.trim_end_matches('/');
    RemoteUrl::parse(&format!("{base}/{}", text.trim_start_matches('/')))
}

/// TLS settings for `url` when it is `wss://`: the system's roots plus
/// `--cacert`.
pub fn client_tls(
    args: &crate::cli::ClientArgs,
    url: &crate::client::connect::RemoteUrl,
) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>> {
    if !url.is_secure() {
        return Ok(None);
    }
    crate::tls::client_config(args.cacert.as_deref()).map(Some)
}

/// The server's token: `--token`, `--token-file` or `WSRESUME_TOKEN`.
pub fn server_token(args: &ServeArgs) -> Result<Option<String>> {
    let Some(path) = &args.token_file else {
        return Ok(args.token.clone().filter(|t| !t.is_empty()));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::local_io(format!("reading token file {}", path.display()), e))?;
    let token = text.strip_suffix('\n').unwrap_or(&text);
    let token = token.strip_suffix('\r').unwrap_or(token);
    if token.is_empty() {
        return Err(Error::Usage(format!(
            "token file {} is empty",
            path.display()
        )));
    }
    Ok(Some(token.to_string()))
}

/// The server's limits.
pub fn server_limits(args: &ServeArgs) -> Result<ServerLimits> {
    if args.max_connections == 0 {
        return Err(Error::Usage("--max-connections must be at least 1".into()));
    }
    let max_file_size = match &args.max_file_size {
        None => None,
        Some(text) => {
            Some(parse_size(text).map_err(|m| Error::Usage(format!("--max-file-size: {m}")))?)
        }
    };
    let max_message = parse_size(&args.max_message_size)
        .and_then(|n| {
            let floor = crate::protocol::MAX_DATA_FRAME as u64 + 4096;
            if (floor..=64 << 20).contains(&n) {
                Ok(n as usize)
            } else {
                Err(format!("{n} is outside {floor}..=64M"))
            }
        })
        .map_err(|m| Error::Usage(format!("--max-message-size: {m}")))?;
    Ok(ServerLimits {
        max_connections: args.max_connections,
        max_file_size,
        max_message,
        handshake_timeout: seconds("--handshake-timeout", args.handshake_timeout, false)?,
        idle_timeout: seconds("--idle-timeout", args.idle_timeout, false)?,
        upload_expiry: crate::expiry::parse_duration(&args.expire_uploads)
            .map_err(|m| Error::Usage(format!("--expire-uploads: {m}")))?,
    })
}

/// Where `get` writes: DEST, DEST/name for a directory, or the URL's name.
pub fn download_target(dest: Option<&Path>, url_name: Option<String>) -> Result<PathBuf> {
    let name = || {
        url_name
            .clone()
            .ok_or_else(|| Error::Usage("the URL does not end in a file name; give DEST".into()))
    };
    match dest {
        None => Ok(PathBuf::from(name()?)),
        Some(dir) if dir.is_dir() => Ok(dir.join(name()?)),
        Some(file) => Ok(file.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_curl() {
        let cases = [
            ("0", Some(0)),
            ("65536", Some(65536)),
            ("64K", Some(65536)),
            ("64k", Some(65536)),
            ("1M", Some(1 << 20)),
            ("2G", Some(2 << 30)),
            ("1T", Some(1 << 40)),
            ("1MiB", Some(1 << 20)),
            ("", None),
            ("M", None),
            ("12Q", None),
            ("-1", None),
            ("1.5M", None),
            ("99999999999999999999", None),
            ("16777216T", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn download_target_follows_wget() {
        let dir = std::env::temp_dir();
        let name = Some("f.bin".to_string());
        assert_eq!(
            download_target(None, name.clone()).unwrap(),
            PathBuf::from("f.bin")
        );
        assert_eq!(
            download_target(Some(&dir), name.clone()).unwrap(),
            dir.join("f.bin")
        );
        assert_eq!(
            download_target(Some(Path::new("x/y")), None).unwrap(),
            PathBuf::from("x/y")
        );
        assert!(download_target(None, None).is_err());
    }
}
