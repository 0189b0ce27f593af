//! Where files go, and mistakes about directories: DEST ending in `/`,
//! missing directories (reported before connecting, or `--create-dirs`),
//! directory URLs without `-r`, `get -r` of a file, `send` into a remote
//! directory, and the copy of a tree being `DEST/NAME/` both ways.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::Path;

use support::{
    CHUNK, Rig, Server, assert_no_leftovers, json_lines, json_one, random_file, s, sha256_file,
    wsresume,
};
use tempfile::TempDir;

fn tmp() -> TempDir {
    TempDir::new().unwrap()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `wsresume ARGS` in `cwd`, expecting exit `code`.
fn run_in(cwd: &Path, args: &[&str], code: i32) -> std::process::Output {
    wsresume()
        .current_dir(cwd)
        .args(args)
        .assert()
        .code(code)
        .get_output()
        .clone()
}

/// Names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_missing_directory_is_reported_before_connecting() {
    let rig = Rig::new(&[]);
    let src = random_file(rig.root.path(), "big.bin", 3 * CHUNK + 5);
    let url = rig.proxy.url("big.bin");
    let local = rig.local.path();
    for dest in ["nodir/", "a/b/c.bin"] {
        let out = run_in(local, &["get", &url, dest, "--json"], 3);
        let err = stderr_of(&out);
        let dir = dest.rsplit_once('/').map_or(dest, |(dir, _)| dir);
        assert!(err.contains(&format!("directory {dir}")), "{dest}: {err}");
        assert!(err.contains("--create-dirs"), "{dest}: {err}");
        assert!(!err.contains(".wsresume-"), "{dest}: {err}");
        assert_eq!(json_one(&out.stdout)["error"]["code"], 3);
    }
    assert_eq!(rig.proxy.connections(), 0, "connected before checking DEST");
    assert!(entries(local).is_empty(), "left {:?}", entries(local));
    for (dest, file) in [("nodir/", "nodir/big.bin"), ("a/b/c.bin", "a/b/c.bin")] {
        run_in(local, &["get", &url, dest, "--create-dirs", "-q"], 0);
        assert_eq!(sha256_file(&local.join(file)), sha256_file(&src), "{dest}");
    }
    // A DEST ending in '/' is a directory even when a file of that name
    // could be created: `plain/` under a regular file is not a directory.
    random_file(local, "plain", 1);
    let out = run_in(local, &["get", &url, "plain/", "-q"], 3);
    assert!(stderr_of(&out).contains("plain/ is not a directory"));
    rig.check_clean();
}

#[test]
fn directories_without_r_say_use_r() {
    let rig = Rig::new(&[]);
    random_file(rig.root.path(), "isos/a.iso", 1000);
    let local = rig.local.path();
    let dir = rig.proxy.url("isos/");
    let out = run_in(local, &["get", &dir, "--json"], 2);
    assert!(stderr_of(&out).contains("isos/ is a directory: use -r"));
    assert_eq!(json_one(&out.stdout)["error"]["code"], 2);
    assert_eq!(
        rig.proxy.connections(),
        0,
        "a URL ending in '/' needs no server"
    );
    // Without the '/', the server tells (`is_directory`).
    let out = run_in(local, &["get", &rig.proxy.url("isos"), "--json"], 2);
    let err = stderr_of(&out);
    assert!(err.contains("isos is a directory: use -r"), "{err}");
    assert_eq!(json_one(&out.stdout)["error"]["code"], 2);
    std::fs::create_dir(local.join("photos")).unwrap();
    let out = run_in(local, &["send", "photos", &rig.proxy.url("x/")], 2);
    assert!(stderr_of(&out).contains("photos is a directory: use -r"));
    assert_eq!(rig.proxy.connections(), 1, "send of a directory connected");
    assert_eq!(entries(local), ["photos"]);
    rig.check_clean();
}

#[test]
fn get_r_of_a_file_url_fetches_the_file() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let src = random_file(root.path(), "f.bin", CHUNK + 7);
    let url = server.url("f.bin");
    let out = run_in(local.path(), &["get", "-r", &url, "--json", "-q"], 0);
    let report = json_one(&out.stdout);
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["target"], "f.bin");
    assert_eq!(sha256_file(&local.path().join("f.bin")), sha256_file(&src));
    run_in(local.path(), &["get", "-r", &url, "g.bin", "-q"], 0);
    assert_eq!(sha256_file(&local.path().join("g.bin")), sha256_file(&src));
    // A directory holding only a file of its own name lists like that file.
    let inner = random_file(root.path(), "d/d", 100);
    run_in(local.path(), &["get", "-r", &server.url("d"), "-q"], 0);
    assert_eq!(sha256_file(&local.path().join("d/d")), sha256_file(&inner));
    assert_eq!(entries(local.path()), ["d", "f.bin", "g.bin"]);
    assert_no_leftovers(&[root.path(), local.path()]);
}

#[test]
fn a_tree_of_one_failing_file_prints_its_error_once() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    random_file(root.path(), "one/x.bin", 100);
    // A directory where the file must go: the download cannot finish.
    std::fs::create_dir_all(local.path().join("one/x.bin")).unwrap();
    let out = run_in(local.path(), &["get", "-r", &server.url("one/"), "-q"], 3);
    let err = stderr_of(&out);
    assert_eq!(err.matches("downloading").count(), 1, "{err}");
}

#[test]
fn send_to_a_remote_directory_puts_the_file_inside() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    std::fs::create_dir(root.path().join("isos")).unwrap();
    let f = random_file(local.path(), "f.iso", CHUNK + 1);
    let out = run_in(
        local.path(),
        &["send", "f.iso", &server.url("isos"), "--json", "-q"],
        0,
    );
    let report = json_one(&out.stdout);
    assert_eq!(report["target"], server.url("isos/f.iso"), "{report}");
    assert_eq!(report["attempts"], 1, "{report}");
    assert_eq!(
        sha256_file(&root.path().join("isos/f.iso")),
        sha256_file(&f)
    );
    // Not a directory: the URL names the file, as before.
    run_in(
        local.path(),
        &["send", "f.iso", &server.url("n.iso"), "-q"],
        0,
    );
    assert_eq!(sha256_file(&root.path().join("n.iso")), sha256_file(&f));
    // A directory inside the directory cannot be replaced by the file.
    std::fs::create_dir_all(root.path().join("deep/f.iso")).unwrap();
    let out = run_in(local.path(), &["send", "f.iso", &server.url("deep")], 8);
    assert!(stderr_of(&out).contains("deep/f.iso is a directory on the server"));
    assert_no_leftovers(&[root.path(), local.path()]);
}

#[test]
fn trees_are_copied_as_dest_slash_name_both_ways() {
    let (root, local) = (tmp(), tmp());
    let server = Server::start(root.path(), &[]);
    let tree = local.path().join("photos");
    random_file(&tree, "a.bin", 1000);
    random_file(&tree, "sub/b.bin", CHUNK + 3);
    let sha = |p: &Path| sha256_file(p);
    // send -r DIR URL/: URL/DIR/ (scp -r DIR host:URL/).
    run_in(
        local.path(),
        &["send", "-r", "photos", &server.url("backup/"), "-q"],
        0,
    );
    assert_eq!(
        sha(&root.path().join("backup/photos/sub/b.bin")),
        sha(&tree.join("sub/b.bin"))
    );
    // DIR/. sends the contents.
    run_in(
        local.path(),
        &["send", "-r", "photos/.", &server.url("flat"), "-q"],
        0,
    );
    assert_eq!(entries(&root.path().join("flat")), ["a.bin", "sub"]);
    // get -r URL/NAME/ without DEST: ./NAME/ (scp -r host:NAME .).
    let cwd = tmp();
    let url = server.url("backup/photos/");
    run_in(cwd.path(), &["get", "-r", &url, "-q"], 0);
    assert_eq!(entries(cwd.path()), ["photos"]);
    assert_eq!(
        sha(&cwd.path().join("photos/sub/b.bin")),
        sha(&tree.join("sub/b.bin"))
    );
    // Again: the same copy, every file skipped.
    let out = run_in(cwd.path(), &["get", "-r", &url, "--json"], 0);
    let lines = json_lines(&out.stdout);
    assert!(
        lines.len() == 2 && lines.iter().all(|l| l["skipped"] == true),
        "{lines:?}"
    );
    assert_eq!(entries(cwd.path()), ["photos"]);
    // An existing DEST gets DEST/NAME/; a missing one is an error unless
    // --create-dirs, so that the command run again finds the same copy.
    run_in(
        cwd.path(),
        &["get", "-r", &server.url("backup/photos"), "photos", "-q"],
        0,
    );
    assert_eq!(
        entries(&cwd.path().join("photos")),
        ["a.bin", "photos", "sub"]
    );
    let out = run_in(cwd.path(), &["get", "-r", &url, "new"], 3);
    assert!(stderr_of(&out).contains("directory new does not exist"));
    assert!(!cwd.path().join("new").exists());
    run_in(
        cwd.path(),
        &["get", "-r", &url, "new", "--create-dirs", "-q"],
        0,
    );
    assert_eq!(entries(&cwd.path().join("new/photos")), ["a.bin", "sub"]);
    // The root has no name: DEST is required, and receives the files.
    let out = run_in(cwd.path(), &["get", "-r", &server.url("")], 2);
    assert!(stderr_of(&out).contains("give DEST"));
    let all = tmp();
    run_in(
        cwd.path(),
        &["get", "-r", &server.url(""), s(all.path()), "-q"],
        0,
    );
    assert_eq!(entries(all.path()), ["backup", "flat"]);
    assert_no_leftovers(&[root.path(), local.path(), cwd.path(), all.path()]);
}
