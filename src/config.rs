//! Raw arguments turned into validated settings: sizes and durations parsed
//! (one syntax each: [`parse_size`], [`parse_duration`]), the tokens read,
//! URLs on the default server resolved. The results are plain values: the
//! layers that own the client's options and the server's limits build them
//! (`jobs::setup`, `commands`). Every problem is a usage error that names
//! the flag.

use std::time::Duration;

mod cache_dir;
mod duration;
mod file;
mod layers;
mod tokens;

pub use cache_dir::serve_cache_dir;
pub use duration::parse_duration;
pub use file::ConfigFile;
pub use layers::{ClientSettings, NetSettings, Setting, Source};
pub use tokens::server_tokens;

use crate::cidr::Cidr;
use crate::cli::{ProgressMode, ServeArgs};
use crate::error::{Error, Result};
use crate::protocol::check_chunk_size;

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

/// The client settings validated: plain values, which `jobs` turns into
/// the client's options.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bearer token (never empty).
    pub token: Option<String>,
    /// `--retries`.
    pub retries: u32,
    /// `--parallel` (1 to 64).
    pub parallel: usize,
    /// `--retry-max-delay` (may be 0).
    pub retry_max_delay: Duration,
    /// `--timeout` (more than 0).
    pub timeout: Duration,
    /// `--chunk-size`, checked.
    pub chunk_size: u64,
    /// `--limit-rate` (more than 0).
    pub limit_rate: Option<u64>,
    /// `--progress`; `None`: the default for the terminal and `-q`.
    pub progress: Option<ProgressMode>,
    /// `--retry-connrefused`.
    pub retry_connrefused: bool,
    /// `--compress`.
    pub compress: crate::protocol::CompressMode,
    /// `-q`.
    pub quiet: bool,
}

/// `--parallel`'s value when it is 1 to 64.
fn parallel(setting: &Setting<u32>) -> Result<usize> {
    let max = layers::MAX_PARALLEL;
    match setting.value {
        n @ 1.. if n <= max => Ok(n as usize),
        n => Err(Error::Usage(format!(
            "parallel ({}): {n} is not 1 to {max}",
            setting.source
        ))),
    }
}

/// `value` of `setting` when it is more than zero.
fn positive(name: &str, setting: &Setting<Duration>) -> Result<Duration> {
    if setting.value.is_zero() {
        return Err(Error::Usage(format!(
            "{name} ({}): must be more than 0",
            setting.source
        )));
    }
    Ok(setting.value)
}

impl ClientSettings {
    /// Validate the settings (`quiet` from `-q`).
    pub fn validate(&self, quiet: bool) -> Result<ClientConfig> {
        let chunk_size = check_chunk_size(self.chunk_size.value)
            .map_err(|m| Error::Usage(format!("chunk size ({}): {m}", self.chunk_size.source)))?;
        if self.limit_rate.value == Some(0) {
            return Err(Error::Usage(format!(
                "limit rate ({}): must be more than 0",
                self.limit_rate.source
            )));
        }
        // A mode from the environment or the file gives way to `-q`.
        let progress = self
            .progress
            .value
            .filter(|_| !quiet || matches!(self.progress.source, Source::Flag(_)));
        Ok(ClientConfig {
            token: self.token.value.clone().filter(|t| !t.is_empty()),
            retries: self.retries.value,
            parallel: parallel(&self.parallel)?,
            retry_max_delay: self.retry_max_delay.value,
            timeout: positive("timeout", &self.timeout)?,
            chunk_size,
            limit_rate: self.limit_rate.value,
            progress,
            retry_connrefused: self.retry_connrefused.value,
            compress: self.compress.value,
            quiet,
        })
    }

    /// The URL a command names: a `ws://`/`wss://` URL as given, anything
    /// else a path on the default server.
    pub fn url_text(&self, text: &str) -> Result<String> {
        if text.contains("://") {
            return Ok(text.to_string());
        }
        let Some(server) = &self.server.value else {
            return Err(Error::Usage(format!(
                "{text}: not a ws:// or wss:// URL, and no default server is set \
                 (`server` in the config file or WSRESUME_SERVER)"
            )));
        };
        let base = server.trim_end_matches('/');
        Ok(format!("{base}/{}", text.trim_start_matches('/')))
    }
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

/// The server's limits, validated.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// `--max-connections` (at least 1).
    pub max_connections: usize,
    /// `--max-file-size`.
    pub max_file_size: Option<u64>,
    /// `--max-message-size`.
    pub max_message: usize,
    /// `--handshake-timeout` (more than 0).
    pub handshake_timeout: Duration,
    /// `--idle-timeout` (more than 0).
    pub idle_timeout: Duration,
    /// `--expire-uploads` (more than 0).
    pub upload_expiry: Duration,
    /// Hidden `--max-protocol`: 1 turns sessions (wsresume.v2) off.
    pub sessions: bool,
}

/// A duration flag of `serve`: [`parse_duration`]'s forms, more than 0.
fn serve_duration(flag: &str, text: &str) -> Result<Duration> {
    match parse_duration(text) {
        Ok(d) if d.is_zero() => Err(Error::Usage(format!("{flag} {text}: must be more than 0"))),
        Ok(d) => Ok(d),
        Err(m) => Err(Error::Usage(format!("{flag}: {m}"))),
    }
}

/// The server's limits.
pub fn serve_limits(args: &ServeArgs) -> Result<ServeLimits> {
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
    Ok(ServeLimits {
        max_connections: args.max_connections,
        max_file_size,
        max_message,
        handshake_timeout: serve_duration("--handshake-timeout", &args.handshake_timeout)?,
        idle_timeout: serve_duration("--idle-timeout", &args.idle_timeout)?,
        upload_expiry: serve_duration("--expire-uploads", &args.expire_uploads)?,
        sessions: args.max_protocol >= 2,
    })
}

/// `serve --trusted-proxy`: each a range or one address.
pub fn trusted_proxies(args: &ServeArgs) -> Result<Vec<Cidr>> {
    args.trusted_proxy
        .iter()
        .map(|text| {
            Cidr::parse(text.trim()).ok_or_else(|| {
                Error::Usage(format!(
                    "--trusted-proxy {text:?}: not an address range; write \
                     ADDR/BITS (10.0.0.0/8, fd00::/8) or one address (127.0.0.1, ::1)"
                ))
            })
        })
        .collect()
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
    fn trusted_proxies_are_ranges_or_addresses() {
        use clap::Parser;
        let parse = |flags: &[&str]| {
            let mut argv = vec!["wsresume", "serve"];
            argv.extend_from_slice(flags);
            let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
            let crate::cli::Command::Serve(args) = cli.command else {
                panic!("not serve");
            };
            trusted_proxies(&args).map(|v| v.iter().map(|c| c.to_string()).collect::<Vec<_>>())
        };
        let ok = parse(&[
            "--trusted-proxy",
            "127.0.0.1",
            "--trusted-proxy",
            "10.0.0.0/8,fd00::/8",
        ]);
        assert_eq!(ok.unwrap(), ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]);
        assert!(parse(&[]).unwrap().is_empty());
        for bad in ["proxy.lan", "10.0.0.0/33", ""] {
            let Err(Error::Usage(message)) = parse(&["--trusted-proxy", bad]) else {
                panic!("{bad:?} accepted");
            };
            assert!(message.contains("--trusted-proxy"), "{message}");
        }
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
