//! Plain HTTP on the `serve` port, with real curl and wget: a download cut
//! half way and resumed (`curl -C -`, `wget -c`) is byte-exact; `HEAD`;
//! ranges (one: 206; several: 200 whole; out of range: 416); `If-Range`
//! with a stale ETag and `If-None-Match`; 405; the index page escapes
//! names; paths out of ROOT and partial files are refused; a token is
//! required as `Authorization: Bearer`; a HEAD and a Range at the end of
//! a 10 GiB sparse file are cheap; a client that reads nothing is dropped
//! after the idle time-out; plain HTTP shares the connection cap; TLS; a bucket (`serve --store s3://`, moto).
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::proxy::FaultProxy;
use support::{Server, random_file, s, sha256_file, wait_until};
use tempfile::TempDir;

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    support::have_part(found, tool)
}

/// `curl -sS --max-time 30 ARGS...`.
fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .unwrap()
}

/// The status line and headers (lowercase) curl wrote with `-D FILE`.
fn head_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().to_lowercase()
}

fn http(server: &Server, path: &str) -> String {
    format!("http://{}/{}", server.addr(), path.trim_start_matches('/'))
}

#[test]
fn curl_resumes_a_download_cut_half_way_byte_exact() {
    if !have("curl") {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "f.bin", 8 << 20);
    let server = Server::start(root.path(), &[]);
    let proxy = FaultProxy::new(server.addr());
    proxy.cut_after(4 << 20, 1);
    let dest = local.path().join("f.bin");
    let url = format!("http://{}/f.bin", proxy.addr());
    let cut = curl(&["-o", s(&dest), &url]);
    assert!(!cut.status.success(), "the cut did not fail curl: {cut:?}");
    let half = std::fs::metadata(&dest).unwrap().len();
    assert!(half > 0 && half < 8 << 20, "{half}");
    let resumed = curl(&[
        "-C",
        "-",
        "-o",
        s(&dest),
        "-D",
        s(&local.path().join("h")),
        &url,
    ]);
    assert!(resumed.status.success(), "{resumed:?}");
    let head = head_of(&local.path().join("h"));
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(
        head.contains(&format!(
            "content-range: bytes {half}-{}/{}",
            (8 << 20) - 1,
            8 << 20
        )),
        "{head}"
    );
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    // Again on the complete file: 416 with its size, which curl takes as done.
    let again = curl(&["-C", "-", "-o", s(&dest), &url]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(sha256_file(&dest), sha256_file(&src));
}

#[test]
fn wget_continues_a_half_file_byte_exact() {
    if !have("wget") {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "w.bin", 3_000_001);
    let server = Server::start(root.path(), &[]);
    let data = std::fs::read(&src).unwrap();
    std::fs::write(local.path().join("w.bin"), &data[..1_234_567]).unwrap();
    let out = Command::new("wget")
        .args([
            "-c",
            "-q",
            "--tries=1",
            "--timeout=30",
            "-P",
            s(local.path()),
        ])
        .arg(http(&server, "w.bin"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256_file(&local.path().join("w.bin")), sha256_file(&src));
    assert!(
        server.stderr_text().contains("resumed from"),
        "{}",
        server.stderr_text()
    );
}

#[test]
fn head_ranges_and_validators() {
    if !have("curl") {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "f.bin", 100_000);
    let data = std::fs::read(&src).unwrap();
    let server = Server::start(root.path(), &[]);
    let url = http(&server, "f.bin");
    let (h, body) = (local.path().join("h"), local.path().join("b"));
    let get = |args: &[&str]| {
        let mut all = vec!["-o", s(&body), "-D", s(&h)];
        all.extend_from_slice(args);
        let out = curl(&all);
        assert!(out.status.success(), "{args:?}: {out:?}");
        (head_of(&h), std::fs::read(&body).unwrap_or_default())
    };
    // HEAD: the headers of the whole file, no body.
    let (head, _) = get(&["-I", &url]);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    for want in [
        "content-length: 100000",
        "accept-ranges: bytes",
        "content-type: application/octet-stream",
        "etag: \"",
        "last-modified: ",
    ] {
        assert!(head.contains(want), "{want}: {head}");
    }
    let raw = raw_answer(&server, "HEAD /f.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(raw.ends_with("\r\n\r\n"), "a body after HEAD: {raw:?}");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .trim()
        .to_string();
    // One range: 206 and exactly those bytes.
    let (head, bytes) = get(&["-r", "1000-1999", &url]);
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(
        head.contains("content-range: bytes 1000-1999/100000"),
        "{head}"
    );
    assert_eq!(bytes, &data[1000..2000]);
    let (_, bytes) = get(&["-r", "-10", &url]);
    assert_eq!(bytes, &data[99_990..]);
    // If-Range with the current ETag holds; a stale one gets the whole file.
    let (head, bytes) = get(&["-r", "10-19", "-H", &format!("If-Range: {etag}"), &url]);
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert_eq!(bytes, &data[10..20]);
    let (head, bytes) = get(&["-r", "10-19", "-H", "If-Range: \"stale\"", &url]);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(bytes, data);
    // Several ranges: the whole file, never wrong bytes.
    let (head, bytes) = get(&["-r", "0-9,20-29", &url]);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(bytes, data);
    // Out of range: 416 with the size.
    let (head, bytes) = get(&["-r", "100000-", &url]);
    assert!(head.starts_with("http/1.1 416"), "{head}");
    assert!(head.contains("content-range: bytes */100000"), "{head}");
    assert!(bytes.is_empty());
    // If-None-Match with the ETag: 304, no body.
    let (head, bytes) = get(&["-H", &format!("If-None-Match: {etag}"), &url]);
    assert!(head.starts_with("http/1.1 304"), "{head}");
    assert!(bytes.is_empty());
}

/// Send `request` over TCP and read the answer until the server closes.
fn raw_answer(server: &Server, request: &str) -> String {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn other_methods_get_405() {
    if !have("curl") {
        return;
    }
    let root = TempDir::new().unwrap();
    random_file(root.path(), "f.bin", 10);
    let server = Server::start(root.path(), &[]);
    for method in ["PUT", "POST", "DELETE", "OPTIONS"] {
        let out = curl(&["-i", "-X", method, "--data", "x", &http(&server, "f.bin")]);
        let answer = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(answer.starts_with("http/1.1 405"), "{method}: {answer}");
        assert!(answer.contains("allow: get, head"), "{answer}");
    }
    assert_eq!(std::fs::read(root.path().join("f.bin")).unwrap().len(), 10);
}

#[test]
fn the_index_escapes_names_and_json_lists_them() {
    if !have("curl") {
        return;
    }
    let root = TempDir::new().unwrap();
    let evil = "<img src=x onerror=alert(1)>.txt";
    std::fs::write(root.path().join(evil), b"boo").unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("sub/big.bin"), vec![0u8; 5000]).unwrap();
    std::fs::write(root.path().join("sub/small.bin"), b"1").unwrap();
    std::fs::write(root.path().join("sub/p.bin.wsresume-part"), b"1").unwrap();
    let server = Server::start(root.path(), &[]);
    let out = curl(&["-i", &http(&server, "/")]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;.txt"),
        "{page}"
    );
    assert!(
        page.contains("href=\"/%3Cimg%20src=x%20onerror=alert(1)%3E.txt\""),
        "{page}"
    );
    assert!(
        page.to_lowercase()
            .contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    // The link fetches the file.
    let out = curl(&[&http(&server, "/%3Cimg%20src=x%20onerror=alert(1)%3E.txt")]);
    assert_eq!(out.stdout, b"boo");
    // Sorted by size, largest first; partial files never shown.
    let out = curl(&[&http(&server, "/sub/?sort=size")]);
    let page = String::from_utf8_lossy(&out.stdout);
    let (big, small) = (
        page.find("big.bin").unwrap(),
        page.find("small.bin").unwrap(),
    );
    assert!(big < small, "{page}");
    assert!(!page.contains("wsresume-part"), "{page}");
    let out = curl(&["-H", "Accept: application/json", &http(&server, "/sub")]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["big.bin", "small.bin"], "{json}");
    assert_eq!(json["entries"][0]["size"], 5000);
}

#[test]
fn paths_out_of_root_and_partial_files_are_refused() {
    if !have("curl") {
        return;
    }
    let top = TempDir::new().unwrap();
    let root = top.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(top.path().join("secret"), b"TOP-SECRET-BYTES").unwrap();
    std::fs::write(root.join("f.bin.wsresume-part"), b"PARTIAL-BYTES").unwrap();
    std::fs::write(root.join("f.bin.wsresume-state"), b"STATE-BYTES").unwrap();
    std::os::unix::fs::symlink(top.path().join("secret"), root.join("out")).unwrap();
    let server = Server::start(&root, &[]);
    for path in [
        "/../secret",
        "/%2e%2e/secret",
        "/..%2fsecret",
        "/out",
        "/f.bin.wsresume-part",
        "/f.bin.wsresume-state",
        "/nothing",
    ] {
        let out = curl(&["--path-as-is", "-i", &http(&server, path)]);
        let answer = String::from_utf8_lossy(&out.stdout);
        assert!(
            answer.starts_with("HTTP/1.1 403") || answer.starts_with("HTTP/1.1 404"),
            "{path}: {answer}"
        );
        for bytes in ["TOP-SECRET-BYTES", "PARTIAL-BYTES", "STATE-BYTES"] {
            assert!(!answer.contains(bytes), "{path} served {bytes}: {answer}");
        }
    }
}

#[test]
fn a_token_is_required_as_a_bearer() {
    if !have("curl") {
        return;
    }
    let root = TempDir::new().unwrap();
    std::fs::write(root.path().join("f.txt"), b"hello").unwrap();
    let server = Server::start(root.path(), &["--token", "s3cret"]);
    let url = http(&server, "f.txt");
    for auth in [None, Some("Bearer wrong"), Some("Basic s3cret")] {
        let mut args = vec!["-i"];
        let header = auth.map(|a| format!("Authorization: {a}"));
        if let Some(h) = &header {
            args.extend(["-H", h]);
        }
        args.push(&url);
        let answer = String::from_utf8_lossy(&curl(&args).stdout).to_lowercase();
        assert!(answer.starts_with("http/1.1 401"), "{auth:?}: {answer}");
        assert!(answer.contains("www-authenticate: bearer"), "{answer}");
        assert!(!answer.contains("hello"), "{answer}");
    }
    let out = curl(&["-H", "Authorization: Bearer s3cret", &url]);
    assert_eq!(out.stdout, b"hello");
    let index = curl(&["-i", &http(&server, "/")]);
    assert!(String::from_utf8_lossy(&index.stdout).starts_with("HTTP/1.1 401"));
}

/// Bytes the process `pid` has read (`rchar` in /proc/PID/io).
fn read_chars(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_head_and_a_range_at_the_end_of_a_huge_sparse_file_are_cheap() {
    if !have("curl") {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let size: u64 = 10 << 30;
    let file = std::fs::File::create(root.path().join("huge.bin")).unwrap();
    file.set_len(size).unwrap();
    drop(file);
    let server = Server::start(root.path(), &[]);
    let url = http(&server, "huge.bin");
    let before = read_chars(server.pid());
    let started = Instant::now();
    let h = local.path().join("h");
    let out = curl(&["-I", "-o", s(&h), &url]);
    assert!(out.status.success(), "{out:?}");
    assert!(head_of(&h).contains(&format!("content-length: {size}")));
    let out = curl(&["-r", &format!("{}-", size - 10), "-D", s(&h), &url]);
    assert!(head_of(&h).starts_with("http/1.1 206"), "{}", head_of(&h));
    assert_eq!(out.stdout, vec![0u8; 10]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let (before, after) = (before.unwrap(), read_chars(server.pid()).unwrap());
    assert!(after - before < 16 << 20, "read {} bytes", after - before);
}

#[test]
fn a_client_that_reads_nothing_is_dropped_after_the_idle_time_out() {
    let root = TempDir::new().unwrap();
    random_file(root.path(), "big.bin", 64 << 20);
    let server = Server::start(root.path(), &["--idle-timeout", "1s"]);
    let mut stalled = TcpStream::connect(server.addr()).unwrap();
    stalled
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let dropped = wait_until(Duration::from_secs(20), || {
        server.stderr_text().contains("idle time-out")
    });
    assert!(dropped, "{}", server.stderr_text());
    // Reading now ends well short of the file: the server gave up.
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let _ = stalled.read_to_end(&mut got);
    assert!(got.len() < 64 << 20, "{}", got.len());
}

/// Plain HTTP counts against `--max-connections` like a WebSocket: a
/// download whose client reads nothing holds the one slot, curl is turned
/// away with 503 and `Retry-After` meanwhile, and gets the file once the
/// idle time-out has given the slot back.
#[test]
fn plain_http_shares_the_connection_cap() {
    if !have("curl") {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    random_file(root.path(), "big.bin", 64 << 20);
    random_file(root.path(), "small.bin", 1000);
    let server = Server::start(
        root.path(),
        &["--max-connections", "1", "--idle-timeout", "2s"],
    );
    let mut stalled = TcpStream::connect(server.addr()).unwrap();
    stalled
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The first bytes of the answer: the download holds the slot now.
    let mut first = [0u8; 12];
    stalled.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let h = local.path().join("h");
    let url = http(&server, "small.bin");
    let out = curl(&["-D", s(&h), "-o", "/dev/null", &url]);
    assert!(out.status.success(), "{out:?}");
    let head = head_of(&h);
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("retry-after"), "{head}");
    let served = wait_until(Duration::from_secs(20), || {
        curl(&["-f", "-o", "/dev/null", &url]).status.success()
    });
    assert!(served, "the stalled download kept the slot");
    drop(stalled);
}

#[test]
fn plain_http_works_through_tls() {
    if !have("curl") {
        return;
    }
    let (root, pki) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "t.bin", 300_000);
    let (cert_path, key_path) = support::pki::self_signed_localhost(pki.path());
    let tls_args = ["--tls-cert", s(&cert_path), "--tls-key", s(&key_path)];
    let server = Server::start(root.path(), &tls_args);
    let url = format!("https://localhost:{}/t.bin", server.addr().port());
    let dest = pki.path().join("t.bin");
    let out = curl(&[
        "--cacert",
        s(&cert_path),
        "-r",
        "0-99999",
        "-o",
        s(&dest),
        &url,
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = curl(&["--cacert", s(&cert_path), "-C", "-", "-o", s(&dest), &url]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256_file(&dest), sha256_file(&src));
}

#[test]
fn repr_digest_only_when_the_hash_cache_knows_the_file() {
    use base64::Engine;
    if !have("curl") {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(root.path(), "d.bin", 2 << 20);
    let server = Server::start(root.path(), &["--cache-dir", ""]);
    let url = http(&server, "d.bin");
    let h = local.path().join("h");
    let head = || {
        let out = curl(&["-I", "-o", s(&h), &url]);
        assert!(out.status.success(), "{out:?}");
        head_of(&h)
    };
    assert!(!head().contains("repr-digest"), "{}", head());
    // Over plain HTTP nothing is hashed, whole file or not.
    curl(&["-o", s(&local.path().join("via-http")), &url]);
    assert!(!head().contains("repr-digest"), "{}", head());
    // A wsresume download hashes it; HTTP answers carry the digest then.
    support::run_ok_json(&["get", &server.url("d.bin"), s(&local.path().join("d.bin"))]);
    let hex = sha256_file(&src);
    let digest: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    let want = format!("repr-digest: sha-256=:{b64}:").to_lowercase();
    assert!(
        wait_until(Duration::from_secs(10), || head().contains(&want)),
        "{want}: {}",
        head()
    );
}

#[test]
fn a_bucket_serves_ranges_and_indexes_over_http() {
    if !have("curl") {
        return;
    }
    let Some(pair) = support::s3rig::pair("http-get", &[]) else {
        return;
    };
    let data = support::random_bytes((2 * support::s3rig::PART + 99) as usize);
    pair.bucket.put(&pair.key("dir/obj.bin"), &data);
    let url = http(&pair.a, "dir/obj.bin");
    let dest = pair.local.path().join("obj.bin");
    let half = format!("0-{}", data.len() / 2);
    let out = curl(&["-r", &half, "-o", s(&dest), &url]);
    assert!(out.status.success(), "{out:?}");
    let h = pair.local.path().join("h");
    let out = curl(&["-C", "-", "-o", s(&dest), "-D", s(&h), &url]);
    assert!(out.status.success(), "{out:?}");
    assert!(head_of(&h).starts_with("http/1.1 206"), "{}", head_of(&h));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let out = curl(&["-r", "-7", &http(&pair.b, "dir/obj.bin")]);
    assert_eq!(out.stdout, &data[data.len() - 7..]);
    let out = curl(&[&http(&pair.b, "/dir/")]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains("href=\"/dir/obj.bin\""), "{page}");
    let out = curl(&["-H", "Accept: application/json", &http(&pair.a, "/")]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["entries"][0]["path"], "dir", "{json}");
}

#[test]
fn the_log_names_the_client_a_trusted_proxy_forwards_for() {
    let root = TempDir::new().unwrap();
    random_file(root.path(), "f.bin", 10);
    let server = Server::start(root.path(), &["--trusted-proxy", "127.0.0.1"]);
    for method in ["HEAD", "GET", "DELETE"] {
        let request = format!("{method} /f.bin HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n");
        raw_answer(&server, &request);
        let logged = wait_until(Duration::from_secs(10), || {
            server.stderr_text().lines().any(|l| {
                l.contains(&format!("{method} /f.bin")) && l.contains("client=203.0.113.7}")
            })
        });
        assert!(logged, "{method}: {}", server.stderr_text());
    }
}
