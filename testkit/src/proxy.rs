//! `FaultProxy`: a real TCP proxy on 127.0.0.1 that counts bytes per direction
//! and can cut, stall or throttle connections on demand.
//!
//! Built on std threads: one accept thread (blocking accept, woken by a
//! connection of the proxy's own when it is dropped, so a new connection
//! waits for no poll) and two pump threads per connection (sockets with short read/write
//! time-outs so every thread notices when the proxy is dropped).
//! Faults are taken from the plan when a connection is accepted, so a test can
//! change the plan while the proxy runs; the change applies to new connections.
//! The byte budget of a faulty connection counts both directions together.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const BUF: usize = 64 * 1024;
const POLL: Duration = Duration::from_millis(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cut,
    Stall,
}

#[derive(Clone, Copy, Debug)]
struct Fault {
    kind: Kind,
    after: u64,
}

/// Pending faults: (bytes, connections left).
#[derive(Default)]
struct Plan {
    cut: Option<(u64, u32)>,
    stall: Option<(u64, u32)>,
    /// Flip one bit of byte N of a direction: (direction, N, connections left).
    corrupt: Option<(Dir, u64, u32)>,
}

fn take_from(slot: &mut Option<(u64, u32)>, kind: Kind) -> Option<Fault> {
    let (after, times) = (*slot)?;
    *slot = (times > 1).then_some((after, times - 1));
    (times > 0).then_some(Fault { kind, after })
}

impl Plan {
    fn take_corruption(&mut self) -> Option<(Dir, u64)> {
        let (dir, at, times) = self.corrupt?;
        self.corrupt = (times > 1).then_some((dir, at, times - 1));
        Some((dir, at))
    }

    fn take(&mut self) -> Option<Fault> {
        take_from(&mut self.cut, Kind::Cut).or_else(|| take_from(&mut self.stall, Kind::Stall))
    }
}

/// State shared by the proxy handle and its threads.
struct Shared {
    upstream: Mutex<SocketAddr>,
    plan: Mutex<Plan>,
    rate: AtomicU64,
    stop: AtomicBool,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    conns: Arc<AtomicU64>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
    stalled: Mutex<Vec<Arc<Conn>>>,
    live: Mutex<Vec<std::sync::Weak<Conn>>>,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn rate(&self) -> u64 {
        self.rate.load(Ordering::SeqCst)
    }
}

/// One proxied connection.
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    fault: Option<Fault>,
    used: Mutex<u64>,
    tripped: AtomicBool,
    /// A fault forced on the running connection (`cut_now`, `stall_now`).
    forced: Mutex<Option<Kind>>,
    /// The byte to corrupt (direction, offset in that direction's stream).
    corrupt: Option<(Dir, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Up,
    Down,
}

impl Conn {
    fn ends(&self, dir: Dir) -> (&TcpStream, &TcpStream) {
        match dir {
            Dir::Up => (&self.client, &self.upstream),
            Dir::Down => (&self.upstream, &self.client),
        }
    }

    /// Reserves up to `n` bytes of the budget; returns (allowed, limit reached).
    fn reserve(&self, n: usize) -> (usize, bool) {
        let Some(fault) = self.fault else {
            return (n, false);
        };
        let mut used = self.used.lock().unwrap();
        let allowed = (fault.after.saturating_sub(*used)).min(n as u64);
        *used += allowed;
        (allowed as usize, *used >= fault.after)
    }

    fn tripped(&self) -> bool {
        self.tripped.load(Ordering::SeqCst)
    }

    fn force(&self, kind: Kind) {
        *self.forced.lock().unwrap() = Some(kind);
        self.tripped.store(true, Ordering::SeqCst);
    }

    /// The fault to apply once tripped: a forced one, or the planned one.
    fn fault_kind(&self) -> Option<Kind> {
        let forced = *self.forced.lock().unwrap();
        forced.or(self.fault.map(|f| f.kind))
    }

    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

/// The proxy. Dropping it stops every thread and closes every socket.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    /// Bytes forwarded client → upstream, all connections.
    pub up: Arc<AtomicU64>,
    /// Bytes forwarded upstream → client, all connections.
    pub down: Arc<AtomicU64>,
    /// Connections accepted.
    pub conns: Arc<AtomicU64>,
}

impl FaultProxy {
    /// Starts a pass-through proxy to `upstream`.
    pub fn new(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            plan: Mutex::new(Plan::default()),
            rate: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            up: Arc::default(),
            down: Arc::default(),
            conns: Arc::default(),
            pumps: Mutex::default(),
            stalled: Mutex::default(),
            live: Mutex::default(),
        });
        let sh = shared.clone();
        let accept = thread::spawn(move || accept_loop(&sh, &listener));
        FaultProxy {
            addr,
            up: shared.up.clone(),
            down: shared.down.clone(),
            conns: shared.conns.clone(),
            shared,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/path` through the proxy.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Each of the next `times` connections is closed once `bytes` went through.
    pub fn cut_after(&self, bytes: u64, times: u32) {
        self.shared.plan.lock().unwrap().cut = Some((bytes, times));
    }

    /// Each of the next `times` connections stops forwarding after `bytes`
    /// but keeps both sockets open until the proxy is dropped.
    pub fn stall_after(&self, bytes: u64, times: u32) {
        self.shared.plan.lock().unwrap().stall = Some((bytes, times));
    }

    /// Limits each direction of each connection to `bytes_per_sec` (0: unlimited).
    /// Applies at once, also to running connections.
    pub fn throttle(&self, bytes_per_sec: u64) {
        self.shared.rate.store(bytes_per_sec, Ordering::SeqCst);
    }

    /// Cuts every running connection now (FIN to both peers, as `cut_after`).
    pub fn cut_now(&self) -> usize {
        self.force_live(Kind::Cut)
    }

    /// Stalls every running connection now: sockets stay open, nothing more
    /// is forwarded (a half-open connection, as `stall_after`).
    pub fn stall_now(&self) -> usize {
        self.force_live(Kind::Stall)
    }

    fn force_live(&self, kind: Kind) -> usize {
        let mut live = self.shared.live.lock().unwrap();
        live.retain(|c| c.strong_count() > 0);
        let conns: Vec<Arc<Conn>> = live.iter().filter_map(|c| c.upgrade()).collect();
        let running: Vec<_> = conns.iter().filter(|c| !c.tripped()).collect();
        running.iter().for_each(|c| c.force(kind));
        running.len()
    }

    /// Each of the next `times` connections has one bit flipped in byte
    /// `at` of what flows in `dir` (the connection itself goes on).
    pub fn corrupt_at(&self, dir: Dir, at: u64, times: u32) {
        self.shared.plan.lock().unwrap().corrupt = Some((dir, at, times));
    }

    /// New connections go to `upstream` from now on.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().unwrap() = upstream;
    }

    pub fn up(&self) -> u64 {
        self.up.load(Ordering::SeqCst)
    }

    pub fn down(&self) -> u64 {
        self.down.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> u64 {
        self.conns.load(Ordering::SeqCst)
    }

    pub fn reset_counters(&self) {
        self.up.store(0, Ordering::SeqCst);
        self.down.store(0, Ordering::SeqCst);
        self.conns.store(0, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept thread, which then sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let pumps = std::mem::take(&mut *self.shared.pumps.lock().unwrap());
        for h in pumps {
            let _ = h.join();
        }
        for conn in self.shared.stalled.lock().unwrap().drain(..) {
            conn.close();
        }
    }
}

fn accept_loop(sh: &Arc<Shared>, listener: &TcpListener) {
    while !sh.stopped() {
        match listener.accept() {
            Ok((client, _)) if !sh.stopped() => start_conn(sh, client),
            Ok(_) => {}
            Err(_) => thread::sleep(POLL),
        }
    }
}

fn start_conn(sh: &Arc<Shared>, client: TcpStream) {
    let target = *sh.upstream.lock().unwrap();
    let Ok(upstream) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else {
        sh.conns.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    for s in [&client, &upstream] {
        let _ = s.set_nonblocking(false);
        let _ = s.set_nodelay(true);
        let _ = s.set_read_timeout(Some(POLL));
        let _ = s.set_write_timeout(Some(POLL));
    }
    let (fault, corrupt) = {
        let mut plan = sh.plan.lock().unwrap();
        (plan.take(), plan.take_corruption())
    };
    // Counted once the fault is decided, so tests can wait on the count.
    sh.conns.fetch_add(1, Ordering::SeqCst);
    let conn = Arc::new(Conn {
        client,
        upstream,
        fault,
        used: Mutex::new(0),
        tripped: AtomicBool::new(false),
        forced: Mutex::new(None),
        corrupt,
    });
    sh.live.lock().unwrap().push(Arc::downgrade(&conn));
    let mut pumps = sh.pumps.lock().unwrap();
    for dir in [Dir::Up, Dir::Down] {
        let (sh, conn) = (sh.clone(), conn.clone());
        pumps.push(thread::spawn(move || pump(&sh, &conn, dir)));
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn read_size(rate: u64) -> usize {
    if rate == 0 {
        BUF
    } else {
        (rate / 50).clamp(1, BUF as u64) as usize
    }
}

/// Copies one direction until EOF, error, fault or proxy drop.
fn pump(sh: &Shared, conn: &Arc<Conn>, dir: Dir) {
    let (mut src, dst) = conn.ends(dir);
    let counter = match dir {
        Dir::Up => &sh.up,
        Dir::Down => &sh.down,
    };
    let mut buf = vec![0u8; BUF];
    let mut seen = 0u64;
    while !sh.stopped() && !conn.tripped() {
        let n = match src.read(&mut buf[..read_size(sh.rate())]) {
            Ok(0) => {
                let _ = dst.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return conn.close(),
        };
        if conn.forced.lock().unwrap().is_some() {
            // Forced while this read was under way: the fault came first.
            break;
        }
        if let Some((_, at)) = conn
            .corrupt
            .filter(|(d, at)| *d == dir && (seen..seen + n as u64).contains(at))
        {
            buf[(at - seen) as usize] ^= 0x01;
        }
        seen += n as u64;
        let (allowed, hit) = conn.reserve(n);
        // Counted before the write, so whatever the peer sends in reply is
        // never seen before its cause is counted; what fails to go out is
        // taken back.
        counter.fetch_add(allowed as u64, Ordering::SeqCst);
        if let Err(unwritten) = write_fully(sh, dst, &buf[..allowed]) {
            counter.fetch_sub(unwritten, Ordering::SeqCst);
            return conn.close();
        }
        throttle_pause(sh.rate(), allowed);
        if hit {
            conn.tripped.store(true, Ordering::SeqCst);
        }
    }
    if conn.tripped() {
        apply_fault(sh, conn, dir);
    }
}

fn apply_fault(sh: &Shared, conn: &Arc<Conn>, dir: Dir) {
    match conn.fault_kind() {
        Some(Kind::Cut) => cut(sh, conn, dir),
        Some(Kind::Stall) => {
            let mut stalled = sh.stalled.lock().unwrap();
            if !stalled.iter().any(|c| Arc::ptr_eq(c, conn)) {
                stalled.push(conn.clone());
            }
        }
        None => {}
    }
}

/// A cut: both peers get a FIN after everything already forwarded, then what
/// they still send is read and discarded until they close (at most 2 s).
/// Closing a socket with unread data would send an RST instead, and an RST
/// makes the peer's kernel drop bytes it received but had not yet read, so
/// the bytes counted as forwarded would not all have arrived. So each pump
/// drains its own side, and the sockets close when both pumps are done (the
/// last `Arc<Conn>` drops), not when the first one is.
fn cut(sh: &Shared, conn: &Conn, dir: Dir) {
    let _ = conn.client.shutdown(Shutdown::Write);
    let _ = conn.upstream.shutdown(Shutdown::Write);
    let (mut src, _) = conn.ends(dir);
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 16 * 1024];
    while !sh.stopped() && std::time::Instant::now() < deadline {
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
}

/// `write_all` that survives write time-outs and gives up when the proxy
/// stops; on failure, returns how many bytes did not go out.
fn write_fully(sh: &Shared, mut dst: &TcpStream, mut data: &[u8]) -> Result<(), u64> {
    while !data.is_empty() {
        match dst.write(data) {
            Ok(n) if n > 0 => data = &data[n..],
            Err(e) if is_timeout(&e) && !sh.stopped() => {}
            _ => return Err(data.len() as u64),
        }
    }
    Ok(())
}

fn throttle_pause(rate: u64, bytes: usize) {
    if rate > 0 && bytes > 0 {
        thread::sleep(Duration::from_secs_f64(bytes as f64 / rate as f64));
    }
}
