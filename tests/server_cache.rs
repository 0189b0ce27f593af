//! The server's persisted hash cache (`serve --cache-dir`): hashes learnt
//! before a restart (from a download, an upload, a listing) are not learnt
//! again; a file changed in place is never served with its old hashes; a
//! damaged entry is a miss; a cache directory that cannot be made only
//! turns persistence off, and one inside ROOT is refused; concurrent
//! listings and downloads of one unhashed file read it for hashing once.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{Server, json_u64, random_file, run_ok_json, s, sha256_file, wait_until};

const SIZE: u64 = 8 << 20;
/// How the server logs where a download's hashes came from (`-v`).
const FROM_CACHE: &str = "chaining values from the hash cache";
const HASHING: &str = "hashing while sending";

struct Setup {
    _top: tempfile::TempDir,
    root: PathBuf,
    cache: PathBuf,
    out: PathBuf,
    server: Server,
}

fn setup() -> Setup {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("root");
    let cache = top.path().join("cache");
    let out = top.path().join("out");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&out).unwrap();
    let server = Server::start(&root, &["-v", "--cache-dir", s(&cache)]);
    Setup {
        _top: top,
        root,
        cache,
        out,
        server,
    }
}

/// The cache's entry files (32 hex digits each).
fn entries(cache: &Path) -> Vec<PathBuf> {
    let Ok(dir) = fs::read_dir(cache) else {
        return Vec::new();
    };
    dir.map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .collect()
}

/// Wait for the cache to hold `n` entries (they are written off the
/// request's path, just after it).
fn wait_for_entries(cache: &Path, n: usize) {
    assert!(
        wait_until(Duration::from_secs(10), || entries(cache).len() >= n),
        "the cache holds {:?}",
        entries(cache)
    );
}

/// Bytes the process has read (read(2), pread, sendfile...).
fn rchar(pid: u32) -> u64 {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `get URL DEST` (JSON), checked against `expected_sha`.
fn get(server: &Server, name: &str, dest: &Path, expected_sha: &str) -> serde_json::Value {
    let report = run_ok_json(&["get", &server.url(name), s(dest)]);
    assert_eq!(sha256_file(dest), expected_sha);
    report
}

/// How many times the server's log says `what`.
fn logged(server: &Server, what: &str) -> usize {
    server.stderr_text().matches(what).count()
}

#[test]
fn after_a_restart_a_file_served_before_is_not_hashed_again() {
    let mut t = setup();
    let file = random_file(&t.root, "big.bin", SIZE);
    let sha = sha256_file(&file);
    let dest = t.out.join("big.bin");
    get(&t.server, "big.bin", &dest, &sha);
    assert_eq!(logged(&t.server, HASHING), 1);
    wait_for_entries(&t.cache, 1);

    t.server.restart();
    fs::remove_file(&dest).unwrap();
    get(&t.server, "big.bin", &dest, &sha);
    assert_eq!(
        logged(&t.server, FROM_CACHE),
        1,
        "{}",
        t.server.stderr_text()
    );
    assert_eq!(logged(&t.server, HASHING), 0);

    // The client holds the file and says so: a restarted server answers
    // from its cache, without reading the file at all.
    t.server.restart();
    let before = rchar(t.server.pid());
    let report = get(&t.server, "big.bin", &dest, &sha);
    assert_eq!(report["skipped"], true, "{report}");
    let read = rchar(t.server.pid()) - before;
    assert!(read < SIZE / 8, "the server read {read} bytes");
}

#[test]
fn an_upload_and_a_listing_fill_the_cache_too() {
    let mut t = setup();
    let local = t.out.join("up.bin");
    fs::write(&local, support::random_bytes(3 << 20)).unwrap();
    let sha = sha256_file(&local);
    run_ok_json(&["send", s(&local), &t.server.url("up.bin")]);
    wait_for_entries(&t.cache, 1);
    random_file(&t.root, "listed.bin", 3 << 20);
    let listed_sha = sha256_file(&t.root.join("listed.bin"));
    let listing = support::wsresume()
        .args(["ls", "--sha256", "--json", &t.server.url("/")])
        .output()
        .unwrap();
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(text.contains(&listed_sha) && text.contains(&sha), "{text}");
    wait_for_entries(&t.cache, 2);

    t.server.restart();
    get(&t.server, "up.bin", &t.out.join("down.bin"), &sha);
    get(
        &t.server,
        "listed.bin",
        &t.out.join("listed.bin"),
        &listed_sha,
    );
    assert_eq!(
        logged(&t.server, FROM_CACHE),
        2,
        "{}",
        t.server.stderr_text()
    );
    assert_eq!(logged(&t.server, HASHING), 0);
}

#[test]
fn a_file_changed_in_place_is_never_served_with_its_old_hashes() {
    let mut t = setup();
    let file = random_file(&t.root, "f.bin", SIZE);
    get(&t.server, "f.bin", &t.out.join("one"), &sha256_file(&file));
    wait_for_entries(&t.cache, 1);
    // Same size, new bytes, the old mtime put back: only the change time
    // tells the versions apart.
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    let handle = File::options().write(true).open(&file).unwrap();
    handle
        .write_all_at(&support::random_bytes(SIZE as usize), 0)
        .unwrap();
    handle.set_modified(mtime).unwrap();
    let new_sha = sha256_file(&file);
    // Without a restart (memory), then with one (the directory).
    get(&t.server, "f.bin", &t.out.join("two"), &new_sha);
    t.server.restart();
    let report = get(&t.server, "f.bin", &t.out.join("three"), &new_sha);
    assert_eq!(json_u64(&report, "bytes"), SIZE);
    assert_eq!(logged(&t.server, FROM_CACHE), 1, "the second version's");
}

#[test]
fn a_damaged_entry_is_a_miss() {
    let mut t = setup();
    let file = random_file(&t.root, "f.bin", SIZE);
    let sha = sha256_file(&file);
    get(&t.server, "f.bin", &t.out.join("one"), &sha);
    wait_for_entries(&t.cache, 1);
    t.server.kill();
    let entry = entries(&t.cache).pop().unwrap();
    let mut damaged = fs::read(&entry).unwrap();
    let at = damaged.len() / 2;
    damaged[at] ^= 0x55;
    fs::write(&entry, &damaged).unwrap();
    t.server.restart();
    get(&t.server, "f.bin", &t.out.join("two"), &sha);
    assert_eq!(logged(&t.server, HASHING), 1, "{}", t.server.stderr_text());
    // ... and the entry is written again, sound.
    assert!(wait_until(Duration::from_secs(10), || {
        fs::read(&entry).is_ok_and(|now| now != damaged)
    }));
    t.server.restart();
    get(&t.server, "f.bin", &t.out.join("three"), &sha);
    assert_eq!(
        logged(&t.server, FROM_CACHE),
        1,
        "{}",
        t.server.stderr_text()
    );
}

#[test]
fn a_cache_dir_that_cannot_be_made_does_not_stop_serving() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("root");
    fs::create_dir_all(&root).unwrap();
    let blocker = top.path().join("a-file");
    fs::write(&blocker, b"not a directory").unwrap();
    let file = random_file(&root, "f.bin", 1 << 20);
    let bad = blocker.join("cache");
    let server = Server::start(&root, &["--cache-dir", s(&bad)]);
    for dest in ["one", "two"] {
        get(
            &server,
            "f.bin",
            &top.path().join(dest),
            &sha256_file(&file),
        );
    }
    let log = server.stderr_text();
    assert_eq!(log.matches("hash cache").count(), 1, "{log}");

    drop(server);
    // An empty one: hashes in memory only.
    let server = Server::start(&root, &["--cache-dir", ""]);
    get(
        &server,
        "f.bin",
        &top.path().join("three"),
        &sha256_file(&file),
    );
    assert!(!server.stderr_text().contains("hash cache"));

    // A cache directory inside ROOT would be served: refused.
    let inside = root.join(".cache");
    let out = support::wsresume()
        .args(["serve", s(&root), "--listen", "127.0.0.1:0"])
        .args(["--cache-dir", s(&inside)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cache-dir"));
    assert!(!inside.exists());
}

#[test]
fn concurrent_requests_for_one_unhashed_file_share_one_read() {
    const BIG: u64 = 64 << 20;
    const CLIENTS: usize = 6;
    let t = setup();
    let file = random_file(&t.root, "big.bin", BIG);
    let sha = sha256_file(&file);
    let before = rchar(t.server.pid());
    let url = t.server.url("big.bin");
    let listings: Vec<_> = (0..CLIENTS)
        .map(|_| {
            support::base_cmd()
                .args(["ls", "--sha256", "--json", &url])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for listing in listings {
        let out = listing.wait_with_output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(&sha));
    }
    let read = rchar(t.server.pid()) - before;
    assert!(
        read < BIG + BIG / 2,
        "{CLIENTS} listings read {read} bytes of a {BIG}-byte file"
    );
}

#[test]
fn concurrent_downloads_of_one_unhashed_file_hash_it_once() {
    const BIG: u64 = 32 << 20;
    const CLIENTS: u64 = 6;
    let t = setup();
    let file = random_file(&t.root, "big.bin", BIG);
    let sha = sha256_file(&file);
    let before = rchar(t.server.pid());
    let url = t.server.url("big.bin");
    let gets: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let dest = t.out.join(format!("{i}.bin"));
            let child = support::base_cmd()
                .args(["get", "-q", &url, s(&dest)])
                .spawn()
                .unwrap();
            (child, dest)
        })
        .collect();
    for (mut child, dest) in gets {
        assert!(child.wait().unwrap().success());
        assert_eq!(sha256_file(&dest), sha);
    }
    // Each download sends the file (sendfile counts as read); hashing it
    // reads it once more for all of them.
    let read = rchar(t.server.pid()) - before;
    assert!(
        read < (CLIENTS + 2) * BIG,
        "{CLIENTS} downloads read {read} bytes of a {BIG}-byte file"
    );
}
