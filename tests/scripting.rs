//! Scripting guarantees: stdout carries only results (`--json` lines or
//! nothing), stderr carries progress and messages, `--progress` picks the
//! style off a terminal.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use support::{CHUNK_ARG, Server, random_file, s, wsresume};
use tempfile::TempDir;

const SIZE: u64 = 2 * 1024 * 1024 + 7;

fn tmp() -> TempDir {
    TempDir::new().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One served file and a place to download it to.
fn served() -> (TempDir, TempDir, Server) {
    let (root, local) = (tmp(), tmp());
    random_file(root.path(), "f.bin", SIZE);
    let server = Server::start(root.path(), &[]);
    (root, local, server)
}

#[test]
fn plain_progress_is_the_default_off_a_terminal() {
    let (_root, local, server) = served();
    let dest = local.path().join("f.bin");
    let out = wsresume()
        .args([
            "get",
            &server.url("f.bin"),
            s(&dest),
            "--chunk-size",
            CHUNK_ARG,
        ])
        .assert()
        .success();
    let out = out.get_output();
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("f.bin: 100% (2.0 MiB of 2.0 MiB)"),
        "stderr: {err}"
    );
    assert!(err.contains("sha256 "), "no summary: {err}");
    assert!(
        !err.contains('\r') && !err.contains('\x1b'),
        "terminal codes: {err:?}"
    );
}

#[test]
fn progress_none_and_quiet() {
    let (_root, local, server) = served();
    let dest = local.path().join("f.bin");
    let url = server.url("f.bin");
    let out = wsresume()
        .args(["get", &url, s(&dest), "--progress", "none"])
        .assert()
        .success();
    let err = text(&out.get_output().stderr);
    assert!(!err.contains("100%"), "progress shown: {err}");
    assert_eq!(err.lines().count(), 1, "only the summary: {err}");
    let out = wsresume()
        .args(["get", &url, s(&dest), "-q"])
        .assert()
        .success();
    assert!(out.get_output().stderr.is_empty());
    assert!(out.get_output().stdout.is_empty());
    // A fresh target: a re-run into `dest` would be skipped, with no progress.
    let fresh = local.path().join("g.bin");
    let out = wsresume()
        .args(["get", &url, s(&fresh), "--json", "--progress", "plain"])
        .assert()
        .success();
    let out = out.get_output();
    assert_eq!(support::json_lines(&out.stdout).len(), 1);
    assert!(
        text(&out.stderr).contains("100%"),
        "plain progress with --json"
    );
}

#[test]
fn bad_progress_style_is_a_usage_error() {
    wsresume()
        .args(["get", "ws://127.0.0.1:1/x", "--progress", "fancy"])
        .assert()
        .code(2);
}

/// A peer on 127.0.0.1 that answers one upgrade request with `response`.
fn fake_peer(response: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 65536 {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let _ = conn.write_all(response);
    });
    format!("ws://{addr}/x.bin")
}

/// Runs the args with `--json`; checks the exit code, one JSON error line
/// with that code on stdout, and a message on stderr.
fn check_failure(args: &[&str], code: i32) {
    let out = wsresume().args(args).arg("--json").assert().code(code);
    let out = out.get_output();
    let report = support::json_one(&out.stdout);
    assert_eq!(report["status"], "error", "{args:?}: {report}");
    assert_eq!(report["error"]["code"], code, "{args:?}: {report}");
    assert!(
        report["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    for field in [
        "op",
        "source",
        "target",
        "bytes",
        "sha256",
        "resumed_from",
        "attempts",
    ] {
        assert!(
            report.get(field).is_some(),
            "{args:?}: no {field} in {report}"
        );
    }
    assert!(!out.stderr.is_empty(), "{args:?}: nothing on stderr");
}

#[test]
fn every_failure_class_has_its_exit_code_and_json_line() {
    let (root, local) = (tmp(), tmp());
    random_file(root.path(), "f.bin", 1000);
    let server = Server::start(root.path(), &["--token", "sesame"]);
    let url = server.url("f.bin");
    let dest = local.path().join("f.bin");
    let blocker = random_file(local.path(), "plain", 1);
    let under_file = blocker.join("f.bin");
    let closed = format!("ws://127.0.0.1:{}/x", support::closed_port());
    let speaks_other = fake_peer(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n");
    let with = |extra: &[&'static str], base: &[&str]| {
        let mut v: Vec<String> = base.iter().map(|a| a.to_string()).collect();
        v.extend(extra.iter().map(|a| a.to_string()));
        v
    };
    let t = ["--token", "sesame"];
    let cases: Vec<(Vec<String>, i32)> = vec![
        (with(&["--bogus"], &["get", &url]), 2),
        (with(&[], &["get"]), 2),
        (with(&["--chunk-size", "12Q"], &["get", &url]), 2),
        (with(&[], &["get", "http://example.invalid/x"]), 2),
        (with(&t, &["get", &url, s(&under_file)]), 3),
        (
            with(&t, &["send", s(&local.path().join("missing")), &url]),
            3,
        ),
        (with(&["--retries", "0"], &["get", &closed, s(&dest)]), 4),
        (with(&[], &["get", &url, s(&dest)]), 6),
        (with(&["--token", "wrong"], &["get", &url, s(&dest)]), 6),
        (
            with(&["--retries", "0"], &["get", &speaks_other, s(&dest)]),
            7,
        ),
        (with(&t, &["get", &server.url("nope.bin"), s(&dest)]), 8),
        (with(&t, &["get", &server.url("../f.bin"), s(&dest)]), 8),
    ];
    for (args, code) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        check_failure(&args, code);
    }
    assert!(!dest.exists());
}

/// `get URL -` cannot restart once bytes reached stdout: the file changing
/// on the server meanwhile is an integrity failure retries cannot repair.
#[test]
fn source_changing_under_get_to_stdout_exits_9() {
    let rig = support::Rig::new(&[]);
    let src = random_file(rig.root.path(), "moving.bin", SIZE);
    rig.proxy.stall_after(600_000, 1);
    let url = rig.proxy.url("moving.bin");
    let mut client = support::Proc::wsresume(&support::client_args(
        &["get", &url, "-"],
        &["--timeout", "3", "-q"],
    ));
    let stalled = support::wait_until(std::time::Duration::from_secs(30), || {
        rig.proxy.down() >= 500_000
    });
    assert!(stalled, "no data arrived: {}", client.stderr_text());
    let old = std::fs::read(&src).unwrap();
    std::fs::remove_file(&src).unwrap();
    random_file(rig.root.path(), "moving.bin", SIZE);
    let status = client.wait_timeout(support::RUN_TIMEOUT);
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(9),
        "stderr: {}",
        client.stderr_text()
    );
    let out = client.stdout();
    assert!(
        !out.is_empty() && (out.len() as u64).is_multiple_of(support::CHUNK),
        "only whole verified chunks reach stdout, and some did: {}",
        out.len()
    );
    assert!(
        out[..] == old[..out.len()],
        "stdout is not the old file's prefix"
    );
}

/// `--limit-rate` (curl's size syntax) holds a transfer to the average it
/// names: a lower bound on the time, both directions.
#[test]
fn limit_rate_slows_both_directions() {
    let (root, local) = (tmp(), tmp());
    let src = random_file(local.path(), "slow.bin", 768 * 1024);
    let server = Server::start(root.path(), &[]);
    let url = server.url("slow.bin");
    let limit = ["--limit-rate", "256K", "--chunk-size", CHUNK_ARG];
    let started = std::time::Instant::now();
    let mut args = vec!["send", s(&src), url.as_str()];
    args.extend(limit);
    let report = support::run_ok_json(&args);
    let took = started.elapsed().as_secs_f64();
    // 768 KiB at 256 KiB/s: 3 s, less one burst and one frame.
    assert!(took >= 2.0, "send took {took}s: {report}");
    let dest = local.path().join("back.bin");
    let started = std::time::Instant::now();
    let mut args = vec!["get", url.as_str(), s(&dest)];
    args.extend(limit);
    support::run_ok_json(&args);
    assert!(started.elapsed().as_secs_f64() >= 2.0);
    assert_eq!(support::sha256_file(&dest), support::sha256_file(&src));
    wsresume()
        .args(["get", &url, "--limit-rate", "0", "-q"])
        .assert()
        .code(2);
}

/// `-v` logs connections and reconnect reasons with connection numbers;
/// the server logs one line per transfer by default.
#[test]
fn verbose_logs_and_the_server_transfer_line() {
    let rig = support::Rig::new(&[]);
    let src = random_file(rig.root.path(), "logged.bin", SIZE);
    rig.proxy.cut_after(300_000, 1);
    let dest = rig.local.path().join("logged.bin");
    let url = rig.proxy.url("logged.bin");
    let args = support::client_args(&["get", &url, s(&dest)], &["-v", "-q"]);
    let out = wsresume().args(args).assert().success();
    let err = text(&out.get_output().stderr);
    assert!(
        err.contains("conn{n=1}") && err.contains("conn{n=2}"),
        "{err}"
    );
    assert!(err.contains("connected to"), "{err}");
    assert!(err.contains("reconnecting"), "no reconnect reason: {err}");
    assert_eq!(support::sha256_file(&dest), support::sha256_file(&src));
    let logged = support::wait_until(std::time::Duration::from_secs(10), || {
        rig.server.stderr_text().contains("get logged.bin: ok")
    });
    let server_log = rig.server.stderr_text();
    assert!(logged, "no transfer line: {server_log}");
    let line = server_log
        .lines()
        .find(|l| l.contains("get logged.bin: ok"))
        .unwrap();
    assert!(
        line.contains("peer=") && line.contains("resumed from"),
        "{line}"
    );
    assert!(line.contains("conn{id="), "{line}");
    let quiet = wsresume()
        .args(["get", &url, s(&dest), "-q"])
        .assert()
        .success();
    assert!(quiet.get_output().stderr.is_empty(), "no logs without -v");
}

/// `send - URL` reads a file redirected to stdin; a pipe is refused (2).
#[test]
fn send_dash_reads_a_redirected_file_not_a_pipe() {
    let (root, local) = (tmp(), tmp());
    let src = random_file(local.path(), "in.bin", 200_000);
    let server = Server::start(root.path(), &[]);
    let url = server.url("from-stdin.bin");
    let out = support::base_cmd()
        .args(["send", "-", &url, "--json", "-q"])
        .stdin(std::fs::File::open(&src).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = support::json_one(&out.stdout);
    assert_eq!(report["bytes"], 200_000);
    assert_eq!(
        support::sha256_file(&root.path().join("from-stdin.bin")),
        support::sha256_file(&src)
    );
    wsresume()
        .args(["send", "-", &url, "-q"])
        .write_stdin("piped bytes")
        .assert()
        .code(2);
}

/// Off a terminal, a tree shows lines for the job as a whole (at most one
/// per 10 % of its bytes or 5 s, the last with every file done); its small
/// files show no lines of their own, its large file does.
#[test]
fn plain_progress_of_a_tree_is_a_few_job_lines() {
    let rig = support::Rig::new(&[]);
    let files = 300;
    for i in 0..files {
        random_file(rig.root.path(), &format!("t/d{}/f{i}.bin", i % 7), 4096);
    }
    let large = 3 * 1024 * 1024;
    random_file(rig.root.path(), "t/large.bin", large);
    rig.proxy.throttle(1024 * 1024);
    let dest = rig.local.path();
    let started = std::time::Instant::now();
    let args = ["get", "-r", &rig.proxy.url("t/"), s(dest)];
    let out = wsresume()
        .args(support::client_args(&args, &["--progress", "plain"]))
        .assert()
        .success();
    let elapsed = started.elapsed();
    let err = text(&out.get_output().stderr);
    let count = files + 1;
    let job: Vec<_> = err.lines().filter(|l| l.starts_with("total: ")).collect();
    let bound = 11 + elapsed.as_secs() as usize / 5;
    assert!(
        !job.is_empty() && job.len() <= bound,
        "{} job lines in {elapsed:?}:\n{err}",
        job.len()
    );
    let last = job.last().unwrap();
    let done = format!("total: {count} of {count} files, ");
    assert!(last.starts_with(&done) && last.contains("(100%)"), "{last}");
    for line in &job {
        assert!(line.contains(&format!(" of {count} files, ")), "{line}");
    }
    let own: Vec<_> = err
        .lines()
        .filter(|l| !l.starts_with("total: ") && l.contains("% ("))
        .collect();
    assert!(!own.is_empty(), "no lines for the large file:\n{err}");
    for line in own {
        assert!(
            line.starts_with("large.bin: "),
            "a small file's line: {line}"
        );
    }
    assert_eq!(
        err.matches("sha256 ").count(),
        count,
        "one summary per file:\n{err}"
    );
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
}
