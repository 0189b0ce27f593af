//! Child-process guards: `Proc` (any spawned `wsresume`, killed on drop, with
//! its output drained to buffers) and `Server` (a running `wsresume serve`,
//! of a directory or of a bucket).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::s3::store_cmd;
use super::{base_cmd, closed_port, wait_until};

/// How long a server may take to print its `listening on` line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

type Buf = Arc<Mutex<Vec<u8>>>;

fn drain<R: Read + Send + 'static>(mut r: R) -> Buf {
    let buf = Buf::default();
    let sink = buf.clone();
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

/// A spawned child, SIGKILLed and reaped on drop.
pub struct Proc {
    child: Child,
    status: Option<ExitStatus>,
    out: Buf,
    err: Buf,
}

impl Proc {
    /// Spawns `cmd` with stdin closed and stdout/stderr captured.
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null());
        Proc::start(cmd)
    }

    /// Spawns `cmd` with its stdin a pipe whose other end is returned: it
    /// closes when dropped, or when the test process ends however it ends,
    /// so a wrapper that waits for its end can stop what it started.
    pub fn spawn_tied(mut cmd: Command) -> (Proc, ChildStdin) {
        cmd.stdin(Stdio::piped());
        let mut proc = Proc::start(cmd);
        let tie = proc.child.stdin.take().unwrap();
        (proc, tie)
    }

    fn start(mut cmd: Command) -> Proc {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let out = drain(child.stdout.take().unwrap());
        let err = drain(child.stderr.take().unwrap());
        Proc {
            child,
            status: None,
            out,
            err,
        }
    }

    /// Spawns `wsresume ARGS` (hermetic environment).
    pub fn wsresume(args: &[&str]) -> Proc {
        let mut cmd = base_cmd();
        cmd.args(args);
        Proc::spawn(cmd)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Exit status if it has exited (reaps it).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap();
        }
        self.status
    }

    /// Waits up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_until(timeout, || self.try_status().is_some());
        self.status
    }

    /// Asserts that the child exits with status 0 within `timeout`.
    pub fn expect_success(&mut self, timeout: Duration) {
        let status = self.wait_timeout(timeout);
        let ok = status.is_some_and(|st| st.success());
        assert!(ok, "child: {status:?}, stderr:\n{}", self.stderr_text());
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Sends a signal by name (`TERM`, `INT`, ...) if the child still runs.
    pub fn signal(&mut self, sig: &str) {
        if self.try_status().is_none() {
            let pid = self.pid().to_string();
            let ok = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid)
                .status();
            assert!(ok.unwrap().success(), "kill -{sig} failed");
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        self.wait_timeout(timeout)
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.out.lock().unwrap().clone()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// The first stdout line, waiting up to `timeout` for it.
    pub fn first_line(&self, timeout: Duration) -> Option<String> {
        let has_line = || self.out.lock().unwrap().contains(&b'\n');
        if !wait_until(timeout, has_line) {
            return None;
        }
        let out = self.stdout();
        let text = String::from_utf8_lossy(&out);
        text.lines().next().map(str::to_owned)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Parses `listening on ws://127.0.0.1:PORT` (or `wss://`).
pub fn parse_listening(line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix("listening on ")?;
    rest.strip_prefix("ws://")
        .or_else(|| rest.strip_prefix("wss://"))?
        .trim_end_matches('/')
        .parse()
        .ok()
}

/// What a server serves.
enum Serves {
    Root(PathBuf),
    /// `s3://BUCKET[/PREFIX]` and the AWS environment.
    Store(String, Vec<(String, String)>),
}

/// A running `wsresume serve ROOT --listen 127.0.0.1:0 ARGS...` (or
/// `serve --store URL`).
pub struct Server {
    proc: Proc,
    addr: SocketAddr,
    serves: Serves,
    args: Vec<String>,
}

impl Server {
    /// Starts a server on ROOT with extra args; panics (with its stderr) if it
    /// does not announce its address within `STARTUP_TIMEOUT`.
    pub fn start(root: &Path, args: &[&str]) -> Server {
        Server::launch(Serves::Root(root.to_path_buf()), args)
    }

    /// Starts `serve --store URL` (`s3://BUCKET[/PREFIX]`) with `env` as
    /// its AWS environment (`s3::Bucket::env`) and extra args.
    pub fn start_store(url: &str, env: &[(String, String)], args: &[&str]) -> Server {
        Server::launch(Serves::Store(url.to_string(), env.to_vec()), args)
    }

    fn launch(serves: Serves, args: &[&str]) -> Server {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (proc, addr) = spawn_server(&serves, &args);
        Server {
            proc,
            addr,
            serves,
            args,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    /// SIGTERM; the exit status if it exits within 10 s.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.proc.terminate(Duration::from_secs(10))
    }

    /// Kills the server if it still runs and starts it again on the same ROOT
    /// (or bucket) with the same args; the port may change (use
    /// `addr()`/`url()` again).
    pub fn restart(&mut self) {
        self.proc.kill();
        let (proc, addr) = spawn_server(&self.serves, &self.args);
        self.proc = proc;
        self.addr = addr;
    }

    pub fn stderr_text(&self) -> String {
        self.proc.stderr_text()
    }

    /// The server's process id (for /proc/PID/...).
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- server stderr ---\n{}", self.stderr_text());
        }
    }
}

fn spawn_server(serves: &Serves, args: &[String]) -> (Proc, SocketAddr) {
    let mut cmd = match serves {
        Serves::Root(root) => {
            let mut cmd = base_cmd();
            cmd.arg("serve").arg(root).args(["--listen", "127.0.0.1:0"]);
            cmd
        }
        Serves::Store(url, env) => store_cmd(url, env),
    };
    cmd.args(args);
    let mut proc = Proc::spawn(cmd);
    let line = proc.first_line(STARTUP_TIMEOUT);
    match line.as_deref().and_then(parse_listening) {
        Some(addr) => (proc, addr),
        None => {
            proc.kill();
            panic!(
                "server did not announce itself: first line {line:?}, stderr:\n{}",
                proc.stderr_text()
            )
        }
    }
}

/// Start a server program: `make(port)` (the process and its directory),
/// on a free port of 127.0.0.1, until it listens there within 20 s (another
/// process may take a just-released port; three tries); panics with `log`
/// of each failure.
pub(crate) fn start_on_free_port(
    what: &str,
    mut make: impl FnMut(u16) -> (Proc, tempfile::TempDir),
    log: impl Fn(&Proc, &Path) -> String,
) -> (Proc, tempfile::TempDir, SocketAddr) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        let port = closed_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let (mut proc, dir) = make(port);
        let up = wait_until(std::time::Duration::from_secs(20), || {
            proc.try_status().is_some() || TcpStream::connect(addr).is_ok()
        });
        if up && proc.try_status().is_none() {
            return (proc, dir, addr);
        }
        failures.push(format!("{addr}: {}", log(&proc, dir.path())));
    }
    panic!("{what} did not start: {failures:#?}");
}
