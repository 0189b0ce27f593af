//! The service side of `serve --store s3://BUCKET/PREFIX` against a real
//! S3-compatible server (moto, started once for this test binary; a bucket
//! per test; two instances on it, `support::s3rig`), as issue 12 lists:
//! listings (`ls`, `-r`, `--sha256`) that hide the internal objects and
//! requests for them refused; a bucket served whole (no PREFIX); the
//! expiry of an abandoned multipart upload;
//! errors at start naming the bucket, the endpoint or the credentials; and
//! Debian's nginx balancing over both instances with the configuration
//! README.md shows. Transfers are in `tests/s3_store.rs`.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use support::nginx::{Nginx, nginx_path};
use support::s3::{Moto, aws_env, store_cmd};
use support::s3rig::{PART, PREFIX, WAIT, get, moto, pair, send, sha256_of, slow_proxy};
use support::{
    RUN_TIMEOUT, Server, check_ok_report, client_args, closed_port, json_u64, s, sha256_file,
    wait_until,
};

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
    let (big, _) = pair.file("big.bin", 4 * PART + 1);
    let proxy = slow_proxy(&pair.a);
    let mut client = pair.spawn_send(&big, &proxy.url("dir/partial.bin"));
    pair.wait_for_parts(&mut client, 1);
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
            hashed("dir/other.bin", &sha256_of(&other)),
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
fn a_bucket_without_a_prefix_is_served_whole() {
    let Some(moto) = moto() else {
        return;
    };
    let bucket = moto.bucket("no-prefix");
    let server = Server::start_store(&bucket.store_url(""), &bucket.env(), &[]);
    let local = tempfile::TempDir::new().unwrap();
    let src = support::random_file(local.path(), "whole.bin", PART + 17);
    let sha = sha256_file(&src);
    check_ok_report(
        &send(&src, &server.url("top/whole.bin")),
        "send",
        PART + 17,
        &sha,
    );
    assert_eq!(
        bucket.get("top/whole.bin").map(|b| sha256_of(&b)),
        Some(sha.clone())
    );
    let dest = local.path().join("back.bin");
    check_ok_report(
        &get(&server.url("top/whole.bin"), &dest),
        "get",
        PART + 17,
        &sha,
    );
    let hashes = wait_until(WAIT, || !bucket.keys(".wsresume/hashes/").is_empty());
    assert!(
        hashes,
        "no hash cache entry at the bucket's root: {:?}",
        bucket.keys("")
    );
    let dir = |p: &str| (p.to_owned(), "dir".to_owned(), None);
    assert_eq!(ls(&[&server.url("")]), [dir("top")]);
}

#[test]
fn expiry_aborts_an_abandoned_multipart_upload_and_removes_its_record() {
    let Some(pair) = pair("expiry", &["--expire-uploads", "2s"]) else {
        return;
    };
    let size = 4 * PART + 10;
    let (src, sha) = pair.file("abandoned.bin", size);
    let proxy = slow_proxy(&pair.a);
    let mut client = pair.spawn_send(&src, &proxy.url("abandoned.bin"));
    pair.wait_for_parts(&mut client, 1);
    client.kill();
    assert_eq!(pair.bucket.multipart_uploads(), [pair.key("abandoned.bin")]);
    // The server lets go of the lease when its client's connection ends
    // (the lease itself lasts at least a minute), and the sweep then
    // finds the upload abandoned.
    let records = pair.records();
    assert_eq!(records.len(), 1, "{records:?}");

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
        &support::readme_block("Scale out", "nginx"),
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
