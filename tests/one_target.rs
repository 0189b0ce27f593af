//! One run per download target: a second `get` to the same file fails at
//! once with exit code 1 (or waits with `--wait`), touching nothing; no
//! lock or partial file is left behind; a lock file left by a SIGKILLed run
//! does not block the next one, which removes it.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::{Proc, Rig, json_one, random_file, s, sha256_file, wait_until, wsresume};

/// Big enough to take a few seconds through the throttled proxy.
const SIZE: u64 = 800_000;
const RATE: u64 = 200_000;
const WAIT: Duration = Duration::from_secs(20);

fn lock_of(target: &Path) -> PathBuf {
    target.with_file_name(format!(
        "{}.wsresume-lock",
        target.file_name().unwrap().to_str().unwrap()
    ))
}

/// A throttled `get` of `same.bin` to `rig.local/same.bin`, running, with
/// its lock taken and its partial started.
fn first_get(rig: &Rig) -> (Proc, PathBuf, String) {
    let src = random_file(rig.root.path(), "same.bin", SIZE);
    let target = rig.local.path().join("same.bin");
    rig.proxy.throttle(RATE);
    let url = rig.proxy.url("same.bin");
    let first = Proc::wsresume(&[
        "get",
        &url,
        s(&target),
        "--json",
        "-q",
        "--chunk-size",
        "64K",
    ]);
    let started = wait_until(WAIT, || support::part_path(&target).exists());
    assert!(started, "no partial: {}", first.stderr_text());
    assert!(lock_of(&target).exists(), "no lock file while downloading");
    (first, target, sha256_file(&src))
}

fn finished_ok(mut proc: Proc, sha: &str) {
    proc.expect_success(WAIT);
    let report = json_one(&proc.stdout());
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["sha256"], sha, "{report}");
}

#[test]
fn a_second_get_to_the_same_file_fails_at_once() {
    let rig = Rig::new(&[]);
    let (first, target, sha) = first_get(&rig);
    let url = rig.proxy.url("same.bin");
    let began = Instant::now();
    let out = wsresume()
        .args(["get", &url, s(&target), "--json", "--chunk-size", "64K"])
        .assert()
        .code(1);
    let quick = began.elapsed();
    let out = out.get_output();
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "another wsresume (pid {}) is downloading to {} (lock {}): wait for it or use --wait",
        first.pid(),
        target.display(),
        lock_of(&target).display()
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(json_one(&out.stdout)["error"]["code"], 1);
    assert!(quick < Duration::from_secs(2), "took {quick:?}");
    assert!(lock_of(&target).exists(), "the second run removed the lock");
    assert!(
        !target.exists(),
        "the target appeared while the first was running"
    );
    finished_ok(first, &sha);
    assert_eq!(sha256_file(&target), sha);
    rig.check_clean();
}

#[test]
fn with_wait_the_second_get_waits_and_both_succeed() {
    let rig = Rig::new(&[]);
    let (first, target, sha) = first_get(&rig);
    let url = rig.proxy.url("same.bin");
    let second = Proc::wsresume(&[
        "get",
        &url,
        s(&target),
        "--json",
        "--wait",
        "--chunk-size",
        "64K",
    ]);
    let waiting = wait_until(WAIT, || second.stderr_text().contains("waiting for"));
    assert!(waiting, "no waiting note: {}", second.stderr_text());
    assert!(
        second.stdout().is_empty(),
        "the second one ended while waiting"
    );
    rig.proxy.throttle(0);
    finished_ok(first, &sha);
    finished_ok(second, &sha);
    assert_eq!(sha256_file(&target), sha);
    rig.check_clean();
}

#[test]
fn a_lock_left_by_a_killed_get_does_not_block_the_next() {
    let rig = Rig::new(&[]);
    let (mut first, target, sha) = first_get(&rig);
    let state = target.with_file_name("same.bin.wsresume-state");
    let recorded = || {
        std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["verified_chunks"].as_u64())
            .is_some_and(|n| n > 0)
    };
    assert!(wait_until(WAIT, recorded), "no chunk recorded");
    first.kill();
    assert!(
        lock_of(&target).exists(),
        "SIGKILL cannot remove the lock file"
    );
    rig.proxy.throttle(0);
    let url = rig.proxy.url("same.bin");
    let out = wsresume()
        .args([
            "get",
            &url,
            s(&target),
            "--json",
            "-q",
            "--chunk-size",
            "64K",
        ])
        .assert()
        .success();
    let report = json_one(&out.get_output().stdout);
    assert_eq!(report["sha256"], sha, "{report}");
    assert!(
        report["resumed_from"].as_u64().unwrap() > 0,
        "the killed run's partial was not resumed: {report}"
    );
    assert_eq!(sha256_file(&target), sha);
    rig.check_clean();
}
