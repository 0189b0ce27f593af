//! Load generator for `wsresume serve`: N concurrent downloads of one file,
//! all started at once, each verified, with time-to-first-byte percentiles.
//!
//! It speaks wsresume.v1 by itself (PROTOCOL.md sections 1, 3 and 5), with
//! plain JSON rather than the crate's types, so it also checks the document:
//! TCP connect, upgrade offering `Sec-WebSocket-Protocol: wsresume.v1`,
//! `{"type":"get","path":...,"chunk_size":...}`, then `offer`, binary data
//! frames (and `chunk` messages between chunks), `eof` with the SHA-256.
//! Each connection hashes what it received and compares it with `eof` and
//! with `--expect`, and checks the byte count against `offer.size`.
//!
//! Time to first byte runs from the start of the connection's TCP connect to
//! the arrival of its first binary (data) frame.
//!
//! ```text
//! cargo build --release --example loadgen
//! target/release/examples/loadgen ws://127.0.0.1:9001/small.bin -n 1000 --expect HEX
//! ```
//!
//! Prints one JSON line: `connections`, `ok`, `failed`, `ttfb_ms` (`p50`,
//! `p99`, `max`, over the successful connections), `wall_s` (from the
//! moment all connections are released until the last one ends), `bytes`
//! (payload received by successful connections) and `mib_s`. Exits 1 if any
//! connection failed; the first few distinct errors go to standard error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};

const SUBPROTOCOL: &str = "wsresume.v1";

#[derive(Parser, Debug)]
#[command(about = "N concurrent verified wsresume.v1 downloads; prints one JSON line")]
struct Args {
    /// ws:// URL of the file to download (no TLS).
    url: String,
    /// Connections, all started at once.
    #[arg(short = 'n', long, default_value_t = 1000)]
    connections: usize,
    /// Expected SHA-256 of the file (lowercase hex); checked on every connection.
    #[arg(long)]
    expect: Option<String>,
    /// Chunk size to ask for, in bytes (a multiple of 4096).
    #[arg(long, default_value_t = 1 << 20)]
    chunk_size: u64,
    /// Give up on a connection after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// What one successful download measured.
struct Sample {
    ttfb: Duration,
    bytes: u64,
}

/// The target of every connection, parsed once.
struct Target {
    uri: Uri,
    addr: String,
    path: String,
    chunk_size: u64,
    expect: Option<String>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let uri: Uri = args.url.parse().context("parsing the URL")?;
    ensure!(
        uri.scheme_str() == Some("ws"),
        "only ws:// URLs are supported"
    );
    let host = uri.host().context("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let target = Arc::new(Target {
        addr: format!("{host}:{port}"),
        path: match uri.path() {
            "" => "/".to_string(),
            p => p.to_string(),
        },
        uri: uri.clone(),
        chunk_size: args.chunk_size,
        expect: args.expect.map(|e| e.to_ascii_lowercase()),
    });
    let n = args.connections;
    let limit = Duration::from_secs(args.timeout);
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let target = Arc::clone(&target);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            match tokio::time::timeout(limit, download(&target)).await {
                Ok(result) => result,
                Err(_) => Err(anyhow!("timed out after {}s", limit.as_secs())),
            }
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut samples = Vec::with_capacity(n);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        match task.await {
            Ok(Ok(sample)) => samples.push(sample),
            Ok(Err(e)) => *errors.entry(format!("{e:#}")).or_default() += 1,
            Err(e) => *errors.entry(format!("task failed: {e}")).or_default() += 1,
        }
    }
    let wall = start.elapsed();
    let failed: usize = errors.values().sum();
    for (message, count) in errors.iter().take(5) {
        eprintln!("loadgen: {count} connection(s): {message}");
    }
    let mut ttfb: Vec<f64> = samples
        .iter()
        .map(|s| s.ttfb.as_secs_f64() * 1000.0)
        .collect();
    ttfb.sort_by(f64::total_cmp);
    let bytes: u64 = samples.iter().map(|s| s.bytes).sum();
    let round = |ms: f64| (ms * 100.0).round() / 100.0;
    let summary = serde_json::json!({
        "connections": n,
        "ok": samples.len(),
        "failed": failed,
        "ttfb_ms": {
            "p50": percentile(&ttfb, 0.50).map(round),
            "p99": percentile(&ttfb, 0.99).map(round),
            "max": ttfb.last().copied().map(round),
        },
        "wall_s": (wall.as_secs_f64() * 1000.0).round() / 1000.0,
        "bytes": bytes,
        "mib_s": (bytes as f64 / (1u64 << 20) as f64 / wall.as_secs_f64() * 10.0).round() / 10.0,
    });
    println!("{summary}");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// One download: connect, upgrade, `get`, receive and verify.
async fn download(target: &Target) -> Result<Sample> {
    let start = Instant::now();
    let tcp = TcpStream::connect(&target.addr)
        .await
        .with_context(|| format!("connecting to {}", target.addr))?;
    tcp.set_nodelay(true)?;
    let mut request = target.uri.clone().into_client_request()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let (mut ws, response) =
        tokio_tungstenite::client_async_with_config(request, tcp, Some(wsresume::ws_config()))
            .await
            .context("upgrade")?;
    let agreed = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    ensure!(
        agreed == Some(SUBPROTOCOL),
        "server did not agree to {SUBPROTOCOL}"
    );
    let get = serde_json::json!({
        "type": "get",
        "path": target.path,
        "chunk_size": target.chunk_size,
    });
    ws.send(Message::text(get.to_string())).await?;

    let mut size: Option<u64> = None;
    let mut ttfb = None;
    let mut bytes = 0u64;
    let mut hasher = Sha256::new();
    let eof = loop {
        let frame = ws
            .next()
            .await
            .context("connection ended before eof")?
            .context("reading")?;
        match frame {
            Message::Binary(data) => {
                ensure!(size.is_some(), "data before offer");
                ttfb.get_or_insert_with(|| start.elapsed());
                bytes += data.len() as u64;
                hasher.update(&data);
            }
            Message::Text(text) => {
                let message: serde_json::Value =
                    serde_json::from_str(text.as_str()).context("malformed control message")?;
                match message["type"].as_str() {
                    Some("offer") => {
                        ensure!(message["offset"].as_u64() == Some(0), "offer not at 0");
                        size = Some(message["size"].as_u64().context("offer without size")?);
                    }
                    Some("chunk") => {}
                    Some("eof") => {
                        break message["sha256"]
                            .as_str()
                            .context("eof without sha256")?
                            .to_ascii_lowercase();
                    }
                    Some("error") => {
                        bail!("server error {}: {}", message["code"], message["message"])
                    }
                    other => bail!("unexpected message {other:?}"),
                }
            }
            Message::Close(close) => bail!("closed before eof: {close:?}"),
            _ => {}
        }
    };
    let computed = wsresume::chain::hex(&hasher.finalize());
    ensure!(
        Some(bytes) == size,
        "received {bytes} bytes, offer said {size:?}"
    );
    ensure!(
        computed == eof,
        "SHA-256 {computed} differs from eof's {eof}"
    );
    if let Some(expect) = &target.expect {
        ensure!(
            &computed == expect,
            "SHA-256 {computed} is not the expected {expect}"
        );
    }
    // Close as the real client does, and wait for the server's close.
    ws.close(None).await?;
    while let Some(frame) = ws.next().await {
        if frame.is_err() {
            break;
        }
    }
    Ok(Sample {
        ttfb: ttfb.unwrap_or_else(|| start.elapsed()),
        bytes,
    })
}
