//! Transfers with `serve --store s3://BUCKET/PREFIX` against a real
//! S3-compatible server (moto, started once for this test binary; a bucket
//! per test), with two instances on one bucket (`support::s3rig`), as
//! issue 12 lists: round trips of every size around a part, both ways; an
//! upload cut on one instance (or the instance killed) that the other
//! continues, sending at most one part again; two clients racing for one
//! target; an object replaced between two runs of a download or during
//! one; the hash cache shared through the bucket; an upload's memory
//! bounded whatever the file's size, a large part spooled to a temporary
//! file that a cut leaves nowhere. Listings, expiry, errors at start and
//! a load balancer are in `tests/s3_service.rs`.
//!
//! What the bucket holds is read directly from moto, as another tool
//! would: the object's bytes, the upload records under
//! `PREFIX/.wsresume/uploads/` (PROTOCOL.md, section 14) and the multipart
//! uploads in progress (ListMultipartUploads).
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::fs;
use std::path::Path;

use support::s3rig::{
    PART, WAIT, exit_code, get, pair, pair_with_env, send, sha256_of, slow_proxy, spawn_get,
};
use support::{
    FaultProxy, RUN_TIMEOUT, Server, check_ok_report, json_one, json_u64, sha256_file, wait_until,
};

/// Protocol bytes (upgrade, requests, frame headers, chaining values) a
/// transfer of a few parts sends besides the file's bytes, at most.
const OVERHEAD: u64 = 256 << 10;

// ---------------------------------------------------------------------

#[test]
fn round_trips_of_every_size_around_a_part_through_either_instance() {
    let Some(pair) = pair("round-trips", &[]) else {
        return;
    };
    for size in [0, 1, PART - 1, PART, PART + 1, 3 * PART + 5] {
        let (src, sha) = pair.file(&format!("src-{size}"), size);
        let rel = format!("sizes/{size}.bin");
        check_ok_report(&send(&src, &pair.a.url(&rel)), "send", size, &sha);
        assert_eq!(
            pair.object_sha(&rel),
            Some(sha.clone()),
            "object of {size} B"
        );
        let dest = pair.local.path().join(format!("back-{size}"));
        check_ok_report(&get(&pair.b.url(&rel), &dest), "get", size, &sha);
        assert_eq!(sha256_file(&dest), sha, "{size} B back");
    }
    // An object another tool put is served too.
    let data = support::random_bytes((PART + 3) as usize);
    pair.bucket.put(&pair.key("other/tool.bin"), &data);
    let dest = pair.local.path().join("tool.bin");
    let report = get(&pair.a.url("other/tool.bin"), &dest);
    check_ok_report(&report, "get", data.len() as u64, &sha256_of(&data));
    assert_eq!(fs::read(&dest).unwrap(), data);
    pair.assert_no_upload_state();
    support::assert_no_leftovers(&[pair.local.path()]);
}

/// An upload through a proxy to A, cut (or A killed) once the bucket
/// records two of its four parts; the proxy sends the reconnection to B,
/// which must finish it, sending at most one part again (starting again
/// from zero would send two).
fn upload_moves_to_b(kill_a: bool) {
    let Some(mut pair) = pair(if kill_a { "killed" } else { "cut" }, &[]) else {
        return;
    };
    let size = 3 * PART + 1234;
    let (src, sha) = pair.file("moving.bin", size);
    let proxy = slow_proxy(&pair.a);
    let mut client = pair.spawn_send(&src, &proxy.url("up/moving.bin"));
    // Only new connections go to B: the running one stays on A.
    wait_until(WAIT, || proxy.connections() >= 1);
    proxy.set_upstream(pair.b.addr());
    pair.wait_for_parts(&mut client, 2);
    if kill_a {
        pair.a.kill();
    } else {
        assert_eq!(proxy.cut_now(), 1, "one connection to cut");
    }
    client.expect_success(RUN_TIMEOUT);
    let report = json_one(&client.stdout());
    check_ok_report(&report, "send", size, &sha);
    assert!(json_u64(&report, "attempts") >= 2, "{report}");
    assert_eq!(proxy.connections(), 2, "one reconnection, to B");
    let sent = proxy.up();
    eprintln!("{size} B uploaded across two instances with {sent} B through the proxy");
    assert!(
        sent <= size + PART + OVERHEAD,
        "{sent} B through the proxy for {size} B and one cut: more than one part again"
    );
    assert_eq!(pair.object_sha("up/moving.bin"), Some(sha.clone()));
    pair.assert_no_upload_state();
    let dest = pair.local.path().join("moved.bin");
    if kill_a {
        pair.a.restart();
    }
    check_ok_report(&get(&pair.a.url("up/moving.bin"), &dest), "get", size, &sha);
    assert_eq!(sha256_file(&dest), sha);
}

#[test]
fn an_upload_cut_on_one_instance_resumes_on_the_other() {
    upload_moves_to_b(false);
}

#[test]
fn an_upload_whose_instance_is_killed_continues_on_the_other() {
    upload_moves_to_b(true);
}

#[test]
fn two_clients_racing_for_one_target_through_two_instances() {
    let Some(pair) = pair("race", &[]) else {
        return;
    };
    let size = 2 * PART + 100;
    let (one, one_sha) = pair.file("one.bin", size);
    let (two, two_sha) = pair.file("two.bin", size);
    let (to_a, to_b) = (slow_proxy(&pair.a), slow_proxy(&pair.b));
    let mut first = pair.spawn_send(&one, &to_a.url("race.bin"));
    let mut second = pair.spawn_send(&two, &to_b.url("race.bin"));
    let codes = [exit_code(&mut first), exit_code(&mut second)];
    let errors = format!("{}\n{}", first.stderr_text(), second.stderr_text());
    let winner = match codes {
        [0, 8] => one_sha,
        [8, 0] => two_sha,
        _ => panic!("exit codes {codes:?}, not one refused:\n{errors}"),
    };
    let refused = if codes[0] == 8 { &first } else { &second };
    eprintln!(
        "refused: {}",
        String::from_utf8_lossy(&refused.stdout()).trim()
    );
    assert_eq!(
        pair.object_sha("race.bin"),
        Some(winner),
        "not the winner's file"
    );
    pair.assert_no_upload_state();
}

/// How many times a server's log says `what` (with `-v`).
fn logged(server: &Server, what: &str) -> usize {
    server.stderr_text().matches(what).count()
}

#[test]
fn a_second_download_through_the_other_instance_is_not_hashed_again() {
    const FROM_CACHE: &str = "chaining values from the hash cache";
    const HASHING: &str = "hashing while sending";
    let Some(pair) = pair("hash-cache", &["-v"]) else {
        return;
    };
    let data = support::random_bytes((2 * PART + 99) as usize);
    pair.bucket.put(&pair.key("cached.bin"), &data);
    let dest = pair.local.path().join("cached.bin");
    let hashes = pair.key(".wsresume/hashes/");
    check_ok_report(
        &get(&pair.a.url("cached.bin"), &dest),
        "get",
        data.len() as u64,
        &sha256_of(&data),
    );
    assert_eq!(logged(&pair.a, HASHING), 1, "{}", pair.a.stderr_text());
    let stored = wait_until(WAIT, || !pair.bucket.keys(&hashes).is_empty());
    assert!(stored, "no hash cache entry in the bucket");

    fs::remove_file(&dest).unwrap();
    get(&pair.b.url("cached.bin"), &dest);
    assert_eq!(fs::read(&dest).unwrap(), data);
    assert_eq!(logged(&pair.b, FROM_CACHE), 1, "{}", pair.b.stderr_text());
    assert_eq!(logged(&pair.b, HASHING), 0);

    // A new version never meets the old entry.
    let new = support::random_bytes(data.len());
    pair.bucket.put(&pair.key("cached.bin"), &new);
    fs::remove_file(&dest).unwrap();
    check_ok_report(
        &get(&pair.b.url("cached.bin"), &dest),
        "get",
        new.len() as u64,
        &sha256_of(&new),
    );
    assert_eq!(logged(&pair.b, HASHING), 1, "{}", pair.b.stderr_text());
}

/// The client's recorded progress of a download to `dest`.
fn verified_bytes(dest: &Path) -> u64 {
    let mut name = dest.file_name().unwrap().to_os_string();
    name.push(".wsresume-state");
    let Ok(text) = fs::read_to_string(dest.with_file_name(name)) else {
        return 0;
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    json_u64(&state, "verified_chunks") * json_u64(&state, "chunk_size")
}

#[test]
fn an_object_replaced_between_two_runs_of_a_download_restarts_it() {
    let Some(pair) = pair("replaced", &[]) else {
        return;
    };
    let size = 3 * PART;
    let old = support::random_bytes(size as usize);
    pair.bucket.put(&pair.key("changing.bin"), &old);
    let dest = pair.local.path().join("changing.bin");
    let proxy = slow_proxy(&pair.a);
    let mut client = spawn_get(&proxy.url("changing.bin"), &dest);
    let ok = wait_until(WAIT, || {
        client.try_status().is_some() || verified_bytes(&dest) >= 2 << 20
    });
    assert!(
        ok && client.try_status().is_none(),
        "{}",
        client.stderr_text()
    );
    client.kill();

    let new = support::random_bytes(size as usize);
    pair.bucket.put(&pair.key("changing.bin"), &new);
    let report = get(&pair.b.url("changing.bin"), &dest);
    check_ok_report(&report, "get", size, &sha256_of(&new));
    assert_eq!(json_u64(&report, "resumed_from"), 0, "{report}");
    assert!(fs::read(&dest).unwrap() == new, "not the new object");
    support::assert_no_leftovers(&[pair.local.path()]);
}

/// Bytes of a download that may be on their way when the test replaces
/// the object: the client's 1 MiB and what comes at `CRAWL` while the
/// object is replaced, the server's block and the one read ahead (8 MiB
/// each), and socket buffers (about 10 MiB on loopback).
const IN_FLIGHT: u64 = 28 << 20;
/// Per direction, until the object is replaced.
const CRAWL: u64 = 1 << 20;

#[test]
fn an_object_replaced_during_a_download_is_never_mixed() {
    let Some(pair) = pair("replaced-live", &[]) else {
        return;
    };
    // Larger than what can be read before the change: the rest of the
    // old object can no longer be read, and the download starts again.
    let size = IN_FLIGHT + 4 * PART;
    let old = support::random_bytes(size as usize);
    let new = support::random_bytes(size as usize);
    pair.bucket.put(&pair.key("live.bin"), &old);
    let dest = pair.local.path().join("live.bin");
    let proxy = FaultProxy::new(pair.a.addr());
    proxy.throttle(CRAWL);
    let mut client = spawn_get(&proxy.url("live.bin"), &dest);
    let started = wait_until(WAIT, || {
        client.try_status().is_some() || verified_bytes(&dest) >= 1 << 20
    });
    assert!(
        started && client.try_status().is_none(),
        "{}",
        client.stderr_text()
    );
    pair.bucket.put(&pair.key("live.bin"), &new);
    proxy.throttle(0);
    client.expect_success(RUN_TIMEOUT);
    let got = fs::read(&dest).unwrap();
    assert!(
        got != old,
        "the old object, though it changed before it was read"
    );
    assert!(got == new, "a mix of the old and the new object");
    assert!(proxy.connections() >= 2, "no new attempt");
}

/// A process's peak resident memory (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap();
    kib << 10
}

/// What an instance may use for an upload, at most, besides what it used
/// before: a part (buffered in memory) and the machinery around it,
/// whatever the file's size.
const UPLOAD_MEMORY: u64 = 6 * PART;

#[test]
fn an_uploads_memory_does_not_grow_with_the_file_size() {
    let Some(pair) = pair("memory", &[]) else {
        return;
    };
    let rss = || peak_rss(pair.a.pid());
    let before = rss();
    let size = 13 * PART + 1;
    let (src, sha) = pair.file("memory.bin", size);
    check_ok_report(&send(&src, &pair.a.url("memory.bin")), "send", size, &sha);
    let grown = rss().saturating_sub(before);
    eprintln!(
        "an upload of {} MiB raised the peak RSS by {} MiB",
        size >> 20,
        grown >> 20
    );
    assert!(
        grown < UPLOAD_MEMORY,
        "an upload of {size} B raised the peak RSS by {grown} B"
    );
}

/// Whether `pid` has a file under `dir` open or mapped.
fn holds_files_in(pid: u32, dir: &Path) -> bool {
    let dir = dir.to_string_lossy();
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    let mut open = fds.filter_map(|fd| fs::read_link(fd.ok()?.path()).ok());
    maps.contains(&*dir) || open.any(|target| target.to_string_lossy().contains(&*dir))
}

#[test]
fn spooled_parts_survive_a_cut_and_leave_no_file_behind() {
    const SPOOLED: &str = "spooled to a temporary file";
    // The instances' own temporary directory, and a threshold of 1 MiB:
    // the 5 MiB parts are spooled, the short last one is not.
    let spool = tempfile::TempDir::new().unwrap();
    let env = [
        ("WSRESUME_S3_SPOOL_ABOVE", "1048576"),
        ("TMPDIR", support::s(spool.path())),
    ];
    let Some(pair) = pair_with_env("spool", &["-v"], &env) else {
        return;
    };
    let size = 3 * PART + 1234;
    let (src, sha) = pair.file("spooled.bin", size);
    let proxy = slow_proxy(&pair.a);
    let mut client = pair.spawn_send(&src, &proxy.url("spool/spooled.bin"));
    pair.wait_for_parts(&mut client, 1);
    assert_eq!(proxy.cut_now(), 1, "one connection to cut");
    client.expect_success(RUN_TIMEOUT);
    let report = json_one(&client.stdout());
    check_ok_report(&report, "send", size, &sha);
    assert!(json_u64(&report, "attempts") >= 2, "{report}");
    assert!(
        proxy.up() <= size + PART + OVERHEAD,
        "more than one part again"
    );
    assert_eq!(pair.object_sha("spool/spooled.bin"), Some(sha));
    pair.assert_no_upload_state();
    let log = pair.a.stderr_text();
    assert!(
        log.matches(SPOOLED).count() >= 3,
        "parts not spooled:\n{log}"
    );
    assert!(log.contains("part 3 ("), "{log}");
    assert!(
        !log.contains("part 4 ("),
        "the short last part spooled:\n{log}"
    );
    // Nothing named in the directory, and nothing held open or mapped
    // once the cut connection's writer is gone.
    let released = wait_until(WAIT, || {
        !holds_files_in(pair.a.pid(), spool.path()) && !holds_files_in(pair.b.pid(), spool.path())
    });
    assert!(released, "a spool file still open or mapped");
    let left: Vec<_> = fs::read_dir(spool.path()).unwrap().collect();
    assert!(left.is_empty(), "left in the temporary directory: {left:?}");
}
