//! Listing (`ls`) and directory trees (`send -r`, `get -r`): what is shown
//! and what is hidden, confinement, exact JSON, skipping identical files.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use support::{Server, json_lines, random_file, s, sha256_file, wsresume};
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
    std::fs::write(root.join("c.bin.wsresume-lock"), b"4711").unwrap();
    std::fs::write(top.path().join("secret"), b"outside").unwrap();
    std::os::unix::fs::symlink(top.path().join("secret"), root.join("out")).unwrap();
    // A harmless-looking name for a partial file: not listed either.
    std::os::unix::fs::symlink("c.bin.wsresume-part", root.join("looks-fine.bin")).unwrap();
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
    for bad in [
        "../",
        "%2e%2e/",
        "out/",
        "c.bin.wsresume-part",
        "missing/",
        "looks-fine.bin",
    ] {
        let out = wsresume()
            .args(["ls", &server.url(bad), "--json"])
            .assert()
            .code(8);
        let report = support::json_one(&out.get_output().stdout);
        assert_eq!(report["error"]["code"], 8, "{bad}: {report}");
    }
}

/// A local tree: three files at three depths, one larger than a chunk, an
/// empty one, and a download's partial file that must not be sent.
fn local_tree(dir: &std::path::Path) -> Vec<&'static str> {
    random_file(dir, "a.bin", 300_000);
    random_file(dir, "sub/b.bin", 0);
    random_file(dir, "sub/deeper/c d.bin", 5000);
    std::fs::write(dir.join("sub/x.bin.wsresume-part"), b"junk").unwrap();
    vec!["a.bin", "sub/b.bin", "sub/deeper/c d.bin"]
}

fn run_json(args: &[&str]) -> (Vec<serde_json::Value>, String) {
    let out = wsresume()
        .args(args)
        .args(["--json", "--chunk-size", "64K"])
        .assert()
        .success();
    let out = out.get_output();
    (json_lines(&out.stdout), text(&out.stderr))
}

/// Whether big.bin (the one file over the cut size) needed more than one
/// attempt.
fn big_was_cut(lines: &[serde_json::Value]) -> bool {
    lines.iter().any(|l| {
        l["source"].as_str().is_some_and(|p| p.ends_with("big.bin"))
            && l["attempts"].as_u64().is_some_and(|a| a > 1)
    })
}

fn skipped(lines: &[serde_json::Value]) -> usize {
    lines.iter().filter(|l| l["skipped"] == true).count()
}

#[test]
fn send_and_get_trees_skip_identical_files() {
    let (root, local) = (tmp(), tmp());
    let top = local.path().join("tree");
    let names = local_tree(&top);
    let server = Server::start(root.path(), &[]);
    let url = server.url("dst/");
    let (lines, err) = run_json(&["send", "-r", s(&top), &url]);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(skipped(&lines), 0);
    assert!(err.contains("3 files: 3 sent"), "{err}");
    // The tree goes to dst/tree/, as `scp -r tree host:dst/` puts it.
    for name in &names {
        let stored = root.path().join("dst/tree").join(name);
        assert_eq!(sha256_file(&stored), sha256_file(&top.join(name)), "{name}");
    }
    assert!(
        !root
            .path()
            .join("dst/tree/sub/x.bin.wsresume-part")
            .exists()
    );
    let (lines, err) = run_json(&["send", "-r", s(&top), &url]);
    assert_eq!(skipped(&lines), 3, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l["transferred"] == 0 && l["status"] == "ok")
    );
    assert!(err.contains("0 sent") && err.contains("3 skipped"), "{err}");
    random_file(&top, "a.bin", 300_000);
    let (lines, _) = run_json(&["send", "-r", s(&top), &url]);
    assert_eq!(
        skipped(&lines),
        2,
        "same size, new content is sent: {lines:?}"
    );
    let copy = local.path().join("copy");
    let tree_url = server.url("dst/tree/");
    let (lines, err) = run_json(&["get", "-r", &tree_url, s(&copy), "--create-dirs"]);
    assert_eq!(lines.len(), 3);
    assert!(err.contains("3 downloaded"), "{err}");
    // The copy is DEST/NAME/, as `scp -r host:dst/tree copy` makes it.
    let dest = copy.join("tree");
    for name in &names {
        assert_eq!(
            sha256_file(&dest.join(name)),
            sha256_file(&top.join(name)),
            "{name}"
        );
    }
    std::fs::write(dest.join("sub/deeper/c d.bin"), vec![7u8; 5000]).unwrap();
    // The same command again finds the same copy.
    let (lines, _) = run_json(&["get", "-r", &tree_url, s(&copy)]);
    assert_eq!(skipped(&lines), 2, "{lines:?}");
    assert_eq!(
        sha256_file(&dest.join("sub/deeper/c d.bin")),
        sha256_file(&top.join("sub/deeper/c d.bin"))
    );
    support::assert_no_leftovers(&[root.path(), &dest]);
}

#[test]
fn tree_transfers_resume_each_file_through_cuts() {
    let rig = support::Rig::new(&[]);
    let top = rig.local.path().join("tree");
    local_tree(&top);
    random_file(&top, "big.bin", 2 * 1024 * 1024);
    // The first connections in any order (the files move in parallel: the
    // listing, two sessions, a.bin, big.bin) may be cut; only big.bin
    // reaches the cut.
    rig.proxy.cut_after(700_000, 5);
    let url = rig.proxy.url("cut/");
    let (lines, _) = run_json(&["send", "-r", s(&top), &url, "--retry-max-delay", "1"]);
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l["status"] == "ok"), "{lines:?}");
    assert!(
        big_was_cut(&lines),
        "the cuts did not hit big.bin: {lines:?}"
    );
    rig.proxy.cut_after(700_000, 5);
    let back = rig.local.path().join("back");
    let tree_url = rig.proxy.url("cut/tree/");
    let args = ["get", "-r", &tree_url, s(&back), "--create-dirs"];
    let (lines, _) = run_json(&[&args[..], &["--retry-max-delay", "1"]].concat());
    let dest = back.join("tree");
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l["status"] == "ok"), "{lines:?}");
    assert!(
        big_was_cut(&lines),
        "the cuts did not hit big.bin: {lines:?}"
    );
    assert_eq!(
        sha256_file(&dest.join("big.bin")),
        sha256_file(&top.join("big.bin"))
    );
    support::assert_no_leftovers(&[rig.root.path(), &dest]);
    let missing = rig.local.path().join("nothing");
    wsresume()
        .args(["send", "-r", s(&missing), &url, "-q"])
        .assert()
        .code(2);
}
