//! Running each subcommand: the edge where settings meet the library,
//! errors get context, and results are printed.

mod entry;
mod ls;
mod output;
mod show;
mod token;
mod transfer;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cli::{Cli, Command, ServeArgs};
use crate::error::Error;
use crate::server::{Access, Context, HashCache, ServerLimits, Writers};
pub use entry::main;
use output::Output;

/// Memory for the server's cache of file hashes (32 bytes per chunk).
const HASH_CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of chaining values the server keeps in its cache directory.
const HASH_CACHE_DISK_BYTES: u64 = 256 * 1024 * 1024;
use crate::storage::s3::S3Store;
use crate::storage::{LocalFs, Storage};
use crate::{config, server};

/// Run a parsed command line, printing results to `out`.
fn run_with(cli: Cli, out: &Output) -> anyhow::Result<()> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "wsresume",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    if let Command::Token(args) = &cli.command {
        return token::print(args);
    }
    if let Command::Man { command } = &cli.command {
        let page = man_page(command.as_deref())?;
        std::io::stdout().write_all(&page)?;
        return Ok(());
    }
    init_logging(&cli.command, cli.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Send(args) => interruptible(transfer::send(args, out)).await,
            Command::Get(args) => interruptible(transfer::get(args, out)).await,
            Command::Ls(args) => interruptible(ls::ls(args, out)).await,
            Command::Config(args) => {
                let file = config::ConfigFile::load()?;
                let settings = config::ClientSettings::resolve(&args.client, &file)?;
                show::print(&file, &settings, &args.client, out)
            }
            Command::Completions { .. } | Command::Man { .. } | Command::Token(_) => Ok(()),
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    result
}

/// The man page of the program (`None`) or of one subcommand, in roff.
pub fn man_page(command: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let mut cli = Cli::command();
    cli.build();
    let page = match command {
        None => cli,
        Some(name) => cli
            .find_subcommand(name)
            .filter(|c| !c.is_hide_set())
            .cloned()
            .ok_or_else(|| Error::Usage(format!("no subcommand {name:?}")))?
            .name(format!("wsresume-{name}")),
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    Ok(out)
}

/// Logs on stderr: `WSRESUME_LOG` if set, else by command and `-v` count.
fn init_logging(command: &Command, verbose: u8) {
    let quiet_serve = matches!(command, Command::Serve(args) if args.quiet);
    let level = match (command, verbose) {
        (Command::Serve(_), 0) if quiet_serve => "error",
        (Command::Serve(_), 0) => "info",
        (Command::Serve(_), 1) => "debug",
        (Command::Serve(_), _) => "trace",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        (_, _) => "trace",
    };
    let default = format!("warn,wsresume={level}");
    let filter = tracing_subscriber::EnvFilter::try_from_env("WSRESUME_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(crate::color::enabled())
        .try_init();
}

/// Stop at SIGINT/SIGTERM; dropping the transfer commits what is verified.
async fn interruptible(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::select! {
        result = work => result,
        () = shutdown_signal() => Err(Error::Interrupted.into()),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut limits = server_limits(config::serve_limits(&args)?);
    let (storage, served_root, cache_dir) = open_storage(&args, &limits).await?;
    limits.sessions &= storage.stages_small_files();
    let access = serve_access(&args)?;
    let listen = config::listen_address(&args.listen)?;
    let listener = server::bind(&listen)
        .await
        .map_err(|e| Error::local_io(format!("listening on {listen}"), e))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let served = Served {
        root: served_root,
        read_only: args.read_only,
        token: access.tokens.is_some(),
        tls: access.tls.is_some(),
    };
    if !args.quiet {
        eprintln!("{}", served.summary());
    }
    if let Some(warning) = served.exposure_warning(addr) {
        eprintln!("wsresume: warning: {warning}");
    }
    let mut stdout = std::io::stdout();
    let scheme = if access.tls.is_some() { "wss" } else { "ws" };
    writeln!(stdout, "listening on {scheme}://{addr}").and_then(|()| stdout.flush())?;
    let ctx = Context {
        hashes: hash_cache(storage.as_ref(), cache_dir.as_deref()),
        storage,
        writers: Writers::default(),
        read_only: args.read_only,
        limits,
    };
    server::run(listener, ctx, access, shutdown_signal()).await;
    Ok(())
}

/// Who may connect and how: the token, TLS, and the trusted proxies
/// (logged once when there are some).
fn serve_access(args: &ServeArgs) -> anyhow::Result<Access> {
    let access = Access {
        tokens: config::server_tokens(args)?.map(Arc::new),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
            _ => None,
        },
        trusted_proxies: config::trusted_proxies(args)?,
    };
    if let (Some(file), Some(tokens)) = (&args.tokens, &access.tokens) {
        tracing::info!("{} tokens from {}", tokens.len(), file.display());
    }
    if !access.trusted_proxies.is_empty() {
        let ranges: Vec<String> = (access.trusted_proxies.iter())
            .map(|r| r.to_string())
            .collect();
        tracing::info!(
            "client addresses from Forwarded/X-Forwarded-For of peers in {}",
            ranges.join(", ")
        );
    }
    Ok(access)
}

/// The hash cache: its entries in a bucket, for every instance on it, or
/// in the server's cache directory.
fn hash_cache(storage: &dyn Storage, cache_dir: Option<&std::path::Path>) -> HashCache {
    match storage.hash_entries() {
        Some(entries) => HashCache::shared(HASH_CACHE_BYTES, entries),
        None => HashCache::persisted(HASH_CACHE_BYTES, cache_dir, HASH_CACHE_DISK_BYTES),
    }
}

/// What `serve` serves, as it names it, and the hash cache's directory:
/// with `--store` a bucket (checked now; leases held for twice the idle
/// time-out, at least a minute), else ROOT and its cache directory. A
/// store that does not stage small files gets no sessions.
async fn open_storage(
    args: &ServeArgs,
    limits: &ServerLimits,
) -> anyhow::Result<(Arc<dyn Storage>, PathBuf, Option<PathBuf>)> {
    if let Some(url) = &args.store {
        let lease = (limits.idle_timeout * 2).max(std::time::Duration::from_secs(60));
        let store = S3Store::connect(url, lease).await?;
        return Ok((Arc::new(store), PathBuf::from(url), None));
    }
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("."));
    let storage = LocalFs::new(&root)?;
    let canonical = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
    let cache_dir = config::serve_cache_dir(args.cache_dir.as_deref(), &canonical)?;
    Ok((Arc::new(storage), canonical, cache_dir))
}

/// The server's limits from the validated flags.
fn server_limits(limits: config::ServeLimits) -> ServerLimits {
    ServerLimits {
        max_connections: limits.max_connections,
        max_file_size: limits.max_file_size,
        max_message: limits.max_message,
        handshake_timeout: limits.handshake_timeout,
        idle_timeout: limits.idle_timeout,
        upload_expiry: limits.upload_expiry,
        sessions: limits.sessions,
    }
}

/// What `serve` serves and to whom, for its start-up lines on stderr.
struct Served {
    /// ROOT, absolute.
    root: PathBuf,
    read_only: bool,
    token: bool,
    tls: bool,
}

impl Served {
    /// `serving /srv/files: read-write, no token, no TLS`.
    fn summary(&self) -> String {
        format!(
            "serving {}: {}, {}, {}",
            self.root.display(),
            if self.read_only {
                "read-only"
            } else {
                "read-write"
            },
            if self.token {
                "token required"
            } else {
                "no token"
            },
            if self.tls {
                "TLS (wss://)"
            } else {
                "no TLS (ws://)"
            },
        )
    }

    /// The warning when `addr` is reachable beyond loopback without a token.
    fn exposure_warning(&self, addr: std::net::SocketAddr) -> Option<String> {
        if self.token || addr.ip().to_canonical().is_loopback() {
            return None;
        }
        let rights = if self.read_only {
            "read every file"
        } else {
            "read, create and replace every file"
        };
        Some(format!(
            "listening on {addr} (beyond loopback) without a token: anyone who can \
             reach this port can {rights} under {} (set --token, --token-file or --tokens)",
            self.root.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_says_what_it_serves_and_warns_only_when_open_beyond_loopback() {
        let served = |read_only, token, tls| Served {
            root: PathBuf::from("/srv/files"),
            read_only,
            token,
            tls,
        };
        assert_eq!(
            served(false, false, false).summary(),
            "serving /srv/files: read-write, no token, no TLS (ws://)"
        );
        assert_eq!(
            served(true, true, true).summary(),
            "serving /srv/files: read-only, token required, TLS (wss://)"
        );
        // (address, token, warned)
        let cases = [
            ("127.0.0.1:9001", false, false),
            ("127.8.9.10:9001", false, false),
            ("[::1]:9001", false, false),
            ("[::ffff:127.0.0.1]:9001", false, false),
            ("0.0.0.0:9001", false, true),
            ("[::]:9001", false, true),
            ("192.168.1.5:9001", false, true),
            ("0.0.0.0:9001", true, false),
        ];
        for (addr, token, warned) in cases {
            let warning = served(false, token, false).exposure_warning(addr.parse().unwrap());
            assert_eq!(
                warning.is_some(),
                warned,
                "{addr} token={token}: {warning:?}"
            );
        }
        let warning = served(true, false, false)
            .exposure_warning("0.0.0.0:1".parse().unwrap())
            .unwrap();
        assert!(
            warning.contains("read every file under /srv/files"),
            "{warning}"
        );
    }
}
