//! Settings to the client's options, once per command: flags, environment
//! and config file layered and validated (`config`), the URL resolved on
//! the default server, TLS set up for it, and the route to it (proxies,
//! `--resolve`, `--connect-timeout`). `get`, `send` and `ls` all start
//! here.

use std::sync::Arc;

use crate::cli::{ClientArgs, ProgressMode};
use crate::client::connect::RemoteUrl;
use crate::client::proxy::{NoProxy, Proxies, ProxyUrl};
use crate::client::route::{Resolve, Route};
use crate::client::{ClientOptions, Contact};
use crate::config::{ClientConfig, ClientSettings, NetSettings, Setting};
use crate::error::{Error, Result};

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
    let route = Arc::new(route(&settings.net)?);
    Ok((client_options(config, tls, flags, route), url))
}

/// The route of a command's connections: the proxies for each scheme, the
/// hosts that bypass them, `--resolve` and `--connect-timeout`. A proxy
/// URL or `--resolve` entry that does not parse is a usage error naming
/// where it came from.
pub fn route(settings: &NetSettings) -> Result<Route> {
    let timeout = settings.connect_timeout.value;
    let resolve = settings
        .resolve
        .value
        .iter()
        .map(|entry| {
            Resolve::parse(entry)
                .map_err(|m| Error::Usage(format!("resolve ({}): {m}", settings.resolve.source)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Route {
        proxies: Proxies {
            wss: proxy(&settings.proxy_wss)?,
            ws: proxy(&settings.proxy_ws)?,
            noproxy: NoProxy::parse(settings.noproxy.value.as_deref().unwrap_or("")),
        },
        resolve,
        connect_timeout: (!timeout.is_zero()).then_some(timeout),
    })
}

/// A proxy setting parsed.
fn proxy(setting: &Setting<Option<String>>) -> Result<Option<ProxyUrl>> {
    setting
        .value
        .as_deref()
        .map(|text| {
            ProxyUrl::parse(text)
                .map_err(|m| Error::Usage(format!("proxy ({}): {m}", setting.source)))
        })
        .transpose()
}

/// The client's options from validated settings.
fn client_options(
    config: ClientConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    flags: CommandFlags,
    route: Arc<Route>,
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
        route,
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
