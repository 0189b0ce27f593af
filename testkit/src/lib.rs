//! Shared support for wsresume's integration tests (`use wsresume_testkit as
//! support;` in each test file): the hermetic `wsresume` command, polling
//! helpers, random files, hashing, leftover detection and JSON Lines
//! parsing. The fault proxy lives in `proxy`, the process guards in
//! `process`, trees written and checked file by file in `tree`, an
//! S3-compatible server and its buckets in `s3` (and the rig of two
//! servers on one bucket in `s3rig`), a load balancer in
//! `nginx`, a reverse proxy in `caddy`, an HTTP proxy in `tinyproxy` and a
//! SOCKS5 server in `socks`. A crate of its own, so that each helper is
//! compiled once and the dead-code lint sees it as the library it is;
//! `tests/helpers_used.rs` checks that every helper is used by some test.
pub mod browser;
pub mod caddy;
pub mod nginx;
pub mod pki;
pub mod process;
pub mod proxy;
pub mod raw;
pub mod s3;
pub mod s3rig;
pub mod slowlink;
pub mod socks;
pub mod tinyproxy;
pub mod tmux;
pub mod tree;

pub use process::{Proc, Server};
pub use proxy::{Dir, FaultProxy};

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::Rng;
use sha2::{Digest, Sha256};

/// The chunk size the tests use: `--chunk-size 64K`.
pub const CHUNK: u64 = 64 * 1024;
pub const CHUNK_ARG: &str = "64K";
/// Upper bound for any single client run, so a hang fails instead of blocking.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// Marker in the names of partial and state files.
pub const PART_MARK: &str = ".wsresume-";
const POLL: Duration = Duration::from_millis(15);

/// Path of the binary under test: `wsresume` in the directory above the
/// running test binary (`target/<profile>/deps/`), where cargo builds it
/// for the integration tests.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>");
        profile_dir.join("wsresume").to_string_lossy().into_owned()
    })
}

/// `target/tmp`, for files the tests keep between runs.
fn target_tmp() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let target = exe.ancestors().nth(3).expect("target/");
    target.join("tmp")
}

/// Environment variables that change the client's settings or logs.
pub const SETTING_VARS: [&str; 13] = [
    "WSRESUME_PARALLEL",
    "WSRESUME_MAX_PROTOCOL",
    "WSRESUME_TOKEN",
    "WSRESUME_SERVER",
    "WSRESUME_RETRIES",
    "WSRESUME_RETRY_MAX_DELAY",
    "WSRESUME_TIMEOUT",
    "WSRESUME_CHUNK_SIZE",
    "WSRESUME_LIMIT_RATE",
    "WSRESUME_PROGRESS",
    "WSRESUME_RETRY_CONNREFUSED",
    "WSRESUME_COMPRESS",
    "WSRESUME_LOG",
];

/// Environment variables that choose a proxy or change how the client
/// connects (the machine's own proxy must not reach the tests).
pub const NETWORK_VARS: [&str; 10] = [
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "WSRESUME_RESOLVE",
    "WSRESUME_CONNECT_TIMEOUT",
];

/// The binary as a std `Command`, isolated from the user's settings,
/// token and config.
pub fn base_cmd() -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    for var in SETTING_VARS.iter().chain(&NETWORK_VARS) {
        cmd.env_remove(var);
    }
    cmd.env("WSRESUME_CONFIG", "/nonexistent/wsresume-tests/config.toml")
        .env(CACHE_ENV, cache_dir())
        .env("NO_COLOR", "1");
    cmd
}

/// The digest cache's directory variable, and where the tests keep it
/// (never the user's cache; entries are keyed by the tests' temporary
/// paths, so runs do not see each other's).
pub const CACHE_ENV: &str = "WSRESUME_CACHE_DIR";
pub fn cache_dir() -> PathBuf {
    target_tmp().join("digest-cache")
}

/// The binary as an `assert_cmd::Command` (hermetic, with `RUN_TIMEOUT`).
pub fn wsresume() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(base_cmd());
    cmd.timeout(RUN_TIMEOUT);
    cmd
}

/// Whether a test may run with a part it needs (`what`, found or not).
/// Outside CI a missing part skips the test with a message; under
/// `CI=true` (where `scripts/test.sh` installs every part) it fails it.
pub fn have_part(found: bool, what: &str) -> bool {
    if found {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is missing, and CI=true: scripts/test.sh must provide it"
    );
    eprintln!("{what} is missing: skipped (it fails under CI=true)");
    false
}

/// Polls `cond` every ~15 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// A log file's text of `len` bytes, its lines drawn from `seed`: lines
/// that repeat in form, not in content (zstd -1 shrinks it to about a
/// quarter).
pub fn log_text(seed: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 200);
    let (mut state, mut line) = (seed | 1, 0u64);
    let levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN"];
    while out.len() < len {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let r = state >> 33;
        let text = format!(
            "2026-12-07T10:{:02}:{:02}.{:03}Z {} [worker-{}] GET /api/v1/items/{} status={} took={}ms id={:08x}\n",
            (line / 60_000) % 60,
            (line / 1000) % 60,
            line % 1000,
            levels[(r % 5) as usize],
            r % 16,
            r % 10_000,
            if r % 17 == 0 { 404 } else { 200 },
            r % 300,
            r as u32,
        );
        out.extend_from_slice(text.as_bytes());
        line += 7;
    }
    out.truncate(len);
    out
}

/// The first ```LANG block of README.md's section `## SECTION`: the
/// configurations the tests run are the ones the README shows.
pub fn readme_block(section: &str, lang: &str) -> String {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let heading = format!("\n## {section}\n");
    let at = readme.find(&heading).expect("the section in README.md");
    let fence = format!("```{lang}\n");
    let start = at + readme[at..].find(&fence).unwrap() + fence.len();
    let len = readme[start..].find("```").unwrap();
    readme[start..start + len].to_owned()
}

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rng().fill_bytes(&mut data);
    data
}

/// Writes `len` random bytes to `dir/name` (creating parents) and returns the path.
pub fn random_file(dir: &Path, name: &str, len: u64) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    let mut out = BufWriter::new(File::create(&path).unwrap());
    let mut left = len;
    while left > 0 {
        let n = left.min(1 << 20);
        out.write_all(&random_bytes(n as usize)).unwrap();
        left -= n;
    }
    out.flush().unwrap();
    path
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> String {
    let mut file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            return hex(&hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

/// Size of a file, 0 if it does not exist.
pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Every file under `dir` (recursive, bounded depth) whose name contains `.wsresume-`.
pub fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    collect_leftovers(dir, 8, &mut found);
    found.sort();
    found
}

fn collect_leftovers(dir: &Path, depth: u32, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if depth > 0 {
                collect_leftovers(&path, depth - 1, found);
            }
        } else if entry.file_name().to_string_lossy().contains(PART_MARK) {
            found.push(path);
        }
    }
}

/// The `.wsresume-part` file next to `target`.
pub fn part_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap().to_os_string();
    name.push(".wsresume-part");
    target.with_file_name(name)
}

/// Parses JSON Lines output (ignores blank lines; panics on invalid JSON).
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// The single JSON object printed by a one-file `--json` run.
pub fn json_one(stdout: &[u8]) -> serde_json::Value {
    let mut lines = json_lines(stdout);
    assert_eq!(lines.len(), 1, "expected one JSON line, got {lines:?}");
    lines.remove(0)
}

/// Integer field of a JSON report (panics with the report if absent).
pub fn json_u64(v: &serde_json::Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer {field:?} in {v}"))
}

/// String field of a JSON report (panics with the report if absent).
pub fn json_str<'a>(v: &'a serde_json::Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field:?} in {v}"))
}

/// Checks a successful report: status ok, op, size and hash.
pub fn check_ok_report(v: &serde_json::Value, op: &str, bytes: u64, sha256: &str) {
    assert_eq!(json_str(v, "status"), "ok", "report: {v}");
    assert_eq!(json_str(v, "op"), op, "report: {v}");
    assert_eq!(json_u64(v, "bytes"), bytes, "report: {v}");
    assert_eq!(json_str(v, "sha256"), sha256, "report: {v}");
    assert!(v["elapsed_s"].is_number(), "report: {v}");
    assert!(json_u64(v, "attempts") >= 1, "report: {v}");
    json_str(v, "source");
    json_str(v, "target");
    json_u64(v, "resumed_from");
}

/// A loopback port that was just bound and released (nothing listens on it).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A path as `&str` for argument lists.
pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs `wsresume ARGS --json -q`, asserts exit 0 and returns the single report.
pub fn run_ok_json(args: &[&str]) -> serde_json::Value {
    let assert = wsresume()
        .args(args)
        .args(["--json", "-q"])
        .assert()
        .success();
    json_one(&assert.get_output().stdout)
}

/// Runs `wsresume ARGS`, asserts exit `code` and returns the output.
pub fn run_expect_code(args: &[&str], code: i32) -> std::process::Output {
    wsresume()
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .clone()
}

/// Asserts that none of `dirs` holds partial or state files.
pub fn assert_no_leftovers(dirs: &[&Path]) {
    for dir in dirs {
        let found = leftovers(dir);
        assert!(
            found.is_empty(),
            "leftovers in {}: {found:?}",
            dir.display()
        );
    }
}

/// Asserts that `dir` holds partial or state files (an interrupted transfer kept its state).
pub fn assert_has_leftovers(dir: &Path) {
    assert!(
        !leftovers(dir).is_empty(),
        "no partial/state files kept in {}",
        dir.display()
    );
}

/// A server on a temporary ROOT, a temporary client directory, and a
/// `FaultProxy` in front of the server.
pub struct Rig {
    pub root: tempfile::TempDir,
    pub local: tempfile::TempDir,
    pub server: Server,
    pub proxy: FaultProxy,
}

impl Rig {
    pub fn new(server_args: &[&str]) -> Rig {
        let root = tempfile::TempDir::new().unwrap();
        let local = tempfile::TempDir::new().unwrap();
        let server = Server::start(root.path(), server_args);
        let proxy = FaultProxy::new(server.addr());
        Rig {
            root,
            local,
            server,
            proxy,
        }
    }

    /// Asserts that neither side holds partial or state files.
    pub fn check_clean(&self) {
        assert_no_leftovers(&[self.root.path(), self.local.path()]);
    }
}

/// Client args: `FIRST... --chunk-size 64K --retry-max-delay 1 EXTRA...`.
pub fn client_args<'a>(first: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = first.to_vec();
    args.extend_from_slice(&["--chunk-size", CHUNK_ARG, "--retry-max-delay", "1"]);
    args.extend_from_slice(extra);
    args
}
