//! Tokens with scopes (`serve --tokens FILE`), with the real binary: a
//! read-only, a list-less, a prefix-limited and a write token each allowed
//! and refused exactly as written, over the protocol (`get`, `send`, `ls`,
//! `-r` sessions: exit code 8, nothing written) and over plain HTTP (curl:
//! 200, 403, 401); a bad tokens file exits 2 naming the problem; `wsresume
//! token` prints a working table; a browser's `wsresume.bearer.TOKEN`
//! subprotocol works and is never echoed; a cross-origin upgrade is
//! refused 403; the log names the token, never the token itself.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::raw::{RawWs, chosen_protocol, upgrade_request_offering};
use support::{Server, run_expect_code, s, sha256_file, wait_until, wsresume};
use tempfile::TempDir;

/// (name, token, rights, paths) of the tokens file the tests serve with.
const TOKENS: &[(&str, &str, &str, &str)] = &[
    ("reader", "tok-reader", r#"["read"]"#, r#"["/"]"#),
    ("lister", "tok-lister", r#"["list"]"#, r#"["/"]"#),
    ("nolist", "tok-nolist", r#"["read", "write"]"#, r#"["/"]"#),
    (
        "ci",
        "tok-ci",
        r#"["read", "list", "write"]"#,
        r#"["/ci/"]"#,
    ),
    ("writer", "tok-writer", r#"["write"]"#, r#"["/"]"#),
    (
        "ciwrite",
        "tok-ciwrite",
        r#"["list", "read", "write"]"#,
        r#"["/ci/", "/pub/"]"#,
    ),
];

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    support::hex(&sha2::Sha256::digest(text.as_bytes()))
}

fn tokens_file(dir: &Path) -> std::path::PathBuf {
    let mut text = String::new();
    for (name, token, rights, paths) in TOKENS {
        let sha = sha256_hex(token);
        text.push_str(&format!(
            "[[token]]\nname = \"{name}\"\nsha256 = \"{sha}\"\nrights = {rights}\npaths = {paths}\n\n"
        ));
    }
    let path = dir.join("tokens.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// ROOT with `pub/p.txt`, `ci/a.txt`, `cibar/x.txt`; a server on it with
/// the tokens file.
struct Setup {
    root: TempDir,
    local: TempDir,
    server: Server,
}

fn setup() -> Setup {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    for (dir, name) in [("pub", "p.txt"), ("ci", "a.txt"), ("cibar", "x.txt")] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
        std::fs::write(root.path().join(dir).join(name), format!("{dir}/{name}\n")).unwrap();
    }
    let file = tokens_file(local.path());
    let server = Server::start(root.path(), &["--tokens", s(&file)]);
    Setup {
        root,
        local,
        server,
    }
}

/// `wsresume ARGS --token TOKEN -q`: its exit code.
fn code(args: &[&str], token: &str) -> i32 {
    let out = wsresume()
        .args(args)
        .args(["--token", token, "-q", "--retries", "0"])
        .output()
        .unwrap();
    out.status.code().unwrap_or(-1)
}

#[test]
fn each_token_does_exactly_what_its_rights_and_paths_say_over_the_protocol() {
    let t = setup();
    let url = |p: &str| t.server.url(p);
    let dest = |n: &str| t.local.path().join(n);
    let src = t.local.path().join("up.txt");
    std::fs::write(&src, "upload\n").unwrap();
    let (get, send, ls) = ("get", "send", "ls");
    // (token, command, url path, exit code)
    let cases = [
        ("tok-reader", get, "/pub/p.txt", 0),
        ("tok-reader", send, "/pub/r.txt", 8),
        ("tok-reader", ls, "/", 8),
        ("tok-lister", ls, "/", 0),
        ("tok-lister", ls, "/ci/", 0),
        ("tok-lister", get, "/pub/p.txt", 8),
        ("tok-lister", send, "/pub/l.txt", 8),
        ("tok-nolist", get, "/ci/a.txt", 0),
        ("tok-nolist", ls, "/ci/", 8),
        ("tok-nolist", send, "/pub/n.txt", 0),
        ("tok-ci", get, "/ci/a.txt", 0),
        ("tok-ci", get, "/cibar/x.txt", 8),
        ("tok-ci", get, "/pub/p.txt", 8),
        ("tok-ci", ls, "/ci/", 0),
        ("tok-ci", ls, "/ci", 0),
        ("tok-ci", ls, "/", 8),
        ("tok-ci", send, "/ci/new/c.txt", 0),
        ("tok-ci", send, "/cibar/c.txt", 8),
        ("tok-ci", send, "/c.txt", 8),
        ("tok-writer", send, "/w/w.txt", 0),
        ("tok-writer", get, "/pub/p.txt", 8),
        ("tok-writer", ls, "/", 8),
    ];
    for (i, (token, command, path, want)) in cases.into_iter().enumerate() {
        let target = dest(&format!("got{i}"));
        let owned: Vec<String> = match command {
            "get" => vec![get.into(), url(path), s(&target).into()],
            "send" => vec![send.into(), s(&src).into(), url(path)],
            _ => vec![ls.into(), url(path)],
        };
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        assert_eq!(code(&args, token), want, "{token} {command} {path}");
        let on_server = t.root.path().join(path.trim_start_matches('/'));
        match (command, want) {
            ("get", 0) => assert_eq!(sha256_file(&target), sha256_file(&on_server)),
            ("get", _) => assert!(!target.exists(), "{token} {path}: {target:?}"),
            ("send", 0) => assert_eq!(std::fs::read(&on_server).unwrap(), b"upload\n"),
            ("send", _) => assert!(!on_server.exists(), "{token} wrote {path}"),
            _ => {}
        }
    }
    support::assert_no_leftovers(&[t.root.path(), t.local.path()]);
    // Each connection's lines name its token, never the token itself.
    let named = wait_until(Duration::from_secs(10), || {
        let log = t.server.stderr_text();
        ["reader", "lister", "nolist", "ci", "writer"]
            .iter()
            .all(|n| log.contains(&format!("token=\"{n}\"")))
    });
    let log = t.server.stderr_text();
    assert!(named, "{log}");
    for (_, token, _, _) in TOKENS {
        assert!(!log.contains(token), "the log shows {token}:\n{log}");
    }
}

#[test]
fn sessions_refuse_file_by_file_what_the_token_may_not_touch() {
    let t = setup();
    let run = |args: &[&str], token: &str, want: i32| {
        let mut all = args.to_vec();
        all.extend(["--token", token, "-q", "--retries", "0"]);
        run_expect_code(&all, want)
    };
    // A tree within the token's paths, both ways.
    let tree = t.local.path().join("up");
    std::fs::create_dir_all(&tree).unwrap();
    for i in 0..5 {
        std::fs::write(tree.join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
    }
    run(
        &["send", "-r", s(&tree), &t.server.url("/ci/")],
        "tok-ci",
        0,
    );
    assert_eq!(
        std::fs::read(t.root.path().join("ci/up/f3.txt")).unwrap(),
        b"3\n"
    );
    let back = t.local.path().join("back");
    std::fs::create_dir_all(&back).unwrap();
    run(&["get", "-r", &t.server.url("/ci/"), s(&back)], "tok-ci", 0);
    assert_eq!(std::fs::read(back.join("ci/up/f3.txt")).unwrap(), b"3\n");
    // Outside them: the listing is refused before anything moves.
    let out = run(
        &[
            "get",
            "-r",
            &t.server.url("/"),
            s(&t.local.path().join("all")),
        ],
        "tok-ci",
        8,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("may list only under /ci/"), "{stderr}");
    run(
        &["send", "-r", s(&tree), &t.server.url("/cibar/")],
        "tok-ci",
        8,
    );
    run(
        &["send", "-r", s(&tree), &t.server.url("/pub/")],
        "tok-nolist",
        8,
    );
    // A token that may list but not read or write: the session's gets
    // (opened ahead) and eager puts are each refused; nothing is written.
    let none = t.local.path().join("none");
    std::fs::create_dir_all(&none).unwrap();
    run(
        &["get", "-r", &t.server.url("/"), s(&none)],
        "tok-lister",
        8,
    );
    let got: Vec<_> = walk_files(&none);
    assert!(got.is_empty(), "{got:?}");
    run(
        &["send", "-r", s(&tree), &t.server.url("/pub/")],
        "tok-lister",
        8,
    );
    assert!(!t.root.path().join("pub/up").exists());
    // Refused one by one inside sessions, not by ending them.
    let refused = |what: &str| {
        let log = t.server.stderr_text();
        log.lines()
            .any(|l| l.contains("token=\"lister\"") && l.contains(what) && l.contains("Forbidden"))
    };
    let seen = wait_until(Duration::from_secs(10), || {
        refused("get /pub/p.txt") && refused("put /pub/up/f4.txt")
    });
    assert!(seen, "{}", t.server.stderr_text());
    support::assert_no_leftovers(&[t.root.path(), t.local.path()]);
}

/// Every file under `dir` (none when it does not exist).
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        match path.is_dir() {
            true => found.extend(walk_files(&path)),
            false => found.push(path),
        }
    }
    found
}

fn have_curl() -> bool {
    let found = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    support::have_part(found, "curl")
}

/// The status curl gets for `GET http://ADDR/PATH` with `token` (if any).
fn http_status(server: &Server, path: &str, token: Option<&str>) -> String {
    let url = format!("http://{}{path}", server.addr());
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "30",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ]);
    if let Some(token) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = cmd.arg(&url).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A token limited to `/ci/` is judged by where a path really leads: a
/// link under `/ci/` to a file or directory outside it is refused
/// (reading, writing, listing, over HTTP too) and left out of `/ci/`'s
/// listing; a link that stays inside works; a file named `ci` at the top
/// is not under `/ci/`.
#[test]
fn a_limited_token_cannot_leave_its_paths_through_a_link_or_a_like_named_file() {
    let t = setup();
    let root = t.root.path();
    std::fs::create_dir_all(root.join("private")).unwrap();
    std::fs::write(root.join("private/secret.txt"), "secret\n").unwrap();
    std::fs::write(root.join("top.txt"), "top\n").unwrap();
    let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
    link("../top.txt", "ci/out.txt");
    link("../private", "ci/outdir");
    link("a.txt", "ci/in.txt");
    let dest = t.local.path().join("got");
    let src = t.local.path().join("up.txt");
    std::fs::write(&src, "upload\n").unwrap();
    let url = |p: &str| t.server.url(p);
    let (tok, s_dest, s_src) = ("tok-ci", s(&dest), s(&src));
    assert_eq!(code(&["get", &url("/ci/out.txt"), s_dest], tok), 8);
    assert_eq!(
        code(&["get", &url("/ci/outdir/secret.txt"), s_dest], tok),
        8
    );
    assert!(!dest.exists());
    assert_eq!(code(&["send", s_src, &url("/ci/outdir/new.txt")], tok), 8);
    assert!(!root.join("private/new.txt").exists());
    assert_eq!(code(&["ls", &url("/ci/outdir/")], tok), 8);
    assert_eq!(code(&["get", &url("/ci/in.txt"), s_dest], tok), 0);
    assert_eq!(std::fs::read(&dest).unwrap(), b"ci/a.txt\n");
    // The listing of /ci/ leaves out the links that lead out.
    let out = wsresume()
        .args(["ls", &url("/ci/"), "--token", tok, "--json"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listed.contains("in.txt"),
        "{listed}"
    );
    assert!(
        !listed.contains("out.txt") && !listed.contains("outdir"),
        "{listed}"
    );
    // A file named like the prefix, at the top, is outside it.
    std::fs::write(root.join("ci2"), "x").unwrap();
    let prefixed = t.local.path().join("prefixed.toml");
    let text = format!(
        "[[token]]\nname = \"f\"\nsha256 = \"{}\"\nrights = [\"read\", \"write\"]\npaths = [\"/ci2/\"]\n",
        sha256_hex("tok-f")
    );
    std::fs::write(&prefixed, text).unwrap();
    let other = Server::start(root, &["--tokens", s(&prefixed)]);
    let got = t.local.path().join("ci2");
    assert_eq!(code(&["get", &other.url("/ci2"), s(&got)], "tok-f"), 8);
    assert_eq!(code(&["send", s_src, &other.url("/ci2")], "tok-f"), 8);
    assert_eq!(std::fs::read(root.join("ci2")).unwrap(), b"x");
    if have_curl() {
        assert_eq!(http_status(&t.server, "/ci/out.txt", Some(tok)), "403");
        assert_eq!(http_status(&t.server, "/ci/outdir/", Some(tok)), "403");
        assert_eq!(http_status(&t.server, "/ci/in.txt", Some(tok)), "200");
    }
}

#[test]
fn over_http_a_file_needs_read_an_index_list_and_a_token_401() {
    if !have_curl() {
        return;
    }
    let t = setup();
    // (token, path, status)
    let cases = [
        (Some("tok-reader"), "/pub/p.txt", "200"),
        (Some("tok-reader"), "/pub/", "403"),
        (Some("tok-reader"), "/", "403"),
        (Some("tok-lister"), "/", "200"),
        (Some("tok-lister"), "/pub/", "200"),
        (Some("tok-lister"), "/pub/p.txt", "403"),
        (Some("tok-nolist"), "/ci/a.txt", "200"),
        (Some("tok-nolist"), "/ci/", "403"),
        (Some("tok-ci"), "/ci/a.txt", "200"),
        (Some("tok-ci"), "/ci/", "200"),
        (Some("tok-ci"), "/ci", "200"),
        (Some("tok-ci"), "/cibar/x.txt", "403"),
        (Some("tok-ci"), "/", "403"),
        (Some("tok-ci"), "/pub/p.txt", "403"),
        (Some("tok-writer"), "/pub/p.txt", "403"),
        (Some("tok-wrong"), "/pub/p.txt", "401"),
        (None, "/pub/p.txt", "401"),
        (None, "/", "401"),
    ];
    for (token, path, want) in cases {
        assert_eq!(
            http_status(&t.server, path, token),
            want,
            "{token:?} {path}"
        );
    }
    // HTTP requests' log lines name the token too, never the token.
    let log = t.server.stderr_text();
    assert!(log.contains("token=\"lister\""), "{log}");
    for (_, token, _, _) in TOKENS {
        assert!(!log.contains(token), "the log shows {token}:\n{log}");
    }
}

/// Digests in a listing need `read` as well as `list`; `--read-only`
/// refuses every upload whatever the token.
#[test]
fn digests_need_read_and_read_only_beats_a_write_token() {
    let t = setup();
    let url = t.server.url("/pub/");
    assert_eq!(code(&["ls", &url, "--sha256"], "tok-lister"), 8);
    assert_eq!(code(&["ls", &url], "tok-lister"), 0);
    assert_eq!(code(&["ls", &url, "--sha256"], "tok-ci"), 8);
    assert_eq!(
        code(&["ls", &t.server.url("/ci/"), "--sha256"], "tok-ci"),
        0
    );
    let file = tokens_file(t.local.path());
    let read_only = Server::start(t.root.path(), &["--tokens", s(&file), "--read-only"]);
    let src = t.local.path().join("up.txt");
    std::fs::write(&src, "upload\n").unwrap();
    let target = read_only.url("/w/ro.txt");
    assert_eq!(code(&["send", s(&src), &target], "tok-writer"), 8);
    assert!(!t.root.path().join("w/ro.txt").exists());
}

#[test]
fn a_bad_tokens_file_is_a_usage_error_naming_file_token_and_field() {
    let dir = TempDir::new().unwrap();
    let good = format!(
        "[[token]]\nname = \"ci\"\nsha256 = \"{}\"\nrights = [\"read\"]\npaths = [\"/ci/\"]\n",
        sha256_hex("x")
    );
    // (file, what stderr names)
    let cases = [
        (
            good.replace("\"read\"", "\"delete\""),
            "token ci: rights: unknown right \"delete\"",
        ),
        (good.replace(&sha256_hex("x"), "abc"), "token ci: sha256:"),
        (good.replace("\"/ci/\"", "\"ci/\""), "token ci: paths:"),
        (
            format!(
                "{good}\n{}",
                good.replace(&sha256_hex("x"), &sha256_hex("y"))
            ),
            "token ci: name: another token",
        ),
        ("[[token]\n".to_string(), "not a valid tokens file"),
    ];
    for (text, named) in cases {
        let file = dir.path().join("tokens.toml");
        std::fs::write(&file, &text).unwrap();
        let out = run_expect_code(
            &[
                "serve",
                s(dir.path()),
                "--listen",
                "127.0.0.1:0",
                "--tokens",
                s(&file),
            ],
            2,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(s(&file)) && stderr.contains(named),
            "{text}\n=> {stderr}"
        );
    }
    let file = dir.path().join("tokens.toml");
    std::fs::write(&file, &good).unwrap();
    let out = run_expect_code(
        &[
            "serve",
            s(dir.path()),
            "--listen",
            "127.0.0.1:0",
            "--tokens",
            s(&file),
            "--token",
            "t",
        ],
        2,
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tokens cannot be combined"),
        "{out:?}"
    );
}

#[test]
fn a_printed_token_and_table_make_a_working_tokens_file() {
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::create_dir_all(root.path().join("ci")).unwrap();
    std::fs::write(root.path().join("ci/a.txt"), "a\n").unwrap();
    let out = wsresume()
        .args([
            "token",
            "--name",
            "ci",
            "--rights",
            "read,list",
            "--paths",
            "/ci/",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (token, table) = text.split_once('\n').unwrap();
    assert!(token.len() == 47 && token.starts_with("wsr_"), "{text}");
    assert!(!table.contains(token));
    let file = local.path().join("tokens.toml");
    std::fs::write(&file, table).unwrap();
    let server = Server::start(root.path(), &["--tokens", s(&file)]);
    let dest = local.path().join("a.txt");
    assert_eq!(code(&["get", &server.url("/ci/a.txt"), s(&dest)], token), 0);
    assert_eq!(std::fs::read(&dest).unwrap(), b"a\n");
    let up = local.path().join("up.txt");
    std::fs::write(&up, "u").unwrap();
    assert_eq!(code(&["send", s(&up), &server.url("/ci/up.txt")], token), 8);
    assert_eq!(
        code(&["get", &server.url("/ci/a.txt"), s(&dest)], "not-it"),
        6
    );
    // Two tokens are different.
    let again = wsresume().args(["token"]).output().unwrap();
    assert_ne!(
        again.stdout.split(|b| *b == b'\n').next().unwrap(),
        token.as_bytes()
    );
}

#[test]
fn a_browser_presents_its_token_as_a_subprotocol_from_its_own_origin_only() {
    let t = setup();
    let addr = t.server.addr();
    let upgrade = |protocols: &str, extra: &str| {
        let (_ws, head) = RawWs::open(addr, &upgrade_request_offering(addr, "/", protocols, extra));
        head
    };
    // (offered subprotocols, extra headers, status, protocol answered)
    let same_origin = format!("Origin: http://{addr}\r\n");
    let cases = [
        (
            "wsresume.v1, wsresume.bearer.tok-ci",
            String::new(),
            "101",
            Some("wsresume.v1"),
        ),
        (
            "wsresume.v2, wsresume.v1, wsresume.bearer.tok-ci",
            same_origin.clone(),
            "101",
            Some("wsresume.v2"),
        ),
        (
            "wsresume.v1, wsresume.bearer.wrong",
            String::new(),
            "401",
            None,
        ),
        ("wsresume.v1", String::new(), "401", None),
        (
            "wsresume.v1",
            "Authorization: Bearer tok-ci\r\n".into(),
            "101",
            Some("wsresume.v1"),
        ),
        (
            "wsresume.v1, wsresume.bearer.tok-ci",
            "Origin: http://evil.example\r\n".into(),
            "403",
            None,
        ),
        (
            "wsresume.v1, wsresume.bearer.tok-ci",
            format!("Origin: http://localhost:{}\r\n", addr.port()),
            "403",
            None,
        ),
    ];
    for (protocols, extra, status, protocol) in cases {
        let head = upgrade(protocols, &extra);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{protocols} {extra}: {head}"
        );
        assert_eq!(chosen_protocol(&head).as_deref(), protocol, "{head}");
        assert!(!head.contains("tok-ci"), "the token came back: {head}");
    }
    // The subprotocol's grant is the token's: a get inside /ci/ is served.
    let (mut ws, head) = RawWs::open(
        addr,
        &upgrade_request_offering(
            addr,
            "/ci/a.txt",
            "wsresume.v1, wsresume.bearer.tok-ci",
            &same_origin,
        ),
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    ws.send_text(r#"{"type":"get","path":"/ci/a.txt","chunk_size":4096}"#);
    let offer = ws.read_text(Duration::from_secs(10)).unwrap();
    assert!(offer.contains("\"offer\""), "{offer}");
    let (mut ws, _) = RawWs::open(
        addr,
        &upgrade_request_offering(
            addr,
            "/pub/p.txt",
            "wsresume.v1, wsresume.bearer.tok-ci",
            "",
        ),
    );
    ws.send_text(r#"{"type":"get","path":"/pub/p.txt","chunk_size":4096}"#);
    let refused = ws.read_text(Duration::from_secs(10)).unwrap();
    assert!(refused.contains("forbidden"), "{refused}");
    let named = wait_until(Duration::from_secs(10), || {
        t.server.stderr_text().contains("token=\"ci\"")
    });
    assert!(named, "{}", t.server.stderr_text());
    assert!(!t.server.stderr_text().contains("tok-ci"));
}
