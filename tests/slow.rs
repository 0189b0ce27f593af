//! Slowness is not failure (contract guarantee 7): downloads and uploads over
//! a slow but working link, or under `--limit-rate`, finish in ONE attempt
//! with the default chunk size and time-outs, and the exit code, the `--json`
//! line and the file on disk agree.
//!
//! The slow link is the `FaultProxy` throttling each direction; its buffers
//! and the kernel's hold seconds of data that the receiver has not read yet
//! when the sender is done, which is what a fixed grace period at the end of
//! a transfer cannot outlast.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::Path;

use support::{Rig, check_ok_report, json_u64, random_file, run_ok_json, s, sha256_file};

const KIB: u64 = 1024;

/// Checks one successful, single-attempt transfer of `src` to `dst`.
fn check_one_attempt(report: &serde_json::Value, op: &str, src: &Path, dst: &Path) {
    let size = std::fs::metadata(src).unwrap().len();
    let sha = sha256_file(src);
    assert_eq!(sha256_file(dst), sha, "{op}: content differs");
    check_ok_report(report, op, size, &sha);
    assert_eq!(json_u64(report, "attempts"), 1, "{op}: {report}");
    assert_eq!(json_u64(report, "transferred"), size, "{op}: {report}");
}

/// `get` of `size` bytes through the proxy throttled to `rate` bytes/s.
fn get_through_throttle(rate: u64, size: u64) {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "slow.bin", size);
    let dest = rig.local.path().join("slow.bin");
    rig.proxy.throttle(rate);
    let report = run_ok_json(&["get", &rig.proxy.url("slow.bin"), s(&dest)]);
    check_one_attempt(&report, "get", &src, &dest);
    assert_eq!(rig.proxy.connections(), 1);
    rig.check_clean();
}

/// `send` of `size` bytes through the proxy throttled to `rate` bytes/s.
fn send_through_throttle(rate: u64, size: u64) {
    let rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "slow.bin", size);
    rig.proxy.throttle(rate);
    let report = run_ok_json(&["send", s(&src), &rig.proxy.url("slow.bin")]);
    check_one_attempt(&report, "send", &src, &rig.root.path().join("slow.bin"));
    assert_eq!(rig.proxy.connections(), 1);
    rig.check_clean();
}

#[test]
fn get_at_48_kb_per_s_takes_one_attempt() {
    get_through_throttle(48_000, 1024 * KIB + 333);
}

#[test]
fn get_at_150_kb_per_s_takes_one_attempt() {
    get_through_throttle(150_000, 3 * 1024 * KIB);
}

#[test]
fn send_at_48_kb_per_s_takes_one_attempt() {
    send_through_throttle(48_000, 1024 * KIB + 333);
}

#[test]
fn send_at_150_kb_per_s_takes_one_attempt() {
    send_through_throttle(150_000, 3 * 1024 * KIB);
}

/// `get --limit-rate RATE` of `size` bytes, straight to the server.
fn get_limited(rate: &str, size: u64) {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "limited.bin", size);
    let dest = rig.local.path().join("limited.bin");
    let url = format!("ws://{}/limited.bin", rig.server.addr());
    let report = run_ok_json(&["get", &url, s(&dest), "--limit-rate", rate]);
    check_one_attempt(&report, "get", &src, &dest);
    rig.check_clean();
}

#[test]
fn get_limited_to_100k_takes_one_attempt() {
    get_limited("100K", 1024 * KIB);
}

#[test]
fn get_limited_to_200k_takes_one_attempt() {
    get_limited("200K", 3 * 1024 * KIB);
}

#[test]
fn send_limited_to_200k_takes_one_attempt() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "limited.bin", 3 * 1024 * KIB);
    let url = format!("ws://{}/limited.bin", rig.server.addr());
    let report = run_ok_json(&["send", s(&src), &url, "--limit-rate", "200K"]);
    check_one_attempt(&report, "send", &src, &rig.root.path().join("limited.bin"));
    rig.check_clean();
}

/// With 1 MiB chunks at 48 KB/s an ack comes every 22 s, and the client's
/// own pings wait behind its data: only the server's pings tell a client
/// with `--timeout 10` that the link works.
#[test]
fn send_at_48_kb_per_s_outlives_a_short_timeout() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "slow.bin", 1024 * KIB + 333);
    rig.proxy.throttle(48_000);
    let url = rig.proxy.url("slow.bin");
    let report = run_ok_json(&["send", s(&src), &url, "--timeout", "10"]);
    check_one_attempt(&report, "send", &src, &rig.root.path().join("slow.bin"));
    assert_eq!(rig.proxy.connections(), 1);
    rig.check_clean();
}
