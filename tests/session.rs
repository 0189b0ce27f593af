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
    // Up to 1 MiB: small, read whole; 3 MiB: streamed with chunk checks.
    let files: Vec<(String, Vec<u8>)> = [0usize, 1, 4096, 70_000, 300_000, 1 << 20, 3 << 20]
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

#[test]
fn eager_puts_land_whole_and_are_answered_in_order() {
    let root = tmp();
    let server = Server::start(root.path(), &[]);
    let mut ws = session(server.addr());
    let files: Vec<(String, Vec<u8>)> = [0usize, 1, 4096, 300_000, 1 << 20]
        .iter()
        .enumerate()
        .map(|(i, &len)| (format!("d{}/f {i}", i % 2), random_bytes(len)))
        .collect();
    for (name, data) in &files {
        send_eager(
            &mut ws,
            &format!("/{}", name.replace(' ', "%20")),
            data,
            &sha256(data),
        );
    }
    for (name, data) in &files {
        let done = next_message(&mut ws);
        assert_eq!(done["type"], "done", "{name}: {done}");
        assert_eq!(done["sha256"], sha256(data), "{name}");
        let stored = std::fs::read(root.path().join(name)).unwrap();
        assert!(stored == *data, "{name}: wrong content");
    }
    support::assert_no_leftovers(&[root.path()]);
    close(&mut ws);
}

#[test]
fn a_refused_eager_put_is_answered_alone_and_the_session_goes_on() {
    let root = tmp();
    std::fs::create_dir(root.path().join("dir")).unwrap();
    let server = Server::start(root.path(), &["--max-file-size", "1000"]);
    let mut ws = session(server.addr());
    let good = random_bytes(500);
    let big = random_bytes(2000);
    // (path, data, eof digest, expected answer)
    let cases = [
        ("/bad", &good, sha256(b"other"), "integrity"),
        ("/big", &big, sha256(&big), "too_large"),
        ("/dir", &good, sha256(&good), "is_directory"),
        ("/a%2fb", &good, sha256(&good), "forbidden"),
        ("/ok", &good, sha256(&good), "done"),
    ];
    for (path, data, digest, _) in &cases {
        send_eager(&mut ws, path, data, digest);
    }
    for (path, _, _, want) in &cases {
        let answer = next_message(&mut ws);
        let got = answer["code"].as_str().or(answer["type"].as_str());
        assert_eq!(got, Some(*want), "{path}: {answer}");
    }
    assert_eq!(std::fs::read(root.path().join("ok")).unwrap(), good);
    assert!(!root.path().join("bad").exists() && !root.path().join("big").exists());
    ws.send_text(&get("/ok"));
    let Answer::File { data, .. } = read_get_answer(&mut ws) else {
        panic!("refused")
    };
    assert_eq!(data, good);
    close(&mut ws);
    support::assert_no_leftovers(&[root.path()]);
}

#[test]
fn an_eager_put_to_a_target_being_uploaded_is_busy_and_identical_ones_are_skipped() {
    let root = tmp();
    let same = random_bytes(3000);
    write(root.path(), "same", &same);
    let server = Server::start(root.path(), &[]);
    // A v1 upload to /busy, accepted and left waiting for its data.
    let (mut v1, _) = open(server.addr(), "wsresume.v1");
    v1.send_text(
        r#"{"type":"put","path":"/busy","size":100,"chunk_size":4096,"source_id":"other"}"#,
    );
    assert_eq!(next_message(&mut v1)["type"], "accept");
    let mut ws = session(server.addr());
    let data = random_bytes(100);
    send_eager(&mut ws, "/busy", &data, &sha256(&data));
    let with_digest = format!(
        r#"{{"type":"put","path":"/same","size":3000,"chunk_size":4096,"source_id":"x","sha256":"{}","eager":true}}"#,
        sha256(&same)
    );
    ws.send_text(&with_digest);
    ws.send_frame(BINARY, &same);
    ws.send_text(&format!(r#"{{"type":"eof","sha256":"{}"}}"#, sha256(&same)));
    let busy = next_message(&mut ws);
    assert_eq!(busy["code"], "busy", "{busy}");
    let skipped = next_message(&mut ws);
    assert_eq!(
        (&skipped["type"], &skipped["skipped"]),
        (&"done".into(), &true.into()),
        "{skipped}"
    );
    close(&mut ws);
}

/// A small file's target is never partial: before its `done` it holds
/// the old version, after it the new one, whole.
#[test]
fn an_eager_put_replaces_its_target_whole_before_done() {
    let root = tmp();
    let target = root.path().join("t");
    let old = random_bytes(1 << 20);
    let new = random_bytes(1 << 20);
    std::fs::write(&target, &old).unwrap();
    let server = Server::start(root.path(), &[]);
    let mut ws = session(server.addr());
    ws.stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    send_eager(&mut ws, "/t", &new, &sha256(&new));
    let done = loop {
        let now = std::fs::read(&target).unwrap();
        assert!(now == old || now == new, "partial target seen");
        if let Some((TEXT, payload)) = ws.read_frame(Duration::from_millis(5)) {
            break json(&String::from_utf8(payload).unwrap());
        }
    };
    assert_eq!(done["type"], "done", "{done}");
    assert!(std::fs::read(&target).unwrap() == new);
    support::assert_no_leftovers(&[root.path()]);
}

#[test]
fn a_session_carries_plain_puts_and_lists_and_ends_on_idle_or_bad_messages() {
    let root = tmp();
    write(root.path(), "a", b"aaa");
    let server = Server::start(root.path(), &["--idle-timeout", "1"]);
    let mut ws = session(server.addr());
    // A plain put: accept, data, eof, done; then the session goes on.
    let data = random_bytes(10_000);
    ws.send_text(r#"{"type":"put","path":"/p","size":10000,"chunk_size":16384,"source_id":"p"}"#);
    assert_eq!(next_message(&mut ws)["type"], "accept");
    ws.send_frame(BINARY, &data);
    ws.send_text(&format!(r#"{{"type":"eof","sha256":"{}"}}"#, sha256(&data)));
    // Pipelined right behind the upload's eof.
    ws.send_text(r#"{"type":"list","path":"/"}"#);
    let done = loop {
        let m = next_message(&mut ws);
        if m["type"] != "ack" {
            break m;
        }
    };
    assert_eq!(done["type"], "done", "{done}");
    assert_eq!(std::fs::read(root.path().join("p")).unwrap(), data);
    let entries = next_message(&mut ws);
    let names: Vec<&str> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "p"], "{entries}");
    assert_eq!(next_message(&mut ws)["type"], "listed");
    // Silence: closed with 1000 after --idle-timeout.
    let (code, reason) = ws.read_close(WAIT).expect("not closed when idle");
    assert_eq!(code, 1000, "{reason}");

    // A binary frame where a request belongs ends the session: 4400.
    let mut ws = session(server.addr());
    ws.send_text(&get("/a"));
    ws.send_frame(BINARY, b"junk");
    assert!(matches!(read_get_answer(&mut ws), Answer::File { .. }));
    let error = next_message(&mut ws);
    assert_eq!(error["code"], "bad_request", "{error}");
    assert_eq!(ws.read_close(WAIT).map(|c| c.0), Some(4400));
}

/// A pipelining client fast enough to measure the server: a writer thread
/// keeps up to `window` `get`s outstanding, the reader takes the answers.
fn pipelined_gets(addr: SocketAddr, names: &[String], window: usize) -> (Duration, u64) {
    use std::io::{BufReader, Read, Write};
    let ws = session(addr);
    ws.stream.set_nodelay(true).unwrap();
    let mut writer = ws.stream.try_clone().unwrap();
    ws.stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::with_capacity(1 << 20, ws.stream);
    let (answered, credit) = std::sync::mpsc::channel::<()>();
    let requests: Vec<Vec<u8>> = names
        .iter()
        .map(|n| {
            let text = get(&format!("/{n}"));
            support::raw::encode_frame(TEXT, text.as_bytes(), text.len() as u64)
        })
        .collect();
    let started = std::time::Instant::now();
    let sender = std::thread::spawn(move || {
        let mut outstanding = 0;
        for request in requests {
            while outstanding >= window {
                credit.recv().unwrap();
                outstanding -= 1;
            }
            while credit.try_recv().is_ok() {
                outstanding -= 1;
            }
            writer.write_all(&request).unwrap();
            outstanding += 1;
        }
        writer
    });
    let mut frame = || {
        let mut head = [0u8; 2];
        reader.read_exact(&mut head).unwrap();
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                reader.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                reader.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        reader.read_exact(&mut payload).unwrap();
        (head[0] & 0x0f, payload)
    };
    let mut bytes = 0u64;
    for name in names {
        let (opcode, offer) = frame();
        assert_eq!(opcode, TEXT);
        assert!(offer.starts_with(br#"{"type":"offer""#), "{name}");
        loop {
            match frame() {
                (BINARY, data) => bytes += data.len() as u64,
                (TEXT, _) => break,
                _ => {}
            }
        }
        let _ = answered.send(());
    }
    let took = started.elapsed();
    let mut writer = sender.join().unwrap();
    writer
        .write_all(&support::raw::encode_frame(
            CLOSE,
            &1000u16.to_be_bytes(),
            2,
        ))
        .unwrap();
    (took, bytes)
}

/// Many small `get`s on one session: every byte arrives; prints the rate
/// (`WSRESUME_SESSION_GETS` sets how many, default 1,000).
#[test]
fn many_small_gets_on_one_session() {
    let count: usize = std::env::var("WSRESUME_SESSION_GETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let root = tmp();
    let names: Vec<String> = (0..count).map(|i| format!("f{i:05}")).collect();
    let data = random_bytes(4096);
    for name in &names {
        write(root.path(), name, &data);
    }
    let server = Server::start(root.path(), &["-q"]);
    let (took, bytes) = pipelined_gets(server.addr(), &names, 64);
    assert_eq!(bytes, 4096 * count as u64);
    eprintln!(
        "{count} gets of 4 KiB in {:.3} s: {:.0} requests/s",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
}

/// Many small eager `put`s on one session, `window` outstanding: every file
/// lands; the time until the last `done`.
fn pipelined_puts(addr: SocketAddr, names: &[String], data: &[u8], window: usize) -> Duration {
    use std::io::{BufReader, Read, Write};
    let ws = session(addr);
    ws.stream.set_nodelay(true).unwrap();
    let mut writer = ws.stream.try_clone().unwrap();
    ws.stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(ws.stream);
    let (answered, credit) = std::sync::mpsc::channel::<()>();
    let digest = sha256(data);
    let requests: Vec<Vec<u8>> = names
        .iter()
        .map(|n| {
            let mut frames = Vec::new();
            for (opcode, payload) in [
                (TEXT, eager_put(&format!("/{n}"), data).into_bytes()),
                (BINARY, data.to_vec()),
                (
                    TEXT,
                    format!(r#"{{"type":"eof","sha256":"{digest}"}}"#).into_bytes(),
                ),
            ] {
                let frame = support::raw::encode_frame(opcode, &payload, payload.len() as u64);
                frames.extend_from_slice(&frame);
            }
            frames
        })
        .collect();
    let started = std::time::Instant::now();
    let sender = std::thread::spawn(move || {
        let mut outstanding = 0;
        for request in requests {
            while outstanding >= window {
                credit.recv().unwrap();
                outstanding -= 1;
            }
            while credit.try_recv().is_ok() {
                outstanding -= 1;
            }
            writer.write_all(&request).unwrap();
            outstanding += 1;
        }
        writer
    });
    for name in names {
        let mut head = [0u8; 2];
        reader.read_exact(&mut head).unwrap();
        assert_eq!(head[0] & 0x0f, TEXT);
        let mut payload = vec![0u8; usize::from(head[1] & 0x7f)];
        reader.read_exact(&mut payload).unwrap();
        assert!(payload.starts_with(br#"{"type":"done""#), "{name}");
        let _ = answered.send(());
    }
    let took = started.elapsed();
    let mut writer = sender.join().unwrap();
    let close = support::raw::encode_frame(CLOSE, &1000u16.to_be_bytes(), 2);
    writer.write_all(&close).unwrap();
    took
}

/// Many small eager `put`s on one session: every file lands whole; prints
/// the rate (`WSRESUME_SESSION_PUTS` sets how many, default 1,000).
#[test]
fn many_small_eager_puts_on_one_session() {
    let count: usize = std::env::var("WSRESUME_SESSION_PUTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let root = tmp();
    let names: Vec<String> = (0..count).map(|i| format!("d{}/f{i:05}", i % 10)).collect();
    let data = random_bytes(4096);
    let server = Server::start(root.path(), &["-q"]);
    let took = pipelined_puts(server.addr(), &names, &data, 64);
    for name in names.iter().step_by(97) {
        assert!(
            std::fs::read(root.path().join(name)).unwrap() == data,
            "{name}"
        );
    }
    support::assert_no_leftovers(&[root.path()]);
    eprintln!(
        "{count} eager puts of 4 KiB in {:.3} s: {:.0} files/s",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
}

#[test]
fn a_shutdown_ends_a_waiting_session_with_1001() {
    let root = tmp();
    write(root.path(), "a", b"aaa");
    let mut server = Server::start(root.path(), &[]);
    let mut ws = session(server.addr());
    ws.send_text(&get("/a"));
    assert!(matches!(read_get_answer(&mut ws), Answer::File { .. }));
    let waiting = std::thread::spawn(move || ws.read_close(WAIT));
    assert_eq!(server.terminate().and_then(|st| st.code()), Some(0));
    let (code, reason) = waiting.join().unwrap().expect("no close frame");
    assert_eq!(code, 1001, "{reason}");
}
