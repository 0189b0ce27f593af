//! Exit codes and refusals: network failure (4), refused requests (8, without
//! retries), authentication (6), usage (2), local I/O (3), path safety, one
//! writer per target, `--json` error reports and `serve` shutting down on SIGTERM.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::time::{Duration, Instant};

use support::{
    CHUNK, Proc, Rig, Server, assert_no_leftovers, client_args, closed_port, json_one, json_str,
    json_u64, random_file, run_expect_code, s, sha256_file, wsresume,
};
use tempfile::TempDir;

/// "Fails at once": far below what one default backoff round would take.
const FAST: Duration = Duration::from_secs(5);

fn tmp() -> TempDir {
    TempDir::new().unwrap()
}

/// Runs `wsresume ARGS`, asserts `code`, and that it took less than `limit`.
fn expect_code_within(args: &[&str], code: i32, limit: Duration) -> std::process::Output {
    let start = Instant::now();
    let out = run_expect_code(args, code);
    assert!(
        start.elapsed() < limit,
        "{args:?} took {:?}",
        start.elapsed()
    );
    out
}

fn assert_error_report(out: &std::process::Output, code: u64) {
    let report = json_one(&out.stdout);
    assert_eq!(json_str(&report, "status"), "error", "report: {report}");
    assert_eq!(json_u64(&report["error"], "code"), code, "report: {report}");
    assert!(
        !json_str(&report["error"], "message").is_empty(),
        "report: {report}"
    );
    assert!(
        !out.stderr.is_empty(),
        "errors must reach stderr even with -q"
    );
}

#[test]
fn server_down_exits_4_after_retries() {
    let local = tmp();
    let url = format!("ws://127.0.0.1:{}/x.bin", closed_port());
    let dest = local.path().join("x.bin");
    let retry = ["--retries", "2", "--retry-max-delay", "1", "-q", "--json"];
    let mut args = vec!["get", url.as_str(), s(&dest)];
    args.extend_from_slice(&retry);
    let out = expect_code_within(&args, 4, Duration::from_secs(30));
    assert_error_report(&out, 4);
    assert!(!dest.exists());
    let src = random_file(local.path(), "y.bin", 10);
    let mut args = vec!["send", s(&src), url.as_str()];
    args.extend_from_slice(&retry);
    expect_code_within(&args, 4, Duration::from_secs(30));
}

#[test]
fn not_found_exits_8_at_once() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let dest = local.path().join("missing.bin");
    let url = server.url("missing.bin");
    let out = expect_code_within(&["get", &url, s(&dest), "-q", "--json"], 8, FAST);
    assert_error_report(&out, 8);
    assert!(!dest.exists(), "nothing may be created for a missing file");
    assert_no_leftovers(&[local.path()]);
}

#[test]
fn read_only_server_refuses_send_with_8() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &["--read-only"]);
    let src = random_file(local.path(), "ro.bin", CHUNK);
    expect_code_within(&["send", s(&src), &server.url("ro.bin"), "-q"], 8, FAST);
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "read-only ROOT was written"
    );
    random_file(root.path(), "served.bin", CHUNK);
    let dest = local.path().join("served.bin");
    wsresume()
        .args(["get", &server.url("served.bin"), s(&dest), "-q"])
        .assert()
        .success();
}

#[test]
fn token_missing_or_wrong_exits_6() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &["--token", "secret"]);
    let src = random_file(root.path(), "t.bin", CHUNK);
    let url = server.url("t.bin");
    let dest = local.path().join("t.bin");
    expect_code_within(&["get", &url, s(&dest), "-q"], 6, FAST);
    expect_code_within(&["get", &url, s(&dest), "-q", "--token", "wrong"], 6, FAST);
    expect_code_within(
        &[
            "send",
            s(&src),
            &server.url("u.bin"),
            "-q",
            "--token",
            "nope",
        ],
        6,
        FAST,
    );
    assert!(!dest.exists() && !root.path().join("u.bin").exists());
    wsresume()
        .args(["get", &url, s(&dest), "-q", "--token", "secret"])
        .assert()
        .success();
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    std::fs::remove_file(&dest).unwrap();
    wsresume()
        .env("WSRESUME_TOKEN", "secret")
        .args(["get", &url, s(&dest), "-q"])
        .assert()
        .success();
}

#[test]
fn token_file_ignores_trailing_newline() {
    let (root, local) = (tmp(), tmp());
    let token_file = local.path().join("token");
    std::fs::write(&token_file, "filesecret\n").unwrap();
    // The file wins over --token (README: serve options).
    let server = Server::start(
        root.path(),
        &["--token-file", s(&token_file), "--token", "flagsecret"],
    );
    random_file(root.path(), "tf.bin", 100);
    let dest = local.path().join("tf.bin");
    let url = server.url("tf.bin");
    wsresume()
        .args(["get", &url, s(&dest), "-q", "--token", "filesecret"])
        .assert()
        .success();
    std::fs::remove_file(&dest).unwrap();
    expect_code_within(
        &["get", &url, s(&dest), "-q", "--token", "filesecret2"],
        6,
        FAST,
    );
    expect_code_within(
        &["get", &url, s(&dest), "-q", "--token", "flagsecret"],
        6,
        FAST,
    );
}

#[test]
fn usage_errors_exit_2() {
    let url = format!("ws://127.0.0.1:{}/x", closed_port());
    for args in [
        vec![],
        vec!["get"],
        vec!["send", "only-one-arg"],
        vec!["get", url.as_str(), "--chunk-size", "12Q"],
        vec!["get", "--bogus-flag", url.as_str()],
        vec!["frobnicate"],
    ] {
        expect_code_within(&args, 2, FAST);
    }
}

#[test]
fn help_shows_default_chunk_size_and_completions_work() {
    let out = wsresume().args(["get", "--help"]).assert().success();
    let help = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(help.contains("--chunk-size"), "help: {help}");
    assert!(
        help.contains("[default: 1M]"),
        "default chunk size not shown: {help}"
    );
    let out = wsresume().args(["completions", "bash"]).assert().success();
    assert!(!out.get_output().stdout.is_empty());
}

#[test]
fn local_io_errors_exit_3() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    random_file(root.path(), "io.bin", CHUNK);
    let blocker = random_file(local.path(), "plainfile", 1);
    let dest = blocker.join("io.bin");
    expect_code_within(&["get", &server.url("io.bin"), s(&dest), "-q"], 3, FAST);
    let missing = local.path().join("does-not-exist.bin");
    expect_code_within(&["send", s(&missing), &server.url("m.bin"), "-q"], 3, FAST);
}

/// Sets up `T/root` (served) next to `T/outside.txt` and a symlink
/// `root/link -> ../outside.txt`.
fn escape_setup() -> (TempDir, Server) {
    let top = tmp();
    let root = top.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(top.path().join("outside.txt"), "secret outside ROOT").unwrap();
    std::os::unix::fs::symlink(top.path().join("outside.txt"), root.join("link")).unwrap();
    let server = Server::start(&root, &[]);
    (top, server)
}

#[test]
fn paths_outside_root_are_refused_with_8() {
    let (top, server) = escape_setup();
    let local = tmp();
    let dest = local.path().join("got");
    for path in [
        "../outside.txt",
        "%2e%2e/outside.txt",
        "..%2foutside.txt",
        "%2Fetc%2Fpasswd",
        "link",
    ] {
        expect_code_within(&["get", &server.url(path), s(&dest), "-q"], 8, FAST);
        assert!(!dest.exists(), "{path}: something was downloaded");
    }
    let src = random_file(local.path(), "evil.bin", 100);
    for path in ["../escape.bin", "%2e%2e/escape.bin", "link/escape.bin"] {
        expect_code_within(&["send", s(&src), &server.url(path), "-q"], 8, FAST);
    }
    assert!(
        !top.path().join("escape.bin").exists(),
        "wrote outside ROOT"
    );
    assert_eq!(
        std::fs::read(top.path().join("outside.txt")).unwrap(),
        b"secret outside ROOT"
    );
}

#[test]
fn partial_files_are_not_served() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "p.bin", 2 * 1024 * 1024);
    rig.proxy.cut_after(700_000, 1);
    let url = rig.proxy.url("p.bin");
    let args = client_args(&["send", s(&src), &url], &["--retries", "0", "-q"]);
    wsresume().args(args).assert().failure();
    let partials = support::leftovers(rig.root.path());
    assert!(!partials.is_empty(), "no partial upload kept");
    let dest = rig.local.path().join("stolen");
    for part in partials {
        let name = part.file_name().unwrap().to_str().unwrap().to_owned();
        expect_code_within(&["get", &rig.server.url(&name), s(&dest), "-q"], 8, FAST);
    }
}

/// A second upload to a target that is being written is refused (8) or
/// waits; the final file is one whole version, never a mix.
#[test]
fn second_writer_is_refused_with_8() {
    second_writer_is_refused("d/same.bin", "d/same.bin");
}

/// The one-writer rule is about the file, not how its path is spelled.
#[test]
fn second_writer_through_a_symlinked_directory_is_refused() {
    second_writer_is_refused("d/same.bin", "alias/same.bin");
}

/// While a throttled upload to `first` runs, an upload of another file to
/// `second` (the same target) is refused with 8 at once; the first finishes
/// whole.
fn second_writer_is_refused(first: &str, second: &str) {
    let rig = Rig::new(&[]);
    std::fs::create_dir(rig.root.path().join("d")).unwrap();
    std::os::unix::fs::symlink("d", rig.root.path().join("alias")).unwrap();
    let a = random_file(rig.local.path(), "a.bin", 4 * 1024 * 1024);
    let b = random_file(rig.local.path(), "b.bin", 4 * 1024 * 1024);
    rig.proxy.throttle(2 * 1024 * 1024);
    let mut running = Proc::wsresume(&client_args(
        &["send", s(&a), &rig.proxy.url(first)],
        &["-q"],
    ));
    let progressed = support::wait_until(Duration::from_secs(30), || rig.proxy.up() > 1024 * 1024);
    assert!(
        progressed,
        "first upload made no progress: {}",
        running.stderr_text()
    );
    let out = expect_code_within(
        &client_args(&["send", s(&b), &rig.server.url(second)], &["-q"]),
        8,
        FAST,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another client"), "{stderr}");
    rig.proxy.throttle(0);
    running.expect_success(Duration::from_secs(60));
    assert_eq!(
        sha256_file(&rig.root.path().join("d/same.bin")),
        sha256_file(&a)
    );
    rig.check_clean();
}

#[test]
fn serve_exits_0_on_sigterm() {
    let root = tmp();
    let mut server = Server::start(root.path(), &[]);
    let status = server.terminate();
    assert_eq!(
        status.and_then(|st| st.code()),
        Some(0),
        "stderr: {}",
        server.stderr_text()
    );
}

/// SIGTERM: a client that upgraded but has not sent its request yet is
/// closed with 1001 (going away) at once, not left to its handshake
/// time-out (4400).
#[test]
fn sigterm_closes_a_connection_waiting_for_its_request_with_1001() {
    let root = tmp();
    let mut server = Server::start(root.path(), &["--handshake-timeout", "30"]);
    let mut raw = support::raw::RawWs::upgrade(server.addr());
    let waiting = std::thread::spawn(move || raw.read_close(Duration::from_secs(20)));
    let started = Instant::now();
    let status = server.terminate();
    assert_eq!(status.and_then(|st| st.code()), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the server waited for the client: {:?}",
        started.elapsed()
    );
    let (code, reason) = waiting.join().unwrap().expect("no close frame");
    assert_eq!(code, 1001, "{reason}");
    assert!(reason.contains("shutting down"), "{reason}");
}

/// SIGTERM: active connections are closed with 1001 (going away), the server
/// exits 0 with the partial upload resumable, and a retrying client finishes
/// against the restarted server without re-sending what was verified.
#[test]
fn sigterm_closes_with_1001_and_retrying_clients_finish() {
    let mut rig = Rig::new(&[]);
    // Large and sparse: still streaming when the server is stopped.
    let down = std::fs::File::create(rig.root.path().join("down.bin")).unwrap();
    down.set_len(8 << 30).unwrap();
    let src = random_file(rig.local.path(), "up.bin", 4 << 20);
    let mut raw = support::raw::RawWs::upgrade(rig.server.addr());
    raw.send_text(r#"{"type":"get","path":"/down.bin","chunk_size":65536}"#);
    let downloader = std::thread::spawn(move || raw.read_close(Duration::from_secs(30)));
    rig.proxy.throttle(1 << 20);
    let url = rig.proxy.url("up.bin");
    let args = client_args(&["send", s(&src), &url], &["-q"]);
    let mut sender = Proc::wsresume(&args);
    let proxy = &rig.proxy;
    assert!(support::wait_until(FAST, || proxy.up() > 500_000));
    let status = rig.server.terminate();
    assert_eq!(status.and_then(|st| st.code()), Some(0));
    let (code, reason) = downloader.join().unwrap().expect("no close frame");
    assert_eq!(code, 1001, "{reason}");
    support::assert_has_leftovers(rig.root.path());
    assert!(sender.try_status().is_none(), "the sender gave up");
    rig.server.restart();
    rig.proxy.set_upstream(rig.server.addr());
    rig.proxy.throttle(0);
    sender.expect_success(Duration::from_secs(60));
    assert_eq!(
        sha256_file(&rig.root.path().join("up.bin")),
        sha256_file(&src)
    );
    let bound = (4 << 20) + 2 * CHUNK + 64 * 1024;
    assert!(
        rig.proxy.up() <= bound,
        "re-sent: {} > {bound}",
        rig.proxy.up()
    );
    rig.check_clean();
}
