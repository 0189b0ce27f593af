//! Raw arguments turned into validated settings: sizes and durations parsed,
//! the token read, URLs on the default server resolved (download
//! destinations: `commands::dest`). Every problem is a usage error that
//! names the flag.

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
        wait_lock: false,
        retry_connrefused: settings.retry_connrefused.value,
        contact: crate::client::Contact::default(),
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

/// The warning `-k/--insecure` prints on every use, even with `-q`.
pub const INSECURE_WARNING: &str = "warning: --insecure: the server's certificate is not verified";

/// TLS settings for `url` when it is `wss://`: the system's roots plus
/// `--cacert`, or no verification at all with `-k` (which warns on stderr).
pub fn client_tls(
    args: &crate::cli::ClientArgs,
    url: &crate::client::connect::RemoteUrl,
) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>> {
    if args.insecure {
        eprintln!("wsresume: {INSECURE_WARNING}");
    }
    if !url.is_secure() {
        return Ok(None);
    }
    if args.insecure {
        return crate::tls::insecure_client_config().map(Some);
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

/// The address `serve --listen` binds: `HOST:PORT`, `[V6]:PORT`, or a
/// bare `PORT` on the loopback address (`127.0.0.1:PORT`).
pub fn listen_address(text: &str) -> Result<String> {
    let how = "write HOST:PORT (127.0.0.1:9001, 0.0.0.0:9001, [::1]:9001, \
               localhost:9001) or a bare PORT for 127.0.0.1:PORT";
    let bad = |why: &str| Error::Usage(format!("--listen {text}: {why}; {how}"));
    let port = |digits: &str| {
        digits
            .parse::<u16>()
            .map_err(|_| bad(&format!("{digits:?} is not a port (0 to 65535)")))
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(format!("127.0.0.1:{}", port(text)?));
    }
    let Some((host, digits)) = text.rsplit_once(':') else {
        return Err(bad("no port"));
    };
    port(digits)?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad("an IPv6 address needs brackets"));
    }
    Ok(text.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_take_a_bare_port_for_loopback() {
        let cases = [
            ("9002", Some("127.0.0.1:9002")),
            ("0", Some("127.0.0.1:0")),
            ("127.0.0.1:9002", Some("127.0.0.1:9002")),
            ("0.0.0.0:0", Some("0.0.0.0:0")),
            ("[::1]:9002", Some("[::1]:9002")),
            ("localhost:9002", Some("localhost:9002")),
            ("65536", None),
            (":9002", None),
            ("localhost", None),
            ("::1:9002", None),
            ("host:port", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(listen_address(text).ok().as_deref(), want, "{text:?}");
        }
        let Err(Error::Usage(message)) = listen_address("localhost") else {
            panic!("not a usage error");
        };
        assert!(message.contains("bare PORT"), "{message}");
    }

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
}
