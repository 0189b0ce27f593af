//! Hostile and broken input against a real server through a raw WebSocket
//! client: every path form that could leave ROOT is refused and nothing
//! outside ROOT is read or written; garbage, lying frame lengths, malformed
//! or unknown or out-of-order messages get a close code and a reason; and a
//! transfer running meanwhile finishes untouched.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::Path;
use std::time::Duration;

use support::raw::{BINARY, RawWs, encode_frame};
use support::{
    CHUNK, FaultProxy, Proc, Server, client_args, random_file, s, sha256_file, wait_until,
};
use tempfile::TempDir;

const WAIT: Duration = Duration::from_secs(10);
const STATE: &str = "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19";

/// ROOT inside a directory that also holds a secret file and a secret
/// directory, with symlinks from ROOT to both.
fn escape_setup() -> (TempDir, Server) {
    let top = TempDir::new().unwrap();
    let root = top.path().join("root");
    std::fs::create_dir_all(top.path().join("secret_dir")).unwrap();
    std::fs::create_dir(&root).unwrap();
    std::fs::write(top.path().join("secret.txt"), "secret").unwrap();
    std::fs::write(top.path().join("secret_dir/inner.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(top.path().join("secret.txt"), root.join("filelink")).unwrap();
    std::os::unix::fs::symlink(top.path().join("secret_dir"), root.join("dirlink")).unwrap();
    std::fs::write(root.join("f.wsresume-part"), "someone's partial").unwrap();
    let server = Server::start(&root, &[]);
    (top, server)
}

/// Every file under `dir`, sorted, with its content.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn hostile_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/..%2fsecret.txt",
        "/%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/a//b",
        "/",
        "",
        "relative.txt",
        "/..\\secret.txt",
        "/..%5csecret.txt",
        "/a%00b",
        "/filelink",
        "/dirlink/inner.txt",
        "/dirlink/new.bin",
        "/f.wsresume-part",
        "/f.wsresume-state",
        "/new.bin.wsresume-chunks",
        "/f.wsresume-lock",
        "/%FF",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    paths.push(format!("/{}", "x".repeat(300)));
    paths.push(format!("/{}", vec!["d"; 2100].join("/")));
    paths
}

/// Sends `message` as the request and returns the close code and reason.
fn request_closes(server: &Server, message: &serde_json::Value) -> (u16, String) {
    let mut ws = RawWs::upgrade(server.addr());
    ws.send_text(&message.to_string());
    ws.read_close(WAIT)
        .unwrap_or_else(|| panic!("{message}: closed without a close frame"))
}

#[test]
fn paths_that_could_leave_root_are_refused() {
    let (top, server) = escape_setup();
    let before = snapshot(top.path());
    for path in hostile_paths() {
        let get = serde_json::json!({"type": "get", "path": path, "chunk_size": CHUNK});
        let (code, reason) = request_closes(&server, &get);
        eprintln!("get {path:.60}: closed {code} {reason:?}");
        // Only a name that does not exist under the (refused) link is
        // merely "not found"; everything else is forbidden outright.
        let want = if path == "/dirlink/new.bin" {
            4404
        } else {
            4403
        };
        assert_eq!(code, want, "get {path:.60}: {reason}");
        assert!(!reason.is_empty());
        let put = serde_json::json!({"type": "put", "path": path, "size": 10,
            "chunk_size": CHUNK, "source_id": "hostile"});
        let (code, reason) = request_closes(&server, &put);
        eprintln!("put {path:.60}: closed {code} {reason:?}");
        assert_eq!(code, 4403, "put {path:.60}: {reason}");
    }
    assert_eq!(snapshot(top.path()), before, "something changed");
}

/// (name, bytes sent after the upgrade, close code expected).
fn broken_inputs() -> Vec<(&'static str, Vec<u8>, u16)> {
    let text = |t: &str| encode_frame(0x1, t.as_bytes(), t.len() as u64);
    let get = format!(r#"{{"type":"get","path":"/big.bin","chunk_size":{CHUNK}}}"#);
    let mut unmasked = vec![0x81, get.len() as u8];
    unmasked.extend_from_slice(get.as_bytes());
    vec![
        (
            "garbage",
            b"\x00\xffGARBAGE\r\n\r\nmore garbage".to_vec(),
            4400,
        ),
        ("huge length", encode_frame(0x2, b"abc", 1 << 62), 4400),
        ("oversized control message", text(&"x".repeat(40_000)), 4400),
        ("malformed JSON", text("{\"type\":\"get\",\"path\":"), 4400),
        ("not JSON", text("hello"), 4400),
        (
            "unknown type",
            text(r#"{"type":"delete","path":"/big.bin"}"#),
            4400,
        ),
        (
            "unknown field",
            text(r#"{"type":"get","path":"/big.bin","chunk_size":65536,"x":1}"#),
            4400,
        ),
        ("data first", encode_frame(BINARY, &[7u8; 1000], 1000), 4400),
        ("eof first", text(r#"{"type":"eof","sha256":"00"}"#), 4400),
        (
            "chunk first",
            text(&format!(
                r#"{{"type":"chunk","index":0,"state":"{STATE}"}}"#
            )),
            4400,
        ),
        (
            "bad chunk size",
            text(r#"{"type":"get","path":"/big.bin","chunk_size":1000}"#),
            4400,
        ),
        ("unmasked frame", unmasked, 4400),
        (
            "invalid UTF-8 text",
            encode_frame(0x1, &[0xff, 0xfe, 0xfd], 3),
            4400,
        ),
    ]
}

/// Messages out of order inside a transfer: after `get`, the client may only
/// send keepalives; after `put`, only data, chunk and eof.
fn out_of_order() -> Vec<(&'static str, Vec<String>)> {
    let get = format!(r#"{{"type":"get","path":"/big.bin","chunk_size":{CHUNK}}}"#);
    let put = format!(
        r#"{{"type":"put","path":"/up.bin","size":1000000,"chunk_size":{CHUNK},"source_id":"s"}}"#
    );
    vec![
        ("get then get", vec![get.clone(), get.clone()]),
        ("get then put", vec![get.clone(), put.clone()]),
        ("put then get", vec![put.clone(), get]),
        ("put then put", vec![put.clone(), put.clone()]),
        (
            "put then done",
            vec![put, r#"{"type":"done","sha256":"00"}"#.into()],
        ),
    ]
}

#[test]
fn broken_input_is_closed_with_a_code_while_other_transfers_carry_on() {
    let root = TempDir::new().unwrap();
    let local = TempDir::new().unwrap();
    let server = Server::start(root.path(), &[]);
    let src = random_file(root.path(), "big.bin", 4 << 20);
    let dest = local.path().join("big.bin");
    let proxy = FaultProxy::new(server.addr());
    proxy.throttle(1 << 20);
    let mut bystander =
        Proc::wsresume(&client_args(&["get", &proxy.url("big.bin"), s(&dest)], &[]));
    assert!(
        wait_until(WAIT, || proxy.down() > 100_000),
        "bystander not started"
    );
    for (name, bytes, want) in broken_inputs() {
        let mut ws = RawWs::upgrade(server.addr());
        ws.send_raw(&bytes);
        let (code, reason) = ws
            .read_close(WAIT)
            .unwrap_or_else(|| panic!("{name}: no close frame"));
        eprintln!("{name}: closed {code} {reason:?}");
        assert_eq!(code, want, "{name}: {reason}");
        assert!(!reason.is_empty(), "{name}: no reason");
    }
    for (name, texts) in out_of_order() {
        let mut ws = RawWs::upgrade(server.addr());
        for t in &texts {
            ws.send_text(t);
        }
        let (code, reason) = ws
            .read_close(WAIT)
            .unwrap_or_else(|| panic!("{name}: no close frame"));
        eprintln!("{name}: closed {code} {reason:?}");
        assert_eq!(code, 4400, "{name}: {reason}");
    }
    assert!(
        bystander.try_status().is_none(),
        "the bystander did not overlap"
    );
    proxy.throttle(0);
    bystander.expect_success(Duration::from_secs(60));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    assert!(
        server.stderr_text().contains("BadRequest"),
        "refusals are logged"
    );
}
