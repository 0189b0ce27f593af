//! First contact: until a connection of the run succeeded, a wrong port
//! fails within seconds saying what to check, and a host name that does not
//! resolve fails at once; `--retry-connrefused` waits for a server that
//! starts late; after a first success, refused connections are retried
//! patiently.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{
    Proc, Server, closed_port, json_one, json_str, part_path, random_file, s, sha256_file,
    wait_until, wsresume,
};
use tempfile::TempDir;

/// Far below what today's patient backoff takes (75 s for 10 retries).
const QUICK: Duration = Duration::from_secs(10);

/// "At once": no retry at all.
const AT_ONCE: Duration = Duration::from_secs(3);

/// More refused retries than a first contact gets without the flag.
const MORE_THAN_QUICK: usize = 4;

/// The quick retries of a refused first contact: 0.5 + 1 + 2 s.
const QUICK_RETRIES: Duration = Duration::from_millis(3500);

/// Runs `wsresume ARGS --json`, asserts exit 4 after at least `at_least`
/// and within `limit`; returns the report and stderr.
fn expect_4_within(
    args: &[&str],
    at_least: Duration,
    limit: Duration,
) -> (serde_json::Value, String) {
    let start = Instant::now();
    let out = wsresume().args(args).arg("--json").assert().code(4);
    let took = start.elapsed();
    assert!(took >= at_least && took < limit, "{args:?} took {took:?}");
    let out = out.get_output();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (json_one(&out.stdout), stderr)
}

/// Log lines of a `-v` client saying a refused attempt will be retried.
fn refused_retries(client: &Proc) -> usize {
    client
        .stderr_text()
        .lines()
        .map(str::to_lowercase)
        .filter(|l| l.contains("connection refused") && l.contains("reconnecting"))
        .count()
}

/// `wsresume serve ROOT --listen 127.0.0.1:PORT`, once it listens.
fn serve_on(root: &Path, port: u16) -> Proc {
    let listen = format!("127.0.0.1:{port}");
    let server = Proc::wsresume(&["serve", s(root), "--listen", &listen]);
    let line = server.first_line(Duration::from_secs(10));
    assert!(
        line.is_some_and(|l| l.starts_with("listening on")),
        "server did not start: {}",
        server.stderr_text()
    );
    server
}

#[test]
fn a_wrong_port_fails_within_seconds_saying_what_to_check() {
    let local = TempDir::new().unwrap();
    let port = closed_port();
    let url = format!("ws://127.0.0.1:{port}/x.bin");
    let dest = local.path().join("x.bin");
    let (report, stderr) = expect_4_within(&["get", &url, s(&dest)], QUICK_RETRIES, QUICK);
    let check = format!("connection refused: is the server running on 127.0.0.1:{port}?");
    assert!(stderr.contains(&check), "{stderr}");
    assert!(stderr.contains("--retry-connrefused"), "{stderr}");
    assert!(json_str(&report["error"], "message").contains(&check));
    assert!(!dest.exists());
    let src = random_file(local.path(), "y.bin", 10);
    let (_, stderr) = expect_4_within(&["send", s(&src), &url], QUICK_RETRIES, QUICK);
    assert!(stderr.contains(&check), "{stderr}");
}

#[test]
fn a_host_name_that_does_not_resolve_fails_at_once() {
    let local = TempDir::new().unwrap();
    let dest = local.path().join("x");
    let url = "ws://nosuchhost.invalid:9/x";
    let (report, stderr) = expect_4_within(&["get", url, s(&dest)], Duration::ZERO, AT_ONCE);
    assert!(
        stderr.contains("cannot resolve host 'nosuchhost.invalid': check the name"),
        "{stderr}"
    );
    assert!(json_str(&report["error"], "message").contains("cannot resolve host"));
    let (_, stderr) = expect_4_within(
        &["ls", "ws://nosuchhost.invalid:9/"],
        Duration::ZERO,
        AT_ONCE,
    );
    assert!(stderr.contains("cannot resolve host"), "{stderr}");
}

/// The server starts only after the client was refused more often than a
/// first contact allows without `--retry-connrefused`.
#[test]
fn retry_connrefused_waits_for_a_server_that_starts_late() {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "f.bin", 100_000);
    let port = closed_port();
    let url = format!("ws://127.0.0.1:{port}/f.bin");
    let dest = local.path().join("f.bin");
    let flags = ["--retry-connrefused", "--retry-max-delay", "1", "-v"];
    let mut client = Proc::wsresume(&[&["get", &url, s(&dest)][..], &flags[..]].concat());
    let waited = wait_until(Duration::from_secs(30), || {
        refused_retries(&client) >= MORE_THAN_QUICK
    });
    assert!(waited, "no retries: {}", client.stderr_text());
    assert!(client.try_status().is_none(), "{}", client.stderr_text());
    let _server = serve_on(root.path(), port);
    client.expect_success(Duration::from_secs(30));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
}

#[test]
fn retry_connrefused_from_the_environment() {
    let port = closed_port();
    let url = format!("ws://127.0.0.1:{port}/");
    let mut cmd = support::base_cmd();
    cmd.env("WSRESUME_RETRY_CONNREFUSED", "1")
        .args(["ls", &url, "--retry-max-delay", "1", "-v"]);
    let mut client = Proc::spawn(cmd);
    let waited = wait_until(Duration::from_secs(30), || {
        refused_retries(&client) >= MORE_THAN_QUICK
    });
    assert!(waited, "no retries: {}", client.stderr_text());
    client.kill();
}

/// A download under way loses its server: the reconnects are refused more
/// often than a first contact allows, and it still finishes once a server
/// is back on the port. The client talks to a throttling proxy; dropping it
/// cuts the connection and leaves its port refusing.
#[test]
fn after_a_first_success_refusals_are_retried_patiently() {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "slow.bin", 2_000_000);
    let server = Server::start(root.path(), &[]);
    let proxy = support::FaultProxy::new(server.addr());
    proxy.throttle(100_000);
    let port = proxy.addr().port();
    let dest = local.path().join("slow.bin");
    let url = proxy.url("slow.bin");
    let flags = ["--retry-max-delay", "1", "-v"];
    let mut client = Proc::wsresume(&[&["get", &url, s(&dest)][..], &flags[..]].concat());
    let started = wait_until(Duration::from_secs(20), || {
        support::file_len(&part_path(&dest)) > 0
    });
    assert!(started, "no bytes: {}", client.stderr_text());
    drop(proxy);
    let waited = wait_until(Duration::from_secs(30), || {
        refused_retries(&client) >= MORE_THAN_QUICK
    });
    assert!(waited, "no retries: {}", client.stderr_text());
    assert!(client.try_status().is_none(), "{}", client.stderr_text());
    let _server = serve_on(root.path(), port);
    client.expect_success(Duration::from_secs(60));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
}
