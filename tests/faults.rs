//! Transfers through the `FaultProxy` that survive repeated connection cuts
//! and a half-open (stalled) connection, with bounded re-sent bytes.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{CHUNK, Rig, check_ok_report, client_args, random_file, run_ok_json, s, sha256_file};

const SIZE: u64 = 4 * 1024 * 1024 + 333;
const CUT_AFTER: u64 = 300_000;
const CUTS: u32 = 5;
/// Room for protocol messages and framing in the data direction.
const OVERHEAD: u64 = 64 * 1024;

fn server_file(rig: &Rig, name: &str) -> PathBuf {
    random_file(rig.root.path(), name, SIZE)
}

fn local_file(rig: &Rig, name: &str) -> PathBuf {
    random_file(rig.local.path(), name, SIZE)
}

fn check_same(src: &Path, dst: &Path, report: &serde_json::Value, op: &str) {
    let sha = sha256_file(src);
    assert_eq!(sha256_file(dst), sha, "{op}: content differs");
    check_ok_report(report, op, SIZE, &sha);
}

/// Every interruption happened (each forced a new connection), and the bytes
/// moved in the data direction stay within size + (interruptions + 1) ×
/// chunk (plus framing).
fn check_waste(rig: &Rig, op: &str, moved: u64, interruptions: u32) {
    assert!(
        rig.proxy.connections() > u64::from(interruptions),
        "the interruptions did not all happen"
    );
    eprintln!(
        "{op} through {interruptions} interruptions: {moved} bytes for {SIZE} ({} re-sent or overhead)",
        moved - SIZE
    );
    let bound = SIZE + (u64::from(interruptions) + 1) * CHUNK + OVERHEAD;
    assert!(moved <= bound, "re-sent too much: {moved} > {bound}");
}

#[test]
fn get_survives_repeated_cuts() {
    let rig = Rig::new(&[]);
    let src = server_file(&rig, "cut.bin");
    let dest = rig.local.path().join("cut.bin");
    rig.proxy.cut_after(CUT_AFTER, CUTS);
    let report = run_ok_json(&client_args(
        &["get", &rig.proxy.url("cut.bin"), s(&dest)],
        &[],
    ));
    check_same(&src, &dest, &report, "get");
    check_waste(&rig, "get", rig.proxy.down(), CUTS);
    rig.check_clean();
}

/// The second download of a file is served from the hash cache, with
/// `sendfile` and no reading thread; it resumes through cuts the same way.
#[test]
fn cached_get_survives_repeated_cuts() {
    let rig = Rig::new(&[]);
    let src = server_file(&rig, "warm.bin");
    let dest = rig.local.path().join("warm.bin");
    let url = rig.proxy.url("warm.bin");
    let args = client_args(&["get", &url, s(&dest)], &[]);
    check_same(&src, &dest, &run_ok_json(&args), "get");
    std::fs::remove_file(&dest).unwrap();
    let before = rig.proxy.down();
    rig.proxy.cut_after(CUT_AFTER, CUTS);
    let report = run_ok_json(&args);
    check_same(&src, &dest, &report, "get");
    assert!(report["attempts"].as_u64().unwrap() > 1, "{report}");
    check_waste(&rig, "cached get", rig.proxy.down() - before, CUTS);
    rig.check_clean();
}

#[test]
fn send_survives_repeated_cuts() {
    let rig = Rig::new(&[]);
    let src = local_file(&rig, "cut.bin");
    rig.proxy.cut_after(CUT_AFTER, CUTS);
    let url = rig.proxy.url("up/cut.bin");
    let report = run_ok_json(&client_args(&["send", s(&src), &url], &[]));
    check_same(&src, &rig.root.path().join("up/cut.bin"), &report, "send");
    check_waste(&rig, "send", rig.proxy.up(), CUTS);
    rig.check_clean();
}

#[test]
fn get_survives_a_stall() {
    let rig = Rig::new(&[]);
    let src = server_file(&rig, "stall.bin");
    let dest = rig.local.path().join("stall.bin");
    rig.proxy.stall_after(CUT_AFTER, 1);
    let start = Instant::now();
    let url = rig.proxy.url("stall.bin");
    let report = run_ok_json(&client_args(&["get", &url, s(&dest)], &["--timeout", "2"]));
    check_same(&src, &dest, &report, "get");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "stall recovery too slow"
    );
    check_waste(&rig, "get", rig.proxy.down(), 1);
    rig.check_clean();
}

/// The stalled upload stays half-open at the server; the reconnecting client
/// must take over its own upload (not be refused as a second writer).
#[test]
fn send_survives_a_stall() {
    let rig = Rig::new(&[]);
    let src = local_file(&rig, "stall.bin");
    rig.proxy.stall_after(CUT_AFTER, 1);
    let start = Instant::now();
    let url = rig.proxy.url("stall.bin");
    let report = run_ok_json(&client_args(&["send", s(&src), &url], &["--timeout", "2"]));
    check_same(&src, &rig.root.path().join("stall.bin"), &report, "send");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "stall recovery too slow"
    );
    check_waste(&rig, "send", rig.proxy.up(), 1);
    rig.check_clean();
}

/// A bit flipped inside file data, well into the stream (past the upgrade
/// and the first message, inside the second 64 KiB data frame).
const CORRUPT_AT: u64 = 100_000;

/// Bytes flipped on the wire are caught by the chunk check, the connection
/// is dropped, and the retry fetches that chunk again: the result is exact.
/// The proxy throttles so that what is in flight when the receiver drops the
/// connection stays small (a receiver cannot stop bytes already sent).
#[test]
fn get_repairs_corruption_on_the_wire() {
    let rig = Rig::new(&[]);
    let src = server_file(&rig, "flip.bin");
    let dest = rig.local.path().join("flip.bin");
    rig.proxy.corrupt_at(support::Dir::Down, CORRUPT_AT, 2);
    rig.proxy.throttle(2 << 20);
    let report = run_ok_json(&client_args(
        &["get", &rig.proxy.url("flip.bin"), s(&dest)],
        &[],
    ));
    check_same(&src, &dest, &report, "get");
    assert_eq!(
        report["attempts"], 3,
        "each corruption costs one attempt: {report}"
    );
    check_corruption_waste(rig.proxy.down());
    rig.check_clean();
}

#[test]
fn send_repairs_corruption_on_the_wire() {
    let rig = Rig::new(&[]);
    let src = local_file(&rig, "flip.bin");
    rig.proxy.corrupt_at(support::Dir::Up, CORRUPT_AT, 2);
    rig.proxy.throttle(2 << 20);
    let url = rig.proxy.url("flip.bin");
    let report = run_ok_json(&client_args(&["send", s(&src), &url], &[]));
    check_same(&src, &rig.root.path().join("flip.bin"), &report, "send");
    assert_eq!(
        report["attempts"], 3,
        "each corruption costs one attempt: {report}"
    );
    check_corruption_waste(rig.proxy.up());
    rig.check_clean();
}

/// Each corruption costs the bad chunk (sent whole before its check fails)
/// plus what was in flight when the receiver dropped the connection (under
/// one chunk at this rate): two chunks per corruption.
fn check_corruption_waste(moved: u64) {
    let bound = SIZE + 2 * 2 * CHUNK + OVERHEAD;
    eprintln!("2 corruptions: {moved} bytes for {SIZE}");
    assert!(moved <= bound, "re-sent too much: {moved} > {bound}");
}

/// Without retries, corruption is exit 9 and the verified partial is kept.
#[test]
fn corruption_without_retries_exits_9() {
    let rig = Rig::new(&[]);
    server_file(&rig, "flip.bin");
    let dest = rig.local.path().join("flip.bin");
    rig.proxy.corrupt_at(support::Dir::Down, CORRUPT_AT, 1);
    let out = support::run_expect_code(
        &client_args(
            &["get", &rig.proxy.url("flip.bin"), s(&dest)],
            &["--retries", "0", "-q"],
        ),
        9,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("integrity"));
    assert!(!dest.exists());
    support::assert_has_leftovers(rig.local.path());
}
