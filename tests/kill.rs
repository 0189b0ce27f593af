//! The unrecorded window: a fast `get` on loopback, straight from the
//! server (no proxy, no throttle), SIGKILLed 100–150 ms after each run's
//! first write. Every run must record progress (the state's verified
//! chunks grow), what it wrote but did not record must stay within the
//! byte bound (16 MiB, plus the chunk being written and one more), and the
//! last, unkilled run must resume from what the state recorded, more than
//! half of the file, and finish with its SHA-256. Bounded by time only, a
//! fast run writes tens of MiB between records.
//!
//! The kill is timed from the first write rather than from the start: a
//! run first re-verifies the partial a SIGKILL left touched, which takes
//! longer as it grows, and the window under test is the one while data flows.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rand::RngExt;
use support::{Proc, Server, check_ok_report, part_path, run_ok_json, s, sha256_file, wait_until};

const SIZE: u64 = 256 << 20;
const CHUNK: u64 = 1 << 20;
/// Written but not recorded at a kill, at most: `MAX_UNRECORDED_BYTES`
/// verified, the chunk that went over it, and the chunk being written.
const UNRECORDED: u64 = (16 << 20) + 2 * CHUNK;
/// Killed runs before the test gives up on reaching half of the file.
const MAX_KILLS: u32 = 40;
const WAIT: Duration = Duration::from_secs(30);

fn state_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap().to_os_string();
    name.push(".wsresume-state");
    dest.with_file_name(name)
}

/// Bytes the state file records as verified (0 without one).
fn recorded(dest: &Path) -> u64 {
    let Ok(text) = fs::read_to_string(state_path(dest)) else {
        return 0;
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(state["chunk_size"].as_u64(), Some(CHUNK), "{state}");
    state["verified_chunks"].as_u64().unwrap() * CHUNK
}

/// The part file's length and mtime, if it is there.
fn part_stamp(dest: &Path) -> Option<(u64, SystemTime)> {
    let meta = fs::metadata(part_path(dest)).ok()?;
    Some((meta.len(), meta.modified().unwrap()))
}

/// Start a `get` and SIGKILL it 100–150 ms after it first wrote data (the
/// part file's length or mtime moved); returns the delay used.
fn killed_get(url: &str, dest: &Path) -> Duration {
    let before = part_stamp(dest);
    let mut client = Proc::wsresume(&["get", url, s(dest), "-q", "--retry-max-delay", "1"]);
    let writing = wait_until(WAIT, || {
        let now = part_stamp(dest);
        client.try_status().is_some() || (now != before && now.is_some_and(|(len, _)| len > 0))
    });
    let delay = Duration::from_millis(rand::rng().random_range(100..=150));
    let start = Instant::now();
    while client.try_status().is_none() && start.elapsed() < delay {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        writing && client.try_status().is_none(),
        "the client never wrote or exited early ({:?}): {}",
        client.try_status(),
        client.stderr_text()
    );
    client.kill();
    delay
}

#[test]
fn every_run_killed_within_150ms_of_writing_records_progress() {
    let root = tempfile::TempDir::new().unwrap();
    let local = tempfile::TempDir::new().unwrap();
    let src = root.path().join("big.bin");
    // Sparse: quick to make, and as fast to serve as any file.
    fs::File::create(&src).unwrap().set_len(SIZE).unwrap();
    let server = Server::start(root.path(), &[]);
    let url = server.url("big.bin");
    let dest = local.path().join("big.bin");

    let mut kills = 0;
    let mut last = 0;
    while last <= SIZE / 2 {
        assert!(kills < MAX_KILLS, "{kills} kills reached only {last} bytes");
        let delay = killed_get(&url, &dest);
        kills += 1;
        let now = recorded(&dest);
        let written = part_stamp(&dest).map_or(0, |(len, _)| len);
        eprintln!(
            "run {kills}: killed {delay:?} after its first write, {written} bytes written, {now} recorded"
        );
        assert!(
            now > last,
            "run {kills}, killed {delay:?} after its first write, recorded nothing new \
             (still {last} of {SIZE} bytes; {written} written)"
        );
        assert!(
            written <= now + UNRECORDED,
            "run {kills}, killed {delay:?} after its first write: {written} bytes written, \
             only {now} recorded"
        );
        last = now;
    }

    let report = run_ok_json(&["get", &url, s(&dest)]);
    check_ok_report(&report, "get", SIZE, &sha256_file(&src));
    assert_eq!(report["resumed_from"].as_u64(), Some(last), "{report}");
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    support::assert_no_leftovers(&[local.path()]);
}
