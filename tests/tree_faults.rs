//! Trees under faults, with the real binary and real sockets on 127.0.0.1:
//! thousands of files through connection cuts (`get -r` and `send -r`),
//! tree runs SIGKILLed and run again (no target is ever partial, finished
//! files are not sent again), files changed or removed between runs,
//! awkward names, and an old-protocol peer on either side.
//!
//! Written against the user contract, so it holds whether a tree moves one
//! file per connection or many files per connection (sessions): cuts come
//! at points of the payload stream (every live connection once so many
//! bytes went through, and the next new one a little later), kills once
//! so many files appeared at the destination, and "not sent again" is
//! counted in payload bytes through the proxy.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::raw::{RawWs, upgrade_request};
use support::tree::{Manifest, Route, Way, assert_exact, check_targets, noise, route, targets};
use support::{Proc, RUN_TIMEOUT, Rig, base_cmd, json_lines, wait_until};

/// Files of the cut test's tree (1–8 KiB each), besides two of a few MiB.
const MANY: usize = 2000;
/// Cuts per run of the cut test, spread evenly over the payload.
const CUTS: u64 = 6;
/// Per connection and direction, in the cut test.
const CUT_RATE: u64 = 8 << 20;
/// Bytes after which the connection following a cut is cut too: past an
/// upgrade and a request with its answer, inside the data of a 1 KiB file.
const ARMED_CUT: u64 = 1500;
/// Small files of the kill test's tree, besides one large file.
const KILL_FILES: usize = 500;
/// Over `SMALL_FILE_MAX` (1 MiB): a large file, with its own resume state.
const LARGE: usize = (1 << 20) + (1 << 18) + 5;
/// Per connection and direction: a kill-test run takes several seconds,
/// so each kill lands mid-tree even on a busy machine.
const RATE: u64 = 1 << 19;
/// Kill points: percent of the tree's files present at the destination.
const KILL_AT: [usize; 4] = [15, 40, 65, 85];
/// Payload-direction bytes a file costs besides its data (request, offer
/// or answer, and an upgrade when it has a connection of its own).
const PER_FILE: u64 = 1024;
/// Payload-direction bytes a run costs besides its files (a listing).
const PER_RUN: u64 = 128 * 1024;
/// Longest wait for one thing to happen inside a run.
const WAIT: Duration = Duration::from_secs(45);

// ---------------------------------------------------------------------
// 1. Thousands of files through cuts.

/// `MANY` small files and two of a few MiB, in nested directories.
fn many_files(top: &Path) -> Manifest {
    let mut tree = Manifest::default();
    tree.small_files(top, "", MANY);
    tree.write(top, "m/big one.bin", &noise((3 << 20) + 1000));
    tree.write(top, "z/big two.bin", &noise((5 << 20) - 7));
    tree
}

/// Runs `route` to its end with `CUTS` interruptions, one each time
/// another 1/(CUTS + 1) of the tree's bytes went through: every live
/// connection is cut then, and the next new one (a reconnection or the
/// next file's) is cut after `ARMED_CUT` bytes, inside its first file's
/// data. Asserts every cut landed; returns the reports.
fn run_with_cuts(rig: &Rig, route: &Route, total: u64) -> Vec<serde_json::Value> {
    let mut client = route.spawn(&[]);
    let running = |c: &mut Proc| c.try_status().is_none();
    let mut cuts = 0;
    for i in 1..=CUTS {
        let mark = total * i / (CUTS + 1);
        wait_until(WAIT, || {
            !running(&mut client) || route.payload(&rig.proxy) >= mark
        });
        rig.proxy.cut_after(ARMED_CUT, 1);
        // Between two connections there may be none to cut: try again.
        wait_until(WAIT, || !running(&mut client) || rig.proxy.cut_now() > 0);
        if !running(&mut client) {
            break;
        }
        cuts += 1;
    }
    client.expect_success(RUN_TIMEOUT);
    assert_eq!(cuts, CUTS, "the run ended before every cut");
    json_lines(&client.stdout())
}

fn thousands_of_files_through_cuts(way: Way) {
    let started = Instant::now();
    let rig = Rig::new(&[]);
    let route = route(&rig, way, "t", "tree");
    let tree = many_files(&route.src);
    // The proxy, not the receiver, sets the pace: what it counts has
    // arrived, and a cut at a mark falls inside a file's data.
    rig.proxy.throttle(CUT_RATE);
    let lines = run_with_cuts(&rig, &route, tree.bytes());
    let reports = route.check_reports(&lines, &tree);
    let retried: Vec<_> = reports
        .iter()
        .filter(|(_, r)| support::json_u64(r, "attempts") > 1)
        .map(|(rel, _)| rel.as_str())
        .collect();
    assert!(
        retried.iter().any(|rel| rel.contains("big")),
        "no cut hit a large file: retried {retried:?}"
    );
    assert_exact(&route.dest, &tree);
    route.assert_clean(&rig);
    eprintln!(
        "{way:?}: {} files, {} bytes, {CUTS} cuts: {} payload bytes, {} connections, \
         {} files retried, {:?}",
        tree.files(),
        tree.bytes(),
        route.payload(&rig.proxy),
        rig.proxy.connections(),
        retried.len(),
        started.elapsed()
    );
}

#[test]
fn get_r_of_thousands_of_files_survives_cuts() {
    thousands_of_files_through_cuts(Way::Get);
}

#[test]
fn send_r_of_thousands_of_files_survives_cuts() {
    thousands_of_files_through_cuts(Way::Send);
}

// ---------------------------------------------------------------------
// 2. Killed and run again.

/// Starts `route` and SIGKILLs it once `want` targets are at the
/// destination; asserts it was still running then.
fn killed_run(route: &Route, want: usize) {
    let mut client = route.spawn(&[]);
    let reached = wait_until(WAIT, || {
        client.try_status().is_some() || targets(&route.dest).len() >= want
    });
    let status = client.try_status();
    assert!(
        reached && status.is_none(),
        "the run ended ({status:?}) or stalled before {want} files were there: {}",
        client.stderr_text()
    );
    client.kill();
}

/// What a run's reports say it moved, for messages.
fn reported(lines: &[serde_json::Value]) -> String {
    let skipped = lines.iter().filter(|l| l["skipped"] == true).count();
    let moved: u64 = lines
        .iter()
        .map(|l| support::json_u64(l, "transferred"))
        .sum();
    format!(
        "{} files, {skipped} skipped, {moved} bytes transferred",
        lines.len()
    )
}

fn killed_and_run_again(way: Way) {
    let started = Instant::now();
    let rig = Rig::new(&[]);
    let route = route(&rig, way, "k", "tree");
    let mut tree = Manifest::default();
    tree.small_files(&route.src, "", KILL_FILES);
    tree.write(&route.src, "d11/large.bin", &noise(LARGE));
    rig.proxy.throttle(RATE);
    for percent in KILL_AT {
        let there = targets(&route.dest).len();
        assert!(there < tree.files(), "every file arrived before the kills");
        killed_run(&route, (tree.files() * percent / 100).max(there + 1));
        // A kill at any instant: every target there is complete.
        let (files, bytes) = check_targets(&route.dest, &tree);
        eprintln!(
            "{way:?}: killed with {files} files ({bytes} bytes) complete, none partial, at {:?}",
            started.elapsed()
        );
    }
    let (_, done) = check_targets(&route.dest, &tree);
    assert!(
        done * 2 >= tree.bytes(),
        "most bytes done before the last run"
    );
    rig.proxy.reset_counters();
    let lines = route.run(&[]);
    let moved = route.payload(&rig.proxy);
    let missing = tree.bytes() - done;
    let bound = missing + tree.files() as u64 * PER_FILE + PER_RUN;
    eprintln!(
        "{way:?}: last run moved {moved} payload bytes for {missing} missing of {} ({:?} in all)",
        tree.bytes(),
        started.elapsed()
    );
    assert!(
        moved <= bound,
        "finished files were sent again: {moved} bytes moved, {missing} were missing \
         (bound {bound}); the reports: {}",
        reported(&lines)
    );
    route.check_reports(&lines, &tree);
    // A killed run's last request may still be on its way through the
    // proxy after the last run ended (a late put of a file finished since):
    // the server takes it in and lets it go, leaving nothing behind.
    wait_until(WAIT, || support::leftovers(&route.remote).is_empty());
    assert_exact(&route.dest, &tree);
    route.assert_clean(&rig);
}

#[test]
fn get_r_killed_several_times_resumes_the_tree() {
    killed_and_run_again(Way::Get);
}

#[test]
fn send_r_killed_several_times_resumes_the_tree() {
    killed_and_run_again(Way::Send);
}

// ---------------------------------------------------------------------
// 3. Files changed and removed between runs.

/// Rewrites `rel` with new content of the same size, its modification
/// time put back; updates the record.
fn change_in_place(tree: &mut Manifest, top: &Path, rel: &str) {
    let path = top.join(rel);
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    let old = tree.0[rel].clone();
    tree.write(top, rel, &noise(old.size as usize));
    assert_ne!(tree.0[rel], old, "{rel}: the same content again");
    let file = fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(mtime).unwrap();
}

/// Run 1 moves a tree; two files (a small and a large one) are rewritten
/// in place with the same size and mtime; run 2 sends exactly those again,
/// whole, and skips the rest.
fn changed_files_are_sent_again_whole(rig: &Rig, route: &Route, tree: &mut Manifest) {
    route.run(&[]);
    assert_exact(&route.dest, tree);
    let changed = ["c/small.bin", "large.bin"];
    for rel in changed {
        change_in_place(tree, &route.src, rel);
    }
    rig.proxy.reset_counters();
    let lines = route.run(&[]);
    let reports = route.check_reports(&lines, tree);
    let mut changed_bytes = 0;
    for (rel, report) in &reports {
        let size = tree.0[rel].size;
        if changed.contains(&rel.as_str()) {
            assert_ne!(report["skipped"], true, "{report}");
            assert_eq!(support::json_u64(report, "transferred"), size, "{report}");
            assert_eq!(support::json_u64(report, "resumed_from"), 0, "{report}");
            changed_bytes += size;
        } else {
            assert_eq!(report["skipped"], true, "{report}");
        }
    }
    let moved = route.payload(&rig.proxy);
    let bound = changed_bytes + tree.files() as u64 * PER_FILE + PER_RUN;
    assert!(
        (changed_bytes..=bound).contains(&moved),
        "{moved} bytes moved for {changed_bytes} changed (at most {bound}); the reports: {}",
        reported(&lines)
    );
    assert_exact(&route.dest, tree);
}

/// A file removed from the source after it arrived stays at the
/// destination; new files removed from the source while a run that was
/// to bring them was killed are not created by the next run.
fn removed_files_are_not_created(rig: &Rig, route: &Route, tree: &mut Manifest) {
    let gone = "gone/y.bin";
    let mut kept = Manifest::default();
    kept.0.insert(gone.into(), tree.remove(&route.src, gone));
    tree.small_files(&route.src, "new/", 300);
    rig.proxy.throttle(RATE);
    let new_there =
        |m: &BTreeMap<String, PathBuf>| m.keys().filter(|r| r.starts_with("new/")).count();
    let want = targets(&route.dest).len() + 30;
    killed_run(route, want);
    let mut both = tree.clone();
    both.0.extend(kept.0.clone());
    check_targets(&route.dest, &both);
    let there = targets(&route.dest);
    eprintln!(
        "{:?}: killed with {} new files there",
        route.way,
        new_there(&there)
    );
    let missing: Vec<String> = tree
        .0
        .keys()
        .filter(|r| !there.contains_key(*r))
        .cloned()
        .collect();
    assert!(
        missing.len() >= 40,
        "too few files missing: {}",
        missing.len()
    );
    let removed = &missing[missing.len() - 20..];
    for rel in removed {
        tree.remove(&route.src, rel);
    }
    rig.proxy.throttle(0);
    route.check_reports(&route.run(&[]), tree);
    both = tree.clone();
    both.0.extend(kept.0);
    // The removed new files are not there; the one removed after it
    // arrived is, with its old content (trees do not delete).
    assert_exact(&route.dest, &both);
}

fn changed_and_removed_between_runs(way: Way) {
    let started = Instant::now();
    let rig = Rig::new(&[]);
    let route = route(&rig, way, "c", "tree");
    let mut tree = Manifest::default();
    tree.small_files(&route.src, "", 40);
    tree.write(&route.src, "c/small.bin", &noise(5000));
    tree.write(&route.src, "large.bin", &noise(LARGE));
    tree.write(&route.src, "gone/y.bin", &noise(3000));
    changed_files_are_sent_again_whole(&rig, &route, &mut tree);
    removed_files_are_not_created(&rig, &route, &mut tree);
    route.assert_clean(&rig);
    eprintln!("{way:?}: {:?}", started.elapsed());
}

#[test]
fn get_r_sends_changed_files_again_and_creates_no_removed_ones() {
    changed_and_removed_between_runs(Way::Get);
}

#[test]
fn send_r_sends_changed_files_again_and_creates_no_removed_ones() {
    changed_and_removed_between_runs(Way::Send);
}

// ---------------------------------------------------------------------
// 4. Names.

/// Depth of the deep branch.
const DEEP: usize = 30;

/// Names with spaces, unicode (composed and decomposed), URL
/// metacharacters, and a branch `DEEP` directories deep.
fn awkward_tree(top: &Path) -> Manifest {
    let mut tree = Manifest::default();
    let mut deep = String::from("deep");
    for level in 1..=DEEP {
        deep.push_str(&format!("/niveau ü {level:02}"));
    }
    let names = [
        "a b/c d.txt".to_string(),
        "ü ñ 日本/файл.txt".to_string(),
        "ü ñ 日本/u\u{308} decomposed.txt".to_string(),
        " leading and trailing .txt ".to_string(),
        "100% #1 ?x&y=+z;@,'$!.txt".to_string(),
        "emoji 🎉/😀.bin".to_string(),
        format!("{deep}/leaf.txt"),
        format!("{deep}/large leaf.bin"),
    ];
    for (i, name) in names.iter().enumerate() {
        let len = if name.ends_with("large leaf.bin") {
            200_000
        } else {
            100 + i * 37
        };
        tree.write(top, name, &noise(len));
    }
    tree
}

fn awkward_names(way: Way) {
    let rig = Rig::new(&[]);
    let route = route(&rig, way, "names ü", "tree ü ñ 日本");
    let tree = awkward_tree(&route.src);
    let reports = route.run(&[]);
    route.check_reports(&reports, &tree);
    assert_exact(&route.dest, &tree);
    route.assert_clean(&rig);
}

#[test]
fn get_r_moves_names_with_spaces_unicode_and_deep_nesting() {
    awkward_names(Way::Get);
}

#[test]
fn send_r_moves_names_with_spaces_unicode_and_deep_nesting() {
    awkward_names(Way::Send);
}

// ---------------------------------------------------------------------
// 5. An old-protocol peer.
//
// BOTH TESTS BELOW FAIL UNTIL THE SESSION BRANCHES ARE MERGED (`srv`:
// the hidden `serve --max-protocol 1`; `cli`: the client offering
// `wsresume.v2, wsresume.v1`, and only v1 with WSRESUME_MAX_PROTOCOL=1).

/// A tree of small files and a large one, sent with `send -r` and fetched
/// back with `get -r` (with `env` for the client), one connection per file
/// at least each way: an old peer works file by file.
fn round_trip_file_by_file(rig: &Rig, env: &[(&str, &str)]) {
    let send = route(rig, Way::Send, "old", "tree");
    let mut tree = Manifest::default();
    tree.small_files(&send.src, "", 40);
    tree.write(&send.src, "large.bin", &noise(LARGE));
    let get = route(rig, Way::Get, "old", "tree");
    for route in [&send, &get] {
        rig.proxy.reset_counters();
        route.check_reports(&route.run(env), &tree);
        assert_exact(&route.dest, &tree);
        let conns = rig.proxy.connections();
        assert!(
            conns > tree.files() as u64,
            "{:?}: {conns} connections for {} files: not file by file",
            route.way,
            tree.files()
        );
    }
    get.assert_clean(rig);
}

/// The protocols a response or request head names in
/// `Sec-WebSocket-Protocol`.
fn protocols(head: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-protocol"))
        .flat_map(|(_, value)| value.split(',').map(|p| p.trim().to_string()))
        .collect()
}

/// Needs `srv`: fails until the merge (`--max-protocol` does not exist).
#[test]
fn an_old_server_still_moves_trees() {
    let rig = Rig::new(&["--max-protocol", "1"]);
    let addr = rig.server.addr();
    let offer = upgrade_request(addr, "/", "").replace(
        "Sec-WebSocket-Protocol: wsresume.v1",
        "Sec-WebSocket-Protocol: wsresume.v2, wsresume.v1",
    );
    let (_ws, head) = RawWs::open(addr, &offer);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(protocols(&head), ["wsresume.v1"], "{head}");
    round_trip_file_by_file(&rig, &[]);
}

/// The subprotocols a `get -r` run with `env` offers (its first connection,
/// the listing; a single file's `get` offers only `wsresume.v1`): a listener that reads
/// the upgrade request and closes.
fn offered(env: &[(&str, &str)]) -> Vec<String> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("ws://{}/tree/", listener.local_addr().unwrap());
    let mut cmd = base_cmd();
    cmd.args([
        "get",
        "-r",
        &url,
        support::s(dir.path()),
        "--retries",
        "0",
        "-q",
    ])
    .envs(env.iter().copied());
    let mut client = Proc::spawn(cmd);
    let mut conn = None;
    wait_until(WAIT, || {
        conn = listener.accept().ok().map(|(c, _)| c);
        conn.is_some() || client.try_status().is_some()
    });
    let mut conn = conn.unwrap_or_else(|| panic!("no connection: {}", client.stderr_text()));
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut head = Vec::new();
    let complete = wait_until(WAIT, || {
        let mut buf = [0u8; 4096];
        if let Ok(n) = conn.read(&mut buf) {
            head.extend_from_slice(&buf[..n]);
        }
        head.windows(4).any(|w| w == b"\r\n\r\n")
    });
    assert!(complete, "no upgrade request: {head:?}");
    drop(conn);
    client.wait_timeout(WAIT);
    protocols(&String::from_utf8_lossy(&head))
}

/// Needs `cli`: fails until the merge (today's client offers only v1, with
/// or without WSRESUME_MAX_PROTOCOL).
#[test]
fn an_old_client_still_moves_trees() {
    let old = [("WSRESUME_MAX_PROTOCOL", "1")];
    let new = offered(&[]);
    assert!(new.iter().any(|p| p == "wsresume.v2"), "offered {new:?}");
    assert_eq!(offered(&old), ["wsresume.v1"]);
    let rig = Rig::new(&[]);
    round_trip_file_by_file(&rig, &old);
}
