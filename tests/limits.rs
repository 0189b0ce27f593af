//! Server limits: excess connections are refused with 503 (not queued), a
//! client that never finishes the upgrade is dropped, uploads over
//! `--max-file-size` or the free disk space are refused up front (8), and a
//! full local disk while downloading exits 3 keeping the verified partial.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::raw::{RawWs, upgrade_request};
use support::{
    Server, assert_has_leftovers, assert_no_leftovers, client_args, random_file, run_expect_code,
    run_ok_json, s, sha256_file,
};
use tempfile::TempDir;

#[test]
fn excess_connections_are_refused_not_queued() {
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &["--max-connections", "1"]);
    let holder = RawWs::upgrade(server.addr());
    let (_refused, head) = RawWs::open(server.addr(), &upgrade_request(server.addr(), "/x", ""));
    assert!(head.starts_with("HTTP/1.1 503"), "expected 503: {head}");
    assert!(head.contains("Retry-After"), "{head}");
    random_file(root.path(), "f.bin", 1000);
    let dest = root.path().join("copy.bin");
    let started = Instant::now();
    let out = run_expect_code(
        &client_args(
            &["get", &server.url("f.bin"), s(&dest)],
            &["--retries", "0"],
        ),
        4,
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server busy"));
    // A retrying client started while the slot is taken gets through once
    // it is free again.
    let mut retrying = support::Proc::wsresume(&client_args(
        &["get", &server.url("f.bin"), s(&dest)],
        &["-q"],
    ));
    assert!(
        retrying.wait_timeout(Duration::from_millis(500)).is_none(),
        "the client did not wait for the busy server"
    );
    drop(holder);
    retrying.expect_success(Duration::from_secs(30));
    assert_eq!(sha256_file(&dest), sha256_file(&root.path().join("f.bin")));
}

#[test]
fn a_stalled_upgrade_is_dropped_after_the_handshake_timeout() {
    let root = TempDir::new().unwrap();
    let server = Server::start(
        root.path(),
        &["--max-connections", "1", "--handshake-timeout", "0.5"],
    );
    // Half an upgrade request, then nothing: it holds the one slot (others
    // are turned away) until the time-out gives the slot back.
    let mut stalled = TcpStream::connect(server.addr()).unwrap();
    std::io::Write::write_all(&mut stalled, b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let (_probe, head) = RawWs::open(server.addr(), &upgrade_request(server.addr(), "/", ""));
    assert!(
        head.starts_with("HTTP/1.1 503"),
        "the slot was not taken: {head}"
    );
    let freed = support::wait_until(Duration::from_secs(10), || {
        let (_ws, head) = RawWs::open(server.addr(), &upgrade_request(server.addr(), "/", ""));
        head.starts_with("HTTP/1.1 101")
    });
    assert!(freed, "the stalled handshake kept its slot");
}

/// `--handshake-timeout` is one budget from the TCP accept to the request,
/// not one per step: a client whose every step comes well within the
/// budget, but whose steps together take longer, is dropped once the
/// budget is spent (here each step waits 0.6 of the budget).
#[test]
fn the_handshake_timeout_is_one_budget_for_the_upgrade_and_the_request() {
    let root = TempDir::new().unwrap();
    random_file(root.path(), "f.bin", 1000);
    let server = Server::start(root.path(), &["--handshake-timeout", "1.5"]);
    let step = Duration::from_millis(900);
    // The upgrade in two halves, each within the budget: no 101.
    let request = upgrade_request(server.addr(), "/", "");
    let (first, second) = request.split_at(request.len() / 2);
    let mut dribbler = RawWs::connect(server.addr());
    std::thread::sleep(step);
    dribbler.send_raw(first.as_bytes());
    std::thread::sleep(step);
    dribbler.send_raw(second.as_bytes());
    let head = dribbler.response_head(Duration::from_secs(5));
    assert!(!head.contains("101"), "upgraded after the budget: {head}");
    // The upgrade in time, the request after the budget: refused with the
    // time-out, not served.
    let mut late = RawWs::connect(server.addr());
    std::thread::sleep(step);
    late.send_raw(request.as_bytes());
    let head = late.response_head(Duration::from_secs(5));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    std::thread::sleep(step);
    late.send_text(r#"{"type":"get","path":"/f.bin","chunk_size":65536}"#);
    let (code, reason) = late
        .read_close(Duration::from_secs(5))
        .expect("no close frame");
    assert_eq!(code, 4400, "{reason}");
    assert!(reason.contains("no request arrived in time"), "{reason}");
}

#[test]
fn uploads_over_max_file_size_are_refused_up_front() {
    let root = TempDir::new().unwrap();
    let local = TempDir::new().unwrap();
    let server = Server::start(root.path(), &["--max-file-size", "100K"]);
    let big = random_file(local.path(), "big.bin", 100 * 1024 + 1);
    let out = run_expect_code(
        &client_args(&["send", s(&big), &server.url("big.bin")], &[]),
        8,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("more than this server accepts"), "{stderr}");
    assert!(!root.path().join("big.bin").exists());
    assert_no_leftovers(&[root.path()]);
    let small = random_file(local.path(), "small.bin", 100 * 1024);
    run_ok_json(&client_args(
        &["send", s(&small), &server.url("small.bin")],
        &[],
    ));
}

#[test]
fn bad_limit_flags_are_usage_errors() {
    let root = TempDir::new().unwrap();
    for flags in [
        ["--max-file-size", "lots"],
        ["--max-connections", "0"],
        ["--handshake-timeout", "0"],
        ["--idle-timeout", "ninety"],
        ["--expire-uploads", "0s"],
        ["--max-message-size", "1K"],
    ] {
        let mut args = vec!["serve", s(root.path()), "--listen", "127.0.0.1:0"];
        args.extend_from_slice(&flags);
        let out = run_expect_code(&args, 2);
        assert!(String::from_utf8_lossy(&out.stderr).contains(flags[0]));
    }
}

/// A small tmpfs, when this process may mount one (root); unmounted on drop.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = TempDir::new().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !support::have_part(ok, "mounting a tmpfs (needs root)") {
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn uploads_larger_than_the_free_space_are_refused() {
    let Some(fs) = Tmpfs::mount("20m") else {
        return;
    };
    let local = TempDir::new().unwrap();
    let server = Server::start(fs.path(), &[]);
    let src = random_file(local.path(), "big.bin", 8 << 20);
    let out = run_expect_code(
        &client_args(&["send", s(&src), &server.url("big.bin")], &[]),
        8,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not enough free space"), "{stderr}");
    assert_no_leftovers(&[fs.path()]);
}

#[test]
fn full_local_disk_exits_3_keeps_the_partial_and_resumes() {
    let Some(fs) = Tmpfs::mount("1m") else { return };
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &[]);
    let src = random_file(root.path(), "big.bin", 3 << 20);
    let dest = fs.path().join("big.bin");
    let url = server.url("big.bin");
    let out = run_expect_code(&client_args(&["get", &url, s(&dest)], &[]), 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("big.bin"), "names the file: {stderr}");
    assert!(!dest.exists());
    assert_has_leftovers(fs.path());
    fs.resize("8m");
    let report = run_ok_json(&client_args(&["get", &url, s(&dest)], &[]));
    assert!(
        report["resumed_from"].as_u64().unwrap() > 0,
        "did not resume: {report}"
    );
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    assert_no_leftovers(&[fs.path()]);
}

/// Interrupts an upload of `name` through a proxy cut, leaving a partial.
fn interrupted_send(rig: &support::Rig, name: &str) -> std::path::PathBuf {
    let src = random_file(rig.local.path(), name, 1 << 20);
    rig.proxy.cut_after(300_000, 1);
    let url = rig.proxy.url(name);
    run_expect_code(
        &client_args(&["send", s(&src), &url], &["--retries", "0"]),
        4,
    );
    src
}

#[test]
fn abandoned_uploads_expire_and_the_client_is_told() {
    let rig = support::Rig::new(&["--expire-uploads", "1s"]);
    let src = interrupted_send(&rig, "a.bin");
    interrupted_send(&rig, "b.bin");
    let part = |n: &str| rig.root.path().join(format!("{n}.wsresume-part"));
    let state = |n: &str| rig.root.path().join(format!("{n}.wsresume-state"));
    assert!(
        support::wait_until(Duration::from_secs(20), || !part("a.bin").exists()
            && !part("b.bin").exists()),
        "the partial uploads did not expire"
    );
    assert!(state("a.bin").exists(), "no marker left to tell the client");
    let out = support::wsresume()
        .args(client_args(
            &["send", s(&src), &rig.server.url("a.bin")],
            &[],
        ))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("abandoned for more than 1s"), "{stderr}");
    assert_eq!(
        sha256_file(&rig.root.path().join("a.bin")),
        sha256_file(&src)
    );
    // The other marker goes too, once it is older than the expiry time.
    assert!(
        support::wait_until(Duration::from_secs(20), || !state("b.bin").exists()),
        "the expiry marker was never removed"
    );
    rig.check_clean();
    assert!(
        rig.server
            .stderr_text()
            .contains("expired the partial upload of a.bin")
    );
}

#[test]
fn frames_over_max_message_size_are_refused() {
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &["--max-message-size", "270K"]);
    let mut ws = RawWs::upgrade(server.addr());
    let frame = support::raw::encode_frame(support::raw::BINARY, &[0u8; 280 * 1024], 280 * 1024);
    ws.send_raw(&frame);
    let (code, reason) = ws
        .read_close(Duration::from_secs(10))
        .expect("no close frame");
    assert_eq!(code, 4400, "{reason}");
    assert!(
        reason.contains("too large") || reason.contains("too long"),
        "{reason}"
    );
}

/// The handshake answers a raw client sees: 401 without the token or with
/// a wrong one, 101 with it, 426 for another protocol version.
#[test]
fn handshake_answers_401_without_the_token_and_426_for_another_version() {
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &["--token", "t0ken"]);
    let addr = server.addr();
    // (extra headers, protocol offered, expected status)
    let cases = [
        ("", "wsresume.v1", "401"),
        ("Authorization: Bearer wrong\r\n", "wsresume.v1", "401"),
        ("Authorization: Bearer t0ken\r\n", "wsresume.v1", "101"),
        ("Authorization: Bearer t0ken\r\n", "wsresume.v99", "426"),
    ];
    for (headers, protocol, status) in cases {
        let request = upgrade_request(addr, "/", headers).replace("wsresume.v1", protocol);
        let (_ws, head) = RawWs::open(addr, &request);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{headers:?} {protocol}: {head}"
        );
    }
}

/// `serve` takes its token from WSRESUME_TOKEN: a client without it is
/// refused (6), one with it gets the file.
#[test]
fn serve_reads_its_token_from_the_environment() {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    random_file(root.path(), "f.bin", 1000);
    let mut cmd = support::base_cmd();
    cmd.env("WSRESUME_TOKEN", "from-env").args([
        "serve",
        s(root.path()),
        "--listen",
        "127.0.0.1:0",
        "-q",
    ]);
    let server = support::Proc::spawn(cmd);
    let line = server.first_line(Duration::from_secs(10)).unwrap();
    let addr = support::process::parse_listening(&line).unwrap();
    let url = format!("ws://{addr}/f.bin");
    let dest = local.path().join("f.bin");
    run_expect_code(
        &client_args(&["get", &url, s(&dest)], &["--retries", "0"]),
        6,
    );
    assert!(!dest.exists());
    run_ok_json(&client_args(
        &["get", &url, s(&dest)],
        &["--token", "from-env"],
    ));
    assert!(dest.exists());
}

/// A connection on which nothing arrives for `--idle-timeout` is closed
/// with 1001 and a reason that says so.
#[test]
fn an_idle_upload_is_closed_with_1001() {
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &["--idle-timeout", "500ms"]);
    let mut ws = RawWs::upgrade(server.addr());
    ws.send_text(
        r#"{"type":"put","path":"/idle.bin","size":100000,"chunk_size":4096,"source_id":"s"}"#,
    );
    let started = Instant::now();
    let (code, reason) = ws.read_close(Duration::from_secs(10)).expect("no close");
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("idle"), "{reason}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "closed too early"
    );
}
