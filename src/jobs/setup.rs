//! Settings to the client's options, once per command: flags, environment
//! and config file layered and validated (`config`), the URL resolved on
//! the default server, and TLS set up for it. `get`, `send` and `ls` all
//! start here.

use std::sync::Arc;

use crate::cli::{ClientArgs, ProgressMode};
use crate::client::connect::RemoteUrl;
use crate::client::{ClientOptions, Contact};
use crate::config::{ClientConfig, ClientSettings};
use crate::error::Result;

/// The warning `-k/--insecure` prints on every use, even with `-q`.
const INSECURE_WARNING: &str = "warning: --insecure: the server's certificate is not verified";

/// What a command adds to the shared client flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommandFlags {
    /// `get --wait`.
    pub wait_lock: bool,
    /// `-p/--preserve`.
    pub preserve: bool,
}

/// The options and the URL of one client command (`url`: its URL argument,
/// or a path on the default server).
pub fn client_job(
    args: &ClientArgs,
    url: &str,
    flags: CommandFlags,
) -> Result<(ClientOptions, RemoteUrl)> {
    let settings = ClientSettings::load(args)?;
    let config = settings.validate(args.quiet)?;
    let url = RemoteUrl::parse(&settings.url_text(url)?)?;
    let tls = client_tls(args, &url)?;
    Ok((client_options(config, tls, flags), url))
}

/// The client's options from validated settings.
fn client_options(
    config: ClientConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    flags: CommandFlags,
) -> ClientOptions {
    ClientOptions {
        token: config.token,
        retries: config.retries,
        parallel: config.parallel,
        retry_max_delay: config.retry_max_delay,
        timeout: config.timeout,
        chunk_size: config.chunk_size,
        quiet: config.quiet,
        progress: config
            .progress
            .unwrap_or_else(|| ProgressMode::default_for(config.quiet)),
        limit_rate: config.limit_rate,
        tls,
        wait_lock: flags.wait_lock,
        retry_connrefused: config.retry_connrefused,
        contact: Contact::default(),
        preserve: flags.preserve,
        compress: config.compress,
    }
}

/// TLS settings for `url` when it is `wss://`: the system's roots plus
/// `--cacert`, or no verification at all with `-k` (which warns on stderr).
fn client_tls(args: &ClientArgs, url: &RemoteUrl) -> Result<Option<Arc<rustls::ClientConfig>>> {
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
