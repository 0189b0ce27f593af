//! `serve` behind a reverse proxy (issue 13): Debian's nginx, with the
//! configuration README.md shows ("Behind a reverse proxy"), in front of a
//! server: `send` and `get` of a few MiB through it. The server's log names
//! the client a forwarded header gives (`client=`) only with
//! `--trusted-proxy` and only for connections from the proxy: a forged
//! `X-Forwarded-For` sent directly from 127.0.0.2 (outside the trusted
//! 127.0.0.1) is logged with its real address. The same through Caddy
//! with README's Caddyfile, which replaces a client's `X-Forwarded-For`.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::caddy::{Caddy, caddy_path};
use support::nginx::{Nginx, nginx_path};
use support::raw::{TEXT, encode_frame, upgrade_request};
use support::{Server, check_ok_report, client_args, run_ok_json, s, sha256_file, wait_until};

/// How long a log line may take to appear.
const LOG_WAIT: Duration = Duration::from_secs(20);
/// Bytes moved each way through the proxy.
const SIZE: u64 = 5 * 1024 * 1024 + 123;

/// nginx in front of `server`, or `None` (skipped) when it is missing.
fn nginx_in_front(server: &Server) -> Option<Nginx> {
    let found = nginx_path();
    if !support::have_part(found.is_some(), "nginx") {
        return None;
    }
    Some(Nginx::start(
        &found.unwrap(),
        &support::readme_block("Behind a reverse proxy", "nginx"),
        &[server.addr()],
    ))
}

/// Where a proxy whose root URL is `url` (`ws://ADDR/`) listens.
fn listening(url: &str) -> SocketAddr {
    url.trim_start_matches("ws://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// `send` then `get` of SIZE random bytes through `url`.
fn round_trip(url: &str) {
    let dir = tempfile::TempDir::new().unwrap();
    let src = support::random_file(dir.path(), "up.bin", SIZE);
    let sha = sha256_file(&src);
    let sent = run_ok_json(&client_args(&["send", s(&src), url], &[]));
    check_ok_report(&sent, "send", SIZE, &sha);
    let dest = dir.path().join("down.bin");
    let got = run_ok_json(&client_args(&["get", url, s(&dest)], &[]));
    check_ok_report(&got, "get", SIZE, &sha);
    assert_eq!(sha256_file(&dest), sha);
}

/// A TCP connection to `to` from the address `source`.
fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        let stream = socket.connect(to).await.unwrap();
        let stream = stream.into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    })
}

/// Over `stream` (to `addr`): the upgrade with `headers`, then a `get` of
/// `path` (which does not exist: the server logs a refusal naming it).
fn raw_get(mut stream: TcpStream, addr: SocketAddr, headers: &str, path: &str) {
    let request = upgrade_request(addr, "/", headers);
    stream.write_all(request.as_bytes()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut head = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !head.ends_with(b"\r\n\r\n") && Instant::now() < deadline {
        let mut byte = [0u8; 1];
        if let Ok(1) = stream.read(&mut byte) {
            head.push(byte[0]);
        }
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let get = format!(r#"{{"type":"get","path":"{path}","chunk_size":65536}}"#);
    let frame = encode_frame(TEXT, get.as_bytes(), get.len() as u64);
    stream.write_all(&frame).unwrap();
}

/// The server's log line naming `marker`, once it is there.
/// `raw_get` of `path` through the proxy listening on `front`, with
/// `headers`: the server's log line for it.
fn logged_through(server: &Server, front: SocketAddr, headers: &str, path: &str) -> String {
    raw_get(TcpStream::connect(front).unwrap(), front, headers, path);
    log_line(server, path.trim_start_matches('/'))
}

fn log_line(server: &Server, marker: &str) -> String {
    let find = || {
        let log = server.stderr_text();
        log.lines().find(|l| l.contains(marker)).map(str::to_owned)
    };
    assert!(
        wait_until(LOG_WAIT, || find().is_some()),
        "no line with {marker}:\n{}",
        server.stderr_text()
    );
    find().unwrap()
}

#[test]
fn a_trusted_proxy_s_client_address_is_logged_and_a_direct_forgery_is_not() {
    let root = tempfile::TempDir::new().unwrap();
    let server = Server::start(root.path(), &["--trusted-proxy", "127.0.0.1"]);
    let Some(nginx) = nginx_in_front(&server) else {
        return;
    };
    let front = listening(&nginx.url(""));
    round_trip(&nginx.url("dir/big.bin"));
    // The wsresume client reached nginx from 127.0.0.1: nginx's
    // X-Forwarded-For is all trusted, so the left-most (itself).
    let put = log_line(&server, "put dir/big.bin");
    assert!(put.contains("client=127.0.0.1"), "{put}");

    // Through nginx, a header naming a client: nginx appends 127.0.0.1, the
    // right-most untrusted entry is the client; what lies left of it is not
    // believed.
    let xff = "X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n";
    let through = logged_through(&server, front, xff, "/through.bin");
    assert!(through.contains("client=203.0.113.7}"), "{through}");
    assert!(!through.contains("198.51.100.1"), "{through}");

    // Directly from 127.0.0.2, outside --trusted-proxy: headers ignored.
    let forged = "X-Forwarded-For: 203.0.113.66\r\nForwarded: for=203.0.113.67\r\n";
    let direct = connect_from([127, 0, 0, 2].into(), server.addr());
    raw_get(direct, server.addr(), forged, "/forged.bin");
    let line = log_line(&server, "forged.bin");
    assert!(line.contains("peer=\"127.0.0.2:"), "{line}");
    assert!(!line.contains("client="), "{line}");
    assert!(
        !server.stderr_text().contains("203.0.113.6"),
        "{}",
        server.stderr_text()
    );
}

#[test]
fn without_trusted_proxy_forwarded_headers_are_ignored() {
    let root = tempfile::TempDir::new().unwrap();
    let server = Server::start(root.path(), &[]);
    let Some(nginx) = nginx_in_front(&server) else {
        return;
    };
    let front = listening(&nginx.url(""));
    round_trip(&nginx.url("plain.bin"));
    let xff = "X-Forwarded-For: 203.0.113.7\r\nForwarded: for=203.0.113.8\r\n";
    let through = logged_through(&server, front, xff, "/through.bin");
    assert!(through.contains("peer=\"127.0.0.1:"), "{through}");
    let log = server.stderr_text();
    assert!(log.contains("put plain.bin"), "{log}");
    assert!(!log.contains("client="), "{log}");
    assert!(!log.contains("203.0.113."), "{log}");
}

#[test]
fn caddy_with_the_readme_caddyfile_passes_transfers_and_names_the_client() {
    let root = tempfile::TempDir::new().unwrap();
    let server = Server::start(root.path(), &["--trusted-proxy", "127.0.0.1"]);
    let found = caddy_path();
    if !support::have_part(found.is_some(), "caddy") {
        return;
    }
    let caddy = Caddy::start(
        &found.unwrap(),
        &support::readme_block("Behind a reverse proxy", "caddyfile"),
        server.addr(),
    );
    round_trip(&caddy.url("c/big.bin"));
    let put = log_line(&server, "put c/big.bin");
    assert!(put.contains("client=127.0.0.1}"), "{put}");
    // Caddy does not trust the test's client: it replaces its header.
    let front = listening(&caddy.url(""));
    let xff = "X-Forwarded-For: 203.0.113.7\r\n";
    let line = logged_through(&server, front, xff, "/via-caddy.bin");
    assert!(line.contains("client=127.0.0.1}"), "{line}");
    assert!(!line.contains("203.0.113.7"), "{line}");
}
