//! Turning away connections beyond `--max-connections`: a short HTTP 503
//! answer instead of leaving them queued in the listen backlog. Refusals are
//! themselves capped; past that cap the socket is simply closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Refusals in progress at once.
const MAX_REFUSALS: usize = 64;
/// Time a refused client gets to send its request and read the answer.
const REFUSAL_TIME: Duration = Duration::from_secs(2);
/// Largest request head read before answering.
const MAX_HEAD: usize = 16 * 1024;

/// Caps the refusals in flight.
pub struct Bouncer {
    slots: Arc<Semaphore>,
}

impl Default for Bouncer {
    fn default() -> Self {
        Bouncer {
            slots: Arc::new(Semaphore::new(MAX_REFUSALS)),
        }
    }
}

impl Bouncer {
    /// Answer `stream` with 503 in the background (or just close it when
    /// too many refusals are already under way).
    pub fn refuse(&self, stream: TcpStream, max_connections: usize) {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return;
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_TIME, answer(stream, max_connections)).await;
            drop(slot);
        });
    }
}

/// Read the request head (so closing does not reset the connection and
/// lose the answer), answer 503, and close.
async fn answer(mut stream: TcpStream, max_connections: usize) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let body = format!("server busy: it serves {max_connections} connections at once; try again\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    // Wait for the client to close, so our close sends no reset.
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}
