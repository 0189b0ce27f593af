//! Two things scripts trip over: standard output that carries a file
//! (`get URL -`) never gets an error or a JSON line, and file names with
//! spaces: a URL with a literal space says to write `%20`, and `ls --json`
//! gives each entry's URL, ready to pass to `get`.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use support::{Server, json_lines, random_file, run_expect_code, s, sha256_file, wsresume};
use tempfile::TempDir;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// With DEST `-`, a refused command line (here `--json`, which would need
/// stdout for its line) leaves stdout empty: the message and the JSON error
/// line go to stderr, and the exit code is 2.
#[test]
fn get_to_stdout_keeps_errors_and_json_off_stdout() {
    let root = TempDir::new().unwrap();
    random_file(root.path(), "f.bin", 1000);
    let server = Server::start(root.path(), &[]);
    let url = server.url("f.bin");
    let cases: [&[&str]; 3] = [
        &["get", &url, "-", "--json"],
        &["get", &url, "-", "--json", "--bogus"],
        &["-v", "get", "--json", &url, "-", "--chunk-size", "12Q"],
    ];
    for args in cases {
        let out = run_expect_code(args, 2);
        assert!(
            out.stdout.is_empty(),
            "{args:?}: stdout {:?}",
            text(&out.stdout)
        );
        let err = text(&out.stderr);
        let json: Vec<&str> = err.lines().filter(|l| l.starts_with('{')).collect();
        let [line] = json.as_slice() else {
            panic!("{args:?}: not one JSON line on stderr: {err}");
        };
        let report: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(report["error"]["code"], 2, "{args:?}: {report}");
        assert_eq!(report["op"], "get", "{args:?}: {report}");
    }
    let out = run_expect_code(&["get", &url, "-", "--json"], 2);
    assert!(text(&out.stderr).contains("standard output carries the file"));
    // A failure after the start keeps stdout empty too.
    let closed = format!("ws://127.0.0.1:{}/f.bin", support::closed_port());
    let out = run_expect_code(&["get", &closed, "-", "--retries", "0"], 4);
    assert!(out.stdout.is_empty() && !out.stderr.is_empty());
}

#[test]
fn a_url_with_a_space_says_to_write_it_as_percent_20() {
    let local = TempDir::new().unwrap();
    let port = support::closed_port();
    for command in ["get", "ls"] {
        let url = format!("ws://127.0.0.1:{port}/a b.txt");
        let mut args = vec![command, url.as_str()];
        let dest = local.path().join("a b.txt");
        if command == "get" {
            args.push(s(&dest));
        }
        let out = run_expect_code(&args, 2);
        let err = text(&out.stderr);
        assert!(
            err.contains("the URL contains a space: write it as %20"),
            "{err}"
        );
        assert!(!dest.exists());
    }
}

/// Every `ls --json` line has the entry's URL, percent-encoded; passed to
/// `get` as it is, it fetches that entry (names with spaces, `#`, `%`).
#[test]
fn ls_json_urls_can_be_passed_to_get() {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let names = ["a b.txt", "sub dir/c#1 %.txt"];
    for (i, name) in names.iter().enumerate() {
        random_file(root.path(), name, 1000 + i as u64);
    }
    let server = Server::start(root.path(), &[]);
    let listed = |url: &str, extra: &[&str]| {
        let out = wsresume()
            .args(["ls", url, "--json"])
            .args(extra)
            .assert()
            .success();
        json_lines(&out.get_output().stdout)
    };
    let top = listed(&server.url("/"), &[]);
    let dir = top.iter().find(|e| e["kind"] == "dir").unwrap();
    assert_eq!(dir["url"], server.url("sub%20dir/"), "{dir}");
    let tree = listed(&server.url("/"), &["-r"]);
    assert_eq!(tree.len(), names.len(), "{tree:?}");
    for (i, entry) in tree.iter().enumerate() {
        let url = entry["url"].as_str().unwrap();
        assert!(!url.contains(' '), "{entry}");
        let dest = local.path().join(format!("{i}.bin"));
        wsresume()
            .args(["get", url, s(&dest), "-q"])
            .assert()
            .success();
        let path = entry["path"].as_str().unwrap();
        assert_eq!(
            sha256_file(&dest),
            sha256_file(&root.path().join(path)),
            "{entry}"
        );
    }
    // A URL naming a file lists that file, with that URL.
    let file_url = server.url("a%20b.txt");
    let one = listed(&file_url, &[]);
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["url"], file_url.as_str(), "{}", one[0]);
}
