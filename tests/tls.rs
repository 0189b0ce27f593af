//! TLS end to end with a CA and certificates made at test time (rcgen):
//! `wss://` works both ways with `--cacert`; a certificate from another CA, or
//! one for another host name, fails with exit 5 naming the host and the
//! reason; a `wss://` URL never falls back to a plain connection.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use support::{Server, client_args, random_file, run_expect_code, run_ok_json, s, sha256_file};
use tempfile::TempDir;

/// A CA: its certificate's PEM and the issuer that signs with it.
fn new_ca() -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let name = format!(
        "wsresume test CA {}",
        support::hex(&support::random_bytes(8))
    );
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (pem, Issuer::new(params, key))
}

/// Writes `NAME.crt` (the CA's) and a server certificate for `host` signed by
/// `issuer` with its key; returns (ca, cert, key) paths.
fn write_pki(dir: &Path, host: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_pem, issuer) = new_ca();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![host.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let paths = (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca_pem).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

struct TlsServer {
    server: Server,
    _root: TempDir,
    pki: TempDir,
}

impl TlsServer {
    fn start(host: &str) -> TlsServer {
        let (root, pki) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        let (_, cert, key) = write_pki(pki.path(), host);
        let server = Server::start(root.path(), &["--tls-cert", s(&cert), "--tls-key", s(&key)]);
        TlsServer {
            server,
            _root: root,
            pki,
        }
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

/// A plain server closes on the TLS hello: that looks like a cut, so it is
/// retried, and never turns into a plain connection.
#[test]
fn wss_to_a_plain_server_never_downgrades() {
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &[]);
    let pki = TempDir::new().unwrap();
    let (ca, _, _) = write_pki(pki.path(), "localhost");
    let url = format!("wss://localhost:{}/x.bin", server.addr().port());
    let local = TempDir::new().unwrap();
    let out = run_expect_code(
        &client_args(
            &["get", &url, s(&local.path().join("x"))],
            &["--cacert", s(&ca), "--retries", "0"],
        ),
        4,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls handshake"));
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
