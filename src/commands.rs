//! Running each subcommand: the edge where settings meet the library,
//! errors get context, and results are printed.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cli::{Cli, Command, GetArgs, SendArgs, ServeArgs};
use crate::client::ClientOptions;
use crate::client::connect::RemoteUrl;
use crate::client::get::Dest;
use crate::error::{Error, ExitCode, exit_code_of};
use crate::report::{Outcome, json_line, summary};
use crate::server::{Access, Context, HashCache, Writers};

/// Memory for the server's cache of file hashes (32 bytes per chunk).
const HASH_CACHE_BYTES: usize = 16 * 1024 * 1024;
use crate::storage::LocalFs;
use crate::{client, config, server};

/// Run a parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "wsresume",
            &mut std::io::stdout(),
        );
        return Ok(());
    }
    init_logging(&cli.command);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Send(args) => interruptible(send(args)).await,
            Command::Get(args) => interruptible(get(args)).await,
            Command::Completions { .. } => Ok(()),
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    result
}

fn init_logging(command: &Command) {
    let default = match command {
        Command::Serve(args) if !args.quiet => "info",
        Command::Serve(_) => "error",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WSRESUME_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("."));
    let storage = LocalFs::new(&root)?;
    let access = Access {
        token: config::server_token(&args)?,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
            _ => None,
        },
    };
    let limits = config::server_limits(&args)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Error::local_io(format!("listening on {}", args.listen), e))?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    let mut stdout = std::io::stdout();
    let scheme = if access.tls.is_some() { "wss" } else { "ws" };
    writeln!(stdout, "listening on {scheme}://{addr}").and_then(|()| stdout.flush())?;
    let ctx = Context {
        storage: Arc::new(storage),
        writers: Writers::default(),
        hashes: HashCache::new(HASH_CACHE_BYTES),
        read_only: args.read_only,
        max_file_size: limits.max_file_size,
        idle_timeout: limits.idle_timeout,
    };
    server::run(listener, ctx, access, limits, shutdown_signal()).await;
    Ok(())
}

async fn get(args: GetArgs) -> anyhow::Result<()> {
    let mut opts = config::client_options(&args.client)?;
    let url = RemoteUrl::parse(&args.url)?;
    opts.tls = config::client_tls(&args.client, &url)?;
    let dest = match args.dest.as_deref() {
        Some(d) if d.as_os_str() == "-" => Dest::Stdout,
        d => Dest::File(config::download_target(d, url.file_name())?),
    };
    let target = match &dest {
        Dest::Stdout => "-".to_string(),
        Dest::File(p) => p.display().to_string(),
    };
    let started = Instant::now();
    let result = client::get::get(&opts, &url, dest)
        .await
        .with_context(|| format!("downloading {url} to {target}"));
    finish(
        "get",
        &url.to_string(),
        &target,
        &opts,
        args.client.json,
        started,
        result,
    )
}

async fn send(args: SendArgs) -> anyhow::Result<()> {
    let mut opts = config::client_options(&args.client)?;
    let url = RemoteUrl::parse(&args.url)?;
    opts.tls = config::client_tls(&args.client, &url)?;
    let to_dir = url.is_dir() || args.files.len() > 1;
    if args.files.len() > 1 && !url.is_dir() {
        return Err(Error::Usage(format!(
            "{url}: several files go to a directory URL ending in '/'"
        ))
        .into());
    }
    let mut failures = Vec::new();
    for file in &args.files {
        let result = send_one(&opts, file, &url, to_dir, args.client.json).await;
        if let Err(e) = result {
            if args.files.len() > 1 {
                eprintln!("wsresume: {e:#}");
            }
            failures.push(e);
        }
    }
    match failures.len() {
        0 => Ok(()),
        _ if args.files.len() == 1 => Err(failures.remove(0)),
        n => {
            let code = exit_code_of(&failures[0]);
            Err(anyhow::Error::new(Failed { code })
                .context(format!("{n} of {} files failed", args.files.len())))
        }
    }
}

async fn send_one(
    opts: &ClientOptions,
    file: &std::path::Path,
    url: &RemoteUrl,
    to_dir: bool,
    json: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let target = if to_dir {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Usage(format!("{}: no usable file name", file.display())))?;
        url.join(name)?
    } else {
        url.clone()
    };
    let source = file.display().to_string();
    let result = client::send::send(opts, file, &target)
        .await
        .with_context(|| format!("sending {source} to {target}"));
    finish(
        "send",
        &source,
        &target.to_string(),
        opts,
        json,
        started,
        result,
    )
}

/// Print the result of one transfer (JSON line and/or summary).
fn finish(
    op: &str,
    source: &str,
    target: &str,
    opts: &ClientOptions,
    json: bool,
    started: Instant,
    result: anyhow::Result<Outcome>,
) -> anyhow::Result<()> {
    let elapsed = started.elapsed();
    if json {
        println!("{}", json_line(op, source, target, elapsed, &result));
    }
    let outcome = result?;
    if !opts.quiet && !json {
        eprintln!("{}", summary(target, &outcome, elapsed));
    }
    Ok(())
}

/// Several files failed; the exit code is the first failure's.
#[derive(Debug, thiserror::Error)]
#[error("see the errors above")]
struct Failed {
    code: ExitCode,
}

/// The exit code for an error from [`run`].
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    match err.chain().find_map(|c| c.downcast_ref::<Failed>()) {
        Some(failed) => failed.code,
        None => exit_code_of(err),
    }
}
