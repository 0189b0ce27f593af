//! `serve --store s3://BUCKET/PREFIX` against a real S3-compatible server
//! (moto, started once for this test binary; a bucket per test), with two
//! instances on one bucket, as issue 12 lists: round trips of every size
//! around a part, an upload cut on one instance (or the instance killed)
//! that the other continues, two clients racing for one target, an object
//! replaced under a resumed download, the hash cache shared through the
//! bucket, an upload's memory bounded whatever the file's size, listings
//! that hide the internal objects, the expiry of an abandoned multipart
//! upload, errors at start, and a Debian nginx balancing over both
//! instances.
//!
//! What the bucket holds is read directly from moto, as another tool
//! would: the object's bytes, the upload records under
//! `PREFIX/.wsresume/uploads/` (PROTOCOL.md, "Object storage") and the
//! multipart uploads in progress (ListMultipartUploads).
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use support::nginx::{Nginx, nginx_path};
use support::s3::{Bucket, Moto, aws_env, store_cmd};
use support::{
    FaultProxy, Proc, RUN_TIMEOUT, Server, check_ok_report, client_args, closed_port, hex,
    json_one, json_u64, random_file, run_ok_json, s, sha256_file, wait_until,
};

/// The part size of every file here: 5 MiB (S3's minimum; a multiple of
/// the tests' 64 KiB chunks; files up to 48 GiB).
const PART: u64 = 5 << 20;
/// Every test serves its bucket under this prefix.
const PREFIX: &str = "data";
/// Per connection and direction, where a test must act mid-transfer.
const RATE: u64 = 6 << 20;
/// Protocol bytes (upgrade, requests, frame headers, chaining values) a
/// transfer of a few parts sends besides the file's bytes, at most.
const OVERHEAD: u64 = 256 << 10;
/// Longest wait for one thing to happen.
const WAIT: Duration = Duration::from_secs(60);

/// moto, once for this test binary; `None` (the test skips) when it is
/// not installed outside CI.
fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start(&[])).as_ref()
}

/// A bucket of its own and two instances serving it.
struct Pair {
    bucket: Bucket,
    a: Server,
    b: Server,
    local: tempfile::TempDir,
}

/// `None` when moto is missing (outside CI).
fn pair(tag: &str, server_args: &[&str]) -> Option<Pair> {
    let bucket = moto()?.bucket(tag);
    let url = bucket.store_url(PREFIX);
    let a = Server::start_store(&url, &bucket.env(), server_args);
    let b = Server::start_store(&url, &bucket.env(), server_args);
    Some(Pair {
        bucket,
        a,
        b,
        local: tempfile::TempDir::new().unwrap(),
    })
}

impl Pair {
    fn key(&self, rel: &str) -> String {
        format!("{PREFIX}/{rel}")
    }

    /// SHA-256 of the object at `rel`, `None` when there is none.
    fn object_sha(&self, rel: &str) -> Option<String> {
        self.bucket.get(&self.key(rel)).map(|b| sha256(&b))
    }

    /// The keys of the upload records.
    fn records(&self) -> Vec<String> {
        self.bucket.keys(&self.key(".wsresume/uploads/"))
    }

    /// Parts recorded as done by the upload records (the most of any).
    fn recorded_parts(&self) -> usize {
        let parts = |key: &String| {
            let bytes = self.bucket.get(key)?;
            let record: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            Some(record["parts"].as_array()?.len())
        };
        self.records().iter().filter_map(parts).max().unwrap_or(0)
    }

    /// No upload record and no multipart upload is left in the bucket.
    fn assert_no_upload_state(&self) {
        let ok = wait_until(Duration::from_secs(10), || {
            self.records().is_empty() && self.bucket.multipart_uploads().is_empty()
        });
        assert!(
            ok,
            "left in the bucket: records {:?}, multipart uploads of {:?}",
            self.records(),
            self.bucket.multipart_uploads()
        );
    }

    fn file(&self, name: &str, size: u64) -> (PathBuf, String) {
        let path = random_file(self.local.path(), name, size);
        let sha = sha256_file(&path);
        (path, sha)
    }

    /// Starts `send SRC URL` (64 KiB chunks, quick retries).
    fn spawn_send(&self, src: &Path, url: &str) -> Proc {
        Proc::wsresume(&client_args(&["send", s(src), url], &["--json", "-q"]))
    }
}

fn sha256(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// `send SRC URL` to its end; the report.
fn send(src: &Path, url: &str) -> serde_json::Value {
    run_ok_json(&client_args(&["send", s(src), url], &[]))
}

/// `get URL DEST` to its end; the report.
fn get(url: &str, dest: &Path) -> serde_json::Value {
    run_ok_json(&client_args(&["get", url, s(dest)], &[]))
}

/// Starts `get URL DEST` (64 KiB chunks, quick retries).
fn spawn_get(url: &str, dest: &Path) -> Proc {
    Proc::wsresume(&client_args(&["get", url, s(dest)], &["-q"]))
}

/// A proxy to `upstream`, throttled to `RATE`.
fn slow_proxy(upstream: &Server) -> FaultProxy {
    let proxy = FaultProxy::new(upstream.addr());
    proxy.throttle(RATE);
    proxy
}

/// Waits until an upload has `parts` parts recorded in the bucket (while
/// `client` still runs).
fn wait_for_parts(pair: &Pair, client: &mut Proc, parts: usize) {
    let done = wait_until(WAIT, || {
        client.try_status().is_some() || pair.recorded_parts() >= parts
    });
    assert!(
        done && client.try_status().is_none(),
        "no {parts} parts recorded while the client ran ({:?}): records {:?}\n{}",
        client.try_status(),
        pair.records(),
        client.stderr_text()
    );
}

fn exit_code(client: &mut Proc) -> i32 {
    let status = client.wait_timeout(RUN_TIMEOUT);
    status
        .and_then(|st| st.code())
        .unwrap_or_else(|| panic!("client: {status:?}\n{}", client.stderr_text()))
}

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
    check_ok_report(&report, "get", data.len() as u64, &sha256(&data));
    assert_eq!(fs::read(&dest).unwrap(), data);
    pair.assert_no_upload_state();
    support::assert_no_leftovers(&[pair.local.path()]);
}

/// An upload through a proxy to A, cut (or A killed) once the bucket
/// records a part; the proxy sends the reconnection to B, which must
/// finish it, sending at most one part again.
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
    wait_for_parts(&pair, &mut client, 1);
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
        &sha256(&data),
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
        &sha256(&new),
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
    check_ok_report(&report, "get", size, &sha256(&new));
    assert_eq!(json_u64(&report, "resumed_from"), 0, "{report}");
    assert!(fs::read(&dest).unwrap() == new, "not the new object");
    support::assert_no_leftovers(&[pair.local.path()]);
}

/// Bytes of a download that may be on their way when the test replaces
/// the object: the client's 2 MiB, the server's block and the one read
/// ahead (8 MiB each), and socket buffers (about 10 MiB on loopback).
const IN_FLIGHT: u64 = 28 << 20;

#[test]
fn an_object_replaced_during_a_download_is_never_mixed() {
    let Some(pair) = pair("replaced-live", &[]) else {
        return;
    };
    // Larger than what can be read before the change: the rest of the
    // old object can no longer be read, and the download starts again.
    let size = IN_FLIGHT + 4 * PART;
    let old = support::random_bytes(size as usize);
    pair.bucket.put(&pair.key("live.bin"), &old);
    let dest = pair.local.path().join("live.bin");
    let proxy = slow_proxy(&pair.a);
    let mut client = spawn_get(&proxy.url("live.bin"), &dest);
    let started = wait_until(WAIT, || {
        client.try_status().is_some() || verified_bytes(&dest) >= 2 << 20
    });
    assert!(
        started && client.try_status().is_none(),
        "{}",
        client.stderr_text()
    );
    let new = support::random_bytes(size as usize);
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

/// `ls ARGS --json` through `server`: (path, kind, sha256) per entry.
fn ls(args: &[&str]) -> Vec<(String, String, Option<String>)> {
    let out = support::wsresume()
        .arg("ls")
        .args(args)
        .arg("--json")
        .assert()
        .success();
    support::json_lines(&out.get_output().stdout)
        .iter()
        .map(|e| {
            let sha = e["sha256"].as_str().map(str::to_owned);
            (
                support::json_str(e, "path").to_owned(),
                support::json_str(e, "kind").to_owned(),
                sha,
            )
        })
        .collect()
}

#[test]
fn listings_hide_internal_objects_and_refuse_them() {
    let Some(pair) = pair("listing", &[]) else {
        return;
    };
    let (top, top_sha) = pair.file("top.txt", 1000);
    let (deep, deep_sha) = pair.file("deep.bin", 70_000);
    send(&top, &pair.a.url("top.txt"));
    send(&deep, &pair.b.url("dir/sub/deep.bin"));
    let other = support::random_bytes(3000);
    pair.bucket.put(&pair.key("dir/other.bin"), &other);
    get(
        &pair.a.url("dir/sub/deep.bin"),
        &pair.local.path().join("d"),
    );
    // An upload left half done: its record and multipart upload stay.
    let (big, _) = pair.file("big.bin", 2 * PART + 1);
    let proxy = slow_proxy(&pair.a);
    let mut client = pair.spawn_send(&big, &proxy.url("dir/partial.bin"));
    wait_for_parts(&pair, &mut client, 1);
    client.kill();
    let internal = pair.bucket.keys(&pair.key(".wsresume/"));
    assert!(!internal.is_empty(), "no internal objects to hide");

    let file = |p: &str| (p.to_owned(), "file".to_owned(), None);
    let dir = |p: &str| (p.to_owned(), "dir".to_owned(), None);
    assert_eq!(ls(&[&pair.a.url("")]), [dir("dir"), file("top.txt")]);
    assert_eq!(ls(&[&pair.b.url("dir/")]), [file("other.bin"), dir("sub")]);
    let hashed = |p: &str, sha: &str| (p.to_owned(), "file".to_owned(), Some(sha.to_owned()));
    assert_eq!(
        ls(&["-r", "--sha256", &pair.b.url("")]),
        [
            hashed("dir/other.bin", &sha256(&other)),
            hashed("dir/sub/deep.bin", &deep_sha),
            hashed("top.txt", &top_sha),
        ]
    );

    let record = internal[0].strip_prefix(&format!("{PREFIX}/")).unwrap();
    let dest = pair.local.path().join("record.json");
    support::run_expect_code(
        &client_args(&["get", &pair.a.url(record), s(&dest)], &[]),
        8,
    );
    support::run_expect_code(&["ls", &pair.a.url(".wsresume/")], 8);
    let sneaky = pair.b.url(".wsresume/uploads/x.json");
    support::run_expect_code(&client_args(&["send", s(&top), &sneaky], &[]), 8);
    assert!(!dest.exists());
    assert!(
        pair.bucket
            .get(&pair.key(".wsresume/uploads/x.json"))
            .is_none()
    );
}

#[test]
fn expiry_aborts_an_abandoned_multipart_upload_and_removes_its_record() {
    let Some(pair) = pair("expiry", &["--expire-uploads", "2s"]) else {
        return;
    };
    let size = 2 * PART + 10;
    let (src, sha) = pair.file("abandoned.bin", size);
    let proxy = slow_proxy(&pair.a);
    let mut client = pair.spawn_send(&src, &proxy.url("abandoned.bin"));
    wait_for_parts(&pair, &mut client, 1);
    client.kill();
    assert_eq!(pair.bucket.multipart_uploads(), [pair.key("abandoned.bin")]);
    // The lease lasts at least 60 s; the record says it ran out (as it
    // would a minute later), so the test need not wait for it.
    let records = pair.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let mut record: serde_json::Value =
        serde_json::from_slice(&pair.bucket.get(&records[0]).unwrap()).unwrap();
    record["lease_until_ms"] = 0.into();
    pair.bucket.put(&records[0], record.to_string().as_bytes());

    let aborted = wait_until(WAIT, || pair.bucket.multipart_uploads().is_empty());
    assert!(
        aborted,
        "not aborted:\n{}\n{}",
        pair.a.stderr_text(),
        pair.b.stderr_text()
    );
    pair.assert_no_upload_state();
    assert!(pair.object_sha("abandoned.bin").is_none());
    // The client comes back: it starts again and finishes.
    let report = send(&src, &pair.b.url("abandoned.bin"));
    check_ok_report(&report, "send", size, &sha);
    assert_eq!(json_u64(&report, "resumed_from"), 0, "{report}");
    assert_eq!(pair.object_sha("abandoned.bin"), Some(sha));
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

/// `serve --store URL` with `env` exits with `code` at once; its stderr.
fn fails_to_start(url: &str, env: &[(String, String)], code: i32) -> String {
    let mut cmd = assert_cmd::Command::from_std(store_cmd(url, env));
    cmd.timeout(RUN_TIMEOUT);
    let out = cmd.assert().code(code).get_output().clone();
    assert!(out.stdout.is_empty(), "it listened: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn errors_at_start_name_the_bucket_the_endpoint_or_the_credentials() {
    let Some(moto) = moto() else {
        return;
    };
    let missing = format!("s3://no-such-bucket-{}", std::process::id());
    let err = fails_to_start(&missing, &aws_env(&moto.endpoint()), 8);
    assert!(err.contains("no such bucket"), "{err}");
    let bucket = moto.bucket("start");
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let err = fails_to_start(&bucket.store_url(""), &aws_env(&nowhere), 4);
    assert!(err.contains(&nowhere), "{err}");
    // A moto that checks credentials knows no keys at all.
    let strict = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]).unwrap();
    let err = fails_to_start(&bucket.store_url(""), &aws_env(&strict.endpoint()), 6);
    assert!(err.contains("credentials"), "{err}");
}

/// The nginx site configuration README.md shows ("Scale out").
fn readme_site() -> String {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("```nginx\n")
        .expect("an nginx block in README.md")
        + 9;
    let len = readme[start..].find("```").unwrap();
    readme[start..start + len].to_owned()
}

#[test]
fn send_and_get_through_an_nginx_load_balancer() {
    let Some(pair) = pair("nginx", &[]) else {
        return;
    };
    let found = nginx_path();
    if !support::have_part(found.is_some(), "nginx") {
        return;
    }
    let lb = Nginx::start(
        &found.unwrap(),
        &readme_site(),
        &[pair.a.addr(), pair.b.addr()],
    );
    for (i, size) in [2 * PART + 7, 1000].into_iter().enumerate() {
        let (src, sha) = pair.file(&format!("lb-{i}"), size);
        let rel = format!("lb/{i}.bin");
        check_ok_report(&send(&src, &lb.url(&rel)), "send", size, &sha);
        let dest = pair.local.path().join(format!("back-{i}"));
        check_ok_report(&get(&lb.url(&rel), &dest), "get", size, &sha);
        assert_eq!(sha256_file(&dest), sha);
    }
    let listed = ls(&["-r", &lb.url("")]);
    assert_eq!(listed.len(), 2, "{listed:?}");
    pair.assert_no_upload_state();
}
