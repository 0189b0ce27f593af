//! TLS end to end with a CA and certificates made at test time (rcgen):
//! `wss://` works both ways with `--cacert`; a certificate from another CA, or
//! one for another host name, fails with exit 5 naming the host and the
//! reason; a `wss://` URL never falls back to a plain connection, and TLS on
//! one side only is named at once; a CA certificate used as a server's is
//! explained, a self-signed leaf works with `--cacert`; `-k` skips
//! verification with a warning.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use support::{
    Server, client_args, random_file, run_expect_code, run_ok_json, s, sha256_file, wsresume,
};
use tempfile::TempDir;

/// "At once": no retry, no backoff.
const AT_ONCE: Duration = Duration::from_secs(3);

/// The warning `-k` prints.
const INSECURE_WARNING: &str = "warning: --insecure: the server's certificate is not verified";

/// A random common name, so no trusted root of this machine shares it.
fn unique_name(what: &str) -> String {
    format!(
        "wsresume test {what} {}",
        support::hex(&support::random_bytes(8))
    )
}

/// Writes `ca.crt` (a new CA's) and a server certificate for `host` it
/// signed, with its key; returns (ca, cert, key) paths.
fn write_pki(dir: &Path, host: &str) -> (PathBuf, PathBuf, PathBuf) {
    support::pki::ca_signed(dir, &[host])
}

/// Writes a self-signed certificate for `host` (a CA's when `is_ca`) and
/// its key as `self.crt` and `self.key`; returns their paths.
fn write_self_signed(dir: &Path, host: &str, is_ca: bool) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::new(vec![host.to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, unique_name("server"));
    if is_ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let paths = (dir.join("self.crt"), dir.join("self.key"));
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    paths
}

struct TlsServer {
    server: Server,
    root: TempDir,
    pki: TempDir,
}

impl TlsServer {
    fn start(host: &str) -> TlsServer {
        let pki = TempDir::new().unwrap();
        let (_, cert, key) = write_pki(pki.path(), host);
        TlsServer::with(pki, &cert, &key)
    }

    fn with(pki: TempDir, cert: &Path, key: &Path) -> TlsServer {
        let root = TempDir::new().unwrap();
        let server = Server::start(root.path(), &["--tls-cert", s(cert), "--tls-key", s(key)]);
        TlsServer { server, root, pki }
    }

    fn ca(&self) -> PathBuf {
        self.pki.path().join("ca.crt")
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("wss://{host}:{}/{path}", self.server.addr().port())
    }
}

#[test]
fn wss_round_trip_with_cacert() {
    let tls = TlsServer::start("localhost");
    let local = TempDir::new().unwrap();
    let src = random_file(local.path(), "a.bin", 300_000);
    let url = tls.url("localhost", "a.bin");
    let ca = tls.ca();
    run_ok_json(&client_args(
        &["send", s(&src), &url],
        &["--cacert", s(&ca)],
    ));
    let dest = local.path().join("back.bin");
    let report = run_ok_json(&client_args(
        &["get", &url, s(&dest)],
        &["--cacert", s(&ca)],
    ));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    assert_eq!(report["sha256"], sha256_file(&src));
}

fn expect_tls_failure(url: &str, ca: &Path, reason: &str) {
    let local = TempDir::new().unwrap();
    let dest = local.path().join("x.bin");
    let out = run_expect_code(
        &client_args(&["get", url, s(&dest)], &["--cacert", s(ca), "-q"]),
        5,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("localhost"), "host not named: {stderr}");
    assert!(
        stderr.contains(reason),
        "reason {reason:?} missing: {stderr}"
    );
    assert!(!dest.exists());
}

#[test]
fn certificate_from_another_ca_exits_5() {
    let tls = TlsServer::start("localhost");
    let other = TempDir::new().unwrap();
    let (other_ca, _, _) = write_pki(other.path(), "localhost");
    expect_tls_failure(&tls.url("localhost", "x.bin"), &other_ca, "UnknownIssuer");
}

#[test]
fn certificate_for_another_host_exits_5() {
    let tls = TlsServer::start("files.example.test");
    expect_tls_failure(
        &tls.url("localhost", "x.bin"),
        &tls.ca(),
        "not valid for name",
    );
}

/// Runs `wsresume ARGS`, asserts exit `code` within [`AT_ONCE`]; returns
/// stderr.
fn fails_at_once(args: &[&str], code: i32) -> String {
    let start = Instant::now();
    let out = run_expect_code(args, code);
    assert!(
        start.elapsed() < AT_ONCE,
        "{args:?} took {:?}",
        start.elapsed()
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// wss:// to a plain server is named at once (not retried) and never turns
/// into a plain connection.
#[test]
fn wss_to_a_plain_server_says_so_at_once() {
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &[]);
    let pki = TempDir::new().unwrap();
    let (ca, _, _) = write_pki(pki.path(), "localhost");
    let port = server.addr().port();
    let url = format!("wss://localhost:{port}/x.bin");
    let dest = pki.path().join("x");
    let stderr = fails_at_once(&["get", &url, s(&dest), "--cacert", s(&ca)], 5);
    let want = format!("the server does not speak TLS: try ws://localhost:{port}/x.bin");
    assert!(stderr.contains(&want), "{stderr}");
    assert!(!dest.exists());
}

#[test]
fn ws_to_a_tls_server_says_so_at_once() {
    let tls = TlsServer::start("localhost");
    let port = tls.server.addr().port();
    let url = format!("ws://localhost:{port}/x.bin");
    let dest = tls.pki.path().join("x");
    let stderr = fails_at_once(&["get", &url, s(&dest)], 5);
    let want = format!("the server speaks TLS: try wss://localhost:{port}/x.bin");
    assert!(stderr.contains(&want), "{stderr}");
    let stderr = fails_at_once(&["ls", &format!("ws://localhost:{port}/")], 5);
    assert!(
        stderr.contains("the server speaks TLS: try wss://"),
        "{stderr}"
    );
}

/// `openssl req -x509` makes a CA certificate by default: given to
/// --cacert and served, it fails verification with a plain explanation.
#[test]
fn a_ca_certificate_as_the_server_certificate_is_explained() {
    let pki = TempDir::new().unwrap();
    let (cert, key) = write_self_signed(pki.path(), "localhost", true);
    let tls = TlsServer::with(pki, &cert, &key);
    let url = tls.url("localhost", "x.bin");
    let dest = tls.pki.path().join("x");
    let stderr = fails_at_once(&["get", &url, s(&dest), "--cacert", s(&cert)], 5);
    for want in [
        "is a CA certificate",
        "basicConstraints CA:FALSE",
        "subjectAltName for localhost",
        "CaUsedAsEndEntity",
    ] {
        assert!(stderr.contains(want), "{want:?} missing: {stderr}");
    }
}

/// The README's fix: a self-signed certificate that is not a CA's, given
/// to --cacert, works.
#[test]
fn a_self_signed_leaf_certificate_works_with_cacert() {
    let pki = TempDir::new().unwrap();
    let (cert, key) = write_self_signed(pki.path(), "localhost", false);
    let tls = TlsServer::with(pki, &cert, &key);
    let src = random_file(tls.root.path(), "a.bin", 50_000);
    let dest = tls.pki.path().join("a.bin");
    let url = tls.url("localhost", "a.bin");
    run_ok_json(&client_args(
        &["get", &url, s(&dest)],
        &["--cacert", s(&cert)],
    ));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
}

#[test]
fn insecure_skips_verification_and_warns_every_time() {
    let tls = TlsServer::start("files.example.test");
    let src = random_file(tls.root.path(), "a.bin", 50_000);
    let url = tls.url("localhost", "a.bin");
    let dest = tls.pki.path().join("a.bin");
    let stderr = fails_at_once(&["get", &url, s(&dest), "-q"], 5);
    assert!(
        stderr.contains("--cacert") && stderr.contains("-k"),
        "{stderr}"
    );
    assert!(!dest.exists());
    // Only the flag turns verification off: never the environment.
    let out = wsresume()
        .env("WSRESUME_INSECURE", "1")
        .args(["get", &url, s(&dest), "-q"])
        .assert()
        .code(5);
    assert!(!out.get_output().stderr.is_empty());
    assert!(!dest.exists());
    for flag in ["-k", "--insecure"] {
        let out = wsresume()
            .args(["get", &url, s(&dest), flag, "-q", "--json"])
            .assert()
            .success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(INSECURE_WARNING), "{flag}: {stderr}");
        assert_eq!(sha256_file(&dest), sha256_file(&src));
        std::fs::remove_file(&dest).unwrap();
    }
    let out = wsresume()
        .args(["ls", "-k", &tls.url("localhost", "")])
        .assert();
    let stderr = String::from_utf8_lossy(&out.success().get_output().stderr).into_owned();
    assert!(stderr.contains(INSECURE_WARNING), "{stderr}");
}

#[test]
fn bad_tls_files_are_usage_errors() {
    let root = TempDir::new().unwrap();
    let junk = root.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let out = run_expect_code(
        &[
            "serve",
            s(root.path()),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            s(&junk),
            "--tls-key",
            s(&junk),
        ],
        2,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-cert"));
    let missing = root.path().join("missing.pem");
    run_expect_code(
        &["get", "wss://localhost:1/x", "-", "--cacert", s(&missing)],
        3,
    );
}

/// `--handshake-timeout` is one budget for the TLS handshake, the upgrade
/// and the request together: a client that takes 0.6 of the budget before
/// its TLS hello and as long again before its upgrade request (each step
/// well within the budget) is dropped, never upgraded.
#[test]
fn the_handshake_timeout_is_one_budget_for_tls_and_the_upgrade() {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use rustls_pki_types::pem::PemObject;

    let pki = TempDir::new().unwrap();
    let (ca, cert, key) = write_pki(pki.path(), "localhost");
    let root = TempDir::new().unwrap();
    let server = Server::start(
        root.path(),
        &[
            "--tls-cert",
            s(&cert),
            "--tls-key",
            s(&key),
            "--handshake-timeout",
            "1.5",
        ],
    );
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls_pki_types::CertificateDer::pem_file_iter(&ca).unwrap() {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let step = Duration::from_millis(900);
    let tcp = std::net::TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::thread::sleep(step);
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.conn.complete_io(&mut tls.sock).unwrap();
    std::thread::sleep(step);
    let request = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: wsresume.v1\r\n\r\n";
    let _ = tls.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        !answer.contains("101"),
        "upgraded after the budget: {answer}"
    );
}
