//! Self-tests of the `FaultProxy` test helper against a tiny in-process
//! echo/sink server: exact byte counts, cuts at exactly N bytes, stalls that
//! keep the socket open without data, throttling, and clean shutdown on drop.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use support::{FaultProxy, random_bytes, wait_until};

const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

/// A test upstream that counts what it receives and optionally echoes it.
struct Upstream {
    addr: SocketAddr,
    received: Arc<AtomicU64>,
    eofs: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Upstream {
    fn start(echo: bool) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (received, eofs, stop) = (Arc::default(), Arc::default(), Arc::default());
        let ctx = (Arc::clone(&received), Arc::clone(&eofs), Arc::clone(&stop));
        let accept = thread::spawn(move || accept_loop(&listener, echo, &ctx));
        Upstream {
            addr,
            received,
            eofs,
            stop,
            accept: Some(accept),
        }
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    fn eofs(&self) -> u64 {
        self.eofs.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

type Ctx = (Arc<AtomicU64>, Arc<AtomicU64>, Arc<AtomicBool>);

fn accept_loop(listener: &TcpListener, echo: bool, ctx: &Ctx) {
    while !ctx.2.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((s, _)) => {
                let ctx = ctx.clone();
                thread::spawn(move || serve_conn(s, echo, &ctx));
            }
            Err(_) => thread::sleep(POLL),
        }
    }
}

fn serve_conn(mut s: TcpStream, echo: bool, (received, eofs, stop): &Ctx) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(POLL)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                received.fetch_add(n as u64, Ordering::SeqCst);
                if echo && s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    eofs.fetch_add(1, Ordering::SeqCst);
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// What a read loop saw: bytes read, and whether the stream ended (EOF/error).
fn read_for(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let (mut got, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// Reads until `want` bytes arrived or `limit` passed.
fn read_exact_within(s: &mut TcpStream, want: usize, limit: Duration) -> Vec<u8> {
    let (mut got, mut buf) = (Vec::new(), vec![0u8; 64 * 1024]);
    let deadline = Instant::now() + limit;
    while got.len() < want && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    got
}

#[test]
fn sink_counts_are_exact() {
    let up = Upstream::start(false);
    let proxy = FaultProxy::new(up.addr);
    let mut s = connect(proxy.addr());
    s.write_all(&random_bytes(1_000_003)).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert!(
        wait_until(WAIT, || up.eofs() == 1),
        "upstream never saw EOF"
    );
    assert_eq!(up.received(), 1_000_003);
    assert_eq!(
        (proxy.up(), proxy.down(), proxy.connections()),
        (1_000_003, 0, 1)
    );
    let (rest, ended) = read_for(&mut s, WAIT);
    assert!(
        rest.is_empty() && ended,
        "client should see EOF after upstream closed"
    );
}

#[test]
fn echo_round_trip_is_exact() {
    let up = Upstream::start(true);
    let proxy = FaultProxy::new(up.addr);
    let mut s = connect(proxy.addr());
    let data = random_bytes(300_000);
    s.write_all(&data).unwrap();
    let back = read_exact_within(&mut s, data.len(), WAIT);
    assert!(back == data, "echo differs: got {} bytes", back.len());
    assert_eq!((proxy.up(), proxy.down()), (300_000, 300_000));
}

#[test]
fn cut_closes_at_exactly_n_bytes_then_passes_through() {
    let up = Upstream::start(false);
    let proxy = FaultProxy::new(up.addr);
    proxy.cut_after(100_000, 1);
    let mut s = connect(proxy.addr());
    let _ = s.write_all(&random_bytes(1 << 20)); // may fail once cut
    let (got, ended) = read_for(&mut s, WAIT);
    assert!(got.is_empty() && ended, "client side not closed");
    assert!(
        wait_until(WAIT, || up.eofs() == 1),
        "upstream side not closed"
    );
    assert_eq!((up.received(), proxy.up()), (100_000, 100_000));
    // The plan is used up: the next connection passes untouched.
    let mut s = connect(proxy.addr());
    s.write_all(&random_bytes(200_000)).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert!(wait_until(WAIT, || up.eofs() == 2));
    assert_eq!(
        (up.received(), proxy.up(), proxy.connections()),
        (300_000, 300_000, 2)
    );
}

#[test]
fn cut_budget_counts_both_directions() {
    let up = Upstream::start(true);
    let proxy = FaultProxy::new(up.addr);
    proxy.cut_after(150_000, 2);
    for round in 1..=2u64 {
        let down_before = proxy.down();
        let mut s = connect(proxy.addr());
        let _ = s.write_all(&random_bytes(100_000));
        let (got, ended) = read_for(&mut s, WAIT);
        assert!(ended, "round {round}: not cut");
        assert_eq!(proxy.up() + proxy.down(), 150_000 * round);
        assert_eq!(
            got.len() as u64,
            proxy.down() - down_before,
            "client got what was counted"
        );
    }
    assert_eq!(proxy.connections(), 2);
}

#[test]
fn stall_keeps_socket_open_without_data() {
    let up = Upstream::start(true);
    let proxy = FaultProxy::new(up.addr);
    proxy.stall_after(10_000, 1);
    let mut s = connect(proxy.addr());
    s.write_all(&random_bytes(50_000)).unwrap();
    let (got, ended) = read_for(&mut s, Duration::from_millis(600));
    assert!(!ended, "stalled connection must stay open");
    assert_eq!(proxy.up() + proxy.down(), 10_000);
    assert_eq!(got.len() as u64, proxy.down());
    let (more, ended) = read_for(&mut s, Duration::from_millis(300));
    assert!(
        more.is_empty() && !ended,
        "no data and no close while stalled"
    );
    assert_eq!(up.eofs(), 0, "upstream side must stay open too");
    drop(proxy);
    let (_, ended) = read_for(&mut s, WAIT);
    assert!(
        ended,
        "dropping the proxy must close the stalled connection"
    );
    assert!(wait_until(WAIT, || up.eofs() == 1));
}

#[test]
fn faults_apply_to_new_connections_only() {
    let up = Upstream::start(true);
    let proxy = FaultProxy::new(up.addr);
    let mut a = connect(proxy.addr());
    assert!(wait_until(WAIT, || proxy.connections() == 1));
    proxy.cut_after(1_000, 1);
    let mut b = connect(proxy.addr());
    let _ = b.write_all(&random_bytes(5_000));
    let (_, ended) = read_for(&mut b, WAIT);
    assert!(ended, "new connection should be cut");
    let data = random_bytes(200_000);
    a.write_all(&data).unwrap();
    assert!(
        read_exact_within(&mut a, data.len(), WAIT) == data,
        "old connection must pass"
    );
}

#[test]
fn throttle_limits_rate_and_can_be_lifted() {
    let up = Upstream::start(false);
    let proxy = FaultProxy::new(up.addr);
    proxy.throttle(1 << 20);
    let mut s = connect(proxy.addr());
    let start = Instant::now();
    s.write_all(&random_bytes(400_000)).unwrap();
    assert!(wait_until(WAIT, || up.received() == 400_000));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "throttle too weak: {took:?}"
    );
    proxy.throttle(0);
    let start = Instant::now();
    s.write_all(&random_bytes(4 << 20)).unwrap();
    assert!(wait_until(WAIT, || up.received() == 400_000 + (4 << 20)));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "throttle not lifted"
    );
}

#[test]
fn unreachable_upstream_closes_client() {
    let proxy = FaultProxy::new(
        format!("127.0.0.1:{}", support::closed_port())
            .parse()
            .unwrap(),
    );
    let mut s = connect(proxy.addr());
    let (got, ended) = read_for(&mut s, WAIT);
    assert!(got.is_empty() && ended);
    assert_eq!(proxy.connections(), 1);
}

#[test]
fn cut_now_and_stall_now_hit_running_connections_only() {
    let up = Upstream::start(true);
    let proxy = FaultProxy::new(up.addr);
    let mut a = connect(proxy.addr());
    a.write_all(&random_bytes(1000)).unwrap();
    let (got, _) = read_for(&mut a, Duration::from_millis(300));
    assert_eq!(got.len(), 1000);
    assert_eq!(proxy.stall_now(), 1);
    a.write_all(&random_bytes(1000)).unwrap();
    let (more, ended) = read_for(&mut a, Duration::from_millis(300));
    assert!(more.is_empty() && !ended, "stalled: no data, no close");
    let mut b = connect(proxy.addr());
    assert!(wait_until(WAIT, || proxy.connections() == 2));
    assert_eq!(proxy.cut_now(), 1, "only the running connection is cut");
    let (_, ended) = read_for(&mut b, WAIT);
    assert!(ended, "cut connection must end");
    let mut c = connect(proxy.addr());
    c.write_all(&random_bytes(500)).unwrap();
    let (got, _) = read_for(&mut c, Duration::from_millis(300));
    assert_eq!(got.len(), 500, "new connections pass untouched");
}
