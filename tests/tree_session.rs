//! Trees over sessions (`wsresume.v2`): hundreds of small files and a few
//! large ones land byte-identical over one connection per session (counted
//! by the proxy), a re-run moves no payload, an old server (`serve
//! --max-protocol 1`) and an old client (`WSRESUME_MAX_PROTOCOL=1`) still
//! work file by file, and a per-file refusal in a session fails only that
//! file.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use wsresume_testkit as support;

use support::{FaultProxy, Server, json_lines, random_file, s, sha256_file, wsresume};
use tempfile::TempDir;

/// Small files in the test trees.
const SMALL: usize = 300;
/// Sizes of the large files (over the 1 MiB a session carries).
const LARGE: [u64; 2] = [1_500_000, 2_300_000];

/// A tree under `dir`: [`SMALL`] small files of 0 to 20 000 bytes (names
/// with spaces, unicode, nesting) and the large ones; their relative
/// paths and total small bytes.
fn make_tree(dir: &Path) -> (Vec<String>, u64) {
    let mut names = Vec::new();
    let mut small_bytes = 0;
    for i in 0..SMALL {
        let name = match i % 3 {
            0 => format!("f{i}.bin"),
            1 => format!("sub dir/é {i}.txt"),
            _ => format!("a/b/c/d/deep {i}"),
        };
        let len = (i as u64 * 997) % 20_000;
        random_file(dir, &name, len);
        small_bytes += len;
        names.push(name);
    }
    for (i, len) in LARGE.iter().enumerate() {
        let name = format!("large/big{i}.bin");
        random_file(dir, &name, *len);
        names.push(name);
    }
    (names, small_bytes)
}

/// Each file of `names` under `to` is byte-identical to the one under `from`.
fn assert_same(from: &Path, to: &Path, names: &[String]) {
    for name in names {
        assert_eq!(
            sha256_file(&to.join(name)),
            sha256_file(&from.join(name)),
            "{name}"
        );
    }
}

/// Run the client; the JSON lines (all `ok`) and stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut cmd = wsresume();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).arg("--json").assert().success();
    let lines = json_lines(&out.get_output().stdout);
    for line in &lines {
        assert_eq!(line["status"], "ok", "{line}");
    }
    lines
}

fn skipped(lines: &[serde_json::Value]) -> usize {
    lines.iter().filter(|l| l["skipped"] == true).count()
}

struct Rig {
    _dirs: (TempDir, TempDir),
    root: PathBuf,
    local: PathBuf,
    _server: Server,
    proxy: FaultProxy,
}

fn rig(server_args: &[&str]) -> Rig {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let server = Server::start(root.path(), server_args);
    let proxy = FaultProxy::new(server.addr());
    Rig {
        root: root.path().to_path_buf(),
        local: local.path().to_path_buf(),
        _dirs: (root, local),
        _server: server,
        proxy,
    }
}

#[test]
fn get_tree_goes_over_sessions_and_a_rerun_moves_no_payload() {
    let rig = rig(&[]);
    let (names, small_bytes) = make_tree(&rig.root.join("t"));
    let dest = rig.local.join("copy");
    let url = rig.proxy.url("t/");
    let args = [
        "get",
        "-r",
        &url,
        s(&dest),
        "--create-dirs",
        "--parallel",
        "2",
    ];
    let lines = run(&args, &[]);
    assert_eq!(lines.len(), names.len());
    assert_same(&rig.root.join("t"), &dest.join("t"), &names);
    assert!(
        support::leftovers(&dest).is_empty(),
        "{:?}",
        support::leftovers(&dest)
    );
    // The listing, two sessions, one connection per large file.
    let connections = rig.proxy.connections();
    assert_eq!(connections, 1 + 2 + LARGE.len() as u64, "connections");
    assert!(rig.proxy.down() > small_bytes);

    // Twice: a re-run keeps what the next one needs to know.
    for _ in 0..2 {
        rig.proxy.reset_counters();
        let lines = run(&args, &[]);
        assert_eq!(skipped(&lines), names.len(), "{lines:?}");
        for line in &lines {
            assert_eq!(line["transferred"], 0, "{line}");
        }
        let down = rig.proxy.down();
        assert!(down < small_bytes / 4, "a re-run read {down} bytes");
        // One listing, whose entries carry the digests the server has
        // cached: no session, no request per small file.
        assert_eq!(rig.proxy.connections(), 1 + LARGE.len() as u64);
    }
}

#[test]
fn send_tree_goes_over_sessions_and_a_rerun_moves_no_payload() {
    let rig = rig(&[]);
    let top = rig.local.join("t");
    let (names, small_bytes) = make_tree(&top);
    let url = rig.proxy.url("up/");
    let args = ["send", "-r", s(&top), &url, "--parallel", "2"];
    let lines = run(&args, &[]);
    assert_eq!(lines.len(), names.len());
    assert_same(&top, &rig.root.join("up/t"), &names);
    assert_eq!(rig.proxy.connections(), 1 + 2 + LARGE.len() as u64);
    assert!(rig.proxy.up() > small_bytes);

    // Twice: a re-run keeps what the next one needs to know; the small
    // files need no request at all (one listing with digests, and a
    // connection per large file).
    for _ in 0..2 {
        rig.proxy.reset_counters();
        let lines = run(&args, &[]);
        assert_eq!(skipped(&lines), names.len(), "{lines:?}");
        let up = rig.proxy.up();
        assert!(up < small_bytes / 4, "a re-run sent {up} bytes");
        // One listing (with the digests the server has cached), then only
        // the large files.
        assert_eq!(rig.proxy.connections(), 1 + LARGE.len() as u64);
    }
}

#[test]
fn an_old_server_and_an_old_client_work_file_by_file() {
    for (server_args, env) in [
        (vec!["--max-protocol", "1"], vec![]),
        (vec![], vec![("WSRESUME_MAX_PROTOCOL", "1")]),
    ] {
        let rig = rig(&server_args);
        let top = rig.local.join("t");
        let mut names = Vec::new();
        for i in 0..12 {
            let name = format!("d/f {i}");
            random_file(&top, &name, 3000 + i);
            names.push(name);
        }
        let case = format!("{server_args:?} {env:?}");
        let lines = run(&["send", "-r", s(&top), &rig.proxy.url("")], &env);
        assert_eq!(lines.len(), names.len(), "{case}");
        assert_same(&top, &rig.root.join("t"), &names);
        assert_eq!(rig.proxy.connections(), 1 + names.len() as u64, "{case}");
        rig.proxy.reset_counters();
        let back = rig.local.join("back");
        let url = rig.proxy.url("t/");
        let lines = run(&["get", "-r", &url, s(&back), "--create-dirs"], &env);
        assert_eq!(lines.len(), names.len(), "{case}");
        assert_same(&top, &back.join("t"), &names);
        assert_eq!(rig.proxy.connections(), 1 + names.len() as u64, "{case}");
    }
}

#[test]
fn a_refused_file_in_a_session_fails_only_that_file() {
    let rig = rig(&["--max-file-size", "10000"]);
    let top = rig.local.join("t");
    for i in 0..40 {
        random_file(&top, &format!("ok{i:02}"), 500 + i);
    }
    random_file(&top, "too big", 50_000);
    let out = wsresume()
        .args(["send", "-r", s(&top), &rig.proxy.url(""), "--json"])
        .assert()
        .code(8);
    let lines = json_lines(&out.get_output().stdout);
    assert_eq!(lines.len(), 41);
    let failed: Vec<_> = lines.iter().filter(|l| l["status"] != "ok").collect();
    assert_eq!(failed.len(), 1, "{lines:?}");
    assert!(failed[0]["source"].as_str().unwrap().ends_with("too big"));
    assert_eq!(failed[0]["error"]["code"], 8);
    for i in 0..40 {
        let name = format!("ok{i:02}");
        assert_eq!(
            sha256_file(&rig.root.join("t").join(&name)),
            sha256_file(&top.join(&name))
        );
    }
    assert!(!rig.root.join("t/too big").exists());
    assert_eq!(rig.proxy.connections(), 1 + 2, "one listing, two sessions");
}

/// README: a tree download holds one lock beside its top directory, so a
/// second `get -r` into the same copy fails at once (exit code 1) while
/// the first runs, and touches nothing.
#[test]
fn a_second_get_r_into_the_same_copy_fails_at_once() {
    let top = TempDir::new().unwrap();
    let root = top.path().join("root");
    let (names, _) = make_tree(&root.join("t"));
    let server = Server::start(&root, &[]);
    let proxy = FaultProxy::new(server.addr());
    proxy.throttle(256 * 1024);
    let dest = top.path().join("copy");
    std::fs::create_dir(&dest).unwrap();
    let url = proxy.url("t/");
    let mut first = support::Proc::wsresume(&["get", "-r", &url, s(&dest), "-q"]);
    let lock = top.path().join("copy/t.wsresume-lock");
    assert!(
        support::wait_until(std::time::Duration::from_secs(30), || lock.exists()),
        "no tree lock: {}",
        first.stderr_text()
    );
    let started = std::time::Instant::now();
    let second = wsresume()
        .args(["get", "-r", &url, s(&dest)])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&second.get_output().stderr).into_owned();
    assert!(stderr.contains("another wsresume"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    first.expect_success(std::time::Duration::from_secs(120));
    for name in &names {
        let (a, b) = (root.join("t").join(name), dest.join("t").join(name));
        assert_eq!(sha256_file(&a), sha256_file(&b), "{name}");
    }
    assert!(!lock.exists(), "the lock stays after the run");
}
