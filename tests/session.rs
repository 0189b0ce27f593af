//! Sessions (`wsresume.v2`) against the real server: negotiation, pipelined
//! `get`s answered in order, per-file errors that leave the session going,
//! eager `put`s (in place and durable before `done`, in order, a wrong
//! digest refused alone), and what a v1 connection may not do.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use wsresume_testkit as support;

use support::raw::{BINARY, CLOSE, RawWs, TEXT, chosen_protocol, upgrade_request_offering};
use support::{Server, hex, random_bytes};

const WAIT: Duration = Duration::from_secs(10);

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

/// Upgrade offering `protocols`: the connection and the protocol chosen.
fn open(addr: SocketAddr, protocols: &str) -> (RawWs, Option<String>) {
    let request = upgrade_request_offering(addr, "/", protocols, "");
    let (ws, head) = RawWs::open(addr, &request);
    assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
    let chosen = chosen_protocol(&head);
    (ws, chosen)
}

fn session(addr: SocketAddr) -> RawWs {
    let (ws, chosen) = open(addr, "wsresume.v2, wsresume.v1");
    assert_eq!(chosen.as_deref(), Some("wsresume.v2"));
    ws
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The next control message (pings skipped); panics on anything else.
fn next_message(ws: &mut RawWs) -> Value {
    loop {
        let (opcode, payload) = ws.read_frame(WAIT).expect("no frame");
        match opcode {
            TEXT => return json(&String::from_utf8(payload).unwrap()),
            0x9 | 0xA => {}
            other => panic!("expected a message, got opcode {other}: {payload:?}"),
        }
    }
}

/// A `get`'s answer: the offer, the bytes, the eof digest (or an error).
enum Answer {
    File {
        offer: Value,
        data: Vec<u8>,
        sha256: String,
    },
    Error(Value),
}

fn read_get_answer(ws: &mut RawWs) -> Answer {
    let offer = next_message(ws);
    match offer["type"].as_str() {
        Some("error") => return Answer::Error(offer),
        Some("offer") => {}
        _ => panic!("expected offer: {offer}"),
    }
    if offer["identical"] == true {
        return Answer::File {
            offer,
            data: Vec::new(),
            sha256: String::new(),
        };
    }
    let mut data = Vec::new();
    loop {
        let (opcode, payload) = ws.read_frame(WAIT).expect("no frame");
        match opcode {
            BINARY => data.extend_from_slice(&payload),
            TEXT => {
                let m = json(&String::from_utf8(payload).unwrap());
                match m["type"].as_str() {
                    Some("chunk") => {}
                    Some("eof") => {
                        let sha256 = m["sha256"].as_str().unwrap().to_string();
                        return Answer::File {
                            offer,
                            data,
                            sha256,
                        };
                    }
                    _ => panic!("unexpected {m}"),
                }
            }
            _ => {}
        }
    }
}

fn get(path: &str) -> String {
    format!(r#"{{"type":"get","path":"{path}","chunk_size":1048576}}"#)
}

fn eager_put(path: &str, data: &[u8]) -> String {
    format!(
        r#"{{"type":"put","path":"{path}","size":{},"chunk_size":1048576,"source_id":"s-{path}","eager":true}}"#,
        data.len()
    )
}

/// Send an eager put: the request, the data frames, the eof with `digest`.
fn send_eager(ws: &mut RawWs, path: &str, data: &[u8], digest: &str) {
    ws.send_text(&eager_put(path, data));
    for piece in data.chunks(256 * 1024) {
        ws.send_frame(BINARY, piece);
    }
    ws.send_text(&format!(r#"{{"type":"eof","sha256":"{digest}"}}"#));
}

/// Close the session and expect the server's answer to the close.
fn close(ws: &mut RawWs) {
    ws.send_frame(CLOSE, &1000u16.to_be_bytes());
    let (code, _) = ws.read_close(WAIT).expect("the close was not answered");
    assert_eq!(code, 1000);
}

fn write(root: &Path, name: &str, data: &[u8]) {
    std::fs::write(root.join(name), data).unwrap();
}

#[test]
fn the_server_picks_v2_when_offered_and_allowed() {
    let root = tmp();
    let server = Server::start(root.path(), &[]);
    let old = Server::start(root.path(), &["--max-protocol", "1"]);
    // (server, offered, chosen)
    let cases = [
        (&server, "wsresume.v2, wsresume.v1", "wsresume.v2"),
        (&server, "wsresume.v1, wsresume.v2", "wsresume.v2"),
        (&server, "wsresume.v1", "wsresume.v1"),
        (&old, "wsresume.v2, wsresume.v1", "wsresume.v1"),
        (&old, "wsresume.v1", "wsresume.v1"),
    ];
    for (server, offered, chosen) in cases {
        let (_, got) = open(server.addr(), offered);
        assert_eq!(got.as_deref(), Some(chosen), "{offered}");
    }
    let request = upgrade_request_offering(old.addr(), "/", "wsresume.v2", "");
    let (_, head) = RawWs::open(old.addr(), &request);
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
}

#[test]
fn a_v1_connection_serves_one_request_and_no_eager_put() {
    let root = tmp();
    write(root.path(), "a", b"hello");
    let server = Server::start(root.path(), &[]);
    let (mut ws, chosen) = open(server.addr(), "wsresume.v1");
    assert_eq!(chosen.as_deref(), Some("wsresume.v1"));
    ws.send_text(&get("/a"));
    let Answer::File { data, .. } = read_get_answer(&mut ws) else {
        panic!("refused")
    };
    assert_eq!(data, b"hello");
    // v1: the server waits for the client's close, then closes 1000.
    close(&mut ws);

    let (mut ws, _) = open(server.addr(), "wsresume.v1");
    send_eager(&mut ws, "/e", b"abc", &sha256(b"abc"));
    let error = next_message(&mut ws);
    assert_eq!(error["code"], "bad_request", "{error}");
    let (code, _) = ws.read_close(WAIT).unwrap();
    assert_eq!(code, 4400);
    assert!(!root.path().join("e").exists());
}

#[test]
fn pipelined_gets_are_answered_in_order_and_an_error_does_not_end_the_session() {
    let root = tmp();
    let files: Vec<(String, Vec<u8>)> = [0usize, 1, 4096, 70_000, 300_000, 1 << 20]
        .iter()
        .enumerate()
        .map(|(i, &len)| (format!("f{i}"), random_bytes(len)))
        .collect();
    for (name, data) in &files {
        write(root.path(), name, data);
    }
    let server = Server::start(root.path(), &[]);
    let mut ws = session(server.addr());
    // Every request at once, a missing file among them.
    for (i, (name, _)) in files.iter().enumerate() {
        ws.send_text(&get(&format!("/{name}")));
        if i == 2 {
            ws.send_text(&get("/missing"));
        }
    }
    for (i, (name, want)) in files.iter().enumerate() {
        let Answer::File {
            offer,
            data,
            sha256,
        } = read_get_answer(&mut ws)
        else {
            panic!("{name} refused")
        };
        assert_eq!(offer["size"], want.len(), "{name}");
        assert!(data == *want, "{name}: wrong bytes");
        assert_eq!(sha256, self::sha256(want), "{name}");
        if i == 2 {
            let Answer::Error(error) = read_get_answer(&mut ws) else {
                panic!("a missing file was served")
            };
            assert_eq!(error["code"], "not_found", "{error}");
        }
    }
    // Still going: one more request on the same connection.
    ws.send_text(&get("/f2"));
    assert!(matches!(read_get_answer(&mut ws), Answer::File { .. }));
    close(&mut ws);
}
