//! Compressed data frames in sessions (`wsresume.v2`, PROTOCOL.md sections
//! 2.1 and 13): a tree's small files moved by `send -r` and `get -r`,
//! counted on the wire by the test proxy. A tree of text logs crosses in
//! far fewer bytes than its size (`--compress on`, and `auto` on a slow
//! link), in about its size with `--compress off`; a tree of random files
//! costs no more than its size and framing; a cut in the middle of a
//! compressed session resumes and the tree verifies.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use support::tree::{Manifest, Route, Way, assert_exact, route};
use support::{Rig, json_u64};

/// `count` text logs of 2 to 10 KiB under `top`, in a few directories.
fn text_tree(top: &std::path::Path, count: usize) -> Manifest {
    let mut tree = Manifest::default();
    for i in 0..count {
        let len = 2048 + (i * 7919) % (8 * 1024);
        let rel = format!("svc{}/day{}/app-{i:04}.log", i % 7, i % 3);
        tree.write(top, &rel, &support::log_text(i as u64 + 11, len));
    }
    tree
}

/// `route` with `extra` arguments.
fn with(mut route: Route, extra: &[&str]) -> Route {
    route.args.extend(extra.iter().map(|a| a.to_string()));
    route
}

/// Run `route`, check its reports and the copy; the payload bytes on the
/// wire and the reports.
fn moved(rig: &Rig, route: &Route, tree: &Manifest) -> (u64, Vec<serde_json::Value>) {
    rig.proxy.reset_counters();
    let lines = route.run(&[]);
    route.check_reports(&lines, tree);
    assert_exact(&route.dest, tree);
    route.assert_clean(rig);
    (route.payload(&rig.proxy), lines)
}

/// Send the tree at LOCAL/`name` to `remote`, then get it back (into a
/// fresh LOCAL/copy): the payload bytes of each.
fn both_ways(rig: &Rig, tree: &Manifest, remote: &str, name: &str, extra: &[&str]) -> (u64, u64) {
    let send = with(route(rig, Way::Send, remote, name), extra);
    let (up, _) = moved(rig, &send, tree);
    let _ = std::fs::remove_dir_all(rig.local.path().join("copy"));
    let get = with(route(rig, Way::Get, remote, name), extra);
    let (down, _) = moved(rig, &get, tree);
    (up, down)
}

#[test]
fn a_text_tree_moves_compressed_both_ways_and_raw_with_compress_off() {
    let rig = Rig::new(&[]);
    let tree = text_tree(&rig.local.path().join("logs"), 300);
    let size = tree.bytes();
    let (up, down) = both_ways(&rig, &tree, "packed", "logs", &["--compress", "on"]);
    assert!(up < size / 3, "{up} bytes up for a tree of {size}");
    assert!(down < size / 3, "{down} bytes down for a tree of {size}");

    let (up, down) = both_ways(&rig, &tree, "plain", "logs", &["--compress", "off"]);
    assert!(up > size && down > size, "{up} up, {down} down for {size}");
    // Framing and messages only: a few hundred bytes a file.
    let most = size + 600 * tree.files() as u64;
    assert!(up < most && down < most, "{up} up, {down} down for {size}");
}

#[test]
fn auto_compresses_a_text_tree_on_a_slow_link() {
    let rig = Rig::new(&[]);
    let tree = text_tree(&rig.local.path().join("logs"), 600);
    let size = tree.bytes();
    rig.proxy.throttle(1024 * 1024);
    let (up, down) = both_ways(&rig, &tree, "auto", "logs", &[]);
    assert!(up < size / 2, "{up} bytes up for a tree of {size}");
    assert!(down < size / 2, "{down} bytes down for a tree of {size}");
}

#[test]
fn a_tree_of_random_files_costs_no_more_than_its_size_and_framing() {
    let rig = Rig::new(&[]);
    let mut tree = Manifest::default();
    tree.small_files(&rig.local.path().join("noise"), "", 200);
    let size = tree.bytes();
    let mut wire = Vec::new();
    for mode in ["off", "auto", "on"] {
        let _ = std::fs::remove_dir_all(rig.local.path().join("copy"));
        let (up, down) = both_ways(&rig, &tree, mode, "noise", &["--compress", mode]);
        wire.push((mode, up, down));
    }
    let (_, off_up, off_down) = wire[0];
    // One marker byte a frame (a frame a file), a header per connection.
    let markers = tree.files() as u64 + 512;
    for (mode, up, down) in &wire {
        assert!(*up > size && *down > size, "{mode}: {wire:?} for {size}");
        assert!(*up <= off_up + markers, "{mode}: {wire:?}");
        assert!(*down <= off_down + markers, "{mode}: {wire:?}");
    }
}

#[test]
fn a_cut_in_the_middle_of_a_compressed_session_resumes_and_the_tree_verifies() {
    let rig = Rig::new(&[]);
    let tree = text_tree(&rig.local.path().join("logs"), 300);
    // Compressed, the tree is some 300 KB on the wire: each way, the first
    // connections (a listing, the session) are cut at 120 KB.
    for way in [Way::Send, Way::Get] {
        rig.proxy.cut_after(120_000, 2);
        let route = with(route(&rig, way, "cut", "logs"), &["--compress", "on"]);
        let (_, lines) = moved(&rig, &route, &tree);
        let retried = lines
            .iter()
            .filter(|l| json_u64(l, "attempts") >= 2)
            .count();
        assert!(retried > 0, "{way:?}: no file went on after a cut");
    }
}

#[test]
fn a_bad_frame_in_a_compressing_session_ends_it_as_a_protocol_error() {
    use std::time::Duration;
    use support::raw::{BINARY, RawWs, upgrade_request_offering};
    let rig = Rig::new(&[]);
    let addr = rig.server.addr();
    let asked = "Wsresume-Compress: zstd; mode=on\r\n";
    // (what, the frame after an eager put of 3 bytes)
    let cases: [(&str, Vec<u8>); 3] = [
        ("an unknown marker", vec![7, b'a', b'b', b'c']),
        ("an empty frame", vec![]),
        (
            "a compressed marker on bytes that are not zstd",
            vec![1, b'a', b'b', b'c'],
        ),
    ];
    for (what, frame) in cases {
        let request = upgrade_request_offering(addr, "/", "wsresume.v2, wsresume.v1", asked);
        let (mut ws, head) = RawWs::open(addr, &request);
        assert!(head.contains("wsresume.v2"), "{head}");
        ws.send_text(
            r#"{"type":"put","path":"/bad.txt","size":3,"chunk_size":65536,"source_id":"s","eager":true}"#,
        );
        ws.send_frame(BINARY, &frame);
        let (code, reason) = ws.read_close(Duration::from_secs(10)).unwrap();
        assert_eq!(code, 4400, "{what}: {reason}");
    }
    assert!(!rig.root.path().join("bad.txt").exists());
}
