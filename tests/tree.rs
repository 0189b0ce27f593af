//! Listing (`ls`) and directory trees (`send -r`, `get -r`): what is shown
//! and what is hidden, confinement, exact JSON, skipping identical files.
#![allow(clippy::unwrap_used)]

mod support;

use support::{Server, json_lines, random_file, sha256_file, wsresume};
use tempfile::TempDir;

fn tmp() -> TempDir {
    TempDir::new().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// ROOT with `a.bin`, `sub/b.bin`, a partial upload's files, and links in
/// and out of ROOT.
fn listing_root() -> (TempDir, std::path::PathBuf) {
    let top = tmp();
    let root = top.path().join("root");
    random_file(&root, "a.bin", 1000);
    random_file(&root, "sub/b.bin", 70_000);
    std::fs::write(root.join("c.bin.wsresume-part"), b"partial").unwrap();
    std::fs::write(root.join("c.bin.wsresume-state"), b"{}").unwrap();
    std::fs::write(top.path().join("secret"), b"outside").unwrap();
    std::os::unix::fs::symlink(top.path().join("secret"), root.join("out")).unwrap();
    (top, root)
}

fn ls_json(args: &[&str]) -> Vec<serde_json::Value> {
    let out = wsresume()
        .arg("ls")
        .args(args)
        .arg("--json")
        .assert()
        .success();
    json_lines(&out.get_output().stdout)
}

#[test]
fn ls_shows_files_and_dirs_but_never_partials_or_escapes() {
    let (_top, root) = listing_root();
    let server = Server::start(&root, &[]);
    let entries = ls_json(&[&server.url("")]);
    let paths: Vec<_> = entries
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a.bin", "sub"], "{entries:?}");
    assert_eq!(entries[0]["kind"], "file");
    assert_eq!(entries[0]["size"], 1000);
    assert!(entries[0]["modified"].as_str().unwrap().ends_with('Z'));
    assert!(entries[0]["mtime"].as_i64().unwrap() > 0);
    assert_eq!(entries[1]["kind"], "dir");
    assert!(entries[1]["size"].is_null());
    let deep = ls_json(&[&server.url(""), "-r", "--sha256"]);
    let paths: Vec<_> = deep.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["a.bin", "sub/b.bin"]);
    assert_eq!(deep[1]["sha256"], sha256_file(&root.join("sub/b.bin")));
    let sub = ls_json(&[&server.url("sub/")]);
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0]["size"], 70_000);
    let out = wsresume().args(["ls", &server.url("")]).assert().success();
    let human = text(&out.get_output().stdout);
    assert!(
        human.contains("1000 B") && human.contains("a.bin"),
        "{human}"
    );
    assert!(human.contains("sub/"), "{human}");
    assert!(out.get_output().stderr.is_empty());
    for bad in ["../", "%2e%2e/", "out/", "c.bin.wsresume-part", "missing/"] {
        let out = wsresume()
            .args(["ls", &server.url(bad), "--json"])
            .assert()
            .code(8);
        let report = support::json_one(&out.get_output().stdout);
        assert_eq!(report["error"]["code"], 8, "{bad}: {report}");
    }
}
