//! What a new user of `serve` meets first: a line on stderr saying what is
//! served and to whom, a warning when it is open beyond loopback without a
//! token, `--listen PORT` for loopback, and a plain HTTP request (curl, a
//! browser) answered over plain HTTP (the file, the index, 404, 405), over
//! plain TCP and TLS, the WebSocket side unaffected.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::process::parse_listening;
use support::{
    Proc, Server, random_file, run_expect_code, run_ok_json, s, sha256_file, wait_until,
};
use tempfile::TempDir;

const STARTUP: Duration = Duration::from_secs(10);

/// `wsresume serve ROOT ARGS...` and its address, once it listens.
fn serve(root: &Path, args: &[&str]) -> (Proc, SocketAddr) {
    let mut all = vec!["serve", s(root)];
    all.extend_from_slice(args);
    let proc = Proc::wsresume(&all);
    let line = proc.first_line(STARTUP);
    let addr = line.as_deref().and_then(parse_listening);
    let addr = addr.unwrap_or_else(|| panic!("{line:?}, stderr: {}", proc.stderr_text()));
    (proc, addr)
}

/// The server's stderr once it holds `text` (or after the start-up time).
fn stderr_with(proc: &Proc, text: &str) -> String {
    wait_until(STARTUP, || proc.stderr_text().contains(text));
    proc.stderr_text()
}

#[test]
fn serve_says_on_stderr_what_it_serves_and_to_whom() {
    let root = TempDir::new().unwrap();
    let canonical = std::fs::canonicalize(root.path()).unwrap();
    let cases: [(&[&str], &str); 2] = [
        (&[], "read-write, no token, no TLS (ws://)"),
        (
            &["--read-only", "--token", "t"],
            "read-only, token required, no TLS",
        ),
    ];
    for (args, mode) in cases {
        let server = Server::start(root.path(), args);
        let line = format!("serving {}: {mode}", canonical.display());
        let err = wait_until(STARTUP, || server.stderr_text().contains(&line));
        assert!(err, "no {line:?} in:\n{}", server.stderr_text());
        assert!(
            !server.stderr_text().contains("warning"),
            "{}",
            server.stderr_text()
        );
    }
}

#[test]
fn a_bare_port_listens_on_loopback() {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "f.bin", 100_000);
    let port = support::closed_port();
    let (_server, addr) = serve(root.path(), &["--listen", &port.to_string()]);
    assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], port)));
    let dest = local.path().join("f.bin");
    run_ok_json(&["get", &format!("ws://{addr}/f.bin"), s(&dest)]);
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    // A host name works too.
    let (_named, addr) = serve(root.path(), &["--listen", "localhost:0"]);
    assert!(addr.ip().is_loopback(), "{addr}");
}

#[test]
fn a_listen_address_that_cannot_be_one_says_how_to_write_it() {
    let root = TempDir::new().unwrap();
    for bad in [":9002", "localhost", "::1:9002", "65536"] {
        let out = run_expect_code(&["serve", s(root.path()), "--listen", bad], 2);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("HOST:PORT") && err.contains("bare PORT"),
            "{bad}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn listening_beyond_loopback_without_a_token_warns() {
    let root = TempDir::new().unwrap();
    let (open, _) = serve(root.path(), &["--listen", "0.0.0.0:0"]);
    let err = stderr_with(&open, "warning");
    assert!(
        err.contains("warning: listening on 0.0.0.0:") && err.contains("without a token"),
        "{err}"
    );
    // -q silences the serving line, never the warning.
    let (quiet, _) = serve(root.path(), &["--listen", "0.0.0.0:0", "-q"]);
    let err = stderr_with(&quiet, "warning");
    assert!(err.contains("without a token"), "{err}");
    assert!(!err.contains("serving "), "{err}");
    let (guarded, _) = serve(root.path(), &["--listen", "0.0.0.0:0", "--token", "t"]);
    let err = stderr_with(&guarded, "serving ");
    assert!(err.contains("token required"), "{err}");
    assert!(!err.contains("warning"), "{err}");
}

/// Sends `request` and reads the whole answer (the server closes).
fn raw_http(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The head of `answer` (lowercase) and its body.
fn split(answer: &str) -> (String, &str) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    (head.to_lowercase(), body)
}

#[test]
fn plain_http_requests_get_http_answers_and_websocket_clients_go_on() {
    let root = TempDir::new().unwrap();
    let src = random_file(root.path(), "f.bin", 1000);
    let data = std::fs::read(&src).unwrap();
    let server = Server::start(root.path(), &[]);
    let addr = server.addr();
    let get = format!("GET /f.bin HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\n\r\n");
    let answer = raw_http(addr, &get);
    let (head, body) = split(&answer);
    assert!(head.starts_with("http/1.1 200 ok"), "{answer:?}");
    assert!(head.contains("\r\ncontent-length: 1000"), "{answer:?}");
    assert_eq!(body.as_bytes(), String::from_utf8_lossy(&data).as_bytes());
    // (request, status, body expected)
    let others = [
        (
            format!("HEAD /f.bin HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
            "200",
            false,
        ),
        ("GET / HTTP/1.0\r\n\r\n".to_string(), "200", true),
        (
            format!("POST /up HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 5\r\n\r\nhello"),
            "405",
            true,
        ),
        (
            format!("GET /nothing HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
            "404",
            true,
        ),
    ];
    for (request, status, with_body) in others {
        let answer = raw_http(addr, &request);
        let (head, body) = split(&answer);
        assert!(
            head.starts_with(&format!("http/1.1 {status}")),
            "{request:?}: {answer:?}"
        );
        assert_eq!(!body.is_empty(), with_body, "{answer:?}");
    }
    // The server carries on serving WebSocket clients.
    let local = TempDir::new().unwrap();
    run_ok_json(&["get", &server.url("f.bin"), s(&local.path().join("f.bin"))]);
}

fn curl_available() -> bool {
    let found = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    support::have_part(found, "curl")
}

#[test]
fn curl_gets_files_over_plain_tcp_and_tls() {
    if !curl_available() {
        return;
    }
    let (root, pki) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::write(root.path().join("x"), b"the x file").unwrap();
    let (cert_path, key_path) = support::pki::self_signed_localhost(pki.path());
    let plain = Server::start(root.path(), &[]);
    let tls_args = ["--tls-cert", s(&cert_path), "--tls-key", s(&key_path)];
    let tls = Server::start(root.path(), &tls_args);
    let urls = [
        format!("http://{}/x", plain.addr()),
        format!("https://localhost:{}/x", tls.addr().port()),
    ];
    for url in urls {
        let out = Command::new("curl")
            .args(["-sS", "-i", "-k", "--max-time", "10", &url])
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&out.stdout);
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{url}: {answer:?} {out:?}"
        );
        assert!(answer.ends_with("\r\n\r\nthe x file"), "{url}: {answer}");
    }
}
