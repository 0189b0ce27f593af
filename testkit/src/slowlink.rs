//! A slow link for the compression tests: a TCP proxy on 127.0.0.1 that
//! limits each direction to a rate and counts the bytes it forwards, with
//! small socket buffers on its own sockets. The fault proxy's sockets are
//! autotuned by the kernel (up to `tcp_rmem`'s maximum, 32 MiB here), so a
//! sender behind it meets no back-pressure for tens of MiB; a real 10 MB/s
//! path holds far less in flight, and this link does the same.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Socket buffer size on both of the link's sockets.
const BUFFER: usize = 128 * 1024;
const READ: usize = 32 * 1024;

/// The running link; stops accepting when dropped.
pub struct SlowLink {
    addr: SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl SlowLink {
    /// A link to `upstream` at `rate` bytes per second each way.
    pub fn new(upstream: SocketAddr, rate: u64) -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        small_buffers(&listener);
        listener.set_nonblocking(true).unwrap();
        let link = SlowLink {
            addr: listener.local_addr().unwrap(),
            up: Arc::default(),
            down: Arc::default(),
            stop: Arc::default(),
        };
        let (up, down, stop) = (link.up.clone(), link.down.clone(), link.stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(upstream) else {
                            continue;
                        };
                        small_buffers(&client);
                        small_buffers(&server);
                        pipe(&client, &server, rate, up.clone());
                        pipe(&server, &client, rate, down.clone());
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        link
    }

    /// `ws://127.0.0.1:PORT/path` through the link.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Bytes forwarded client → server so far.
    pub fn up(&self) -> u64 {
        self.up.load(Ordering::SeqCst)
    }

    /// Bytes forwarded server → client so far.
    pub fn down(&self) -> u64 {
        self.down.load(Ordering::SeqCst)
    }

    /// Start counting afresh.
    pub fn reset_counters(&self) {
        self.up.store(0, Ordering::SeqCst);
        self.down.store(0, Ordering::SeqCst);
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn small_buffers(socket: &impl AsRawFd) {
    let size = BUFFER as libc::c_int;
    for option in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: a valid socket and a c_int option value of the right size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// Copy `from` to `to` at `rate` bytes per second on a thread of its own.
fn pipe(from: &TcpStream, to: &TcpStream, rate: u64, counter: Arc<AtomicU64>) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    thread::spawn(move || {
        // When the link is free again: no credit builds up while idle.
        let mut free = Instant::now();
        let mut buf = vec![0u8; READ];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let now = Instant::now();
            free = free.max(now) + Duration::from_secs_f64(n as f64 / rate as f64);
            thread::sleep(free - now);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
            counter.fetch_add(n as u64, Ordering::SeqCst);
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
