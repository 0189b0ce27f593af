//! Compressed data frames (`--compress`, PROTOCOL.md section 2.1), counted
//! on the wire by the test proxy: a text file crosses a slow link in far
//! fewer bytes than its size, random data in no more than its size plus
//! framing, a cut in the middle of compressed frames resumes and verifies,
//! and peers that do not compress (`--compress off`, a raw client that
//! sends no header) get raw frames as ever. (Trees, whose small files
//! move in sessions: tests/compress_tree.rs.)
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use wsresume_testkit as support;

use support::raw::{RawWs, upgrade_request, upgrade_request_offering};
use support::slowlink::SlowLink;
use support::{
    Rig, check_ok_report, client_args, json_u64, random_file, run_ok_json, s, sha256_file,
};

/// The test proxy's rate: slow enough that compressing pays.
const RATE: u64 = 8 * 1024 * 1024;
const TEXT_SIZE: u64 = 40 * 1024 * 1024;

/// A log file of `len` bytes: lines that repeat in form, not in content.
fn text_file(dir: &Path, name: &str, len: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, support::log_text(7, len as usize)).unwrap();
    path
}

fn get(url: &str, dest: &Path, extra: &[&str]) -> serde_json::Value {
    run_ok_json(&client_args(&["get", url, s(dest)], extra))
}

fn send(src: &Path, url: &str, extra: &[&str]) -> serde_json::Value {
    run_ok_json(&client_args(&["send", s(src), url], extra))
}

#[test]
fn a_text_file_crosses_a_slow_link_in_far_fewer_bytes_both_ways() {
    let rig = Rig::new(&["-vv"]);
    let src = text_file(rig.root.path(), "app.log", TEXT_SIZE);
    let sha = sha256_file(&src);
    let link = SlowLink::new(rig.server.addr(), RATE);
    let dest = rig.local.path().join("app.log");
    let report = get(&link.url("app.log"), &dest, &[]);
    check_ok_report(&report, "get", TEXT_SIZE, &sha);
    assert_eq!(json_u64(&report, "transferred"), TEXT_SIZE, "file bytes");
    let down = link.down();
    let log = rig.server.stderr_text();
    assert!(
        down < TEXT_SIZE / 2,
        "{down} bytes down for {TEXT_SIZE}: {log}"
    );

    link.reset_counters();
    let out = support::wsresume()
        .env("WSRESUME_LOG", "wsresume=debug")
        .args(client_args(
            &["send", s(&dest), &link.url("back.log")],
            &["--json", "-q"],
        ))
        .assert()
        .success();
    let out = out.get_output();
    check_ok_report(&support::json_one(&out.stdout), "send", TEXT_SIZE, &sha);
    let up = link.up();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(up < TEXT_SIZE / 2, "{up} bytes up for {TEXT_SIZE}: {log}");
    assert_eq!(sha256_file(&rig.root.path().join("back.log")), sha);
    rig.check_clean();
}

#[test]
fn random_data_costs_no_more_than_its_size_and_framing() {
    const SIZE: u64 = 12 * 1024 * 1024 + 77;
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "noise.bin", SIZE);
    let sha = sha256_file(&src);
    let link = SlowLink::new(rig.server.addr(), RATE);
    // The same transfers with compression off, then `auto` and `on`.
    let mut wire = Vec::new();
    for mode in ["off", "auto", "on"] {
        link.reset_counters();
        let dest = rig.local.path().join(format!("noise-{mode}.bin"));
        let report = get(&link.url("noise.bin"), &dest, &["--compress", mode]);
        check_ok_report(&report, "get", SIZE, &sha);
        let down = link.down();
        link.reset_counters();
        let target = format!("up-{mode}.bin");
        let report = send(&src, &link.url(&target), &["--compress", mode]);
        check_ok_report(&report, "send", SIZE, &sha);
        wire.push((mode, down, link.up()));
    }
    // One marker byte per data frame (64 KiB chunks: frames of 64 KiB).
    let markers = SIZE / (64 * 1024) + 1;
    let (_, off_down, off_up) = wire[0];
    for (mode, down, up) in &wire {
        assert!(down <= &(off_down + markers + 512), "{mode}: {wire:?}");
        assert!(up <= &(off_up + markers + 512), "{mode}: {wire:?}");
        assert!(*down > SIZE && *up > SIZE, "{mode}: {wire:?}");
    }
    rig.check_clean();
}

#[test]
fn a_cut_in_the_middle_of_compressed_frames_resumes_and_verifies() {
    let rig = Rig::new(&[]);
    let src = text_file(rig.root.path(), "cut.log", TEXT_SIZE);
    let sha = sha256_file(&src);
    rig.proxy.throttle(RATE);
    for mode in ["on", "auto"] {
        rig.proxy.cut_after(1024 * 1024 + 13, 2);
        let dest = rig.local.path().join(format!("cut-{mode}.log"));
        let report = get(&rig.proxy.url("cut.log"), &dest, &["--compress", mode]);
        check_ok_report(&report, "get", TEXT_SIZE, &sha);
        assert!(json_u64(&report, "attempts") >= 2, "{report}");

        rig.proxy.cut_after(1024 * 1024 + 13, 2);
        let target = format!("up-{mode}.log");
        let report = send(&src, &rig.proxy.url(&target), &["--compress", mode]);
        check_ok_report(&report, "send", TEXT_SIZE, &sha);
        assert!(json_u64(&report, "attempts") >= 2, "{report}");
        assert_eq!(sha256_file(&rig.root.path().join(&target)), sha);
    }
    rig.check_clean();
}

#[test]
fn peers_that_do_not_compress_get_raw_frames() {
    let rig = Rig::new(&[]);
    let src = text_file(rig.root.path(), "plain.log", 3 * 1024 * 1024);
    let sha = sha256_file(&src);
    let size = 3 * 1024 * 1024;
    // A client with --compress off (and from the environment): no header,
    // raw frames, the bytes on the wire at least the file's.
    let dest = rig.local.path().join("plain.log");
    let report = get(&rig.proxy.url("plain.log"), &dest, &["--compress", "off"]);
    check_ok_report(&report, "get", size, &sha);
    assert!(rig.proxy.down() > size);
    rig.proxy.reset_counters();
    let report = support::wsresume()
        .env("WSRESUME_COMPRESS", "off")
        .args(client_args(
            &["send", s(&src), &rig.proxy.url("again.log")],
            &["--json", "-q"],
        ))
        .assert()
        .success();
    let report = support::json_one(&report.get_output().stdout);
    check_ok_report(&report, "send", size, &sha);
    assert!(rig.proxy.up() > size);

    // What an old client sees: no header asked, none answered, raw data.
    let addr = rig.server.addr();
    let (mut ws, head) = RawWs::open(addr, &upgrade_request(addr, "/", ""));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("wsresume-compress"),
        "{head}"
    );
    ws.send_text(r#"{"type":"get","path":"/plain.log","chunk_size":65536}"#);
    let offer = ws.read_text(Duration::from_secs(10)).unwrap();
    assert!(offer.contains("offer"), "{offer}");
    let (opcode, data) = ws.read_frame(Duration::from_secs(10)).unwrap();
    let file = std::fs::read(&src).unwrap();
    assert_eq!(
        (opcode, &data[..]),
        (support::raw::BINARY, &file[..data.len()])
    );

    // A client that asks is answered, and its frames carry the marker.
    let asked = "Wsresume-Compress: zstd; mode=on\r\n";
    let (mut ws, head) = RawWs::open(addr, &upgrade_request(addr, "/", asked));
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("wsresume-compress: zstd"), "{head}");
    ws.send_text(r#"{"type":"get","path":"/plain.log","chunk_size":65536}"#);
    ws.read_text(Duration::from_secs(10)).unwrap();
    let (_, data) = ws.read_frame(Duration::from_secs(10)).unwrap();
    assert_eq!(data[0], 1, "a zstd frame");
    assert!(data.len() < 65536 / 2, "{}", data.len());

    // A session is answered too, and the frames of its small files (packed
    // by the session) and large ones (by their reading thread) carry the
    // marker; a session that does not ask gets raw frames.
    let small = text_file(rig.root.path(), "small.log", 20_000);
    let small = std::fs::read(small).unwrap();
    for (asked, marker) in [(asked, Some(1)), ("", None)] {
        let request = upgrade_request_offering(addr, "/", "wsresume.v2, wsresume.v1", asked);
        let (mut ws, head) = RawWs::open(addr, &request);
        assert!(head.contains("wsresume.v2"), "{head}");
        let lower = head.to_ascii_lowercase();
        assert_eq!(lower.contains("wsresume-compress: zstd"), marker.is_some());
        ws.send_text(r#"{"type":"get","path":"/small.log","chunk_size":65536}"#);
        ws.send_text(r#"{"type":"get","path":"/plain.log","chunk_size":65536}"#);
        for (name, content) in [("small", &small), ("plain", &file)] {
            let offer = ws.read_text(Duration::from_secs(10)).unwrap();
            assert!(offer.contains("offer"), "{name}: {offer}");
            let (_, data) = ws.read_frame(Duration::from_secs(10)).unwrap();
            match marker {
                Some(marker) => {
                    assert_eq!(data[0], marker, "{name}: a zstd frame");
                    assert!(data.len() < content.len().min(65536) / 2, "{name}");
                }
                None => assert_eq!(&data[..], &content[..data.len()], "{name}"),
            }
            if name == "small" {
                let eof = ws.read_text(Duration::from_secs(10)).unwrap();
                assert!(eof.contains("eof"), "{eof}");
            }
        }
    }
    rig.check_clean();
}

#[test]
fn a_frame_that_inflates_past_a_data_frame_is_refused() {
    let rig = Rig::new(&[]);
    let addr = rig.server.addr();
    let asked = "Wsresume-Compress: zstd\r\n";
    let (mut ws, head) = RawWs::open(addr, &upgrade_request(addr, "/", asked));
    assert!(
        head.to_ascii_lowercase().contains("wsresume-compress"),
        "{head}"
    );
    let size = 1024 * 1024;
    ws.send_text(&format!(
        r#"{{"type":"put","path":"/bomb.bin","size":{size},"chunk_size":{size},"source_id":"b"}}"#
    ));
    let accept = ws.read_text(Duration::from_secs(10)).unwrap();
    assert!(accept.contains("accept"), "{accept}");
    // 1 MiB of zeros in one small zstd frame: more than a data frame.
    let mut frame = vec![1u8];
    frame.extend(zstd_frame_of_zeros(size));
    ws.send_frame(support::raw::BINARY, &frame);
    let (code, reason) = ws.read_close(Duration::from_secs(10)).unwrap();
    assert_eq!(code, 4400, "{reason}");
    assert!(reason.contains("compressed"), "{reason}");
    // Nothing inflated reached the disk: no target, and an empty partial.
    assert!(!rig.root.path().join("bomb.bin").exists());
    let part = support::part_path(&rig.root.path().join("bomb.bin"));
    let written = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert_eq!(written, 0, "{} holds inflated bytes", part.display());
}

/// A zstd frame of `len` zeros, made by hand so the tests need no codec:
/// one RLE block per 128 KiB (RFC 8878 section 3.1.1).
fn zstd_frame_of_zeros(len: usize) -> Vec<u8> {
    let mut out = vec![0x28, 0xB5, 0x2F, 0xFD];
    // Frame header: single segment, 4-byte content size.
    out.push(0b1010_0000);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    let block = 128 * 1024;
    let mut left = len;
    while left > 0 {
        let n = left.min(block);
        left -= n;
        let last = u32::from(left == 0);
        // Block header: last flag, type 1 (RLE), size; then the byte.
        let header = last | (1 << 1) | ((n as u32) << 3);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.push(0);
    }
    out
}

#[test]
fn the_mode_comes_from_flag_env_or_default_and_a_bad_one_is_a_usage_error() {
    let mode = |env: Option<&str>, args: &[&str]| {
        let mut cmd = support::wsresume();
        if let Some(value) = env {
            cmd.env("WSRESUME_COMPRESS", value);
        }
        let out = cmd.args(["config", "--json"]).args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let row = support::json_one(&out.stdout)["settings"]["compress"].clone();
        (row["value"].clone(), row["source"].clone())
    };
    assert_eq!(mode(None, &[]).0, "auto");
    assert_eq!(
        mode(Some("on"), &[]),
        ("on".into(), "env WSRESUME_COMPRESS".into())
    );
    assert_eq!(mode(Some("on"), &["--compress", "off"]).0, "off");
    let out = support::wsresume()
        .args(["config", "--compress", "yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("yes"),
        "{out:?}"
    );
}
