//! Resume after interruptions: SIGKILL/SIGINT of the client, SIGKILL/SIGTERM
//! of the server, `--retries 0` failures, a corrupted partial file and a source
//! replaced between runs. Interruptions are timed on the proxy's byte
//! counters (the proxy throttles so the transfer is catchable mid-way).
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use support::{
    CHUNK, FaultProxy, Proc, Rig, assert_has_leftovers, check_ok_report, client_args, file_len,
    json_u64, part_path, random_file, run_ok_json, s, sha256_file, wait_until, wsresume,
};

const SIZE: u64 = 4 * 1024 * 1024 + 333;
const RATE: u64 = 2 * 1024 * 1024;
const PROGRESS: u64 = 1024 * 1024;
const WAIT: Duration = Duration::from_secs(30);
/// Allowed waste per interruption: two chunks plus in-flight buffers.
const SLACK: u64 = 2 * CHUNK + 512 * 1024;
const OVERHEAD: u64 = 64 * 1024;

#[derive(Clone, Copy)]
enum Dir {
    Up,
    Down,
}

fn moved(proxy: &FaultProxy, dir: Dir) -> u64 {
    match dir {
        Dir::Up => proxy.up(),
        Dir::Down => proxy.down(),
    }
}

/// Spawns a client with the usual test flags (`-q`, 64K chunks, quick retries).
fn spawn_client(first: &[&str], extra: &[&str]) -> Proc {
    let mut args = client_args(first, extra);
    args.push("-q");
    Proc::wsresume(&args)
}

/// Waits until `amount` more bytes went through the proxy in `dir`, failing
/// if the client exits first.
fn wait_progress(proxy: &FaultProxy, client: &mut Proc, dir: Dir, amount: u64) {
    let target = moved(proxy, dir) + amount;
    let ok = wait_until(WAIT, || {
        moved(proxy, dir) >= target || client.try_status().is_some()
    });
    let status = client.try_status();
    assert!(
        ok && status.is_none(),
        "no progress or early exit ({status:?}): {}",
        client.stderr_text()
    );
}

/// Checks a resumed run's report: something was resumed and not re-sent.
fn check_resumed(report: &serde_json::Value, size: u64) {
    let resumed = json_u64(report, "resumed_from");
    assert!(
        resumed > 0 && resumed < size,
        "resumed_from {resumed}: {report}"
    );
    let transferred = json_u64(report, "transferred");
    assert!(
        transferred <= size - resumed + CHUNK,
        "transferred {transferred}: {report}"
    );
}

/// Starts a throttled download through the proxy and SIGKILLs it once
/// `progress` more bytes came down.
fn killed_get(rig: &Rig, url: &str, dest: &Path, progress: u64) {
    rig.proxy.throttle(RATE);
    let mut client = spawn_client(&["get", url, support::s(dest)], &[]);
    wait_progress(&rig.proxy, &mut client, Dir::Down, progress);
    client.kill();
    rig.proxy.throttle(0);
    assert_has_leftovers(rig.local.path());
}

#[test]
fn get_resumes_after_repeated_client_kills() {
    const KILLS: u64 = 3;
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "big.bin", SIZE);
    let dest = rig.local.path().join("big.bin");
    let url = rig.proxy.url("big.bin");
    for _ in 0..KILLS {
        killed_get(&rig, &url, &dest, PROGRESS);
    }
    let report = run_ok_json(&client_args(&["get", &url, s(&dest)], &[]));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    check_ok_report(&report, "get", SIZE, &sha256_file(&src));
    check_resumed(&report, SIZE);
    let bound = SIZE + KILLS * SLACK + OVERHEAD;
    assert!(
        rig.proxy.down() <= bound,
        "re-sent too much: {} > {bound}",
        rig.proxy.down()
    );
    rig.check_clean();
}

/// A client stopped by `signal` exits 130 and keeps its state; the file
/// already at the target is untouched until the resumed get replaces it.
fn stopped_client_keeps_state_and_the_old_target(signal: &str) {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "int.bin", SIZE);
    let dest = rig.local.path().join("int.bin");
    std::fs::write(&dest, b"the old version").unwrap();
    let url = rig.proxy.url("int.bin");
    rig.proxy.throttle(RATE);
    let mut client = spawn_client(&["get", &url, s(&dest)], &[]);
    wait_progress(&rig.proxy, &mut client, Dir::Down, PROGRESS);
    client.signal(signal);
    let code = client.wait_timeout(WAIT).map(|st| st.code());
    assert_eq!(code, Some(Some(130)), "stderr: {}", client.stderr_text());
    assert_has_leftovers(rig.local.path());
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"the old version",
        "the target changed before the new file was complete"
    );
    rig.proxy.throttle(0);
    let report = run_ok_json(&client_args(&["get", &url, s(&dest)], &[]));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    check_resumed(&report, SIZE);
    rig.check_clean();
}

#[test]
fn sigint_keeps_state_and_the_old_target_exits_130_and_resumes() {
    stopped_client_keeps_state_and_the_old_target("INT");
}

#[test]
fn sigterm_keeps_state_and_the_old_target_exits_130_and_resumes() {
    stopped_client_keeps_state_and_the_old_target("TERM");
}

/// Uploads through a throttled proxy with `--retries 0`, stops the server
/// mid-way with `stop`, restarts it and resumes with a new `send`.
fn send_resumes_after_server_stop(stop: impl FnOnce(&mut Rig), expect_code: Option<i32>) {
    let mut rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "up.bin", SIZE);
    rig.proxy.throttle(RATE);
    let url = rig.proxy.url("d/up.bin");
    let mut client = spawn_client(&["send", s(&src), &url], &["--retries", "0"]);
    wait_progress(&rig.proxy, &mut client, Dir::Up, 3 * PROGRESS / 2);
    stop(&mut rig);
    let status = client
        .wait_timeout(WAIT)
        .unwrap_or_else(|| panic!("client hangs: {}", client.stderr_text()));
    assert!(
        !status.success(),
        "client succeeded although the server stopped"
    );
    if let Some(code) = expect_code {
        assert_eq!(
            status.code(),
            Some(code),
            "stderr: {}",
            client.stderr_text()
        );
    }
    assert_has_leftovers(rig.root.path());
    rig.server.restart();
    let report = run_ok_json(&client_args(
        &["send", s(&src), &rig.server.url("d/up.bin")],
        &[],
    ));
    assert_eq!(
        sha256_file(&rig.root.path().join("d/up.bin")),
        sha256_file(&src)
    );
    check_ok_report(&report, "send", SIZE, &sha256_file(&src));
    check_resumed(&report, SIZE);
    rig.check_clean();
}

#[test]
fn send_resumes_after_server_sigkill() {
    send_resumes_after_server_stop(|rig| rig.server.kill(), Some(4));
}

#[test]
fn send_resumes_after_server_sigterm() {
    let stop = |rig: &mut Rig| {
        let status = rig.server.terminate();
        assert_eq!(
            status.and_then(|st| st.code()),
            Some(0),
            "serve must exit 0 on SIGTERM"
        );
    };
    send_resumes_after_server_stop(stop, None);
}

/// A running `send` with default retries carries on by itself once the
/// server is back (the proxy is pointed at the restarted server).
#[test]
fn running_send_survives_server_restart() {
    let mut rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "live.bin", SIZE);
    rig.proxy.throttle(RATE);
    let url = rig.proxy.url("live.bin");
    let mut client = spawn_client(&["send", s(&src), &url], &["--json"]);
    wait_progress(&rig.proxy, &mut client, Dir::Up, 3 * PROGRESS / 2);
    rig.server.kill();
    rig.server.restart();
    rig.proxy.set_upstream(rig.server.addr());
    rig.proxy.throttle(0);
    client.expect_success(Duration::from_secs(60));
    assert_eq!(
        sha256_file(&rig.root.path().join("live.bin")),
        sha256_file(&src)
    );
    let report = support::json_one(&client.stdout());
    check_ok_report(&report, "send", SIZE, &sha256_file(&src));
    let bound = SIZE + SLACK + OVERHEAD;
    assert!(
        rig.proxy.up() <= bound,
        "re-sent too much: {} > {bound}",
        rig.proxy.up()
    );
    rig.check_clean();
}

#[test]
fn get_with_retries_zero_fails_4_then_resumes() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "r0.bin", SIZE);
    let dest = rig.local.path().join("r0.bin");
    rig.proxy.cut_after(1_000_000, 1);
    let url = rig.proxy.url("r0.bin");
    wsresume()
        .args(client_args(
            &["get", &url, s(&dest)],
            &["--retries", "0", "-q"],
        ))
        .assert()
        .code(4);
    assert_has_leftovers(rig.local.path());
    assert!(!dest.exists(), "target must not exist before completion");
    let report = run_ok_json(&client_args(&["get", &url, s(&dest)], &[]));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    check_resumed(&report, SIZE);
    rig.check_clean();
}

#[test]
fn send_with_retries_zero_fails_4_then_resumes() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "r0.bin", SIZE);
    let target = rig.root.path().join("r0.bin");
    rig.proxy.cut_after(1_000_000, 1);
    let url = rig.proxy.url("r0.bin");
    wsresume()
        .args(client_args(
            &["send", s(&src), &url],
            &["--retries", "0", "-q"],
        ))
        .assert()
        .code(4);
    assert_has_leftovers(rig.root.path());
    assert!(
        !target.exists(),
        "server target must not exist before completion"
    );
    let report = run_ok_json(&client_args(&["send", s(&src), &url], &[]));
    assert_eq!(sha256_file(&target), sha256_file(&src));
    check_resumed(&report, SIZE);
    rig.check_clean();
}

/// Flips `len` bytes of `path` at `offset`.
fn flip_bytes(path: &Path, offset: u64, len: usize) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut buf = vec![0u8; len];
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.read_exact(&mut buf).unwrap();
    buf.iter_mut().for_each(|b| *b ^= 0xA5);
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&buf).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn corrupted_partial_is_repaired() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "corrupt.bin", SIZE);
    let dest = rig.local.path().join("corrupt.bin");
    let url = rig.proxy.url("corrupt.bin");
    killed_get(&rig, &url, &dest, 2 * PROGRESS);
    let part = part_path(&dest);
    let len = file_len(&part);
    assert!(
        len >= 4 * CHUNK,
        "partial {} too short: {len}",
        part.display()
    );
    flip_bytes(&part, len / 4, 16);
    flip_bytes(&part, len / 2 + 7, 16);
    let report = run_ok_json(&client_args(
        &["get", &rig.server.url("corrupt.bin"), s(&dest)],
        &[],
    ));
    assert_eq!(
        sha256_file(&dest),
        sha256_file(&src),
        "corruption survived into the target"
    );
    check_ok_report(&report, "get", SIZE, &sha256_file(&src));
    rig.check_clean();
}

/// Interrupts a download, replaces the server's file with `new_size` new
/// random bytes, and checks the rerun delivers exactly the new file.
fn replaced_source(new_size: u64) {
    let rig = Rig::new(&[]);
    random_file(rig.root.path(), "moving.bin", SIZE);
    let dest = rig.local.path().join("moving.bin");
    killed_get(&rig, &rig.proxy.url("moving.bin"), &dest, PROGRESS);
    let src = random_file(rig.root.path(), "moving.bin", new_size);
    let report = run_ok_json(&client_args(
        &["get", &rig.server.url("moving.bin"), s(&dest)],
        &[],
    ));
    assert_eq!(
        sha256_file(&dest),
        sha256_file(&src),
        "target is not the new source"
    );
    check_ok_report(&report, "get", new_size, &sha256_file(&src));
    rig.check_clean();
}

#[test]
fn source_replaced_with_different_size() {
    replaced_source(3 * 1024 * 1024 + 777);
}

#[test]
fn source_replaced_with_same_size() {
    replaced_source(SIZE);
}

/// With the server's hash cache warm (the file was served whole once), a
/// resumed download is checked against the cached chaining values and
/// continues where it stopped instead of starting over.
#[test]
fn resume_against_a_warm_hash_cache() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "warm.bin", SIZE);
    let url = rig.proxy.url("warm.bin");
    let first = rig.local.path().join("first.bin");
    run_ok_json(&client_args(&["get", &url, s(&first)], &[]));
    let dest = rig.local.path().join("warm.bin");
    killed_get(&rig, &url, &dest, PROGRESS);
    let report = run_ok_json(&client_args(&["get", &url, s(&dest)], &[]));
    assert_eq!(sha256_file(&dest), sha256_file(&src));
    assert_eq!(sha256_file(&first), sha256_file(&src));
    check_resumed(&report, SIZE);
    rig.check_clean();
}

/// One way to damage an interrupted download's files, and what the user
/// must be told when the same command runs again.
type Damage = (&'static str, fn(&Path), &'static str);

fn state_file(dest: &Path) -> std::path::PathBuf {
    dest.with_file_name(format!(
        "{}.wsresume-state",
        dest.file_name().unwrap().to_str().unwrap()
    ))
}

fn edit_state(dest: &Path, from: &str, to: &str) {
    let path = state_file(dest);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn damages() -> Vec<Damage> {
    vec![
        (
            "truncated state",
            |d| {
                let p = state_file(d);
                let len = file_len(&p);
                OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            },
            "damaged",
        ),
        (
            "garbage state",
            |d| std::fs::write(state_file(d), b"\x00\x01garbage").unwrap(),
            "damaged",
        ),
        (
            "future version",
            |d| edit_state(d, "\"version\": 1", "\"version\": 99"),
            "version 99",
        ),
        (
            "another source",
            |d| edit_state(d, "\"id\": \"", "\"id\": \"other-"),
            "changed",
        ),
        (
            "inconsistent",
            |d| edit_state(d, "\"chunk_size\": 65536", "\"chunk_size\": 100"),
            "inconsistent",
        ),
        (
            "chunk log truncated",
            |d| {
                let p = d.with_file_name("dmg.bin.wsresume-chunks");
                OpenOptions::new()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_len(40)
                    .unwrap();
            },
            "kept 1 of",
        ),
        (
            "partial data missing",
            |d| std::fs::remove_file(part_path(d)).unwrap(),
            "missing",
        ),
        (
            "partial truncated",
            |d| {
                OpenOptions::new()
                    .write(true)
                    .open(part_path(d))
                    .unwrap()
                    .set_len(CHUNK + 5)
                    .unwrap();
            },
            "kept 1 of",
        ),
    ]
}

/// A damaged partial or state file is detected, explained, and never mixed
/// into the result: each case resumes or restarts and ends with the source.
#[test]
fn damaged_state_is_detected_explained_and_never_mixed() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "dmg.bin", SIZE);
    let dest = rig.local.path().join("dmg.bin");
    killed_get(&rig, &rig.proxy.url("dmg.bin"), &dest, 2 * PROGRESS);
    let saved = TempDir::new().unwrap();
    let copy = |from: &Path, to: &Path| {
        for entry in std::fs::read_dir(from).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    };
    copy(rig.local.path(), saved.path());
    for (name, damage, told) in damages() {
        std::fs::remove_file(&dest).ok();
        copy(saved.path(), rig.local.path());
        damage(&dest);
        let out = wsresume()
            .args(client_args(
                &["get", &rig.server.url("dmg.bin"), s(&dest)],
                &[],
            ))
            .assert()
            .success();
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(told), "{name}: not told {told:?}: {stderr}");
        assert_eq!(sha256_file(&dest), sha256_file(&src), "{name}: mixed");
        rig.check_clean();
    }
}

/// A source rewritten while it is being sent never yields a mixed file: the
/// next attempt notices, says so, and sends the new version from the start.
#[test]
fn source_changed_during_send_is_sent_again_whole() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.local.path(), "live.bin", SIZE);
    rig.proxy.throttle(RATE);
    let url = rig.proxy.url("live.bin");
    // Not quiet: the notice is part of what is checked.
    let mut client = Proc::wsresume(&client_args(&["send", s(&src), &url], &[]));
    wait_progress(&rig.proxy, &mut client, Dir::Up, PROGRESS);
    // Rewrite in place (same inode), as an editor or a build would, then cut
    // the connection: the next attempt must not append new bytes to the old
    // version's verified prefix.
    std::fs::write(&src, support::random_bytes(SIZE as usize)).unwrap();
    assert_eq!(rig.proxy.cut_now(), 1);
    rig.proxy.throttle(0);
    client.expect_success(WAIT);
    assert_eq!(
        sha256_file(&rig.root.path().join("live.bin")),
        sha256_file(&src),
        "the target mixes two versions"
    );
    assert!(
        client.stderr_text().contains("changed"),
        "the user was not told: {}",
        client.stderr_text()
    );
    rig.check_clean();
}
