//! Round trips without faults, both directions: edge sizes around the chunk
//! size, one large file with the default chunk size, the `--json` report,
//! destination forms (directory, default, `-`), directory URLs and several
//! files, and a clean filesystem afterwards.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::Path;

use support::{
    CHUNK, CHUNK_ARG, Server, assert_no_leftovers, check_ok_report, json_lines, json_u64,
    random_file, run_ok_json, s, sha256_file, wsresume,
};
use tempfile::TempDir;

const EDGE_SIZES: [u64; 6] = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5];
const LARGE: u64 = 24 * 1024 * 1024 + 4321;

fn tmp() -> TempDir {
    TempDir::new().unwrap()
}

/// Checks content and report of a fresh (not resumed) transfer.
fn check_fresh(src: &Path, dst: &Path, report: &serde_json::Value, op: &str) {
    let size = std::fs::metadata(src).unwrap().len();
    let sha = sha256_file(src);
    assert_eq!(
        sha256_file(dst),
        sha,
        "{op} of {size} bytes: content differs"
    );
    check_ok_report(report, op, size, &sha);
    assert_eq!(json_u64(report, "resumed_from"), 0, "report: {report}");
    assert_eq!(json_u64(report, "transferred"), size, "report: {report}");
}

fn get_file(url: &str, dest: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["get", url, s(dest)];
    args.extend_from_slice(extra);
    run_ok_json(&args)
}

fn send_file(src: &Path, url: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["send", s(src), url];
    args.extend_from_slice(extra);
    run_ok_json(&args)
}

#[test]
fn get_edge_sizes() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    for size in EDGE_SIZES {
        let name = format!("edge-{size}.bin");
        let src = random_file(root.path(), &name, size);
        let dest = local.path().join(&name);
        let report = get_file(&server.url(&name), &dest, &["--chunk-size", CHUNK_ARG]);
        check_fresh(&src, &dest, &report, "get");
    }
    assert_no_leftovers(&[root.path(), local.path()]);
}

#[test]
fn send_edge_sizes() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    for size in EDGE_SIZES {
        let name = format!("edge-{size}.bin");
        let src = random_file(local.path(), &name, size);
        let url = server.url(&format!("in/{name}"));
        let report = send_file(&src, &url, &["--chunk-size", CHUNK_ARG]);
        check_fresh(&src, &root.path().join("in").join(&name), &report, "send");
    }
    assert_no_leftovers(&[root.path(), local.path()]);
}

#[test]
fn get_large_file_default_chunk_size() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let src = random_file(root.path(), "large.bin", LARGE);
    let dest = local.path().join("large.bin");
    let report = get_file(&server.url("large.bin"), &dest, &[]);
    check_fresh(&src, &dest, &report, "get");
    assert_no_leftovers(&[root.path(), local.path()]);
}

#[test]
fn send_large_file_default_chunk_size() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let src = random_file(local.path(), "large.bin", LARGE);
    let report = send_file(&src, &server.url("large.bin"), &[]);
    check_fresh(&src, &root.path().join("large.bin"), &report, "send");
    assert_no_leftovers(&[root.path(), local.path()]);
}

#[test]
fn send_creates_missing_parent_directories() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let src = random_file(local.path(), "deep.bin", 3 * CHUNK + 5);
    send_file(
        &src,
        &server.url("a/b/c/deep.bin"),
        &["--chunk-size", CHUNK_ARG],
    );
    assert_eq!(
        sha256_file(&root.path().join("a/b/c/deep.bin")),
        sha256_file(&src)
    );
    assert_no_leftovers(&[root.path()]);
}

#[test]
fn get_to_stdout_writes_exact_bytes() {
    let (root, cwd) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let src = random_file(root.path(), "out.bin", 5 * CHUNK + 17);
    let url = server.url("out.bin");
    let out = wsresume()
        .current_dir(cwd.path())
        .args(["get", &url, "-", "-q", "--chunk-size", CHUNK_ARG])
        .assert()
        .success();
    assert!(
        out.get_output().stdout == std::fs::read(&src).unwrap(),
        "stdout differs from source"
    );
    assert_eq!(
        std::fs::read_dir(cwd.path()).unwrap().count(),
        0,
        "get to '-' wrote files"
    );
}

#[test]
fn get_into_directory_and_default_destination() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let src = random_file(root.path(), "sub/named.bin", CHUNK + 1);
    let into = local.path().join("into");
    std::fs::create_dir(&into).unwrap();
    let url = server.url("sub/named.bin");
    wsresume()
        .args(["get", &url, s(&into), "-q"])
        .assert()
        .success();
    assert_eq!(sha256_file(&into.join("named.bin")), sha256_file(&src));
    wsresume()
        .current_dir(local.path())
        .args(["get", &url, "-q"])
        .assert()
        .success();
    assert_eq!(
        sha256_file(&local.path().join("named.bin")),
        sha256_file(&src)
    );
    assert_no_leftovers(&[root.path(), local.path()]);
}

#[test]
fn send_several_files_to_directory_url() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let a = random_file(local.path(), "a.bin", CHUNK + 3);
    let b = random_file(local.path(), "b.bin", 7);
    let url = server.url("dir/");
    let out = wsresume()
        .args(["send", s(&a), s(&b), &url, "--json", "-q"])
        .assert()
        .success();
    let reports = json_lines(&out.get_output().stdout);
    assert_eq!(reports.len(), 2, "one JSON line per file: {reports:?}");
    for (src, report) in [&a, &b].into_iter().zip(&reports) {
        let name = src.file_name().unwrap();
        check_fresh(src, &root.path().join("dir").join(name), report, "send");
    }
    assert_no_leftovers(&[root.path(), local.path()]);
}

/// One file of several failing does not stop the others; the run exits
/// with that failure's code and says how many failed.
#[test]
fn send_several_goes_on_after_a_failure_and_exits_with_its_code() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let missing = local.path().join("missing.bin");
    let b = random_file(local.path(), "b.bin", CHUNK + 1);
    let out = wsresume()
        .args([
            "send",
            s(&missing),
            s(&b),
            &server.url("dir/"),
            "--json",
            "-q",
        ])
        .assert()
        .code(3);
    let output = out.get_output();
    let reports = json_lines(&output.stdout);
    assert_eq!(reports.len(), 2, "one JSON line per file: {reports:?}");
    assert_eq!(reports[0]["status"], "error", "{reports:?}");
    assert_eq!(reports[0]["error"]["code"], 3, "{reports:?}");
    check_fresh(&b, &root.path().join("dir/b.bin"), &reports[1], "send");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 of 2 files failed"), "{stderr}");
    assert_no_leftovers(&[root.path(), local.path()]);
}

#[test]
fn quiet_success_prints_nothing_on_stderr() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    random_file(root.path(), "q.bin", CHUNK);
    let dest = local.path().join("q.bin");
    let out = wsresume()
        .args(["get", &server.url("q.bin"), s(&dest), "-q"])
        .assert()
        .success();
    assert!(
        out.get_output().stderr.is_empty(),
        "stderr: {:?}",
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    let out = wsresume()
        .args(["send", s(&dest), &server.url("q2.bin"), "-q"])
        .assert()
        .success();
    assert!(
        out.get_output().stderr.is_empty(),
        "stderr: {:?}",
        String::from_utf8_lossy(&out.get_output().stderr)
    );
}
