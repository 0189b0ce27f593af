//! The raw command line, as clap parses it. Validation into settings the
//! library runs with happens in `config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// How progress is shown (`--progress`, `progress` in the config file,
/// `WSRESUME_PROGRESS`); `progress` draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProgressMode {
    /// No progress output.
    None,
    /// Progress bars (drawn only on a terminal).
    Bar,
    /// A short line every few seconds or every 10 %, for logs.
    Plain,
}

impl ProgressMode {
    /// The name used on the command line and in the config file.
    pub fn name(self) -> &'static str {
        match self {
            ProgressMode::None => "none",
            ProgressMode::Bar => "bar",
            ProgressMode::Plain => "plain",
        }
    }
}

/// Move files over WebSocket and never lose progress.
///
/// Transfers are verified chunk by chunk with SHA-256, reconnect with
/// exponential backoff when the connection fails, and resume from the last
/// verified chunk when the same command is run again.
#[derive(Debug, Parser)]
#[command(
    name = "wsresume",
    version = crate::VERSION,
    propagate_version = true,
    after_long_help = AFTER_HELP
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Diagnostic logs on stderr: -v for connections, retries and timings,
    /// -vv for protocol details (WSRESUME_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Exit codes, environment and files, for `--help` and the man page.
const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 other error (also: another wsresume is downloading \
to the same file, see get --wait), 2 usage error (also: a directory without \
-r), 3 local file I/O error, \
4 network failure (retries exhausted, or the host name does not resolve), \
5 TLS failure (certificate not verified, or TLS on one side only: wss:// \
to a plain server, ws:// to a TLS one), \
6 authentication failure, 7 protocol error, 8 refused by the server, \
9 integrity failure that retries could not repair, 130 interrupted (verified \
progress kept).

Environment: WSRESUME_CONFIG names the config file (default: config.toml in \
the platform's config directory, ~/.config/wsresume/ on Linux). \
WSRESUME_SERVER, WSRESUME_TOKEN, WSRESUME_RETRIES, WSRESUME_RETRY_MAX_DELAY, \
WSRESUME_TIMEOUT, WSRESUME_CHUNK_SIZE, WSRESUME_LIMIT_RATE, \
WSRESUME_PROGRESS, WSRESUME_RETRY_CONNREFUSED (1 or 0), WSRESUME_RESOLVE and \
WSRESUME_CONNECT_TIMEOUT set client settings \
(flags win over them, they win over the file; `wsresume config` shows the \
result). https_proxy/HTTPS_PROXY (wss://), http_proxy/HTTP_PROXY (ws://), \
all_proxy/ALL_PROXY and no_proxy/NO_PROXY choose a proxy as curl does \
(--proxy and --noproxy win). Durations (flags, environment, config file) are seconds (90, 1.5) \
or a number with a unit: 250ms, 90s, 30m, 12h, 7d, \"1h 30m\". \
WSRESUME_CACHE_DIR holds the digest cache that lets a re-run skip \
files the other side already holds (default: the platform's cache directory, \
~/.cache/wsresume/ on Linux). WSRESUME_LOG is a log filter in tracing's \
EnvFilter syntax and overrides -v. NO_COLOR turns colour off.

Results go to standard output (with --json: one JSON object per line); \
progress, logs and messages go to standard error.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a directory: downloads from it and uploads into it.
    Serve(ServeArgs),
    /// Upload files; a URL ending in '/' (or several files) names a directory.
    Send(SendArgs),
    /// Download a file (with -r: a directory).
    Get(GetArgs),
    /// List a remote directory: name, size, modified time.
    Ls(LsArgs),
    /// Show the effective client settings and where each comes from.
    Config(ConfigArgs),
    /// Print a new random token, then the [[token]] table to paste into
    /// the file of `serve --tokens`.
    Token(TokenArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): wsresume(1), or wsresume-COMMAND(1).
    #[command(hide = true)]
    Man {
        /// The subcommand whose page to print.
        command: Option<String>,
    },
}

/// `wsresume serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The directory to serve [default: the current directory].
    pub root: Option<PathBuf>,
    /// Serve an S3-compatible bucket instead of ROOT: s3://BUCKET[/PREFIX].
    /// Credentials, region and endpoint come from the AWS environment
    /// variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL); every transfer's
    /// state lives in the bucket, so several servers can share it.
    #[arg(long, value_name = "URL", conflicts_with_all = ["root", "cache_dir"])]
    pub store: Option<String>,
    /// Address to listen on: HOST:PORT, [V6]:PORT, or a bare PORT for
    /// 127.0.0.1:PORT; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9001")]
    pub listen: String,
    /// Require this bearer token from every client.
    #[arg(long, env = "WSRESUME_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Read the token from FILE (one trailing newline ignored); wins over
    /// --token and WSRESUME_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Accept the tokens of this TOML file, each with its own rights
    /// (read, list, write) and paths: one [[token]] table per token with
    /// name, sha256 (of the token), rights and paths (see `wsresume
    /// token`). Not with --token, --token-file or WSRESUME_TOKEN.
    #[arg(long, value_name = "FILE", conflicts_with = "token_file")]
    pub tokens: Option<PathBuf>,
    /// Serve downloads only; refuse uploads.
    #[arg(long)]
    pub read_only: bool,
    /// Serve wss:// with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Concurrent connections served; more are refused with 503 (clients
    /// retry them).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_connections: usize,
    /// Refuse uploads larger than SIZE (K, M, G, T suffixes) [default: no
    /// limit but the free disk space].
    #[arg(long, value_name = "SIZE")]
    pub max_file_size: Option<String>,
    /// Largest WebSocket frame or message accepted (at least 260K: data
    /// frames carry up to 256 KiB).
    #[arg(long, value_name = "SIZE", default_value = "320K")]
    pub max_message_size: String,
    /// Drop a client that has not finished the upgrade and sent its request
    /// within this time (seconds, or 500ms, 10s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub handshake_timeout: String,
    /// Drop a connection on which nothing arrives for this long (seconds,
    /// or 90s, 5m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub idle_timeout: String,
    /// Remove partial uploads untouched for this long (seconds, or 90s,
    /// 30m, 12h, 7d); a client coming back to one is told and starts again.
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    pub expire_uploads: String,
    /// Keep the chaining values of files served or received in DIR (never
    /// under ROOT), so a restart does not hash them again; an empty DIR
    /// keeps them in memory only [default: the platform cache dir,
    /// ~/.cache/wsresume/serve/<ROOT's hash>/ on Linux].
    #[arg(long, value_name = "DIR", value_parser = any_path())]
    pub cache_dir: Option<PathBuf>,
    /// A reverse proxy in front, as a range (10.0.0.0/8, fd00::/8) or one
    /// address (127.0.0.1); repeatable, or a comma list. For connections
    /// from it, the logs name the client its Forwarded or X-Forwarded-For
    /// header gives (client=); other peers' headers are ignored.
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    pub trusted_proxy: Vec<String>,
    /// Highest protocol version offered to clients (tests only: 1 behaves
    /// as a server without sessions).
    #[arg(long, value_name = "N", default_value_t = 2, hide = true,
          value_parser = clap::value_parser!(u8).range(1..=2))]
    pub max_protocol: u8,
    /// Only log errors (a warning about listening beyond loopback without a
    /// token is still printed).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `wsresume token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's name in the tokens file and in the server's logs.
    #[arg(long, value_name = "NAME", default_value = "token")]
    pub name: String,
    /// What it may do: a comma list of read, list, write.
    #[arg(
        long,
        value_name = "RIGHTS",
        value_delimiter = ',',
        default_value = "read,list,write"
    )]
    pub rights: Vec<String>,
    /// Where: path prefixes such as / or /ci/ (repeatable, or a comma list).
    #[arg(
        long,
        value_name = "PREFIX",
        value_delimiter = ',',
        default_value = "/"
    )]
    pub paths: Vec<String>,
}

/// Options shared by `send`, `get` and `ls`. Unset options come from the
/// environment, then the config file (`wsresume config` shows which), then
/// the defaults shown.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Bearer token for the server [env: WSRESUME_TOKEN].
    #[arg(long)]
    pub token: Option<String>,
    /// Also trust the CA certificates in this PEM file for wss:// (the
    /// system's roots are always trusted). A self-signed server certificate
    /// works too if it is not a CA certificate (CA:FALSE).
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<PathBuf>,
    /// Do not verify the server's certificate for wss:// (the connection is
    /// still encrypted, but anyone in between can read it). Warns on every
    /// use; only a flag, never read from the environment or config file.
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// Retries after the first attempt without progress; 0 never retries
    /// [default: 10] [env: WSRESUME_RETRIES]. Until a first connection
    /// succeeds, a host name that does not resolve is not retried, and a
    /// refused connection only for about 3.5 s.
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Trees: small files go over N session connections, and up to N
    /// large files move at once, 1 to 64 [default: 2] [env:
    /// WSRESUME_PARALLEL].
    #[arg(long, value_name = "N")]
    pub parallel: Option<u32>,
    /// Retry refused connections with the normal backoff even before a first
    /// connection succeeded, for a server that is still starting (like
    /// curl's) [env: WSRESUME_RETRY_CONNREFUSED].
    #[arg(long)]
    pub retry_connrefused: bool,
    /// Longest wait between reconnects: seconds, or 500ms, 30s, 2m
    /// [default: 30s] [env: WSRESUME_RETRY_MAX_DELAY].
    #[arg(long, value_name = "DURATION")]
    pub retry_max_delay: Option<String>,
    /// A connection silent for this long is dead and reconnected: seconds,
    /// or 30s, 2m [default: 30s] [env: WSRESUME_TIMEOUT].
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Unit of verification and resume (K, M, G suffixes: 1M = 1048576)
    /// [default: 1M] [env: WSRESUME_CHUNK_SIZE].
    #[arg(long, value_name = "SIZE")]
    pub chunk_size: Option<String>,
    /// Largest average speed per transfer, in bytes per second (K, M, G
    /// suffixes, like curl) [default: unlimited] [env: WSRESUME_LIMIT_RATE].
    #[arg(long, value_name = "SIZE")]
    pub limit_rate: Option<String>,
    /// Reach the server through this proxy: http://[USER:PASSWORD@]HOST[:PORT]
    /// (CONNECT), socks5://... or socks5h://... (the proxy resolves the
    /// server's name); port 1080 when none is given; an empty URL means no
    /// proxy [default: https_proxy/HTTPS_PROXY for wss://,
    /// http_proxy/HTTP_PROXY for ws://, then all_proxy/ALL_PROXY].
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Hosts reached without the proxy: comma-separated names (their
    /// subdomains too), IP addresses, CIDR ranges, or * for all [env:
    /// no_proxy, NO_PROXY].
    #[arg(long, value_name = "LIST")]
    pub noproxy: Option<String>,
    /// Connect to ADDR (or ADDR,ADDR...) instead of resolving HOST when
    /// the URL's host is HOST and its port PORT; TLS still verifies HOST;
    /// repeatable [env: WSRESUME_RESOLVE, entries separated by spaces].
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,
    /// Longest time to resolve the name, open the TCP connection and pass
    /// the proxy: seconds, or 500ms, 10s; 0 for no limit of its own
    /// (--timeout still bounds the whole connection) [default: 0] [env:
    /// WSRESUME_CONNECT_TIMEOUT].
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// Compress data frames with zstd when the server agrees: auto (only
    /// when it makes the transfer faster, judged frame by frame), on, off
    /// [default: auto] [env: WSRESUME_COMPRESS].
    #[arg(long, value_name = "MODE")]
    pub compress: Option<String>,
    /// How to show progress on stderr [default: bar on a terminal, plain
    /// otherwise, none with -q] [env: WSRESUME_PROGRESS].
    #[arg(long, value_name = "STYLE")]
    pub progress: Option<ProgressMode>,
    /// No progress, no chatter (errors still go to stderr).
    #[arg(short, long)]
    pub quiet: bool,
    /// Print results as JSON lines on stdout (one object per file).
    #[arg(long)]
    pub json: bool,
}

/// `wsresume send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Files to upload (with -r: one directory).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Upload the directory FILE as URL/NAME/ (NAME: its name; `DIR/.`
    /// sends its contents into URL/), skipping files the server already
    /// holds identical (size and SHA-256).
    #[arg(short, long)]
    pub recursive: bool,
    /// Also give the uploaded files the local permission bits (the server
    /// applies rwx bits only, never setuid, setgid or sticky), as scp -p
    /// does; modification times are always kept.
    #[arg(short, long)]
    pub preserve: bool,
    /// ws:// or wss:// URL: the target file, or a directory (ending in '/',
    /// or one the server has: the file goes inside it).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Client options.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `wsresume get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// ws:// or wss:// URL of the file (with -r: of a directory).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Where to write: a file, a directory (existing, or ending in '/'), or
    /// '-' for stdout [default: the URL's file name in the current
    /// directory]. With -r: the directory that receives NAME/ [default: the
    /// current directory].
    #[arg(value_name = "DEST")]
    pub dest: Option<PathBuf>,
    /// Download the directory URL as DEST/NAME/ (NAME: its last segment),
    /// skipping files already there identical (size and SHA-256); a URL
    /// naming a file is downloaded as without -r.
    #[arg(short, long)]
    pub recursive: bool,
    /// Create DEST's missing directories (else a missing one is an error,
    /// reported before anything is downloaded).
    #[arg(long)]
    pub create_dirs: bool,
    /// When another wsresume is downloading to the same file, wait for it
    /// to finish instead of failing (exit code 1).
    #[arg(long)]
    pub wait: bool,
    /// Also give the downloaded files the server's permission bits, as
    /// scp -p does; modification times are always kept.
    #[arg(short, long)]
    pub preserve: bool,
    /// Client options.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `wsresume ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// ws:// or wss:// URL of a directory (or file), or a path on the
    /// default server [default: the default server's root].
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// List files in subdirectories too (paths relative to URL).
    #[arg(short, long)]
    pub recursive: bool,
    /// Also show each file's SHA-256 (the server reads every file).
    #[arg(long)]
    pub sha256: bool,
    /// Client options.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `wsresume config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Client options (shown with their source).
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A path value that may be empty (clap refuses empty paths by default).
fn any_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn send_takes_files_then_url() {
        let cli = Cli::try_parse_from(["wsresume", "send", "a", "b", "ws://h:1/d/"]).unwrap();
        let Command::Send(args) = cli.command else {
            panic!("not send")
        };
        assert_eq!(args.files, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(args.url, "ws://h:1/d/");
    }
}
