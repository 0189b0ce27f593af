//! The client through real proxies: tinyproxy (HTTP `CONNECT` with Basic
//! authentication) chosen by `HTTP_PROXY`/`http_proxy`/`HTTPS_PROXY`, with
//! the right and the wrong password, bypassed by `NO_PROXY`, refusing a
//! port (403), unreachable, cut inside the tunnel, and carrying `wss://`
//! with a private CA verified against the server's name; microsocks
//! (SOCKS5) without and with a username and password, `socks5h://`
//! included. `--resolve`, `--connect-timeout` and `wsresume config`'s
//! proxy rows too. The proxies come from `scripts/test.sh`.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::socks::Socks;
use support::tinyproxy::{Tinyproxy, program};
use support::{FaultProxy, Server, client_args, random_file, s, sha256_file, wsresume};
use tempfile::TempDir;

const MIB: u64 = 1 << 20;
const USER: &str = "user";
const PASSWORD: &str = "pass";
/// `user`, percent-encoded where it need not be: the client decodes it.
const ENCODED_USER: &str = "us%65r";

fn tinyproxy(connect_ports: &[u16]) -> Option<Tinyproxy> {
    let path = program("tinyproxy");
    support::have_part(path.is_some(), "tinyproxy")
        .then(|| Tinyproxy::start(&path.unwrap(), USER, PASSWORD, connect_ports))
}

fn microsocks(credentials: Option<(&str, &str)>) -> Option<Socks> {
    let path = program("microsocks");
    support::have_part(path.is_some(), "microsocks")
        .then(|| Socks::start(&path.unwrap(), credentials))
}

/// Runs the client with `env` set; returns (exit code, stderr).
fn run(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut cmd = wsresume();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(client_args(args, &["-q"])).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

fn run_ok(env: &[(&str, &str)], args: &[&str]) {
    let (code, stderr) = run(env, args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
}

/// A server on a temporary root holding `name` of `len` random bytes.
fn serving(name: &str, len: u64) -> (TempDir, Server, String) {
    let root = TempDir::new().unwrap();
    let sha = sha256_file(&random_file(root.path(), name, len));
    let server = Server::start(root.path(), &[]);
    (root, server, sha)
}

fn connects(log: &str, port: u16) -> usize {
    log.matches(&format!("CONNECT 127.0.0.1:{port} ")).count()
}

/// Whether the proxy's log comes to satisfy `cond` (it is written as the
/// proxy goes).
fn logged(proxy: &Tinyproxy, cond: impl Fn(&str) -> bool) -> bool {
    support::wait_until(Duration::from_secs(5), || cond(&proxy.log()))
}

#[test]
fn send_and_get_through_tinyproxy_from_the_environment() {
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &[]);
    let Some(proxy) = tinyproxy(&[server.addr().port()]) else {
        return;
    };
    let local = TempDir::new().unwrap();
    let file = random_file(local.path(), "big.bin", 24 * MIB);
    let url = proxy.url(ENCODED_USER, PASSWORD);
    run_ok(
        &[("HTTP_PROXY", &url)],
        &["send", s(&file), &server.url("big.bin")],
    );
    let back = local.path().join("back.bin");
    run_ok(
        &[("http_proxy", &url)],
        &["get", &server.url("big.bin"), s(&back)],
    );
    assert_eq!(sha256_file(&back), sha256_file(&file));
    assert_eq!(
        sha256_file(&root.path().join("big.bin")),
        sha256_file(&file)
    );
    assert!(
        logged(&proxy, |log| connects(log, server.addr().port()) >= 2),
        "{}",
        proxy.log()
    );
}

#[test]
fn a_wrong_or_missing_password_exits_6_naming_the_proxy() {
    let (_root, server, _) = serving("f.bin", 1024);
    let Some(proxy) = tinyproxy(&[server.addr().port()]) else {
        return;
    };
    let dest = TempDir::new().unwrap();
    let get = ["get", &server.url("f.bin"), s(dest.path())];
    let wrong = proxy.url(USER, "wrong-secret");
    let (code, stderr) = run(&[("HTTP_PROXY", &wrong)], &get);
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.contains(&format!("proxy http://{USER}:****@")),
        "{stderr}"
    );
    assert!(stderr.contains("refused the user and password"), "{stderr}");
    assert!(!stderr.contains("wrong-secret"), "{stderr}");
    let anonymous = format!("http://{}", wrong.rsplit('@').next().unwrap());
    let (code, stderr) = run(&[("HTTP_PROXY", &anonymous)], &get);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("requires authentication"), "{stderr}");
}

#[test]
fn no_proxy_and_an_empty_proxy_flag_go_direct() {
    let (_root, server, sha) = serving("f.bin", 2 * MIB);
    let Some(proxy) = tinyproxy(&[server.addr().port()]) else {
        return;
    };
    let dest = TempDir::new().unwrap();
    let via = proxy.url(USER, PASSWORD);
    let a = dest.path().join("a.bin");
    let env = [
        ("HTTP_PROXY", via.as_str()),
        ("NO_PROXY", "localhost, 127.0.0.0/8"),
    ];
    run_ok(&env, &["get", &server.url("f.bin"), s(&a)]);
    let b = dest.path().join("b.bin");
    run_ok(
        &[("ALL_PROXY", &via)],
        &["get", &server.url("f.bin"), s(&b), "--proxy", ""],
    );
    assert_eq!(sha256_file(&a), sha);
    assert_eq!(sha256_file(&b), sha);
    assert_eq!(
        connects(&proxy.log(), server.addr().port()),
        0,
        "{}",
        proxy.log()
    );
}

#[test]
fn refused_port_exits_8_unreachable_server_or_proxy_exits_4() {
    let (_root, server, _) = serving("f.bin", 1024);
    let port = server.addr().port();
    let closed = support::closed_port();
    let Some(proxy) = tinyproxy(&[closed]) else {
        return;
    };
    let via = [("HTTP_PROXY", proxy.url(USER, PASSWORD))];
    let via: Vec<(&str, &str)> = via.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dest = TempDir::new().unwrap();
    let get = [
        "get",
        &server.url("f.bin"),
        s(dest.path()),
        "--retries",
        "1",
    ];
    let (code, stderr) = run(&via, &get);
    assert_eq!(code, 8, "{stderr}");
    // It names the proxy (its password masked) and the target.
    assert!(
        stderr.contains("proxy http://") && stderr.contains("refused to connect to 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains(&format!(":{PASSWORD}@")), "{stderr}");
    // The proxy may connect to the port, but nothing listens there.
    let nothing = format!("ws://127.0.0.1:{closed}/f.bin");
    let (code, stderr) = run(&via, &["get", &nothing, s(dest.path()), "--retries", "1"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("could not reach the server"), "{stderr}");
    let down = format!("http://127.0.0.1:{}", support::closed_port());
    let (code, stderr) = run(&[("HTTP_PROXY", &down)], &get);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains(&format!("proxy {down}")), "{stderr}");
    assert!(stderr.contains("giving up after 2 attempts"), "{stderr}");
}

#[test]
fn a_cut_inside_the_tunnel_resumes() {
    let (_root, server, sha) = serving("big.bin", 24 * MIB);
    let cutter = FaultProxy::new(server.addr());
    let Some(proxy) = tinyproxy(&[cutter.addr().port()]) else {
        return;
    };
    cutter.cut_after(8 * MIB, 1);
    let dest = TempDir::new().unwrap();
    let target = dest.path().join("big.bin");
    let env = [("HTTP_PROXY", proxy.url(USER, PASSWORD))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_ok(&env, &["get", &cutter.url("big.bin"), s(&target)]);
    assert_eq!(sha256_file(&target), sha);
    assert!(
        logged(&proxy, |log| connects(log, cutter.addr().port()) >= 2),
        "{}",
        proxy.log()
    );
    support::assert_no_leftovers(&[dest.path()]);
}

/// A CA, and a certificate for `localhost` and `files.wsresume.invalid`
/// it signed: (ca, cert, key).
fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    support::pki::ca_signed(dir, &["localhost", "files.wsresume.invalid"])
}

#[test]
fn wss_through_the_http_proxy_is_verified_against_the_servers_name() {
    let pki_dir = TempDir::new().unwrap();
    let (ca, cert, key) = pki(pki_dir.path());
    let root = TempDir::new().unwrap();
    let sha = sha256_file(&random_file(root.path(), "f.bin", 12 * MIB));
    let server = Server::start(root.path(), &["--tls-cert", s(&cert), "--tls-key", s(&key)]);
    let Some(proxy) = tinyproxy(&[server.addr().port()]) else {
        return;
    };
    let url = format!("wss://localhost:{}/f.bin", server.addr().port());
    let dest = TempDir::new().unwrap();
    let target = dest.path().join("f.bin");
    let via = proxy.url(USER, PASSWORD);
    run_ok(
        &[("HTTPS_PROXY", &via)],
        &["get", &url, s(&target), "--cacert", s(&ca)],
    );
    assert_eq!(sha256_file(&target), sha);
    let line = format!("CONNECT localhost:{} ", server.addr().port());
    assert!(logged(&proxy, |log| log.contains(&line)), "{}", proxy.log());
    // Without the CA the certificate does not verify, proxy or not.
    let (code, stderr) = run(&[("HTTPS_PROXY", &via)], &["get", &url, s(dest.path())]);
    assert_eq!(code, 5, "{stderr}");
    // --resolve: the address given, the name verified.
    let port = server.addr().port();
    let by_name = format!("wss://files.wsresume.invalid:{port}/f.bin");
    let entry = format!("files.wsresume.invalid:{port}:127.0.0.1");
    let again = dest.path().join("again.bin");
    run_ok(
        &[],
        &[
            "get",
            &by_name,
            s(&again),
            "--cacert",
            s(&ca),
            "--resolve",
            &entry,
        ],
    );
    assert_eq!(sha256_file(&again), sha);
}

/// Forwards `[::1]:PORT` to `127.0.0.1:PORT`, so `localhost` reaches a
/// server on 127.0.0.1 whichever address a resolver gives first; `None`
/// without IPv6.
fn v6_twin(port: u16) -> Option<TcpListener> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).ok()?;
    let accept = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        for client in accept.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            let pump = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                })
            };
            pump(client.try_clone().unwrap(), server.try_clone().unwrap());
            pump(server, client);
        }
    });
    Some(listener)
}

#[test]
fn socks5_without_and_with_authentication_and_socks5h() {
    let (_root, server, sha) = serving("f.bin", 12 * MIB);
    let port = server.addr().port();
    let _twin = v6_twin(port);
    let Some(open) = microsocks(None) else {
        return;
    };
    let dest = TempDir::new().unwrap();
    let a = dest.path().join("a.bin");
    let proxy = open.url("socks5", None);
    run_ok(
        &[],
        &["get", &server.url("f.bin"), s(&a), "--proxy", &proxy],
    );
    assert_eq!(sha256_file(&a), sha);

    let secret = ("wsr", "p@ss:w0rd");
    let Some(guarded) = microsocks(Some(secret)) else {
        return;
    };
    let b = dest.path().join("b.bin");
    let by_name = format!("ws://localhost:{port}/f.bin");
    let proxy = guarded.url("socks5h", Some(("wsr", "p%40ss%3Aw0rd")));
    // The name goes to the proxy: a --resolve entry for it is not used.
    let bogus = format!("localhost:{port}:192.0.2.1");
    run_ok(
        &[("ALL_PROXY", &proxy)],
        &["get", &by_name, s(&b), "--resolve", &bogus],
    );
    assert_eq!(sha256_file(&b), sha);
    let wrong = guarded.url("socks5", Some(("wsr", "nope")));
    let (code, stderr) = run(&[], &["get", &by_name, s(dest.path()), "--proxy", &wrong]);
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("proxy socks5://wsr:****@"), "{stderr}");
    let anonymous = guarded.url("socks5", None);
    let (code, stderr) = run(
        &[],
        &["get", &by_name, s(dest.path()), "--proxy", &anonymous],
    );
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("requires authentication"), "{stderr}");
}

#[test]
fn resolve_connects_to_the_given_address() {
    let (_root, server, sha) = serving("f.bin", 1024);
    let port = server.addr().port();
    let dest = TempDir::new().unwrap();
    let target = dest.path().join("f.bin");
    let url = format!("ws://files.wsresume.invalid:{port}/f.bin");
    let entry = format!("files.wsresume.invalid:{port}:127.0.0.1");
    run_ok(&[], &["get", &url, s(&target), "--resolve", &entry]);
    assert_eq!(sha256_file(&target), sha);
    let env = [("WSRESUME_RESOLVE", entry.as_str())];
    run_ok(&env, &["get", &url, s(&dest.path().join("g.bin"))]);
    let (code, stderr) = run(&[], &["get", &url, s(dest.path()), "--resolve", "nonsense"]);
    assert_eq!(code, 2, "{stderr}");
}

/// A proxy that accepts and never answers: the connect timeout ends the
/// attempt, a network failure.
#[test]
fn connect_timeout_bounds_the_proxy_handshake() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("socks5://{}", silent.local_addr().unwrap());
    // Connections are kept open, unanswered, until the test ends.
    std::thread::spawn(move || silent.incoming().collect::<Vec<_>>());
    let started = Instant::now();
    let args = [
        "get",
        "ws://127.0.0.1:9/x",
        "-",
        "--proxy",
        &proxy,
        "--connect-timeout",
        "300ms",
        "--retries",
        "1",
    ];
    let (code, stderr) = run(&[], &args);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("--connect-timeout"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn config_shows_the_proxy_its_source_and_no_password() {
    let out = wsresume()
        .env("https_proxy", "http://me:topsecret@proxy.example:3128")
        .env("HTTPS_PROXY", "http://upper.example:1")
        .env("ALL_PROXY", "socks5h://all.example")
        .env("NO_PROXY", ".internal")
        .args(["config", "--json", "--connect-timeout", "5s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("topsecret"), "{text}");
    let v = support::json_one(&out.stdout);
    let row = |name: &str| v["settings"][name].clone();
    assert_eq!(
        row("proxy_wss")["value"],
        "http://me:****@proxy.example:3128"
    );
    assert_eq!(row("proxy_wss")["source"], "env https_proxy");
    assert_eq!(row("proxy_ws")["value"], "socks5h://all.example:1080");
    assert_eq!(row("proxy_ws")["source"], "env ALL_PROXY");
    assert_eq!(row("noproxy")["value"], ".internal");
    assert_eq!(row("noproxy")["source"], "env NO_PROXY");
    assert_eq!(row("connect_timeout")["value"], 5.0);
    let out = wsresume()
        .env("ALL_PROXY", "socks5h://proxy.example")
        .args(["config", "--proxy", ""])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("proxy_ws ") && text.contains("flag --proxy"),
        "{text}"
    );
    let bad = wsresume()
        .args(["config", "--proxy", "ftp://proxy.example"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let bad = wsresume()
        .args(["config", "--resolve", "files.example:443"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
