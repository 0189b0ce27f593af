//! The index page's uploads in a real browser (headless Chromium driven
//! through tests/browser/driver.mjs; scripts/test.sh installs Debian's
//! `chromium` and a pinned playwright-core): a 50 MiB file uploaded
//! through the fault proxy, which cuts the connection twice, arrives
//! whole; a reload half way and the same file picked again resume from
//! the server's offset; a folder and dropped files land under the page's
//! directory; a server with a token gives a browser the page that asks for
//! it and uploads with it (the `wsresume.bearer.TOKEN` subprotocol), and a
//! token without `write` sees its upload refused. Without a browser: the
//! page's policy and assets over raw HTTP, and web/chain.js (under node)
//! gives the Rust chaining values.
#![allow(clippy::unwrap_used)]

use wsresume_testkit as support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::browser::{self, Browser};
use support::proxy::FaultProxy;
use support::{Server, random_file, s, sha256_file, wait_until};
use tempfile::TempDir;
use wsresume::chain::{ChainHasher, ChainState};

const MIB: u64 = 1 << 20;
const STEP: Duration = Duration::from_secs(60);
const UPLOAD: Duration = Duration::from_secs(240);

/// Where the test's screenshots go (copied by hand to docs/).
fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-shots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn part_len(root: &Path, name: &str) -> u64 {
    std::fs::metadata(root.join(format!("{name}.wsresume-part"))).map_or(0, |m| m.len())
}

/// Console errors and warnings (a CSP violation among them): none.
fn assert_no_problems(browser: &mut Browser) {
    assert_no_problems_but(browser, &[]);
}

/// Console errors and warnings: none but those holding one of `expected`.
fn assert_no_problems_but(browser: &mut Browser, expected: &[&str]) {
    let problems: Vec<String> = serde_json::from_str(&browser.cmd("problems", STEP)).unwrap();
    let unexpected: Vec<&String> = problems
        .iter()
        .filter(|p| !expected.iter().any(|e| p.contains(e)))
        .collect();
    assert!(unexpected.is_empty(), "the page complained: {unexpected:?}");
}

#[test]
fn a_browser_upload_survives_two_cuts_and_arrives_whole() {
    if !browser::available() {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(local.path(), "big.bin", 50 * MIB);
    let server = Server::start(root.path(), &[]);
    let proxy = FaultProxy::new(server.addr());
    let mut browser = Browser::start();
    browser.cmd(&format!("open http://{}/", proxy.addr()), STEP);
    // The page and its assets are in: the next two connections are uploads.
    proxy.reset_counters();
    proxy.cut_after(16 * MIB, 2);
    browser.cmd(&format!("pick #wsr-pick-files {}", s(&src)), STEP);
    let state = browser.cmd("wait-done big.bin 240", UPLOAD);
    assert!(state.starts_with("done"), "{state}");
    assert_eq!(sha256_file(&root.path().join("big.bin")), sha256_file(&src));
    // The stored file has the source's modification time (the browser
    // knows it to the millisecond).
    let ns = |p: &Path| {
        let m = std::fs::metadata(p).unwrap().modified().unwrap();
        m.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    };
    assert_eq!(
        ns(&root.path().join("big.bin")),
        ns(&src) / 1_000_000 * 1_000_000
    );
    assert!(
        proxy.connections() >= 3,
        "{} connections",
        proxy.connections()
    );
    eprintln!(
        "50 MiB through two cuts: {} connections, {} bytes up",
        proxy.connections(),
        proxy.up()
    );
    // Each reconnection went on from the server's offset, not from 0.
    assert!(proxy.up() < 60 * MIB, "{} bytes up", proxy.up());
    let log = server.stderr_text();
    assert_eq!(
        log.matches("put /big.bin (50.0 MiB): GoingAway").count(),
        2,
        "{log}"
    );
    assert!(
        log.contains("put big.bin: ok") && log.contains("resumed from"),
        "{log}"
    );
    assert_no_problems(&mut browser);
    browser.cmd(&format!("shot {}", s(&shots().join("done.png"))), STEP);
}

#[test]
fn a_reload_and_the_same_file_picked_again_resume_from_the_servers_offset() {
    if !browser::available() {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let src = random_file(local.path(), "half.bin", 50 * MIB);
    let other = random_file(local.path(), "second.bin", 40 * MIB);
    let server = Server::start(root.path(), &[]);
    let proxy = FaultProxy::new(server.addr());
    let mut browser = Browser::start();
    browser.cmd(&format!("open http://{}/", proxy.addr()), STEP);
    proxy.throttle(6 * MIB);
    browser.cmd(&format!("pick #wsr-pick-files {}", s(&src)), STEP);
    browser.cmd(&format!("pick #wsr-pick-files {}", s(&other)), STEP);
    // More than half of it is on the server when the page goes away.
    let half = wait_until(UPLOAD, || part_len(root.path(), "half.bin") >= 30 * MIB);
    assert!(half, "the upload never got half way");
    let shot = shots().join("upload-in-progress.png");
    browser.cmd(&format!("shot {}", s(&shot)), STEP);
    browser.cmd("reload", STEP);
    // The server saw both uploads' connections end (nothing more in flight).
    proxy.throttle(0);
    let ended = |name: &str| {
        let log = server.stderr_text();
        log.contains(&format!("put /{name} (")) || log.contains(&format!("put {name}: ok"))
    };
    assert!(
        wait_until(STEP, || ended("half.bin") && ended("second.bin")),
        "{}",
        server.stderr_text()
    );
    proxy.reset_counters();
    browser.cmd(&format!("pick #wsr-pick-files {}", s(&src)), STEP);
    let state = browser.cmd("wait-done half.bin 240", UPLOAD);
    assert!(state.starts_with("done"), "{state}");
    assert!(state.contains("resumed from"), "{state}");
    assert_eq!(
        sha256_file(&root.path().join("half.bin")),
        sha256_file(&src)
    );
    eprintln!(
        "picked again after a reload: {} bytes up for a 50 MiB file",
        proxy.up()
    );
    // The second attempt sent what was missing (under 20 MiB), not the
    // whole file.
    assert!(proxy.up() < 24 * MIB, "{} bytes up", proxy.up());
    assert_no_problems(&mut browser);
}

#[test]
fn a_server_with_a_token_gives_the_browser_a_page_that_asks_for_it() {
    if !browser::available() {
        return;
    }
    let root = TempDir::new().unwrap();
    random_file(root.path(), "secret.bin", 1000);
    let server = Server::start(root.path(), &["--token", "s3cret"]);
    let mut browser = Browser::start();
    browser.cmd(&format!("open http://{}/", server.addr()), STEP);
    let form_shown = "!document.getElementById('wsr-token-form').hidden";
    assert_eq!(browser.cmd(&format!("eval {form_shown}"), STEP), "true");
    // No drop zone until the token is in.
    let drop_shown = "!document.getElementById('wsr-drop').hidden";
    assert_eq!(browser.cmd(&format!("eval {drop_shown}"), STEP), "false");
    let listed = "document.querySelector('#wsr-listing tbody').textContent.trim()";
    assert_eq!(browser.cmd(&format!("eval {listed}"), STEP), "\"\"");
    let submit = |token: &str| {
        format!(
            "eval (document.getElementById('wsr-token').value = '{token}', \
             document.getElementById('wsr-token-form').requestSubmit(), 1)"
        )
    };
    let shot = shots().join("token.png");
    browser.cmd(&format!("shot {}", s(&shot)), STEP);
    browser.cmd(&submit("wrong"), STEP);
    let refused = "document.getElementById('wsr-token-message').textContent.includes('not valid')";
    browser.cmd(&format!("wait-for 30 {refused}"), STEP);
    browser.cmd(&submit("s3cret"), STEP);
    browser.cmd(
        &format!("wait-for 30 {listed}.includes('secret.bin')"),
        STEP,
    );
    let kept = "sessionStorage.getItem('wsresume-token')";
    assert_eq!(browser.cmd(&format!("eval {kept}"), STEP), "\"s3cret\"");
    // The token stays in the tab: a reload lists at once.
    browser.cmd("reload", STEP);
    browser.cmd(
        &format!("wait-for 30 {listed}.includes('secret.bin')"),
        STEP,
    );
    assert_eq!(browser.cmd(&format!("eval {form_shown}"), STEP), "false");
    assert_eq!(browser.cmd(&format!("eval {drop_shown}"), STEP), "true");
    // Uploads offer it as the `wsresume.bearer.TOKEN` subprotocol.
    let local = TempDir::new().unwrap();
    let src = random_file(local.path(), "up.bin", 3 * MIB);
    browser.cmd(&format!("pick #wsr-pick-files {}", s(&src)), STEP);
    let state = browser.cmd("wait-done up.bin 120", UPLOAD);
    assert!(state.starts_with("done"), "{state}");
    assert_eq!(sha256_file(&root.path().join("up.bin")), sha256_file(&src));
    // The page itself and the wrong token's listing were 401s.
    assert_no_problems_but(&mut browser, &["status of 401"]);
}

#[test]
fn a_token_without_write_sees_its_uploads_refused() {
    if !browser::available() {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::create_dir(root.path().join("ci")).unwrap();
    let hash = support::hex(&<sha2::Sha256 as sha2::Digest>::digest(b"reader"));
    let tokens = local.path().join("tokens.toml");
    let table = format!(
        "[[token]]\nname = \"reader\"\nsha256 = \"{hash}\"\n\
         rights = [\"read\", \"list\"]\npaths = [\"/\"]\n"
    );
    std::fs::write(&tokens, table).unwrap();
    let server = Server::start(root.path(), &["--tokens", s(&tokens)]);
    let mut browser = Browser::start();
    browser.cmd(&format!("open http://{}/ci/", server.addr()), STEP);
    browser.cmd(
        "eval sessionStorage.setItem('wsresume-token', 'reader')",
        STEP,
    );
    browser.cmd("reload", STEP);
    browser.cmd(
        "wait-for 30 !document.getElementById('wsr-drop').hidden",
        STEP,
    );
    let src = random_file(local.path(), "no.bin", 100_000);
    browser.cmd(&format!("pick #wsr-pick-files {}", s(&src)), STEP);
    let state = browser.cmd("wait-done no.bin 60", STEP);
    assert!(state.starts_with("failed failed: forbidden"), "{state}");
    assert!(!root.path().join("ci/no.bin").exists());
}

/// `GET PATH` with `headers` over raw TCP: the whole answer.
fn raw_get(server: &Server, path: &str, headers: &str) -> String {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The `src` of the page's script: where the assets are.
fn assets_base(page: &str) -> String {
    let at = page.find("<script type=\"module\" src=\"").unwrap() + 27;
    let src = &page[at..at + page[at..].find('"').unwrap()];
    src.strip_suffix("upload.js").unwrap().to_string()
}

#[test]
fn the_page_has_a_strict_policy_and_its_assets_are_served_at_the_reserved_path() {
    let root = TempDir::new().unwrap();
    let server = Server::start(root.path(), &[]);
    let page = raw_get(&server, "/", "Accept: text/html\r\n");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let csp = "content-security-policy: default-src 'none'; script-src 'self'; \
               style-src 'self'; connect-src 'self'; img-src 'self' data:; \
               base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    assert!(page.to_lowercase().contains(csp), "{page}");
    assert!(page.contains("id=\"wsr-upload\""), "{page}");
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    let base = assets_base(&page);
    assert!(base.starts_with("/.well-known/wsresume/"), "{base}");
    // (asset, content type)
    let cases = [
        ("upload.js", "text/javascript"),
        ("transfer.js", "text/javascript"),
        ("chain.js", "text/javascript"),
        ("page.css", "text/css"),
        ("vendor/noble-hashes/sha2.js", "text/javascript"),
        ("vendor/noble-hashes/LICENSE", "text/plain"),
    ];
    for (name, content_type) in cases {
        let answer = raw_get(&server, &format!("{base}{name}"), "").to_lowercase();
        assert!(answer.starts_with("http/1.1 200"), "{name}: {answer}");
        assert!(
            answer.contains(&format!("content-type: {content_type}")),
            "{name}"
        );
        assert!(
            answer.contains("immutable") && answer.contains("etag: \""),
            "{name}"
        );
    }
    let missing = raw_get(&server, &format!("{base}nothing.js"), "");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    // A read-only server lists without the panel.
    let ro = Server::start(root.path(), &["--read-only"]);
    let page = raw_get(&ro, "/", "Accept: text/html\r\n");
    assert!(
        !page.contains("wsr-upload") && !page.contains("<script"),
        "{page}"
    );
    // With a token: a browser gets the page that asks for it (401), the
    // assets need none, other clients get the plain 401.
    let locked = Server::start(root.path(), &["--token", "s3cret"]);
    let page = raw_get(&locked, "/", "Accept: text/html\r\n");
    assert!(page.starts_with("HTTP/1.1 401"), "{page}");
    assert!(page.contains("data-auth=\"required\""), "{page}");
    let base = assets_base(&page);
    let asset = raw_get(&locked, &format!("{base}upload.js"), "");
    assert!(asset.starts_with("HTTP/1.1 200"), "{asset}");
    let plain = raw_get(&locked, "/", "");
    assert!(plain.starts_with("HTTP/1.1 401"), "{plain}");
    assert!(!plain.contains("<html"), "{plain}");
}

#[test]
fn the_pages_chaining_values_are_the_rust_ones() {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !support::have_part(node, "node") {
        return;
    }
    let dir = TempDir::new().unwrap();
    let chunk = 64 * 1024;
    // (file size, resume at): empty, under a block, whole chunks, ragged.
    let cases = [
        (0, 0),
        (63, 0),
        (chunk, 0),
        (3 * chunk, chunk),
        (5 * chunk + 1000, 2 * chunk),
        (700_000 + 17, 5 * chunk),
    ];
    for (size, resume_at) in cases {
        let file = random_file(dir.path(), "c.bin", size);
        let out = Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/chain.mjs"))
            .args([s(&file), &chunk.to_string(), &resume_at.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let got = String::from_utf8(out.stdout).unwrap();
        assert_eq!(got, rust_chain(&file, chunk, resume_at), "size {size}");
    }
}

/// What tests/browser/chain.mjs prints, from src/chain.rs.
fn rust_chain(file: &Path, chunk: u64, resume_at: u64) -> String {
    let data = std::fs::read(file).unwrap();
    let (mut out, mut hasher) = (String::new(), ChainHasher::new());
    let mut resume = (resume_at == 0).then_some(ChainState::INITIAL);
    for piece in data.chunks(chunk as usize) {
        hasher.update(piece);
        if hasher.len() % 64 == 0 {
            let state = hasher.state().unwrap();
            out.push_str(&format!("{} {}\n", hasher.len(), state.to_hex()));
            if hasher.len() == resume_at {
                resume = Some(state);
            }
        }
    }
    let mut resumed = ChainHasher::resume(resume.unwrap(), resume_at).unwrap();
    resumed.update(&data[resume_at as usize..]);
    let hex = wsresume::chain::hex;
    out.push_str(&format!("resumed {}\n", hex(&resumed.finalize())));
    out.push_str(&format!("digest {}\n", hex(&hasher.finalize())));
    out
}

#[test]
fn folders_and_dropped_files_land_under_the_pages_directory() {
    if !browser::available() {
        return;
    }
    let (root, local) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::create_dir(root.path().join("in")).unwrap();
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("deep er")).unwrap();
    let a = random_file(&tree, "a.txt", 10);
    let b = random_file(&tree.join("deep er"), "%41 <b>.bin", 3 * MIB + 5);
    let server = Server::start(root.path(), &[]);
    let mut browser = Browser::start();
    browser.cmd(&format!("open http://{}/in/", server.addr()), STEP);
    browser.cmd(&format!("pick #wsr-pick-folder {}", s(&tree)), STEP);
    // Two files dropped (made in the page: a drop as a user's would be).
    let drop = "(() => { const dt = new DataTransfer(); \
        dt.items.add(new File(['one'], 'd1.txt')); \
        dt.items.add(new File([new Uint8Array(70000)], 'd 2.txt')); \
        document.getElementById('wsr-drop').dispatchEvent(\
        new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })); \
        return 1; })()";
    browser.cmd(&format!("eval {drop}"), STEP);
    let all_done = "(() => { const rows = [...document.querySelectorAll('#wsr-files li')]; \
        return rows.length === 4 && rows.every((li) => li.dataset.state === 'done'); })()";
    browser.cmd(&format!("wait-for 120 {all_done}"), UPLOAD);
    let got = root.path().join("in");
    assert_eq!(sha256_file(&got.join("tree/a.txt")), sha256_file(&a));
    let deep = got.join("tree/deep er/%41 <b>.bin");
    assert_eq!(sha256_file(&deep), sha256_file(&b));
    assert_eq!(std::fs::read(got.join("d1.txt")).unwrap(), b"one");
    assert_eq!(std::fs::read(got.join("d 2.txt")).unwrap(), vec![0; 70000]);
    // The listing is refreshed once the uploads are over.
    let listed = "document.querySelector('#wsr-listing tbody').textContent";
    browser.cmd(&format!("wait-for 30 {listed}.includes('d 2.txt')"), STEP);
    assert_no_problems(&mut browser);
}
