//! Re-runs are cheap and files keep their time: a `get` or `send` run again
//! on a file the other side already holds moves no payload and reports
//! `"skipped": true`; a file changed in place (same size, mtime restored)
//! is not taken for the old one; downloads keep the server file's mtime,
//! uploads the local one's; `-p` carries permission bits both ways; old
//! peers (without the new fields) keep working.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::fs::{self, File};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::raw::{RawWs, upgrade_request};
use support::{
    Rig, check_ok_report, client_args, json_u64, random_file, run_ok_json, s, sha256_file,
};

const SIZE: u64 = 1024 * 1024;
/// Most bytes a skipped re-run may move in one direction: the upgrade, one
/// control message and the close, never the payload.
const SKIP_BUDGET: u64 = 4 * 1024;

/// A time with nanoseconds in it, well in the past.
fn old_time(ns: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(1_000_000_000, ns)
}

fn set_mtime(path: &Path, time: SystemTime) {
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Rewrite `path` in place with other bytes of the same length and put its
/// mtime back: only the change time (ctime) tells.
fn rewrite_in_place(path: &Path) {
    let before = mtime(path);
    let len = fs::metadata(path).unwrap().len();
    let file = File::options().write(true).open(path).unwrap();
    file.write_all_at(&support::random_bytes(len as usize), 0)
        .unwrap();
    file.set_modified(before).unwrap();
    assert_eq!(mtime(path), before);
}

/// Whether the report is of a skipped file. `skipped` is `true` or absent,
/// and a skipped file moved nothing and resumed from its whole size.
fn skipped(report: &serde_json::Value) -> bool {
    let Some(flag) = report.get("skipped") else {
        return false;
    };
    assert_eq!(flag, true, "skipped is true or absent: {report}");
    assert_eq!(json_u64(report, "transferred"), 0, "{report}");
    let bytes = json_u64(report, "bytes");
    assert_eq!(json_u64(report, "resumed_from"), bytes, "{report}");
    true
}

fn get(rig: &Rig, name: &str, dest: &Path, extra: &[&str]) -> serde_json::Value {
    let url = rig.proxy.url(name);
    run_ok_json(&client_args(&["get", &url, s(dest)], extra))
}

fn send(rig: &Rig, src: &Path, name: &str, extra: &[&str]) -> serde_json::Value {
    let url = rig.proxy.url(name);
    run_ok_json(&client_args(&["send", s(src), &url], extra))
}

#[test]
fn a_finished_get_run_again_moves_no_payload_and_keeps_the_time() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "big.bin", SIZE);
    set_mtime(&src, old_time(123_456_789));
    let sha = sha256_file(&src);
    let dest = rig.local.path().join("big.bin");
    let first = get(&rig, "big.bin", &dest, &[]);
    check_ok_report(&first, "get", SIZE, &sha);
    assert!(!skipped(&first), "{first}");
    assert_eq!(json_u64(&first, "transferred"), SIZE);
    assert_eq!(
        mtime(&dest),
        mtime(&src),
        "the server file's mtime, to the ns"
    );

    rig.proxy.reset_counters();
    let again = get(&rig, "big.bin", &dest, &[]);
    check_ok_report(&again, "get", SIZE, &sha);
    assert!(skipped(&again), "{again}");
    assert_eq!(json_u64(&again, "transferred"), 0);
    assert!(
        rig.proxy.down() < SKIP_BUDGET,
        "{} bytes down",
        rig.proxy.down()
    );
    assert_eq!(sha256_file(&dest), sha);

    // The server's file got a new mtime (same bytes): still skipped, and
    // the target follows it.
    set_mtime(&src, old_time(7));
    let moved = get(&rig, "big.bin", &dest, &[]);
    assert!(skipped(&moved), "{moved}");
    assert_eq!(mtime(&dest), old_time(7));

    // Without --json the summary says so.
    let url = rig.proxy.url("big.bin");
    let out = support::wsresume()
        .args(client_args(&["get", &url, s(&dest)], &[]))
        .assert()
        .success();
    let said = String::from_utf8_lossy(&out.get_output().stderr).into_owned()
        + &String::from_utf8_lossy(&out.get_output().stdout);
    assert!(
        said.contains("already there, identical: nothing sent"),
        "{said}"
    );
    rig.check_clean();
}

#[test]
fn a_target_changed_in_place_with_its_mtime_restored_is_downloaded_again() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "f.bin", SIZE);
    let dest = rig.local.path().join("f.bin");
    get(&rig, "f.bin", &dest, &[]);
    rewrite_in_place(&dest);
    assert_ne!(sha256_file(&dest), sha256_file(&src));
    let again = get(&rig, "f.bin", &dest, &[]);
    assert!(!skipped(&again), "{again}");
    check_ok_report(&again, "get", SIZE, &sha256_file(&src));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    assert_eq!(mtime(&dest), mtime(&src));
    rig.check_clean();
}

#[test]
fn a_finished_send_run_again_moves_no_payload_and_keeps_the_time() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "up.bin", SIZE);
    set_mtime(&src, old_time(987_654_321));
    let sha = sha256_file(&src);
    let stored = rig.root.path().join("dir/up.bin");
    let first = send(&rig, &src, "dir/up.bin", &[]);
    check_ok_report(&first, "send", SIZE, &sha);
    assert!(!skipped(&first), "{first}");
    assert_eq!(
        mtime(&stored),
        mtime(&src),
        "the local file's mtime, to the ns"
    );

    rig.proxy.reset_counters();
    let again = send(&rig, &src, "dir/up.bin", &[]);
    check_ok_report(&again, "send", SIZE, &sha);
    assert!(skipped(&again), "{again}");
    assert_eq!(json_u64(&again, "transferred"), 0);
    assert!(rig.proxy.up() < SKIP_BUDGET, "{} bytes up", rig.proxy.up());

    // Someone touched the stored file: the skip puts the mtime back.
    set_mtime(&stored, old_time(1));
    let touched = send(&rig, &src, "dir/up.bin", &[]);
    assert!(skipped(&touched), "{touched}");
    assert_eq!(mtime(&stored), mtime(&src));

    rewrite_in_place(&src);
    let changed = send(&rig, &src, "dir/up.bin", &[]);
    assert!(!skipped(&changed), "{changed}");
    check_ok_report(&changed, "send", SIZE, &sha256_file(&src));
    assert_eq!(sha256_file(&stored), sha256_file(&src));
    rig.check_clean();
}

#[test]
fn preserve_carries_permission_bits_both_ways() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "up.bin", 70_000);
    fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
    send(&rig, &src, "up.bin", &["-p"]);
    assert_eq!(mode(&rig.root.path().join("up.bin")), 0o640);

    // The server never stores setuid, setgid or sticky bits.
    let special = random_file(rig.local.path(), "special.bin", 10);
    fs::set_permissions(&special, fs::Permissions::from_mode(0o4750)).unwrap();
    send(&rig, &special, "special.bin", &["--preserve"]);
    assert_eq!(mode(&rig.root.path().join("special.bin")), 0o750);

    let served = random_file(rig.root.path(), "down.bin", 70_000);
    fs::set_permissions(&served, fs::Permissions::from_mode(0o640)).unwrap();
    let dest = rig.local.path().join("down.bin");
    get(&rig, "down.bin", &dest, &["-p"]);
    assert_eq!(mode(&dest), 0o640);
    // Without -p a download has the usual mode of a new file.
    let plain = rig.local.path().join("plain.bin");
    get(&rig, "down.bin", &plain, &[]);
    assert_eq!(mode(&plain), 0o666 & !umask(), "plain mode");

    // A skipped re-run still applies a changed mode.
    fs::set_permissions(&served, fs::Permissions::from_mode(0o600)).unwrap();
    let again = get(&rig, "down.bin", &dest, &["-p"]);
    assert!(skipped(&again), "{again}");
    assert_eq!(mode(&dest), 0o600);
    rig.check_clean();
}

/// The process umask (read from /proc, where it is listed).
fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
}

#[test]
fn skips_in_trees_are_valid_reports_and_read_nothing_twice() {
    let rig = Rig::new(&[]);
    let top = rig.local.path().join("tree");
    random_file(&top, "a.bin", SIZE);
    random_file(&top, "sub/b.bin", 5000);
    let url = rig.proxy.url("t/");
    let run = |args: &[&str]| {
        let out = support::wsresume()
            .args(client_args(args, &["--json", "-q"]))
            .assert()
            .success();
        support::json_lines(&out.get_output().stdout)
    };
    run(&["send", "-r", s(&top), &url]);
    rig.proxy.reset_counters();
    let lines = run(&["send", "-r", s(&top), &url]);
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let local = Path::new(line["source"].as_str().unwrap());
        let size = fs::metadata(local).unwrap().len();
        check_ok_report(line, "send", size, &sha256_file(local));
        assert!(skipped(line), "{line}");
    }
    assert!(
        rig.proxy.up() < 2 * SKIP_BUDGET + 4096,
        "{}",
        rig.proxy.up()
    );
    // `send -r tree URL/t/` made t/tree/; `get -r URL/t/ back` makes back/t/.
    let back = rig.local.path().join("back");
    fs::create_dir(&back).unwrap();
    run(&["get", "-r", &url, s(&back)]);
    rig.proxy.reset_counters();
    let lines = run(&["get", "-r", &url, s(&back)]);
    assert!(lines.iter().all(skipped), "{lines:?}");
    assert!(
        rig.proxy.down() < 2 * SKIP_BUDGET + 4096,
        "{}",
        rig.proxy.down()
    );
    let copy = back.join("t/tree/a.bin");
    assert_eq!(mtime(&copy), mtime(&top.join("a.bin")));
    rig.check_clean();
}

/// An old client (no `attrs`, no `have`) gets the old `offer`, without the
/// new fields its decoder would refuse.
#[test]
fn an_old_client_gets_the_old_offer() {
    let rig = Rig::new(&[]);
    random_file(rig.root.path(), "f.bin", 10);
    let addr = rig.server.addr();
    let (mut ws, head) = RawWs::open(addr, &upgrade_request(addr, "/f.bin", ""));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    ws.send_text(r#"{"type":"get","path":"/f.bin","chunk_size":65536}"#);
    let offer = ws.read_text(Duration::from_secs(10)).unwrap();
    let offer: serde_json::Value = serde_json::from_str(&offer).unwrap();
    let keys: Vec<&str> = offer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["chunk_size", "etag", "offset", "size", "type"],
        "{offer}"
    );
}

/// A digest that is not 64 hex digits is a bad request, in `get` and `put`.
#[test]
fn malformed_digests_are_bad_requests() {
    let rig = Rig::new(&[]);
    random_file(rig.root.path(), "f.bin", 10);
    let addr = rig.server.addr();
    for request in [
        r#"{"type":"get","path":"/f.bin","chunk_size":65536,"have":{"size":10,"sha256":"zz"}}"#,
        r#"{"type":"put","path":"/f.bin","size":10,"chunk_size":65536,"source_id":"s","sha256":"zz"}"#,
    ] {
        let (mut ws, head) = RawWs::open(addr, &upgrade_request(addr, "/f.bin", ""));
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        ws.send_text(request);
        let (code, reason) = ws.read_close(Duration::from_secs(10)).unwrap();
        assert_eq!(code, 4400, "{request}: {reason}");
    }
}

/// A server that predates the new fields refuses them as unknown: the
/// client asks again without them, at once, and the transfer works.
#[test]
fn a_new_client_asks_an_old_server_again_without_the_new_fields() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = std::thread::spawn(move || old_server(&listener, 2));
    let local = tempfile::TempDir::new().unwrap();
    let src = random_file(local.path(), "up.bin", 10);
    // The old server below answers a plain request with not_found (8),
    // which shows that the second request was understood.
    let url = format!("ws://{addr}/up.bin");
    let out = support::run_expect_code(&client_args(&["send", s(&src), &url], &["-q"]), 8);
    let requests = requests.join().unwrap();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests[0].contains("mtime_ns"), "{requests:?}");
    assert!(!requests[1].contains("mtime_ns"), "{requests:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no such file"), "{stderr}");
}

/// Accept `n` connections like a server without the new fields would:
/// unknown fields are a bad request, anything else is not found. Returns
/// the requests.
fn old_server(listener: &std::net::TcpListener, n: usize) -> Vec<String> {
    use tokio_tungstenite::tungstenite::{self, Message};
    let mut seen = Vec::new();
    listener.set_nonblocking(true).unwrap();
    for _ in 0..n {
        let mut accepted = None;
        let arrived = support::wait_until(Duration::from_secs(20), || {
            accepted = listener.accept().ok();
            accepted.is_some()
        });
        let Some((stream, _)) = accepted.filter(|_| arrived) else {
            return seen;
        };
        stream.set_nonblocking(false).unwrap();
        let mut ws = tungstenite::accept_hdr(stream, with_subprotocol).unwrap();
        let Message::Text(text) = ws.read().unwrap() else {
            panic!("no request")
        };
        let (code, message) = match ["mtime_ns", "sha256", "have", "attrs"]
            .iter()
            .find(|f| text.contains(&format!("\"{f}\"")))
        {
            Some(f) => (
                "bad_request",
                format!("malformed control message: unknown field `{f}`"),
            ),
            None => ("not_found", "up.bin: no such file".to_string()),
        };
        let error = serde_json::json!({"type": "error", "code": code, "message": message});
        ws.send(Message::text(error.to_string())).unwrap();
        // Close as a server does: wait (bounded) for the client's close.
        let _ = ws.close(None);
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        while ws.read().is_ok() {}
        seen.push(text.to_string());
    }
    seen
}

/// The handshake answer of a wsresume server: the subprotocol echoed.
#[allow(clippy::result_large_err)]
fn with_subprotocol(
    _: &tokio_tungstenite::tungstenite::handshake::server::Request,
    mut response: tokio_tungstenite::tungstenite::handshake::server::Response,
) -> Result<
    tokio_tungstenite::tungstenite::handshake::server::Response,
    tokio_tungstenite::tungstenite::handshake::server::ErrorResponse,
> {
    response
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "wsresume.v1".parse().unwrap());
    Ok(response)
}
